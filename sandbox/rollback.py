"""Automatic rollback through git (issue 12 point 3): a change whose verdict is `Failed`
is reverted by a pull request, never by changing the cluster behind git's back.

Setting `auto_rollback`:
- `off` (default): the verdict is reported, people decide;
- `propose`: the rollback bot opens the revert pull request itself, naming the verdict
  in its description; it waits for a human review like any other;
- `merge`: once the revert's checks pass, the rollback bot also approves and merges it.
  The branch policy lets the bot approve only its own automatic revert, only in this
  mode (users.may_approve_rollback), and each such approval is recorded in the audit log
  (event `audit.bot_approval`).

One rollback at a time: while one is open, a second Failed verdict opens none (event
`rollback.skipped`). The work runs as CI jobs (`rollback`, `rollback-merge`), so it
survives a restart like every other job and never blocks the thread that judged.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from .events import Event, EventBus
from .gitutil import short
from .pipelines import enqueue_once
from .users import ROLLBACK_BOT

if TYPE_CHECKING:
    from .pipelines import JobLog
    from .workspace import Workspace

MARKER = "Automatic rollback"  # the first words of the revert's description
META = "rollback.inflight"  # {"pr": N, "reverted": sha} while a rollback is open


class AutoRollback:
    def __init__(self, ws: Workspace, bus: EventBus) -> None:
        self.ws = ws
        self.bus = bus
        self._unsubscribe = bus.subscribe(self.on_event)

    def close(self) -> None:
        self._unsubscribe()

    def on_event(self, ev: Event) -> None:
        mode = self.ws.settings.auto_rollback
        d = ev.data
        if mode == "off":
            return
        if ev.kind == "analysis.finished" and d.get("verdict") == "Failed":
            enqueue_once(self.ws, "rollback", hld_sha=d["hld_sha"],
                         reason=str(d.get("reason") or ""))
        elif (ev.kind == "check.finished" and mode == "merge" and d.get("status") == "success"
              and d.get("pr") == (self.inflight() or {}).get("pr")):
            enqueue_once(self.ws, "rollback-merge", pr=d["pr"])

    def inflight(self) -> dict[str, Any] | None:
        """The open automatic rollback, if any (a merged or closed one is over)."""
        data = json.loads(self.ws.store.get_meta(META, "null") or "null")
        if not data:
            return None
        row = self.ws.store.one("SELECT state FROM prs WHERE id=?", data["pr"])
        return data if row is not None and row["state"] == "open" else None

    # -- jobs ----------------------------------------------------------------------
    def open_revert(self, params: dict[str, Any], log: JobLog) -> dict[str, Any]:
        from .facade import Sandbox

        sha, reason = params["hld_sha"], params.get("reason", "")
        busy = self.inflight()
        if busy:
            message = (f"no rollback of {short(sha)}: the rollback #{busy['pr']} of "
                       f"{short(busy['reverted'])} is still open")
            log(message)
            self.bus.publish("rollback.skipped", "rollback", message, hld_sha=sha,
                             inflight=busy["pr"])
            return {"ok": True, "skipped": True}
        body = (f"{MARKER} by {ROLLBACK_BOT}: the verdict of {short(sha)} is Failed: "
                f"{reason}\n\nReverts {short(sha)}.")
        bot = Sandbox(self.ws.root, user=ROLLBACK_BOT)
        try:
            pr = bot.revert(sha, description=body)
        finally:
            bot.close()
        self.ws.store.set_meta(META, json.dumps({"pr": pr.id, "reverted": sha}))
        log(f"opened the revert pull request #{pr.id}")
        self.bus.publish("rollback.opened", "rollback",
                         f"automatic rollback of {short(sha)} (verdict Failed: {reason}) "
                         f"opened as pull request #{pr.id}", pr=pr.id, hld_sha=sha,
                         reason=reason, mode=self.ws.settings.auto_rollback)
        return {"ok": True, "pr": pr.id}

    def merge_revert(self, params: dict[str, Any], log: JobLog) -> dict[str, Any]:
        from .facade import Sandbox

        pr_id = int(params["pr"])
        bot = Sandbox(self.ws.root, user=ROLLBACK_BOT)
        try:
            pr = bot.get_pr(pr_id)
            if pr.state != "open":
                return {"ok": True, "skipped": f"#{pr_id} is {pr.state}"}
            bot.approve_pr(pr_id, ROLLBACK_BOT)
            merged = bot.merge_pr(pr_id, ROLLBACK_BOT)
        finally:
            bot.close()
        log(f"merged #{pr_id} as {short(merged.merge_sha)}")
        return {"ok": True, "pr": pr_id, "merge_sha": merged.merge_sha}
