r"""``robust-gates fit`` on real experts: the real-text experiment's three byte-level transformers.

One run (``robust-gates fit --real-text [--quick | --tiny] [--out DIR]``, or :func:`main`) does
the real-text experiment (:mod:`.real`: the same stages, checkpoints and tables, so the experts
and the trained routers are exactly that experiment's; only its gradient-cosine measurement is
skipped, leaving that table empty) and then a ``fit`` stage:

1. **The matrix.** The experiment's evaluation windows (``ctx + 1`` consecutive bytes; ``ctx``
   bytes scored per window, consecutive windows sharing one byte) of the ``valid`` and ``test``
   splits, which no expert was trained on, are scored by the three experts (and the two
   monolithic models, for comparison) with :func:`.loglik.loglik_matrix`:
   ``loglik[i, j] = log P_j(window_i)`` in nats. As a check, the experts' columns are compared
   with the experiment's own token log-probabilities of the same windows
   (``consistency.loglik_vs_experiment_nats`` in the JSON).
2. **The fit.** The ``valid`` windows are split in two by document (a window belongs to the
   document its first byte lies in; the documents are shuffled from the seed and dealt to the half
   with fewer windows so far; where the corpus does not say where its documents start, runs of
   consecutive windows stand in for them): :func:`robust_gates.simulations.fit.fit` fits both
   gates on the *fit half* (``valid_fit``; its ``train`` split), decides between them on the
   *selection half* (``valid_select``; its ``valid`` split) and only reports the ``test``
   windows, which neither the fit nor the choice saw. Losses per token (byte): the certified
   constant gate for ``Lambda`` = the simplex and for the experiment's box, and the softmax
   contextual gate (default features: the experts' log-posteriors) for the simplex. The
   experiment's own routers were trained on random windows of the whole ``valid`` split, so
   they saw both halves; ``test`` is held out from everything.
3. **The comparison** on the ``test`` windows, in bits per byte, with percentile bootstrap
   intervals (windows resampled within each domain; the same draws for every method, so
   differences are paired): the fitted gates; the experiment's trained robust routers
   (``robust_gate``: simplex, ``robust_gate_box``: box; token-level causal :class:`.gpt.KRouter`
   trained by primal-dual); its token-level ``uniform_mixture`` and causal ``bayes_router``
   (uniform prior; on a whole window it equals the sequence-level uniform mixture exactly, SPEC
   SD, checked as ``consistency.bayes_router_vs_sequence_mixture_bpb``); the best single expert,
   the per-domain best expert (an oracle told the domain) and the two monolithic models.

Outputs (besides the real experiment's own files): ``real_fit.csv`` (tidy: ``method, kind, split,
domain, bpb, ci_low, ci_high, n_windows``; ``split`` is ``valid_fit``, ``valid_select`` or
``test``, intervals on ``test`` only; ``domain`` is a domain's name, ``worst_simplex``,
``worst_box`` or ``average``), ``real_fit.json`` (configuration, the certified constant gates,
the contextual gate, paired differences with intervals, consistency checks, the findings lines)
and ``real_fit.png``. :func:`real_fit_section` turns a folder holding those into an HTML
fragment for the report. The shipped copy (``results/real_fit.*`` next to this module) comes from
``robust-gates fit --real-text --quick --update-shipped --force`` (its JSON says which
configuration).
"""

from __future__ import annotations

import html
import io
import json
import math
import shutil
from dataclasses import asdict, dataclass, replace
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

from . import real as _real
from .runner import SHIPPED_DIR, Outputs, Stage, Table, run_experiment

__all__ = ["FitSettings", "RealFitResult", "main", "real_fit_section", "plot", "findings",
           "FIT_TABLE_FILE", "FIT_JSON_FILE", "FIT_FIGURE_FILE", "METHOD_LABELS", "TABLE_COLUMNS"]

