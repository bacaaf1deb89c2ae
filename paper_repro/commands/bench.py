"""``robust-gates bench``: time the fast solver against the reference, then alone at scale;
capacity against dit and the check sweep serial against dask (:mod:`robust_gates.simulations.bench_scale`)."""

from __future__ import annotations

import argparse

from ..errors import UserError

NAME = "bench"
HELP = "benchmark the fast exact solver against the reference solver and at large n"


def _sizes(text: str) -> list[int]:
    try:
        return [int(float(s)) for s in text.split(",") if s.strip()]
    except ValueError:
        raise UserError(f"--sizes takes comma-separated integers such as 1e5,1e6; got {text!r}") from None


def _pairs(text: str) -> list[tuple[int, int]]:
    out = []
    for item in text.split(","):
        try:
            K, n = item.lower().split("x")
            out.append((int(K), int(float(n))))
        except ValueError:
            raise UserError(f"KxN lists take items such as 8x1000,8x1e4; got {item!r}") from None
    return out


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--quick", action="store_true",
                   help="small run (seconds): K=8, n=1e3 vs reference, n=2e4 alone, small passes, "
                        "many-experts (K=32, n=1e3) and capacity cases")
    p.add_argument("--compare", default="8x1000,8x10000",
                   help="KxN instances for fast vs reference (default 8x1000,8x10000)")
    p.add_argument("--sizes", default="1e5,1e6", help="n for the fast solver alone (default 1e5,1e6)")
    p.add_argument("--large", action="store_true",
                   help="also run n = 1e7 (about 1.5 minutes and 8 GiB of memory)")
    p.add_argument("--K", type=int, default=16, help="domains in the scaling part (default 16)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--tol", type=float, default=1e-9, help="fast solver tolerance vs reference")
    p.add_argument("--scale-tol", type=float, default=1e-8, help="tolerance in the scaling part")
    p.add_argument("--passes", default="16x1e6,256x1e4",
                   help="KxN instances for the fast solver in streaming passes, each the median of "
                        "5 rounds on fresh problems (default 16x1e6,256x1e4)")
    p.add_argument("--large-k", default="64x1e4,256x1e4,1024x1e4",
                   help="KxN instances for many experts, each with every kind of Lambda (default "
                        "64x1e4,256x1e4,1024x1e4; 'none' skips the part)")
    p.add_argument("--capacity", default="64x1e4",
                   help="KxN channels for capacity vs plain Blahut-Arimoto (default 64x1e4)")
    p.add_argument("--dit", default="64x1e4,16x1e3",
                   help="KxN channels for capacity vs dit's Blahut-Arimoto at equal accuracy (default "
                        "64x1e4,16x1e3; 'none' skips; a row says so when dit is not installed)")
    p.add_argument("--sweep", type=int, default=None,
                   help="instances per statement for the check sweep, serial vs --scheduler local, "
                        "every statement (default 20; 0 skips; with --quick only if given: P1, T2 "
                        "and SC on at most 3 instances, since starting the cluster takes seconds)")
    p.add_argument("--workers", type=int, default=2, help="dask workers of the sweep part (default 2)")
    p.add_argument("--json", action="store_true",
                   help="print every row as JSON on stdout (the tables go to stderr)")
    p.add_argument("--out", default=None, help="write the tidy results as CSV here")


def run(args: argparse.Namespace) -> int:
    import contextlib
    import sys

    import pandas as pd

    from robust_gates.simulations import bench_scale
    from robust_gates.simulations.bench_solvers import LARGE_SIZE, main

    compare = [(8, 1_000)] if args.quick else _pairs(args.compare)
    sizes = [20_000] if args.quick else _sizes(args.sizes)
    if args.large:
        sizes.append(LARGE_SIZE)
    if args.K < 2:
        raise UserError(f"--K must be at least 2; got {args.K}")
    passes = [(16, 20_000), (48, 2_000)] if args.quick else _pairs(args.passes)
    channels = [(16, 1_000)] if args.quick else _pairs(args.capacity)
    if args.quick:
        many = [(32, 1_000)]
    else:
        many = [] if args.large_k.strip().lower() == "none" else _pairs(args.large_k)
    if args.sweep is None:
        args.sweep = 0 if args.quick else 20
    if args.sweep < 0 or args.workers < 1:
        raise UserError(f"--sweep must be >= 0 and --workers >= 1; got {args.sweep}, {args.workers}")
    dit = [] if args.dit.strip().lower() == "none" else _pairs(args.dit)
    sweep_ids, sweep = (["P1", "T2", "SC"], min(args.sweep, 3)) if args.quick else (None, args.sweep)
    with contextlib.redirect_stdout(sys.stderr if args.json else sys.stdout):
        df = main(compare, sizes, K_scale=args.K, seed=args.seed, tol=args.tol, scale_tol=args.scale_tol,
                  out=None, progress=not args.quick, pass_sizes=passes, capacity_sizes=channels,
                  large_k_sizes=many)
        scale = bench_scale.main([(16, 1_000)] if args.quick and dit else dit, sweep_ids, sweep,
                                 seed=args.seed, workers=args.workers)
    df = pd.concat([df, scale], ignore_index=True)
    if args.out:
        df.to_csv(args.out, index=False)
    if args.json:
        print(df.to_json(orient="records", double_precision=15))
    return 0
