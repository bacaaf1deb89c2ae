"""The fast solver's lean path when ``Lambda`` is the simplex (issue 17, items 2 and 3).

Its answers are checked against the reference solver (to 1e-8) and the independent
:func:`certify`; its QP against a brute-force KKT check; its subsampled Hessian path on a problem
made large for it by lowering the thresholds; and the cases where it declines (other sets, a
progress bar, degenerate envelopes, ``max_iter`` too small) come back from the general path.
"""

from __future__ import annotations

import numpy as np
import pytest

from robust_gates.theory import Box, RobustProblem, certify, solve_fast, solve_reference
from robust_gates.theory.solvers import lean
from robust_gates.theory.solvers.fast import certified_result, dual_ascent

TOL = 1e-9


def _game(seed: int, K: int, n: int, noise: float = 0.2, payoff: str = "kl", perfect: bool = False):
    rng = np.random.default_rng(seed)
    D = rng.dirichlet(np.full(n, 0.5), size=K)
    P = None if perfect else (1 - noise) * D + noise * rng.dirichlet(np.ones(n), size=K)
    return RobustProblem(D, P, payoff=payoff)


@pytest.mark.parametrize("payoff", ["kl", "cross_entropy"])
@pytest.mark.parametrize("K,n,perfect", [(4, 50, False), (3, 20, True), (6, 200, False)])
def test_lean_path_matches_reference_and_is_certified(K, n, perfect, payoff):
    """SPEC algorithm 2 on the simplex: the lean path's value equals the reference solver's to
    1e-8, its gap is recomputed by certify, lam is a mixture, and every array is read-only."""
    p = _game(K * 100 + n, K, n, payoff=payoff, perfect=perfect)
    assert lean.lean_applies(p)
    res = solve_fast(p, tol=TOL)
    assert "lean" in res.backend
    ref = solve_reference(p)
    assert abs(res.value - ref.value) <= 1e-8
    cert = certify(p, res.gate, res.lam)
    assert -1e-12 <= cert.gap <= TOL and abs(cert.gap - res.gap) <= 1e-12
    assert abs(cert.primal - res.value) <= 1e-12
    assert res.lam.min() >= 0 and abs(res.lam.sum() - 1) <= 1e-12
    for arr in (res.gate, res.model, res.lam):
        with pytest.raises(ValueError):
            arr[0] = 0.0


def test_lean_path_equals_general_path():
    """The lean path and the general path (dual_ascent + certified_result) certify the same value."""
    for seed in range(4):
        p = _game(seed, 5, 80)
        lean_res = lean.solve_lean(p, tol=TOL)
        general = certified_result(p, dual_ascent(p, tol=TOL), TOL)
        assert lean_res is not None
        assert abs(lean_res.value - general.value) <= 2 * TOL


def test_subsampled_hessian_path(monkeypatch):
    """Large K n: Newton with the block-subsampled Hessian (thresholds lowered so that a small
    problem takes it) still ends certified at the reference value."""
    monkeypatch.setattr(lean, "SUBSAMPLE_ENTRIES", 1000)
    monkeypatch.setattr(lean, "HESSIAN_COLUMNS", 1024)
    monkeypatch.setattr(lean, "_BLOCK", 512)
    p = _game(11, 6, 8 * 1024 + 37)
    assert lean._hessian_blocks(p.n) == (8, 2)  # 16 blocks, 2 taken
    res = lean.solve_lean(p, tol=TOL)
    assert res is not None and res.gap <= TOL
    assert certify(p, res.gate, res.lam).gap <= TOL
    assert abs(res.value - solve_reference(p).value) <= 1e-8


def test_subsample_blocks_and_hessian():
    """The subsample is every step-th block of _BLOCK columns, read as one contiguous array, and the
    Hessian from all of a problem's columns equals the general solver's."""
    from robust_gates.theory.solvers.fast import dual_hessian

    a = np.arange(3 * 10 * lean._BLOCK, dtype=float).reshape(3, -1)
    b = lean._blocks(a, 3, 2)
    B = lean._BLOCK
    assert b.shape == (3, 2, B) and np.shares_memory(a, b)
    assert np.array_equal(b.reshape(3, -1), np.hstack([a[:, :B], a[:, 3 * B:4 * B]]))
    p = _game(3, 4, 300)
    lam = np.array([0.1, 0.2, 0.3, 0.4])
    d = lam @ p.D
    q, _ = lean._fill(d, p.l, p.u, 1.0)
    H = lean._hessian(p.D, lam, q, d, p.l, p.u)
    assert np.allclose(H, dual_hessian(p, lam), atol=1e-9 * np.abs(H).max())


