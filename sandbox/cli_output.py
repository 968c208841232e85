"""Plain-text rendering for the command line (no colours: output is often piped)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .countdowns import grouped
from .gitutil import short
from .safetext import shown

if TYPE_CHECKING:  # the command line stays quick to start: no workspace imports here
    from .pullrequests import PullRequest


def print_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    cells = [list(map(str, header))] + [[shown(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    for row in cells:
        print("   ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


def print_prs(items: list[PullRequest]) -> None:
    if not items:
        print("no pull requests")
        return
    print_table(["#", "STATE", "CHECKS", "APPROVALS", "AUTHOR", "BRANCH", "TITLE"],
                [[p.id, p.state, p.checks_state, len(p.approvals), p.author, p.head, p.title]
                 for p in items])


def print_pr(pr: PullRequest, diff: dict[str, str], show_log: bool = False) -> None:
    print(f"#{pr.id} {shown(pr.title)}")
    print(f"  {pr.state}, {shown(pr.head)} ({short(pr.head_sha)}) -> {shown(pr.base)}, "
          f"by {shown(pr.author)}")
    if pr.merge_sha:
        print(f"  merged as {short(pr.merge_sha)}")
    print(f"  approvals: {shown(', '.join(pr.approvals)) or 'none'}")
    for check in pr.checks or []:
        print(f"  check {check.name}: {check.status}: {shown(check.summary)}")
    if not pr.checks:
        print("  checks: pending (the engine runs them: gitops-sandbox up)")
    print("\n--- HLD diff ---")
    print(shown(diff["hld"].rstrip(), multiline=True) or "(no change)")
    print("\n--- manifest diff ---")
    print(shown(diff["manifests"].rstrip(), multiline=True) or "(no change)")
    if show_log and diff.get("log"):
        print("\n--- check log ---")
        print(shown(diff["log"].rstrip(), multiline=True))


def print_status(data: dict[str, Any]) -> None:
    eng = data["engine"]
    print(f"workspace   {data['workspace']}")
    if "user" in data:
        user = data["user"]
        print(f"you are     {user['name']} ({user['role']})")
    print(f"engine      {'running (pid ' + str(eng['pid']) + ')' if eng['running'] else 'stopped'}")
    if "git_server" in data:
        srv = data["git_server"]
        print(f"git server  {srv['url']}" + ("" if srv["answering"] else
                                             " (not running: it runs with the engine)"))
    print(f"hld         main {short(data['hld']['main'])}")
    print(f"ci          {data['ci']['pending_jobs']} pending job(s)")
    man = data["manifests"]
    # A main that names no readable commit is shown as such; the problem line says why.
    print(f"manifests   main {short(man['main']) or 'unreadable'}, "
          f"flux-sync {short(man['flux_sync']) or '-'}")
    sync = data["sync"]
    print(f"reconciler  {ready_line(sync)}")
    print(f"            applied {short(sync.get('last_applied')) or '-'}, attempted "
          f"{short(sync.get('last_attempted')) or '-'}")
    for line in sync.get("behind") or []:
        print(f"behind      {line}")
    print(f"health      {data['health']['app']}")
    verdict = data["health"].get("verdict")
    if verdict:
        # Beside health, not instead of it: healthy pods can still break their SLOs.
        print(f"verdict     {verdict['verdict']} ({short(verdict['hld_sha'])}): "
              f"{verdict.get('reason') or ''}")
    for wait in grouped(data.get("waits") or []):
        print(f"waiting     {wait_line(wait)}")
    prs = data["pull_requests"]
    print(f"open PRs    {len(prs)}")
    for p in prs:
        print(f"  #{p['id']} {shown(p['title'])} [checks {p['checks']}, "
              f"{len(p['approvals'])} approval(s)]")
    print_damage(data.get("damage") or [])


def wait_line(wait: dict[str, Any]) -> str:
    """One countdown: `health check timeout for revision 1a2b3c4: 41s left (0.8s wall)`."""
    more = int(wait.get("more") or 0)
    also = f" and {more} more (--json lists all)" if more else ""
    return (f"{wait['what']} for {shown(wait['target'])}{also}: "
            f"{_secs(wait['remaining_sim_s'])} left (simulated; "
            f"{_secs(wait['remaining_wall_s'])} wall at this clock speed)")


def _secs(value: float) -> str:
    minutes, seconds = divmod(float(value), 60.0)
    return f"{int(minutes)}m{seconds:04.1f}s" if minutes else f"{seconds:.1f}s"


def ready_line(sync: dict[str, Any]) -> str:
    """Flux's Ready condition as `flux get kustomizations` shows it."""
    return (f"Ready {sync.get('ready_status', 'Unknown')} {sync.get('reason', '')}: "
            f"{shown(sync.get('message'))}")


def print_sync(data: dict[str, Any]) -> None:
    print(f"ready           {ready_line(data)}")
    print(f"sync            {data.get('sync', 'Unknown')}"
          + (f" ({', '.join(data.get('drifted') or [])})" if data.get("drifted") else ""))
    print(f"last applied    {data.get('lastAppliedRevision') or '-'}")
    print(f"last attempted  {data.get('lastAttemptedRevision') or '-'}")
    for line in data.get("behind") or []:
        print(f"behind main     {line}")
    print(f"policy          {data.get('policy')}, "
          f"{'suspended' if data.get('suspended') else 'active'}")
    print(f"health          {data['health']} (check: {data['health_check'] or '-'})")
    print_damage(data.get("damage") or [])


def print_damage(lines: list[str]) -> None:
    for line in lines:
        print(f"problem: {shown(line)}")
