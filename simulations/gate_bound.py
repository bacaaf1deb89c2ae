r"""GB2: a generalization bound in terms of the gate's complexity (SPEC GB2, paper section 4.6).

Setting. A finite game: ``K`` domains ``D_k`` on ``n`` points, positive experts ``P_k``, a polytope
``Lambda`` with vertex set ``Vert``. The gate class is
:math:`G_B = \{x \mapsto \mathrm{softmax}(W\phi(x)) : \|W\|_F \le B\}` with features
:math:`\|\phi(x)\|_2 \le R` (``W`` is ``K x d``), and the loss of a gate is
:math:`f_W(x) = -\log P_{g_W}(x) = -\log \sum_k \mathrm{softmax}(W\phi(x))_k P_k(x)`.
Domain ``k`` contributes ``m_k`` i.i.d. samples; ``M = sum_k m_k``, ``c_i = v_k / m_k`` for a sample
of domain ``k`` and :math:`s(v\|\bar m) = \sum_k v_k^2/\bar m_k` with ``m_bar = m / M``, so that
:math:`\sum_i c_i^2 = s(v\|\bar m)/M`. Losses ``L_k(W) = E_{D_k} f_W``, their empirical means
``L^_k``, the worst cases ``F(W) = max_Lambda sum_k lam_k L_k(W)`` and ``F^`` likewise.

Derivation (our own; every constant explicit).

1. *Lipschitz in the logits.* With ``z = W phi(x)``, ``s = softmax(z)`` and the posterior
   ``post_k = s_k P_k(x) / P_g(x)``: :math:`\partial f/\partial z = s - post`, a difference of two
   points of the simplex, so :math:`\|s - post\|_2 \le \sqrt 2`: ``z -> f`` is ``sqrt 2``-Lipschitz.
2. *Vector contraction* (Maurer 2016: :math:`E\sup\sum_i\sigma_i h_i(z_i) \le \sqrt2\, E\sup
   \sum_{i,k}\sigma_{ik} L_i z_{ik}` for ``L_i``-Lipschitz ``h_i``) with ``h_i = c_i f`` and then
   Cauchy-Schwarz and Jensen on :math:`\sup_{\|W\|_F\le B}\langle W, \sum_{i,k}\sigma_{ik}c_i e_k
   \phi_i^\top\rangle`: for any fixed sample, the weighted empirical Rademacher complexity obeys
   :math:`\hat{\mathcal R}(v) = E_\sigma \sup_W \sum_i \sigma_i c_i f_W(x_i) \le 2BR\sqrt{K\,
   s(v\|\bar m)/M}` (:func:`rademacher_bound`). No ``n``, no expert size: only ``B, R, K``.
3. *Bounded differences without the experts.* The log-likelihood range ``max_x f - min_x f`` of
   a gate depends on the experts (it grows like ``log n`` for spread-out domains), so the
   uniform deviation is taken for differences ``g_W = f_W - f_ref`` to a comparator ``W_ref``
   fixed before sampling. :math:`\log(P_{g}/P_{g'}) \in [\min_k \log(s_k/s'_k), \max_k \log(s_k/s'_k)]`
   and :math:`|\log(s_k/s'_k)| \le \mathrm{osc}(z - z') \le \sqrt2 R\|W - W'\|_F`, so
   :math:`|g_W| \le c := 2\sqrt2 BR`. The class ``{g_W}`` has the Rademacher complexity of
   ``{f_W}`` (a fixed shift averages out against ``sigma``).
4. *One vertex.* For ``v`` in ``Vert``, symmetrization and McDiarmid (one sample of domain ``k``
   moves the supremum by at most ``2 c v_k / m_k``) give, with probability ``>= 1 - delta'``,
   :math:`\sup_W v\cdot(L - \hat L)(g_W) \le 4BR\sqrt{K s_v/M} + c\sqrt{2 s_v\log(1/\delta')/M}`.
5. *All of Lambda.* ``lam -> sup_W lam . (L - L^)(g_W)`` is convex, so its maximum over the
   polytope is at a vertex: a union bound over ``Vert`` with ``delta' = delta / (2|Vert|)``
   replaces an ``eps``-cover (SPEC's route for a general convex set). This is the uniform
   deviation bound :math:`\Phi_B` (:func:`deviation_bound`); it depends on ``B, R, K``, the
   skewness and ``delta`` only.
6. *The excess of any data-dependent gate.* Write ``E = (L - L^)(f_ref)`` (a vector over ``k``).
   Then :math:`F(\hat W) \le \hat F(\hat W) + \Phi + \max_v v\cdot E` and
   :math:`F(W_{ref}) \ge \hat F(W_{ref}) + \min_v v\cdot E`, so
   :math:`F(\hat W) - F(W_{ref}) \le \Phi + (\max_v - \min_v) v\cdot E + [\hat F(\hat W) -
   \hat F(W_{ref})]_+`. The middle term is Hoeffding for one fixed function (two-sided, level
   ``delta / (2|Vert|)`` per vertex): at most :math:`2\max_v b_{ref}\sqrt{s_v\log(4|Vert|/\delta)/
   (2M)}` with ``b_ref = osc`` of ``f_ref`` over the domains' support, and exactly 0 when
   ``Lambda`` is one point. Total: probability ``>= 1 - delta`` (:func:`excess_bound`).

**Where the SPEC form fails.** Step 6's comparator term carries ``b_ref``, the spread of the
comparator's log-likelihoods, which depends on the experts and can grow with ``n``: the
*uniform deviation* (``Phi_B``) is free of ``n`` and of the experts, but the *excess* bound is
only when ``Lambda`` is a single mixture (or with a comparator whose log-likelihood spread is
bounded). The SPEC's "loss range" plug-in of the agnostic federated learning bound has the same
dependence, in its main term. Both slopes are therefore measured (:func:`gb2_measure`), not
asserted: the bound decays like ``M^(-1/2)`` by construction and ``Phi_B`` is flat in ``n``.

Glossary: ``B`` radius, ``R`` feature bound, ``Phi`` (``n x d``) features, ``W`` (``K x d``),
``logP`` (``K x n``) log experts, ``m`` samples per domain, ``delta`` confidence.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import logsumexp, softmax
from scipy.stats import binom

from robust_gates.theory import RobustProblem

from .generalization import nested_cells
from .softmax_gate import vertices_of

__all__ = ["GateClass", "gate_class", "gate_losses", "gate_gradient", "rademacher_bound", "deviation_bound",
           "excess_bound", "comparator", "rademacher_lower", "trial", "failures_allowed", "gb2_measure",
           "sample_sizes"]


@dataclass(frozen=True, eq=False)
class GateClass:
    """``softmax(W phi(x))`` with ``||W||_F <= B``; ``features`` is ``Phi`` (``n x d``), ``R`` the
    largest row norm, ``logP`` the experts' logs (``K x n``)."""

    features: np.ndarray
    B: float
    R: float
    logP: np.ndarray

    @property
    def shape(self) -> tuple[int, int]:
        return self.logP.shape[0], self.features.shape[1]


