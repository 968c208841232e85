"""The analysis of a change (issue 12 point 2), driven by hand: events and samples in,
a verdict out."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from sandbox.analysis import Analyzer, Objectives, SloError, parse_slo
from sandbox.metrics import Sample

SETTINGS = SimpleNamespace(analysis_interval_seconds=15.0, analysis_count=3,
                           analysis_failure_limit=1)


def make(objectives: dict[str, Objectives] | None = None
         ) -> tuple[Analyzer, list[tuple[str, dict[str, Any]]]]:
    published: list[tuple[str, dict[str, Any]]] = []
    analyzer = Analyzer(lambda kind, message, **data: published.append((kind, data)),
                        lambda sha: objectives or {}, Objectives, lambda: SETTINGS)
    return analyzer, published


def web(rps: float, error_rate: float, p95: float = 70.0) -> list[Sample]:
    """Two pods of web sharing the traffic, and the workload's own (windowed) sample,
    which the analysis must not read: it mixes in the old version's traffic."""
    pods = [Sample("Pod", "demo", f"web-{i}", "Deployment/demo/web",
                   {"rps": rps / 2, "error_rate": error_rate, "p95_ms": p95}) for i in (1, 2)]
    return [*pods, Sample("Deployment", "demo", "web", "Deployment/demo/web",
                          {"rps": rps, "error_rate": 0.9, "p95_ms": 5000.0})]


def synced(analyzer: Analyzer, revision: str = "m1", hld: str = "h1") -> None:
    analyzer.on_event("sync.finished", {"new_revision": True, "revision": revision,
                                        "hld_sha": hld,
                                        "changed": ["Deployment/demo/web configured"]}, 0.0)
    analyzer.on_event("health.check", {"revision": revision, "result": "Passed"}, 10.0)


def verdict(published: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    done = [d for kind, d in published if kind == "analysis.finished"]
    assert len(done) == 1, published
    return done[0]


def test_an_error_rate_above_its_ceiling_fails_past_the_failure_limit() -> None:
    analyzer, published = make()
    synced(analyzer)
    analyzer.on_sample(20.0, web(20, 0.01))  # too early: before the first check
    analyzer.on_sample(25.0, web(20, 0.2))
    assert not [k for k, _ in published if k == "analysis.finished"]  # 1 failure is allowed
    analyzer.on_sample(40.0, web(20, 0.25))
    done = verdict(published)
    assert done["verdict"] == "Failed"
    assert done["reason"].startswith("web: error rate 25.0% is above its SLO of 5.0%")
    assert done["analysis"]["failed_checks"] == 2


def test_healthy_numbers_succeed_and_no_traffic_is_inconclusive() -> None:
    analyzer, published = make()
    synced(analyzer)
    for t in (25.0, 40.0, 55.0):
        analyzer.on_sample(t, web(20, 0.001))
    assert verdict(published)["verdict"] == "Succeeded"
    analyzer, published = make()
    synced(analyzer)
    for t in (25.0, 40.0, 55.0):
        analyzer.on_sample(t, web(0, 0.0))
    done = verdict(published)
    assert done["verdict"] == "Inconclusive" and "no traffic" in done["reason"]


def test_a_service_objective_and_availability_over_the_window() -> None:
    analyzer, published = make({"web": Objectives(max_error_rate=0.05, max_p95_ms=500,
                                                  min_availability=0.999)})
    synced(analyzer)
    for t in (25.0, 40.0, 55.0):
        analyzer.on_sample(t, web(20, 0.01))  # under the ceiling, under 99.9% too
    done = verdict(published)
    assert done["verdict"] == "Failed" and "availability 99.0% is below its SLO of 99.9%" \
        in done["reason"]


def test_a_newer_sync_ends_the_analysis_and_a_failed_health_check_starts_none() -> None:
    analyzer, published = make()
    synced(analyzer)
    analyzer.on_event("sync.finished", {"new_revision": True, "revision": "m2",
                                        "hld_sha": "h2", "changed": []}, 30.0)
    assert verdict(published)["verdict"] == "Inconclusive"
    analyzer.on_event("health.check", {"revision": "m2", "result": "Failed"}, 40.0)
    assert analyzer.run is None


def test_slo_blocks_are_checked() -> None:
    base = Objectives()
    assert parse_slo({"error_rate": "0.01", "p95_ms": 300}, base, "f").max_error_rate == 0.01
    for bad, words in (({"error_rate": 5}, "share between 0 and 1"),
                       ({"latency": 1}, "unknown slo key"), ("fast", "must be a mapping"),
                       ({"p95_ms": "quick"}, "must be a number")):
        with pytest.raises(SloError, match=words):
            parse_slo(bad, base, "config/common.yaml")


def test_a_check_reads_the_rows_of_its_targets_only() -> None:
    """A sample of 500 Deployments: the analysis of a change to one of them looks at
    that one's pod rows (the sample's index by workload), not all 1,000."""
    from sandbox.metrics import SampleRows

    pods_of: dict[str, dict[str, Sample]] = {}
    named: dict[str, set[str]] = {}
    rows: list[Sample] = []
    for i in range(500):
        name = "web" if i == 7 else f"svc-{i}"
        key = f"Deployment/demo/{name}"
        named.setdefault(name, set()).add(key)
        for p in (1, 2):
            error_rate = 0.2 if name == "web" else 0.9  # only web's own numbers count
            row = Sample("Pod", "demo", f"{name}-{p}", key, {"rps": 10.0,
                                                             "error_rate": error_rate})
            rows.append(row)
            pods_of.setdefault(key, {})[row.name] = row
    analyzer, published = make()
    synced(analyzer)
    for t in (25.0, 40.0):
        analyzer.on_sample(t, SampleRows(rows, pods_of, named))
    done = verdict(published)
    assert done["reason"].startswith("web: error rate 20.0% is above its SLO")
    assert list(done["analysis"]["workloads"]) == ["demo/web"]
    assert analyzer.rows_visited == 2 * 2  # two checks of web's two pods
    # A plain list (no index) is still read in full, with the same verdict.
    analyzer, published = make()
    synced(analyzer)
    for t in (25.0, 40.0):
        analyzer.on_sample(t, list(rows))
    assert verdict(published)["reason"] == done["reason"]
    assert analyzer.rows_visited == 2 * 1000
