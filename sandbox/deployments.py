"""Deployment traces, after Spektate and `bedrock deployment get`: one record per HLD
change joining image -> HLD commit -> pull request -> manifest commit -> cluster sync
-> health, each with its own time and result. Built only from events on the bus.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

from .events import Event, EventBus
from .store import Store

_RELEASE_RE = re.compile(r"^DEPLOY/(?P<service>.+)-(?P<tag>[^-]+)$")


class DeploymentTracker:
    def __init__(self, store: Store, bus: EventBus) -> None:
        self.store = store
        self._unsubscribe = bus.subscribe(self.on_event)

    def close(self) -> None:
        self._unsubscribe()

    def on_event(self, ev: Event) -> None:
        d = ev.data
        if ev.kind == "manifests.generated":
            image = self._image_of(d.get("pr"))
            # An automatic rollback's merge names the change it undoes (rollback.py).
            bad = self.store.one("SELECT hld_sha FROM deployments WHERE rollback_pr=?",
                                 d.get("pr")) if d.get("pr") else None
            self._upsert(d["sha"], pr=d.get("pr"), manifest_sha=d.get("manifest_sha"),
                         generated=ev.ts, image=image,
                         rollback_of=bad["hld_sha"] if bad else None)
            if d.get("unchanged"):
                self._upsert(d["sha"], sync_status="unchanged", synced=ev.ts)
        elif ev.kind in ("sync.finished", "sync.failed") and d.get("hld_sha"):
            if ev.kind == "sync.finished" and not d.get("new_revision"):
                return
            status = "synced" if ev.kind == "sync.finished" and not d.get("errors") else "failed"
            self._upsert(d["hld_sha"], sync_status=status, synced=ev.ts)
        elif ev.kind == "health.changed" and d.get("scope") == "app" and d.get("hld_sha"):
            fields: dict[str, Any] = {"health": d["health"]}
            if d["health"] == "Healthy":
                fields["healthy"] = ev.ts
            self._upsert(d["hld_sha"], **fields)
        elif ev.kind == "rollback.opened" and d.get("hld_sha"):
            self._upsert(d["hld_sha"], rollback_pr=d.get("pr"))
        elif ev.kind == "analysis.pending" and d.get("hld_sha"):
            self._upsert(d["hld_sha"], verdict="Pending", verdict_reason=ev.message)
        elif ev.kind == "analysis.skipped" and d.get("hld_sha"):
            with self.store.tx() as db:
                db.execute("UPDATE deployments SET verdict=NULL, verdict_reason=? WHERE "
                           "hld_sha=?", (ev.message, d["hld_sha"]))
        elif ev.kind == "analysis.started" and d.get("hld_sha"):
            self._upsert(d["hld_sha"], verdict="Running", verdict_reason=ev.message)
        elif ev.kind == "analysis.finished" and d.get("hld_sha"):
            self._upsert(d["hld_sha"], verdict=d.get("verdict"), verdict_reason=d.get("reason"),
                         analysis=json.dumps(d.get("analysis") or {}))

    def _image_of(self, pr: int | None) -> str | None:
        if not pr:
            return None
        row = self.store.one("SELECT head, kind FROM prs WHERE id=?", pr)
        if row is None or row["kind"] != "release":
            return None
        match = _RELEASE_RE.match(row["head"])
        return f"{match['service']}:{match['tag']}" if match else None

    def _upsert(self, hld_sha: str, **fields: Any) -> None:
        fields = {k: v for k, v in fields.items() if v is not None}
        with self.store.tx() as db:
            db.execute("INSERT OR IGNORE INTO deployments(hld_sha, created) VALUES(?, ?)",
                       (hld_sha, time.time()))
            if fields:
                sets = ", ".join(f"{k}=?" for k in fields)
                db.execute(f"UPDATE deployments SET {sets} WHERE hld_sha=?",
                           (*fields.values(), hld_sha))


def list_deployments(store: Store, limit: int = 50) -> list[dict[str, Any]]:
    rows = store.query("SELECT * FROM deployments ORDER BY id DESC LIMIT ?", limit)
    return [_row(r) for r in rows]


def get_deployment(store: Store, hld_sha: str) -> dict[str, Any] | None:
    row = store.one("SELECT * FROM deployments WHERE hld_sha=?", hld_sha)
    return _row(row) if row else None


def _row(row: Any) -> dict[str, Any]:
    out = dict(row)
    out["analysis"] = json.loads(out["analysis"]) if out.get("analysis") else None
    return out


def analysis_numbers(dep: dict[str, Any]) -> str:
    """The analysis in a few words: worst error rate and p95 seen, failed checks."""
    analysis = dep.get("analysis") or {}
    checks = analysis.get("checks") or []
    if not checks:
        return "-"
    seen = [v for c in checks for v in (c.get("workloads") or {}).values()]
    err = max((v.get("error_rate") or 0.0 for v in seen), default=0.0)
    p95 = max((v.get("p95_ms") or 0.0 for v in seen), default=0.0)
    return (f"err<={100 * err:.1f}% p95<={p95:.0f}ms "
            f"{analysis.get('failed_checks', 0)}/{len(checks)} failed")
