"""The fast solver with many experts (issue 17, item 1): the primal-dual active-set QP, the
one-LP support of generic sets, and the two-expert certificate.

Sizes sit just above the thresholds where these paths take over (``PDAS_SIZE``,
``LARGE_K_SETUP``, ``GENERIC_CERTIFY_SIZE``), so the tests exercise them in seconds.
"""

from __future__ import annotations

import numpy as np
import pytest

from robust_gates.theory import Box, Hull, Polytope, RobustProblem, Simplex, certify, solve_fast
from robust_gates.theory.lambda_sets import TVBall
from robust_gates.theory.solvers import fast
from robust_gates.theory.solvers._pdas import pdas_qp
from robust_gates.theory.solvers._qp import _normalize_rows, active_set_qp

TOL = 1e-8
K_LARGE = 72  # above PDAS_SIZE and LARGE_K_SETUP
N = 400
#: accuracy of HiGHS's linear maximization over a polytope (its default optimality tolerance)
LP_FLOOR = 1e-8


def _problem(kind: str, payoff: str, seed: int = 0, K: int = K_LARGE, n: int = N) -> RobustProblem:
    rng = np.random.default_rng([seed, K, n])
    D = rng.dirichlet(np.full(n, 0.5), size=K)
    P = 0.8 * D + 0.2 * rng.dirichlet(np.ones(n), size=K)
    if kind == "simplex":
        lset = Simplex(K)
    elif kind == "box":
        lo = 0.5 * rng.dirichlet(np.ones(K))
        lset = Box(lo, np.minimum(1.0, lo + 3.0 / K))
    elif kind == "polytope":
        A = rng.normal(size=(3, K))
        lset = Polytope(A, A @ rng.dirichlet(np.ones(K)) + 0.01)
    elif kind == "hull":
        lset = Hull(rng.dirichlet(np.full(K, 0.3), size=3 * K))
    else:
        lset = TVBall(rng.dirichlet(np.ones(K)), 0.3)
    return RobustProblem(D, P, lset, payoff=payoff)


@pytest.mark.parametrize("payoff", ["kl", "cross_entropy"])
@pytest.mark.parametrize("kind", ["simplex", "box", "polytope", "hull", "tv_ball"])
def test_large_k_every_kind_certified(kind, payoff):
    """SPEC algorithm 2 at K above the large-K thresholds: certified below tol (recomputed by
    certify on the dense gate), lam in Lambda, on every kind of set and both payoffs."""
    problem = _problem(kind, payoff)
    res = solve_fast(problem, tol=TOL)
    cert = certify(problem, res.gate, res.lam)
    # a polytope too large for vertex enumeration is maximized over by HiGHS, exact only to its
    # own optimality tolerance: the primal side may read up to ~1e-9 low (a negative gap)
    floor = LP_FLOOR if kind == "polytope" else 1e-12
    assert -floor <= cert.gap <= TOL
    assert abs(cert.primal - res.value) <= 1e-11 and abs(cert.dual - res.lower_bound) <= 1e-11
    assert problem.Lambda.contains(res.lam, tol=1e-12)


def test_large_k_matches_reference():
    """The same game by the conic reference program: values agree within the two gaps."""
    from robust_gates.theory import solve_reference

    problem = _problem("polytope", "kl", seed=3, K=70, n=120)
    fast_res, ref = solve_fast(problem, tol=TOL), solve_reference(problem)
    assert abs(fast_res.value - ref.value) <= TOL + ref.gap + 1e-8
    assert fast_res.value >= ref.lower_bound - 1e-8 and ref.value >= fast_res.lower_bound - 1e-12


def test_one_lp_support_and_start():
    """_relative_interior: the support of a polytope with coordinates pinned to 0 is found by one
    LP, and its point is inside the set and weighs every supported coordinate."""
    K = 70
    rng = np.random.default_rng(1)
    A = np.vstack([np.eye(K)[:5], rng.normal(size=(2, K))])  # lam_0..lam_4 <= 0
    b = np.r_[np.zeros(5), rng.normal(size=(2, K)) @ np.full(K, 1.0 / K) + 5.0]
    lset = Polytope(A, b)
    x0, support = fast._relative_interior(A, b, K)
    assert np.array_equal(support, lset.support())
    assert not support[:5].any() and support[5:].all()
    assert np.all(x0[5:] > 0) and lset.contains(x0, tol=1e-12)


def _qp_instance(rng, m: int, kind: str):
    D = rng.dirichlet(np.full(3 * m, 0.5), size=m)
    lam = rng.dirichlet(np.ones(m))
    d = lam @ D
    W = D / np.sqrt(d)
    M = W @ W.T - np.outer(D.sum(axis=1), D.sum(axis=1)) + 1e-6 * np.eye(m)  # -Hess(phi) + reg
    c = rng.normal(size=m) * 0.1
    x0 = rng.dirichlet(np.ones(m))
    G, h = -np.eye(m), np.zeros(m)
    if kind == "box":
        G, h = np.vstack([G, np.eye(m)]), np.r_[h, x0 + 0.3 * rng.random(m)]
    elif kind == "rows":
        A = rng.normal(size=(3, m))
        G, h = np.vstack([G, A]), np.r_[h, A @ x0 + 0.01]
    return M, c, x0, G, h


