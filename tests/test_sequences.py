"""Exact sequence models on X = V^T and the Bayes router (SPEC SD, paper section 5)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import entr, rel_entr

from robust_gates.simulations.distillation import SequenceSystem, bayes_router, router_model
from robust_gates.simulations.sequences import (
    NGram,
    block_entropy,
    conditionals,
    entropy_rate,
    enumerate_sequences,
    fit_ngram,
    perturb,
    prefix_marginals,
    prefix_probabilities,
    project_ngram,
    random_chain,
    sample,
    sequence_index,
    sequence_probabilities,
    stationary_distribution,
)

SUM_TOL = 1e-12       # probabilities of all V^T sequences sum to 1
BAYES_TOL = 1e-12     # SPEC SD: the Bayes router reproduces the constant-gate mixture
CLOSED_TOL = 1e-12    # closed-form entropy rates


def _direct_probability(model: NGram, x: np.ndarray) -> float:
    """P(x) by the chain rule, one token at a time (an independent, unvectorized computation)."""
    p = 1.0
    for t in range(len(x)):
        if t < model.order:
            ctx = sequence_index(x[None, :t], model.V)[0] if t else 0
            p *= model.tables[t][ctx, x[t]]
        else:
            ctx = sequence_index(x[None, t - model.order:t], model.V)[0] if model.order else 0
            p *= model.transition[ctx, x[t]]
    return p


@settings(max_examples=25, deadline=None)
@given(V=st.integers(2, 5), T=st.integers(1, 5), order=st.integers(0, 2), seed=st.integers(0, 10**6))
def test_sequence_probabilities_sum_to_one(V, T, order, seed):
    """SPEC SD (section 5): an order-0..2 chain's exact sequence law on V^T is a distribution and
    its prefix probabilities are the marginals of it."""
    model = random_chain(V, order, np.random.default_rng(seed))
    p = sequence_probabilities(model, T)
    assert p.shape == (V ** T,)
    assert p.min() >= 0
    assert abs(p.sum() - 1) <= SUM_TOL
    for a, b in zip(prefix_probabilities(model, T), prefix_marginals(p, V, T), strict=True):
        assert np.max(np.abs(a - b)) <= SUM_TOL


def test_sequence_probabilities_match_the_chain_rule():
    """SPEC SD: the vectorized prefix-tree roll-out equals the token-by-token chain rule on every
    sequence, in enumerate_sequences order."""
    rng = np.random.default_rng(3)
    for order in (0, 1, 2):
        model = random_chain(3, order, rng)
        X = enumerate_sequences(3, 4)
        direct = np.array([_direct_probability(model, x) for x in X])
        assert np.max(np.abs(sequence_probabilities(model, 4) - direct)) <= 1e-15
        assert np.array_equal(sequence_index(X, 3), np.arange(3 ** 4))


def _binary_entropy(p):
    return float(entr(p) + entr(1 - p))


def test_entropy_rate_closed_forms():
    """SPEC SD: entropy rate h = sum_c mu(c) H(A[c]) against closed forms: i.i.d. tokens
    (h = H(p)); the binary flip chain with flip probability a (h = H_b(a)); an asymmetric
    two-state chain (mu = (b, a)/(a + b), h = (b H_b(a) + a H_b(b))/(a + b))."""
    p = np.array([0.5, 0.25, 0.25])
    iid = NGram(3, (p[None, :],))
    assert abs(entropy_rate(iid) - 1.5 * np.log(2)) <= CLOSED_TOL
    a = 0.1
    flip = NGram(2, (np.array([[0.5, 0.5]]), np.array([[1 - a, a], [a, 1 - a]])))
    assert abs(entropy_rate(flip) - _binary_entropy(a)) <= CLOSED_TOL
    a, b = 0.2, 0.35
    asym = NGram(2, (np.array([[0.5, 0.5]]), np.array([[1 - a, a], [b, 1 - b]])))
    mu = np.array([b, a]) / (a + b)
    assert np.max(np.abs(stationary_distribution(asym) - mu)) <= CLOSED_TOL
    want = (b * _binary_entropy(a) + a * _binary_entropy(b)) / (a + b)
    assert abs(entropy_rate(asym) - want) <= CLOSED_TOL
    # order 2 that ignores its context is i.i.d.
    order2 = NGram(3, (p[None, :], np.tile(p, (3, 1)), np.tile(p, (9, 1))))
    assert abs(entropy_rate(order2) - 1.5 * np.log(2)) <= CLOSED_TOL


def test_block_entropy_of_a_stationary_chain():
    """SPEC SD: started from its stationary law, an order-1 chain has H(X_1..X_T) = H(mu) + (T-1) h
    exactly, and block_entropy equals the entropy of the enumerated sequence law."""
    rng = np.random.default_rng(5)
    A = rng.dirichlet(np.ones(4), size=4)
    mu = stationary_distribution(NGram(4, (np.full((1, 4), 0.25), A)))
    chain = NGram(4, (mu[None, :], A))
    T = 5
    H = float(entr(mu).sum())
    want = H + (T - 1) * entropy_rate(chain)
    assert abs(block_entropy(chain, T) - want) <= 1e-12
    assert abs(float(entr(sequence_probabilities(chain, T)).sum()) - want) <= 1e-12


def test_sampling_matches_the_exact_law():
    """SPEC SD: sequences drawn from an explicit rng follow the exact law (every sequence within
    5 binomial standard deviations) and a fit from many samples is close to the chain."""
    rng = np.random.default_rng(11)
    chain = random_chain(3, 2, rng, concentration=1.0)
    m = 200_000
    x = sample(chain, 4, m, rng)
    p = sequence_probabilities(chain, 4)
    freq = np.bincount(sequence_index(x, 3), minlength=3 ** 4) / m
    sd = np.sqrt(p * (1 - p) / m)
    assert np.all(np.abs(freq - p) <= 5 * sd + 1e-12)
    fitted = fit_ngram(x, 3, 2, alpha=0.5)
    assert float(rel_entr(p, sequence_probabilities(fitted, 4)).sum()) <= 1e-3
    again = sample(chain, 4, 10, np.random.default_rng(1))
    assert np.array_equal(again, sample(chain, 4, 10, np.random.default_rng(1)))


def test_projection_is_the_kl_minimizer():
    """SPEC algorithm 6: the moment-matched n-gram recovers a chain of its own order exactly and
    is no farther (in KL(q || .)) from q than any other n-gram of that order tried."""
    rng = np.random.default_rng(2)
    V, T = 3, 5
    chain = random_chain(V, 1, rng)
    back = project_ngram(sequence_probabilities(chain, T), V, T, 1)
    for a, b in zip(back.tables, chain.tables, strict=True):
        assert np.max(np.abs(a - b)) <= 1e-12
    q = 0.5 * sequence_probabilities(random_chain(V, 2, rng), T) + 0.5 * sequence_probabilities(
        random_chain(V, 0, rng), T)
    for order in (0, 1, 2):
        best = project_ngram(q, V, T, order)
        kl_best = float(rel_entr(q, sequence_probabilities(best, T)).sum())
        for s in (0.01, 0.1, 0.5):
            other = perturb(best, s, rng)
            assert kl_best <= float(rel_entr(q, sequence_probabilities(other, T)).sum()) + 1e-14


@settings(max_examples=15, deadline=None)
@given(V=st.integers(2, 5), T=st.integers(1, 6), seed=st.integers(0, 10**6),
       zero=st.booleans())
def test_bayes_router_reproduces_the_constant_gate(V, T, seed, zero):
    """SPEC SD (section 5): for a constant gate w, the causal router r_k(x_<t) ∝ w_k P_k(x_<t)
    gives P_r(x) = sum_k w_k P_k(x) for every sequence x, to 1e-12 (absolute and relative)."""
    rng = np.random.default_rng(seed)
    experts = [random_chain(V, o, rng, concentration=0.3) for o in (0, 1, 2, 1)]
    system = SequenceSystem.build(experts, T)
    w = rng.dirichlet(np.ones(4))
    if zero:
        w[1] = 0.0
        w /= w.sum()
    Pr = router_model(system, bayes_router(system, w))
    target = w @ system.P
    assert np.max(np.abs(Pr - target)) <= BAYES_TOL
    assert np.max(np.abs(Pr / target - 1)) <= BAYES_TOL


def test_conditionals_and_validation():
    """SPEC section 1 (bad input): malformed tables and oversize spaces raise ValueError naming
    the problem; conditionals have the prefix-tree shapes."""
    model = random_chain(3, 2, np.random.default_rng(0))
    assert [c.shape for c in conditionals(model, 4)] == [(1, 3), (3, 3), (9, 3), (27, 3)]
    with pytest.raises(ValueError, match="sums to"):
        NGram(2, (np.array([[0.5, 0.6]]),))
    with pytest.raises(ValueError, match="shape"):
        NGram(2, (np.array([[0.5, 0.5]]), np.array([[0.5, 0.5]])))
    with pytest.raises(ValueError, match="exceeds"):
        enumerate_sequences(8, 9)
    with pytest.raises(ValueError, match="reducible"):
        stationary_distribution(NGram(2, (np.array([[0.5, 0.5]]), np.eye(2))))
