r"""Figure 5 of the paper: gradient conflict, robust gate versus monolithic models (SPEC DH).

One run (seed ``r``) trains, on the conflicting domains of :mod:`.data`:

* the two **Smaller experts**, each on its own domain (``lam = 1`` and ``lam = 0``);
* the **robust gate**: a causal :class:`~.model.Router` over the frozen experts, trained by
  stochastic primal-dual (SPEC algorithm 4, cross-entropy payoff, ``Lambda`` = simplex);
* **Fixed** monolithic models, Smaller and Larger, trained once on the 50/50 mixture;
* **Oracle** monolithic models, Smaller and Larger, retrained for every ``lam`` on the grid.

Every model is scored on held-out sequences by the paper's payoff at each grid ``lam``,
``loss = lam CE_1 + (1 - lam) CE_2`` (nats per token), and by its excess over the exact entropy
rate ``lam H_1 + (1 - lam) H_2``. The row ``bayes`` is the exact Bayes sequence mixture
``sum_k lam_k P_k`` of the true domains (what a model trained on the ``lam``-mixture could reach
with unlimited capacity): it is the same for every seed (same held-out set). During monolithic
training the cosine between the per-domain gradients is logged at every step (SPEC DH).

``main(config, out_dir)`` writes ``fig5_gradient_conflict.csv`` (tidy: ``method, size, lam,
seed, loss, excess, loss_d1, loss_d2, params``), ``fig5_gradient_cosine.csv`` (one row per
monolithic model: ``seed, size, method, lam, cos_mean, cos_std, frac_negative, cos_mean_late,
frac_negative_late, steps``), ``fig5_summary.json`` (configuration, parameter counts, timings,
gate ``lam_bar``, cosine statistics and their relation to the interference) and the figure
``fig5.png`` through :func:`robust_gates.figures.registry.draw_figure`.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from . import data as _data
from ._runtime import check_device, require_torch

__all__ = ["Fig5Config", "Fig5Result", "FULL", "QUICK", "TINY", "CONFIGS", "main", "lam_loss",
           "observations", "with_overrides",
           "DATA_FILE", "COSINE_FILE", "SUMMARY_FILE"]

DATA_FILE = "fig5_gradient_conflict.csv"
COSINE_FILE = "fig5_gradient_cosine.csv"
SUMMARY_FILE = "fig5_summary.json"


@dataclass(frozen=True)
class Size:
    """One MLP size (mirrors :class:`.model.ModelSize`, kept here so configs need no torch)."""

    d: int
    hidden: int


@dataclass(frozen=True)
class Fig5Config:
    """One experiment's settings (``FULL``, ``QUICK`` and ``TINY`` below)."""

    name: str
    seeds: int = 5
    vocab: int = 16
    seq_len: int = 16
    conflict: float = 1.0
    noise: float = 0.1
    task_seed: int = 0
    window: int = 8
    smaller: Size = Size(16, 48)
    larger: Size = Size(24, 128)
    steps: int = 2500
    batch: int = 32
    lr: float = 1e-2
    router_hidden: int = 8
    gate_pool: int = 4096
    gate_steps: int = 1500
    gate_batch: int = 64
    gate_lr: float = 0.02
    lam_step: float = 0.5
    n_test: int = 4000
    grid: int = 11
    threads: int = 2
    late_fraction: float = 0.5
    lams: tuple = field(default=(), compare=False)

    def __post_init__(self):
        if self.grid < 2 or self.seeds < 1 or self.steps < 1 or self.gate_steps < 1:
            raise ValueError("grid must be >= 2 and seeds, steps, gate_steps >= 1")
        if not 0 < self.late_fraction <= 1:
            raise ValueError(f"late_fraction must lie in (0, 1]; got {self.late_fraction}")
        object.__setattr__(self, "lams", tuple(np.round(np.linspace(0, 1, self.grid), 10)))


FULL = Fig5Config("full")
QUICK = Fig5Config("quick", seeds=2, steps=500, gate_steps=400, gate_pool=2048, n_test=2000)
TINY = Fig5Config("tiny", seeds=2, grid=3, smaller=Size(8, 16), larger=Size(8, 48), steps=30,
                  batch=8, gate_steps=30, gate_pool=128, gate_batch=16, n_test=64, threads=1)
CONFIGS = {c.name: c for c in (FULL, QUICK, TINY)}


@dataclass(frozen=True)
class Fig5Result:
    """What :func:`main` computed and where it wrote it."""

    table: pd.DataFrame
    cosine: pd.DataFrame
    summary: dict
    paths: dict


