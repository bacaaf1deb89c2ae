"""``solve_many`` (issue 17, item 3): many small games stacked into one batched Newton ascent.

Every batched answer is checked against the independent :func:`certify` and the one-by-one fast
solver; problems the stacked path does not take (other sets, other solvers, lone shapes) or that
leave it come back from the named solver, in the caller's order.
"""

from __future__ import annotations

import numpy as np
import pytest

from robust_gates.theory import Box, RobustProblem, certify, solve, solve_fast
from robust_gates.theory.solvers import solve_many

TOL = 1e-9
#: values of the batched and the one-by-one solver agree to their two certified gaps
VALUE_TOL = 2 * TOL


def _games(seed: int, count: int, K: int = 4, n: int = 30) -> list[RobustProblem]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(count):
        D = rng.dirichlet(np.full(n, 0.5), size=K)
        P = 0.8 * D + 0.2 * rng.dirichlet(np.ones(n), size=K)
        out.append(RobustProblem(D, None if i % 3 == 2 else P,
                                 payoff="cross_entropy" if i % 2 else "kl"))
    return out


def test_solve_many_certified_and_equal_to_one_by_one():
    """SPEC algorithm 2 stacked: every result carries a certificate below tol that certify
    recomputes, lam is a mixture, and the value equals the fast solver's on the same game."""
    problems = _games(0, 24)
    results = solve_many(problems, tol=TOL)
    assert len(results) == len(problems)
    assert sum("batched" in r.backend for r in results) >= 20
    for p, r in zip(problems, results, strict=True):
        cert = certify(p, r.gate, r.lam)
        assert r.status == "optimal" and r.payoff == p.payoff
        assert -1e-12 <= cert.gap <= TOL
        assert abs(cert.gap - r.gap) <= 1e-12 and abs(cert.primal - r.value) <= 1e-12
        assert p.Lambda.contains(r.lam, tol=1e-12)
        assert abs(r.value - solve_fast(p, tol=TOL).value) <= VALUE_TOL


def test_solve_many_mixed_batch_keeps_order_and_falls_back():
    """Other sets, lone shapes and another solver go one by one; the order is the caller's."""
    stacked = _games(1, 6)
    lone = _games(2, 1, K=3, n=11)
    boxed = [RobustProblem(p.D, p.P, Box(np.zeros(4), np.full(4, 0.6))) for p in _games(3, 2)]
    problems = [stacked[0], boxed[0], *stacked[1:3], lone[0], boxed[1], *stacked[3:]]
    results = solve_many(problems, tol=TOL)
    for p, r in zip(problems, results, strict=True):
        assert r.lam.shape == (p.K,) and certify(p, r.gate, r.lam).gap <= TOL
        assert p.Lambda.contains(r.lam, tol=1e-12)
        if p in (boxed[0], boxed[1], lone[0]):
            assert "batched" not in r.backend
    ref = solve_many(stacked[:3], solver="reference", tol=1e-6)
    assert all(r.solver == "reference" for r in ref)
    for r, s in zip(ref, solve_many(stacked[:3], tol=TOL), strict=True):
        assert abs(r.value - s.value) <= 1e-6


def test_solve_many_leaving_the_batch():
    """A game whose best response needs the mass-deficient branch (experts with little mass on the
    domains' support) leaves the stacked path and is still solved and certified."""
    rng = np.random.default_rng(4)
    problems = _games(5, 3, K=3, n=6)
    D = np.array([[0.5, 0.5, 0, 0, 0, 0], [0, 0.5, 0.5, 0, 0, 0], [0.2, 0.3, 0.5, 0, 0, 0]])
    P = np.array([[0.1, 0.1, 0.1, 0.3, 0.2, 0.2], [0.1, 0.1, 0.1, 0.2, 0.3, 0.2],
                  [0.1, 0.1, 0.1, 0.2, 0.2, 0.3]])
    problems.append(RobustProblem(D, P))
    rng.shuffle(problems)
    for p, r in zip(problems, solve_many(problems, tol=TOL), strict=True):
        assert certify(p, r.gate, r.lam).gap <= TOL
        assert abs(r.value - solve(p, solver="fast", tol=TOL).value) <= VALUE_TOL


def test_solve_many_bad_input():
    with pytest.raises(TypeError, match="RobustProblem"):
        solve_many([np.eye(2)])
    with pytest.raises(ValueError, match="tol"):
        solve_many(_games(6, 2), tol=-1.0)
    assert solve_many([]) == []


def test_solve_many_gates_written_at_once_match_and_stay_read_only():
    """The stack's dense gates (one scatter for all problems) equal the two-expert gate written one
    by one, the gate's own model is the result's model, and no result array can be changed."""
    from robust_gates.theory.solvers.batched import _dense_gates
    from robust_gates.theory.solvers.fast import TwoExpertGate

    rng = np.random.default_rng(7)
    kmin, kmax = rng.integers(0, 3, size=(2, 4, 9))
    kmax[:, 0] = kmin[:, 0]  # both envelopes attained by one expert: weights add
    t = rng.random((4, 9))
    gates = _dense_gates(kmin, kmax, t, 3)
    for j in range(4):
        assert np.array_equal(gates[j], TwoExpertGate(kmin[j], kmax[j], t[j]).dense(3))
    problems = _games(8, 5)
    for p, r in zip(problems, solve_many(problems, tol=TOL), strict=True):
        assert np.allclose(r.gate.sum(axis=0), 1.0, atol=1e-15)
        assert np.allclose((r.gate * p.P).sum(axis=0), r.model, atol=1e-15)
        for arr in (r.gate, r.model, r.lam):
            with pytest.raises(ValueError):
                arr[0] = 0.5


def test_stack_envelopes_and_entropies_equal_the_problems_own():
    """The stack computes the envelopes and entropies in one reduction each: bit for bit the
    numbers each problem caches (P.min / P.max over the experts, entropies of D)."""
    from robust_gates.theory.solvers.batched import _Stack

    problems = [p for p in _games(10, 9) if p.payoff == "kl"]
    stack = _Stack(problems)
    for i, p in enumerate(problems):
        assert np.array_equal(stack.l[i], p.l) and np.array_equal(stack.u[i], p.u)
        assert np.array_equal(-stack.const[i], p.entropies)
