"""The fast exact solver (SPEC algorithm 2) against the reference program (SPEC algorithm 1).

Every comparison is certified: the fast solver's own certificate, a recomputation by
:func:`robust_gates.theory.certify`, weak duality across the two solvers, and the cross-certificate of
the fast gate with the reference mixture.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from robust_gates.paper_repro.cli import main as cli_main
from robust_gates.simulations.examples import get_example
from robust_gates.theory import (
    SOLVERS,
    Box,
    Hull,
    Polytope,
    RobustProblem,
    Simplex,
    SolverError,
    capacity,
    certify,
    solve,
    solve_fast,
    solve_reference,
    water_fill,
)
from robust_gates.theory.lambda_sets import TVBall
from robust_gates.theory.solvers._qp import active_set_qp
from robust_gates.theory.solvers.fast import dual_ascent, dual_hessian

#: certificate tolerance asked of the fast solver
FAST_TOL = 1e-9
#: agreement of the values of the two solvers (beyond the reference's own certified gap)
VALUE_TOL = 1e-7
#: rounding allowed on quantities that are >= 0 in exact arithmetic
ROUND_TOL = 1e-12
#: the reference's lam is in Lambda only within MEMBERSHIP_TOL = 1e-9 (it may be projected),
#: so phi(lam_ref) may exceed V by about that much times the size of the losses
REF_MEMBERSHIP_SLACK = 1e-8
#: strong-concavity threshold above which lam* is unique and compared coordinate-wise
UNIQUE_CURVATURE = 1e-2


def _instance(seed: int, K: int, n: int, kind: str, payoff: str, experts: str) -> RobustProblem:
    rng = np.random.default_rng(seed)
    D = rng.dirichlet(np.full(n, 0.6), size=K)
    if experts == "sparse":  # zeros in the domains, experts that still cover them
        D = np.where(rng.random((K, n)) < 0.3, 0.0, D)
        D[np.arange(K), rng.integers(n, size=K)] += 0.1
        D /= D.sum(axis=1, keepdims=True)
    P = None if experts == "perfect" else 0.8 * D + 0.2 * rng.dirichlet(np.ones(n), size=K)
    if kind == "simplex":
        lset = Simplex(K)
    elif kind == "box":
        lo = 0.6 * rng.dirichlet(np.ones(K))
        lset = Box(lo, np.minimum(1.0, lo + 0.2 + rng.random(K)))
        if lset.hi.sum() < 1:
            lset = Box(lo, np.ones(K))
    elif kind == "polytope":
        A = rng.normal(size=(2, K))
        centre = rng.dirichlet(np.ones(K))
        lset = Polytope(A, A @ centre + 0.05 * rng.random(2))
    elif kind == "tv_ball":
        lset = TVBall(rng.dirichlet(np.ones(K)), 0.4 * rng.random())
    else:
        lset = Hull(rng.dirichlet(np.full(K, 0.7), size=int(rng.integers(1, 5))))
    return RobustProblem(D, P, lset, payoff=payoff)


def _tangent_curvature(problem: RobustProblem, lam: np.ndarray) -> float:
    """Smallest eigenvalue of -Hess(phi) on {sum d = 0}: > 0 means lam* is unique."""
    K = problem.K
    basis = np.linalg.qr(np.c_[np.ones(K), np.eye(K)[:, : K - 1]])[0][:, 1:]
    H = dual_hessian(problem, lam)
    return float(np.linalg.eigvalsh(-basis.T @ H @ basis).min())


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**31),
    K=st.integers(2, 4),
    n=st.integers(2, 7),
    kind=st.sampled_from(["simplex", "box", "polytope", "hull", "tv_ball"]),
    payoff=st.sampled_from(["kl", "cross_entropy"]),
    experts=st.sampled_from(["perfect", "noisy", "sparse"]),
)
def test_fast_matches_reference(seed, K, n, kind, payoff, experts):
    """SPEC algorithms 1-2, T1, LF: both solvers certify the same value on every Lambda kind and
    payoff; lam* agrees wherever phi is strongly concave (unique lam*)."""
    problem = _instance(seed, K, n, kind, payoff, experts)
    ref = solve_reference(problem)
    fast = solve_fast(problem, tol=FAST_TOL)
    # the fast solver's certificate, recomputed independently
    cert = certify(problem, fast.gate, fast.lam)
    assert fast.status == "optimal" and fast.solver == "fast"
    assert -ROUND_TOL <= cert.gap <= FAST_TOL
    assert abs(cert.gap - fast.gap) <= ROUND_TOL
    assert problem.Lambda.contains(fast.lam)
    # values agree, and weak duality holds across the two solvers
    assert abs(fast.value - ref.value) <= VALUE_TOL + max(ref.gap, 0.0)
    assert fast.value >= ref.lower_bound - REF_MEMBERSHIP_SLACK
    assert ref.value >= fast.lower_bound - ROUND_TOL
    # any two optimal pairs interchange: the fast gate against the reference mixture
    cross = certify(problem, fast.gate, ref.lam)
    assert cross.gap <= max(fast.gap, 0.0) + max(ref.gap, 0.0) + ROUND_TOL
    # lam*: unique when phi is mu-strongly concave around it; then
    # |lam - lam*| <= sqrt(2 gap / mu) for each solver's certified lam
    mu = _tangent_curvature(problem, fast.lam)
    if mu >= UNIQUE_CURVATURE:
        bound = sum(np.sqrt(2 * max(g, 0.0) / mu) for g in (fast.gap, ref.gap)) + 1e-9
        assert np.max(np.abs(fast.lam - ref.lam)) <= 2 * bound


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**31), K=st.integers(2, 4), extra=st.integers(0, 4))
def test_perfect_experts_value_is_capacity(seed, K, extra):
    """SPEC T3/LF, algorithm 3: with P = D on the simplex, V = C(D) (Blahut-Arimoto), and the
    constant gate lam* is robust."""
    rng = np.random.default_rng(seed)
    n = K + extra
    # a dominant point per domain keeps the capacity-achieving input interior, where
    # Blahut-Arimoto converges linearly
    D = 0.3 * rng.dirichlet(np.full(n, 0.5), size=K) + 0.7 * np.eye(K, n)
    problem = RobustProblem(D)
    fast = solve_fast(problem, tol=FAST_TOL)
    cap = capacity(D, tol=1e-10, max_iter=200_000)
    assert cap.lower <= cap.upper
    assert abs(fast.value - cap.capacity) <= FAST_TOL + 1e-10
    # the constant gate lam* is a robust gate (SPEC LF)
    from robust_gates.theory.gates import constant_gate

    # at a lam within FAST_TOL of optimal in phi, |lam - lam*| = O(sqrt(FAST_TOL / curvature)),
    # and the constant gate's worst case moves linearly with lam: allow O(sqrt(FAST_TOL))
    const = certify(problem, constant_gate(fast.lam, problem.n), fast.lam)
    assert const.gap <= 30 * np.sqrt(FAST_TOL)


@pytest.mark.parametrize("name", ["bsc", "disjoint", "identical"])
@pytest.mark.parametrize("payoff", ["kl", "cross_entropy"])
def test_named_examples_closed_forms(name, payoff):
    """SPEC LF: the shipped examples' closed-form values (kl), shifted by sum lam_k H(D_k) for CE."""
    from robust_gates.simulations.examples import EXAMPLES

    problem = get_example(name, payoff)
    res = solve(problem, solver="fast", tol=FAST_TOL)
    expected = EXAMPLES[name].closed_form
    if payoff == "cross_entropy":
        expected += float(res.lam @ problem.entropies)
    assert abs(res.value - expected) <= 1e-9
    assert 0.0 - ROUND_TOL <= res.gap <= FAST_TOL


