"""The simulated cluster's journal: what a real cluster keeps in etcd, kept in the
workspace so the cluster outlives the engine (the GitOps controller) that drives it.

Only what changed since the last write is written: every object the store touched or
removed (with the kubelet's view of a pod and the Deployment controller's progress, so
a restart neither restarts pods nor forgets a rollout's deadline), the events emitted
since, and a small state record (simulated now, counters, the RNG when it moved). The
cluster writes after every call that changed it, inside its lock, so an engine killed
at any moment restarts from a state the cluster really was in.

Pending transitions are not stored as such: each pod keeps the time of its next one
(`PodSim.due`) and each Deployment its last progress, and the timers are rebuilt from
them on restore.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from typing import TYPE_CHECKING, Any, Protocol

from sandbox.cluster.base import ClusterEvent, ObjRef
from sandbox.cluster.sim.deployments import Progress
from sandbox.cluster.sim.pods import PodSim
from sandbox.registry import ImageProfile

if TYPE_CHECKING:
    from sandbox.cluster.sim.cluster import SimCluster

FORMAT = 1
# Rows are keyed by ObjRef.key (with a custom resource's group). Journals written before
# say nothing: their custom resources' rows are keyed by kind alone, and are moved to
# their keys at the first write after a restore.
KEYS = 2
HISTORY = 5000  # events kept, as the in-memory history keeps them


@dataclass
class Delta:
    """One journal write: rows to upsert and delete, new events, the state record."""

    upserts: dict[str, str] = field(default_factory=dict)
    deletes: list[str] = field(default_factory=list)
    events: list[tuple[int, str]] = field(default_factory=list)
    keep_events_after: int = 0
    state: str = ""
    rng: str | None = None  # only when the generator moved since the last write
    # Each Service's base request rate: as big as the cluster, so only when it changed.
    traffic: str | None = None
    refs: list[ObjRef] = field(default_factory=list)  # what the rows are about, for undo


@dataclass
class Saved:
    """What a journal holds, as read back from the workspace."""

    objects: list[dict[str, Any]]
    events: list[dict[str, Any]]
    state: dict[str, Any]
    rng: Any = None
    wall: float = float("nan")  # Unix time of the last write


class Journal:
    """Collects a SimCluster's changes; `take()` returns them once."""

    def __init__(self, sim: SimCluster) -> None:
        self.sim = sim
        self._events_written = sim._ctx.emitted
        self._rng_written: Any = None
        self._traffic_written: dict[str, float] | None = None
        self._legacy: list[str] = []  # rows under an old key, deleted at the next write

    def take(self) -> Delta | None:
        sim = self.sim
        store, ctx = sim._store, sim._ctx
        new_events = ctx.emitted - self._events_written
        rng_state = ctx.rng.getstate()
        rng_moved = rng_state != self._rng_written
        base = sim._traffic._base
        traffic_moved = base != self._traffic_written
        if not store.changed and not new_events and not rng_moved and not traffic_moved:
            return None
        delta = Delta(refs=sorted(store.changed), deletes=self._legacy)
        self._legacy = []
        for ref in delta.refs:
            obj = store.get(ref)
            if obj is None:
                delta.deletes.append(ref.key)
            else:
                delta.upserts[ref.key] = json.dumps(_row(sim, ref, obj))
        store.changed.clear()
        if new_events:
            recent = list(ctx.history)[-min(new_events, len(ctx.history)):]
            first = ctx.emitted - len(recent) + 1
            delta.events = [(first + i, json.dumps(_event(e))) for i, e in enumerate(recent)]
            self._events_written = ctx.emitted
        delta.keep_events_after = max(0, ctx.emitted - HISTORY)
        delta.state = json.dumps(_state(sim))
        if rng_moved:
            delta.rng = json.dumps(rng_state)
            self._rng_written = rng_state
        if traffic_moved:
            delta.traffic = json.dumps(base)
            self._traffic_written = dict(base)
        return delta

    def undo(self, delta: Delta) -> None:
        """The write failed: everything in it is due again at the next one."""
        self.sim._store.changed.update(delta.refs)
        keys = {r.key for r in delta.refs}
        self._legacy = [k for k in delta.deletes if k not in keys]
        if delta.events:
            self._events_written = min(self._events_written, delta.events[0][0] - 1)
        self._rng_written = None
        self._traffic_written = None

    def mark_written(self, rekey: list[ObjRef] | None = None) -> None:
        """After a restore, everything already is in the workspace; the rows of `rekey`
        (from restore()) are under an old key and move at the next write."""
        store = self.sim._store
        store.changed.clear()
        for ref in rekey or []:
            store.changed.add(ref)
            self._legacy.append(str(ref))
        self._events_written = self.sim._ctx.emitted
        self._rng_written = self.sim._ctx.rng.getstate()
        # Written once again at the next write: a journal of before kept it in the state.
        self._traffic_written = None


