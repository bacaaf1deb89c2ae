r"""Parametric softmax gates ``g_W(x) = softmax(W phi(x))`` (SPEC algorithm 4 and GB).

A gate over ``K`` experts is parametrized by a weight matrix ``W`` (``K x d``) and a feature
map :math:`\phi : X \to \mathbb R^d`:

.. math:: g_W(x) = \mathrm{softmax}(W\phi(x)), \qquad
          P_{g_W}(x) = \sum_k g_{W,k}(x) P_k(x), \qquad
          Z(W) = \sum_x P_{g_W}(x) = \sum_k \mathbb E_{x\sim P_k}[g_{W,k}(x)].

Feature maps (:func:`make_features`):

``"loglik"`` (default)
    the experts' log-likelihoods :math:`\log \max(P_k(x), \text{LOG\_FLOOR})`, standardized
    (mean 0, variance 1 under the experts' average :math:`\bar P = \frac1K\sum_k P_k`), plus a
    constant feature. ``LOG_FLOOR = 1e-12`` is applied to the *features only*; the model
    :math:`P_{g_W}` always uses the exact :math:`P_k(x)`, zeros included (masked in the
    log-sum-exp). Standardizing is an affine change of features, so with the constant feature the
    gate class is unchanged.
``"onehot"``
    :math:`\phi(x) = e_x` (finite ``X``): every column of the gate is free, the fully flexible
    class (its closure is all of ``G_1``); no bias.
an array ``(n, d)`` or a callable ``points -> (B, d)``
    user features (a constant feature is appended when ``bias=True``).

The per-point quantities use log-sum-exp throughout:

.. math:: \log P_{g_W}(x) = \mathrm{LSE}_k(s_k + \log P_k(x)) - \mathrm{LSE}_k(s_k), \quad s = W\phi(x),

with gradients :math:`\partial(-\log P_{g_W}(x))/\partial s = g - r`, where
:math:`r_k = g_k P_k(x)/P_{g_W}(x)` is the posterior over experts, and
:math:`\partial P_{g_W}(x)/\partial s_j = g_j (P_j(x) - P_{g_W}(x))`.

:func:`fit_softmax_class` computes the best gate of a class deterministically on finite ``X``
(``min_W max_Lambda L(g_W, .)`` s.t. ``Z(W) = 1``). Because the softmax parametrization makes
this program non-convex in ``W`` (``-log P_{g_W}`` is a difference of log-sum-exps), the result
is reported as an **upper bound** on the class value (attained by the returned gate, feasible up
to the reported normalization error), never as the class optimum; ``V(Lambda)`` (all of ``G_1``)
is a lower bound. Gate classes that are linear in the gate itself (gates constant on the cells of
a partition of ``X``, one-hot of the cell as features) are convex and are solved exactly in
:mod:`robust_gates.simulations.generalization`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize
from scipy.special import xlogy

from robust_gates.theory import RobustProblem, gate_from_model, in_envelope, repair_envelope

__all__ = [
    "LOG_FLOOR", "FeatureMap", "make_features", "log_experts_table", "forward",
    "finite_gate", "GatedOutput", "gated_output", "fit_softmax_class", "ClassFit", "vertices_of",
]

#: floor applied to P_k(x) inside the log-likelihood *features* (never inside the model)
LOG_FLOOR = 1e-12
#: the envelope tolerance under which a renormalized model is passed to ``gate_from_model``
ENVELOPE_TOL = 1e-9


@dataclass(frozen=True, eq=False)
class FeatureMap:
    """A feature map ``phi`` with the two operations the gate needs.

    ``table`` (``n x d``) is set on finite ``X`` for dense features; ``onehot`` marks
    ``phi(x) = e_x`` (stored implicitly); ``fn`` maps an array of points to ``(B, d)``.
    """

    kind: str
    d: int
    table: np.ndarray | None = None
    fn: Callable[[np.ndarray], np.ndarray] | None = None
    onehot: bool = False

    def matrix(self, x: np.ndarray) -> np.ndarray:
        """``phi(x)`` as a ``(B, d)`` array (dense kinds only)."""
        if self.onehot:
            raise ValueError("one-hot features are implicit; use scores/backprop")
        if self.table is not None:
            return self.table[np.asarray(x, dtype=np.intp)]
        return np.asarray(self.fn(x), dtype=np.float64)

    def scores(self, W: np.ndarray, x: np.ndarray) -> np.ndarray:
        """``s = W phi(x)`` for a batch: ``(K, B)``."""
        if self.onehot:
            return W[:, np.asarray(x, dtype=np.intp)]
        return W @ self.matrix(x).T

    def backprop(self, M: np.ndarray, x: np.ndarray) -> np.ndarray:
        """``sum_b M[:, b] phi(x_b)^T``: the gradient in ``W`` of ``sum_b M[:, b] . s_b``."""
        if self.onehot:
            grad = np.zeros((M.shape[0], self.d))
            np.add.at(grad.T, np.asarray(x, dtype=np.intp), M.T)
            return grad
        return M @ self.matrix(x)


def log_experts_table(P: np.ndarray) -> np.ndarray:
    """``log P`` with ``-inf`` exactly where ``P = 0`` (no floor: the model stays exact)."""
    P = np.asarray(P, dtype=np.float64)
    out = np.full_like(P, -np.inf)
    np.log(P, out=out, where=P > 0)
    return out


def _standardize(F: np.ndarray, weights: np.ndarray) -> np.ndarray:
    mean = weights @ F
    std = np.sqrt(np.maximum(weights @ (F - mean) ** 2, 0.0))
    std = np.where(std > 1e-12, std, 1.0)
    return (F - mean) / std


def make_features(spec="loglik", P: np.ndarray | None = None, *, bias: bool = True,
                  standardize: bool = True, log_floor: float = LOG_FLOOR) -> FeatureMap:
    """Build a :class:`FeatureMap` on the finite sample space of the experts ``P`` (``K x n``).

    ``spec`` is ``"loglik"``, ``"onehot"``, an ``(n, d)`` array or a callable. For a callable
    (possibly infinite ``X``) ``P`` may be omitted and no standardization is done.
    """
    if callable(spec):
        fn = spec if not bias else (lambda x, f=spec: _with_bias(np.asarray(f(x), dtype=np.float64)))
        return FeatureMap("user", _probe_dim(spec) + int(bias), fn=fn)
    if P is None:
        raise ValueError(f"features {spec!r} need the experts P (K x n) of a finite sample space")
    P = np.asarray(P, dtype=np.float64)
    K, n = P.shape
    if isinstance(spec, str) and spec == "onehot":
        return FeatureMap("onehot", n, onehot=True)
    if isinstance(spec, str) and spec == "loglik":
        if not (0 < log_floor < 1):
            raise ValueError(f"log_floor must lie in (0, 1); got {log_floor!r}")
        F = np.log(np.maximum(P, log_floor)).T
        kind = "loglik"
    elif isinstance(spec, str):
        raise ValueError(f"unknown features {spec!r}; use 'loglik', 'onehot', an (n, d) array or a callable")
    else:
        F = np.asarray(spec, dtype=np.float64)
        if F.ndim != 2 or F.shape[0] != n:
            raise ValueError(f"user features must have shape (n, d) = ({n}, d); got {F.shape}")
        if not np.all(np.isfinite(F)):
            raise ValueError("user features contain non-finite values")
        kind = "user"
    if standardize:
        F = _standardize(F, P.mean(axis=0))
    if bias:
        F = _with_bias(F)
    return FeatureMap(kind, F.shape[1], table=np.ascontiguousarray(F))


def _with_bias(F: np.ndarray) -> np.ndarray:
    return np.hstack([F, np.ones((F.shape[0], 1))])


def _probe_dim(fn) -> int:
    out = np.asarray(fn(np.zeros(1, dtype=np.intp)))
    if out.ndim != 2:
        raise ValueError(f"a feature callable must return a (B, d) array; got shape {out.shape}")
    return int(out.shape[1])


# --------------------------------------------------------------------------- forward pass
def _lse0(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Column-wise log-sum-exp of ``a`` (``-inf`` entries allowed) and ``exp(a - lse)``."""
    m = a.max(axis=0)
    m = np.where(np.isfinite(m), m, 0.0)
    e = np.exp(a - m)
    s = e.sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return m + np.log(s), e / s