def gate_class(problem: RobustProblem, B: float, features: str = "cells", cells: int = 4) -> GateClass:
    """The class of the module docstring on ``problem``: ``features = "cells"`` (one-hot codes of
    :func:`robust_gates.simulations.generalization.nested_cells`, ``R = 1``) or ``"loglik"``
    (centred expert log-likelihoods and a constant, scaled so the largest norm is 1)."""
    if not B > 0:
        raise ValueError(f"the radius B must be positive; got {B}")
    P = problem.P
    if P.min() <= 0:
        raise ValueError("GB2 needs experts positive everywhere (the loss -log P_g(x) must be finite)")
    logP = np.log(P)
    if features == "cells":
        labels = nested_cells(problem, int(min(max(cells, 1), problem.n)))
        Phi = np.eye(int(labels.max()) + 1)[labels]
    elif features == "loglik":
        v = np.hstack([(logP - logP.mean(axis=0)).T, np.ones((problem.n, 1))])
        Phi = v / np.linalg.norm(v, axis=1).max()
    else:
        raise ValueError(f"features must be 'cells' or 'loglik'; got {features!r}")
    R = float(np.linalg.norm(Phi, axis=1).max())
    return GateClass(Phi, float(B), R, logP)


def gate_losses(gc: GateClass, W: np.ndarray) -> np.ndarray:
    """``f_W(x) = -log sum_k softmax(W phi(x))_k P_k(x)`` for every ``x`` (log space)."""
    z = gc.features @ W.T  # n x K
    return logsumexp(z, axis=1) - logsumexp(z + gc.logP.T, axis=1)


def gate_gradient(gc: GateClass, W: np.ndarray, a: np.ndarray) -> np.ndarray:
    """Gradient in ``W`` of ``sum_x a(x) f_W(x)``: ``sum_x a(x) (s(x) - post(x)) phi(x)^T``."""
    z = gc.features @ W.T
    s = softmax(z, axis=1)
    post = softmax(z + gc.logP.T, axis=1)
    return ((a[:, None] * (s - post)).T @ gc.features)


def _project(W: np.ndarray, B: float) -> np.ndarray:
    nrm = np.linalg.norm(W)
    return W if nrm <= B else W * (B / nrm)


def rademacher_bound(gc: GateClass, v: np.ndarray, m: np.ndarray) -> float:
    """Step 2: ``2 B R sqrt(K sum_k v_k^2 / m_k)``."""
    K = gc.shape[0]
    return float(2 * gc.B * gc.R * np.sqrt(K * np.sum(np.asarray(v) ** 2 / np.asarray(m))))


