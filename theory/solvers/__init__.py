"""Solvers of the robust game; every one returns a certified :class:`SolveResult`.

``solve(problem, solver=..., tol=..., max_iter=..., verbose=...)`` dispatches through
:data:`SOLVERS`, filled by :func:`register_solver` (:mod:`.registry`: every member takes the same
keyword options). A user adds a solver by decorating their own ``problem -> SolveResult`` function.
``solve_many(problems, ...)`` solves many small problems at once (:mod:`.batched`).
"""

from __future__ import annotations

import dataclasses
import inspect

from ..problem import RobustProblem
from .auto import solve_auto  # registers "auto" (the default)
from .batched import solve_many
from .capacity import Capacity, capacity
from .fast import solve_fast  # registers "fast"
from .reference import solve_reference  # registers "reference"
from .registry import SOLVER_OPTIONS, SOLVERS, register_solver
from .result import OPTIMAL_GAP, CertificateError, SolverError, SolveResult

__all__ = [
    "SOLVERS", "SOLVER_OPTIONS", "register_solver", "default_solver", "solve", "solve_reference",
    "solve_fast", "solve_auto", "capacity", "OPTIMAL_GAP", "DEFAULT_SOLVER", "Capacity", "SolveResult",
    "SolverError", "CertificateError", "solve_many",
]


#: the solver every command and :func:`solve` use unless told otherwise
DEFAULT_SOLVER = "auto"


def default_solver() -> str:
    """The preferred exact solver: ``"fast"`` when registered in :data:`SOLVERS`, else
    ``"reference"``."""
    return "fast" if "fast" in SOLVERS else "reference"


def solve(problem: RobustProblem, solver: str = DEFAULT_SOLVER, **options) -> SolveResult:
    """Solve ``problem`` with the named solver (see :data:`SOLVERS`; default ``"auto"``: the fast
    solver cross-checked by the reference); ``options`` are the shared keywords ``tol``,
    ``max_iter``, ``verbose`` and any the solver adds. The result records the ``tol`` used."""
    try:
        fn = SOLVERS[solver]
    except KeyError:
        raise ValueError(f"unknown solver {solver!r}; choose one of {sorted(SOLVERS)}") from None
    tol = options.get("tol", inspect.signature(fn).parameters["tol"].default)
    return dataclasses.replace(fn(problem, **options), tol=float(tol))
