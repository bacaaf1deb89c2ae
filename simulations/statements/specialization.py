r"""SPEC checks of specialization: T2 (paper section 4.3, dominance of the specialized
solution), T3 (section 4.3, quantitative improvement in game value) and LF (section 4.4,
least-favorable mixture). Notation and probes: :mod:`.probes`.
"""

from __future__ import annotations

import numpy as np
from scipy.special import rel_entr

from robust_gates.theory import (
    GATE_TOL,
    RobustProblem,
    Simplex,
    certify,
    constant_gate,
    jensen_shannon,
    min_kl_over_lambda,
    water_fill,
)
from robust_gates.theory.programs import js_bracket, polish_capacity, polish_max_js

from .mutants import mutant, part_mutant
from .probes import (
    ALL_FAMILIES,
    NESTED_FAMILIES,
    PERFECT_FAMILIES,
    instance_rng,
    perfect_game,
    points_in,
    worst_case,
)
from .registry import Part, combine, fp_tol, statement
from .solving import certified_solve, tolerance_scale

#: a weight of lam* in (0, TINY_WEIGHT) makes the constant-gate part of LF unable to refute (check_LF)
TINY_WEIGHT = 1e-6

__all__ = ["SUPPORT_TOL", "CONST_GATE_TOL", "TINY_WEIGHT", "check_T2", "check_T3", "check_LF", "t3_v1_clause",
           "lf_v1_clause"]

#: a coordinate of a computed lam* above this counts as in its support (T3 equality, LF equalizer)
SUPPORT_TOL = 1e-3
#: certificate tolerance for the constant gate at the solver's lam* (LF, perfect experts). The
#: solvers certify the pair (g*, lam*) to SOLVER_TOL, not the constant gate lam*, whose certificate
#: is the Frank-Wolfe gap of phi at lam*: first order in the error of lam*, so it is not bounded
#: by the certified gap. This is an empirical accuracy of lam*: 10x the largest constant-gate gap
#: seen over the random and adversarial searches (fast: ~4e-9; reference, lam* from conic
#: multipliers accurate to ~1e-7 per coordinate: ~1.5e-6).
CONST_GATE_TOL = {"fast": 1e-7, "reference": 2e-5}


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
    _check_nested(inner.Lambda, outer.Lambda)
    a, b = certified_solve(inner), certified_solve(outer)
    other = worst_case(inner, b.model)
    parts = [
        Part("V(Lambda) <= V(Lambda')", a.value, b.value, "<=", a.gap + fp_tol(a.value, b.value)),
        Part("max_Lambda L(g_Lambda) <= max_Lambda L(g_Lambda')", a.value, other, "<=",
             a.gap + fp_tol(a.value, other)),
    ]
    return combine(parts, gap=max(a.gap, b.gap), solver=a.solver)


def _check_nested(inner, outer) -> None:
    """Raise ``ValueError`` unless ``inner`` is inside ``outer``: every vertex of ``inner`` in
    ``outer`` (to ``1e-9``) when the vertices can be enumerated, else every inequality ``a lam
    <= b`` of ``outer`` has ``max_inner a lam <= b`` (one linear program each, to ``1e-7``, the
    relative accuracy of the linear programs)."""
    try:
        pts = inner.vertices()
    except ValueError:  # too many active sets to enumerate
        A, b = outer.inequalities()
        if not all(inner.maximize_linear(a)[0] <= bi + 1e-7 * max(1.0, abs(bi))
                   for a, bi in zip(A, b, strict=True)):
            raise ValueError("the instance is not nested: Lambda leaves an inequality of Lambda'") from None
        return
    if not all(outer.contains(v, tol=1e-9) for v in pts):
        raise ValueError("the instance is not nested: a vertex of Lambda is outside Lambda'")


# --------------------------------------------------------------------------- T3
@statement("T3", "§4.3 (Quantitative improvement in game value)",
           "Perfect experts: V(Delta_K) - V(Lambda) >= min_{lam in Lambda} KL(D_lam||D_lam*), with "
           "equality when the capacity-achieving lam* has full support; the improvement is "
           "C(D) - max_Lambda phi, so it is strict iff Lambda holds no maximizer of phi over Delta_K.",
           PERFECT_FAMILIES)
