"""What a check reports: one problem, located in the HLD."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Finding:
    severity: str  # "error" | "warning"
    file: str  # relative to the HLD folder; "" when no file is involved
    line: int  # 1-based; 0 when unknown
    message: str
    rule: str
    object: str | None = None  # "Deployment/demo/web" when the finding is about an object

    def __str__(self) -> str:
        where = self.file or "<hld>"
        if self.line:
            where += f":{self.line}"
        subject = f"{self.object}: " if self.object else ""
        return f"{where}: {self.severity}: {subject}{self.message} [{self.rule}]"


def object_ref(obj: dict) -> str:
    """``Kind/namespace/name`` (``Kind/name`` for objects without a namespace)."""
    meta = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
    kind = str(obj.get("kind") or "?")
    name = str(meta.get("name") or "?")
    namespace = meta.get("namespace")
    return f"{kind}/{namespace}/{name}" if namespace else f"{kind}/{name}"
