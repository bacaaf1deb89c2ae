"""Figure 5 as a study (`robust-gates repro fig5-study`, paper Figure 5, SPEC DH / SD / algorithm 4):
the conflict generator's ``c``, the gate that knows ``lam`` (exact posterior), the matched and
robust monolithic baselines, the bootstrap and crossing statistics, partial runs that say so and
resume to the same tables, the CLI and the figure drawn from the shipped table."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

torch = pytest.importorskip("torch")

from robust_gates.figures import FIGURES  # noqa: E402
from robust_gates.paper_repro.cli import main as cli_main  # noqa: E402
from robust_gates.paper_repro.neural import data as D  # noqa: E402
from robust_gates.paper_repro.neural import fig5_study as S  # noqa: E402
from robust_gates.paper_repro.neural.model import MLPStack  # noqa: E402
from robust_gates.paper_repro.neural.train import train_stack  # noqa: E402

SHIPPED = Path(S.__file__).resolve().parent / "results"
METHODS = {("robust_gate", "modular"), ("known_lam_gate", "modular"), ("bayes", "exact"),
           ("robust_mono", "matched")} | {(m, s) for m in ("fixed", "oracle") for s in S.SIZES}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return S.main(S.TINY, tmp_path_factory.mktemp("study") / "full", progress=False)


def test_tiny_study_tables(tiny):
    """Every cell holds every method at every lam; the summary says complete; the intervals
    contain their means and come with the number of task seeds behind them."""
    cfg = S.TINY
    t = tiny.table
    n_cells = len(S.cells(cfg))
    assert tiny.summary["complete"] and tiny.summary["cells_done"] == tiny.summary["cells_total"] == n_cells
    assert set(zip(t.method, t["size"], strict=True)) == METHODS
    assert len(t) == n_cells * len(METHODS) * len(cfg.lams)
    assert np.isfinite(t[["loss", "excess", "loss_d1", "loss_d2"]].to_numpy()).all()
    ci = tiny.intervals
    quantities = {"excess", "gap", "gap_worst", "interference", "cos_late", "cos_traj", "crossing"}
    assert quantities <= set(ci.quantity)
    assert ((ci.lo <= ci["mean"] + 1e-12) & (ci["mean"] <= ci.hi + 1e-12)).all()
    assert ci.n_tasks.max() == cfg.task_seeds and ci.n_tasks.min() >= 1
    assert (ci[ci.quantity == "crossing"]["mean"].between(0, 0.5)).all()
    # the gap is the loss minus the robust gate's loss, cell by cell
    k = ["c", "T", "task_seed", "init_seed", "lam"]
    g = t[t.method == "robust_gate"].set_index(k).loss
    f = t[(t.method == "fixed") & (t["size"] == "smaller")].set_index(k).loss
    mean_gap = (f - g).groupby(level=["c", "T", "lam"]).mean()
    row = ci[(ci.quantity == "gap") & (ci.method == "fixed") & (ci["size"] == "smaller")]
    row = row.set_index(["c", "T", "lam"])
    assert np.allclose(row["mean"].sort_index(), mean_gap.sort_index(), atol=1e-12)
    assert Path(tiny.paths["figure"]).stat().st_size > 5000
    cos = tiny.cosine
    assert cos.cos.between(-1, 1).all()
    per_model = cos[cos.step >= 0].groupby(["c", "T", "task_seed", "size", "lam", "method"]).size()
    assert set(per_model) == {cfg.cos_bins}


def test_matched_model_has_the_modular_parameters_and_compute(tiny):
    """'Matched' = the modular system's total parameters (within 1.5%) and training compute
    (parameters x sequences per step x steps), in every shipped configuration."""
    for cfg in (S.FULL, S.QUICK, S.TINY):
        p = S._params(cfg)
        assert abs(p["matched"] - p["modular_total"]) <= 0.015 * p["modular_total"], cfg.name
        assert p["larger"] > p["modular_total"] > p["smaller"]
    t = tiny.table
    comp = t.groupby(["method", "size"]).compute.first()
    assert comp[("robust_mono", "matched")] == comp[("fixed", "matched")]
    ratio = comp[("fixed", "matched")] / comp[("robust_gate", "modular")]
    p = S._params(S.TINY)
    assert ratio == pytest.approx(p["matched"] / (2 * p["smaller"]))


def test_conflict_means_conflicting_rules_and_is_nested():
    """c is the exact fraction of contexts where the two rules differ (c = 0: same rules); for
    one task seed the conflicting contexts grow with c (paired sweep) and f_1 stays the same."""
    masks = []
    for c in (0.0, 0.25, 0.5, 1.0):
        task = S._task(S.FULL, c, 16, 3)
        diff = task.rules[0] != task.rules[1]
        assert diff.mean() == pytest.approx(c, abs=1 / 512) and task.conflict == pytest.approx(c, abs=1 / 512)
        masks.append(diff)
        assert np.array_equal(task.rules[0], S._task(S.FULL, 1.0, 16, 3).rules[0])
    assert not masks[0].any()
    for a, b in zip(masks, masks[1:], strict=False):
        assert not (a & ~b).any()
    assert not np.array_equal(S._task(S.FULL, 1.0, 16, 3).rules, S._task(S.FULL, 1.0, 16, 4).rules)


def test_known_lam_gate_with_true_experts_is_the_bayes_mixture():
    """SPEC SD: the constant gate knowing lam over exact experts scores exactly the Bayes sequence
    mixture lam P_1 + (1 - lam) P_2 (the row bayes/exact)."""
    task = S._task(S.TINY, 0.5, 12, 0)
    tests = S._heldout(task, 0, 300, 5)
    logp = [torch.from_numpy(D.log_likelihood(task, x)).permute(1, 2, 0) for x in tests]
    for lam in (0.0, 0.3, 0.5, 1.0):
        assert np.allclose(S.known_lam_gate_ce(logp, lam, torch), S._bayes_ce(task, tests, lam), atol=1e-10)


def test_robust_member_ascends_on_the_worse_domain():
    """Algorithm 4 on a monolithic model: the robust member's lam moves by projected ascent on
    the batch losses (sign of ce_1 - ce_2, clipped to [0, 1]); the other members keep theirs."""
    task = S._task(S.TINY, 1.0, 10, 0)
    stack = MLPStack(2, S.TINY.smaller, task.vocab, 8, torch.Generator().manual_seed(0))
    log = train_stack(stack, np.array([0.5, 0.5]), task, steps=25, batch=8, lr=0.03,
                      rng=np.random.default_rng(0), robust=np.array([False, True]), lam_step=0.5)
    assert (log["lam"][:, 0] == 0.5).all() and log["lam_bar"][0] == 0.5
    lam, ce = log["lam"][:, 1], log["train_ce"][:, 1]
    expected = np.clip(lam[:-1] + 0.5 / np.sqrt(np.arange(1, 25)) * (ce[:-1, 0] - ce[:-1, 1]) / 2, 0, 1)
    assert np.allclose(lam[1:], expected, atol=1e-12)
    assert 0 <= log["lam_bar"][1] <= 1 and np.ptp(lam) > 0


def test_bootstrap_and_crossing_statistics():
    """The bootstrap is deterministic and degenerate for one task seed; the crossing distance
    is 0 when the oracle loses at the vertices, 0.5 when it wins everywhere, and interpolated."""
    assert S.bootstrap([0.2], 100) == (0.2, 0.2, 0.2)
    a = S.bootstrap([0.0, 1.0, 2.0, 3.0], 500, seed=4)
    assert a == S.bootstrap([0.0, 1.0, 2.0, 3.0], 500, seed=4)
    assert a[0] == 1.5 and 0 <= a[1] < 1.5 < a[2] <= 3
    lams = np.array([0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0])
    assert S.crossing_distance(lams, np.full(7, 1.0)) == 0.0
    assert S.crossing_distance(lams, np.full(7, -1.0)) == 0.5
    diff = np.abs(lams - 0.5) * -1 + 0.3  # oracle - gate: -0.2 at the vertices, crosses at 0.3 / 0.7
    assert S.crossing_distance(lams, diff) == pytest.approx(0.2)


def test_partial_run_says_so_and_resumes_to_the_same_tables(tiny, tmp_path):
    """A run stopped after two cells ships tables marked partial; continuing it restores those
    cells from their checkpoints and ends with exactly the uninterrupted run's table."""
    part = S.main(S.with_overrides(S.TINY, max_cells=2), tmp_path, progress=False, draw=False)
    s = part.summary
    assert not s["complete"] and s["cells_done"] == 2 and s["cells_total"] == len(S.cells(S.TINY))
    assert s["run"]["overrides"] == {"max_cells": 2} and "max_cells=2" in s["run"]["label"]
    assert part.table.groupby(["c", "T", "task_seed", "init_seed"]).ngroups == 2
    assert s["estimated_cpu_hours_left"] > 0 and s["estimated_wall_hours_left"] > 0
    rest = S.main(S.TINY, tmp_path, progress=False, draw=False)
    assert rest.summary["complete"]
    first_two = {S.cells(S.TINY)[0].stage, S.cells(S.TINY)[1].stage}
    assert {"tune"} | first_two == set(rest.summary["restored_checkpoints"])
    pd.testing.assert_frame_equal(rest.table, tiny.table)


