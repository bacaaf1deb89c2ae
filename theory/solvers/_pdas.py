r"""A primal-dual active-set QP for the Newton steps of the fast solver when ``Lambda`` has many
weights (``m`` in the hundreds or thousands).

It solves the same program as :func:`robust_gates.theory.solvers._qp.active_set_qp`,

.. math:: \min_y \; \tfrac12 (y - x_0)^\top M (y - x_0) - c^\top (y - x_0)
          \quad \text{s.t.} \quad G y \le h, \quad \mathbf 1^\top y = 1,

for a symmetric positive definite ``M``, but changes the active set in bulk: the primal-dual
active-set method (Hintermueller, Ito and Kunisch 2002; a semismooth Newton method on the
complementarity conditions) predicts the active constraints from the last iterate and its
multipliers, ``A = {i : nu_i + sigma (g_i^T y - h_i) > 0}``, solves the equality-constrained QP on
that guess and repeats until the guess no longer changes. Warm-started at the current point's
active set (the outer Newton iteration's working set changes little between steps), it usually
ends in a handful of iterations, each one Cholesky factorization on the free coordinates, where
the one-change-at-a-time primal method needs one iteration per constraint that enters or leaves.

Rows of ``G`` with a single non-zero entry are bounds on one coordinate (``y >= 0``, the rows of a
box, ``y <= p`` of a total-variation lift): they are handled by fixing coordinates, so only the few
general rows and ``1^T y = 1`` enter the small Schur complement.

The answer is accepted only when it is an exact KKT point to rounding: primal feasible (every
row to ``FEAS_TOL``), multipliers of the right sign; otherwise (cycling, a singular system, an
``M`` that is not numerically positive definite) :func:`pdas_qp` returns ``None`` and the caller
falls back to the primal active-set method.
"""

from __future__ import annotations

import numpy as np

__all__ = ["pdas_qp"]

#: largest violation of a unit-norm row accepted at the end
FEAS_TOL = 1e-13


def _split_rows(G: np.ndarray, h: np.ndarray, m: int):
    """Bounds ``lb <= y <= ub`` read off the rows with one non-zero entry; the other rows."""
    nnz = (G != 0).sum(axis=1)
    single = nnz == 1
    lb = np.full(m, -np.inf)
    ub = np.full(m, np.inf)
    if single.any():
        rows = np.flatnonzero(single)
        cols = np.argmax(G[rows] != 0, axis=1)
        a = G[rows, cols]
        val = h[rows] / a
        up = a > 0
        np.minimum.at(ub, cols[up], val[up])
        np.maximum.at(lb, cols[~up], val[~up])
    keep = nnz > 1
    return lb, ub, G[keep], h[keep]


def _kkt(MF: np.ndarray, E: np.ndarray, rhs: np.ndarray, e: np.ndarray) -> np.ndarray | None:
    """Solve ``[[MF, E^T], [E, 0]] [y; mult] = [rhs; e]`` by LU with pivoting (stable where ``MF`` is
    nearly singular along directions that ``E`` removes, as the Hessian of ``phi`` is along
    ``lam``); ``None`` when the system is singular."""
    nF, r = MF.shape[0], E.shape[0]
    kkt = np.empty((nF + r, nF + r))
    kkt[:nF, :nF] = MF
    kkt[:nF, nF:] = E.T
    kkt[nF:, :nF] = E
    kkt[nF:, nF:] = 0.0
    try:
        sol = np.linalg.solve(kkt, np.concatenate([rhs, e]))
    except np.linalg.LinAlgError:
        return None
    if not np.all(np.isfinite(sol)):
        return None
    # a nearly singular system shows as a residual far above rounding
    res = kkt @ sol - np.concatenate([rhs, e])
    if float(np.max(np.abs(res))) > 1e-8 * (1.0 + float(np.max(np.abs(rhs))) + float(np.max(np.abs(e)))):
        return None
    return sol


