r"""The registry of exact solvers of the robust game, and the one calling convention they share.

Every member is a function

.. code-block:: text

    solver(problem, *, tol, max_iter, verbose, **own_options) -> SolveResult

``tol``
    the certificate tolerance: the returned gate and mixture satisfy
    :math:`\max_{\lambda'\in\Lambda} L(g, \lambda') - \phi(\lambda) \le` ``tol``, recomputed by
    :func:`robust_gates.theory.certify`, or the solver raises
    :class:`~robust_gates.theory.solvers.result.CertificateError`;
``max_iter``
    the solver's iteration limit (its own unit: Newton steps, interior-point iterations);
``verbose``
    progress or log output.

A member declares itself next to its code with :func:`register_solver`, which checks that it
takes these three options as keywords; a second member under a taken name is an error. The
defaults (``tol`` in particular) are each solver's own.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

from .result import SolveResult

__all__ = ["SOLVERS", "SOLVER_OPTIONS", "register_solver"]

#: name -> solver; filled by :func:`register_solver` as the solver modules are imported
SOLVERS: dict[str, Callable[..., SolveResult]] = {}
#: keyword options every registered solver accepts
SOLVER_OPTIONS = ("tol", "max_iter", "verbose")


def register_solver(name: str) -> Callable[[Callable[..., SolveResult]], Callable[..., SolveResult]]:
    """Decorator adding a solver to :data:`SOLVERS` under ``name``.

    Raises ``ValueError`` if ``name`` is taken and ``TypeError`` if the function does not take
    every option of :data:`SOLVER_OPTIONS` as a keyword argument with a default.
    """

    def add(fn: Callable[..., SolveResult]) -> Callable[..., SolveResult]:
        if name in SOLVERS:
            raise ValueError(f"a solver named {name!r} is already registered ({SOLVERS[name].__qualname__})")
        params = inspect.signature(fn).parameters
        keyword = (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
        missing = [o for o in SOLVER_OPTIONS
                   if o not in params or params[o].kind not in keyword
                   or params[o].default is inspect.Parameter.empty]
        if missing:
            raise TypeError(f"solver {name!r} must accept the keyword options {list(SOLVER_OPTIONS)} "
                            f"with defaults; {missing} missing")
        SOLVERS[name] = fn
        return fn

    return add
