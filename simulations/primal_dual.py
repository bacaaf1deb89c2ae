r"""Stochastic primal-dual for the robust gate from samples (SPEC algorithm 4, section 5.2).

Program. For a softmax gate class ``g_W`` (:mod:`robust_gates.simulations.softmax_gate`) the learner solves

.. math:: \min_{W} \max_{\lambda \in \Lambda} \sum_k \lambda_k \ell_k(W)
          \quad \text{s.t.} \quad Z(W) = \sum_x P_{g_W}(x) = 1,
          \qquad \ell_k(W) = c_k - \mathbb E_{x \sim D_k} \log P_{g_W}(x),

(``c_k = -H(D_k)`` for the ``"kl"`` payoff, ``0`` for ``"cross_entropy"``) through the
augmented Lagrangian, a saddle function of ``W`` against ``(lambda, mu)``:

.. math:: F(W; \lambda, \mu) = \sum_k \lambda_k \ell_k(W) + \mu (Z(W) - 1)
          + \tfrac{\rho}{2} (Z(W) - 1)^2 .

The multiplier ``mu`` of the ``G_1`` normalization is the water-filling multiplier ``nu`` of
the exact best response: for fixed ``(lambda, mu)`` the pointwise minimizer over the gate is
``P_g(x) = clip(D_lambda(x)/mu, l(x), u(x))`` (SPEC section 2), so ``mu`` starts at 1 (its
value when no envelope bound is active).

Round ``t`` (all randomness from the explicit ``rng``):

1. draw a minibatch of ``B`` points from every domain ``D_k``;
2. per-domain losses :math:`\hat\ell_k = c_k - \frac1B\sum_b \log P_{g_W}(x_{k,b})` by
   log-sum-exp, and their gradients in ``W`` (:func:`robust_gates.simulations.softmax_gate.forward`);
3. ``Z`` and its gradient: exact on finite ``X`` (a pass over ``X``), otherwise the unbiased
   estimate :math:`\hat Z = \sum_k \frac1B\sum_b g_{W,k}(y_{k,b})`, ``y_{k,b} ~ P_k``;
4. an Adam (default) or SGD step on ``W`` with rate ``lr / sqrt(1 + t / lr_decay)``;
5. ascent on ``lambda`` with step ``lam_step / sqrt(t)`` in the coordinates ``Lambda`` offers
   for it (:meth:`LambdaSet.ascent_chart`: ``lambda = B x``, gradient ``B^T ell``): projected
   (Euclidean; the gradient is first centered so the step stays on ``sum x = 1``) or mirror
   (exponentiated). When ``x`` ranges over a whole simplex (the simplex itself; a hull, whose
   ``x`` are the weights of its points) the projection is the exact :func:`project_simplex` and a
   mirror step needs none; otherwise ``x = lambda`` and :meth:`LambdaSet.project` is called only
   when the step leaves ``Lambda``;
6. ``mu <- mu + mu_step / sqrt(t) * (Z - 1)``;
7. averaging with weights ``w_t ∝ t^averaging`` (``averaging = 1``: the polynomial-decay
   average; ``0``: the uniform Cesaro average) of ``lambda``, ``W`` and, on finite ``X``, of the
   gate itself (``g_bar = sum_t w_t g_{W_t}``: a gate with columns in the simplex whose model is
   the averaged model, the object the ``O(1/sqrt T)`` guarantee of averaged gradient
   descent-ascent is about; for the one-hot class it is again a member of the class).

Output. The averaged model's mass ``Z_bar`` is reported (``norm_error = |Z_bar - 1|``), the model
is renormalized, moved into the envelope set ``Q`` if rounding left it outside (``repair``) and
turned into a ``G_1`` gate with :func:`robust_gates.theory.gate_from_model`; on finite ``X`` the exact
certificate ``max_Lambda L(g_bar, .) - phi(lam_bar)`` is computed by :func:`robust_gates.theory.certify`.

Defaults: ``B = 64``, Adam ``lr = 0.1``, ``lr_decay = 200`` rounds, ``lam_step = 1``,
``mu_step = 1``, ``rho = 2``; they are used untuned on every instance in the tests and the
convergence study (losses are in nats of order 1).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from robust_gates.theory import RobustProblem, certify
from robust_gates.theory.lambda_sets import MEMBERSHIP_TOL, LambdaSet

from .softmax_gate import (
    FeatureMap,
    GatedOutput,
    _offsets,
    finite_gate,
    forward,
    gated_output,
    log_experts_table,
    make_features,
)

__all__ = ["PrimalDualConfig", "SampledGame", "PrimalDualResult", "primal_dual", "game_from_problem",
           "record_rounds", "pd_instance", "convergence_study"]


@dataclass(frozen=True)
class PrimalDualConfig:
    """Step sizes and schedule of :func:`primal_dual` (see the module docstring)."""

    rounds: int = 3000
    batch: int = 64
    optimizer: str = "adam"
    lr: float = 0.1
    lr_decay: float = 200.0
    lam_step: float = 1.0
    lam_update: str = "projected"
    mu_step: float = 1.0
    rho: float = 2.0
    averaging: float = 1.0
    normalization: str = "exact"
    expert_batch: int = 64
    records: int = 40

    def __post_init__(self):
        if int(self.rounds) != self.rounds or self.rounds < 1:
            raise ValueError(f"rounds must be a positive integer; got {self.rounds!r}")
        if int(self.batch) != self.batch or self.batch < 1:
            raise ValueError(f"batch must be a positive integer; got {self.batch!r}")
        if self.optimizer not in ("adam", "sgd"):
            raise ValueError(f"optimizer must be 'adam' or 'sgd'; got {self.optimizer!r}")
        if self.lam_update not in ("projected", "mirror"):
            raise ValueError(f"lam_update must be 'projected' or 'mirror'; got {self.lam_update!r}")
        if self.normalization not in ("exact", "sampled"):
            raise ValueError(f"normalization must be 'exact' or 'sampled'; got {self.normalization!r}")
        for name in ("lr", "lam_step", "mu_step", "lr_decay"):
            v = getattr(self, name)
            if not (np.isfinite(v) and v > 0):
                raise ValueError(f"{name} must be a positive number; got {v!r}")
        if not (self.rho >= 0 and self.averaging >= 0):
            raise ValueError("rho and averaging must be non-negative")


@dataclass(frozen=True, eq=False)
class SampledGame:
    """Sampling access to a robust game (``X`` possibly infinite).

    ``sample_domain(k, size, rng)`` and ``sample_expert(k, size, rng)`` return arrays of points;
    ``log_experts(points)`` returns ``log P_k(x)`` as ``(K, B)`` (``-inf`` where ``P_k(x) = 0``);
    ``offsets`` are the constants ``c_k`` (``0`` for cross-entropy, ``-H(D_k)`` for KL when the
    entropies are known); ``problem`` is the finite game when ``X`` is finite (exact
    normalization and certificates), else ``None``.
    """

    K: int
    sample_domain: Callable[[int, int, np.random.Generator], np.ndarray]
    sample_expert: Callable[[int, int, np.random.Generator], np.ndarray]
    log_experts: Callable[[np.ndarray], np.ndarray]
    Lambda: LambdaSet
    offsets: np.ndarray
    problem: RobustProblem | None = None


def _categorical_sampler(M: np.ndarray):
    cdf = np.cumsum(M, axis=1)
    cdf[:, -1] = 1.0
    n = M.shape[1]

    def sample(k: int, size: int, rng: np.random.Generator) -> np.ndarray:
        return np.minimum(np.searchsorted(cdf[k], rng.random(size), side="right"), n - 1)

    return sample


def game_from_problem(problem: RobustProblem) -> SampledGame:
    """Sampling access to a finite game: points are the indices ``0..n-1``."""
    logP = log_experts_table(problem.P)
    return SampledGame(
        K=problem.K, sample_domain=_categorical_sampler(problem.D),
        sample_expert=_categorical_sampler(problem.P), log_experts=lambda x: logP[:, x],
        Lambda=problem.Lambda, offsets=_offsets(problem.D, problem.payoff), problem=problem,
    )


@dataclass(frozen=True, eq=False)
class PrimalDualResult:
    """Outcome of :func:`primal_dual`.

    ``trajectory``: one row per recorded round (columns ``round``, ``lam_0..``, ``loss_0..``
    (exact per-domain losses of the averaged model on finite ``X``, minibatch estimates
    otherwise), ``worst_case``, ``dual``, ``gap``, ``norm_error``, ``mu``); ``lam`` the averaged
    mixture; ``W`` the averaged weights; ``output`` the averaged gated model as a distribution
    with its ``G_1`` gate (finite ``X``); ``gap`` its certificate (``nan`` on infinite ``X``).
    """

    trajectory: pd.DataFrame
    lam: np.ndarray
    W: np.ndarray
    mu: float
    output: GatedOutput | None
    gap: float
    worst_case: float
    features: FeatureMap = field(repr=False)


def record_rounds(T: int, records: int) -> np.ndarray:
    """About ``records`` log-spaced rounds in ``1..T`` (always including ``T``)."""
    r = np.unique(np.round(np.logspace(0, np.log10(T), max(records, 2))).astype(int))
    return np.unique(np.r_[r[(r >= 1) & (r <= T)], T])


class _LambdaAscent:
    """Projected or mirror ascent on ``Lambda`` in the coordinates of its :class:`AscentChart`."""

    def __init__(self, Lambda: LambdaSet, mode: str):
        self.chart, self.mode = Lambda.ascent_chart(), mode
        self.x = self.chart.x0

    @property
    def lam(self) -> np.ndarray:
        return self.chart.mixture(self.x)

    def step(self, grad: np.ndarray, eta: float) -> None:
        g = self.chart.pullback(grad)
        if self.mode == "mirror":
            z = np.log(np.maximum(self.x, 1e-300)) + eta * (g - g.max())
            v = np.exp(z - z.max())
            v /= v.sum()
            if self.chart.simplex:  # an exponentiated step stays in the simplex
                self.x = v
                return
        else:
            v = self.x + eta * (g - g.mean())
        self.x = self.chart.project(v)


def primal_dual(problem: RobustProblem | SampledGame, features="loglik", *,
                config: PrimalDualConfig | None = None, rng: np.random.Generator,
                progress: bool = True, W0: np.ndarray | None = None, **overrides) -> PrimalDualResult:
    """Run the stochastic primal-dual method (SPEC algorithm 4; math in the module docstring).

    ``problem``: a finite :class:`robust_gates.theory.RobustProblem` (samples are drawn from its ``D``; the
    normalization and the certificate are exact) or a :class:`SampledGame`. ``features``: a
    :class:`FeatureMap` or a spec for :func:`make_features` (``"loglik"``, ``"onehot"``, array,
    callable). ``config`` (or keyword ``overrides`` of its fields) sets the schedule.
    """
    if not isinstance(rng, np.random.Generator):
        raise TypeError("rng must be a numpy.random.Generator (e.g. numpy.random.default_rng(0))")
    cfg = config or PrimalDualConfig()
    if overrides:
        cfg = PrimalDualConfig(**{**cfg.__dict__, **overrides})
    game = game_from_problem(problem) if isinstance(problem, RobustProblem) else problem
    fin = game.problem
    if cfg.normalization == "exact" and fin is None:
        raise ValueError("normalization='exact' needs a finite sample space; use 'sampled'")
    feats = features if isinstance(features, FeatureMap) else make_features(
        features, fin.P if fin is not None else None)
    K, B = game.K, cfg.batch
    n = fin.n if fin is not None else None
    W = np.zeros((K, feats.d)) if W0 is None else np.array(W0, dtype=np.float64)
    if W.shape != (K, feats.d):
        raise ValueError(f"W0 must have shape ({K}, {feats.d}); got {W.shape}")
    m1, m2 = np.zeros_like(W), np.zeros_like(W)
    asc = _LambdaAscent(game.Lambda, cfg.lam_update)
    mu = 1.0
    lam_bar, W_bar = asc.lam.copy(), W.copy()
    G_bar = np.zeros((K, n)) if fin is not None else None
    if fin is not None:
        P, X_all = fin.P, np.arange(n)
    wsum = 0.0
    rec = set(record_rounds(cfg.rounds, cfg.records).tolist())
    rows = []
    from tqdm.auto import tqdm

    for t in tqdm(range(1, cfg.rounds + 1), desc="primal-dual", disable=not progress, leave=False):
        lam = asc.lam
        xs = np.concatenate([game.sample_domain(k, B, rng) for k in range(K)])
        G, logPg, R = forward(feats.scores(W, xs), game.log_experts(xs))
        ell = game.offsets - logPg.reshape(K, B).mean(axis=1)
        wts = np.repeat(lam / B, B)
        grad = feats.backprop((G - R) * wts[None, :], xs)
        if cfg.normalization == "exact":
            Gall = finite_gate(W, feats, n)
            Pg = np.einsum("kx,kx->x", Gall, P)
            Z = float(Pg.sum())
            gZ = feats.backprop(Gall * (P - Pg[None, :]), X_all)
        else:
            ys = np.concatenate([game.sample_expert(k, cfg.expert_batch, rng) for k in range(K)])
            Gy = forward(feats.scores(W, ys), game.log_experts(ys))[0]
            own = np.repeat(np.eye(K), cfg.expert_batch, axis=1)  # 1[k = expert that drew y]
            Z = float((Gy * own).sum() / cfg.expert_batch)
            # d g_k(y)/ds_j = g_k (1[j=k] - g_j) for the expert k that drew y
            gk = (Gy * own).sum(axis=0)
            gZ = feats.backprop((own - Gy) * gk[None, :] / cfg.expert_batch, ys)
            Gall = finite_gate(W, feats, n) if fin is not None else None
        grad = grad + (mu + cfg.rho * (Z - 1.0)) * gZ
        lr = cfg.lr / np.sqrt(1.0 + t / cfg.lr_decay)
        if cfg.optimizer == "adam":
            m1 = 0.9 * m1 + 0.1 * grad
            m2 = 0.999 * m2 + 0.001 * grad**2
            W = W - lr * (m1 / (1 - 0.9**t)) / (np.sqrt(m2 / (1 - 0.999**t)) + 1e-8)
        else:
            W = W - lr * grad
        asc.step(ell, cfg.lam_step / np.sqrt(t))
        mu = mu + cfg.mu_step / np.sqrt(t) * (Z - 1.0)
        w = float(t) ** cfg.averaging
        wsum += w
        a = w / wsum
        lam_bar = lam_bar + a * (asc.lam - lam_bar)
        W_bar = W_bar + a * (W - W_bar)
        if G_bar is not None:
            G_bar = G_bar + a * (Gall - G_bar)
        if t in rec:
            rows.append(_record(t, fin, game, G_bar, lam_bar, ell, mu, Z))
    traj = pd.DataFrame(rows)
    if fin is None:
        return PrimalDualResult(traj, lam_bar, W_bar, mu, None, float("nan"), float("nan"), feats)
    out = gated_output(G_bar, fin.P)
    lam_c = _into_lambda(fin.Lambda, lam_bar)
    cert = certify(fin, out.gate, lam_c)
    return PrimalDualResult(traj, lam_c, W_bar, mu, out, float(cert.gap), float(cert.primal), feats)


def _into_lambda(Lambda: LambdaSet, lam: np.ndarray) -> np.ndarray:
    lam = np.clip(lam, 0.0, None)
    lam = lam / lam.sum()
    return lam if Lambda.contains(lam, tol=MEMBERSHIP_TOL) else Lambda.project(lam)


def _record(t, fin, game, G_bar, lam_bar, ell_hat, mu, Z) -> dict:
    K = game.K
    row = {"round": t}
    row.update({f"lam_{k}": float(lam_bar[k]) for k in range(K)})
    row["mu"] = float(mu)
    if fin is None:
        row.update({f"loss_{k}": float(ell_hat[k]) for k in range(K)})
        row.update({"norm_error": abs(Z - 1.0), "worst_case": np.nan, "dual": np.nan, "gap": np.nan})
        return row
    out = gated_output(G_bar, fin.P)
    cert = certify(fin, out.gate, _into_lambda(fin.Lambda, lam_bar))
    losses = fin.losses(out.model)
    row.update({f"loss_{k}": float(losses[k]) for k in range(K)})
    row.update({"norm_error": out.norm_error, "repair": out.repair, "worst_case": cert.primal,
                "dual": cert.dual, "gap": cert.gap})
    return row


# --------------------------------------------------------------------------- convergence study
def pd_instance(rng: np.random.Generator, K: int = 3, n: int = 10, alpha: float = 0.7, tau: float = 0.2,
                Lambda: LambdaSet | None = None, payoff: str = "kl") -> RobustProblem:
    """Dirichlet(``alpha``) domains and experts ``(1 - tau) D + tau * Dirichlet(1)`` on ``n`` points."""
    D = rng.dirichlet(np.full(n, alpha), size=K)
    P = (1 - tau) * D + tau * rng.dirichlet(np.ones(n), size=K)
    return RobustProblem(D, P, Lambda, payoff=payoff)


def _tail_slope(rounds: np.ndarray, gap: np.ndarray, start: int) -> float:
    ok = (rounds >= start) & (gap > 0)
    if ok.sum() < 2:
        return float("nan")
    return float(np.polyfit(np.log(rounds[ok]), np.log(gap[ok]), 1)[0])


@dataclass(frozen=True, eq=False)
class ConvergenceStudy:
    """Tables of :func:`convergence_study`: ``trajectory`` (records of every gate class against
    rounds; the table of the ``primal_dual`` figure) and ``summary`` (one row per gate class)."""

    trajectory: pd.DataFrame
    summary: pd.DataFrame


def convergence_study(problem: RobustProblem, *, rounds: int = 20000, gates=("onehot", "loglik"),
                      seed: int = 0, records: int = 30, progress: bool = True,
                      class_starts: int = 4) -> ConvergenceStudy:
    """Averaged primal-dual iterates against the exact answer (SPEC algorithm 4 vs algorithm 1/2).

    Returns a :class:`ConvergenceStudy`. ``trajectory``: the :func:`primal_dual` records of each gate
    class with columns ``gate``, ``excess`` (worst case of the averaged model minus the reference
    value) and ``lam_error`` (sup-norm distance of the averaged ``lam`` to the exact ``lam*``).
    ``summary``: one row per gate with the final certificate gap, the reference value and its
    kind (``"exact"``: ``V(Lambda)`` from the exact solver, for the one-hot class whose closure is
    ``G_1``; ``"upper bound"``: the best class member found by multi-start SLSQP with ``|W| <= 20``,
    for the log-likelihood class, see :func:`robust_gates.simulations.softmax_gate.fit_softmax_class`),
    the worst
    case of the class member ``g_{W_bar}`` (averaged weights) and the fitted log-log slope of the
    certificate gap against rounds over rounds ``>= 100``.
    """
    from robust_gates.theory import default_solver, solve

    from .softmax_gate import fit_softmax_class

    exact = solve(problem, solver=default_solver())
    trajs, rows = [], []
    for i, gate in enumerate(gates):
        feats = make_features(gate, problem.P)
        if gate == "onehot":
            ref, kind = exact.value, "exact"
        else:
            fit = fit_softmax_class(problem, feats, rng=np.random.default_rng([seed, 99, i]),
                                    starts=class_starts)
            ref, kind = fit.value, "upper bound"
        res = primal_dual(problem, feats, rng=np.random.default_rng([seed, i]), rounds=rounds,
                          records=records, progress=progress)
        tr = res.trajectory.copy()
        tr.insert(0, "gate", gate)
        lam_cols = [f"lam_{k}" for k in range(problem.K)]
        tr["excess"] = tr["worst_case"] - ref
        tr["lam_error"] = np.abs(tr[lam_cols].to_numpy() - exact.lam[None, :]).max(axis=1)
        tr["V"] = exact.value
        trajs.append(tr)
        member = gated_output(finite_gate(res.W, feats, problem.n), problem.P)
        rows.append({
            "gate": gate, "d": feats.d, "rounds": rounds, "V": exact.value, "reference": ref,
            "reference_kind": kind, "final_gap": res.gap, "final_worst_case": res.worst_case,
            "final_excess": res.worst_case - ref, "member_worst_case": problem.worst_case(member.model)[0],
            "lam_error": float(np.abs(res.lam - exact.lam).max()), "norm_error": res.output.norm_error,
            "gap_slope": _tail_slope(tr["round"].to_numpy(), tr["gap"].to_numpy(), 100),
        })
    return ConvergenceStudy(pd.concat(trajs, ignore_index=True), pd.DataFrame(rows))


def default_study(quick: bool = False, seed: int = 0, progress: bool = True) -> ConvergenceStudy:
    """The shipped convergence study (``robust-gates simulate primal-dual`` and the report).

    K = 3, n = 10, ``Lambda`` the box ``[0.1, 0.45]^3``; 2,000 rounds with ``quick``, else 20,000.
    """
    from robust_gates.theory import Box

    problem = pd_instance(np.random.default_rng([seed, 2602]), Lambda=Box([0.1] * 3, [0.45] * 3))
    return convergence_study(problem, rounds=2000 if quick else 20000, seed=seed,
                             progress=progress, class_starts=2 if quick else 4)
