"""The local container registry, and image references read as a container runtime does.

Images are not real layers: each tag carries a behaviour profile that the simulated
cluster plays back (how long the container takes to start, whether it crashes, whether
it can be pulled, its error rate and latency). Tags are JSON files under
`registry/<repository>/<tag>.json` in the workspace, so a push from any process is
a file the engine's watcher sees.

References follow the distribution reference grammar that Docker and containerd use:
`[host[:port]/]path[:tag][@digest]`. The first part is a registry host only when it has
a `.` or a `:` or is `localhost`; otherwise the image is on Docker Hub, whose one-part
names live under `library/`. So `redis:6.0.8` is `docker.io/library/redis:6.0.8`, and
`localhost:5001/redis:6.0.8` is this sandbox's own registry. Images from any other
registry pull with the `default` profile, as on a laptop with internet, or fail as
they would offline (the `public_images` setting).
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import time
from dataclasses import asdict, dataclass, fields, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REGISTRY_HOST = "localhost:5001"
DOCKER_HUB = "docker.io"
PUBLIC_IMAGES = ("pull", "offline")  # the public_images setting
_NAME_RE = re.compile(r"^[a-z0-9]+(?:[._-][a-z0-9]+)*$")
_TAG_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
# distribution/reference: path components, a host (with optional port), a digest.
_COMPONENT_RE = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$")
_HOST_RE = re.compile(r"^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)"
                      r"(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::[0-9]+)?$")
_DIGEST_RE = re.compile(r"^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-fA-F0-9]{32,}$")


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
    memory_mib: float = 64.0  # memory in use at start (for the HPA's memory metric)
    # What changes while it runs (sandbox/cluster/sim/behaviour.py plays these back):
    # a regression that starts `regress_after` seconds after the pod became ready, so a
    # short analysis window misses it; None never regresses.
    regress_after: float | None = None
    regress_error_rate: float | None = None  # the error rate from then on
    regress_latency_ms: float | None = None  # the median latency from then on
    leak_mib_per_second: float = 0.0  # memory growth while the container runs
    cpu_per_request: float = 2.0  # millicores one request per second costs a pod

    @property
    def label(self) -> str:
        """The name, with the regression's start when it is not the profile's own."""
        own = PROFILES.get(self.name)
        if self.regress_after is not None and own is not None \
                and own.regress_after != self.regress_after:
            return f"{self.name} (after {self.regress_after:g}s)"
        return self.name

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ImageProfile:
        """A stored profile; keys this version does not know (a newer one wrote them)
        are left out rather than refused."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


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
        # Incidents that start later, as real ones do (see the README's profile list).
        ImageProfile("late-errors", regress_after=45.0, regress_error_rate=0.25),
        ImageProfile("late-latency", regress_after=45.0, regress_latency_ms=900.0),
        ImageProfile("leak", leak_mib_per_second=0.5),
        ImageProfile("cpu-heavy", cpu_per_request=40.0),
    )
}


