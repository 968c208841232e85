"""What the TUI's Metrics tab and the Pipeline tab's verdicts read (issue 12 point 5):
one workload's series on the simulated clock, the syncs of the changes that touched it
(the deploy markers), its objectives (the SLO lines), and each service's verdict.

Read from the workspace's database only, so an attached TUI sees what the engine in
another process wrote; every query goes by index (the TUI repeats them every second).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from .gitutil import rev

if TYPE_CHECKING:
    from .workspace import Workspace

WORKLOADS = ("Deployment", "StatefulSet", "DaemonSet")
SERIES = ("rps", "error_rate", "p95_ms")
RECENT_SYNCS = 200  # the syncs a service's verdict is looked for in, newest first


def _touched(data: dict[str, Any]) -> list[str]:
    """The Deployments a sync changed, by name, as the analysis picks its targets: the
    sync names them `Deployment/name` (or `Deployment/namespace/name`)."""
    return sorted({line.split()[0].split("/", 1)[1] for line in data.get("changed") or []
                   if isinstance(line, str) and line.startswith("Deployment/")})


def _name_matches(targets: list[str], namespace: str, name: str) -> bool:
    return name in targets or f"{namespace}/{name}" in targets


class Monitoring:
    ws: Workspace

    # -- the Metrics tab -----------------------------------------------------------
    def metric_services(self) -> dict[str, Any]:
        """The workloads in the newest sample (`Kind/namespace/name`, Deployments first),
        and the one to show first: the latest synced change's, else the first."""
        from .metrics import ensure_schema

        ensure_schema(self.ws.store)
        marks = ",".join("?" * len(WORKLOADS))
        rows = self.ws.store.query(
            f"SELECT kind, workload FROM metric_samples WHERE sim=(SELECT MAX(sim) FROM "
            f"metric_times) AND kind IN ({marks})", *WORKLOADS)
        services = [r["workload"] for r in sorted(
            rows, key=lambda r: (WORKLOADS.index(r["kind"]), r["workload"]))]
        default = services[0] if services else None
        for sync in self._syncs(limit=20):
            hit = [s for s in services if _name_matches(sync["targets"], *s.split("/")[1:])]
            if hit:
                default = hit[0]
                break
        return {"services": services, "default": default}

    def metric_series(self, workload: str, since: float = 900.0) -> dict[str, Any]:
        """One workload's rate, error rate and p95 over the last `since` simulated seconds
        before its newest sample; the syncs of changes that touched it in that window,
        with their pull request and verdict; and its objectives."""
        from .metrics import ensure_schema

        ensure_schema(self.ws.store)
        kind, namespace, name = (workload.split("/", 2) + ["", ""])[:3]
        # Backwards along the (workload, sim) index to the first row of the workload
        # itself (its pods share the key): MAX() would read every row of them.
        newest = self.ws.store.one("SELECT sim FROM metric_samples WHERE workload=? AND "
                                   "kind=? ORDER BY sim DESC LIMIT 1", workload, kind)
        now = float(newest["sim"]) if newest is not None else None
        samples: list[dict[str, Any]] = []
        syncs: list[dict[str, Any]] = []
        if now is not None:
            samples = [dict(r) for r in self.ws.store.query(
                f"SELECT sim, {', '.join(SERIES)} FROM metric_samples WHERE workload=? "
                "AND kind=? AND sim>=? ORDER BY sim", workload, kind, now - since)]
            syncs = [s for s in self._syncs(since_sim=now - since)
                     if _name_matches(s["targets"], namespace, name)]
            syncs.reverse()  # oldest first, like the samples
        return {"workload": workload, "now": now, "since": since, "samples": samples,
                "syncs": syncs, "objectives": self.slo_objectives(name)}

    def slo_objectives(self, name: str) -> dict[str, Any]:
        """The objectives of a service (its component's `slo:` in the HLD config on main,
        else the workspace's `slo_*` settings), as the analysis of the next change will
        use them; `error` says why the HLD's could not be read."""
        from dataclasses import asdict

        from .analysis import Objectives, SloError, objectives_at

        s = self.ws.settings
        default = Objectives(s.slo_error_rate, s.slo_p95_ms, s.slo_availability)
        main = rev(self.ws.hld_git, "refs/heads/main")
        error = None
        cache: dict[str, Any] = self.__dict__.setdefault("_slo_cache", {})
        key = (main, default, tuple(s.environments))
        if main and cache.get("key") != key:
            try:
                cache.update(key=key, per=objectives_at(self.ws.hld_git, main,
                                                        list(s.environments), default),
                             error=None)
            except SloError as exc:
                cache.update(key=key, per={}, error=str(exc))
        if main:
            error = cache.get("error")
        chosen = (cache.get("per") or {}).get(name, default) if main else default
        return {**asdict(chosen), "error": error}

    # -- the Pipeline tab ----------------------------------------------------------
    def service_verdicts(self) -> dict[str, dict[str, Any]]:
        """Per Deployment name (`namespace/name` when the sync named it so), the verdict
        of the newest change that touched it: verdict (Pending, Running, Succeeded,
        Failed, Inconclusive, or None when it had no analysis), reason, pr, hld_sha. A
        change that touched no Deployment was judged on all of them: it counts for every
        name not yet seen, under the key "*"."""
        out: dict[str, dict[str, Any]] = {}
        for sync in self._syncs(limit=RECENT_SYNCS):
            verdict = {k: sync[k] for k in ("verdict", "reason", "pr", "hld_sha")}
            for target in sync["targets"] or ["*"]:
                out.setdefault(target, verdict)
            if "*" in out:
                break  # every older change was judged again by this one
        return out

    # -- shared --------------------------------------------------------------------
    def _syncs(self, since_sim: float | None = None,
               limit: int = RECENT_SYNCS) -> list[dict[str, Any]]:
        """Syncs of a new revision, newest first: sim, hld_sha, targets, and the change's
        pr, verdict and its reason from the deployment trace. Of the last `limit` syncs,
        and only those at or after `since_sim` (an event's simulated time never goes
        back in id order). Each event's data is parsed once per process: the first
        sync's `changed` list names every object, and this runs every refresh."""
        cache: dict[int, tuple[str | None, list[str]]] = self.__dict__.setdefault(
            "_sync_cache", {})
        listed = self.ws.store.query("SELECT id, sim FROM events WHERE kind='sync.finished' "
                                     "ORDER BY id DESC LIMIT ?", limit)
        if since_sim is not None:
            listed = [r for r in listed if float(r["sim"] or 0.0) >= since_sim]
        missing = [r["id"] for r in listed if r["id"] not in cache]
        if len(cache) + len(missing) > 4 * RECENT_SYNCS:
            cache.clear()
            missing = [r["id"] for r in listed]
        for i in range(0, len(missing), 500):  # SQLite's limit on parameters
            part = missing[i:i + 500]
            for r in self.ws.store.query(f"SELECT id, data FROM events WHERE id IN "
                                         f"({','.join('?' * len(part))})", *part):
                data = json.loads(r["data"])
                new = bool(data.get("new_revision")) and data.get("hld_sha")
                cache[r["id"]] = (str(data["hld_sha"]) if new else None, _touched(data))
        found = [(r, *cache[r["id"]]) for r in listed if cache[r["id"]][0]]
        rows = self._deployments_of([sha for _r, sha, _t in found])
        out = []
        for r, sha, targets in found:
            dep = rows.get(sha) or {}
            out.append({"sim": float(r["sim"] or 0.0), "hld_sha": sha, "targets": targets,
                        "pr": dep.get("pr"), "verdict": dep.get("verdict"),
                        "reason": dep.get("verdict_reason")})
        return out

    def _deployments_of(self, shas: list[str]) -> dict[str, dict[str, Any]]:
        if not shas:
            return {}
        marks = ",".join("?" * len(set(shas)))
        return {r["hld_sha"]: dict(r) for r in self.ws.store.query(
            f"SELECT hld_sha, pr, verdict, verdict_reason FROM deployments WHERE hld_sha IN "
            f"({marks})", *set(shas))}
