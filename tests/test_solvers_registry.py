"""Every registered solver, one calling convention, the same invariants (SPEC §2, algorithms 1-2).

Each member of :data:`robust_gates.theory.SOLVERS` is run with the same keyword options on the
same instances (every Lambda kind, both payoffs) and must return a certified saddle point: a
gate in ``G_1``, a mixture in ``Lambda``, and an independently recomputed gap below the ``tol`` it
was given. Pairs of solvers must agree on the value within their certified gaps, and each
solver's gate must be certified against every other solver's mixture (optimal pairs interchange).
"""

from __future__ import annotations

import inspect

import numpy as np
import pytest

from robust_gates.theory import (
    SOLVERS,
    Box,
    Hull,
    Polytope,
    RobustProblem,
    Simplex,
    SolverError,
    certify,
    in_G1,
    solve,
)
from robust_gates.theory.lambda_sets import TVBall
from robust_gates.theory.solvers import SOLVER_OPTIONS, register_solver

#: certificate tolerance asked of every solver (the reference solver's conic accuracy allows it)
TOL = 1e-6
#: a gap is a difference of values of order 1 in double precision: it may be this far below 0
ROUND_TOL = 1e-10
#: a mixture from conic multipliers is in Lambda to within MEMBERSHIP_TOL = 1e-9 (it may be
#: projected), so phi at it may exceed V by about that much times the losses
MEMBERSHIP_SLACK = 1e-8

KINDS = ("simplex", "box", "polytope", "hull", "tv_ball")
PAYOFFS = ("kl", "cross_entropy")


def _lambda(kind: str, rng: np.random.Generator, K: int):
    centre = rng.dirichlet(np.full(K, 2.0))
    if kind == "simplex":
        return Simplex(K)
    if kind == "box":
        return Box(np.clip(centre - 0.2, 0, 1), np.clip(centre + 0.2, 0, 1))
    if kind == "polytope":
        A = rng.normal(size=(2, K))
        return Polytope(A, A @ centre + 0.05)
    if kind == "hull":
        return Hull(rng.dirichlet(np.ones(K), size=K))
    return TVBall(centre, 0.2)


def _instance(kind: str, payoff: str, seed: int) -> RobustProblem:
    rng = np.random.default_rng([seed, KINDS.index(kind)])
    K, n = 3 + seed % 2, 6 + seed
    D = rng.dirichlet(np.full(n, 0.7), size=K)
    P = 0.8 * D + 0.2 * rng.dirichlet(np.ones(n), size=K)
    return RobustProblem(D, P, _lambda(kind, rng, K), payoff)


def test_every_solver_takes_the_shared_options():
    """Item 7 of issue 14: one signature. Every member takes tol, max_iter and verbose as keyword
    options with defaults; the registry refuses a member without them and a taken name."""
    assert set(SOLVERS) >= {"fast", "reference"}
    for name, fn in SOLVERS.items():
        params = inspect.signature(fn).parameters
        for option in SOLVER_OPTIONS:
            assert option in params, (name, option)
            assert params[option].default is not inspect.Parameter.empty, (name, option)
    with pytest.raises(ValueError, match="already registered"):
        register_solver("fast")(SOLVERS["fast"])
    with pytest.raises(TypeError, match="must accept the keyword options"):
        register_solver("incomplete")(lambda problem, *, tol=1e-6: None)
    assert "incomplete" not in SOLVERS


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("payoff", PAYOFFS)
@pytest.mark.parametrize("seed", [0, 1])
def test_every_solver_certifies_and_they_agree(kind, payoff, seed):
    """SPEC T1 and algorithms 1-2, through the registry: for each Lambda kind (the TV ball
    included, which no solver knows by name) and payoff, every solver's answer is certified to the
    tol it was given, and any two answers agree in value and interchange."""
    problem = _instance(kind, payoff, seed)
    results = {name: solve(problem, solver=name, tol=TOL, verbose=False) for name in SOLVERS}
    for name, res in results.items():
        assert res.status == "optimal" and res.solver == name and res.payoff == payoff
        assert in_G1(res.gate, problem.P)
        assert problem.Lambda.contains(res.lam)
        cert = certify(problem, res.gate, res.lam)
        assert -ROUND_TOL <= cert.gap <= TOL
        assert abs(cert.gap - res.gap) <= ROUND_TOL
        assert abs(cert.primal - res.value) <= ROUND_TOL
    for a, ra in results.items():
        for b, rb in results.items():
            if a == b:
                continue
            # weak duality across solvers, then agreement of the values
            assert ra.value >= rb.lower_bound - MEMBERSHIP_SLACK, (a, b)
            assert abs(ra.value - rb.value) <= max(ra.gap, 0) + max(rb.gap, 0) + MEMBERSHIP_SLACK
            cross = certify(problem, ra.gate, rb.lam)
            assert cross.gap <= max(ra.gap, 0) + max(rb.gap, 0) + MEMBERSHIP_SLACK, (a, b)


@pytest.mark.parametrize("payoff", PAYOFFS)
def test_tv_ball_game_equals_its_polytope_game(payoff):
    """A new Lambda kind needs no solver edits: the game over a TV ball has the value of the same
    set written as a Polytope (subset inequalities), for every solver."""
    rng = np.random.default_rng(7)
    D = rng.dirichlet(np.full(8, 0.6), size=4)
    P = 0.85 * D + 0.15 * rng.dirichlet(np.ones(8), size=4)
    tv = TVBall(rng.dirichlet(np.ones(4)), 0.15)
    poly = Polytope(*tv.inequalities())
    for name in SOLVERS:
        a = solve(RobustProblem(D, P, tv, payoff), solver=name, tol=TOL)
        b = solve(RobustProblem(D, P, poly, payoff), solver=name, tol=TOL)
        assert abs(a.value - b.value) <= a.gap + b.gap + MEMBERSHIP_SLACK, name
        assert tv.contains(b.lam, tol=1e-8) and poly.contains(a.lam, tol=1e-8)


def test_every_solver_honours_max_iter():
    """A solver stopped by max_iter before it can certify raises SolverError; no number returns."""
    problem = _instance("box", "kl", 0)
    for name in SOLVERS:
        with pytest.raises(SolverError):
            solve(problem, solver=name, tol=1e-15, max_iter=1)


@pytest.mark.parametrize("bad", [{"tol": 0.0}, {"tol": -1.0}, {"max_iter": 0}])
def test_every_solver_refuses_bad_options(bad):
    """Bad shared options are refused with a sentence naming the option, by every solver."""
    problem = _instance("simplex", "kl", 0)
    for name in SOLVERS:
        with pytest.raises(ValueError, match=next(iter(bad))):
            solve(problem, solver=name, **bad)
