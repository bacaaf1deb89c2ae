"""Divergences and their SPEC section 1 conventions; identity I1 (SPEC section 2)."""

import numpy as np
from conftest import FP_TOL
from hypothesis import given, settings
from hypothesis import strategies as st

from robust_gates.theory import cross_entropy, entropy, jensen_shannon, kl, mixture


def test_kl_conventions():
    """SPEC §1: 0 log 0 = 0 and KL(p||q) = inf when p(x) > 0 = q(x), never NaN."""
    assert kl([0.5, 0.5, 0.0], [0.5, 0.5, 0.0]) == 0.0
    assert kl([0.5, 0.5, 0.0], [0.25, 0.25, 0.5]) == np.log(2)
    val = kl([0.5, 0.5], [1.0, 0.0])
    assert np.isinf(val) and val > 0
    assert not np.isnan(kl([0.0, 1.0], [0.0, 1.0]))


def test_kl_rowwise_against_loop(rng):
    """SPEC §1: kl(D, q) returns one divergence per domain row."""
    D = rng.dirichlet(np.ones(6), size=4)
    q = rng.dirichlet(np.ones(6))
    expected = [np.sum(d * np.log(d / q)) for d in D]
    assert np.max(np.abs(kl(D, q) - expected)) < FP_TOL


def test_entropy_and_cross_entropy_closed_forms():
    """SPEC §2: CE(p, q) = H(p) + KL(p||q); H(uniform on n) = log n."""
    assert abs(entropy(np.full(8, 1 / 8)) - np.log(8)) < FP_TOL
    p, q = np.array([0.2, 0.8]), np.array([0.5, 0.5])
    assert abs(cross_entropy(p, q) - np.log(2)) < FP_TOL
    assert np.isinf(cross_entropy([0.5, 0.5], [1.0, 0.0]))


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**31), K=st.integers(2, 5), n=st.integers(2, 12))
def test_identity_I1(seed, K, n):
    """SPEC identity I1: sum_k lam_k KL(D_k||q) = KL(D_lam||q) + JS_lam(D) for any q."""
    rng = np.random.default_rng(seed)
    D = rng.dirichlet(np.full(n, 0.6), size=K)
    lam = rng.dirichlet(np.ones(K))
    q = rng.dirichlet(np.ones(n))
    lhs = lam @ kl(D, q)
    rhs = kl(mixture(lam, D), q) + jensen_shannon(lam, D)
    assert abs(lhs - rhs) < 1e-10
    js_entropy_form = entropy(mixture(lam, D)) - lam @ entropy(D)
    assert abs(jensen_shannon(lam, D) - js_entropy_form) < 1e-10
    assert jensen_shannon(lam, D) >= 0


def test_jensen_shannon_disjoint_is_log_K():
    """SPEC §4.5.4 (SC): C(D) <= log K, attained by disjoint supports with uniform lam."""
    D = np.eye(4)
    assert abs(jensen_shannon(np.full(4, 0.25), D) - np.log(4)) < FP_TOL


def test_jensen_shannon_shape_error():
    """Bad input: lam and D must agree on K."""
    import pytest

    with pytest.raises(ValueError, match="shape"):
        jensen_shannon(np.ones(3) / 3, np.eye(2))