def check_T3(instance):
    r"""``S`` = simplex game, ``lam^`` = its ``lam*`` or the polish of it with the smaller
    capacity certificate (:func:`robust_gates.theory.programs.polish_capacity`), ``r = D_lam^``,
    ``C^ = max_k KL(D_k||r)``, ``gap_c = C^ - JS(lam^)`` (the certificate of the constant gate
    ``lam^`` on ``S``), ``m~`` = computed ``min_Lambda KL(D_lam||r)`` with Frank-Wolfe gap
    ``fw`` (taken at points of ``Lambda``, :func:`robust_gates.theory.min_kl_over_lambda`).

    Brackets of the two values, each the intersection of the solve's certificate and a bracket
    at a polished point: ``C = V(Delta)`` lies in ``[S_lo, S_hi]`` with ``S_hi = min(value_S,
    C^)`` and ``S_lo = max(value_S - gap_S, JS(lam^))``; ``V(Lambda) = max_Lambda JS`` lies in
    ``[L_lo, L_hi]`` with ``L_hi = min(value_L, max_Lambda sum_k lam_k KL(D_k||D_lamL))`` and
    ``L_lo = max(value_L - gap_L, JS(lamL))``, ``lamL`` the solver's ``lam*`` on ``Lambda``
    polished by an active-set Newton method
    (:func:`robust_gates.theory.programs.js_bracket`). Widths ``w_S``, ``w_L``; the computed
    improvement is ``lhs = S_hi - L_hi``, so the exact one lies in ``[lhs - w_S, lhs + w_L]``.

    Bound. For every ``lam``, ``C^ - JS_lam >= KL(D_lam||r)`` (identity I1); at the maximizer
    of ``JS`` over ``Lambda`` this gives ``C^ - V(Lambda) >= m~ - fw``; with ``S_hi <= C^`` and
    ``V(Lambda) >= L_hi - w_L``: ``lhs >= C^ - V(Lambda) - (C^ - S_hi) - w_L >= m~ - fw - (C^ -
    S_hi) - w_L``: ``tol = fw + (C^ - S_hi) + w_L + fp``. On the other side ``m~`` is attained in
    ``Lambda`` and the exact improvement is at least ``lhs - w_S``, so the violation can exceed
    the computed one by ``w_S`` at most: ``err_hi = w_S``
    (:mod:`robust_gates.simulations.statements.registry`). With the solver's brackets alone
    (``w_S = gap_S``) a bound attained with equality was undecided whenever ``gap_S`` exceeded
    the rounding floor; the polished brackets have widths at rounding level.

    Equality (when ``min lam^ > SUPPORT_TOL``): ``C^ - KL(D_k||r) <= gap_c / lam^_k`` for every
    ``k``, so ``C^ - JS_lam <= KL(D_lam||r) + gap_c / min lam^`` and ``|lhs - m~| <= gap_c/min
    lam^ + w_S + tol``. The terms in ``gap_c`` measure how far the computed ``lam^`` is from the
    exact ``lam*`` (the equality is exact only at ``r = D_lam*``): they are the stated
    resolution of this part (its floor), the rest its certified error bar.

    Strictness (SPEC v2): with perfect experts ``phi = JS``, so the improvement is
    ``C - max_Lambda JS = min_{lam in Lambda} (C - JS_lam)``, zero iff ``Lambda`` holds a
    maximizer of ``phi`` over the simplex. Checked on the solves as ``value_S - value_L ==
    value_S - JS(lam_Lambda)``: the two differ by ``value_L - JS(lam_Lambda) in [0, gap_L]``
    (certificate of ``Lambda``'s solve), so ``tol = gap_L + fp``. Identity I1 splits that
    shortfall at ``lam = lamL`` into two non-negative terms, ``C^ - JS_lam = KL(D_lam||r) +
    sum_k lam_k (C^ - KL(D_k||r))`` (output term + support term, reported in ``details``): the
    v1 clause looked at the output term only, and :func:`t3_v1_clause` is refuted where the
    support term alone is positive (``D = [[1,0],[0,1],[.5,.5]]``, ``Lambda = {e_3}``)."""
    p = instance.problem
    if not p.perfect_experts:
        raise ValueError("T3 needs perfect experts")
    sides = _t3_sides(p)
    lhs, m, tol, rs, rl = sides["lhs"], sides["m"], sides["tol"], sides["simplex"], sides["lambda"]
    lam_hat, w_s = sides["lam_hat"], sides["w_s"]
    js_l = sides["js_l"]
    parts = [Part("V(Delta) - V(Lambda) >= min KL(D_lam||D_lam*)", lhs, m, ">=", tol, err_hi=w_s)]
    full = float(lam_hat.min()) > SUPPORT_TOL
    if full:
        resolution = _gap_c_over(sides) + sides["gap_c"] + fp_tol(rs.value, rl.value)
        parts.append(Part("equality (lam* full support)", lhs, m, "==",
                          _gap_c_over(sides) + w_s + tol, floor=resolution))
    js_rl = jensen_shannon(rl.lam, p.D)
    solved = float(rs.value - rl.value)
    parts.append(Part("V(Delta) - V(Lambda) == C - max_Lambda JS (strict iff no maximizer in Lambda)",
                      solved, rs.value - js_rl, "==", rl.gap + fp_tol(rs.value, solved),
                      floor=rl.gap + fp_tol(rs.value, solved)))
    r = lam_hat @ p.D
    kl_r = rel_entr(p.D, r[None, :]).sum(axis=1)
    c_hat = float(kl_r.max())
    lam_l = sides["lam_l"]
    output_term = float(rel_entr(lam_l @ p.D, r).sum())
    support_term = float(np.sum(lam_l * (c_hat - kl_r)))
    if np.isfinite(c_hat):
        parts.append(Part("I1 split: C^ - JS = output term + support term", c_hat - js_l,
                          output_term + support_term, "==", fp_tol(c_hat, js_l), floor=fp_tol(c_hat, js_l)))
    return combine(parts, gap=max(rs.gap, rl.gap), solver=rs.solver, full_support=full,
                   gap_const=sides["gap_c"], fw=sides["fw"], output_term=output_term,
                   support_term=support_term, width_simplex=w_s, width_lambda=sides["w_l"])


