r"""Modular versus monolithic on real text: Python code, English prose and C shipped with Python.

The corpus is :mod:`.text_data` (the running interpreter's standard library, ``pydoc_data``'s
topics and CPython's headers; no download). All models are byte-level causal transformers
(:class:`.gpt.GPTStack`) reading windows of ``ctx`` bytes. One run trains, on the ``train``
split:

* the **experts** (Smaller size), one on each domain;
* **monolithic** models, Smaller and Larger, on the uniform aggregate (``lam = (1/K, ..., 1/K)``:
  every domain weighs the same, however many bytes it has);
* the **oracle**, the Smaller model retrained for each ``lam`` of a small grid: the vertices, the
  uniform mixture and two mixed points. The vertex and uniform oracles are exactly the experts and
  the Smaller monolithic model (same recipe, same data law), so only the two mixed points are
  trained anew;

and, over the frozen experts (``K`` = the number of domains),

* the **uniform mixture** ``P = (P_1 + ... + P_K) / K`` (constant token-level gate);
* the **Bayes causal router** with prior ``lam``, ``r_k(x_<t) ∝ lam_k P_k(x_<t)`` (uniform prior in
  the main table; prior = the grid's ``lam`` in the grid table);
* the **robust gate**: a :class:`.gpt.KRouter` trained by stochastic primal-dual (SPEC algorithm
  4; payoff cross-entropy; ``Lambda`` the simplex) and a second one with a box ``Lambda`` (prior
  knowledge that Python code is 40-80% of the traffic, prose and C 10-50% each). The routers are
  fitted on the ``valid`` split, which the experts never saw (a router has about a hundred
  parameters; fitting it on the experts' own training bytes would trust their over-confident
  scores there).

Everything is scored in **bits per byte** on every split's evaluation windows; the tables report
the ``test`` split (``valid`` rows are kept in the tidy table). For each method: bits per byte on
each domain, the worst case over the simplex (the worst domain), the worst case over the box,
the average (uniform ``lam``) and the parameter count. ``lam*`` is the adversary's averaged
``lam_bar`` from primal-dual and the exact maximizer of the final gate's payoff over ``Lambda``.

The number of domains is the corpus's (:attr:`.text_data.Corpus.domains`; three for the shipped
corpus): one expert per domain, the grid's vertices named by domain; the configuration's mixed
points and box must give one weight per domain.

``main(config, out_dir)`` runs the stages ``data``, ``smaller`` and ``larger`` (training, each
checkpointed), ``evaluate``, ``routers`` and ``gradient_cosine`` on the experiment runner
(:mod:`.runner`) and writes ``real_bpb.csv`` (tidy: ``method, size, params, split, domain,
bpb``), ``real_table.csv`` (one row per method and split: ``bpb_<domain>`` for each domain,
``worst_simplex, worst_box, average, params``), ``real_lam_grid.csv`` (each method's payoff at
each grid ``lam``), ``real_gradient_cosine.csv``, ``real_summary.json`` and the figure
``real_text.png`` (worst case against average, drawn by :mod:`robust_gates.figures.real_text`
through the figure registry).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from robust_gates.theory.lambda_sets import Box, Simplex

from . import text_data as _td
from .runner import Checkpoint, Experiment, Outputs, Stage, Table, run_experiment
from .sizes import GPTSize

__all__ = ["RealConfig", "RealResult", "Trained", "FULL", "QUICK", "TINY", "CONFIGS", "EXPERIMENT",
           "main", "with_overrides", "methods", "oracle_models", "table_from_bpb", "comparisons",
           "gradient_cosines", "BPB_FILE", "COSINE_FILE", "TABLE_FILE", "GRID_FILE", "SUMMARY_FILE",
           "METHODS", "ORACLE_MODEL", "TRAINING_FIELDS"]

BPB_FILE = "real_bpb.csv"
TABLE_FILE = "real_table.csv"
GRID_FILE = "real_lam_grid.csv"
COSINE_FILE = "real_gradient_cosine.csv"
SUMMARY_FILE = "real_summary.json"
LN2 = math.log(2.0)
_MIXED = ("mixed_a", "mixed_b")
_EXPERT_TEXT = {"python": "Python code", "prose": "English prose", "c": "C headers"}


def methods(domains: Sequence[str]) -> dict:
    """Every method of a run over ``domains``: name -> (size label, description), in table order."""
    return {**{f"expert_{d}": ("smaller", f"expert trained on {_EXPERT_TEXT.get(d, d)}") for d in domains},
            "monolithic_smaller": ("smaller", "Smaller model on the uniform aggregate"),
            "monolithic_larger": ("larger", "Larger model on the uniform aggregate"),
            "oracle_mixed_a": ("smaller", "Smaller model retrained on mixed point a"),
            "oracle_mixed_b": ("smaller", "Smaller model retrained on mixed point b"),
            "uniform_mixture": ("modular", "uniform token-level mixture of the experts"),
            "bayes_router": ("modular", "Bayes causal router, uniform prior"),
            "robust_gate": ("modular", "robust gate, Lambda = simplex (primal-dual)"),
            "robust_gate_box": ("modular", "robust gate, Lambda = box (primal-dual)"),
            "oracle": ("smaller", "Smaller model retrained per lam (grid)")}


def oracle_models(domains: Sequence[str]) -> dict:
    """Grid point -> the Smaller model trained for that mixture (the per-``lam`` oracle): the
    experts at the vertices, the Smaller monolithic model at uniform, two models of their own at
    the mixed points. Also the member order of the Smaller stack."""
    clash = set(domains) & {"uniform", *_MIXED}
    if clash:
        raise ValueError(f"a domain may not be called {sorted(clash)}: those name grid points")
    return {**{d: f"expert_{d}" for d in domains}, "uniform": "monolithic_smaller",
            "mixed_a": "oracle_mixed_a", "mixed_b": "oracle_mixed_b"}


METHODS = methods(_td.DOMAINS)
ORACLE_MODEL = oracle_models(_td.DOMAINS)


@dataclass(frozen=True)
class RealConfig:
    """One experiment's settings (``FULL``, ``QUICK`` and ``TINY`` below). ``mixed_a``,
    ``mixed_b``, ``box_lo`` and ``box_hi`` hold one weight per domain, in the corpus's order."""

    name: str
    ctx: int = 128
    smaller: GPTSize = GPTSize(64, 2, 4)
    larger: GPTSize = GPTSize(128, 3, 4)
    steps: int = 4000
    batch: int = 32
    lr: float = 3e-3
    min_lr_ratio: float = 0.1
    warmup: int = 100
    weight_decay: float = 0.1
    dropout: float = 0.1
    mixed_a: tuple = (0.6, 0.3, 0.1)
    mixed_b: tuple = (0.1, 0.3, 0.6)
    box_lo: tuple = (0.4, 0.1, 0.1)
    box_hi: tuple = (0.8, 0.5, 0.5)
    router_hidden: int = 8
    gate_pool: int = 2048
    gate_steps: int = 1500
    gate_batch: int = 64
    gate_lr: float = 0.02
    lam_step: float = 0.5
    eval_cap: int = 2000
    cos_windows: int = 512
    threads: int = 2

    def __post_init__(self):
        K = len(self.box_lo)
        if self.steps < 1 or self.gate_steps < 1 or self.ctx < 2:
            raise ValueError("steps and gate_steps must be >= 1 and ctx >= 2")
        if K < 2:
            raise ValueError(f"box_lo must give one weight per domain, at least two; got {self.box_lo}")
        for name in _MIXED:
            w = np.asarray(getattr(self, name), dtype=float)
            if w.shape != (K,) or (w < 0).any() or abs(w.sum() - 1) > 1e-9:
                raise ValueError(f"{name} must be a probability vector with one weight per domain "
                                 f"({K}, as box_lo); got {w}")
        if self.batch < K:
            raise ValueError(f"batch must be at least the number of domains ({K}, one window each); "
                             f"got {self.batch}")
        Box(np.array(self.box_lo), np.array(self.box_hi))  # validates

    def grid(self, domains: Sequence[str] = _td.DOMAINS) -> dict:
        """The oracle's ``lam`` grid over ``domains``: the vertices (named by their domain), the
        uniform mixture and the two mixed points."""
        if len(domains) != len(self.box_lo):
            raise ValueError(f"the corpus has {len(domains)} domains ({', '.join(domains)}) but the "
                             f"configuration's mixed points and box give {len(self.box_lo)} weights; "
                             "set mixed_a, mixed_b, box_lo and box_hi with one weight per domain")
        K = len(domains)
        eye = np.eye(K)
        return {**{d: eye[k] for k, d in enumerate(domains)}, "uniform": np.full(K, 1 / K),
                "mixed_a": np.array(self.mixed_a, float), "mixed_b": np.array(self.mixed_b, float)}

    @property
    def box(self) -> Box:
        return Box(np.array(self.box_lo, float), np.array(self.box_hi, float))


