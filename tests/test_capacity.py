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
    fast = capacity(D, tol=1e-9)
    plain = capacity(D, tol=1e-9, accelerate=False)
    assert 5 * fast.iterations <= plain.iterations
    assert abs(fast.capacity - plain.capacity) <= 1e-9
