r"""Figure 5 as a study: a conflict sweep over task seeds and initializations, with matched and
robust monolithic baselines, a gate that knows ``lam``, learning rates tuned on validation, and
the decoupling hypothesis (SPEC DH) measured across the conflict strength ``c``.

Cells. One **cell** is ``(c, T, task_seed, init_seed)``: the conflict strength (fraction of the
``V^2`` contexts on which the two domains' rules differ, :func:`.data.make_task`), the sequence
length, the task seed (which rule tables; the rules of one task seed are *nested* across ``c``:
the conflicting contexts at ``c = 0.25`` are among those at ``c = 0.5``, with the same shifts) and
the initialization seed (initial weights and training data; shared across ``c`` and ``T`` so
the comparisons across ``c`` are paired). ``c = 0`` is the control: both domains are the same,
so nothing is gained by routing. The **main sweep** runs every ``c`` in ``conflicts`` at
``T = seq_len`` for ``task_seeds x init_seeds`` cells; the **crossing sweep** adds cells at
``c = 1`` with the other sequence lengths ``cross_seq_lens`` (one initialization each), to see
where the oracles cross the gate as ``T`` and the width change.

Per cell, on held-out sequences of the cell's task (scored at every ``lam`` of ``lams``):

* ``robust_gate/modular``: the two Smaller experts (each trained on its own domain) and a causal
  :class:`~.model.Router` trained by stochastic primal-dual over ``Lambda`` = simplex (as in
  :mod:`.fig5`);
* ``known_lam_gate/modular``: the same experts with the constant gate that knows ``lam``, i.e.
  the exact posterior ``r_k(x_<t) \propto lam_k P_k(x_<t)`` of the experts (SPEC SD; no
  training);
* ``fixed/<size>`` (trained once at ``lam = 0.5``) and ``oracle/<size>`` (one model per
  ``lam``; at ``0``, ``0.5`` and ``1`` the oracle's recipe is the expert's or the fixed model's,
  which are reused) for the sizes ``smaller``, ``larger`` and ``matched``;
* ``robust_mono/matched``: a monolithic model trained robustly over ``Lambda`` (primal-dual on
  ``lam`` during training, :func:`.train.train_stack` with ``robust``);
* ``bayes/exact``: the true sequence mixture ``lam P_1 + (1 - lam) P_2``, the floor for any single
  model of the ``lam``-mixture.

**Matched** means the modular system's total parameters (two Smaller experts plus the router,
within 1%) *and* its training compute: the experts each take ``batch`` sequences of their own
domain per step, so the modular system trains on ``2 batch`` sequences per step through
``2 x Smaller`` parameters; the matched model takes ``batch / 2`` sequences per domain per step
through ``~2 x Smaller`` parameters, for the same number of steps (compute = parameters x
sequences per step x steps, reported as ``compute`` in the tidy table). The Smaller and Larger
monolithic models take ``batch`` sequences per domain per step, as in :mod:`.fig5`.

**Learning rates** are tuned once per model size (stage ``tune``): each size is trained at
``lam = 0.5`` with every rate of ``lr_grid`` on a separate tuning task (``tune_task_seed``,
``c = 1``), and the rate with the lowest loss on a validation set drawn for that purpose is
used in every cell; the test sets are never looked at.

**Gradient cosines** ``cos(g_1, g_2)`` between the per-domain gradients are logged at every
step of every monolithic model and kept as ``cos_bins`` bin means through training
(``fig5_study_cosine.csv``).

Aggregates (``fig5_study_intervals.csv``): every quantity is first averaged over the
initialization seeds of a task seed, then its mean over task seeds and a 95% percentile
bootstrap interval over task seeds (``n_boot`` resamples, fixed seed) are reported with the
number of task seeds ``n_tasks`` (an interval over one task seed is just the point). Quantities:
``excess`` (loss minus the entropy rate), ``gap`` (a monolithic model's loss minus the robust
gate's, at each ``lam``; positive = the modular system wins), ``gap_worst`` (worst case over the
``lam`` grid, monolithic minus gate), ``interference`` (a monolithic model's excess minus the
exact Bayes mixture's), ``cos_late`` (mean cosine over the last ``late_fraction`` of training),
``cos_traj`` (the binned trajectory) and ``crossing`` (for each oracle size and ``T`` at
``c = 1``: how far from a vertex the oracle stays below the robust gate, the interpolated
``lam`` distance averaged over the two sides; 0 = never below, 0.5 = below everywhere).
The summary holds the across-``c`` relation between the late cosine and the gap at
``lam = 0.5`` (Pearson over task-seed means, bootstrap interval), the chosen learning rates
with their validation losses, wall time per stage and ``cells_done`` / ``cells_total`` /
``complete``: a partial run (``max_cells``) is written like a full one but says so.

Threads: one by default. These models are small; on 2 shared cores two torch threads made a
training step 5-15 times slower than one (measured under load), so parallelism is better spent
on separate processes.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, replace
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

from . import data as _data
from .runner import SHIPPED_DIR, Checkpoint, Experiment, Outputs, Stage, Table, run_experiment, ship_run
from .sizes import MLPSize

__all__ = ["StudyConfig", "Cell", "FULL", "QUICK", "TINY", "CONFIGS", "EXPERIMENT", "cells",
           "main", "bootstrap", "intervals", "crossing_distance", "decoupling", "ship",
           "with_overrides", "TABLE_FILE", "COSINE_FILE", "INTERVALS_FILE", "SUMMARY_FILE",
           "SIZES", "shipped_findings"]

TABLE_FILE = "fig5_study.csv"
COSINE_FILE = "fig5_study_cosine.csv"
INTERVALS_FILE = "fig5_study_intervals.csv"
SUMMARY_FILE = "fig5_study_summary.json"
SIZES = ("smaller", "larger", "matched")

#: fields that say which cells a run holds, not what a cell computes (left out of cell keys)
_NOT_IN_CELL_KEY = ("name", "threads", "conflicts", "task_seeds", "init_seeds", "cross_seq_lens",
                    "cross_task_seeds", "n_boot", "max_cells", "cos_bins", "late_fraction",
                    "tune_task_seed", "tune_steps", "lr_grid", "n_valid")


@dataclass(frozen=True)
class StudyConfig:
    """The study's settings (``FULL``, ``QUICK``, ``TINY`` below; module docstring)."""

    name: str
    conflicts: tuple = (0.0, 0.25, 0.5, 1.0)
    task_seeds: int = 5
    init_seeds: int = 3
    seq_len: int = 16
    cross_seq_lens: tuple = (8, 32)
    cross_task_seeds: int = 5
    vocab: int = 16
    noise: float = 0.1
    window: int = 8
    smaller: MLPSize = MLPSize(16, 48)
    larger: MLPSize = MLPSize(24, 128)
    matched: MLPSize = MLPSize(20, 80)
    steps: int = 2500
    batch: int = 32
    lr_grid: tuple = (3e-3, 1e-2, 3e-2)
    tune_steps: int = 2500
    tune_task_seed: int = 1000
    n_valid: int = 2000
    router_hidden: int = 8
    gate_pool: int = 4096
    gate_steps: int = 1500
    gate_batch: int = 64
    gate_lr: float = 0.02
    lam_step: float = 0.5
    n_test: int = 4000
    lams: tuple = (0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0)
    cos_bins: int = 25
    late_fraction: float = 0.5
    n_boot: int = 2000
    threads: int = 1
    max_cells: int | None = None

    def __post_init__(self):
        lams = tuple(float(x) for x in self.lams)
        if lams[0] != 0.0 or lams[-1] != 1.0 or 0.5 not in lams or list(lams) != sorted(set(lams)):
            raise ValueError(f"lams must be increasing, from 0 to 1, and hold 0.5; got {self.lams}")
        if not self.conflicts or any(not 0 <= c <= 1 for c in self.conflicts):
            raise ValueError(f"conflicts must lie in [0, 1]; got {self.conflicts}")
        if min(self.task_seeds, self.init_seeds, self.steps, self.gate_steps, self.tune_steps) < 1:
            raise ValueError("task_seeds, init_seeds, steps, gate_steps and tune_steps must be >= 1")
        if self.batch < 2 or self.batch % 2:
            raise ValueError(f"batch must be even (the matched model takes batch / 2); got {self.batch}")
        if self.max_cells is not None and self.max_cells < 0:
            raise ValueError(f"max_cells must be >= 0; got {self.max_cells}")
        if not self.lr_grid:
            raise ValueError("lr_grid must hold at least one rate")
        object.__setattr__(self, "lams", lams)
        object.__setattr__(self, "conflicts", tuple(float(c) for c in self.conflicts))