def test_cli_study_and_bad_input(tmp_path, capsys):
    """`repro fig5-study --tiny` runs end to end; bad flags exit 2 with one line; a tiny run is
    never shipped without --force."""
    out = tmp_path / "cli"
    args = ["repro", "fig5-study", "--tiny", "--out", str(out), "--no-progress"]
    assert cli_main([*args, "--max-cells", "3"]) == 0
    text = capsys.readouterr().out
    assert "cells done: 3 / 5 (PARTIAL)" in text and "learning rates" in text
    for bad in (["--max-cells", "-1"], ["--seeds", "2"], ["--update-shipped"]):
        assert cli_main(["repro", "fig5-study", "--tiny", "--out", str(out), *bad]) == 2
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert cli_main(["repro", "fig5", "--tiny", "--max-cells", "2"]) == 2
    capsys.readouterr()
    assert cli_main(["repro", "fig5-study", "--tiny", "--out", str(out), "--no-progress", "--ship"]) == 2
    assert "refusing to ship" in capsys.readouterr().err


def test_figure_from_the_study_table(tiny):
    """The figure module draws the intervals table (no torch): one loss panel per c plus the
    four summary panels."""
    fig = FIGURES["fig5_study"].plot(tiny.intervals)
    visible = [ax for ax in fig.axes if ax.axison]
    assert len(visible) == len(S.TINY.conflicts) + 4
    assert "nats" in visible[0].get_ylabel()


