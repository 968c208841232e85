"""`kubectl get` prints the columns of a real cluster for every kind, through the API
server's Table answers: workload, batch, autoscaling, storage and networking kinds, and
a custom resource's `additionalPrinterColumns`, with the priority-1 ones under -o wide."""

from __future__ import annotations

import re
import textwrap

import pytest

from .conftest import Cluster, until

pytestmark = pytest.mark.usefixtures("kubectl_required")

MANIFESTS = textwrap.dedent("""\
    apiVersion: autoscaling/v2
    kind: HorizontalPodAutoscaler
    metadata: {name: web-hpa, namespace: demo}
    spec:
      scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
      minReplicas: 2
      maxReplicas: 7
      metrics:
      - type: Resource
        resource: {name: cpu, target: {type: Utilization, averageUtilization: 50}}
    ---
    apiVersion: batch/v1
    kind: CronJob
    metadata: {name: nightly, namespace: demo}
    spec:
      schedule: "*/5 * * * *"
      suspend: true
      jobTemplate:
        spec:
          template:
            spec:
              restartPolicy: Never
              containers: [{name: report, image: busybox:1.36}]
    ---
    apiVersion: batch/v1
    kind: Job
    metadata: {name: migrate, namespace: demo}
    spec:
      completions: 2
      template:
        spec:
          restartPolicy: Never
          containers: [{name: migrate, image: busybox:1.36}]
    ---
    apiVersion: apps/v1
    kind: StatefulSet
    metadata: {name: db, namespace: demo}
    spec:
      serviceName: db
      replicas: 2
      selector: {matchLabels: {app: db}}
      template:
        metadata: {labels: {app: db}}
        spec: {containers: [{name: postgres, image: postgres:16}]}
    ---
    apiVersion: apps/v1
    kind: DaemonSet
    metadata: {name: agent, namespace: demo}
    spec:
      selector: {matchLabels: {app: agent}}
      template:
        metadata: {labels: {app: agent}}
        spec:
          nodeSelector: {kubernetes.io/os: linux}
          containers: [{name: agent, image: busybox:1.36}]
    ---
    apiVersion: v1
    kind: PersistentVolumeClaim
    metadata: {name: data, namespace: demo}
    spec:
      accessModes: [ReadWriteOnce]
      storageClassName: standard
      resources: {requests: {storage: 1Gi}}
    ---
    apiVersion: networking.k8s.io/v1
    kind: Ingress
    metadata: {name: front, namespace: demo}
    spec:
      ingressClassName: nginx
      tls: [{hosts: [a.example.com]}]
      rules:
      - host: a.example.com
        http:
          paths:
          - {path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
      - host: b.example.com
        http:
          paths:
          - {path: /, pathType: Prefix, backend: {service: {name: api, port: {number: 80}}}}
    ---
    apiVersion: apiextensions.k8s.io/v1
    kind: CustomResourceDefinition
    metadata: {name: widgets.example.com}
    spec:
      group: example.com
      scope: Namespaced
      names: {kind: Widget, plural: widgets, singular: widget, listKind: WidgetList}
      versions:
      - name: v1
        served: true
        storage: true
        schema:
          openAPIV3Schema:
            type: object
            properties:
              spec:
                type: object
                properties:
                  size: {type: integer}
                  color: {type: string}
                  owner: {type: string}
        additionalPrinterColumns:
        - {name: Size, type: integer, jsonPath: .spec.size}
        - {name: Color, type: string, jsonPath: .spec.color}
        - {name: Owner, type: string, jsonPath: .spec.owner, priority: 1}
        - {name: Age, type: date, jsonPath: .metadata.creationTimestamp}
    """)
WIDGET = textwrap.dedent("""\
    apiVersion: example.com/v1
    kind: Widget
    metadata: {name: gear, namespace: demo}
    spec: {size: 3, color: blue, owner: team-a}
    """)


def table(out: str) -> tuple[list[str], list[dict[str, str]]]:
    """kubectl's aligned columns, cut where each header starts (headers hold spaces,
    cells may be empty)."""
    lines = out.rstrip("\n").splitlines()
    header = lines[0]
    names = re.findall(r"\S+(?: \S+)*", header)
    starts = [m.start() for m in re.finditer(r"\S+(?: \S+)*", header)]
    rows = []
    for line in lines[1:]:
        cells = [line[s:e].strip() for s, e in zip(starts, [*starts[1:], None], strict=True)]
        rows.append(dict(zip(names, cells, strict=True)))
    return names, rows


def row(cluster: Cluster, *args: str, name: str) -> tuple[list[str], dict[str, str]]:
    header, rows = table(cluster.kubectl("get", *args, "-n", "demo").stdout)
    return header, next(r for r in rows if r["NAME"] == name)


