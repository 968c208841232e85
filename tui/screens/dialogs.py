"""Modal dialogs: confirmations that show the exact command, and the small forms behind
`c`, `o`, `i`, `s`, `e`, `u`, `/` and `:`. Each dismisses with its result, or None on `esc`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, OptionList, Select, Static
from textual.widgets.option_list import Option


class Dialog(ModalScreen[Any]):
    BINDINGS = [Binding("escape", "cancel", "Back")]

    def action_cancel(self) -> None:
        self.dismiss(None)

    def focus_on(self, selector: str) -> None:
        """Focus this widget if the dialog still has it: a key typed the moment the
        dialog opened may have answered it before it was mounted, and then its
        widgets are gone."""
        for widget in self.query(selector):
            widget.focus()
            return


class ConfirmDialog(Dialog):
    """Destructive actions stop here first, showing what will run, lazygit style."""

    def __init__(self, title: str, command: str, detail: str = "",
                 destructive: bool = True) -> None:
        super().__init__()
        self.destructive = destructive
        self.title_text = title
        self.command = command
        self.detail = detail

    BINDINGS = [Binding("y", "answer(True)", "Yes"), Binding("n", "answer(False)", "No"),
                Binding("escape", "answer(False)", "Back")]

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="confirm"):
            yield Label(self.title_text, classes="dialog-title")
            yield Label("This will run:", classes="dim")
            yield Static(self.command, id="command", classes="command")
            if self.detail:
                yield Static(self.detail, classes="dim detail")
            with Horizontal(classes="buttons"):
                yield Button("Yes (y)", variant="error" if self.destructive else "primary",
                             id="yes")
                yield Button("No (n)", id="no")

    def on_mount(self) -> None:
        # `enter` on a destructive dialog should mean "no", as in lazygit.
        self.focus_on("#no" if self.destructive else "#yes")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")


@dataclass
class ChangeRequest:
    branch: str
    subcomponent: str
    assignment: str


class FormDialog(Dialog):
    """A form whose inputs submit on `enter`; subclasses turn the fields into a result."""

    title_text = ""

    def fields(self) -> ComposeResult:
        raise NotImplementedError

    def result(self) -> Any:
        raise NotImplementedError

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self.title_text, classes="dialog-title")
            yield from self.fields()
            yield Label("", id="form-error", classes="error")
            with Horizontal(classes="buttons"):
                yield Button("OK (enter)", variant="primary", id="ok")
                yield Button("Cancel (esc)", id="cancel")

    def value(self, field_id: str) -> str:
        return self.query_one(f"#{field_id}", Input).value.strip()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._submit()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "ok":
            self._submit()
        else:
            self.dismiss(None)

    def _submit(self) -> None:
        try:
            result = self.result()
        except ValueError as exc:
            self.query_one("#form-error", Label).update(str(exc))
            return
        self.dismiss(result)


class ChangeForm(FormDialog):
    title_text = "Change the HLD on a branch (fab set)"

    def __init__(self, branch: str, subcomponents: list[str]) -> None:
        super().__init__()
        self.branch = branch
        self.subcomponents = subcomponents or ["web"]

    def fields(self) -> ComposeResult:
        yield Label("Branch")
        yield Input(self.branch, id="branch")
        yield Label("Subcomponent")
        yield Select([(s, s) for s in self.subcomponents], value=self.subcomponents[0],
                     allow_blank=False, id="subcomponent")
        yield Label("Setting (key=value)")
        yield Input("replicas=3", id="assignment", placeholder="replicas=3")

    def on_mount(self) -> None:
        self.focus_on("#assignment")

    def result(self) -> ChangeRequest:
        branch, assignment = self.value("branch"), self.value("assignment")
        if not branch or branch == "main":
            raise ValueError("pick a branch other than main")
        if "=" not in assignment or assignment.startswith("="):
            raise ValueError("write the setting as key=value, e.g. replicas=3")
        sub = self.query_one("#subcomponent", Select).value
        return ChangeRequest(branch, str(sub), assignment)


class OpenPRForm(FormDialog):
    title_text = "Open a pull request"

    def __init__(self, branch: str = "", title: str = "") -> None:
        super().__init__()
        self.branch = branch
        self.pr_title = title

    def fields(self) -> ComposeResult:
        yield Label("Branch")
        yield Input(self.branch, id="branch", placeholder="change-1")
        yield Label("Title (empty: the commit subject)")
        yield Input(self.pr_title, id="title")

    def on_mount(self) -> None:
        self.focus_on("#title" if self.branch else "#branch")

    def result(self) -> tuple[str, str]:
        if not self.value("branch"):
            raise ValueError("name the branch to open the pull request from")
        return self.value("branch"), self.value("title")


class ImageForm(FormDialog):
    title_text = "Push an image to the local registry"

    def __init__(self, profiles: list[str], service: str = "web", tag: str = "1.0.1") -> None:
        super().__init__()
        self.profiles = profiles
        self.service = service
        self.tag = tag

    def fields(self) -> ComposeResult:
        yield Label("Service (repository)")
        yield Input(self.service, id="service")
        yield Label("Tag")
        yield Input(self.tag, id="tag")
        yield Label("Behaviour profile")
        yield Select([(p, p) for p in self.profiles], value=self.profiles[0],
                     allow_blank=False, id="profile")

    def on_mount(self) -> None:
        self.focus_on("#tag")

    def result(self) -> tuple[str, str, str]:
        if not self.value("service") or not self.value("tag"):
            raise ValueError("an image needs a service and a tag")
        return (self.value("service"), self.value("tag"),
                str(self.query_one("#profile", Select).value))


class PromptDialog(Dialog):
    """A one-line prompt at the bottom, like k9s's `:` and `/`."""

    def __init__(self, prompt: str, value: str = "", placeholder: str = "") -> None:
        super().__init__()
        self.prompt = prompt
        self.initial = value
        self.placeholder = placeholder

    def compose(self) -> ComposeResult:
        with Horizontal(classes="prompt"):
            yield Label(self.prompt, classes="prompt-label")
            yield Input(self.initial, placeholder=self.placeholder, id="prompt")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.dismiss(event.value.strip())