FIT_TABLE_FILE = "real_fit.csv"
FIT_JSON_FILE = "real_fit.json"
FIT_FIGURE_FILE = "real_fit.png"
LN2 = math.log(2.0)
TABLE_COLUMNS = ("method", "kind", "split", "domain", "bpb", "ci_low", "ci_high", "n_windows")
#: method -> (label, kind); kind: fit (this module's gates), router (the experiment's, over the
#: same experts), experts (single experts or an oracle over them), single model (monolithic)
METHOD_LABELS = {
    "constant_gate": ("fit: constant gate, simplex (certified)", "fit"),
    "constant_gate_box": ("fit: constant gate, box (certified)", "fit"),
    "softmax_gate": ("fit: contextual gate (loss bound)", "fit"),
    "softmax_gate_score": ("fit: contextual gate (raw score)", "fit"),
    "robust_gate": ("experiment: robust router, simplex", "router"),
    "robust_gate_box": ("experiment: robust router, box", "router"),
    "bayes_router": ("experiment: Bayes router, uniform prior", "router"),
    "uniform_mixture": ("experiment: token-level uniform mixture", "router"),
    "best_single_expert": ("best single expert", "experts"),
    "oracle_per_domain": ("per-domain best expert (oracle)", "experts"),
    "monolithic_smaller": ("monolithic, Smaller", "single model"),
    "monolithic_larger": ("monolithic, Larger", "single model"),
}
_SUMMARY_ROWS = ("worst_simplex", "worst_box", "average")
#: paired differences reported in the JSON (first minus second, bits per byte)
PAIRS = (("constant_gate", "robust_gate"), ("constant_gate", "bayes_router"),
         ("softmax_gate", "constant_gate"), ("constant_gate_box", "robust_gate_box"),
         ("robust_gate", "bayes_router"))


@dataclass(frozen=True)
class FitSettings:
    """The ``fit`` stage's settings: bootstrap replicates, the contextual gate's primal-dual
    rounds / batch / step, windows per forward pass of :func:`.loglik.loglik_matrix`."""

    bootstrap: int = 1000
    rounds: int = 1500
    batch: int = 32
    lr: float = 0.05
    loglik_batch: int = 64

    def __post_init__(self):
        if self.bootstrap < 1 or self.rounds < 1 or self.batch < 1 or self.loglik_batch < 1:
            raise ValueError("bootstrap, rounds, batch and loglik_batch must be positive integers")


@dataclass(frozen=True)
class RealFitResult:
    """What :func:`main` computed: the tidy ``table`` (:data:`TABLE_COLUMNS`), the ``summary``
    (the JSON), the paths written and the output folder."""

    table: pd.DataFrame
    summary: dict
    paths: dict
    out_dir: str


@dataclass(frozen=True)
class _FitOutcome:
    table: pd.DataFrame
    summary: dict


# ---------------------------------------------------------------------------------------------
# the fit stage


#: labels of the fit's splits in the tables: the valid windows' fit half, their selection half, test
SPLIT_LABELS = {"train": "valid_fit", "valid": "valid_select", "test": "test"}
#: pseudo-documents per domain when the corpus does not say where its documents start
_BLOCKS = 20


def _window_starts(size: int, length: int, cap: int | None) -> np.ndarray:
    """First byte of each window :func:`.text_data.eval_windows` cuts from a split of ``size`` bytes."""
    step = length - 1
    n = (size - 1) // step
    idx = np.arange(n)
    if cap is not None and n > cap:
        idx = np.unique(np.linspace(0, n - 1, cap).round().astype(int))
    return idx * step


def _document_starts(corpus, domain: str, split: str) -> np.ndarray | None:
    """Byte offsets at which the documents of ``domain``'s ``split`` start in its joined array
    (documents in the corpus's order, joined by one newline), re-read from the installation; None
    when the corpus lists no documents or the lengths do not add up to the stored bytes."""
    from . import text_data as _td

    names = (corpus.documents.get(domain) or {}).get(split) or []
    if not names:
        return None
    roots = corpus.info.get("roots", {})
    try:
        files = {rel: f for rel, f in _td.list_documents(domain, stdlib=roots.get("python"),
                                                         include=roots.get("c"))}
        lengths = [len(_td._decode(domain, rel, files[rel], {"latin1_fallbacks": 0}).encode("utf-8"))
                   for rel in names]
    except (KeyError, OSError, ValueError, _td.MissingDomainError):
        return None
    lengths = np.array(lengths, dtype=np.int64)
    if lengths.sum() + len(lengths) - 1 != corpus.data[domain][split].size:
        return None
    return np.r_[0, np.cumsum(lengths + 1)[:-1]]


