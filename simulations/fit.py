r"""``fit``: certified robust mixture weights and a contextual gate for any experts (SPEC §4.6, §5.2).

Input: :class:`robust_gates.simulations.fit_data.FitData` (log-likelihoods ``a`` of ``N``
samples under ``J`` experts, domain labels in ``0..K-1``, a split, optional features and token
counts, ``Lambda``). Steps:

1. **Constant gate** on the ``train`` split: the exact program of
   :func:`robust_gates.theory.mixture_weights` with its certificate (per-sequence means, or
   per-token means with ``per_token=True``).
2. **Contextual gate** (``gate="softmax"``): :math:`g(x) = \mathrm{softmax}(W\phi(x))` over the
   ``J`` experts, trained on ``train`` by the stochastic primal-dual method (SPEC algorithm 4:
   minibatches from every domain, Adam on ``W``, projected ascent on :math:`\lambda` in the
   coordinates ``Lambda`` offers, polynomial-decay averaging;
   :class:`robust_gates.simulations.primal_dual.PrimalDualConfig` sets the schedule). Features:
   the given ``features``, else the experts' own log-posteriors under a uniform prior,
   :math:`a_{ij} - \log\sum_l e^{a_{il}}` clipped at ``-30``; standardized on ``train``, plus a
   constant.

   *Normalization.* The score :math:`-\log\sum_j g_j(x)P_j(x)` is a loss of a distribution only
   if :math:`Z = \sum_x\sum_j g_j(x)P_j(x) = 1`. With features that depend on the scored sample
   itself (the default) ``Z`` is unknown from these inputs; since :math:`Z \le J`, the honest
   loss is bounded by ``score + log J``, and that bound is what the tables report for
   ``softmax_gate`` (``softmax_gate_score`` is the raw score). Because
   :math:`-\log\sum_j g_jP_j \ge -\log\max_j P_j \ge -\log\frac1J\sum_jP_j - \log J`, this bound
   never beats the uniform mixture: at the sequence level a sample-dependent gate cannot be
   certified better than a constant one without samples from the experts. With
   ``context_features=True`` the caller declares that the features are a function of a context
   on which the log-likelihoods are conditioned (a prompt), so every gate is normalized
   (``Z = 1``) and the score is the loss.
3. **Baselines**: ``uniform_mixture`` (:math:`w = 1/J`); ``bayes_router`` (the Bayes router with
   uniform prior, :math:`r_j(x_{<t}) \propto P_j(x_{<t})`, which on whole sequences reproduces
   the uniform mixture exactly (SPEC SD), so its sequence losses equal ``uniform_mixture``'s);
   ``best_single_expert`` (the expert with the smallest train worst case); ``oracle_per_domain``
   (on a sample of domain ``k``, the expert best on domain ``k`` in train: it is told the domain).
4. **Evaluation**: per-domain losses, the worst case :math:`\max_\Lambda\langle\lambda,\ell\rangle`
   and the average (uniform :math:`\lambda`) of every method on every split, with percentile
   bootstrap intervals over the held-out samples (resampled within each domain; the fitted gates
   are held fixed, so the intervals cover evaluation noise only), from an explicit seed.
5. **Recommendation**: the gate with the smaller worst case on ``valid``: ``softmax`` only when
   its (bounded) loss beats the constant gate's there. The gates never see ``valid`` or ``test``
   while fitting, the choice between them never sees ``test``, so the ``test`` numbers are an
   unbiased held-out evaluation of the recommended gate (the input always has all three splits:
   a missing one is carved out of ``train``, :mod:`.fit_data`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from robust_gates.theory import MixtureWeights, mixture_weights
from robust_gates.theory.mixture_program import domain_weights

from .fit_data import FitData
from .primal_dual import PrimalDualConfig, _LambdaAscent
from .softmax_gate import forward

__all__ = ["fit", "FitResult", "ContextualGate", "train_contextual_gate", "method_scores",
           "evaluate", "METHODS", "TABLE_COLUMNS", "LOGPOST_CLIP"]

#: the experts' log-posterior features are clipped here (bounded features, SPEC GB)
LOGPOST_CLIP = -30.0
#: methods of the tables, in the order the figure lists them
METHODS = ("constant_gate", "softmax_gate", "softmax_gate_score", "uniform_mixture", "bayes_router",
           "best_single_expert", "oracle_per_domain")
#: columns of the tidy table (one row per method x split x domain; domain also worst_case, average)
TABLE_COLUMNS = ("method", "split", "domain", "loss", "ci_low", "ci_high", "loss_per_token",
                 "n_samples")


# --------------------------------------------------------------------------- contextual gate
@dataclass(frozen=True, eq=False)
class ContextualGate:
    """A softmax-linear gate over ``J`` experts: ``g(x) = softmax(W [standardize(phi(x)), 1])``.

    ``W`` (``J x (d+1)``) are the averaged weights; ``mean``/``std`` the train standardization;
    ``features`` ``"logposterior"`` or ``"given"``; ``mass_bound`` the bound on ``Z`` used for the
    reported losses (``J``, or ``1`` for context features); ``lam`` the averaged adversary;
    ``trajectory`` the recorded rounds (``round``, ``worst_case``, ``lam_*``)."""

    W: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    features: str
    mass_bound: float
    lam: np.ndarray
    trajectory: pd.DataFrame = field(repr=False)

    def phi(self, data: FitData, idx: np.ndarray) -> np.ndarray:
        raw = _raw_features(data, self.features)[idx]
        return np.hstack([(raw - self.mean) / self.std, np.ones((idx.size, 1))])

    def gate(self, data: FitData, idx: np.ndarray) -> np.ndarray:
        """``g(x_i)`` for the samples ``idx`` (``len(idx) x J``)."""
        S = self.W @ self.phi(data, idx).T
        S = S - S.max(axis=0)
        E = np.exp(S)
        return (E / E.sum(axis=0)).T

    def score(self, data: FitData, idx: np.ndarray) -> np.ndarray:
        """``-log sum_j g_j(x_i) P_j(x_i)`` (unnormalized: add ``log mass_bound`` for the loss bound)."""
        S = self.W @ self.phi(data, idx).T
        return -forward(S, data.loglik[idx].T)[1]


def _raw_features(data: FitData, kind: str) -> np.ndarray:
    if kind == "given":
        return data.features
    a = data.loglik
    m = a.max(axis=1, keepdims=True)
    lse = m + np.log(np.exp(a - m).sum(axis=1, keepdims=True))
    return np.maximum(a - lse, LOGPOST_CLIP)


def train_contextual_gate(data: FitData, *, rng: np.random.Generator, config: PrimalDualConfig | None = None,
                          per_token: bool = False, context_features: bool = False,
                          progress: bool = False) -> ContextualGate:
    """Train the softmax gate on the ``train`` split by the stochastic primal-dual method (module
    docstring, step 2). Randomness only from ``rng``."""
    if not isinstance(rng, np.random.Generator):
        raise TypeError("rng must be a numpy.random.Generator (e.g. numpy.random.default_rng(0))")
    cfg = config or PrimalDualConfig(rounds=1500, batch=32, lr=0.05, records=20)
    kind = "given" if data.features is not None else "logposterior"
    if context_features and kind != "given":
        raise ValueError("context_features applies to given features only; the default log-posterior "
                         "features depend on the scored sample")
    train = np.flatnonzero(data.mask("train"))
    raw = _raw_features(data, kind)[train]
    mean, std = raw.mean(axis=0), raw.std(axis=0)
    std = np.where(std > 1e-12, std, 1.0)
    gate0 = ContextualGate(np.zeros((data.J, raw.shape[1] + 1)), mean, std, kind,
                           1.0 if context_features else float(data.J), np.zeros(data.K), pd.DataFrame())
    Phi = gate0.phi(data, train)
    A = data.loglik[train].T  # J x n_train
    dom = data.domain[train]
    tok = data.tokens[train] if per_token else None
    pools = [np.flatnonzero(dom == k) for k in range(data.K)]
    rho = domain_weights(dom, data.K, tok)
    alpha = rho.sum(axis=1)  # 1, or samples per token of each domain (per-token losses)
    W = np.zeros_like(gate0.W)
    m1, m2 = np.zeros_like(W), np.zeros_like(W)
    asc = _LambdaAscent(data.Lambda, cfg.lam_update)
    W_bar, lam_bar, wsum = W.copy(), asc.lam.copy(), 0.0
    records = set(np.unique(np.round(np.logspace(0, np.log10(cfg.rounds), cfg.records))).astype(int))
    rows = []
    from tqdm.auto import tqdm

    for t in tqdm(range(1, cfg.rounds + 1), desc="contextual gate", disable=not progress, leave=False):
        lam = asc.lam
        batch = np.concatenate([p[rng.integers(0, p.size, size=cfg.batch)] for p in pools])
        G, logPg, R = forward(W @ Phi[batch].T, A[:, batch])
        ell = -alpha * logPg.reshape(data.K, cfg.batch).mean(axis=1)
        wts = np.repeat(lam * alpha / cfg.batch, cfg.batch)
        grad = ((G - R) * wts[None, :]) @ Phi[batch]
        lr = cfg.lr / np.sqrt(1.0 + t / cfg.lr_decay)
        m1 = 0.9 * m1 + 0.1 * grad
        m2 = 0.999 * m2 + 0.001 * grad**2
        W = W - lr * (m1 / (1 - 0.9**t)) / (np.sqrt(m2 / (1 - 0.999**t)) + 1e-8)
        asc.step(ell, cfg.lam_step / np.sqrt(t))
        w = float(t) ** cfg.averaging
        wsum += w
        W_bar = W_bar + (w / wsum) * (W - W_bar)
        lam_bar = lam_bar + (w / wsum) * (asc.lam - lam_bar)
        if t in records or t == cfg.rounds:
            score = -forward(W_bar @ Phi.T, A)[1]
            losses = rho @ score
            rows.append({"round": t, "worst_case": float(data.Lambda.maximize_linear(losses)[0]),
                         **{f"lam_{k}": float(lam_bar[k]) for k in range(data.K)}})
    lam_bar = np.clip(lam_bar, 0.0, None)
    lam_bar /= lam_bar.sum()
    return ContextualGate(W_bar, mean, std, kind, gate0.mass_bound, lam_bar, pd.DataFrame(rows))


# --------------------------------------------------------------------------- infinite losses
def _combine(weights: np.ndarray, losses: np.ndarray) -> np.ndarray:
    """``weights @ losses`` over the last axis of ``losses`` (``(..., K)``; ``weights`` ``(M, K)``
    non-negative) with ``0 * inf = 0``: an expert that cannot produce a sample (``loglik = -inf``)
    has an infinite loss there, which counts only where it carries weight. Returns ``(..., M)``."""
    w = weights.reshape((1,) * (losses.ndim - 1) + weights.shape)
    with np.errstate(invalid="ignore", over="ignore"):
        return np.where(w > 0, w * losses[..., None, :], 0.0).sum(axis=-1)


def _worst(gens: np.ndarray, losses: np.ndarray) -> np.ndarray:
    """The worst case over Lambda (its generators ``gens``) of ``losses`` (``(..., K)``)."""
    return _combine(gens, losses).max(axis=-1)


# --------------------------------------------------------------------------- baselines
def _mixture_score(a: np.ndarray, w: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore"):
        Z = a + np.log(w)[None, :]
    m = Z.max(axis=1)
    return -(m + np.log(np.exp(Z - m[:, None]).sum(axis=1)))


def method_scores(data: FitData, constant: MixtureWeights, gate: ContextualGate | None,
                  train_losses: np.ndarray) -> dict[str, np.ndarray]:
    """Per-sample losses (nats) of every method on every sample (module docstring, step 3);
    ``train_losses`` (``K x J``) are the experts' train losses per domain."""
    a = data.loglik
    J = data.J
    out = {"constant_gate": _mixture_score(a, constant.weights)}
    if gate is not None:
        idx = np.arange(data.N)
        raw = gate.score(data, idx)
        out["softmax_gate"] = raw + np.log(gate.mass_bound)
        if gate.mass_bound != 1.0:
            out["softmax_gate_score"] = raw
    out["uniform_mixture"] = _mixture_score(a, np.full(J, 1.0 / J))
    out["bayes_router"] = out["uniform_mixture"].copy()
    worst = _worst(data.Lambda.generators(), train_losses.T)  # one per expert
    best = int(np.argmin(worst))
    out["best_single_expert"] = -a[:, best]
    per_domain = np.argmin(train_losses, axis=1)
    out["oracle_per_domain"] = -a[np.arange(data.N), per_domain[data.domain]]
    return out


