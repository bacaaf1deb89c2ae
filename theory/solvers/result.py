"""The one result type every solver returns."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .._validate import _frozen

__all__ = ["SolveResult", "SolverError", "CertificateError", "OPTIMAL_GAP", "LazyGate"]

#: a gap at most this (relative to ``max(1, |value|)``) is reported as "optimal"
OPTIMAL_GAP = 1e-6


class SolverError(RuntimeError):
    """A solver failed or ended with a non-optimal status; no number is returned."""


class CertificateError(SolverError):
    """A solver claimed success but the independent certificate gap is above tolerance."""


class LazyGate:
    """A gate kept in a compact form until its ``(K, n)`` array is first asked for:
    ``LazyGate(make, *args)`` stands for the array ``make(*args)`` (``make`` a module-level
    function, so that a result still pickles). At ``K = 16, n = 10^6`` the dense gate is 128 MB
    whose writing costs more than two streaming passes over ``D``; a solve whose caller only needs
    ``lam``, the value or the model never writes it."""

    __slots__ = ("make", "args")

    def __init__(self, make, *args):
        self.make, self.args = make, args

    def __call__(self) -> np.ndarray:
        return self.make(*self.args)


class _Gate:
    """The ``gate`` field of :class:`SolveResult`: a read-only array, given as one or as a
    :class:`LazyGate` that is materialized (once, read-only) on first access."""

    def __set_name__(self, owner, name):
        self.slot = "_" + name

    def __get__(self, obj, objtype=None):
        if obj is None:
            raise AttributeError("gate")  # (a dataclass field without a default)
        try:
            value = obj.__dict__[self.slot]
        except KeyError:
            raise AttributeError("gate") from None
        if isinstance(value, LazyGate):
            value = _read_only(value())
            obj.__dict__[self.slot] = value
        return value

    def __set__(self, obj, value):
        if self.slot in obj.__dict__:  # a frozen result: only its own __init__ sets the gate
            raise AttributeError("cannot assign to field 'gate'")
        obj.__dict__[self.slot] = value if isinstance(value, LazyGate) else _read_only(value)


def _read_only(value) -> np.ndarray:
    arr = np.asarray(value, dtype=np.float64)
    if not _frozen(arr):  # copied once, so the solver cannot change it later; a frozen
        arr = arr.copy()  # array (e.g. from dataclasses.replace) is kept as it is
        arr.flags.writeable = False
    return arr


@dataclass(frozen=True, eq=False)
class SolveResult:
    """A certified solution of the robust game.

    Attributes
    ----------
    value : float
        Worst-case loss of the returned gate, ``max_{lam in Lambda} L(g*, lam)`` (an upper
        bound on ``V(Lambda)``; ``value - gap`` is a lower bound).
    gate : array (K, n)
        Robust gate ``g*`` in ``G_1`` (a solver may pass a :class:`LazyGate`: the array is then
        written on first access).
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
    gate: np.ndarray = _Gate()
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
        if not (math.isfinite(self.value) and math.isfinite(self.lower_bound) and math.isfinite(self.gap)):
            # a certificate with an infinite or NaN end proves nothing; never return it as a number
            raise CertificateError(
                f"{self.solver} solver: the certificate is not finite (value {self.value}, lower "
                f"bound {self.lower_bound}, gap {self.gap}); no result is returned")
        for name in ("model", "lam"):  # (the gate is made read-only by its field)
            object.__setattr__(self, name, _read_only(getattr(self, name)))
        if self.status == "optimal" and not self.gap <= OPTIMAL_GAP * max(1.0, abs(self.value)):
            object.__setattr__(self, "status", "within_tol")

    def __setstate__(self, state: dict) -> None:
        # pickle and deepcopy restore the attributes with writable copies of the arrays: frozen
        # again, so a copied result does not change later either (the gate, when already written)
        for key, value in state.items():
            if isinstance(value, np.ndarray):
                value.flags.writeable = False
            self.__dict__[key] = value

    def __repr__(self) -> str:
        K, n = len(self.lam), len(self.model)  # (not from the gate: it may not be written yet)
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
