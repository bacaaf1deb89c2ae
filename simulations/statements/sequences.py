r"""SPEC v2 checks JG (the JSD gap on sequences, paper section 4.5) and GB2 (a generalization bound
in terms of the gate's complexity, section 4.6), with their mutants.

The exact computations live in :mod:`robust_gates.simulations.jsd_gap` (forward recursion,
enumeration, Monte Carlo) and :mod:`robust_gates.simulations.gate_bound` (the bound and its
derivation); this module only compares them. ``fp`` is :func:`fp_tol`.

JG runs on the Markov-chain families of :data:`robust_gates.simulations.instances.SEQUENCE_FAMILIES`
(the chains travel in ``instance.params``); GB2 on the gate families, or on any problem with
positive experts (defaults below), so ``check --problem`` accepts it.
"""

from __future__ import annotations

import numpy as np

from ..gate_bound import (
    comparator,
    failures_allowed,
    gate_class,
    rademacher_bound,
    rademacher_lower,
    sample_sizes,
    trial,
)
from ..instances import GATE_FAMILIES, SEQUENCE_FAMILIES
from ..jsd_gap import (
    MarkovChain,
    chain_kl,
    enumerate_levels,
    linear_growth,
    mixture_entropy,
    router_monte_carlo,
)
from ..softmax_gate import vertices_of
from .mutants import mutant, part_mutant
from .probes import instance_rng
from .registry import Part, combine, fp_tol, statement

__all__ = ["check_JG", "check_GB2", "MC_ALPHA", "MC_SEQUENCES", "GB2_DELTA", "GB2_TRIALS", "GB2_ALPHA",
           "GB2_SIGNS"]

#: Monte Carlo level (probability that the router's interval at ``T`` misses) and size
MC_ALPHA = 1e-6
MC_SEQUENCES = 256
#: GB2: the bound's confidence ``1 - delta``, trials per instance, the level of the binomial
#: test on the failure counts and of the Rademacher lower estimate, and its sign draws
GB2_DELTA = 0.1
GB2_TRIALS = 12
GB2_ALPHA = 1e-6
GB2_SIGNS = 1500


#: whether :class:`Part` takes a stated rounding floor (the registry's three-outcome version)
_HAS_FLOOR = "floor" in getattr(Part, "__dataclass_fields__", {})


def _rounding(name: str, lhs: float, rhs: float, rel: str, tol: float) -> Part:
    """A part whose whole tolerance is rounding (no certified error bar): ``floor = tol``."""
    if _HAS_FLOOR:
        return Part(name, lhs, rhs, rel, tol, tol)
    return Part(name, lhs, rhs, rel, tol)


def _chains(instance):
    pr = instance.params
    if "markov_domains" not in pr:
        raise ValueError("JG applies to Markov-chain instances (the families "
                         f"{', '.join(SEQUENCE_FAMILIES)}); this instance carries no chains")
    dom = [MarkovChain.from_dict(c) for c in pr["markov_domains"]]
    noisy = pr.get("markov_experts")
    exp = dom if noisy is None else [MarkovChain.from_dict(c) for c in noisy]
    return dom, exp, np.asarray(pr["lam"], dtype=np.float64), int(pr["T0"]), int(pr["T"]), noisy is None


# --------------------------------------------------------------------------- JG
@statement("JG", "§4.5 (The JSD gap, on sequences)",
           "For Markov-chain domains and experts and a constant gate w = lam: the sequence-level mixture "
           "(Bayes router) has sum_k lam_k KL(D_k||P_lam) = JS_lam(D^{1:T}) + KL(D_lam||P_lam) <= H(lam) + "
           "sum_k lam_k eps_k^{1:T}, nondecreasing in T; the token-level mixture P_tok pays exactly "
           "Tok(T) = Tok(1) + (T-1) r + O(1) (chain rule, forward recursion), linear in T; the gap is "
           "Tok - R = KL(D_lam||P_tok) - KL(D_lam||P_lam).", SEQUENCE_FAMILIES)