def test_simplex_qp_kkt():
    """The simplex QP ends at a KKT point: feasible, stationary on the support, multipliers of the
    zero coordinates non-negative; a brute force over supports agrees."""
    rng = np.random.default_rng(5)
    for _ in range(30):
        K = int(rng.integers(2, 7))
        A = rng.normal(size=(K, K))
        M = A @ A.T + 0.1 * np.eye(K)
        c = 3 * rng.normal(size=K)
        x0 = rng.dirichlet(np.ones(K))
        y = lean.simplex_qp(M, c, x0)
        assert y is not None and y.min() >= 0 and abs(y.sum() - 1) <= 1e-11

        def obj(v, M=M, c=c, x0=x0):
            return 0.5 * (v - x0) @ M @ (v - x0) - c @ (v - x0)

        best = np.inf
        for mask in range(1, 2 ** K):
            S = [k for k in range(K) if mask >> k & 1]
            kkt = np.zeros((len(S) + 1, len(S) + 1))
            kkt[:-1, :-1] = M[np.ix_(S, S)]
            kkt[:-1, -1] = kkt[-1, :-1] = 1.0
            r = (c + M @ x0)[S]
            sol = np.linalg.solve(kkt, np.r_[r, 1.0])
            if sol[:-1].min() >= -1e-12:
                v = np.zeros(K)
                v[S] = sol[:-1]
                best = min(best, obj(v))
        assert obj(y) <= best + 1e-10


def test_lean_path_declines():
    """The lean path is not taken for another Lambda or with a progress bar, and returns None (the
    general path answers) when max_iter is too small or the envelope is degenerate."""
    p = _game(1, 4, 40)
    boxed = RobustProblem(p.D, p.P, Box(np.zeros(4), np.full(4, 0.6)))
    assert not lean.lean_applies(boxed)
    assert "lean" not in solve_fast(boxed, tol=TOL).backend
    assert "lean" not in solve_fast(p, tol=TOL, verbose=True).backend
    assert lean.solve_lean(p, tol=TOL, max_iter=1) is None
    with pytest.raises(Exception, match="max_iter"):
        solve_fast(p, tol=TOL, max_iter=1)
    # every expert the same: l = u, the envelope is one point (the general path's closed case)
    same = RobustProblem(p.D, np.repeat(p.P[:1], 4, axis=0))
    assert lean.solve_lean(same, tol=TOL) is None
    res = solve_fast(same, tol=TOL)
    assert res.gap <= TOL and "lean" not in res.backend


def test_lean_path_points_no_domain_weighs():
    """Points where every domain has zero mass and some expert gives zero probability (q = 0 there,
    0 log 0 = 0) stay on the lean path, certified at the reference value."""
    rng = np.random.default_rng(9)
    D = rng.dirichlet(np.ones(30), size=3)
    D[:, :4] = 0.0
    D /= D.sum(axis=1, keepdims=True)
    P = 0.7 * D + 0.3 * rng.dirichlet(np.ones(30), size=3)
    P[0, :2] = 0.0
    P /= P.sum(axis=1, keepdims=True)
    p = RobustProblem(D, P)
    res = lean.solve_lean(p, tol=TOL)
    assert res is not None and res.gap <= TOL
    assert certify(p, res.gate, res.lam).gap <= TOL
    assert abs(res.value - solve_reference(p).value) <= 1e-8


def test_dense_gate_equals_two_expert_dense():
    """The lean path writes the dense gate in column blocks: the same array, bit for bit, as the
    two-expert gate's own ``dense`` (including columns where one expert attains both envelopes)."""
    from robust_gates.theory.solvers.fast import TwoExpertGate

    rng = np.random.default_rng(3)
    n = 1000
    kmin, kmax = rng.integers(0, 5, size=(2, n))
    kmax[::4] = kmin[::4]
    t = rng.random(n)
    gate = TwoExpertGate(kmin, kmax, t, 1.0 - t + 1e-17 * rng.random(n))
    out = lean._dense(kmin, kmax, t, gate.upper_weight, 5, step=128)
    assert np.array_equal(out, gate.dense(5)) and not out.flags.writeable


