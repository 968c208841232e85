"""The rows of one metric sample, computed for what changed (issue 10: an idle engine
is idle, also in the minute after a rollout).

A pod's row depends on its object (phase, owner, resources), its traffic (totals and
rate, from the simulated cluster's closed-form traffic), the latency of its version
(its Deployment's traffic window) and what its image uses; a workload's row on its
pods' rows and its own window. So after a change only these rows are computed again:
- the pods and workloads written or removed since the last sample (a watch on the
  cluster's objects, as an informer holds one);
- the Deployments whose window and the pods whose rate still move with time after
  their endpoints changed (`Traffic.moving`);
- the workloads those pods belong to.
Every other row is the previous sample's. The first sample, a watch that fell behind,
a leaking image (memory moves with time), a long gap or a cluster without these hooks
(kind) compute everything, as a resync would.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, NamedTuple

from .cluster.base import ObjRef
from .metricsfill import FillIns, rated
from .metricsmodel import WORKLOADS, Sample, SampleRows, workload_key
from .metricspods import PodValues

WATCHED = frozenset((*WORKLOADS, "ReplicaSet", "Pod"))
# Past this gap between two samples (simulated seconds) everything is computed: the
# traffic forgets what moved long ago (Traffic.KEEP_MOVING is longer).
MAX_GAP = 300.0


class Collected(NamedTuple):
    rows: SampleRows  # every row of the sample
    computed: list[Sample]  # the rows computed afresh (all of them when `full`)
    gone: list[tuple[str, str, str]]  # targets that no longer exist
    full: bool
    at: float | None = None  # the traffic's time, which the rows' ramps are read at


def _meta_key(obj: dict[str, Any]) -> tuple[str, str]:
    meta = obj.get("metadata") or {}
    return meta.get("namespace", "default"), meta.get("name", "")


def _read_pods(read: Any, keys: Iterable[str]) -> dict[str, dict[str, Any] | None]:
    """Pods by "namespace/name" (None: gone)."""
    out: dict[str, dict[str, Any] | None] = {}
    for key in keys:
        ns, name = key.split("/", 1)
        out[key] = read.get(ObjRef("Pod", name, ns))
    return out


def _counts_of(traffic: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Each serving pod's totals ("namespace/name"), from its Deployments' traffic."""
    counts: dict[str, dict[str, Any]] = {}
    for dep in traffic.values():
        for pod, tot in (dep.get("pods") or {}).items():
            counts[f"{dep['namespace']}/{pod}"] = tot
    return counts


