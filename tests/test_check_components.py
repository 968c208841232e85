"""Issue 10, point 2: a PR check costs what the PR changed. Generation is reused per
component (by the fingerprint of what each reads), validation per object content, the
manifest diff compares only changed components' objects, and the live dry run judges
only changed objects. Counters, never clocks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sandbox.facade import Sandbox
from sandbox.hld import generate
from sandbox.manifestdiff import diff_objects
from sandbox.pipelines import CIRunner
from sandbox.validation import documents

STATIC_COMPONENTS = 4  # the sample: namespace, config, web, api


def check(sb: Sandbox, runner: CIRunner, branch: str, files: dict[str, str]) -> dict[str, Any]:
    sb.commit_files(branch, files, f"Change {branch}")
    pr = sb.open_pr(branch)
    runner.run_pending()
    job = sb.jobs(1)[0]
    assert job["params"]["pr"] == pr.id
    return job


def web_replicas(sb: Sandbox, text: str) -> dict[str, str]:
    """A one-line change of the web component's own file."""
    deployment = sb.hld_file("web/deployment.yaml")
    return {"web/deployment.yaml": deployment.replace("revisionHistoryLimit: 5",
                                                      f"revisionHistoryLimit: {text}")}


def full_diff(sb: Sandbox, tmp_path: Path, base: str, head: str) -> str:
    """The diff of two commits' generations built from scratch, without any cache."""
    from sandbox.gitutil import export_tree

    built = []
    for name, sha in (("base", base), ("head", head)):
        export_tree(sb.ws.hld_git, sha, tmp_path / name)
        built.append([d.obj for d in generate(tmp_path / name,
                                              sb.ws.settings.environments).documents])
    return diff_objects(*built).text()


def test_a_one_line_change_regenerates_one_component(sb: Sandbox) -> None:
    runner = CIRunner(sb.ws, sb.bus, sb.prs)
    assert check(sb, runner, "one", web_replicas(sb, "6"))["status"] == "success"
    built = runner.cache.stats["component.build"]
    assert check(sb, runner, "two", web_replicas(sb, "7"))["status"] == "success"
    assert runner.cache.stats["component.build"] - built == 1


def test_a_shared_config_file_regenerates_the_components_reading_the_change(
        sb: Sandbox, tmp_path: Path) -> None:
    runner = CIRunner(sb.ws, sb.bus, sb.prs)
    assert check(sb, runner, "one", web_replicas(sb, "6"))["status"] == "success"
    built = runner.cache.stats["component.build"]
    # An edit of one component's settings in the shared file: that component only, and
    # the value set there reaches its objects.
    common = sb.hld_file("config/common.yaml")
    job = check(sb, runner, "two", {"config/common.yaml": common.replace("logLevel: info",
                                                                         "logLevel: debug")})
    assert job["status"] == "success"
    assert runner.cache.stats["component.build"] - built == 1
    assert "+  LOG_LEVEL: debug" in job["result"]["diff"].replace("+    ", "+  ")
    # A line added in the first component's part moves every later part's lines (a
    # finding names them), but not their text: only the first one is generated again,
    # the others are taken where their parts now sit (the next test: their lines).
    built = runner.cache.stats["component.build"]
    assert common.startswith("subcomponents:\n  api:\n")
    moved = common.replace("  api:\n", "  api:\n    injectNamespace: false\n", 1)
    job = check(sb, runner, "three", {"config/common.yaml": moved})
    assert job["status"] == "success"
    assert runner.cache.stats["component.build"] - built == 1
    # Lines moved above a part whose value changes too: the diff is a full rebuild's.
    changed = moved.replace("logLevel: info", "logLevel: warn")
    assert changed != moved
    job = check(sb, runner, "four", {"config/common.yaml": changed})
    assert job["result"]["diff"] == full_diff(sb, tmp_path / "full", sb.branches()["main"],
                                              sb.branches()["four"])
    assert "LOG_LEVEL: warn" in job["result"]["diff"]


def test_a_value_from_a_moved_config_line_is_reported_at_its_new_line(sb: Sandbox) -> None:
    runner = CIRunner(sb.ws, sb.bus, sb.prs)
    common = sb.hld_file("config/common.yaml")
    web = "  web:\n    namespace: demo\n    config:\n      replicas: 2"
    too_many = common.replace(web, web.replace("replicas: 2", "replicas: 5000"))
    assert too_many != common

    def reported_line(job: dict[str, Any]) -> int:
        assert job["status"] == "failure"
        [line] = {int(f.split(":")[1]) for f in job["result"]["findings"]
                  if f.startswith("config/common.yaml:") and "replicas" in f}
        return line

    first = reported_line(check(sb, runner, "one", {"config/common.yaml": too_many}))
    assert too_many.splitlines()[first - 1] == "      replicas: 5000"
    # The same web settings two lines lower: its own part's text is unchanged, yet the
    # finding must name the new line, not the one a cached build saw.
    moved = too_many.replace("  api:\n", "  api:\n    injectNamespace: false\n", 1) \
        .replace("\n  config:\n", "\n  config:\n    injectNamespace: false\n", 1)
    built = runner.cache.stats["component.build"]
    assert reported_line(check(sb, runner, "two", {"config/common.yaml": moved})) == first + 2
    # The web component was not generated again: its cached output was moved.
    assert runner.cache.stats["component.build"] - built < STATIC_COMPONENTS