def test_envelope_experts_are_the_first_attaining_l_and_u():
    """The experts at the envelope (one cached sweep on the problem, used by the general and the
    lean path) are the first expert attaining l and u at every point, ties included."""
    rng = np.random.default_rng(4)
    P = rng.dirichlet(np.ones(5000), size=4)
    P[2] = np.r_[P[0, :100], P[0, 100:][::-1]]  # ties on the first 100 points: the first wins
    p = RobustProblem(P, P)
    kmin, kmax = p.envelope_experts
    assert np.array_equal(kmin, P.argmin(axis=0)) and np.array_equal(kmax, P.argmax(axis=0))
    assert p.envelope_experts[0] is kmin and not kmin.flags.writeable  # cached, read-only


def test_certificate_dual_is_a_lower_bound_at_any_level(monkeypatch):
    """An inaccurate water-filling (a level off by a factor) can only lower the certificate's dual:
    it stays below phi(lam), so a wrong value is never certified (issue 21)."""
    p = _game(12, 4, 60)
    res = lean.solve_lean(p, tol=TOL)
    lam = np.asarray(res.lam)
    exact = p.phi(lam)
    fill = lean._fill
    for factor in (0.5, 0.9, 1.1, 3.0):
        def off(d, l, u, t, work=None, factor=factor):
            q, level = fill(d, l, u, t, work)
            level *= factor
            return np.minimum(np.maximum(level * d, l), u), level

        monkeypatch.setattr(lean, "_fill", off)
        _, dual = lean._certificate(p, lam, np.asarray(res.model))
        assert dual <= exact + 1e-12
    monkeypatch.setattr(lean, "_fill", fill)
    assert abs(lean._certificate(p, lam, np.asarray(res.model))[1] - exact) <= 1e-12


@pytest.mark.parametrize("box", [False, True])
def test_gate_is_written_on_first_access_and_pickles(box):
    """The fast solver returns its gate in two-expert form (lean path on the simplex, general path
    on a box): nothing ``(K, n)`` is written by the solve, repr or to_dict; the first access
    writes a read-only array in G_1 that :func:`certify` accepts with the solve's gap, later
    accesses return the same array, and a pickled result (as sweeps send them between processes)
    gives the same gate."""
    import pickle

    from robust_gates.theory.solvers.result import LazyGate

    p = _game(7, 5, 300)
    if box:
        p = RobustProblem(p.D, p.P, Box(np.full(5, 0.1), np.full(5, 0.5)))
    res = solve_fast(p, tol=TOL)
    assert ("lean" in res.backend) != box
    assert isinstance(res.__dict__["_gate"], LazyGate)
    repr(res), res.to_dict()
    assert isinstance(res.__dict__["_gate"], LazyGate)
    copy = pickle.loads(pickle.dumps(res))
    g = res.gate
    assert g is res.gate and not g.flags.writeable and g.shape == (5, 300)
    assert np.allclose(g.sum(axis=0), 1.0, atol=1e-12) and g.min() >= 0
    assert abs(certify(p, g, res.lam).gap - res.gap) <= 1e-12
    assert np.array_equal(copy.gate, g)
    with pytest.raises(AttributeError):
        res.gate = np.zeros_like(g)
    with pytest.raises(AttributeError):  # not even past the frozen dataclass
        object.__setattr__(res, "gate", np.zeros_like(g))
    import copy as copymod

    for c in (copy, pickle.loads(pickle.dumps(res)), copymod.deepcopy(res)):  # copies stay frozen
        assert not (c.gate.flags.writeable or c.model.flags.writeable or c.lam.flags.writeable)


