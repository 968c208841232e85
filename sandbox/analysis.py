"""The verdict of a change (issue 12 point 2): after a change syncs and its health check
passes, its workloads are judged against their service level objectives over an
analysis window, as Flagger's `analysis` and Argo Rollouts' AnalysisRun do.

Fed by events and the metric samples, never by a sweep of the cluster:
- `sync.finished` (a new revision) names the change and the workloads it touched;
- `health.check` Passed starts the analysis of that revision (Failed: no analysis,
  health already said it); a newer sync ends an unfinished one as Inconclusive;
- every metric sample (sandbox/metrics.py) that falls on or after the next check time
  is one check: each touched Deployment's error rate (its pods' requests and errors
  since their previous sample) and p95 latency (its pods' versions) against its
  ceilings.

Verdict (event `analysis.finished`, kept in the deployment trace):
- `Failed` as soon as the failed checks exceed `analysis_failure_limit`, or at the end
  when the availability (requests answered without error, over the whole window) is
  below its minimum; the reason names the objective and its numbers;
- `Inconclusive` when no check saw traffic (nothing to judge), or a newer change came;
- `Succeeded` otherwise, after `analysis_count` checks.

Objectives: workspace defaults (settings `slo_error_rate`, `slo_p95_ms`,
`slo_availability`), overridden per service by `slo:` in its HLD config (see the README).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import yaml

from .gitutil import GitError, git, short

Publish = Callable[..., None]
SLO_KEYS = {"error_rate": "max_error_rate", "p95_ms": "max_p95_ms",
            "availability": "min_availability"}


@dataclass(frozen=True)
class Objectives:
    max_error_rate: float = 0.05
    max_p95_ms: float = 500.0
    min_availability: float = 0.99


class SloError(ValueError):
    """An `slo:` block the user can fix; the message names file, key and fix."""


def parse_slo(value: Any, base: Objectives, where: str) -> Objectives:
    if not isinstance(value, dict):
        raise SloError(f"{where}: slo must be a mapping of {', '.join(SLO_KEYS)}; "
                       "fix: slo: {error_rate: 0.01, p95_ms: 300, availability: 0.99}")
    changes: dict[str, float] = {}
    for key, raw in value.items():
        if key not in SLO_KEYS:
            raise SloError(f"{where}: unknown slo key {key!r}; use {', '.join(SLO_KEYS)}")
        # `fab set` writes every value as a string: "0.01" is a number too.
        try:
            if isinstance(raw, bool):
                raise ValueError
            number = float(raw)
        except (TypeError, ValueError):
            raise SloError(f"{where}: slo.{key} must be a number, not {raw!r}") from None
        if key != "p95_ms" and not 0.0 <= number <= 1.0:
            raise SloError(f"{where}: slo.{key} is a share between 0 and 1 "
                           f"(0.05 for 5%), not {raw!r}")
        if key == "p95_ms" and number <= 0:
            raise SloError(f"{where}: slo.p95_ms must be above 0, not {raw!r}")
        changes[SLO_KEYS[key]] = number
    return replace(base, **changes)


def _slo_blocks(cfg: Any, found: dict[str, tuple[Any, str]], file: str) -> None:
    """Every component's `config.slo`, by component name, walking subcomponents."""
    subs = (cfg or {}).get("subcomponents") if isinstance(cfg, dict) else None
    for name, sub in (subs or {}).items() if isinstance(subs, dict) else ():
        if not isinstance(sub, dict):
            continue
        values = sub.get("config")
        if isinstance(values, dict) and "slo" in values:
            found[str(name)] = (values["slo"], f"{file} subcomponents.{name}.config.slo")
        _slo_blocks(sub, found, file)


def objectives_at(hld_git: Any, sha: str, environments: list[str],
                  default: Objectives) -> dict[str, Objectives]:
    """Per component name (= its Deployment's name), the objectives declared in the HLD
    config at this commit: config/common.yaml, then each environment's file."""
    found: dict[str, tuple[Any, str]] = {}
    for env in ["common", *environments]:
        for suffix in (".yaml", ".yml", ".json"):
            path = f"config/{env}{suffix}"
            try:
                text = git("show", f"{sha}:{path}", git_dir=hld_git)
            except GitError:
                continue
            try:
                data = yaml.safe_load(text)
            except yaml.YAMLError:
                break  # the PR check reports broken YAML; the defaults apply here
            _slo_blocks(data, found, path)
            break
    return {name: parse_slo(value, default, where) for name, (value, where) in found.items()}


@dataclass
class Run:
    hld_sha: str
    revision: str
    targets: list[str]  # "name" or "namespace/name" of the Deployments it judges; [] = all
    objectives: dict[str, Objectives]
    default: Objectives
    started: float
    next_check: float
    checks: list[dict[str, Any]] = field(default_factory=list)
    failed: int = 0

    def objective(self, name: str) -> Objectives:
        return self.objectives.get(name, self.default)


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


