"""`make bench`: every benchmark, each printing its ratio against its anchor."""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from . import (
    apiserver,
    badinput,
    bounds,
    checks,
    generate,
    idle,
    ladder,
    loop,
    merges,
    metrics,
    mixed,
    persist,
    reconcile,
    scale,
    sim,
    snapshot,
    startup,
    tui,
)
from .common import hermetic_env

SECTIONS = {"startup": startup.run, "loop": loop.run, "generate": generate.run,
            "reconcile": reconcile.run, "sim": sim.run, "persist": persist.run,
            "badinput": badinput.run, "bounds": bounds.run,
            "checks": checks.run, "tui": tui.run, "metrics": metrics.run,
            "scale": scale.run, "idle": idle.run, "mixed": mixed.run,
            "snapshot": snapshot.run}
# Sections with a smaller `--quick` form (CI): the ladder at 1,000 services only, the
# drift trend over fewer merges, the API server's watchers held seconds, not a minute.
QUICK_SECTIONS = {"ladder": ladder.run, "merges": merges.run, "apiserver": apiserver.run}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("sections", nargs="*", choices=[*SECTIONS, *QUICK_SECTIONS, []],
                        default=[], help="which benchmarks (default: all)")
    parser.add_argument("--quick", action="store_true",
                        help="the CI form: ladder at 1,000 services only, fewer merges")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-home-") as home:
        hermetic_env(Path(home))
        for name in args.sections or [*SECTIONS, *QUICK_SECTIONS]:
            print(f"== {name}", flush=True)
            if name in QUICK_SECTIONS:
                QUICK_SECTIONS[name](quick=args.quick)
            else:
                SECTIONS[name]()
            print()


if __name__ == "__main__":
    main()
