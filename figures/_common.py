"""Helpers shared by figure producers (not part of the public API)."""

from __future__ import annotations

import numpy as np

from theory import SOLVERS, solve

SQRT3_2 = np.sqrt(3.0) / 2.0


def preferred_solver() -> str:
    """The fast exact solver when installed in the registry, else the reference one."""
    return "fast" if "fast" in SOLVERS else "reference"


def solve_best(problem):
    return solve(problem, solver=preferred_solver())


def to_xy(lam: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Barycentric (K = 3) to Cartesian: corners e1 -> (0, 0), e2 -> (1, 0), e3 -> (1/2, sqrt3/2)."""
    lam = np.atleast_2d(lam)
    return lam[:, 1] + 0.5 * lam[:, 2], SQRT3_2 * lam[:, 2]


def simplex_grid(steps: int) -> np.ndarray:
    """All points of Delta_3 with coordinates in {0, 1/steps, ..., 1}."""
    pts = [(i / steps, j / steps, (steps - i - j) / steps)
           for i in range(steps + 1) for j in range(steps + 1 - i)]
    return np.array(pts)


def order_polygon(V: np.ndarray) -> np.ndarray:
    """Order the vertices of a planar convex polygon (K = 3 mixtures) counter-clockwise."""
    x, y = to_xy(V)
    ang = np.arctan2(y - y.mean(), x - x.mean())
    return V[np.argsort(ang)]


def min_kl_to(D: np.ndarray, target: np.ndarray, Lambda) -> float:
    """``min_{lam in Lambda} KL(D_lam || target)`` (convex in ``lam``; solved with cvxpy)."""
    import cvxpy as cp

    K = D.shape[0]
    lam = cp.Variable(K, nonneg=True)
    A, b = Lambda.inequalities()
    cons = [cp.sum(lam) == 1]
    if A.shape[0]:
        cons.append(A @ lam <= b)
    S = target > 0
    prob = cp.Problem(cp.Minimize(cp.sum(cp.rel_entr(D[:, S].T @ lam, target[S]))), cons)
    prob.solve(solver="CLARABEL")
    if prob.status != "optimal":
        raise RuntimeError(f"min KL over Lambda failed: {prob.status}")
    return float(prob.value)
