r"""Exact side programs: the best response with its own certificate, the smallest KL from a
mixture of the domains to a target, and the best single model over all distributions.

These are the exact quantities the SPEC section 3 checks compare against (P1, T1-M, T3, MB)
and the figures and demos plot; they are solved independently of the game solvers
(:mod:`robust_gates.theory.solvers`), so a check built on them is not the solver checking itself.

**Certified best response** (:func:`best_response_certified`, SPEC P1 and T1-M). For a
mixture :math:`d = D_\lambda` and the envelope set :math:`Q = \{q : l \le q \le u,\
\mathbf 1^\top q = 1\}`,

.. math:: \min_{q \in Q} f(q), \qquad f(q) = -\sum_x d(x) \log q(x),

is solved exactly by water-filling, :math:`q = \mathrm{clip}(t\, d, l, u)`
(:func:`robust_gates.theory.best_response.water_fill`). Its certificate does not trust the
water-filling: since ``f`` is convex, the Frank-Wolfe gap

.. math:: \mathrm{fw} = \langle \nabla f(q),\, q - q_{FW} \rangle \;\ge\; f(q) - \min_Q f,
          \qquad q_{FW} = \arg\min_{q' \in Q} \langle \nabla f(q), q' \rangle,

with :math:`\nabla f(q)_x = -d(x)/q(x)` on :math:`\mathrm{supp}\, d` (0 elsewhere), bounds
how far ``q`` is from optimal. The linear minimization over ``Q`` is a fractional knapsack:
start at ``l`` and pour the remaining mass :math:`1 - \mathbf 1^\top l` into the coordinates
of smallest gradient first, each up to ``u``
(:func:`robust_gates.theory.lambda_sets.capped_simplex_argmax` of the negated gradient, the same
greedy step as the linear maximization over a box of mixtures).

**Smallest KL over Lambda** (:func:`min_kl_over_lambda`, SPEC T3). For a target distribution
``r`` with support :math:`S = \{x : r(x) > 0\}`,

.. math:: \min_{\lambda \in \Lambda} \sum_{x \in S} D_\lambda(x) \log \frac{D_\lambda(x)}{r(x)},
          \qquad D_\lambda = \lambda^\top D,

a convex exponential-cone program (``cvxpy.rel_entr``, solved by Clarabel) with ``lambda``
constrained to :math:`\Lambda` through the parametrization the set provides,
:math:`\lambda = Bx`, :math:`x \in \Delta_m`, :math:`Gx \le h`
(:meth:`robust_gates.theory.lambda_sets.LambdaSet.parametrization`;
:func:`robust_gates.theory.solvers.reference.lambda_constraints`): for a box or a polytope
:math:`\lambda` itself with :math:`A\lambda \le b`, for a hull of the rows of ``V`` the weights
:math:`\lambda = V^\top w`.
When every :math:`D_\lambda` puts its mass on ``S`` the objective is :math:`KL(D_\lambda\|r)`;
the value returned is recomputed as the exact :math:`KL(D_\lambda\|r)` at the solution (so it
is ``inf`` if that solution puts mass outside ``S``). Certificate: the objective is convex in
``lambda`` with gradient :math:`\partial_k = \sum_x D_k(x) (\log(D_\lambda(x)/r(x)) + 1)`, so
the Frank-Wolfe gap :math:`\mathrm{fw} = \nabla^\top\lambda + \max_{\lambda' \in \Lambda}
(-\nabla)^\top\lambda'` gives :math:`\mathrm{value} - \mathrm{fw} \le \min \le \mathrm{value}`.

**Best single model** (:func:`minimax_all_distributions`, SPEC MB). Over *all* distributions
on the ``n`` points (no expert envelope),

.. math:: \min_{q \in \Delta_n} \max_{\lambda \in \Lambda} \sum_k \lambda_k\, KL(D_k \| q),
          \qquad KL(D_k\|q) = -H(D_k) - \sum_{x \in S} D_k(x) \log q(x),

with ``S`` the union of the domains' supports, solved as one exponential-cone program with the
inner maximum replaced by its LP dual, exactly as in the reference solver
(:func:`robust_gates.theory.solvers.reference.worst_case_epigraph`) but with :math:`q \ge 0` in
place of :math:`l \le q \le u`.

A program that does not end optimal raises :class:`robust_gates.theory.SolverError`.

Glossary: ``D`` = domains :math:`D_k` (rows, ``K x n``), ``d`` = one mixture :math:`D_\lambda`,
``l``/``u`` = envelope, ``r`` = target distribution, ``Lam`` = :math:`\Lambda` (``B``/``G``/``h``
its parametrization), ``lam`` = :math:`\lambda`, ``fw`` = Frank-Wolfe gap.
"""