# --------------------------------------------------------------------------- evaluation
def _domain_losses(score, dom, K, denom):
    """Per-domain sum of ``score`` over the sum of ``denom`` (ones: means; tokens: per-token)."""
    return np.bincount(dom, weights=score, minlength=K) / np.bincount(dom, weights=denom, minlength=K)


def evaluate(data: FitData, scores: dict[str, np.ndarray], *, rng: np.random.Generator,
             bootstrap: int = 200, per_token: bool = False, heldout: tuple[str, ...] = ("valid", "test"),
             level: float = 0.95) -> pd.DataFrame:
    """The tidy table (:data:`TABLE_COLUMNS`): per-domain losses, ``worst_case`` over ``Lambda`` and
    ``average`` of every method on every split present; percentile bootstrap intervals (``bootstrap``
    replicates, samples resampled within each domain) on the ``heldout`` splits. ``loss`` is in the
    unit the gates were fitted in (per sample, or per token with ``per_token``); ``loss_per_token``
    is always per token (``nan`` without ``tokens``)."""
    gens = data.Lambda.generators()
    K, rows = data.K, []
    for split in SPLIT_ORDER:
        idx = np.flatnonzero(data.mask(split))
        if idx.size == 0:
            continue
        dom = data.domain[idx]
        sw = data.tokens[idx] if (per_token and data.tokens is not None) else np.ones(idx.size)
        tok = data.tokens[idx] if data.tokens is not None else None
        groups = [np.flatnonzero(dom == k) for k in range(K)]
        draws = None
        if split in heldout and bootstrap > 0 and all(g.size for g in groups):
            draws = np.concatenate([g[rng.integers(0, g.size, size=(bootstrap, g.size))] for g in groups],
                                   axis=1)
        for method, s in scores.items():
            sc = s[idx]
            loss = _domain_losses(sc, dom, K, sw)
            per_tok = None if tok is None else _domain_losses(sc, dom, K, tok)
            vals = {**{data.domain_names[k]: loss[k] for k in range(K)},
                    "worst_case": float(_worst(gens, loss)), "average": float(loss.mean())}
            ptv = None if per_tok is None else {
                **{data.domain_names[k]: per_tok[k] for k in range(K)},
                "worst_case": float(_worst(gens, per_tok)), "average": float(per_tok.mean())}
            ci = {}
            if draws is not None:
                bl = np.stack([_domain_losses(sc[d], dom[d], K, sw[d]) for d in draws])  # B x K
                boot = {**{data.domain_names[k]: bl[:, k] for k in range(K)},
                        "worst_case": _worst(gens, bl), "average": bl.mean(axis=1)}
                q = (1 - level) / 2
                with np.errstate(invalid="ignore"):  # an infinite loss has an infinite interval
                    ci = {name: np.quantile(v, [q, 1 - q]) for name, v in boot.items()}
            for name, v in vals.items():
                lo, hi = ci.get(name, (np.nan, np.nan))
                n = int(idx.size) if name in ("worst_case", "average") else int(
                    groups[data.domain_names.index(name)].size)
                rows.append({"method": method, "split": split, "domain": name, "loss": float(v),
                             "ci_low": float(lo), "ci_high": float(hi),
                             "loss_per_token": float(ptv[name]) if ptv is not None else np.nan,
                             "n_samples": n})
    return pd.DataFrame(rows, columns=list(TABLE_COLUMNS))


