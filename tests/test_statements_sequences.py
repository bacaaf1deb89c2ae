"""SPEC JG (§4.5, the JSD gap on sequences) and GB2 (§4.6, the gate-complexity bound): the exact
computations on closed forms, the checks on their families, and every mutant refuted."""

import numpy as np
import pytest

from robust_gates.simulations.gate_bound import (
    deviation_bound,
    failures_allowed,
    gate_class,
    gb2_measure,
    rademacher_bound,
)
from robust_gates.simulations.instances import GATE_FAMILIES, SEQUENCE_FAMILIES, make_instance
from robust_gates.simulations.jsd_gap import (
    MarkovChain,
    chain_kl,
    enumerate_levels,
    linear_growth,
    router_monte_carlo,
    token_mixture,
)
from robust_gates.simulations.statements import get_statement
from robust_gates.simulations.statements.mutants import mutants_of
from robust_gates.theory import RobustProblem

TOL = 1e-12
LOG2 = float(np.log(2))


def _iid(p):
    p = np.asarray(p, dtype=np.float64)
    return MarkovChain(p, np.tile(p, (p.size, 1)))


def test_closed_form_disjoint_iid():
    """JG known answer: two i.i.d. domains on disjoint halves of 4 tokens, lam = (1/2, 1/2),
    perfect experts. The label is read off the first token, so R(T) = JS = H(lam) = log 2 for
    every T; the token-level mixture is uniform on 4 tokens, so Tok(T) = T log 2 exactly, slope
    r = log 2, remainder 0 (stationary start); at T = 1000 the recursion gives 1000 log 2."""
    d = [_iid([.5, .5, 0, 0]), _iid([0, 0, .5, .5])]
    lam = np.array([.5, .5])
    en = enumerate_levels(d, d, lam, 6)
    assert np.abs(en.router - LOG2).max() <= TOL and np.abs(en.js - LOG2).max() <= TOL
    assert np.abs(en.mix_kl).max() <= TOL
    assert np.abs(en.tok - LOG2 * np.arange(1, 7)).max() <= 1e-12
    lg = linear_growth(d, d, lam, 1000)
    assert abs(lg.tok[-1] - 1000 * LOG2) <= 1e-9 and abs(lg.rate - LOG2) <= TOL and lg.rem[-1] == 0


def test_closed_form_two_state_chain_kl():
    """Chain rule on a known case: d flips with probability a, p with probability b, both
    start uniform: KL(d^{1:T} || p^{1:T}) = (T - 1) kl_bin(a || b)."""
    a, b, T = 0.1, 0.3, 1000
    d = MarkovChain([.5, .5], [[1 - a, a], [a, 1 - a]])
    p = MarkovChain([.5, .5], [[1 - b, b], [b, 1 - b]])
    klab = a * np.log(a / b) + (1 - a) * np.log((1 - a) / (1 - b))
    assert np.abs(chain_kl(d, p, T) - klab * np.arange(T)).max() <= 1e-10


def test_recursion_equals_enumeration_and_no_underflow(rng):
    """JG: the forward recursion equals enumeration in log space at small T, and at T = 1000
    the Monte Carlo router interval stays finite (sequence probabilities near e^-1000 are never
    formed) and inside [0, H(lam)]."""
    chains = [MarkovChain(rng.dirichlet(np.ones(3)), rng.dirichlet(np.full(3, .5), size=3)) for _ in range(3)]
    lam = rng.dirichlet(np.ones(3))
    en = enumerate_levels(chains, chains, lam, 7)
    lg = linear_growth(chains, chains, lam, 7)
    assert np.abs(en.tok - lg.tok).max() <= 1e-12
    est, lo, hi = router_monte_carlo(chains, lam, 1000, 64, rng, 1e-3)
    assert np.isfinite([est, lo, hi]).all() and 0 <= est <= -(lam @ np.log(lam)) + 1e-12
    tm = token_mixture(chains, lam)
    assert np.allclose(tm.trans.sum(axis=1), 1.0, atol=1e-12, rtol=0)


