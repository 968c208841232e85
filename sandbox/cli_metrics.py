"""`gitops-sandbox metrics [TARGET] [--since D] [--pods] [--json]`: the samples the
engine keeps (sandbox/metrics.py), from any terminal."""

from __future__ import annotations

import argparse
from typing import Any

from .cli_common import dump, open_sandbox
from .cli_errors import CliError
from .cli_output import print_table


def _sim_time(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s"


def _num(value: Any, fmt: str) -> str:
    return "-" if value is None else fmt.format(value)


def cmd_metrics(args: argparse.Namespace) -> int:
    from .metrics import MetricsError, parse_duration

    sb = open_sandbox(args)
    try:
        rows = sb.metric_samples(args.target, parse_duration(args.since), pods=args.pods)
    except MetricsError as exc:
        raise CliError(str(exc)) from None
    if args.json:
        dump(rows)
        return 0
    if not rows:
        print("no samples yet: the engine samples the simulated cluster every "
              f"{sb.settings.metrics_interval_seconds:g}s of simulated time while it runs")
        return 0
    print_table(["SIM TIME", "TARGET", "RPS", "ERRORS", "P50", "P95", "P99", "CPU", "MEMORY"],
                [[_sim_time(r["sim"]), f"{r['kind']}/{r['namespace']}/{r['name']}",
                  _num(r["rps"], "{:.1f}"), _num(r["error_rate"], "{:.1%}"),
                  _num(r["p50_ms"], "{:.0f}ms"), _num(r["p95_ms"], "{:.0f}ms"),
                  _num(r["p99_ms"], "{:.0f}ms"), _num(r["cpu_m"], "{:.0f}m"),
                  _num(r["memory_mib"], "{:.0f}Mi")] for r in rows])
    return 0
