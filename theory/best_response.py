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

from dataclasses import dataclass

import numpy as np

__all__ = ["WaterFill", "water_fill", "water_fill_sorted"]

_MAX_NEWTON = 200
#: passes of plain safeguarded Newton before a bracket that fails to halve (in log t) forces
#: a bisection step; typical inputs converge within these
_FREE_NEWTON = 8
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


def _mass_tol(n: int, tol: float) -> float:
    """Largest mass error a returned ``q`` may have: ``tol``, but never below summation rounding."""
    return max(tol, 1e-12, 8.0 * n * np.finfo(np.float64).eps)


def _clip_level(t: float, d: np.ndarray, l: np.ndarray, u: np.ndarray) -> np.ndarray:
    """``clip(t d, l, u)`` for a finite ``t``; an overflow of ``t d`` clips to ``u``."""
    with np.errstate(over="ignore"):
        return np.clip(t * d, l, u)


def water_fill(
    d: np.ndarray, l: np.ndarray, u: np.ndarray, t0: float | None = None, tol: float = 1e-14
) -> WaterFill:
    """Solve ``sum(clip(t d, l, u)) = 1`` for ``t`` (safeguarded Newton; exact on its piece).

    ``d`` is the mixture ``D_lambda`` (non-negative), ``(l, u)`` the envelope. ``t0`` warm
    starts the search (e.g. the previous ``t`` of an outer loop). Each pass is one O(n) sweep.

    The root is kept in a bracket ``[lo, hi]`` with ``hi`` the largest breakpoint ``u/d``
    (where every point of the support is clipped at ``u``); when a Newton step leaves the
    bracket, or (after a few passes) fails to halve it, the bracket is bisected in ``log t``, so levels that span
    hundreds of decades (entries near 1e-300) are reached in a few dozen passes. Should the
    passes still run out, the level is taken from the exact breakpoint search of
    :func:`water_fill_sorted`. The returned ``q`` always has mass 1 up to
    ``max(tol, 1e-12, 8 n eps)``; a ``ValueError`` is raised otherwise (never a wrong ``q``).
    """
    d = np.asarray(d, dtype=np.float64)
    on = d > 0
    f_inf = float(np.where(on, u, l).sum())
    if f_inf <= 1.0 + tol:
        return WaterFill(_fill_off_support(d, d, l, u), float("inf"), 1)
    big = float(np.finfo(np.float64).max)
    with np.errstate(over="ignore", divide="ignore"):
        bps = np.concatenate([l[on] / d[on], u[on] / d[on]])
    bps = bps[(bps > 0) & np.isfinite(bps)]
    # every point of the support sits at u beyond the largest breakpoint: f(hi) = f_inf > 1
    with np.errstate(over="ignore", divide="ignore"):
        hi_t = float(np.max(u[on] / d[on])) * (1.0 + 1e-12)
    if not (0.0 < hi_t < big):
        hi_t = big
    # below the smallest positive breakpoint f is affine, so a Newton step there is exact:
    # the log-space bisection only has to get below this floor
    floor_t = 0.5 * float(bps.min()) if bps.size else hi_t * 2.0 ** -1000
    floor_t = max(min(floor_t, hi_t), np.finfo(np.float64).tiny)
    lo_t = 0.0
    mass_tol = _mass_tol(d.size, tol)

    def log_mid(lo: float, hi: float) -> float:
        a = max(lo, floor_t)
        if a >= hi:
            return 0.5 * (lo + hi)
        return float(np.exp(0.5 * (np.log(a) + np.log(hi))))

    t = float(t0) if (t0 is not None and np.isfinite(t0) and t0 > 0) else 1.0
    if not (lo_t < t < hi_t):
        t = log_mid(lo_t, hi_t)
    passes = 0
    q, t_q = None, t
    f = float("nan")
    widths = [np.inf, np.inf]  # log-widths of the bracket after the last two passes
    while passes < _MAX_NEWTON:
        passes += 1
        q, t_q = _clip_level(t, d, l, u), t
        f = float(q.sum())
        if abs(f - 1.0) <= tol:
            break
        td = t * d
        mid = (td > l) & (td < u)
        slope = float(d[mid].sum())
        if f < 1.0:
            lo_t = t
        else:
            hi_t = t
        if hi_t - lo_t <= 4e-16 * hi_t:
            break  # bracket at the rounding floor: f is continuous, so f(t) = 1 to rounding
        cur_width = np.log(hi_t) - np.log(max(lo_t, floor_t)) if lo_t < hi_t else 0.0
        t_new = t + (1.0 - f) / slope if slope > 0 else float("nan")
        newton_ok = lo_t < t_new < hi_t and t_new != t
        if newton_ok and passes > _FREE_NEWTON and cur_width > max(0.5 * widths[-2], 1.0):
            newton_ok = False  # Newton crawls across decades: bisect in log t
        if not newton_ok:
            t_new = log_mid(lo_t, hi_t)
            if not (lo_t < t_new < hi_t):
                break
        widths.append(cur_width)
        t = t_new
    if q is not None and abs(f - 1.0) <= mass_tol:
        return WaterFill(q, t_q, passes)
    t = _sorted_level(d, l, u)
    q = _clip_level(t, d, l, u) if np.isfinite(t) else None
    if q is None or abs(float(q.sum()) - 1.0) > mass_tol:
        mass = float("nan") if q is None else float(q.sum())
        raise ValueError(
            f"water-filling found no level t with sum(clip(t d, l, u)) = 1 (mass {mass!r} at "
            f"t = {t!r}); the entries of d span more than the floating-point range"
        )
    return WaterFill(q, t, passes + 1)


def _sorted_level(d: np.ndarray, l: np.ndarray, u: np.ndarray) -> float:
    """The level ``t`` of :func:`water_fill_sorted` (binary search over sorted breakpoints)."""
    on = d > 0
    with np.errstate(over="ignore", divide="ignore"):
        bps = np.unique(np.concatenate([l[on] / d[on], u[on] / d[on], [0.0]]))

    def f(t):
        with np.errstate(over="ignore", invalid="ignore"):
            return float(np.clip(t * d, l, u).sum())

    i, j = 0, len(bps) - 1  # f(bps[0] = 0) = sum(l) <= 1 < f(bps[-1])
    while j - i > 1:
        mid = (i + j) // 2
        if f(bps[mid]) <= 1.0:
            i = mid
        else:
            j = mid
    t0, t1 = bps[i], bps[j]
    f0, f1 = f(t0), f(t1)
    return float(t1 if f1 == f0 else t0 + (1.0 - f0) * (t1 - t0) / (f1 - f0))


def water_fill_sorted(d: np.ndarray, l: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Reference water-filling by binary search over the sorted breakpoints (O(n log n)).

    Independent of the Newton search of :func:`water_fill` (which uses this breakpoint
    search only as a last resort when its passes run out); used to cross-check it in the tests.
    """
    on = d > 0
    if float(np.where(on, u, l).sum()) <= 1.0:
        return _fill_off_support(d, d, l, u)
    return np.clip(_sorted_level(d, l, u) * d, l, u)