FULL = StudyConfig("full")
QUICK = StudyConfig("quick", conflicts=(0.0, 1.0), task_seeds=2, init_seeds=1, cross_seq_lens=(8,),
                    cross_task_seeds=1, steps=300, tune_steps=150, lr_grid=(1e-2, 3e-2), n_valid=500,
                    gate_steps=300, gate_pool=1024, n_test=1000, n_boot=500, cos_bins=10)
TINY = StudyConfig("tiny", conflicts=(0.0, 1.0), task_seeds=2, init_seeds=1, cross_seq_lens=(8,),
                   cross_task_seeds=1, smaller=MLPSize(8, 16), larger=MLPSize(8, 48),
                   matched=MLPSize(8, 34), steps=20, batch=8, tune_steps=10, lr_grid=(1e-2, 3e-2),
                   n_valid=64, gate_steps=20, gate_pool=64, gate_batch=16, n_test=64,
                   lams=(0.0, 0.25, 0.5, 0.75, 1.0), cos_bins=4, n_boot=200, threads=1)
CONFIGS = {c.name: c for c in (FULL, QUICK, TINY)}


@dataclass(frozen=True)
class Cell:
    """One cell of the study: conflict ``c``, sequence length ``T``, task and init seeds and which
    sweep it belongs to (``main`` or ``crossing``)."""

    c: float
    T: int
    task_seed: int
    init_seed: int
    sweep: str

    @property
    def stage(self) -> str:
        return f"cell_c{self.c:g}_T{self.T}_task{self.task_seed}_init{self.init_seed}"


