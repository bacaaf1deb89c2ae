r"""A dense primal active-set QP solver for the Newton steps of the fast solver.

It solves, for a symmetric positive definite ``M`` (``m x m``), a vector ``c`` and a feasible
start ``x0``,

.. math:: \min_y \; \tfrac12 (y - x_0)^\top M (y - x_0) - c^\top (y - x_0)
          \quad \text{s.t.} \quad G y \le h, \quad \mathbf 1^\top y = 1,

by the primal active-set method (Nocedal and Wright, Algorithm 16.3): keep a working set of
inequalities held as equalities, solve the equality-constrained QP on it, move until the first
blocking constraint, and release constraints whose multipliers are negative when the step
vanishes. Every iterate is feasible and the objective never increases, so even an early stop
returns a feasible point at least as good as ``x0`` (an ascent direction for the outer solver).

Scaling to hundreds of variables. Most rows of ``G`` bound a single coordinate (``x >= 0``,
a box ``lo <= x <= hi``, a lift's ``y <= p``). Such rows become bounds ``lo <= y <= hi`` and are
handled by *fixing* coordinates, not by rows of the KKT system: with ``Z`` the fixed
coordinates, ``F`` the free ones and ``E`` the working general rows (with :math:`\mathbf 1`),
each step solves

.. math:: M_{FF}\, s_F + E_F^\top \mu = -g_F, \qquad E_F\, s_F = 0, \qquad s_Z = 0

by one Cholesky factorization of ``M_FF`` and the small Schur complement
:math:`E_F M_{FF}^{-1} E_F^\top` (``E`` has few rows). The working set starts at the
constraints tight at ``x0`` (the outer Newton iteration's active set, nearly right once it
converges), and all bounds with negative multipliers are released at once, so a step of
the outer solver costs a few factorizations rather than one per changed coordinate. The
multiplier of a fixed coordinate ``i`` is
:math:`\pi_i = -\sigma_i\,(g + M s + E^\top\mu)_i` (``sigma = +1`` at an upper bound, ``-1``
at a lower one); the point is a KKT point, hence the exact minimizer, when every
:math:`\pi_i` and every general multiplier is ``>= 0``.

Degenerate constraints. Descriptions of ``Lambda`` often repeat a constraint (a box with
``lo_k = 0`` next to ``x >= 0``) or hold rows that are combinations of others (a polytope
whose rows add up to the simplex's own equality). So

* rows are scaled to unit norm, zero rows dropped and repeated rows merged (the tighter
  right-hand side kept) before the loop; repeated bounds merge into one ``lo``/``hi``;
* a blocking constraint enters the working set only if ``E_F`` keeps full row rank (for a
  general row: the row is independent of the working rows on ``F``; for a bound: fixing the
  coordinate leaves the working rows independent on the rest). A dependent constraint is
  constant along every step with ``E s = 0``, so in exact arithmetic it never blocks; it is
  skipped;
* the KKT system is therefore non-singular at every step, and a last guard moves ``y`` back
  along the segment from ``x0`` to the feasible set, should rounding have pushed it out by
  more than ``FEAS_TOL``.
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import LinAlgError, cho_factor, cho_solve

__all__ = ["active_set_qp", "FEAS_TOL"]

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
    _, first, inverse = np.unique(np.round(Gn, 12), axis=0, return_index=True, return_inverse=True)
    inverse = np.asarray(inverse).ravel()
    h_min = np.full(first.size, np.inf)
    np.minimum.at(h_min, inverse, hn)
    return Gn[first], h_min


def _split_bounds(G: np.ndarray, h: np.ndarray, m: int):
    """Rows with one non-zero entry become bounds ``lo <= y <= hi`` (repeated ones merged to the
    tightest); the others are normalized and merged by :func:`_normalize_rows`."""
    lo, hi = np.full(m, -np.inf), np.full(m, np.inf)
    if G.shape[0] == 0:
        return lo, hi, G, h
    nz = G != 0
    single = np.count_nonzero(nz, axis=1) == 1
    rows = np.flatnonzero(single)
    cols = np.argmax(nz[rows], axis=1)
    a = G[rows, cols]
    bound = h[rows] / a
    up = a > 0
    np.minimum.at(hi, cols[up], bound[up])
    np.maximum.at(lo, cols[~up], bound[~up])
    A, b = _normalize_rows(G[~single], h[~single])
    return lo, hi, A, b


def _full_row_rank(E: np.ndarray) -> bool:
    """Whether the (unit-ish) rows of ``E`` are independent, to ``_DEPENDENT_TOL``."""
    r, f = E.shape
    if r > f:
        return False
    if r == 1:
        return bool(np.linalg.norm(E) > _DEPENDENT_TOL)
    sv = np.linalg.svd(E, compute_uv=False)
    return bool(sv[-1] > _DEPENDENT_TOL * max(1.0, sv[0]))


def _kkt_solve(M: np.ndarray, E: np.ndarray, grad: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Solve ``[[M, E^T], [E, 0]] [s; mu] = [-grad; 0]`` (``M`` positive definite on the null
    space of ``E``, ``E`` of full row rank).

    Cholesky of ``M + rho E^T E`` (the same solution, since ``E s = 0``; ``rho`` the largest
    diagonal entry of ``M`` keeps the factor well conditioned when ``M`` is nearly singular
    along the rows of ``E``) and the ``r x r`` Schur complement; the dense system when the
    factorization fails or its solution leaves ``E s = 0`` by more than rounding.
    """
    m, r = M.shape[0], E.shape[0]
    try:
        rho = max(float(np.max(np.diag(M))), 1e-300)
        cf = cho_factor(M + rho * (E.T @ E), lower=True, check_finite=False)
        X = cho_solve(cf, np.column_stack([grad, E.T]), check_finite=False)
        z, Y = X[:, 0], X[:, 1:]
        mu = np.linalg.solve(E @ Y, -(E @ z))
        s = -(z + Y @ mu)
        if np.all(np.isfinite(s)) and float(np.max(np.abs(E @ s))) <= 1e-12 * (
                1.0 + float(np.max(np.abs(s)))):
            return s, mu
    except (LinAlgError, np.linalg.LinAlgError):
        pass
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


