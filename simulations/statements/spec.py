r"""Check functions of the SPEC section 3 statements, each registered in :data:`STATEMENTS` by
its :func:`statement` decorator when this module is imported.

Each check is a pure function of the instance (its random probes come from a generator
seeded by ``instance.seed``). Notation: ``res = certified_solve(problem)`` brackets the value,
``res.value - res.gap <= V(Lambda) <= res.value``; ``fp`` is :func:`fp_tol`. The docstring of
each check derives its tolerances from these brackets, so that a part can only fail when the
exact quantities violate the statement.
"""

from __future__ import annotations

import numpy as np
from scipy.special import rel_entr

from robust_gates.theory import (
    GATE_TOL,
    LambdaSet,
    RobustProblem,
    Simplex,
    SolverError,
    best_response_certified,
    certify,
    constant_gate,
    gate_from_model,
    gated_model,
    jensen_shannon,
    min_kl_over_lambda,
    minimax_all_distributions,
    water_fill,
)

from .registry import Part, combine, fp_tol, statement
from .solving import certified_solve, solver_tolerance

__all__ = [
    "ALL_FAMILIES", "PERFECT_FAMILIES", "NESTED_FAMILIES", "SUPPORT_TOL", "CONST_GATE_TOL",
    "points_in", "random_G1_gates", "g1_residual",
]

ALL_FAMILIES = ("dirichlet", "near_disjoint", "near_identical", "perfect", "box", "polytope", "hull",
                "nested", "perfect_box", "perfect_polytope", "perfect_hull", "perfect_nested", "large")
PERFECT_FAMILIES = ("perfect", "perfect_box", "perfect_polytope", "perfect_hull", "perfect_nested")
NESTED_FAMILIES = ("nested", "perfect_nested")
#: a coordinate of a computed lam* above this counts as in its support (T3 equality, LF equalizer)
SUPPORT_TOL = 1e-3
#: certificate tolerance for the constant gate at the solver's lam* (LF, perfect experts). The
#: solvers certify the pair (g*, lam*) to SOLVER_TOL, not the constant gate lam*, whose certificate
#: is the Frank-Wolfe gap of phi at lam*: first order in the error of lam*, so it is not bounded
#: by the certified gap. This is an empirical accuracy of lam*: 10x the largest constant-gate gap
#: seen over the random and adversarial searches (fast: ~4e-9; reference, lam* from conic
#: multipliers accurate to ~1e-7 per coordinate: ~1.5e-6).
CONST_GATE_TOL = {"fast": 1e-7, "reference": 2e-5}
_PROBES = 8


# --------------------------------------------------------------------------- helpers
def _rng(instance, salt: int) -> np.random.Generator:
    return np.random.default_rng([*map(int, instance.seed or (0,)), salt])


def points_in(Lam: LambdaSet, rng: np.random.Generator, m: int = _PROBES) -> np.ndarray:
    """``m`` maximizers of random linear functions over ``Lambda`` (vertices) and ``m`` random
    convex combinations of them: all in ``Lambda`` by convexity, no projection needed."""
    V = np.array([Lam.maximize_linear(rng.normal(size=Lam.K))[1] for _ in range(m)])
    W = rng.dirichlet(np.full(m, 0.5), size=m)
    return np.vstack([V, W @ V])


def g1_residual(g: np.ndarray, P: np.ndarray) -> float:
    """Largest violation of the ``G_1`` conditions (non-negative entries, columns summing to 1,
    gated model of mass 1) by the gate ``g``."""
    return float(max(-g.min(), np.abs(g.sum(axis=0) - 1).max(), abs(gated_model(g, P).sum() - 1)))