def test_work_pool_never_hands_out_an_array_in_use():
    """The large path's memory pool reuses an array only when nothing references it: not while
    a variable, a view of it or a result holds it; and a large solve matches the general path."""
    w = lean._Work(5000)
    a, b = w.take(), w.take()
    assert a is not b
    view = b[:10]
    a_id = id(a)
    del a, b
    c = w.take()
    assert id(c) == a_id  # a is free again; b is held by its view
    d = w.take()
    assert d is not c and d is not view.base and len(w.pool) == 3
    p = _game(11, 4, 6000)
    res = solve_fast(p, tol=TOL)
    assert "lean" in res.backend
    assert abs(res.value - dual_ascent(p, tol=TOL).primal) <= 2 * TOL
    assert abs(certify(p, res.gate, res.lam).gap - res.gap) <= 1e-12


def test_lagged_hessian_saves_hessians_and_agrees(monkeypatch):
    """The subsampled Hessian kept for up to LAG_STEPS steps while full Newton steps cut the gap
    by LAG_CUT (thresholds lowered so that n = 20480 takes the subsampled path): on this game
    each step of the lag saves one Hessian, and every variant certifies the general path's
    value (to the tolerance)."""
    from robust_gates.theory.solvers.fast import certified_result

    monkeypatch.setattr(lean, "SUBSAMPLE_ENTRIES", 1000)
    monkeypatch.setattr(lean, "HESSIAN_COLUMNS", 8192)
    monkeypatch.setattr(lean, "_BLOCK", 512)  # 16 blocks of 512, as the thresholds were set for
    rng = np.random.default_rng(1)
    D = rng.dirichlet(np.full(20480, 5.0), size=4)
    P = 0.9 * D + 0.1 * rng.dirichlet(np.full(20480, 5.0), size=4)
    p = RobustProblem(D, P, payoff="cross_entropy")
    count = {"hessians": 0}
    original = lean._hessian

    def counted(*args, **kwargs):
        count["hessians"] += 1
        return original(*args, **kwargs)

    monkeypatch.setattr(lean, "_hessian", counted)
    used = {}
    for lag in (2, 1, 0):
        monkeypatch.setattr(lean, "LAG_HESSIAN", lag > 0)
        monkeypatch.setattr(lean, "LAG_STEPS", lag)
        count["hessians"] = 0
        res = lean.solve_lean(p, tol=TOL)
        assert res is not None and res.gap <= TOL
        used[lag] = (count["hessians"], res.value)
    assert used[2][0] == used[1][0] - 1 == used[0][0] - 2
    general = certified_result(p, dual_ascent(p, tol=TOL), TOL).value
    assert all(abs(value - general) <= 2 * TOL for _, value in used.values())


def test_chunked_fill_matches_whole_array_fill():
    """The large water-filling (column chunks, slope in the same sweep, scratch from _Work) ends
    at the level of the whole-array one to rounding, with the mass one and q = clip(t d, l, u),
    over several chunks and a partial last one."""
    n = 3 * lean._FILL_CHUNK + 123
    p = _game(4, 5, n)
    lam = np.array([0.1, 0.3, 0.2, 0.25, 0.15])
    d = lam @ p.D
    q_small, t_small = lean._fill(d, p.l, p.u, 0.7)
    q_large, t_large = lean._fill(d, p.l, p.u, 0.7, lean._Work(n))
    assert abs(t_large - t_small) <= 1e-12 * t_small
    assert abs(q_large.sum() - 1.0) <= 1e-13
    assert np.array_equal(q_large, np.fmin(np.fmax(t_large * d, p.l), p.u))
    assert np.allclose(q_large, q_small, rtol=1e-12, atol=0)


