"""The local container registry.

Images are not real layers: each tag carries a behaviour profile that the simulated
cluster plays back (how long the container takes to start, whether it crashes, whether
it can be pulled, its error rate and latency). Tags are JSON files under
`registry/<repository>/<tag>.json` in the workspace, so a push from any process is
a file the engine's watcher sees.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

REGISTRY_HOST = "localhost:5001"
_NAME_RE = re.compile(r"^[a-z0-9]+(?:[._-][a-z0-9]+)*$")
_TAG_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")


@dataclass(frozen=True)
class ImageProfile:
    name: str = "default"
    startup_seconds: float = 2.0
    crash: bool = False  # the container exits soon after start: CrashLoopBackOff
    pull_fail: bool = False  # the image cannot be pulled: ImagePullBackOff
    ready_fail: bool = False  # runs but never passes its readiness probe
    error_rate: float = 0.001  # share of requests that fail
    latency_ms: float = 40.0  # median latency of a request
    # Run to completion (a Job's pod, restartPolicy Never/OnFailure): the program exits 0
    # this long after it started. A server (restartPolicy Always) ignores it.
    run_seconds: float = 10.0
    cpu_millicores: float = 20.0  # CPU used at rest, before any request (for the HPA)
    memory_mib: float = 64.0  # memory in use (for the HPA's memory metric)


PROFILES: dict[str, ImageProfile] = {
    p.name: p
    for p in (
        ImageProfile("default"),
        ImageProfile("fast", startup_seconds=0.0),
        ImageProfile("slow", startup_seconds=30.0),
        ImageProfile("crash", crash=True),
        ImageProfile("pull-fail", pull_fail=True),
        ImageProfile("unready", ready_fail=True),
        ImageProfile("errors", error_rate=0.25),
        ImageProfile("latency", latency_ms=900.0),
    )
}


class RegistryError(ValueError):
    pass


@dataclass(frozen=True)
class Image:
    repository: str
    tag: str
    profile: ImageProfile
    pushed_at: float

    @property
    def ref(self) -> str:
        return f"{REGISTRY_HOST}/{self.repository}:{self.tag}"


def parse_image(image: str) -> tuple[str, str]:
    """`localhost:5001/web:1.0.0` -> ("web", "1.0.0"); a missing tag means `latest`."""
    name = image.rsplit("/", 1)[-1]
    if "@" in name:
        name = name.split("@", 1)[0]
    repo, _, tag = name.partition(":")
    return repo, tag or "latest"


class Registry:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def push(self, repository: str, tag: str, profile: str | ImageProfile = "default",
             startup_seconds: float | None = None) -> Image:
        if not _NAME_RE.match(repository):
            raise RegistryError(
                f"invalid repository name {repository!r}: use lower-case letters, digits and . _ -")
        if not _TAG_RE.match(tag):
            raise RegistryError(
                f"invalid tag {tag!r}: use letters, digits, . _ - (at most 128, not starting with . or -)")
        if isinstance(profile, str):
            if profile not in PROFILES:
                raise RegistryError(
                    f"unknown profile {profile!r}; choose one of: {', '.join(PROFILES)}")
            prof = PROFILES[profile]
        else:
            prof = profile
        if startup_seconds is not None:
            prof = replace(prof, startup_seconds=startup_seconds)
        img = Image(repository, tag, prof, time.time())
        folder = self.root / repository
        folder.mkdir(parents=True, exist_ok=True)
        data = {"repository": repository, "tag": tag, "profile": asdict(prof),
                "pushed_at": img.pushed_at}
        # Write then rename, so a watcher never reads half a file.
        fd, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp")
        with os.fdopen(fd, "w") as fh:
            json.dump(data, fh, indent=2)
        os.replace(tmp, folder / f"{tag}.json")
        return img

    def get(self, repository: str, tag: str) -> Image | None:
        path = self.root / repository / f"{tag}.json"
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            return None
        return Image(data["repository"], data["tag"], ImageProfile(**data["profile"]),
                     float(data.get("pushed_at", 0)))

    def resolve(self, image: str) -> ImageProfile | None:
        """The behaviour of an image reference, or None when it cannot be pulled."""
        repo, tag = parse_image(image)
        img = self.get(repo, tag)
        if img is None or img.profile.pull_fail:
            return None
        return img.profile

    def images(self) -> list[Image]:
        out: list[Image] = []
        if not self.root.is_dir():
            return out
        for path in sorted(self.root.glob("*/*.json")):
            img = self.get(path.parent.name, path.stem)
            if img:
                out.append(img)
        return sorted(out, key=lambda i: (i.repository, i.pushed_at))
