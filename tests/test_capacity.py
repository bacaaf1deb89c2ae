"""Blahut-Arimoto (SPEC algorithm 3) against closed-form channel capacities (nats)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import minimize_scalar

from robust_gates.simulations.examples import binary_entropy
from robust_gates.theory import RobustProblem, SolverError, capacity, jensen_shannon, solve_fast

#: Blahut-Arimoto stopping tolerance (upper - lower bound)
BA_TOL = 1e-12
#: agreement with a closed form: the bounds bracket C, so |C_hat - C| <= BA_TOL (+ rounding)
CLOSED_FORM_TOL = 1e-11


def _check(res, expected):
    assert res.lower <= res.upper
    assert res.upper - res.lower <= BA_TOL
    assert res.lower - 1e-13 <= expected <= res.upper + 1e-13
    assert abs(res.capacity - expected) <= CLOSED_FORM_TOL
    assert abs(res.lam.sum() - 1) <= 1e-12 and res.lam.min() >= 0


@pytest.mark.parametrize("p", [0.0, 0.05, 0.1, 0.25, 0.4, 0.5])
def test_binary_symmetric_channel(p):
    """SPEC T3: C(BSC_p) = log 2 - H_b(p), uniform input."""
    D = np.array([[1 - p, p], [p, 1 - p]])
    res = capacity(D, tol=BA_TOL)
    _check(res, np.log(2) - binary_entropy(p))
    assert np.max(np.abs(res.lam - 0.5)) <= 1e-9


@pytest.mark.parametrize("e", [0.0, 0.1, 0.3, 0.7, 0.95])
def test_binary_erasure_channel(e):
    """SPEC T3: C(BEC_e) = (1 - e) log 2."""
    D = np.array([[1 - e, e, 0.0], [0.0, e, 1 - e]])
    _check(capacity(D, tol=BA_TOL), (1 - e) * np.log(2))


def _z_capacity(p: float) -> float:
    """Z channel (input 0 -> 0 surely; input 1 -> 0 w.p. p, -> 1 w.p. 1 - p):
    C = log(1 + (1 - p) p^(p / (1 - p))) nats."""
    return float(np.log1p((1 - p) * p ** (p / (1 - p))))


@pytest.mark.parametrize("p", [0.01, 0.1, 0.3, 0.5, 0.8])
def test_z_channel(p):
    """SPEC T3: the Z channel's closed form, itself checked against a direct 1-D maximization
    of the mutual information I(lam) = JS_lam(D)."""
    D = np.array([[1.0, 0.0], [p, 1 - p]])
    mi = lambda a: -jensen_shannon(np.array([1 - a, a]), D)  # noqa: E731
    direct = -minimize_scalar(mi, bounds=(0.0, 1.0), method="bounded",
                              options={"xatol": 1e-12}).fun
    assert abs(direct - _z_capacity(p)) <= 1e-10
    _check(capacity(D, tol=BA_TOL), _z_capacity(p))


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**31), n=st.integers(2, 7))
def test_symmetric_channels(seed, n):
    """SPEC T3: a circulant (symmetric) channel has C = log n - H(row), uniform input."""
    rng = np.random.default_rng(seed)
    row = rng.dirichlet(np.ones(n))
    D = np.array([np.roll(row, k) for k in range(n)])
    entropy_row = -np.sum(row[row > 0] * np.log(row[row > 0]))
    _check(capacity(D, tol=BA_TOL), np.log(n) - entropy_row)


@pytest.mark.parametrize("K, width", [(2, 1), (3, 2), (5, 3)])
def test_disjoint_supports(K, width):
    """SPEC SC: C(D) <= log K with equality for disjoint supports."""
    D = np.kron(np.eye(K), np.full((1, width), 1.0 / width))
    _check(capacity(D, tol=BA_TOL), np.log(K))


def test_identical_rows_have_zero_capacity():
    """SPEC T3: identical domains carry no information, C = 0."""
    d = np.array([0.2, 0.3, 0.5])
    _check(capacity(np.vstack([d, d, d]), tol=BA_TOL), 0.0)


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 2**31), K=st.integers(2, 4))
def test_capacity_equals_fast_value_with_perfect_experts(seed, K):
    """SPEC T3/LF: V(Delta_K) = C(D) when P = D (fast solver vs Blahut-Arimoto)."""
    rng = np.random.default_rng(seed)
    n = K + 2
    D = 0.4 * rng.dirichlet(np.ones(n), size=K) + 0.6 * np.eye(K, n)
    cap = capacity(D, tol=1e-11, max_iter=200_000)
    fast = solve_fast(RobustProblem(D), tol=1e-10)
    assert abs(cap.capacity - fast.value) <= 1e-10 + 1e-11


def test_errors():
    """Bad input names the problem; unreached tolerance raises instead of returning."""
    with pytest.raises(ValueError, match="row 0 of D sums to"):
        capacity(np.array([[0.5, 0.6], [0.5, 0.5]]))
    with pytest.raises(ValueError, match="tol must be a positive number"):
        capacity(np.eye(2), tol=0.0)
    with pytest.raises(SolverError, match="after max_iter = 2"):
        capacity(np.array([[1.0, 0.0], [0.3, 0.7]]), tol=1e-14, max_iter=2)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**31), K=st.integers(2, 12), n=st.integers(2, 30))
def test_accelerated_and_plain_bracket_the_same_capacity(seed, K, n):
    """SPEC algorithm 3: squared extrapolation and plain Blahut-Arimoto both stop with bounds
    (recomputed term by term with ``rel_entr``) ``tol`` apart, so their intervals intersect."""
    rng = np.random.default_rng(seed)
    D = rng.dirichlet(np.full(n, 0.5), size=K)
    fast = capacity(D, tol=1e-10, max_iter=500_000)
    plain = capacity(D, tol=1e-10, max_iter=500_000, accelerate=False)
    for res in (fast, plain):
        assert res.lower <= res.upper <= res.lower + 1e-10
        assert abs(res.lam.sum() - 1) <= 1e-12 and res.lam.min() >= 0
    assert fast.lower <= plain.upper + 1e-13 and plain.lower <= fast.upper + 1e-13


def test_acceleration_saves_evaluations():
    """SPEC algorithm 3 cost: on a K = 32, n = 2000 Dirichlet channel the extrapolated map needs
    at most a fifth of plain Blahut-Arimoto's evaluations to the same tol (work, not time)."""
    D = np.random.default_rng(5).dirichlet(np.full(2000, 0.5), size=32)
    fast = capacity(D, tol=1e-9, polish=False)
    plain = capacity(D, tol=1e-9, accelerate=False)
    assert 5 * fast.iterations <= plain.iterations
    assert abs(fast.capacity - plain.capacity) <= 1e-9