# the fields that determine the trained models (the checkpoint key); the others only affect
# the routers, the evaluation and the measurements made after training
TRAINING_FIELDS = ("ctx", "smaller", "larger", "steps", "batch", "lr", "min_lr_ratio", "warmup",
                   "weight_decay", "dropout", "mixed_a", "mixed_b")

FULL = RealConfig("full")
QUICK = RealConfig("quick", ctx=64, steps=800, gate_steps=500, gate_pool=1024, eval_cap=400,
                   cos_windows=256)
TINY = RealConfig("tiny", ctx=32, smaller=GPTSize(16, 1, 2), larger=GPTSize(32, 2, 2), steps=40, batch=6,
                  warmup=5, gate_steps=150, gate_pool=128, gate_batch=32, eval_cap=24, cos_windows=24,
                  threads=1)
CONFIGS = {c.name: c for c in (FULL, QUICK, TINY)}


@dataclass(frozen=True)
class RealResult:
    """What :func:`main` computed and where it wrote it."""

    bpb: pd.DataFrame
    table: pd.DataFrame
    grid: pd.DataFrame
    cosine: pd.DataFrame
    summary: dict
    paths: dict
    out_dir: str


def with_overrides(config: RealConfig, **kw) -> RealConfig:
    """A copy of ``config`` with some fields replaced."""
    return replace(config, **kw)


