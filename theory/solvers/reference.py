r"""Reference solver (SPEC algorithm 1): the robust game as one exponential-cone program.

Working in model space (the envelope fact, SPEC section 1), with
:math:`\ell_k(q) = c_k - \sum_{x \in S} D_k(x) \log q(x)` (``c_k = -H(D_k)`` for ``"kl"``,
``0`` for ``"cross_entropy"``; ``S`` the union of the domains' supports), it solves

.. math::
    V(\Lambda) = \min_{q,\,\mu,\,y} \; \mu + b^\top y \quad \text{s.t.} \quad
    \ell(q) \le \mu \mathbf 1 + A^\top y,\; y \ge 0,\; l \le q \le u,\; \mathbf 1^\top q = 1,

which is :math:`\min_q \max_{\lambda \in \Lambda} \lambda^\top \ell(q)` with the inner LP
replaced by its LP dual. The LP is written in the parametrization that ``Lambda`` provides
(:meth:`robust_gates.theory.lambda_sets.LambdaSet.parametrization`),
:math:`\Lambda = \{Bx : x \in \Delta_m,\ Gx \le h\}`:

.. math::
    \max_{x \in \Delta_m,\ Gx \le h} x^\top B^\top \ell
    \;=\; \min_{\mu,\ y \ge 0} \{\mu + h^\top y : B^\top\ell \le \mu\mathbf 1 + G^\top y\},

so the program above has ``A = G``, ``b = h`` and :math:`B^\top \ell(q)` in place of
:math:`\ell(q)` (for a box or polytope ``B`` is the identity and ``G`` its inequalities; for the
simplex there is no ``y``; for a hull of points ``V`` (rows), :math:`B = V^\top`). The
multipliers :math:`x^*` of the coupling constraint give the least-favorable mixture
:math:`\lambda^* = Bx^*`.

Options (shared by every registered solver): ``tol`` is the certificate tolerance the
independently recomputed gap must meet; ``max_iter`` caps the conic solver's iterations
(``None``: each backend's own limit); ``verbose`` prints the backend's log.

Glossary: ``D`` = domains :math:`D_k`, ``P`` = experts :math:`P_k`, ``l``/``u`` = envelope,
``Lambda`` = :math:`\Lambda`, ``B``/``G``/``h`` = its parametrization, ``payoff`` = :math:`L` or CE.
"""

from __future__ import annotations

import time
import warnings
from typing import NamedTuple

import cvxpy as cp
import numpy as np

from ..certificate import certify
from ..gates import gate_from_model, gated_model, repair_envelope
from ..lambda_sets import LambdaSet
from ..problem import RobustProblem
from .registry import register_solver
from .result import CertificateError, SolverError, SolveResult

#: membership accuracy of the returned lam (far below the 1e-9 accepted for inputs)
EXACT_MEMBERSHIP_TOL = 1e-12

__all__ = ["solve_reference", "CONIC_SOLVERS", "Epigraph", "worst_case_epigraph", "lambda_constraints"]

CONIC_SOLVERS = ("CLARABEL", "ECOS", "SCS")
_OK = (cp.OPTIMAL,)
#: settings tried per solver, tightest first (Clarabel's defaults are 1e-8; tighter settings make
#: the multipliers, hence lam*, accurate to about 1e-7 on well-posed instances)
_ATTEMPTS = {
    "CLARABEL": ({"tol_gap_abs": 1e-10, "tol_gap_rel": 1e-10, "tol_feas": 1e-10, "tol_ktratio": 1e-8},
                 {}),
    "ECOS": ({"abstol": 1e-10, "reltol": 1e-10, "feastol": 1e-10}, {}),
    "SCS": ({"eps_abs": 1e-9, "eps_rel": 1e-9, "max_iters": 200_000},),
}
#: each backend's name for its iteration limit
_MAX_ITER_KEY = {"CLARABEL": "max_iter", "ECOS": "max_iters", "SCS": "max_iters"}


class Epigraph(NamedTuple):
    """``max_{lam in Lambda} <lam, loss>`` as a cvxpy epigraph: minimizing ``objective`` subject
    to ``coupling`` equals the worst case; ``B`` is the parametrization's map (``None``: identity)
    that turns the multipliers of ``coupling`` into a maximizing mixture."""

    coupling: cp.Constraint
    objective: cp.Expression
    B: np.ndarray | None

    def mixture(self) -> np.ndarray:
        """The maximizing mixture ``B x*`` from the solved multipliers ``x*`` (not normalized)."""
        x = np.asarray(self.coupling.dual_value, dtype=np.float64).ravel()
        return x if self.B is None else self.B @ x


def worst_case_epigraph(loss, Lam: LambdaSet) -> Epigraph:
    """``max_{lam in Lam} lam . loss`` as a cvxpy epigraph: the LP dual of the module docstring,
    ``mu + h^T y`` subject to ``B^T loss <= mu + G^T y``, ``y >= 0``."""
    par = Lam.parametrization()
    mu = cp.Variable()
    lhs = loss if par.B is None else par.B.T @ loss
    if par.whole_simplex:
        return Epigraph(lhs <= mu, mu, par.B)
    y = cp.Variable(par.G.shape[0], nonneg=True)
    return Epigraph(lhs <= mu + par.G.T @ y, mu + par.h @ y, par.B)


