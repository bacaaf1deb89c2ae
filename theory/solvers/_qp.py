r"""A small dense primal active-set QP solver for the Newton steps of the fast solver.

It solves, for a symmetric positive definite ``M`` (``m x m``, ``m`` small), a vector ``c``
and a feasible start ``x0``,

.. math:: \min_y \; \tfrac12 (y - x_0)^\top M (y - x_0) - c^\top (y - x_0)
          \quad \text{s.t.} \quad G y \le h, \quad \mathbf 1^\top y = 1,

by the classical primal active-set method (Nocedal and Wright, Algorithm 16.3): keep a
working set ``W`` of inequalities held as equalities, solve the equality-constrained QP on
it through its KKT system, move until the first blocking constraint, and drop the
constraint with the most negative multiplier when the step vanishes. Every iterate is
feasible and the objective never increases, so even an early stop returns a feasible point
at least as good as ``x0`` (an ascent direction for the outer solver).
"""

from __future__ import annotations

import numpy as np

__all__ = ["active_set_qp"]

_STEP_TOL = 1e-13


def _kkt_solve(M: np.ndarray, E: np.ndarray, grad: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Solve ``[[M, E^T], [E, 0]] [s; mu] = [-grad; 0]``."""
    m, r = M.shape[0], E.shape[0]
    kkt = np.zeros((m + r, m + r))
    kkt[:m, :m] = M
    kkt[:m, m:] = E.T
    kkt[m:, :m] = E
    rhs = np.concatenate([-grad, np.zeros(r)])
    try:
        sol = np.linalg.solve(kkt, rhs)
    except np.linalg.LinAlgError:
        sol = np.linalg.lstsq(kkt, rhs, rcond=None)[0]
    return sol[:m], sol[m:]


def active_set_qp(
    M: np.ndarray, c: np.ndarray, x0: np.ndarray, G: np.ndarray, h: np.ndarray,
    max_iter: int | None = None,
) -> tuple[np.ndarray, bool]:
    """Return ``(y, converged)`` for the QP above; ``x0`` must be feasible.

    ``converged`` is ``False`` only if ``max_iter`` working-set changes were not enough
    (degenerate cycling); ``y`` is then still feasible and no worse than ``x0``.
    """
    m = x0.shape[0]
    if max_iter is None:
        max_iter = 10 * (m + G.shape[0]) + 20
    y = x0.astype(np.float64).copy()
    ones = np.ones((1, m))
    work: list[int] = []
    # Inequalities that are 0 = 0 rows never block and are never worth holding.
    live = np.abs(G).max(axis=1) > 0 if G.shape[0] else np.zeros(0, dtype=bool)
    for _ in range(max_iter):
        grad = M @ (y - x0) - c
        E = np.vstack([ones, G[work]]) if work else ones
        s, mu = _kkt_solve(M, E, grad)
        decrease = -(grad @ s + 0.5 * s @ M @ s)
        if np.max(np.abs(s)) <= _STEP_TOL or decrease <= 0.0:
            if not work:
                return y, True
            mult = mu[1:]
            j = int(np.argmin(mult))
            scale = 1e-12 * (1.0 + float(np.max(np.abs(grad))))
            if mult[j] >= -scale:
                return y, True
            work.pop(j)
            continue
        Gs = G @ s
        slack = np.maximum(h - G @ y, 0.0)
        alpha, block = 1.0, -1
        in_work = np.zeros(G.shape[0], dtype=bool)
        in_work[work] = True
        cand = np.flatnonzero(live & ~in_work & (Gs > 1e-15 * np.max(np.abs(s))))
        if cand.size:
            ratios = slack[cand] / Gs[cand]
            i = int(np.argmin(ratios))
            if ratios[i] < 1.0:
                alpha, block = float(ratios[i]), int(cand[i])
        y = y + alpha * s
        if block >= 0:
            work.append(block)
    return y, False