def pdas_qp(M: np.ndarray, c: np.ndarray, x0: np.ndarray, G: np.ndarray, h: np.ndarray,
            max_iter: int = 50) -> np.ndarray | None:
    """The minimizer ``y`` of the module's QP (rows of ``G`` of unit norm, ``x0`` feasible), or
    ``None`` when the primal-dual active-set iteration does not end at a verified KKT point."""
    m = x0.shape[0]
    lb, ub, Gg, hg = _split_rows(G, h, m)
    if np.any(lb > ub + 1e-15):
        return None
    fixed = ub - lb <= 1e-15  # pinned coordinates
    r = c + M @ x0  # objective: 1/2 y'My - r'y + const
    y = x0.astype(np.float64).copy()
    sigma = max(float(np.max(np.abs(np.diag(M)))), 1e-300)
    tiny = 1e-12
    L = (y <= lb + tiny) | fixed
    U = (y >= ub - tiny) & ~L
    A = Gg @ y >= hg - tiny if Gg.shape[0] else np.zeros(0, dtype=bool)
    zl = np.zeros(m)
    zu = np.zeros(m)
    nu = np.zeros(Gg.shape[0])
    for _ in range(max_iter):
        F = ~(L | U)
        if not F.any():
            # every coordinate guessed at a bound leaves 1^T y = 1 to chance: free the one whose
            # guess is the least certain (smallest multiplier), so the equality can be met
            cand = np.flatnonzero(~fixed)
            if cand.size == 0:
                return None
            j = cand[np.argmin((zl + zu)[cand])]
            L[j] = U[j] = False
            F = ~(L | U)
        nF = int(F.sum())
        y = np.where(L, lb, np.where(U, ub, 0.0))
        X = ~F
        rhs = r[F] - (M[np.ix_(F, X)] @ y[X] if X.any() else 0.0)
        if A.any():  # a general row with no free coordinate is constant here: not a constraint
            A = A & (np.abs(Gg[:, F]).max(axis=1) > 0)
        Ea = Gg[A] if A.any() else np.zeros((0, m))
        E = np.vstack([np.ones((1, nF)), Ea[:, F]])
        e = np.concatenate([[1.0 - y[X].sum()], hg[A] - Ea[:, X] @ y[X]])
        sol = _kkt(M[np.ix_(F, F)], E, rhs, e)
        if sol is None and A.any():
            # the active general rows depend on 1^T y = 1 over the free coordinates: drop them
            # from this guess (the next update adds back any that the new point violates)
            A = np.zeros_like(A)
            Ea = np.zeros((0, m))
            E, e = E[:1], e[:1]
            sol = _kkt(M[np.ix_(F, F)], E, rhs, e)
        if sol is None:
            return None
        y[F], mult = sol[:nF], sol[nF:]
        grad = M @ y - r + mult[0] + (Ea.T @ mult[1:] if Ea.shape[0] else 0.0)
        zl = np.where(L, grad, 0.0)
        zu = np.where(U, -grad, 0.0)
        nu = np.zeros(Gg.shape[0])
        # stationarity M y - r + mu 1 + Gg^T nu - zl + zu = 0: the solve's multipliers of the
        # active general rows are nu (>= 0 at a KKT point), zl / zu read off the gradient
        nu[A] = mult[1:]
        newL = ((zl + sigma * (lb - y)) > 0) | fixed
        newU = ((zu + sigma * (y - ub)) > 0) & ~newL
        newA = (nu + sigma * (Gg @ y - hg)) > 0 if Gg.shape[0] else A
        if np.array_equal(newL, L) and np.array_equal(newU, U) and np.array_equal(newA, A):
            break
        L, U, A = newL, newU, newA
    else:
        return None
    # verify: feasible to rounding, multipliers of the right sign
    scale = 1e-9 * (1.0 + float(np.max(np.abs(grad))))
    viol = float(np.max(G @ y - h)) if G.shape[0] else 0.0
    if not (viol <= FEAS_TOL and abs(y.sum() - 1.0) <= 1e-11
            and np.all(zl >= -scale) and np.all(zu >= -scale) and np.all(nu >= -scale)):
        return None
    return y