def test_registry_cli_and_tol():
    """SPEC §2: the fast solver is registered and `robust-gates solve --solver fast --tol` works."""
    assert SOLVERS["fast"] is solve_fast
    assert cli_main(["solve", "--example", "box3", "--solver", "fast", "--tol", "1e-10"]) == 0
    assert cli_main(["solve", "--example", "bsc", "--solver", "fast", "--tol", "-1"]) == 2


def test_bad_options_and_infeasible_input():
    """SPEC §1: infeasible input is rejected before solving; bad options name the problem; a
    gap not reached in max_iter raises instead of returning an uncertified number."""
    D = np.array([[0.5, 0.5, 0.0], [0.0, 0.5, 0.5]])
    with pytest.raises(ValueError, match="where every expert has probability 0"):
        RobustProblem(D, np.array([[0.5, 0.5, 0.0], [0.5, 0.5, 0.0]]))
    problem = _instance(3, 4, 6, "simplex", "kl", "noisy")
    with pytest.raises(ValueError, match="tol must be a positive number"):
        solve_fast(problem, tol=0.0)
    with pytest.raises(ValueError, match="max_iter must be a positive integer"):
        solve_fast(problem, max_iter=0)
    with pytest.raises(SolverError, match="after max_iter = 1"):
        solve_fast(problem, tol=1e-15, max_iter=1)