class RowBuilder(FillIns, PodValues):
    """Computes a sample's rows and keeps them, so the next sample computes only the
    rows of what changed."""

    def __init__(self, cluster: Any) -> None:
        self.cluster = cluster
        # pod -> (sim, requests, errors, requests/s, error rate) when last read
        self.counts: dict[str, tuple[float, float, float, float, float]] = {}
        self._sizes_of: dict[str, tuple[float, float | None, float, float]] = {}  # by pod uid
        self._usage: dict[str, tuple[float, float]] = {}
        self._watch: Any = None
        self._last: float | None = None  # the previous sample (computed or repeated)
        self.pod_rows: dict[str, Sample] = {}  # "ns/name" -> row
        self.workload_rows: dict[str, Sample] = {}  # workload key -> row
        self._pods_of: dict[str, dict[str, Sample]] = {}  # workload key -> its pod rows
        self._named: dict[str, set[str]] = {}  # workload name -> its keys
        self._rs_owner: dict[str, str] = {}  # ReplicaSet "ns/name" -> Deployment key
        self._pods_of_rs: dict[str, set[str]] = {}  # ReplicaSet "ns/name" -> pods
        self._rs_of_pod: dict[str, str] = {}
        # Pods whose last rate was not yet their steady one (a first sample has none; a
        # rate measured across a change is an average): the next sample reads them again.
        self._unsettled: set[str] = set()
        # Of those, the pods whose first sample already served at a steady rate: their
        # next row is that row with the rate filled in (rps, error rate), unless they
        # are read again anyway. A fleet that just started thus costs no pod reading at
        # its second sample, which changes every pod's row.
        self._predicted: dict[str, tuple[float, float]] = {}
        self._latency: dict[str, tuple[Any, ...]] = {}  # Deployment -> its versions' latency
        self.visited = 0  # pod rows computed: what a change costs
        self.filled = 0  # pod rows whose rate was filled in from their first sample
        self.rates_moved = 0  # Deployment rows whose filling window moved their rate only
        self._filling: dict[str, object] = {}  # Deployment -> its filling window's token
        self.full = 0  # samples computed in full
        self.at: float | None = None  # the traffic's time of the current sample

    def repeated(self, now: float) -> None:
        """A sample at `now` repeated the previous one."""
        self._last = now

    # -- one sample ----------------------------------------------------------------
    def collect(self, now: float, incremental: bool) -> Collected:
        """The rows at `now`: only what changed is computed when `incremental` (the
        caller's store continues the previous sample) and the cluster can say what
        changed; otherwise everything."""
        self.at = None
        inspect = getattr(self.cluster, "inspect", None)
        if not callable(inspect):  # a real cluster: its objects as copies, in full
            result = self._full(now, self.cluster.list)
            self._last = now
            return result
        watchable = callable(getattr(self.cluster, "watch", None)) and callable(
            getattr(self.cluster, "moving", None))
        if watchable and self._watch is None:
            self._watch = self.cluster.watch(kinds=WATCHED)
        prev = self._last

        def run(read: Any) -> Collected:
            # Taken under the cluster's lock with the objects: no write falls between.
            changed = self._watch.take() if watchable else None
            if (changed is None or not incremental or prev is None
                    or now - prev > MAX_GAP or not hasattr(read, "get")):
                return self._full(now, read)
            return self._changes(now, prev, read, changed)

        result: Collected = inspect(run)
        self._last = now
        return result._replace(at=self.at)

    def _full(self, now: float, read: Any) -> Collected:
        self.full += 1
        pods = read("Pod")
        self.pod_rows, self.workload_rows, self._pods_of, self._named = {}, {}, {}, {}
        self._rs_owner, self._pods_of_rs, self._rs_of_pod = {}, {}, {}
        self._unsettled = set()
        self._predicted = {}
        self._filling = {}
        self._latency = {}
        for rs in read("ReplicaSet"):
            self._note_rs(rs)
        traffic: dict[str, dict[str, Any]] = self.cluster.metrics()
        self._usage = self._read_usage(None)
        seen: set[str] = set()
        counts = _counts_of(traffic)
        for pod in pods:
            seen.add(self._pod(now, pod, traffic, counts))
        for gone in set(self.counts) - seen:
            del self.counts[gone]
        if len(self._sizes_of) > 2 * len(pods) + 100:  # pods come and go: forget the gone
            self._sizes_of.clear()
        for dep, window in traffic.items():
            self._latency_moved(dep, window)
        for kind in WORKLOADS:
            for obj in read(kind):
                ns, name = _meta_key(obj)
                self._workload(workload_key(kind, ns, name), traffic)
        self._note_filling(set(traffic))
        rows = self._rows()
        return Collected(rows, rows, [], True)

    def _changes(self, now: float, prev: float, read: Any, changed: set[ObjRef]
                 ) -> Collected:
        deps, moving_pods = self.cluster.moving(prev)
        # A row stored as a ramp is looked at every sample while it is one (the store
        # reads it at this sample's time), even with the cluster's time behind ours.
        deps |= {d for d in self._filling
                 if getattr(self.workload_rows.get(f"Deployment/{d}"), "ramp", None)}
        dirty_pods = {p for p in moving_pods if p in self.pod_rows} | (
            self._unsettled - self._predicted.keys())
        dirty_workloads: set[str] = set()  # by a write or a pod; the sliding windows below
        for ref in changed:
            key = f"{ref.namespace}/{ref.name}"
            if ref.kind == "Pod":
                dirty_pods.add(key)
            elif ref.kind == "ReplicaSet":
                old = self._rs_owner.pop(key, None)
                obj = read.get(ref)
                if obj is not None:
                    self._note_rs(obj)
                dirty_workloads.update(w for w in (old, self._rs_owner.get(key)) if w)
                dirty_pods.update(self._pods_of_rs.get(key, ()))  # their owner may move
            else:
                dirty_workloads.add(workload_key(ref.kind, ref.namespace, ref.name))
        owners_before = {p: self.pod_rows[p].workload for p in dirty_pods if p in self.pod_rows}
        dirty_workloads.update(w for w in owners_before.values() if w)
        objects = _read_pods(read, dirty_pods)
        owners = {k: self._ownership(p) for k, p in objects.items() if p is not None}
        dirty_workloads.update(o for o, _ in owners.values())
        filling = self._still_filling(deps, dirty_workloads)
        dirty_workloads.update(f"Deployment/{d}" for d in deps if d not in filling)
        traffic_deps = {w.split("/", 1)[1] for w in dirty_workloads
                        if w.startswith("Deployment/")}
        traffic = self.cluster.metrics(sorted(traffic_deps), set(objects)) \
            if traffic_deps else {}
        more: dict[str, list[str]] = {}  # Deployment -> its pods not read yet
        for d in deps - filling.keys():
            # A pod reads its version's latency in its Deployment's window: the pods of a
            # sliding window are read again only when those latencies moved.
            if self._latency_moved(d, traffic.get(d)):
                missing = [p for p in self._pods_of.get(f"Deployment/{d}", {})
                           if p not in objects]
                if missing:
                    more[d] = missing
        if more:
            # Their totals only, added to the windows above: a new Deployment's pods were
            # all read already, so a fleet that just started asks for nothing more.
            pods = {p for missing in more.values() for p in missing}
            objects.update(_read_pods(read, sorted(pods)))
            for d, window in self.cluster.metrics(sorted(more), pods).items():
                traffic[d]["pods"].update(window["pods"])
        # The pods predicted at an earlier sample and not read again now (those read
        # again are computed below, and may be predicted afresh for the next sample).
        filled = [k for k in self._predicted if k not in objects]
        self._usage = self._read_usage(sorted(k for k, p in objects.items() if p is not None))
        computed: list[Sample] = []
        gone: list[tuple[str, str, str]] = []
        counts = _counts_of(traffic)
        for key, pod in objects.items():
            if pod is None:
                row = self._drop_pod(key)
                if row is not None:
                    gone.append(("Pod", row.namespace, row.name))
                continue
            self._pod(now, pod, traffic, counts, owners.get(key))
            computed.append(self.pod_rows[key])
        for key in filled:
            row, stored = self._fill_rate(key)
            if not stored:
                computed.append(row)
            if not row.workload.startswith("Deployment/"):
                dirty_workloads.add(row.workload)  # its rate is its pods' sum
        written = {workload_key(r.kind, r.namespace, r.name) for r in changed
                   if r.kind in WORKLOADS}
        for w in sorted(dirty_workloads - {""}):
            kind, ns, name = w.split("/", 2)
            # A workload is removed by a write (it is in `changed`): the others still are.
            if (w in written or w not in self.workload_rows) and read.get(
                    ObjRef(kind, name, ns)) is None:
                if self.workload_rows.pop(w, None) is not None:
                    gone.append((kind, ns, name))
                    self._named.get(name, set()).discard(w)
                continue
            computed.append(self._workload(w, traffic))
        for d, moved in filling.items():
            row, stored = self._rate_moved(f"Deployment/{d}", moved)
            if not stored:
                computed.append(row)
        self._note_filling(traffic_deps)
        if len(self._sizes_of) > 2 * len(self.pod_rows) + 100:
            self._sizes_of.clear()
        return Collected(self._rows(), computed, gone, False)

    def _latency_moved(self, dep: str, window: dict[str, Any] | None) -> bool:
        versions = (window or {}).get("versions") or {}
        latency = tuple((v, x.get("p50_ms"), x.get("p95_ms"), x.get("p99_ms"))
                        for v, x in versions.items())
        moved = latency != self._latency.get(dep)
        self._latency[dep] = latency
        return moved

    def _rows(self) -> SampleRows:
        return SampleRows([*self.pod_rows.values(), *self.workload_rows.values()],
                          self._pods_of, self._named)

    # -- owners --------------------------------------------------------------------
    def _note_rs(self, rs: dict[str, Any]) -> None:
        ns, name = _meta_key(rs)
        for ref in (rs.get("metadata") or {}).get("ownerReferences") or []:
            if ref.get("kind") == "Deployment":
                self._rs_owner[f"{ns}/{name}"] = workload_key("Deployment", ns,
                                                              ref.get("name", ""))

    def _ownership(self, pod: dict[str, Any]) -> tuple[str, str | None]:
        """(The pod's workload key, "" if none; its ReplicaSet "ns/name" or None), in
        one pass over its owners."""
        meta = pod.get("metadata") or {}
        ns = meta.get("namespace", "default")
        owner: str | None = None
        rs: str | None = None
        for ref in meta.get("ownerReferences") or []:
            kind, name = ref.get("kind"), ref.get("name", "")
            if kind == "ReplicaSet":
                mine = f"{ns}/{name}"
                rs = rs or mine
                if owner is None and mine in self._rs_owner:
                    owner = self._rs_owner[mine]
            elif owner is None and kind in WORKLOADS:
                owner = workload_key(kind, ns, name)
        return owner or "", rs

    # -- rows ----------------------------------------------------------------------
    def _pod(self, now: float, pod: dict[str, Any], traffic: dict[str, dict[str, Any]],
             counts: dict[str, dict[str, Any]],
             ownership: tuple[str, str | None] | None = None) -> str:
        ns, name = _meta_key(pod)
        key = f"{ns}/{name}"
        self.visited += 1
        workload, rs = ownership or self._ownership(pod)
        dep = traffic.get(workload.split("/", 1)[1]) if workload.startswith(
            "Deployment/") else None
        # Its latency is its version's in its Deployment's window.
        mine = ((dep or {}).get("pods") or {}).get(name)
        version = ((dep or {}).get("versions") or {}).get(mine["version"]) if mine else None
        values = self._pod_values(pod, key, now, counts.get(key), version)
        then = self._predicted.get(key)
        row = Sample("Pod", ns, name, workload, values,
                     then=None if then is None else rated(*then))
        old = self.pod_rows.get(key)
        if old is not None and old.workload != workload:
            self._pods_of.get(old.workload, {}).pop(key, None)
        self.pod_rows[key] = row
        self._pods_of.setdefault(workload, {})[key] = row
        if rs != self._rs_of_pod.get(key):
            self._pods_of_rs.get(self._rs_of_pod.pop(key, ""), set()).discard(key)
            if rs is not None:
                self._pods_of_rs.setdefault(rs, set()).add(key)
                self._rs_of_pod[key] = rs
        return key

    def _drop_pod(self, key: str) -> Sample | None:
        row = self.pod_rows.pop(key, None)
        self.counts.pop(key, None)
        self._unsettled.discard(key)
        self._predicted.pop(key, None)
        if row is not None:
            self._pods_of.get(row.workload, {}).pop(key, None)
        self._pods_of_rs.get(self._rs_of_pod.pop(key, ""), set()).discard(key)
        return row

    def _workload(self, key: str, traffic: dict[str, dict[str, Any]]) -> Sample:
        kind, ns, name = key.split("/", 2)
        sums = {"cpu_m": 0.0, "memory_mib": 0.0, "rps": 0.0}
        for row in self._pods_of.get(key, {}).values():
            for f in sums:
                sums[f] += row.values.get(f) or 0.0
        window = traffic.get(f"{ns}/{name}") if kind == "Deployment" else None
        values: dict[str, float | None] = {"cpu_m": round(sums["cpu_m"], 1),
                                           "memory_mib": round(sums["memory_mib"], 1)}
        if window:
            values.update({f: window.get(f) for f in
                           ("rps", "error_rate", "p50_ms", "p95_ms", "p99_ms")})
            values["p99_ms"] = values["p99_ms"] or window.get("p95_ms")
        else:
            values["rps"] = round(sums["rps"], 2)
        row = self.workload_rows[key] = Sample(kind, ns, name, key, values)
        self._named.setdefault(name, set()).add(key)
        return row
