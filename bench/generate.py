"""Generation benchmark (issue: HLD generation compatible with Fabrikate).

An HLD of 500 static components (Deployment + Service + ConfigMap each: 1,500
objects) is generated and parsed by our generator; `kubectl kustomize` builds the same
1,500 objects in the same run. Prints ours/kustomize (goal <= 1.0) and peak memory.
Also times schema validation of the 1,500 objects with the cached validators.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

from .common import child_python, measure, median

COMPONENTS = 500


def objects_for(i: int) -> list[str]:
    name = f"svc-{i:03d}"
    deploy = f"""apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
  namespace: bench
  labels: {{app: {name}}}
spec:
  replicas: 2
  selector:
    matchLabels: {{app: {name}}}
  template:
    metadata:
      labels: {{app: {name}}}
    spec:
      containers:
        - name: app
          image: localhost:5001/{name}:1.0.{i}
          ports: [{{containerPort: 8080}}]
          resources:
            requests: {{cpu: 50m, memory: 64Mi}}
            limits: {{cpu: 250m, memory: 128Mi}}
"""
    service = f"""apiVersion: v1
kind: Service
metadata:
  name: {name}
  namespace: bench
spec:
  selector: {{app: {name}}}
  ports: [{{port: 80, targetPort: 8080}}]
"""
    config = f"""apiVersion: v1
kind: ConfigMap
metadata:
  name: {name}-config
  namespace: bench
data:
  LOG_LEVEL: info
  INDEX: "{i}"
"""
    return [deploy, service, config]


def build_hld(root: Path) -> tuple[Path, Path]:
    hld, kust = root / "hld", root / "kustomize"
    subs = []
    kust.mkdir(parents=True)
    resources = []
    for i in range(COMPONENTS):
        name = f"svc-{i:03d}"
        folder = hld / name
        folder.mkdir(parents=True)
        for j, text in enumerate(objects_for(i)):
            (folder / f"{j}.yaml").write_text(text)
            (kust / f"{name}-{j}.yaml").write_text(text)
            resources.append(f"{name}-{j}.yaml")
        subs.append(f"  - name: {name}\n    type: static\n    path: ./{name}\n")
    (hld / "component.yaml").write_text("name: bench\nsubcomponents:\n" + "".join(subs))
    (kust / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n"
        + "".join(f"  - {r}\n" for r in resources))
    return hld, kust


def child(hld: str, out: str) -> None:
    """Runs in its own process so its peak memory is ours alone."""
    from sandbox.hld import generate, write_output
    from sandbox.validation import validate_documents

    t0 = time.perf_counter()
    result = generate(Path(hld), ["prod"])  # like `kustomize build`: nothing written
    t1 = time.perf_counter()
    write_output(result, Path(out))
    t2 = time.perf_counter()
    findings = validate_documents(result.documents)
    t3 = time.perf_counter()
    print(json.dumps({"generate_s": t1 - t0, "write_s": t2 - t1, "validate_s": t3 - t2,
                      "objects": len(result.documents),
                      "errors": sum(1 for f in findings if f.severity == "error")}))


def run(rounds: int = 3) -> dict[str, float]:
    kubectl = shutil.which("kubectl")
    with tempfile.TemporaryDirectory(prefix="bench-gen-") as tmp:
        hld, kust = build_hld(Path(tmp))
        ours, walls, kust_times, validate, peaks, writes = [], [], [], [], [], []
        objects = 0
        for _ in range(rounds):
            data = child_python("bench.generate", "--child", str(hld), str(Path(tmp) / "out"))
            ours.append(data["generate_s"])
            walls.append(data["wall_s"])
            validate.append(data["validate_s"])
            writes.append(data["write_s"])
            peaks.append(data["peak_mb"])
            objects = int(data["objects"])
            if kubectl:
                took, _, out = measure([kubectl, "kustomize", str(kust)])
                kust_times.append(took)
                assert out.count("\nkind: ") + out.startswith("kind: ") >= objects
    result = {"objects": objects, "ours_s": median(ours), "ours_process_s": median(walls),
              "validate_s": median(validate), "write_s": median(writes),
              "peak_mb": max(peaks)}
    print(f"generate: {objects} objects from {COMPONENTS} static components")
    print(f"  ours (load HLD, generate, parse, in memory): median {result['ours_s']:.3f}s "
          f"over {rounds} runs; peak memory {result['peak_mb']:.0f} MB")
    print(f"  writing generated/prod/ ({COMPONENTS + 1} files): {result['write_s']:.3f}s")
    print(f"  ours as a whole process (start-up, generate, write, validate): "
          f"median {result['ours_process_s']:.3f}s")
    print(f"  schema + policy validation of {objects} objects: {result['validate_s']:.3f}s")
    if kust_times:
        result["kustomize_s"] = median(kust_times)
        result["ratio"] = result["ours_s"] / result["kustomize_s"]
        result["ratio_process"] = result["ours_process_s"] / result["kustomize_s"]
        print(f"  kubectl kustomize (same objects, whole process): "
              f"median {result['kustomize_s']:.3f}s")
        print(f"  ratio ours/kustomize: {result['ratio']:.2f} generate alone, "
              f"{result['ratio_process']:.2f} whole process incl. validation (goal <= 1.0)")
    else:
        print("  kubectl not found: no kustomize anchor measured")
    return result


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3])
    else:
        run()
