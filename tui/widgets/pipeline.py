"""The pipeline view: one box per stage, from HLD commit to cluster health, with the
latest events under them so cause and effect read together."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import DataTable, Static

from sandbox.facade import shown

from ..messages import Snapshot
from .eventlog import RecentEvents
from .format import HEALTH_STYLE, age, check_text, health_text, health_word, short
from .lazy import WhenShown
from .services import Countdowns, ServicesTable, verdict_text
from .tables import sync_rows

STAGES = (
    ("hld", "HLD"),
    ("prs", "Pull requests"),
    ("ci", "CI"),
    ("manifests", "Manifests"),
    ("reconciler", "Reconciler"),
    ("health", "Cluster / Health"),
)


class Stage(WhenShown, Static):
    """One stage of the pipeline; its border colour says how the stage is doing."""

    def __init__(self, key: str, title: str) -> None:
        super().__init__(Text("…", style="dim"), id=f"stage-{key}", classes="stage")
        self.border_title = title
        self._shown: tuple[Text, str] | None = None

    def show(self, body: Text, state: str) -> None:
        # Each update asks for a new layout of the screen: only a change is painted,
        # and only once the Pipeline tab is on screen.
        if self._shown == (body, state):
            return
        self._shown = (body, state)
        self.when_shown("body", lambda: self._paint(body, state))

    def _paint(self, body: Text, state: str) -> None:
        self.update(body)
        for cls in ("ok", "busy", "bad", "idle"):
            self.set_class(cls == state, f"-{cls}")


def _line(*parts: str | Text | tuple[str, str]) -> Text:
    return Text.assemble(*parts)


# Flux's health check after a sync, and the Argo CD sync words, in their UIs' colours.
CHECK_STATE_STYLE = {"Passed": "green", "Waiting": "yellow", "Failed": "bold red"}
SYNC_STYLE = {"Synced": "bold green", "OutOfSync": "bold yellow"}


def reconciler_body(sync: dict[str, Any], health: dict[str, Any]) -> tuple[Text, str]:
    """Ready or not, Synced or OutOfSync (and what drifted), suspended, policy, and the
    health check: the reconciler's whole state in a few lines."""
    if sync.get("suspended"):
        word, style, state = "Suspended", "bold blue", "idle"
    elif sync.get("ready"):
        word, style, state = "Ready", "bold green", "ok"
    elif sync.get("errors"):
        word, style, state = "Failed", "bold red", "bad"
    else:
        word, style, state = "Not ready", "yellow", "busy"
    body = _line((word, style), "  ", shown(sync.get("message") or ""))
    # Flux's own words: the Ready condition, its reason and both revisions.
    body.append(f"\nReady {sync.get('ready_status', '-')} {sync.get('reason', '')}   "
                f"applied {short(sync.get('last_applied')) or '-'}, attempted "
                f"{short(sync.get('last_attempted')) or '-'}", style="dim")
    for err in (sync.get("errors") or [])[:3]:
        body.append(f"\n  {err}", style="red")
    for line in (sync.get("behind") or [])[:2]:
        body.append(f"\nbehind main: {line}", style="yellow")
        if state == "ok":
            state = "busy"
    in_sync = str(sync.get("sync") or "Unknown")
    body.append("\n")
    body.append(in_sync, style=SYNC_STYLE.get(in_sync, "dim"))
    drifted = list(sync.get("drifted") or [])
    if drifted:
        body.append(f" ({', '.join(drifted[:4])}{', …' if len(drifted) > 4 else ''})",
                    style="yellow")
    body.append("   ")
    body.append("suspended" if sync.get("suspended") else "active",
                style="bold blue" if sync.get("suspended") else "green")
    body.append(f"   policy {sync.get('policy', '-')}", style="dim")
    check = str(health.get("check") or "-")
    body.append("   health check ", style="dim")
    body.append(check, style=CHECK_STATE_STYLE.get(check, "dim"))
    if drifted and state == "ok":
        state = "busy"  # the cluster has wandered from git: worth the learner's eye
    return body, state