def random_G1_gates(P: np.ndarray, rng: np.random.Generator, m: int) -> list[np.ndarray]:
    """``m`` random gates in ``G_1``: random column-stochastic gates ``g0`` moved toward the
    argmax-expert gate (mass ``sum u >= 1``) or argmin-expert gate (mass ``sum l <= 1``) just far
    enough that the gated model has mass 1 (mass is linear in the gate)."""
    K, n = P.shape
    cols = np.arange(n)
    gmax = np.zeros((K, n))
    gmax[P.argmax(axis=0), cols] = 1.0
    gmin = np.zeros((K, n))
    gmin[P.argmin(axis=0), cols] = 1.0
    U, Lm = gated_model(gmax, P).sum(), gated_model(gmin, P).sum()
    out = []
    for _ in range(m):
        g0 = rng.dirichlet(np.full(K, 0.5), size=n).T
        s0 = gated_model(g0, P).sum()
        if s0 < 1:
            a = (1 - s0) / (U - s0)
            out.append((1 - a) * g0 + a * gmax)
        else:
            a = (s0 - 1) / (s0 - Lm) if s0 > Lm else 0.0
            out.append((1 - a) * g0 + a * gmin)
    return out


def _perfect(problem: RobustProblem, Lam: LambdaSet | None = None) -> RobustProblem:
    return RobustProblem(problem.D, None, problem.Lambda if Lam is None else Lam, "kl")


def _worst(problem: RobustProblem, q: np.ndarray) -> float:
    return float(problem.worst_case(q)[0])


def _single_models(problem: RobustProblem, rng: np.random.Generator) -> list[np.ndarray]:
    """Candidate single models: uniform, random distributions, aggregates ``D_lam0``, experts."""
    K, n = problem.D.shape
    qs = [np.full(n, 1.0 / n)]
    qs += list(rng.dirichlet(np.ones(n), size=_PROBES))
    qs += list(rng.dirichlet(np.ones(K), size=_PROBES) @ problem.D)
    qs += list(problem.P)
    return qs


# --------------------------------------------------------------------------- L0
@statement("L0", "§3 (Lemma)",
           "G_1 is non-empty, convex and compact, holds every constant gate, and "
           "{P_g : g in G_1} equals the envelope set Q = {l <= q <= u, sum q = 1}.",
           ALL_FAMILIES)
def check_L0(instance):
    """Largest ``G_1``/``Q`` residual over constant gates, random ``G_1`` gates, their convex
    combinations, models of random gates (in ``Q``?), gates realizing random ``q`` in ``Q``
    (``P_g = q``?) and the certified robust gate; ``tol = GATE_TOL`` (the membership tolerance
    of :mod:`robust_gates.theory.gates`). Compactness: every gate found lies in ``[0, 1]^{K x n}``."""
    p = instance.problem
    P, l, u = p.P, p.l, p.u
    rng = _rng(instance, 0)
    res = {"nonempty": max(l.sum() - 1, 1 - u.sum(), 0.0)}
    W = rng.dirichlet(np.ones(p.K), size=_PROBES)
    res["constant"] = max(g1_residual(constant_gate(w, p.n), P) for w in W)
    gates = random_G1_gates(P, rng, _PROBES)
    res["random_G1"] = max(g1_residual(g, P) for g in gates)
    th = rng.uniform(size=_PROBES - 1)
    res["convex"] = max(g1_residual(t * a + (1 - t) * b, P) for t, a, b in zip(th, gates[:-1], gates[1:],
                                                                                 strict=True))
    res["bounded"] = max(max(g.max() - 1, -g.min()) for g in gates)

    def q_residual(q):
        return float(max((l - q).max(), (q - u).max(), abs(q.sum() - 1)))

    res["model_in_Q"] = max(q_residual(gated_model(g, P)) for g in gates)
    qs = [water_fill(d, l, u).q for d in rng.dirichlet(np.full(p.n, 0.5), size=_PROBES)]
    back = 0.0
    for q in qs:
        g = gate_from_model(q, P)
        back = max(back, g1_residual(g, P), float(np.abs(gated_model(g, P) - q).max()))
    res["Q_realized"] = back
    sol = certified_solve(p)
    res["robust_gate"] = max(g1_residual(sol.gate, P), q_residual(sol.model))
    parts = [Part(k, v, 0.0, "<=", GATE_TOL) for k, v in res.items()]
    worst = max(parts, key=lambda pt: pt.lhs)
    return combine([Part("max residual", worst.lhs, 0.0, "<=", GATE_TOL), *parts], gap=sol.gap,
                   solver=sol.solver)