def forward(S: np.ndarray, logPx: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gate ``g``, ``log P_g(x)`` and posterior ``r`` for scores ``S`` and ``log P_k(x)`` (both ``K x B``).

    Where every ``P_k(x) = 0`` the log-likelihood is ``-inf`` and the posterior is set to 0.
    """
    lse_s, G = _lse0(S)
    lse_a, R = _lse0(S + logPx)
    if not np.all(np.isfinite(lse_a)):
        R = np.where(np.isfinite(lse_a)[None, :], R, 0.0)
    return G, lse_a - lse_s, R


def finite_gate(W: np.ndarray, feats: FeatureMap, n: int) -> np.ndarray:
    """The gate ``g_W`` on all of ``X = {0..n-1}`` (``K x n``)."""
    return _lse0(feats.scores(W, np.arange(n)))[1]


@dataclass(frozen=True)
class GatedOutput:
    """A gated model made a distribution and a ``G_1`` gate for it.

    ``mass`` is ``sum_x P_g(x)`` before renormalizing (``norm_error = |mass - 1|``);
    ``model`` the renormalized model moved into the envelope set ``Q`` (``repair`` is the
    sup-norm size of that move, 0 when the renormalized model was already in ``Q``); ``gate``
    a ``G_1`` gate realizing ``model`` exactly (:func:`robust_gates.theory.gate_from_model`).
    """

    model: np.ndarray
    gate: np.ndarray
    mass: float
    norm_error: float
    repair: float


def gated_output(G: np.ndarray, P: np.ndarray) -> GatedOutput:
    """Renormalize ``P_G`` and return a certified-feasible model and gate (see :class:`GatedOutput`)."""
    Pg = np.einsum("kx,kx->x", G, P)
    mass = float(Pg.sum())
    if not (mass > 0 and np.isfinite(mass)):
        raise ValueError(f"the gated model has total mass {mass!r}; cannot renormalize")
    q = Pg / mass
    repair = 0.0
    if not in_envelope(q, P, ENVELOPE_TOL):
        l, u = P.min(axis=0), P.max(axis=0)
        q2 = repair_envelope(q, l, u)
        repair = float(np.max(np.abs(q2 - q)))
        q = q2
    gate = gate_from_model(q, P, tol=max(ENVELOPE_TOL, 1e-8))
    return GatedOutput(model=q, gate=gate, mass=mass, norm_error=abs(mass - 1.0), repair=repair)


# --------------------------------------------------------------------------- class optimum
def vertices_of(Lambda) -> np.ndarray:
    """Points of ``Lambda`` (rows) generating it, so that ``max_Lambda lam.c = max_v v.c``
    (:meth:`LambdaSet.generators`: the vertices, or a hull's given points)."""
    return Lambda.generators()


@dataclass(frozen=True)
class ClassFit:
    """Best gate found in a softmax class: ``value`` = worst case of ``output.model`` for the game
    it was fitted on (an upper bound on the class value), ``W`` its weights, ``starts`` the number
    of SLSQP starts."""

    W: np.ndarray
    value: float
    output: GatedOutput
    starts: int


def _class_objective(D, logP, P, feats, offsets, Vx):
    K, n = P.shape
    Phi = feats.table if not feats.onehot else None

    def unpack(z):
        W = np.zeros((K, feats.d))
        W[1:] = z[:-1].reshape(K - 1, feats.d)
        return W, z[-1]

    def parts(z):
        W, t = unpack(z)
        S = W @ Phi.T if Phi is not None else W
        G, logPg, R = forward(S, logP)
        Pg = np.exp(logPg)
        ell = offsets - D @ np.where(D.any(axis=0), logPg, 0.0)
        # d ell_k / dS = D_k(x) (G - R); dZ/dS = G (P - Pg)
        return W, t, S, G, R, Pg, ell

    def back(M):
        gW = M @ Phi if Phi is not None else M
        return gW[1:].ravel()

    def cons_ineq(z):
        _, t, _, _, _, _, ell = parts(z)
        return t - Vx @ ell

    def cons_ineq_jac(z):
        _, _, _, G, R, _, _ = parts(z)
        rows = []
        for v in Vx:
            w = v @ D
            rows.append(np.r_[-back((G - R) * w[None, :]), 1.0])
        return np.array(rows)

    def cons_eq(z):
        _, _, _, _, _, Pg, _ = parts(z)
        return np.array([Pg.sum() - 1.0])

    def cons_eq_jac(z):
        _, _, _, G, _, Pg, _ = parts(z)
        return np.r_[back(G * (P - Pg[None, :])), 0.0][None, :]

    return unpack, parts, cons_ineq, cons_ineq_jac, cons_eq, cons_eq_jac


def fit_softmax_class(problem: RobustProblem, feats: FeatureMap, *, rng: np.random.Generator,
                      D: np.ndarray | None = None, starts: int = 3, init: np.ndarray | None = None,
                      scale: float = 1.0, w_max: float = 20.0, maxiter: int = 300) -> ClassFit:
    r"""Best gate of the class ``{g_W}`` for the game on ``D`` (default ``problem.D``), by SLSQP.

    Solves :math:`\min_{W, t} t` s.t. :math:`v^\top \ell(W) \le t` for every vertex ``v`` of
    ``Lambda`` and :math:`Z(W) = 1` (row 0 of ``W`` fixed at 0: softmax is invariant to a
    common shift), from ``W = 0`` (a constant gate, feasible), from ``init`` if given, and from
    ``starts - 1`` random starts ``N(0, scale^2)`` drawn from ``rng``, with every entry of ``W``
    bounded by ``w_max`` (the class optimum is typically approached only as ``|W| -> inf``, where
    gates saturate at an expert; the bound makes the class compact and SLSQP's runs finite).
    ``D`` lets the same routine fit the *empirical* class gate (``D`` = empirical distributions, experts and
    ``Lambda`` from ``problem``). Non-convex in ``W``: the returned value is an upper bound on
    the class value (see the module docstring). ``value`` is the worst case of the output model
    *for the game on D* with the problem's payoff offsets.
    """
    D = problem.D if D is None else np.asarray(D, dtype=np.float64)
    P = problem.P
    K = problem.K
    if not feats.onehot and feats.table is None:
        raise ValueError("fit_softmax_class needs features on the finite sample space (a table or one-hot)")
    logP = log_experts_table(P)
    offsets = _offsets(D, problem.payoff)
    Vx = vertices_of(problem.Lambda)
    unpack, parts, ci, cij, ce, cej = _class_objective(D, logP, P, feats, offsets, Vx)
    inits = [np.zeros((K - 1) * feats.d)]
    if init is not None:
        W0 = np.asarray(init, dtype=np.float64)
        inits.append((W0[1:] - W0[:1]).ravel())
    for _ in range(max(starts - 1, 0)):
        inits.append(rng.normal(0.0, scale, size=(K - 1) * feats.d))
    best = None
    for z0 in inits:
        ell0 = parts(np.r_[z0, 0.0])[-1]
        z0 = np.r_[z0, float(np.max(Vx @ ell0))]
        res = minimize(
            lambda z: z[-1], z0, jac=lambda z: np.r_[np.zeros(z.size - 1), 1.0], method="SLSQP",
            constraints=[{"type": "ineq", "fun": ci, "jac": cij}, {"type": "eq", "fun": ce, "jac": cej}],
            bounds=[(-w_max, w_max)] * (z0.size - 1) + [(None, None)],
            options={"maxiter": maxiter, "ftol": 1e-12},
        )
        W, _ = unpack(res.x)
        out = gated_output(finite_gate(W, feats, problem.n), P)
        ell = offsets - xlogy(D, out.model[None, :]).sum(axis=1)
        val = float(np.max(Vx @ ell))
        if best is None or val < best[1]:
            best = (W, val, out)
    W, val, out = best
    return ClassFit(W=W, value=val, output=out, starts=len(inits))


def _offsets(D: np.ndarray, payoff: str) -> np.ndarray:
    """Per-domain constants ``c_k`` with ``loss_k = c_k + CE(D_k, q)``: ``-H(D_k)`` (kl) or 0."""
    if payoff == "cross_entropy":
        return np.zeros(D.shape[0])
    with np.errstate(divide="ignore", invalid="ignore"):
        H = -np.sum(np.where(D > 0, D * np.log(np.where(D > 0, D, 1.0)), 0.0), axis=1)
    return -H