class ScaleForm(FormDialog):
    """`s` on a Deployment: how many replicas, before the confirmation shows the command."""

    def __init__(self, target: str, replicas: int) -> None:
        super().__init__()
        self.target = target
        self.replicas = replicas
        self.title_text = f"Scale {target}"

    def fields(self) -> ComposeResult:
        yield Label("Replicas")
        yield Input(str(self.replicas), id="replicas", type="integer")

    def on_mount(self) -> None:
        self.focus_on("#replicas")

    def result(self) -> int:
        text = self.value("replicas")
        if not text.isdigit():
            raise ValueError("replicas is a whole number, 0 or more")
        return int(text)


class SetImageForm(FormDialog):
    """`e` on a Deployment: the container and its new image, prefilled with the current."""

    def __init__(self, target: str, container: str, image: str) -> None:
        super().__init__()
        self.target = target
        self.container = container
        self.image = image
        self.title_text = f"Set the image of {target}"

    def fields(self) -> ComposeResult:
        yield Label("Container")
        yield Input(self.container, id="container")
        yield Label("Image")
        yield Input(self.image, id="image")

    def on_mount(self) -> None:
        self.focus_on("#image")

    def result(self) -> tuple[str, str]:
        container, image = self.value("container"), self.value("image")
        if not container or not image or " " in image:
            raise ValueError("name the container and an image, e.g. localhost:5001/web:1.1.0")
        return container, image


class UserPicker(Dialog):
    """`u`: act as another user of the workspace, so the rules on who may approve what
    can be met (and seen) from one screen."""

    def __init__(self, users: list[tuple[str, str]], current: str) -> None:
        super().__init__()
        self.users = users
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="user-picker"):
            yield Label("Act as", classes="dialog-title")
            yield OptionList(*[Option(f"{name} ({role})" + ("  ← now" if name == self.current
                                                             else ""), id=name)
                               for name, role in self.users], id="users")

    def on_mount(self) -> None:
        options = self.query_one("#users", OptionList)
        names = [name for name, _ in self.users]
        options.highlighted = names.index(self.current) if self.current in names else 0
        options.focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)
