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
    """Make the breakpoint fallback unavailable, so the Newton/log-bisection path is tested."""
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
    # q and t belong together: q = clip(t d, l, u) to a few ulps of each coordinate
    np.testing.assert_allclose(wf.q, np.clip(wf.t * d, l, u), rtol=1e-14, atol=0)
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
    for x, ref in zip(cases, refs, strict=True):
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


def _exact_free_values(wf, d, l, u):
    """The free coordinates' exact values for the classification of ``wf.q`` (rational
    arithmetic on the float inputs): ``(1 - sum of clipped) d(x) / sum_free d``."""
    from fractions import Fraction

    free = (wf.q > l) & (wf.q < u)
    clipped = sum((Fraction(float(v)) for v in wf.q[~free]), Fraction(0))
    s = sum((Fraction(float(v)) for v in d[free]), Fraction(0))
    if clipped >= 1:  # the inputs' own rounding (rows summing to 1 +- eps) leaves no free mass
        return free, None
    return free, [float((1 - clipped) * Fraction(float(x)) / s) for x in d[free]]


def test_tiny_free_mass_is_relatively_exact():
    """Issue 21 (floor): when the clipped coordinates take all but 3e-10 of the mass, the free
    coordinate must still be exact to a few ulps (an absolute mass test stops ~1e-14 off, a
    relative error of 1e-4 on it, and the solver's value then moves by ~1e-7)."""
    d = np.array([0.4999999999, 0.4999999999, 2e-10])
    l = np.zeros(3)
    u = np.array([0.6, 0.4 - 3e-10, 1.0])
    wf = water_fill(d, l, u)
    free, exact = _exact_free_values(wf, d, l, u)
    assert free.tolist() == [False, False, True]
    np.testing.assert_allclose(wf.q[free], exact, rtol=4e-16, atol=0)


@pytest.mark.parametrize("seed", range(40))
def test_free_coordinates_relatively_exact(seed):
    """Random envelopes where most mass is clipped and the rest is spread over coordinates down
    to 1e-200: every free coordinate within a few ulps of its exact value, and the KKT sign
    conditions hold (a coordinate at l has t d <= l, one at u has t d >= u)."""
    rng = np.random.default_rng(1000 + seed)
    n = int(rng.integers(3, 30))
    P = 10.0 ** rng.uniform(-200, 0, size=(3, n))
    P /= P.sum(axis=1, keepdims=True)
    l, u = P.min(axis=0), P.max(axis=0)
    d = 10.0 ** rng.uniform(-200, 0, size=n)
    d /= d.sum()
    if np.where(d > 0, u, l).sum() <= 1.0 + 1e-14:
        pytest.skip("off-support case")
    wf = water_fill(d, l, u)
    assert abs(wf.q.sum() - 1.0) <= 1e-14
    free, exact = _exact_free_values(wf, d, l, u)
    if exact is not None:
        np.testing.assert_allclose(wf.q[free], exact, rtol=1e-14, atol=0)
    td = wf.t * d
    at_l, at_u = (wf.q == l) & ~free, (wf.q == u) & ~free
    assert np.all(td[at_l & (l < u)] <= l[at_l & (l < u)] * (1 + 1e-13))
    assert np.all(td[at_u & (l < u)] >= u[at_u & (l < u)] * (1 - 1e-13))


@pytest.mark.parametrize("family,index", [("tiny", 670), ("box", 3), ("perfect_sparse", 1256)])
def test_phi_lower_bound_is_valid_at_any_level(family, index, monkeypatch):
    """The fast solver's certificate bounds phi by the Lagrangian at the level of a fresh
    water-filling: equal to phi (to rounding) at the right level, and still below phi when the
    level is off by a factor (a wrong best response cannot certify a wrong value)."""
    from robust_gates.simulations.instances import make_instance

    problem = make_instance(family, 1 if family == "perfect_sparse" else 0, index).problem
    rng = np.random.default_rng(index)
    right = br.water_fill
    for lam in [np.full(problem.K, 1.0 / problem.K), rng.dirichlet(np.ones(problem.K))]:
        phi = problem.phi(lam)
        assert abs(br.phi_lower_bound(problem, lam) - phi) <= 1e-12 * max(1.0, abs(phi))
        for factor in (0.5, 0.999, 1.001, 3.0):
            def off(d, l, u, t0=None, tol=1e-14, factor=factor):
                wf = right(d, l, u, t0, tol)
                return br.WaterFill(wf.q, wf.t * factor, wf.passes)
            monkeypatch.setattr(br, "water_fill", off)
            assert br.phi_lower_bound(problem, lam) <= phi + 1e-14 * max(1.0, abs(phi))
            monkeypatch.setattr(br, "water_fill", right)


def test_level_with_a_coordinate_one_ulp_above_its_bound():
    """Seed-1 10^4 sweep (issue 21), tiny (1, 1354274761, 7096) at lam = e_1: at the level, one
    coordinate sits a rounding error above its lower bound (the mass 1 - sum(u) of the others
    exceeds l by 2e-17) and the only other free one is 1e-249. Rescaling the strictly free ones
    jumped every breakpoint and water_fill raised 'no level'. Counting coordinates at a
    breakpoint to rounding as free gives q of mass 1, at the level of the breakpoint search."""
    from math import fsum

    from robust_gates.simulations.instances import make_instance

    problem = make_instance("tiny", 1, 7096).problem
    d = problem.mixture(np.array([1.0, 0.0]))
    l, u = problem.l, problem.u
    wf = br.water_fill(d, l, u)
    assert abs(fsum(wf.q.tolist()) - 1.0) <= 1e-15
    assert np.all(wf.q >= l) and np.all(wf.q <= u)
    np.testing.assert_allclose(wf.t, br._sorted_level(d, l, u), rtol=1e-14)
    # the coordinate at its bound to rounding: between l and the exact remainder of the others
    rest = fsum([1.0, *(-u[[0, 1, 4, 5]]).tolist()])
    assert l[3] <= wf.q[3] <= rest * (1 + 1e-15)
