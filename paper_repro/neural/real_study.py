r"""Real text as a study: modular versus monolithic on Python code, English prose and C headers
(:mod:`.text_data`) with a size sweep, matched baselines, a robustly trained monolithic model,
seeds, document-level bootstrap intervals, a regret payoff and a controlled conflict.

Every model is a byte-level causal transformer (:class:`.gpt.GPTStack`) reading windows of
``ctx`` bytes, trained with the recipe of :mod:`.real` (AdamW, warm-up, cosine decay, dropout).
The work is split into **cells**, each a stage of the experiment runner (:mod:`.runner`)
checkpointed under a key made of the cell, the configuration fields it depends on, the seed,
the corpus and torch, so a stopped run continues where it stopped and a rerun restores every
finished cell. For every seed ``s`` (``seeds`` of them) and every size ``z`` of ``sizes``:

* ``experts_<z>_s<s>``: one expert per domain (``K = 3``), each trained on ``batch`` windows of
  its own domain per step for ``steps`` steps (:func:`.train.train_mixture`, as in :mod:`.real`);
* ``mono_<z>_s<s>``: the **monolithic** model of size ``z`` on the uniform aggregate, trained on
  balanced batches of ``batch`` windows *per domain* (``K batch`` per step). It therefore sees
  the same training bytes as the ``K`` experts of size ``z`` together and costs the same
  training compute (``6 x parameters x training tokens``; attention's share is ignored, the
  same for all): it is the **matched-compute** monolithic model. At the ``base`` size the
  same stack also trains the **robust monolithic** model, with the same batches and steps: group
  DRO by stochastic primal-dual, ``lam <- Proj_simplex(lam + lam_step / sqrt(t) (ell - mean
  ell))`` on the batch's per-domain losses, the model stepping on ``sum_k lam_k ell_k``;
* ``gates_<z>_s<s>``: over the frozen experts of size ``z``: the **uniform mixture**, the
  **Bayes causal router** (uniform prior) and the **robust gate** (:class:`.gpt.KRouter` trained
  by primal-dual over the simplex with :func:`.train.train_router`, payoff cross-entropy, fitted
  on the ``valid`` split as in :mod:`.real`), plus ``robust_gate_regret``: the same router
  trained with the regret payoff (below) as the adversary's payoff;
* ``mono_total_s<s>``: a monolithic model with the modular system's **total** parameters
  (``K`` base experts plus the router, matched within a few percent by its width at the base
  depth), trained like the other monolithic models (same tokens; about ``K`` times their
  compute);
* ``conflict_c<c>_s<s>`` for every ``c`` of ``conflicts``: the **controlled conflict** on real
  data. A fourth domain ``<conflict_domain>_perm`` is a copy of ``conflict_domain`` in which a
  fraction ``c`` of the documents (those whose seeded hash is below ``c``: nested in ``c``) has
  every byte sent through one fixed bijection of the 256 byte values (a permutation drawn with
  ``perm_seed``). Its entropy is the original domain's, but the same bytes follow different
  rules; ``c = 0`` is the control (an exact copy). The cell trains the fourth expert (base
  size) and a monolithic base-size model on the four domains (``batch`` per domain per step:
  matched compute with the four experts) and fits the gates over the three base experts of
  seed ``s`` plus the new one.

Scoring. Each domain's ``test`` split is cut into evaluation windows (at most ``eval_cap``,
evenly spaced, as :func:`.text_data.eval_windows`); every predicted byte is attributed to the
document it belongs to, and each model's log-loss is summed per document. The tidy table
``real_study_docs.csv`` holds these sums (``nats``, ``bytes``) per seed, cell group ``c``
(``-1`` for the three-domain study), method, size and document. Payoffs, in bits per byte:

* ``bpb``: cross-entropy per domain, ``worst`` (max over domains: the worst case over the
  simplex) and ``average`` (uniform ``lam``);
* ``regret``: ``CE(D_k, P_g) - CE(D_k, P_k)`` with ``P_k`` the base-size expert of domain ``k``
  of the same seed (its own loss as the entropy proxy), per domain and ``worst``;
* ``gap_bpb`` / ``gap_regret``: a method's value minus the base robust gate's (paired by seed
  and document; ``> 0``: the modular system wins), and ``gap_same_size``: the monolithic model
  of size ``z`` minus the robust gate over the experts of size ``z``.

Intervals (``real_study_intervals.csv``): the point value is the mean over seeds of the
per-seed value; the 95% interval is a percentile bootstrap over **documents** (``n_boot``
resamples, fixed seed; each domain's documents resampled with replacement, the same resample
for every method and seed, so differences are paired), with ``seed_sd`` the standard deviation
over seeds beside it. ``real_study.csv`` is the per-seed table (method, size, params, compute,
domain, bpb, regret). The summary holds the configuration, parameters and compute accounting,
the headline comparisons, the adversaries' ``lam``, wall time per cell and per stage kind,
and ``cells_done`` / ``cells_total`` / ``complete`` (a run cut short by ``max_cells`` is written
like a full one and says so). The figure ``real_study.png`` is drawn from the intervals table.

Threads: one by default (as in :mod:`robust_gates.paper_repro.neural.fig5_study`: separate
processes use 2 shared cores better).
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from dataclasses import asdict, dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from . import text_data as _td
from .runner import SHIPPED_DIR, Checkpoint, Experiment, Outputs, Stage, Table, run_experiment, ship_run
from .sizes import GPTSize

__all__ = ["RealStudyConfig", "Cell", "FULL", "QUICK", "TINY", "CONFIGS", "EXPERIMENT", "cells", "main",
           "ship", "with_overrides", "total_size", "permuted_copy", "doc_bootstrap", "intervals",
           "TABLE_FILE", "DOCS_FILE", "INTERVALS_FILE", "SUMMARY_FILE", "FIGURE_FILE", "SHIPPED_FILES",
           "shipped_findings"]

TABLE_FILE = "real_study.csv"
DOCS_FILE = "real_study_docs.csv"
INTERVALS_FILE = "real_study_intervals.csv"
SUMMARY_FILE = "real_study_summary.json"
FIGURE_FILE = "real_study.png"
LN2 = math.log(2.0)
MAIN = -1.0  # the ``c`` of the three-domain study's rows

#: fields that say which cells a run holds or how it is aggregated, not what a cell computes
_NOT_IN_CELL_KEY = ("name", "threads", "seeds", "sizes", "conflicts", "n_boot", "max_cells")


def _label(size: GPTSize) -> str:
    return f"d{size.d}L{size.n_layer}"


@dataclass(frozen=True)
class RealStudyConfig:
    """The study's settings (``FULL``, ``QUICK``, ``TINY`` below; module docstring)."""

    name: str
    ctx: int = 64
    base: GPTSize = GPTSize(64, 2, 4)
    sizes: tuple = (GPTSize(32, 2, 4), GPTSize(64, 2, 4), GPTSize(128, 2, 4))
    seeds: int = 3
    conflicts: tuple = (0.0, 0.25, 0.5, 1.0)
    conflict_domain: str = "python"
    perm_seed: int = 20
    steps: int = 1000
    batch: int = 16
    lr: float = 3e-3
    min_lr_ratio: float = 0.1
    warmup: int = 100
    weight_decay: float = 0.1
    dropout: float = 0.1
    lam_step: float = 0.5
    router_hidden: int = 8
    gate_pool: int = 1024
    gate_steps: int = 1000
    gate_batch: int = 64
    gate_lr: float = 0.02
    eval_cap: int = 1000
    n_boot: int = 1000
    threads: int = 1
    max_cells: int | None = None

    def __post_init__(self):
        if self.base not in self.sizes:
            raise ValueError(f"sizes must hold the base size {self.base}; got {self.sizes}")
        if len(set(self.sizes)) != len(self.sizes):
            raise ValueError(f"sizes must be distinct; got {self.sizes}")
        if min(self.seeds, self.steps, self.gate_steps, self.batch, self.eval_cap, self.n_boot) < 1:
            raise ValueError("seeds, steps, gate_steps, batch, eval_cap and n_boot must be >= 1")
        if self.ctx < 2:
            raise ValueError(f"ctx must be >= 2; got {self.ctx}")
        if any(not 0 <= c <= 1 for c in self.conflicts):
            raise ValueError(f"conflicts must lie in [0, 1]; got {self.conflicts}")
        if self.conflict_domain not in _td.DOMAINS:
            raise ValueError(f"conflict_domain must be one of {_td.DOMAINS}; got {self.conflict_domain!r}")
        if self.max_cells is not None and self.max_cells < 0:
            raise ValueError(f"max_cells must be >= 0; got {self.max_cells}")
        object.__setattr__(self, "conflicts", tuple(float(c) for c in self.conflicts))
        object.__setattr__(self, "sizes", tuple(self.sizes))


