"""Instance families of the theorem checks (SPEC sections 1 and 3): valid, reproducible, picklable."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from robust_gates.simulations.instances import (
    FAMILIES,
    box_around,
    make_instance,
    near_disjoint_domains,
    near_identical_domains,
    random_polytope,
    sample_instances,
)
from robust_gates.theory import jensen_shannon

FP_TOL = 1e-12


@settings(max_examples=25, deadline=None)
@given(family=st.sampled_from(sorted(FAMILIES)), seed=st.integers(0, 2**31 - 1), index=st.integers(0, 50))
def test_every_family_builds_valid_problems(family, seed, index):
    """SPEC §1: every family yields validated problems with K and n in its ranges (K in 2..8, or
    9..16 for the wide families), rows on the simplex, perfect experts exactly when the family
    says so, and nested pairs Lambda ⊆ Lambda'."""
    inst = make_instance(family, seed, index)
    fam = FAMILIES[family]
    assert fam.k_range[0] <= inst.K <= fam.k_range[1]
    assert fam.n_range[0] <= inst.n <= fam.n_range[1]
    assert np.abs(inst.problem.D.sum(axis=1) - 1).max() <= FP_TOL
    assert inst.problem.perfect_experts == fam.perfect
    assert inst.problem.Lambda.kind == ("hull" if fam.lam_kind == "nested" else fam.lam_kind)
    if fam.lam_kind == "nested":
        assert len(inst.problems) == 2
        for v in inst.problem.Lambda.vertices():
            assert inst.outer.Lambda.contains(v, tol=1e-9)
    else:
        assert len(inst.problems) == 1


def test_instances_reproducible_and_picklable():
    """SPEC §3 checks need instances that a seed reproduces and that joblib can ship."""
    for family in FAMILIES:
        a, b = make_instance(family, 7, 3), make_instance(family, 7, 3)
        assert np.array_equal(a.problem.D, b.problem.D) and np.array_equal(a.problem.P, b.problem.P)
        c = pickle.loads(pickle.dumps(a))
        assert c.family == a.family and c.seed == a.seed and c.params == a.params
        assert np.array_equal(c.problem.D, a.problem.D)
        assert np.array_equal(c.problem.Lambda.inequalities()[0], a.problem.Lambda.inequalities()[0])
    seeds = {make_instance(f, 7, 3).seed for f in FAMILIES}
    assert len(seeds) == len(FAMILIES)  # each family draws from its own stream


def test_sample_instances_cycles_families():
    """SPEC §3: instance i of a sweep comes from family i % F, shared across statements."""
    insts = sample_instances(["dirichlet", "box"], 4, seed=1)
    assert [i.family for i in insts] == ["dirichlet", "box", "dirichlet", "box"]
    assert np.array_equal(insts[2].problem.D, make_instance("dirichlet", 1, 2).problem.D)


def test_polytope_and_box_hold_their_center(rng):
    """SPEC §1: random polytopes and boxes are non-empty because they contain their centre."""
    for _ in range(20):
        c = rng.dirichlet(np.ones(5))
        poly = random_polytope(rng, c, m=6, slack=0.0)
        assert poly.contains(c, tol=1e-9)
        assert box_around(c, 0.0).contains(c, tol=1e-12)


def test_diversity_knobs(rng):
    """SPEC §3 (T3/MB inputs): near-disjoint domains are far more diverse (JSD) than nearly
    identical ones."""
    lam = np.full(4, 0.25)
    js_disjoint = jensen_shannon(lam, near_disjoint_domains(rng, 4, 20, leak=0.01))
    js_identical = jensen_shannon(lam, near_identical_domains(rng, 4, 20, delta=0.05))
    assert js_disjoint > 1.0 > 0.05 > js_identical


@pytest.mark.parametrize("call, match", [
    (lambda: make_instance("nope", 0), "unknown instance family"),
    (lambda: make_instance("dirichlet", 0, K=1), "K >= 2"),
    (lambda: near_disjoint_domains(np.random.default_rng(0), 3, 5, leak=1.5), "leak"),
    (lambda: box_around(np.full(3, 1 / 3), -0.1), "radius"),
])
def test_bad_input_raises(call, match):
    """SPEC §1: bad instance parameters raise ValueError naming the problem."""
    with pytest.raises(ValueError, match=match):
        call()