from __future__ import annotations

from typing import NamedTuple

import cvxpy as cp
import numpy as np
from scipy.special import rel_entr

from .best_response import water_fill
from .lambda_sets import LambdaSet, capped_simplex_argmax
from .solvers.reference import lambda_constraints, worst_case_epigraph
from .solvers.result import SolverError

__all__ = [
    "CertifiedBestResponse",
    "MinKL",
    "best_response_certified",
    "min_kl_over_lambda",
    "minimax_all_distributions",
]


class CertifiedBestResponse(NamedTuple):
    """The best response ``q`` in ``Q`` and its Frank-Wolfe gap ``fw >= f(q) - min_Q f``."""

    q: np.ndarray
    fw: float


class MinKL(NamedTuple):
    """``value = KL(D_lam || r)`` at the minimizer ``lam``; ``fw`` certifies
    ``value - fw <= min <= value``."""

    value: float
    lam: np.ndarray
    fw: float


def best_response_certified(d: np.ndarray, l: np.ndarray, u: np.ndarray) -> CertifiedBestResponse:
    r"""``q = argmin_{q in Q} -sum_x d(x) log q(x)`` by water-filling, with its Frank-Wolfe gap
    :math:`\langle \nabla f(q), q - q_{FW}\rangle \ge f(q) - \min_Q f` (see the module doc)."""
    q = water_fill(d, l, u).q
    on = d > 0
    grad = np.zeros_like(q)
    grad[on] = -d[on] / q[on]
    fw = float(grad @ (q - capped_simplex_argmax(-grad, l, u)))  # argmin_Q <grad, .>
    return CertifiedBestResponse(q, max(fw, 0.0))


def min_kl_over_lambda(D: np.ndarray, r: np.ndarray, Lam: LambdaSet) -> MinKL:
    r"""``min_{lam in Lambda} KL(D_lam || r)`` by an exponential-cone program (see the module
    doc), returned as ``(value, lam, fw)`` with ``value - fw <= min <= value``."""
    K, n = D.shape
    lam = cp.Variable(K, nonneg=True)
    cons = lambda_constraints(lam, Lam)
    S = r > 0
    prob = cp.Problem(cp.Minimize(cp.sum(cp.rel_entr(D[:, S].T @ lam, r[S]))), cons)
    try:
        prob.solve(solver="CLARABEL")
    except cp.error.SolverError as exc:
        raise SolverError(f"min KL over Lambda failed: {exc}") from None
    if prob.status != cp.OPTIMAL or lam.value is None:
        raise SolverError(f"min KL over Lambda ended with status {prob.status}")
    x = np.clip(lam.value, 0.0, None)
    x /= x.sum()
    if not Lam.contains(x):
        x = Lam.project(x)
    m = x @ D
    val = float(rel_entr(m, r).sum())
    with np.errstate(divide="ignore"):
        logs = np.where(m > 0, np.log(np.where(m > 0, m, 1.0) / np.where(r > 0, r, 1.0)) + 1.0, -1e300)
    grad = D @ logs
    fw = float(grad @ x + Lam.maximize_linear(-grad)[0])
    return MinKL(val, x, max(fw, 0.0))


def minimax_all_distributions(D: np.ndarray, Lam: LambdaSet) -> np.ndarray:
    r"""A minimizer over *all* distributions ``q`` of :math:`\max_{\lambda\in\Lambda}
    \sum_k \lambda_k KL(D_k\|q)` (the best single model, SPEC MB; see the module doc)."""
    K, n = D.shape
    S = np.flatnonzero(D.max(axis=0) > 0)
    q = cp.Variable(n, nonneg=True)
    neg_h = np.asarray(rel_entr(D, 1.0).sum(axis=1))  # -H(D_k) = sum_x D_k log D_k
    loss = neg_h - D[:, S] @ cp.log(q[S])  # KL(D_k || q)
    epigraph = worst_case_epigraph(loss, Lam)
    prob = cp.Problem(cp.Minimize(epigraph.objective), [cp.sum(q) == 1, epigraph.coupling])
    try:
        prob.solve(solver="CLARABEL")
    except cp.error.SolverError as exc:
        raise SolverError(f"single-model minimax failed: {exc}") from None
    if prob.status != cp.OPTIMAL or q.value is None:
        raise SolverError(f"single-model minimax ended with status {prob.status}")
    out = np.clip(q.value, 0.0, None)
    return out / out.sum()
