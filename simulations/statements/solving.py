r"""Certified solves for the checks: which solver, to what tolerance, memoized by content.

Every check obtains the games it compares through :func:`certified_solve`, which brackets the
value, ``res.value - res.gap <= V(Lambda) <= res.value``, with ``res.gap`` at most the
tolerance :data:`SOLVER_TOL` of the solver that answered (:func:`solver_tolerance`). The solver
is :func:`preferred_solver`: ``"fast"`` unless :func:`use_solver` chose another; if the fast
solver fails, the reference solver answers instead (``res.solver`` records which one did).
The choice is process-wide state, so the sweeps pass it on to their worker processes.

:func:`tighter` re-solves at ``TIGHTER`` times the usual tolerance (and asks the side programs
of :mod:`robust_gates.theory.programs` for the same): a check whose certified intervals could
not decide a part (outcome ``"inconclusive"``,
:mod:`robust_gates.simulations.statements.registry`)
is run once more inside it.
If a solver cannot reach the tighter tolerance, the usual one answers, so the part stays
inconclusive rather than failing for a reason that is not the statement's.
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from contextlib import contextmanager

import numpy as np

from robust_gates.theory import SOLVERS, RobustProblem, SolverError, SolveResult, default_solver, solve

__all__ = ["SOLVER_TOL", "TIGHTER", "certified_solve", "preferred_solver", "solver_tolerance", "use_solver",
           "tighter", "tolerance_scale"]

#: certificate tolerance each solver is asked to reach (the ``tol`` of its call)
SOLVER_TOL = {"fast": 1e-9, "reference": 1e-6}

_CHOICE = {"solver": "auto"}
#: factor applied to :data:`SOLVER_TOL` inside :func:`tighter`
TIGHTER = 1e-2
#: factor on the fast solver's tolerance for its second try when it fails (:func:`_fallback`)
LOOSER = 10.0
_SCALE = {"factor": 1.0}


@contextmanager
def tighter(factor: float = TIGHTER):
    """Inside this block every :func:`certified_solve` asks for ``factor`` times the usual
    tolerance (results are cached per tolerance). Restored on exit, also on an exception."""
    if not 0 < factor <= 1:
        raise ValueError(f"a tighter tolerance needs a factor in (0, 1]; got {factor}")
    old = _SCALE["factor"]
    _SCALE["factor"] = old * factor
    try:
        yield
    finally:
        _SCALE["factor"] = old


def tolerance_scale() -> float:
    """The factor on the usual tolerances now in force (1 outside :func:`tighter`)."""
    return _SCALE["factor"]


def use_solver(name: str = "auto") -> None:
    """Choose the solver of :func:`certified_solve`: ``"auto"`` (fast when registered), or a
    name in :data:`robust_gates.theory.SOLVERS`. Process-wide; the sweeps pass it to their workers."""
    if name != "auto" and name not in SOLVERS:
        raise ValueError(f"unknown solver {name!r}; choose 'auto' or one of {sorted(SOLVERS)}")
    _CHOICE["solver"] = name
    _CACHE.clear()


def preferred_solver() -> str:
    """``"fast"`` when it is registered in :data:`robust_gates.theory.SOLVERS`, else ``"reference"``
    (unless :func:`use_solver` chose one)."""
    if _CHOICE["solver"] != "auto":
        return _CHOICE["solver"]
    return default_solver()


def solver_tolerance(res: SolveResult) -> float:
    """The certificate tolerance the solver that produced ``res`` was held to (the largest
    certificate gap it may return)."""
    return max(SOLVER_TOL.get(res.solver, SOLVER_TOL["reference"]) * _SCALE["factor"], float(res.gap))


_CACHE: OrderedDict[str, SolveResult] = OrderedDict()
_CACHE_SIZE = 256


def _key(problem: RobustProblem) -> str:
    h = hashlib.sha1()
    h.update(np.ascontiguousarray(problem.D).tobytes())
    h.update(np.ascontiguousarray(problem.P).tobytes())
    h.update(json.dumps([problem.Lambda.kind, problem.Lambda.to_dict(), problem.payoff,
                         problem.D.shape, _SCALE["factor"]]).encode())
    return h.hexdigest()


def certified_solve(problem: RobustProblem) -> SolveResult:
    """Solve with :func:`preferred_solver` at :data:`SOLVER_TOL` (certificate checked by the
    solver); if the fast solver fails, fall back to the reference solver (``res.solver`` says
    which one answered). Results are memoized by content, so checks sharing a game share it."""
    key = _key(problem)
    if key in _CACHE:
        _CACHE.move_to_end(key)
        return _CACHE[key]
    name = preferred_solver()
    factor = _SCALE["factor"]
    try:
        res = _solve_with(problem, name, factor)
    except SolverError:
        if factor < 1:  # the tighter tolerance is out of reach: the usual solve answers
            res = _usual(problem, name)
        elif name == "reference":
            raise
        else:
            res = _fallback(problem, name)
    _CACHE[key] = res
    if len(_CACHE) > _CACHE_SIZE:
        _CACHE.popitem(last=False)
    return res


def _usual(problem: RobustProblem, name: str) -> SolveResult:
    """The solve outside :func:`tighter`: ``name`` at its usual tolerance, else the reference."""
    try:
        return _solve_with(problem, name, 1.0)
    except SolverError:
        if name == "reference":
            raise
        return _fallback(problem, name)


def _fallback(problem: RobustProblem, name: str) -> SolveResult:
    """When ``name`` (the fast solver) fails at its tolerance: the reference solve, or ``name``
    at ``LOOSER`` times its tolerance, whichever certifies the smaller gap. The fast solver
    can stall a little above its internal target (``stalled at certificate gap 5.0e-10 (tol
    1e-9)`` on ``perfect_face`` seed 0 index 1587, where the reference solver's gap is 1.7e-9):
    its stalled pair is still certified, and tighter than the reference's."""
    out, errors = [], []
    for solver, factor in (("reference", 1.0), (name, LOOSER)):
        try:
            out.append(_solve_with(problem, solver, factor))
        except SolverError as exc:
            errors.append(exc)
    if not out:
        raise errors[0]
    return min(out, key=lambda r: float(r.gap))


#: a certificate gap below ``-NEGATIVE_GAP * max(1, |value|)`` is not rounding: the pair is inconsistent
NEGATIVE_GAP = 1e-12


def _solve_with(problem: RobustProblem, name: str, factor: float = 1.0) -> SolveResult:
    """One solve; a certificate gap that is negative beyond rounding raises
    :class:`robust_gates.theory.SolverError` (so the reference solver answers instead): a
    primal value below the dual one proves the pair inconsistent (the fast solver has returned a
    mixture outside a polytope Lambda, whose dual value then exceeds ``V``: a gap of
    ``-1.7e-9`` on ``perfect_polytope`` seed 0 index 684)."""
    res = solve(problem, solver=name, tol=SOLVER_TOL.get(name, SOLVER_TOL["fast"]) * factor)
    if res.gap < -NEGATIVE_GAP * max(1.0, abs(float(res.value))):
        raise SolverError(f"{name} solver: negative certificate gap {res.gap:.3g} (inconsistent pair)")
    return res

