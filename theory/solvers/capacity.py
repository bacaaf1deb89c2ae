r"""Channel capacity by Blahut-Arimoto (SPEC algorithm 3), a cross-check for perfect experts.

With perfect experts (``P = D``) on the simplex the robust value is the capacity of the
channel whose rows are the domains (SPEC T3, LF):

.. math:: V(\Delta_K) = C(D) = \max_{\lambda \in \Delta_K} I(\lambda), \qquad
          I(\lambda) = JS_\lambda(D) = \sum_k \lambda_k\, KL(D_k \| D_\lambda).

Blahut-Arimoto iterates :math:`\lambda_k \leftarrow \lambda_k \exp(c_k) / Z` with
:math:`c_k = KL(D_k \| D_\lambda)`, from the uniform mixture. At every iterate

.. math:: I(\lambda) \;\le\; C(D) \;\le\; \max_k c_k

(the lower bound is the objective at a feasible point; the upper bound holds because
:math:`C = \min_q \max_k KL(D_k\|q)` and :math:`q = D_\lambda` is one candidate), and it stops
when the two are within ``tol``. Divergences are summed term by term with ``rel_entr``, a
computation independent of the fast solver's matrix-vector form.

Glossary: ``D`` = rows :math:`D_k` (the channel), ``lam`` = input distribution :math:`\lambda`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._validate import as_float_array, check_distributions
from ..divergences import kl
from .result import SolverError

__all__ = ["Capacity", "capacity"]


@dataclass(frozen=True, eq=False)
class Capacity:
    """``capacity`` = ``lower`` = :math:`I(\\lambda)` at the returned ``lam`` (an achievable
    value), ``upper`` = :math:`\\max_k KL(D_k\\|D_\\lambda)`; ``upper - lower <= tol``."""

    capacity: float
    lam: np.ndarray
    lower: float
    upper: float
    iterations: int


def capacity(D: np.ndarray, tol: float = 1e-12, max_iter: int = 100_000,
             callback=None) -> Capacity:
    """Capacity (nats) of the channel with rows ``D`` (``K x n``) by Blahut-Arimoto.

    ``callback(iteration, lower, upper)``, if given, is called once per iteration (e.g. to
    record the bound gap for a convergence plot).

    Raises :class:`SolverError` if ``upper - lower > tol`` after ``max_iter`` iterations
    (Blahut-Arimoto converges slowly when the optimal input has zeros).
    """
    D = as_float_array(D, "D", 2)
    check_distributions(D, "D", "domains")
    if not (np.isfinite(tol) and tol > 0):
        raise ValueError(f"tol must be a positive number; got {tol!r}")
    if int(max_iter) != max_iter or max_iter < 1:
        raise ValueError(f"max_iter must be a positive integer; got {max_iter!r}")
    K = D.shape[0]
    lam = np.full(K, 1.0 / K)
    lower = upper = np.nan
    for it in range(1, int(max_iter) + 1):
        c = np.asarray(kl(D, lam @ D))  # finite: every lam_k > 0 keeps D_lam covering D_k
        upper = float(np.max(c))
        # I(lam) = sum_k lam_k c_k is an average of the c_k, so it never exceeds their maximum;
        # summed in floating point it can come out one ulp above it (all c_k equal, as for a
        # symmetric channel). Taking the minimum keeps the reported bounds ordered.
        lower = min(float(np.sum(lam * c)), upper)
        if callback is not None:
            callback(it, lower, upper)
        if upper - lower <= tol:
            return Capacity(capacity=lower, lam=lam, lower=lower, upper=upper, iterations=it)
        lam = lam * np.exp(c - upper)
        lam /= lam.sum()
    raise SolverError(
        f"Blahut-Arimoto: bounds [{lower:.12g}, {upper:.12g}] still {upper - lower:.3e} apart "
        f"after max_iter = {max_iter} iterations (tol {tol:g})"
    )