SPLIT_ORDER = ("train", "valid", "test")


# --------------------------------------------------------------------------- driver
@dataclass(frozen=True, eq=False)
class FitResult:
    """Outcome of :func:`fit`: the certified ``constant`` gate, the contextual ``gate`` (or ``None``),
    the tidy ``table`` (:data:`TABLE_COLUMNS`), the ``recommendation`` (``"constant"`` or
    ``"softmax"``) with its ``reason``, and the JSON-ready ``summary``."""

    constant: MixtureWeights
    gate: ContextualGate | None
    table: pd.DataFrame
    recommendation: str
    reason: str
    summary: dict


def fit(data: FitData, *, gate: str = "constant", seed: int = 0, bootstrap: int = 200,
        per_token: bool = False, context_features: bool = False, config: PrimalDualConfig | None = None,
        progress: bool = False) -> FitResult:
    """Fit the constant gate (and with ``gate="softmax"`` the contextual gate), evaluate every method
    and recommend one (module docstring). All randomness from ``seed``."""
    if gate not in ("constant", "softmax"):
        raise ValueError(f"gate must be 'constant' or 'softmax'; got {gate!r}")
    if int(bootstrap) != bootstrap or bootstrap < 0:
        raise ValueError(f"bootstrap must be a non-negative integer; got {bootstrap!r}")
    if per_token and data.tokens is None:
        raise ValueError("per-token losses need 'tokens' in the input")
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer; got {seed!r}")
    train = data.mask("train")
    rho = domain_weights(data.domain[train], data.K, data.tokens[train] if per_token else None)
    constant = mixture_weights(data.loglik[train], rho, data.Lambda)
    a_train = data.loglik[train]
    train_losses = _combine(rho, -a_train.T)  # J x K (an expert's -inf counts where rho weighs it)
    train_losses = train_losses.T  # K x J
    ctx = None
    if gate == "softmax":
        ctx = train_contextual_gate(data, rng=np.random.default_rng([seed, 1]), config=config,
                                    per_token=per_token, context_features=context_features,
                                    progress=progress)
    scores = method_scores(data, constant, ctx, train_losses)
    table = evaluate(data, scores, rng=np.random.default_rng([seed, 2]), bootstrap=bootstrap,
                     per_token=per_token)
    select, report = "valid", "test"  # fit on train, choose on valid, report test

    def worst(method, split):
        r = table[(table.method == method) & (table.split == split) & (table.domain == "worst_case")]
        return float(r["loss"].iloc[0]) if len(r) else float("nan")

    rec, reason = "constant", "only the constant gate was fitted"
    if ctx is not None:
        wc, ws = worst("constant_gate", select), worst("softmax_gate", select)
        if ws < wc:
            rec = "softmax"
            reason = (f"the contextual gate's {select} worst case {ws:.6g} is below the constant "
                      f"gate's {wc:.6g}")
        else:
            bound = "" if ctx.mass_bound == 1.0 else (
                f" (its loss bound includes log J = {np.log(ctx.mass_bound):.3g} nats per sample for the "
                "unknown normalization)")
            reason = (f"the contextual gate's {select} worst case {ws:.6g}{bound} is not below the "
                      f"constant gate's {wc:.6g}")
    summary = {
        "input": data.source, "N": data.N, "J": data.J, "K": data.K,
        "experts": list(data.expert_names), "domains": list(data.domain_names),
        "lambda": {"kind": data.Lambda.kind, **data.Lambda.to_dict()},
        "split_given": data.split_given,
        "n_samples": {s: int((data.split == s).sum()) for s in SPLIT_ORDER},
        "loss_unit": "nats per token" if per_token else "nats per sample",
        "constant_gate": {**constant.to_dict(),
                          "weights_by_expert": dict(zip(data.expert_names, constant.weights.tolist(),
                                                        strict=True))},
        "softmax_gate": None if ctx is None else {
            "features": ctx.features, "mass_bound": ctx.mass_bound, "lam": ctx.lam.tolist(),
            "train_worst_case": worst("softmax_gate", "train"),
            "selection_worst_case": worst("softmax_gate", select),
            "heldout_worst_case": worst("softmax_gate", report),
        },
        "fit_split": "train", "selection_split": select, "heldout_split": report,
        "carved_from_train": list(data.carved),
        "selection_worst_case": {m: worst(m, select) for m in scores},
        "heldout_worst_case": {m: worst(m, report) for m in scores},
        "recommendation": rec, "reason": reason, "seed": int(seed), "bootstrap": int(bootstrap),
    }
    return FitResult(constant, ctx, table, rec, reason, summary)
