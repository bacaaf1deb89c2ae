r"""Channel capacity by Blahut-Arimoto (SPEC algorithm 3), a cross-check for perfect experts.

With perfect experts (``P = D``) on the simplex the robust value is the capacity of the
channel whose rows are the domains (SPEC T3, LF):

.. math:: V(\Delta_K) = C(D) = \max_{\lambda \in \Delta_K} I(\lambda), \qquad
          I(\lambda) = JS_\lambda(D) = \sum_k \lambda_k\, KL(D_k \| D_\lambda).

Blahut-Arimoto is the fixed-point map :math:`F(\lambda)_k = \lambda_k \exp(c_k) / Z` with
:math:`c_k = KL(D_k \| D_\lambda)`, from the uniform mixture. At every evaluation

.. math:: I(\lambda) \;\le\; C(D) \;\le\; \max_k c_k

(the lower bound is the objective at a feasible point; the upper bound holds because
:math:`C = \min_q \max_k KL(D_k\|q)` and :math:`q = D_\lambda` is one candidate), and it stops
when the two are within ``tol``.

Acceleration (``accelerate=True``, the default): squared extrapolation (SQUAREM, Varadhan and
Roland 2008) of the map in log coordinates :math:`\theta = \log\lambda`. From
:math:`\theta_1 = F(\theta_0)`, :math:`\theta_2 = F(\theta_1)`, with
:math:`r = \theta_1 - \theta_0`, :math:`v = \theta_2 - 2\theta_1 + \theta_0` and
:math:`\alpha = -\min(\|r\| / \|v\|, \alpha_{\max})`, the extrapolated point
:math:`\theta_0 - 2\alpha r + \alpha^2 v` is normalized and mapped once more; it is kept only
if its objective is at least that of :math:`\theta_2` (plain Blahut-Arimoto's two steps),
so the lower bound never falls behind plain iteration. Log coordinates keep every weight
positive, so the extrapolation needs no projection and weights that must vanish decay
geometrically faster.

Cost: one evaluation is one ``lam @ D``, ``n`` logarithms and one ``D @ log D_lam``
(:math:`c_k = -H(D_k) - D_k \cdot \log D_\lambda`, the entropies computed once). The bounds of
the returned mixture are recomputed term by term with ``rel_entr``, independently of that
matrix-vector form; the loop continues while those bounds are more than ``tol`` apart.

Glossary: ``D`` = rows :math:`D_k` (the channel), ``lam`` = input distribution :math:`\lambda`,
``theta`` = :math:`\log\lambda`, ``c`` = :math:`(KL(D_k\|D_\lambda))_k`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._validate import as_float_array, check_distributions
from ..divergences import entropy, kl
from .result import SolverError

__all__ = ["Capacity", "capacity"]

#: log-weights are kept above this, so every weight stays a positive double
_THETA_FLOOR = -700.0
#: largest extrapolation step (in units of the plain step)
_ALPHA_MAX = 64.0


@dataclass(frozen=True, eq=False)
class Capacity:
    """``capacity`` = ``lower`` = :math:`I(\\lambda)` at the returned ``lam`` (an achievable
    value), ``upper`` = :math:`\\max_k KL(D_k\\|D_\\lambda)`; ``upper - lower <= tol``.
    ``iterations`` counts evaluations of the Blahut-Arimoto map."""

    capacity: float
    lam: np.ndarray
    lower: float
    upper: float
    iterations: int


class _Channel:
    """Evaluates the divergences ``c`` and the bounds at a log-weight vector ``theta``."""

    def __init__(self, D: np.ndarray):
        self.D = D
        self.neg_h = -np.asarray(entropy(D))
        self.evaluations = 0

    def __call__(self, theta: np.ndarray):
        self.evaluations += 1
        theta = np.maximum(theta - theta.max(), _THETA_FLOOR)
        lam = np.exp(theta)
        lam /= lam.sum()
        theta = np.log(lam)
        d = lam @ self.D  # > 0 wherever some D_k > 0, since every lam_k > 0
        c = self.neg_h - self.D @ np.log(np.where(d > 0, d, 1.0))
        c = np.maximum(c, 0.0)  # a divergence; rounding may leave -1e-16
        upper = float(np.max(c))
        lower = min(float(lam @ c), upper)
        return theta, lam, c, lower, upper


def _exact_bounds(D: np.ndarray, lam: np.ndarray) -> tuple[float, float]:
    c = np.asarray(kl(D, lam @ D))
    upper = float(np.max(c))
    return min(float(np.sum(lam * c)), upper), upper


def capacity(D: np.ndarray, tol: float = 1e-12, max_iter: int = 100_000,
             callback=None, accelerate: bool = True) -> Capacity:
    """Capacity (nats) of the channel with rows ``D`` (``K x n``) by Blahut-Arimoto.

    ``callback(iteration, lower, upper)``, if given, is called once per evaluation of the map
    (e.g. to record the bound gap for a convergence plot). ``accelerate=False`` runs plain
    Blahut-Arimoto.

    Raises :class:`SolverError` if ``upper - lower > tol`` after ``max_iter`` evaluations
    (Blahut-Arimoto converges slowly when the optimal input has zeros).
    """
    D = as_float_array(D, "D", 2)
    check_distributions(D, "D", "domains")
    if not (np.isfinite(tol) and tol > 0):
        raise ValueError(f"tol must be a positive number; got {tol!r}")
    if int(max_iter) != max_iter or max_iter < 1:
        raise ValueError(f"max_iter must be a positive integer; got {max_iter!r}")
    K = D.shape[0]
    channel = _Channel(D)
    state = channel(np.zeros(K))
    lower = upper = np.nan

    def report(st):
        nonlocal lower, upper
        lower, upper = st[3], st[4]
        if callback is not None:
            callback(channel.evaluations, lower, upper)
        if upper - lower > tol:
            return None
        exact_lower, exact_upper = _exact_bounds(D, st[1])  # independent, term by term
        if exact_upper - exact_lower > tol:
            return None
        return Capacity(capacity=exact_lower, lam=st[1], lower=exact_lower, upper=exact_upper,
                        iterations=channel.evaluations)

    done = report(state)
    while done is None:
        if channel.evaluations >= max_iter:
            raise SolverError(
                f"Blahut-Arimoto: bounds [{lower:.12g}, {upper:.12g}] still {upper - lower:.3e} "
                f"apart after max_iter = {max_iter} iterations (tol {tol:g})"
            )
        theta0, _, c0, _, _ = state
        s1 = channel(theta0 + c0)
        if (done := report(s1)) is not None or not accelerate:
            state = s1
            continue
        s2 = channel(s1[0] + s1[2])
        if (done := report(s2)) is not None:
            break
        r = s1[0] - theta0
        v = s2[0] - 2.0 * s1[0] + theta0
        nv = float(np.linalg.norm(v))
        state = s2
        if nv > 0 and channel.evaluations < max_iter:
            alpha = -min(float(np.linalg.norm(r)) / nv, _ALPHA_MAX)
            if alpha < -1.0:
                ext = channel(theta0 - 2.0 * alpha * r + alpha * alpha * v)
                stab = channel(ext[0] + ext[2])
                if stab[3] >= s2[3]:
                    state = stab
                    done = report(stab)
    return done
