r"""SPEC v2 checks built on the decomposition of the dual function: I2 (``phi = JS + delta_Q``,
its bracket and the exact posterior identity), T3-G (improvement from prior knowledge with
imperfect experts, paper section 4.3) and PoM (price of modularity, section 4.5.2).

Notation (as in :mod:`.probes`): ``res = certified_solve(problem)`` brackets the value,
``res.value - res.gap <= V <= res.value``; ``delta(lam)`` is ``KL(D_lam || q_lam)`` at the
water-filled best response ``q_lam``, an upper bound of ``delta_Q(lam) = min_Q KL(D_lam||.)``
with Frank-Wolfe gap ``fw`` (``delta - fw <= delta_Q <= delta``); ``fp`` is :func:`fp_tol`.
"""

from __future__ import annotations

import numpy as np
from scipy.special import rel_entr

from robust_gates.theory import Simplex, best_response_certified, jensen_shannon

from .mutants import mutant, part_mutant
from .probes import ALL_FAMILIES, extreme_points, instance_rng, max_js_bracket, perfect_game, points_in
from .registry import Part, combine, fp_tol, statement
from .solving import certified_solve
from .specialization import SUPPORT_TOL

__all__ = ["check_I2", "check_T3G", "check_PoM", "shortfall"]


def shortfall(problem, lam: np.ndarray) -> tuple[float, np.ndarray, float]:
    """``(delta, q_lam, fw)``: the experts' shortfall at ``lam`` as computed (module doc)."""
    d = lam @ problem.D
    q, fw = best_response_certified(d, problem.l, problem.u)
    return float(rel_entr(d, q).sum()), q, float(fw)


def _tightest(chains: list[list[Part]]) -> list[Part]:
    """For each position, the part with the smallest slack over the probe mixtures."""
    return [min((c[j] for c in chains), key=lambda pt: pt.slack) for j in range(len(chains[0]))]


# --------------------------------------------------------------------------- I2
@statement("I2", "§4.2/§4.5 (Decomposition of the dual function)",
           "phi(lam) = JS_lam(D) + delta_Q(lam) and 0 <= delta_Q(lam) <= KL(D_lam||P_lam) <= "
           "sum_k lam_k eps_k, with sum_k lam_k eps_k - KL(D_lam||P_lam) = E_{x~D_lam} "
           "KL(pi_D(.|x)||pi_P(.|x)) exactly.", ALL_FAMILIES)
def check_I2(instance):
    """At probe mixtures (points of ``Lambda``, the vertices ``e_k``, the solver's ``lam*``):
    ``phi(lam) = sum_k lam_k KL(D_k||q_lam)`` computed per domain, ``JS`` from entropies and
    ``delta = KL(D_lam||q_lam)`` are three independent sums, so the identity ``phi = JS + delta``
    (I1 at ``q_lam``) gets ``tol = fp``; ``phi`` is the minimum over ``Q`` up to ``fw``, which
    both sides share. ``delta >= 0``: ``tol = fp``. ``delta_Q <= KL(D_lam||P_lam)`` (``P_lam``
    is in ``Q``): the computed ``delta`` may exceed ``delta_Q`` by ``fw``: ``tol = fw + fp``.
    Convexity ``KL(D_lam||P_lam) <= lam . eps``: ``tol = fp``. The posterior identity (chain
    rule on the joint law of ``(k, x)``) compares two independent sums: ``tol = fp``; it is
    skipped where ``lam . eps`` is infinite (an expert missing a point of its domain). For
    each part the mixture where it is tightest is kept."""
    p = instance.problem
    rng = instance_rng(instance, 8)
    sol = certified_solve(p)
    lams = np.vstack([points_in(p.Lambda, rng), np.eye(p.K), sol.lam])
    eps = p.expert_errors
    chains, post = [], []
    for lam in lams:
        d = lam @ p.D
        delta, q, fw = shortfall(p, lam)
        w = lam > 0  # a domain of weight 0 may have infinite loss under q_lam: 0 * inf = 0
        phi = float(lam[w] @ rel_entr(p.D[w], q[None, :]).sum(axis=1))
        js = jensen_shannon(lam, p.D)
        pl = lam @ p.P
        mid = float(rel_entr(d, pl).sum())
        with np.errstate(invalid="ignore"):
            bound = float(np.sum(np.where(lam > 0, lam * eps, 0.0)))
        chains.append([
            Part("phi = JS + delta_Q", phi, js + delta, "==", fp_tol(phi, js)),
            Part("delta_Q >= 0", delta, 0.0, ">=", fp_tol(delta)),
            Part("delta_Q <= KL(D_lam||P_lam)", delta, mid, "<=", fw + fp_tol(delta, mid)),
            Part("KL(D_lam||P_lam) <= sum lam eps", mid, bound, "<=", fp_tol(mid, bound)),
        ])
        if np.isfinite(bound):
            # E_{D_lam} KL(pi_D||pi_P) = sum_{k,x} lam_k D_k(x) log(D_k(x) P_lam(x) / (P_k(x) D_lam(x))),
            # summed in log space (entries near 1e-300 would underflow a ratio of products)
            A = lam[:, None] * p.D
            with np.errstate(divide="ignore", invalid="ignore"):
                logs = np.log(p.D) - np.log(p.P) + np.log(pl)[None, :] - np.log(d)[None, :]
                gap_post = float(np.where(A > 0, A * logs, 0.0).sum())
            post.append(Part("sum lam eps - KL(D_lam||P_lam) = E KL(pi_D||pi_P)", bound - mid, gap_post, "==",
                             fp_tol(bound, mid), floor=fp_tol(bound, mid)))
    parts = _tightest(chains)
    if post:
        parts.append(min(post, key=lambda pt: pt.slack))
    return combine(parts, gap=sol.gap, solver=sol.solver)