FULL = RealStudyConfig("full")
QUICK = RealStudyConfig("quick", ctx=64, base=GPTSize(32, 1, 2),
                        sizes=(GPTSize(16, 1, 2), GPTSize(32, 1, 2), GPTSize(48, 1, 2)), seeds=2,
                        conflicts=(0.0, 1.0), steps=240, batch=8, warmup=10, gate_pool=256,
                        gate_steps=150, eval_cap=150, n_boot=300)
TINY = RealStudyConfig("tiny", ctx=16, base=GPTSize(8, 1, 2), sizes=(GPTSize(8, 1, 2), GPTSize(16, 1, 2)),
                       seeds=2, conflicts=(0.0, 1.0), steps=8, batch=4, warmup=2, gate_pool=32,
                       gate_steps=10, gate_batch=16, eval_cap=24, n_boot=100)
CONFIGS = {c.name: c for c in (FULL, QUICK, TINY)}


def with_overrides(config: RealStudyConfig, **kw) -> RealStudyConfig:
    """A copy of ``config`` with some fields replaced."""
    return replace(config, **kw)


@dataclass(frozen=True)
class Cell:
    """One checkpointed unit of work: ``kind`` (``experts``, ``mono``, ``gates``, ``mono_total``,
    ``conflict``), the model size, the seed and, for ``conflict``, the conflict fraction ``c``."""

    kind: str
    size: GPTSize
    seed: int
    c: float = MAIN

    @property
    def stage(self) -> str:
        if self.kind == "mono_total":
            return f"mono_total_s{self.seed}"
        if self.kind == "conflict":
            return f"conflict_c{self.c:g}_s{self.seed}"
        return f"{self.kind}_{_label(self.size)}_s{self.seed}"


def cells(cfg: RealStudyConfig, seed: int = 0) -> list[Cell]:
    """Every cell in the order they run: the base size's experts, monolithic models and gates for
    every seed first (the headline comparison); then, seed by seed, the total-parameter model
    and the conflict sweep's ends (``c = 1``, then the control ``c = 0``); then the other
    conflict fractions, seed by seed; finally the other sizes. A cell always comes after the
    cells it reads, and a partial run holds whole comparisons on as many seeds as it got to."""
    seeds = range(seed, seed + cfg.seeds)
    ends = [c for c in (1.0, 0.0) if c in cfg.conflicts]
    out = [Cell(k, cfg.base, s) for s in seeds for k in ("experts", "mono", "gates")]
    out += [cell for s in seeds for cell in
            [Cell("mono_total", cfg.base, s)] + [Cell("conflict", cfg.base, s, c) for c in ends]]
    out += [Cell("conflict", cfg.base, s, c) for s in seeds for c in cfg.conflicts if c not in ends]
    out += [Cell(k, z, s) for z in cfg.sizes if z != cfg.base for s in seeds
            for k in ("experts", "mono", "gates")]
    return out


def total_size(cfg: RealStudyConfig, K: int) -> GPTSize:
    """The monolithic size with the modular system's total parameters: ``K`` base experts plus
    the router, matched by the width (a multiple of the head count) at the base depth."""
    from .gpt import gpt_params, krouter_params

    target = K * gpt_params(cfg.base, 256, cfg.ctx) + krouter_params(K, cfg.router_hidden)
    h = cfg.base.n_head
    best = min(range(h, 64 * cfg.base.d + h, h),
               key=lambda d: abs(gpt_params(GPTSize(d, cfg.base.n_layer, h), 256, cfg.ctx) - target))
    return GPTSize(best, cfg.base.n_layer, h)