class Analyzer:
    def __init__(self, publish: Publish, objectives: Callable[[str], dict[str, Objectives]],
                 default: Callable[[], Objectives], settings: Callable[[], Any]) -> None:
        self.publish = publish
        self.objectives = objectives
        self.default = default
        self.settings = settings
        self._lock = threading.Lock()
        self._synced: dict[str, tuple[str, list[str]]] = {}  # revision -> (hld, targets)
        self.run: Run | None = None
        self.rows_visited = 0  # sample rows a check looked at: its targets' pods only

    # -- events ------------------------------------------------------------------
    def on_event(self, kind: str, data: dict[str, Any], now: float) -> None:
        if kind == "sync.finished" and data.get("new_revision") and data.get("hld_sha"):
            targets = sorted({line.split()[0].split("/", 1)[1] for line in
                              data.get("changed") or [] if line.startswith("Deployment/")})
            with self._lock:
                for revision, (hld_sha, _targets) in self._synced.items():
                    if revision != data["revision"]:
                        self.publish("analysis.skipped", f"no analysis of {short(hld_sha)}: "
                                     f"{short(data['hld_sha'])} synced before its health "
                                     "check", hld_sha=hld_sha, revision=revision)
                self._synced = {data["revision"]: (data["hld_sha"], targets)}
                if self.run is not None and self.run.revision != data["revision"]:
                    self._finish("Inconclusive", f"superseded by {short(data['hld_sha'])} "
                                 "before the analysis ended", {})
                if self.settings().analysis_count > 0:
                    # Said before the health check's event, so a waiter that sees the
                    # check passed knows a verdict is coming.
                    self.publish("analysis.pending", f"analysis of {short(data['hld_sha'])} "
                                 "starts when its health check passes",
                                 hld_sha=data["hld_sha"], revision=data["revision"])
        elif kind == "health.check" and data.get("revision"):
            with self._lock:
                synced = self._synced.pop(data["revision"], None)
                if synced is None:
                    return
                if data.get("result") != "Passed":
                    self.publish("analysis.skipped", f"no analysis of {short(synced[0])}: its "
                                 "health check failed", hld_sha=synced[0],
                                 revision=data["revision"])
                    return
                self._start(data["revision"], *synced, now)

    def _start(self, revision: str, hld_sha: str, targets: list[str], now: float) -> None:
        s = self.settings()
        if s.analysis_count <= 0:
            self.publish("analysis.skipped", "analysis_count is 0: no analysis",
                         hld_sha=hld_sha, revision=revision)
            return
        default = self.default()
        try:
            objectives = self.objectives(hld_sha)
        except SloError as exc:
            self.publish("analysis.finished", f"analysis of {short(hld_sha)}: Inconclusive: "
                         f"{exc}", hld_sha=hld_sha, revision=revision,
                         verdict="Inconclusive", reason=str(exc), analysis={})
            return
        self.run = Run(hld_sha, revision, targets, objectives, default, now,
                       now + s.analysis_interval_seconds)
        self.publish("analysis.started",
                     f"analysis of {short(hld_sha)}: {s.analysis_count} checks every "
                     f"{s.analysis_interval_seconds:g}s, failure limit "
                     f"{s.analysis_failure_limit}, on "
                     + (", ".join(targets) or "every Deployment"),
                     hld_sha=hld_sha, revision=revision, targets=targets)

    # -- samples -----------------------------------------------------------------
    def on_sample(self, now: float, rows: list[Any]) -> None:
        with self._lock:
            run = self.run
            if run is None or now < run.next_check:
                return
            s = self.settings()
            run.next_check = now + s.analysis_interval_seconds
            check = self._check(run, now, rows)
            run.checks.append(check)
            if check["broken"]:
                run.failed += 1
            if run.failed > s.analysis_failure_limit:
                # When it broke first: a regression that starts late shows as such.
                first = next(c for c in run.checks if c["broken"])
                self._finish("Failed", f"{check['broken'][0]} in {run.failed} of "
                             f"{len(run.checks)} checks (failure limit "
                             f"{s.analysis_failure_limit}; first broken "
                             f"{first['sim'] - run.started:.0f}s into the analysis)",
                             self._summary(run))
            elif len(run.checks) >= s.analysis_count:
                self._conclude(run)

    def _check(self, run: Run, now: float, rows: list[Any]) -> dict[str, Any]:
        # From the pods' samples, not the workload's: a pod's numbers are its own since
        # its previous sample, so the old version's traffic in the workload's sliding
        # window never counts against the new one (nor for it).
        per: dict[str, dict[str, Any]] = {}
        for row in self._candidates(run, rows):
            self.rows_visited += 1
            if row.kind != "Pod" or not row.workload.startswith("Deployment/"):
                continue
            key = row.workload.split("/", 1)[1]
            name = key.split("/", 1)[1]
            # The sync names objects as Kind/name, or Kind/namespace/name.
            if run.targets and key not in run.targets and name not in run.targets:
                continue
            v = row.values
            w = per.setdefault(key, {"rps": 0.0, "errors": 0.0, "p95_ms": None})
            rps = v.get("rps") or 0.0
            w["rps"] += rps
            w["errors"] += rps * (v.get("error_rate") or 0.0)
            if v.get("p95_ms") is not None:
                w["p95_ms"] = max(w["p95_ms"] or 0.0, v["p95_ms"])
        seen: dict[str, dict[str, Any]] = {}
        broken: list[str] = []
        for key, w in sorted(per.items()):
            rps = round(w["rps"], 2)
            err = round(w["errors"] / w["rps"], 4) if w["rps"] > 0 else 0.0
            p95 = w["p95_ms"]
            seen[key] = {"rps": rps, "error_rate": err, "p95_ms": p95}
            if rps <= 0:
                continue
            name = key.split("/", 1)[1]
            obj = run.objective(name)
            if err > obj.max_error_rate:
                broken.append(f"{name}: error rate {_pct(err)} is above its SLO of "
                              f"{_pct(obj.max_error_rate)}")
            if p95 is not None and p95 > obj.max_p95_ms:
                broken.append(f"{name}: p95 latency {p95:.0f}ms is above its SLO of "
                              f"{obj.max_p95_ms:g}ms")
        return {"sim": round(now, 3), "workloads": seen, "broken": broken}

    @staticmethod
    def _candidates(run: Run, rows: list[Any]) -> list[Any]:
        """The pod rows of the run's targets, through the sample's index by workload
        when it has one (metricsrows.SampleRows): a change's check costs the rows of
        what it changed, not every pod's. Without targets or an index: every row."""
        pods = getattr(rows, "pods", None)
        named = getattr(rows, "workloads_named", None)
        if not run.targets or not callable(pods) or not callable(named):
            return rows
        keys: set[str] = set()
        for target in run.targets:  # "name" or "namespace/name", as the sync said
            keys.update({f"Deployment/{target}"} if "/" in target else
                        {w for w in named(target) if w.startswith("Deployment/")})
        return [row for key in sorted(keys) for row in pods(key)]

    def _summary(self, run: Run) -> dict[str, Any]:
        per: dict[str, dict[str, Any]] = {}
        for check in run.checks:
            for key, v in check["workloads"].items():
                p = per.setdefault(key, {"requests": 0.0, "errors": 0.0, "p95_ms": 0.0})
                p["requests"] += v["rps"]
                p["errors"] += v["rps"] * v["error_rate"]
                p["p95_ms"] = max(p["p95_ms"], v["p95_ms"] or 0.0)
        workloads = {}
        for key, p in per.items():
            obj = run.objective(key.split("/", 1)[1])
            share = (1 - p["errors"] / p["requests"]) if p["requests"] else None
            workloads[key] = {"availability": None if share is None else round(share, 4),
                              "max_p95_ms": round(p["p95_ms"], 1),
                              "objectives": asdict(obj)}
        return {"checks": run.checks, "failed_checks": run.failed,
                "started": round(run.started, 3), "workloads": workloads}

    def _conclude(self, run: Run) -> None:
        summary = self._summary(run)
        traffic = any(v["rps"] > 0 for c in run.checks for v in c["workloads"].values())
        if not traffic:
            self._finish("Inconclusive", f"no traffic reached "
                         f"{', '.join(run.targets) or 'any Deployment'} in "
                         f"{len(run.checks)} checks: nothing to judge", summary)
            return
        for key, w in sorted(summary["workloads"].items()):
            need = w["objectives"]["min_availability"]
            if w["availability"] is not None and w["availability"] < need:
                self._finish("Failed", f"{key.split('/', 1)[1]}: availability "
                             f"{_pct(w['availability'])} is below its SLO of {_pct(need)} "
                             f"over {len(run.checks)} checks", summary)
                return
        self._finish("Succeeded", f"{len(run.checks)} checks, {run.failed} failed "
                     f"(limit {self.settings().analysis_failure_limit})", summary)

    def _finish(self, verdict: str, reason: str, summary: dict[str, Any]) -> None:
        run, self.run = self.run, None
        if run is None:
            return
        self.publish("analysis.finished",
                     f"analysis of {short(run.hld_sha)}: {verdict}: {reason}",
                     hld_sha=run.hld_sha, revision=run.revision, verdict=verdict,
                     reason=reason, analysis=summary)


def abandon_unfinished(store: Any, publish: Publish) -> None:
    """At engine start: an analysis the previous engine left unfinished cannot resume
    (its samples and checks were in memory), so it ends Inconclusive, and nobody waits
    for it forever."""
    for row in store.query("SELECT hld_sha FROM deployments WHERE verdict IN "
                           "('Pending', 'Running')"):
        reason = "the engine stopped before the analysis ended"
        publish("analysis.finished", f"analysis of {short(row['hld_sha'])}: Inconclusive: "
                f"{reason}", hld_sha=row["hld_sha"], verdict="Inconclusive", reason=reason,
                analysis={})