# ---------------------------------------------------------------------------------------------
# the stages


@dataclass(frozen=True)
class _StackPlan:
    """One stack to train: its random stream, size, members (methods) and their mixtures."""

    stream: int
    size: GPTSize
    methods: tuple
    lams: np.ndarray
    desc: str


@dataclass(frozen=True)
class _Setup:
    """The ``data`` stage: corpus, domains, grid, evaluation windows, random streams, plans."""

    corpus: Any
    domains: tuple
    methods: dict
    grid: dict
    box: Box
    windows: dict  # split -> one (N, ctx + 1) array per domain
    rngs: list
    gens: list
    plans: dict  # "smaller" / "larger" -> _StackPlan
    params: dict  # "smaller" / "larger" -> parameters of one member


@dataclass(frozen=True)
class Trained:
    """A trained stack (evaluation mode) and its per-step training losses ``(steps, members)``."""

    stack: Any
    losses: np.ndarray


@dataclass(frozen=True)
class _Evaluation:
    rows: list  # bits per byte of the single models
    expert_logp: dict  # split -> per domain (N, ctx, K) token log-probabilities of the experts


@dataclass(frozen=True)
class _Routers:
    rows: list  # bits per byte of the routers over the experts
    gates: dict  # the primal-dual gates' lam_bar, last lam and Lambda
    bayes: dict  # grid point -> split -> per-domain bits per byte of the Bayes router with that prior
    router_params: int
    models: dict = field(default_factory=dict)  # method -> the router itself (read by .real_fit)