def cells(cfg: StudyConfig, seed: int = 0) -> list[Cell]:
    """Every cell, in the order they are run: by initialization seed, then task seed; for each
    task seed the main sweep's ``c`` values and, with the first initialization seed, the
    crossing sweep's other sequence lengths (``c = 1``). So a partial run holds whole ``c``
    sweeps, with their crossing cells, on as many task seeds as it got to."""
    cross = [T for T in cfg.cross_seq_lens if T != cfg.seq_len]
    out = []
    for i in range(cfg.init_seeds):
        for t in range(cfg.task_seeds):
            out += [Cell(c, cfg.seq_len, t, seed + i, "main") for c in cfg.conflicts]
            if i == 0 and t < cfg.cross_task_seeds:
                out += [Cell(1.0, T, t, seed, "crossing") for T in cross]
    out += [Cell(1.0, T, t, seed, "crossing") for t in range(cfg.task_seeds, cfg.cross_task_seeds)
            for T in cross]
    return out


def _params(cfg: StudyConfig) -> dict:
    from .model import mlp_params, router_params

    p = {s: mlp_params(getattr(cfg, s), cfg.vocab, cfg.window) for s in SIZES}
    p["router"] = router_params(cfg.router_hidden)
    p["modular_total"] = 2 * p["smaller"] + p["router"]
    return p


def _batch(cfg: StudyConfig, size: str) -> int:
    """Sequences per domain per step: ``batch / 2`` for the matched model (module docstring)."""
    return cfg.batch // 2 if size == "matched" else cfg.batch


def _task(cfg: StudyConfig, c: float, T: int, task_seed: int) -> _data.ConflictTask:
    return _data.make_task(cfg.vocab, T, c, cfg.noise, rng=np.random.default_rng(task_seed))


def _heldout(task, task_seed: int, n: int, purpose: int) -> list[np.ndarray]:
    rng = np.random.default_rng(np.random.SeedSequence([task_seed, purpose]))
    return [_data.sample(task, k, n, rng) for k in range(2)]


# ---------------------------------------------------------------------------------------------
# stage ``tune``: one learning rate per size, chosen on validation


def _tune(run, done) -> dict:
    torch, cfg, device = run.torch, run.config, run.device
    from .model import MLPStack
    from .train import evaluate_stack, train_stack

    task = _task(cfg, 1.0, cfg.seq_len, cfg.tune_task_seed)
    valid = _heldout(task, cfg.tune_task_seed, cfg.n_valid, 2 * 10**6)
    out = {"lr": {}, "valid_loss": {}, "task_seed": cfg.tune_task_seed, "seconds": {}}
    for size in SIZES:
        losses = []
        t0 = time.perf_counter()
        for i, lr in enumerate(cfg.lr_grid):
            rng = np.random.default_rng(np.random.SeedSequence([cfg.tune_task_seed, run.seed, i, 11]))
            gen = torch.Generator().manual_seed(int(rng.integers(2**62)))
            stack = MLPStack(1, getattr(cfg, size), cfg.vocab, cfg.window, gen).to(device)
            with run.bar(cfg.tune_steps, f"tune {size} lr={lr:g}") as bar:
                train_stack(stack, np.array([0.5]), task, steps=cfg.tune_steps, batch=_batch(cfg, size),
                            lr=lr, rng=rng, device=device, progress=bar)
            ce = evaluate_stack(stack, task, valid, device=device)[0]
            losses.append(float(0.5 * ce[0] + 0.5 * ce[1]))
        out["lr"][size] = float(cfg.lr_grid[int(np.argmin(losses))])
        out["valid_loss"][size] = dict(zip([f"{lr:g}" for lr in cfg.lr_grid], losses, strict=True))
        out["seconds"][size] = time.perf_counter() - t0
    return out


def _tune_checkpoint() -> Checkpoint:
    def key(run, done):
        cfg = run.config
        fields_ = {k: v for k, v in asdict(cfg).items()
                   if k in ("vocab", "noise", "window", "smaller", "larger", "matched", "seq_len",
                            "batch", "lr_grid", "tune_steps", "tune_task_seed", "n_valid")}
        return {"stage": "tune", "config": fields_, "seed": run.seed, "device": run.device,
                "torch": run.torch.__version__}

    return Checkpoint(key, lambda r: {"tune": json.dumps(r)},
                      lambda blob, run, done: json.loads(blob["tune"]))


# ---------------------------------------------------------------------------------------------
# stage ``cell_...``: everything trained and scored on one cell


def _bayes_ce(task, tests, lam) -> np.ndarray:
    with np.errstate(divide="ignore"):
        w = np.log(np.array([lam, 1.0 - lam]))
    out = []
    for x in tests:
        seq = _data.log_likelihood(task, x).sum(axis=2)
        with np.errstate(divide="ignore"):
            mix = np.logaddexp(w[0] + seq[0], w[1] + seq[1])
        out.append(-mix.mean() / task.seq_len)
    return np.array(out)


def known_lam_gate_ce(test_logp: list, lam: float, torch) -> np.ndarray:
    """Per-domain CE of the constant gate that knows ``lam``: the experts' exact posterior
    ``r_k(x_<t) ∝ lam_k P_k(x_<t)`` (SPEC SD) mixing their next-token laws."""
    with np.errstate(divide="ignore"):
        logw = torch.tensor(np.log([lam, 1.0 - lam]), dtype=torch.float64)
    out = []
    for logp in test_logp:
        lp = logp.double()
        prefix = torch.cumsum(lp, dim=1) - lp
        log_r = torch.log_softmax(logw + prefix, dim=-1)
        out.append(float(-torch.logsumexp(log_r + lp, dim=-1).mean()))
    return np.array(out)