def _selection_halves(setup, cfg, seed: int) -> tuple[list[np.ndarray], dict]:
    """Split every domain's valid windows into a fit half (``True``) and a selection half, by
    document: a window belongs to the document its first byte lies in; the documents are taken in
    an order drawn from ``seed`` and each goes to the half with fewer windows so far. Where the
    corpus does not say where documents start (or a domain's windows lie in one document),
    ``_BLOCKS`` runs of consecutive windows stand in for documents. Returns the per-domain masks and
    a description for the JSON."""
    rng = np.random.default_rng([seed, 18, 5])
    masks, info = [], {}
    for d, wins in zip(setup.domains, setup.windows["valid"], strict=True):
        arr = setup.corpus.data[d]["valid"]
        n = len(wins)
        starts = _window_starts(arr.size, cfg.ctx + 1, cfg.eval_cap)
        doc_starts = _document_starts(setup.corpus, d, "valid")
        unit = "document"
        ok = starts.size == n and all(np.array_equal(arr[s0:s0 + cfg.ctx + 1], w) for s0, w in
                                      zip(starts[[0, -1]], wins[[0, -1]], strict=True))
        if doc_starts is not None and ok:
            doc = np.searchsorted(doc_starts, starts, side="right") - 1
            if np.unique(doc).size < 2:
                doc_starts = None
        if doc_starts is None or not ok:
            unit = "block of consecutive windows"
            doc = np.arange(n) * min(_BLOCKS, n) // n
        ids = np.unique(doc)
        counts = {i: int((doc == i).sum()) for i in ids}
        fit_docs, sizes = set(), [0, 0]
        for i in rng.permutation(ids):
            half = 0 if sizes[0] <= sizes[1] else 1
            sizes[half] += counts[i]
            if half == 0:
                fit_docs.add(i)
        mask = np.isin(doc, list(fit_docs))
        masks.append(mask)
        info[d] = {"unit": unit, "units_fit": len(fit_docs), "units_select": int(ids.size - len(fit_docs)),
                   "windows_fit": int(mask.sum()), "windows_select": int((~mask).sum())}
    return masks, info


def _samples(setup, halves: list[np.ndarray]):
    """The evaluation windows of ``valid`` then ``test``, domain by domain, with the fit's split
    labels: ``train`` (the valid windows' fit half), ``valid`` (their selection half), ``test``."""
    samples, dom, split = [], [], []
    for s in ("valid", "test"):
        for k, wins in enumerate(setup.windows[s]):
            samples += list(wins)
            dom += [k] * len(wins)
            split += (np.where(halves[k], "train", "valid").tolist() if s == "valid"
                      else ["test"] * len(wins))
    return samples, np.array(dom), np.array(split)


def _experiment_sums(per_split: dict) -> np.ndarray:
    """Window sums of the experiment's own ``(N, ctx, K)`` token log-probabilities, in the order of
    :func:`_samples`."""
    return np.concatenate([t.double().sum(dim=1).numpy() for s in ("valid", "test") for t in per_split[s]])


def _router_sums(router, per_split: dict) -> np.ndarray:
    import torch

    with torch.no_grad():
        return np.concatenate([router(t).double().sum(dim=1).numpy() for s in ("valid", "test")
                               for t in per_split[s]])


