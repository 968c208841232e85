"""Plain-text rendering for the command line (no colours: output is often piped)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .gitutil import short
from .pullrequests import PullRequest
from .safetext import shown


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
    print(f"engine      {'running (pid ' + str(eng['pid']) + ')' if eng['running'] else 'stopped'}")
    print(f"hld         main {short(data['hld']['main'])}")
    print(f"ci          {data['ci']['pending_jobs']} pending job(s)")
    man = data["manifests"]
    print(f"manifests   main {short(man['main'])}, flux-sync {short(man['flux_sync']) or '-'}")
    sync = data["sync"]
    print(f"reconciler  {'Ready' if sync.get('ready') else 'Not ready'}: "
          f"{shown(sync.get('message'))}")
    print(f"health      {data['health']['app']}")
    prs = data["pull_requests"]
    print(f"open PRs    {len(prs)}")
    for p in prs:
        print(f"  #{p['id']} {shown(p['title'])} [checks {p['checks']}, "
              f"{len(p['approvals'])} approval(s)]")