def _stack_roles(cfg: StudyConfig, size: str) -> tuple[list, list, np.ndarray]:
    """Members of one size's stack: (method, lam-it-is-scored-at) roles, lams, robust flags.

    The stack trains one member per distinct ``lam`` (``1``, ``0``, ``0.5``, the interior grid
    points); the Smaller ``1`` / ``0`` members are the experts, ``0.5`` is the fixed model, and
    every member is the oracle at its own ``lam``. The matched stack adds the robust member.
    """
    lams = [1.0, 0.0, 0.5] + [lam for lam in cfg.lams if lam not in (0.0, 0.5, 1.0)]
    robust = [False] * len(lams)
    if size == "matched":
        lams.append(0.5)
        robust.append(True)
    return lams, list(range(len(lams))), np.array(robust)


def _bin_means(x: np.ndarray, bins: int) -> tuple[np.ndarray, np.ndarray]:
    """Means of ``x`` (steps x M) over ``bins`` consecutive bins, and each bin's last step."""
    edges = np.linspace(0, len(x), min(bins, len(x)) + 1).round().astype(int)
    means = np.stack([x[a:b].mean(axis=0) for a, b in zip(edges[:-1], edges[1:], strict=True)])
    return means, edges[1:]


def _one_cell(cell: Cell, run, done) -> dict:
    torch, cfg, device = run.torch, run.config, run.device
    from .model import MLPStack, Router
    from .train import evaluate_router, evaluate_stack, expert_token_logp, train_router, train_stack

    cpu0 = time.process_time()
    lr = done["tune"]["lr"]
    params = _params(cfg)
    task = _task(cfg, cell.c, cell.T, cell.task_seed)
    tests = _heldout(task, cell.task_seed, cfg.n_test, 10**6)
    H = task.entropy
    rng = np.random.default_rng(np.random.SeedSequence([cell.task_seed, cell.init_seed, 7]))
    gen = torch.Generator().manual_seed(int(rng.integers(2**62)))
    ce, stacks, cos_rows, timing, info = {}, {}, [], {}, {}
    for size in SIZES:
        t0 = time.perf_counter()
        lams, _, robust = _stack_roles(cfg, size)
        stack = MLPStack(len(lams), getattr(cfg, size), cfg.vocab, cfg.window, gen).to(device)
        with run.bar(cfg.steps, f"{cell.stage}: {size} x{len(lams)}") as bar:
            log = train_stack(stack, np.array(lams), task, steps=cfg.steps, batch=_batch(cfg, size),
                              lr=lr[size], rng=rng, device=device, progress=bar, robust=robust,
                              lam_step=cfg.lam_step)
        ce[size] = evaluate_stack(stack, task, tests, device=device)
        stacks[size] = stack
        if robust.any():
            m = int(np.flatnonzero(robust)[0])
            info["robust_mono_lam_bar"] = float(log["lam_bar"][m])
            info["robust_mono_lam_last"] = float(log["lam"][-1, m])
        means, ends = _bin_means(log["cos"], cfg.cos_bins)
        late = log["cos"][int(round((1 - cfg.late_fraction) * len(log["cos"]))):]
        for m, lam in enumerate(lams):
            method = ("robust_mono" if robust[m] else "expert" if size == "smaller" and m < 2
                      else "fixed" if lam == 0.5 else "oracle")
            base = {"c": cell.c, "T": cell.T, "task_seed": cell.task_seed, "init_seed": cell.init_seed,
                    "size": size, "method": method, "lam": lam}
            cos_rows += [{**base, "step": int(e), "cos": float(v)}
                         for e, v in zip(ends, means[:, m], strict=True)]
            cos_rows.append({**base, "step": -1, "cos": float(late[:, m].mean())})  # -1: late mean
        timing[size] = time.perf_counter() - t0

    t0 = time.perf_counter()
    experts = stacks["smaller"]
    pools = [expert_token_logp(experts, [0, 1], task, _data.sample(task, k, cfg.gate_pool, rng),
                               device=device) for k in range(2)]
    test_logp = [expert_token_logp(experts, [0, 1], task, x, device=device) for x in tests]
    router = Router(cfg.router_hidden, gen)
    with run.bar(cfg.gate_steps, f"{cell.stage}: robust gate") as bar:
        pd_log = train_router(router, pools, steps=cfg.gate_steps, batch=cfg.gate_batch, lr=cfg.gate_lr,
                              lam_step=cfg.lam_step, rng=rng, progress=bar)
    gate_ce = evaluate_router(pd_log["router_bar"], test_logp)
    info["gate_lam_bar"] = float(pd_log["lam_bar"][0])
    timing["gate"] = time.perf_counter() - t0

    rows = []
    comp = {s: params[s] * 2 * _batch(cfg, s) * cfg.steps for s in SIZES}
    comp_mod = 2 * params["smaller"] * cfg.batch * cfg.steps

    def add(method, size, lam, c2, p, compute):
        loss = float(lam * c2[0] + (1 - lam) * c2[1])
        rows.append({"c": cell.c, "T": cell.T, "task_seed": cell.task_seed, "init_seed": cell.init_seed,
                     "sweep": cell.sweep, "method": method, "size": size, "lam": lam, "loss": loss,
                     "excess": loss - float(lam * H[0] + (1 - lam) * H[1]), "loss_d1": float(c2[0]),
                     "loss_d2": float(c2[1]), "params": p, "compute": compute})

    for lam in cfg.lams:
        add("robust_gate", "modular", lam, gate_ce, params["modular_total"], comp_mod)
        add("known_lam_gate", "modular", lam, known_lam_gate_ce(test_logp, lam, torch),
            2 * params["smaller"], comp_mod)
        for size in SIZES:
            lams, _, robust = _stack_roles(cfg, size)
            idx = {lm: m for m, lm in enumerate(lams) if not robust[m]}
            add("fixed", size, lam, ce[size][idx[0.5]], params[size], comp[size])
            add("oracle", size, lam, ce[size][idx[lam]], params[size], comp[size])
        m_rob = int(np.flatnonzero(_stack_roles(cfg, "matched")[2])[0])
        add("robust_mono", "matched", lam, ce["matched"][m_rob], params["matched"], comp["matched"])
        add("bayes", "exact", lam, _bayes_ce(task, tests, lam), 0, 0)
    timing["cpu_s"] = time.process_time() - cpu0  # this process's CPU time (wall time: ``seconds``)
    return {"rows": rows, "cos_rows": cos_rows, "timing": timing, "info": info}


