"""The Table columns of every kind the sandbox serves, in one place: the API server's
`Table` answers (`kubectl get`, `-o wide` for priority-1 columns) and the sandbox's own
`cluster get` print from these same definitions. Built-in kinds follow kube-apiserver's
printers; custom resources follow their CRD's `additionalPrinterColumns`."""

from __future__ import annotations

from typing import Any

from .base import Col, Obj, Printer, age, cols, human_age, name, parse_time
from .core import PRINTERS as _CORE
from .core import pod_status, service_ports
from .crd import crd_printer
from .more import PRINTERS as _MORE

PRINTERS: dict[str, Printer] = {**_CORE, **_MORE}
# A kind with no printer: what apiextensions-apiserver gives a custom resource whose CRD
# names no columns (NAME, AGE).
GENERIC = Printer(cols("Name", "Age"), lambda o, now: [name(o), age(o, now)])


def printer_for(kind: str, crd: Obj | None = None, version: str = "") -> Printer:
    """The printer of `kind`; for a custom resource, the one its CRD defines for the
    served `version` (its `additionalPrinterColumns`, NAME first)."""
    if crd is not None:
        return crd_printer(crd, version)
    return PRINTERS.get(kind, GENERIC)


def cell_text(value: Any) -> str:
    """A cell as kubectl prints it: `<none>` for a missing value, Go's `%v` for the rest."""
    if value is None:
        return "<none>"
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


__all__ = ["Col", "GENERIC", "PRINTERS", "Printer", "age", "cell_text", "human_age",
           "parse_time", "pod_status", "printer_for", "service_ports"]
