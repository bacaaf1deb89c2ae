r"""The measured statements DH (paper section 4.5.3), GB (section 4.6) and SD (section 5).

These three are not theorems this project can prove, so their checks are registered with
``kind="measured"``: each reports numbers, and its outcome only says that the measurement ran
(the sweeps never count it as passed or failed, :func:`robust_gates.simulations.checks.summarize`).

* **DH** (decoupling hypothesis) is read from the neural runs shipped with the repository,
  ``paper_repro/neural/results/fig5_gradient_cosine.csv`` and ``fig5_gradient_conflict.csv``
  (the synthetic two-domain task of figure 5, five seeds) and ``real_gradient_cosine.csv`` (the
  real-text run). ``simulations/`` may not import ``paper_repro/`` (the layering rule), so the
  tables are read as data files. Numbers: the per-domain gradient cosine of a monolithic model
  trained on the fixed mixture ``lam = 1/2`` and the fraction of steps where it is negative; for
  the per-mixture oracles, the Pearson correlation over ``lam`` between the conflict ``-cos`` and
  the gap ``oracle loss - robust gate loss``; in the real-text run, the smallest cross-domain
  cosine of the monolithic models.
* **GB** (generalization) runs a small
  :func:`robust_gates.simulations.generalization.generalization_study` once per process (one
  instance, ``K = 3``, ``n = 16``, ``M`` from 30 to 3000, 4 seeds, the constant gate class and
  the one-hot class): the log-log slope of the mean excess in ``M`` (the bound's rate is
  ``-1/2``), the coverage of the bound (the fraction of trials under it; it is stated at
  ``1 - delta = 0.9``) and, at the smallest ``M``, the worst case of each monolithic model fitted on
  the same samples minus that of each modular class (``> 0``: modular better).
* **SD** (structural distillation) has an exact part, computed per instance on the Markov-chain
  families: the causal Bayes router ``r_k(x_{<t}) ∝ w_k P_k(x_{<t})`` of the constant gate
  ``w = lam``, composed token by token from the experts' conditionals, equals the sequence-level
  mixture ``sum_k w_k P_k`` on every sequence of length ``T0`` (largest log-ratio, rounding
  floor ``1e-9`` relative). Its mutant, "a domain-blind token-level mixture with the same weights
  reproduces it too", is refuted whenever two experts' conditionals differ. The learned part
  (a causal router trained on ``KL(P_g* || P_r)``) is measured once per process on the small
  distillation system of :mod:`robust_gates.simulations.distillation`: its KL at the start, after
  10 L-BFGS steps and at the end.

:func:`measured_numbers` returns each statement's numbers as ``(name, value, relation,
reference)`` rows (the relation is the direction the statement predicts) for the report's
Findings; the module-level caches make a sweep pay for DH, GB and the learned router once per
process.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.special import logsumexp

from ..instances import SEQUENCE_FAMILIES
from ..jsd_gap import MarkovChain, log_sequence_probs, token_mixture
from .mutants import mutant
from .registry import CheckResult, Part, combine, fp_tol, statement

__all__ = ["check_DH", "check_GB", "check_SD", "measured_numbers", "measurement", "predicted", "dh_numbers",
           "gb_numbers",
           "sd_router_numbers", "NEURAL_RESULTS", "DH_FAMILIES", "GB_FAMILIES"]

#: the shipped neural results (a data folder; read, never imported)
NEURAL_RESULTS = Path(__file__).resolve().parents[2] / "paper_repro" / "neural" / "results"
#: DH and GB do not depend on the instance; they run on one cheap family that other statements
#: already draw (so a sweep builds no extra instance) and refuse any other problem (``check
#: --problem``), where their numbers would not describe the file
DH_FAMILIES = ("perfect",)
GB_FAMILIES = ("perfect",)


def _only_sweeps(instance, sid: str, families: tuple[str, ...]) -> None:
    if instance.family not in families:
        raise ValueError(f"{sid} is measured once for the whole suite, not on a given problem")


# --------------------------------------------------------------------------- DH
@functools.lru_cache(maxsize=1)
def dh_numbers() -> tuple[tuple[str, float, str, float], ...]:
    """The DH numbers (module doc) read from :data:`NEURAL_RESULTS`."""
    cos = pd.read_csv(NEURAL_RESULTS / "fig5_gradient_cosine.csv")
    gap = pd.read_csv(NEURAL_RESULTS / "fig5_gradient_conflict.csv")
    real = pd.read_csv(NEURAL_RESULTS / "real_gradient_cosine.csv")
    out: list[tuple[str, float, str, float]] = []
    for size in ("smaller", "larger"):
        fixed = cos[(cos["method"] == "fixed") & (cos["size"] == size)]
        out.append((f"fig5 {size} monolith on lam = 1/2: mean gradient cosine",
                    float(fixed["cos_mean"].mean()), "<", 0.0))
        out.append((f"fig5 {size} monolith on lam = 1/2: fraction of steps with cosine < 0",
                    float(fixed["frac_negative"].mean()), ">", 0.5))
    gate = gap[gap["method"] == "robust_gate"].groupby("lam")["loss"].mean()
    for size in ("smaller", "larger"):
        orc = cos[(cos["method"] == "oracle") & (cos["size"] == size)].groupby("lam")["cos_mean"].mean()
        loss = gap[(gap["method"] == "oracle") & (gap["size"] == size)].groupby("lam")["loss"].mean()
        lams = orc.index.intersection(loss.index)
        conflict = -orc.loc[lams].to_numpy()
        excess = (loss.loc[lams] - gate.reindex(lams)).to_numpy()
        out.append((f"fig5 {size} oracles: correlation of conflict (-cos) with gap to the robust gate, "
                    f"over {len(lams)} mixtures", float(np.corrcoef(conflict, excess)[0, 1]), ">", 0.0))
    mono = real[real["method"].str.startswith("monolithic") & (real["domain_a"] != real["domain_b"])]
    out.append(("real text: smallest cross-domain gradient cosine of the monolithic models",
                float(mono["cos"].min()), "<", 0.0))
    return tuple(out)


@statement("DH", "§4.5.3 (Decoupling hypothesis; empirical)",
           "Hypothesis, not a theorem: in monolithic training on mixed domains the per-domain gradients "
           "conflict (negative cosine) and the gap to the modular system grows with that conflict. "
           "Measured on the shipped neural runs (paper_repro/neural/results), never asserted.",
           DH_FAMILIES, kind="measured")
def check_DH(instance):
    """The numbers of :func:`dh_numbers`, reported with the sign the hypothesis predicts for each
    (:func:`measurement`); nothing is asserted."""
    _only_sweeps(instance, "DH", DH_FAMILIES)
    return measurement(dh_numbers(), source="paper_repro/neural/results")


# --------------------------------------------------------------------------- GB
GB_GRID = (30, 100, 300, 1000, 3000)
GB_SEEDS = 4
GB_DELTA = 0.1


@functools.lru_cache(maxsize=1)
def gb_numbers() -> tuple[tuple[str, float, str, float], ...]:
    """The GB numbers (module doc) from one small generalization study."""
    from ..generalization import gb_instance, generalization_study, summarize_generalization

    problem = gb_instance(np.random.default_rng([0, 4, 6]), n=16, tau=0.05)
    df = generalization_study(problem, list(GB_GRID), seeds=GB_SEEDS, ds=[1, problem.n], delta=GB_DELTA,
                              progress=False)
    summ = summarize_generalization(df).set_index("method")
    out: list[tuple[str, float, str, float]] = []
    for method in summ.index:
        if method.startswith("modular"):
            out.append((f"{method}: log-log slope of the mean excess in M (the bound's rate is -1/2)",
                        float(summ.loc[method, "slope_excess"]), "<=", -0.5))
            out.append((f"{method}: fraction of trials under the bound", float(summ.loc[method, "coverage"]),
                        ">=", 1 - GB_DELTA))
    means = df.groupby(["method", "M"])["worst_case"].mean()
    m0 = min(GB_GRID)
    for mod in sorted(m for m in summ.index if m.startswith("modular")):
        for mono in sorted(m for m in summ.index if m.startswith("mono")):
            out.append((f"M = {m0}: worst case of {mono} minus {mod} (> 0: modular better)",
                        float(means[(mono, m0)] - means[(mod, m0)]), ">", 0.0))
    return tuple(out)


@statement("GB", "§4.6 (Generalization and sample efficiency; measured)",
           "For softmax-linear gate classes and m_k samples per domain, the empirical robust gate's excess "
           "population worst case shrinks like M^(-1/2), stays under the stated bound in at least 1 - delta "
           "of trials, and with few samples the modular system beats a monolithic model fitted on the same "
           "samples. Measured on one small study (slopes, coverage), never asserted.",
           GB_FAMILIES, kind="measured")
def check_GB(instance):
    """The numbers of :func:`gb_numbers` with the direction GB predicts (:func:`measurement`);
    nothing is asserted."""
    _only_sweeps(instance, "GB", GB_FAMILIES)
    return measurement(gb_numbers())


# --------------------------------------------------------------------------- SD
def _chains(instance) -> tuple[list[MarkovChain], np.ndarray, int]:
    pr = instance.params
    if "markov_domains" not in pr:
        raise ValueError("SD applies to Markov-chain instances (the families "
                         f"{', '.join(SEQUENCE_FAMILIES)}); this instance carries no chains")
    src = pr.get("markov_experts") or pr["markov_domains"]
    return [MarkovChain.from_dict(c) for c in src], np.asarray(pr["lam"], dtype=np.float64), int(pr["T0"])


def _router_log_model(experts: list[MarkovChain], w: np.ndarray, T: int) -> np.ndarray:
    """``log P_r(x)`` over ``V^T`` for the causal router ``r_k(h) ∝ w_k P_k(h)``, composed token by
    token: ``P_r(x) = prod_t sum_k r_k(x_<t) P_k(x_t | x_<t)`` with ``P_k(v | h)`` read from the
    chain's initial law (``t = 1``) or transition row of the last token."""
    V = experts[0].V
    with np.errstate(divide="ignore"):
        logw = np.log(w)
        logtr = [np.log(e.trans) for e in experts]
        loginit = np.stack([np.log(e.init) for e in experts])  # K x V
    out = logsumexp(logw[:, None] + loginit, axis=0)  # t = 1: the router is w itself
    levels = [log_sequence_probs(e, T) for e in experts]
    for t in range(1, T):  # prefixes of zero mass give nan rows; the caller compares where the mixture is > 0
        hp = np.stack([lv[t - 1] for lv in levels])  # K x V^t: log P_k(h)
        logr = logw[:, None] + hp
        logr = logr - logsumexp(logr, axis=0, keepdims=True)  # router weights per prefix h
        last = np.arange(hp.shape[1]) % V
        cond = np.stack([lt[last] for lt in logtr])  # K x V^t x V: log P_k(v | h)
        step = logsumexp(logr[:, :, None] + cond, axis=0)  # V^t x V
        out = (out[:, None] + step).reshape(-1)
    return out


