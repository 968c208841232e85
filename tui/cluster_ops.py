"""Direct edits on the live cluster and the reconciler's switch, k9s style: each asks
first, showing the kubectl or flux command it stands for, then calls the facade. An edit
outside git is drift, and the notification after it says so."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .screens.describe import DescribeScreen
from .screens.dialogs import ScaleForm, SetImageForm
from .screens.main import MainScreen
from .widgets.cluster import ClusterTable

if TYPE_CHECKING:
    from .app import GitOpsApp

NAMESPACE = "demo"
DRIFT_NOTE = ("outside git: the reconciler shows drift (OutOfSync) and puts git's version "
              "back at its next run — press R to reconcile now")
# A pod is not in git, so deleting one is no drift; saying "OutOfSync" would mislead.
POD_NOTE = "a pod is not declared in git: its ReplicaSet starts a replacement, nothing drifts"


def kubectl(verb: str, target: str, namespace: str = NAMESPACE, arg: str = "") -> str:
    """The command the facade reports back as result["command"], built before it runs so
    the confirmation can show it."""
    tail = {"scale": f" --replicas={arg}", "set image": f" {arg}"}.get(verb, "")
    return f"kubectl -n {namespace} {verb} {target}{tail}"


def flux(verb: str) -> str:
    return f"flux {verb} kustomization sandbox"


def target_of(obj: dict[str, Any]) -> tuple[str, str]:
    """`deployment/web` and its namespace, as kubectl names the object."""
    meta = obj.get("metadata") or {}
    return (f"{str(obj.get('kind', '')).lower()}/{meta.get('name')}",
            str(meta.get("namespace") or NAMESPACE))


def first_container(obj: dict[str, Any]) -> tuple[str, str]:
    spec = ((obj.get("spec") or {}).get("template") or {}).get("spec") or {}
    containers = spec.get("containers") or [{}]
    return str(containers[0].get("name") or ""), str(containers[0].get("image") or "")


class ClusterOperations:
    """Mixed into the app; `self` is the GitOpsApp."""

    def selected_object(self: GitOpsApp, kind: str | None = None) -> dict[str, Any] | None:
        screen = self.screen
        if not isinstance(screen, MainScreen) or screen.current_tab != "cluster":
            self.notify("pick an object in Cluster (3) first", severity="warning")
            return None
        obj = screen.query_one(ClusterTable).selected_object
        if obj is None:
            self.notify("the cluster shows no object yet", severity="warning")
        elif kind and obj.get("kind") != kind:
            self.notify(f"pick a {kind}: this works on {kind}s only", severity="warning")
            return None
        return obj

    def _edited(self: GitOpsApp, result: dict[str, Any]) -> None:
        note = POD_NOTE if str(result.get("object", "")).startswith("Pod/") else DRIFT_NOTE
        self.notify(note, title=str(result.get("command", "edited")), timeout=10)

    # -- keys on the Cluster tab ---------------------------------------------------
    def action_describe_object(self: GitOpsApp) -> None:
        obj = self.selected_object()
        if obj is not None:
            self.describe(*target_of(obj))

    def action_scale_object(self: GitOpsApp) -> None:
        obj = self.selected_object("Deployment")
        if obj is None:
            return
        target, ns = target_of(obj)
        current = int((obj.get("spec") or {}).get("replicas", 1) or 0)

        def submitted(replicas: int | None) -> None:
            if replicas is not None:
                self.scale(target, replicas, ns)

        self.push_screen(ScaleForm(target, current), submitted)

    def action_set_image_object(self: GitOpsApp) -> None:
        obj = self.selected_object("Deployment")
        if obj is None:
            return
        target, ns = target_of(obj)

        def submitted(result: tuple[str, str] | None) -> None:
            if result is not None:
                self.set_image(target, *result, namespace=ns)

        self.push_screen(SetImageForm(target, *first_container(obj)), submitted)

    def action_delete_object(self: GitOpsApp) -> None:
        obj = self.selected_object()
        if obj is not None:
            self.delete(*target_of(obj))

    def action_toggle_suspend(self: GitOpsApp) -> None:
        sync = (self.snapshot.status.get("sync") or {}) if self.snapshot else {}
        self.set_suspended(not sync.get("suspended"))

    # -- the operations, also reached from command mode --------------------------
    def describe(self: GitOpsApp, target: str, namespace: str = NAMESPACE) -> None:
        command = kubectl("describe", target, namespace)
        self.call_facade("describe", lambda: self.sandbox.describe(target, namespace),
                         then=lambda text: self.push_screen(DescribeScreen(command, text)))

    def scale(self: GitOpsApp, target: str, replicas: int, namespace: str = NAMESPACE) -> None:
        command = kubectl("scale", target, namespace, str(replicas))
        self.confirm(
            f"Scale {target} to {replicas}?", command,
            lambda: self.call_facade(
                "scale", lambda: self.sandbox.scale(target, replicas, namespace),
                command=command, then=self._edited),
            "A direct edit of the live cluster: git still says otherwise.")

    def set_image(self: GitOpsApp, target: str, container: str, image: str,
                  namespace: str = NAMESPACE) -> None:
        command = kubectl("set image", target, namespace, f"{container}={image}")
        self.confirm(
            f"Set the image of {target}?", command,
            lambda: self.call_facade(
                "set image",
                lambda: self.sandbox.set_image(target, container, image, namespace),
                command=command, then=self._edited),
            "A direct edit of the live cluster: git still names the old image.")

    def delete(self: GitOpsApp, target: str, namespace: str = NAMESPACE) -> None:
        command = kubectl("delete", target, namespace)
        owned = target.startswith("pod/")
        self.confirm(
            f"Delete {target}?", command,
            lambda: self.call_facade(
                "delete", lambda: self.sandbox.delete_object(target, namespace),
                command=command, then=self._edited),
            "Its ReplicaSet starts a new pod at once." if owned else
            "The reconciler recreates what git declares at its next run.")

    def set_suspended(self: GitOpsApp, suspend: bool) -> None:
        verb = "suspend" if suspend else "resume"
        command = flux(verb)
        self.confirm(
            f"{verb.capitalize()} the reconciler?", command,
            lambda: self.call_facade(
                verb, self.sandbox.suspend if suspend else self.sandbox.resume,
                command=command,
                then=lambda _: self.notify(
                    "suspended: merges wait, drift stays until resume" if suspend
                    else "resumed: the reconciler applies main now", title=command)),
            "While suspended, nothing from git reaches the cluster." if suspend
            else "The reconciler applies main's latest manifests right away.",
            destructive=suspend)
