"""``robust-gates repro``: rerun one of the paper's neural experiments (needs the ``torch`` extra).

``robust-gates repro fig5 [--quick | --tiny] [--device cpu|cuda] [--out DIR] [--seed S]`` trains
the Figure 5 models (:mod:`robust_gates.paper_repro.neural.fig5`), writes the tidy CSV, the
gradient-cosine CSV, a JSON summary and ``fig5.png`` into ``DIR``, and prints the table of means.

``robust-gates repro fig5-study [--quick | --tiny] [--out DIR] [--max-cells N] [--ship]`` runs
Figure 5 as a study (:mod:`robust_gates.paper_repro.neural.fig5_study`): the conflict sweep over
task and initialization seeds with matched and robust monolithic baselines and 95% bootstrap
intervals; each cell is checkpointed, so a stopped run continues with the same ``--out``, and a
partial run's tables say ``cells_done`` and ``complete``.

``robust-gates repro real-study [--quick | --tiny] [--out DIR] [--max-cells N] [--ship]`` runs real
text as a study (:mod:`robust_gates.paper_repro.neural.real_study`): size sweep, matched and
robust monolithic baselines, seeds, document-level bootstrap intervals, the regret payoff and a
controlled byte-bijection conflict; checkpointed per cell like ``fig5-study``.

``robust-gates repro real [--quick | --tiny] [--out DIR]`` runs modular versus monolithic on real
text (Python code, English prose and C headers of the running interpreter;
:mod:`robust_gates.paper_repro.neural.real`), writes its tables, summary and ``real_text.png``
into ``DIR`` and prints the table of bits per byte on the test split.

Without ``--out`` a run writes into a fresh folder ``results/repro-<experiment>-<config>-<time>``
under the current directory; rerunning with ``--out`` set to that folder resumes from its
checkpoints. The shipped tables in ``paper_repro/neural/results`` change only with
``--update-shipped``, which also refuses anything but the full configuration at seed 0 unless
``--force`` (:mod:`robust_gates.paper_repro.neural.runner`).
"""

from __future__ import annotations

import argparse
import importlib.util

from ..errors import UserError

NAME = "repro"
HELP = ("rerun a neural experiment of the paper (fig5: gradient conflict; fig5-study: its conflict "
        "sweep with seeds and baselines; real: modular vs monolithic on real text; needs the torch extra)")

INSTALL = 'pip install -e ".[torch]"'
EXPERIMENTS = ("fig5", "real", "fig5-study", "real-study")


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("experiment", choices=EXPERIMENTS,
                   help="which experiment (fig5: gradient conflict; fig5-study: the conflict sweep "
                        "over task and initialization seeds; real: real text)")
    size = p.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true",
                      help="fewer steps (and seeds), same code path (fig5 under 3 minutes, real under "
                           "5 minutes on 2 CPU cores)")
    size.add_argument("--tiny", action="store_true", help="a seconds-long smoke configuration")
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu", help="torch device (default cpu)")
    p.add_argument("--out", default=None,
                   help="output folder; an existing one is reused and its checkpoints resumed "
                        "(default: a fresh folder results/repro-<experiment>-<config>-<time>)")
    p.add_argument("--update-shipped", action="store_true",
                   help="write into the shipped results the report draws (paper_repro/neural/results); "
                        "only the full configuration at seed 0, unless --force")
    p.add_argument("--force", action="store_true",
                   help="with --update-shipped: accept a configuration other than the full one")
    p.add_argument("--seed", type=int, default=0, help="first seed; run r uses seed + r (default 0)")
    p.add_argument("--seeds", type=int, default=None, help="fig5: number of runs (default: the config's)")
    p.add_argument("--steps", type=int, default=None,
                   help="real: training steps of every model (default: the config's)")
    p.add_argument("--cache", default=None,
                   help="real: folder caching the encoded corpus (default $ROBUST_GATES_CACHE or "
                        "~/.cache/robust-gates)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: the config's, 2)")
    p.add_argument("--no-resume", action="store_true",
                   help="compute every stage again even when OUT/checkpoints holds it")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    p.add_argument("--max-cells", type=int, default=None,
                   help="fig5-study, real-study: stop after this many cells (the tables say cells_done and "
                        "complete); rerun with the same --out and a larger value to continue")
    p.add_argument("--ship", action="store_true",
                   help="fig5-study, real-study: copy the run's tables, summary and figure into the shipped "
                        "results "
                        "(full configuration at seed 0 only, unless --force)")


