"""What the simulated containers print (`pods/log`) and use (`metrics.k8s.io`).

A container's log is made, not stored: from its pod's status (when it started, how
often it restarted, how its last run ended) and its image's behaviour profile, with
randomness seeded by the pod, so the same pod prints the same lines every time and a
follower (`-f`) sees new lines appear as simulated time moves. `--previous` shows the
run before the last restart, ending in its crash.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable
from typing import Any

from sandbox.cluster.kubectl_format import parse_time
from sandbox.cluster.sim.store import rfc3339
from sandbox.registry import ImageProfile

from . import errors as E
from .stamps import Mapping, to_wall

LINE_EVERY = 5.0  # simulated seconds between two request lines
MAX_LINES = 5000
_PATHS = ("/", "/api/items", "/api/items/42", "/healthz", "/api/orders")


def container_status(pod: dict[str, Any], container: str) -> dict[str, Any]:
    name = pod["metadata"]["name"]
    names = [c.get("name") for c in (pod.get("spec") or {}).get("containers") or []]
    if not container:
        if len(names) != 1:
            raise E.bad_request(f"a container name must be specified for pod {name}, choose "
                                f"one of: [{' '.join(str(n) for n in names)}]")
        container = str(names[0])
    if container not in names:
        raise E.bad_request(f"container {container} is not valid for pod {name}")
    for cs in (pod.get("status") or {}).get("containerStatuses") or []:
        if cs.get("name") == container:
            return cs
    raise E.bad_request(f'container "{container}" in pod "{name}" is waiting to start: '
                        "ContainerCreating")


def _lines(pod: dict[str, Any], cs: dict[str, Any], profile: ImageProfile | None,
           start: float, end: float, crashed: bool, run: int) -> list[tuple[float, str]]:
    uid = str(pod["metadata"].get("uid", ""))
    rng = random.Random(int(hashlib.sha1(f"{uid}|{cs.get('name')}|{run}".encode())
                            .hexdigest()[:12], 16))
    image = str(cs.get("image", ""))
    p = profile or ImageProfile()
    out = [(start, f"starting {cs.get('name')} (image {image}, profile {p.name})"),
           (start, "listening on :8080")]
    if p.ready_fail:
        out.append((start, "readiness check failing: /healthz returned 503"))
    else:
        out.append((start + min(p.startup_seconds, 1.0), "ready to serve requests"))
    t = start + LINE_EVERY
    while t <= end and len(out) < MAX_LINES:
        status = 500 if rng.random() < p.error_rate else 200
        ms = max(1, int(rng.gauss(p.latency_ms, p.latency_ms / 4)))
        out.append((t, f"GET {rng.choice(_PATHS)} {status} {ms}ms"))
        t += LINE_EVERY
    if crashed:
        out.append((end, "panic: simulated crash (the image's behaviour profile crashes)"))
    return out


def log_lines(pod: dict[str, Any], container: str, previous: bool, now: float,
              resolve: Callable[[str], ImageProfile | None]) -> list[tuple[float, str]]:
    """(simulated time, text) of each line, oldest first; Status errors as a real
    kubelet gives them when there is nothing to read."""
    cs = container_status(pod, container)
    name, cname = pod["metadata"]["name"], cs.get("name")
    profile = resolve(str(cs.get("image", "")))
    restarts = int(cs.get("restartCount", 0))
    if previous:
        term = ((cs.get("lastState") or {}).get("terminated")) or {}
        started, finished = parse_time(term.get("startedAt")), parse_time(term.get("finishedAt"))
        if not term or started is None or finished is None:
            raise E.bad_request(f'previous terminated container "{cname}" in pod "{name}" '
                                "not found")
        return _lines(pod, cs, profile, started, finished, True, restarts - 1)
    state = cs.get("state") or {}
    if "waiting" in state:
        reason = (state["waiting"] or {}).get("reason", "ContainerCreating")
        if reason == "CrashLoopBackOff":
            term = ((cs.get("lastState") or {}).get("terminated")) or {}
            started, finished = parse_time(term.get("startedAt")), parse_time(
                term.get("finishedAt"))
            if started is not None and finished is not None:
                return _lines(pod, cs, profile, started, finished, True, restarts - 1)
        what = "trying and failing to pull image" if "Pull" in str(reason) else reason
        raise E.bad_request(f'container "{cname}" in pod "{name}" is waiting to start: {what}')
    running = state.get("running") or state.get("terminated") or {}
    started = parse_time(running.get("startedAt"))
    if started is None:
        raise E.bad_request(f'container "{cname}" in pod "{name}" is waiting to start: '
                            "ContainerCreating")
    return _lines(pod, cs, profile, started, now, False, restarts)


def render(lines: list[tuple[float, str]], query: dict[str, str], now: float,
           wall_map: Mapping | None) -> list[str]:
    since = query.get("sinceSeconds")
    if since and since.isdigit():
        lines = [(t, s) for t, s in lines if t >= now - int(since)]
    tail = query.get("tailLines")
    if tail and tail.lstrip("-").isdigit() and int(tail) >= 0:
        lines = lines[-int(tail):] if int(tail) else []
    stamps = query.get("timestamps", "").lower() in ("true", "1")
    out = []
    for t, text in lines:
        wall = rfc3339(to_wall(t, wall_map) if wall_map else t)
        out.append(f"{wall} {wall} {text}" if stamps else f"{wall} {text}")
    return out


# -- metrics.k8s.io -------------------------------------------------------------------
def pod_usage(pod: dict[str, Any], now: float,
              resolve: Callable[[str], ImageProfile | None],
              live: tuple[float, float] | None = None) -> dict[str, Any] | None:
    """PodMetrics for a running pod. `live` is what the simulated cluster says the pod
    uses now, (CPU millicores, memory MiB), the figures the HPA and the metrics sampler
    read too, shared among its containers; without it (a backend that does not say),
    a steady figure per pod (seeded by its uid), heavier for slow or failing images."""
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    if not any("running" in (cs.get("state") or {}) for cs in statuses):
        return None
    meta = pod["metadata"]
    containers = []
    if live is not None:
        share = max(1, len(statuses))
        containers = [{"name": cs.get("name"),
                       "usage": {"cpu": f"{round(live[0] / share)}m",
                                 "memory": f"{round(live[1] / share)}Mi"}} for cs in statuses]
    for cs in statuses if live is None else ():
        p = resolve(str(cs.get("image", ""))) or ImageProfile()
        rng = random.Random(int(hashlib.sha1(f"{meta.get('uid')}|{cs.get('name')}".encode())
                                .hexdigest()[:12], 16))
        cpu = int(2 + rng.random() * 3 + p.latency_ms / 100 + p.error_rate * 40)
        memory = int(20 + rng.random() * 12 + (30 if p.crash else 0))
        containers.append({"name": cs.get("name"),
                           "usage": {"cpu": f"{cpu}m", "memory": f"{memory}Mi"}})
    return {"kind": "PodMetrics", "apiVersion": "metrics.k8s.io/v1beta1",
            "metadata": {"name": meta["name"], "namespace": meta.get("namespace"),
                         "creationTimestamp": rfc3339(now),
                         "labels": meta.get("labels") or {}},
            "timestamp": rfc3339(now), "window": "30s", "containers": containers}


def node_usage(name: str, pods: list[dict[str, Any]], now: float) -> dict[str, Any]:
    cpu = sum(int(c["usage"]["cpu"][:-1]) for p in pods for c in p["containers"])
    mem = sum(int(c["usage"]["memory"][:-2]) for p in pods for c in p["containers"])
    return {"kind": "NodeMetrics", "apiVersion": "metrics.k8s.io/v1beta1",
            "metadata": {"name": name, "creationTimestamp": rfc3339(now)},
            "timestamp": rfc3339(now), "window": "30s",
            "usage": {"cpu": f"{cpu + 120}m", "memory": f"{mem + 700}Mi"}}
