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

import time
from dataclasses import asdict, dataclass, field, replace
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

from . import data as _data
from .runner import Checkpoint, Experiment, Outputs, Stage, Table, run_experiment
from .sizes import MLPSize

__all__ = ["Fig5Config", "Fig5Result", "SeedRun", "FULL", "QUICK", "TINY", "CONFIGS", "EXPERIMENT",
           "main", "lam_loss", "observations", "with_overrides", "DATA_FILE", "COSINE_FILE",
           "SUMMARY_FILE"]

DATA_FILE = "fig5_gradient_conflict.csv"
COSINE_FILE = "fig5_gradient_cosine.csv"
SUMMARY_FILE = "fig5_summary.json"


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
    smaller: MLPSize = MLPSize(16, 48)
    larger: MLPSize = MLPSize(24, 128)
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
TINY = Fig5Config("tiny", seeds=2, grid=3, smaller=MLPSize(8, 16), larger=MLPSize(8, 48), steps=30,
                  batch=8, gate_steps=30, gate_pool=128, gate_batch=16, n_test=64, threads=1)
CONFIGS = {c.name: c for c in (FULL, QUICK, TINY)}


@dataclass(frozen=True)
class Fig5Result:
    """What :func:`main` computed and where it wrote it."""

    table: pd.DataFrame
    cosine: pd.DataFrame
    summary: dict
    paths: dict
    out_dir: str


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


@dataclass(frozen=True)
class _Stack:
    """One stack of monolithic models of one size: its members' methods and weights on domain 1."""

    name: str
    size: MLPSize
    methods: tuple
    lams: np.ndarray


@dataclass(frozen=True)
class _Setup:
    """The ``task`` stage: the domains, the held-out sets and everything shared by the seeds."""

    task: _data.ConflictTask
    tests: list
    lams: list
    bayes: dict
    params: dict
    stacks: tuple


@dataclass(frozen=True)
class SeedRun:
    """One run (one seed): its tidy rows, gradient-cosine rows, gate statistics and timings."""

    seed: int
    rows: list
    cos_rows: list
    gate: dict
    timing: dict
    router_params: int


def _setup(run, done) -> _Setup:
    cfg = run.config
    from .model import mlp_params

    task = _data.make_task(cfg.vocab, cfg.seq_len, cfg.conflict, cfg.noise,
                           rng=np.random.default_rng(cfg.task_seed))
    test_rng = np.random.default_rng(np.random.SeedSequence([cfg.task_seed, 10**6]))
    tests = [_data.sample(task, k, cfg.n_test, test_rng) for k in range(2)]
    lams = [float(lam) for lam in cfg.lams]
    # member roles in the two stacks: the two experts, the fixed model, one oracle per grid lam
    stacks = (_Stack("smaller", cfg.smaller, ("expert_1", "expert_2", "fixed") + ("oracle",) * len(lams),
                     np.array([1.0, 0.0, 0.5] + lams)),
              _Stack("larger", cfg.larger, ("fixed",) + ("oracle",) * len(lams), np.array([0.5] + lams)))
    params = {s.name: mlp_params(s.size, cfg.vocab, cfg.window) for s in stacks}
    return _Setup(task, tests, lams, {lam: _bayes_ce(task, tests, lam) for lam in lams}, params, stacks)


def _one_seed(r: int, run, done) -> SeedRun:
    """Run ``r``: the monolithic stacks, then the robust gate over the Smaller experts."""
    torch, cfg, device = run.torch, run.config, run.device
    from .model import MLPStack, Router
    from .train import evaluate_router, evaluate_stack, expert_token_logp, train_router, train_stack

    setup = done["task"]
    task, tests, lams, H = setup.task, setup.tests, setup.lams, setup.task.entropy
    run_seed = run.seed + r
    rng = np.random.default_rng(np.random.SeedSequence([run_seed, 7]))
    gen = torch.Generator().manual_seed(int(rng.integers(2**62)))
    t0 = time.perf_counter()
    ce, cos_rows, trained = {}, [], {}
    for spec in setup.stacks:
        stack = MLPStack(len(spec.lams), spec.size, cfg.vocab, cfg.window, gen).to(device)
        with run.bar(cfg.steps, f"seed {r + 1}/{cfg.seeds}: {spec.name} x{len(spec.lams)}") as bar:
            log = train_stack(stack, spec.lams, task, steps=cfg.steps, batch=cfg.batch, lr=cfg.lr,
                              rng=rng, device=device, progress=bar)
        trained[spec.name] = stack
        ce[spec.name] = evaluate_stack(stack, task, tests, device=device)
        cos_rows += _cos_rows(run_seed, spec.name, spec.methods, spec.lams, log["cos"], cfg.late_fraction)
    t_mono = time.perf_counter() - t0

    t0 = time.perf_counter()
    experts = trained["smaller"]
    pools = [expert_token_logp(experts, [0, 1], task, _data.sample(task, k, cfg.gate_pool, rng),
                               device=device) for k in range(2)]
    test_logp = [expert_token_logp(experts, [0, 1], task, x, device=device) for x in tests]
    router = Router(cfg.router_hidden, gen)
    with run.bar(cfg.gate_steps, f"seed {r + 1}/{cfg.seeds}: robust gate") as bar:
        pd_log = train_router(router, pools, steps=cfg.gate_steps, batch=cfg.gate_batch,
                              lr=cfg.gate_lr, lam_step=cfg.lam_step, rng=rng, progress=bar)
    gate_ce = evaluate_router(pd_log["router_bar"], test_logp)
    t_gate = time.perf_counter() - t0

    s_ce, l_ce = ce["smaller"], ce["larger"]
    p_small, p_large, p_router = setup.params["smaller"], setup.params["larger"], router.n_params()
    n_grid = len(lams)
    rows = (_rows("robust_gate", "modular", run_seed, [gate_ce] * n_grid, 2 * p_small + p_router, H, lams)
            + _rows("fixed", "smaller", run_seed, [s_ce[2]] * n_grid, p_small, H, lams)
            + _rows("fixed", "larger", run_seed, [l_ce[0]] * n_grid, p_large, H, lams)
            + _rows("oracle", "smaller", run_seed, s_ce[3:], p_small, H, lams)
            + _rows("oracle", "larger", run_seed, l_ce[1:], p_large, H, lams)
            + _rows("bayes", "exact", run_seed, [setup.bayes[lam] for lam in lams], 0, H, lams))
    gate = {"seed": run_seed, "lam_bar": pd_log["lam_bar"].tolist(), "ce": gate_ce.tolist(),
            "worst_case": float(gate_ce.max()), "expert_ce": s_ce[:2].tolist()}
    timing = {"seed": run_seed, "monolithic_s": t_mono, "gate_s": t_gate}
    return SeedRun(run_seed, rows, cos_rows, gate, timing, p_router)