def run(args: argparse.Namespace) -> int:
    if importlib.util.find_spec("torch") is None:
        raise UserError(f"`repro {args.experiment}` needs PyTorch, which is not installed; "
                        f"install the extra with: {INSTALL}")
    if args.force and not (args.update_shipped or args.ship):
        raise UserError("--force applies only with --update-shipped (or --ship for fig5-study)")
    if args.seed < 0:
        raise UserError(f"--seed must be a non-negative integer; got {args.seed}")
    if args.experiment == "real":
        return _run_real(args)
    if args.experiment == "fig5-study":
        return _run_study(args)
    if args.experiment == "real-study":
        return _run_real_study(args)
    if args.max_cells is not None or args.ship:
        raise UserError("--max-cells and --ship apply to `repro fig5-study` and `repro real-study` only")
    if args.steps is not None or args.cache is not None:
        raise UserError("--steps and --cache apply to `repro real` only")
    from ..neural import fig5

    cfg = _config(fig5, args, "seeds")
    out = _output(fig5.EXPERIMENT, cfg, args)
    print(f"fig5 ({cfg.name}): {cfg.seeds} runs, {cfg.steps} steps per model, "
          f"{cfg.grid}-point lam grid, device {args.device}, {cfg.threads} thread(s) -> {out}")
    res = fig5.main(cfg, out, seed=args.seed, device=args.device, progress=not args.no_progress,
                    resume=not args.no_resume, update_shipped=args.update_shipped, force=args.force)
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
    _print_restored(s)
    print(f"wrote {', '.join(res.paths.values())} in {s['seconds_total']:.0f} s")
    return 0


def _config(experiment, args: argparse.Namespace, count: str):
    """The experiment's ``TINY``/``QUICK``/``FULL`` config with ``--<count>`` and ``--threads``
    applied (both must be positive)."""
    cfg = experiment.TINY if args.tiny else experiment.QUICK if args.quick else experiment.FULL
    over = {k: v for k in (count, "threads") if (v := getattr(args, k)) is not None}
    if over.get(count, 1) < 1 or over.get("threads", 1) < 1:
        raise UserError(f"--{count} and --threads must be positive integers")
    return experiment.with_overrides(cfg, **over)


def _output(experiment, cfg, args: argparse.Namespace):
    """The output folder, chosen (and checked) before the run so that it can be printed first."""
    from ..neural import runner

    info = runner.provenance(experiment, cfg, args.seed)
    return runner.output_dir(experiment.name, cfg.name, args.out, full=info["full"], label=info["label"],
                             update_shipped=args.update_shipped, force=args.force)


def _print_restored(summary: dict) -> None:
    if summary["restored_checkpoints"]:
        print(f"restored from checkpoints: {', '.join(summary['restored_checkpoints'].values())} "
              "(--no-resume computes them again)")


def _run_real(args: argparse.Namespace) -> int:
    from ..neural import real

    if args.seeds is not None:
        raise UserError("--seeds applies to `repro fig5` only (`repro real` is one run; use --seed)")
    cfg = _config(real, args, "steps")
    out = _output(real.EXPERIMENT, cfg, args)
    print(f"real ({cfg.name}): byte-level transformers, context {cfg.ctx}, {cfg.steps} steps per "
          f"model, {cfg.gate_steps} primal-dual rounds per gate, device {args.device}, "
          f"{cfg.threads} thread(s) -> {out}")
    res = real.main(cfg, out, seed=args.seed, device=args.device, progress=not args.no_progress,
                    cache_dir=args.cache, resume=not args.no_resume, update_shipped=args.update_shipped,
                    force=args.force)
    s = res.summary
    print(f"Python {s['python_version']}; bytes per domain (train/valid/test): " + "; ".join(
        f"{d} {b['train']}/{b['valid']}/{b['test']}" for d, b in s["corpus"]["bytes"].items()))
    p = s["params"]
    domains = list(s["corpus"]["bytes"])
    print(f"parameters: Smaller {p['smaller']}, Larger {p['larger']}, router {p['router']}, "
          f"modular total ({len(domains)} experts + router) {p['modular_total']}")
    t = res.table[res.table.split == "test"].drop(columns="split").set_index("method")
    print("bits per byte on the test split (worst_box: Lambda = "
          f"box {list(cfg.box_lo)}..{list(cfg.box_hi)}):")
    print(t.to_string(float_format="{:.3f}".format))
    for name, g in s["gates"].items():
        print(f"{name}: adversary's lam_bar = {[round(v, 3) for v in g['lam_bar']]} "
              f"({', '.join(domains)}); worst case on test {g['worst_test']:.3f} bits/byte "
              f"at lam* = {[round(v, 3) for v in g['lam_star_test']]}")
    _print_restored(s)
    print(f"wrote {', '.join(res.paths.values())} in {s['seconds_total']:.0f} s")
    return 0


