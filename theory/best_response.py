r"""Water-filling best response and the dual function (SPEC section 2).

For a fixed mixture :math:`\lambda` the gate player solves

.. math:: \min_{q \in Q} \; -\sum_x D_\lambda(x) \log q(x), \qquad
          Q = \{l \le q \le u,\ \textstyle\sum_x q(x) = 1\},

whose KKT conditions give :math:`q_\lambda = \mathrm{clip}(t\,D_\lambda, l, u)` with one
scalar :math:`t = 1/\nu > 0` fixed by :math:`\sum_x q_\lambda(x) = 1`. The map
:math:`f(t) = \sum_x \mathrm{clip}(t d(x), l(x), u(x))` is continuous, non-decreasing and
piecewise linear, so a Newton step on the current active set lands exactly on the root
once the active set is right; a bracket keeps every step safe.

If even :math:`t = \infty` leaves mass missing (the experts put little mass on the
support of :math:`D_\lambda`), the multiplier is :math:`\nu = 0`: the support gets
:math:`u`, and the rest of the mass is spread over points outside the support, where the
objective does not depend on ``q``, in proportion to their room ``u - l``.

:math:`\phi(\lambda) = \min_{g \in G_1} L(g, \lambda) = \sum_k \lambda_k \ell_k(q_\lambda)`
where :math:`\ell_k` is the per-domain loss (KL or cross-entropy); :math:`\phi` is concave
and :math:`\ell(q_\lambda)` is a supergradient (Danskin).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["WaterFill", "phi_lower_bound", "water_fill", "water_fill_sorted"]

_MAX_NEWTON = 200
_EPS = float(np.finfo(np.float64).eps)
_BIG = float(np.finfo(np.float64).max)
#: the level is settled when Newton moves it by at most this many ulps (relative to t)
_T_ULPS = 4.0
#: Newton passes before a bracket that fails to halve (in log t) every two passes forces bisection
_FREE_NEWTON = 8
#: exact Newton corrections of the final level (each one O(n) pass; one is the rule)
_CORRECTIONS = 8
#: below this free mass the final level is recomputed from an exactly rounded remainder
_EXACT_REST = 1e-3
#: a mass deficit this small is rounding the inputs are allowed (their row-sum tolerance)
_ROW_SUM_SLACK = 1e-9


@dataclass(frozen=True)
class WaterFill:
    """Result of a water-filling: the model ``q``, the scale ``t = 1/nu`` and the passes used."""

    q: np.ndarray
    t: float
    passes: int


def _fill_off_support(q: np.ndarray, d: np.ndarray, l: np.ndarray, u: np.ndarray) -> np.ndarray:
    """``nu = 0`` case: ``q = u`` on the support, remaining mass on the off-support room."""
    on = d > 0
    q = np.where(on, u, l).astype(np.float64)
    missing = 1.0 - q.sum()
    room = np.where(on, 0.0, u - l)
    if missing > 0:
        total = room.sum()
        if total >= missing * (1 - 1e-12):
            return q + room * (missing / total)
        if missing - total > _ROW_SUM_SLACK:
            raise ValueError("the envelope set Q is empty: sum of max_k P_k is below 1")
        # Experts whose rows sum to 1 within the input tolerance (e.g. 1 - 1e-16) can leave
        # sum(u) a rounding error below 1: fill all the room; the deficit is that rounding.
        q = q + room
    return q


def water_fill(
    d: np.ndarray, l: np.ndarray, u: np.ndarray, t0: float | None = None, tol: float = 1e-14
) -> WaterFill:
    """Solve ``sum(clip(t d, l, u)) = 1`` for ``t`` (safeguarded Newton; exact on its piece).

    ``d`` is the mixture ``D_lambda`` (non-negative), ``(l, u)`` the envelope. ``t0`` warm
    starts the search (e.g. the previous ``t`` of an outer loop). Each pass is one O(n) sweep.

    The level is searched to machine precision *in t* (not until the mass is within an absolute
    tolerance, which would leave coordinates far below that tolerance inaccurate): ``t`` is kept
    in the bracket ``(0, max u/d]``, a Newton step (exact on the current piece of the piecewise
    linear ``f``) is taken when it stays inside, else the bracket is bisected (in ``log t`` while
    it spans more than a factor 2, so levels hundreds of decades from 1 take a few dozen passes).
    The search stops when Newton is stationary to a few ulps of ``t`` or the bracket is that
    narrow. The free coordinates (``l < t d < u``) then get the exact remaining mass
    ``1 - sum(clipped)`` in proportion to ``d`` (compensated summation when that remainder is a
    small difference), so each has the relative accuracy of ``t``, however small it is. ``tol``
    only decides whether ``t = inf`` (the mass-deficient case) is needed. Should the result still
    miss mass 1, the breakpoint search of :func:`water_fill_sorted` gives the level; a
    ``ValueError`` is raised if that fails too (never a ``q`` of wrong mass).
    """
    d = np.asarray(d, dtype=np.float64)
    on = d > 0
    f_inf = float(np.where(on, u, l).sum())
    if f_inf <= 1.0 + tol:
        return WaterFill(_fill_off_support(d, d, l, u), float("inf"), 1)
    lo_t, hi_t = 0.0, float("inf")  # f(0) = sum(l) <= 1
    floor_t = None  # the bracket's geometry, computed when a bisection first needs it
    t = float(t0) if (t0 is not None and np.isfinite(t0) and t0 > 0) else 1.0
    passes = 0
    widths = [np.inf, np.inf]  # log-widths of the bracket two and one passes ago
    while True:
        passes += 1
        with np.errstate(over="ignore"):
            td = t * d
        q = np.clip(td, l, u)
        f = float(q.sum())
        if f < 1.0:
            lo_t = t
        elif f > 1.0:
            hi_t = t
        free = (td > l) & (td < u)
        slope = float(d[free].sum())
        t_new = t + (1.0 - f) / slope if slope > 0 else float("nan")
        if f == 1.0 or (slope > 0 and abs(t_new - t) <= _T_ULPS * _EPS * t):
            # Newton is stationary on its piece: t is the level to machine precision. The free
            # coordinates carry t * slope of the mass; unless that is small, the mass rounding
            # (a few eps) is far below their own accuracy and q is final
            if t * slope >= _EXACT_REST:
                return WaterFill(q, t, passes)
            break
        if hi_t - lo_t <= _T_ULPS * _EPS * min(hi_t, _BIG) or passes >= _MAX_NEWTON:
            break
        newton_ok = lo_t < t_new < hi_t
        if newton_ok and passes <= _FREE_NEWTON:
            t = t_new
            continue
        if floor_t is None:
            floor_t, top = _bracket_geometry(d, l, u)
            hi_t = min(hi_t, top)
            newton_ok = lo_t < t_new < hi_t
        width = np.log(hi_t) - np.log(max(lo_t, floor_t))
        if not newton_ok or (passes > _FREE_NEWTON and width > 0.5 * widths[-2]):
            # outside the bracket, or Newton did not shrink it enough: bisect (in log t while wide)
            if width > np.log(2.0):
                t_new = float(np.sqrt(max(lo_t, floor_t)) * np.sqrt(hi_t))
            else:
                t_new = 0.5 * (lo_t + hi_t)
            if not lo_t < t_new < hi_t:
                break
        widths.append(width)
        t = t_new
    wf = _correct_mass(t, d, l, u, passes)
    if wf is None:
        # f is flat to rounding over a range of t (the only free coordinates tiny): the level
        # from exactly summed masses, then coordinates at a breakpoint to rounding taken as free
        t_search = t
        t = _sorted_level(d, l, u, exact=True)
        if np.isfinite(t) and t > 0:
            wf = _correct_mass(t, d, l, u, passes + 1) or _tie_fill(t, d, l, u, passes + 1)
        if wf is None:
            wf = _tie_fill(t_search, d, l, u, passes)
    if wf is None:
        raise ValueError(
            "water-filling found no level t with sum(clip(t d, l, u)) = 1; the entries of d "
            "span more than the floating-point range")
    return wf


def _bracket_geometry(d: np.ndarray, l: np.ndarray, u: np.ndarray) -> tuple[float, float]:
    """``(floor, top)`` for the level search: ``f(top) = f(inf) > 1`` (every point of the support
    at ``u``), and below ``floor`` (half the smallest positive breakpoint ``l/d``) ``f`` is affine,
    so a log bisection need not go lower."""
    on = d > 0
    big = float(np.finfo(np.float64).max)
    with np.errstate(over="ignore", divide="ignore"):
        top = float(np.max(u[on] / d[on]))
        low = l[on] / d[on]
    if not 0.0 < top < big:
        top = big
    low = low[low > 0]
    floor = 0.5 * float(low.min()) if low.size else top * 2.0 ** -1000
    return max(min(floor, 0.5 * top), float(np.finfo(np.float64).tiny)), top


def _correct_mass(t: float, d: np.ndarray, l: np.ndarray, u: np.ndarray, passes: int):
    """``q = clip(t d, l, u)`` with its free coordinates rescaled to carry exactly the mass the
    clipped ones leave (``None`` if no ``q`` of mass 1 to rounding comes out).

    The rescaling is a Newton step computed with an exactly rounded remainder; when it moves a
    coordinate across its breakpoint (possible when that coordinate's mass is below the rounding
    of the search's mass sums) the step is repeated from the new level, a few times at most."""
    mass_tol = _mass_tol(d.size)
    key = None
    for _ in range(_CORRECTIONS):
        with np.errstate(over="ignore"):
            td = t * d
        below = td <= l
        above = td >= u
        free = ~(below | above)
        new_key = (below.tobytes(), above.tobytes())
        if new_key == key:
            break  # the level's classification is the one its mass was computed for
        key = new_key
        q = np.where(below, l, np.where(above, u, td))
        if not free.any():
            break
        clipped = np.concatenate([l[below], u[above]])
        rest = 1.0 - float(clipped.sum())
        if rest < _EXACT_REST:
            # 1 - sum(clipped) is a small difference of large numbers: sum exactly, round once
            rest = math.fsum([1.0, *(-clipped).tolist()])
        s = float(d[free].sum())
        if not (rest > 0 and s > 0):
            break
        level = rest / s
        q[free] = np.clip(level * d[free], l[free], u[free])
        settled = abs(level - t) <= _T_ULPS * _EPS * t  # no coordinate changes side but at a tie
        t = level
        if settled:
            break
    if not abs(float(q.sum()) - 1.0) <= mass_tol:
        return None
    return WaterFill(q, float(t), passes)


def _mass_tol(n: int) -> float:
    return max(1e-12, 8.0 * n * _EPS)


def _tie_fill(t: float, d: np.ndarray, l: np.ndarray, u: np.ndarray, passes: int):
    """The level when coordinates sit at a breakpoint to rounding (``None`` if that fails too).

    A coordinate whose breakpoint ``l/d`` or ``u/d`` is within a few dozen ulps of ``t`` may be
    free at the true level with a mass exceeding its bound by less than the rounding of the
    other coordinates' sum (e.g. the only free coordinate besides one at 1e-249). Rescaling
    the strictly free ones then jumps across every breakpoint. Here such ties count as free:
    they share the exactly summed remainder in proportion to ``d`` and are clipped to their
    bounds, which moves each by at most the rounding of that remainder."""
    slack = 64.0 * _EPS
    with np.errstate(over="ignore"):
        td = t * d
    below = td < l * (1.0 - slack)
    above = td > u * (1.0 + slack)
    free = ~(below | above)
    s = math.fsum(d[free].tolist())
    if not s > 0:
        return None
    rest = math.fsum([1.0, *(-l[below]).tolist(), *(-u[above]).tolist()])
    if not rest > 0:
        return None
    level = rest / s
    with np.errstate(over="ignore"):
        ld = level * d
    if np.any(ld[below] > l[below] * (1.0 + slack)) or np.any(ld[above] < u[above] * (1.0 - slack)):
        return None  # t was not near the level: its classification is not the level's
    q = np.where(below, l, np.where(above, u, 0.0))
    q[free] = np.clip(ld[free], l[free], u[free])
    if not abs(float(q.sum()) - 1.0) <= _mass_tol(d.size):
        return None
    return WaterFill(q, float(level), passes)


def _sorted_level(d: np.ndarray, l: np.ndarray, u: np.ndarray, exact: bool = False) -> float:
    """The level ``t`` of :func:`water_fill_sorted` (binary search over sorted breakpoints).

    With ``exact`` the masses ``sum(clip(t d, l, u)) - 1`` are summed exactly (``math.fsum``,
    O(n) Python work per breakpoint tried): where the only coordinates free over a range of
    ``t`` are tiny, the rounded mass is 1 over that whole range, and only the exact one tells
    where the level is."""
    on = d > 0
    with np.errstate(over="ignore", divide="ignore"):
        bps = np.unique(np.concatenate([l[on] / d[on], u[on] / d[on], [0.0]]))
    bps = bps[np.isfinite(bps)]

    def f(t):
        # the excess mass f(t) - 1
        with np.errstate(over="ignore", invalid="ignore"):
            q = np.clip(t * d, l, u)
        return math.fsum([*q.tolist(), -1.0]) if exact else float(q.sum()) - 1.0

    i, j = 0, len(bps) - 1  # f(bps[0] = 0) = sum(l) - 1 <= 0 < f(bps[-1])
    while j - i > 1:
        mid = (i + j) // 2
        if f(bps[mid]) <= 0.0:
            i = mid
        else:
            j = mid
    t0, t1 = bps[i], bps[j]
    f0, f1 = f(t0), f(t1)
    return float(t1 if f1 == f0 else t0 - f0 * (t1 - t0) / (f1 - f0))


def water_fill_sorted(d: np.ndarray, l: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Reference water-filling by binary search over the sorted breakpoints (O(n log n)).

    Independent of the Newton search of :func:`water_fill` (which uses this breakpoint search
    only as a last resort); used to cross-check it in the tests.
    """
    on = d > 0
    if float(np.where(on, u, l).sum()) <= 1.0:
        return _fill_off_support(d, d, l, u)
    with np.errstate(over="ignore"):
        return np.clip(_sorted_level(d, l, u) * d, l, u)


def phi_lower_bound(problem, lam: np.ndarray) -> float:
    r"""A lower bound on :math:`\phi(\lambda)` that holds whatever level the water-filling finds.

    For any :math:`\nu \ge 0` the Lagrangian relaxation of the mass constraint gives
    :math:`\phi(\lambda) \ge \min_{l \le q \le u} L(q, \lambda) + \nu (\sum_x q(x) - 1)`, and the
    minimizer over the box is :math:`q_\nu = \mathrm{clip}(D_\lambda / \nu, l, u)` coordinate by
    coordinate (a closed form, no search). With :math:`\nu = 1/t` for the level ``t`` of a fresh
    :func:`water_fill` the bound equals :math:`\phi(\lambda)` (to rounding) when ``t`` is right,
    and is still a valid lower bound when it is not: a certificate built on it cannot be fooled
    by an inaccurate best response (issue 21). ``t = inf`` (mass-deficient case) is ``nu = 0``:
    ``q = u`` on the support. ``problem`` is a :class:`robust_gates.theory.RobustProblem`.
    """
    lam = np.asarray(lam, dtype=np.float64)
    d = problem.mixture(lam)
    l, u = problem.l, problem.u
    try:
        t = water_fill(d, l, u).t
    except ValueError:
        # no level whose q has mass 1 to rounding (entries of d beyond the floating-point range):
        # the bound holds at any t > 0, so the breakpoint search's level still gives a valid one
        t = _sorted_level(d, l, u)
        if not (np.isfinite(t) and t > 0):
            raise
    if np.isfinite(t):
        with np.errstate(over="ignore"):
            q = np.clip(t * d, l, u)
        excess = (float(q.sum()) - 1.0) / t
    else:
        q = np.where(d > 0, u, l)
        excess = 0.0
    return problem.payoff_value(q, lam) + excess