def _channel(kind: str, rng: np.random.Generator, K: int, n: int) -> np.ndarray:
    """Channels on which plain Blahut-Arimoto is slow: optimal inputs with zeros."""
    if kind == "mixtures":  # rows are mixtures of 3 base rows: rank 3, the maximizer not unique
        return rng.dirichlet(np.ones(3), size=K) @ rng.dirichlet(np.full(n, 0.3), size=3)
    if kind == "sparse":  # many exact zeros: weights that must enter from far below
        D = rng.dirichlet(np.full(n, 0.3), size=K)
        D[rng.random(D.shape) < 0.5] = 0.0
        D[:, 0] += D.sum(axis=1) == 0
        return D / D.sum(axis=1, keepdims=True)
    if kind == "wide":  # more inputs than outputs: at most n weights are positive
        return rng.dirichlet(np.full(n, 0.5), size=K)
    return rng.dirichlet(np.full(n, 5.0), size=K)  # "smooth": nearly equal rows


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**31), K=st.integers(2, 20), n=st.integers(2, 25),
       kind=st.sampled_from(["mixtures", "sparse", "wide", "smooth"]))
def test_newton_polish_certifies_in_few_evaluations(seed, K, n, kind):
    """SPEC algorithm 3 with the Newton polish: on channels whose optimal input has zeros (or is
    not unique) it stops with bounds 1e-11 apart within 60 evaluations, and its interval meets
    the squared-extrapolation run's (a different path to the same capacity)."""
    rng = np.random.default_rng(seed)
    D = _channel(kind, rng, K if kind != "wide" else max(K, n + 1), n)
    res = capacity(D, tol=1e-11, max_iter=60)
    assert res.lower <= res.upper <= res.lower + 1e-11
    assert abs(res.lam.sum() - 1) <= 1e-12 and res.lam.min() >= 0
    ref = capacity(D, tol=1e-8, max_iter=500_000, polish=False)
    assert res.lower <= ref.upper + 1e-13 and ref.lower <= res.upper + 1e-13


