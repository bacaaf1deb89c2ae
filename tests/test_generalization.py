"""Tests of the generalization / sample-efficiency study (SPEC GB, paper §4.6)."""

from __future__ import annotations

import numpy as np
import pytest

from robust_gates.figures.fig_generalization import plot
from robust_gates.simulations.generalization import (
    crossing_point,
    crossings,
    draw_counts,
    exact_solve,
    fit_cells,
    fit_loglog_slope,
    gb_bound,
    gb_instance,
    generalization_study,
    mono_dro,
    mono_smoothed,
    nested_cells,
    skewness,
    summarize_generalization,
)
from robust_gates.theory import Box

#: certified accuracy of the exact solves compared here (nats)
VALUE_TOL = 1e-6
DELTA = 0.1


@pytest.fixture(scope="module")
def small():
    return gb_instance(np.random.default_rng(11), n=8)


@pytest.fixture(scope="module")
def study(small):
    return generalization_study(small, [40, 160, 640], seeds=10, ds=[1, 2, 8], delta=DELTA, seed=3,
                                progress=False)


def test_cell_program_with_singletons_is_the_exact_value(small):
    """SPEC GB (ERM exactness) and T1: the cell-gate convex program with one point per cell (the
    one-hot class, closure G_1) attains the exact value V of the robust game."""
    fit = fit_cells(small, np.arange(small.n))
    q, val = fit.model, fit.value
    assert fit.status == "optimal"
    V = exact_solve(small).value
    assert val == pytest.approx(V, abs=VALUE_TOL)
    assert small.worst_case(q)[0] == pytest.approx(V, abs=VALUE_TOL)


def test_cells_are_nested_and_class_values_decrease(small):
    """SPEC GB (gate complexity): the partitions for d and 2d are nested, so the class values
    V_1 >= V_2 >= V_4 >= V_8 = V."""
    vals = []
    for d in (1, 2, 4, 8):
        lab = nested_cells(small, d)
        assert set(lab) == set(range(d))
        if d > 1:
            coarse = nested_cells(small, d // 2)
            for c in range(d):
                assert len(set(coarse[lab == c])) == 1
        vals.append(fit_cells(small, lab).value)
    assert all(a >= b - VALUE_TOL for a, b in zip(vals[:-1], vals[1:], strict=True))


def test_bound_holds_in_at_least_one_minus_delta_of_trials(study):
    """SPEC GB: the stated high-probability bound (Rademacher + skewness terms) holds for the
    empirical robust gate of every class in at least 1 - delta of the trials."""
    mod = study[study.method.str.startswith("modular")]
    assert len(mod) == 3 * 3 * 10
    coverage = mod.under_bound.astype(float).mean()
    assert coverage >= 1 - DELTA
    assert (mod.gap >= -1e-7).all()  # an envelope model never beats V


def test_bound_scales_as_inverse_sqrt_m_and_with_skewness(small):
    """SPEC GB: with proportions fixed every term of the bound is proportional to M^(-1/2)
    (quadrupling M halves it), and a skewed allocation gives a larger skewness term."""
    m = np.array([30, 30, 30])
    b1, b4 = gb_bound(small, m, DELTA), gb_bound(small, 4 * m, DELTA)
    assert b4.bound / b1.bound == pytest.approx(0.5, rel=1e-12)
    skew = gb_bound(small, np.array([80, 5, 5]), DELTA)
    assert skew.s_max > b1.s_max
    with pytest.raises(ValueError, match="delta"):
        gb_bound(small, m, 1.5)


def test_skewness_closed_forms():
    """SPEC GB: s(lam || m_bar) = sum lam_k^2 / m_bar_k; s(p || p) = 1, s(e_k || p) = 1 / p_k."""
    p = np.array([0.5, 0.3, 0.2])
    assert skewness(p, p) == pytest.approx(1.0, abs=1e-15)
    assert skewness(np.array([0.0, 0.0, 1.0]), p) == pytest.approx(5.0, abs=1e-12)


def test_gap_shrinks_with_samples(study):
    """SPEC GB: the mean population gap of the one-hot empirical robust gate falls as M grows, with
    a negative log-log slope."""
    g = study[study.method == "modular-d8"].groupby("M").gap.mean()
    assert g.iloc[-1] < g.iloc[0]
    assert fit_loglog_slope(g.index, g.values) < -0.2


def test_monolithic_dro_is_robust_on_its_own_game(small):
    """SPEC MB / LF on the smoothed empirical game: the DRO model's worst case on that game is at
    most the smoothed pooled distribution's."""
    rng = np.random.default_rng(0)
    counts = draw_counts(small, np.array([20, 20, 20]), rng)
    Dt = (counts + 0.5) / (counts + 0.5).sum(axis=1, keepdims=True)
    from robust_gates.theory import RobustProblem

    game = RobustProblem(Dt, Dt, small.Lambda, payoff="cross_entropy")
    assert game.worst_case(mono_dro(small, counts))[0] <= game.worst_case(mono_smoothed(counts))[0] + 1e-9


def test_summaries_and_crossing_helpers(study):
    """SPEC GB reporting: slopes of exact power laws, crossings of known curves, and the study
    summaries have one row per method / per (modular, monolithic) pair."""
    M = np.array([10.0, 100.0, 1000.0])
    assert fit_loglog_slope(M, 3 * M**-0.5) == pytest.approx(-0.5, abs=1e-12)
    assert crossing_point(M, [1.0, 1.0, 1.0], [3.0, 1.0, 0.5]) == pytest.approx(100.0)
    assert np.isnan(crossing_point(M, [1.0, 1.0, 1.0], [3.0, 2.0, 1.5]))
    summ = summarize_generalization(study)
    assert set(summ.method) == set(study.method)
    cross = crossings(study)
    assert len(cross) == 3 * 2


def test_bad_proportions_raise(small):
    """STYLE errors: sampling proportions must be K positive numbers summing to 1."""
    with pytest.raises(ValueError, match="proportions"):
        generalization_study(small, [10], seeds=1, proportions=[0.5, 0.5], progress=False)


def test_polytope_lambda_runs():
    """SPEC GB with a non-simplex Lambda (vertices enumerated): the study runs and the bound uses
    the vertices of the box."""
    prob = gb_instance(np.random.default_rng(2), n=6, Lambda=Box([0.2] * 3, [0.5] * 3))
    df = generalization_study(prob, [60], seeds=2, ds=[6], seed=0, progress=False)
    assert (df[df.method == "modular-d6"].under_bound).all()


def test_figure_lines_and_labels(study):
    """Figure for SPEC GB: labelled axes in nats; the left panel has one line per method plus the
    M^(-1/2) reference, the right one an excess and a bound line per modular class."""
    fig = plot(study)
    left, right = fig.axes[:2]
    assert "nats" in left.get_ylabel() and "nats" in right.get_ylabel()
    assert left.get_xlabel() and right.get_xlabel()
    n_methods = study.method.nunique()
    n_mod = study[study.method.str.startswith("modular")].method.nunique()
    assert len(left.get_lines()) == n_methods + 1
    assert len(right.get_lines()) == 2 * n_mod