def deviation_bound(gc: GateClass, Vx: np.ndarray, m: np.ndarray, delta: float) -> float:
    """Steps 4-5: ``Phi_B = max_v [2 R_m(v) + c sqrt(2 s_v log(2|Vert|/delta) / M)]``."""
    c = 2 * np.sqrt(2) * gc.B * gc.R
    w = np.log(2 * len(Vx) / delta)
    return float(max(2 * rademacher_bound(gc, v, m) + c * np.sqrt(2 * np.sum(v ** 2 / m) * w) for v in Vx))


def excess_bound(gc: GateClass, Vx: np.ndarray, m: np.ndarray, delta: float, f_ref: np.ndarray,
                 support: np.ndarray) -> tuple[float, float]:
    """Step 6 without the ERM slack: ``(Phi_B, comparator term)``; the second is 0 for one vertex."""
    phi = deviation_bound(gc, Vx, m, delta)
    if len(Vx) == 1:
        return phi, 0.0
    b = float(np.ptp(f_ref[support]))
    w = np.log(4 * len(Vx) / delta)
    return phi, float(2 * max(b * np.sqrt(np.sum(v ** 2 / m) * w / 2) for v in Vx))


def _worst(Vx: np.ndarray, D: np.ndarray, f: np.ndarray) -> tuple[float, int]:
    vals = Vx @ (D @ f)
    i = int(np.argmax(vals))
    return float(vals[i]), i


def _descend(gc: GateClass, Vx: np.ndarray, D: np.ndarray, steps: int,
             W0: np.ndarray | None = None) -> np.ndarray:
    """Projected subgradient descent on ``W -> max_v v . (D f_W)`` from ``W0`` (default 0); the
    best iterate is returned (any gate of the class is admissible in the bound)."""
    K, d = gc.shape
    W = np.zeros((K, d)) if W0 is None else W0.copy()
    best, best_val = W, _worst(Vx, D, gate_losses(gc, W))[0]
    for t in range(steps):
        _, i = _worst(Vx, D, gate_losses(gc, W))
        G = gate_gradient(gc, W, Vx[i] @ D)
        g = np.linalg.norm(G)
        if g == 0:
            break
        W = _project(W - (gc.B / np.sqrt(t + 1)) * G / g, gc.B)
        val = _worst(Vx, D, gate_losses(gc, W))[0]
        if val < best_val:
            best, best_val = W, val
    return best


def comparator(gc: GateClass, problem: RobustProblem, steps: int = 40) -> np.ndarray:
    """``W_ref``: descent on the population worst case (data-independent, so step 6 applies)."""
    return _descend(gc, vertices_of(problem.Lambda), problem.D, steps)


def sample_sizes(M: int, proportions: np.ndarray) -> np.ndarray:
    """``m_k = max(1, round(M p_k))``."""
    return np.maximum(np.round(M * np.asarray(proportions)).astype(int), 1)


def rademacher_lower(gc: GateClass, v: np.ndarray, counts: np.ndarray, m: np.ndarray, draws: int,
                     rng: np.random.Generator, alpha: float) -> tuple[float, float]:
    """``(mean, lower)``: for ``draws`` sign vectors, the value of ``sum_i sigma_i c_i (f_W - f_0)(x_i)``
    at the linearized maximizer ``W = B G / ||G||_F`` (``G`` its gradient at 0), averaged. Each value
    is at most the supremum, and the average of the suprema exceeds the empirical Rademacher
    complexity by more than ``t = sqrt 2 B R sqrt(2 sum c_i^2 log(1/alpha) / draws)`` with
    probability ``<= alpha`` (McDiarmid over the signs, ``|f_W - f_0| <= sqrt 2 B R``); so
    ``lower = mean - t`` is below it with probability ``>= 1 - alpha``. ``counts`` is ``K x n``; the
    signed sum over the ``N_kx`` samples of domain ``k`` at ``x`` is ``2 Binomial(N_kx, 1/2) - N_kx``."""
    K, n = counts.shape
    N = counts.astype(np.int64)
    w = np.asarray(v, dtype=np.float64) / np.asarray(m, dtype=np.float64)
    sums = 2.0 * rng.binomial(N[None, :, :], 0.5, size=(draws, K, n)) - N[None, :, :]
    a = np.einsum("k,jkx->jx", w, sums)  # draws x n
    f0 = gate_losses(gc, np.zeros(gc.shape))
    s0 = np.full((n, K), 1.0 / K)
    post0 = softmax(gc.logP.T, axis=1)
    J = (s0 - post0)[:, :, None] * gc.features[:, None, :]  # n x K x d: d f / d W at 0
    G = np.tensordot(a, J, axes=1)  # draws x K x d
    g = np.linalg.norm(G.reshape(draws, -1), axis=1)
    W = gc.B * G / np.where(g > 0, g, 1.0)[:, None, None]
    z = np.einsum("xd,jkd->jxk", gc.features, W)
    f = logsumexp(z, axis=2) - logsumexp(z + gc.logP.T[None], axis=2)
    vals = np.einsum("jx,jx->j", a, f - f0[None, :])
    sum_c2 = float(np.sum(w ** 2 * N.sum(axis=1)))
    t = np.sqrt(2) * gc.B * gc.R * np.sqrt(2 * sum_c2 * np.log(1 / alpha) / draws)
    return float(vals.mean()), float(vals.mean() - t)


