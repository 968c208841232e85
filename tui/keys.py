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
    Binding("S", "toggle_suspend", "Suspend"),
    Binding("u", "switch_user", "User"),
]

# Direct edits on the live cluster, k9s style. They belong to the Cluster table, so they
# only fire (and only show in the footer) while its cursor picks an object.
CLUSTER = [
    Binding("d", "app.describe_object", "Describe"),
    Binding("s", "app.scale_object", "Scale"),
    Binding("e", "app.set_image_object", "Set image"),
    Binding("ctrl+d", "app.delete_object", "Delete"),
]

# The Scenarios table: `enter` runs (the DataTable's own select), these stop.
SCENARIOS = [
    Binding("escape", "app.stop_scenario", "Stop scenario"),
    Binding("ctrl+k", "app.stop_scenario", "Stop scenario", show=False),
]

GLOBAL = [
    Binding("question_mark", "help", "Help", key_display="?"),
    Binding("colon", "command", "Command", key_display=":", show=False),
    Binding("q", "quit", "Quit"),
]

OPERATION_ACTIONS = (frozenset(b.action for b in OPERATIONS)
                     | {b.action.removeprefix("app.") for b in CLUSTER} | {"command"})

# What the help screen lists, grouped as k9s groups its hints.
HELP: list[tuple[str, list[tuple[str, str]]]] = [
    ("Views", [
        ("1", "Pipeline: every stage from HLD commit to cluster health, recent events"),
        ("2", "Pull requests"),
        ("3", "Cluster: deployments, pods, services"),
        ("4", "Events: the audit log, failures in red"),
        ("5", "Scenarios: rehearse an incident in a throw-away workspace"),
        ("6", "Metrics: a service's rate, errors and p95, its deploys and SLO lines"),
        ("enter", "Drill into the selected pull request; run the selected scenario"),
        ("d f l", "On a pull request: HLD diff, manifest diff, check log"),
        ("esc", "Back; on Scenarios: stop the running scenario"),
        ("/", "Filter the current table or log"),
        (":", "Command mode: pr N, approve N, merge N, close N, revert, reconcile, "
              "change, image, scale KIND/NAME N, set-image KIND/NAME C=IMAGE, "
              "describe KIND/NAME, delete KIND/NAME, suspend, resume, scenario NAME, user NAME, "
              "pipeline|prs|cluster|events|scenarios|metrics, help, quit"),
    ]),
    ("Pipeline", [
        ("c", "Change a setting on a branch (fab set), then offer a pull request"),
        ("o", "Open a pull request for a branch"),
        ("a", "Approve the selected pull request (as you: see the header)"),
        ("m", "Merge the selected pull request (asks first)"),
        ("x", "Close the selected pull request (asks first)"),
        ("i", "Push an image with a behaviour profile to the local registry"),
        ("r", "Revert the last merge on main through a pull request (asks first)"),
        ("R", "Reconcile now, without waiting for the next sync"),
        ("S", "Suspend or resume the reconciler (asks first)"),
        ("u", "Switch user: who you act as (the author of a PR cannot approve it)"),
    ]),
    ("Cluster (3): direct edits outside git, which the reconciler reports as drift", [
        ("d", "Describe the selected object (kubectl describe)"),
        ("s", "Scale the selected Deployment (asks first)"),
        ("e", "Set the image of the selected Deployment (asks first)"),
        ("ctrl+d", "Delete the selected object (asks first)"),
    ]),
    ("App", [
        ("?", "This help"),
        ("q", "Quit (stops the engine if this TUI started it)"),
    ]),
]