@pytest.mark.skipif(not (SHIPPED / S.SUMMARY_FILE).exists(), reason="no shipped study yet")
def test_shipped_study_is_consistent():
    """The shipped study's summary agrees with its tables: cells_done = the cells in the table,
    complete only when every cell is there, and every interval's n_tasks within the config."""
    info = json.loads((SHIPPED / S.SUMMARY_FILE).read_text())
    t = pd.read_csv(SHIPPED / S.TABLE_FILE)
    ci = pd.read_csv(SHIPPED / S.INTERVALS_FILE)
    assert info["run"]["config"] == "full" and info["seed"] == 0
    assert t.groupby(["c", "T", "task_seed", "init_seed"]).ngroups == info["cells_done"]
    assert info["complete"] == (info["cells_done"] == info["cells_total"] == len(S.cells(S.FULL)))
    assert ci.n_tasks.max() <= info["config"]["task_seeds"]
    assert set(info["tune"]["lr"].values()) <= set(info["config"]["lr_grid"])
    fig = FIGURES["fig5_study"].plot(ci)
    assert len(fig.axes) == 8


def test_findings_text_and_decoupling(tiny):
    """The findings text quotes the intervals table (the gap at lam = 0.5 for every c) and the
    summary's decoupling correlations, which are correlations (in [-1, 1])."""
    text = S.shipped_findings(tiny.out_dir)
    assert text.startswith("Figure 5 study (complete;")
    ci = tiny.intervals
    r = ci[(ci.quantity == "gap") & (ci.method == "fixed") & (ci["size"] == "matched") & (ci.lam == 0.5)
           & (ci.c == 1.0) & (ci["T"] == S.TINY.seq_len)].iloc[0]
    assert f"{r['mean']:+.3f} [{r['lo']:+.3f}, {r['hi']:+.3f}]" in text
    for size in S.SIZES:
        d = tiny.summary["decoupling"][size]
        assert -1 <= d["pearson_cos_late_vs_gap"] <= 1 and d["points"] == 2 * len(S.TINY.conflicts)
