r"""Modular versus monolithic on real text: Python code, English prose and C shipped with Python.

The corpus is :mod:`.text_data` (the running interpreter's standard library, ``pydoc_data``'s
topics and CPython's headers; no download). All models are byte-level causal transformers
(:class:`.gpt.GPTStack`) reading windows of ``ctx`` bytes. One run trains, on the ``train``
split:

* three **experts** (Smaller size), each on its own domain;
* **monolithic** models, Smaller and Larger, on the uniform aggregate (``lam = (1/3, 1/3, 1/3)``:
  every domain weighs the same, however many bytes it has);
* the **oracle**, the Smaller model retrained for each ``lam`` of a small grid: the vertices, the
  uniform mixture and two mixed points. The vertex and uniform oracles are exactly the experts and
  the Smaller monolithic model (same recipe, same data law), so only the two mixed points are
  trained anew;

and, over the three frozen experts (``K = 3``),

* the **uniform mixture** ``P = (P_1 + P_2 + P_3) / 3`` (constant token-level gate);
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

``main(config, out_dir)`` writes ``real_bpb.csv`` (tidy: ``method, size, params, split, domain,
bpb``), ``real_table.csv`` (one row per method and split: ``bpb_python, bpb_prose, bpb_c,
worst_simplex, worst_box, average, params``), ``real_lam_grid.csv`` (each method's payoff at each
grid ``lam``), ``real_summary.json`` and the figure ``real_text.png`` (worst case against average,
drawn by :mod:`robust_gates.figures.real_text` through the figure registry).
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from robust_gates.theory.lambda_sets import Box, Simplex

from . import text_data as _td
from ._runtime import check_device, require_torch

__all__ = ["RealConfig", "RealResult", "FULL", "QUICK", "TINY", "CONFIGS", "main", "with_overrides",
           "allocate", "table_from_bpb", "gradient_cosines", "BPB_FILE", "COSINE_FILE", "TABLE_FILE",
           "GRID_FILE", "SUMMARY_FILE", "METHODS", "ORACLE_MODEL", "TRAINING_FIELDS"]

BPB_FILE = "real_bpb.csv"
TABLE_FILE = "real_table.csv"
GRID_FILE = "real_lam_grid.csv"
COSINE_FILE = "real_gradient_cosine.csv"
SUMMARY_FILE = "real_summary.json"
LN2 = math.log(2.0)

# method -> (size label, description)
METHODS = {
    "expert_python": ("smaller", "expert trained on Python code"),
    "expert_prose": ("smaller", "expert trained on English prose"),
    "expert_c": ("smaller", "expert trained on C headers"),
    "monolithic_smaller": ("smaller", "Smaller model on the uniform aggregate"),
    "monolithic_larger": ("larger", "Larger model on the uniform aggregate"),
    "oracle_mixed_a": ("smaller", "Smaller model retrained on mixed point a"),
    "oracle_mixed_b": ("smaller", "Smaller model retrained on mixed point b"),
    "uniform_mixture": ("modular", "uniform token-level mixture of the experts"),
    "bayes_router": ("modular", "Bayes causal router, uniform prior"),
    "robust_gate": ("modular", "robust gate, Lambda = simplex (primal-dual)"),
    "robust_gate_box": ("modular", "robust gate, Lambda = box (primal-dual)"),
    "oracle": ("smaller", "Smaller model retrained per lam (grid)"),
}

# grid point -> the Smaller model trained for that mixture (the per-lam oracle): the experts at
# the vertices, the Smaller monolithic model at uniform, two models of their own at the mixed
# points; also the member order of the Smaller stack
ORACLE_MODEL = {"python": "expert_python", "prose": "expert_prose", "c": "expert_c",
                "uniform": "monolithic_smaller", "mixed_a": "oracle_mixed_a", "mixed_b": "oracle_mixed_b"}


@dataclass(frozen=True)
class Size:
    """One transformer size (mirrors :class:`.gpt.GPTSize`, kept here so configs need no torch)."""

    d: int
    n_layer: int
    n_head: int


@dataclass(frozen=True)
class RealConfig:
    """One experiment's settings (``FULL``, ``QUICK`` and ``TINY`` below)."""

    name: str
    ctx: int = 128
    smaller: Size = Size(64, 2, 4)
    larger: Size = Size(128, 3, 4)
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
        if self.steps < 1 or self.gate_steps < 1 or self.batch < 3 or self.ctx < 2:
            raise ValueError("steps, gate_steps >= 1, batch >= 3 (one window per domain) and ctx >= 2")
        for name in ("mixed_a", "mixed_b"):
            w = np.asarray(getattr(self, name), dtype=float)
            if w.shape != (3,) or (w < 0).any() or abs(w.sum() - 1) > 1e-9:
                raise ValueError(f"{name} must be a probability vector of length 3; got {w}")
        Box(np.array(self.box_lo), np.array(self.box_hi))  # validates

    @property
    def grid(self) -> dict:
        """The oracle's ``lam`` grid: vertices, uniform and the two mixed points."""
        eye = np.eye(3)
        return {"python": eye[0], "prose": eye[1], "c": eye[2], "uniform": np.full(3, 1 / 3),
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
TINY = RealConfig("tiny", ctx=32, smaller=Size(16, 1, 2), larger=Size(32, 2, 2), steps=40, batch=6,
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


def with_overrides(config: RealConfig, **kw) -> RealConfig:
    """A copy of ``config`` with some fields replaced."""
    return replace(config, **kw)


def allocate(lam: np.ndarray, batch: int) -> np.ndarray:
    """Windows per domain in a batch of ``batch`` for mixture ``lam``: largest remainders of
    ``batch * lam``, at least one for every domain with ``lam_k > 0`` (the loss weights each
    window by ``lam_k / n_k``, so the objective is exactly the ``lam``-mixture's)."""
    lam = np.asarray(lam, dtype=float)
    pos = lam > 0
    if pos.sum() > batch:
        raise ValueError(f"batch {batch} is smaller than the {pos.sum()} domains with weight > 0")
    raw = batch * lam
    n = np.floor(raw).astype(int)
    n[pos & (n == 0)] = 1
    while n.sum() > batch:  # took too many by the minimum of one: give back from the largest
        n[np.argmax(np.where(n > 1, n, -1))] -= 1
    order = np.argsort(-(raw - np.floor(raw)), kind="stable")
    i = 0
    while n.sum() < batch:
        if pos[order[i % len(order)]]:
            n[order[i % len(order)]] += 1
        i += 1
    return n


def _train_stack(stack, lams: np.ndarray, corpus, cfg: RealConfig, rng, device, progress, desc):
    """Member ``m`` minimizes its ``lams[m]``-mixture of per-domain cross-entropies (AdamW, linear
    warm-up then cosine decay to ``min_lr_ratio * lr``); returns the per-step weighted losses."""
    import torch
    from tqdm.auto import tqdm

    M = stack.members
    counts = np.stack([allocate(lam, cfg.batch) for lam in lams])  # (M, K)
    w = np.concatenate([np.repeat(np.where(counts[m] > 0, lams[m] / np.maximum(counts[m], 1), 0.0),
                                  counts[m])[None] for m in range(M)])  # (M, batch)
    weights = torch.tensor(w, dtype=torch.float32, device=device)
    opt = torch.optim.AdamW(stack.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay,
                            betas=(0.9, 0.99))
    steps = cfg.steps

    def rate(s):
        warm = min(1.0, (s + 1) / max(cfg.warmup, 1))
        cosine = 0.5 * (1 + math.cos(math.pi * min(s, steps) / steps))
        return warm * (cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * cosine)

    sched = torch.optim.lr_scheduler.LambdaLR(opt, rate)
    train = [corpus.data[d]["train"] for d in _td.DOMAINS]
    losses = np.empty((steps, M))
    stack.train()
    with tqdm(total=steps, desc=desc, disable=not progress, leave=False) as bar:
        for s in range(steps):
            x = np.stack([np.concatenate([_td.random_windows(train[k], int(counts[m, k]), cfg.ctx + 1, rng)
                                          for k in range(len(train)) if counts[m, k] > 0]) for m in range(M)])
            ce = -stack.token_logp(torch.from_numpy(x).to(device)).mean(dim=2)  # (M, batch)
            loss = (weights * ce).sum(dim=1)
            opt.zero_grad(set_to_none=True)
            loss.sum().backward()
            opt.step()
            sched.step()
            losses[s] = loss.detach().cpu().numpy()
            bar.update(1)
    stack.eval()
    return losses


def _token_logp(stack, windows: np.ndarray, device, chunk: int = 64):
    """``(M, N, ctx)`` token log-probabilities of every member on windows ``(N, ctx + 1)``."""
    import torch

    stack.eval()
    with torch.no_grad():
        parts = [stack.token_logp(torch.from_numpy(windows[i:i + chunk]).to(device)).cpu()
                 for i in range(0, len(windows), chunk)]
    return torch.cat(parts, dim=1)


def table_from_bpb(bpb: pd.DataFrame, box: Box, grid: dict | None = None) -> pd.DataFrame:
    """The wide table: one row per ``(method, split)`` with per-domain bits per byte, the worst
    case over the simplex and over ``box``, the average (uniform ``lam``) and the parameters.

    With ``grid`` (name -> ``lam``), an ``oracle`` row is added per split: its per-domain entries
    are the vertex oracles (the experts on their own domain), its worst cases the largest payoff
    of the per-``lam`` oracle over the grid points in the set (grid only: a lower estimate of
    the oracle's true worst case), its average the uniform oracle's.
    """
    wide = bpb.pivot_table(index=["method", "split"], columns="domain", values="bpb")
    wide = wide[list(_td.DOMAINS)]
    meta = bpb.drop_duplicates(["method", "split"]).set_index(["method", "split"])[["size", "params"]]
    L = wide.to_numpy()
    out = pd.DataFrame({f"bpb_{d}": wide[d] for d in _td.DOMAINS}, index=wide.index)
    out["worst_simplex"] = L.max(axis=1)
    out["worst_box"] = [box.maximize_linear(row)[0] for row in L]
    out["average"] = L.mean(axis=1)
    out = out.join(meta)
    rows = []
    if grid is not None:
        for split in sorted(set(bpb.split)):
            pay = {g: float(np.dot(grid[g], wide.loc[(ORACLE_MODEL[g], split)].to_numpy())) for g in grid}
            in_box = [g for g in grid if box.contains(grid[g])]
            rows.append({"method": "oracle", "split": split,
                         **{f"bpb_{d}": wide.loc[(ORACLE_MODEL[d], split), d] for d in _td.DOMAINS},
                         "worst_simplex": max(pay.values()),
                         "worst_box": max(pay[g] for g in in_box) if in_box else np.nan,
                         "average": pay["uniform"], "size": "smaller",
                         "params": int(meta.loc[("expert_python", split), "params"])})
    out = out.reset_index()
    if rows:
        out = pd.concat([out, pd.DataFrame(rows)], ignore_index=True)
    order = {m: i for i, m in enumerate(METHODS)}
    out = out.sort_values(["split", "method"], key=lambda s: s.map(order) if s.name == "method" else s)
    return out[["method", "split", "size", "params", *[f"bpb_{d}" for d in _td.DOMAINS],
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
    names = [n for n, _ in stack.named_parameters()]
    params = list(stack.parameters())

    def own(name, g):
        return (g[:, member] if name.startswith(_PER_LAYER) else g[member]).reshape(-1)

    def grad(k, n):
        total = None
        for i in range(0, n, batch):
            x = _td.random_windows(corpus.data[_td.DOMAINS[k]]["train"], min(batch, n - i), ctx + 1, rng)
            lp = stack.token_logp(torch.from_numpy(x).to(device))[member]
            gs = torch.autograd.grad(-lp.mean() * min(batch, n - i) / n, params)
            flat = torch.cat([own(nm, g) for nm, g in zip(names, gs, strict=True)]).double()
            total = flat if total is None else total + flat
        return total

    half = max(1, windows // 2)
    halves = [(grad(k, half), grad(k, half)) for k in range(len(_td.DOMAINS))]
    full = [(a + b) / 2 for a, b in halves]

    def cos(u, v):
        return float(u @ v / (u.norm() * v.norm()).clamp_min(1e-300))

    rows = []
    for a in range(len(_td.DOMAINS)):
        rows.append({"domain_a": _td.DOMAINS[a], "domain_b": _td.DOMAINS[a],
                     "cos": cos(*halves[a]), "windows": 2 * half})
        for b in range(a + 1, len(_td.DOMAINS)):
            rows.append({"domain_a": _td.DOMAINS[a], "domain_b": _td.DOMAINS[b],
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
    wide = bpb.pivot_table(index=["method", "split"], columns="domain", values="bpb")[list(_td.DOMAINS)]
    point = {g: {"lam_name": g, **{f"lam_{d}": float(v) for d, v in zip(_td.DOMAINS, lam, strict=True)},
                 "in_box": bool(box.contains(lam))} for g, lam in grid.items()}
    rows = []
    for (method, split), vals in wide.iterrows():
        for g, lam in grid.items():
            rows.append({"method": method, "split": split, **point[g], "bpb": float(lam @ vals.to_numpy())})
    for split in sorted(set(bpb.split)):
        for g, lam in grid.items():
            base = {"split": split, **point[g]}
            rows.append({"method": "oracle", **base,
                         "bpb": float(lam @ wide.loc[(ORACLE_MODEL[g], split)].to_numpy())})
            rows.append({"method": "bayes_router_prior", **base,
                         "bpb": float(lam @ np.asarray(bayes[g][split]))})
    return pd.DataFrame(rows)


def main(config: RealConfig = FULL, out_dir: str | Path = "paper_repro/neural/results", *,
         seed: int = 0, device: str = "cpu", progress: bool = True, draw: bool = True,
         cache_dir: str | Path | None = None, corpus=None, resume: bool = True) -> RealResult:
    """Run the real-text experiment (module docstring) and write its tables and figure.

    Trained models are saved under ``out_dir/checkpoints`` with a key made of the configuration,
    the seed, the corpus and the torch version; with ``resume`` (the default) a rerun with the
    same key restores them instead of training again (the summary lists what was restored).
    """
    torch = require_torch()
    from tqdm.auto import tqdm

    from .gpt import GPTSize, GPTStack, KRouter, gpt_params
    from .train import evaluate_router, train_router

    check_device(torch, device)
    cfg = config
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    threads_before = torch.get_num_threads()
    torch.set_num_threads(max(1, cfg.threads))
    t_start = time.perf_counter()
    timings = {}

    corpus = corpus if corpus is not None else _td.load_corpus(cache_dir)
    # one independent stream per stage, so a stage restored from its checkpoint leaves the
    # others' randomness (and hence the results) exactly as in a run from scratch
    streams = np.random.SeedSequence([seed, 11]).spawn(4)
    rngs = [np.random.default_rng(s) for s in streams]
    gens = [torch.Generator().manual_seed(int(r.integers(2**62))) for r in rngs]
    grid, box, K = cfg.grid, cfg.box, len(_td.DOMAINS)
    small = GPTSize(cfg.smaller.d, cfg.smaller.n_layer, cfg.smaller.n_head)
    large = GPTSize(cfg.larger.d, cfg.larger.n_layer, cfg.larger.n_head)
    p_small, p_large = gpt_params(small, 256, cfg.ctx), gpt_params(large, 256, cfg.ctx)
    windows = {s: [_td.eval_windows(corpus.data[d][s], cfg.ctx + 1, cfg.eval_cap) for d in _td.DOMAINS]
               for s in ("valid", "test")}
    trained_by = {f: getattr(cfg, f) for f in TRAINING_FIELDS}
    key = hashlib.sha256(json.dumps({"config": trained_by, "seed": seed, "corpus": corpus.info.get("key"),
                                     "torch": torch.__version__}, sort_keys=True, default=str)
                         .encode()).hexdigest()[:12]
    restored = {}

    def trained(name, stage, size, lams, desc):
        """Train a stack (or restore it from ``out/checkpoints`` when ``resume``)."""
        stack = GPTStack(len(lams), size, cfg.ctx, gens[stage], dropout=cfg.dropout).to(device)
        path = out / "checkpoints" / f"real_{key}_{name}.pt"
        t0 = time.perf_counter()
        if resume and path.is_file():
            state = torch.load(path, map_location=device)
            stack.load_state_dict(state["model"])
            losses = state["losses"].numpy()
            restored[name] = str(path)
            timings[f"{name}_restore_s"] = time.perf_counter() - t0
            seconds = state.get("seconds")  # the training time measured when it was trained
        else:
            torch.manual_seed(int(rngs[stage].integers(2**62)))  # dropout masks
            losses = _train_stack(stack, lams, corpus, cfg, rngs[stage], device, progress, desc)
            seconds = time.perf_counter() - t0
            path.parent.mkdir(parents=True, exist_ok=True)
            torch.save({"model": stack.state_dict(), "losses": torch.from_numpy(losses),
                        "seconds": torch.tensor(seconds, dtype=torch.float64)}, path)
        stack.eval()
        timings[f"{name}_train_s"] = None if seconds is None else float(seconds)
        return stack, losses

    # 1. the Smaller stack (experts, Smaller monolithic, mixed oracles) and the Larger model
    s_methods = list(ORACLE_MODEL.values())
    s_lams = np.stack([grid[g] for g in ORACLE_MODEL])
    s_stack, s_loss = trained("smaller", 0, small, s_lams,
                              f"Smaller x{len(s_methods)} (experts, monolithic, oracles)")
    l_stack, l_loss = trained("larger", 1, large, grid["uniform"][None], "Larger monolithic")
    rng, gen = rngs[2], gens[2]

    # 2. evaluation of the single models; the experts' token log-probabilities for the routers
    t0 = time.perf_counter()
    rows, expert_logp = [], {}
    for split, wins in windows.items():
        expert_logp[split] = []
        for k, d in enumerate(_td.DOMAINS):
            lp_s = _token_logp(s_stack, wins[k], device)  # (M, N, ctx)
            lp_l = _token_logp(l_stack, wins[k], device)
            expert_logp[split].append(lp_s[:K].permute(1, 2, 0).contiguous())  # (N, ctx, K)
            for m, method in enumerate(s_methods):
                rows.append(_row(method, split, d, -lp_s[m].double().mean() / LN2, p_small))
            rows.append(_row("monolithic_larger", split, d, -lp_l[0].double().mean() / LN2, p_large))
    timings["evaluate_s"] = time.perf_counter() - t0

    # 3. routers over the frozen experts: fixed baselines, then primal-dual on the valid split
    t0 = time.perf_counter()
    bayes = {}
    for g, lam in grid.items():
        r = KRouter.bayes(lam)
        bayes[g] = {s: (evaluate_router(r, expert_logp[s]) / LN2).tolist() for s in windows}
    fixed = {"uniform_mixture": KRouter.constant(np.full(K, 1 / K)),
             "bayes_router": KRouter.bayes(np.full(K, 1 / K))}
    pools = []
    for d in _td.DOMAINS:
        pool = _td.random_windows(corpus.data[d]["valid"], cfg.gate_pool, cfg.ctx + 1, rng)
        pools.append(_token_logp(s_stack, pool, device)[:K].permute(1, 2, 0).contiguous())
    gates, p_router = {}, None
    for name, lset in (("robust_gate", Simplex(K)), ("robust_gate_box", box)):
        router = KRouter(K, cfg.router_hidden, gen)
        p_router = router.n_params()
        with tqdm(total=cfg.gate_steps, desc=f"{name} (primal-dual)", disable=not progress,
                  leave=False) as bar:
            log = train_router(router, pools, steps=cfg.gate_steps, batch=cfg.gate_batch,
                               lr=cfg.gate_lr, lam_step=cfg.lam_step, rng=rng, progress=bar,
                               lam_set=lset)
        fixed[name] = log["router_bar"]
        gates[name] = {"lam_bar": log["lam_bar"].tolist(), "lam_last": log["lam"][-1].tolist(),
                       "set": {"kind": lset.kind, **lset.to_dict()}}
    n_modular = K * p_small
    for name, r in fixed.items():
        params = n_modular + (p_router if name.startswith("robust") else 0)
        for split in windows:
            for d, v in zip(_td.DOMAINS, evaluate_router(r, expert_logp[split]) / LN2, strict=True):
                rows.append(_row(name, split, d, v, params))
    timings["routers_s"] = time.perf_counter() - t0

    # 4. SPEC DH, measured: per-domain gradient cosines of the trained models
    t0 = time.perf_counter()
    cos_rows = []
    for stack, members in ((s_stack, s_methods), (l_stack, ["monolithic_larger"])):
        for m, method in enumerate(members):
            if method.startswith("oracle"):
                continue
            cos_rows += [{"method": method, "size": METHODS[method][0], **r}
                         for r in gradient_cosines(stack, m, corpus, cfg.ctx, cfg.cos_windows,
                                                   cfg.batch, rngs[3], device)]
    cosine = pd.DataFrame(cos_rows)
    timings["gradient_cosine_s"] = time.perf_counter() - t0

    bpb = pd.DataFrame(rows)
    table = table_from_bpb(bpb, box, grid)
    grid_tab = _grid_table(bpb, grid, box, bayes)
    for name, lset in (("robust_gate", Simplex(K)), ("robust_gate_box", box)):
        for split in windows:
            vals = bpb[(bpb.method == name) & (bpb.split == split)].set_index("domain").bpb
            value, lam_star = lset.maximize_linear(vals.loc[list(_td.DOMAINS)].to_numpy())
            gates[name][f"worst_{split}"] = float(value)
            gates[name][f"lam_star_{split}"] = np.asarray(lam_star).tolist()
    summary = _summary(cfg, seed, device, corpus, table, gates, timings,
                       {"smaller": p_small, "larger": p_large, "router": p_router,
                        "modular_total": n_modular + p_router},
                       {"smaller": s_loss[-50:].mean(axis=0).tolist(),
                        "larger": l_loss[-50:].mean(axis=0).tolist()},
                       time.perf_counter() - t_start, restored)
    summary["gradient_cosine"] = _cos_summary(cosine)
    paths = {"bpb": out / BPB_FILE, "table": out / TABLE_FILE, "grid": out / GRID_FILE,
             "cosine": out / COSINE_FILE, "summary": out / SUMMARY_FILE}
    bpb.to_csv(paths["bpb"], index=False, float_format="%.6f")
    table.to_csv(paths["table"], index=False, float_format="%.6f")
    grid_tab.to_csv(paths["grid"], index=False, float_format="%.6f")
    cosine.to_csv(paths["cosine"], index=False, float_format="%.6f")
    paths["summary"].write_text(json.dumps(summary, indent=1))
    if draw:
        from robust_gates.figures.registry import draw_figure

        paths["figure"] = draw_figure("real_text", out, out)[0]
    torch.set_num_threads(threads_before)
    return RealResult(bpb, table, grid_tab, cosine, summary, {k: str(v) for k, v in paths.items()})


def _row(method, split, domain, bpb, params) -> dict:
    return {"method": method, "size": METHODS[method][0], "params": int(params), "split": split,
            "domain": domain, "bpb": float(bpb)}


def comparisons(table: pd.DataFrame, split: str = "test") -> dict:
    """Where modular beats monolithic and where not (differences in bits per byte, ``> 0`` means
    the first method is worse)."""
    t = table[table.split == split].set_index("method")
    out = {}
    for mono in ("monolithic_smaller", "monolithic_larger"):
        for col in ("worst_simplex", "worst_box", "average", *[f"bpb_{d}" for d in _td.DOMAINS]):
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


def _summary(cfg, seed, device, corpus, table, gates, timings, params, train_loss, seconds,
             restored) -> dict:
    return {
        "config": asdict(cfg), "seed": seed, "device": device,
        "python_version": corpus.python_version,
        "corpus": {"bytes": corpus.bytes_table(), "documents": corpus.info.get("documents"),
                   "roots": corpus.info.get("roots"), "latin1_fallbacks": corpus.info.get("latin1_fallbacks"),
                   "cache": corpus.info.get("cache")},
        "grid": {g: v.tolist() for g, v in cfg.grid.items()},
        "params": params, "larger_exceeds_modular": params["larger"] > params["modular_total"],
        "gates": gates, "final_train_loss_nats": train_loss,
        "comparisons_test": comparisons(table, "test"),
        "comparisons_valid": comparisons(table, "valid"),
        "timings": timings, "seconds_total": seconds, "restored_checkpoints": restored,
    }