def trial(gc: GateClass, problem: RobustProblem, W_ref: np.ndarray, m: np.ndarray, delta: float,
          rng: np.random.Generator, steps: int = 15) -> dict:
    """One draw of ``m_k`` samples per domain: the uniform deviation at a data-chosen gate (ascent
    on ``max_v v . (L - L^)(g_W)`` from ``W_ref``) against ``Phi_B``, and the excess of the
    empirical robust gate (descent on ``F^`` from 0) over ``W_ref`` against step 6's bound."""
    Vx = vertices_of(problem.Lambda)
    D = problem.D
    counts = np.array([rng.multinomial(int(mk), D[k]) for k, mk in enumerate(m)], dtype=np.float64)
    Dh = counts / counts.sum(axis=1, keepdims=True)
    f_ref = gate_losses(gc, W_ref)
    # deviation: projected ascent (any W is a lower bound of the supremum)
    W, dev = W_ref.copy(), 0.0
    for t in range(steps):
        vals = Vx @ ((D - Dh) @ (gate_losses(gc, W) - f_ref))
        i = int(np.argmax(vals))
        dev = max(dev, float(vals[i]))
        G = gate_gradient(gc, W, Vx[i] @ (D - Dh))
        g = np.linalg.norm(G)
        if g == 0:
            break
        W = _project(W + (gc.B / np.sqrt(t + 1)) * G / g, gc.B)
    dev = max(dev, float(np.max(Vx @ ((D - Dh) @ (gate_losses(gc, W) - f_ref)))))
    phi = deviation_bound(gc, Vx, m, delta)
    # excess of the empirical robust gate over the comparator
    W_hat = _descend(gc, Vx, Dh, steps)
    f_hat = gate_losses(gc, W_hat)
    erm_slack = max(0.0, _worst(Vx, Dh, f_hat)[0] - _worst(Vx, Dh, f_ref)[0])
    excess = _worst(Vx, D, f_hat)[0] - _worst(Vx, D, f_ref)[0]
    _, comp = excess_bound(gc, Vx, m, delta, f_ref, D.sum(axis=0) > 0)
    return {"deviation": dev, "deviation_bound": phi, "excess": excess,
            "excess_bound": phi + comp + erm_slack, "comparator_term": comp, "erm_slack": erm_slack}


def failures_allowed(trials: int, p: float, alpha: float) -> int:
    """The smallest ``F`` with ``P(Binomial(trials, p) > F) <= alpha``: a bound that holds with
    probability ``>= 1 - p`` fails more than ``F`` times out of ``trials`` with probability
    ``<= alpha``."""
    return int(binom.ppf(1 - alpha, trials, p))


def gb2_measure(problem: RobustProblem, B: float, M_grid, *, features: str = "cells", cells: int = 4,
                trials: int = 20, delta: float = 0.1, seed: int = 0) -> pd.DataFrame:
    """Measured (never asserted): per total sample size ``M`` (equal proportions), the mean
    uniform deviation and excess over ``trials`` draws, their bounds and their coverage. One row
    per ``M``; randomness from ``SeedSequence([seed, i])`` for grid point ``i``."""
    gc = gate_class(problem, B, features, cells)
    W_ref = comparator(gc, problem)
    K = problem.K
    rows = []
    for i, M in enumerate(M_grid):
        rng = np.random.default_rng(np.random.SeedSequence([seed, i]))
        m = sample_sizes(int(M), np.full(K, 1.0 / K))
        out = pd.DataFrame([trial(gc, problem, W_ref, m, delta, rng) for _ in range(trials)])
        rows.append({"M": int(M), "n": problem.n, "mean_deviation": float(out.deviation.mean()),
                     "deviation_bound": float(out.deviation_bound.iloc[0]),
                     "deviation_coverage": float((out.deviation <= out.deviation_bound).mean()),
                     "mean_excess": float(out.excess.mean()),
                     "mean_excess_bound": float(out.excess_bound.mean()),
                     "excess_coverage": float((out.excess <= out.excess_bound).mean()),
                     "comparator_term": float(out.comparator_term.mean())})
    return pd.DataFrame(rows)