def test_no_copy_of_frozen_float64_inputs():
    """Memory contract: float64 C-contiguous D and P that the caller froze are used in place;
    writable ones are copied (issue 15.1: a view would follow the caller's later edits)."""
    rng = np.random.default_rng(0)
    D = rng.dirichlet(np.ones(50), size=3)
    P = 0.9 * D + 0.1 / 50
    assert not np.shares_memory(RobustProblem(D, P).D, D)
    D.flags.writeable = False
    P.flags.writeable = False
    problem = RobustProblem(D, P)
    assert np.shares_memory(problem.D, D) and np.shares_memory(problem.P, P)
    writable = rng.dirichlet(np.ones(50), size=3)
    frozen_view = writable.view()
    frozen_view.flags.writeable = False  # read-only, but its base can still change: copied
    assert not np.shares_memory(RobustProblem(frozen_view).D, writable)
    assert not problem.D.flags.writeable
    before = D.copy()
    solve_fast(problem)
    assert np.array_equal(D, before)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**31), K=st.integers(2, 5), n=st.integers(2, 9))
def test_dual_hessian_matches_finite_differences(seed, K, n):
    """SPEC §2: grad phi = losses(q_lam) (Danskin) and the closed-form Hessian of phi match
    central differences of the gradient."""
    rng = np.random.default_rng(seed)
    D = rng.dirichlet(np.ones(n), size=K)
    P = 0.7 * D + 0.3 * rng.dirichlet(np.ones(n), size=K)
    problem = RobustProblem(D, P)
    lam = rng.dirichlet(np.full(K, 3.0))
    H = dual_hessian(problem, lam)
    eps = 1e-6
    # phi extended to the cone {lam >= 0}: q_lam = clip(t lam @ D, l, u) for any lam
    grad = lambda x: problem.losses(water_fill(x @ D, problem.l, problem.u).q)  # noqa: E731
    for j in range(K):
        e = np.zeros(K)
        e[j] = eps
        fd = (grad(lam + e) - grad(lam - e)) / (2 * eps)
        assert np.max(np.abs(fd - H[:, j])) <= 1e-5 * (1 + np.max(np.abs(H)))
    assert np.linalg.eigvalsh(H).max() <= 1e-10 * (1 + np.max(np.abs(H)))


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**31), m=st.integers(2, 7), rows=st.integers(0, 3))
def test_active_set_qp_kkt(seed, m, rows):
    """Building block of algorithm 2: the active-set QP returns a KKT point (feasible, stationary
    with non-negative multipliers, complementary), i.e. the exact minimizer."""
    rng = np.random.default_rng(seed)
    R = rng.normal(size=(m, m))
    M = R @ R.T + 0.1 * np.eye(m)
    c = rng.normal(size=m) * 3
    x0 = rng.dirichlet(np.ones(m))
    A = rng.normal(size=(rows, m))
    b = A @ x0 + rng.random(rows) * 0.1
    G = np.vstack([A, -np.eye(m)])
    h = np.concatenate([b, np.zeros(m)])
    y, ok = active_set_qp(M, c, x0, G, h)
    assert ok
    assert abs(y.sum() - 1) <= 1e-12 and np.all(G @ y <= h + 1e-12)
    # KKT: grad + G_act^T mu + nu 1 = 0 with mu >= 0 on the active constraints
    grad = M @ (y - x0) - c
    act = np.flatnonzero(G @ y >= h - 1e-10)
    E = np.vstack([np.ones((1, m)), G[act]])
    coef = np.linalg.lstsq(E.T, -grad, rcond=None)[0]
    assert np.max(np.abs(E.T @ coef + grad)) <= 1e-8 * (1 + np.max(np.abs(grad)))
    # multipliers are unique only for independent active rows; check the sign when they are
    if np.linalg.matrix_rank(E) == E.shape[0]:
        assert np.all(coef[1:] >= -1e-8)


