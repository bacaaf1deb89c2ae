"""The ``robust-gates simulate`` command (SPEC algorithm 4 and GB): tables and figures on disk."""

from __future__ import annotations

import pandas as pd

from robust_gates.paper_repro.cli import main


def test_simulate_primal_dual_quick(tmp_path, capsys):
    """SPEC algorithm 4: ``simulate primal-dual --quick`` writes the trajectory, the summary and the
    figure, and the one-hot run certifies a gap below 1e-2 nats."""
    assert main(["simulate", "primal-dual", "--out", str(tmp_path), "--quick", "--no-progress"]) == 0
    for name in ("primal_dual_trajectory.csv", "primal_dual_summary.csv", "primal_dual.png"):
        assert (tmp_path / name).stat().st_size > 0
    summary = pd.read_csv(tmp_path / "primal_dual_summary.csv")
    assert summary.loc[summary.gate == "onehot", "final_gap"].iloc[0] <= 1e-2
    assert "certificate gap" in capsys.readouterr().out


def test_simulate_generalization_quick(tmp_path):
    """SPEC GB: ``simulate generalization --quick`` writes the per-trial table, the summaries and
    the figure; the reported bound coverage is at least 1 - delta."""
    assert main(["simulate", "generalization", "--out", str(tmp_path), "--quick", "--no-progress"]) == 0
    for name in ("generalization_trials.csv", "generalization_summary.csv", "generalization_crossings.csv",
                 "generalization_skewness.csv", "generalization.png"):
        assert (tmp_path / name).stat().st_size > 0
    trials = pd.read_csv(tmp_path / "generalization_trials.csv")
    summary = pd.read_csv(tmp_path / "generalization_summary.csv")
    delta = trials["delta"].iloc[0]
    assert (summary.dropna(subset=["coverage"]).coverage >= 1 - delta).all()


def test_simulate_bad_jobs_exits_2(tmp_path, capsys):
    """STYLE errors: a bad option is one line on stderr and exit status 2."""
    assert main(["simulate", "generalization", "--out", str(tmp_path), "--jobs", "0", "--quick"]) == 2
    assert "--jobs" in capsys.readouterr().err
