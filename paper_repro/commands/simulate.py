"""``robust-gates simulate primal-dual|generalization --out DIR``: run a simulation study and write
its tables (CSV) and figure (PNG).

``primal-dual`` (SPEC algorithm 4): the stochastic primal-dual method on a finite instance with the
one-hot and the log-likelihood gate, against the exact solver; writes
``primal_dual_trajectory.csv``, ``primal_dual_summary.csv`` and ``primal_dual.png``.
``generalization`` (SPEC GB): the empirical robust gate against the sample size, gate complexity
and skewness, with monolithic baselines; writes ``generalization_trials.csv``,
``generalization_summary.csv``, ``generalization_skewness.csv``, ``generalization_crossings.csv``
and ``generalization.png``. Each figure's table goes through the figure registry
(:func:`robust_gates.figures.store_table`), which stores its configuration beside it, so a later
``draw_all`` on the same folder redraws it without running the study again.
"""

from __future__ import annotations

import argparse
from pathlib import Path

NAME = "simulate"
HELP = "run a simulation study (primal-dual | generalization) and write its tables and figure"


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("study", choices=["primal-dual", "generalization"], help="which study to run")
    p.add_argument("--out", required=True, help="output folder for the CSV tables and the figure")
    p.add_argument("--quick", action="store_true", help="a small configuration (seconds)")
    p.add_argument("--seed", type=int, default=0, help="master seed (default 0)")
    p.add_argument("--jobs", type=int, default=1, help="parallel workers for the generalization sweep")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bars")


def _primal_dual(out: Path, quick: bool, seed: int, progress: bool) -> list[Path]:
    from robust_gates.figures.registry import draw_figure, store_table
    from robust_gates.simulations.primal_dual import default_study

    study = default_study(quick=quick, seed=seed, progress=progress)
    paths = [store_table("primal_dual", study.trajectory, out, quick=quick, seed=seed),
             out / "primal_dual_summary.csv"]
    study.summary.to_csv(paths[1], index=False)
    paths += draw_figure("primal_dual", out, out)
    for r in study.summary.itertuples():
        print(f"{r.gate:7s} gate: certificate gap {r.final_gap:.2e} nats after {r.rounds} rounds "
              f"(slope {r.gap_slope:.2f}), excess over the {r.reference_kind} reference "
              f"{r.final_excess:.2e}, |lam - lam*| {r.lam_error:.3f}, normalization error {r.norm_error:.1e}")
    return paths


def _generalization(out: Path, quick: bool, seed: int, progress: bool, jobs: int) -> list[Path]:
    from robust_gates.figures.registry import draw_figure, store_table
    from robust_gates.simulations.generalization import default_study

    study = default_study(quick=quick, seed=seed, jobs=jobs, progress=progress)
    paths = [store_table("generalization", study.trials, out, quick=quick, seed=seed)]
    for name in ("summary", "crossings", "skewness"):
        paths.append(out / f"generalization_{name}.csv")
        getattr(study, name).to_csv(paths[-1], index=False)
    paths += draw_figure("generalization", out, out)
    print(study.summary.to_string(index=False))
    print(study.crossings.to_string(index=False))
    print(study.skewness.groupby(["proportions", "s_lam_star"], as_index=False)["gap"].mean()
          .to_string(index=False))
    return paths


def run(args: argparse.Namespace) -> int:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    progress = not args.no_progress
    if args.study == "primal-dual":
        paths = _primal_dual(out, args.quick, args.seed, progress)
    else:
        if args.jobs < 1:
            raise ValueError(f"--jobs must be at least 1; got {args.jobs}")
        paths = _generalization(out, args.quick, args.seed, progress, args.jobs)
    for p in paths:
        print(f"wrote {p}")
    return 0