def _cell_checkpoint(cell: Cell) -> Checkpoint:
    def key(run, done):
        cfg = {k: v for k, v in asdict(run.config).items() if k not in _NOT_IN_CELL_KEY}
        return {"cell": asdict(cell), "config": cfg, "lr": done["tune"]["lr"], "device": run.device,
                "torch": run.torch.__version__}

    return Checkpoint(key, lambda r: {"cell": json.dumps(r)},
                      lambda blob, run, done: json.loads(blob["cell"]))


def _stages(run) -> list[Stage]:
    cfg = run.config
    todo = cells(cfg, run.seed)
    if cfg.max_cells is not None:
        todo = todo[:cfg.max_cells]
    return [Stage("tune", _tune, _tune_checkpoint())] + [
        Stage(c.stage, partial(_one_cell, c), _cell_checkpoint(c)) for c in todo]


# ---------------------------------------------------------------------------------------------
# aggregates: bootstrap over task seeds


def bootstrap(values: np.ndarray, n_boot: int, seed: int = 0) -> tuple[float, float, float]:
    """The mean of ``values`` (one per task seed) and its 95% percentile bootstrap interval
    (``n_boot`` resamples with replacement, ``numpy`` generator seeded by ``seed``)."""
    v = np.asarray(values, dtype=float)
    point = float(v.mean())
    if len(v) < 2:
        return point, point, point
    rng = np.random.default_rng(seed)
    boots = v[rng.integers(0, len(v), size=(n_boot, len(v)))].mean(axis=1)
    lo, hi = np.percentile(boots, [2.5, 97.5])
    return point, float(min(lo, point)), float(max(hi, point))


def _per_task(df: pd.DataFrame, keys: list, value: str) -> pd.DataFrame:
    """Mean over initialization seeds: one value per ``keys + [task_seed]``."""
    return df.groupby(keys + ["task_seed"], dropna=False)[value].mean().reset_index()


def _ci_rows(df: pd.DataFrame, keys: list, value: str, quantity: str, n_boot: int, n_cells=None) -> list:
    rows = []
    per = _per_task(df, keys, value)
    for k, g in per.groupby(keys, dropna=False):
        k = k if isinstance(k, tuple) else (k,)
        mean, lo, hi = bootstrap(g[value].to_numpy(), n_boot)
        rows.append({"quantity": quantity, **dict(zip(keys, k, strict=True)), "mean": mean, "lo": lo,
                     "hi": hi, "n_tasks": int(g.task_seed.nunique())})
    return rows


def crossing_distance(lams: np.ndarray, diff: np.ndarray) -> float:
    """How far from the vertices the oracle stays below the gate (``diff = oracle - gate``).

    On each side (``lam`` from 0 up to 0.5, and from 1 down to 0.5) the distance from the vertex
    to the first sign change of ``diff`` from negative to non-negative, linearly interpolated
    (0 when the oracle is not below at the vertex, 0.5 when it is below all the way to 0.5); the
    mean of the two sides.
    """
    lams, diff = np.asarray(lams, float), np.asarray(diff, float)
    out = []
    for side in (lams <= 0.5, lams >= 0.5):
        x, d = lams[side], diff[side]
        dist = np.abs(x - (0.0 if x[0] == 0.0 else 1.0))
        order = np.argsort(dist)
        dist, d = dist[order], d[order]
        if d[0] >= 0:
            out.append(0.0)
            continue
        cross = 0.5
        for i in range(1, len(d)):
            if d[i] >= 0:
                cross = dist[i - 1] + (dist[i] - dist[i - 1]) * (-d[i - 1]) / (d[i] - d[i - 1])
                break
        out.append(float(cross))
    return float(np.mean(out))


def _gap_frame(table: pd.DataFrame) -> pd.DataFrame:
    """Per cell, method/size and ``lam``: loss minus the robust gate's (positive: modular wins)."""
    keys = ["c", "T", "task_seed", "init_seed", "lam"]
    gate = table[table.method == "robust_gate"].set_index(keys).loss
    mono = table[~table.method.isin(["robust_gate", "bayes"])].copy()
    mono["gap"] = mono.loss.to_numpy() - gate.reindex(pd.MultiIndex.from_frame(mono[keys])).to_numpy()
    return mono