def _study_config(args: argparse.Namespace, study, name: str, not_applicable: tuple[str, ...]):
    """The configuration of a cell-based study (``fig5-study``, ``real-study``) from the options:
    ``--tiny``/``--quick``/full with ``--threads`` and ``--max-cells``; options the study does not
    take (``not_applicable``, e.g. ``steps``), ``--update-shipped`` and bad counts are refused."""
    if any(getattr(args, opt) is not None for opt in not_applicable):
        flags = [f"--{opt.replace('_', '-')}" for opt in not_applicable]
        listed = " and ".join(flags) if len(flags) < 3 else ", ".join(flags[:-1]) + " and " + flags[-1]
        raise UserError(f"{listed} do not apply to `repro {name}`")
    if args.update_shipped:
        raise UserError(f"`repro {name}` ships with --ship (after the run), not --update-shipped")
    if args.max_cells is not None and args.max_cells < 0:
        raise UserError(f"--max-cells must be a non-negative integer; got {args.max_cells}")
    cfg = study.TINY if args.tiny else study.QUICK if args.quick else study.FULL
    over = {k: v for k in ("threads", "max_cells") if (v := getattr(args, k)) is not None}
    if over.get("threads", 1) < 1:
        raise UserError("--threads must be a positive integer")
    return study.with_overrides(cfg, **over)


def _run_study(args: argparse.Namespace) -> int:
    """``repro fig5-study``: the Figure 5 conflict sweep (:mod:`..neural.fig5_study`)."""
    from ..neural import fig5_study as study

    cfg = _study_config(args, study, "fig5-study", ("steps", "cache", "seeds"))
    out = _output(study.EXPERIMENT, cfg, args)
    cells = study.cells(cfg, args.seed)
    print(f"fig5-study ({cfg.name}): {len(cells)} cells (c in {list(cfg.conflicts)}, {cfg.task_seeds} task "
          f"x {cfg.init_seeds} init seeds; crossing T in {list(cfg.cross_seq_lens)}), {cfg.steps} steps, "
          f"device {args.device}, {cfg.threads} thread(s)"
          + (f", at most {cfg.max_cells} cells" if cfg.max_cells is not None else "") + f" -> {out}")
    res = study.main(cfg, out, seed=args.seed, device=args.device, progress=not args.no_progress,
                     resume=not args.no_resume)
    s = res.summary
    print(f"learning rates (chosen on validation): {s['tune']['lr']}; parameters {s['params']}")
    status = "complete" if s["complete"] else "PARTIAL"
    print(f"cells done: {s['cells_done']} / {s['cells_total']} ({status}); "
          f"mean {s['seconds_per_cell_mean'] or 0:.0f} s per computed cell")
    ci = res.intervals
    if len(ci):
        g = ci[(ci.quantity == "gap") & (ci.lam == 0.5) & (ci.method.isin(["fixed", "robust_mono"]))]
        g = g[g["T"] == cfg.seq_len]
        print("monolithic minus robust gate at lam = 0.5 (nats/token; mean [95% interval over task seeds]):")
        for _, r in g.sort_values(["method", "size", "c"]).iterrows():
            print(f"  c = {r.c:<5g} {r.method}/{r['size']:<8} {r['mean']:+.4f} [{r.lo:+.4f}, {r.hi:+.4f}] "
                  f"(task seeds {int(r.n_tasks)})")
    _print_restored(s)
    print(f"wrote {', '.join(res.paths.values())} in {s['seconds_total']:.0f} s")
    if args.ship:
        shipped = study.ship(out, force=args.force)
        print(f"shipped: {', '.join(str(p) for p in shipped)}")
    return 0


def _run_real_study(args: argparse.Namespace) -> int:
    """``repro real-study``: real text as a study (:mod:`..neural.real_study`)."""
    from ..neural import real_study as study

    cfg = _study_config(args, study, "real-study", ("steps", "seeds"))
    out = _output(study.EXPERIMENT, cfg, args)
    n = len(study.cells(cfg, args.seed))
    print(f"real-study ({cfg.name}): {n} cells ({cfg.seeds} seeds, sizes "
          f"{[f'd{z.d}L{z.n_layer}' for z in cfg.sizes]}, conflicts {list(cfg.conflicts)}), "
          f"{cfg.steps} steps, "
          f"device {args.device}, {cfg.threads} thread(s)"
          + (f", at most {cfg.max_cells} cells" if cfg.max_cells is not None else "") + f" -> {out}")
    res = study.main(cfg, out, seed=args.seed, device=args.device, progress=not args.no_progress,
                     resume=not args.no_resume, cache_dir=args.cache)
    s = res.summary
    status = "complete" if s["complete"] else "PARTIAL"
    print(f"cells done: {s['cells_done']} / {s['cells_total']} ({status})")
    for key, v in s["headline"].items():
        if key.startswith(("bpb_worst", "regret_worst", "gap_same_size", "conflict_gap")):
            print(f"  {key}: {v['mean']:+.4f} [{v['lo']:+.4f}, {v['hi']:+.4f}] ({v['n_seeds']} seeds)")
    _print_restored(s)
    print(f"wrote {', '.join(res.paths.values())} in {s['seconds_total']:.0f} s")
    if args.ship:
        shipped = study.ship(out, force=args.force)
        print(f"shipped: {', '.join(str(p) for p in shipped)}")
    return 0