def test_newton_polish_at_scale_matches_the_fast_solver():
    """SPEC T3/LF at K = 32, n = 1000 on a rank-8 channel (8 of 32 weights at most are needed):
    the polished capacity certifies 1e-12 within 40 evaluations, squared extrapolation alone does
    not reach 1e-9 in ten times as many, and the value agrees with the fast solver's."""
    rng = np.random.default_rng(11)
    D = rng.dirichlet(np.ones(8), size=32) @ rng.dirichlet(np.full(1000, 0.5), size=8)
    res = capacity(D, tol=1e-12)
    assert res.upper - res.lower <= 1e-12 and res.iterations <= 40
    with pytest.raises(SolverError):  # squared extrapolation alone: not even 1e-9 in 10x as many
        capacity(D, tol=1e-9, polish=False, max_iter=10 * res.iterations)
    assert np.sum(res.lam > 1e-9) <= 8
    fast = solve_fast(RobustProblem(D), tol=1e-10)
    assert abs(res.capacity - fast.value) <= 1e-10 + 1e-12


def test_dit_blahut_arimoto_lies_inside_its_own_tolerance():
    """The peer library's Blahut-Arimoto (``dit``, bench extra) lands within its tolerance of the
    certified bracket, in nats (it reports bits); skipped when dit is not installed."""
    pytest.importorskip("dit")
    from dit.algorithms.channelcapacity import channel_capacity

    D = np.random.default_rng(2).dirichlet(np.full(40, 0.5), size=8)
    res = capacity(D, tol=1e-12)
    bits, lam = channel_capacity(D)
    nats = bits * np.log(2)
    assert nats <= res.upper + 1e-12
    assert res.lower - nats <= 1e-5
    assert np.max(np.abs(lam - res.lam)) <= 1e-2


def test_bench_capacity_vs_dit_rows(monkeypatch):
    """Issue 17 bench: the dit row measures dit's error against the certified capacity and times
    ours at that tolerance (our certified bracket no wider than dit's error); without dit the row
    says it was skipped instead of failing."""
    pytest.importorskip("dit")
    from robust_gates.simulations.bench_scale import capacity_vs_dit, dit_table

    row = capacity_vs_dit([(6, 300)], repeats=1).iloc[0]
    assert row["status"] == "ok" and row["ratio"] > 0
    assert row["gap"] <= row["tol"] and row["tol"] >= row["dit_error"]
    assert abs(row["value"] - row["certified"]) <= row["tol"]
    assert abs(row["dit_value"] - row["certified"]) <= row["dit_error"] + 1e-12
    monkeypatch.setitem(__import__("sys").modules, "dit.algorithms.channelcapacity", None)
    skipped = capacity_vs_dit([(6, 300)])
    assert skipped["status"].iloc[0].startswith("skipped: dit not installed")
    assert "ratio" not in dit_table(skipped).columns


def test_bench_json_has_the_dit_rows(capsys):
    """Issue 17 bench CLI: ``--json`` prints every row as JSON on stdout (the tables go to
    stderr), the capacity-vs-dit rows included with both values."""
    pytest.importorskip("dit")
    import json

    from robust_gates.paper_repro.cli import main

    assert main(["bench", "--compare", "4x200", "--sizes", "2000", "--passes", "4x200", "--large-k",
                 "none", "--capacity", "4x200", "--dit", "4x100", "--sweep", "0", "--json"]) == 0
    captured = capsys.readouterr()
    rows = json.loads(captured.out)
    dit_rows = [r for r in rows if r["part"] == "capacity_dit"]
    assert len(dit_rows) == 1 and dit_rows[0]["status"] == "ok" and dit_rows[0]["ratio"] > 0
    assert abs(dit_rows[0]["value"] - dit_rows[0]["certified"]) <= dit_rows[0]["tol"]
    assert "capacity vs dit" in captured.err and not any(r["part"] == "sweep" for r in rows)