def lam_loss(ce: np.ndarray, lam: float) -> float:
    """The payoff at mixture ``lam``: ``lam CE_1 + (1 - lam) CE_2`` (``ce`` = per-domain CE)."""
    return float(lam * ce[0] + (1.0 - lam) * ce[1])


def _rows(method, size, seed, ces, params, H, lams):
    """Tidy rows for one method; ``ces[i]`` is the per-domain CE of the model used at ``lams[i]``."""
    out = []
    for lam, ce in zip(lams, ces, strict=True):
        loss = lam_loss(ce, lam)
        out.append({"method": method, "size": size, "lam": lam, "seed": seed, "loss": loss,
                    "excess": loss - lam_loss(H, lam), "loss_d1": float(ce[0]),
                    "loss_d2": float(ce[1]), "params": params})
    return out


def _bayes_ce(task, tests, lam) -> np.ndarray:
    """Per-domain CE of the exact Bayes sequence mixture ``lam P_1 + (1 - lam) P_2``."""
    with np.errstate(divide="ignore"):
        w = np.log(np.array([lam, 1.0 - lam]))
    out = []
    for x in tests:
        seq = _data.log_likelihood(task, x).sum(axis=2)  # (K, N)
        with np.errstate(divide="ignore"):
            mix = np.logaddexp(w[0] + seq[0], w[1] + seq[1])
        out.append(-mix.mean() / task.seq_len)
    return np.array(out)


def _cos_rows(seed, size, methods, lams, cos, late_fraction):
    late = cos[int(round((1 - late_fraction) * len(cos))):]
    rows = []
    for m, (method, lam) in enumerate(zip(methods, lams, strict=True)):
        rows.append({"seed": seed, "size": size, "method": method, "lam": float(lam),
                     "cos_mean": float(cos[:, m].mean()), "cos_std": float(cos[:, m].std()),
                     "frac_negative": float((cos[:, m] < 0).mean()),
                     "cos_mean_late": float(late[:, m].mean()),
                     "frac_negative_late": float((late[:, m] < 0).mean()), "steps": len(cos)})
    return rows


