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

Degenerate constraints. Descriptions of ``Lambda`` often repeat a constraint (a box with
``lo_k = 0`` next to ``x >= 0``) or hold rows that are combinations of others (a polytope
whose rows add up to the simplex's own equality). A working set with dependent rows makes
the KKT matrix singular, and a least-squares step on it may leave the feasible set. So

* rows are scaled to unit norm, zero rows dropped and repeated rows merged (the tighter
  right-hand side kept) before the loop;
* a blocking row is added to ``W`` only if it is linearly independent of the rows already
  there (and of :math:`\mathbf 1`). A dependent row :math:`a = E^\top \mu` is constant along
  every step :math:`s` with :math:`E s = 0`, so in exact arithmetic it never blocks; it is
  skipped and the next blocking row examined;
* the KKT matrix is therefore non-singular at every step, and a last guard moves ``y`` back
  along the segment from ``x0`` to the feasible set, should rounding have pushed it out by
  more than ``FEAS_TOL``.
"""

from __future__ import annotations

import numpy as np

__all__ = ["active_set_qp", "simplex_active_set_qp", "is_simplex", "FEAS_TOL"]

_STEP_TOL = 1e-13
#: a row is dependent on the working set when its residual after projection on the span of
#: the working rows is below this (rows have unit norm)
_DEPENDENT_TOL = 1e-9
#: largest violation of a (unit-norm) row the returned point may have before the guard acts
FEAS_TOL = 1e-14


def _normalize_rows(G: np.ndarray, h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unit-norm rows, zero rows dropped (``0 <= h`` holds at the feasible ``x0``), repeated
    rows merged to the smallest right-hand side."""
    if G.shape[0] == 0:
        return G.astype(np.float64), h.astype(np.float64)
    norms = np.linalg.norm(G, axis=1)
    keep = norms > 0
    Gn = G[keep] / norms[keep, None]
    hn = h[keep] / norms[keep]
    if Gn.shape[0] == 0:
        return Gn, hn
    key = np.round(Gn, 12)
    _, inverse = np.unique(key, axis=0, return_inverse=True)
    inverse = np.asarray(inverse).ravel()
    groups = int(inverse.max()) + 1
    h_min = np.full(groups, np.inf)
    np.minimum.at(h_min, inverse, hn)
    first = np.full(groups, -1)
    for i in range(inverse.size - 1, -1, -1):
        first[inverse[i]] = i
    return Gn[first], h_min


def _kkt_solve(M: np.ndarray, E: np.ndarray, grad: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Solve ``[[M, E^T], [E, 0]] [s; mu] = [-grad; 0]`` (non-singular: ``M`` positive definite
    and ``E`` of full row rank)."""
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


def _independent(E: np.ndarray, a: np.ndarray) -> bool:
    """Whether the unit row ``a`` is linearly independent of the rows of ``E``."""
    coef = np.linalg.lstsq(E.T, a, rcond=None)[0]
    return float(np.linalg.norm(E.T @ coef - a)) > _DEPENDENT_TOL


def _back_to_feasible(y: np.ndarray, x0: np.ndarray, G: np.ndarray, h: np.ndarray) -> np.ndarray:
    """The point of the segment ``[x0, y]`` farthest from ``x0`` that satisfies ``G y <= h`` as
    well as ``x0`` does (the ratio test along ``y - x0``); ``y`` itself when it already does."""
    if G.shape[0] == 0 or np.all(G @ y - h <= FEAS_TOL):
        return y
    s = y - x0
    Gs = G @ s
    slack = np.maximum(h - G @ x0, 0.0)
    up = Gs > 0
    alpha = min(1.0, float(np.min(slack[up] / Gs[up]))) if up.any() else 1.0
    return x0 + alpha * s


def active_set_qp(
    M: np.ndarray, c: np.ndarray, x0: np.ndarray, G: np.ndarray, h: np.ndarray,
    max_iter: int | None = None, normalized: bool = False,
) -> tuple[np.ndarray, bool]:
    """Return ``(y, converged)`` for the QP above; ``x0`` must be feasible.

    ``converged`` is ``False`` only if ``max_iter`` working-set changes were not enough
    (degenerate cycling); ``y`` is then still feasible and no worse than ``x0``. ``normalized``
    says that ``G, h`` already went through :func:`_normalize_rows` (a caller solving many QPs on
    the same constraints does it once). The returned
    ``y`` satisfies every row of ``G y <= h`` to within ``FEAS_TOL`` times the row's norm (or as
    well as ``x0`` does).
    """
    m = x0.shape[0]
    G0, h0 = np.asarray(G, dtype=np.float64), np.asarray(h, dtype=np.float64)
    G, h = (G0, h0) if normalized else _normalize_rows(G0, h0)
    if max_iter is None:
        max_iter = 10 * (m + G.shape[0]) + 20
    y = x0.astype(np.float64).copy()
    ones = np.ones((1, m))
    work: list[int] = []
    converged = False
    for _ in range(max_iter):
        grad = M @ (y - x0) - c
        E = np.vstack([ones, G[work]]) if work else ones
        s, mu = _kkt_solve(M, E, grad)
        # the step decreases the objective by -(grad.s + s.M.s / 2) = s.M.s / 2 (from the KKT
        # system); written this way it is >= 0 and exact even when grad.s cancels to rounding
        if np.max(np.abs(s)) <= _STEP_TOL or not float(s @ M @ s) > 0.0:
            if not work:
                converged = True
                break
            mult = mu[1:]
            j = int(np.argmin(mult))
            scale = 1e-12 * (1.0 + float(np.max(np.abs(grad))))
            if mult[j] >= -scale:
                converged = True
                break
            work.pop(j)
            continue
        Gs = G @ s
        slack = np.maximum(h - G @ y, 0.0)
        in_work = np.zeros(G.shape[0], dtype=bool)
        in_work[work] = True
        cand = np.flatnonzero(~in_work & (Gs > 1e-15 * np.max(np.abs(s))))
        snorm = float(np.linalg.norm(s))
        alpha, block = 1.0, -1
        if cand.size:
            ratios = slack[cand] / Gs[cand]
            for i in np.argsort(ratios, kind="stable"):
                if ratios[i] >= 1.0:
                    break
                # E s = 0, so a row with a clearly non-zero a.s is outside the span of E; only
                # rows with a.s at rounding level need the least-squares test
                if Gs[cand[i]] > _DEPENDENT_TOL * snorm or _independent(E, G[cand[i]]):
                    alpha, block = float(ratios[i]), int(cand[i])
                    break
        y = y + alpha * s
        if block >= 0:
            work.append(block)
    return _back_to_feasible(y, x0, G, h), converged


def is_simplex(G: np.ndarray, h: np.ndarray) -> bool:
    """Whether ``G y <= h`` (unit-norm rows) is exactly ``y >= 0``, one row per coordinate: with
    ``1^T y = 1`` the feasible set is then the simplex of weights (a hull's, a simplex's)."""
    m = G.shape[1]
    return (G.shape[0] == m and not np.any(h) and np.array_equal(np.diagonal(G), np.full(m, -1.0))
            and np.count_nonzero(G) == m)


def simplex_active_set_qp(M: np.ndarray, c: np.ndarray, x0: np.ndarray,
                          max_iter: int | None = None) -> np.ndarray | None:
    r"""The QP of this module over the simplex (``y >= 0``, ``1^T y = 1``) by the primal active-set
    method on the support (Lawson and Hanson's order of moves, with the equality): solve the
    equality-constrained QP on the support ``S`` (a ``|S| + 1`` system), move towards its
    solution until a weight reaches zero and drop it, or, at the solution, add the weight with
    the most negative multiplier. Each system has the size of the support, so where the answer
    is sparse (a hull of many more points than domains: at most ``K + 1`` points carry weight
    at an extreme point of the model's solution set) a step costs little whatever ``m``; the
    start is ``x0`` where its support is sparse (a quarter of the weights or fewer), else the
    vertex with the least objective. Returns ``y`` only at a verified KKT point (the checks of
    :func:`~robust_gates.theory.solvers._pdas.pdas_qp`), else ``None``."""
    m = x0.shape[0]
    r = c + M @ x0  # objective: 1/2 y'My - r'y + const
    if np.count_nonzero(x0) <= m // 4:
        y = np.array(x0, dtype=np.float64)
    else:
        y = np.zeros(m)
        y[int(np.argmin(0.5 * np.diagonal(M) - r))] = 1.0
    S = y > 0
    if max_iter is None:
        max_iter = 10 * m + 20
    added = -1
    for _ in range(max_iter):
        idx = np.flatnonzero(S)
        k = idx.size
        kkt = np.empty((k + 1, k + 1))
        kkt[:k, :k] = M[np.ix_(idx, idx)]
        kkt[:k, k] = 1.0
        kkt[k, :k] = 1.0
        kkt[k, k] = 0.0
        try:
            sol = np.linalg.solve(kkt, np.append(r[idx], 1.0))
        except np.linalg.LinAlgError:
            return None
        if not np.all(np.isfinite(sol)):
            return None
        z, mu = sol[:k], sol[k]
        if z.min() > 0.0:
            y = np.zeros(m)
            y[idx] = z
            w = M @ y - r + mu  # multipliers of y_i >= 0 (zero on the support, to rounding)
            w[S] = np.inf
            j = int(np.argmin(w))
            scale = 1e-12 * (1.0 + float(np.max(np.abs(r))))
            if w[j] >= -scale:
                break
            S[j] = True
            added = j
            continue
        # move towards z until the first support weight reaches zero, and drop it
        cur = y[idx]
        down = z <= 0.0
        if added >= 0 and down[np.searchsorted(idx, added)]:
            # the weight just added (at zero) would leave again at once: in exact arithmetic its
            # negative multiplier makes it grow, so only rounding gets here, and the loop would
            # add and drop it for ever; the caller's general method takes over
            return None
        added = -1
        ratios = cur[down] / (cur[down] - z[down])
        alpha = float(np.min(ratios))
        new = cur + alpha * (z - cur)
        hit = np.flatnonzero(down)[ratios <= alpha]
        new[hit] = 0.0
        new = np.maximum(new, 0.0)
        y = np.zeros(m)
        y[idx] = new / new.sum()
        S = y > 0
        if not S.any():
            return None
    else:
        return None
    # verify: a KKT point to rounding (as pdas_qp)
    grad = M @ y - r
    mult = grad + mu
    scale = 1e-9 * (1.0 + float(np.max(np.abs(grad))))
    if not (y.min() >= 0.0 and abs(float(y.sum()) - 1.0) <= 1e-11
            and np.all(np.abs(mult[S]) <= scale) and np.all(mult[~S] >= -scale)):
        return None
    return y
