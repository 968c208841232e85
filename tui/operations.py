"""What the keys do: each operation asks (a form or a confirmation showing the exact
command), then calls the facade in a thread worker. Facade errors become notifications."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from textual.screen import ModalScreen

from sandbox.facade import shown
from sandbox.registry import PROFILES

from .keys import OPERATION_ACTIONS
from .screens.dialogs import (
    ChangeForm,
    ChangeRequest,
    ConfirmDialog,
    ImageForm,
    OpenPRForm,
    PromptDialog,
    UserPicker,
)
from .screens.help import HelpScreen
from .screens.main import TABS, MainScreen
from .screens.pr_detail import PullRequestScreen
from .widgets.format import short

if TYPE_CHECKING:
    from .app import GitOpsApp

T = TypeVar("T")

SUBCOMPONENTS = ["web", "api"]  # the sample app's services


class Operations:
    """Mixed into the app; `self` is the GitOpsApp."""

    # -- plumbing ----------------------------------------------------------------
    def call_facade(self: GitOpsApp, label: str, fn: Callable[[], T], *,
                    command: str | None = None,
                    then: Callable[[T], None] | None = None) -> None:
        if command:
            self.main_screen.log_command(command)

        def job() -> None:
            try:
                result = fn()
            except Exception as exc:  # noqa: BLE001 - every refusal is a message, not a crash
                self.call_from_thread(self.notify, str(exc), title=f"{label} failed",
                                      severity="error", timeout=10)
                return
            if then is not None:
                self.call_from_thread(then, result)
            self.call_from_thread(self.refresh_snapshot)

        self.run_worker(job, thread=True, group="facade", description=label,
                        exit_on_error=False)

    def selected_pr(self: GitOpsApp) -> int | None:
        if isinstance(self.screen, PullRequestScreen):
            return self.screen.pr_id
        pr = self.main_screen.selected_pr
        if pr is None:
            self.notify("no pull request selected: pick one in Pull requests (2)",
                        severity="warning")
        return pr

    def confirm(self: GitOpsApp, title: str, command: str, action: Callable[[], None],
                detail: str = "", destructive: bool = True) -> None:
        def answered(yes: bool | None) -> None:
            if yes:
                action()

        self.push_screen(ConfirmDialog(title, command, detail, destructive), answered)

    def check_action(self: GitOpsApp, action: str, parameters: tuple[object, ...]) -> bool | None:
        # Pipeline keys make no sense behind a dialog or the help screen, and `q` or `?`
        # pressed on a dialog's button must not quit or stack screens.
        if action in OPERATION_ACTIONS:
            return isinstance(self.screen, MainScreen | PullRequestScreen)
        if action in ("quit", "help"):
            return not isinstance(self.screen, ModalScreen)
        return True

    # -- keys --------------------------------------------------------------------
    def action_help(self: GitOpsApp) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def action_open_pr_screen(self: GitOpsApp, pr_id: int) -> None:
        self.push_screen(PullRequestScreen(pr_id))

    def next_branch(self: GitOpsApp) -> str:
        taken = set(self.snapshot.branches) if self.snapshot else set()
        n = 1
        while f"change-{n}" in taken:
            n += 1
        return f"change-{n}"

    def action_change(self: GitOpsApp) -> None:
        def submitted(req: ChangeRequest | None) -> None:
            if req is None:
                return
            sb = self.sandbox
            self.call_facade(
                "change", lambda: sb.change(req.branch, [req.assignment],
                                            subcomponent=req.subcomponent),
                command=f"gitops-sandbox change {req.branch} {req.assignment} "
                        f"--subcomponent {req.subcomponent}",
                then=lambda sha: self._offer_pr(req.branch, sha))

        self.push_screen(ChangeForm(self.next_branch(), SUBCOMPONENTS), submitted)

    def _offer_pr(self: GitOpsApp, branch: str, sha: str) -> None:
        self.notify(f"pushed {short(sha)} to {branch}")
        self.confirm(f"Open a pull request for {branch}?", f"gitops-sandbox pr open {branch}",
                     lambda: self.open_pr(branch, ""), destructive=False)

    def open_pr(self: GitOpsApp, branch: str, title: str) -> None:
        def opened(pr: Any) -> None:
            self.notify(f"#{pr.id} opened: checks are running")
            if isinstance(self.screen, MainScreen):
                self.screen.action_show_tab("prs")

        self.call_facade("open pull request", lambda: self.sandbox.open_pr(branch, title),
                         command=f"gitops-sandbox pr open {branch}"
                                 + (f" --title {title!r}" if title else ""), then=opened)

    def action_open_pr(self: GitOpsApp) -> None:
        snap = self.snapshot
        used = {p.head for p in snap.prs} if snap else set()
        free = [b for b in (snap.branches if snap else {}) if b != "main" and b not in used]

        def submitted(result: tuple[str, str] | None) -> None:
            if result:
                self.open_pr(*result)

        self.push_screen(OpenPRForm(free[-1] if free else ""), submitted)

    def action_approve(self: GitOpsApp, pr_id: int | None = None) -> None:
        pr_id = pr_id or self.selected_pr()
        if pr_id is None:
            return
        who = self.sandbox.user.name
        self.call_facade("approve", lambda: self.sandbox.approve_pr(pr_id, who),
                         command=f"gitops-sandbox pr approve {pr_id} --as {who}",
                         then=lambda pr: self.notify(f"#{pr.id} approved by {who}"))

    def action_switch_user(self: GitOpsApp) -> None:
        users = [(u.name, u.role) for u in self.sandbox.list_users()]

        def picked(name: str | None) -> None:
            if name and name != self.sandbox.user.name:
                self.switch_user_to(name)

        self.push_screen(UserPicker(users, self.sandbox.user.name), picked)

    def switch_user_to(self: GitOpsApp, name: str) -> None:
        self.call_facade("switch user", lambda: self.sandbox.switch_user(name),
                         command=f"export GITOPS_SANDBOX_USER={name}",
                         then=lambda user: self.show_user())

    def show_user(self: GitOpsApp) -> None:
        """The header says who the TUI acts as."""
        user = self.sandbox.user
        self.title = f"gitops-sandbox · you are {user.name}" + (" (bot)" if user.is_bot else "")

    def action_merge(self: GitOpsApp, pr_id: int | None = None) -> None:
        pr_id = pr_id or self.selected_pr()
        if pr_id is None:
            return
        command = f"gitops-sandbox pr merge {pr_id}"
        self.confirm(
            f"Merge pull request #{pr_id} into main?", command,
            lambda: self.call_facade(
                "merge", lambda: self.sandbox.merge_pr(pr_id), command=command,
                then=lambda pr: self.notify(f"#{pr.id} merged as {short(pr.merge_sha)}")),
            "A merge commit goes to main through the branch policy hook; CI then "
            "generates the manifests.")

    def action_close_pr(self: GitOpsApp, pr_id: int | None = None) -> None:
        pr_id = pr_id or self.selected_pr()
        if pr_id is None:
            return
        command = f"gitops-sandbox pr close {pr_id}"
        self.confirm(f"Close pull request #{pr_id} without merging?", command,
                     lambda: self.call_facade(
                         "close", lambda: self.sandbox.close_pr(pr_id), command=command,
                         then=lambda pr: self.notify(f"#{pr.id} closed")))

    def action_push_image(self: GitOpsApp) -> None:
        def submitted(result: tuple[str, str, str] | None) -> None:
            if not result:
                return
            service, tag, profile = result
            self.call_facade(
                "image push", lambda: self.sandbox.push_image(service, tag, profile),
                command=f"gitops-sandbox image push {service} {tag} --profile {profile}",
                then=lambda img: self.notify(f"{img.ref} pushed; the release job opens a PR"))

        self.push_screen(ImageForm(list(PROFILES)), submitted)

    def action_revert(self: GitOpsApp) -> None:
        merged = [p for p in (self.snapshot.prs if self.snapshot else [])
                  if p.state == "merged" and p.merge_sha]
        if not merged:
            self.notify("main has no merged pull request to revert", severity="warning")
            return
        last = max(merged, key=lambda p: p.updated)
        sha = str(last.merge_sha)
        self.confirm(
            f"Revert #{last.id} ({shown(last.title)})?", f"git revert --no-edit -m 1 {short(sha)}",
            lambda: self.call_facade(
                "revert", lambda: self.sandbox.revert(sha),
                command=f"gitops-sandbox revert {short(sha)}",
                then=lambda pr: self.notify(f"revert opened as #{pr.id}")),
            f"on a new branch revert-{short(sha)}, opened as a pull request that goes "
            "through the same checks (gitops-sandbox revert " + short(sha) + ")")

    def action_reconcile(self: GitOpsApp) -> None:
        self.call_facade("reconcile", self.sandbox.reconcile_now,
                         then=lambda _: self.notify("reconcile requested", timeout=2))

    def action_command(self: GitOpsApp) -> None:
        self.push_screen(PromptDialog(":", "", "pr 3, merge 3, scale deployment/web 3, "
                                      "describe deployment/web, suspend, scenario NAME…"),
                         self.run_command)

    def run_command(self: GitOpsApp, line: str | None) -> None:
        """k9s-like command mode: a verb and maybe a PR number, an object or a name."""
        if not line:
            return
        words = line.split()
        verb, arg = words[0].lower(), words[1] if len(words) > 1 else ""
        num = int(arg.lstrip("#")) if re.fullmatch(r"#?\d+", arg) else None
        aliases = {"prs": "prs", "pulls": "prs", "pipeline": "pipeline", "cluster": "cluster",
                   "pods": "cluster", "deploy": "cluster", "events": "events", "log": "events",
                   "scenarios": "scenarios", "metrics": "metrics", "plots": "metrics"}
        if verb.isdigit() and 1 <= int(verb) <= len(TABS):
            self.main_screen.action_show_tab(TABS[int(verb) - 1])
        elif verb in ("pr", "show") and num:
            self.action_open_pr_screen(num)
        elif verb in aliases:
            self.main_screen.action_show_tab(aliases[verb])
        elif verb in ("approve", "merge", "close") and num:
            {"approve": self.action_approve, "merge": self.action_merge,
             "close": self.action_close_pr}[verb](num)
        elif verb in ("revert", "reconcile", "change", "image", "help"):
            getattr(self, {"image": "action_push_image"}.get(verb, f"action_{verb}"))()
        elif verb in ("suspend", "resume"):
            self.set_suspended(verb == "suspend")
        elif verb == "scenario" and arg:
            self.run_scenario_named(" ".join(words[1:]))
        elif verb in ("user", "as"):
            self.switch_user_to(arg) if arg else self.action_switch_user()
        elif verb in ("scale", "describe", "delete", "set-image") and "/" in arg:
            self._object_command(verb, arg, words[2:], line)
        elif verb in ("q", "quit"):
            self.exit()
        else:
            self.notify(f"unknown command {line!r}; see ? for the list", severity="warning")

    def _object_command(self: GitOpsApp, verb: str, target: str, rest: list[str],
                        line: str) -> None:
        """`scale deployment/web 3`, `set-image deployment/web web=IMAGE`, `describe
        pod/NAME`, `delete pod/NAME`: the same confirmations as the Cluster tab's keys."""
        if verb == "describe":
            self.describe(target)
        elif verb == "delete":
            self.delete(target)
        elif verb == "scale" and rest and rest[0].isdigit():
            self.scale(target, int(rest[0]))
        elif verb == "set-image" and rest and "=" in rest[0].strip("="):
            container, _, image = rest[0].partition("=")
            self.set_image(target, container, image)
        else:
            self.notify(f"{line!r}: try 'scale deployment/web 3' or "
                        "'set-image deployment/web web=IMAGE'", severity="warning")