def intervals(table: pd.DataFrame, cosine: pd.DataFrame, n_boot: int) -> pd.DataFrame:
    """The aggregate table (module docstring): ``quantity, c, T, method, size, lam, step, mean,
    lo, hi, n_tasks``."""
    rows = []
    rows += _ci_rows(table, ["c", "T", "method", "size", "lam"], "excess", "excess", n_boot)
    gaps = _gap_frame(table)
    rows += _ci_rows(gaps, ["c", "T", "method", "size", "lam"], "gap", "gap", n_boot)
    worst = table.groupby(["c", "T", "task_seed", "init_seed", "method", "size"]).loss.max().reset_index()
    gw = worst[worst.method != "robust_gate"].merge(
        worst[worst.method == "robust_gate"][["c", "T", "task_seed", "init_seed", "loss"]],
        on=["c", "T", "task_seed", "init_seed"], suffixes=("", "_gate"))
    gw["gap_worst"] = gw.loss - gw.loss_gate
    rows += _ci_rows(gw[gw.method.isin(["fixed", "robust_mono", "known_lam_gate"])],
                     ["c", "T", "method", "size"], "gap_worst", "gap_worst", n_boot)
    keys = ["c", "T", "task_seed", "init_seed", "lam"]
    bayes = table[table.method == "bayes"].set_index(keys).excess
    mono = table[table.method.isin(["fixed", "oracle", "robust_mono"])].copy()
    mono["interference"] = mono.excess.to_numpy() - bayes.reindex(
        pd.MultiIndex.from_frame(mono[keys])).to_numpy()
    rows += _ci_rows(mono, ["c", "T", "method", "size", "lam"], "interference", "interference", n_boot)
    late = cosine[cosine.step == -1]
    rows += _ci_rows(late, ["c", "T", "method", "size", "lam"], "cos", "cos_late", n_boot)
    traj = cosine[(cosine.step >= 0) & (cosine.lam == 0.5)]
    rows += _ci_rows(traj, ["c", "T", "method", "size", "lam", "step"], "cos", "cos_traj", n_boot)
    # where the oracles cross the gate, per T and size, at c = 1
    cross = []
    for (T, task, init, size), g in gaps[(gaps.c == 1.0) & (gaps.method == "oracle")].groupby(
            ["T", "task_seed", "init_seed", "size"]):
        g = g.sort_values("lam")
        cross.append({"T": T, "task_seed": task, "init_seed": init, "size": size, "c": 1.0,
                      "method": "oracle", "dist": crossing_distance(g.lam.to_numpy(), g.gap.to_numpy())})
    if cross:
        rows += _ci_rows(pd.DataFrame(cross), ["c", "T", "method", "size"], "dist", "crossing", n_boot)
    cols = ["quantity", "c", "T", "method", "size", "lam", "step", "mean", "lo", "hi", "n_tasks"]
    return pd.DataFrame(rows).reindex(columns=cols)


def _pearson(x, y) -> float:
    x, y = np.asarray(x, float), np.asarray(y, float)
    if len(x) < 3 or x.std() == 0 or y.std() == 0:
        return float("nan")
    return float(np.corrcoef(x, y)[0, 1])


def _within(x, y, c) -> float:
    """Pearson correlation of ``x`` and ``y`` after subtracting their mean at each ``c``; ``nan``
    unless some ``c`` has at least 3 points (with 2 per ``c`` the centred points are mirror
    pairs and the correlation says nothing)."""
    x, y, c = (np.asarray(v, float) for v in (x, y, c))
    if max(np.unique(c, return_counts=True)[1], default=0) < 3:
        return float("nan")
    rx, ry = x.copy(), y.copy()
    for v in np.unique(c):
        m = c == v
        rx[m] -= x[m].mean()
        ry[m] -= y[m].mean()
    return _pearson(rx, ry)


def decoupling(table: pd.DataFrame, cosine: pd.DataFrame, n_boot: int, T: int, lam: float = 0.5) -> dict:
    """SPEC DH at fixed ``lam``: for each monolithic size, the Pearson correlation between the
    late-training gradient cosine of the model trained at ``lam`` and its gap to the robust gate
    at ``lam`` (both averaged over initializations per ``(c, task seed)``), **across** ``c``
    (``pearson_cos_late_vs_gap``) and **within** ``c`` (``pearson_within_c``: both centred at
    each ``c`` first, so only task-to-task variation at equal conflict is left), each with a
    95% bootstrap interval resampling task seeds (every ``c`` of a resampled task seed kept)."""
    gaps = _gap_frame(table)
    out = {"lam": lam, "T": T, "note": (
        "across c at fixed lam, unlike the single-task run's correlation across lam, which is "
        "confounded with lam(1 - lam). Across c the conflict strength still drives both the "
        "cosine and the gap (the domains also become easier to tell apart), so the within-c "
        "correlation is the sharper test of the hypothesis")}
    for size in SIZES:
        g = gaps[(gaps.method == "fixed") & (gaps["size"] == size) & (gaps.lam == lam) & (gaps["T"] == T)]
        cz = cosine[(cosine.step == -1) & (cosine.method == "fixed") & (cosine["size"] == size)
                    & (cosine["T"] == T)]
        a = g.groupby(["c", "task_seed"]).gap.mean()
        b = cz.groupby(["c", "task_seed"]).cos.mean()
        both = pd.concat([a, b], axis=1, join="inner").reset_index()
        tasks = np.sort(both.task_seed.unique())
        stats = {"pearson_cos_late_vs_gap": lambda x, y, c: _pearson(x, y), "pearson_within_c": _within}
        res = {k: f(both.cos, both.gap, both.c) for k, f in stats.items()}
        boots = {k: [] for k in stats}
        if len(tasks) >= 2:
            rng = np.random.default_rng(1)
            per = [both[both.task_seed == t] for t in tasks]
            xs, ys, cs = ([p[col].to_numpy() for p in per] for col in ("cos", "gap", "c"))
            for _ in range(n_boot):
                pick = rng.integers(0, len(tasks), size=len(tasks))
                x, y, c = (np.concatenate([v[i] for i in pick]) for v in (xs, ys, cs))
                for k, f in stats.items():
                    boots[k].append(f(x, y, c))
        entry = {"points": int(len(both)), "n_tasks": int(len(tasks)),
                 "conflicts": sorted(float(c) for c in both.c.unique())}
        for k in stats:
            b = np.array(boots[k], float)
            b = b[np.isfinite(b)]
            lo, hi = np.percentile(b, [2.5, 97.5]) if len(b) else (np.nan, np.nan)
            entry[k] = res[k]
            entry[k + "_ci"] = [float(lo), float(hi)]
        out[size] = entry
    return out


