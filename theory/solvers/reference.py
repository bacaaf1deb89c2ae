r"""Reference solver (SPEC algorithm 1): the robust game as one exponential-cone program.

Working in model space (the envelope fact, SPEC section 1), with
:math:`\ell_k(q) = c_k - \sum_{x \in S} D_k(x) \log q(x)` (``c_k = -H(D_k)`` for ``"kl"``,
``0`` for ``"cross_entropy"``; ``S`` the union of the domains' supports), it solves

.. math::
    V(\Lambda) = \min_{q,\,\mu,\,y} \; \mu + b^\top y \quad \text{s.t.} \quad
    \ell(q) \le \mu \mathbf 1 + A^\top y,\; y \ge 0,\; l \le q \le u,\; \mathbf 1^\top q = 1,

which is :math:`\min_q \max_{\lambda \in \Lambda} \lambda^\top \ell(q)` with the inner LP
:math:`\max\{\lambda^\top \ell : \lambda \ge 0, \mathbf 1^\top\lambda = 1, A\lambda \le b\}`
replaced by its LP dual (boxes and polytopes). For the simplex the constraint is
:math:`\ell(q) \le \mu \mathbf 1`; for a hull with vertex matrix ``V`` it is
:math:`V \ell(q) \le \mu \mathbf 1`. The multipliers of the coupling constraint form the
least-favorable mixture :math:`\lambda^*` (times ``V`` for a hull).

Glossary: ``D`` = domains :math:`D_k`, ``P`` = experts :math:`P_k`, ``l``/``u`` = envelope,
``Lambda`` = :math:`\Lambda`, ``A``/``b`` = its inequalities, ``payoff`` = :math:`L` or CE.
"""

from __future__ import annotations

import time
import warnings

import cvxpy as cp
import numpy as np

from ..certificate import certify
from ..gates import gate_from_model, gated_model, repair_envelope
from ..lambda_sets import MEMBERSHIP_TOL, Hull, Simplex
from ..problem import RobustProblem
from .result import CertificateError, SolverError, SolveResult

__all__ = ["solve_reference", "CONIC_SOLVERS"]

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


def worst_case_epigraph(loss, Lam):
    """``max_{lam in Lam} lam . loss`` as a cvxpy epigraph (the LP dual of the inner max).

    Returns ``(coupling, objective, weights)``: minimizing ``objective`` subject to the
    ``coupling`` constraint equals the worst case; the multipliers of ``coupling`` are the
    maximizing mixture (times ``weights``, the hull's points, when not ``None``).
    """
    mu = cp.Variable()
    if isinstance(Lam, Simplex):
        coupling = loss <= mu
        objective = mu
        weights = None
    elif isinstance(Lam, Hull):
        weights = Lam.points
        coupling = weights @ loss <= mu
        objective = mu
    else:
        A, b = Lam.inequalities()
        y = cp.Variable(A.shape[0], nonneg=True)
        coupling = loss <= mu + A.T @ y
        objective = mu + b @ y
        weights = None
    return coupling, objective, weights


def _build(problem: RobustProblem):
    D = problem.D
    S = np.flatnonzero(D.max(axis=0) > 0)
    q = cp.Variable(problem.n)
    const = -problem.entropies if problem.payoff == "kl" else np.zeros(problem.K)
    loss = const - D[:, S] @ cp.log(q[S])
    cons = [q >= problem.l, q <= problem.u, cp.sum(q) == 1]
    coupling, objective, weights = worst_case_epigraph(loss, problem.Lambda)
    prob = cp.Problem(cp.Minimize(objective), [*cons, coupling])
    return prob, q, coupling, weights


def solve_reference(
    problem: RobustProblem,
    *,
    solvers: tuple[str, ...] | None = None,
    certify_tol: float = 1e-6,
    verbose: bool = False,
) -> SolveResult:
    """Solve the robust game with cvxpy and certify the answer independently.

    Tries the installed conic solvers in order (``CLARABEL``, ``ECOS``, ``SCS`` by default),
    each first with tight tolerances, until one reports ``optimal``; an ``optimal_inaccurate``
    or failed status moves on to the next attempt. Raises :class:`SolverError` if none
    succeeds, and :class:`CertificateError` if the independently recomputed gap exceeds
    ``certify_tol``.
    """
    start = time.perf_counter()
    installed = set(cp.installed_solvers())
    order = [s for s in (solvers or CONIC_SOLVERS) if s in installed]
    if not order:
        raise SolverError(f"none of the conic solvers {solvers or CONIC_SOLVERS} is installed")
    failures = []
    attempts = [(name, opts) for name in order for opts in _ATTEMPTS.get(name, ({},))]
    for name, opts in attempts:
        prob, q, coupling, weights = _build(problem)
        try:
            with warnings.catch_warnings():  # statuses are checked below, not warned about
                warnings.simplefilter("ignore", UserWarning)
                prob.solve(solver=name, verbose=verbose, **opts)
        except (cp.error.SolverError, ArithmeticError, ValueError) as exc:
            failures.append(f"{name}: {exc}")
            continue
        if prob.status not in _OK or q.value is None or coupling.dual_value is None:
            failures.append(f"{name}{' (tight)' if opts else ''}: status {prob.status}")
            continue
        break
    else:
        raise SolverError("the reference solver failed: " + "; ".join(failures))

    model = repair_envelope(q.value, problem.l, problem.u)
    gate = gate_from_model(model, problem.P)
    dual = np.asarray(coupling.dual_value, dtype=np.float64).ravel()
    lam = np.clip(weights.T @ dual if weights is not None else dual, 0.0, None)
    if lam.sum() <= 0:
        raise SolverError(f"{name} returned zero multipliers; cannot recover lam*")
    lam = lam / lam.sum()
    if not problem.Lambda.contains(lam, tol=MEMBERSHIP_TOL):
        lam = problem.Lambda.project(lam)
    cert = certify(problem, gate, lam)
    if not cert.gap <= certify_tol:
        raise CertificateError(
            f"{name} reported optimal but the certificate gap is {cert.gap:.3e} > {certify_tol:g}"
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