# One line per profile for `image push --help` and the README.
PROFILE_HELP: dict[str, str] = {
    "default": "starts in 2 s, 0.1% errors, 40 ms median latency",
    "fast": "starts at once", "slow": "starts in 30 s",
    "crash": "exits after start (CrashLoopBackOff)",
    "pull-fail": "cannot be pulled (ImagePullBackOff)",
    "unready": "runs, never passes its readiness probe",
    "errors": "25% of requests fail", "latency": "900 ms median latency",
    "late-errors": "25% errors from 45 s after the pod became ready (--after)",
    "late-latency": "900 ms median latency from 45 s after ready (--after)",
    "leak": "memory grows 0.5 MiB/s until its limit: OOMKilled, restarted",
    "cpu-heavy": "40 millicores per request/s: an HPA on CPU scales it up",
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


@dataclass(frozen=True)
class ImageRef:
    """An image reference, fully qualified as a container runtime reads it."""

    registry: str  # "docker.io", "localhost:5001", "ghcr.io"
    repository: str  # "library/redis", "web", "fluxcd/source-controller"
    tag: str | None = None
    digest: str | None = None

    @property
    def name(self) -> str:
        return f"{self.registry}/{self.repository}"

    def __str__(self) -> str:
        """`docker.io/library/redis:6.0.8`: what the runtime pulls."""
        tag = f":{self.tag}" if self.tag else ""
        return self.name + tag + (f"@{self.digest}" if self.digest else "")

    @property
    def local(self) -> bool:
        """In this sandbox's own registry."""
        return self.registry == REGISTRY_HOST

    @property
    def api_host(self) -> str:
        """The host a pull talks to (Docker Hub's API is not at docker.io itself)."""
        return "registry-1.docker.io" if self.registry == DOCKER_HUB else self.registry


def parse_reference(image: str) -> ImageRef:
    """Read an image reference as Docker and containerd do; RegistryError when it is not
    one. No tag and no digest means `:latest`."""
    text = image.strip()
    if not text or text != image or len(text) > 255:
        raise RegistryError(f"invalid reference format: {image!r}")
    name, _, digest = text.partition("@")
    if digest and not _DIGEST_RE.match(digest):
        raise RegistryError(f"invalid reference format: {image!r} (bad digest {digest!r})")
    tag: str | None = None
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        name, tag = name.rsplit(":", 1)
        if not _TAG_RE.match(tag):
            raise RegistryError(f"invalid reference format: {image!r} (bad tag {tag!r})")
    first, slash, rest = name.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        host, path = first, rest
        if not _HOST_RE.match(host):
            raise RegistryError(f"invalid reference format: {image!r} (bad host {host!r})")
    else:
        host, path = DOCKER_HUB, name
    if host == "index.docker.io":
        host = DOCKER_HUB
    if host == DOCKER_HUB and "/" not in path:
        path = f"library/{path}"
    if not all(_COMPONENT_RE.match(part) for part in path.split("/")):
        raise RegistryError(f"invalid reference format: {image!r}: repository name must be "
                            "lowercase letters, digits and separators")
    if tag is None and not digest:
        tag = "latest"
    return ImageRef(host, path, tag, digest or None)


def parse_image(image: str) -> tuple[str, str]:
    """`localhost:5001/web:1.0.0` -> ("web", "1.0.0"): the last path part and the tag
    (the digest's start when there is no tag), for labels and metrics."""
    try:
        ref = parse_reference(image)
    except RegistryError:
        return image.rsplit("/", 1)[-1].split("@", 1)[0].partition(":")[0], "latest"
    shown = ref.tag or (ref.digest or "")[:19]
    return ref.repository.rsplit("/", 1)[-1], shown


class PullError(ValueError):
    """An image cannot be pulled; ``detail`` is what the runtime says after
    `Failed to pull image "x": `."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


def _not_found(ref: ImageRef) -> PullError:
    return PullError(f'rpc error: code = NotFound desc = failed to pull and unpack image '
                     f'"{ref}": failed to resolve reference "{ref}": {ref}: not found')


def _offline(ref: ImageRef) -> PullError:
    what = f"manifests/{ref.tag}" if ref.tag else f"manifests/{ref.digest}"
    return PullError(
        f'rpc error: code = Unknown desc = failed to pull and unpack image "{ref}": '
        f'failed to resolve reference "{ref}": failed to do request: Head '
        f'"https://{ref.api_host}/v2/{ref.repository}/{what}": dial tcp: lookup '
        f"{ref.api_host.split(':')[0]}: no such host")


class Registry:
    def __init__(self, root: Path, public_images: str = "pull") -> None:
        self.root = Path(root)
        self.public_images = public_images

    def push(self, repository: str, tag: str, profile: str | ImageProfile = "default",
             startup_seconds: float | None = None, *, overwrite: bool = True,
             regress_after: float | None = None) -> Image:
        """Store a tag. With overwrite False, a tag that exists already is refused, naming
        what it holds (a re-pushed tag would change what runs under an old release)."""
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
        if regress_after is not None:
            if prof.regress_after is None:
                raise RegistryError(
                    f"profile {prof.name!r} has no regression to delay; --after goes with "
                    f"{', '.join(p.name for p in PROFILES.values() if p.regress_after)}")
            if not 0 <= regress_after <= 86_400 * 7:
                raise RegistryError(f"--after {regress_after:g}: give seconds between 0 and "
                                    "604800 (a week)")
            prof = replace(prof, regress_after=float(regress_after))
        existing = self.get(repository, tag)
        if existing is not None and not overwrite:
            when = datetime.fromtimestamp(existing.pushed_at, UTC).strftime("%Y-%m-%d %H:%M:%S")
            raise RegistryError(
                f"tag {existing.ref} already exists (profile {existing.profile.name}, pushed "
                f"{when} UTC); push a new tag for a new release, or --force to move this one "
                "(pods that pulled it keep the old image, and no release PR is opened again)")
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
            return Image(data["repository"], data["tag"],
                         ImageProfile.from_dict(data["profile"]),
                         float(data.get("pushed_at", 0)))
        except (OSError, ValueError, TypeError, KeyError, AttributeError):
            return None  # not a tag this registry wrote: as if it were not there

    def resolve(self, image: str) -> ImageProfile:
        """The behaviour of an image reference; PullError (with the runtime's words) when
        it cannot be pulled."""
        try:
            ref = parse_reference(image)
        except RegistryError as exc:
            raise PullError(f"rpc error: code = InvalidArgument desc = {exc}") from None
        if not ref.local:
            if self.public_images == "offline":
                raise _offline(ref)
            return PROFILES["default"]  # a public image pulls, as with internet access
        if not ref.tag or not _NAME_RE.match(ref.repository):
            raise _not_found(ref)  # the sandbox's registry holds tags, not digests
        img = self.get(ref.repository, ref.tag)
        if img is None or img.profile.pull_fail:
            raise _not_found(ref)
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
