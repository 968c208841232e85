"""Running a scenario: a fresh workspace and engine, the steps in order, and a clean-up
that happens whatever the outcome.

Each step runs in a worker thread so that its timeout holds even if an operation
hangs; the first step that fails stops the scenario, and the rest are marked skipped.
Progress goes to a reporter, so the CLI prints it and the TUI can show it.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Protocol

from ..facade import Sandbox
from ..gitutil import short
from .actions import ACTIONS, REF_PREFIX, Context
from .model import Scenario, ScenarioResult, Step, StepFailed, StepResult

SETUP_TIMEOUT = 90.0
GRACE_SECONDS = 10.0  # beyond a step's timeout before it is abandoned as hung
RECENT_EVENTS = 15


class Reporter(Protocol):
    def scenario_started(self, scenario: Scenario) -> None: ...

    def setup_finished(self, scenario: Scenario, text: str, ok: bool, seconds: float) -> None:
        ...

    def step_started(self, scenario: Scenario, step: Step, text: str) -> None: ...

    def step_finished(self, scenario: Scenario, result: StepResult) -> None: ...

    def scenario_finished(self, result: ScenarioResult) -> None: ...


class QuietReporter:
    def scenario_started(self, scenario: Scenario) -> None:
        pass

    def setup_finished(self, scenario: Scenario, text: str, ok: bool, seconds: float) -> None:
        pass

    def step_started(self, scenario: Scenario, step: Step, text: str) -> None:
        pass

    def step_finished(self, scenario: Scenario, result: StepResult) -> None:
        pass

    def scenario_finished(self, result: ScenarioResult) -> None:
        pass


def run_scenario(scenario: Scenario, reporter: Reporter | None = None,
                 stop: threading.Event | None = None, keep_workspace: bool = False,
                 workdir: Path | None = None) -> ScenarioResult:
    """Run one scenario in its own temporary workspace; never raises for a failing step."""
    reporter = reporter or QuietReporter()
    stop = stop or threading.Event()
    result = ScenarioResult(scenario.name, scenario.file, scenario.line, scenario.description)
    reporter.scenario_started(scenario)
    started = time.monotonic()
    tmp = Path(tempfile.mkdtemp(prefix="gitops-scenario-", dir=workdir))
    sb: Sandbox | None = None
    try:
        setup_started = time.monotonic()
        try:
            sb, ctx, result.setup = _setup(scenario, tmp / "ws", stop)
        except Exception as exc:  # noqa: BLE001 - a set-up failure is the scenario's result
            result.status, result.error = "error", f"{type(exc).__name__}: {exc}"
            reporter.setup_finished(scenario, result.error, False,
                                    time.monotonic() - setup_started)
            if sb is None and (tmp / "ws").exists():
                sb = _try_open(tmp / "ws")
        else:
            reporter.setup_finished(scenario, result.setup, True,
                                    time.monotonic() - setup_started)
            _run_steps(scenario, ctx, result, reporter, stop)
        if not result.passed and sb is not None:
            result.recent_events = _recent_events(sb)
    finally:
        if sb is not None:
            sb.close()
        if keep_workspace and not result.passed:
            result.workspace = str(tmp / "ws")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    result.seconds = time.monotonic() - started
    reporter.scenario_finished(result)
    return result


def _setup(scenario: Scenario, root: Path, stop: threading.Event
           ) -> tuple[Sandbox, Context, str]:
    sb = Sandbox.init(root, settings=scenario.settings)
    try:
        seen = set()
        for image in scenario.images:
            sb.ws.registry.push(image.service, image.tag, image.profile)
            seen.add(f"{image.service}:{image.tag}")
        if seen:
            # Seeded images are already there when the story starts, like the sample's
            # 1.0.0 tags: marking them seen keeps the release job from opening PRs for them.
            store = sb.ws.store
            before = set(json.loads(store.get_meta("images.seen", "[]") or "[]"))
            store.set_meta("images.seen", json.dumps(sorted(before | seen)))
        first = sb.last_event_id()
        ctx = Context(sb, stop, events_start=first, previous_step_start=first, step_start=first)
        sb.start_engine()
        main = sb.branches()["main"]
        dep = sb.wait_for_deployment(main, SETUP_TIMEOUT)
        if dep.get("sync_status") == "failed":
            raise RuntimeError(f"the first sync of main failed: {dep}")
    except BaseException:
        sb.close()
        raise
    health = dep.get("health") or sb.health().get("app", "Unknown")
    return sb, ctx, f"workspace, engine, first sync of {short(main)}: {health}"


def _try_open(root: Path) -> Sandbox | None:
    try:
        return Sandbox(root)
    except Exception:  # noqa: BLE001 - only for the events in a failure report
        return None


def _run_steps(scenario: Scenario, ctx: Context, result: ScenarioResult,
               reporter: Reporter, stop: threading.Event) -> None:
    failed = False
    for step in scenario.steps:
        act = ACTIONS[step.action]
        if failed or stop.is_set():
            result.steps.append(StepResult(step.index, step.line, step.action,
                                           act.text(step.args), "skipped",
                                           message="stopped" if stop.is_set() else ""))
            continue
        outcome = _run_step(scenario, step, ctx, reporter)
        result.steps.append(outcome)
        reporter.step_finished(scenario, outcome)
        if outcome.status == "failed":
            failed = True
            result.status = "failed"
    if stop.is_set() and result.status == "passed":
        result.status, result.error = "error", "stopped before the end"


def _resolve(step: Step, ctx: Context) -> dict[str, Any]:
    """Arguments with PR names turned into numbers, so the progress line shows `#3`."""
    act = ACTIONS[step.action]
    args = dict(step.args)
    for key, value in step.args.items():
        spec = act.args.get(key)
        if spec is not None and spec.kind == "pr" and isinstance(value, str):
            args[key] = ctx.pr(value) if value.startswith(REF_PREFIX) else int(value)
    return args


def _run_step(scenario: Scenario, step: Step, ctx: Context,
              reporter: Reporter) -> StepResult:
    act = ACTIONS[step.action]
    outcome = StepResult(step.index, step.line, step.action, act.text(step.args), "failed")
    started = time.monotonic()
    try:
        args = _resolve(step, ctx)
        outcome.text = act.text(args)
    except StepFailed as exc:
        outcome.message = str(exc)
        return outcome
    reporter.step_started(scenario, step, outcome.text)
    ctx.previous_step_start, ctx.step_start = ctx.step_start, ctx.sb.last_event_id()
    timeout = float(args.pop("timeout", act.timeout))
    expect_error = args.pop("expect_error", None)
    box: dict[str, Any] = {}

    def work() -> None:
        try:
            box["detail"] = act.run(ctx, args, timeout)
        except BaseException as exc:  # noqa: BLE001 - handed to the scenario's thread
            box["error"] = exc

    worker = threading.Thread(target=work, name=f"scenario-step-{step.index}", daemon=True)
    worker.start()
    worker.join(timeout + GRACE_SECONDS)
    outcome.seconds = time.monotonic() - started
    if worker.is_alive():
        outcome.message = f"did not finish within {timeout:g}s (the step is abandoned)"
        return outcome
    error = box.get("error")
    if expect_error is not None:
        return _judge_refusal(outcome, error, expect_error)
    if error is None:
        outcome.status, outcome.detail = "passed", str(box.get("detail") or "")
    elif isinstance(error, StepFailed):
        outcome.message, outcome.expected, outcome.seen = str(error), error.expected, error.seen
    elif isinstance(error, TimeoutError):
        outcome.message = f"timed out: {error}"
    else:
        outcome.message = _error_text(error)
    return outcome


def _judge_refusal(outcome: StepResult, error: BaseException | None,
                   expected: str) -> StepResult:
    outcome.expected = f"refused with {expected!r}"
    if error is None:
        outcome.message = "the action succeeded, but the scenario expects it to be refused"
        outcome.seen = "no error"
    elif isinstance(error, StepFailed | TimeoutError):
        outcome.message, outcome.seen = str(error), getattr(error, "seen", "") or str(error)
    elif expected.lower() in str(error).lower():
        outcome.status, outcome.detail = "passed", f"refused: {_first_line(str(error))}"
    else:
        outcome.message = "refused, but for another reason"
        outcome.seen = _error_text(error)
    return outcome


def _error_text(error: BaseException) -> str:
    return _first_line(str(error)) or type(error).__name__


def _first_line(text: str) -> str:
    return next((ln.strip() for ln in text.splitlines() if ln.strip()), "")


def _recent_events(sb: Sandbox) -> list[str]:
    try:
        events = sb.events(after=max(0, sb.last_event_id() - RECENT_EVENTS))
    except Exception:  # noqa: BLE001 - context for a report; never the cause of a failure
        return []
    return [f"#{e.id} t+{e.sim:.1f}s {e.kind}: {e.message}" for e in events[-RECENT_EVENTS:]]