def main(config: Fig5Config = FULL, out_dir: str | Path = "paper_repro/neural/results", *,
         seed: int = 0, device: str = "cpu", progress: bool = True, draw: bool = True) -> Fig5Result:
    """Run the Figure 5 experiment (module docstring) and write its tables and figure."""
    torch = require_torch()
    from tqdm.auto import tqdm

    from .model import MLPStack, ModelSize, Router, mlp_params
    from .train import evaluate_router, evaluate_stack, expert_token_logp, train_router, train_stack

    check_device(torch, device)
    cfg = config
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    threads_before = torch.get_num_threads()
    torch.set_num_threads(max(1, cfg.threads))
    t_start = time.perf_counter()

    task = _data.make_task(cfg.vocab, cfg.seq_len, cfg.conflict, cfg.noise,
                           rng=np.random.default_rng(cfg.task_seed))
    H = task.entropy
    test_rng = np.random.default_rng(np.random.SeedSequence([cfg.task_seed, 10**6]))
    tests = [_data.sample(task, k, cfg.n_test, test_rng) for k in range(2)]
    lams = list(cfg.lams)
    small, large = ModelSize(cfg.smaller.d, cfg.smaller.hidden), ModelSize(cfg.larger.d, cfg.larger.hidden)
    p_small = mlp_params(small, cfg.vocab, cfg.window)
    p_large = mlp_params(large, cfg.vocab, cfg.window)

    # member roles in the two stacks
    s_methods = ["expert_1", "expert_2", "fixed"] + ["oracle"] * len(lams)
    s_lams = np.array([1.0, 0.0, 0.5] + lams)
    l_methods = ["fixed"] + ["oracle"] * len(lams)
    l_lams = np.array([0.5] + lams)

    rows, cos_rows, gates, timings = [], [], [], []
    p_router = None
    bayes = {lam: _bayes_ce(task, tests, lam) for lam in lams}
    for r in range(cfg.seeds):
        run_seed = seed + r
        rng = np.random.default_rng(np.random.SeedSequence([run_seed, 7]))
        gen = torch.Generator().manual_seed(int(rng.integers(2**62)))
        t0 = time.perf_counter()
        stacks = {}
        for name, size, members_lams, methods in (("smaller", small, s_lams, s_methods),
                                                  ("larger", large, l_lams, l_methods)):
            stack = MLPStack(len(members_lams), size, cfg.vocab, cfg.window, gen).to(device)
            desc = f"seed {r + 1}/{cfg.seeds}: {name} x{len(members_lams)}"
            with tqdm(total=cfg.steps, desc=desc, disable=not progress, leave=False) as bar:
                log = train_stack(stack, members_lams, task, steps=cfg.steps, batch=cfg.batch,
                                  lr=cfg.lr, rng=rng, device=device, progress=bar)
            stacks[name] = (stack, evaluate_stack(stack, task, tests, device=device))
            cos_rows += _cos_rows(run_seed, name, methods, members_lams, log["cos"], cfg.late_fraction)
        t_mono = time.perf_counter() - t0

        t0 = time.perf_counter()
        s_stack, s_ce = stacks["smaller"]
        pools = [expert_token_logp(s_stack, [0, 1], task, _data.sample(task, k, cfg.gate_pool, rng),
                                   device=device) for k in range(2)]
        test_logp = [expert_token_logp(s_stack, [0, 1], task, x, device=device) for x in tests]
        router = Router(cfg.router_hidden, gen)
        p_router = router.n_params()
        with tqdm(total=cfg.gate_steps, desc=f"seed {r + 1}/{cfg.seeds}: robust gate",
                  disable=not progress, leave=False) as bar:
            pd_log = train_router(router, pools, steps=cfg.gate_steps, batch=cfg.gate_batch,
                                  lr=cfg.gate_lr, lam_step=cfg.lam_step, rng=rng, progress=bar)
        gate_ce = evaluate_router(pd_log["router_bar"], test_logp)
        t_gate = time.perf_counter() - t0
        gates.append({"seed": run_seed, "lam_bar": pd_log["lam_bar"].tolist(),
                      "ce": gate_ce.tolist(), "worst_case": float(gate_ce.max()),
                      "expert_ce": s_ce[:2].tolist()})
        timings.append({"seed": run_seed, "monolithic_s": t_mono, "gate_s": t_gate})

        l_stack, l_ce = stacks["larger"]
        n_mod = 2 * p_small + p_router
        n_grid = len(lams)
        rows += _rows("robust_gate", "modular", run_seed, [gate_ce] * n_grid, n_mod, H, lams)
        rows += _rows("fixed", "smaller", run_seed, [s_ce[2]] * n_grid, p_small, H, lams)
        rows += _rows("fixed", "larger", run_seed, [l_ce[0]] * n_grid, p_large, H, lams)
        rows += _rows("oracle", "smaller", run_seed, s_ce[3:], p_small, H, lams)
        rows += _rows("oracle", "larger", run_seed, l_ce[1:], p_large, H, lams)
        rows += _rows("bayes", "exact", run_seed, [bayes[lam] for lam in lams], 0, H, lams)

    table = pd.DataFrame(rows)
    cosine = pd.DataFrame(cos_rows)
    summary = _summary(cfg, seed, device, table, cosine, gates, timings, H, task,
                       {"smaller": p_small, "larger": p_large, "router": p_router,
                        "modular_total": 2 * p_small + p_router},
                       time.perf_counter() - t_start)
    paths = {"table": out / DATA_FILE, "cosine": out / COSINE_FILE, "summary": out / SUMMARY_FILE}
    table.to_csv(paths["table"], index=False, float_format="%.10g")
    cosine.to_csv(paths["cosine"], index=False, float_format="%.10g")
    paths["summary"].write_text(json.dumps(summary, indent=1))
    if draw:
        from robust_gates.figures.registry import draw_figure

        paths["figure"] = draw_figure("fig5", out, out)[0]
    torch.set_num_threads(threads_before)
    return Fig5Result(table, cosine, summary, {k: str(v) for k, v in paths.items()})


def _curve_means(table: pd.DataFrame) -> pd.DataFrame:
    """Mean and std over runs of every curve: index ``lam``, columns ``(stat, method/size)``."""
    t = table.assign(curve=table["method"] + "/" + table["size"])
    return t.groupby(["lam", "curve"]).loss.agg(["mean", "std"]).unstack("curve")