def _gap_c_over(sides: dict) -> float:
    """``gap_c / min lam^``: how far ``sum_k lam^_k KL(D_k||r)`` may sit below ``C^`` (T3 doc)."""
    return sides["gap_c"] / float(sides["lam_hat"].min())


def _t3_sides(p: RobustProblem) -> dict:
    """The certified quantities of T3 (see :func:`check_T3`): the improvement ``lhs``, ``m~``,
    the tolerance of the bound, the brackets of the two values and the two solves."""
    S = perfect_game(p, Simplex(p.K))
    rs, rl = certified_solve(S), certified_solve(p)
    # lam^ = the solver's lam, or its polish if the constant gate certifies it better (the
    # solver certifies its pair, lam only to first order; every bound below uses gap_c)
    gap_c, lam_hat = min(((max(certify(S, constant_gate(x, p.n), x).gap, 0.0), x)
                          for x in (rs.lam, polish_capacity(p.D, rs.lam))), key=lambda t: t[0])
    r = lam_hat @ p.D
    c_hat = float(rel_entr(p.D, r[None, :]).sum(axis=1).max())
    # V(Delta) = C in [S_lo, S_hi]: the solve's bracket and the capacity bracket of lam^
    s_hi = min(float(rs.value), c_hat)
    s_lo = max(float(rs.value - rs.gap), jensen_shannon(lam_hat, p.D))
    # V(Lambda) = max_Lambda JS in [L_lo, L_hi]: the solve's bracket and that of its lam
    # polished by an active-set Newton method (theory.programs.polish_max_js)
    lam_l = polish_max_js(p.D, rl.lam, p.Lambda)
    js_l, worst_l = js_bracket(p.D, lam_l, p.Lambda)
    l_hi = min(float(rl.value), worst_l)
    l_lo = max(float(rl.value - rl.gap), js_l)
    # the bracket m~ - fw <= min <= m~ is taken at points of Lambda (theory.programs); lam^ is
    # offered as a second candidate: when it lies in Lambda the minimum is 0 there, exactly
    accuracy = 1e-10 if tolerance_scale() < 1 else None
    m, x, fw = min_kl_over_lambda(p.D, r, p.Lambda, start=lam_hat, accuracy=accuracy)
    lhs = s_hi - l_hi
    w_s, w_l = max(s_hi - s_lo, 0.0), max(l_hi - l_lo, 0.0)
    tol = fw + max(c_hat - s_hi, 0.0) + w_l + fp_tol(rs.value, rl.value)
    return {"lhs": float(lhs), "m": float(m), "tol": float(tol), "gap_c": gap_c, "fw": fw,
            "simplex": rs, "lambda": rl, "lam_hat": lam_hat, "w_s": w_s, "w_l": w_l,
            "lam_l": lam_l, "js_l": js_l, "l_hi": l_hi}


