"""`gitops-sandbox cluster get` prints from the same column definitions as the API
server's Table answers: the priority-0 columns, a custom resource's from its CRD."""

from __future__ import annotations

from sandbox.cluster.apiserver.table import table
from sandbox.cluster.kubectl_format import format_table
from sandbox.cluster.printers import PRINTERS
from sandbox.cluster.printers.crd import jsonpath

CRD = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
       "metadata": {"name": "widgets.example.com"},
       "spec": {"group": "example.com", "names": {"kind": "Widget", "plural": "widgets"},
                "versions": [{"name": "v1", "served": True, "storage": True,
                              "additionalPrinterColumns": [
                                  {"name": "Size", "type": "integer", "jsonPath": ".spec.size"},
                                  {"name": "Owner", "type": "string", "priority": 1,
                                   "jsonPath": ".spec.owner"},
                                  {"name": "Ready", "type": "string", "jsonPath":
                                   '.status.conditions[?(@.type=="Ready")].status'}]}]}}
WIDGET = {"apiVersion": "example.com/v1", "kind": "Widget",
          "metadata": {"name": "gear", "namespace": "demo", "creationTimestamp": 0.0},
          "spec": {"size": 3, "owner": "team-a"},
          "status": {"conditions": [{"type": "Synced", "status": "False"},
                                    {"type": "Ready", "status": "True"}]}}


def test_cli_prints_the_api_tables_default_columns_for_every_kind() -> None:
    for kind, printer in PRINTERS.items():
        obj = {"kind": kind, "metadata": {"name": "x", "namespace": "demo",
                                          "creationTimestamp": 0.0}}
        header = format_table([obj], kind, 60.0).splitlines()[0].split("   ")
        api = table([obj], kind, 60.0, "1")["columnDefinitions"]
        want = [c["name"].upper() for c in api if c["priority"] == 0]
        assert [h.strip() for h in header if h.strip()] == want, kind
        assert len(printer.cells(obj, 60.0)) == len(printer.columns), kind


def test_cli_prints_a_custom_resources_printer_columns() -> None:
    lines = format_table([WIDGET], "Widget", 60.0, [CRD]).splitlines()
    assert lines[0].split() == ["NAME", "SIZE", "READY"]
    assert lines[1].split() == ["gear", "3", "True"]
    assert format_table([WIDGET], "Widget", 60.0).splitlines()[0].split() == ["NAME", "AGE"]


def test_hpa_targets_as_kubectl_prints_them() -> None:
    hpa = {"kind": "HorizontalPodAutoscaler", "metadata": {"name": "web",
                                                           "creationTimestamp": 0.0},
           "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web"}, "maxReplicas": 5,
                    "metrics": [{"type": "Resource", "resource": {"name": n, "target": {
                        "type": "Utilization", "averageUtilization": 50}}}
                        for n in ("cpu", "memory", "ephemeral-storage")]},
           "status": {"currentReplicas": 2, "currentMetrics": [{"type": "Resource", "resource": {
               "name": "cpu", "current": {"averageUtilization": 40}}}]}}
    row = format_table([hpa], "HorizontalPodAutoscaler", 60.0).splitlines()[1]
    assert "cpu: 40%/50%, memory: <unknown>/50% + 1 more..." in row


def test_jsonpath_of_printer_columns() -> None:
    assert jsonpath(WIDGET, ".spec.size") == [3]
    assert jsonpath(WIDGET, ".status.conditions[*].type") == ["Synced", "Ready"]
    assert jsonpath(WIDGET, ".status.conditions[-1].status") == ["True"]
    assert jsonpath(WIDGET, ".spec.missing.deeper") == []
    assert jsonpath(WIDGET, ".spec[") == []
