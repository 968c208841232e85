"""`make bench`: every benchmark, each printing its ratio against its anchor."""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from . import apiserver, badinput, bounds, generate, loop, persist, reconcile, sim, startup
from .common import hermetic_env

SECTIONS = {"startup": startup.run, "loop": loop.run, "generate": generate.run,
            "reconcile": reconcile.run, "sim": sim.run, "persist": persist.run,
            "badinput": badinput.run, "bounds": bounds.run, "apiserver": apiserver.run}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("sections", nargs="*", choices=[*SECTIONS, []], default=[],
                        help="which benchmarks (default: all)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-home-") as home:
        hermetic_env(Path(home))
        for name in args.sections or list(SECTIONS):
            print(f"== {name}", flush=True)
            SECTIONS[name]()
            print()


if __name__ == "__main__":
    main()