def lambda_constraints(lam: cp.Variable, Lam: LambdaSet) -> list[cp.Constraint]:
    """cvxpy constraints stating ``lam in Lam`` for a non-negative ``K``-vector variable ``lam``
    (``cp.Variable(K, nonneg=True)``): ``sum lam = 1`` and ``lam = B x`` with ``x`` in the simplex
    and ``G x <= h`` (:class:`~robust_gates.theory.lambda_sets.Parametrization`; ``x = lam`` when
    ``B`` is the identity)."""
    par = Lam.parametrization()
    cons = [cp.sum(lam) == 1]
    x = lam
    if par.B is not None:
        x = cp.Variable(par.m, nonneg=True)
        cons += [cp.sum(x) == 1, lam == par.B @ x]
    if not par.whole_simplex:
        cons.append(par.G @ x <= par.h)
    return cons


def _build(problem: RobustProblem):
    D = problem.D
    S = np.flatnonzero(D.max(axis=0) > 0)
    q = cp.Variable(problem.n)
    const = -problem.entropies if problem.payoff == "kl" else np.zeros(problem.K)
    loss = const - D[:, S] @ cp.log(q[S])
    cons = [q >= problem.l, q <= problem.u, cp.sum(q) == 1]
    epigraph = worst_case_epigraph(loss, problem.Lambda)
    prob = cp.Problem(cp.Minimize(epigraph.objective), [*cons, epigraph.coupling])
    return prob, q, epigraph


def _check_options(tol: float, max_iter: int | None) -> None:
    if not (isinstance(tol, (int, float)) and np.isfinite(tol) and tol > 0):
        raise ValueError(f"tol must be a positive number; got {tol!r}")
    if max_iter is not None and (int(max_iter) != max_iter or max_iter < 1):
        raise ValueError(f"max_iter must be a positive integer or None; got {max_iter!r}")


@register_solver("reference")
def solve_reference(
    problem: RobustProblem,
    *,
    tol: float = 1e-6,
    max_iter: int | None = None,
    verbose: bool = False,
    backends: tuple[str, ...] | None = None,
) -> SolveResult:
    """Solve the robust game with cvxpy and certify the answer independently (SPEC algorithm 1).

    Tries the installed conic ``backends`` in order (``CLARABEL``, ``ECOS``, ``SCS`` by default),
    each first with tight tolerances, until one reports ``optimal``; an ``optimal_inaccurate``
    or failed status moves on to the next attempt. ``tol``, ``max_iter`` and ``verbose`` as in the
    module docstring. Raises :class:`SolverError` if no attempt succeeds, and
    :class:`CertificateError` if the independently recomputed gap exceeds ``tol``.
    """
    _check_options(tol, max_iter)
    start = time.perf_counter()
    installed = set(cp.installed_solvers())
    order = [s for s in (backends or CONIC_SOLVERS) if s in installed]
    if not order:
        raise SolverError(f"none of the conic solvers {backends or CONIC_SOLVERS} is installed")
    failures = []
    attempts = [(name, opts) for name in order for opts in _ATTEMPTS.get(name, ({},))]
    for name, opts in attempts:
        prob, q, epigraph = _build(problem)
        limit = {} if max_iter is None or name not in _MAX_ITER_KEY else {_MAX_ITER_KEY[name]: int(max_iter)}
        try:
            with warnings.catch_warnings():  # statuses are checked below, not warned about
                warnings.simplefilter("ignore", UserWarning)
                prob.solve(solver=name, verbose=verbose, **{**opts, **limit})
        except (cp.error.SolverError, ArithmeticError, ValueError) as exc:
            failures.append(f"{name}: {exc}")
            continue
        if prob.status not in _OK or q.value is None or epigraph.coupling.dual_value is None:
            failures.append(f"{name}{' (tight)' if opts else ''}: status {prob.status}")
            continue
        break
    else:
        raise SolverError("the reference solver failed: " + "; ".join(failures))

    model = repair_envelope(q.value, problem.l, problem.u)
    gate = gate_from_model(model, problem.P)
    lam = np.clip(epigraph.mixture(), 0.0, None)
    if lam.sum() <= 0:
        raise SolverError(f"{name} returned zero multipliers; cannot recover lam*")
    lam = lam / lam.sum()
    # The conic solver's multipliers may leave Lambda by its own accuracy (e.g. 2e-11 on a
    # coordinate that box_hi pins to 0). phi(lam) is a lower bound only at a point of Lambda,
    # so anything outside it by more than rounding is projected back before certifying.
    if not problem.Lambda.contains(lam, tol=EXACT_MEMBERSHIP_TOL):
        lam = problem.Lambda.project(lam)
    cert = certify(problem, gate, lam)
    if not cert.gap <= tol:
        raise CertificateError(
            f"{name} reported optimal but the certificate gap is {cert.gap:.3e} > {tol:g}"
        )
    iters = prob.solver_stats.num_iters if prob.solver_stats is not None else 0
    return SolveResult(
        value=cert.primal,
        gate=gate,
        model=gated_model(gate, problem.P),
        lam=lam,
        gap=cert.gap,
        lower_bound=cert.dual,
        status="optimal",
        solver="reference",
        payoff=problem.payoff,
        iterations=int(iters or 0),
        seconds=time.perf_counter() - start,
        backend=name,
    )
