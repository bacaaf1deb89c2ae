"""Helpers shared by figure producers (not part of the public API)."""

from __future__ import annotations

import numpy as np

from robust_gates.theory import default_solver, min_kl_over_lambda, solve

SQRT3_2 = np.sqrt(3.0) / 2.0


def solve_best(problem):
    return solve(problem, solver=default_solver())


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
    """``min_{lam in Lambda} KL(D_lam || target)``: the T3 bound, by the checks' own program
    (:func:`robust_gates.theory.min_kl_over_lambda`)."""
    return min_kl_over_lambda(D, target, Lambda)[0]