def _row(sim: SimCluster, ref: ObjRef, obj: dict[str, Any]) -> dict[str, Any]:
    row: dict[str, Any] = {"object": obj}
    ps = sim._kubelet.pods.get(ref) if ref.kind == "Pod" else None
    if ps is not None:
        pod = asdict(ps)
        pod.pop("ref")
        row["pod"] = pod
    prog = sim._dc.progress.get(ref) if ref.kind == "Deployment" else None
    if prog is not None:
        row["progress"] = asdict(prog)
    if ref in sim._ctx.ctl:
        row["ctl"] = sim._ctx.ctl[ref]  # a workload controller's memory (workloads.py)
    return row


def _event(e: ClusterEvent) -> dict[str, Any]:
    ref = [e.ref.kind, e.ref.name, e.ref.namespace] + ([e.ref.group] if e.ref.group else [])
    return {"reason": e.reason, "ref": ref,
            "message": e.message, "type": e.type, "time": e.time, "data": e.data}


def _state(sim: SimCluster) -> dict[str, Any]:
    ctx = sim._ctx
    return {"format": FORMAT, "keys": KEYS, "now": ctx.now, "seed": sim.seed,
            "rv": sim._store._rv, "uids": sim._store._uids, "kubelet_ips": sim._kubelet._ips,
            "images": sorted(sim._kubelet.images), "eps_ips": sim._eps._ips,
            "timer_seq": ctx.timers._seq, "emitted": ctx.emitted,
            "traffic_last": sim._traffic._last}  # traffic_base: Delta.traffic


def restore(sim: SimCluster, saved: Saved) -> list[ObjRef]:
    """Put a freshly built SimCluster in the saved state (its clock already carried on).
    Returns the objects whose rows a journal of before group keys wrote under another
    key (Journal.mark_written moves them)."""
    state = saved.state
    store, ctx = sim._store, sim._ctx
    for ref, _ in list(store.all()):
        store.remove(ref)
    pod_fields = {f.name for f in fields(PodSim)} - {"ref"}
    prog_fields = {f.name for f in fields(Progress)}
    timers: list[tuple[float, str, ObjRef, int]] = []
    for row in saved.objects:
        obj = row["object"]
        ref = ObjRef.of(obj)
        rv = obj["metadata"].get("resourceVersion")
        store.put(obj)
        if rv is not None:  # put() stamps a new version; the saved one is the truth
            obj["metadata"]["resourceVersion"] = rv
        if "pod" in row:
            data = {k: v for k, v in row["pod"].items() if k in pod_fields}
            if data.get("profile"):
                data["profile"] = ImageProfile.from_dict(data["profile"])
            if data.get("last_crash"):
                data["last_crash"] = tuple(data["last_crash"])
            ps = PodSim(ref, **data)
            sim._kubelet.pods[ref] = ps
            if ps.due is not None:
                timers.append((ps.due, "pod", ref, ps.gen))
        if "progress" in row:
            prog = Progress(**{k: v for k, v in row["progress"].items() if k in prog_fields})
            sim._dc.progress[ref] = prog
            deadline = float((obj.get("spec") or {}).get("progressDeadlineSeconds", 600))
            timers.append((prog.last_progress + deadline, "deadline", ref, 0))
        if "ctl" in row:
            ctx.ctl[ref] = row["ctl"]
        if ref.kind == "Deployment":
            ctx.dirty_deploy.add(ref)  # controllers look once: a restart converges
        elif ref.kind == "ReplicaSet":
            ctx.dirty_rs.add(ref)
    # The cluster serves again the kinds its stored CRDs had established.
    sim._crds.restore(store.of_kind("CustomResourceDefinition").values())
    for at, what, ref, gen in sorted(timers, key=lambda t: (t[0], t[2], t[1])):
        ctx.timers.push(at, what, ref, gen)
    ctx.now = float(state["now"])
    store._rv = int(state["rv"])
    store._uids = int(state["uids"])
    sim._kubelet._ips = int(state["kubelet_ips"])
    sim._kubelet.images = set(state.get("images") or [])
    sim._eps._ips = int(state["eps_ips"])
    ctx.timers._seq = max(ctx.timers._seq, int(state["timer_seq"]))
    ctx.emitted = int(state["emitted"])
    ctx.history.clear()
    for e in saved.events:
        ctx.history.append(ClusterEvent(e["reason"], ObjRef(*e["ref"]),
                                        e["message"], e["type"], float(e["time"]),
                                        e.get("data") or {}))
    if saved.rng is not None:
        version, internal, gauss = saved.rng
        ctx.rng.setstate((version, tuple(internal), gauss))
    traffic = sim._traffic
    traffic._base = {k: float(v) for k, v in (state.get("traffic_base") or {}).items()}
    traffic._last = state.get("traffic_last")
    # The metrics window starts over (as a restarted metrics pipeline would), with a
    # generator derived from the seed and the second reached, so a run stays repeatable.
    traffic.rng = random.Random(sim.seed * 7919 + 17 + int(traffic._last or 0))
    if state.get("keys") == KEYS:
        return []
    # A built-in kind's row keeps its key: only custom resources' keys changed.
    return [ref for ref, _ in store.all()
            if ref.group and str(ref) != ref.key
            and store.get(ObjRef(ref.kind, ref.name, ref.namespace)) is None]