def _setup(run, done, *, corpus=None, cache_dir=None) -> _Setup:
    cfg, torch = run.config, run.torch
    from .gpt import gpt_params

    corpus = corpus if corpus is not None else _td.load_corpus(cache_dir)
    domains = corpus.domains
    grid = cfg.grid(domains)
    oracle = oracle_models(domains)
    # one independent stream per stage, so a stage restored from its checkpoint leaves the
    # others' randomness (and hence the results) exactly as in a run from scratch
    rngs = [np.random.default_rng(s) for s in np.random.SeedSequence([run.seed, 11]).spawn(4)]
    gens = [torch.Generator().manual_seed(int(r.integers(2**62))) for r in rngs]
    plans = {"smaller": _StackPlan(0, cfg.smaller, tuple(oracle.values()),
                                   np.stack([grid[g] for g in oracle]),
                                   f"Smaller x{len(oracle)} (experts, monolithic, oracles)"),
             "larger": _StackPlan(1, cfg.larger, ("monolithic_larger",), grid["uniform"][None],
                                  "Larger monolithic")}
    windows = {s: [_td.eval_windows(corpus.data[d][s], cfg.ctx + 1, cfg.eval_cap) for d in domains]
               for s in ("valid", "test")}
    params = {name: gpt_params(plan.size, 256, cfg.ctx) for name, plan in plans.items()}
    return _Setup(corpus, domains, methods(domains), grid, cfg.box, windows, rngs, gens, plans, params)


def _new_stack(run, setup: _Setup, plan: _StackPlan):
    from .gpt import GPTStack

    return GPTStack(len(plan.lams), plan.size, run.config.ctx, setup.gens[plan.stream],
                    dropout=run.config.dropout).to(run.device)


def _train(name: str, run, done) -> Trained:
    """Train the ``name`` stack on its members' mixtures."""
    from .train import train_mixture

    cfg, setup = run.config, done["data"]
    plan = setup.plans[name]
    stack = _new_stack(run, setup, plan)
    rng = setup.rngs[plan.stream]
    run.torch.manual_seed(int(rng.integers(2**62)))  # dropout masks
    with run.bar(cfg.steps, plan.desc) as bar:
        losses = train_mixture(stack, plan.lams, [setup.corpus.data[d]["train"] for d in setup.domains],
                               steps=cfg.steps, batch=cfg.batch, lr=cfg.lr, min_lr_ratio=cfg.min_lr_ratio,
                               warmup=cfg.warmup, weight_decay=cfg.weight_decay, rng=rng,
                               device=run.device, progress=bar)
    return Trained(stack, losses)


def _trained_checkpoint(name: str) -> Checkpoint:
    """A trained stack depends on the training fields of the configuration, the seed, the corpus
    and torch (not on the routers' or the evaluation's settings)."""
    def key(run, done):
        setup = done["data"]
        return {"config": {f: getattr(run.config, f) for f in TRAINING_FIELDS}, "seed": run.seed,
                "corpus": setup.corpus.info.get("key"), "domains": list(setup.domains),
                "torch": run.torch.__version__}

    def save(trained: Trained) -> dict:
        import torch

        return {"model": trained.stack.state_dict(), "losses": torch.from_numpy(trained.losses)}

    def load(blob, run, done) -> Trained:
        setup = done["data"]
        stack = _new_stack(run, setup, setup.plans[name])
        stack.load_state_dict(blob["model"])
        stack.eval()
        return Trained(stack, blob["losses"].numpy())

    return Checkpoint(key, save, load)


def _row(setup: _Setup, method, split, domain, bpb, params) -> dict:
    return {"method": method, "size": setup.methods[method][0], "params": int(params), "split": split,
            "domain": domain, "bpb": float(bpb)}


def _evaluate(run, done) -> _Evaluation:
    """Bits per byte of the single models; the experts' token log-probabilities for the routers."""
    from .train import stack_token_logp

    setup, device = done["data"], run.device
    K = len(setup.domains)
    smaller, larger = done["smaller"].stack, done["larger"].stack
    p_small, p_large = setup.params["smaller"], setup.params["larger"]
    rows, expert_logp = [], {}
    for split, wins in setup.windows.items():
        expert_logp[split] = []
        for k, d in enumerate(setup.domains):
            lp_s = stack_token_logp(smaller, wins[k], device)  # (M, N, ctx)
            lp_l = stack_token_logp(larger, wins[k], device)
            expert_logp[split].append(lp_s[:K].permute(1, 2, 0).contiguous())  # (N, ctx, K)
            for m, method in enumerate(setup.plans["smaller"].methods):
                rows.append(_row(setup, method, split, d, -lp_s[m].double().mean() / LN2, p_small))
            rows.append(_row(setup, "monolithic_larger", split, d, -lp_l[0].double().mean() / LN2, p_large))
    return _Evaluation(rows, expert_logp)