# --------------------------------------------------------------------------- P1
@statement("P1", "§4.1 (Fixed-mixture guarantee)",
           "For every mixture lam: min_{g in G_1} KL(D_lam||P_g) <= KL(D_lam||P_lam) <= "
           "sum_k lam_k eps_k.", ALL_FAMILIES)
def check_P1(instance):
    """For mixtures ``lam`` (random, vertices ``e_k``, the solver's ``lam*``): ``m`` = the
    water-filled best response's KL (an upper bound of the min; its Frank-Wolfe gap ``fw``
    bounds how far above), ``mid = KL(D_lam || lam @ P)``, ``rhs = lam @ eps``.
    Part 1: ``m <= mid`` with ``tol = fw + fp``; part 2: ``mid <= rhs`` with ``tol = fp``."""
    p = instance.problem
    rng = _rng(instance, 1)
    sol = certified_solve(p)
    lams = np.vstack([rng.dirichlet(np.full(p.K, 0.5), size=_PROBES), np.eye(p.K), sol.lam])
    eps = p.expert_errors
    chains = []
    for lam in lams:
        d = lam @ p.D
        q, fw = best_response_certified(d, p.l, p.u)
        m = float(rel_entr(d, q).sum())
        mid = float(rel_entr(d, lam @ p.P).sum())
        rhs = float(np.sum(np.where(lam > 0, lam * eps, 0.0)))
        chains.append([
            Part("min_g KL <= sum lam eps", m, rhs, "<=", fw + fp_tol(m, rhs)),
            Part("min_g KL <= KL(D_lam||P_lam)", m, mid, "<=", fw + fp_tol(m, mid)),
            Part("KL(D_lam||P_lam) <= sum lam eps", mid, rhs, "<=", fp_tol(mid, rhs)),
        ])
    # for each link, the mixture where it is tightest
    parts = [min((c[j] for c in chains), key=lambda pt: pt.slack) for j in range(3)]
    return combine(parts, gap=sol.gap, solver=sol.solver)


# --------------------------------------------------------------------------- T1
@statement("T1", "§4.2 (Robust existence)",
           "With payoff L or CE a saddle point exists: min_g max_Lambda = max_Lambda min_g = "
           "V(Lambda), certificate gap 0.", ALL_FAMILIES)
def check_T1(instance):
    """For both payoffs: ``lhs = max_Lambda L(g*, .)`` (upper bound of min-max), ``rhs =
    phi(lam*)`` (lower bound of max-min), recomputed by :func:`robust_gates.theory.certify`; the saddle point
    exists iff the pair can be certified, ``lhs == rhs`` within the solver's tolerance. Saddle
    inequalities at independent probes: ``L(g*, lam) <= L(g*, lam*) + tol`` for ``lam`` in
    ``Lambda`` and ``L(g, lam*) >= L(g*, lam*) - tol`` for random gates ``g`` in ``G_1``."""
    base = instance.problem
    rng = _rng(instance, 2)
    parts, gaps, solvers = [], [], []
    for payoff in ("kl", "cross_entropy"):
        p = RobustProblem(base.D, base.P, base.Lambda, payoff)
        sol = certified_solve(p)
        cert = certify(p, sol.gate, sol.lam)
        tol = solver_tolerance(sol)
        gaps.append(cert.gap)
        solvers.append(sol.solver)
        parts.append(Part(f"minmax == maxmin ({payoff})", cert.primal, cert.dual, "==",
                          tol + fp_tol(cert.primal)))
        center = p.payoff_value(sol.model, sol.lam)
        up = max(p.payoff_value(sol.model, lam) for lam in points_in(p.Lambda, rng))
        down = min(p.payoff_value(gated_model(g, p.P), sol.lam) for g in random_G1_gates(p.P, rng, _PROBES))
        parts.append(Part(f"L(g*, lam) <= L(g*, lam*) ({payoff})", up, center, "<=",
                          cert.gap + fp_tol(up)))
        parts.append(Part(f"L(g, lam*) >= L(g*, lam*) ({payoff})", down, center, ">=",
                          cert.gap + fp_tol(down)))
    return combine(parts, gap=max(gaps), solver=",".join(sorted(set(solvers))))