# --------------------------------------------------------------------------- T3-G
@statement("T3-G", "§4.3 (Quantitative improvement, general experts)",
           "For Lambda ⊆ Lambda' and a robust model q' for Lambda': V(Lambda') - V(Lambda) >= "
           "min_{lam in Lambda} [KL(D_lam||q') - delta_Q(lam)] >= 0, with equality when L(q', .) is "
           "constant on Lambda (Lambda' = simplex and a full-support least-favorable mixture).",
           ALL_FAMILIES)
def check_T3G(instance):
    """``Lambda'`` is the outer set of a nested pair, else the simplex. ``q' = `` the outer
    solve's model, ``lam_L`` the inner solve's ``lam*``, ``h(lam) = KL(D_lam||q') - delta(lam)``.
    The proof gives the stronger pointwise form at the maximizer: ``V' >= L(q', lam_L) - gap'``
    (``q'`` is robust to ``gap'``), ``V_L <= phi(lam_L) + gap_L`` and ``L(q', lam) - phi(lam) =
    KL(D_lam||q') - delta_Q(lam)`` (I1, I2); with ``value_L <= V_L + gap_L`` and ``delta >=
    delta_Q``: ``lhs = value' - value_L >= h(lam_L) - (gap' + 2 gap_L)``: ``tol = gap' + 2 gap_L +
    fp``. Hence also ``>= min_Lambda h``. ``h >= 0`` (``q'`` is in ``Q``) at ``lam_L`` and at
    probes: ``h >= -fw``, ``tol = fw + fp``. Equality (``Lambda'`` the simplex and ``min_k
    lam'_k > SUPPORT_TOL``): each loss ``l_k(q') >= value' - gap'/lam'_k``, so ``lhs <= h(lam_L) +
    fw + gap'/min lam'``; with the bound: ``|lhs - h(lam_L)| <= gap'/min lam' + gap' + 2 gap_L +
    fw + fp``. Error bars
    (:mod:`robust_gates.simulations.statements.registry`):
    the exact improvement exceeds ``lhs`` by at most
    ``gap_L`` and falls below it by at most ``gap'``, and the exact ``h`` exceeds the computed one
    by at most ``fw``, so the bound's violation can exceed the computed one by ``gap' + fw``
    (``err_hi``); in the equality, ``gap'/min lam'`` measures how far ``lam'`` is from exact and
    is the part's stated resolution (floor)."""
    p = instance.problem
    outer = instance.outer if len(instance.problems) > 1 else type(p)(p.D, p.P, Simplex(p.K), p.payoff)
    ro, ri = certified_solve(outer), certified_solve(p)
    qo = ro.model
    lhs = ro.value - ri.value

    def h(lam):
        delta, _, fw = shortfall(p, lam)
        return float(rel_entr(lam @ p.D, qo).sum()) - delta, fw

    hL, fwL = h(ri.lam)
    parts = [Part("V(Lambda') - V(Lambda) >= KL(D_lam||q') - delta_Q(lam) at lam*_Lambda", lhs, hL, ">=",
                  ro.gap + 2 * ri.gap + fp_tol(lhs, hL), err_hi=max(ro.gap, 0.0) + fwL)]
    probes = [h(lam) for lam in points_in(p.Lambda, instance_rng(instance, 9))] + [(hL, fwL)]
    hmin, fwmin = min(probes, key=lambda t: t[0] + t[1])
    parts.append(Part("KL(D_lam||q') - delta_Q(lam) >= 0", hmin, 0.0, ">=", fwmin + fp_tol(hmin)))
    equal = outer.Lambda.kind == "simplex" and float(ro.lam.min()) > SUPPORT_TOL
    if equal:
        resolution = max(ro.gap, 0.0) / float(ro.lam.min()) + fp_tol(lhs, hL)
        parts.append(Part("equality (Lambda' simplex, lam*' full support)", lhs, hL, "==",
                          ro.gap / float(ro.lam.min()) + ro.gap + 2 * ri.gap + fwL + fp_tol(lhs, hL),
                          floor=resolution))
    return combine(parts, gap=max(ro.gap, ri.gap), solver=ri.solver, equality_case=equal, h_at_lam=hL)


