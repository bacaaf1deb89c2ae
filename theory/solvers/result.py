"""The one result type every solver returns."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["SolveResult", "SolverError", "CertificateError"]


class SolverError(RuntimeError):
    """A solver failed or ended with a non-optimal status; no number is returned."""


class CertificateError(SolverError):
    """A solver claimed success but the independent certificate gap is above tolerance."""


@dataclass(frozen=True, eq=False)
class SolveResult:
    """A certified solution of the robust game.

    Attributes
    ----------
    value : float
        Worst-case loss of the returned gate, ``max_{lam in Lambda} L(g*, lam)`` (an upper
        bound on ``V(Lambda)``; ``value - gap`` is a lower bound).
    gate : array (K, n)
        Robust gate ``g*`` in ``G_1``.
    model : array (n,)
        Robust gated model ``P_g*``.
    lam : array (K,)
        Least-favorable mixture ``lam*`` in ``Lambda``.
    gap : float
        Certificate ``max_Lambda L(g*, .) - phi(lam*)``, recomputed by :func:`robust_gates.theory.certify`.
    lower_bound : float
        ``phi(lam*)``.
    status : str
        ``"optimal"`` (anything else is raised as :class:`SolverError` instead).
    solver, payoff : str
        Which solver and payoff produced it.
    iterations : int
        Iterations reported by the solver.
    seconds : float
        Wall time of the solve, certificate included.
    backend : str
        The underlying engine (e.g. the conic solver used by cvxpy).
    """

    value: float
    gate: np.ndarray
    model: np.ndarray
    lam: np.ndarray
    gap: float
    lower_bound: float
    status: str
    solver: str
    payoff: str
    iterations: int
    seconds: float
    backend: str = ""

    def to_dict(self, arrays: bool = True) -> dict:
        """JSON-ready dict with the keys of ``robust-gates solve --json``."""
        out = {
            "value": float(self.value),
            "lam": [float(v) for v in self.lam],
            "gap": float(self.gap),
            "status": self.status,
            "solver": self.solver,
            "payoff": self.payoff,
            "iterations": int(self.iterations),
            "seconds": float(self.seconds),
            "lower_bound": float(self.lower_bound),
            "backend": self.backend,
        }
        if arrays:
            out["model"] = [float(v) for v in self.model]
        return out
