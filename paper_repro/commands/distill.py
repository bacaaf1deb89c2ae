"""``robust-gates distill --out DIR``: the sequence-distillation experiment (SPEC SD, algorithms 5, 6).

On ``X = V^T`` (V = 4, T = 5 with ``--quick``; V = 6, T = 6 otherwise) it solves the
sequence-level robust gate exactly, distills it into a causal router over the frozen experts
(structural) and into n-gram students (monolithic), then upgrades one expert. Writes
``distillation_methods.csv`` (method, parameters, cost per token, KL to ``P_g*``, worst case),
``distillation_training.csv``, ``distillation_upgrade.csv``, ``distillation_instance.csv``, the
Figure 4 data ``fig4_distillation.csv`` and ``fig4.png``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

NAME = "distill"
HELP = "structural vs monolithic distillation of the robust gate on sequences (figure 4)"


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", required=True, help="output folder for the CSV tables and the figure")
    p.add_argument("--quick", action="store_true", help="the small configuration (seconds)")
    p.add_argument("--seed", type=int, default=0, help="seed of the chains and samples (default 0)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bars")


def run(args: argparse.Namespace) -> int:
    from robust_gates.figures.registry import draw_figure, store_table
    from robust_gates.simulations.distillation import default_study, figure4_table

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    result = default_study(quick=args.quick, seed=args.seed, progress=not args.no_progress)
    paths = []
    for name, table in (("methods", result.methods), ("training", result.training),
                        ("upgrade", result.upgrade), ("instance", result.instance)):
        paths.append(out / f"distillation_{name}.csv")
        table.to_csv(paths[-1], index=False)
    # stored with its configuration, so `robust-gates report`-style redraws reuse this table
    paths.append(store_table("fig4", figure4_table(result), out, quick=args.quick, seed=args.seed))
    paths += draw_figure("fig4", out, out)

    inst = result.instance.iloc[0]
    print(f"X = V^T = {inst.cfg_V}^{inst.cfg_T} = {inst.n} sequences, K = {len(result.instance)}, "
          f"V(Lambda) = {inst.value:.6f} nats (certificate gap {inst.gap:.1e}, {inst.solver} solver)")
    cols = ["method", "params", "total_params", "macs_per_token", "reads_per_token",
            "kl_to_gstar", "worst_case"]
    print(result.methods[cols].to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    up = result.upgrade
    k0 = int(inst.cfg_upgrade_domain)
    row = result.instance.iloc[k0]
    print(f"expert {k0} upgraded: KL(D_k || P_k) {row.expert_error:.4f} -> "
          f"{row.expert_error_upgraded:.4f}; V(Lambda) {inst.value:.4f} -> {inst.value_upgraded:.4f}")
    print(up[["method", "experts", "retrained", "kl_to_gstar", "worst_case"]]
          .to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    for p in paths:
        print(f"wrote {p}")
    return 0
