"""Small pure helpers that turn engine data into the words and colours users know from
k9s, Argo CD and lazygit: short shas, relative ages, coloured status words."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from rich.text import Text

from sandbox.facade import shown

# Argo CD's health words and the colours its UI uses for them.
HEALTH_STYLE = {
    "Healthy": "bold green",
    "Progressing": "bold yellow",
    "Degraded": "bold red",
    "Suspended": "bold blue",
    "Missing": "dim",
    "Unknown": "dim",
}

CHECK_STYLE = {
    "success": "green",
    "failure": "bold red",
    "pending": "yellow",
    "running": "yellow",
}

PR_STATE_STYLE = {"open": "cyan", "merged": "magenta", "closed": "dim"}

# Pod states a learner should notice at once.
BAD_POD_REASONS = ("CrashLoopBackOff", "ImagePullBackOff", "ErrImagePull", "Error")


def safe(value: object, style: str = "", multiline: bool = False) -> Text:
    """User-written text (titles, bodies, names, messages): control characters escaped,
    and a Text, so square brackets in it are never read as markup."""
    return Text(shown(value, multiline=multiline), style=style)


def short(sha: str | None, n: int = 7) -> str:
    return sha[:n] if sha else "-"


def age(then: float | str | None, now: float | None = None) -> str:
    """kubectl-style relative age: 5s, 3m, 2h, 4d."""
    then = parse_time(then)
    if then is None:
        return "-"
    secs = max(0, int((now if now is not None else time.time()) - then))
    if secs < 120:
        return f"{secs}s"
    if secs < 7200:
        return f"{secs // 60}m"
    if secs < 172800:
        return f"{secs // 3600}h"
    return f"{secs // 86400}d"


# The unit `age` shows below each bound: a text in seconds changes every second, one in
# days once a day.
_AGE_STEPS = ((120, 1), (7200, 60), (172800, 3600), (float("inf"), 86400))


def age_changes_at(then: float | None, now: float) -> float:
    """When the text `age(then, now)` next changes: a table redraws an AGE cell then
    and not before, so "5m" costs one update a minute, not sixty."""
    if then is None:
        return float("inf")
    secs = max(0, int(now - then))
    step = next(step for bound, step in _AGE_STEPS if secs < bound)
    return then + (secs // step + 1) * step


def styled(word: str, table: dict[str, str], default: str = "") -> Text:
    return Text(word, style=table.get(word, default))


def health_text(word: str | None) -> Text:
    return styled(word or "Unknown", HEALTH_STYLE, "dim")


def check_text(word: str | None) -> Text:
    return styled(word or "pending", CHECK_STYLE, "yellow")


def health_word(value: Any) -> str:
    """The monitor reports an object's health as [word, message]; accept a bare word too."""
    if isinstance(value, list | tuple):
        return str(value[0]) if value else "Unknown"
    if isinstance(value, dict):
        return str(value.get("health") or value.get("status") or "Unknown")
    return str(value or "Unknown")


def health_message(value: Any) -> str:
    if isinstance(value, list | tuple) and len(value) > 1:
        return str(value[1] or "")
    if isinstance(value, dict):
        return str(value.get("message") or "")
    return ""


def parse_time(value: Any) -> float | None:
    if isinstance(value, int | float):
        return float(value)
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def cluster_now(objects: list[dict[str, Any]]) -> float:
    """The simulated cluster keeps its own clock, which the facade does not expose; the
    latest timestamp any object carries is the closest reading of it."""
    stamps: list[float] = []
    for obj in objects:
        meta = obj.get("metadata") or {}
        status = obj.get("status") or {}
        candidates = [meta.get("creationTimestamp"), status.get("startTime")]
        candidates += [c.get("lastTransitionTime") for c in status.get("conditions") or []]
        candidates += [c.get("lastUpdateTime") for c in status.get("conditions") or []]
        stamps += [t for t in map(parse_time, candidates) if t is not None]
    return max(stamps, default=time.time())