def test_the_diff_of_changed_components_is_a_full_rebuilds_diff(sb: Sandbox,
                                                                 tmp_path: Path) -> None:
    runner = CIRunner(sb.ws, sb.bus, sb.prs)
    assert check(sb, runner, "one", web_replicas(sb, "6"))["status"] == "success"
    # A second change touching one component, plus a new object in another.
    extra = ("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: extra\n  namespace: demo\n"
             "data:\n  A: '1'\n")
    job = check(sb, runner, "two", {**web_replicas(sb, "8"), "app-config/extra.yaml": extra})
    assert job["status"] == "success"
    # The log says what changed (web and app-config), not what was there.
    assert "(2 of 5 components changed: their 4 of 7 objects compared)" in job["log"]
    main = sb.branches()["main"]
    assert job["result"]["diff"] == full_diff(sb, tmp_path / "full", main,
                                              sb.branches()["two"])
    assert "+ ConfigMap/demo/extra (added)" in job["result"]["diff"]
    assert "~ Deployment/demo/web (changed)" in job["result"]["diff"]


def test_only_changed_objects_are_validated_and_dry_run(sb: Sandbox,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    runner = CIRunner(sb.ws, sb.bus, sb.prs)
    batches: list[list[str]] = []

    def dry_run(objects: list[dict[str, Any]]) -> list[Any]:
        batches.append([f"{o['kind']}/{o['metadata']['name']}" for o in objects])
        return [None] * len(objects)

    runner.dry_run = dry_run
    assert check(sb, runner, "one", web_replicas(sb, "6"))["status"] == "success"
    validated: list[str] = []
    real = documents.schema_problems

    def counted(obj: dict[str, Any], version: str) -> Any:
        validated.append(f"{obj['kind']}/{obj['metadata']['name']}")
        return real(obj, version)

    monkeypatch.setattr(documents, "schema_problems", counted)
    batches.clear()
    # A value no other test uses: answers are kept in-process by content.
    assert check(sb, runner, "two", web_replicas(sb, "13"))["status"] == "success"
    assert validated == ["Deployment/web"]
    # The changed Deployment, with the commit's Namespace alongside as context.
    assert batches == [["Deployment/web", "Namespace/demo"]]


# -- issue 10 point 2: the validate job passes the live cluster's served kinds ----------

CRD = ("apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n"
       "  name: widgets.example.com\nspec:\n  group: example.com\n  scope: Namespaced\n"
       "  names: {kind: Widget, plural: widgets}\n"
       "  versions: [{name: v1, served: true, storage: true, schema: {openAPIV3Schema: "
       "{type: object, x-kubernetes-preserve-unknown-fields: true}}}]\n")
WIDGET = ("apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w\n"
          "  namespace: demo\nspec: {size: 1}\n")


def live_runner(sb: Sandbox, crds: list[str]) -> CIRunner:
    """A runner wired to a simulated cluster running main (plus ``crds``), as the
    engine wires its own."""
    import yaml

    from sandbox.clock import VirtualClock
    from sandbox.cluster import SimCluster
    from sandbox.registry import ImageProfile

    cluster = SimCluster(VirtualClock(), lambda image: ImageProfile(), seed=1)
    runner = CIRunner(sb.ws, sb.bus, sb.prs)
    main = runner._generated(sb.branches()["main"])
    objects = [d.obj for d in main.documents] + [yaml.safe_load(c) for c in crds]
    assert all(r.error is None for r in cluster.apply(objects))
    runner.dry_run = lambda objs: cluster.apply(objs, dry_run=True)
    runner.served = lambda: cluster.discovery
    return runner


def test_a_custom_resource_whose_crd_the_cluster_has_passes_without_a_warning(
        sb: Sandbox) -> None:
    runner = live_runner(sb, [CRD])
    job = check(sb, runner, "widget", {"web/widget.yaml": WIDGET})
    assert job["status"] == "success", job["result"]
    # Without the cluster's served kinds the check could only warn that the CRD may be
    # missing; with them it knows the cluster serves Widget.
    assert not any("no CRD in this commit" in f for f in job["result"]["findings"])


def test_a_custom_resource_served_nowhere_is_an_error_at_its_line(sb: Sandbox) -> None:
    runner = live_runner(sb, [])
    job = check(sb, runner, "widget", {"web/widget.yaml": WIDGET})
    assert job["status"] == "failure"
    errors = [f for f in job["result"]["findings"] if "error" in f]
    assert any(f.startswith("web/widget.yaml:1: error:") and "[api-version]" in f
               and 'no matches for kind "Widget" in version "example.com/v1"' in f
               for f in errors), errors


def test_the_engine_gives_its_served_kinds_to_the_check(sb: Sandbox) -> None:
    from sandbox.clock import VirtualClock
    from sandbox.cluster import SimCluster
    from sandbox.engine import Engine
    from sandbox.registry import ImageProfile

    cluster = SimCluster(VirtualClock(), lambda image: ImageProfile(), seed=1)
    engine = Engine(sb.ws, clock=VirtualClock(), cluster=cluster, poll=False)
    try:
        assert engine.ci.served is not None and engine.ci.served() is cluster.discovery
    finally:
        close = getattr(engine, "close", None) or getattr(engine, "stop", None)
        if close is not None:
            close()