@pytest.mark.parametrize("kind", ["simplex", "box", "rows"])
def test_pdas_qp_is_the_qp_minimum(kind):
    """The primal-dual active-set QP returns the minimizer found by the primal active-set method
    (same objective to rounding), feasible; when it cannot verify a KKT point it says so (None)."""
    rng = np.random.default_rng({"simplex": 0, "box": 1, "rows": 2}[kind])
    solved = 0
    for _ in range(8):
        M, c, x0, G, h = _qp_instance(rng, 70, kind)
        Gn, hn = _normalize_rows(G, h)
        y = pdas_qp(M, c, x0, Gn, hn)
        ref, _ = active_set_qp(M, c, x0, G, h)

        def obj(v, M=M, c=c, x0=x0):
            return 0.5 * (v - x0) @ M @ (v - x0) - c @ (v - x0)

        if y is None:
            continue
        solved += 1
        assert np.max(Gn @ y - hn) <= 1e-12 and abs(y.sum() - 1) <= 1e-11
        assert obj(y) <= obj(ref) + 1e-10 * (1 + abs(obj(ref)))
    assert solved >= 6


def test_two_expert_certificate_equals_certify():
    """certify_two_expert computes certify's numbers on the gate's two-expert form."""
    for seed in range(4):
        problem = _problem(["simplex", "box", "hull", "tv_ball"][seed], "kl", seed=seed, K=6, n=50)
        res = solve_fast(problem, tol=TOL)
        two = fast.TwoExpertGate.from_model(problem, res.model)
        cert, model = fast.certify_two_expert(problem, two, res.lam)
        ref = certify(problem, two.dense(problem.K), res.lam)
        assert abs(cert.primal - ref.primal) <= 1e-13 and abs(cert.dual - ref.dual) <= 1e-13
        assert np.allclose(model, res.model, atol=1e-15, rtol=0)


def _hull_qp(rng, K: int, m: int):
    """A Newton QP of a hull of ``m > K`` points, as the fast solver builds it: ``M = V B V^T``
    (rank ``K``) plus the regularization on the diagonal and on the null space of ``V^T``."""
    V = rng.dirichlet(np.full(K, 0.3), size=m)
    A = rng.normal(size=(K, K))
    B = A @ A.T + 1e-3 * np.eye(K)
    _, sv, Vt = np.linalg.svd(V.T, full_matrices=False)
    null = np.eye(m) - Vt.T @ Vt
    M = V @ B @ V.T + 1e-8 * (1 + np.abs(np.diag(V @ B @ V.T)).max()) * null + 1e-10 * np.eye(m)
    if rng.random() < 0.5:
        x0 = np.full(m, 1.0 / m)  # dense: the QP starts at its best vertex
    else:  # sparse (a quarter of the weights or fewer): the QP starts at x0
        x0 = np.zeros(m)
        x0[rng.choice(m, size=m // 6, replace=False)] = rng.dirichlet(np.ones(m // 6))
    return M, V @ rng.normal(size=K), x0


def test_simplex_active_set_qp_is_the_qp_minimum():
    """The support's active set over the simplex (the fallback where the bulk exchanges cycle, a
    hull of many more points than domains) returns the minimizer of the general primal
    active-set method, feasible and a KKT point, from a dense start and from a sparse one; the
    constraint test recognizes exactly y >= 0."""
    from robust_gates.theory.solvers._qp import is_simplex, simplex_active_set_qp

    rng = np.random.default_rng(7)
    starts = set()
    for _ in range(10):
        M, c, x0 = _hull_qp(rng, 6, 90)
        starts.add(np.count_nonzero(x0) <= 90 // 4)
        y = simplex_active_set_qp(M, c, x0)
        ref, ok = active_set_qp(M, c, x0, -np.eye(90), np.zeros(90))
        assert ok and y is not None
        assert y.min() >= 0 and abs(y.sum() - 1) <= 1e-12

        def obj(v, M=M, c=c, x0=x0):
            return 0.5 * (v - x0) @ M @ (v - x0) - c @ (v - x0)

        assert abs(obj(y) - obj(ref)) <= 1e-10 * (1 + abs(obj(ref)))
        g = M @ (y - x0) - c
        mu = -g[y > 0].mean()
        assert np.all(g + mu >= -1e-8 * (1 + np.abs(g).max()))
    assert starts == {True, False}  # both starts were exercised
    assert is_simplex(-np.eye(5), np.zeros(5))
    assert not is_simplex(-np.eye(5), np.full(5, 0.1))
    assert not is_simplex(np.vstack([-np.eye(5), np.ones((1, 5)) / 5 ** 0.5]), np.zeros(6))


def test_hull_of_many_points_takes_the_support_active_set(monkeypatch):
    """Issue 17 bench (hulls of 300 points at K = 32 and 64 took seconds): where the bulk
    exchanges of pdas_qp cycle (here a hull of 200 points at K = 24), the Newton step's QP comes
    from the support's active set, not the general method; the answer is certified and equals
    the reference solver's value."""
    from robust_gates.theory import solve_reference

    K, n, m = 24, 300, 200
    rng = np.random.default_rng([0, K, n, m])
    D = rng.dirichlet(np.full(n, 0.5), size=K)
    P = 0.8 * D + 0.2 * rng.dirichlet(np.ones(n), size=K)
    problem = RobustProblem(D, P, Hull(rng.dirichlet(np.full(K, 0.3), size=m)))
    used = {"support": 0, "general": 0}
    support, general = fast.simplex_active_set_qp, fast.active_set_qp

    def counted_support(*a, **k):
        used["support"] += 1
        return support(*a, **k)

    def counted_general(*a, **k):
        used["general"] += 1
        return general(*a, **k)

    monkeypatch.setattr(fast, "simplex_active_set_qp", counted_support)
    monkeypatch.setattr(fast, "active_set_qp", counted_general)
    res = solve_fast(problem, tol=TOL)
    assert used["support"] >= 1 and used["general"] == 0
    assert -1e-12 <= certify(problem, res.gate, res.lam).gap <= TOL
    assert abs(res.value - solve_reference(problem).value) <= 1e-7
