r"""The optimality certificate (SPEC section 2), independent of every solver.

For a gate ``g`` in ``G_1`` and a mixture ``lam`` in ``Lambda``,

.. math:: \text{gap}(g, \lambda) = \max_{\lambda' \in \Lambda} L(g, \lambda') - \phi(\lambda) \ge 0,

since :math:`\phi(\lambda) \le V(\Lambda) \le \max_{\lambda'} L(g, \lambda')` (weak duality).
A gap below ``tol`` proves that ``g`` is a robust gate and ``lam`` a least-favorable mixture,
each to within ``tol``, and brackets the value: ``dual <= V <= primal``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .gates import check_gate, gated_model
from .lambda_sets import MEMBERSHIP_TOL
from .problem import RobustProblem

__all__ = ["Certificate", "certify"]


@dataclass(frozen=True)
class Certificate:
    """``primal = max_Lambda L(g, .)``, ``dual = phi(lam)``, ``gap = primal - dual``."""

    primal: float
    dual: float
    gap: float
    worst_lam: np.ndarray


def certify(problem: RobustProblem, gate: np.ndarray, lam: np.ndarray) -> Certificate:
    """Certificate of the pair ``(gate, lam)``; raises ``ValueError`` if either is infeasible."""
    check_gate(gate, problem.P)
    lam = np.asarray(lam, dtype=np.float64)
    if not problem.Lambda.contains(lam, tol=MEMBERSHIP_TOL):
        raise ValueError(f"lam = {np.round(lam, 8).tolist()} is not in {problem.Lambda!r}")
    primal, worst = problem.worst_case(gated_model(gate, problem.P))
    lam = np.clip(lam, 0.0, None)
    lam = lam / lam.sum()
    dual = problem.phi(lam)
    return Certificate(primal=primal, dual=dual, gap=primal - dual, worst_lam=worst)