def _seed_checkpoint(r: int) -> Checkpoint:
    """A run's results are restored as they are (they depend on the configuration, the seed, the
    device and torch; not on ``name``, ``seeds`` or ``threads``)."""
    def key(run, done):
        cfg = {k: v for k, v in asdict(run.config).items() if k not in ("name", "seeds", "threads")}
        return {"config": cfg, "seed": run.seed + r, "device": run.device, "torch": run.torch.__version__}

    def save(result: SeedRun) -> dict:
        return {"rows": result.rows, "cos_rows": result.cos_rows, "gate": result.gate,
                "timing": result.timing, "router_params": result.router_params}

    def load(blob, run, done) -> SeedRun:
        return SeedRun(run.seed + r, blob["rows"], blob["cos_rows"], blob["gate"], blob["timing"],
                       int(blob["router_params"]))

    return Checkpoint(key, save, load)


def _stages(run) -> list[Stage]:
    return [Stage("task", _setup)] + [
        Stage(f"seed{run.seed + r}", partial(_one_seed, r), _seed_checkpoint(r))
        for r in range(run.config.seeds)]


def _finish(run, done) -> Outputs:
    cfg, setup = run.config, done["task"]
    seeds = [done[f"seed{run.seed + r}"] for r in range(cfg.seeds)]
    table = pd.DataFrame([row for s in seeds for row in s.rows])
    cosine = pd.DataFrame([row for s in seeds for row in s.cos_rows])
    p_router = seeds[-1].router_params
    params = {**setup.params, "router": p_router, "modular_total": 2 * setup.params["smaller"] + p_router}
    summary = _summary(cfg, run.seed, run.device, table, cosine, [s.gate for s in seeds],
                       [s.timing for s in seeds], setup.task, params, run.elapsed())
    summary["restored_checkpoints"] = dict(run.restored)
    return Outputs([Table("table", DATA_FILE, table, "%.10g"), Table("cosine", COSINE_FILE, cosine, "%.10g")],
                   summary)


EXPERIMENT = Experiment("fig5", figure="fig5", summary_file=SUMMARY_FILE, configs=CONFIGS,
                        stages=_stages, finish=_finish,
                        seeds=lambda cfg, seed: list(range(seed, seed + cfg.seeds)))


def main(config: Fig5Config = FULL, out_dir: str | Path | None = None, *, seed: int = 0,
         device: str = "cpu", progress: bool = True, draw: bool = True, resume: bool = True,
         update_shipped: bool = False, force: bool = False) -> Fig5Result:
    """Run the Figure 5 experiment (module docstring) and write its tables and figure.

    ``out_dir`` defaults to a fresh folder under ``./results``; the shipped tables are written
    only with ``update_shipped`` (see :func:`.runner.output_dir`). With ``resume``, runs whose
    checkpoint is in ``out_dir/checkpoints`` are restored instead of trained again.
    """
    res = run_experiment(EXPERIMENT, config, out_dir, seed=seed, device=device, progress=progress,
                         draw=draw, resume=resume, update_shipped=update_shipped, force=force)
    return Fig5Result(res.tables["table"], res.tables["cosine"], res.summary, res.paths, res.out_dir)


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


def _summary(cfg, seed, device, table, cosine, gates, timings, task, params, seconds) -> dict:
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
                 "noise": task.noise, "entropy_rate": task.entropy.tolist()},
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