def _routers(run, done) -> _Routers:
    """Routers over the frozen experts: fixed baselines, then primal-dual on the valid split."""
    from .gpt import KRouter
    from .train import evaluate_router, stack_token_logp, train_router

    cfg, setup, device = run.config, done["data"], run.device
    expert_logp = done["evaluate"].expert_logp
    K = len(setup.domains)
    rng, gen = setup.rngs[2], setup.gens[2]
    bayes = {}
    for g, lam in setup.grid.items():
        r = KRouter.bayes(lam)
        bayes[g] = {s: (evaluate_router(r, expert_logp[s]) / LN2).tolist() for s in setup.windows}
    fixed = {"uniform_mixture": KRouter.constant(np.full(K, 1 / K)),
             "bayes_router": KRouter.bayes(np.full(K, 1 / K))}
    pools = []
    for d in setup.domains:
        pool = _td.random_windows(setup.corpus.data[d]["valid"], cfg.gate_pool, cfg.ctx + 1, rng)
        pools.append(stack_token_logp(done["smaller"].stack, pool, device)[:K].permute(1, 2, 0).contiguous())
    gates, p_router = {}, None
    for name, lset in (("robust_gate", Simplex(K)), ("robust_gate_box", setup.box)):
        router = KRouter(K, cfg.router_hidden, gen)
        p_router = router.n_params()
        with run.bar(cfg.gate_steps, f"{name} (primal-dual)") as bar:
            log = train_router(router, pools, steps=cfg.gate_steps, batch=cfg.gate_batch,
                               lr=cfg.gate_lr, lam_step=cfg.lam_step, rng=rng, progress=bar,
                               lam_set=lset)
        fixed[name] = log["router_bar"]
        gates[name] = {"lam_bar": log["lam_bar"].tolist(), "lam_last": log["lam"][-1].tolist(),
                       "set": {"kind": lset.kind, **lset.to_dict()}}
    n_modular = K * setup.params["smaller"]
    rows = []
    for name, r in fixed.items():
        params = n_modular + (p_router if name.startswith("robust") else 0)
        for split in setup.windows:
            for d, v in zip(setup.domains, evaluate_router(r, expert_logp[split]) / LN2, strict=True):
                rows.append(_row(setup, name, split, d, v, params))
    return _Routers(rows, gates, bayes, p_router, fixed)


def _gradient_cosine(run, done) -> pd.DataFrame:
    """SPEC DH, measured: per-domain gradient cosines of the experts and monolithic models."""
    cfg, setup = run.config, done["data"]
    rows = []
    for name in ("smaller", "larger"):
        for m, method in enumerate(setup.plans[name].methods):
            if method.startswith("oracle"):
                continue
            rows += [{"method": method, "size": setup.methods[method][0], **r}
                     for r in gradient_cosines(done[name].stack, m, setup.corpus, cfg.ctx, cfg.cos_windows,
                                               cfg.batch, setup.rngs[3], run.device)]
    return pd.DataFrame(rows)


def _stages(run, *, corpus=None, cache_dir=None) -> list[Stage]:
    return [Stage("data", partial(_setup, corpus=corpus, cache_dir=cache_dir)),
            Stage("smaller", partial(_train, "smaller"), _trained_checkpoint("smaller")),
            Stage("larger", partial(_train, "larger"), _trained_checkpoint("larger")),
            Stage("evaluate", _evaluate),
            Stage("routers", _routers),
            Stage("gradient_cosine", _gradient_cosine)]