@statement("T1-M", "§4.2 (Robust existence, mixture_kl contrast)",
           "With M(g, lam) = KL(D_lam||P_g) on the simplex and perfect experts (domains not all equal) "
           "there is no saddle point: min_g max_lam M = C(D) > 0 = max_lam min_g M.", ("perfect",))
def check_T1M(instance):
    """``M`` is convex in ``lam``, so ``max_lam M(g, lam) = max_k KL(D_k||P_g)`` (checked at
    probes) and ``min_g max_lam M = V(Delta_K) = C(D) >= res.value - res.gap`` (certified lower
    bound, the main ``rhs``). ``max_lam min_g M``: for every ``lam`` the constant gate ``lam``
    has ``P_g = D_lam`` so ``min_g M = 0``; the main ``lhs`` is the largest water-filled
    ``min_g M(g, lam)`` over probes, which must be 0 (tol ``fw + fp``). Positivity is certified
    independently of the solver: ``C(D) >= JS_{1/2,1/2}(D_j, D_k)`` for the most distant pair
    (computed by :func:`robust_gates.theory.jensen_shannon`), positive iff ``D_j != D_k``; the strict claim
    ``lhs < rhs`` (margin ``fp``) needs that bound above ``fp`` (else the domains are
    numerically identical and the instance is rejected as outside the claim)."""
    p = instance.problem
    if not p.perfect_experts or p.Lambda.kind != "simplex":
        raise ValueError("T1-M needs perfect experts on the simplex")
    pair = 0.0
    for j in range(p.K):
        for k in range(j + 1, p.K):
            pair = max(pair, jensen_shannon(np.array([0.5, 0.5]), p.D[[j, k]]))
    if pair <= 10 * fp_tol(pair):
        raise ValueError("T1-M: the domains are numerically identical, so C(D) = 0 (outside the claim)")
    rng = _rng(instance, 3)
    sol = certified_solve(p)
    minmax_lb = sol.value - sol.gap
    lams = np.vstack([points_in(p.Lambda, rng), sol.lam])
    maxmin, fwmax, const = 0.0, 0.0, 0.0
    vertex_excess = -np.inf
    kmax = float(np.max(rel_entr(p.D, sol.model[None, :]).sum(axis=1)))
    for lam in lams:
        d = lam @ p.D
        q, fw = best_response_certified(d, p.l, p.u)
        maxmin = max(maxmin, float(rel_entr(d, q).sum()))
        fwmax = max(fwmax, fw)
        const = max(const, float(rel_entr(d, gated_model(constant_gate(lam, p.n), p.P)).sum()))
        vertex_excess = max(vertex_excess, float(rel_entr(d, sol.model).sum()) - kmax)
    parts = [
        Part("max_lam min_g M < min_g max_lam M", maxmin, minmax_lb, "<", fp_tol(minmax_lb)),
        Part("min_g max_lam M >= pairwise JS > 0", sol.value, pair, ">=", fp_tol(pair)),
        Part("max_lam min_g M == 0", maxmin, 0.0, "==", fwmax + fp_tol(maxmin)),
        Part("constant gate lam has M = 0", const, 0.0, "==", fp_tol(const)),
        Part("max over lam of M(g*, .) at a vertex", vertex_excess, 0.0, "<=", fp_tol(kmax)),
    ]
    return combine(parts, gap=sol.gap, solver=sol.solver, C=sol.value, pairwise_js=pair)