def _fit_stage(settings: FitSettings, run, done) -> _FitOutcome:
    from robust_gates.simulations.fit import fit, method_scores
    from robust_gates.simulations.fit_data import fit_data_from_dict
    from robust_gates.simulations.primal_dual import PrimalDualConfig
    from robust_gates.theory.lambda_sets import Simplex

    from .loglik import loglik_matrix, stack_members

    cfg, setup = run.config, done["data"]
    domains = list(setup.domains)
    K = len(domains)
    halves, selection = _selection_halves(setup, cfg, run.seed)
    samples, dom, split = _samples(setup, halves)
    common = dict(context=cfg.ctx, batch_size=settings.loglik_batch, device=run.device, progress=run.progress)
    small = loglik_matrix(stack_members(done["smaller"].stack, list(range(K + 1))), samples,
                          names=[f"expert_{d}" for d in domains] + ["monolithic_smaller"], **common)
    large = loglik_matrix(stack_members(done["larger"].stack), samples, names=["monolithic_larger"], **common)
    a = small.loglik[:, :K]
    expert_logp = done["evaluate"].expert_logp
    check_loglik = float(np.abs(a - _experiment_sums(expert_logp)).max())
    base = {"loglik": a, "domain": dom, "split": split, "tokens": small.tokens,
            "expert_names": domains, "domain_names": domains}
    data = fit_data_from_dict(base, Lambda=Simplex(K))
    data_box = fit_data_from_dict(base, Lambda=setup.box)
    pd_cfg = PrimalDualConfig(rounds=settings.rounds, batch=settings.batch, lr=settings.lr, records=20)
    res = fit(data, gate="softmax", seed=run.seed, bootstrap=0, per_token=True, config=pd_cfg,
              progress=run.progress)
    res_box = fit(data_box, gate="constant", seed=run.seed, bootstrap=0, per_token=True)
    tr = data.mask("train")
    train_losses = np.stack([[-a[tr & (dom == k), j].sum() / small.tokens[tr & (dom == k)].sum()
                              for j in range(K)] for k in range(K)])  # K x J, nats per token
    fitted = method_scores(data, res.constant, res.gate, train_losses)
    scores = {"constant_gate": fitted["constant_gate"],
              "constant_gate_box": method_scores(data_box, res_box.constant, None,
                                                 train_losses)["constant_gate"],
              "softmax_gate": fitted["softmax_gate"], "softmax_gate_score": fitted["softmax_gate_score"]}
    routers = done["routers"].models
    for name in ("robust_gate", "robust_gate_box", "bayes_router", "uniform_mixture"):
        scores[name] = -_router_sums(routers[name], expert_logp)
    scores["best_single_expert"] = fitted["best_single_expert"]
    scores["oracle_per_domain"] = fitted["oracle_per_domain"]
    scores["monolithic_smaller"] = -small.loglik[:, K]
    scores["monolithic_larger"] = -large.loglik[:, 0]
    check_bayes = float(np.abs(scores["bayes_router"] - fitted["uniform_mixture"]).max()
                        / cfg.ctx / LN2)
    # the routers' bits per byte as the experiment's own table has them
    bpb = pd.DataFrame(done["routers"].rows)
    check_router = 0.0
    for name in ("robust_gate", "robust_gate_box", "bayes_router", "uniform_mixture"):
        for k, d in enumerate(domains):
            sel = (split == "test") & (dom == k)
            mine = scores[name][sel].sum() / small.tokens[sel].sum()
            theirs = bpb[(bpb.method == name) & (bpb.split == "test") & (bpb.domain == d)].bpb.iloc[0]
            check_router = max(check_router, abs(mine / LN2 - theirs))
    table, diffs = _compare(data, data_box, scores, settings.bootstrap, run.seed)
    summary = {
        "experiment": "real-fit", "config": asdict(cfg), "fit_settings": asdict(settings), "seed": run.seed,
        "device": run.device, "domains": domains,
        "samples": {"what": f"evaluation windows of {cfg.ctx + 1} bytes ({cfg.ctx} scored)",
                    "fit_on": "valid_fit: the fit half of the valid windows (split by document, see halves)",
                    "selected_on": "valid_select: the other half of the valid windows",
                    "held_out": "test: reported only, never used to fit or to choose",
                    "halves": selection,
                    "windows": {lab: {d: int(((split == s) & (dom == k)).sum())
                                      for k, d in enumerate(domains)}
                                for s, lab in SPLIT_LABELS.items()}},
        "constant_gate": {"simplex": {**res.constant.to_dict(), "weights_by_expert": dict(zip(
            domains, res.constant.weights.tolist(), strict=True))},
            "box": {**res_box.constant.to_dict(), "lambda": setup.box.to_dict(),
                    "weights_by_expert": dict(zip(domains, res_box.constant.weights.tolist(), strict=True))}},
        "constant_gate_units": "value, lower_bound, gap and losses in nats per byte on the valid_fit windows",
        "softmax_gate": res.summary["softmax_gate"],
        "softmax_gate_units": "worst cases in nats per byte (train: valid_fit, selection: valid_select, "
                              "heldout: test), including the log 3 normalization bound",
        "selection": {"split": "valid_select", "lambda": "simplex",
                      "worst_case_bpb": {m: res.summary["selection_worst_case"][m] / LN2
                                         for m in ("constant_gate", "softmax_gate")},
                      "paired_difference_bpb": _paired(
                          data, data_box, scores, [("softmax_gate", "constant_gate")], "valid",
                          settings.bootstrap, np.random.default_rng([run.seed, 18, 6])
                      )["softmax_gate_minus_constant_gate"]["worst_simplex"],
                      "rule": "softmax is recommended when its worst domain is below the constant gate's "
                              "(the point estimates; the interval shows how clear the choice was)"},
        "recommendation": res.recommendation,
        "reason": _reason(res),
        "experiment_routers": {k: v for k, v in done["routers"].gates.items()},
        "paired_differences_test_bpb": diffs,
        "consistency": {"loglik_vs_experiment_nats": check_loglik,
                        "bayes_router_vs_sequence_mixture_bpb": check_bayes,
                        "router_bpb_vs_experiment_table": check_router},
    }
    return _FitOutcome(table, summary)