def test_ascent_reports_its_work():
    """Algorithm 2 bookkeeping: internal gap below tol, counts consistent."""
    problem = _instance(11, 4, 30, "box", "kl", "noisy")
    asc = dual_ascent(problem, tol=1e-10)
    assert asc.gap <= 1e-10
    assert asc.primal >= asc.dual - ROUND_TOL
    assert asc.evaluations >= asc.iterations + 1 and asc.hessians >= 1


def test_fast_certifies_instance_where_newton_stalls():
    """SPEC algorithm 2: an empirical cross-entropy game (K = 3, n = 256, values near 5 nats)
    on which the Newton ascent alone stalled at gap 9e-9; the primal polish (best mixture of
    recent best responses) must certify it to the default tol and agree with the reference."""
    from pathlib import Path

    from robust_gates.simulations import load_problem

    prob = load_problem(Path(__file__).parent / "data" / "fast_stall_ce.npz")
    fast = solve(prob, solver="fast")
    ref = solve(prob, solver="reference")
    assert fast.gap <= 1e-9
    assert abs(fast.value - ref.value) <= ref.gap + fast.gap + 1e-12


#: how far the returned mixture may sit outside Lambda: rounding only (certify allows 1e-9)
INSIDE_TOL = 1e-12


def _cross_entropy(problem: RobustProblem) -> RobustProblem:
    return RobustProblem(problem.D, problem.P, problem.Lambda, payoff="cross_entropy")


def test_fast_lam_inside_box_regression(tmp_path, capsys):
    """SPEC algorithm 2, certificate of section 2 (issue 21, item 1): on this box instance the
    active-set QP held a box row ``lam_5 >= 0`` and its duplicate ``x_5 >= 0`` together, solved a
    singular KKT system and stepped to ``lam_5 = 0 < lo_5 = 0.0038``; the file was refused with
    "lam ... is not in Box". The solve must return a mixture in Lambda, certified at that point,
    from the library and from the command line."""
    import json

    from robust_gates.simulations import save_problem
    from robust_gates.simulations.instances import make_instance

    inst = make_instance("box", 7, 1798)
    assert inst.seed == (7, 145311802, 1798) and (inst.K, inst.n) == (7, 9)
    problem = _cross_entropy(inst.problem)
    res = solve_fast(problem, tol=FAST_TOL)
    assert problem.Lambda.contains(res.lam, tol=INSIDE_TOL)
    cert = certify(problem, res.gate, res.lam)
    assert cert.gap <= FAST_TOL and abs(cert.gap - res.gap) <= ROUND_TOL
    path = save_problem(problem, tmp_path / "box_1798.json")
    code = cli_main(["solve", str(path), "--solver", "fast", "--tol", "1e-9", "--json"])
    out = capsys.readouterr()
    assert code == 0, out.err
    assert json.loads(out.out)["gap"] <= FAST_TOL