def check_JG(instance):
    """At the enumerated length ``T0`` (``V^T0 <= 4096``) the router loss ``R``, ``JS``,
    ``KL(D_lam||P_lam)``, ``Tok`` and ``KL(D_lam||P_tok)`` are independent sums over ``V^t`` in log
    space, and ``eps^{1:T0}`` comes from the forward recursion: every part compares sums of at
    most ``4096 K`` terms of size at most ``T0 max|log p|``, whose rounding is far below
    ``fp`` (relative ``1e-9``), so ``tol = fp``. Parts: the identity ``R = JS + KL(D_lam||P_lam)``
    (I1 at ``P_lam``); the bound ``R <= H(lam) + lam . eps`` (``P_lam >= lam_k P_k`` pointwise);
    ``JS <= H(lam)`` (a mutual information is at most the entropy of the label); ``R(t+1) >= R(t)``
    for ``t < T0`` (data processing); the token loss by recursion equals the enumeration; the gap
    identity (I1 at ``P_tok`` minus I1 at ``P_lam``). At ``T = 1000`` the recursion gives ``Tok`` and
    the linear law ``|Tok(T) - Tok(1) - (T-1) r| <= rem(T)`` (Hölder and Dobrushin contraction, see
    :mod:`robust_gates.simulations.jsd_gap`), ``tol = fp``; ``rem = 0`` for stationary starts, so
    both sides are attained there. With perfect experts, ``R(T) >= R(T0)`` is checked against the
    upper end of a Hoeffding interval for ``R(T)`` from ``256`` sequences (it misses with
    probability ``<= 1e-6``; the integrand ``H(pi(.|x))`` lies in ``[0, log K]``)."""
    dom, exp, lam, T0, T, perfect = _chains(instance)
    live = lam > 0
    en = enumerate_levels(dom, exp, lam, T0)
    lg = linear_growth(dom, exp, lam, T)
    eps = np.array([chain_kl(d, p, T) for d, p in zip(dom, exp, strict=True)])  # K x T
    H = mixture_entropy(lam)
    eps0 = float(lam[live] @ eps[live, T0 - 1])
    epsT = float(lam[live] @ eps[live, T - 1])
    R, js, mk = float(en.router[-1]), float(en.js[-1]), float(en.mix_kl[-1])
    tok0, tokm = float(en.tok[-1]), float(en.tok_mix_kl[-1])
    inc = float(np.min(np.diff(en.router))) if T0 > 1 else 0.0
    tokT, tok1 = float(lg.tok[-1]), float(lg.tok[0])
    lin = (T - 1) * lg.rate
    rem = float(lg.rem[-1])
    parts = [
        _rounding("R(T0) <= H(lam) + sum lam eps^{1:T0}", R, H + eps0, "<=", fp_tol(R, H + eps0)),
        _rounding("R(T0) = JS + KL(D_lam||P_lam)", R, js + mk, "==", fp_tol(R, js, mk)),
        _rounding("JS(T0) <= H(lam)", js, H, "<=", fp_tol(js, H)),
        _rounding("R(t+1) - R(t) >= 0 (t < T0)", inc, 0.0, ">=", fp_tol(R)),
        _rounding("Tok(T0): recursion = enumeration", float(lg.tok[T0 - 1]), tok0, "==", fp_tol(tok0)),
        _rounding("Tok - R = KL(D_lam||P_tok) - KL(D_lam||P_lam) at T0", tok0 - R, tokm - mk, "==",
             fp_tol(tok0, R, tokm, mk)),
        _rounding("Tok(T) - Tok(1) <= (T-1) r + rem", tokT - tok1, lin + rem, "<=", fp_tol(tokT, lin + rem)),
        _rounding("Tok(T) - Tok(1) >= (T-1) r - rem", tokT - tok1, lin - rem, ">=", fp_tol(tokT, lin)),
    ]
    mc = (np.nan, np.nan, np.nan)
    if perfect:
        mc = router_monte_carlo(dom, lam, T, MC_SEQUENCES, instance_rng(instance, 31), MC_ALPHA)
        parts.append(_rounding("R(T) >= R(T0) (Monte Carlo upper end at T)", mc[2], R, ">=",
                               fp_tol(R, mc[2])))
    return combine(parts, T0=T0, T=T, H=H, router_T0=R, tok_T0=tok0, tok_T=tokT, rate=lg.rate, rem=rem,
                   router_bound_T=H + epsT, gap_lower_T=tokT - (H + epsT), router_T_mc=list(mc),
                   eps_T0=eps0, eps_T=epsT, perfect=perfect)


part_mutant("JG", "R(T0) <= H(lam) + sum lam eps", "tighten",
            "R(T0) <= (1 - 1%) [H(lam) + sum_k lam_k eps_k^{1:T0}].")
part_mutant("JG", "Tok(T) - Tok(1) <= (T-1) r + rem", "tighten",
            "The token-level loss grows more slowly than its rate: "
            "Tok(T) - Tok(1) <= (1 - 1%) [(T-1) r + rem].")
part_mutant("JG", "R(t+1) - R(t) >= 0", "strict",
            "The router's loss strictly increases with every token (the posterior always keeps learning).")


def _jg_clause(instance, result, name, lhs_key, rhs):
    d = result.details
    lhs = d[lhs_key]
    return combine([Part(name, lhs, rhs, "<=", fp_tol(lhs, rhs))])


@mutant("JG", "no JSD gap",
        "The token-level mixture is bounded like the router: "
        "Tok(T) <= H(lam) + sum_k lam_k eps_k^{1:T} at T = 1000.")
def _jg_no_gap(instance, result):
    d = result.details
    return _jg_clause(instance, result, "Tok(T) <= H(lam) + sum lam eps^{1:T}", "tok_T", d["router_bound_T"])


@mutant("JG", "router without the experts' error",
        "R(T0) <= H(lam): the experts' error term sum_k lam_k eps_k is not needed.")
def _jg_no_eps(instance, result):
    return _jg_clause(instance, result, "R(T0) <= H(lam)", "router_T0", result.details["H"])


@mutant("JG", "router without the entropy",
        "R(T0) <= sum_k lam_k eps_k^{1:T0}: routing costs nothing beyond the experts' own error.")
