"""``robust-gates repro``: rerun one of the paper's neural experiments (needs the ``torch`` extra).

``robust-gates repro fig5 [--quick] [--device cpu|cuda] [--out DIR] [--seed S]`` trains the
Figure 5 models (:mod:`paper_repro.neural.fig5`), writes the tidy CSV, the gradient-cosine CSV,
a JSON summary and ``fig5.png`` into ``DIR``, and prints the table of means.
"""

from __future__ import annotations

import argparse
import importlib.util

from ..errors import UserError

NAME = "repro"
HELP = "rerun a neural experiment of the paper (fig5: gradient conflict; needs the torch extra)"

INSTALL = 'pip install -e ".[torch]"'
EXPERIMENTS = ("fig5",)


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("experiment", choices=EXPERIMENTS, help="which experiment (fig5)")
    size = p.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true",
                      help="fewer steps and seeds, same code path (under 3 minutes on 2 CPU cores)")
    size.add_argument("--tiny", action="store_true", help="a seconds-long smoke configuration")
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu", help="torch device (default cpu)")
    p.add_argument("--out", default="paper_repro/neural/results",
                   help="output folder (default paper_repro/neural/results)")
    p.add_argument("--seed", type=int, default=0, help="first seed; run r uses seed + r (default 0)")
    p.add_argument("--seeds", type=int, default=None, help="number of runs (default: the config's)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: the config's, 2)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bars")


def run(args: argparse.Namespace) -> int:
    if importlib.util.find_spec("torch") is None:
        raise UserError(f"`repro {args.experiment}` needs PyTorch, which is not installed; "
                        f"install the extra with: {INSTALL}")
    from ..neural import fig5

    cfg = fig5.TINY if args.tiny else fig5.QUICK if args.quick else fig5.FULL
    over = {k: v for k, v in (("seeds", args.seeds), ("threads", args.threads)) if v is not None}
    if over.get("seeds", 1) < 1 or over.get("threads", 1) < 1:
        raise UserError("--seeds and --threads must be positive integers")
    cfg = fig5.with_overrides(cfg, **over)
    print(f"fig5 ({cfg.name}): {cfg.seeds} runs, {cfg.steps} steps per model, "
          f"{cfg.grid}-point lam grid, device {args.device}, {cfg.threads} thread(s) -> {args.out}")
    res = fig5.main(cfg, args.out, seed=args.seed, device=args.device, progress=not args.no_progress)
    s = res.summary
    p = s["params"]
    print(f"parameters: Smaller {p['smaller']}, Larger {p['larger']}, router {p['router']}, "
          f"modular total (2 Smaller + router) {p['modular_total']}")
    print(f"entropy rate H = {s['task']['entropy_rate'][0]:.4f} nats/token "
          f"(conflict {s['task']['conflict']:.2f}, noise {s['task']['noise']})")
    tab = (res.table.assign(curve=res.table.method + "/" + res.table["size"])
           .groupby(["curve", "lam"]).loss.agg(["mean", "std"]).unstack("lam"))
    with_std = tab["mean"].map("{:.3f}".format) + " ± " + tab["std"].fillna(0).map("{:.3f}".format)
    print("held-out cross-entropy (nats/token), mean ± std over runs, columns = lam:")
    print(with_std.to_string())
    cos = res.cosine.groupby(["size", "method"])[["cos_mean", "frac_negative"]].mean()
    print("gradient cosine between domains during monolithic training (mean over lam and runs):")
    print(cos.round(4).to_string())
    print(f"wrote {', '.join(res.paths.values())} in {s['seconds_total']:.0f} s")
    return 0