# --------------------------------------------------------------------------- PoM
@statement("PoM", "§4.5.2 (Price of modularity)",
           "M(Lambda) = min over all distributions q of max_Lambda L(q, .) = max_Lambda JS, and "
           "delta_Q(lamJ) <= V(Lambda) - M(Lambda) <= max_Lambda delta_Q <= max_Lambda sum_k lam_k eps_k.",
           ALL_FAMILIES)
def check_PoM(instance):
    """``rp`` = the perfect-expert game on ``Lambda`` (the unrestricted monolith: its models
    include every ``D_lam``); ``lamJ`` = its ``lam*`` polished and ``[M_lo, M_hi]`` the
    certified bracket of ``max_Lambda JS`` there (:func:`.probes.max_js_bracket`), ``w_M`` its
    width, ``wJ = M_hi - JS(lamJ)``. ``M`` (min over all distributions of the worst case) lies
    in ``[JS(lamJ), mono]`` by I1, ``mono = min(M_hi, unrestricted worst case of rp.model)``;
    so does ``max JS``, and the part ``M == max JS`` compares ``mono`` with ``JS(lamJ)``:
    ``tol = rp.gap + fp`` (a model whose unrestricted worst case exceeds its certified value by
    more refutes it), and the exact difference is at most the computed one (``err_hi = 0``).

    Lower bound (``gapVM = V_hi - M_hi``, ``V <= V_hi = min(value, max_Lambda L(q_lamJ, .))``,
    the worst cases of two models of ``Q``; ``q_lamJ`` is ``D_lamJ`` where ``delta_Q(lamJ) = 0``,
    so an equality case is not left to the solver's gap): ``delta_Q(lamJ) <= phi(lamJ) -
    JS(lamJ) <= V - JS(lamJ) <= gapVM + wJ``, and the computed ``delta`` exceeds ``delta_Q``
    by at most ``fw``: ``tol = fw + wJ + fp``. In the other direction ``V >= phi(lamJ)``
    bounds the exact violation ``delta_Q(lamJ) - (V - M)`` by ``wJ``: ``err_hi = max(wJ - v,
    0)`` (``v`` the computed violation), so a bound attained with equality (``delta_Q = 0``
    on dependent domains) is decided once ``lamJ`` is polished, whatever the solver's gap.

    Upper bound: ``delta_Q`` is convex in ``lam`` (a partial minimum of a jointly convex
    function), so its maximum over ``Lambda`` is at a vertex; ``V_hi - M_hi <= V - M + gap``:
    ``tol = gap + fp``; the exact ``V - M`` is at most ``value - M_lo`` and ``max delta_Q`` at
    least ``delta - fw`` at the vertex found, so ``err_hi = w_M + fw``. Last link:
    ``delta_Q(v) <= KL(D_v||P_v) <= v . eps`` at each vertex (P1, I2), ``E = max_Lambda lam .
    eps`` by a linear program: ``tol = fw + fp``.

    The vertices are enumerated when that is cheap (:func:`.probes.extreme_points`); for a
    polytope with too many active sets (``K = 8`` with 15 inequalities: 245,157) they are
    replaced by maximizers of linear functions (vertices found by linear programs), and
    ``details["all_vertices"]`` says which. Neither upper-bound part depends on the list being
    complete. ``lam*`` (the solver's) is always among the points: ``rp.value >= M >=
    JS(lam*)`` and ``phi(lam*) >= value - gap`` give ``V_hi - M_hi <= delta_Q(lam*) + gap
    <= delta(lam*) + gap``, so "``V - M <= max delta_Q``" keeps ``tol = gap + fp`` with a
    witness in the list; the last link holds at every point of ``Lambda``, so with a partial
    list it is checked at the points listed (``lhs`` is then a lower estimate of ``max_Lambda
    delta_Q``)."""
    p = instance.problem
    sol = certified_solve(p)
    rp = certified_solve(perfect_game(p))
    lamJ, m_lo, m_hi = max_js_bracket(p.D, p.Lambda, rp)
    jsJ = jensen_shannon(lamJ, p.D)
    w_m = max(m_hi - m_lo, 0.0)
    wJ = max(m_hi - jsJ, 0.0)
    mono = min(float(p.worst_case(rp.model)[0]), m_hi)
    dJ, qJ, fwJ = shortfall(p, lamJ)
    # V <= the worst case of any model of Q: the solver's, and the best response q_lamJ (which
    # is D_lamJ, worst case M_hi, where delta_Q(lamJ) = 0)
    v_hi = min(float(sol.value), float(p.worst_case(qJ)[0]))
    verts, complete = extreme_points(p.Lambda, instance_rng(instance, 10))
    pts = np.vstack([verts, sol.lam, lamJ])
    shortfalls = [shortfall(p, v) for v in pts]
    k = int(np.argmax([s[0] for s in shortfalls]))
    dmax, fwmax = shortfalls[k][0], max(s[2] for s in shortfalls)
    # the linear program's maximum stops within its own tolerance; every listed point is in Lambda
    with np.errstate(invalid="ignore"):
        listed = np.where(pts > 0, pts * p.expert_errors[None, :], 0.0).sum(axis=1)
    E = max(float(p.Lambda.maximize_linear(p.expert_errors)[0]), float(np.max(listed)))
    gapVM = v_hi - m_hi
    v1 = dJ - gapVM
    parts = [
        Part("delta_Q(lamJ) <= V - M", dJ, gapVM, "<=", fwJ + wJ + fp_tol(dJ), err_hi=max(wJ - v1, 0.0)),
        Part("V - M <= max_Lambda delta_Q", gapVM, dmax, "<=", sol.gap + fp_tol(gapVM, dmax),
             err_hi=w_m + shortfalls[k][2]),
        Part("max_Lambda delta_Q <= max_Lambda sum lam eps", dmax, E, "<=", fwmax + fp_tol(dmax, E)),
        Part("M(Lambda) == max_Lambda JS", mono, jsJ, "==", rp.gap + fp_tol(mono), err_hi=0.0),
    ]
    return combine(parts, gap=max(sol.gap, rp.gap), solver=sol.solver, price=gapVM, M=mono,
                   all_vertices=complete)