def t3_v1_clause(instance):
    """The v1 strictness clause of T3, **refuted** (not registered; kept as a known-false
    variant): "``V(Delta) - V(Lambda) > 0`` iff no ``D_lam`` (``lam`` in ``Lambda``) equals
    ``D_lam*``". Read numerically: when ``min_Lambda KL(D_lam||D_lam*) <= tol`` the improvement
    must be 0 (within ``tol``), otherwise it must be positive. Counterexample:
    ``D = [[1,0],[0,1],[.5,.5]]``, ``Lambda = {e_3}``: ``D_e3 = D_lam*`` yet the improvement is
    ``log 2``."""
    p = instance.problem
    if not p.perfect_experts:
        raise ValueError("T3 needs perfect experts")
    sides = _t3_sides(p)
    lhs, m, tol = sides["lhs"], sides["m"], sides["tol"]
    if m <= tol:
        part = Part("improvement == 0 when some D_lam equals D_lam*", lhs, 0.0, "==", tol)
    else:
        part = Part("improvement > 0 when no D_lam equals D_lam*", 0.0, lhs, "<", tol)
    return combine([part], gap=max(sides["simplex"].gap, sides["lambda"].gap),
                   solver=sides["simplex"].solver, min_kl=m)


# --------------------------------------------------------------------------- LF
@statement("LF", "§4.4 (Least-favorable mixture)",
           "lam* maximizes phi over Lambda; on the simplex the robust gate equalizes KL(D_k||P_g*) = V "
           "on supp(lam*) (<= V elsewhere); with perfect experts the constant gate lam* is robust; "
           "every robust model equals the water-filling response q_lam* on supp(D_lam*), and it is "
           "unique (= l off that support) when sum_supp u + sum_off l >= 1.", ALL_FAMILIES)
