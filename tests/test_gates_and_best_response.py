"""Gates, the envelope fact (L0) and the water-filling best response (SPEC §1-2)."""

import cvxpy as cp
import numpy as np
import pytest
from conftest import FP_TOL, random_instance
from hypothesis import given, settings
from hypothesis import strategies as st

from robust_gates.theory import (
    RobustProblem,
    check_gate,
    constant_gate,
    envelope,
    gate_from_model,
    gated_model,
    in_envelope,
    in_G1,
    water_fill,
    water_fill_sorted,
)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**31), K=st.integers(2, 5), n=st.integers(2, 15))
def test_L0_envelope_fact(seed, K, n):
    """L0 (§3): constant gates are in G_1; every q in Q = {l <= q <= u, sum 1} is some P_g, g in G_1;
    and every P_g of a G_1 gate lies in Q."""
    rng = np.random.default_rng(seed)
    _, P = random_instance(rng, K, n)
    l, u = envelope(P)
    w = rng.dirichlet(np.ones(K))
    g = constant_gate(w, n)
    assert in_G1(g, P)
    assert in_envelope(gated_model(g, P), P)
    # a random point of Q: convex combination of P_g for constant gates plus moves along Q
    q = gated_model(constant_gate(rng.dirichlet(np.ones(K)), n), P)
    g2 = gate_from_model(q, P)
    check_gate(g2, P)
    assert np.max(np.abs(gated_model(g2, P) - q)) < FP_TOL
    # the extreme model: as much mass as possible on the first points (greedy to u)
    q_ext = l.copy()
    rest = 1 - l.sum()
    for x in range(n):
        add = min(rest, u[x] - l[x])
        q_ext[x] += add
        rest -= add
    g3 = gate_from_model(q_ext, P)
    assert in_G1(g3, P)
    assert np.max(np.abs(gated_model(g3, P) - q_ext)) < FP_TOL
    # a random column-stochastic gate gives P_g within [l, u] (but maybe not mass 1)
    G = rng.dirichlet(np.ones(K), size=n).T
    pg = gated_model(G, P)
    assert np.all(pg >= l - FP_TOL) and np.all(pg <= u + FP_TOL)


def test_gate_errors_name_the_problem():
    """Bad gates and models outside Q are rejected with the violated condition."""
    P = np.array([[0.5, 0.5], [0.9, 0.1]])
    with pytest.raises(ValueError, match="column x = 0 sums to"):
        check_gate(np.array([[0.5, 0.5], [0.6, 0.5]]), P)
    with pytest.raises(ValueError, match="is negative"):
        check_gate(np.array([[1.5, 0.5], [-0.5, 0.5]]), P)
    with pytest.raises(ValueError, match="total mass"):
        check_gate(np.array([[0.0, 1.0], [1.0, 0.0]]), P)  # P_g = (0.9, 0.5)
    with pytest.raises(ValueError, match="not in the envelope set"):
        gate_from_model(np.array([0.95, 0.05]), P)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**31), K=st.integers(2, 5), n=st.integers(2, 40),
       sparse=st.booleans())
def test_water_fill_matches_sorted_and_cvxpy(seed, K, n, sparse):
    """SPEC §2: q_lam = clip(D_lam/nu, l, u) solves min_Q CE(D_lam, q); Newton == sorted == cvxpy."""
    rng = np.random.default_rng(seed)
    D, P = random_instance(rng, K, n, alpha=0.2 if sparse else 1.0)
    prob = RobustProblem(D, P)
    lam = rng.dirichlet(np.ones(K))
    d = lam @ D
    wf = water_fill(d, prob.l, prob.u)
    q_sorted = water_fill_sorted(d, prob.l, prob.u)
    assert abs(wf.q.sum() - 1) < 1e-13
    assert np.max(np.abs(wf.q - q_sorted)) < 1e-12
    assert np.all(wf.q >= prob.l) and np.all(wf.q <= prob.u)
    S = d > 0
    q = cp.Variable(n)
    cvx = cp.Problem(cp.Minimize(-d[S] @ cp.log(q[S])), [q >= prob.l, q <= prob.u, cp.sum(q) == 1])
    cvx.solve(solver="CLARABEL")
    ours = -d[S] @ np.log(wf.q[S])
    assert cvx.status == "optimal"
    assert ours <= cvx.value + 1e-7  # never worse than the conic solution
    assert abs(ours - cvx.value) < 1e-6


def test_water_fill_off_support_case():
    """nu = 0 branch: the experts put too little mass on supp(D_lam); q = u there, rest elsewhere."""
    P = np.array([[0.1, 0.9, 0.0], [0.1, 0.0, 0.9]])
    D = np.array([[1.0, 0.0, 0.0], [1.0, 0.0, 0.0]])
    prob = RobustProblem(D, P)
    wf = prob.best_response(np.array([0.5, 0.5]))
    assert wf.q[0] == 0.1
    assert abs(wf.q.sum() - 1) < FP_TOL
    assert in_envelope(wf.q, P)
    assert np.array_equal(wf.q, water_fill_sorted(D[0], prob.l, prob.u))


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**31))
def test_phi_is_concave_and_below_every_gate(seed):
    """SPEC §2: phi(lam) = min_g L(g, lam) is concave and below L(g, lam) for any g in G_1."""
    rng = np.random.default_rng(seed)
    D, P = random_instance(rng, 3, 10)
    prob = RobustProblem(D, P)
    a, b = rng.dirichlet(np.ones(3), size=2)
    t = rng.uniform()
    assert prob.phi(t * a + (1 - t) * b) >= t * prob.phi(a) + (1 - t) * prob.phi(b) - 1e-12
    for _ in range(5):
        g = constant_gate(rng.dirichlet(np.ones(3)), 10)
        assert prob.phi(a) <= prob.payoff_value(gated_model(g, P), a) + 1e-12