def observations(table: pd.DataFrame, flat_tol: float = 0.02) -> dict:
    """The paper's four Figure 5 observations, measured (thresholds stated, not tuned).

    1. robust gate flat (range over ``lam`` of its mean loss ``< flat_tol``) and low (below both
       fixed models at every ``lam``); 2. fixed models flat (range ``< flat_tol``) but above the
       gate at every ``lam``; 3. each oracle below the gate at the skewed ``lam`` (``< 0.3`` and
       ``> 0.7``: the list of those where it is) and concave with a bump at 0.5 (oracle at 0.5
       above the chord of its endpoints); 4. gate below the Larger oracle at ``lam = 0.5``.
    """
    m = _curve_means(table)
    mean, std = m["mean"], m["std"].fillna(0.0)
    gate = mean["robust_gate/modular"]
    lams = mean.index.to_numpy()
    skewed = [lam for lam in lams if lam < 0.3 or lam > 0.7]
    mid = lams[np.argmin(np.abs(lams - 0.5))]
    out = {"flat_tol": flat_tol,
           "gate_range": float(gate.max() - gate.min()), "gate_mean": float(gate.mean())}
    out["1_gate_flat_and_low"] = bool(out["gate_range"] < flat_tol and all(
        (gate < mean[f"fixed/{s}"]).all() for s in ("smaller", "larger")))
    fixed_ok = True
    for s in ("smaller", "larger"):
        f = mean[f"fixed/{s}"]
        out[f"fixed_{s}_range"] = float(f.max() - f.min())
        out[f"fixed_{s}_minus_gate_min"] = float((f - gate).min())
        fixed_ok &= bool(out[f"fixed_{s}_range"] < flat_tol and (f > gate).all())
    out["2_fixed_flat_but_higher"] = fixed_ok
    oracle_ok = True
    for s in ("smaller", "larger"):
        o = mean[f"oracle/{s}"]
        below = [float(lam) for lam in skewed if o.loc[lam] < gate.loc[lam]]
        chord = 0.5 * (o.loc[lams[0]] + o.loc[lams[-1]])
        out[f"oracle_{s}_below_gate_at_skewed_lam"] = below
        out[f"oracle_{s}_bump_at_0.5"] = float(o.loc[mid] - chord)
        oracle_ok &= bool(len(below) == len(skewed) and o.loc[mid] > chord)
    out["3_oracles_better_when_skewed_and_concave"] = oracle_ok
    diff = float(mean["oracle/larger"].loc[mid] - gate.loc[mid])
    out["larger_oracle_minus_gate_at_0.5"] = diff
    out["larger_oracle_minus_gate_at_0.5_in_std"] = float(
        diff / max(np.hypot(std["oracle/larger"].loc[mid], std["robust_gate/modular"].loc[mid]), 1e-12))
    out["4_modular_beats_larger_oracle_at_0.5"] = bool(diff > 0)
    return out


def _summary(cfg, seed, device, table, cosine, gates, timings, H, task, params, seconds) -> dict:
    """Parameter counts, timings, gate statistics and the DH cosine/interference relation."""
    t = table.assign(curve=table["method"] + "/" + table["size"])
    bump = {}
    for curve in ("oracle/smaller", "oracle/larger", "bayes/exact"):
        # bump above the chord of the curve's own endpoints: for the oracles the interference,
        # for the exact Bayes mixture the part no single model can avoid (JS_lam / T)
        e = t[t.curve == curve].groupby("lam").excess.mean()
        chord = e.index * e.loc[1.0] + (1 - e.index) * e.loc[0.0]
        bump[curve] = (e - chord).to_dict()
    cos_o = cosine[cosine.method == "oracle"].groupby(["size", "lam"]).cos_mean.mean()
    relation = {}
    for size in ("smaller", "larger"):
        interior = [lam for lam in bump[f"oracle/{size}"] if 0 < lam < 1]
        if len(interior) >= 3:
            c = np.array([cos_o.loc[(size, lam)] for lam in interior])
            b = np.array([bump[f"oracle/{size}"][lam] - bump["bayes/exact"][lam] for lam in interior])
            relation[size] = {"pearson_cos_vs_capacity_interference": float(np.corrcoef(c, b)[0, 1])}
    agg = (cosine.groupby(["size", "method", "lam"])
           [["cos_mean", "frac_negative", "cos_mean_late", "frac_negative_late"]].mean())
    return {
        "config": {**asdict(cfg), "lams": list(cfg.lams)}, "seed": seed, "device": device,
        "task": {"vocab": task.vocab, "seq_len": task.seq_len, "conflict": task.conflict,
                 "noise": task.noise, "entropy_rate": H.tolist()},
        "params": params,
        "larger_exceeds_modular": params["larger"] > params["modular_total"],
        "seconds_total": seconds, "timings": timings, "gates": gates,
        "cosine": {f"{s}/{m}/{lam:g}": v for (s, m, lam), v in agg.to_dict("index").items()},
        "bump_above_chord": {c: {f"{lam:g}": float(v) for lam, v in b.items()} for c, b in bump.items()},
        "cos_vs_interference": relation,
        "observations": observations(table),
        "mean_excess": {f"{m}/{s}": float(g.excess.mean()) for (m, s), g in
                        table.groupby(["method", "size"])},
    }


def with_overrides(config: Fig5Config, **kw) -> Fig5Config:
    """A copy of ``config`` with some fields replaced (``lams`` is recomputed)."""
    return replace(config, **kw)
