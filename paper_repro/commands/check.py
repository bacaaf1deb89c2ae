"""``robust-gates check``: run the statement checks on random (and adversarial) instances.

Writes ``checks.csv`` (one row per statement x instance), ``summary.csv`` (one row per
statement, with its ``status``), with ``--mutants`` also ``mutants.csv`` (one row per mutant x
instance) and ``mutant_summary.csv`` (one row per mutant), and with ``--adversarial``
``adversarial.csv`` plus the worst instance of each search as a problem file ``robust-gates
solve`` opens. ``--problem FILE`` instead runs every applicable statement and its mutants on one
problem file and prints each part's numbers. Every check ends holds, refuted or
inconclusive (certified intervals; an inconclusive check is re-run once at a tighter
tolerance); the instances not decided as holding are saved as problem files under
``OUT/instances/<outcome>/`` and listed in ``instances.csv``. Exit status 1 if any checked
statement is refuted or any check raises (an error is a bug); inconclusive instances are
reported but do not fail the run (a refuted mutant is the expected outcome, not a failure).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
from pathlib import Path

from ..errors import UserError
from ._output import fresh_output_dir

#: joblib backends (kept here so that --help needs no import of the sweep engine)
BACKENDS = ("loky", "threading")

NAME = "check"
HELP = "check the paper's statements numerically on random and adversarial instances"


def configure(p: argparse.ArgumentParser) -> None:
    which = p.add_mutually_exclusive_group(required=False)
    which.add_argument("--all", action="store_true", help="every registered statement")
    which.add_argument("--statement", nargs="+", metavar="ID", help="statement ids (e.g. T1 T3 MB)")
    which.add_argument("--list", action="store_true", help="list the registered statements and exit")
    p.add_argument("--problem", metavar="FILE",
                   help="run the statements (all, or those given with --statement) and their mutants on "
                        "this problem file (.json or .npz) and print each part's numbers")
    p.add_argument("--mutants", action="store_true",
                   help="also run every statement's mutants (false variants that must be refuted); a "
                        "statement none of whose mutants is refuted is reported as vacuous")
    p.add_argument("--instances", type=int, default=50, help="random instances per statement (default 50)")
    p.add_argument("--seed", type=int, default=0, help="global seed (default 0)")
    p.add_argument("--adversarial", action="store_true",
                   help="also search instance parameters for counterexamples (Nelder-Mead on the slack)")
    p.add_argument("--adv-evals", type=int, default=80, help="Nelder-Mead evaluations per part (default 80)")
    p.add_argument("--adv-probes", type=int, default=16, help="random probes per search (default 16)")
    p.add_argument("--adv-starts", choices=["boundary", "random"], default="boundary",
                   help="where the search starts: instances of the boundary families, zeros kept (default), "
                        "or the v1 parameter space with every probability floored at 1e-6 (random)")
    p.add_argument("--adv-K", type=int, default=3,
                   help="domains in adversarial instances (default 3; --adv-starts random)")
    p.add_argument("--adv-n", type=int, default=4,
                   help="sample-space size of adversarial instances (default 4; --adv-starts random)")
    p.add_argument("--jobs", type=int, default=None,
                   help="parallel workers: joblib processes on this machine (default 1), or with "
                        "--scheduler local the dask worker processes (default 2)")
    p.add_argument("--backend", choices=list(BACKENDS), default=None,
                   help="joblib backend for --jobs > 1 on this machine (default loky)")
    p.add_argument("--scheduler", metavar="ADDRESS", default=None,
                   help="run the instances on a dask.distributed cluster: the scheduler's address "
                        "(tcp://HOST:8786) or 'local' for a LocalCluster of --jobs worker processes; "
                        "same rows, same order as a serial run")
    p.add_argument("--solver", default="auto", help="solver for the certified solves: auto (fast when "
                   "available), fast or reference")
    p.add_argument("--plugin", action="append", default=[], metavar="MODULE",
                   help="a .py file or module name to import first (it may register its own claims)")
    p.add_argument("--out", default=None,
                   help="output directory (default: a fresh folder results/check-<time>)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def _load_plugin(spec: str):
    path = Path(spec)
    if spec.endswith(".py"):
        if not path.exists():
            raise UserError(f"plugin file {spec} does not exist")
        name = f"robust_gates_plugin_{path.stem}"
        mspec = importlib.util.spec_from_file_location(name, path)
        mod = importlib.util.module_from_spec(mspec)
        sys.modules[name] = mod
        mspec.loader.exec_module(mod)
    else:
        try:
            mod = importlib.import_module(spec)
        except ImportError as exc:
            raise UserError(f"cannot import plugin {spec!r}: {exc}") from None
    try:  # ship the plugin's check functions to worker processes by value
        from joblib.externals.cloudpickle import register_pickle_by_value

        register_pickle_by_value(mod)
    except (ImportError, ValueError):
        pass
    return mod


def run(args: argparse.Namespace) -> int:
    import pandas as pd

    from robust_gates.simulations.checks import (
        run_adversarial,
        run_suite,
        save_instances,
        summarize,
        summarize_mutants,
    )
    from robust_gates.simulations.statements import STATEMENTS

    for spec in args.plugin:
        _load_plugin(spec)
    if args.list:
        for s in STATEMENTS.values():
            print(f"{s.id:6s} {s.section:45s} {s.text}")
        return 0
    if not (args.all or args.statement or args.problem):
        raise UserError("say what to check: --all, --statement ID ..., --problem FILE or --list")
    ids = None if args.all else args.statement
    unknown = [i for i in ids or [] if i not in STATEMENTS]
    if unknown:
        raise UserError(f"unknown statement(s) {unknown}; registered: {sorted(STATEMENTS)}")
    if args.problem:
        return _run_problem(args, ids)
    if args.jobs is not None and args.jobs < 1:
        raise UserError(f"--jobs must be at least 1; got {args.jobs}")
    if args.scheduler is not None:
        if args.backend is not None:
            raise UserError("--backend chooses joblib's backend on this machine; leave it out with "
                            "--scheduler")
        if args.jobs is not None and args.scheduler != "local":
            raise UserError("--jobs sets the workers of --scheduler local only; a running cluster "
                            "has the workers started with it")
    out = Path(args.out) if args.out is not None else fresh_output_dir("check")
    out.mkdir(parents=True, exist_ok=True)
    progress = not args.no_progress
    run = run_suite(ids, args.instances, args.seed, jobs=args.jobs, backend=args.backend, solver=args.solver,
                    progress=progress, mutants=args.mutants, scheduler=args.scheduler, plugins=args.plugin)
    df = run.checks
    df.to_csv(out / "checks.csv", index=False)
    summary = summarize(df, run.mutants if args.mutants else None)
    failed = int(summary["failed"].sum()) + int(summary["errors"].sum())
    saved = save_instances(df, out / "instances", args.seed)
    saved.to_csv(out / "instances.csv", index=False)
    msum = None
    if args.mutants:
        run.mutants.to_csv(out / "mutants.csv", index=False)
        msum = summarize_mutants(run.mutants, ids)
        msum.to_csv(out / "mutant_summary.csv", index=False)
    if args.adversarial:
        adv = run_adversarial(ids, args.seed, K=args.adv_K, n=args.adv_n, probes=args.adv_probes,
                              maxfev=args.adv_evals, out_dir=out / "worst", jobs=args.jobs,
                              backend=args.backend, solver=args.solver, progress=progress,
                              scheduler=args.scheduler, plugins=args.plugin,
                              starts=args.adv_starts)
        adv.to_csv(out / "adversarial.csv", index=False)
        worst = adv.groupby("id", sort=False).agg(adv_searches=("family", "size"),
                                                  adv_worst_slack=("worst_slack", "min"),
                                                  adv_violations=("holds", lambda h: int((~h).sum())))
        summary = summary.merge(worst, left_on="id", right_index=True, how="left")
        failed += int(summary["adv_violations"].fillna(0).sum())
    summary.to_csv(out / "summary.csv", index=False)
    with pd.option_context("display.width", 200, "display.max_columns", 20,
                           "display.float_format", "{:.3g}".format):
        print(summary.drop(columns=["section", "worst_family", "tightest_part", "tightest_family", "max_gap"])
              .to_string(index=False))
        if len(saved):
            print(f"\n{len(saved)} instance(s) not decided as holding, saved as problem files "
                  f"(robust-gates check --problem FILE reruns one):")
            print(saved[["id", "outcome", "file", "undecided"]].to_string(index=False, max_colwidth=90))
        if msum is not None:
            print("\nmutants (false variants; each must be refuted on some instance):")
            print(msum[["id", "mutant", "applicable", "refuted_on", "first_family"]].to_string(index=False))
    for row in summary.itertuples():
        if row.status == "vacuous":
            print(f"{row.id}: vacuous as checked (none of its {row.mutants} mutants was refuted)")
    errs = df[df["outcome"] == "error"]
    for row in errs.head(20).itertuples():
        print(f"error (a bug in a check or a solver): {row.id} on {row.family} {row.instance}: {row.error}",
              file=sys.stderr)
    contrast = df[(df["id"] == "T1-M") & df["holds"].astype(bool)]
    if len(contrast):
        g = contrast["rhs"] - contrast["lhs"]
        print(f"\nT1-M contrast (mixture_kl, perfect experts, simplex): min_g max_lam M - max_lam min_g M "
              f"= C(D) - 0 ranges over [{g.min():.4g}, {g.max():.4g}] nats on {len(g)} instances (> 0: "
              f"no saddle point)")
    print(f"\nwrote {out / 'checks.csv'} ({len(df)} rows) and {out / 'summary.csv'}"
          + (f"; mutants.csv and mutant_summary.csv ({len(msum)} mutants)" if msum is not None else "")
          + (f"; adversarial.csv and worst instances under {out / 'worst'}" if args.adversarial else ""))
    undecided = int(summary["inconclusive"].sum())
    if failed:
        print(f"FAILED: {int(summary['failed'].sum())} statement x instance checks refuted, "
              f"{int(summary['errors'].sum())} raised an error", file=sys.stderr)
        return 1
    if undecided:
        print(f"no check refuted; {undecided} inconclusive (certified intervals straddle the rounding floor "
              f"even at the tighter tolerance), saved under {out / 'instances' / 'inconclusive'}")
        return 0
    print("all statements hold on every instance")
    return 0


def _run_problem(args: argparse.Namespace, ids) -> int:
    """``--problem FILE``: every selected statement and its mutants on one problem file."""
    import pandas as pd

    from robust_gates.simulations.checks import check_problem
    from robust_gates.simulations.problem_io import load_problem, load_provenance
    from robust_gates.simulations.statements import use_solver

    outer = seed = None
    try:
        problem = load_problem(args.problem)
        prov = load_provenance(args.problem)
        if prov is not None:  # a file saved by a sweep: the same probes, and its larger game
            seed = prov["seed"]
            if prov["outer"]:
                outer_path = Path(args.problem).parent / prov["outer"]
                try:
                    outer = load_problem(outer_path)
                except ValueError as exc:  # name the file: the one given on the command line is fine
                    raise ValueError(f"{outer_path} (the larger game of {args.problem}): {exc}") from None
    except (ValueError, FileNotFoundError) as exc:
        raise UserError(str(exc)) from None
    use_solver(args.solver)
    # the recorded family too, for the statements that look at it (the measured ones)
    table = check_problem(problem, ids, outer=outer, seed=seed,
                          name=prov["family"] if prov is not None else Path(args.problem).name)
    out = Path(args.out) if args.out is not None else fresh_output_dir("check")
    out.mkdir(parents=True, exist_ok=True)
    table.to_csv(out / "problem_checks.csv", index=False)
    print(f"{args.problem}: K = {problem.K}, n = {problem.n}, Lambda = {problem.Lambda.kind}, "
          f"{'perfect' if problem.perfect_experts else 'imperfect'} experts"
          + (f"; instance {prov['family']} {'-'.join(map(str, seed))}" if seed is not None else "")
          + (f", larger game {prov['outer']}" if outer is not None else ""))
    with pd.option_context("display.width", 220, "display.max_colwidth", 70, "display.max_rows", 500,
                           "display.float_format", "{:.6g}".format):
        print(table.astype(object).fillna("").to_string(index=False))
    checked = table[table["kind"].isin(["part", "error"])]
    failed = checked[checked["outcome"].isin(["refuted", "error"])]
    for row in checked[checked["outcome"] == "inconclusive"].itertuples():
        print(f"{row.id}: part '{row.name}' is inconclusive: violation in [{row.lo:.3g}, {row.hi:.3g}]")
    refuted = table[(table["kind"] == "mutant") & (table["outcome"] == "refuted")]
    for row in refuted.itertuples():
        print(f"{row.id}: mutant '{row.name}' is refuted by this problem (lhs {row.lhs:.6g}, "
              f"rhs {row.rhs:.6g}, slack {row.slack:.3g})")
    print(f"\nwrote {out / 'problem_checks.csv'}")
    if len(failed):
        print(f"FAILED: {len(failed)} part(s) of {sorted(set(failed['id']))} do not hold on this problem",
              file=sys.stderr)
        return 1
    return 0