def _finish(run, done) -> Outputs:
    cfg = run.config
    all_cells = cells(cfg, run.seed)
    finished = [c for c in all_cells if c.stage in done]
    blobs = [done[c.stage] for c in finished]
    table = pd.DataFrame([r for b in blobs for r in b["rows"]])
    cosine = pd.DataFrame([r for b in blobs for r in b["cos_rows"]])
    ci = intervals(table, cosine, cfg.n_boot) if len(table) else pd.DataFrame()
    seconds_cells = [run.seconds.get(c.stage) for c in finished]
    measured = [s for s in seconds_cells if s is not None]
    per_cell = float(np.mean(measured)) if measured else None
    cpus = [done[c.stage]["timing"].get("cpu_s") for c in finished]
    cpus = [x for x in cpus if x is not None]
    cpu_cell = float(np.mean(cpus)) if cpus else None
    left = len(all_cells) - len(finished)
    summary = {
        "config": {**asdict(cfg), "lams": list(cfg.lams)}, "seed": run.seed, "device": run.device,
        "complete": len(finished) == len(all_cells),
        "cells_done": len(finished), "cells_total": len(all_cells),
        "cells": [asdict(c) | {"stage": c.stage, "seconds": run.seconds.get(c.stage),
                               **done[c.stage]["info"], "timing": done[c.stage]["timing"]} for c in finished],
        "main_cells_done": sum(c.sweep == "main" for c in finished),
        "crossing_cells_done": sum(c.sweep == "crossing" for c in finished),
        "params": _params(cfg),
        "compute_note": "compute = parameters x sequences per step x steps; modular = 2 Smaller x batch",
        "tune": done["tune"], "seconds_tune": run.seconds.get("tune"),
        "seconds_per_cell_mean": per_cell,
        "cpu_seconds_per_cell_mean": cpu_cell,
        "estimated_wall_hours_left": None if per_cell is None else per_cell * left / 3600,
        "estimated_cpu_hours_left": None if cpu_cell is None else cpu_cell * left / 3600,
        "seconds_total": run.elapsed(),
        "decoupling": decoupling(table, cosine, cfg.n_boot, cfg.seq_len) if len(table) else {},
        "restored_checkpoints": dict(run.restored),
    }
    return Outputs([Table("table", TABLE_FILE, table, "%.10g"), Table("cosine", COSINE_FILE, cosine, "%.8g"),
                    Table("intervals", INTERVALS_FILE, ci, "%.8g")], summary)


EXPERIMENT = Experiment("fig5_study", figure="fig5_study", summary_file=SUMMARY_FILE, configs=CONFIGS,
                        stages=_stages, finish=_finish,
                        seeds=lambda cfg, seed: list(range(seed, seed + cfg.init_seeds)))


@dataclass(frozen=True)
class StudyResult:
    """What :func:`main` computed and where it wrote it."""

    table: pd.DataFrame
    cosine: pd.DataFrame
    intervals: pd.DataFrame
    summary: dict
    paths: dict
    out_dir: str


def main(config: StudyConfig = FULL, out_dir: str | Path | None = None, *, seed: int = 0,
         device: str = "cpu", progress: bool = True, draw: bool = True, resume: bool = True) -> StudyResult:
    """Run (or resume) the study (module docstring) and write its tables, summary and figure.

    ``out_dir`` defaults to a fresh folder under ``./results``; the shipped folder is refused
    (use :func:`ship` to copy a finished, possibly partial, run there). Cells whose checkpoint is
    in ``out_dir/checkpoints`` are restored; ``config.max_cells`` stops after that many cells.
    """
    res = run_experiment(EXPERIMENT, config, out_dir, seed=seed, device=device, progress=progress,
                         draw=draw, resume=resume)
    return StudyResult(res.tables["table"], res.tables["cosine"], res.tables["intervals"], res.summary,
                       res.paths, res.out_dir)


SHIPPED_FILES = (TABLE_FILE, COSINE_FILE, INTERVALS_FILE, SUMMARY_FILE, "fig5_study.png")


