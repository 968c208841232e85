"""Server-side apply, a documented subset of the real thing.

What holds: every write through this server records which manager set which fields
(`Apply` for apply patches, `Update` for the other writes); an apply that changes a
field another manager owns is refused with 409 and the real message
(`Apply failed with 1 conflict: conflict with "kubectl-client-side-apply" using
apps/v1: .spec.replicas`) unless `force=true`, which moves the field to the applier;
fields a manager applied before and no longer applies are removed; lists with merge
keys (containers, ports, env...) are owned item by item, other lists whole.

What differs: the reconciler applies inside the engine, not through this server, so
the fields of an object it labelled as its own are taken as owned by its manager
(`gitops-sandbox-flux`) unless a write through this server took them; when the
reconciler puts an object back (drift correction), those claims are dropped and the
fields are the reconciler's again. Ownership lives in memory, for the engine's life.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from sandbox.cluster.sim.store import clone, rfc3339

from . import errors as E
from .handlers import Caller, with_version
from .patch import MERGE_KEYS, strategic
from .routing import Target

if TYPE_CHECKING:
    from . import ApiServer

RECONCILER_MANAGER = "gitops-sandbox-flux"
MANAGED_BY = ("app.kubernetes.io/managed-by", "gitops-sandbox-flux")
Path = tuple[str, ...]
# kubectl moves a client-side apply's fields to its server-side manager before the
# first `apply --server-side` (csaupgrade, by patching managedFields): the same here.
UPGRADES = {("kubectl-client-side-apply", "kubectl")}
_SKIP_META = ("name", "namespace", "uid", "resourceVersion", "generation", "creationTimestamp",
              "managedFields", "deletionTimestamp", "selfLink")


def leaves(obj: Any, prefix: Path = ()) -> dict[Path, Any]:
    """Field path -> value for everything a manager can own in an object."""
    out: dict[Path, Any] = {}
    if isinstance(obj, dict):
        for key, value in obj.items():
            if not prefix and key in ("status", "apiVersion", "kind"):
                continue
            if prefix == ("metadata",) and key in _SKIP_META:
                continue
            path = (*prefix, key)
            if isinstance(value, dict):
                out.update(leaves(value, path))  # an empty map owns nothing
            elif isinstance(value, list) and key in MERGE_KEYS and value and all(
                    isinstance(v, dict) for v in value):
                for item in value:
                    k = next((k for k in MERGE_KEYS[key] if k in item), None)
                    if k is None:
                        out[path] = value
                        break
                    out.update(leaves(item, (*path, f"k:{json.dumps({k: item[k]})}")))
            else:
                out[path] = value
    return out


def dotted(path: Path) -> str:
    parts = []
    for p in path:
        if p.startswith("k:{"):
            key = json.loads(p[2:])
            parts.append("[" + ",".join(f"{k}={json.dumps(v)}" for k, v in key.items()) + "]")
        else:
            parts.append("." + p)
    return "".join(parts)


class Managers:
    """Who owns which fields of which object (by uid)."""

    def __init__(self) -> None:
        self._owners: dict[str, dict[str, tuple[str, set[Path], str]]] = {}
        self._generation: dict[str, int] = {}
        self._local = threading.local()
        self._lock = threading.Lock()

    @contextmanager
    def through_api(self) -> Iterator[None]:
        self._local.active = True
        try:
            yield
        finally:
            self._local.active = False

    def observe(self, type_: str, obj: dict[str, Any]) -> None:
        """Every write of the store: one made by the reconciler gives its fields back."""
        meta = obj.get("metadata") or {}
        uid = str(meta.get("uid", ""))
        with self._lock:
            if type_ == "DELETED":
                self._owners.pop(uid, None)
                self._generation.pop(uid, None)
                return
            gen = int(meta.get("generation") or 0)
            old = self._generation.get(uid)
            self._generation[uid] = gen
            if getattr(self._local, "active", False) or old is None or gen <= old:
                return
            if (meta.get("labels") or {}).get(MANAGED_BY[0]) == MANAGED_BY[1]:
                self._owners.pop(uid, None)

    def owners(self, obj: dict[str, Any]) -> dict[str, tuple[str, set[Path], str]]:
        with self._lock:
            return dict(self._owners.get(str(obj["metadata"].get("uid", "")), {}))

    def wrote(self, obj: dict[str, Any], manager: str, operation: str,
              before: dict[str, Any] | None, fields: set[Path] | None = None,
              taken: set[Path] | None = None) -> None:
        after = leaves(obj)
        if fields is None:
            old = leaves(before) if before is not None else {}
            fields = {p for p, v in after.items() if old.get(p) != v}
        if not fields and operation == "Update":
            return
        uid = str(obj["metadata"].get("uid", ""))
        stamp = rfc3339(0)
        with self._lock:
            table = self._owners.setdefault(uid, {})
            moved = fields if operation == "Update" else (taken or set())
            for name, (_op, owned, _t) in list(table.items()):
                if name != manager:
                    owned -= moved
                    if not owned:
                        del table[name]
            if operation == "Apply":
                table[manager] = ("Apply", set(fields), stamp)
            else:
                prev = table.get(manager)
                keep = prev[1] if prev and prev[0] == "Update" else set()
                table[manager] = ("Update", keep | fields, stamp)

    def managed_fields(self, obj: dict[str, Any]) -> list[dict[str, Any]]:
        out = []
        for name, (op, owned, stamp) in sorted(self.owners(obj).items()):
            tree: dict[str, Any] = {}
            for path in sorted(owned):
                node = tree
                for i, part in enumerate(path):
                    key = part if part.startswith("k:") else f"f:{part}"
                    node = node.setdefault(key, {})
                    if part.startswith("k:") and i < len(path) - 1:
                        node.setdefault(".", {})
            out.append({"manager": name, "operation": op,
                        "apiVersion": obj.get("apiVersion", ""), "time": stamp,
                        "fieldsType": "FieldsV1", "fieldsV1": tree})
        return out


def apply(server: ApiServer, target: Target, body: Any, caller: Caller, manager: str,
          force: bool, dry_run: bool) -> dict[str, Any]:
    api, r = server.api, target.resource
    if not isinstance(body, dict):
        raise E.bad_request("the body of an apply patch must be a Kubernetes object")
    if not body.get("apiVersion") or not body.get("kind"):
        raise E.bad_request("apiVersion and kind must be set in an apply patch")
    obj = api._body(target, body, named=True)
    obj["metadata"].pop("resourceVersion", None)
    api.gate(caller, "patch", target)
    applied = leaves(obj)
    with server.cluster.lock:
        live = server._live(target)
        if live is None:
            api._apply(target, obj, dry_run)
            out = api.get(target) if not dry_run else with_version(obj, r)
            if not dry_run:
                server.managers.wrote(out, manager, "Apply", None, set(applied))
                api.record(caller, "create", target, "server-side apply")
            return out
        have = leaves(live)
        owners = server.managers.owners(live)
        labels = (live["metadata"].get("labels") or {})
        reconciled = labels.get(MANAGED_BY[0]) == MANAGED_BY[1]
        claimed = set().union(*(owned for _, owned, _ in owners.values())) if owners else set()
        conflicts: dict[str, list[Path]] = {}
        for path, value in applied.items():
            if have.get(path) == value:
                continue
            holders = [n for n, (_, owned, _) in owners.items() if path in owned
                       and n != manager and (n, manager) not in UPGRADES]
            if not holders and reconciled and path not in claimed and path in have \
                    and manager != RECONCILER_MANAGER and path[0] != "metadata":
                holders = [RECONCILER_MANAGER]
            for h in holders:
                conflicts.setdefault(h, []).append(path)
        if conflicts and not force:
            raise _conflict(conflicts, r.api_version)
        merged = strategic(live, obj)
        mine = owners.get(manager)
        if mine and mine[0] == "Apply":
            others = set().union(*(o for n, (_, o, _) in owners.items() if n != manager))
            for path in mine[1] - set(applied) - others:
                _drop(merged, path)
        merged["metadata"].pop("resourceVersion", None)
        merged = with_version(merged, r)
        out = api.replace(target, merged, caller, dry_run)
        if not dry_run:
            taken = {p for paths in conflicts.values() for p in paths}
            taken |= {p for n, (_, owned, _) in owners.items() if (n, manager) in UPGRADES
                      for p in owned if p in applied}
            server.managers.wrote(out, manager, "Apply", live, set(applied), taken)
    return out


def _drop(obj: dict[str, Any], path: Path) -> None:
    node: Any = obj
    for part in path[:-1]:
        if part.startswith("k:") and isinstance(node, list):
            key = json.loads(part[2:])
            node = next((i for i in node if all(i.get(k) == v for k, v in key.items())), None)
        elif isinstance(node, dict):
            node = node.get(part)
        if node is None:
            return
    last = path[-1]
    if isinstance(node, dict):
        node.pop(last, None)
    elif isinstance(node, list) and last.startswith("k:"):
        key = json.loads(last[2:])
        node[:] = [i for i in node if not all(i.get(k) == v for k, v in key.items())]


def _conflict(conflicts: dict[str, list[Path]], api_version: str) -> E.ApiError:
    count = sum(len(p) for p in conflicts.values())
    causes = [{"reason": "FieldManagerConflict",
               "message": f'conflict with "{m}" using {api_version}', "field": dotted(p)}
              for m, paths in sorted(conflicts.items()) for p in sorted(paths)]
    if count == 1:
        (m, [p]), = conflicts.items()
        text = f'Apply failed with 1 conflict: conflict with "{m}" using {api_version}: {dotted(p)}'
    else:
        parts = []
        for m, paths in sorted(conflicts.items()):
            word = "conflicts" if len(paths) > 1 else "conflict"
            parts.append(f'{word} with "{m}" using {api_version}:\n'
                         + "\n".join(f"- {dotted(p)}" for p in sorted(paths)))
        text = f"Apply failed with {count} conflicts: " + "\n".join(parts)
    return E.ApiError(409, "Conflict", text, {"causes": causes})


def snapshot(obj: dict[str, Any]) -> dict[str, Any]:
    return clone(obj)
