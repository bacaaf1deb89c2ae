"""Water-filling at extreme entries (issue 21): the level t may sit hundreds of decades away
from 1, and ``water_fill`` must still return a ``q`` of mass 1 (or raise), never a wrong one."""

import numpy as np
import pytest

from robust_gates.theory import best_response as br
from robust_gates.theory import water_fill, water_fill_sorted

# ``tiny`` family, seed (0, 1354274761, 670): domains D and experts P as generated (K = n = 3).
# With lam = e_3 the old search ran out of passes and returned a q of mass 1.753.
TINY_D = np.array([
    [0.34698726571026095, 0.3509792274774095, 0.3020335068123296],
    [0.9822640026896456, 0.01773599731035429, 1.2235182495129708e-210],
    [0.0759527291448906, 2.3143080182173556e-226, 0.9240472708551094],
])
TINY_P = np.array([
    [0.6615860621817787, 0.33841393781822116, 6.797315120095794e-238],
    [1.0, 5.909154493313499e-261, 1.3347183358738483e-213],
    [0.12553310767918824, 0.12103568896760736, 0.7534312033532045],
])


def _no_fallback(monkeypatch):
    """Make the exact breakpoint fallback unavailable, so the Newton/log-bisection path is tested."""
    def fail(*args):
        raise AssertionError("water_fill needed its breakpoint fallback")
    monkeypatch.setattr(br, "_sorted_level", fail)


def _check(d, l, u, monkeypatch=None, ref=None):
    ref = water_fill_sorted(d, l, u) if ref is None else ref
    if monkeypatch is not None:
        _no_fallback(monkeypatch)
    wf = water_fill(d, l, u)
    assert abs(wf.q.sum() - 1.0) <= 1e-12
    assert np.all(wf.q >= l) and np.all(wf.q <= u)
    assert np.max(np.abs(wf.q - ref)) <= 1e-12
    # q and t belong together: q = clip(t d, l, u)
    assert np.array_equal(wf.q, np.clip(wf.t * d, l, u))
    return wf


@pytest.mark.parametrize("k", range(3))
def test_tiny_instance_vertices(k, monkeypatch):
    l, u = TINY_P.min(axis=0), TINY_P.max(axis=0)
    d = TINY_D[k]
    assert abs(water_fill_sorted(d, l, u).sum() - 1.0) <= 1e-12
    _check(d, l, u, monkeypatch)


def test_tiny_instance_e3_value():
    """lam = e_3: q(0) = 1 - u(2) (q(2) clipped at u), so t = q(0) / d(0)."""
    l, u = TINY_P.min(axis=0), TINY_P.max(axis=0)
    wf = water_fill(TINY_D[2], l, u)
    assert wf.q[2] == u[2]
    assert abs(wf.q[0] - (1.0 - u[2] - wf.q[1])) <= 1e-15
    assert abs(wf.t - wf.q[0] / TINY_D[2, 0]) <= 1e-12 * wf.t


def _extreme_instance(rng, K, n, zeros):
    """Domains and experts with entries log-uniform on [1e-300, 1] (rows normalized)."""
    D = 10.0 ** rng.uniform(-300, 0, size=(K, n))
    P = 10.0 ** rng.uniform(-300, 0, size=(K, n))
    if zeros:
        D[rng.random((K, n)) < 0.3] = 0.0
        D[:, rng.integers(n)] = 1.0  # every domain keeps some mass
    D /= D.sum(axis=1, keepdims=True)
    P /= P.sum(axis=1, keepdims=True)
    return D, P


@pytest.mark.parametrize("seed", range(200))
def test_random_extreme_entries(seed, monkeypatch):
    rng = np.random.default_rng(seed)
    K, n = int(rng.integers(2, 6)), int(rng.integers(2, 40))
    D, P = _extreme_instance(rng, K, n, zeros=seed % 2 == 1)
    l, u = P.min(axis=0), P.max(axis=0)
    lam = rng.dirichlet(np.full(K, 0.3))
    d = lam @ D
    if np.where(d > 0, u, l).sum() <= 1.0 + 1e-14:
        pytest.skip("off-support case (nu = 0): no level to search")
    # also at a vertex of the simplex, where d is one domain's raw row
    k = int(rng.integers(K))
    cases = [d] + ([D[k]] if np.where(D[k] > 0, u, l).sum() > 1.0 + 1e-14 else [])
    refs = [water_fill_sorted(x, l, u) for x in cases]
    for x, ref in zip(cases, refs):
        _check(x, l, u, monkeypatch, ref)


@pytest.mark.parametrize("t0", [1e-300, 1e-5, 1.0, 1e5, 1e300, float("inf"), float("nan"), -1.0])
def test_warm_start_anywhere(t0):
    """Any warm start (even far off or invalid) reaches the same q."""
    l, u = TINY_P.min(axis=0), TINY_P.max(axis=0)
    d = TINY_D[2]
    wf = water_fill(d, l, u, t0=t0)
    assert abs(wf.q.sum() - 1.0) <= 1e-12
    assert np.max(np.abs(wf.q - water_fill_sorted(d, l, u))) <= 1e-12


def test_fallback_when_passes_run_out(monkeypatch):
    """With a single pass allowed the search cannot finish; the exact fallback gives the answer."""
    monkeypatch.setattr(br, "_MAX_NEWTON", 1)
    l, u = TINY_P.min(axis=0), TINY_P.max(axis=0)
    d = TINY_D[2]
    wf = water_fill(d, l, u, t0=1e200)
    assert abs(wf.q.sum() - 1.0) <= 1e-12
    assert np.max(np.abs(wf.q - water_fill_sorted(d, l, u))) <= 1e-12


def test_level_beyond_float_range_raises():
    """The level t = 1e323 needed here is not a finite double: raise, do not return a wrong q."""
    d = np.array([1.0, 5e-324])
    l = np.zeros(2)
    u = np.array([0.5, 1.0])
    with pytest.raises(ValueError, match="no level t"):
        water_fill(d, l, u)
