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

Newton polish (``polish=True``, the default, with ``accelerate``): the Hessian of
:math:`I` is :math:`-M` with :math:`M = D_S \operatorname{diag}(1/D_\lambda) D_S^\top` on a
working support :math:`S` (the weights that are not negligible, and every :math:`k` whose
:math:`c_k` is at least :math:`I(\lambda)`, so the gradient would raise it), one BLAS product.
The step maximizes the quadratic model :math:`c_S \cdot x - x^\top M x / 2` over
:math:`\sum x = 0`, :math:`\lambda_S + x \ge 0` by a primal active-set method that only drops
weights (each pass solves the equality-constrained model on the free weights and walks until
one reaches zero), with a small relative ridge since rows of ``D`` may be linearly dependent.
A Newton point is kept only if it raises the lower bound; it is tried again at once while it
halves the bound gap, after one extrapolation cycle when it helps less (a weight that must
enter grows multiplicatively), and after a doubling number of cycles when it fails. Dropped
weights are kept at a floor far below ``tol`` so that such a weight can return. Near the
optimum on the right support the step converges quadratically: a handful of evaluations
instead of hundreds. Supports above ``_NEWTON_MAX_SUPPORT`` skip it.

Cost: one evaluation is one ``lam @ D``, ``n`` logarithms and one ``D @ log D_lam``
(:math:`c_k = -H(D_k) - D_k \cdot \log D_\lambda`, the entropies computed once). The bounds of
the returned mixture are recomputed term by term with ``rel_entr``, independently of that
matrix-vector form; the loop continues while those bounds are more than ``tol`` apart.

Glossary: ``D`` = rows :math:`D_k` (the channel), ``lam`` = input distribution :math:`\lambda`,
``theta`` = :math:`\log\lambda`, ``c`` = :math:`(KL(D_k\|D_\lambda))_k`, ``q`` =
:math:`D_\lambda`, ``M`` = minus the Hessian of :math:`I` on the working support.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from .._validate import as_float_array, check_distributions
from ..divergences import entropy, kl
from .result import SolverError

__all__ = ["Capacity", "capacity"]

#: log-weights are kept above this, so every weight stays a positive double
_THETA_FLOOR = -700.0
#: largest extrapolation step (in units of the plain step)
_ALPHA_MAX = 64.0
#: weights at least this fraction of the largest are on the Newton step's working support
_SUPPORT_REL = 1e-10
#: the Newton step is skipped when its working support has more elements (one Hessian costs
#: ``support^2 n`` multiply-adds)
_NEWTON_MAX_SUPPORT = 512
#: relative ridge added to the Hessian (rows of ``D`` may be linearly dependent)
_RIDGE = 1e-12
#: most extrapolation cycles between two Newton attempts (the wait doubles after each failure)
_NEWTON_MAX_WAIT = 31


@dataclass(frozen=True, eq=False)
class Capacity:
    """``capacity`` = ``lower`` = :math:`I(\\lambda)` at the returned ``lam`` (an achievable
    value), ``upper`` = :math:`\\max_k KL(D_k\\|D_\\lambda)`; ``upper - lower <= tol``.
    ``iterations`` counts evaluations of the Blahut-Arimoto map (Newton points included)."""

    capacity: float
    lam: np.ndarray
    lower: float
    upper: float
    iterations: int


class _State(NamedTuple):
    theta: np.ndarray
    lam: np.ndarray
    c: np.ndarray
    lower: float
    upper: float
    q: np.ndarray