def _jg_no_entropy(instance, result):
    return _jg_clause(instance, result, "R(T0) <= sum lam eps^{1:T0}", "router_T0", result.details["eps_T0"])


# --------------------------------------------------------------------------- GB2
def _gate_setup(instance):
    p = instance.problem
    pr = instance.params
    gc = gate_class(p, float(pr.get("B", 1.0)), str(pr.get("features", "cells")),
                    int(pr.get("cells", min(p.n, 8))))
    props = np.asarray(pr.get("proportions", np.full(p.K, 1.0 / p.K)), dtype=np.float64)
    return p, gc, sample_sizes(int(pr.get("M", 400)), props)


@statement("GB2", "§4.6 (Generalization in terms of the gate's complexity)",
           "For softmax-linear gates softmax(W phi(x)), ||W||_F <= B, ||phi|| <= R, with m_k samples per "
           "domain: the weighted Rademacher complexity is at most 2 B R sqrt(K s(lam||m_bar)/M) (no n, no "
           "expert size); the uniform deviation of loss differences and the excess of the empirical robust "
           "gate over a fixed comparator stay under the derived bounds in at least 1 - delta of trials.",
           GATE_FAMILIES)
def check_GB2(instance):
    """One sample (``m_k = round(M p_k)``) and the vertex ``v`` of ``Lambda`` with the largest
    skewness: a lower estimate of the empirical Rademacher complexity (``1500`` sign draws, a
    McDiarmid correction at level ``1e-6``, :func:`robust_gates.simulations.gate_bound.rademacher_lower`)
    against ``2 B R sqrt(K s_v / M)``; ``tol = fp``: the lower estimate is below the true value with
    probability ``>= 1 - 1e-6``, so a negative slack refutes the bound at that level. Then ``12``
    trials: the uniform deviation at a data-chosen gate against ``Phi_B`` (holds with probability
    ``>= 1 - delta/2``) and the excess of the empirical robust gate over the population-descent
    comparator against step 6's bound (``>= 1 - delta``), ``delta = 0.1``. A count of failures is
    compared with the ``1 - 1e-6`` quantile of ``Binomial(12, p)`` (:func:`failures_allowed`): a valid
    bound exceeds it with probability ``<= 1e-6``. Counts are exact, so ``tol = 0``."""
    p, gc, m = _gate_setup(instance)
    rng = instance_rng(instance, 41)
    Vx = vertices_of(p.Lambda)
    v = Vx[int(np.argmax([np.sum(u ** 2 / m) for u in Vx]))]
    counts = np.array([rng.multinomial(int(mk), p.D[k]) for k, mk in enumerate(m)], dtype=np.float64)
    mean, low = rademacher_lower(gc, v, counts, m, GB2_SIGNS, rng, GB2_ALPHA)
    rb = rademacher_bound(gc, v, m)
    fast = float(2 * gc.B * gc.R * np.sqrt(p.K) * np.sum(v ** 2 / m))
    W_ref = comparator(gc, p, steps=25)
    rows = [trial(gc, p, W_ref, m, GB2_DELTA, rng, steps=12) for _ in range(GB2_TRIALS)]
    dev_fail = sum(r["deviation"] > r["deviation_bound"] for r in rows)
    exc_fail = sum(r["excess"] > r["excess_bound"] for r in rows)
    parts = [
        Part("Rademacher lower estimate <= 2 B R sqrt(K s/M)", low, rb, "<=", fp_tol(low, rb)),
        Part("uniform deviation failures <= Binomial(N, delta/2) quantile", float(dev_fail),
             float(failures_allowed(GB2_TRIALS, GB2_DELTA / 2, GB2_ALPHA)), "<=", 0.0),
        Part("excess failures <= Binomial(N, delta) quantile", float(exc_fail),
             float(failures_allowed(GB2_TRIALS, GB2_DELTA, GB2_ALPHA)), "<=", 0.0),
    ]
    return combine(parts, B=gc.B, R=gc.R, d=gc.shape[1], M=int(m.sum()), rademacher_mean=mean,
                   rademacher_low=low, rademacher_bound=rb, fast_rate=fast, ratio=low / rb,
                   deviation_ratio=max(r["deviation"] / r["deviation_bound"] for r in rows),
                   excess_ratio=max(r["excess"] / r["excess_bound"] for r in rows),
                   comparator_term=rows[0]["comparator_term"])


part_mutant("GB2", "Rademacher lower estimate", "tighten",
            "The contraction bound is loose by 8: the weighted Rademacher complexity is at most "
            "(1/8) 2 B R sqrt(K s/M).", factor=0.875)


@mutant("GB2", "fast rate",
        "The gate's complexity term decays like 1/M: Rademacher complexity <= 2 B R sqrt(K) s(lam||m_bar)/M.")
def _gb2_fast(instance, result):
    d = result.details
    low, fast = d["rademacher_low"], d["fast_rate"]
    return combine([Part("Rademacher lower estimate <= 2 B R sqrt(K) s/M", low, fast, "<=",
                         fp_tol(low, fast))])