def check_LF(instance):
    """(a) ``phi(lam) <= V <= value = phi(lam*) + gap`` at probes ``lam`` in ``Lambda`` (tol
    ``gap + fp``); with perfect experts also with ``JS_lam`` from :func:`robust_gates.theory.jensen_shannon`.
    (b) simplex: ``sum_k lam*_k (value - l_k(g*)) = value - L(g*, lam*) <= gap`` with every term
    ``>= 0``, so ``value - l_k <= gap / lam*_k`` for ``lam*_k > SUPPORT_TOL``. (c) perfect
    experts: the constant gate ``lam*`` has certificate ``<= CONST_GATE_TOL``. Residuals
    (certificate, Bregman divergence, excess mass) are ``>= 0``, so their parts are written
    ``residual == 0``: same slack as ``<= 0``, and no margin (see
    :mod:`robust_gates.simulations.statements.registry`). A residual of the computed solution is
    compared with the bound its certificate allows, which is then the part's stated floor (the
    resolution of the check: no interval is wider than it). In (a), ``phi(lam*) >= value - gap``
    is a certified lower bound, so the violation cannot exceed the computed one (``err_hi = 0``).

    Structure of the robust models (SPEC v2; ``d = D_lam*``, ``q_wf = clip(t d, l, u)`` its
    water-filling, ``nu = 1/t``). (d) ``L(., lam*)`` is strictly convex on ``supp d``, so the
    Bregman divergence of ``L(., lam*)`` between ``P_g*`` and ``q_wf`` there is at most
    ``L(g*, lam*) - phi(lam*) <= gap``: tol ``gap + fp``. (e) Uniqueness: when ``nu > 0``
    (``sum_supp u + sum_off l > 1``), ``q_wf = l`` off ``supp d``; for any ``q`` in ``Q`` the
    first-order term of ``L(., lam*)`` at ``q_wf`` is ``>= nu * m_off`` with ``m_off =
    sum_off (q - l)`` (interior points have ``d/q_wf = nu``, points clipped at ``u`` have
    ``d/u > nu`` and ``q <= u``, points clipped at ``l`` have ``d/l < nu`` and ``q >= l``), so
    ``m_off <= t (gap + fp) + GATE_TOL`` (membership of ``P_g*`` in ``Q``). When ``nu = 0`` no
    uniqueness is claimed: the robust set is ``{q in Q : q = q_wf on S, worst case <= V}``, in
    general a continuum; ``details["alternative_robust_shift"]`` records the largest mass shift
    off the support found that keeps a model robust (a witness of non-uniqueness). The v1
    clause, uniqueness "wherever some D_k > 0", is :func:`lf_v1_clause` (refuted)."""
    p = instance.problem
    rng = instance_rng(instance, 4)
    sol = certified_solve(p)
    lam, gap = sol.lam, max(sol.gap, 0.0)
    probes = points_in(p.Lambda, rng)
    best_phi = max(p.phi(x) for x in probes)
    parts = [Part("phi(lam) <= phi(lam*) on Lambda", best_phi, sol.lower_bound, "<=",
                  gap + fp_tol(best_phi), err_hi=0.0)]
    if p.perfect_experts:
        js = max(jensen_shannon(x, p.D) for x in probes)
        parts.append(Part("JS_lam <= JS_lam* (capacity prior)", js, jensen_shannon(lam, p.D), "<=",
                          gap + fp_tol(js), err_hi=0.0))
        # the solver certifies its pair, lam* only to first order: the constant gate is also
        # tried at lam* polished by an active-set Newton method (theory.programs.polish_max_js)
        lam_pol = polish_max_js(p.D, lam, p.Lambda)
        gc = min(certify(p, constant_gate(x, p.n), x).gap for x in (lam, lam_pol))
        ctol = CONST_GATE_TOL.get(sol.solver, CONST_GATE_TOL["reference"]) * tolerance_scale()
        gc = max(gc, 0.0)
        # the gap is measured at a computed lam*, and a coordinate lam_k moves it by about
        # log(1/lam_k) times its own error: at tiny coordinates the gap at the computed point says
        # nothing about the exact lam*'s (seed-7 sweep: 4.9e-7 with lam*_k = 3e-20, a spurious
        # refutation). Its certified interval is then [0, gc]: holds at or below the floor,
        # inconclusive above it, never refuted
        tiny = any(np.any((x > 0) & (x < TINY_WEIGHT)) for x in (lam, lam_pol))
        parts.append(Part("constant gate lam* is robust", gc, 0.0, "==", ctol + gc if tiny else ctol,
                          floor=ctol, err_hi=0.0 if tiny else None))
    if p.Lambda.kind == "simplex":
        ell = p.losses(sol.model)
        supp = lam > SUPPORT_TOL
        excess = (sol.value - ell)[supp]
        allow = gap / lam[supp] + fp_tol(sol.value)
        k = int(np.argmax(excess - allow))
        parts.append(Part("equalizer on supp(lam*)", float(ell[supp][k]), sol.value, "==", float(allow[k]),
                          floor=float(allow[k])))
        parts.append(Part("l_k <= V off supp(lam*)", float(ell.max()), sol.value, "<=", fp_tol(sol.value)))
    d = lam @ p.D
    wf = water_fill(d, p.l, p.u)
    on = d > 0
    ratio = sol.model[on] / wf.q[on]
    breg = float(np.sum(d[on] * (ratio - 1 - np.log(ratio))))
    parts.append(Part("P_g* = best response on supp(D_lam*)", breg, 0.0, "==", gap + fp_tol(breg),
                      floor=gap + fp_tol(breg)))
    extra = {}
    if np.isfinite(wf.t):
        m_off = max(float(np.sum((sol.model - p.l)[~on])), 0.0)
        bound = wf.t * (gap + fp_tol(sol.value)) + GATE_TOL
        parts.append(Part("P_g* = l off supp(D_lam*) (unique when sum_S u + sum_off l >= 1)", m_off, 0.0,
                          "==", bound, floor=bound))
    else:
        extra["free_mass"] = float(1 - p.u[on].sum() - p.l[~on].sum())
        extra["alternative_robust_shift"] = _alternative_robust_shift(p, sol, on)
    return combine(parts, gap=gap, solver=sol.solver, **extra)