class _Channel:
    """Evaluates the divergences ``c`` and the bounds at a log-weight vector ``theta``."""

    def __init__(self, D: np.ndarray):
        self.D = D
        self.neg_h = -np.asarray(entropy(D))
        self.evaluations = 0

    def __call__(self, theta: np.ndarray) -> _State:
        self.evaluations += 1
        theta = np.maximum(theta - theta.max(), _THETA_FLOOR)
        lam = np.exp(theta)
        lam /= lam.sum()
        theta = np.log(lam)
        q = lam @ self.D  # > 0 wherever some D_k > 0, since every lam_k > 0
        c = self.neg_h - self.D @ np.log(np.where(q > 0, q, 1.0))
        c = np.maximum(c, 0.0)  # a divergence; rounding may leave -1e-16
        upper = float(np.max(c))
        lower = min(float(lam @ c), upper)
        return _State(theta, lam, c, lower, upper, q)

    def newton(self, st: _State, floor: float) -> np.ndarray | None:
        """Log-weights of one projected Newton step from ``st`` on its working support (the
        weights above ``_SUPPORT_REL`` of the largest, and every ``k`` whose ``c_k`` is at least
        the current value, i.e. whose weight the gradient would raise), or ``None`` when that
        support is too large for one Hessian or the step is zero."""
        lam, c, q = st.lam, st.c, st.q
        idx = np.flatnonzero((lam >= _SUPPORT_REL * lam.max()) | (c >= st.lower))
        if idx.size < 2 or idx.size > _NEWTON_MAX_SUPPORT:
            return None
        pos = q > 0
        A = self.D[np.ix_(idx, np.flatnonzero(pos))] if not pos.all() else self.D[idx]
        M = (A / q[pos]) @ A.T  # minus the Hessian of I(lam) on the support: one BLAS product
        x = _model_step(lam[idx], c[idx], M)
        if x is None or not np.any(x):
            return None
        new = lam.copy()
        new[idx] = np.maximum(new[idx] + x, floor)
        return np.log(new)


def _model_step(lam: np.ndarray, g: np.ndarray, M: np.ndarray) -> np.ndarray | None:
    """Maximizer ``x`` of the quadratic model ``g @ x - x @ M @ x / 2`` (``M`` positive
    semidefinite, regularized by a relative ``_RIDGE``) subject to ``sum(x) = 0`` and
    ``lam + x >= 0``: a primal active-set method that only drops coordinates (each pass solves
    the equality-constrained model on the free coordinates, walks until a weight reaches zero,
    fixes it there), so it ends after at most ``len(lam)`` passes at a feasible point that
    improves the model."""
    m = lam.size
    x = np.zeros(m)
    free = np.ones(m, dtype=bool)
    ridge = _RIDGE * max(float(np.trace(M)) / m, np.finfo(float).tiny)
    for _ in range(m):
        F = np.flatnonzero(free)
        f = F.size
        if f < 2:
            break
        B = np.zeros((f + 1, f + 1))
        B[:f, :f] = M[np.ix_(F, F)]
        B[np.arange(f), np.arange(f)] += ridge
        B[:f, f] = B[f, :f] = 1.0
        try:
            p = np.linalg.solve(B, np.append(g[F] - M[F] @ x, 0.0))[:f]
        except np.linalg.LinAlgError:
            return None
        if not np.all(np.isfinite(p)):
            return None
        neg = np.flatnonzero(p < 0)
        ratios = (lam[F[neg]] + x[F[neg]]) / -p[neg]
        j = int(np.argmin(ratios)) if neg.size else -1
        if j < 0 or ratios[j] >= 1.0:
            x[F] += p
            break
        x[F] += ratios[j] * p
        block = F[neg[j]]
        x[block] = -lam[block]
        free[block] = False
    return x


def _exact_bounds(D: np.ndarray, lam: np.ndarray) -> tuple[float, float]:
    c = np.asarray(kl(D, lam @ D))
    upper = float(np.max(c))
    return min(float(np.sum(lam * c)), upper), upper