@pytest.fixture(scope="module")
def applied(cluster: Cluster) -> Cluster:
    cluster.kubectl("apply", "-f", "-", input=MANIFESTS)
    until(lambda: cluster.kubectl("get", "crd", "widgets.example.com", check=False)
          .returncode == 0, why="the Widget CRD served")
    until(lambda: cluster.kubectl("apply", "-f", "-", input=WIDGET, check=False)
          .returncode == 0, why="the Widget applied")
    return cluster


def test_hpa_columns(applied: Cluster) -> None:
    header, r = row(applied, "hpa", name="web-hpa")
    assert header == ["NAME", "REFERENCE", "TARGETS", "MINPODS", "MAXPODS", "REPLICAS", "AGE"]
    assert r["REFERENCE"] == "Deployment/web"
    assert re.fullmatch(r"cpu: (<unknown>|\d+%)/50%", r["TARGETS"]), r
    assert (r["MINPODS"], r["MAXPODS"]) == ("2", "7") and r["REPLICAS"].isdigit()


def test_cronjob_and_job_columns(applied: Cluster) -> None:
    header, r = row(applied, "cronjob", name="nightly")
    assert header == ["NAME", "SCHEDULE", "TIMEZONE", "SUSPEND", "ACTIVE", "LAST SCHEDULE",
                      "AGE"]
    assert [r[c] for c in header[1:6]] == ["*/5 * * * *", "<none>", "True", "0", "<none>"]
    header, r = row(applied, "job", name="migrate")
    assert header == ["NAME", "STATUS", "COMPLETIONS", "DURATION", "AGE"]
    assert r["STATUS"] in ("Running", "Complete") and re.fullmatch(r"[012]/2", r["COMPLETIONS"])
    header, r = row(applied, "job", "-o", "wide", name="migrate")
    assert header == ["NAME", "STATUS", "COMPLETIONS", "DURATION", "AGE", "CONTAINERS",
                      "IMAGES", "SELECTOR"]
    assert (r["CONTAINERS"], r["IMAGES"]) == ("migrate", "busybox:1.36")


def test_statefulset_and_daemonset_columns(applied: Cluster) -> None:
    header, r = row(applied, "sts", name="db")
    assert header == ["NAME", "READY", "AGE"] and re.fullmatch(r"[012]/2", r["READY"])
    header, r = row(applied, "sts", "-o", "wide", name="db")
    assert header == ["NAME", "READY", "AGE", "CONTAINERS", "IMAGES"]
    assert (r["CONTAINERS"], r["IMAGES"]) == ("postgres", "postgres:16")
    header, r = row(applied, "ds", name="agent")
    assert header == ["NAME", "DESIRED", "CURRENT", "READY", "UP-TO-DATE", "AVAILABLE",
                      "NODE SELECTOR", "AGE"]
    assert r["NODE SELECTOR"] == "kubernetes.io/os=linux" and r["DESIRED"].isdigit()


def test_pvc_and_ingress_columns(applied: Cluster) -> None:
    header, r = row(applied, "pvc", name="data")
    assert header == ["NAME", "STATUS", "VOLUME", "CAPACITY", "ACCESS MODES", "STORAGECLASS",
                      "VOLUMEATTRIBUTESCLASS", "AGE"]
    assert r["STATUS"] in ("Pending", "Bound") and r["STORAGECLASS"] == "standard"
    assert r["VOLUMEATTRIBUTESCLASS"] == "<unset>"
    if r["STATUS"] == "Bound":
        assert r["ACCESS MODES"] == "RWO" and r["VOLUME"]
    header, r = row(applied, "ing", name="front")
    assert header == ["NAME", "CLASS", "HOSTS", "ADDRESS", "PORTS", "AGE"]
    assert (r["CLASS"], r["HOSTS"], r["PORTS"]) == ("nginx", "a.example.com,b.example.com",
                                                    "80, 443")


def test_custom_resource_prints_its_additional_printer_columns(applied: Cluster) -> None:
    header, r = row(applied, "widgets", name="gear")
    assert header == ["NAME", "SIZE", "COLOR", "AGE"]
    assert (r["SIZE"], r["COLOR"]) == ("3", "blue") and r["AGE"] != "<unknown>"
    header, r = row(applied, "widgets", "-o", "wide", name="gear")
    assert header == ["NAME", "SIZE", "COLOR", "OWNER", "AGE"] and r["OWNER"] == "team-a"
    header, r = table(applied.kubectl("get", "crd", "widgets.example.com").stdout)
    assert header == ["NAME", "CREATED AT"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", r[0]["CREATED AT"]), r