def _finish(run, done) -> Outputs:
    setup, routers = done["data"], done["routers"]
    K = len(setup.domains)
    bpb = pd.DataFrame(done["evaluate"].rows + routers.rows)
    table = table_from_bpb(bpb, setup.box, setup.grid)
    grid_tab = _grid_table(bpb, setup.grid, setup.box, routers.bayes)
    gates = {name: dict(g) for name, g in routers.gates.items()}
    for name, lset in (("robust_gate", Simplex(K)), ("robust_gate_box", setup.box)):
        for split in setup.windows:
            vals = bpb[(bpb.method == name) & (bpb.split == split)].set_index("domain").bpb
            value, lam_star = lset.maximize_linear(vals.loc[list(setup.domains)].to_numpy())
            gates[name][f"worst_{split}"] = float(value)
            gates[name][f"lam_star_{split}"] = np.asarray(lam_star).tolist()
    timings = {}
    for name in ("smaller", "larger"):
        if name in run.restored:
            timings[f"{name}_restore_s"] = run.restore_seconds[name]
        timings[f"{name}_train_s"] = run.seconds[name]
    timings.update({f"{name}_s": run.seconds[name] for name in ("evaluate", "routers", "gradient_cosine")})
    n_modular = K * setup.params["smaller"]
    params = {**setup.params, "router": routers.router_params,
              "modular_total": n_modular + routers.router_params}
    train_loss = {name: done[name].losses[-50:].mean(axis=0).tolist() for name in ("smaller", "larger")}
    summary = _summary(run, setup, table, gates, timings, params, train_loss)
    summary["gradient_cosine"] = _cos_summary(done["gradient_cosine"])
    return Outputs([Table("bpb", BPB_FILE, bpb, "%.6f"), Table("table", TABLE_FILE, table, "%.6f"),
                    Table("grid", GRID_FILE, grid_tab, "%.6f"),
                    Table("cosine", COSINE_FILE, done["gradient_cosine"], "%.6f")], summary)


EXPERIMENT = Experiment("real", figure="real_text", summary_file=SUMMARY_FILE, configs=CONFIGS,
                        stages=_stages, finish=_finish, seeds=lambda cfg, seed: [seed])


def main(config: RealConfig = FULL, out_dir: str | Path | None = None, *, seed: int = 0,
         device: str = "cpu", progress: bool = True, draw: bool = True,
         cache_dir: str | Path | None = None, corpus=None, resume: bool = True,
         update_shipped: bool = False, force: bool = False) -> RealResult:
    """Run the real-text experiment (module docstring) and write its tables and figure.

    ``corpus`` (a :class:`.text_data.Corpus`) replaces the interpreter's corpus (loaded through
    the cache in ``cache_dir``); its domains set the number of experts. ``out_dir`` defaults to a
    fresh folder under ``./results``; the shipped tables are written only with ``update_shipped``
    (see :func:`.runner.output_dir`). Trained models are saved under ``out_dir/checkpoints`` with a
    key made of the configuration's training fields, the seed, the corpus and the torch version;
    with ``resume`` (the default) a rerun with the same key restores them instead of training
    again (the summary lists what was restored).
    """
    experiment = replace(EXPERIMENT, stages=partial(_stages, corpus=corpus, cache_dir=cache_dir))
    res = run_experiment(experiment, config, out_dir, seed=seed, device=device, progress=progress,
                         draw=draw, resume=resume, update_shipped=update_shipped, force=force)
    t = res.tables
    return RealResult(t["bpb"], t["table"], t["grid"], t["cosine"], res.summary, res.paths, res.out_dir)


# ---------------------------------------------------------------------------------------------
# tables and measurements


def _domains_of(bpb: pd.DataFrame) -> list:
    """The domains of a tidy table, in the order they first appear (the corpus's order)."""
    return list(dict.fromkeys(bpb.domain))


