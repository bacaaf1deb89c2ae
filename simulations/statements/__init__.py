"""Checkable statements (SPEC section 3): the registry, the certified solves and the SPEC checks.

The modules import one way, so there is no loop:

* :mod:`.registry` -- :class:`Part`, :func:`combine`, :class:`CheckResult`, :class:`Statement`
  and the registry :data:`STATEMENTS` (imports no statement);
* :mod:`.solving` -- :func:`certified_solve`, the solver choice and its tolerance;
* :mod:`.probes` -- instance families, probe points and derived games the checks share;
* the SPEC checks, one module per group of paper sections, each check registering itself with
  the :func:`statement` decorator: :mod:`.existence` (L0, P1, T1, T1-M),
  :mod:`.specialization` (T2, T3, LF), :mod:`.modularity` (MB, MA, SC) and
  :mod:`.decomposition` (I2, T3-G, PoM); :mod:`.mutants` holds the false variants each
  statement registers next to its check (SPEC §6). They import the
  modules above and nothing imports them but this package.

Importing this package imports the registry and then the statement modules (in the order of
the paper, which is the order of :data:`STATEMENTS`), so every SPEC statement is registered
once the package is loaded. A user claim registers itself the same way
(see :mod:`.registry`).
"""

from .probes import (
    ALL_FAMILIES,
    NESTED_FAMILIES,
    PERFECT_FAMILIES,
    g1_residual,
    points_in,
    random_G1_gates,
)
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
    "ALL_FAMILIES", "PERFECT_FAMILIES", "NESTED_FAMILIES", "points_in", "random_G1_gates", "g1_residual",
    "SUPPORT_TOL", "CONST_GATE_TOL",
]

# the statement modules last, in the paper's order (which becomes the order of STATEMENTS):
# each registers its statements when imported
from . import existence, specialization, modularity, decomposition  # noqa: E402,F401,I001
from .specialization import CONST_GATE_TOL, SUPPORT_TOL  # noqa: E402
from . import sequences  # noqa: E402,F401  (JG, GB2)
from . import measured  # noqa: E402,F401  (DH, GB, SD: measured statements)
