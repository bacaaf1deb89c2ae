"""Reference solver (SPEC algorithm 1): certificates on random instances and closed forms."""

import numpy as np
import pytest
from conftest import CLOSED_FORM_TOL, FP_GAP_FLOOR, GAP_TOL, random_instance
from hypothesis import given, settings
from hypothesis import strategies as st

from robust_gates.simulations import binary_entropy, get_example
from robust_gates.theory import (
    Box,
    Hull,
    Polytope,
    RobustProblem,
    Simplex,
    SolverError,
    certify,
    in_G1,
    solve,
    solve_reference,
)
from robust_gates.theory.lambda_sets import TVBall


def _lambda(kind, rng, K):
    centre = rng.dirichlet(np.ones(K) * 2)
    if kind == "simplex":
        return Simplex(K)
    if kind == "box":
        return Box(np.clip(centre - 0.2, 0, 1), np.clip(centre + 0.2, 0, 1))
    if kind == "polytope":
        A = rng.normal(size=(2, K))
        return Polytope(A, A @ centre + 0.05)
    if kind == "tv_ball":
        return TVBall(centre, 0.25)
    return Hull(rng.dirichlet(np.ones(K), size=K))


def _assert_certified(prob, res):
    assert res.status == "optimal"
    assert -FP_GAP_FLOOR <= res.gap <= GAP_TOL
    assert in_G1(res.gate, prob.P)
    assert prob.Lambda.contains(res.lam)
    cert = certify(prob, res.gate, res.lam)  # recompute independently
    assert abs(cert.gap - res.gap) < 1e-12
    assert np.max(np.abs(res.model - (res.gate * prob.P).sum(axis=0))) < 1e-12
    assert res.lower_bound <= res.value + FP_GAP_FLOOR


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**31), K=st.integers(2, 4), n=st.integers(2, 12),
       kind=st.sampled_from(["simplex", "box", "polytope", "hull", "tv_ball"]),
       payoff=st.sampled_from(["kl", "cross_entropy"]))
def test_reference_certifies_random_instances(seed, K, n, kind, payoff):
    """T1 (§4.2): the reference solution is a certified saddle point (gap <= 1e-6), gate in G_1,
    lam* in Lambda, for every Lambda type and both payoffs."""
    rng = np.random.default_rng(seed)
    D, P = random_instance(rng, K, n)
    prob = RobustProblem(D, P, _lambda(kind, rng, K), payoff)
    _assert_certified(prob, solve_reference(prob))


@pytest.mark.parametrize("payoff", ["kl", "cross_entropy"])
def test_identical_domains_value(payoff):
    """Closed form: identical domains give V = 0 (kl) and V = H(d) (cross-entropy)."""
    prob = get_example("identical", payoff)
    res = solve(prob)
    _assert_certified(prob, res)
    expected = 0.0 if payoff == "kl" else float(prob.entropies[0])
    assert abs(res.value - expected) < CLOSED_FORM_TOL


@pytest.mark.parametrize("K", [2, 3, 5])
@pytest.mark.parametrize("payoff", ["kl", "cross_entropy"])
def test_disjoint_supports_log_K(K, payoff):
    """Closed form (SC, §4.5.4): K disjoint supports, perfect experts: V = log K, lam* uniform
    (cross-entropy adds the common entropy log 2 of each two-point domain)."""
    D = np.kron(np.eye(K), np.full((1, 2), 0.5))
    prob = RobustProblem(D, payoff=payoff)
    res = solve(prob)
    _assert_certified(prob, res)
    expected = np.log(K) + (np.log(2) if payoff == "cross_entropy" else 0.0)
    assert abs(res.value - expected) < CLOSED_FORM_TOL
    assert np.max(np.abs(res.lam - 1 / K)) < 1e-4


@pytest.mark.parametrize("p", [0.05, 0.1, 0.3])
@pytest.mark.parametrize("payoff", ["kl", "cross_entropy"])
def test_binary_symmetric_channel(p, payoff):
    """Closed form: BSC with crossover p and perfect experts has V = log 2 - H_b(p) (kl) and
    V = log 2 (cross-entropy), with lam* = (1/2, 1/2)."""
    prob = RobustProblem(np.array([[1 - p, p], [p, 1 - p]]), payoff=payoff)
    res = solve(prob)
    _assert_certified(prob, res)
    expected = np.log(2) - (binary_entropy(p) if payoff == "kl" else 0.0)
    assert abs(res.value - expected) < CLOSED_FORM_TOL
    assert np.max(np.abs(res.lam - 0.5)) < 1e-4


def test_box_value_between_vertices_and_simplex(rng):
    """T2 sanity: a box inside the simplex never has a larger value."""
    D, P = random_instance(rng, 3, 8)
    full = solve(RobustProblem(D, P)).value
    box = solve(RobustProblem(D, P, Box([0.2] * 3, [0.5] * 3))).value
    assert box <= full + 1e-6


def test_solver_failure_raises_not_returns():
    """A missing or failing conic solver raises SolverError; no number comes back."""
    prob = get_example("bsc")
    with pytest.raises(SolverError, match="none of the conic solvers"):
        solve_reference(prob, backends=("NOT_A_SOLVER",))
    with pytest.raises(SolverError, match="the reference solver failed"):
        solve_reference(prob, max_iter=1)


def test_unknown_solver_name():
    with pytest.raises(ValueError, match="unknown solver 'nope'"):
        solve(get_example("bsc"), solver="nope")


def test_result_dict_keys():
    """The JSON keys of `robust-gates solve --json` are a public interface."""
    d = solve(get_example("bsc")).to_dict()
    for key in ("value", "lam", "gap", "status", "solver", "payoff", "iterations", "seconds", "model"):
        assert key in d