def lf_v1_clause(instance):
    """The v1 uniqueness clause of LF, **refuted** (not registered; kept as a known-false
    variant): "the robust model is unique wherever some ``D_k > 0``". Read numerically: no mass
    shift between two points off ``supp(D_lam*)``, one of them covered by some ``D_k``, keeps a
    model robust. Counterexample: ``D = [[1,0,0,0],[0,1,0,0],[.9,0,.05,.05]]``,
    ``P = [[.3,0,.7,0],[0,.3,0,.7],[.3,0,.7,0]]`` on the simplex: ``(.3,.3,.2,.2)`` and
    ``(.3,.3,.3,.1)`` are both robust (worst case ``log(1/.3) = V``)."""
    p = instance.problem
    sol = certified_solve(p)
    d = sol.lam @ p.D
    shift = 0.0 if np.isfinite(water_fill(d, p.l, p.u).t) else _alternative_robust_shift(p, sol, d > 0)
    return combine([Part("P_g* unique where some D_k > 0", shift, 0.0, "==", GATE_TOL)], gap=sol.gap,
                   solver=sol.solver)


def _alternative_robust_shift(p: RobustProblem, sol, on: np.ndarray) -> float:
    """When ``nu = 0`` the leftover mass can sit anywhere off ``supp(D_lam*)``: move ``delta`` of
    it between two such points ``x`` (where some ``D_k(x) > 0``) and ``x'`` and test whether the
    new model is still robust (worst case ``<= value``). Returns the largest such ``delta``
    found (0: none)."""
    covered = p.D.max(axis=0) > 0
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
                if worst_case(p, alt) <= sol.value + fp_tol(sol.value):
                    best = max(best, delta)
    return float(best)


# --------------------------------------------------------------------------- mutants (SPEC §6)
part_mutant("T2", "V(Lambda) <= V(Lambda')", "reverse",
            "The planted false claim: V(Lambda) >= V(Lambda') for Lambda ⊆ Lambda' (T2 turned around).")
part_mutant("T2", "V(Lambda) <= V(Lambda')", "strict",
            "Specializing always helps: V(Lambda) < V(Lambda') (false when Lambda holds a maximizer of "
            "phi over Lambda').")
part_mutant("T3", "V(Delta) - V(Lambda) >= min KL", "equality",
            "The T3 bound holds with equality for every Lambda (equality moved off its condition, "
            "full support of lam*).")
part_mutant("T3", "V(Delta) - V(Lambda) >= min KL", "tighten",
            "V(Delta) - V(Lambda) >= (1 + 1%) min_Lambda KL(D_lam||D_lam*).")


@mutant("T3", "v1 strictness clause",
        "v1: the improvement is strict iff no D_lam (lam in Lambda) equals D_lam* (refuted).")
def _t3_v1(instance, result):
    return t3_v1_clause(instance)


@mutant("LF", "v1 uniqueness clause",
        "v1: the robust model is unique wherever some D_k > 0 (refuted).")
def _lf_v1(instance, result):
    return lf_v1_clause(instance)


@mutant("LF", "equalizer on every domain",
        "On the simplex every domain, in the support of lam* or not, has loss KL(D_k||P_g*) = V.")
def _lf_equalizer_all(instance, result):
    """Simplex only: ``min_k KL(D_k||P_g*) == value`` within ``gap / min_k lam*_k`` is what the
    equalizer gives on the support; off it a domain may have a smaller loss."""
    p = instance.problem
    if p.Lambda.kind != "simplex":
        return None
    sol = certified_solve(p)
    ell = p.losses(sol.model)
    return combine([Part("KL(D_k||P_g*) == V for every k", float(ell.min()), sol.value, "==",
                         sol.gap / max(float(sol.lam.max()), SUPPORT_TOL) + fp_tol(sol.value))], gap=sol.gap)


part_mutant("LF", "l_k <= V off supp(lam*)", "strict",
            "On the simplex no domain reaches the value V (the robust gate's losses all lie below V).")
