"""``robust-gates report``: regenerate the checks summary, every figure and the report."""

from __future__ import annotations

import argparse
from pathlib import Path

NAME = "report"
HELP = "run the checks and cheap simulations, draw every figure, write OUT/index.html and report.md"


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--quick", action="store_true", help="few instances and small grids (< 2 min)")
    p.add_argument("--out", default="report", help="output folder (default: ./report)")
    p.add_argument("--seed", type=int, default=0, help="seed of every random draw (default 0)")
    p.add_argument("--jobs", type=int, default=1, help="parallel jobs for the checks (joblib)")
    p.add_argument("--instances", type=int, default=None,
                   help="instances per statement (default 25 with --quick, else 200)")
    p.add_argument("--pdf", action="store_true", help="also write PDF figures")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")


def run(args: argparse.Namespace) -> int:
    from ..report import ReportConfig, build_report

    cfg = ReportConfig(out=Path(args.out), quick=args.quick, seed=args.seed, jobs=args.jobs,
                       pdf=args.pdf, instances=args.instances, progress=not args.no_progress)
    index = build_report(cfg)
    print(f"wrote {index} and {index.parent / 'report.md'}")
    return 0
