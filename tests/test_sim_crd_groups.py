"""Two CRDs serving one kind in two groups (a `Certificate` of cert-manager.io and of
another operator): the simulated API server keys objects by group and kind, as
Kubernetes does, so same-named resources of the two are two objects, each checked by
its own CRD's schema, deleted with its own CRD, and saved and restored apart; journals
written before refs carried groups are moved to the new keys on restore."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sandbox.clock import VirtualClock
from sandbox.cluster import ObjRef, SimCluster
from sandbox.cluster.base import parse_ref
from sandbox.cluster.sim import persist
from sandbox.flux import SyncStatus
from sandbox.store import Store

CERT_MANAGER, ACME = "cert-manager.io", "acme.example.test"


def crd(group: str, field: str) -> dict[str, Any]:
    # Each group's Certificate requires a different field: a schema mix-up shows.
    return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": f"certificates.{group}"},
            "spec": {"group": group, "scope": "Namespaced",
                     "names": {"kind": "Certificate", "plural": "certificates"},
                     "versions": [{"name": "v1", "served": True, "storage": True, "schema": {
                         "openAPIV3Schema": {"type": "object", "properties": {"spec": {
                             "type": "object", "required": [field],
                             "properties": {field: {"type": "string"}}}}}}}]}}


def cert(group: str, field: str, value: str = "x", name: str = "site") -> dict[str, Any]:
    return {"apiVersion": f"{group}/v1", "kind": "Certificate",
            "metadata": {"name": name, "namespace": "default"}, "spec": {field: value}}


def ref(group: str, name: str = "site") -> ObjRef:
    return ObjRef("Certificate", name, "default", group)


def both() -> list[dict[str, Any]]:
    return [crd(CERT_MANAGER, "secretName"), crd(ACME, "domain"),
            cert(CERT_MANAGER, "secretName", "tls"), cert(ACME, "domain", "example.test")]


def make() -> SimCluster:
    return SimCluster(VirtualClock(), lambda image: None, seed=1)


def test_same_named_resources_of_one_kind_in_two_groups_are_two_objects() -> None:
    cluster = make()
    results = cluster.apply(both())
    assert [(r.action, r.error) for r in results] == [("created", None)] * 4
    assert results[2].ref == ref(CERT_MANAGER) and results[3].ref == ref(ACME)
    assert cluster.get(ref(CERT_MANAGER))["spec"] == {"secretName": "tls"}  # type: ignore[index]
    assert cluster.get(ref(ACME))["spec"] == {"domain": "example.test"}  # type: ignore[index]
    assert len(cluster.list("Certificate")) == 2
    assert [o["spec"] for o in cluster.list("Certificate", group=ACME)] == [
        {"domain": "example.test"}]
    # Applied again, each is unchanged: neither overwrote the other.
    assert [r.action for r in cluster.apply(both())] == ["unchanged"] * 4


def test_each_group_s_resource_is_checked_by_its_own_crd() -> None:
    cluster = make()
    cluster.apply(both()[:2])
    [wrong] = cluster.apply([cert(ACME, "secretName", "tls")], dry_run=True)
    assert wrong.error is not None and 'Certificate.acme.example.test "site" is invalid' \
        in wrong.error and "spec.domain: Required value" in wrong.error


def test_deleting_one_crd_deletes_only_its_own_group_s_resources() -> None:
    cluster = make()
    cluster.apply(both())
    assert cluster.delete(ObjRef("CustomResourceDefinition", f"certificates.{ACME}"))
    assert cluster.get(ref(ACME)) is None
    assert cluster.get(ref(CERT_MANAGER)) is not None
    # A bare kind finds the group that still has it, as kubectl picks one group.
    assert cluster.get(ObjRef("Certificate", "site", "default")) == cluster.get(
        ref(CERT_MANAGER))


def test_refs_print_as_before_and_keys_carry_the_group() -> None:
    r = ref(CERT_MANAGER)
    assert str(r) == "Certificate/default/site"
    assert r.key == "Certificate.cert-manager.io/default/site"
    assert parse_ref(r.key) == r
    assert ObjRef.of({"apiVersion": "apps/v1", "kind": "Deployment",
                      "metadata": {"name": "w"}}) == ObjRef("Deployment", "w", "default")
    assert ObjRef.grouped("Certificate", "site", "default", CERT_MANAGER) == r
    assert ObjRef.grouped("Ingress", "i", "default", "networking.k8s.io").group == ""
    # The reconciler's inventory keeps the group (and reads inventories saved before).
    st = SyncStatus(inventory=[["Certificate", "site", "default", ACME],
                               ["ConfigMap", "c", "default"]])
    assert st.refs() == [ref(ACME), ObjRef("ConfigMap", "c", "default")]


def saved_cluster(tmp_path: Path) -> Store:
    store = Store(tmp_path / "state.db")
    cluster = make()
    cluster.journal_to(persist.sink(store, lambda: 0.0))
    cluster.apply(both())
    return store


def restore(store: Store) -> SimCluster:
    saved = persist.load(store)
    assert saved is not None
    cluster = make()
    cluster.restore(saved)
    cluster.journal_to(persist.sink(store, lambda: 0.0))
    return cluster


def keys(store: Store) -> list[str]:
    return [r["key"] for r in store.query("SELECT key FROM cluster_objects ORDER BY key")
            if r["key"].startswith("Certificate")]


def test_both_are_saved_under_their_own_keys_and_restored(tmp_path: Path) -> None:
    store = saved_cluster(tmp_path)
    assert keys(store) == ["Certificate.acme.example.test/default/site",
                           "Certificate.cert-manager.io/default/site"]
    cluster = restore(store)
    assert cluster.get(ref(ACME))["spec"] == {"domain": "example.test"}  # type: ignore[index]
    assert cluster.get(ref(CERT_MANAGER))["spec"] == {"secretName": "tls"}  # type: ignore[index]


def test_a_journal_keyed_by_kind_alone_moves_to_group_keys_on_restore(tmp_path: Path
                                                                      ) -> None:
    store = saved_cluster(tmp_path)
    # As a journal of before group keys wrote it: custom resources under `Kind/ns/name`
    # (one object per kind and name: the second group's was lost), no "keys" in state.
    with store.tx() as db:
        row = db.execute("SELECT data FROM cluster_objects WHERE key=?",
                         ("Certificate.cert-manager.io/default/site",)).fetchone()
        db.execute("DELETE FROM cluster_objects WHERE key LIKE 'Certificate%'")
        db.execute("INSERT INTO cluster_objects(key, data) VALUES(?, ?)",
                   ("Certificate/default/site", row["data"]))
        state = json.loads(db.execute("SELECT value FROM meta WHERE key='cluster.state'"
                                      ).fetchone()["value"])
        state.pop("keys")
        db.execute("UPDATE meta SET value=? WHERE key='cluster.state'", (json.dumps(state),))
    cluster = restore(store)
    assert keys(store) == ["Certificate.cert-manager.io/default/site"]
    assert cluster.get(ref(CERT_MANAGER)) is not None
    # Deleted now, it stays deleted: no row under the old key brings it back.
    cluster.delete(ref(CERT_MANAGER))
    assert keys(store) == []
    assert restore(store).get(ref(CERT_MANAGER)) is None