# -- the workspace side: rows in the workspace's SQLite (sandbox/store.py) --------------

class _Rows(Protocol):
    def write_cluster(self, upserts: dict[str, str], deletes: list[str],
                      events: list[tuple[int, str]], keep_events_after: int,
                      meta: dict[str, str]) -> None: ...

    def read_cluster(self) -> tuple[list[str], list[str], dict[str, str]]: ...


def sink(store: _Rows, wall: Callable[[], float]) -> Callable[[Delta], None]:
    """Write deltas to the workspace, stamped with the wall time of the write so the
    next engine knows how long the cluster ran on without it."""
    def write(delta: Delta) -> None:
        meta = {"cluster.state": delta.state, "cluster.wall": repr(wall())}
        if delta.rng is not None:
            meta["cluster.rng"] = delta.rng
        if delta.traffic is not None:
            meta["cluster.traffic"] = delta.traffic
        store.write_cluster(delta.upserts, delta.deletes, delta.events,
                            delta.keep_events_after, meta)
    return write


def load(store: _Rows) -> Saved | None:
    """The saved cluster, or None when there is none. Raises ValueError when it cannot
    be read back (a damaged row, another format)."""
    objects, events, meta = store.read_cluster()
    if "cluster.state" not in meta:
        return None
    try:
        saved = Saved(objects=[json.loads(o) for o in objects],
                      events=[json.loads(e) for e in events],
                      state=json.loads(meta["cluster.state"]),
                      rng=json.loads(meta["cluster.rng"]) if "cluster.rng" in meta else None,
                      wall=float(meta.get("cluster.wall", "nan")))
    except (json.JSONDecodeError, TypeError) as exc:
        raise ValueError(f"the saved cluster state is damaged: {exc}") from exc
    if "cluster.traffic" in meta:  # a journal of before kept it in the state record
        try:
            saved.state["traffic_base"] = json.loads(meta["cluster.traffic"])
        except json.JSONDecodeError as exc:
            raise ValueError(f"the saved cluster state is damaged: {exc}") from exc
    if saved.state.get("format") != FORMAT:
        raise ValueError(f"the saved cluster has format {saved.state.get('format')!r}, "
                         f"this version reads {FORMAT}")
    return saved


def resume_time(saved: Saved, speed: float, wall_now: float) -> float:
    """A real cluster keeps running while its GitOps controller is down: the simulated
    time goes on from the saved instant by the wall time since, at the clock's speed."""
    away = wall_now - saved.wall if saved.wall == saved.wall else 0.0  # NaN: unknown
    return float(saved.state["now"]) + max(0.0, away) * speed