@pytest.mark.parametrize("agree", [True, False])
def test_one_read_gate_equals_the_whole_array_gate(agree):
    """The large path's one-read gate (column chunks, the model over q) gives the small path's
    weights and model bit for bit, with the mass and the worst |t + s - 1|: with u > l
    everywhere (the plain division) and with points where every expert agrees (u = l: weight one
    on the first expert)."""
    n = 2 * lean._FILL_CHUNK + 77
    rng = np.random.default_rng(3)
    same = rng.choice(n, size=500 if agree else 0, replace=False)
    other = np.setdiff1d(np.arange(n), same)
    P = np.empty((3, n))
    if agree:  # every expert the same there: u = l (the masked branch in every chunk)
        P[:, same] = 0.2 * rng.dirichlet(np.ones(500))
    P[:, other] = (0.8 if agree else 1.0) * rng.dirichlet(np.ones(other.size), size=3)
    p = RobustProblem(rng.dirichlet(np.ones(n), size=3), P)
    q, _ = lean._fill(np.full(3, 1 / 3) @ p.D, p.l, p.u, 1.0)
    t, s = lean._gate(p, q)
    kmin, kmax = p.P.argmin(axis=0), p.P.argmax(axis=0)
    model = t * p.l + s * p.u
    got = lean._gate_certificate(p, q.copy(), np.full(3, 1 / 3), lean._Work(n))
    assert np.array_equal(got[0], kmin) and np.array_equal(got[1], kmax)
    assert np.array_equal(got[2], t) and np.array_equal(got[3], s)
    assert np.array_equal(got[4], model)
    assert np.all(t[same] == 1.0) and np.all(s[same] == 0.0)
    assert abs(got[5] - model.sum()) <= 1e-13 and got[6] == np.abs(t + s - 1).max()


