r"""Certified robust mixture weights from log-likelihoods (the constant gate of SPEC §4.6/§5.2).

Setting. ``J`` frozen experts (any generative models) and ``K`` domains (``J`` and ``K`` may
differ). We know only the log-likelihood :math:`a_{ij} = \log P_j(x_i)` that expert ``j`` gives
point ``x_i`` (``i = 1..N``; a sequence or token sum) and a weight :math:`\rho_{ki} \ge 0` of
point ``i`` in domain ``k``: ``1/n_k`` on the ``n_k`` samples of domain ``k`` for an empirical
game (per-sample means), ``1/T_k`` for per-token means (``T_k`` the domain's token count),
:math:`D_k(x_i)` for a finite population game. Write :math:`\alpha_k = \sum_i \rho_{ki} > 0`
(``1`` for means and populations).

Program. For mixture weights :math:`w \in \Delta_J` (a constant gate) let

.. math:: f_k(w) = -\sum_i \rho_{ki}\,\log \sum_j w_j e^{a_{ij}}, \qquad
          V = \min_{w \in \Delta_J}\ \max_{\lambda \in \Lambda}\ \sum_k \lambda_k f_k(w).

Each :math:`f_k` is convex (minus the log of a linear function) and the payoff is linear in
:math:`\lambda`, so the game is convex-linear on compact sets and has a saddle point. Writing
``Lambda`` as :math:`\{Bx : x \in \Delta_m, Gx \le h\}` (:meth:`LambdaSet.parametrization`), the
inner maximum is an LP whose dual turns the program into a smooth one with ``m`` convex
constraints, solved by SLSQP:

.. math:: \min_{w \in \Delta_J,\ y \ge 0,\ z}\ h^\top y + z \quad\text{s.t.}\quad
          B^\top f(w) \le G^\top y + z\mathbf 1 .

Certificate (independent of how ``w`` was found). The upper bound is the exact worst case
:math:`U(w) = \max_\Lambda \langle\lambda, f(w)\rangle` (:meth:`LambdaSet.maximize_linear`).
For the lower bound, fix :math:`\lambda` and let :math:`h_\lambda(w) = \sum_k\lambda_k f_k(w)`,
with gradient :math:`\partial_j h_\lambda(w) = -\sum_k \lambda_k E_{kj}(w)`,
:math:`E_{kj}(w) = \sum_i \rho_{ki} e^{a_{ij} - m_i(w)}`, :math:`m_i = \log\sum_j w_j e^{a_{ij}}`,
and :math:`\langle \nabla h_\lambda(w), w\rangle = -\langle\lambda,\alpha\rangle`. Convexity
gives the Frank-Wolfe bound

.. math:: \phi(\lambda) = \min_{\Delta_J} h_\lambda \ \ge\
          h_\lambda(w) + \min_j \partial_j h_\lambda(w) - \langle\nabla h_\lambda(w), w\rangle
          = \langle\lambda, f(w) + \alpha\rangle - \max_j \langle\lambda, E_{\cdot j}(w)\rangle,

which is concave (piecewise linear) in :math:`\lambda`; its maximum over ``Lambda`` is one LP
and its maximizer is the reported :math:`\lambda^*`. Since :math:`\phi(\lambda) \le V \le U(w)`,
``gap = U(w) - lower_bound`` proves both to within ``gap``; at a saddle point the Frank-Wolfe
gap of ``w`` at :math:`\lambda^*` is zero, so the gap closes as ``w`` converges.

Log-space. Every per-point quantity is computed after subtracting the row maximum
:math:`M_i = \max_j a_{ij}`: :math:`-\log\sum_j w_j e^{a_{ij}} = -M_i - \log\sum_j w_j
e^{a_{ij} - M_i}`, so sequence sums of :math:`-10^5` nats neither underflow nor lose digits in
the optimized part; the constants :math:`c_k = -\sum_i\rho_{ki}M_i` are added back at the end.
``-inf`` entries (an expert that cannot produce a point) are allowed as long as some expert
gives every weighted point a finite log-likelihood.

Glossary: ``loglik`` = :math:`a` (``N x J``); ``weights`` = :math:`\rho` (``K x N``, rows with
positive sums :math:`\alpha`);
``Lambda`` = :math:`\Lambda`; result ``weights`` = :math:`w^*`, ``lam`` = :math:`\lambda^*`,
``losses`` = :math:`f(w^*)`, ``value`` = :math:`U(w^*)`, ``lower_bound`` = the Frank-Wolfe
bound at :math:`(w^*, \lambda^*)`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linprog, minimize

from .lambda_sets import MEMBERSHIP_TOL, LambdaSet, Simplex

__all__ = ["MixtureWeights", "mixture_weights", "mixture_weights_from_samples", "mixture_losses",
           "mixture_certificate", "domain_weights", "MIXTURE_GAP_TOL"]

#: a certificate gap at most this times ``max(1, |value|)`` is reported as ``"optimal"``
MIXTURE_GAP_TOL = 1e-9
#: exponents are clipped here before ``exp`` (only reached by weights far from optimal)
_EXP_CAP = 700.0
#: the certificate LP leaves out mixture weights with a ratio E above this (module docstring)
_RATIO_CAP = 1e8
#: smallest log-weight of the log-space SLSQP (exp(-700) ~ 1e-304)
_U_MIN = -700.0


@dataclass(frozen=True, eq=False)
class MixtureWeights:
    """Certified robust mixture weights (module docstring).

    ``weights`` (``J``) the constant gate :math:`w^*`; ``lam`` (``K``) the least-favorable
    mixture; ``value`` the worst case :math:`\\max_\\Lambda\\langle\\lambda, f(w^*)\\rangle`
    (an upper bound on ``V``); ``lower_bound`` a lower bound on ``V``; ``gap = value -
    lower_bound``; ``losses`` (``K``) :math:`f_k(w^*)` in nats; ``status`` ``"optimal"`` when
    ``gap <= MIXTURE_GAP_TOL * max(1, |value|)``, else ``"within_tol"`` (the gap met the
    caller's ``tol`` only); ``iterations`` of SLSQP; ``seconds`` of wall time.
    """

    weights: np.ndarray
    lam: np.ndarray
    value: float
    lower_bound: float
    gap: float
    losses: np.ndarray
    status: str
    iterations: int
    seconds: float

    def __post_init__(self):
        for name in ("weights", "lam", "losses"):
            arr = np.array(getattr(self, name), dtype=np.float64)
            arr.flags.writeable = False
            object.__setattr__(self, name, arr)

    def to_dict(self) -> dict:
        """JSON-ready dict (keys: the field names)."""
        return {"weights": self.weights.tolist(), "lam": self.lam.tolist(), "value": self.value,
                "lower_bound": self.lower_bound, "gap": self.gap, "losses": self.losses.tolist(),
                "status": self.status, "iterations": self.iterations, "seconds": self.seconds}


# --------------------------------------------------------------------------- validation
def _check_loglik(loglik) -> np.ndarray:
    a = np.asarray(loglik)
    if a.dtype.kind not in "fiu":
        raise TypeError(f"loglik must be an array of real numbers; got dtype {a.dtype}")
    a = np.array(a, dtype=np.float64)
    if a.ndim != 2 or a.shape[0] < 1 or a.shape[1] < 1:
        raise ValueError(f"loglik must be a 2-D array (samples x experts); got shape {a.shape}")
    if np.isnan(a).any():
        i, j = (int(v) for v in np.argwhere(np.isnan(a))[0])
        raise ValueError(f"loglik[{i}, {j}] is NaN; log-likelihoods must be numbers or -inf")
    if np.isposinf(a).any():
        i, j = (int(v) for v in np.argwhere(np.isposinf(a))[0])
        raise ValueError(f"loglik[{i}, {j}] is +inf; log-likelihoods must be finite or -inf")
    return a


def _check_weights(weights, N: int) -> np.ndarray:
    rho = np.array(weights, dtype=np.float64)
    if rho.ndim != 2 or rho.shape[1] != N:
        raise ValueError(f"weights must have shape (K, {N}); got {rho.shape}")
    if not np.all(np.isfinite(rho)) or rho.min() < 0:
        raise ValueError("weights must be finite and non-negative")
    sums = rho.sum(axis=1)
    bad = ~(sums > 0)
    if bad.any():
        k = int(np.argmax(bad))
        raise ValueError(f"domain {k} has no points of positive weight; every domain needs some")
    return rho


def domain_weights(domain, K: int | None = None, tokens=None) -> np.ndarray:
    """The ``K x N`` averaging weights of an empirical game: ``rho[k, i] = 1/n_k`` for the ``n_k``
    points ``i`` of domain ``k`` (per-sample means) or, given ``tokens``, ``1/T_k`` with ``T_k``
    the domain's total token count (per-token means: the domain's summed loss over its tokens).
    Every domain in ``0..K-1`` needs at least one point."""
    d = np.asarray(domain)
    if d.ndim != 1 or d.dtype.kind not in "iu":
        raise ValueError("domain must be a 1-D array of integers")
    if d.size and d.min() < 0:
        raise ValueError(f"domain labels must lie in 0..K-1; found {int(d.min())}")
    K = int(d.max()) + 1 if K is None else int(K)
    if d.size and d.max() >= K:
        raise ValueError(f"domain labels must lie in 0..{K - 1}; found {int(d.max())}")
    s = np.ones(d.size) if tokens is None else np.asarray(tokens, dtype=np.float64)
    if s.shape != d.shape or not np.all(np.isfinite(s)) or (s <= 0).any():
        raise ValueError("token counts must be positive, one per sample")
    n = np.bincount(d, minlength=K)
    if (n == 0).any():
        k = int(np.argmax(n == 0))
        raise ValueError(f"domain {k} has no samples; every domain in 0..{K - 1} needs at least one")
    rho = np.zeros((K, d.size))
    rho[d, np.arange(d.size)] = 1.0 / np.bincount(d, weights=s, minlength=K)[d]
    return rho


# --------------------------------------------------------------------------- pieces
@dataclass(frozen=True, eq=False)
class _Game:
    """The shifted game: ``A = a - M`` (row max 0), constants ``c``, weights ``rho``."""

    A: np.ndarray
    c: np.ndarray
    rho: np.ndarray
    active: np.ndarray  # points some domain weighs

    @property
    def alpha(self) -> np.ndarray:
        return self.rho.sum(axis=1)

    @classmethod
    def build(cls, loglik, weights) -> _Game:
        a = _check_loglik(loglik)
        rho = _check_weights(weights, a.shape[0])
        active = rho.max(axis=0) > 0
        M = a.max(axis=1)
        dead = active & ~np.isfinite(M)
        if dead.any():
            i = int(np.argmax(dead))
            raise ValueError(f"sample {i} has log-likelihood -inf under every expert; no mixture of "
                             "the experts can produce it")
        M = np.where(np.isfinite(M), M, 0.0)
        A = a[active] - M[active, None]
        return cls(A=A, c=-(rho[:, active] @ M[active]), rho=rho[:, active], active=active)

    def point_logs(self, w: np.ndarray) -> np.ndarray:
        """``m_i - M_i = log sum_j w_j exp(A_ij)`` (``-inf`` where the mixture gives 0)."""
        with np.errstate(divide="ignore"):
            lw = np.log(np.clip(w, 0.0, None))
        Z = self.A + lw[None, :]
        top = Z.max(axis=1)
        safe = np.where(np.isfinite(top), top, 0.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            return safe + np.log(np.exp(Z - safe[:, None]).sum(axis=1))

    def shifted_losses(self, w: np.ndarray) -> np.ndarray:
        """``f(w) - c``; ``+inf`` for a domain some of whose points the mixture cannot produce."""
        m = self.point_logs(w)
        with np.errstate(invalid="ignore"):
            out = -(self.rho @ np.where(np.isfinite(m), m, 0.0))
        hit = (self.rho[:, ~np.isfinite(m)] > 0).any(axis=1)
        return np.where(hit, np.inf, out)

    def ratios(self, w: np.ndarray) -> np.ndarray:
        """``E[k, j] = sum_i rho_ki exp(A_ij - (m_i - M_i))`` (``K x J``)."""
        m = self.point_logs(w)
        m = np.where(np.isfinite(m), m, -_EXP_CAP)
        return self.rho @ np.exp(np.minimum(self.A - m[:, None], _EXP_CAP))


def mixture_losses(loglik, weights, w) -> np.ndarray:
    """Per-domain losses ``f_k(w) = -sum_i rho_ki log sum_j w_j exp(loglik_ij)`` in nats (log-space)."""
    game = _Game.build(loglik, weights)
    return game.c + game.shifted_losses(_check_w(w, game.A.shape[1]))


def _check_w(w, J: int) -> np.ndarray:
    w = np.asarray(w, dtype=np.float64)
    if w.shape != (J,) or not np.all(np.isfinite(w)) or w.min() < -MEMBERSHIP_TOL \
            or abs(w.sum() - 1.0) > 1e-8:
        raise ValueError(f"mixture weights must be a probability vector of length {J}")
    w = np.clip(w, 0.0, None)
    return w / w.sum()


def _lower_bound_lp(game: _Game, Lambda: LambdaSet, w: np.ndarray, weights_too: bool = False):
    """The mixture maximizing the Frank-Wolfe lower bound at ``w`` over ``Lambda`` (one LP); with
    ``weights_too`` also its weights ``x`` in the parametrization."""
    par = Lambda.parametrization()
    f = game.c - np.max(game.c) + game.shifted_losses(w)
    E = game.ratios(w)
    cf, CE = par.pullback(np.where(np.isfinite(f), f, 0.0)), par.pullback(E)  # (m,), (m, J)
    m, J = par.m, E.shape[1]
    cf = cf + par.pullback(game.alpha)
    # variables (x, s): maximize <x, cf> - s  s.t.  CE^T x <= s,  G x <= h,  x in simplex
    obj = np.r_[-cf, 1.0]
    A_ub = np.hstack([CE.T, -np.ones((J, 1))])
    b_ub = np.zeros(J)
    if par.G.shape[0]:
        A_ub = np.vstack([A_ub, np.hstack([par.G, np.zeros((par.G.shape[0], 1))])])
        b_ub = np.r_[b_ub, par.h]
    # weights whose ratios are astronomically large (an expert the mixture all but drops is far
    # better on their domain) can only lower the bound: fix them at 0 (any x gives a valid bound)
    huge = CE.max(axis=1) > _RATIO_CAP
    CE = np.where(huge[:, None], 0.0, CE)
    A_ub[:J, :m] = CE.T
    res = linprog(obj, A_ub=A_ub, b_ub=b_ub, A_eq=np.r_[np.ones(m), 0.0][None, :], b_eq=[1.0],
                  bounds=[(0, 0) if h else (0, None) for h in huge] + [(None, None)], method="highs")
    if res.status != 0:  # weights far from optimal (huge ratios everywhere Lambda must weigh):
        x = par.x0       # any mixture of Lambda still gives a valid, if poor, bound
        lam = par.mixture(x)
        return (lam, x) if weights_too else lam
    x = np.clip(res.x[:m], 0.0, None)
    x /= x.sum()
    lam = np.clip(par.mixture(x), 0.0, None)
    lam /= lam.sum()
    lam = lam if Lambda.contains(lam) else Lambda.project(lam)
    return (lam, x) if weights_too else lam


def mixture_certificate(loglik, weights, Lambda: LambdaSet | None, w,
                        lam=None) -> tuple[float, float, np.ndarray]:
    """``(upper, lower, lam)`` for mixture weights ``w``: ``upper = max_Lambda <lam', f(w)>``
    (exact) and ``lower`` the Frank-Wolfe bound of the module docstring at ``lam`` (default: the
    best ``lam`` in ``Lambda``, one LP), so ``lower <= V <= upper`` for every ``w`` and ``lam``."""
    game = _Game.build(loglik, weights)
    Lambda = Simplex(game.rho.shape[0]) if Lambda is None else Lambda
    return _certify(game, Lambda, _check_w(w, game.A.shape[1]), lam)


def _certify(game: _Game, Lambda: LambdaSet, w: np.ndarray, lam=None):
    f = game.shifted_losses(w)
    c0 = float(np.max(game.c))  # constants added back around their largest entry
    upper = float(Lambda.maximize_linear(game.c - c0 + f)[0]) + c0
    if lam is None:
        lam = _lower_bound_lp(game, Lambda, w)
    lam = np.asarray(lam, dtype=np.float64)
    if not Lambda.contains(lam):
        raise ValueError(f"lam = {np.round(lam, 8).tolist()} is not in {Lambda!r}")
    if np.any(lam[~np.isfinite(f)] > 0):  # h_lam(w) = +inf: the bound says nothing
        return upper, float("-inf"), lam
    fl = np.where(np.isfinite(f), f, 0.0)
    lower = float(lam @ (game.c - c0 + fl + game.alpha)) + c0 - float(np.max(lam @ game.ratios(w)))
    return upper, lower, lam


# --------------------------------------------------------------------------- solver
def mixture_weights(loglik, weights, Lambda: LambdaSet | None = None, *, tol: float | None = None,
                    maxiter: int = 500, restarts: int = 3, polish: int = 30) -> MixtureWeights:
    r"""Solve :math:`\min_{w\in\Delta_J}\max_{\lambda\in\Lambda}\sum_k\lambda_k f_k(w)` with a certificate.

    ``loglik`` (``N x J``) are :math:`a_{ij} = \log P_j(x_i)`; ``weights`` (``K x N``,
    non-negative, each row with a positive sum) are :math:`\rho`; ``Lambda`` defaults to the
    simplex :math:`\Delta_K`. The program, its LP-dual form and the certificate are in the
    module docstring (SPEC §4.6/§5.2, the constant gate). SLSQP runs from the uniform mixture,
    then again in log-weights (:func:`_slsqp`), each from the best certified point so far, until
    the certificate gap is at most ``tol`` (default
    ``MIXTURE_GAP_TOL * max(1, |value|)``) or ``restarts`` runs are spent; then up to ``polish``
    damped Newton steps on the KKT system (:func:`_newton_kkt`) are kept while they shrink the
    gap (weights far below 1, such as the 1e-12 an easy domain may get, need several). A
    final gap above ``tol`` raises :class:`robust_gates.theory.solvers.result.CertificateError`.
    """
    from .solvers.result import CertificateError

    t0 = time.perf_counter()
    game = _Game.build(loglik, weights)
    K, J = game.rho.shape[0], game.A.shape[1]
    Lambda = Simplex(K) if Lambda is None else Lambda
    if not isinstance(Lambda, LambdaSet):
        raise TypeError(f"Lambda must be a LambdaSet; got {type(Lambda).__name__}")
    if Lambda.K != K:
        raise ValueError(f"Lambda is a set of mixtures of {Lambda.K} domains; the game has {K}")
    par = Lambda.parametrization()
    r = par.G.shape[0]
    c0 = float(np.max(game.c))
    cs = game.c - c0  # <= 0, small next to the constants themselves
    w = np.full(J, 1.0 / J)
    iters, best = 0, None
    for _ in range(max(1, restarts)):
        for log_space in (False, True):
            w, it = _slsqp(game, par, cs, w if best is None else best[0], r, maxiter, log_space)
            iters += it
            upper, lower, lam = _certify(game, Lambda, w)
            if best is None or upper - lower < best[1] - best[2]:
                best = (w, upper, lower, lam)
        thr = (tol if tol is not None else MIXTURE_GAP_TOL) * max(1.0, abs(best[1]))
        if best[1] - best[2] <= thr:
            break
    w, upper, lower, lam = best
    for _ in range(polish):  # Newton on the KKT system from the SLSQP answer, kept when it certifies better
        w_new = _newton_kkt(game, Lambda, par, w)
        if w_new is None:
            break
        cand = _certify(game, Lambda, w_new)
        if not cand[0] - cand[1] < upper - lower:
            break
        w, (upper, lower, lam) = w_new, cand
    gap = max(upper - lower, 0.0)
    scale = max(1.0, abs(upper))
    if gap <= MIXTURE_GAP_TOL * scale:
        status = "optimal"
    elif tol is not None and gap <= tol * scale:
        status = "within_tol"
    else:
        raise CertificateError(f"mixture weights: certificate gap {gap:.3e} nats after {iters} SLSQP "
                               f"iterations exceeds {(tol or MIXTURE_GAP_TOL) * scale:.1e}")
    losses = game.c + game.shifted_losses(w)
    return MixtureWeights(weights=w, lam=lam, value=upper, lower_bound=lower, gap=gap, losses=losses,
                          status=status, iterations=iters, seconds=time.perf_counter() - t0)


def _slsqp(game: _Game, par, cs: np.ndarray, w0: np.ndarray, r: int, maxiter: int, log_space: bool = False):
    """SLSQP on the LP-dual form (module docstring) in ``w`` or, with ``log_space``, in ``u = log w``
    (``sum exp(u) = 1``, ``u >= -700``): there ``d f_k / d u_j = -E_kj w_j`` stays of order one even
    for weights like ``1e-12`` that an easy domain can get, where the ``w`` form stalls."""
    J = w0.size
    m = par.m
    Gt = par.G.T if r else np.zeros((m, 0))
    w_of = (lambda v: np.exp(v[:J])) if log_space else (lambda v: np.clip(v[:J], 1e-300, None))

    def cons(v):
        f = cs + game.shifted_losses(w_of(v))
        return Gt @ v[J:J + r] + v[J + r] - par.pullback(np.minimum(f, 1e300))

    def cons_jac(v):
        w = w_of(v)
        E = game.ratios(w)  # d f_k / d w_j = -E[k, j]
        return np.hstack([par.pullback(E * w[None, :] if log_space else E), Gt, np.ones((m, 1))])

    def total(v):
        return np.array([w_of(v).sum() - 1.0]) if log_space else np.array([v[:J].sum() - 1.0])

    def total_jac(v):
        return np.r_[w_of(v) if log_space else np.ones(J), np.zeros(r + 1)][None, :]

    x0 = np.log(np.maximum(w0, np.exp(_U_MIN))) if log_space else w0
    f0 = cs + game.shifted_losses(w_of(x0))
    z0 = float(np.max(par.pullback(f0))) if np.all(np.isfinite(f0)) else 1e6
    v0 = np.r_[x0, np.zeros(r), z0]
    obj = np.r_[np.zeros(J), par.h if r else np.zeros(0), 1.0]
    res = minimize(
        lambda v: float(obj @ v), v0, jac=lambda v: obj, method="SLSQP",
        bounds=[(_U_MIN, 0.0) if log_space else (0.0, 1.0)] * J + [(0.0, None)] * r + [(None, None)],
        constraints=[{"type": "eq", "fun": total, "jac": total_jac},
                     {"type": "ineq", "fun": cons, "jac": cons_jac}],
        options={"maxiter": maxiter, "ftol": 1e-16},
    )
    w = np.exp(res.x[:J]) if log_space else np.clip(res.x[:J], 0.0, None)
    if not np.all(np.isfinite(w)) or w.sum() <= 0:
        return w0, int(res.nit)
    return w / w.sum(), int(res.nit)


def _newton_kkt(game: _Game, Lambda: LambdaSet, par, w: np.ndarray, active_tol: float = 1e-6):
    r"""One Newton step on the saddle point's KKT system at the active sets of ``w`` and of the
    certificate LP's weights ``x`` (``S = supp w``, ``P = supp x``, ``A`` the tight rows of
    :math:`Gx \le h`): unknowns :math:`(w_S, x_P, y_A, \mu, \nu)`, equations
    :math:`\langle\lambda, E_{\cdot j}\rangle = \nu` (``j in S``), :math:`\sum w_S = 1`,
    :math:`(B^\top f)_i = \mu + (G_A^\top y)_i` (``i in P``), :math:`G_{A,P}x_P = h_A`,
    :math:`\sum x_P = 1`; Jacobian from the Hessians
    :math:`\partial_l E_{kj} = -\sum_i \rho_{ki} R_{ij} R_{il}`, :math:`R_{ij} = e^{a_{ij} - m_i}`.
    Solved by least squares (degenerate active sets); the step in ``w`` is damped to keep 10% of
    the way to the boundary (as interior-point methods do). ``None`` when it is not finite."""
    lam, x = _lower_bound_lp(game, Lambda, w, weights_too=True)
    S, P = np.flatnonzero(w > 0), np.flatnonzero(x > active_tol)
    A = np.flatnonzero(par.G @ x >= par.h - active_tol) if par.G.shape[0] else np.zeros(0, int)
    GA = par.G[A][:, P] if A.size else np.zeros((0, P.size))
    m = game.point_logs(w)
    R = np.exp(np.minimum(game.A - m[:, None], _EXP_CAP))  # N x J
    E = game.rho @ R
    BE, Bf = par.pullback(E), par.pullback(game.c + game.shifted_losses(w))  # (m, J), (m,)
    Hlam = (R[:, S] * (lam @ game.rho)[:, None]).T @ R[:, S]  # sum_k lam_k H_k on S x S
    nS, nP, nA = S.size, P.size, A.size
    rhs_y = Bf[P]
    design = np.hstack([np.ones((nP, 1)), GA.T])
    sol = np.linalg.lstsq(design, rhs_y, rcond=None)[0]
    mu, y = sol[0], sol[1:]
    nu = float(np.mean((lam @ E)[S]))
    F = np.r_[(x[P] @ BE[P][:, S]) - nu, w[S].sum() - 1.0, Bf[P] - mu - GA.T @ y,
              GA @ x[P] - (par.h[A] if nA else 0.0), x[P].sum() - 1.0]
    n = nS + nP + nA + 2
    Jm = np.zeros((F.size, n))
    iw, ix, iy, imu, inu = slice(0, nS), slice(nS, nS + nP), slice(nS + nP, nS + nP + nA), n - 2, n - 1
    Jm[:nS, iw] = -Hlam
    Jm[:nS, ix] = BE[P][:, S].T
    Jm[:nS, inu] = -1.0
    Jm[nS, iw] = 1.0
    r0 = nS + 1
    Jm[r0:r0 + nP, iw] = -BE[P][:, S]
    Jm[r0:r0 + nP, iy] = -GA.T
    Jm[r0:r0 + nP, imu] = -1.0
    r1 = r0 + nP
    Jm[r1:r1 + nA, ix] = GA
    Jm[r1 + nA, ix] = 1.0
    dw = np.linalg.lstsq(Jm, -F, rcond=None)[0][iw]
    if not np.all(np.isfinite(dw)):
        return None
    down = dw < 0
    t = min(1.0, 0.9 * float(np.min(w[S][down] / -dw[down]))) if down.any() else 1.0  # stay inside
    w_new = w.copy()
    w_new[S] += t * dw
    w_new = np.clip(w_new, 0.0, None)
    return w_new / w_new.sum()


def mixture_weights_from_samples(loglik, domain, Lambda: LambdaSet | None = None, *, K: int | None = None,
                                 tokens=None, **options) -> MixtureWeights:
    """:func:`mixture_weights` for an empirical game: point ``i`` belongs to domain ``domain[i]``
    and domains are averaged with :func:`domain_weights` (per-sample means; per-token means when
    ``tokens`` holds token counts)."""
    if K is None and Lambda is not None:
        K = Lambda.K
    return mixture_weights(loglik, domain_weights(domain, K, tokens), Lambda, **options)