def test_fast_lam_inside_every_family_cross_entropy():
    """SPEC algorithm 2 over every instance family (both problems of a nested pair) with the
    ``cross_entropy`` payoff (issue 21, item 1): the returned mixture lies in Lambda to rounding,
    and the independent certificate at that very mixture is below ``tol``."""
    from robust_gates.simulations.instances import FAMILIES, make_instance

    for family in FAMILIES:
        for index in range(4):
            for problem in make_instance(family, 21, index).problems:
                problem = _cross_entropy(problem)
                res = solve_fast(problem, tol=FAST_TOL)
                assert problem.Lambda.contains(res.lam, tol=INSIDE_TOL), (family, index)
                assert certify(problem, res.gate, res.lam).gap <= FAST_TOL, (family, index)


def test_fast_stall_on_box_face_cross_entropy():
    """SPEC algorithm 2: a perfect-experts box game (``perfect_nested`` seed 7 index 200, outer
    set) where the gradient spread on the free face is 1e-8: the Newton step that closes the
    gap raises ``phi`` by less than its rounding. The QP's decrease test and the outer slope
    both cancelled to rounding and the solver stalled at gap 2e-9; the step must be taken."""
    from robust_gates.simulations.instances import make_instance

    problem = _cross_entropy(make_instance("perfect_nested", 7, 200).problems[1])
    res = solve_fast(problem, tol=FAST_TOL)
    assert res.gap <= FAST_TOL and problem.Lambda.contains(res.lam, tol=INSIDE_TOL)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**31), m=st.integers(2, 7), rows=st.integers(1, 3))
def test_active_set_qp_dependent_constraints(seed, m, rows):
    """Building block of algorithm 2 on degenerate constraints: duplicated rows (a box bound
    ``lo_k = 0`` next to ``x_k >= 0``), rows that are sums of others, rows parallel to the
    equality, rows tight at the start. The returned point is feasible to rounding (``1e-14``
    per unit row) and no worse than the start."""
    rng = np.random.default_rng(seed)
    R = rng.normal(size=(m, m))
    M = R @ R.T + 1e-6 * np.eye(m)
    c = rng.normal(size=m) * 3
    x0 = rng.dirichlet(np.ones(m))
    x0[1:][rng.random(m - 1) < 0.3] = 0.0  # some coordinates at their bound, never all
    x0 /= x0.sum()
    A = rng.normal(size=(rows, m))
    b = A @ x0 + np.where(rng.random(rows) < 0.5, 0.0, rng.random(rows) * 0.1)  # some tight
    A = np.vstack([A, A[:1] * 2.0, A.sum(axis=0, keepdims=True), np.ones((1, m)), -np.eye(m)])
    b = np.concatenate([b, b[:1] * 2.0, [b.sum()], [1.0], np.zeros(m)])
    G = np.vstack([A, -np.eye(m)])  # x >= 0 twice, as the fast solver builds it for a box
    h = np.concatenate([b, np.zeros(m)])
    y, _ = active_set_qp(M, c, x0, G, h)
    norms = np.linalg.norm(G, axis=1)
    assert abs(y.sum() - 1) <= 1e-13
    assert np.all((G @ y - h) / norms <= 1e-14 + np.maximum((G @ x0 - h) / norms, 0.0))

    def objective(z):
        return 0.5 * (z - x0) @ M @ (z - x0) - c @ (z - x0)

    assert objective(y) <= 1e-12


@pytest.mark.parametrize("seed, K, n, experts", [(34880613, 2, 2, "noisy"), (1326511735, 3, 2, "sparse")])
def test_tv_ball_instances_that_stalled_a_qp_rewrite(seed, K, n, experts):
    """SPEC algorithm 2: two small TV-ball games on which a rewritten active-set QP stalled at
    gap 2e-2 (found by hypothesis in CI); the fast solver must certify them and agree with the
    reference."""
    problem = _instance(seed, K, n, "tv_ball", "kl", experts)
    fast = solve_fast(problem)
    ref = solve_reference(problem)
    assert fast.gap <= 1e-9 and problem.Lambda.contains(fast.lam, tol=1e-12)
    assert abs(fast.value - ref.value) <= 1e-6