def _reason(res) -> str:
    """Why ``fit`` recommends its gate, in bits per byte on the selection half."""
    w = {m: res.summary["selection_worst_case"][m] / LN2 for m in ("constant_gate", "softmax_gate")}
    rel = "below" if res.recommendation == "softmax" else "not below"
    return (f"on the selection half of the valid windows (valid_select) the contextual gate's worst "
            f"domain, {w['softmax_gate']:.4f} bits per byte including its log 3 normalization bound, is "
            f"{rel} the constant gate's {w['constant_gate']:.4f}")


def _compare(data, data_box, scores: dict, bootstrap: int, seed: int):
    """The tidy table (bits per byte, both splits, intervals on ``test``) and paired differences."""
    from robust_gates.simulations.fit import evaluate

    simplex = evaluate(data, scores, rng=np.random.default_rng([seed, 18, 3]), bootstrap=bootstrap,
                       per_token=True, heldout=("test",))
    box = evaluate(data_box, scores, rng=np.random.default_rng([seed, 18, 3]), bootstrap=bootstrap,
                   per_token=True, heldout=("test",))
    box = box[box.domain == "worst_case"].assign(domain="worst_box")
    t = pd.concat([simplex.replace({"domain": {"worst_case": "worst_simplex"}}), box], ignore_index=True)
    t["split"] = t["split"].map(SPLIT_LABELS)
    for c in ("loss", "ci_low", "ci_high"):
        t[c] = t[c] / LN2
    t = t.rename(columns={"loss": "bpb", "n_samples": "n_windows"})
    t["kind"] = t["method"].map(lambda m: METHOD_LABELS[m][1])
    order = {m: i for i, m in enumerate(METHOD_LABELS)}
    dorder = {d: i for i, d in enumerate([*data.domain_names, *_SUMMARY_ROWS])}
    sorder = {v: i for i, v in enumerate(SPLIT_LABELS.values())}
    t = t.sort_values(["split", "method", "domain"], key=lambda s: s.map(
        order if s.name == "method" else dorder if s.name == "domain" else sorder))
    t = t[list(TABLE_COLUMNS)].reset_index(drop=True)
    # paired differences: the same within-domain draws for both methods
    diffs = _paired(data, data_box, scores, PAIRS, "test", bootstrap, np.random.default_rng([seed, 18, 4]))
    return t, diffs


def _paired(data, data_box, scores: dict, pairs, split: str, bootstrap: int, rng) -> dict:
    """First minus second method of each pair on ``split``, bits per byte, with percentile bootstrap
    intervals from the same within-domain draws for both methods."""
    idx = np.flatnonzero(data.mask(split))
    dom = data.domain[idx]
    groups = [np.flatnonzero(dom == k) for k in range(data.K)]
    draws = np.concatenate([g[rng.integers(0, g.size, size=(bootstrap, g.size))] for g in groups], axis=1)
    tok = data.tokens[idx]
    gens = {"worst_simplex": data.Lambda.generators(), "worst_box": data_box.Lambda.generators()}

    def summaries(s, rows):
        per = np.stack([np.bincount(dom[i], weights=s[i], minlength=data.K)
                        / np.bincount(dom[i], weights=tok[i], minlength=data.K) for i in rows]) / LN2
        return {"worst_simplex": (per @ gens["worst_simplex"].T).max(axis=1),
                "worst_box": (per @ gens["worst_box"].T).max(axis=1), "average": per.mean(axis=1)}

    diffs = {}
    full = [np.arange(idx.size)]
    for m1, m2 in pairs:
        s1, s2 = scores[m1][idx], scores[m2][idx]
        point = {k: float(summaries(s1, full)[k][0] - summaries(s2, full)[k][0]) for k in _SUMMARY_ROWS}
        b1, b2 = summaries(s1, draws), summaries(s2, draws)
        diffs[f"{m1}_minus_{m2}"] = {k: {"bpb": point[k], "ci_low": float(np.quantile(b1[k] - b2[k], 0.025)),
                                         "ci_high": float(np.quantile(b1[k] - b2[k], 0.975))}
                                     for k in _SUMMARY_ROWS}
    return diffs