def table_from_bpb(bpb: pd.DataFrame, box: Box, grid: dict | None = None) -> pd.DataFrame:
    """The wide table: one row per ``(method, split)`` with per-domain bits per byte, the worst
    case over the simplex and over ``box``, the average (uniform ``lam``) and the parameters.

    With ``grid`` (name -> ``lam``), an ``oracle`` row is added per split: its per-domain entries
    are the vertex oracles (the experts on their own domain), its worst cases the largest payoff
    of the per-``lam`` oracle over the grid points in the set (grid only: a lower estimate of
    the oracle's true worst case), its average the uniform oracle's.
    """
    domains = _domains_of(bpb)
    oracle = oracle_models(domains)
    wide = bpb.pivot_table(index=["method", "split"], columns="domain", values="bpb")
    wide = wide[domains]
    meta = bpb.drop_duplicates(["method", "split"]).set_index(["method", "split"])[["size", "params"]]
    L = wide.to_numpy()
    out = pd.DataFrame({f"bpb_{d}": wide[d] for d in domains}, index=wide.index)
    out["worst_simplex"] = L.max(axis=1)
    out["worst_box"] = [box.maximize_linear(row)[0] for row in L]
    out["average"] = L.mean(axis=1)
    out = out.join(meta)
    rows = []
    if grid is not None:
        for split in sorted(set(bpb.split)):
            pay = {g: float(np.dot(grid[g], wide.loc[(oracle[g], split)].to_numpy())) for g in grid}
            in_box = [g for g in grid if box.contains(grid[g])]
            rows.append({"method": "oracle", "split": split,
                         **{f"bpb_{d}": wide.loc[(oracle[d], split), d] for d in domains},
                         "worst_simplex": max(pay.values()),
                         "worst_box": max(pay[g] for g in in_box) if in_box else np.nan,
                         "average": pay["uniform"], "size": "smaller",
                         "params": int(meta.loc[(f"expert_{domains[0]}", split), "params"])})
    out = out.reset_index()
    if rows:
        out = pd.concat([out, pd.DataFrame(rows)], ignore_index=True)
    order = {m: i for i, m in enumerate(methods(domains))}
    out = out.sort_values(["split", "method"], key=lambda s: s.map(order) if s.name == "method" else s)
    return out[["method", "split", "size", "params", *[f"bpb_{d}" for d in domains],
                "worst_simplex", "worst_box", "average"]].reset_index(drop=True)


_PER_LAYER = ("ln1_", "attn_", "proj_", "ln2_", "fc_", "out_")


