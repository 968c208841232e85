"""How the command line ends: one line on stderr and exit 1 for every error a user can
meet, never a traceback (GITOPS_SANDBOX_DEBUG=1 shows it); a closed pipe
(`gitops-sandbox events --json | head`) ends quietly, as kubectl and git do.

Error classes are looked up by module name, and only in modules already imported: an
error from a module nobody imported cannot have been raised, and the command line does
not have to import every subsystem up front to recognise their errors. A new error
type a user may meet belongs in KNOWN.
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Callable

from .safetext import shown

DEBUG_ENV = "GITOPS_SANDBOX_DEBUG"
EXIT_ERROR = 1
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE: what a shell reports for `kubectl get | head`

# (module, class): errors whose message is written for the user, printed as they are.
KNOWN: tuple[tuple[str, str], ...] = (
    ("sandbox.cli_errors", "CliError"),
    ("sandbox.facade_waits", "SandboxError"),
    ("sandbox.pullrequests", "PullRequestError"),
    ("sandbox.workspace", "WorkspaceError"),
    ("sandbox.cluster.base", "ClusterError"),
    ("sandbox.clusterops", "OperationError"),
    ("sandbox.gitutil", "GitError"),
    ("sandbox.hld.errors", "HldError"),
    ("sandbox.engine", "EngineError"),
    ("sandbox.registry", "RegistryError"),
    ("sandbox.scenario.model", "ScenarioFileError"),
)


class CliError(Exception):
    """A command refused its arguments or its situation; the message says what to do."""


def known_errors() -> tuple[type[BaseException], ...]:
    found = []
    for module, name in KNOWN:
        cls = getattr(sys.modules.get(module), name, None)
        if isinstance(cls, type) and issubclass(cls, BaseException):
            found.append(cls)
    return tuple(found)


def one_line(text: str) -> str:
    """Messages that span lines (git's stderr, several findings) joined into one, with
    control characters escaped: messages quote what users typed."""
    return shown("; ".join(line.strip() for line in str(text).splitlines() if line.strip()))


def message_for(exc: BaseException) -> str:
    """The line to print for an error, or "" when it is not one a user should meet."""
    import sqlite3

    if isinstance(exc, known_errors()):
        return f"error: {one_line(str(exc))}"
    if isinstance(exc, TimeoutError):
        return f"timed out: {one_line(str(exc))}"
    if isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc):
        return ("error: the workspace's database stayed busy (database is locked); "
                "try again in a moment")
    if isinstance(exc, sqlite3.DatabaseError):
        return (f"error: the workspace's database state.db cannot be read "
                f"({one_line(str(exc))}); check the workspace folder (-w), or move state.db "
                "aside and create the workspace anew with 'gitops-sandbox init --force' "
                "(its pull requests and history are then lost)")
    if isinstance(exc, PermissionError | FileNotFoundError | IsADirectoryError
                  | NotADirectoryError):
        where = f": {exc.filename}" if exc.filename else ""
        return f"error: {exc.strerror or type(exc).__name__}{where}"
    return ""


def _quiet_stdout() -> None:
    # Python flushes stdout again at exit; pointing it at /dev/null keeps that quiet.
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def _say(line: str) -> None:
    try:
        print(line, file=sys.stderr, flush=True)
    except (BrokenPipeError, OSError, ValueError):
        pass


def run(body: Callable[[], int]) -> int:
    """Run a command and turn whatever ends it into an exit code and at most one line."""
    debug = os.environ.get(DEBUG_ENV, "") not in ("", "0")
    try:
        code = body()
        sys.stdout.flush()  # inside the guard: a closed pipe is seen here, not at exit
        return code
    except BrokenPipeError:
        _quiet_stdout()
        return EXIT_BROKEN_PIPE
    except KeyboardInterrupt:
        _say("interrupted")
        return EXIT_INTERRUPTED
    except Exception as exc:  # noqa: BLE001 - the one place that decides what users see
        if debug:
            traceback.print_exc()
        line = message_for(exc)
        if not line:
            line = (f"gitops-sandbox: internal error: {type(exc).__name__}: "
                    f"{one_line(str(exc))[:300]} - this is a bug; please report it with the "
                    f"command you ran and the output of {DEBUG_ENV}=1 gitops-sandbox ...")
        _say(line)
        return EXIT_ERROR