# ---------------------------------------------------------------------------------------------
# data: documents, evaluation windows, the permuted copy


def _doc_lengths(corpus, domain: str, split: str) -> np.ndarray:
    """Byte lengths of the documents of one split, in the corpus's order (read again from their
    sources; checked against the stored array, whose documents are joined by one newline)."""
    stats = {"latin1_fallbacks": 0}
    files = dict(_td.list_documents(domain)) if domain != "prose" else {}
    names = corpus.documents[domain][split]
    lengths = np.array([len(_td._decode(domain, rel, files.get(rel), stats).encode("utf-8"))
                        for rel in names], dtype=np.int64)
    size = corpus.data[domain][split].size
    if lengths.sum() + len(lengths) - 1 != size:
        raise ValueError(f"the documents of {domain}/{split} do not add up to its stored bytes "
                         f"({lengths.sum() + len(lengths) - 1} != {size}); clear the corpus cache")
    return lengths


def _doc_of(lengths: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """Document index of each byte position (the joining newline counts to the document before)."""
    ends = np.cumsum(lengths + 1)
    return np.searchsorted(ends, positions, side="right")


def _eval_starts(size: int, length: int, cap: int | None) -> np.ndarray:
    """The window starts of :func:`.text_data.eval_windows` (same windows)."""
    step = length - 1
    n = (size - 1) // step
    if n < 1:
        raise ValueError(f"a split of {size} bytes is shorter than one window ({length})")
    idx = np.arange(n)
    if cap is not None and n > cap:
        idx = np.unique(np.linspace(0, n - 1, cap).round().astype(int))
    return idx * step


def _hash_unit(*parts) -> float:
    h = hashlib.sha256(":".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(h[:8], "big") / 2.0**64


def permuted_copy(arr: np.ndarray, lengths: np.ndarray, names: list, c: float, perm_seed: int) -> np.ndarray:
    """A copy of a split in which the documents whose seeded hash ``u(name) < c`` have every
    byte sent through the permutation of ``perm_seed`` (the joining newlines are kept)."""
    perm = np.random.default_rng(perm_seed).permutation(256).astype(np.uint8)
    out = arr.copy()
    off = 0
    for n, name in zip(lengths, names, strict=True):
        if _hash_unit(perm_seed, name) < c:
            out[off:off + n] = perm[arr[off:off + n]]
        off += n + 1
    return out


@dataclass(frozen=True)
class _Split:
    """One domain's evaluation data: windows ``(N, ctx + 1)`` and the document of each predicted
    byte ``(N, ctx)``; ``n_docs`` documents in the split."""

    windows: np.ndarray
    docs: np.ndarray
    n_docs: int


@dataclass(frozen=True)
class _Setup:
    corpus: Any
    domains: tuple
    test: dict  # domain -> _Split
    lengths: dict  # (domain, split) -> document lengths
    total: GPTSize


def _split_data(arr: np.ndarray, lengths: np.ndarray, ctx: int, cap: int) -> _Split:
    starts = _eval_starts(arr.size, ctx + 1, cap)
    win = arr[starts[:, None] + np.arange(ctx + 1)].astype(np.int64)
    docs = _doc_of(lengths, starts[:, None] + np.arange(1, ctx + 1))
    return _Split(win, docs, len(lengths))


def _setup(run, done, *, corpus=None, cache_dir=None) -> _Setup:
    cfg = run.config
    corpus = corpus if corpus is not None else _td.load_corpus(cache_dir)
    domains = corpus.domains
    lengths = {(d, "test"): _doc_lengths(corpus, d, "test") for d in domains}
    for s in ("train", "valid"):
        lengths[(cfg.conflict_domain, s)] = _doc_lengths(corpus, cfg.conflict_domain, s)
    test = {d: _split_data(corpus.data[d]["test"], lengths[(d, "test")], cfg.ctx, cfg.eval_cap)
            for d in domains}
    return _Setup(corpus, domains, test, lengths, total_size(cfg, len(domains)))


def _conflict_data(run, setup: _Setup, c: float) -> tuple[str, dict, _Split]:
    """The permuted copy's name, splits and test data at conflict fraction ``c``."""
    cfg = run.config
    d = cfg.conflict_domain
    arrays = {s: permuted_copy(setup.corpus.data[d][s], setup.lengths[(d, s)], setup.corpus.documents[d][s],
                               c, cfg.perm_seed) for s in _td.SPLITS}
    return f"{d}_perm", arrays, _split_data(arrays["test"], setup.lengths[(d, "test")], cfg.ctx, cfg.eval_cap)


# ---------------------------------------------------------------------------------------------
# training and scoring


def _rng(run, cell: Cell) -> np.random.Generator:
    h = int(hashlib.sha256(cell.stage.encode()).hexdigest()[:12], 16)
    return np.random.default_rng(np.random.SeedSequence([cell.seed, h, 23]))


def _stack(run, members: int, size: GPTSize, rng):
    from .gpt import GPTStack

    gen = run.torch.Generator().manual_seed(int(rng.integers(2**62)))
    return GPTStack(members, size, run.config.ctx, gen, dropout=run.config.dropout).to(run.device)


def _train_experts(run, size: GPTSize, trains: list, rng) -> tuple[Any, np.ndarray, float]:
    from .train import train_mixture

    cfg = run.config
    K = len(trains)
    stack = _stack(run, K, size, rng)
    run.torch.manual_seed(int(rng.integers(2**62)))  # dropout masks
    t0 = time.perf_counter()
    with run.bar(cfg.steps, f"{K} experts {_label(size)}") as bar:
        losses = train_mixture(stack, np.eye(K), trains, steps=cfg.steps, batch=cfg.batch, lr=cfg.lr,
                               min_lr_ratio=cfg.min_lr_ratio, warmup=cfg.warmup,
                               weight_decay=cfg.weight_decay, rng=rng, device=run.device, progress=bar)
    return stack, losses, time.perf_counter() - t0


def train_balanced(stack, robust, trains: list, *, steps: int, batch: int, lr: float, min_lr_ratio: float,
                   warmup: int, weight_decay: float, lam_step: float, rng, device="cpu",
                   progress=None) -> dict:
    """Train every member of a :class:`.gpt.GPTStack` on balanced batches (``batch`` windows of
    each of the ``K`` domains per step, the same windows for every member): a member with
    ``robust[m]`` False minimizes the uniform mixture ``mean_k ell_k``; a robust member minimizes
    ``sum_k lam_k ell_k`` while ``lam`` moves by projected ascent on the simplex,
    ``lam <- Proj(lam + lam_step / sqrt(t) (ell - mean ell))`` (group DRO by stochastic
    primal-dual). Returns ``loss`` (``steps x M x K`` batch losses), ``lam`` (``steps x M x K``)
    and ``lam_bar`` (``M x K``, the ``t``-weighted average)."""
    import torch

    from robust_gates.theory.lambda_sets import Simplex

    from .train import cosine_schedule, fit

    M, K, ctx = stack.members, len(trains), stack.ctx
    robust = np.asarray(robust, dtype=bool)
    simplex = Simplex(K)
    lam = np.full((M, K), 1.0 / K)
    lam_bar = lam.copy()
    loss_log, lam_log = np.empty((steps, M, K)), np.empty((steps, M, K))
    opt = torch.optim.AdamW(stack.parameters(), lr=lr, weight_decay=weight_decay, betas=(0.9, 0.99))

    def step(s: int) -> None:
        nonlocal lam_bar
        x = np.concatenate([_td.random_windows(t, batch, ctx + 1, rng) for t in trains])
        ce = -stack.token_logp(torch.from_numpy(x).to(device)).mean(dim=2).view(M, K, batch).mean(dim=2)
        w = torch.tensor(lam, dtype=ce.dtype, device=ce.device)
        opt.zero_grad(set_to_none=True)
        (w * ce).sum().backward()
        e = ce.detach().double().cpu().numpy()
        loss_log[s], lam_log[s] = e, lam
        for m in np.flatnonzero(robust):
            lam[m] = simplex.project(lam[m] + lam_step / math.sqrt(s + 1) * (e[m] - e[m].mean()))
        lam_bar = lam_bar + 2.0 / (s + 2) * (lam - lam_bar)

    stack.train()
    fit(opt, steps, step, schedule=cosine_schedule(steps, warmup=warmup, min_ratio=min_lr_ratio),
        progress=progress)
    stack.eval()
    return {"loss": loss_log, "lam": lam_log, "lam_bar": np.where(robust[:, None], lam_bar, 1.0 / K)}


def _train_mono(run, size: GPTSize, trains: list, robust: list, rng, desc: str):
    cfg = run.config
    stack = _stack(run, len(robust), size, rng)
    run.torch.manual_seed(int(rng.integers(2**62)))
    t0 = time.perf_counter()
    with run.bar(cfg.steps, desc) as bar:
        log = train_balanced(stack, robust, trains, steps=cfg.steps, batch=cfg.batch, lr=cfg.lr,
                             min_lr_ratio=cfg.min_lr_ratio, warmup=cfg.warmup,
                             weight_decay=cfg.weight_decay, lam_step=cfg.lam_step, rng=rng,
                             device=run.device, progress=bar)
    return stack, log, time.perf_counter() - t0


def _token_logp(run, stack, split: _Split):
    from .train import stack_token_logp

    return stack_token_logp(stack, split.windows, run.device)  # (M, N, ctx)


def _doc_sums(logp: np.ndarray, split: _Split) -> tuple[np.ndarray, np.ndarray]:
    """Per-document sums of the negative log-probabilities ``(..., N, ctx)`` and byte counts."""
    flat = split.docs.reshape(-1)
    nbytes = np.bincount(flat, minlength=split.n_docs)
    lead = logp.shape[:-2]
    lp = np.asarray(logp, dtype=np.float64).reshape(-1, flat.size)
    nats = np.stack([np.bincount(flat, weights=-row, minlength=split.n_docs) for row in lp])
    return nats.reshape(*lead, split.n_docs), nbytes


def _rows(cell: Cell, c: float, method: str, size: str, params: int, compute: float, domain: str,
          nats: np.ndarray, nbytes: np.ndarray) -> list:
    keep = np.flatnonzero(nbytes > 0)
    return [{"seed": cell.seed, "c": c, "method": method, "size": size, "params": int(params),
             "compute": float(compute), "domain": domain, "doc": int(j), "bytes": int(nbytes[j]),
             "nats": float(nats[j])} for j in keep]


def _compute(cfg, params: int, windows_per_step: int) -> float:
    """Training FLOPs ``6 x parameters x training tokens`` (module docstring)."""
    return 6.0 * params * windows_per_step * cfg.ctx * cfg.steps


# ---------------------------------------------------------------------------------------------
# cells


def _blob(state=None, **plain) -> dict:
    """A cell's checkpoint: tensors under ``state`` and everything else as JSON."""
    out = {"json": json.dumps(plain)}
    if state is not None:
        out.update({f"state.{k}": v for k, v in state.items()})
    return out


def _unblob(blob) -> dict:
    out = json.loads(blob["json"])
    state = {k[6:]: v for k, v in blob.items() if k.startswith("state.")}
    if state:
        out["state"] = state
    return out


def _cell_checkpoint(cell: Cell) -> Checkpoint:
    def key(run, done):
        cfg = {k: v for k, v in asdict(run.config).items() if k not in _NOT_IN_CELL_KEY}
        setup = done["data"]
        return {"cell": asdict(cell), "config": cfg, "corpus": setup.corpus.info.get("key"),
                "domains": list(setup.domains), "device": run.device, "torch": run.torch.__version__}

    return Checkpoint(key, lambda r: _blob(**r),
                      lambda blob, run, done: _unblob(blob))


def _load_stack(run, state: dict, members: int, size: GPTSize):
    from .gpt import GPTStack

    stack = GPTStack(members, size, run.config.ctx, run.torch.Generator().manual_seed(0),
                     dropout=run.config.dropout).to(run.device)
    stack.load_state_dict({k: v.to(run.device) for k, v in state.items()})
    stack.eval()
    return stack


def _experts_cell(cell: Cell, run, done) -> dict:
    from .gpt import gpt_params

    cfg, setup = run.config, done["data"]
    rng = _rng(run, cell)
    trains = [setup.corpus.data[d]["train"] for d in setup.domains]
    stack, losses, secs = _train_experts(run, cell.size, trains, rng)
    p = gpt_params(cell.size, 256, cfg.ctx)
    rows = []
    for d in setup.domains:
        nats, nb = _doc_sums(_token_logp(run, stack, setup.test[d]).numpy(), setup.test[d])
        for k, e in enumerate(setup.domains):
            rows += _rows(cell, MAIN, f"expert_{e}", _label(cell.size), p, _compute(cfg, p, cfg.batch), d,
                          nats[k], nb)
    return {"state": {k: v.detach().cpu() for k, v in stack.state_dict().items()}, "rows": rows,
            "info": {"train_s": secs, "final_train_loss": losses[-20:].mean(axis=0).tolist()}}


def _mono_cell(cell: Cell, run, done) -> dict:
    from .gpt import gpt_params

    cfg, setup = run.config, done["data"]
    rng = _rng(run, cell)
    K = len(setup.domains)
    size = setup.total if cell.kind == "mono_total" else cell.size
    robust = [False, True] if (cell.kind == "mono" and cell.size == cfg.base) else [False]
    trains = [setup.corpus.data[d]["train"] for d in setup.domains]
    stack, log, secs = _train_mono(run, size, trains, robust, rng, f"{cell.stage}")
    p = gpt_params(size, 256, cfg.ctx)
    names = ["mono_total_params" if cell.kind == "mono_total" else "monolithic", "robust_mono"]
    rows = []
    for d in setup.domains:
        nats, nb = _doc_sums(_token_logp(run, stack, setup.test[d]).numpy(), setup.test[d])
        for m in range(len(robust)):
            rows += _rows(cell, MAIN, names[m], _label(size), p, _compute(cfg, p, K * cfg.batch), d,
                          nats[m], nb)
    info = {"train_s": secs, "final_train_loss": log["loss"][-20:].mean(axis=0).tolist(),
            "size": asdict(size)}
    if any(robust):
        info["robust_lam_bar"] = log["lam_bar"][1].tolist()
        info["robust_lam_last"] = log["lam"][-1, 1].tolist()
    return {"rows": rows, "info": info}


def _router_logp(router, x):
    """Gated token log-probabilities ``(N, T)`` of ``router`` on experts' ``(N, T, K)``."""
    import torch

    with torch.no_grad():
        return router(x).double().cpu().numpy()


def _gates(run, cell: Cell, stack_logp, domains: tuple, valid: list, tests: dict, params_expert: int,
           c: float, rng) -> tuple[list, dict]:
    """Uniform mixture, Bayes router and the robust gates (payoffs CE and regret) over ``K``
    frozen experts; ``stack_logp(x)`` gives their token log-probabilities ``(N, T, K)``."""
    from .gpt import KRouter
    from .train import train_router

    cfg = run.config
    K = len(domains)
    gen = run.torch.Generator().manual_seed(int(rng.integers(2**62)))
    pools = [stack_logp(_td.random_windows(v, cfg.gate_pool, cfg.ctx + 1, rng)) for v in valid]
    routers = {"uniform_mixture": KRouter.constant(np.full(K, 1 / K)),
               "bayes_router": KRouter.bayes(np.full(K, 1 / K))}
    info = {}
    router = KRouter(K, cfg.router_hidden, gen)
    p_router = router.n_params()
    with run.bar(cfg.gate_steps, f"{cell.stage}: robust gate") as bar:
        log = train_router(router, pools, steps=cfg.gate_steps, batch=cfg.gate_batch, lr=cfg.gate_lr,
                           lam_step=cfg.lam_step, rng=rng, progress=bar)
    routers["robust_gate"] = log["router_bar"]
    info["robust_gate_lam_bar"] = log["lam_bar"].tolist()
    offsets = np.array([float(-pools[k][..., k].double().mean()) for k in range(K)])
    router2 = KRouter(K, cfg.router_hidden, gen)
    log2 = train_router(router2, pools, steps=cfg.gate_steps, batch=cfg.gate_batch, lr=cfg.gate_lr,
                        lam_step=cfg.lam_step, rng=rng, offsets=offsets)
    routers["robust_gate_regret"] = log2["router_bar"]
    info["robust_gate_regret_lam_bar"] = log2["lam_bar"].tolist()
    info["router_params"] = p_router
    rows = []
    size = _label(cfg.base) if cell.kind == "conflict" else _label(cell.size)
    for d, (split, lp) in tests.items():
        for name, r in routers.items():
            params = K * params_expert + (p_router if name.startswith("robust") else 0)
            nats, nb = _doc_sums(_router_logp(r, lp), split)
            rows += _rows(cell, c, name, size, params, _compute(cfg, params_expert, K * cfg.batch), d,
                          nats, nb)
    return rows, info


def _gates_cell(cell: Cell, run, done) -> dict:
    from .gpt import gpt_params

    cfg, setup = run.config, done["data"]
    rng = _rng(run, cell)
    K = len(setup.domains)
    experts = _load_stack(run, done[Cell("experts", cell.size, cell.seed).stage]["state"], K, cell.size)

    def logp(x):
        from .train import stack_token_logp

        return stack_token_logp(experts, x, run.device).permute(1, 2, 0).contiguous()

    t0 = time.perf_counter()
    tests = {d: (setup.test[d], logp(setup.test[d].windows)) for d in setup.domains}
    valid = [setup.corpus.data[d]["valid"] for d in setup.domains]
    rows, info = _gates(run, cell, logp, setup.domains, valid, tests, gpt_params(cell.size, 256, cfg.ctx),
                        MAIN, rng)
    info["gates_s"] = time.perf_counter() - t0
    return {"rows": rows, "info": info}


def _conflict_cell(cell: Cell, run, done) -> dict:
    from .gpt import gpt_params
    from .train import stack_token_logp

    cfg, setup = run.config, done["data"]
    rng = _rng(run, cell)
    name, arrays, test_perm = _conflict_data(run, setup, cell.c)
    domains = (*setup.domains, name)
    K = len(domains)
    p = gpt_params(cfg.base, 256, cfg.ctx)
    info = {"domain": name, "permuted_docs": {
        s: float(np.mean([_hash_unit(cfg.perm_seed, n) < cell.c
                          for n in setup.corpus.documents[cfg.conflict_domain][s]])) for s in _td.SPLITS}}
    new_expert, losses, secs = _train_experts(run, cfg.base, [arrays["train"]], rng)
    info["expert_train_s"] = secs
    trains = [setup.corpus.data[d]["train"] for d in setup.domains] + [arrays["train"]]
    mono, log, secs = _train_mono(run, cfg.base, trains, [False], rng, f"{cell.stage}: monolithic")
    info["mono_train_s"] = secs
    base = _load_stack(run, done[Cell("experts", cfg.base, cell.seed).stage]["state"], K - 1, cfg.base)

    def logp(x):
        a = stack_token_logp(base, x, run.device)
        b = stack_token_logp(new_expert, x, run.device)
        return run.torch.cat([a, b]).permute(1, 2, 0).contiguous()

    tests = {d: setup.test[d] for d in setup.domains} | {name: test_perm}
    rows = []
    for d, split in tests.items():
        nats, nb = _doc_sums(_token_logp(run, mono, split).numpy(), split)
        rows += _rows(cell, cell.c, "monolithic", _label(cfg.base), p, _compute(cfg, p, K * cfg.batch), d,
                      nats[0], nb)
    t0 = time.perf_counter()
    tl = {d: (split, logp(split.windows)) for d, split in tests.items()}
    for d, (split, lp) in tl.items():
        nats, nb = _doc_sums(lp.permute(2, 0, 1).numpy(), split)
        for k, e in enumerate(domains):
            rows += _rows(cell, cell.c, f"expert_{e}", _label(cfg.base), p, _compute(cfg, p, cfg.batch), d,
                          nats[k], nb)
    valid = [setup.corpus.data[d]["valid"] for d in setup.domains] + [arrays["valid"]]
    g_rows, g_info = _gates(run, cell, logp, domains, valid, tl, p, cell.c, rng)
    info.update(g_info)
    info["gates_s"] = time.perf_counter() - t0
    return {"rows": rows + g_rows, "info": info}


_COMPUTE = {"experts": _experts_cell, "mono": _mono_cell, "mono_total": _mono_cell, "gates": _gates_cell,
            "conflict": _conflict_cell}


def _stages(run, *, corpus=None, cache_dir=None) -> list[Stage]:
    cfg = run.config
    todo = cells(cfg, run.seed)
    if cfg.max_cells is not None:
        todo = todo[:cfg.max_cells]
    return [Stage("data", partial(_setup, corpus=corpus, cache_dir=cache_dir))] + [
        Stage(c.stage, partial(_COMPUTE[c.kind], c), _cell_checkpoint(c)) for c in todo]


# ---------------------------------------------------------------------------------------------
# aggregates: document-level bootstrap


def doc_bootstrap(n_docs: int, n_boot: int, rng) -> np.ndarray:
    """Resample weights ``(1 + n_boot, n_docs)``: row 0 all ones (the point estimate), then
    ``n_boot`` multinomial resamples of the documents (how often each is drawn)."""
    draws = rng.integers(0, n_docs, size=(n_boot, n_docs))
    counts = np.stack([np.bincount(r, minlength=n_docs) for r in draws]) if n_boot else np.zeros((0, n_docs))
    return np.vstack([np.ones((1, n_docs)), counts]).astype(np.float64)


def _series(docs: pd.DataFrame, domain: str):
    """``(series index, nats matrix (docs x series), bytes per doc)`` of one domain."""
    d = docs[docs.domain == domain]
    keys = ["method", "size", "seed"]
    nats = d.pivot_table(index="doc", columns=keys, values="nats", aggfunc="sum")
    nbytes = d.groupby("doc").bytes.first().reindex(nats.index)
    return nats.columns, nats.to_numpy(), nbytes.to_numpy(np.float64)


def _per_method(vals: dict, domains: list, series: list, method: str, size: str, payoff: str,
                base_label: str):
    """Per domain, ``worst`` and ``average``: ``(1 + n_boot, n_seeds)`` values of one method (bits
    per byte, or regret against the base experts of the same seeds; ``None`` if one is missing),
    and the seeds."""
    seeds_ = [s for m, z, s in series if (m, z) == (method, size)]
    out = {}
    for d in domains:
        x = np.stack([vals[d][(method, size, s)].to_numpy() for s in seeds_], axis=1)
        if payoff == "regret":
            refs = [("expert_" + d, base_label, s) for s in seeds_]
            if not all(r in vals[d].columns for r in refs):
                return None, seeds_
            x = x - np.stack([vals[d][r].to_numpy() for r in refs], axis=1)
        out[d] = x
    out["worst"] = np.max(np.stack([out[d] for d in domains]), axis=0)
    out["average"] = np.mean(np.stack([out[d] for d in domains]), axis=0)
    return out, seeds_


def _ci_rows(quantity: str, c: float, method: str, size: str, x: dict, n_seeds: int, meta,
             n_docs: dict) -> list:
    """Interval rows: the mean over seeds at the point estimate, the 2.5 and 97.5 percentiles of
    the mean over seeds across the document resamples."""
    rows = []
    for part, v in x.items():
        point = v[0].mean()
        boot = v[1:].mean(axis=1)
        lo, hi = np.percentile(boot, [2.5, 97.5]) if len(boot) else (point, point)
        docs = min(n_docs.values()) if part in ("worst", "average") else n_docs[part]
        rows.append({"quantity": quantity, "c": c, "method": method, "size": size, "domain": part,
                     "params": int(meta.loc[(c, method, size), "params"]),
                     "compute": float(meta.loc[(c, method, size), "compute"]),
                     "mean": float(point), "lo": float(min(lo, point)), "hi": float(max(hi, point)),
                     "seed_sd": float(v[0].std(ddof=1)) if v.shape[1] > 1 else np.nan,
                     "n_seeds": int(n_seeds), "n_docs": int(docs)})
    return rows


def intervals(docs: pd.DataFrame, n_boot: int, base_label: str,
              seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The per-seed table and the intervals table (module docstring) from the per-document sums."""
    rng = np.random.default_rng(seed)
    per_seed, rows = [], []
    meta = docs.drop_duplicates(["c", "method", "size"]).set_index(["c", "method", "size"])
    meta = meta[["params", "compute"]]
    for c, g in docs.groupby("c", sort=True):
        domains = list(dict.fromkeys(g.domain))
        vals = {}  # domain -> DataFrame (1 + n_boot) x series of bits per byte
        n_docs = {}
        for d in domains:
            cols, nats, nb = _series(g, d)
            nats = np.nan_to_num(nats)  # every series scores the same documents; no nan is left
            W = doc_bootstrap(len(nb), n_boot, rng)
            vals[d] = pd.DataFrame((W @ nats) / (W @ nb)[:, None] / LN2, columns=cols)
            n_docs[d] = len(nb)
        series = list(vals[domains[0]].columns)
        for method, size, s in series:  # the per-seed point table
            for d in domains:
                ref = ("expert_" + d, base_label, s)
                v = vals[d][(method, size, s)].iloc[0]
                reg = v - vals[d][ref].iloc[0] if ref in vals[d].columns else np.nan
                per_seed.append({"c": c, "seed": s, "method": method, "size": size,
                                 "params": int(meta.loc[(c, method, size), "params"]),
                                 "compute": float(meta.loc[(c, method, size), "compute"]),
                                 "domain": d, "bpb": v, "regret": reg})
        methods = list(dict.fromkeys((m, z) for m, z, _ in series))
        cache = {}
        for method, size in methods:
            for payoff in ("bpb", "regret"):
                x, seeds_ = _per_method(vals, domains, series, method, size, payoff, base_label)
                cache[(method, size, payoff)] = (x, seeds_)
                if x is not None:
                    rows += _ci_rows(payoff, c, method, size, x, len(seeds_), meta, n_docs)
        for method, size in methods:  # paired differences to a robust gate, seed by seed
            for payoff in ("bpb", "regret"):
                x, seeds_ = cache[(method, size, payoff)]
                refs = [(("robust_gate", base_label), f"gap_{payoff}")]
                if payoff == "bpb" and method.startswith("mono"):
                    refs.append((("robust_gate", size), "gap_same_size"))
                for (gm, gz), quantity in refs:
                    g_x, g_seeds = cache.get((gm, gz, payoff), (None, []))
                    if x is None or g_x is None or (method, size) == (gm, gz):
                        continue
                    common = [s for s in seeds_ if s in g_seeds]
                    if not common:
                        continue
                    ia = [seeds_.index(s) for s in common]
                    ib = [g_seeds.index(s) for s in common]
                    diff = {k: x[k][:, ia] - g_x[k][:, ib] for k in x}
                    rows += _ci_rows(quantity, c, method, size, diff, len(common), meta, n_docs)
    cols = ["quantity", "c", "method", "size", "domain", "params", "compute", "mean", "lo", "hi", "seed_sd",
            "n_seeds", "n_docs"]
    return pd.DataFrame(per_seed), pd.DataFrame(rows).reindex(columns=cols)


def _headline(ci: pd.DataFrame, base_label: str) -> dict:
    """A few numbers for the summary (and the README): worst-case payoffs at the base size,
    the size sweep's same-size gaps and the conflict sweep's gaps."""
    out = {}
    if not len(ci):
        return out

    def pick(q, c, method, size, domain):
        r = ci[(ci.quantity == q) & (ci.c == c) & (ci.method == method) & (ci["size"] == size)
               & (ci.domain == domain)]
        return None if not len(r) else {k: (float(r.iloc[0][k]) if k != "n_seeds" else int(r.iloc[0][k]))
                                         for k in ("mean", "lo", "hi", "n_seeds")}

    main = ci[ci.c == MAIN]
    for (method, size) in main[["method", "size"]].drop_duplicates().itertuples(index=False):
        if method.startswith("expert_"):
            continue
        for q in ("bpb", "regret"):
            for dom in ("worst", "average"):
                v = pick(q, MAIN, method, size, dom)
                if v is not None:
                    out[f"{q}_{dom}/{method}/{size}"] = v
    for r in main[main.quantity == "gap_same_size"].itertuples():
        if r.domain == "worst":
            out[f"gap_same_size_worst/{r.method}/{r.size}"] = {"mean": r.mean, "lo": r.lo, "hi": r.hi,
                                                               "n_seeds": int(r.n_seeds)}
    conf = ci[(ci.c != MAIN) & (ci.quantity == "gap_bpb") & (ci.method == "monolithic")]
    for r in conf.itertuples():
        if r.domain in ("worst", "average") or r.domain.endswith("_perm"):
            out[f"conflict_gap_bpb_{r.domain}/c={r.c:g}"] = {"mean": r.mean, "lo": r.lo, "hi": r.hi,
                                                             "n_seeds": int(r.n_seeds)}
    return out


def _finish(run, done) -> Outputs:
    cfg, setup = run.config, done["data"]
    all_cells = cells(cfg, run.seed)
    finished = [c for c in all_cells if c.stage in done]
    docs = pd.DataFrame([r for c in finished for r in done[c.stage]["rows"]])
    base_label = _label(cfg.base)
    if len(docs):
        table, ci = intervals(docs, cfg.n_boot, base_label)
    else:
        table, ci = pd.DataFrame(), pd.DataFrame()
    from .gpt import gpt_params, krouter_params

    K = len(setup.domains)
    params = {_label(z): gpt_params(z, 256, cfg.ctx) for z in cfg.sizes}
    params["total"] = {"size": asdict(setup.total), "params": gpt_params(setup.total, 256, cfg.ctx)}
    params["router"] = krouter_params(K, cfg.router_hidden)
    params["modular_total"] = K * params[base_label] + params["router"]
    stage_s = {}
    for c in finished:
        s = run.seconds.get(c.stage)
        if s is not None:
            stage_s.setdefault(c.kind, []).append(s)
    summary = {
        "config": asdict(cfg), "seed": run.seed, "device": run.device, "domains": list(setup.domains),
        "complete": len(finished) == len(all_cells), "cells_done": len(finished),
        "cells_total": len(all_cells),
        "cells": [{"stage": c.stage, "kind": c.kind, "size": _label(c.size), "seed": c.seed, "c": c.c,
                   "seconds": run.seconds.get(c.stage), **done[c.stage]["info"]} for c in finished],
        "cells_left": [c.stage for c in all_cells if c.stage not in done],
        "params": params,
        "compute_note": ("training compute = 6 x parameters x training tokens (attention ignored). Each "
                         f"expert sees batch = {cfg.batch} windows of ctx = {cfg.ctx} bytes per step; "
                         f"every monolithic model sees batch windows of each of the K domains per step "
                         "(K x batch), i.e. the same training bytes as the K experts together; so the "
                         "monolithic and robust monolithic models of a size have the compute of that "
                         "size's modular system, the total-parameter model about K times more."),
        "wall_seconds_by_kind": {k: {"cells": len(v), "total_s": float(sum(v)), "mean_s": float(np.mean(v))}
                                 for k, v in stage_s.items()},
        "seconds_data": run.seconds.get("data"), "seconds_total": run.elapsed(),
        "corpus": {"bytes": setup.corpus.bytes_table(), "documents": setup.corpus.info.get("documents"),
                   "python_version": setup.corpus.python_version},
        "test_docs_scored": {d: int(len(np.unique(setup.test[d].docs))) for d in setup.domains},
        "headline": _headline(ci, base_label),
        "restored_checkpoints": dict(run.restored),
    }
    tables = [Table("table", TABLE_FILE, table, "%.8g"), Table("docs", DOCS_FILE, docs, "%.10g"),
              Table("intervals", INTERVALS_FILE, ci, "%.8g")]
    return Outputs(tables, summary)


EXPERIMENT = Experiment("real_study", figure="real_study", summary_file=SUMMARY_FILE, configs=CONFIGS,
                        stages=_stages, finish=_finish,
                        seeds=lambda cfg, seed: list(range(seed, seed + cfg.seeds)))


@dataclass(frozen=True)
class StudyResult:
    """What :func:`main` computed and where it wrote it."""

    table: pd.DataFrame
    docs: pd.DataFrame
    intervals: pd.DataFrame
    summary: dict
    paths: dict
    out_dir: str


def main(config: RealStudyConfig = FULL, out_dir: str | Path | None = None, *, seed: int = 0,
         device: str = "cpu", progress: bool = True, draw: bool = True, resume: bool = True,
         corpus=None, cache_dir: str | Path | None = None) -> StudyResult:
    """Run (or resume) the study (module docstring) and write its tables, summary and figure.

    ``out_dir`` defaults to a fresh folder under ``./results``; the shipped folder is refused (use
    :func:`ship`). Cells whose checkpoint is in ``out_dir/checkpoints`` are restored;
    ``config.max_cells`` stops after that many cells.
    """
    experiment = replace(EXPERIMENT, stages=partial(_stages, corpus=corpus, cache_dir=cache_dir))
    res = run_experiment(experiment, config, out_dir, seed=seed, device=device, progress=progress,
                         draw=draw, resume=resume)
    t = res.tables
    return StudyResult(t["table"], t["docs"], t["intervals"], res.summary, res.paths, res.out_dir)


SHIPPED_FILES = (TABLE_FILE, INTERVALS_FILE, SUMMARY_FILE, FIGURE_FILE)


def ship(run_dir: str | Path, *, force: bool = False) -> list[Path]:
    """Copy a run's tables (not the per-document sums), summary and figure into the shipped
    results folder. Only a run of the ``full`` configuration at seed 0 (any ``max_cells``; its
    summary says ``complete``) is shipped unless ``force``."""
    return ship_run(run_dir, SUMMARY_FILE, SHIPPED_FILES, force=force)


def _fmt(r) -> str:
    return f"{r['mean']:+.3f} [{r['lo']:+.3f}, {r['hi']:+.3f}]"


def shipped_findings(results_dir: str | Path = SHIPPED_DIR) -> str:
    """The study's findings as markdown, read from a results folder's intervals table and summary
    (default: the shipped ones): worst-case and average bits per byte and regret per method at
    the base size, the same-size gaps of the size sweep and the conflict sweep's gaps."""
    results_dir = Path(results_dir)
    info = json.loads((results_dir / SUMMARY_FILE).read_text())
    ci = pd.read_csv(results_dir / INTERVALS_FILE)
    status = ("complete" if info["complete"]
              else f"PARTIAL: {info['cells_done']} of {info['cells_total']} cells")
    out = [f"Real-text study ({status}). Mean over seeds [95% bootstrap interval over test documents], "
           "bits per byte.", "", "| method | size | params | seeds | worst CE | average CE | worst regret |",
           "|---|---|---|---|---|---|---|"]
    m = ci[ci.c == MAIN]
    rows = m[m.quantity.isin(["bpb", "regret"])].sort_values(["method", "params"], kind="stable")
    for (method, size), g in rows.groupby(["method", "size"], sort=False):  # sizes small to large
        def cell(q, dom, g=g):
            r = g[(g.quantity == q) & (g.domain == dom)]
            return _fmt(r.iloc[0]) if len(r) else "-"
        out.append(f"| {method} | {size} | {int(g.params.iloc[0])} | {int(g.n_seeds.max())} | "
                   f"{cell('bpb', 'worst')} | {cell('bpb', 'average')} | {cell('regret', 'worst')} |")
    ss = m[(m.quantity == "gap_same_size") & (m.domain == "worst")].sort_values("params")
    if len(ss):
        out += ["", "**Size sweep**: worst-case CE of the monolithic model minus the robust gate over "
                "experts of the same size (> 0: modular wins):", ""]
        out += [f"- {r.size}: {_fmt(r._asdict())} ({int(r.n_seeds)} seeds)" for r in ss.itertuples()]
    cf = ci[(ci.c != MAIN) & (ci.quantity == "gap_bpb") & (ci.method == "monolithic")]
    if len(cf):
        out += ["", "**Controlled conflict**: monolithic (4 domains) minus robust gate over 4 experts:", ""]
        for c, g in cf.groupby("c"):
            parts = [f"{r.domain} {_fmt(r._asdict())}" for r in g.itertuples()
                     if r.domain in ("worst", "average") or r.domain.endswith("_perm")]
            out.append(f"- c = {c:g} ({int(g.n_seeds.max())} seeds): " + "; ".join(parts))
    return "\n".join(out)