# --------------------------------------------------------------------------- T2
@statement("T2", "§4.3 (Dominance of the specialized solution)",
           "If Lambda ⊆ Lambda' then V(Lambda) <= V(Lambda'), and the gate robust for Lambda is at "
           "least as good on Lambda as the gate robust for Lambda'.", NESTED_FAMILIES)
def check_T2(instance):
    """``lhs = value(Lambda) <= V(Lambda) + gap(Lambda)``, ``rhs = value(Lambda') >= V(Lambda')``:
    a true claim gives ``lhs - rhs <= gap(Lambda)``, so ``tol = gap(Lambda) + fp``. Second part:
    ``max_Lambda L(g_Lambda, .) = value(Lambda) <= V(Lambda) + gap(Lambda) <= max_Lambda
    L(g_Lambda', .) + gap(Lambda)``, same tolerance. Nesting is verified first."""
    inner, outer = instance.problem, instance.outer
    pts = inner.Lambda.vertices()
    if not all(outer.Lambda.contains(v, tol=1e-9) for v in pts):
        raise ValueError("the instance is not nested: a vertex of Lambda is outside Lambda'")
    a, b = certified_solve(inner), certified_solve(outer)
    other = _worst(inner, b.model)
    parts = [
        Part("V(Lambda) <= V(Lambda')", a.value, b.value, "<=", a.gap + fp_tol(a.value, b.value)),
        Part("max_Lambda L(g_Lambda) <= max_Lambda L(g_Lambda')", a.value, other, "<=",
             a.gap + fp_tol(a.value, other)),
    ]
    return combine(parts, gap=max(a.gap, b.gap), solver=a.solver)


# --------------------------------------------------------------------------- T3
@statement("T3", "§4.3 (Quantitative improvement in game value)",
           "Perfect experts: V(Delta_K) - V(Lambda) >= min_{lam in Lambda} KL(D_lam||D_lam*), with "
           "equality when the capacity-achieving lam* has full support.", PERFECT_FAMILIES)
def check_T3(instance):
    r"""``S`` = simplex game (``value_S``, ``lam^``), ``r = D_lam^``, ``gap_c`` = certificate of
    the constant gate ``lam^`` on ``S``, ``m~`` = computed ``min_Lambda KL(D_lam||r)`` with
    Frank-Wolfe gap ``fw``. Exactly, with ``C^ = max_k KL(D_k||r) <= C + gap_c``:
    ``C^ - JS_lam >= KL(D_lam||r)`` for every ``lam`` (identity I1), hence
    ``lhs = value_S - value_Lambda >= m~ - (gap_c + gap_Lambda + fw)``: that is the tolerance.
    Equality (when ``min lam^ > SUPPORT_TOL``): ``C^ - sum_k lam_k KL(D_k||r) <= gap_c /
    min lam^``, so ``|lhs - m~| <= gap_c/min lam^ + gap_S + gap_c + gap_Lambda + fw``."""
    p = instance.problem
    if not p.perfect_experts:
        raise ValueError("T3 needs perfect experts")
    S = _perfect(p, Simplex(p.K))
    rs, rl = certified_solve(S), certified_solve(p)
    lam_hat = rs.lam
    r = lam_hat @ p.D
    gap_c = max(certify(S, constant_gate(lam_hat, p.n), lam_hat).gap, 0.0)
    m, _, fw = min_kl_over_lambda(p.D, r, p.Lambda)
    lhs = rs.value - rl.value
    tol = gap_c + rl.gap + fw + fp_tol(rs.value, rl.value)
    parts = [Part("V(Delta) - V(Lambda) >= min KL(D_lam||D_lam*)", lhs, m, ">=", tol)]
    full = float(lam_hat.min()) > SUPPORT_TOL
    if full:
        parts.append(Part("equality (lam* full support)", lhs, m, "==",
                          gap_c / float(lam_hat.min()) + rs.gap + tol))
    return combine(parts, gap=max(rs.gap, rl.gap), solver=rs.solver, full_support=full,
                   gap_const=gap_c, fw=fw)


