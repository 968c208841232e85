"""The keys, in one place: the app's bindings and the help screen both read this."""

from __future__ import annotations

from textual.binding import Binding

# Operations on the pipeline; they work from the main screen and the PR screen.
OPERATIONS = [
    Binding("c", "change", "Change"),
    Binding("o", "open_pr", "Open PR"),
    Binding("a", "approve", "Approve"),
    Binding("m", "merge", "Merge"),
    Binding("x", "close_pr", "Close PR"),
    Binding("i", "push_image", "Image"),
    Binding("r", "revert", "Revert"),
    Binding("R", "reconcile", "Reconcile"),
]

GLOBAL = [
    Binding("question_mark", "help", "Help", key_display="?"),
    Binding("colon", "command", "Command", key_display=":", show=False),
    Binding("q", "quit", "Quit"),
]

OPERATION_ACTIONS = frozenset(b.action for b in OPERATIONS) | {"command"}

# What the help screen lists, grouped as k9s groups its hints.
HELP: list[tuple[str, list[tuple[str, str]]]] = [
    ("Views", [
        ("1", "Pipeline: every stage from HLD commit to cluster health"),
        ("2", "Pull requests"),
        ("3", "Cluster: deployments, pods, services"),
        ("4", "Events: the audit log, failures in red"),
        ("enter", "Drill into the selected pull request"),
        ("d f l", "On a pull request: HLD diff, manifest diff, check log"),
        ("esc", "Back"),
        ("/", "Filter the current table or log"),
        (":", "Command mode: pr N, approve N, merge N, close N, revert, reconcile, "
              "change, image, pipeline|prs|cluster|events, help, quit"),
    ]),
    ("Pipeline", [
        ("c", "Change a setting on a branch (fab set), then offer a pull request"),
        ("o", "Open a pull request for a branch"),
        ("a", "Approve the selected pull request (as 'reviewer')"),
        ("m", "Merge the selected pull request (asks first)"),
        ("x", "Close the selected pull request (asks first)"),
        ("i", "Push an image with a behaviour profile to the local registry"),
        ("r", "Revert the last merge on main through a pull request (asks first)"),
        ("R", "Reconcile now, without waiting for the next sync"),
    ]),
    ("App", [
        ("?", "This help"),
        ("q", "Quit (stops the engine if this TUI started it)"),
    ]),
]
