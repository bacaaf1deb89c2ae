"""The statement registry (docs/statements.md): every check holds on random instances, a planted
false claim is caught by the random and the adversarial search, and the refuted v1 clauses of LF
(uniqueness) and T3 (strictness) fail on their counterexamples while the v2 checks hold."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from robust_gates.simulations.adversarial import AdversarialSpace, adversarial_search
from robust_gates.simulations.checks import run_checks, run_decided
from robust_gates.simulations.instances import Instance, make_instance
from robust_gates.simulations.statements import (
    STATEMENTS,
    CheckResult,
    Part,
    Statement,
    certified_solve,
    combine,
    fp_tol,
    get_statement,
    register_statement,
    statement,
    unregister_statement,
    use_solver,
)
from robust_gates.simulations.statements.specialization import lf_v1_clause, t3_v1_clause
from robust_gates.theory import Hull, RobustProblem

SPEC_IDS = ["L0", "P1", "T1", "T1-M", "T2", "T3", "LF", "MB", "MA", "SC", "I2", "T3-G", "PoM"]


def _false_check(instance):
    """Planted false claim: V(Lambda) >= V(Lambda') for Lambda ⊆ Lambda' (T2 reversed)."""
    a, b = certified_solve(instance.problem), certified_solve(instance.outer)
    return combine([Part("V(Lambda) >= V(Lambda')", a.value, b.value, ">=", b.gap + fp_tol(a.value))],
                   gap=max(a.gap, b.gap), solver=a.solver)


@pytest.fixture
def false_claim():
    stmt = register_statement(Statement("FALSE-T2", "planted", "V(Lambda) >= V(Lambda') (false)",
                                        ("nested", "perfect_nested"), _false_check), replace=True)
    yield stmt
    unregister_statement("FALSE-T2")


def test_registry_has_every_spec_statement():
    """SPEC §3: one entry per id, with section, sentence, families and a check."""
    for sid in SPEC_IDS:
        s = get_statement(sid)
        assert s.section.startswith("§") and len(s.text) > 20 and s.families and callable(s.check)


@pytest.mark.parametrize("sid", SPEC_IDS)
def test_spec_statement_holds_on_random_instances(sid):
    """SPEC §3 (each id): the check holds (slack >= 0) with finite sides on random instances of
    its families; hypothesis draws the seed and the family index."""
    stmt = get_statement(sid)

    @settings(max_examples=4, deadline=None)
    @given(seed=st.integers(0, 2**31 - 1), i=st.integers(0, 1000))
    def prop(seed, i):
        inst = make_instance(stmt.families[i % len(stmt.families)], seed, i)
        res, _ = run_decided(stmt, inst)
        assert isinstance(res, CheckResult)
        # a boundary instance may have an expert that misses a point of its domain: eps_k = inf
        assert np.isfinite(res.lhs) and (np.isfinite(res.rhs) or np.isinf(inst.problem.expert_errors).any())
        # never refuted; an instance the certified intervals cannot decide is reported as such
        assert not res.refuted and res.slack >= 0, res.details
        assert res.tol >= 0 and res.gap <= 1e-6

    prop()


def test_T1M_contrast_gap_is_positive():
    """SPEC T1 contrast: with mixture_kl, min_g max_lam M = C(D) > 0 = max_lam min_g M."""
    for i in range(3):
        res = get_statement("T1-M").check(make_instance("perfect", 0, i))
        assert res.holds
        assert res.lhs <= 1e-9  # max_lam min_g M = 0
        assert res.rhs - res.lhs > 1e-4  # C(D) > 0


def test_checks_with_reference_solver():
    """SPEC §3 tolerances also hold with the reference solver's (looser) certificates."""
    use_solver("reference")
    try:
        for sid in ("T3", "LF", "MB"):
            stmt = get_statement(sid)
            res = stmt.check(make_instance(stmt.families[-1], 3, 1))
            assert res.holds, (sid, res.details)
            assert res.details["solver"] == "reference"
    finally:
        use_solver("auto")


def test_part_relations_and_slack():
    """SPEC §3 machinery: slack >= 0 iff the relation holds within its tolerance."""
    assert Part("a", 1.0, 2.0, "<=", 0.0).slack == 1.0
    assert Part("a", 2.0, 1.0, "<=", 0.5).slack == -0.5
    assert Part("a", 1.0, 1.5, "==", 1.0).slack == 0.5
    assert Part("a", 0.0, 1.0, "<", 0.25).slack == 0.75
    assert Part("a", 0.0, np.inf, ">=", 0.0).slack == -np.inf
    r = combine([Part("x", 0.0, 1.0, "<=", 0.0), Part("y", 3.0, 1.0, "<=", 0.0)])
    assert not r.holds and r.slack == -2.0 and r.details["binding"] == "y" and r.lhs == 0.0
    with pytest.raises(ValueError, match="relation"):
        Part("a", 0, 0, "!=", 0)


def test_user_claim_registration():
    """SPEC §3 extension point: a decorated user claim is registered, runs through the sweep and
    can be removed; duplicate ids and unknown families are rejected."""

    @statement("USER-logK", "user", "V(Lambda) <= log K for every instance", ("dirichlet", "box"))
    def check(instance):
        res = certified_solve(instance.problem)
        return combine([Part("V <= log K", res.value, float(np.log(instance.K)), "<=",
                             max(res.gap, 0.0) + fp_tol(res.value))],
                       gap=res.gap)

    try:
        assert "USER-logK" in STATEMENTS
        df = run_checks(["USER-logK"], instances=4, seed=0, progress=False)
        assert len(df) == 4 and df["holds"].all()
        with pytest.raises(ValueError, match="already registered"):
            register_statement(STATEMENTS["USER-logK"])
    finally:
        unregister_statement("USER-logK")
    assert "USER-logK" not in STATEMENTS
    with pytest.raises(ValueError, match="unknown families"):
        Statement("X", "s", "t", ("nope",), check)


def test_false_claim_caught_by_random_search(false_claim):
    """SPEC T2 reversed is false: the random sweep must report failures (the machinery can fail)."""
    df = run_checks(["FALSE-T2"], instances=6, seed=0, progress=False)
    assert (~df["holds"]).sum() >= 3
    assert (df.loc[~df["holds"], "slack"] < 0).all()


def test_false_claim_caught_by_adversarial_search(false_claim):
    """SPEC T2 reversed: the adversarial search finds a violating instance, and the true T2 is
    not violated by the same search budget."""
    bad = adversarial_search(false_claim, np.random.default_rng(0), family="nested", probes=4, maxfev=20)
    assert bad.violated and bad.worst is not None
    good = adversarial_search("T2", np.random.default_rng(0), family="nested", probes=4, maxfev=20)
    assert not good.violated and good.worst_slack >= 0


def test_adversarial_space_decodes_valid_instances(rng):
    """SPEC §1: every parameter vector decodes to a valid instance of the family's shape."""
    for family in ("dirichlet", "perfect", "box", "polytope", "hull", "nested"):
        space = AdversarialSpace(family, K=3, n=4)
        inst = space.decode(rng.normal(0, 3, size=space.dim))
        assert inst.K == 3 and inst.n == 4
        if family == "nested":
            for v in inst.problem.Lambda.vertices():
                assert inst.outer.Lambda.contains(v, tol=1e-9)


def _lf_counterexample():
    D = np.array([[1, 0, 0, 0], [0, 1, 0, 0], [0.9, 0, 0.05, 0.05]], float)
    P = np.array([[0.3, 0, 0.7, 0], [0, 0.3, 0, 0.7], [0.3, 0, 0.7, 0]], float)
    return RobustProblem(D, P)


def test_LF_v1_uniqueness_clause_refuted_v2_holds():
    """LF (§4.4), docs/statements.md: the v1 clause "the robust model is unique wherever some
    D_k > 0" is false. On the simplex with the counterexample, phi(a, 1-a, 0) = V = log(1/.3) for
    every a, the water-filling multiplier is nu = 0 (free mass 0.4) and two models differing on
    supp D_3 are both robust; the v1 clause fails, the v2 LF check (robust models agree on
    supp D_lam*, unique only when sum_S u + sum_off l >= 1) holds."""
    p = _lf_counterexample()
    V = np.log(1 / 0.3)
    for a in (0.0, 0.25, 0.5, 1.0):
        assert abs(p.phi(np.array([a, 1 - a, 0.0])) - V) <= 1e-12
    for q in (np.array([0.3, 0.3, 0.2, 0.2]), np.array([0.3, 0.3, 0.3, 0.1])):
        assert abs(p.worst_case(q)[0] - V) <= 1e-12  # both reach the value: both robust
    inst = Instance("lf_counterexample", {}, (p,), (0,))
    old = lf_v1_clause(inst)
    assert not old.holds and old.details["binding"] == "P_g* unique where some D_k > 0"
    assert old.lhs >= 0.05  # a mass shift of that size keeps a model robust
    new = get_statement("LF").check(inst)
    assert new.holds, new.details
    assert abs(new.details["free_mass"] - 0.4) <= 1e-12 and new.details["alternative_robust_shift"] > 0


def test_LF_v2_uniqueness_part_when_no_free_mass():
    """LF (§4.4) v2: with full-support experts nu > 0, so the part "P_g* = l off supp(D_lam*)"
    is checked; a model with mass moved off the support of D_lam* would fail it."""
    inst = make_instance("dirichlet", 0, 0)
    res = get_statement("LF").check(inst)
    assert res.holds
    assert any(name.startswith("P_g* = l off supp") for name in res.details["parts"])


def test_T3_v1_strictness_clause_refuted_v2_holds():
    """T3 (§4.3), docs/statements.md: the v1 clause "strict improvement iff no D_lam equals
    D_lam*" is false. D = [[1,0],[0,1],[.5,.5]], Lambda = {e_3}: D_e3 = D_lam* = (1/2, 1/2) yet
    V(Delta) - V(Lambda) = log 2 (all in the support term of the I1 split). The v2 clause
    (improvement = C - max_Lambda phi, strict iff Lambda holds no maximizer of phi) holds."""
    D = np.array([[1, 0], [0, 1], [0.5, 0.5]], float)
    p = RobustProblem(D, None, Hull(np.array([[0.0, 0.0, 1.0]])), "kl")
    inst = Instance("t3_counterexample", {}, (p,), (0,))
    old = t3_v1_clause(inst)
    assert not old.holds
    assert abs(old.lhs - np.log(2)) <= 1e-9 and old.details["min_kl"] <= 1e-12
    new = get_statement("T3").check(inst)
    assert new.holds, new.details
    assert abs(new.lhs - np.log(2)) <= 1e-9 and new.rhs <= 1e-12  # bound: log 2 >= 0
    assert new.details["output_term"] <= 1e-12
    assert abs(new.details["support_term"] - np.log(2)) <= 1e-9


def test_T3_v1_clause_holds_where_true():
    """T3 v1 clause on random perfect-expert instances (full-support domains): there it agrees
    with v2, so the refutation above is due to the counterexample, not the reading."""
    for i in range(2):
        assert t3_v1_clause(make_instance("perfect_box", 0, i)).holds


def test_margin_shows_sharpness():
    """Registry: the margin leaves the tolerance out (0 = attained, > 0 = room, < 0 = held only
    within tolerance); equalities have none; a check reports its tightest inequality."""
    assert Part("a", 1.0, 1.0, "<=", 1e-9).margin == 0.0
    assert Part("a", 1.0, 3.0, "<=", 0.0).margin == 2.0 / 3.0
    assert Part("a", 1.0, 0.5, ">=", 0.0).margin == 0.5
    assert Part("a", 1.0, 1.0 + 1e-12, ">=", 1e-9).margin < 0
    assert np.isnan(Part("a", 1.0, 1.0, "==", 1e-9).margin)
    r = combine([Part("x", 0.0, 0.5, "<=", 0.0), Part("y", 0.0, 0.2, "<=", 0.0), Part("z", 1, 1, "==", 0)])
    assert r.margin == 0.2 and r.details["margin_part"] == "y"
    assert np.isnan(combine([Part("z", 1, 1, "==", 0)]).margin)


def test_T3G_equality_case_and_perfect_experts():
    """T3-G (§4.3, docs/statements.md): with Lambda' the simplex and a full-support least-favorable
    mixture the bound holds with equality (to the certificate tolerance); on the T3 counterexample
    (perfect experts) the improvement log 2 is bounded below by KL(D_e3||q') - delta_Q = 0."""
    hits = 0
    for i in range(6):
        res = get_statement("T3-G").check(make_instance("dirichlet", 0, i))
        assert res.holds, res.details
        if res.details["equality_case"]:
            hits += 1
            assert "equality (Lambda' simplex, lam*' full support)" in res.details["parts"]
    assert hits >= 1
    D = np.array([[1, 0], [0, 1], [0.5, 0.5]], float)
    inst = Instance("t3", {}, (RobustProblem(D, None, Hull(np.array([[0.0, 0.0, 1.0]]))),), (0,))
    res = get_statement("T3-G").check(inst)
    assert res.holds and abs(res.lhs - np.log(2)) <= 1e-9 and abs(res.rhs) <= 1e-9


def test_I2_and_PoM_on_perfect_experts_are_sharp():
    """I2 and PoM (docs/statements.md): with perfect experts delta_Q = 0, so the bracket of the
    price of modularity collapses to 0 and its margins read 0 (the bounds are attained)."""
    inst = make_instance("perfect", 0, 1)
    pom = get_statement("PoM").check(inst)
    assert pom.holds and abs(pom.details["price"]) <= 1e-8
    i2 = get_statement("I2").check(inst)
    assert i2.holds and abs(i2.details["parts"]["delta_Q >= 0"]["lhs"]) <= 1e-9