def event_style(kind: str, data: dict[str, Any]) -> str:
    """Failures red, successes green, the rest plain: the log reads at a glance."""
    if kind in ("sync.failed", "push.rejected", "alert.fired", "drift.detected"):
        return "bold red"
    status = str(data.get("status") or data.get("result") or "")
    if kind in ("check.finished", "job.finished"):
        return "red" if status in ("failure", "failed", "error") else "green"
    if kind == "health.changed":
        return HEALTH_STYLE.get(str(data.get("health", "")), "")
    if kind == "cluster.event" and data.get("type") == "Warning":
        return "red"
    if kind in ("pr.merged", "sync.finished", "manifests.generated", "drift.corrected"):
        return "green"
    if kind in ("revert.created", "pr.approvals_dismissed"):
        return "yellow"
    return ""


# -- Kubernetes objects --------------------------------------------------------------

def _containers(obj: dict[str, Any]) -> list[dict[str, Any]]:
    spec = obj.get("spec") or {}
    if obj.get("kind") != "Pod":
        spec = ((spec.get("template") or {}).get("spec")) or {}
    return list(spec.get("containers") or [])


def image_of(obj: dict[str, Any]) -> str:
    images = [str(c.get("image", "")) for c in _containers(obj)]
    return ",".join(i.rsplit("/", 1)[-1] for i in images if i) or "-"


def pod_status(pod: dict[str, Any]) -> str:
    """The STATUS column of `kubectl get pods`: a waiting reason wins over the phase."""
    status = pod.get("status") or {}
    if (pod.get("metadata") or {}).get("deletionTimestamp"):
        return "Terminating"
    for cs in status.get("containerStatuses") or []:
        waiting = (cs.get("state") or {}).get("waiting")
        if waiting and waiting.get("reason"):
            return str(waiting["reason"])
    return str(status.get("phase") or "Unknown")


def deployment_health(dep: dict[str, Any]) -> str:
    """Argo CD's rule for a Deployment: Progressing until available, Degraded when the
    progress deadline passes."""
    status = dep.get("status") or {}
    conds = {c.get("type"): c for c in status.get("conditions") or []}
    prog = conds.get("Progressing") or {}
    if prog.get("reason") == "ProgressDeadlineExceeded":
        return "Degraded"
    want = int((dep.get("spec") or {}).get("replicas", 1) or 0)
    updated = int(status.get("updatedReplicas", 0) or 0)
    avail = int(status.get("availableReplicas", 0) or 0)
    total = int(status.get("replicas", 0) or 0)
    if updated >= want and avail >= want and total <= want:
        return "Healthy"
    return "Progressing"


def ready_column(obj: dict[str, Any]) -> str:
    status = obj.get("status") or {}
    kind = obj.get("kind")
    if kind == "Pod":
        cs = status.get("containerStatuses") or []
        total = len(cs) or len(_containers(obj))
        return f"{sum(1 for c in cs if c.get('ready'))}/{total}"
    if kind in ("Deployment", "ReplicaSet", "StatefulSet"):
        want = (obj.get("spec") or {}).get("replicas", 1)
        return f"{status.get('readyReplicas', 0) or 0}/{want}"
    return ""


def status_column(obj: dict[str, Any], health: Any = None) -> Text:
    """kubectl's STATUS for pods; the monitor's health word (Argo CD's) for the rest."""
    kind = obj.get("kind")
    if health is not None and kind != "Pod":
        return health_text(health_word(health))
    if kind == "Pod":
        word = pod_status(obj)
        style = ("bold red" if word in BAD_POD_REASONS else
                 "green" if word == "Running" else "yellow")
        return Text(word, style=style)
    if kind == "Deployment":
        return health_text(deployment_health(obj))
    if kind == "Service":
        spec = obj.get("spec") or {}
        ports = ",".join(f"{p.get('port')}/{p.get('protocol', 'TCP')}"
                         for p in spec.get("ports") or [])
        return Text(f"{spec.get('type', 'ClusterIP')} {ports}".strip())
    return Text(str((obj.get("status") or {}).get("phase", "")))