@statement("SD", "§5 (Structural distillation; exact part checked, learned part measured)",
           "On sequences, for a constant gate w the causal router r_k(x_<t) ∝ w_k P_k(x_<t) reproduces the "
           "sequence-level mixture sum_k w_k P_k exactly; a learned causal router's KL(P_g*||P_r) decreases "
           "with training (measured), at the experts' inference cost plus a small router.",
           SEQUENCE_FAMILIES, kind="measured")
def check_SD(instance):
    """Per instance (experts of the Markov family, ``w = lam``, length ``T0``): the largest
    ``|log P_r(x) - log sum_k w_k P_k(x)|`` over sequences the mixture gives positive mass, against
    ``0`` with the rounding floor ``1e-9 (1 + max |log P|)`` (sums of at most ``T0`` logs of a few
    terms each). The learned router's numbers (:func:`sd_router_numbers`) come in ``details``;
    the parts are reported, never counted (a measured statement)."""
    experts, lam, T0 = _chains(instance)
    live = lam > 0
    w = np.where(live, lam, 0.0)
    with np.errstate(divide="ignore"):
        seq = np.stack([lv[-1] for lv in (log_sequence_probs(e, T0) for e in experts)])
        target = logsumexp(np.log(w)[:, None] + seq, axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        router = _router_log_model(experts, w, T0)
    tok = log_sequence_probs(token_mixture(experts, w), T0)[-1]
    pos = np.isfinite(target)
    scale = float(np.max(np.abs(target[pos])))
    dev = float(np.max(np.abs(router[pos] - target[pos])))
    tok_dev = float(np.max(np.abs(tok[pos] - target[pos]))) if np.all(np.isfinite(tok[pos])) else np.inf
    tol = fp_tol(scale)
    parts = [Part("max |log P_r - log sum_k w_k P_k| (causal Bayes router)", dev, 0.0, "<=", tol, tol)]
    return combine(parts, T0=T0, V=experts[0].V, K=len(experts), router_dev=dev, token_mixture_dev=tok_dev,
                   mixture_log_scale=scale, learned_router={r[0]: r[1] for r in sd_router_numbers()})


@mutant("SD", "token-level mixture",
        "A domain-blind token-level mixture prod_t sum_k w_k P_k(x_t|x_<t) with the same weights also "
        "reproduces the sequence-level mixture.")
def _sd_token(instance, result):
    d = result.details
    tol = fp_tol(d["mixture_log_scale"])
    return combine([Part("max |log P_tok - log sum_k w_k P_k|", d["token_mixture_dev"], 0.0, "<=", tol, tol)])


#: L-BFGS steps of the learned router (its KL is within 1% of the 150-step value; under a second)
SD_ROUTER_STEPS = 40


@functools.lru_cache(maxsize=1)
def sd_router_numbers() -> tuple[tuple[str, float, str, float], ...]:
    """The learned router on the small distillation system (``V = 4``, ``T = 5``, three chains,
    fitted experts, ``Lambda`` a box): ``KL(P_g* || P_r)`` at the uniform start, after 10 L-BFGS
    steps and at the end (:data:`SD_ROUTER_STEPS` steps at most), the Bayes router's with
    ``w = lam*``, and the
    router's parameter count next to the experts'."""
    from robust_gates.theory import RobustProblem, solve

    from ..distillation import (
        DistillConfig,
        SequenceSystem,
        bayes_router,
        build_instance,
        distill_router,
        router_model,
    )
    from ..sequences import sequence_probabilities

    cfg = DistillConfig(V=4, T=5)
    chains, experts, _, Lambda = build_instance(cfg)
    D = np.stack([sequence_probabilities(c, cfg.T) for c in chains])
    system = SequenceSystem.build(experts, cfg.T)
    res = solve(RobustProblem(D, system.P, Lambda), tol=1e-9)
    target = res.model
    learned = distill_router(system, target, SD_ROUTER_STEPS)
    hist = learned.history["kl"].to_numpy()
    w = np.maximum(res.lam, 0) / np.maximum(res.lam, 0).sum()
    pb = router_model(system, bayes_router(system, w))
    m = target > 0
    bayes_kl = float(np.sum(target[m] * np.log(target[m] / pb[m])))
    k10 = float(hist[min(10, len(hist) - 1)])
    return (("learned router KL(P_g*||P_r) at the uniform start", float(hist[0]), "", np.nan),
            ("learned router KL after 10 L-BFGS steps", k10, "<", float(hist[0])),
            (f"learned router KL at the end ({len(hist) - 1} steps)", float(hist[-1]), "<", k10),
            ("Bayes router (w = lam*) KL(P_g*||P_r)", bayes_kl, "", np.nan),
            ("router parameters", float(learned.n_parameters), "<", float(system.n_parameters)),
            ("expert parameters (all K)", float(system.n_parameters), "", np.nan))


def measurement(numbers, **details) -> CheckResult:
    """The result of a measured check: ``numbers`` are ``(name, value, relation, reference)``
    rows (the direction the statement predicts, ``relation`` empty for a plain number); each is
    listed in ``details["parts"]`` with outcome ``"measured"`` and ``agrees`` (whether the value lies
    on the predicted side), and the result's outcome is ``"holds"``, which for a measured statement
    only says that the measurement ran (:class:`Statement`)."""
    parts = {}
    for name, value, rel, ref in numbers:
        parts[name] = {"lhs": float(value), "rhs": float(ref), "rel": rel or "=", "tol": 0.0, "slack": np.nan,
                       "margin": np.nan, "outcome": "measured", "lo": np.nan, "hi": np.nan, "floor": 0.0,
                       "agrees": predicted(value, rel, ref)}
    first = numbers[0]
    return CheckResult(holds=True, lhs=float(first[1]), rhs=float(first[3]), slack=np.inf,
                       details={"binding": "", "margin_part": "", "parts": parts, "inconclusive_parts": [],
                                "measured": True, **details}, outcome="holds")


def predicted(value: float, rel: str, ref: float) -> bool | None:
    """Whether ``value REL ref`` (``None`` for a plain number, ``rel`` empty)."""
    ops = {"<": np.less, "<=": np.less_equal, ">": np.greater, ">=": np.greater_equal}
    return bool(ops[rel](value, ref)) if rel else None


def measured_numbers(sid: str) -> list[tuple[str, float, str, float]]:
    """The numbers of measured statement ``sid`` (DH, GB, SD) for the report, computed once per
    process: ``(name, value, relation, reference)``, the relation being the direction the statement
    predicts (empty for a plain number)."""
    if sid == "DH":
        return list(dh_numbers())
    if sid == "GB":
        return list(gb_numbers())
    if sid == "SD":
        return list(sd_router_numbers())
    raise ValueError(f"no measured numbers for statement {sid!r}; measured: DH, GB, SD")
