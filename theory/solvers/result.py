"""The one result type every solver returns."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._validate import _frozen

__all__ = ["SolveResult", "SolverError", "CertificateError", "OPTIMAL_GAP"]

#: a gap at most this (relative to ``max(1, |value|)``) is reported as "optimal"
OPTIMAL_GAP = 1e-6


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
        What the certificate proves: ``"optimal"`` when ``gap <= OPTIMAL_GAP * max(1, |value|)``
        (the accuracy every solver reaches at its default tolerance), ``"within_tol"`` when the
        gap is larger but within the tolerance the caller asked for (e.g. ``--tol 1``). A solve
        that cannot prove even that raises :class:`SolverError` instead of returning.
    solver, payoff : str
        Which solver and payoff produced it.
    iterations : int
        Iterations reported by the solver.
    seconds : float
        Wall time of the solve, certificate included.
    backend : str
        The underlying engine (e.g. the conic solver used by cvxpy).
    tol : float
        The certificate tolerance the solve was asked for (``nan`` when not recorded).

    The arrays are read-only: a result, like a validated problem, does not change later.
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
    tol: float = float("nan")

    def __post_init__(self):
        if not (np.isfinite(self.value) and np.isfinite(self.lower_bound) and np.isfinite(self.gap)):
            # a certificate with an infinite or NaN end proves nothing; never return it as a number
            raise CertificateError(
                f"{self.solver} solver: the certificate is not finite (value {self.value}, lower "
                f"bound {self.lower_bound}, gap {self.gap}); no result is returned")
        for name in ("gate", "model", "lam"):
            arr = np.asarray(getattr(self, name), dtype=np.float64)
            if not _frozen(arr):  # copied once, so the solver cannot change it later; a frozen
                arr = arr.copy()  # array (e.g. from dataclasses.replace) is kept as it is
                arr.flags.writeable = False
            object.__setattr__(self, name, arr)
        if self.status == "optimal" and not self.gap <= OPTIMAL_GAP * max(1.0, abs(self.value)):
            object.__setattr__(self, "status", "within_tol")

    def __repr__(self) -> str:
        K, n = np.shape(self.gate) if np.ndim(self.gate) == 2 else (len(self.lam), len(self.model))
        return (f"SolveResult(status={self.status!r}, value={self.value:.10g}, gap={self.gap:.2e}, "
                f"solver={self.solver!r}, payoff={self.payoff!r}, K={K}, n={n})")

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
            "tol": None if np.isnan(self.tol) else float(self.tol),
        }
        if arrays:
            out["model"] = [float(v) for v in self.model]
        return out
