"""Health of custom resources: Argo CD's generic reading of conditions and
observedGeneration, and Flux's own kinds with Flux's meaning of Ready (kstatus)."""

from __future__ import annotations

from typing import Any

import pytest

from sandbox.monitor import Health, health_of


def cr(api_version: str, kind: str, *conditions: tuple[str, str, str],
       generation: int = 1, observed: int | None = None, **spec: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {"apiVersion": api_version, "kind": kind,
                           "metadata": {"name": "x", "namespace": "default",
                                        "generation": generation}, "spec": spec}
    if conditions or observed is not None:
        obj["status"] = {"conditions": [{"type": t, "status": s, "message": m}
                                        for t, s, m in conditions]}
        if observed is not None:
            obj["status"]["observedGeneration"] = observed
    return obj


CERT = ("cert-manager.io/v1", "Certificate")
GATEWAY = ("gateway.networking.k8s.io/v1", "Gateway")
HELM = ("helm.toolkit.fluxcd.io/v2", "HelmRelease")
KUSTOMIZATION = ("kustomize.toolkit.fluxcd.io/v1", "Kustomization")


@pytest.mark.parametrize("obj,want", [
    # No status: nothing reconciles it (the simulated cluster runs no operators).
    (cr(*CERT), (Health.HEALTHY, "")),
    (cr(*CERT, ("Ready", "True", "Certificate is up to date")),
     (Health.HEALTHY, "Certificate is up to date")),
    (cr(*CERT, ("Ready", "False", "Issuing certificate as Secret does not exist")),
     (Health.DEGRADED, "Issuing certificate as Secret does not exist")),
    (cr(*CERT, ("Ready", "Unknown", "waiting")), (Health.PROGRESSING, "waiting")),
    (cr(*GATEWAY, ("Accepted", "True", ""), ("Available", "False", "no addresses")),
     (Health.DEGRADED, "no addresses")),
    (cr(*GATEWAY, ("Ready", "True", "ok"), generation=3, observed=2),
     (Health.PROGRESSING, "Gateway generation is 3, but latest observed generation is 2")),
    (cr(*GATEWAY, ("Programmed", "False", "")), (Health.HEALTHY, "")),
])
def test_argo_cd_generic_rules(obj: dict[str, Any], want: tuple[Health, str]) -> None:
    assert health_of(obj) == want


@pytest.mark.parametrize("obj,want", [
    (cr(*HELM), (Health.HEALTHY, "")),
    (cr(*HELM, ("Ready", "True", "Helm install succeeded")),
     (Health.HEALTHY, "Helm install succeeded")),
    (cr(*HELM, ("Ready", "False", "install retries exhausted")),
     (Health.DEGRADED, "install retries exhausted")),
    (cr(*HELM, ("Ready", "Unknown", "Reconciliation in progress")),
     (Health.PROGRESSING, "Reconciliation in progress")),
    (cr(*KUSTOMIZATION, ("Ready", "False", "old failure"), ("Reconciling", "True", "applying")),
     (Health.PROGRESSING, "applying")),
    (cr(*KUSTOMIZATION, ("Ready", "False", "x"), ("Stalled", "True", "path not found")),
     (Health.DEGRADED, "path not found")),
    (cr(*KUSTOMIZATION, ("Ready", "True", "Applied"), generation=2, observed=1),
     (Health.PROGRESSING, "Kustomization generation is 2, but latest observed generation "
                          "is 1")),
    (cr(*KUSTOMIZATION, ("Ready", "True", "Applied"), suspend=True),
     (Health.SUSPENDED, "Kustomization is suspended")),
])
def test_flux_kinds_mean_what_flux_means(obj: dict[str, Any], want: tuple[Health, str]) -> None:
    assert health_of(obj) == want


def test_a_terminating_custom_resource_is_progressing() -> None:
    obj = cr(*CERT, ("Ready", "True", ""))
    obj["metadata"]["deletionTimestamp"] = "2024-01-01T00:00:00Z"
    assert health_of(obj) == (Health.PROGRESSING, "Pending deletion")