def ship(run_dir: str | Path, *, force: bool = False) -> list[Path]:
    """Copy a run's tables, summary and figure into the shipped results folder.

    Only a run of the ``full`` configuration at seed 0 (``max_cells`` may be set: its summary says
    ``complete`` and ``cells_done``) is shipped unless ``force``. Returns the copied paths.
    """
    return ship_run(run_dir, SUMMARY_FILE, SHIPPED_FILES, force=force)


def _fmt(r) -> str:
    if r["n_tasks"] < 2:
        return f"{r['mean']:+.3f} (1 task)"
    return f"{r['mean']:+.3f} [{r['lo']:+.3f}, {r['hi']:+.3f}]"


def shipped_findings(results_dir: str | Path = SHIPPED_DIR) -> str:
    """The study's findings as markdown tables, read from a results folder's intervals table and
    summary (default: the shipped ones), for the README and the report: status, gap to the robust
    gate at ``lam = 0.5`` and in the worst case against ``c``, late gradient cosine against ``c``,
    the across-``c`` decoupling correlation and where the oracles cross the gate."""
    results_dir = Path(results_dir)
    info = json.loads((results_dir / SUMMARY_FILE).read_text())
    ci = pd.read_csv(results_dir / INTERVALS_FILE)
    T = info["config"]["seq_len"]
    status = ("complete" if info["complete"] else
              f"PARTIAL: {info['cells_done']} of {info['cells_total']} cells")
    out = [f"Figure 5 study ({status}; learning rates chosen on validation: {info['tune']['lr']}). "
           "Mean [95% bootstrap interval over task seeds], nats/token.", ""]
    conflicts = sorted(ci[(ci.quantity == "excess") & (ci["T"] == T)].c.unique())
    head = "| | " + " | ".join(f"c = {c:g}" for c in conflicts) + " |"
    rule = "|---|" + "---|" * len(conflicts)

    def table(title, sel, rows):
        out.extend([f"**{title}**", "", head, rule])
        for label, mask in rows:
            cells_ = []
            for c in conflicts:
                r = sel[mask(sel) & (sel.c == c)]
                cells_.append(_fmt(r.iloc[0]) if len(r) else "-")
            out.append(f"| {label} | " + " | ".join(cells_) + " |")
        out.append("")

    gap = ci[(ci.quantity == "gap") & (ci["T"] == T) & (ci.lam == 0.5)]
    rows = [(f"fixed {s} (= oracle at 0.5)", lambda d, s=s: (d.method == "fixed") & (d["size"] == s))
            for s in SIZES]
    rows += [("robust monolithic, matched", lambda d: d.method == "robust_mono"),
             ("gate knowing lam", lambda d: d.method == "known_lam_gate")]
    table("Gap at lam = 0.5: monolithic minus robust gate (> 0: modular wins)", gap, rows)
    worst = ci[(ci.quantity == "gap_worst") & (ci["T"] == T)]
    table("Worst case over the lam grid: method minus robust gate", worst,
          [(f"fixed {s}", lambda d, s=s: (d.method == "fixed") & (d["size"] == s)) for s in SIZES]
          + [("robust monolithic, matched", lambda d: d.method == "robust_mono"),
             ("gate knowing lam (its own lam)", lambda d: d.method == "known_lam_gate")])
    cos = ci[(ci.quantity == "cos_late") & (ci["T"] == T) & (ci.lam == 0.5) & (ci.method == "fixed")]
    table("Late-half gradient cosine of the fixed (0.5) models", cos,
          [(s, lambda d, s=s: d["size"] == s) for s in SIZES])
    dec = info.get("decoupling", {})
    out.append("**Decoupling at lam = 0.5**: Pearson correlation of the late cosine with the gap over "
               "the (c, task seed) points, across c and within c (both centred per c):")
    for s in SIZES:
        if s in dec:
            d = dec[s]
            a, w = d["pearson_cos_late_vs_gap"], d["pearson_within_c"]
            (alo, ahi), (wlo, whi) = d["pearson_cos_late_vs_gap_ci"], d["pearson_within_c_ci"]

            def num(x, lo, hi, n=d["n_tasks"]):
                if not np.isfinite(x):
                    return "n/a"
                return f"{x:+.2f}" + (f" [{lo:+.2f}, {hi:+.2f}]" if n >= 2 and np.isfinite(lo) else "")

            out.append(f"- {s}: across c {num(a, alo, ahi)}; within c {num(w, wlo, whi)} "
                       f"({d['points']} points, {d['n_tasks']} task seed{'s' * (d['n_tasks'] != 1)})")
    cr = ci[ci.quantity == "crossing"].sort_values(["size", "T"])
    if len(cr):
        out.extend(["", "**Oracle beats the robust gate within this lam distance of a vertex (c = 1)**", "",
                    "| oracle | " + " | ".join(f"T = {t}" for t in sorted(cr["T"].unique())) + " |",
                    "|---|" + "---|" * cr["T"].nunique()])
        for s in SIZES:
            g = cr[cr["size"] == s].set_index("T")
            out.append(f"| {s} | " + " | ".join(_fmt(g.loc[t]).replace("+", "") if t in g.index else "-"
                                               for t in sorted(cr["T"].unique())) + " |")
    return "\n".join(out)


def with_overrides(config: StudyConfig, **kw) -> StudyConfig:
    """A copy of ``config`` with some fields replaced."""
    return replace(config, **kw)