# ---------------------------------------------------------------------------------------------
# the run


def _no_gradient_cosine(run, done) -> pd.DataFrame:
    """The real experiment's gradient-cosine measurement is not needed here: an empty table."""
    return pd.DataFrame(columns=["method", "size", "domain_a", "domain_b", "cos", "windows"])


def _stages(settings: FitSettings, run, *, corpus=None, cache_dir=None) -> list[Stage]:
    stages = [Stage(s.name, _no_gradient_cosine) if s.name == "gradient_cosine" else s
              for s in _real._stages(run, corpus=corpus, cache_dir=cache_dir)]
    return [*stages, Stage("fit", partial(_fit_stage, settings))]


def _finish(run, done) -> Outputs:
    out = _real._finish(run, done)
    fitted = done["fit"]
    return Outputs([*out.tables, Table("fit", FIT_TABLE_FILE, fitted.table, "%.6f")],
                   {**out.summary, "real_fit": fitted.summary})


def main(config=_real.FULL, out_dir: str | Path | None = None, *, seed: int = 0, device: str = "cpu",
         settings: FitSettings = FitSettings(), progress: bool = True, cache_dir=None, corpus=None,
         resume: bool = True, draw: bool = True, update_shipped: bool = False) -> RealFitResult:
    """Run the real-text experiment with ``config`` and the ``fit`` stage (module docstring) into
    ``out_dir`` (default a fresh ``results/repro-real-fit-<config>-<time>``; an existing folder is
    reused and its checkpoints, also those of a ``repro real`` run, resumed). With
    ``update_shipped`` the three ``real_fit`` files (only those) are then copied into the shipped
    results folder, where :func:`real_fit_section` reads them by default. ``draw=False`` skips
    both figures (the experiment's needs its three named domains)."""
    from .runner import output_dir

    settings = settings if isinstance(settings, FitSettings) else FitSettings(**settings)
    out = output_dir("real-fit", config.name, out_dir)  # refuses the shipped folder
    stages = partial(_stages, settings, corpus=corpus, cache_dir=cache_dir)
    experiment = replace(_real.EXPERIMENT, stages=stages, finish=_finish)
    res = run_experiment(experiment, config, out, seed=seed, device=device, progress=progress, draw=draw,
                         resume=resume)
    table = res.tables["fit"]
    summary = {**res.summary["real_fit"], "run": res.summary["run"],
               "restored_checkpoints": res.summary["restored_checkpoints"],
               "seconds_total": res.summary["seconds_total"]}
    summary["findings"] = findings(table, summary)
    paths = {"table": Path(res.paths["fit"]), "summary": Path(res.out_dir) / FIT_JSON_FILE}
    paths["summary"].write_text(json.dumps(summary, indent=1))
    if draw:
        from robust_gates.figures.style import save_figure

        paths["figure"] = save_figure(plot(table, summary), Path(res.out_dir) / FIT_FIGURE_FILE)[0]
    if update_shipped:
        for p in paths.values():
            shutil.copyfile(p, SHIPPED_DIR / p.name)
    return RealFitResult(table, summary, {k: str(v) for k, v in paths.items()}, res.out_dir)


# ---------------------------------------------------------------------------------------------
# findings, figure, report fragment


def _cell(t: pd.DataFrame, method: str, domain: str, split: str = "test") -> pd.Series:
    return t[(t.method == method) & (t.domain == domain) & (t.split == split)].iloc[0]


def _halves_unit(summary: dict) -> str:
    """What the valid windows were split by: ``document`` (or the stand-in's name)."""
    halves = summary.get("samples", {}).get("halves", {})
    units = sorted({h["unit"] for h in halves.values()}) or ["document"]
    return " / ".join(units)


