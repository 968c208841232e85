"""Issue 10, the ladder's 3,000-service rung: a commit of 9,001 objects is accepted (the
object bound is sized to Kubernetes' scalability thresholds), while a hostile HLD is
still refused, by count or by the bytes it generates (the memory bound), with one clear
error naming the file and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from sandbox import limits
from sandbox.hld import HldError, generate

LADDER_TOP = 3 * 3000 + 1  # the ladder's 3,000 services: Deployment, Service, ConfigMap each


def _list_hld(root: Path, count: int, padding: int = 0) -> Path:
    """One static component whose single file is a `kind: List` of ``count`` ConfigMaps."""
    (root / "m").mkdir(parents=True)
    (root / "component.yaml").write_text(
        "name: app\nsubcomponents:\n  - name: m\n    type: static\n    path: ./m\n")
    pad = f", data: {{x: {'y' * padding}}}" if padding else ""
    items = "".join(f"  - {{apiVersion: v1, kind: ConfigMap, metadata: {{name: c{i}, "
                    f"namespace: demo}}{pad}}}\n" for i in range(count))
    (root / "m" / "all.yaml").write_text(f"apiVersion: v1\nkind: List\nitems:\n{items}")
    return root


def test_the_ladders_largest_rung_fits_in_one_commit(tmp_path: Path) -> None:
    # Generating 9,001 objects takes seconds; the ladder's own HLD at 10 services tells
    # what one service weighs, and the bench runs the 3,000 rung itself.
    from bench.ladder import build_hld

    result = generate(build_hld(tmp_path, 10), ["common", "prod"])
    assert len(result.documents) == 3 * 10 + 1
    per_service = sum(len(c.manifest) for c in result.components) / 10
    assert LADDER_TOP <= limits.MAX_OBJECTS_PER_COMMIT
    assert 3000 * per_service * 2 <= limits.MAX_GENERATED_BYTES  # with room to spare


def test_an_hld_generating_too_many_objects_is_refused(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(limits, "MAX_OBJECTS_PER_COMMIT", 100)
    with pytest.raises(HldError, match="more than 100 objects") as caught:
        generate(_list_hld(tmp_path, 101), ["prod"])
    assert caught.value.file == "m/all.yaml" and caught.value.fix


def test_an_hld_generating_too_many_bytes_is_refused(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    # Few objects, each large: the count bound lets them through, the memory bound not.
    monkeypatch.setattr(limits, "MAX_GENERATED_BYTES", 50_000)
    with pytest.raises(HldError, match="more than 50,000 bytes of manifests") as caught:
        generate(_list_hld(tmp_path, 20, padding=5000), ["prod"])
    assert caught.value.file == "m/all.yaml"
    assert "split it into several HLDs" in str(caught.value.fix)
