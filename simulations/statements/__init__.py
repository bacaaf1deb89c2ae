"""Checkable statements (SPEC section 3): the registry, the certified solves and the SPEC checks.

The modules import one way, so there is no loop:

* :mod:`.registry` -- :class:`Part`, :func:`combine`, :class:`CheckResult`, :class:`Statement`
  and the registry :data:`STATEMENTS` (imports no statement);
* :mod:`.solving` -- :func:`certified_solve`, the solver choice and its tolerance;
* :mod:`.spec` -- the SPEC checks, each registering itself with the :func:`statement`
  decorator; it imports the two modules above.

Importing this package imports the registry and then the statement modules, so every SPEC
statement is registered once the package is loaded. A user claim registers itself the same way
(see :mod:`.registry`).
"""

from .registry import (
    FP_TOL,
    STATEMENTS,
    CheckResult,
    Part,
    Statement,
    combine,
    fp_tol,
    get_statement,
    register_statement,
    statement,
    unregister_statement,
)
from .solving import SOLVER_TOL, certified_solve, preferred_solver, solver_tolerance, use_solver

__all__ = [
    "CheckResult", "Part", "Statement", "STATEMENTS", "combine", "register_statement",
    "unregister_statement", "statement", "get_statement", "fp_tol", "FP_TOL",
    "preferred_solver", "use_solver", "certified_solve", "solver_tolerance", "SOLVER_TOL",
]

# the statement modules last: each registers its statements in STATEMENTS when imported
from . import spec  # noqa: E402,F401