def findings(table: pd.DataFrame, summary: dict) -> list[str]:
    """Three to five sentences on the ``test`` split, every number read from ``table`` or the
    summary's paired differences (so they trace to the shipped files)."""

    def v(m, d):
        r = _cell(table, m, d)
        return f"{r.bpb:.3f} [{r.ci_low:.3f}, {r.ci_high:.3f}]"

    w = summary["constant_gate"]["simplex"]["weights_by_expert"]
    diffs = summary["paired_differences_test_bpb"]
    d1 = diffs["constant_gate_minus_robust_gate"]["worst_simplex"]
    d2 = diffs["softmax_gate_minus_constant_gate"]["worst_simplex"]
    cfg = summary["run"]["label"] if "run" in summary else summary["config"]["name"]
    sel = summary["selection"]["worst_case_bpb"]
    sd = summary["selection"].get("paired_difference_bpb")
    by = _halves_unit(summary)
    lines = [
        f"On the real-text experiment's three experts ({cfg} configuration), the certified constant gate "
        f"fitted by `robust-gates fit` to their log-likelihoods of half the validation windows (split by "
        f"{by}) puts weights "
        + ", ".join(f"{k} {x:.3f}" for k, x in w.items())
        + f" (certificate gap {summary['constant_gate']['simplex']['gap']:.1e} nats/byte).",
        f"Test worst domain, bits per byte with 95% bootstrap intervals: constant gate "
        f"{v('constant_gate', 'worst_simplex')}, the experiment's robust router "
        f"{v('robust_gate', 'worst_simplex')}, Bayes router {v('bayes_router', 'worst_simplex')}, "
        f"best single expert {v('best_single_expert', 'worst_simplex')}.",
        f"The token-level router minus the whole-window constant gate on the worst domain: "
        f"{-d1['bpb']:+.3f} bits per byte (paired 95% interval "
        f"[{-d1['ci_high']:+.3f}, {-d1['ci_low']:+.3f}]); "
        f"averages: constant gate {v('constant_gate', 'average')}, router {v('robust_gate', 'average')}.",
        f"fit recommends the {summary['recommendation']} gate, decided on the other half of the validation "
        f"windows (worst domain: contextual gate {sel['softmax_gate']:.3f}, including its log 3 "
        f"normalization bound, against constant gate {sel['constant_gate']:.3f}"
        + ("" if sd is None else f"; paired 95% interval of the difference [{sd['ci_low']:+.3f}, "
           f"{sd['ci_high']:+.3f}]")
        + "); on the test windows, "
        f"used for neither fitting nor choosing, the contextual gate reaches "
        f"{v('softmax_gate', 'worst_simplex')} (minus the constant gate: {d2['bpb']:+.3f}, paired "
        f"[{d2['ci_low']:+.3f}, {d2['ci_high']:+.3f}]).",
    ]
    halves = summary["samples"]["halves"]
    lam = summary["constant_gate"]["simplex"]["lam"]
    domains = list(summary["domains"])

    def worst_domain(split):
        r = table[(table.method == "constant_gate") & (table.split == split) & table.domain.isin(domains)]
        return r.set_index("domain").bpb.idxmax()

    k = int(np.argmax(lam))
    lines.append(
        f"The halves differ: the constant gate's least favourable domain on the fit half is {domains[k]} "
        f"(lam* {lam[k]:.2f}), while its worst domain is {worst_domain('valid_select')} on the selection "
        f"half and {worst_domain('test')} on test; the halves hold "
        + ", ".join(f"{h['units_fit']} + {h['units_select']} {d}" for d, h in halves.items())
        + f" {'documents' if by == 'document' else 'units (' + by + ')'}, so the simplex worst case "
        "follows whichever few documents each half drew.")
    return lines


def plot(table: pd.DataFrame, summary: dict | None = None):
    """Two forest plots on the ``test`` split: each method's worst domain (left) and average over
    the domains (right), bits per byte with 95% bootstrap intervals; colours by kind (the fitted
    gates, the experiment's routers over the same experts, single experts, monolithic models)."""
    from robust_gates.figures.style import color, new_figure, style

    t = table[table.split == "test"]
    colours = {"fit": "blue", "router": "vermillion", "experts": "green", "single model": "black"}
    methods = [m for m in METHOD_LABELS if m in set(t.method)]
    y = np.arange(len(methods))[::-1]
    with style():
        fig, axes = new_figure("page", aspect=0.42, ncols=2, sharey=True)
        for ax, col, title in ((axes[0], "worst_simplex", "worst domain"), (axes[1], "average", "average")):
            for yi, m in zip(y, methods, strict=True):
                r = _cell(t, m, col)
                c = color(colours[METHOD_LABELS[m][1]])
                ax.errorbar(r.bpb, yi, xerr=[[r.bpb - r.ci_low], [r.ci_high - r.bpb]], fmt="o", ms=3.5,
                            color=c, ecolor=c, elinewidth=1.0, capsize=2)
            ref = _cell(t, "constant_gate", col).bpb
            ax.axvline(ref, color=color("blue"), lw=0.6, ls=":")
            ax.set_xlabel(f"{title}, bits per byte (test)")
            ax.grid(axis="y", color="0.92", lw=0.6)
        axes[0].set_yticks(y, [METHOD_LABELS[m][0] for m in methods], fontsize=6)
        where = "" if summary is None else f" ({summary.get('run', {}).get('label', '')} configuration)"
        how = ""
        if summary is not None and "selection" in summary:
            gate = {"softmax": "contextual", "constant": "constant"}[summary["recommendation"]]
            how = (f"gates fitted on half the validation windows (by {_halves_unit(summary)}), chosen on "
                   f"the other half: {gate} gate recommended\n")
        fig.suptitle(f"fit on the real-text experts vs the experiment's routers{where}\n{how}test windows "
                     "(used for neither), 95% bootstrap intervals; dotted: the certified constant gate",
                     fontsize=7.5)
    return fig