# --------------------------------------------------------------------------- LF
@statement("LF", "§4.4 (Least-favorable mixture)",
           "lam* maximizes phi over Lambda; on the simplex the robust gate equalizes KL(D_k||P_g*) = V "
           "on supp(lam*) (<= V elsewhere); with perfect experts the constant gate lam* is robust; "
           "the robust model is unique wherever some D_k > 0.", ALL_FAMILIES)
def check_LF(instance):
    """(a) ``phi(lam) <= V <= value = phi(lam*) + gap`` at probes ``lam`` in ``Lambda`` (tol
    ``gap + fp``); with perfect experts also with ``JS_lam`` from :func:`robust_gates.theory.jensen_shannon`.
    (b) simplex: ``sum_k lam*_k (value - l_k(g*)) = value - L(g*, lam*) <= gap`` with every term
    ``>= 0``, so ``value - l_k <= gap / lam*_k`` for ``lam*_k > SUPPORT_TOL``. (c) perfect
    experts: the constant gate ``lam*`` has certificate ``<= CONST_GATE_TOL``. (d) uniqueness:
    the Bregman divergence of ``L(., lam*)`` between ``P_g*`` and the water-filled best response
    ``q_lam*`` is ``<= gap``; if that water-filling has ``nu = 0`` (off-support mass free) an
    alternative model moving mass between two off-support points of some ``D_k`` is built and,
    if it is robust within ``gap``, the model is not unique there (the part fails)."""
    p = instance.problem
    rng = _rng(instance, 4)
    sol = certified_solve(p)
    lam, gap = sol.lam, max(sol.gap, 0.0)
    probes = points_in(p.Lambda, rng)
    best_phi = max(p.phi(x) for x in probes)
    parts = [Part("phi(lam) <= phi(lam*) on Lambda", best_phi, sol.lower_bound, "<=",
                  gap + fp_tol(best_phi))]
    if p.perfect_experts:
        js = max(jensen_shannon(x, p.D) for x in probes)
        parts.append(Part("JS_lam <= JS_lam* (capacity prior)", js, jensen_shannon(lam, p.D), "<=",
                          gap + fp_tol(js)))
        gc = certify(p, constant_gate(lam, p.n), lam).gap
        parts.append(Part("constant gate lam* is robust", gc, 0.0, "<=",
                          CONST_GATE_TOL.get(sol.solver, CONST_GATE_TOL["reference"])))
    if p.Lambda.kind == "simplex":
        ell = p.losses(sol.model)
        supp = lam > SUPPORT_TOL
        excess = (sol.value - ell)[supp]
        allow = gap / lam[supp] + fp_tol(sol.value)
        k = int(np.argmax(excess - allow))
        parts.append(Part("equalizer on supp(lam*)", float(ell[supp][k]), sol.value, "==", float(allow[k])))
        parts.append(Part("l_k <= V off supp(lam*)", float(ell.max()), sol.value, "<=", fp_tol(sol.value)))
    d = lam @ p.D
    wf = water_fill(d, p.l, p.u)
    on = d > 0
    ratio = sol.model[on] / wf.q[on]
    breg = float(np.sum(d[on] * (ratio - 1 - np.log(ratio))))
    parts.append(Part("P_g* = best response on supp(D_lam*)", breg, 0.0, "<=", gap + fp_tol(breg)))
    uniq = _uniqueness_off_support(p, sol, wf, on)
    if uniq is not None:
        parts.append(uniq)
    return combine(parts, gap=gap, solver=sol.solver)


