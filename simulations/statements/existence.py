r"""SPEC checks of the gate set and the saddle point: L0 (SPEC section 3, lemma on ``G_1``),
P1 (paper section 4.1, fixed-mixture guarantee), T1 and its contrast T1-M (section 4.2,
robust existence). Notation and probes: :mod:`.probes`.
"""

from __future__ import annotations

import numpy as np
from scipy.special import rel_entr

from robust_gates.theory import (
    GATE_TOL,
    RobustProblem,
    best_response_certified,
    certify,
    constant_gate,
    gate_from_model,
    gated_model,
    jensen_shannon,
    water_fill,
)

from .mutants import mutant, part_mutant
from .probes import ALL_FAMILIES, PROBES, g1_residual, instance_rng, points_in, random_G1_gates
from .registry import Part, combine, fp_tol, statement
from .solving import certified_solve, solver_tolerance

__all__ = ["check_L0", "check_P1", "check_T1", "check_T1M"]


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
    rng = instance_rng(instance, 0)
    res = {"nonempty": max(l.sum() - 1, 1 - u.sum(), 0.0)}
    W = rng.dirichlet(np.ones(p.K), size=PROBES)
    res["constant"] = max(g1_residual(constant_gate(w, p.n), P) for w in W)
    gates = random_G1_gates(P, rng, PROBES)
    res["random_G1"] = max(g1_residual(g, P) for g in gates)
    th = rng.uniform(size=PROBES - 1)
    res["convex"] = max(g1_residual(t * a + (1 - t) * b, P) for t, a, b in zip(th, gates[:-1], gates[1:],
                                                                                 strict=True))
    res["bounded"] = max(max(g.max() - 1, -g.min()) for g in gates)

    def q_residual(q):
        return float(max((l - q).max(), (q - u).max(), abs(q.sum() - 1)))

    res["model_in_Q"] = max(q_residual(gated_model(g, P)) for g in gates)
    qs = [water_fill(d, l, u).q for d in rng.dirichlet(np.full(p.n, 0.5), size=PROBES)]
    back = 0.0
    for q in qs:
        g = gate_from_model(q, P)
        back = max(back, g1_residual(g, P), float(np.abs(gated_model(g, P) - q).max()))
    res["Q_realized"] = back
    sol = certified_solve(p)
    res["robust_gate"] = max(g1_residual(sol.gate, P), q_residual(sol.model))
    # violations clipped at 0: "violation == 0" has the slack of "residual <= 0" and no
    # margin (a residual bound is attained by definition, so it would read as sharp everywhere)
    parts = [Part(k, max(v, 0.0), 0.0, "==", GATE_TOL) for k, v in res.items()]
    worst = max(parts, key=lambda pt: pt.lhs)
    return combine([Part("max residual", worst.lhs, 0.0, "==", GATE_TOL), *parts], gap=sol.gap,
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
    rng = instance_rng(instance, 1)
    sol = certified_solve(p)
    lams = np.vstack([rng.dirichlet(np.full(p.K, 0.5), size=PROBES), np.eye(p.K), sol.lam])
    eps = p.expert_errors
    chains = []
    for lam in lams:
        d = lam @ p.D
        q, fw = best_response_certified(d, p.l, p.u)
        m = float(rel_entr(d, q).sum())
        mid = float(rel_entr(d, lam @ p.P).sum())
        with np.errstate(invalid="ignore"):  # 0 * inf where an expert misses a point of its domain
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
    ``Lambda`` and ``L(g, lam*) >= L(g*, lam*) - tol`` for random gates ``g`` in ``G_1``. These
    parts measure the computed pair, so the certified tolerance is their stated floor: "a
    saddle point exists" is checked as "the certificate closes to the solver's tolerance"."""
    base = instance.problem
    rng = instance_rng(instance, 2)
    parts, gaps, solvers = [], [], []
    for payoff in ("kl", "cross_entropy"):
        p = RobustProblem(base.D, base.P, base.Lambda, payoff)
        sol = certified_solve(p)
        cert = certify(p, sol.gate, sol.lam)
        tol = solver_tolerance(sol)
        gaps.append(cert.gap)
        solvers.append(sol.solver)
        parts.append(Part(f"minmax == maxmin ({payoff})", cert.primal, cert.dual, "==",
                          tol + fp_tol(cert.primal), floor=tol + fp_tol(cert.primal)))
        center = p.payoff_value(sol.model, sol.lam)
        up = max(p.payoff_value(sol.model, lam) for lam in points_in(p.Lambda, rng))
        down = min(p.payoff_value(gated_model(g, p.P), sol.lam) for g in random_G1_gates(p.P, rng, PROBES))
        parts.append(Part(f"L(g*, lam) <= L(g*, lam*) ({payoff})", up, center, "<=",
                          cert.gap + fp_tol(up), floor=cert.gap + fp_tol(up)))
        parts.append(Part(f"L(g, lam*) >= L(g*, lam*) ({payoff})", down, center, ">=",
                          cert.gap + fp_tol(down), floor=cert.gap + fp_tol(down)))
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
    numerically identical and the instance is rejected as outside the claim).

    Convexity of ``M(g*, .)``: ``KL(D_lam||q) - max_k KL(D_k||q) <= 0`` compares two sums of
    ``n`` terms of size up to ``kmax`` computed in double precision, with no solver in between;
    its tolerance is the rounding floor ``fp_tol(kmax)`` and nothing else (it was compared with
    the floor of the sides, ``fp_tol(0)``, which is smaller when ``kmax > 1`` and left a pure
    rounding residual undecided)."""
    p = instance.problem
    if not p.perfect_experts or p.Lambda.kind != "simplex":
        raise ValueError("T1-M needs perfect experts on the simplex")
    pair = 0.0
    for j in range(p.K):
        for k in range(j + 1, p.K):
            pair = max(pair, jensen_shannon(np.array([0.5, 0.5]), p.D[[j, k]]))
    if pair <= 10 * fp_tol(pair):
        raise ValueError("T1-M: the domains are numerically identical, so C(D) = 0 (outside the claim)")
    rng = instance_rng(instance, 3)
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
        Part("max over lam of M(g*, .) at a vertex", vertex_excess, 0.0, "<=", fp_tol(kmax),
             floor=fp_tol(kmax)),
    ]
    return combine(parts, gap=sol.gap, solver=sol.solver, C=sol.value, pairwise_js=pair)


# --------------------------------------------------------------------------- mutants (SPEC §6)
@mutant("L0", "unnormalized gates are in G_1",
        "Every column-stochastic gate has a model of mass 1 (drops the normalization from G_1).")
def _l0_any_gate_normalized(instance, result):
    """Random column-stochastic gates: ``|sum_x P_g(x) - 1| <= GATE_TOL``; false as soon as two
    experts differ (mass is then a non-constant linear function of the gate)."""
    p = instance.problem
    rng = instance_rng(instance, 100)
    gates = rng.dirichlet(np.full(p.K, 0.5), size=(PROBES, p.n)).transpose(0, 2, 1)
    err = max(abs(float(gated_model(g, p.P).sum()) - 1.0) for g in gates)
    return combine([Part("mass of a column-stochastic gate == 1", err, 0.0, "==", GATE_TOL)])


@mutant("L0", "Q is the hull of the experts",
        "Every model of a normalized gate is a fixed mixture of the experts ({P_g} = conv(P_k)).")
def _l0_q_is_hull(instance, result):
    """The water-filled models ``q`` in ``Q`` at random targets, written as ``sum_k w_k P_k``
    with ``w`` in the simplex by non-negative least squares (the sum-to-one row weighted by
    ``1e3``): the residual must be 0 (``GATE_TOL``). Pointwise gates reach beyond the hull."""
    from scipy.optimize import nnls

    p = instance.problem
    rng = instance_rng(instance, 101)
    A = np.vstack([p.P.T, 1e3 * np.ones(p.K)])
    worst = 0.0
    for d in rng.dirichlet(np.full(p.n, 0.5), size=PROBES):
        q = water_fill(d, p.l, p.u).q
        w, _ = nnls(A, np.append(q, 1e3))
        worst = max(worst, float(np.abs(p.P.T @ w - q).max()))
    return combine([Part("every q in Q is a mixture of the experts", worst, 0.0, "==", GATE_TOL)])


part_mutant("P1", "KL(D_lam||P_lam) <= sum lam eps", "tighten",
            "The convexity bound KL(D_lam||P_lam) <= sum_k lam_k eps_k tightened by 1%.")
part_mutant("P1", "min_g KL <= KL(D_lam||P_lam)", "strict",
            "The best gated model is always strictly better than the constant gate lam.")
part_mutant("P1", "min_g KL <= sum lam eps", "tighten",
            "min_g KL(D_lam||P_g) <= (1 - 1%) sum_k lam_k eps_k.")
part_mutant("T1", "L(g*, lam) <= L(g*, lam*) (kl)", "strict",
            "The robust gate's loss at every probe mixture is strictly below its loss at lam*.")


@mutant("T1", "equalizer on all of Lambda",
        "The robust gate has the same loss L(g*, lam) = V at every lam in Lambda (not only on the "
        "face of Lambda that holds lam*).")
def _t1_equalizer_everywhere(instance, result):
    """``min`` over probes ``lam`` in ``Lambda`` of ``L(g*, lam)`` must equal ``L(g*, lam*)``
    (tol ``gap + fp``): false whenever a probe weighs a domain the robust gate serves better."""
    p = instance.problem
    sol = certified_solve(p)
    center = p.payoff_value(sol.model, sol.lam)
    low = min(p.payoff_value(sol.model, lam) for lam in points_in(p.Lambda, instance_rng(instance, 102)))
    return combine([Part("L(g*, lam) == V on Lambda", low, center, "==", sol.gap + fp_tol(center))],
                    gap=sol.gap)


part_mutant("T1-M", "max_lam min_g M < min_g max_lam M", "reverse",
            "With payoff M a saddle point exists (max_lam min_g M >= min_g max_lam M).")
part_mutant("T1-M", "min_g max_lam M >= pairwise JS", "tighten",
            "C(D) exceeds the largest pairwise JS_{1/2,1/2} by 1%.")