def _solves(Ms, s, mu, grad, E, free) -> bool:
    """Residual check of a KKT solution: ``E s = 0`` and ``(M s + E^T mu + grad)_F = 0`` to
    rounding."""
    big = 1.0 + float(np.max(np.abs(grad[free])))
    res = Ms[free] + E[:, free].T @ mu + grad[free]
    return bool(float(np.max(np.abs(E @ s))) <= 1e-12 * (1.0 + float(np.max(np.abs(s))))
                and float(np.max(np.abs(res))) <= 1e-9 * big)


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


class _FreeInverse:
    """The inverse of ``S_FF`` with ``S = M + rho E^T E`` on the free coordinates ``F``, kept
    up to date in ``O(|F|^2)`` per fixed or released coordinate (deleting a row and column of an
    inverse, or bordering it), and rebuilt by Cholesky when the working rows ``E`` change or
    after many updates. ``S_FF`` is positive definite whenever ``M`` is positive definite on
    the null space of ``E_F``, and its inverse solves the KKT system of a step (:meth:`step`)."""

    REBUILD = 64

    def __init__(self, M: np.ndarray, rho: float):
        self.M, self.rho = M, rho
        self.inv: np.ndarray | None = None
        self.idx = np.zeros(0, dtype=np.intp)
        self.E = np.zeros((0, M.shape[0]))
        self.updates = 0

    def rebuild(self, free: np.ndarray, E: np.ndarray) -> bool:
        self.idx, self.E, self.updates = np.flatnonzero(free), E, 0
        EF = E[:, self.idx]
        S = self.M[np.ix_(self.idx, self.idx)] + self.rho * (EF.T @ EF)
        try:
            cf = cho_factor(S, lower=True, check_finite=False)
            self.inv = cho_solve(cf, np.eye(self.idx.size), check_finite=False)
        except (LinAlgError, np.linalg.LinAlgError):
            self.inv = None
            return False
        return True

    def sync(self, free: np.ndarray, E: np.ndarray) -> bool:
        """Bring the inverse to the free set ``free`` and rows ``E``; ``False`` if ``S_FF`` is not
        numerically positive definite."""
        if (self.inv is None or E.shape != self.E.shape or not np.array_equal(E, self.E)
                or self.updates >= self.REBUILD):
            return self.rebuild(free, E)
        cur = np.zeros(free.shape[0], dtype=bool)
        cur[self.idx] = True
        gone, new = np.flatnonzero(cur & ~free), np.flatnonzero(free & ~cur)
        if gone.size + new.size == 0:
            return True
        if gone.size + new.size > max(8, self.idx.size // 8) or self.updates + gone.size + new.size \
                >= self.REBUILD:
            return self.rebuild(free, E)
        inv, idx = self.inv, self.idx
        for i in gone:
            p = int(np.flatnonzero(idx == i)[0])
            keep = np.arange(idx.size) != p
            col = inv[keep, p]
            inv = inv[np.ix_(keep, keep)] - np.outer(col, col) / inv[p, p]
            idx = idx[keep]
        for i in new:
            Srow = self.M[i, idx] + self.rho * (E[:, i] @ E[:, idx])
            d = self.M[i, i] + self.rho * float(E[:, i] @ E[:, i])
            u = inv @ Srow
            sigma = d - float(Srow @ u)
            if not sigma > 0:
                return self.rebuild(free, E)
            k = idx.size
            out = np.empty((k + 1, k + 1))
            out[:k, :k] = inv + np.outer(u, u) / sigma
            out[:k, k] = out[k, :k] = -u / sigma
            out[k, k] = 1.0 / sigma
            inv, idx = out, np.append(idx, i)
        self.inv, self.idx = inv, idx
        self.updates += gone.size + new.size
        return True

    def step(self, grad: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """``(idx, s_F, mu)`` solving the KKT system on ``F = idx`` (the caller checks the
        residual: :func:`_solves`); ``None`` when it is not finite."""
        idx, EF = self.idx, self.E[:, self.idx]
        X = self.inv @ np.column_stack([grad[idx], EF.T])
        z, Y = X[:, 0], X[:, 1:]
        try:
            mu = np.linalg.solve(EF @ Y, -(EF @ z))
        except np.linalg.LinAlgError:
            return None
        s = -(z + Y @ mu)
        if not np.all(np.isfinite(s)):
            return None
        return idx, s, mu


def active_set_qp(
    M: np.ndarray, c: np.ndarray, x0: np.ndarray, G: np.ndarray, h: np.ndarray,
    max_iter: int | None = None,
) -> tuple[np.ndarray, bool]:
    """Return ``(y, converged)`` for the QP above; ``x0`` must be feasible.

    ``converged`` is ``False`` only if ``max_iter`` working-set changes were not enough
    (degenerate cycling); ``y`` is then still feasible and no worse than ``x0``. The returned
    ``y`` satisfies every row of ``G y <= h`` to within ``FEAS_TOL`` times the row's norm (or as
    well as ``x0`` does).
    """
    m = x0.shape[0]
    G, h = np.asarray(G, dtype=np.float64), np.asarray(h, dtype=np.float64)
    lo, hi, A, b = _split_bounds(G, h, m)
    if max_iter is None:
        max_iter = 10 * (m + G.shape[0]) + 20
    x0 = x0.astype(np.float64)
    y = x0.copy()
    at_lo, at_hi = y - lo <= FEAS_TOL, hi - y <= FEAS_TOL
    pinned = at_lo & at_hi
    fixed = at_lo | at_hi
    side = np.where(at_hi & ~at_lo, 1.0, -1.0)  # +1: held at hi (multiplier sign)
    if fixed.all():  # keep one coordinate free, so that the equality has a row on F
        fixed[int(np.argmax(~pinned))] = False
    ones = np.ones((1, m))
    work: list[int] = []
    for j in np.flatnonzero(A @ y >= b - FEAS_TOL) if A.shape[0] else []:
        E = np.vstack([ones, A[work + [int(j)]]])
        if _full_row_rank(E[:, ~fixed]):
            work.append(int(j))
    inverse = _FreeInverse(M, max(float(np.max(np.diag(M))), 1e-300))
    converged = False
    grad = -np.asarray(c, dtype=np.float64)  # M (y - x0) - c, updated along the steps
    for _ in range(max_iter):
        free = ~fixed
        E = np.vstack([ones, A[work]]) if work else ones
        out = inverse.step(grad) if inverse.sync(free, E) else None
        s = np.zeros(m)
        if out is not None:
            s[out[0]], mu = out[1], out[2]
            Ms = M @ s
            if not _solves(Ms, s, mu, grad, E, free):  # drift of the updated inverse
                out = inverse.step(grad) if inverse.rebuild(free, E) else None
                if out is not None:
                    s[:] = 0.0
                    s[out[0]], mu = out[1], out[2]
                    Ms = M @ s
                    out = out if _solves(Ms, s, mu, grad, E, free) else None
        if out is None:
            s[:] = 0.0
            s[free], mu = _kkt_solve(M[np.ix_(free, free)], E[:, free], grad[free])
            Ms = M @ s
        # the step decreases the objective by s.M.s / 2 (from the KKT system): >= 0, and exact
        # even when grad.s cancels to rounding
        if np.max(np.abs(s)) <= _STEP_TOL or not float(s @ Ms) > 0.0:
            scale = 1e-12 * (1.0 + float(np.max(np.abs(grad))))
            resid = grad + Ms + E.T @ mu
            release = fixed & ~pinned & (-side * resid < -scale)
            mult = mu[1:]
            j = int(np.argmin(mult)) if mult.size else -1
            drop_row = j >= 0 and mult[j] < -scale
            if not release.any() and not drop_row:
                converged = True
                break
            fixed &= ~release
            if drop_row and not release.any():
                work.pop(j)
            continue
        tiny = 1e-15 * float(np.max(np.abs(s)))
        with np.errstate(divide="ignore", invalid="ignore"):
            r_lo = np.where(free & (s < -tiny), np.maximum(y - lo, 0.0) / -s, np.inf)
            r_hi = np.where(free & (s > tiny), np.maximum(hi - y, 0.0) / s, np.inf)
        r_b = np.minimum(r_lo, r_hi)
        alpha, rows_in, bounds_in = 1.0, [], np.zeros(m, dtype=bool)
        # a bound enters when fixing it keeps the working rows independent on the rest; the
        # bounds reached at the same (smallest) ratio enter together
        for i in np.flatnonzero(r_b < 1.0)[np.argsort(r_b[r_b < 1.0], kind="stable")]:
            if bounds_in.any() and r_b[i] > alpha:
                break
            keep = free & ~bounds_in
            keep[i] = False
            if keep.any() and (E.shape[0] == 1 or _full_row_rank(E[:, keep])):
                alpha = float(r_b[i])
                bounds_in[i] = True
        if A.shape[0]:
            in_work = np.zeros(A.shape[0], dtype=bool)
            in_work[work] = True
            Gs = A @ s
            cand = np.flatnonzero(~in_work & (Gs > tiny))
            if cand.size:
                ratios = np.maximum(b[cand] - A[cand] @ y, 0.0) / Gs[cand]
                snorm = float(np.linalg.norm(s))
                for i in np.argsort(ratios, kind="stable"):
                    if ratios[i] >= alpha:
                        break
                    row = int(cand[i])
                    # E s = 0, so a row with a clearly non-zero a.s is outside the span of E; only
                    # rows with a.s at rounding level need the rank test
                    if Gs[row] > _DEPENDENT_TOL * snorm or _full_row_rank(
                            np.vstack([E, A[row]])[:, free]):
                        alpha, rows_in = float(ratios[i]), [row]
                        bounds_in[:] = False
                        break
        y = y + alpha * s
        grad = grad + alpha * Ms
        if rows_in:
            work.extend(rows_in)
        if bounds_in.any():
            fixed |= bounds_in
            side[bounds_in] = np.where(r_hi[bounds_in] <= r_lo[bounds_in], 1.0, -1.0)
    norms = np.linalg.norm(G, axis=1) if G.shape[0] else np.zeros(0)
    norms = np.where(norms > 0, norms, 1.0)
    return _back_to_feasible(y, x0, G / norms[:, None], h / norms), converged