def _uniqueness_off_support(p: RobustProblem, sol, wf, on: np.ndarray) -> Part | None:
    """Off ``supp(D_lam*)`` every best response equals ``l`` when ``nu > 0`` (unique). When
    ``nu = 0`` the leftover mass can sit anywhere off the support: move ``delta`` of it between
    two such points ``x`` (where some ``D_k(x) > 0``) and ``x'`` and test whether the new model is
    still robust (worst case ``<= value``). ``None`` when ``nu > 0`` (nothing to test)."""
    covered = p.D.max(axis=0) > 0
    name = "P_g* unique where some D_k > 0"
    if np.isfinite(wf.t):
        return None
    q = sol.model
    off = np.flatnonzero(~on)
    cand = [x for x in off if covered[x]][:20]
    best = 0.0
    for x in cand:
        for y in off[:20]:
            if y == x:
                continue
            for sgn in (1.0, -1.0):
                room = min(p.u[x] - q[x], q[y] - p.l[y]) if sgn > 0 else min(q[x] - p.l[x], p.u[y] - q[y])
                if room <= 1e-9:
                    continue
                delta = 0.5 * room
                alt = q.copy()
                alt[x] += sgn * delta
                alt[y] -= sgn * delta
                if _worst(p, alt) <= sol.value + fp_tol(sol.value):
                    best = max(best, delta)
    return Part(name, best, 0.0, "==", GATE_TOL)


# --------------------------------------------------------------------------- MB
@statement("MB", "§4.5.1 (Monolithic barrier)",
           "Any single model q has max_Lambda L(q, lam) >= max_Lambda JS_lam(D); the aggregate D_lam0 has "
           "max_k KL(D_k||D_lam0) >= C(D), with equality iff D_lam0 = D_lam*.", ALL_FAMILIES)
def check_MB(instance):
    """``rhs = max_Lambda JS`` from the perfect-expert game on ``Lambda`` (``value_p``; the
    equality ``V_perfect(Lambda) = max_Lambda JS`` is verified: ``value_p - JS(lam_p) <= gap_p``).
    ``lhs`` = smallest worst case over single models: the minimizer over all distributions of
    an independent conic program, and probes; a true claim gives ``lhs >= max JS >= value_p -
    gap_p`` (tol ``gap_p + fp``). Aggregates ``q = D_lam0``: ``max_k KL(D_k||q) - value_S >=
    KL(D_lam^||q) - gap_S`` (I1 with the simplex ``lam^``), the quantitative "iff"."""
    p = instance.problem
    rng = _rng(instance, 5)
    pp = _perfect(p)
    rp = certified_solve(pp)
    js_hat = jensen_shannon(rp.lam, p.D)
    qs = _single_models(p, rng)
    labels = ["probe"] * len(qs)
    try:
        qs.append(minimax_all_distributions(p.D, p.Lambda))
        labels.append("minimax over all distributions")
    except SolverError as exc:  # the probes still bound the min from above; recorded
        labels.append(f"minimax failed: {exc}")
    worst = [_worst(pp, q) for q in qs]
    i = int(np.argmin(worst))
    parts = [
        Part("min_q max_Lambda L(q) >= max_Lambda JS", worst[i], rp.value, ">=",
             rp.gap + fp_tol(rp.value)),
        Part("V_perfect(Lambda) == max_Lambda JS", rp.value, js_hat, "==", rp.gap + fp_tol(rp.value)),
    ]
    S = _perfect(p, Simplex(p.K))
    rs = certified_solve(S)
    rhat = rs.lam @ p.D
    agg = None
    for lam0 in np.vstack([rng.dirichlet(np.full(p.K, 0.5), size=_PROBES), rs.lam]):
        q = lam0 @ p.D
        lhs = float(rel_entr(p.D, q[None, :]).sum(axis=1).max()) - rs.value
        part = Part("max_k KL(D_k||D_lam0) - C >= KL(D_lam*||D_lam0)", lhs, float(rel_entr(rhat, q).sum()),
                    ">=", rs.gap + fp_tol(rs.value))
        agg = part if agg is None or part.slack < agg.slack else agg
    parts.append(agg)
    return combine(parts, gap=max(rp.gap, rs.gap), solver=rp.solver, single_model=labels[i])