class PipelineView(WhenShown, VerticalScroll):
    """Built from each snapshot only while on screen: off screen, the 300 rows of a big
    app's services and deployments were rebuilt on every refresh (a third of the UI's
    time during a rollout) for nobody; the latest snapshot is drawn once it shows."""

    def compose(self) -> ComposeResult:
        for key, title in STAGES:
            yield Stage(key, title)
        yield Countdowns()
        yield ServicesTable()
        yield RecentEvents(id="recent-events")
        table: DataTable[Any] = DataTable(id="deployments", cursor_type="row")
        table.border_title = "Deployments (image → HLD → PR → manifests → sync → health)"
        table.add_columns("HLD", "PR", "IMAGE", "MANIFESTS", "SYNC", "HEALTH", "VERDICT",
                          "AGE")
        yield table

    def stage(self, key: str) -> Stage:
        return self.query_one(f"#stage-{key}", Stage)

    def show(self, snap: Snapshot) -> None:
        self.when_shown("show", lambda: self._show(snap))

    def _show(self, snap: Snapshot) -> None:
        st = snap.status
        hld_main = (st.get("hld") or {}).get("main")
        branches = [b for b in snap.branches if b != "main"]
        self.stage("hld").show(_line(("main ", "dim"), (short(hld_main), "bold"),
                                     (f"   {len(branches)} other branch(es)", "dim")),
                               "ok" if hld_main else "idle")

        open_prs = [p for p in snap.prs if p.state == "open"]
        if open_prs:
            latest = open_prs[-1]
            body = _line((f"{len(open_prs)} open", "bold"), ("   latest ", "dim"),
                         f"#{latest.id} {shown(latest.title)}  ", ("checks ", "dim"),
                         check_text(latest.checks_state), ("  approvals ", "dim"),
                         f"{len(latest.approvals)}/{snap.required_approvals}")
            state = {"failure": "bad", "success": "ok"}.get(latest.checks_state, "busy")
        else:
            body, state = _line(("0 open", "dim")), "idle"
        self.stage("prs").show(body, state)

        pending = int((st.get("ci") or {}).get("pending_jobs", 0))
        self.stage("ci").show(
            _line((f"{pending} pending job(s)", "bold yellow")) if pending
            else _line(("idle", "dim"), ("   0 pending jobs", "dim")),
            "busy" if pending else "idle")

        man = st.get("manifests") or {}
        in_sync = bool(man.get("main")) and man.get("main") == man.get("flux_sync")
        self.stage("manifests").show(
            _line(("main ", "dim"), (short(man.get("main")), "bold"), ("   flux-sync ", "dim"),
                  (short(man.get("flux_sync")), "bold"),
                  ("   in sync", "green") if in_sync else ("   not yet applied", "yellow")),
            "ok" if in_sync else "busy" if man.get("main") else "idle")

        self.stage("reconciler").show(*reconciler_body(st.get("sync") or {}, snap.health))

        health = st.get("health") or {}
        app_word = str(health.get("app") or "Unknown")
        objects = health.get("objects") or {}
        counts: dict[str, int] = {}
        for value in objects.values():
            word = health_word(value)
            counts[str(word)] = counts.get(str(word), 0) + 1
        body = _line(health_text(app_word), "   ")
        for word, n in sorted(counts.items()):
            body.append(f"{n} {word}  ", style=HEALTH_STYLE.get(word, "dim"))
        self.stage("health").show(body, {"Healthy": "ok", "Progressing": "busy",
                                         "Degraded": "bad"}.get(app_word, "idle"))

        rows = []
        for dep in st.get("deployments") or []:
            rows.append((str(dep.get("hld_sha")), (
                short(dep.get("hld_sha")), f"#{dep['pr']}" if dep.get("pr") else "-",
                dep.get("image") or "-", short(dep.get("manifest_sha")),
                dep.get("sync_status") or "-", health_text(dep.get("health")),
                verdict_text(dep.get("verdict")), age(dep.get("created")))))
        sync_rows(self.query_one("#deployments", DataTable), rows)
        self.query_one(ServicesTable).show(snap)
        self.query_one(Countdowns).show(snap.waits)
