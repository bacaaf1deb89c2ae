r"""The default solver, ``"auto"``: the fast solver, cross-checked by the reference solver.

``auto`` runs :func:`~robust_gates.theory.solvers.fast.solve_fast` and returns its certified
result. Where the reference (conic) solver can run, i.e. the problem has at most
``CROSS_CHECK_SIZE`` entries ``K * n``, it solves the same game independently and the two must
agree by weak duality: each solver's lower bound :math:`\phi(\lambda)` is at most the other's
worst-case value :math:`\max_\Lambda L(g, \cdot)`, up to the tolerance. A disagreement raises
:class:`SolverError` (one of the two is wrong, and no number is returned). A reference solver
that fails on a problem the fast solver certifies (e.g. experts with entries of 1e-300, below
the conic solver's floor) is not an error: the answer stands on its own certificate and the
``backend`` field says the cross-check could not run. When the fast solver fails, the reference
solver's certified result is returned instead.

The options are the shared ones (:mod:`robust_gates.theory.solvers.registry`): ``tol`` is passed
to both solvers.
"""

from __future__ import annotations

import dataclasses
import time

from ..problem import RobustProblem
from .fast import solve_fast
from .reference import solve_reference
from .registry import register_solver
from .result import SolverError, SolveResult

__all__ = ["solve_auto", "CROSS_CHECK_SIZE"]

#: largest ``K * n`` for which the reference solver is run as a cross-check
CROSS_CHECK_SIZE = 20_000


@register_solver("auto")
def solve_auto(problem: RobustProblem, *, tol: float = 1e-9, max_iter: int = 200,
               verbose: bool = False) -> SolveResult:
    """Fast solver with an independent reference cross-check where the reference can run
    (``seconds`` counts both solves)."""
    start = time.perf_counter()

    def done(res: SolveResult, backend: str) -> SolveResult:
        return dataclasses.replace(res, solver="auto", backend=backend,
                                   seconds=time.perf_counter() - start)

    try:
        fast = solve_fast(problem, tol=tol, max_iter=max_iter, verbose=verbose)
    except SolverError as fast_error:
        try:  # the same iteration limit: a caller's max_iter bounds every solver auto runs
            ref = solve_reference(problem, tol=max(tol, 1e-6), max_iter=max_iter, verbose=verbose)
        except SolverError as ref_error:
            raise SolverError(f"both solvers failed: fast: {fast_error}; reference: {ref_error}") from None
        return done(ref, f"reference {ref.backend} (fast solver failed: {fast_error})")
    if problem.K * problem.n > CROSS_CHECK_SIZE:
        return done(fast, f"fast {fast.backend}; no cross-check "
                          f"(K*n = {problem.K * problem.n} > {CROSS_CHECK_SIZE})")
    try:
        ref = solve_reference(problem, tol=max(tol, 1e-6), verbose=verbose)
    except SolverError as ref_error:
        return done(fast, f"fast {fast.backend}; reference could not run ({ref_error})")
    slack = max(tol, 1e-6) * max(1.0, abs(fast.value))
    if ref.lower_bound > fast.value + slack or fast.lower_bound > ref.value + slack:
        raise SolverError(
            f"the fast and reference solvers disagree: fast [{fast.lower_bound:.12g}, {fast.value:.12g}], "
            f"reference [{ref.lower_bound:.12g}, {ref.value:.12g}]; weak duality fails between them"
        )
    return done(fast, f"fast {fast.backend}; cross-checked by reference ({ref.backend}): "
                      f"values differ by {abs(fast.value - ref.value):.1e}")