def test_subsampled_hessian_at_the_default_blocks(monkeypatch):
    """The default subsample (blocks of _BLOCK columns, HESSIAN_COLUMNS in all) on the smallest
    problem that takes it: the Newton path ends certified, the gap recomputed by certify."""
    n = 2 * lean.HESSIAN_COLUMNS
    K = lean.SUBSAMPLE_ENTRIES // n + 1
    assert lean._hessian_blocks(n) == (2, lean.HESSIAN_COLUMNS // lean._BLOCK)
    p = _game(2, K, n)
    calls = {"sub": 0}
    original = lean._hessian

    def counted(*args, **kwargs):
        calls["sub"] += (args[6] if len(args) > 6 else kwargs.get("sub")) is not None
        return original(*args, **kwargs)

    monkeypatch.setattr(lean, "_hessian", counted)
    res = lean.solve_lean(p, tol=TOL)
    assert calls["sub"] >= 1
    assert res is not None and res.gap <= TOL
    assert -1e-12 <= certify(p, res.gate, res.lam).gap <= TOL


def test_level_from_the_last_clipped_points():
    """Large problems start each evaluation's water-filling at the level that keeps the last
    evaluation's clipped points clipped: after a small step of lam the water-filling ends at
    that level in its first sweep (the level it returns is the start itself), and the start is
    the exact level to rounding."""
    n = 2 * lean._FILL_CHUNK + 11
    p = _game(8, 5, n)
    work = lean._Work(n)
    lam = np.array([0.1, 0.3, 0.2, 0.25, 0.15])
    q, t = lean._fill(lam @ p.D, p.l, p.u, 1.0, work)
    clipped = (work.clipped.copy(), q[work.clipped])
    at = clipped[0]
    assert 0 < at.size < n and np.all((q[at] == p.l[at]) | (q[at] == p.u[at]))
    d2 = (lam + 1e-6 * np.array([1.0, -1.0, 0.5, -0.5, 0.0])) @ p.D
    start = lean._level(d2, clipped, t)
    assert start != t
    q2, t2 = lean._fill(d2, p.l, p.u, start, work)
    assert t2 == start and abs(q2.sum() - 1.0) <= 1e-14
    assert lean._level(d2, (np.zeros(0, dtype=np.intp), np.zeros(0)), t) == 1.0 / d2.sum()




def _large_game(seed: int = 5, K: int = 8):
    """A problem on the large path (``n > WORK_N``) over several chunks of the one-read
    certificate, with points clipped to the envelope."""
    n = 2 * (lean._ONE_READ_ENTRIES // K) + 1234
    return _game(seed, K, n)


def test_one_read_certificate_is_a_lower_bound_at_any_level(monkeypatch):
    """The one-read certificate evaluates the Lagrangian at the level read off the gate's model,
    without iterating: its primal is max_k loss of the model, at a level off by a factor its dual
    stays below phi(lam) (never a wrong certificate), and at the right one it is phi(lam) to
    rounding; a solve whose one-level gap exceeds tol certifies with the iterated water-filling
    instead, and ends with the same value."""
    p = _large_game(9)
    lam, q = lean._ascent(p, TOL, 200)[:2]
    exact = p.phi(lam)
    out = lean._gate_certificate(p, q.copy(), lam, lean._Work(p.n))
    model, (primal, dual) = out[4], out[7]
    assert abs(dual - exact) <= 1e-12 and primal - dual <= TOL
    assert abs(primal - float(np.max(p.losses(model)))) <= 1e-12
    level = lean._sample_level
    ref = lean.solve_lean(p, tol=TOL)
    for factor in (0.5, 0.99, 1.01, 3.0):
        monkeypatch.setattr(lean, "_sample_level", lambda *a, f=factor: f * level(*a))
        off = lean._gate_certificate(p, q.copy(), lam, lean._Work(p.n))[7][1]
        assert off <= exact + 1e-12 and off < dual
        res = lean.solve_lean(p, tol=TOL)  # falls back to the iterated certificate
        assert res is not None and res.gap <= TOL and abs(res.value - ref.value) <= 1e-12


def test_large_fill_with_most_of_the_mass_clipped():
    """The large water-filling's slope is the total of d less its clipped points; where nearly
    all the mass is clipped it sums the free set itself, and still ends at the level of the
    whole-array water-filling."""
    n = 2 * lean._FILL_CHUNK + 5
    rng = np.random.default_rng(1)
    d = rng.dirichlet(np.ones(n))
    d[:10] += 1e7  # ten points carry all of D_lam but a few 1e-9 (the slope is summed directly)
    d /= d.sum()
    l = np.full(n, 0.2 / n)
    u = np.full(n, 0.8 / n)
    u[:10] = 0.05
    l[:10] = 0.05 - 1e-9
    q_small, t_small = lean._fill(d, l, u, 1.0)
    q_large, t_large = lean._fill(d, l, u, 1.0, lean._Work(n))
    assert abs(q_large.sum() - 1.0) <= 1e-13 and abs(q_small.sum() - 1.0) <= 1e-13
    assert np.allclose(q_large, q_small, rtol=1e-10, atol=0)


def _zero_game(seed: int = 13, K: int = 6):
    """A large problem with perfect experts and points where some domains have no mass (``l = 0``
    there: the logarithms take the covered branch)."""
    n = 2 * (lean._ONE_READ_ENTRIES // K) + 321
    rng = np.random.default_rng(seed)
    D = rng.dirichlet(np.full(n, 0.5), size=K)
    D[rng.random((K, n)) < 0.1] = 0.0
    D /= D.sum(axis=1, keepdims=True)
    return RobustProblem(D)


def _solve_recording_finish(monkeypatch, p, name: str):
    """solve_lean with the finish ``name`` recorded: the solve ends there (its last call
    certifies), and its result is certify's to rounding, with phi(lam) as its lower bound."""
    outcomes = []
    original = getattr(lean, name)

    def recorded(*args):
        out = original(*args)
        outcomes.append(out[1] is not None)
        return out

    monkeypatch.setattr(lean, name, recorded)
    res = lean.solve_lean(p, tol=TOL)
    assert res is not None and outcomes and outcomes[-1]
    cert = certify(p, res.gate, res.lam)
    assert -1e-12 <= cert.gap <= TOL and abs(cert.gap - res.gap) <= 1e-12
    assert abs(res.lower_bound - p.phi(res.lam)) <= 1e-12
    return res


@pytest.mark.parametrize("case", ["kl", "cross_entropy", "zeros"])
def test_finish_certifies_the_last_step_in_its_read(monkeypatch, case):
    """On large problems the ascent's last step is evaluated and certified in one read
    (_finish): the solve ends there, certify recomputes its gap, its lower bound is phi(lam) to
    rounding, and its value is the general path's."""
    p = _zero_game() if case == "zeros" else _large_game(11) if case == "kl" else \
        RobustProblem(_large_game(11).D, _large_game(11).P, payoff="cross_entropy")
    if case == "zeros":
        assert p.l.min() == 0.0
    res = _solve_recording_finish(monkeypatch, p, "_finish")
    assert abs(res.value - float(np.max(p.losses(res.model)))) <= 1e-12
    general = certified_result(p, dual_ascent(p, tol=TOL), TOL)
    assert abs(res.value - general.value) <= 2 * TOL


def test_finish_that_falls_short_is_the_evaluation(monkeypatch):
    """Where _finish cannot certify (tol = 0 here), it returns the evaluation of lam bit for bit
    as _evaluate makes it, and a solve whose every _finish falls short goes on with those and
    ends certified, at the same value, by the separate gate and certificate."""
    p = _large_game(12)
    const = -p.entropies
    lam = np.linspace(1.0, 2.0, p.K)
    lam /= lam.sum()
    ev, fin = lean._finish(p, const, lam, 1.0, lean._Work(p.n), True, None, 0.0)
    ref = lean._evaluate(p.D, p.l, p.u, const, lam, 1.0, lean._Work(p.n), True)
    assert fin is None and ev.d is None and ref.d is None
    assert np.array_equal(ev.losses, ref.losses) and np.array_equal(ev.q, ref.q)
    assert ev.t == ref.t and ev.dual == ref.dual and ev.primal == ref.primal
    assert all(np.array_equal(a, b) for a, b in zip(ev.clipped, ref.clipped, strict=True))
    original = lean._finish
    calls = []

    def short(*args):
        calls.append(1)
        return original(*args[:-1], 0.0)

    ref_value = lean.solve_lean(p, tol=TOL).value
    monkeypatch.setattr(lean, "_finish", short)
    res = lean.solve_lean(p, tol=TOL)
    assert calls and res is not None and res.gap <= TOL
    assert abs(res.value - ref_value) <= 2 * TOL
    assert -1e-12 <= certify(p, res.gate, res.lam).gap <= TOL


def test_small_solves_finish_in_one_step(monkeypatch):
    """Small problems (whole arrays) end the ascent with _finish_small as well: the solve's last
    step is certified there, and its numbers are those of certify and of the reference solver;
    where it cannot certify (tol = 0) it returns the evaluation as _evaluate makes it."""
    p = _game(21, 4, 50)
    original = lean._finish_small
    res = _solve_recording_finish(monkeypatch, p, "_finish_small")
    assert abs(res.value - solve_reference(p).value) <= 1e-8
    const = -p.entropies
    lam = np.array([0.1, 0.2, 0.3, 0.4])
    ev, fin = original(p, const, lam, 1.0, True, 0.0)
    ref = lean._evaluate(p.D, p.l, p.u, const, lam, 1.0, None, True)
    assert fin is None and np.array_equal(ev.losses, ref.losses) and np.array_equal(ev.q, ref.q)
    assert np.array_equal(ev.d, ref.d) and ev.t == ref.t and ev.dual == ref.dual


@pytest.mark.parametrize("large", [True, False])
def test_finish_certificate_does_not_trust_the_water_filling(monkeypatch, large):
    """The finishing certificate recomputes its best response at the level: with a water-filling
    that returns a wrong q (mass moved between pairs of free points, still a distribution inside
    the envelope), the gate is that of the wrong q and its primal is measured as such, while the
    dual stays phi(lam), a lower bound."""
    p = _large_game(14) if large else _game(22, 4, 60)
    const = -p.entropies
    lam = np.full(p.K, 1.0 / p.K)
    lam[0] += 0.05
    lam /= lam.sum()
    original = lean._fill

    def wrong(d, l, u, t, work=None):
        q, level = original(d, l, u, t, work)
        free = np.flatnonzero((q > l) & (q < u))
        a, b = free[0:-1:2], free[1::2]
        move = 0.5 * np.minimum(q[a] - l[a], u[b] - q[b])
        q[a] -= move
        q[b] += move
        return q, level

    monkeypatch.setattr(lean, "_fill", wrong)
    if large:
        _, fin = lean._finish(p, const, lam, 1.0, lean._Work(p.n), True, None, 1e3)
        t, s, model, (primal, dual) = fin[2], fin[3], fin[4], fin[7]
    else:
        _, fin = lean._finish_small(p, const, lam, 1.0, True, 1e3)
        t, s, model, (primal, dual) = fin[0], fin[1], fin[2], fin[5]
    assert np.array_equal(model, t * p.l + s * p.u)  # the gate's own model
    exact = p.phi(lam)
    assert dual <= exact + 1e-12 and abs(dual - exact) <= 1e-10  # the right level: still tight
    assert abs(primal - float(np.max(p.losses(model)))) <= 1e-12
    assert primal - dual > 1e-6  # the wrong q's gate is measured as what it is
