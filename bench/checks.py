"""A PR check costs what the PR changed (issue 10, point 2).

HLDs of 10 and 1,000 services (Deployment + Service + ConfigMap each, ten services per
static component) on main, as a merge would leave them: the generate job has built
main's manifests. A first PR changes one line (its check lints the file it touches and
validates what changed); a second PR then changes one line of another service, and its
check is measured: CPU seconds of the job (yamllint's child process included) and wall
time, each in its own process. Goal: the 1,000-service check <= 3x the 10-service one.
"""

from __future__ import annotations

import json
import resource
import sys
import tempfile
import time
from pathlib import Path

from .common import child_python, hermetic_env, median
from .generate import objects_for

SIZES = (10, 1000)
PER_COMPONENT = 10


def hld_files(services: int, component_yaml: str) -> dict[str, str]:
    files: dict[str, str] = {}
    subs = []
    for group in range(0, services, PER_COMPONENT):
        folder = f"svcs/g{group // PER_COMPONENT:03d}"
        for i in range(group, min(services, group + PER_COMPONENT)):
            for j, text in enumerate(objects_for(i)):
                files[f"{folder}/svc-{i:03d}-{j}.yaml"] = text.replace("namespace: bench",
                                                                       "namespace: default")
        subs.append(f"  - name: g{group // PER_COMPONENT:03d}\n    type: static\n"
                    f"    path: ./{folder}\n")
    files["component.yaml"] = component_yaml.rstrip("\n") + "\n" + "".join(subs)
    return files


def seed_main(hld_git: Path, files: dict[str, str], work: Path) -> str:
    """Commit straight onto main in the bare repo: a fixture, as if merged long ago."""
    from sandbox.gitutil import git
    from sandbox.workspace import BOT

    index = {"GIT_INDEX_FILE": str(work / "index")}
    git("read-tree", "main", git_dir=hld_git, env_extra=index)
    for rel, text in files.items():
        target = work / "tree" / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    git("--work-tree", str(work / "tree"), "add", "--", *sorted({p.split("/")[0] for p in files}),
        git_dir=hld_git, env_extra=index)
    tree = git("write-tree", git_dir=hld_git, env_extra=index).strip()
    sha = git("commit-tree", tree, "-p", "main", "-m", "Add services", git_dir=hld_git,
              identity=BOT).strip()
    git("update-ref", "refs/heads/main", sha, git_dir=hld_git)
    return sha


def _cpu() -> float:
    """CPU seconds of this process and its waited-for children (git, yamllint's fork),
    to the microsecond: os.times() counts 10 ms ticks, a third of a small check."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), \
        resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def child(tmp: str, services: str) -> None:
    from sandbox.facade import Sandbox
    from sandbox.gitserver.http import GitServer
    from sandbox.pipelines import CIRunner, enqueue

    root = Path(tmp)
    hermetic_env(root / "home")
    sb = Sandbox.init(root / "ws")
    server = GitServer(sb.root).start()
    try:
        files = hld_files(int(services), sb.hld_file("component.yaml"))
        (root / "seed").mkdir()
        main = seed_main(sb.ws.hld_git, files, root / "seed")
        runner = CIRunner(sb.ws, sb.bus, sb.prs)
        enqueue(sb.ws, "generate", sha=main)  # what the merge of these services did
        runner.run_pending()
        result: dict[str, float] = {}
        for label, service in (("first", 1), ("second", 2)):
            name = f"svcs/g000/svc-{service:03d}-2.yaml"
            sb.commit_files(label, {name: files[name].replace("info", "debug")}, label)
            pr = sb.open_pr(label)
            builds = runner.cache.stats["generate.build"]
            linted = runner.cache.stats["lint.files"]
            cpu, wall = _cpu(), time.perf_counter()
            runner.run_pending()
            result[f"{label}_cpu_s"] = _cpu() - cpu
            result[f"{label}_wall_s"] = time.perf_counter() - wall
            result[f"{label}_linted"] = runner.cache.stats["lint.files"] - linted
            result[f"{label}_builds"] = runner.cache.stats["generate.build"] - builds
            assert sb.get_pr(pr.id).checks_state == "success", sb.get_pr(pr.id).checks
        result["objects"] = 3 * int(services) + 6
    finally:
        server.stop()
        sb.close()
    print(json.dumps(result))


def run(rounds: int = 3) -> dict[str, float]:
    figures: dict[int, dict[str, float]] = {}
    for services in SIZES:
        runs = []
        for _ in range(rounds):
            with tempfile.TemporaryDirectory(prefix="bench-checks-") as tmp:
                runs.append(child_python("bench.checks", "--child", tmp, str(services)))
        figures[services] = {key: median([r[key] for r in runs]) for key in runs[0]}
    print("PR check of a one-line change (validate job: generate head, lint, validate, "
          f"diff against the cached base), median of {rounds}")
    for services, data in figures.items():
        print(f"  {services:>5} services ({data['objects']:.0f} objects): "
              f"{data['second_cpu_s']:.3f} CPU s, {data['second_wall_s']:.3f} s wall; "
              f"{data['second_linted']:.0f} file(s) linted, {data['second_builds']:.0f} "
              f"generation(s) built (first PR: {data['first_cpu_s']:.3f} CPU s)")
    small, large = figures[SIZES[0]], figures[SIZES[-1]]
    ratio = large["second_cpu_s"] / small["second_cpu_s"]
    print(f"  ratio {SIZES[-1]}/{SIZES[0]} services: {ratio:.2f} in CPU time "
          f"({large['second_wall_s'] / small['second_wall_s']:.2f} wall) (goal <= 3)")
    return {"ratio": ratio, **{f"{k}_{s}": v for s, d in figures.items() for k, v in d.items()}}


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3])
    else:
        run()