def test_unweighed_uncovered_domain_gets_exact_zero():
    """Fuzz find (ROBUST_GATES_FUZZ=long, also on the commit before issue 17's work): box_hi = 0 on
    a domain with mass where no expert has any. The QP left that domain a weight of 3e-21, times
    its infinite loss an infinite phi, and no result; Lambda never weighs it, so it gets exactly 0
    and the game is certified (SPEC section 2)."""
    D = np.array([[0.0642725201547037, 0.03236436873357023, 0.9033631111117261, 0.0],
                  [0.0, 0.0, 1.0, 0.0],
                  [0.0001520723422003645, 0.4998479276577996, 0.0, 0.5]])
    P = np.array([[0.2525142734257493, 0.0510793280401621, 0.6964063985340886, 0.0],
                  [0.19465777902386097, 0.09342391184464505, 0.7119183091314939, 0.0],
                  [0.04671154616936021, 0.750697332068034, 0.2025911217626057, 0.0]])
    problem = RobustProblem(D, P, Box(np.zeros(3), np.array([1.0, 1.0, 0.0])))
    res = solve_fast(problem, tol=FAST_TOL)
    assert res.lam[2] == 0.0 and problem.Lambda.contains(res.lam)
    cert = certify(problem, res.gate, res.lam)
    assert -ROUND_TOL <= cert.gap <= FAST_TOL
    ref = solve_reference(problem)
    assert abs(res.value - ref.value) <= VALUE_TOL + ref.gap


def test_fast_returns_a_gap_within_tol_instead_of_stalling():
    """Issue #21 item 1: a box of perfect experts (sweep seed perfect_face 0-2402065275-1587)
    where Newton stalls at gap 5.04e-10, above the loop's safety target 0.5 tol but within
    tol = 1e-9: the solver must return the certified pair, not raise "stalled"."""
    D = np.array([[0.0, 0.0, 1.0, 0.0], [1.0, 0.0, 0.0, 0.0],
                  [0.6530305536532947, 0.0017704571714610821, 0.258081832173374,
                   0.08711715700187031]])
    prob = RobustProblem(D, D, Box([0.9547633365735291, 0.0, 0.0],
                                   [1.0, 0.04523666342647088, 0.000470405865864027]))
    fast = solve_fast(prob, tol=1e-9)
    cert = certify(prob, fast.gate, fast.lam)
    assert 0.0 <= cert.gap <= 1e-9
    assert prob.Lambda.contains(fast.lam, tol=INSIDE_TOL)
    ref = solve_reference(prob, tol=1e-7)  # the conic solvers do not reach 1e-9 here
    assert abs(fast.value - ref.value) <= ref.gap + fast.gap + 1e-12


def test_fast_polytope_certificate_never_negative():
    """Issue #21 item 1: a polytope of perfect experts (K = 8, sweep seed perfect_polytope
    0-597067487-684) on which the linear maximization over Lambda, at HiGHS's default
    tolerances, stopped 3e-9 below the maximum: the certificate gap came out -1.7e-9 (a primal
    below V). The returned mixture must be in Lambda, the gap in [0, tol], and the primal at
    least the loss of every mixture we can exhibit in Lambda (the returned one included)."""
    from pathlib import Path

    from robust_gates.simulations import load_problem

    prob = load_problem(Path(__file__).parent / "data" / "fast_polytope_lp_tolerance.json")
    fast = solve_fast(prob, tol=1e-9)
    A, b = prob.Lambda.inequalities()
    assert np.max(A @ fast.lam - b) <= INSIDE_TOL and fast.lam.min() >= 0
    cert = certify(prob, fast.gate, fast.lam)
    assert 0.0 <= cert.gap <= 1e-9
    losses = prob.losses(fast.model)
    assert cert.primal >= float(fast.lam @ losses) - 1e-15


