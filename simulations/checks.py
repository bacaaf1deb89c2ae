"""Sweeps of the statement registry over random and adversarial instances (tidy DataFrames).

:func:`run_checks` runs every selected statement on ``instances`` random instances from its
families (instance ``i`` of a statement is :func:`make_instance` ``(families[i % F], seed, i)``,
so statements sharing a family share instances and their certified solves); one row per
statement x instance. :func:`run_suite` does the same and also runs every statement's mutants
(:mod:`robust_gates.simulations.statements.mutants`) on the statement's instances, returning a
:class:`CheckRun`. :func:`summarize` gives one row per statement, with the mutant counts and a
``status``; :func:`summarize_mutants` one row per mutant. :func:`check_problem` runs every
applicable statement (and its mutants) on one given problem and lists each part's numbers.
:func:`run_adversarial` runs :func:`robust_gates.simulations.adversarial.adversarial_search` per
statement and family and saves each worst instance. Work is spread behind a tqdm progress bar
either with joblib on this machine (``jobs`` processes, ``backend`` one of :data:`BACKENDS`) or,
with ``scheduler``, on a dask.distributed cluster (:func:`dask_client`: a scheduler's address, or
``"local"`` for a ``LocalCluster`` of ``jobs`` worker processes, 2 by default). Every path gives
the same rows in the same order for the same seed (only the ``seconds`` columns differ): each
task builds its instance from ``(family, seed, index)`` alone, runs with BLAS on one thread (a
sum split over threads rounds differently), and the results are put back in task order. On
dask workers the statements travel by id, and the ``plugins`` (files or module names that
register statements) are loaded on each worker before its first task, from the file's text
sent along, so the workers need no shared file system.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib
import sys
import time
import types
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from joblib import Parallel, delayed, parallel_config
from tqdm.auto import tqdm

from .adversarial import adversarial_search, default_families, save_worst
from .instances import Instance, make_instance
from .statements import STATEMENTS, Statement, get_statement, use_solver
from .statements.mutants import mutants_of
from .statements.solving import tighter

__all__ = ["CHECK_COLUMNS", "SUMMARY_COLUMNS", "ADV_COLUMNS", "MUTANT_COLUMNS", "MUTANT_SUMMARY_COLUMNS",
           "PROBLEM_COLUMNS", "STATUSES", "CheckRun", "run_checks", "run_suite", "summarize",
           "summarize_mutants", "check_problem", "run_adversarial", "BACKENDS", "run_decided",
           "undecided_text", "save_instances", "dask_client", "plugin_payload", "SchedulerError",
           "CONNECT_TIMEOUT", "LOCAL_WORKERS"]

#: ``outcome`` is ``holds``/``refuted``/``inconclusive`` (certified intervals, see
#: :mod:`robust_gates.simulations.statements.registry`) or ``error`` (the check raised: a bug, counted
#: apart); ``holds`` is ``outcome == "holds"``; ``retried`` says the check was inconclusive at the
#: usual tolerance and was run again at a tighter one (the row is the second run);
#: ``undecided`` lists the parts still inconclusive with their certified intervals.
CHECK_COLUMNS = ["id", "section", "family", "K", "n", "instance", "lhs", "rhs", "slack", "tol", "holds",
                 "outcome", "retried", "undecided", "margin", "margin_part", "gap", "solver", "binding",
                 "seconds", "error"]
#: ``worst_slack`` decides pass/fail and includes each part's tolerance, so a bound that is
#: attained reads as the tolerance floor (about 1e-9); ``tightest_margin`` leaves the tolerance
#: out and is relative (see :mod:`robust_gates.simulations.statements.registry`): 0 means an
#: inequality of the statement is attained on some instance (the check is sharp there), a
#: positive value is the smallest room left, ``nan`` that the check has no inequality part
#: (only identities and residuals). ``tightest_part``/``tightest_family`` say where, and
#: ``median_margin`` is the median over instances of each instance's tightest margin (how
#: close a typical instance comes to the bound).
#: ``mutants`` counts the statement's registered mutants, ``mutants_refuted`` those that failed on
#: at least one instance (empty when the mutants were not run); ``status`` is one of
#: :data:`STATUSES`.
#: ``passed``/``failed``/``inconclusive``/``errors`` count the instances by outcome (``failed``:
#: refuted, with the negation certified; ``inconclusive``: still undecided after the re-run at a
#: tighter tolerance; ``errors``: the check raised); ``retried`` counts re-runs.
SUMMARY_COLUMNS = ["id", "section", "instances", "passed", "failed", "inconclusive", "errors", "retried",
                   "worst_slack",
                   "worst_family", "tightest_margin", "tightest_part", "tightest_family", "median_margin",
                   "max_gap", "mutants", "mutants_refuted", "status"]
#: ``holds``: every instance passed (and, when the mutants ran, at least one mutant was refuted);
#: ``refuted``: some instance failed (the failing rows are the counterexamples); ``vacuous``: every
#: instance passed but no mutant was refuted, so the check cannot tell the statement from a
#: stronger false one on these instances; ``measured``: an empirical quantity, never asserted;
#: ``error``: no instance refuted it but the check raised on some (a bug to fix, never a pass).
STATUSES = ("holds", "refuted", "vacuous", "measured", "error")
MUTANT_COLUMNS = ["id", "mutant", "kind", "family", "instance", "lhs", "rhs", "slack", "refuted", "binding",
                  "error"]
MUTANT_SUMMARY_COLUMNS = ["id", "mutant", "kind", "text", "applicable", "refuted", "refuted_on",
                          "first_family", "first_instance", "worst_slack"]
PROBLEM_COLUMNS = ["id", "kind", "name", "lhs", "relation", "rhs", "tol", "slack", "margin", "lo", "hi",
                   "outcome", "holds", "note"]
ADV_COLUMNS = ["id", "section", "family", "K", "n", "evaluations", "failures", "worst_slack", "holds",
               "binding", "lhs", "rhs", "file", "seconds"]
#: joblib backends for ``jobs > 1`` on this machine (a cluster is ``scheduler``'s business)
BACKENDS = ("loky", "threading")
#: seconds to wait for a dask scheduler given by address
CONNECT_TIMEOUT = 10.0
#: worker processes of ``scheduler="local"`` when ``jobs`` is not given
LOCAL_WORKERS = 2


class SchedulerError(ValueError):
    """The dask scheduler cannot be reached (or dask.distributed is not installed)."""


def _select(ids) -> list[Statement]:
    if not ids:
        return list(STATEMENTS.values())
    return [get_statement(i) for i in ids]


@contextlib.contextmanager
def _backend(backend: str | None, jobs: int):
    """joblib backend context (one of :data:`BACKENDS`)."""
    backend = backend or "loky"
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose one of {BACKENDS}")
    with parallel_config(backend=backend):
        yield


@contextlib.contextmanager
def dask_client(scheduler: str, workers: int | None = None, memory_limit: str | float = "auto"):
    """A dask.distributed ``Client``: ``scheduler="local"`` starts a ``LocalCluster`` of
    ``workers`` (default :data:`LOCAL_WORKERS`) single-threaded worker processes with
    ``memory_limit`` each, without a dashboard, and closes it afterwards; any other value is the
    address of a running scheduler (``tcp://HOST:8786``), reached within :data:`CONNECT_TIMEOUT`
    seconds or :class:`SchedulerError`."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise SchedulerError("--scheduler needs dask.distributed: pip install 'dask[distributed]'") from None
    if scheduler == "local":
        import logging

        with LocalCluster(n_workers=workers or LOCAL_WORKERS, threads_per_worker=1, processes=True,
                          memory_limit=memory_limit, dashboard_address=None,
                          # the scheduler's own HTTP routes on a free port, not on 8787
                          scheduler_kwargs={"dashboard_address": ":0"},
                          silence_logs=logging.ERROR) as cluster, \
                Client(cluster) as client:
            yield client
        return
    if workers is not None:
        raise SchedulerError("the number of workers is set for --scheduler local only; a running "
                             "cluster has the workers started with it")
    try:
        client = Client(scheduler, timeout=CONNECT_TIMEOUT)
    except (OSError, TimeoutError, ValueError, TypeError) as exc:
        why = " ".join(str(exc).split())[:160] or type(exc).__name__
        raise SchedulerError(f"cannot reach the dask scheduler at {scheduler!r}: {why}") from None
    with client:
        yield client


def plugin_payload(spec: str) -> tuple[str, str, str | None]:
    """What a dask worker needs to load a plugin: ``(spec, module name, source)``. A ``.py``
    file travels as its text (module ``robust_gates_plugin_<stem>``, as the ``check`` command
    names it); a module name travels as itself (``source`` None) and must be importable there."""
    if spec.endswith(".py"):
        path = Path(spec)
        return spec, f"robust_gates_plugin_{path.stem}", path.read_text()
    return spec, spec, None


#: plugins already loaded in this (worker) process: (module name, digest of the source)
_LOADED_PLUGINS: set[tuple[str, str]] = set()


def _load_plugins(payloads) -> None:
    for spec, name, source in payloads:
        key = (name, hashlib.sha256((source or "").encode()).hexdigest())
        if key in _LOADED_PLUGINS:
            continue
        if source is None:
            importlib.import_module(name)
        else:
            module = types.ModuleType(name)
            module.__file__ = spec
            sys.modules[name] = module
            exec(compile(source, spec, "exec"), module.__dict__)  # noqa: S102 (the user's plugin)
        _LOADED_PLUGINS.add(key)


#: this process's BLAS libraries (threadpoolctl), found at the first task
_BLAS = None


@contextlib.contextmanager
def _one_blas_thread():
    """BLAS on one thread: a sum split over threads rounds differently, so every engine runs the
    checks single-threaded and gets the serial run's numbers to the last bit (the instances are
    small; parallelism comes from running many of them)."""
    global _BLAS
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:  # pragma: no cover (a dependency; without it, results may differ by ulps)
        yield
        return
    if _BLAS is None:
        _BLAS = ThreadpoolController()
    with _BLAS.limit(limits=1, user_api="blas"):
        yield


def _single_threaded(fn, *args):
    with _one_blas_thread():
        return fn(*args)


def _on_worker(batch: list[tuple], fn, plugins) -> list:
    """One dask task: load the plugins once per worker process, then ``[fn(*args) for args in
    batch]`` (BLAS on one thread)."""
    _load_plugins(plugins)
    with _one_blas_thread():
        return [fn(*args) for args in batch]


#: a dask task carries at most this many calls (a task costs the scheduler and the worker about
#: a millisecond, as much as a small check), and each worker gets at least DASK_TASKS_PER_WORKER
#: tasks where there are enough calls, so that the load stays balanced
DASK_BATCH = 32
DASK_TASKS_PER_WORKER = 16


def dask_batches(count: int, workers: int) -> list[range]:
    """Consecutive ranges of ``range(count)``, one per dask task: at most :data:`DASK_BATCH`
    calls each, at least :data:`DASK_TASKS_PER_WORKER` tasks per worker (per worker thread) where
    ``count`` allows."""
    size = max(1, min(DASK_BATCH, count // max(1, workers * DASK_TASKS_PER_WORKER)))
    return [range(a, min(a + size, count)) for a in range(0, count, size)]


def _execute(fn, arglist: list[tuple], *, jobs: int | None, backend: str | None, scheduler: str | None,
             plugins, bar: dict, batch_size: int | str = "auto") -> list:
    """``[fn(*args) for args in arglist]`` serially, with joblib (``jobs > 1``) or on dask
    (``scheduler``), behind a tqdm bar (``bar``: its keyword arguments; on dask it appears once
    the client is connected) advanced as tasks finish; results always in ``arglist`` order."""
    out: list = [None] * len(arglist)
    if scheduler is not None:
        from distributed import as_completed

        payloads = [plugin_payload(p) for p in plugins]
        workers = jobs if scheduler == "local" else None
        with dask_client(scheduler, workers) as client, tqdm(total=len(arglist), **bar) as pbar:
            # consecutive calls batched into tasks (the per-task cost of dask is that of a small
            # check); every result lands at its own index, so the order is the serial one
            # (sized by the cluster's threads: a remote worker runs one task per thread)
            batches = dask_batches(len(arglist), max(1, sum(client.nthreads().values())))
            futures = client.map(_on_worker, [[arglist[k] for k in b] for b in batches], fn=fn,
                                 plugins=payloads, pure=False)
            where = {f.key: b for b, f in zip(batches, futures, strict=True)}
            for fut in as_completed(futures):
                b = where[fut.key]
                out[b.start:b.stop] = fut.result()
                pbar.update(len(b))
        return out
    with tqdm(total=len(arglist), **bar) as pbar:
        if (jobs or 1) == 1:
            with _one_blas_thread():
                for k, args in enumerate(arglist):
                    out[k] = fn(*args)
                    pbar.update()
            return out
        threads = (backend or "loky") == "threading"
        with _backend(backend, jobs), (_one_blas_thread() if threads else contextlib.nullcontext()):
            gen = Parallel(n_jobs=jobs, return_as="generator_unordered", batch_size=batch_size)(
                delayed(_indexed)(k, fn if threads else functools.partial(_single_threaded, fn), args)
                for k, args in enumerate(arglist))
            for k, res in gen:
                out[k] = res
                pbar.update()
    return out


def _indexed(k: int, fn, args: tuple):
    return k, fn(*args)


def _stmt(s: Statement | str) -> Statement:
    return s if isinstance(s, Statement) else get_statement(s)


def _run_group(family: str, index: int, seed: int, stmts: list[Statement | str], solver: str,
               mutants: bool = False) -> tuple[list[dict], list[dict]]:
    """Build one instance and run every statement assigned to it (certified solves shared), and
    with ``mutants`` every mutant of those statements; returns (check rows, mutant rows).
    Statements may be given by id (looked up in this process's registry)."""
    use_solver(solver)
    stmts = [_stmt(s) for s in stmts]
    rows, mrows = [], []
    try:
        inst = make_instance(family, seed, index)
    except Exception as exc:  # an instance that cannot be built fails every statement loudly
        return [_row(s, family, None, None, 0.0, f"instance: {type(exc).__name__}: {exc}") for s in stmts], []
    for s in stmts:
        t = time.perf_counter()
        try:
            res, retried = run_decided(s, inst)
            rows.append(_row(s, family, inst, res, time.perf_counter() - t, "", retried))
        except Exception as exc:  # recorded as a failure, never skipped
            rows.append(_row(s, family, inst, None, time.perf_counter() - t, f"{type(exc).__name__}: {exc}"))
            continue
        if mutants:
            mrows += _mutant_rows(s, family, inst, res)
    return rows, mrows


def _mutant_rows(s: Statement, family: str, inst, res) -> list[dict]:
    out = []
    for m in mutants_of(s.id):
        row = {"id": s.id, "mutant": m.name, "kind": m.kind, "family": family,
               "instance": "-".join(map(str, inst.seed)), "lhs": np.nan, "rhs": np.nan, "slack": np.nan,
               "refuted": False, "binding": "", "error": ""}
        try:
            mres = m.run(inst, res)
        except Exception as exc:  # a mutant that cannot be evaluated is not refuted by this instance
            row["error"] = f"{type(exc).__name__}: {exc}"
            out.append(row)
            continue
        if mres is None:
            continue  # the mutated part does not occur on this instance
        row.update(lhs=mres.lhs, rhs=mres.rhs, slack=mres.slack, refuted=mres.refuted,
                   binding=str(mres.details.get("binding", "")))
        out.append(row)
    return out


def run_decided(s: Statement, inst) -> tuple:
    """``(result, retried)``: the check of ``s`` on ``inst``, run once more with every solve at a
    tighter tolerance (:func:`robust_gates.simulations.statements.solving.tighter`) when its
    certified intervals leave it inconclusive; the second result is kept."""
    res = s.check(inst)
    if res.outcome != "inconclusive":
        return res, False
    with tighter():
        return s.check(inst), True


def undecided_text(res) -> str:
    """The parts of ``res`` that are still inconclusive, each with its certified interval of the
    violation and its rounding floor (``name: [lo, hi] vs floor``), ``;``-separated."""
    parts = res.details.get("parts", {})
    return "; ".join(f"{k}: [{parts[k]['lo']:.3g}, {parts[k]['hi']:.3g}] vs floor {parts[k]['floor']:.3g}"
                     for k in res.details.get("inconclusive_parts", []) if k in parts)


def _row(s: Statement, family: str, inst, res, seconds: float, error: str, retried: bool = False) -> dict:
    row = {"id": s.id, "section": s.section, "family": family,
           "K": inst.K if inst is not None else np.nan, "n": inst.n if inst is not None else np.nan,
           "instance": "-".join(map(str, inst.seed)) if inst is not None else "",
           "seconds": seconds, "error": error, "retried": bool(retried), "undecided": ""}
    if res is None:
        row.update(lhs=np.nan, rhs=np.nan, slack=-np.inf, tol=np.nan, holds=False, outcome="error",
                   margin=np.nan, margin_part="", gap=np.nan, solver="", binding="error")
    else:
        row.update(outcome=res.outcome, undecided=undecided_text(res))
        row.update(lhs=res.lhs, rhs=res.rhs, slack=res.slack, tol=res.tol, holds=bool(res.holds),
                   margin=res.margin, margin_part=str(res.details.get("margin_part", "")), gap=res.gap,
                   solver=str(res.details.get("solver", "")), binding=str(res.details.get("binding", "")))
    return row


@dataclass(frozen=True)
class CheckRun:
    """What :func:`run_suite` returns: one row per statement x instance (:data:`CHECK_COLUMNS`)
    and one row per mutant x instance where the mutant applies (:data:`MUTANT_COLUMNS`)."""

    checks: pd.DataFrame
    mutants: pd.DataFrame


def run_checks(ids=None, instances: int = 200, seed: int = 0, *, jobs: int | None = None,
               backend: str | None = None, solver: str = "auto", progress: bool = True,
               scheduler: str | None = None, plugins=()) -> pd.DataFrame:
    """Run the selected statements (default: all registered) on random instances.

    Returns one row per statement x instance with columns :data:`CHECK_COLUMNS`; a check that
    raises is a failed row (``holds = False``, ``slack = -inf``, the message in ``error``).
    """
    return run_suite(ids, instances, seed, jobs=jobs, backend=backend, solver=solver, progress=progress,
                     mutants=False, scheduler=scheduler, plugins=plugins).checks


def run_suite(ids=None, instances: int = 200, seed: int = 0, *, jobs: int | None = None,
              backend: str | None = None, solver: str = "auto", progress: bool = True,
              mutants: bool = True, scheduler: str | None = None, plugins=()) -> CheckRun:
    """:func:`run_checks`, and (``mutants``) every mutant of each statement on the instances of
    that statement; a :class:`CheckRun` (its ``mutants`` frame is empty without ``mutants``).

    ``jobs``: joblib processes on this machine (default 1, serial), or with
    ``scheduler="local"`` the dask worker processes (default :data:`LOCAL_WORKERS`);
    ``scheduler``: ``None``, ``"local"`` or a dask scheduler's address (:func:`dask_client`);
    ``plugins``: the plugin files or modules the statements come from, loaded on dask workers.
    The rows are the same, in the same order, on every path."""
    if instances < 1:
        raise ValueError(f"--instances must be at least 1; got {instances}")
    stmts = _select(ids)
    use_solver(solver)
    groups: dict[tuple[str, int], list[Statement]] = defaultdict(list)
    for s in stmts:
        for i in range(instances):
            groups[(s.families[i % len(s.families)], i)].append(s)
    tasks = list(groups.items())
    rows: list[dict] = []
    mrows: list[dict] = []
    bar = {"desc": "checks", "unit": "instance", "disable": not progress}
    remote = scheduler is not None  # statements travel by id to dask workers
    arglist = [(fam, i, seed, [s.id for s in ss] if remote else ss, solver, mutants)
               for (fam, i), ss in tasks]
    results = _execute(_run_group, arglist, jobs=jobs, backend=backend, scheduler=scheduler,
                       plugins=plugins, bar=bar, batch_size=4)
    for r, m in results:
        rows += r
        mrows += m
    order = {s.id: k for k, s in enumerate(stmts)}
    df = pd.DataFrame(rows, columns=CHECK_COLUMNS)
    df["_o"] = df["id"].map(order)
    df = df.sort_values(["_o", "family", "instance"], kind="stable").drop(columns="_o")
    mdf = pd.DataFrame(mrows, columns=MUTANT_COLUMNS)
    if len(mdf):
        mdf["_o"] = mdf["id"].map(order)
        mdf = mdf.sort_values(["_o", "mutant", "family", "instance"], kind="stable").drop(columns="_o")
    return CheckRun(df.reset_index(drop=True), mdf.reset_index(drop=True))


def summarize(df: pd.DataFrame, mutants: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per statement (:data:`SUMMARY_COLUMNS`): instances, passed, failed, errors, the
    worst slack (pass/fail, tolerance included) and its family, the tightest margin (sharpness,
    tolerance left out; over instances that held) with its part and family, the largest gap, and
    with ``mutants`` (the mutant rows of :func:`run_suite`) the number of registered mutants and
    of refuted ones; ``status`` per :data:`STATUSES`. A measured statement's rows are reported,
    never counted as passed or failed (``passed`` = ``failed`` = 0 unless it raised)."""
    out = []
    for sid, g in df.groupby("id", sort=False):
        measured = sid in STATEMENTS and STATEMENTS[sid].kind == "measured"
        w = g["slack"].astype(float).idxmin()
        held = g[g["holds"].astype(bool)]
        margins = held["margin"].astype(float) if "margin" in held else pd.Series(dtype=float)
        if margins.notna().any():
            t = margins.idxmin()
            tight = (float(margins[t]), str(held.loc[t, "margin_part"]), str(held.loc[t, "family"]))
        else:
            tight = (np.nan, "", "")
        outcome = _outcomes(g)
        errors = int((outcome == "error").sum())
        failed = 0 if measured else int((outcome == "refuted").sum())
        undecided = 0 if measured else int((outcome == "inconclusive").sum())
        passed = 0 if measured else int((outcome == "holds").sum())
        retried = int(g["retried"].fillna(False).astype(bool).sum()) if "retried" in g else 0
        n_mut, n_ref = np.nan, np.nan
        if mutants is not None:
            n_mut = len(mutants_of(sid))
            mg = mutants[mutants["id"] == sid]
            n_ref = int(mg.loc[mg["refuted"].astype(bool), "mutant"].nunique())
        if measured:
            status = "measured" if not errors else "error"
        elif failed:
            status = "refuted"
        elif errors:
            status = "error"
        elif mutants is not None and not n_ref:
            status = "vacuous"
        else:
            status = "holds"
        out.append({"id": sid, "section": g["section"].iloc[0], "instances": len(g),
                    "passed": passed, "failed": failed, "inconclusive": undecided, "errors": errors,
                    "retried": retried,
                    "worst_slack": float(g["slack"].min()), "worst_family": g.loc[w, "family"],
                    "tightest_margin": tight[0], "tightest_part": tight[1], "tightest_family": tight[2],
                    "median_margin": float(margins.median()) if margins.notna().any() else np.nan,
                    "max_gap": float(g["gap"].max()), "mutants": n_mut, "mutants_refuted": n_ref,
                    "status": status})
    return pd.DataFrame(out, columns=SUMMARY_COLUMNS)


def _outcomes(g: pd.DataFrame) -> pd.Series:
    """Each row's outcome; frames written before the ``outcome`` column read ``holds`` as pass,
    an ``error`` message as error and anything else as refuted."""
    if "outcome" in g:
        return g["outcome"].astype(str)
    err = g["error"].fillna("") != ""
    held = np.where(g["holds"].astype(bool), "holds", "refuted")
    return pd.Series(np.where(err, "error", held), index=g.index)


def save_instances(df: pd.DataFrame, out_dir: str | Path, seed: int,
                   outcomes: tuple[str, ...] = ("inconclusive", "refuted", "error")) -> pd.DataFrame:
    """Rebuild the instance of every row of :func:`run_checks` whose outcome is in ``outcomes`` and
    save it as a problem file (``robust-gates solve`` and ``check --problem`` open it):
    ``OUT/<outcome>/<id>_<family>_<instance>.json`` (and ``..._outer.json`` for the larger set of a
    nested pair). One row per saved instance: ``id``, ``family``, ``instance``, ``outcome``,
    ``undecided`` (the parts still inconclusive, with their intervals), ``file``."""
    from .problem_io import save_problem

    rows = []
    picked = df[df["outcome"].astype(str).isin(outcomes)] if "outcome" in df else df.iloc[0:0]
    for r in picked.itertuples():
        if not r.instance:
            continue
        index = int(str(r.instance).split("-")[-1])
        inst = make_instance(r.family, seed, index)
        folder = Path(out_dir) / str(r.outcome)
        folder.mkdir(parents=True, exist_ok=True)
        stem = "".join(c if c.isalnum() or c in "-_" else "_" for c in f"{r.id}_{r.family}_{r.instance}")
        rec = {"family": r.family, "seed": list(inst.seed),
               "outer": f"{stem}_outer.json" if len(inst.problems) > 1 else None}
        paths = [save_problem(inst.problem, folder / f"{stem}.json", rec)]
        if len(inst.problems) > 1:
            paths.append(save_problem(inst.outer, folder / f"{stem}_outer.json",
                                      {"family": r.family, "seed": list(inst.seed)}))
        rows.append({"id": r.id, "family": r.family, "instance": r.instance, "outcome": r.outcome,
                     "undecided": r.undecided, "file": ";".join(map(str, paths))})
    return pd.DataFrame(rows, columns=["id", "family", "instance", "outcome", "undecided", "file"])


def summarize_mutants(mutants: pd.DataFrame, ids=None) -> pd.DataFrame:
    """One row per registered mutant of the selected statements (:data:`MUTANT_SUMMARY_COLUMNS`):
    on how many instances it applied, whether it was refuted, on how many instances, the first
    refuting family and instance, and its smallest slack."""
    if ids is None:  # the statements present in the frame
        ids = [i for i in STATEMENTS if i in set(mutants["id"])] or None
    out = []
    for s in _select(ids):
        for m in mutants_of(s.id):
            g = mutants[(mutants["id"] == s.id) & (mutants["mutant"] == m.name)]
            bad = g[g["refuted"].astype(bool)]
            first = bad.iloc[0] if len(bad) else None
            out.append({"id": s.id, "mutant": m.name, "kind": m.kind, "text": m.text, "applicable": len(g),
                        "refuted": bool(len(bad)), "refuted_on": len(bad),
                        "first_family": first["family"] if first is not None else "",
                        "first_instance": first["instance"] if first is not None else "",
                        "worst_slack": float(g["slack"].min()) if len(g) else np.nan})
    return pd.DataFrame(out, columns=MUTANT_SUMMARY_COLUMNS)


def check_problem(problem, ids=None, outer=None, name: str = "problem",
                  seed: tuple[int, ...] | None = None) -> pd.DataFrame:
    """Every selected statement (default: all) and its mutants on one problem (and, for nested
    statements, the larger game ``outer``); one row per part (:data:`PROBLEM_COLUMNS`).

    A statement whose check rejects the problem (for instance T3 without perfect experts, T2
    without ``outer``) gets one row with ``kind = "not applicable"`` and the reason in ``note``.
    Each mutant gets one row: ``outcome = "refuted"`` means this problem refutes it. A check
    left inconclusive is run again at a tighter tolerance (:func:`run_decided`). ``seed`` (the
    instance's seed tuple, kept in files saved by a sweep) seeds the checks' probes as in the
    sweep; without it they are seeded by ``(0,)``."""
    inst = Instance(name, {}, (problem,) if outer is None else (problem, outer), tuple(seed or (0,)))
    rows = []
    for s in _select(ids):
        try:
            res, retried = run_decided(s, inst)
        except (ValueError, TypeError) as exc:
            rows.append({"id": s.id, "kind": "not applicable", "name": "", "note": str(exc)})
            continue
        except Exception as exc:  # reported, never skipped
            rows.append({"id": s.id, "kind": "error", "name": "", "holds": False, "outcome": "error",
                         "note": f"{type(exc).__name__}: {exc}"})
            continue
        kind = "measured" if s.kind == "measured" else "part"
        for pname, pt in res.details.get("parts", {}).items():
            rows.append({"id": s.id, "kind": kind, "name": pname, "lhs": pt["lhs"], "relation": pt["rel"],
                         "rhs": pt["rhs"], "tol": pt["tol"], "slack": pt["slack"], "margin": pt["margin"],
                         "lo": pt["lo"], "hi": pt["hi"], "outcome": pt["outcome"],
                         "holds": pt["outcome"] == "holds",
                         "note": "re-run at a tighter tolerance" if retried else ""})
        for m in mutants_of(s.id):
            try:
                mres = m.run(inst, res)
            except Exception as exc:
                rows.append({"id": s.id, "kind": "mutant", "name": m.name,
                             "note": f"{type(exc).__name__}: {exc}"})
                continue
            if mres is None:
                rows.append({"id": s.id, "kind": "mutant", "name": m.name, "note": "not applicable"})
                continue
            rows.append({"id": s.id, "kind": "mutant", "name": m.name, "lhs": mres.lhs,
                         "relation": next(iter(mres.details["parts"].values()))["rel"], "rhs": mres.rhs,
                         "tol": mres.tol, "slack": mres.slack, "margin": mres.margin, "holds": mres.holds,
                         "outcome": mres.outcome, "note": "refuted here" if mres.refuted else ""})
    return pd.DataFrame(rows, columns=PROBLEM_COLUMNS)


def _adv_one(s: Statement | str, family: str, seed: int, K: int, n: int, probes: int, restarts: int,
             maxfev: int, out_dir: str | None, solver: str, starts: str = "boundary") -> dict:
    use_solver(solver)
    s = _stmt(s)
    fam_salt = sum(map(ord, family))
    rng = np.random.default_rng([int(seed), sum(map(ord, s.id)), fam_salt])
    r = adversarial_search(s, rng, family=family, K=K, n=n, probes=probes, restarts=restarts, maxfev=maxfev,
                           starts=starts)
    files = []
    if out_dir is not None and r.worst is not None:
        tag = f"{s.id}_{family}"
        r2 = type(r)(tag, r.family, r.worst_slack, r.worst, r.result, r.evaluations, r.failures, r.seconds,
                     refuted=r.refuted)
        files = [str(p) for p in save_worst(r2, out_dir)]
    res = r.result
    if starts == "boundary":  # the family draws K and n; report those of the worst instance
        K, n = (r.worst.K, r.worst.n) if r.worst is not None else (np.nan, np.nan)
    return {"id": s.id, "section": s.section, "family": family, "K": K, "n": n, "evaluations": r.evaluations,
            "failures": r.failures, "worst_slack": r.worst_slack, "holds": not r.refuted,
            "binding": res.details.get("binding", "") if res is not None else "",
            "lhs": res.lhs if res is not None else np.nan, "rhs": res.rhs if res is not None else np.nan,
            "file": ";".join(files), "seconds": r.seconds}


def run_adversarial(ids=None, seed: int = 0, *, K: int = 3, n: int = 4, probes: int = 16, restarts: int = 1,
                    maxfev: int = 80, families: dict | None = None, out_dir: str | Path | None = None,
                    jobs: int | None = None, backend: str | None = None, solver: str = "auto",
                    progress: bool = True, starts: str = "boundary", scheduler: str | None = None,
                    plugins=()) -> pd.DataFrame:
    """Adversarial search for each selected statement on each of its default families
    (:func:`robust_gates.simulations.adversarial.default_families`, or ``families[id]``); one row per
    statement x family (:data:`ADV_COLUMNS`), worst instances saved under ``out_dir``. ``starts``:
    ``"boundary"`` (instances of boundary families, zeros kept) or ``"random"`` (the v1 floored
    parameter space); ``holds`` is False when the search found a certified refutation.
    ``jobs``, ``backend``, ``scheduler`` and ``plugins`` as in :func:`run_suite` (with a remote
    scheduler, ``out_dir`` is written by the workers: a folder they share)."""
    stmts = _select(ids)
    tasks = [(s, f) for s in stmts for f in (families or {}).get(s.id, default_families(s, starts))]
    od = str(Path(out_dir).resolve()) if out_dir is not None else None
    bar = {"desc": "adversarial", "unit": "search", "disable": not progress}
    remote = scheduler is not None
    arglist = [(s.id if remote else s, f, seed, K, n, probes, restarts, maxfev, od, solver, starts)
               for s, f in tasks]
    rows = _execute(_adv_one, arglist, jobs=jobs, backend=backend, scheduler=scheduler,
                    plugins=plugins, bar=bar)
    return pd.DataFrame(rows, columns=ADV_COLUMNS)