# --------------------------------------------------------------------------- MA
@statement("MA", "§4.5.2 (Modular advantage)",
           "V(Lambda) <= max_Lambda JS_lam + max_Lambda sum_k lam_k eps_k, so every single model q has "
           "max_Lambda L(q) - V(Lambda) >= KL(D_lamJ||q) - max_Lambda sum_k lam_k eps_k.", ALL_FAMILIES)
def check_MA(instance):
    """``E = max_Lambda lam @ eps`` (exact LP), ``value_p`` = perfect-expert value on ``Lambda``
    (``>= max JS`` by weak duality), ``lamJ`` its ``lam*``. Part 1: ``value <= V + gap`` so
    ``tol = gap + fp``. Part 2: I1 gives ``max_Lambda L(q) >= JS(lamJ) + KL(D_lamJ||q) >=
    max JS - gap_p + KL(D_lamJ||q)``; with ``V >= value - gap``: ``tol = gap + gap_p + fp``."""
    p = instance.problem
    rng = _rng(instance, 6)
    sol = certified_solve(p)
    rp = certified_solve(_perfect(p))
    E = float(p.Lambda.maximize_linear(p.expert_errors)[0])
    parts = [Part("V(Lambda) <= max JS + max lam.eps", sol.value, rp.value + E, "<=",
                  sol.gap + fp_tol(sol.value))]
    rJ = rp.lam @ p.D
    worst = None
    for q in _single_models(p, rng):
        lhs = _worst(p, q) - sol.value
        part = Part("max L(q) - V >= KL(D_lamJ||q) - max lam.eps", lhs, float(rel_entr(rJ, q).sum()) - E,
                    ">=", sol.gap + rp.gap + fp_tol(sol.value))
        worst = part if worst is None or part.slack < worst.slack else worst
    parts.append(worst)
    return combine(parts, gap=max(sol.gap, rp.gap), solver=sol.solver, max_eps=E)


# --------------------------------------------------------------------------- SC
@statement("SC", "§4.5.4 (Safety in convex settings)",
           "KL(D_k||D_lam0) <= log(1/lam0_k); C(D) <= log K; the robust gated model's worst case is "
           "never above that of any fixed mixture of the experts.", ALL_FAMILIES)
def check_SC(instance):
    """Main: ``value <= V + gap <= max_Lambda L(P_w, .) + gap`` for fixed mixtures ``P_w = w @ P``
    (each expert alone, random ``w``, ``w = lam*``): ``tol = gap + fp``. Aggregate bound
    ``KL(D_k||D_lam0) <= log(1/lam0_k)`` exactly (``D_lam0 >= lam0_k D_k``): ``tol = fp``.
    Capacity: ``C >= value_S - gap_S`` must be ``<= log K``: ``lhs = value_S``, ``tol = gap_S + fp``."""
    p = instance.problem
    rng = _rng(instance, 7)
    sol = certified_solve(p)
    W = np.vstack([np.eye(p.K), rng.dirichlet(np.ones(p.K), size=_PROBES), sol.lam])
    fixed = min(_worst(p, w @ p.P) for w in W)
    parts = [Part("worst(g*) <= worst(fixed mixture)", sol.value, fixed, "<=", sol.gap + fp_tol(fixed))]
    agg = None
    for lam0 in rng.dirichlet(np.ones(p.K), size=_PROBES):
        kls = rel_entr(p.D, (lam0 @ p.D)[None, :]).sum(axis=1)
        bound = np.log(1.0 / lam0)
        k = int(np.argmax(kls - bound))
        part = Part("KL(D_k||D_lam0) <= log 1/lam0_k", float(kls[k]), float(bound[k]), "<=",
                    fp_tol(bound[k]))
        agg = part if agg is None or part.slack < agg.slack else agg
    parts.append(agg)
    rs = certified_solve(_perfect(p, Simplex(p.K)))
    parts.append(Part("C(D) <= log K", rs.value, float(np.log(p.K)), "<=", rs.gap + fp_tol(rs.value)))
    return combine(parts, gap=max(sol.gap, rs.gap), solver=sol.solver)