def test_fast_perfect_sparse_capacity_weights_near_zero():
    """Issue #21 item 1: perfect sparse experts (instance perfect_sparse, seed (1, 1862178980,
    104), K = 8, n = 11) whose capacity-achieving mixture keeps weights ~1e-18 (a domain point
    covered only by those experts, so the robust model there is ~1e-20). The regularization
    floor scaled by the largest curvature (~1e15) damped the ascent to a gap 5.6e-4 after 200
    steps, and the two-expert gate rounded that 1e-20 to 0 (infinite loss). Must certify to
    1e-9 and agree with the Blahut-Arimoto capacity."""
    from robust_gates.simulations.instances import make_instance

    prob = make_instance("perfect_sparse", 1, 104).problem
    fast = solve_fast(prob, tol=1e-9)
    cert = certify(prob, fast.gate, fast.lam)
    assert 0.0 <= cert.gap <= 1e-9
    assert prob.Lambda.contains(fast.lam, tol=INSIDE_TOL)
    cap = capacity(prob.D)
    assert cap.lower - 1e-9 <= fast.value <= cap.upper + 1e-9


@pytest.mark.parametrize("family,seed,index", [("perfect_sparse", 1, 1256), ("perfect_face", 0, 899)])
def test_fast_solves_on_the_face_where_tiny_weights_vanish(family, seed, index):
    """Issue 21 item 2: perfect_sparse (1, 1862178980, 1256) (K = 4, n = 3; the optimum weighs a
    domain ~1e-90, so Newton's model has a curvature ~1e90 there and the other weights stall at a
    gap 1.9e-8) and perfect_face (0, 2402065275, 899) (a box face, gap 3.4e-5 after 200 steps).
    The fast solver re-solves on the face where those weights are exactly 0 and covers the dropped
    domains with a small share of its best model: certified to 1e-9 by the independent
    certificate, lam in Lambda, and the value agrees with the reference solver's bracket."""
    from robust_gates.simulations.instances import make_instance

    prob = make_instance(family, seed, index).problem
    fast = solve_fast(prob, tol=1e-9)
    cert = certify(prob, fast.gate, fast.lam)
    assert cert.gap <= 1e-9
    assert prob.Lambda.contains(fast.lam, tol=INSIDE_TOL)
    ref = solve(prob, solver="reference", tol=1e-6)
    assert ref.lower_bound - 1e-9 <= fast.value and fast.lower_bound <= ref.value + 1e-9


@pytest.mark.parametrize("seed,index", [(7, 1147), (0, 1336), (0, 5035)])
def test_fast_takes_the_face_newton_step_below_the_qp_step_floor(seed, index):
    """Issue 21 item 3 (T3-G on sparse): K = 4, n = 3, a least-favorable weight ~8e-9. The step it
    still needs (~5e-16) is below the active-set QP's absolute step floor, so the QP returned no
    step and the ascent stalled at gap 2e-9 (and the check was left inconclusive, the reference's
    gap being 1e-8). Newton on the face of the simplex takes it: certified to 1e-9 directly."""
    from robust_gates.simulations.instances import make_instance

    prob = make_instance("sparse", seed, index).problem
    fast = solve_fast(prob, tol=1e-9)
    assert certify(prob, fast.gate, fast.lam).gap <= 1e-9
    assert prob.Lambda.contains(fast.lam, tol=INSIDE_TOL)


def test_zero_snap_keeps_tiny_weights_positive():
    """Issue 21: the face solution has exact zeros where the capacity-achieving mixture keeps
    weights ~1e-65 (perfect_nested_lowdim (0, 4092016752, 1110), simplex game of T3: only the
    first domain reaches one point). Returned as zeros, D_lam* left that point uncovered and T3's
    min KL(D_lam||D_lam*) was infinite (a spurious refutation). The returned lam keeps a small
    share of the best dual point: every weight positive, still certified to 1e-9."""
    from robust_gates.simulations.instances import make_instance
    from robust_gates.simulations.statements.specialization import perfect_game
    from robust_gates.theory.lambda_sets import Simplex

    p = make_instance("perfect_nested_lowdim", 0, 1110).problem
    S = perfect_game(p, Simplex(p.K))
    fast = solve_fast(S, tol=1e-9)
    assert certify(S, fast.gate, fast.lam).gap <= 1e-9
    assert fast.lam.min() > 0
    assert np.all(fast.lam @ S.D > 0)
