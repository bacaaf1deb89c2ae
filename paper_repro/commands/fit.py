"""``robust-gates fit FILE [--gate constant|softmax] [--out DIR] [--seed S] [--json]``: robust mixture
weights (and a contextual gate) for your own experts, from their log-likelihoods of labelled samples.

``FILE`` is an ``.npz`` or a table with ``loglik`` (N x J), ``domain`` (N labels) and optional
``features``, ``split``, ``tokens`` and Lambda keys (:mod:`robust_gates.simulations.fit_data`);
``--example`` writes the shipped example input (``example.npz``) into the output folder and fits it.
The output folder (default: a fresh ``results/fit-<name>-<time>``; an existing non-empty folder is
refused, never overwritten) receives ``weights.json`` (the certified constant gate), ``gate.npz``
(the contextual gate, with ``--gate softmax``), ``fit_table.csv`` (the tidy table),
``summary.json`` and ``fit.png``. ``--json`` prints the summary as JSON instead of the text report.

``robust-gates fit --real-text [--quick | --tiny] [--out DIR] [--device cpu|cuda]`` is the
demonstration on real experts (needs the ``torch`` extra): it runs the real-text experiment
(training its three byte-level experts and its routers, or resuming them from ``DIR``'s
checkpoints, also those of a ``repro real`` run), scores its held-out windows with
:func:`robust_gates.paper_repro.neural.loglik_matrix`, fits both gates and compares them with the
experiment's trained router (:mod:`robust_gates.paper_repro.neural.real_fit`). Default output: a
fresh ``results/repro-real-fit-<config>-<time>``. ``--update-shipped`` then copies
``real_fit.csv``, ``real_fit.json`` and ``real_fit.png`` into the shipped results (only the full
configuration at seed 0, unless ``--force``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from ..errors import UserError
from ._output import fresh_output_dir

NAME = "fit"
HELP = ("fit certified robust mixture weights (and a contextual gate) to your experts' "
        "log-likelihoods of labelled samples")


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", nargs="?", default=None,
                   help="input .npz or table (.csv/.tsv/.parquet/.feather/.json) with loglik and domain")
    p.add_argument("--example", action="store_true",
                   help="write the shipped example input into the output folder and fit it")
    p.add_argument("--gate", choices=["constant", "softmax"], default=None,
                   help="constant: mixture weights only; softmax: also the contextual gate "
                        "(default constant)")
    p.add_argument("--out", default=None,
                   help="output folder, new or empty (default: a fresh folder results/fit-<name>-<time>)")
    p.add_argument("--seed", type=int, default=0,
                   help="seed of the split (when the input has none), the gate training and the bootstrap")
    p.add_argument("--json", action="store_true", help="print the JSON summary instead of the text report")
    p.add_argument("--lambda", dest="lambda_file", default=None,
                   help="a .json/.npz with Lambda keys (box_lo/box_hi, A/b, vertices, tv_center/tv_radius)")
    p.add_argument("--per-token", action="store_true",
                   help="fit and report per-token losses (needs 'tokens' in the input)")
    p.add_argument("--context-features", action="store_true",
                   help="declare that the given features depend only on a context the log-likelihoods "
                        "are conditioned on (then every contextual gate is normalized)")
    p.add_argument("--bootstrap", type=int, default=None,
                   help="bootstrap replicates (default 200; 1000 with --real-text)")
    p.add_argument("--rounds", type=int, default=1500, help="primal-dual rounds of the contextual gate")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    real = p.add_argument_group("the real-text demonstration (torch extra)")
    real.add_argument("--real-text", action="store_true",
                      help="fit both gates to the real-text experiment's experts and compare them with "
                           "its trained router (trains the experiment, or resumes it from --out)")
    size = real.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="with --real-text: the quick configuration")
    size.add_argument("--tiny", action="store_true", help="with --real-text: a seconds-long smoke run")
    real.add_argument("--device", choices=["cpu", "cuda"], default="cpu", help="torch device (default cpu)")
    real.add_argument("--cache", default=None, help="folder caching the encoded corpus")
    real.add_argument("--update-shipped", action="store_true",
                      help="with --real-text: copy real_fit.csv/.json/.png into the shipped results")
    real.add_argument("--force", action="store_true",
                      help="with --update-shipped: accept a configuration other than the full one")


def _output(args: argparse.Namespace, name: str) -> Path:
    if args.out is None:
        out = fresh_output_dir(f"fit-{name}")
    else:
        out = Path(args.out)
        if out.exists() and not out.is_dir():
            raise UserError(f"--out {out} is a file; give a new or empty folder")
        if out.is_dir() and any(out.iterdir()):
            raise UserError(f"--out {out} is not empty; fit never overwrites results (give a new folder)")
    return out


def run(args: argparse.Namespace) -> int:
    from robust_gates.figures.registry import draw_figure, store_table
    from robust_gates.simulations.fit import fit
    from robust_gates.simulations.fit_data import example_data, load_fit_data, save_fit_data
    from robust_gates.simulations.primal_dual import PrimalDualConfig

    if args.real_text:
        return _run_real_text(args)
    real_only = [f"--{n.replace('_', '-')}" for n in ("quick", "tiny", "update_shipped", "force", "cache")
                 if getattr(args, n)] + (["--device"] if args.device != "cpu" else [])
    if real_only:
        raise UserError(f"{real_only[0]} applies to --real-text only")
    args.gate = args.gate or "constant"
    args.bootstrap = 200 if args.bootstrap is None else args.bootstrap
    if (args.file is None) == (not args.example):
        raise UserError("give an input FILE or --example (not both)")
    if args.seed < 0:
        raise UserError(f"--seed must be a non-negative integer; got {args.seed}")
    if args.bootstrap < 0:
        raise UserError(f"--bootstrap must be a non-negative integer; got {args.bootstrap}")
    if args.rounds < 1:
        raise UserError(f"--rounds must be a positive integer; got {args.rounds}")
    if args.context_features and args.gate != "softmax":
        raise UserError("--context-features applies to --gate softmax only")
    if not args.example:
        src = Path(args.file)
        data = load_fit_data(src, seed=args.seed, lambda_file=args.lambda_file)  # check before writing
        out = _output(args, src.stem)
        out.mkdir(parents=True, exist_ok=True)
    else:
        out = _output(args, "example")
        out.mkdir(parents=True, exist_ok=True)
        src = save_fit_data(example_data(args.seed), out / "example.npz")
        data = load_fit_data(src, seed=args.seed, lambda_file=args.lambda_file)
    cfg = PrimalDualConfig(rounds=args.rounds, batch=32, lr=0.05, records=20)
    res = fit(data, gate=args.gate, seed=args.seed, bootstrap=args.bootstrap, per_token=args.per_token,
              context_features=args.context_features, config=cfg, progress=not args.no_progress)
    paths = [out / "weights.json"]
    paths[0].write_text(json.dumps({"experts": list(data.expert_names), "domains": list(data.domain_names),
                                    **res.constant.to_dict()}, indent=2))
    if res.gate is not None:
        paths.append(out / "gate.npz")
        np.savez(paths[-1], W=res.gate.W, mean=res.gate.mean, std=res.gate.std, lam=res.gate.lam,
                 features=np.array(res.gate.features), mass_bound=res.gate.mass_bound,
                 experts=np.array(data.expert_names))
    paths.append(store_table("fit", res.table, out, float_format="%.10g"))
    paths.append(out / "summary.json")
    summary_json = _dumps(res.summary)
    paths[-1].write_text(summary_json)
    paths += draw_figure("fit", out, out)
    if args.json:
        print(summary_json)
        return 0
    _report(res, data)
    for p in paths:
        print(f"wrote {p}")
    return 0


def _run_real_text(args: argparse.Namespace) -> int:
    import importlib.util

    if args.file is not None or args.example:
        raise UserError("--real-text takes no input FILE or --example (it makes its own matrix)")
    for flag, bad in (("--gate", args.gate is not None), ("--lambda", args.lambda_file is not None),
                      ("--per-token", args.per_token), ("--context-features", args.context_features),
                      ("--json", args.json)):
        if bad:
            raise UserError(f"{flag} does not apply to --real-text (it fits both gates, per byte, on the "
                            "simplex and the experiment's box)")
    args.bootstrap = 1000 if args.bootstrap is None else args.bootstrap
    if args.seed < 0 or args.bootstrap < 1 or args.rounds < 1:
        raise UserError("--seed must be >= 0, --bootstrap and --rounds >= 1")
    if args.force and not args.update_shipped:
        raise UserError("--force applies only with --update-shipped")
    if importlib.util.find_spec("torch") is None:
        raise UserError('--real-text needs PyTorch, which is not installed; install the extra with: '
                        'pip install -e ".[torch]"')
    from ..neural import real, real_fit, runner

    cfg = real.TINY if args.tiny else real.QUICK if args.quick else real.FULL
    info = runner.provenance(real.EXPERIMENT, cfg, args.seed)
    if args.update_shipped and not info["full"] and not args.force:
        raise UserError(f"refusing to replace the shipped real-text fit with a '{info['label']}' run; only "
                        "the full configuration at seed 0 updates it (add --force to do it anyway)")
    out = runner.output_dir("real-fit", cfg.name, args.out)
    print(f"real-text fit ({cfg.name}): the real-text experiment's experts and routers, then fit on its "
          f"held-out windows, device {args.device} -> {out}")
    settings = real_fit.FitSettings(bootstrap=args.bootstrap, rounds=args.rounds)
    res = real_fit.main(cfg, out, seed=args.seed, device=args.device, settings=settings,
                        progress=not args.no_progress, cache_dir=args.cache,
                        update_shipped=args.update_shipped)
    t = res.table[res.table.split == "test"]
    wide = t.pivot(index="method", columns="domain", values="bpb")
    cols = [*res.summary["domains"], "worst_simplex", "worst_box", "average"]
    order = [m for m in real_fit.METHOD_LABELS if m in wide.index]
    print("bits per byte on the test windows:")
    print(wide.loc[order, cols].to_string(float_format="{:.3f}".format))
    for line in res.summary["findings"]:
        print(line)
    for p in res.paths.values():
        print(f"wrote {p}")
    if args.update_shipped:
        print(f"copied real_fit.csv, real_fit.json and real_fit.png into {runner.SHIPPED_DIR}")
    return 0


def _strict(v):
    """``v`` with every non-finite float written as the string ``"inf"``, ``"-inf"`` or ``"nan"``:
    strict JSON has no infinities, and an infinite baseline loss (an expert that gives a sample
    probability 0) must still be readable by any JSON parser."""
    if isinstance(v, dict):
        return {k: _strict(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_strict(x) for x in v]
    if isinstance(v, np.ndarray):
        return _strict(v.tolist())
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and not np.isfinite(v):
        return "nan" if np.isnan(v) else ("inf" if v > 0 else "-inf")
    return v


def _dumps(summary: dict) -> str:
    return json.dumps(_strict(summary), indent=2, default=_jsonable, allow_nan=False)


def _jsonable(v):
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    raise TypeError(f"cannot write {type(v).__name__} as JSON")


def _report(res, data) -> None:
    c = res.constant
    s = res.summary
    unit = s["loss_unit"]
    print(f"{data.N} samples, {data.J} experts, {data.K} domains, Lambda: {data.Lambda!r}; "
          f"split {s['n_samples']}"
          + (f" ({' and '.join(data.carved)} carved from train by the seed)" if data.carved else ""))
    print(f"constant gate ({c.status}, certificate gap {c.gap:.2e} {unit.split()[0]}): worst case "
          f"{c.value:.6g} {unit} on train")
    for name, w in zip(data.expert_names, c.weights, strict=True):
        print(f"  w[{name}] = {w:.6g}")
    print("  lam* = " + ", ".join(f"{d}: {v:.4g}" for d, v in zip(data.domain_names, c.lam, strict=True)))
    split = s["heldout_split"]
    t = res.table
    rows = t[(t.split == split) & t.domain.isin(["worst_case", "average"])]
    print(f"{split} split ({unit}, 95% bootstrap intervals):")
    for m, grp in rows.groupby("method", sort=False):
        g = grp.set_index("domain")
        wc, av = g.loc["worst_case"], g.loc["average"]
        print(f"  {m:20s} worst case {wc.loss:10.5g} [{wc.ci_low:.5g}, {wc.ci_high:.5g}]   "
              f"average {av.loss:10.5g}")
    print(f"recommendation: {res.recommendation} gate ({res.reason})")
