"""A simulated pod's status, written the way the real API shows it: its phase, its
conditions (each keeping its transition time while its value holds) and a status per
container (running, terminated, or waiting with the kubelet's reason and message)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sandbox.cluster.sim.store import rfc3339

if TYPE_CHECKING:
    from sandbox.cluster.sim.pods import PodSim


def render_status(ps: PodSim, pod: dict[str, Any], now: float, stamp: str,
                  host_ip: Callable[[], str]) -> None:
    """Write ``ps``'s state into ``pod``'s status; ``stamp`` is now as the API writes it,
    ``host_ip()`` the address of the node it runs on (asked once it is scheduled)."""
    status = pod["status"]
    containers = pod["spec"].get("containers") or []
    running = ps.stage in ("running", "finishing")
    status["phase"] = PHASES.get(ps.stage, "Pending")
    if ps.scheduled_at is None:
        return
    node_ip = host_ip()
    status.update(hostIP=node_ip, hostIPs=[{"ip": node_ip}], podIP=ps.pod_ip,
                  podIPs=[{"ip": ps.pod_ip}], startTime=rfc3339(ps.scheduled_at))
    ready = "True" if ps.ready else "False"
    old = {c["type"]: c for c in status.get("conditions") or []}
    conds = []
    for ctype, value in (("Initialized", "True"), ("Ready", ready),
                         ("ContainersReady", ready), ("PodScheduled", "True")):
        prev = old.get(ctype)
        since = prev["lastTransitionTime"] if prev and prev["status"] == value else stamp
        conds.append({"type": ctype, "status": value, "lastProbeTime": None,
                      "lastTransitionTime": since})
    status["conditions"] = conds
    statuses = []
    for c in containers:
        image = str(c.get("image", ""))
        cs: dict[str, Any] = {"name": c.get("name"), "image": image, "imageID": "",
                              "ready": ps.ready, "restartCount": ps.restarts,
                              "started": running, "lastState": {}}
        if running:
            cs["imageID"] = f"{image}@sha256:sim"
            cs["state"] = {"running": {"startedAt": rfc3339(ps.started_at or now)}}
        elif ps.stage in ("succeeded", "failed"):
            ok = ps.stage == "succeeded"
            cs["imageID"] = f"{image}@sha256:sim"
            cs["state"] = {"terminated": {
                "exitCode": 0 if ok else 1, "reason": "Completed" if ok else "Error",
                "startedAt": rfc3339(ps.started_at or now),
                "finishedAt": rfc3339(ps.finished_at or now)}}
        elif ps.stage == "config_err":
            cs["state"] = {"waiting": {"reason": "CreateContainerConfigError",
                                       "message": ps.waiting_on}}
        elif ps.stage == "crash_backoff":
            cs["state"] = {"waiting": {"reason": "CrashLoopBackOff", "message":
                           f"back-off {ps.crash_backoff:g}s restarting failed "
                           f"container={c.get('name')} pod={ps.ref.name}"}}
        elif ps.stage in ("pull_err", "pull_backoff") and image in ps.bad_images:
            reason = "ErrImagePull" if ps.stage == "pull_err" else "ImagePullBackOff"
            msg = (f'Back-off pulling image "{image}"' if ps.stage == "pull_backoff"
                   else f'rpc error: manifest unknown: {image} not found in the registry')
            cs["state"] = {"waiting": {"reason": reason, "message": msg}}
        else:
            cs["state"] = {"waiting": {"reason": "ContainerCreating"}}
        if ps.stage == "exited" and ps.last_crash:
            # The dead container itself, until the kubelet's next sync restarts it.
            cs["state"] = {"terminated": {
                "exitCode": ps.last_exit, "reason": ps.last_reason,
                "startedAt": rfc3339(ps.last_crash[0]),
                "finishedAt": rfc3339(ps.last_crash[1])}}
        elif ps.last_crash:
            cs["lastState"] = {"terminated": {
                "exitCode": ps.last_exit, "reason": ps.last_reason,
                "startedAt": rfc3339(ps.last_crash[0]),
                "finishedAt": rfc3339(ps.last_crash[1])}}
        statuses.append(cs)
    status["containerStatuses"] = statuses


PHASES = {"running": "Running", "finishing": "Running", "crash_backoff": "Running",
          "exited": "Running",
          "succeeded": "Succeeded", "failed": "Failed"}