def real_fit_section(results_dir: str | Path | None = None) -> str:
    """The report's HTML fragment for the real-text ``fit`` demonstration, from ``real_fit.csv`` and
    ``real_fit.json`` in ``results_dir`` (default: the shipped results). The figure is drawn from
    the table and embedded; a missing table gives a one-paragraph note instead."""
    import base64

    from robust_gates.figures.style import save_figure

    folder = Path(results_dir) if results_dir is not None else SHIPPED_DIR
    csv, js = folder / FIT_TABLE_FILE, folder / FIT_JSON_FILE
    if not (csv.is_file() and js.is_file()):
        return (f"<p>No real-text fit results in {html.escape(str(folder))}: run "
                "<code>robust-gates fit --real-text --quick</code>.</p>")
    table = pd.read_csv(csv)
    summary = json.loads(js.read_text())
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        png = save_figure(plot(table, summary), Path(tmp) / FIT_FIGURE_FILE)[0]
        uri = "data:image/png;base64," + base64.b64encode(png.read_bytes()).decode("ascii")
    t = table[table.split == "test"]
    domains = summary["domains"]
    cols = [*domains, *_SUMMARY_ROWS]
    head = "".join(f"<th>{html.escape(c)}</th>" for c in ["method", *cols])
    body = []
    for m in [m for m in METHOD_LABELS if m in set(t.method)]:
        cells = []
        for c in cols:
            r = _cell(t, m, c)
            ci = "" if not np.isfinite(r.ci_low) else f" <small>[{r.ci_low:.3f}, {r.ci_high:.3f}]</small>"
            cells.append(f"<td>{r.bpb:.3f}{ci}</td>")
        body.append(f"<tr><td>{html.escape(METHOD_LABELS[m][0])}</td>{''.join(cells)}</tr>")
    cons = summary["consistency"]
    label = summary.get("run", {}).get("label", summary["config"]["name"])
    out = io.StringIO()
    out.write("<h3>Bring your own experts: <code>fit</code> on the real-text experts</h3>\n")
    out.write("<ul>" + "".join(f"<li>{html.escape(s)}</li>" for s in summary["findings"]) + "</ul>\n")
    out.write(f"<p>Test split, bits per byte, 95% bootstrap intervals over windows "
              f"({summary['fit_settings']['bootstrap']} replicates). The gates were fitted on one half of "
              f"the validation windows (split by {html.escape(_halves_unit(summary))}) and the "
              "recommendation chosen on the other half; the test windows were used for neither (the "
              "experiment's routers were trained on windows drawn from the whole validation split). "
              f"Configuration: {html.escape(label)}, seed {summary['seed']}, {summary['device']}. "
              f"Checks: the helper's log-likelihoods match the experiment's to "
              f"{cons['loglik_vs_experiment_nats']:.1e} nats per window; the causal Bayes router equals "
              f"the sequence-level uniform mixture to {cons['bayes_router_vs_sequence_mixture_bpb']:.1e} "
              "bits per byte.</p>\n")
    out.write(f"<table class=\"real-fit\"><thead><tr>{head}</tr></thead>"
              f"<tbody>{''.join(body)}</tbody></table>\n")
    out.write(f"<img alt=\"real-text fit: worst domain and average per method\" src=\"{uri}\" "
              "style=\"max-width:100%\">\n")
    return out.getvalue()