@pytest.mark.parametrize("family", SEQUENCE_FAMILIES + GATE_FAMILIES)
def test_checks_hold_on_their_families(family):
    """JG and GB2 hold on the first instances of each of their families (seed 0)."""
    sid = "JG" if family in SEQUENCE_FAMILIES else "GB2"
    for i in range(3 if sid == "JG" else 2):
        res = get_statement(sid).check(make_instance(family, 0, i))
        assert res.holds, (family, i, res.details.get("binding"))


# (mutant, family, instance) found by `robust-gates check --statement JG GB2 --mutants --seed 0`
REFUTED = {
    "tighten 0.01: R(T0) <= H(lam) + sum lam eps": None,
    "tighten 0.01: Tok(T) - Tok(1) <= (T-1) r + rem": None,
    "strict: R(t+1) - R(t) >= 0": None,
    "no JSD gap": None,
    "router without the experts' error": None,
    "router without the entropy": None,
    "tighten 0.875: Rademacher lower estimate": None,
    "fast rate": None,
}


def _first_refuting(sid, name, families, count):
    m = next(x for x in mutants_of(sid) if x.name == name)
    for i in range(count):
        for fam in families:
            inst = make_instance(fam, 0, i)
            res = get_statement(sid).check(inst)
            out = m.run(inst, res)
            if out is not None and not out.holds:
                return fam, i
    return None


@pytest.mark.parametrize("sid", ["JG", "GB2"])
def test_every_mutant_refuted(sid):
    """SPEC §6: each mutant of JG and GB2 is refuted on some instance of the statement's families
    (seed 0, within the first instances; the search stops at the first refutation)."""
    fams = SEQUENCE_FAMILIES if sid == "JG" else GATE_FAMILIES
    names = [m.name for m in mutants_of(sid)]
    assert set(names) <= set(REFUTED)
    for name in names:
        assert _first_refuting(sid, name, fams, 12 if sid == "JG" else 20) is not None, name


def test_gb2_bound_is_free_of_n():
    """GB2: the Rademacher and uniform-deviation bounds depend on B, R, K, the sample sizes and
    delta only: the same numbers for n = 8 and n = 800 (one-hot cells, R = 1)."""
    rng = np.random.default_rng(3)
    out = []
    for n in (8, 800):
        D = rng.dirichlet(np.ones(n), size=3)
        P = 0.8 * D + 0.2 * rng.dirichlet(np.ones(n), size=3)
        gc = gate_class(RobustProblem(D, P), 2.0, "cells", 4)
        m = np.array([100, 50, 25])
        out.append((rademacher_bound(gc, np.eye(3)[2], m), deviation_bound(gc, np.eye(3), m, 0.1)))
    assert out[0] == out[1]
    assert failures_allowed(12, 0.05, 1e-6) >= 1


def test_gb2_measure_runs():
    """GB2 slopes are measured, not asserted: the table has one row per M with coverage columns."""
    rng = np.random.default_rng(0)
    D = rng.dirichlet(np.full(20, 0.5), size=2)
    P = 0.7 * D + 0.3 * rng.dirichlet(np.ones(20), size=2)
    df = gb2_measure(RobustProblem(D, P), 1.0, [50, 200], trials=3)
    assert list(df.M) == [50, 200]
    assert {"mean_deviation", "deviation_bound", "deviation_coverage", "excess_coverage"} <= set(df.columns)
    assert (df.deviation_bound.diff().dropna() < 0).all()


def test_jg_not_applicable_without_chains():
    """JG rejects a plain problem with a clear error (check --problem reports it not applicable)."""
    inst = make_instance("dirichlet", 0, 0)
    with pytest.raises(ValueError, match="Markov-chain"):
        get_statement("JG").check(inst)
