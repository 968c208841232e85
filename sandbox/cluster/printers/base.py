"""What every printer shares: the column type, object accessors and kubectl's time
formats (HumanDuration for AGE, parsing of both RFC 3339 stamps and the simulated
clock's numbers)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

Obj = dict[str, Any]
Cells = Callable[[Obj, float], list[Any]]


@dataclass(frozen=True)
class Col:
    """A Table column as the API server defines it: name, type, priority (1: only with
    `-o wide`)."""
    name: str
    type: str = "string"
    priority: int = 0
    description: str = ""


@dataclass(frozen=True)
class Printer:
    columns: tuple[Col, ...]
    cells: Cells  # one cell per column, in column order


def cols(*spec: str | tuple[str, str] | tuple[str, str, int]) -> tuple[Col, ...]:
    """`"Name"`, `("Ready", "integer")`, `("Images", "string", 1)` -> columns."""
    return tuple(Col(s) if isinstance(s, str) else Col(*s) for s in spec)


def parse_time(value: Any) -> float | None:
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str) and value:
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except ValueError:
            return None
    return None


def human_age(seconds: float) -> str:
    """kubectl's HumanDuration: 45s, 3m20s, 15m, 3h20m, 26h, 3d4h, 40d."""
    if seconds < -1:
        return "<invalid>"
    s = max(0, int(seconds))
    minutes, hours, days = s // 60, s // 3600, s // 86400
    if s < 120:
        return f"{s}s"
    if minutes < 10:
        return f"{minutes}m{s % 60}s" if s % 60 else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    if hours < 8:
        return f"{hours}h{minutes % 60}m" if minutes % 60 else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if hours < 192:
        return f"{days}d{hours % 24}h" if hours % 24 else f"{days}d"
    if days < 730:
        return f"{days}d"
    return f"{days // 365}y{days % 365}d" if days < 2920 else f"{days // 365}y"


def since(value: Any, now: float, missing: str = "<unknown>") -> str:
    at = parse_time(value)
    return missing if at is None else human_age(now - at)


def age(obj: Obj, now: float) -> str:
    return since((obj.get("metadata") or {}).get("creationTimestamp"), now)


def name(o: Obj) -> str:
    return str((o.get("metadata") or {}).get("name", ""))


def spec(o: Obj) -> Obj:
    return o.get("spec") or {}


def status(o: Obj) -> Obj:
    return o.get("status") or {}


def labels_text(values: Any) -> str:
    """`a=b,c=d` (sorted, as labels.FormatLabels), `<none>` when empty."""
    if not isinstance(values, dict):
        return "<none>"
    return ",".join(f"{k}={v}" for k, v in sorted(values.items())) or "<none>"


def selector_text(sel: Any) -> str:
    """A LabelSelector as metav1.FormatLabelSelector writes it: matchLabels then
    matchExpressions; `<none>` for an empty selector."""
    if not isinstance(sel, dict) or not sel:
        return "<none>"
    parts = [f"{k}={v}" for k, v in sorted((sel.get("matchLabels") or {}).items())]
    for e in sel.get("matchExpressions") or []:
        op, values = str(e.get("operator", "")), ",".join(e.get("values") or [])
        key = e.get("key", "")
        parts.append({"In": f"{key} in ({values})", "NotIn": f"{key} notin ({values})",
                      "Exists": str(key), "DoesNotExist": f"!{key}"}.get(op, f"{key} {op}"))
    return ",".join(parts) or "<none>"


def template_images(o: Obj) -> list[str]:
    """The wide CONTAINERS and IMAGES cells of a workload's pod template."""
    pod = (spec(o).get("template") or {}).get("spec") or {}
    containers = pod.get("containers") or []
    return [",".join(str(c.get("name", "")) for c in containers),
            ",".join(str(c.get("image", "")) for c in containers)]


def created_at(o: Obj) -> str:
    """The default printer's CREATED AT (RFC 3339, as metav1.Time marshals)."""
    value = (o.get("metadata") or {}).get("creationTimestamp")
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return str(value or "<unknown>")


def access_modes(values: Any) -> str:
    short = {"ReadWriteOnce": "RWO", "ReadOnlyMany": "ROX", "ReadWriteMany": "RWX",
             "ReadWriteOncePod": "RWOP"}
    return ",".join(short.get(m, str(m)) for m in values or [])