def capacity(D: np.ndarray, tol: float = 1e-12, max_iter: int = 100_000,
             callback=None, accelerate: bool = True, polish: bool = True) -> Capacity:
    """Capacity (nats) of the channel with rows ``D`` (``K x n``) by Blahut-Arimoto.

    ``callback(iteration, lower, upper)``, if given, is called once per evaluation of the map
    (e.g. to record the bound gap for a convergence plot). ``accelerate=False`` runs plain
    Blahut-Arimoto; ``polish=False`` keeps the squared extrapolation but leaves out the Newton
    steps on the support.

    Raises :class:`SolverError` if ``upper - lower > tol`` after ``max_iter`` evaluations
    (Blahut-Arimoto converges slowly when the optimal input has zeros).
    """
    D = as_float_array(D, "D", 2)
    check_distributions(D, "D", "domains")
    if not (np.isfinite(tol) and tol > 0):
        raise ValueError(f"tol must be a positive number; got {tol!r}")
    if int(max_iter) != max_iter or max_iter < 1:
        raise ValueError(f"max_iter must be a positive integer; got {max_iter!r}")
    D = np.ascontiguousarray(D)
    K = D.shape[0]
    channel = _Channel(D)
    state = channel(np.zeros(K))
    lower = upper = np.nan

    def report(st: _State) -> Capacity | None:
        nonlocal lower, upper
        lower, upper = st.lower, st.upper
        if callback is not None:
            callback(channel.evaluations, lower, upper)
        if upper - lower > tol:
            return None
        exact_lower, exact_upper = _exact_bounds(D, st.lam)  # independent, term by term
        if exact_upper - exact_lower > tol:
            return None
        return Capacity(capacity=exact_lower, lam=st.lam, lower=exact_lower, upper=exact_upper,
                        iterations=channel.evaluations)

    done = report(state)
    # weights the Newton step sets to zero are kept at `floor` instead: together they move the
    # bounds by less than tol / 100, and a weight that must come back grows from there
    floor = 0.01 * tol / (K * max(1.0, np.log(K)))
    period = wait = 0  # Newton is tried again after `wait` extrapolation cycles
    while done is None:
        if channel.evaluations >= max_iter:
            raise SolverError(
                f"Blahut-Arimoto: bounds [{lower:.12g}, {upper:.12g}] still {upper - lower:.3e} "
                f"apart after max_iter = {max_iter} iterations (tol {tol:g})"
            )
        if not accelerate:
            state = channel(state.theta + state.c)
            done = report(state)
            continue
        if polish and wait == 0:
            theta = channel.newton(state, floor)
            if theta is not None:
                trial = channel(theta)
                if (done := report(trial)) is not None:
                    break
                if trial.lower > state.lower:
                    halved = trial.upper - trial.lower <= 0.5 * (state.upper - state.lower)
                    state, period = trial, 0
                    if not halved:  # e.g. a weight must enter: multiplicative steps do that
                        state, done = _squarem_cycle(channel, state, report, max_iter)
                    continue
            period = min(2 * period + 1, _NEWTON_MAX_WAIT)
            wait = period
        else:
            wait = max(wait - 1, 0)
        state, done = _squarem_cycle(channel, state, report, max_iter)
    return done


def _squarem_cycle(channel: _Channel, s0: _State, report, max_iter: int):
    """Two Blahut-Arimoto steps and, when they allow it, one squared extrapolation (kept only if
    its stabilized objective beats the two plain steps). Returns ``(state, result or None)``."""
    s1 = channel(s0.theta + s0.c)
    if (done := report(s1)) is not None:
        return s1, done
    s2 = channel(s1.theta + s1.c)
    if (done := report(s2)) is not None:
        return s2, done
    r = s1.theta - s0.theta
    v = s2.theta - 2.0 * s1.theta + s0.theta
    nv = float(np.linalg.norm(v))
    if nv > 0 and channel.evaluations < max_iter:
        alpha = -min(float(np.linalg.norm(r)) / nv, _ALPHA_MAX)
        if alpha < -1.0:
            ext = channel(s0.theta - 2.0 * alpha * r + alpha * alpha * v)
            stab = channel(ext.theta + ext.c)
            if stab.lower >= s2.lower:
                return stab, report(stab)
    return s2, None