# --------------------------------------------------------------------------- mutants (SPEC §6)
part_mutant("I2", "delta_Q >= 0", "strict", "The experts' shortfall is always positive (never 0).")
part_mutant("I2", "delta_Q <= KL(D_lam||P_lam)", "strict",
            "The best gated model always beats the fixed mixture P_lam strictly.")
part_mutant("I2", "KL(D_lam||P_lam) <= sum lam eps", "tighten",
            "KL(D_lam||P_lam) <= (1 - 1%) sum_k lam_k eps_k.")


@mutant("I2", "phi = JS (shortfall dropped)",
        "phi(lam) = JS_lam(D): the experts' shortfall delta_Q is left out of the decomposition.")
def _i2_no_shortfall(instance, result):
    pt = result.details["parts"]["phi = JS + delta_Q"]
    p = instance.problem
    lam = certified_solve(p).lam
    delta, _, fw = shortfall(p, lam)
    js = jensen_shannon(lam, p.D)
    return combine([Part("phi == JS at lam*", js + delta, js, "==", fw + pt["tol"])])


part_mutant("T3-G", "V(Lambda') - V(Lambda) >=", "equality",
            "T3-G holds with equality for every nested pair (equality moved off its condition).")
part_mutant("T3-G", "V(Lambda') - V(Lambda) >=", "strict",
            "The improvement always exceeds KL(D_lam||q') - delta_Q(lam) strictly.")
part_mutant("T3-G", "V(Lambda') - V(Lambda) >=", "tighten",
            "V(Lambda') - V(Lambda) >= (1 + 1%) [KL(D_lam||q') - delta_Q(lam)].")
part_mutant("PoM", "delta_Q(lamJ) <= V - M", "strict",
            "Modularity always costs something: delta_Q(lamJ) < V - M.")
part_mutant("PoM", "V - M <= max_Lambda delta_Q", "reverse",
            "The price of modularity is at least the largest shortfall: V - M >= max_Lambda delta_Q.")
part_mutant("PoM", "max_Lambda delta_Q <= max_Lambda sum lam eps", "tighten",
            "max_Lambda delta_Q <= (1 - 1%) max_Lambda sum_k lam_k eps_k.")