def gradient_cosines(stack, member: int, corpus, ctx: int, windows: int, batch: int,
                     rng: np.random.Generator, device="cpu") -> list[dict]:
    r"""SPEC DH, measured on a trained model: cosines between its per-domain gradients.

    For member ``member`` of ``stack`` (dropout off), ``g_k`` is the gradient of its mean
    cross-entropy on ``windows`` fresh training windows of domain ``k`` (two independent halves
    ``g_k^(1), g_k^(2)`` of ``windows / 2`` each, ``g_k`` their mean). Rows: ``cos(g_a, g_b)`` for
    every pair of domains, and the split-half ``cos(g_k^(1), g_k^(2))`` per domain (``a = b``),
    the agreement of two estimates of the same gradient: a cross-domain cosine far below it
    means the domains pull apart beyond sampling noise, a negative one that they conflict.
    """
    import torch

    stack.eval()
    domains = corpus.domains
    names = [n for n, _ in stack.named_parameters()]
    params = list(stack.parameters())

    def own(name, g):
        return (g[:, member] if name.startswith(_PER_LAYER) else g[member]).reshape(-1)

    def grad(k, n):
        total = None
        for i in range(0, n, batch):
            x = _td.random_windows(corpus.data[domains[k]]["train"], min(batch, n - i), ctx + 1, rng)
            lp = stack.token_logp(torch.from_numpy(x).to(device))[member]
            gs = torch.autograd.grad(-lp.mean() * min(batch, n - i) / n, params)
            flat = torch.cat([own(nm, g) for nm, g in zip(names, gs, strict=True)]).double()
            total = flat if total is None else total + flat
        return total

    half = max(1, windows // 2)
    halves = [(grad(k, half), grad(k, half)) for k in range(len(domains))]
    full = [(a + b) / 2 for a, b in halves]

    def cos(u, v):
        return float(u @ v / (u.norm() * v.norm()).clamp_min(1e-300))

    rows = []
    for a in range(len(domains)):
        rows.append({"domain_a": domains[a], "domain_b": domains[a],
                     "cos": cos(*halves[a]), "windows": 2 * half})
        for b in range(a + 1, len(domains)):
            rows.append({"domain_a": domains[a], "domain_b": domains[b],
                         "cos": cos(full[a], full[b]), "windows": 2 * half})
    return rows


def _cos_summary(cosine: pd.DataFrame) -> dict:
    out = {}
    for method, g in cosine.groupby("method", sort=False):
        same = g[g.domain_a == g.domain_b]
        cross = g[g.domain_a != g.domain_b]
        pairs = {f"{r.domain_a}/{r.domain_b}": float(r.cos) for r in cross.itertuples()}
        out[method] = {"cross_domain": pairs,
                       "split_half": {r.domain_a: float(r.cos) for r in same.itertuples()},
                       "min_cross_domain": float(cross.cos.min())}
    return out


def _grid_table(bpb: pd.DataFrame, grid: dict, box: Box, bayes: dict) -> pd.DataFrame:
    """Each method's payoff ``sum_k lam_k bpb_k`` at each grid ``lam`` (the oracle and the Bayes
    router use the model made for that ``lam``)."""
    domains = _domains_of(bpb)
    oracle = oracle_models(domains)
    wide = bpb.pivot_table(index=["method", "split"], columns="domain", values="bpb")[domains]
    point = {g: {"lam_name": g, **{f"lam_{d}": float(v) for d, v in zip(domains, lam, strict=True)},
                 "in_box": bool(box.contains(lam))} for g, lam in grid.items()}
    rows = []
    for (method, split), vals in wide.iterrows():
        for g, lam in grid.items():
            rows.append({"method": method, "split": split, **point[g], "bpb": float(lam @ vals.to_numpy())})
    for split in sorted(set(bpb.split)):
        for g, lam in grid.items():
            base = {"split": split, **point[g]}
            rows.append({"method": "oracle", **base,
                         "bpb": float(lam @ wide.loc[(oracle[g], split)].to_numpy())})
            rows.append({"method": "bayes_router_prior", **base,
                         "bpb": float(lam @ np.asarray(bayes[g][split]))})
    return pd.DataFrame(rows)


def comparisons(table: pd.DataFrame, split: str = "test") -> dict:
    """Where modular beats monolithic and where not (differences in bits per byte, ``> 0`` means
    the first method is worse)."""
    t = table[table.split == split].set_index("method")
    per_domain = [c for c in table.columns if c.startswith("bpb_")]
    out = {}
    for mono in ("monolithic_smaller", "monolithic_larger"):
        for col in ("worst_simplex", "worst_box", "average", *per_domain):
            out[f"robust_gate_minus_{mono}/{col}"] = float(t.loc["robust_gate", col] - t.loc[mono, col])
    for col in ("worst_simplex", "worst_box", "average"):
        out[f"robust_gate_minus_uniform_mixture/{col}"] = float(
            t.loc["robust_gate", col] - t.loc["uniform_mixture", col])
        out[f"robust_gate_minus_bayes_router/{col}"] = float(
            t.loc["robust_gate", col] - t.loc["bayes_router", col])
        out[f"robust_gate_box_minus_robust_gate/{col}"] = float(
            t.loc["robust_gate_box", col] - t.loc["robust_gate", col])
        out[f"robust_gate_minus_oracle/{col}"] = float(t.loc["robust_gate", col] - t.loc["oracle", col])
    return out


def _summary(run, setup: _Setup, table, gates, timings, params, train_loss) -> dict:
    corpus = setup.corpus
    return {
        "config": asdict(run.config), "seed": run.seed, "device": run.device,
        "python_version": corpus.python_version,
        "corpus": {"bytes": corpus.bytes_table(), "documents": corpus.info.get("documents"),
                   "roots": corpus.info.get("roots"), "latin1_fallbacks": corpus.info.get("latin1_fallbacks"),
                   "cache": corpus.info.get("cache")},
        "grid": {g: v.tolist() for g, v in setup.grid.items()},
        "params": params, "larger_exceeds_modular": params["larger"] > params["modular_total"],
        "gates": gates, "final_train_loss_nats": train_loss,
        "comparisons_test": comparisons(table, "test"),
        "comparisons_valid": comparisons(table, "valid"),
        "timings": timings, "seconds_total": run.elapsed(), "restored_checkpoints": dict(run.restored),
    }
