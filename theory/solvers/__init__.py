"""Solvers of the robust game; every one returns a certified :class:`SolveResult`.

``solve(problem, solver=...)`` dispatches through :data:`SOLVERS`, a registry a user can
extend with their own ``problem -> SolveResult`` function.
"""

from __future__ import annotations

from collections.abc import Callable

from ..problem import RobustProblem
from .capacity import Capacity, capacity
from .fast import solve_fast
from .reference import solve_reference
from .result import CertificateError, SolverError, SolveResult

__all__ = [
    "SOLVERS", "default_solver", "solve", "solve_reference", "solve_fast", "capacity", "Capacity",
    "SolveResult", "SolverError", "CertificateError",
]

SOLVERS: dict[str, Callable[..., SolveResult]] = {"reference": solve_reference, "fast": solve_fast}


def default_solver() -> str:
    """The preferred exact solver: ``"fast"`` when registered in :data:`SOLVERS`, else
    ``"reference"``."""
    return "fast" if "fast" in SOLVERS else "reference"


def solve(problem: RobustProblem, solver: str = "reference", **options) -> SolveResult:
    """Solve ``problem`` with the named solver (see :data:`SOLVERS`)."""
    try:
        fn = SOLVERS[solver]
    except KeyError:
        raise ValueError(f"unknown solver {solver!r}; choose one of {sorted(SOLVERS)}") from None
    return fn(problem, **options)
