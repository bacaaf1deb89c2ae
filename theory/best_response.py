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
    """
    on = d > 0
    f_inf = float(np.where(on, u, l).sum())
    if f_inf <= 1.0 + tol:
        return WaterFill(_fill_off_support(np.asarray(d), d, l, u), float("inf"), 1)
    lo_t, hi_t = 0.0, float("inf")
    t = float(t0) if (t0 is not None and np.isfinite(t0) and t0 > 0) else 1.0
    passes = 0
    q = None
    while passes < _MAX_NEWTON:
        passes += 1
        td = t * d
        q = np.clip(td, l, u)
        f = float(q.sum())
        if abs(f - 1.0) <= tol:
            break
        mid = (td > l) & (td < u)
        slope = float(d[mid].sum())
        if f < 1.0:
            lo_t = t
        else:
            hi_t = t
        t_new = t + (1.0 - f) / slope if slope > 0 else float("nan")
        if not (lo_t < t_new < hi_t) or t_new == t:
            if t_new == t and slope > 0:
                break  # Newton is stationary: rounding floor reached
            t_new = 2.0 * lo_t if not np.isfinite(hi_t) else 0.5 * (lo_t + hi_t)
            if t_new == 0.0:
                t_new = 0.5 * hi_t
        if np.isfinite(hi_t) and hi_t - lo_t <= 1e-16 * max(1.0, hi_t):
            break
        t = t_new
    return WaterFill(q, t, passes)


def water_fill_sorted(d: np.ndarray, l: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Reference water-filling by binary search over the sorted breakpoints (O(n log n)).

    Independent of :func:`water_fill`; used to cross-check it in the tests.
    """
    on = d > 0
    if float(np.where(on, u, l).sum()) <= 1.0:
        return _fill_off_support(d, d, l, u)
    bps = np.unique(np.concatenate([l[on] / d[on], u[on] / d[on], [0.0]]))

    def f(t):
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
    t = t1 if f1 == f0 else t0 + (1.0 - f0) * (t1 - t0) / (f1 - f0)
    return np.clip(t * d, l, u)
