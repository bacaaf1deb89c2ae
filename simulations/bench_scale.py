r"""Benchmark rows for issue 17's items 4 and 5: capacity against ``dit``, and the check sweep
serial against dask.distributed, each ratio measured in the same run.

``capacity_dit``
    :func:`robust_gates.theory.capacity` (Blahut-Arimoto with squared extrapolation and a Newton
    polish, stopped by its upper/lower bounds) against the Blahut-Arimoto of the ``dit`` library
    (``dit.algorithms.channel_capacity``, its default tolerances, bits converted to nats) on the
    same channel. Equal accuracy: ``dit`` reports no bound, so its error is measured against our
    capacity certified to ``1e-12`` (``dit_error`` = distance from its value to that bracket), and
    ours is then timed with ``tol = dit_error``, so our certified error is at most dit's.
    ``ratio = dit_seconds / seconds``, ``met`` against issue 17's target (at least as fast as dit:
    ``ratio >= 1``); ``tight_seconds`` is ours to ``1e-12``. When ``dit`` is not
    installed (``pip install robust-gates[bench]``) the row says so and has no numbers.
``sweep``
    :func:`robust_gates.simulations.checks.run_suite` on the same statements, instances and seed,
    serially and on a ``LocalCluster`` of ``workers`` processes (``--scheduler local``): checks
    (statement x instance rows) per second, the cluster's start-up (with the imports on every
    worker, as the serial run's were done in this process) timed apart, and whether the
    two runs gave the same rows (the ``seconds`` column aside). ``ratio`` = dask rate / serial
    rate; it can only exceed 1 when the machine has idle cores for the workers.

Channels: ``D_k ~ Dirichlet(0.5)`` on ``n`` points, as in
:mod:`robust_gates.simulations.bench_solvers`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from robust_gates.theory import capacity

from .bench_solvers import make_instance

__all__ = ["DIT_SIZES", "SWEEP_STATEMENTS", "capacity_vs_dit", "sweep_rate", "dit_table", "sweep_table",
           "main"]

#: channels (K, n) for capacity vs dit
DIT_SIZES = ((64, 10_000), (16, 1_000))
#: statements of the sweep part (None: every registered statement)
SWEEP_STATEMENTS: Sequence[str] | None = None
#: certified accuracy of the capacity that dit's error is measured against
REFERENCE_TOL = 1e-12


def _best_of(fn, repeats: int) -> tuple[float, object]:
    best, out = np.inf, None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def capacity_vs_dit(sizes: Iterable[tuple[int, int]] = DIT_SIZES, seed: int = 0,
                    repeats: int = 3) -> pd.DataFrame:
    """One row per ``(K, n)``: ``capacity`` vs ``dit``'s Blahut-Arimoto at equal accuracy."""
    try:
        from dit.algorithms.channelcapacity import channel_capacity
    except ImportError:
        channel_capacity = None
    rows = []
    for K, n in sizes:
        row = {"part": "capacity_dit", "K": K, "n": n}
        if channel_capacity is None:
            rows.append({**row, "status": "skipped: dit not installed (pip install dit)"})
            continue
        D = make_instance(np.random.default_rng([seed, K, n]), K, n).D
        ref = capacity(D, tol=REFERENCE_TOL)
        start = time.perf_counter()
        bits, _ = channel_capacity(D)
        dit_s = time.perf_counter() - start
        dit_value = float(bits) * np.log(2.0)
        dit_error = max(ref.lower - dit_value, dit_value - ref.upper, 0.0)
        tol = max(dit_error, REFERENCE_TOL)
        ours_s, ours = _best_of(lambda: capacity(D, tol=tol), repeats)  # noqa: B023
        tight_s, _ = _best_of(lambda: capacity(D, tol=REFERENCE_TOL), repeats)  # noqa: B023
        rows.append({**row, "status": "ok", "tol": tol, "seconds": ours_s, "dit_seconds": dit_s,
                     "ratio": dit_s / ours_s, "target_ratio": 1.0,
                     "met": "met" if dit_s / ours_s >= 1.0 else "not met", "value": ours.capacity,
                     "gap": ours.upper - ours.lower,
                     "dit_value": dit_value, "dit_error": dit_error, "iterations": ours.iterations,
                     "tight_seconds": tight_s, "certified": ref.capacity})
    return pd.DataFrame(rows)


def sweep_rate(statements: Sequence[str] | None = SWEEP_STATEMENTS, instances: int = 20, seed: int = 0,
               workers: int = 2, scheduler: str = "local") -> pd.DataFrame:
    """Two rows (serial, dask): the check sweep's checks per second in the same run, on a
    LocalCluster of ``workers`` processes or on the running ``scheduler`` given by address."""
    from .checks import dask_client, run_suite

    start = time.perf_counter()
    serial = run_suite(statements, instances, seed, progress=False, mutants=False).checks
    serial_s = time.perf_counter() - start
    start = time.perf_counter()
    local = scheduler == "local"
    with dask_client(scheduler, workers=workers if local else None) as client:
        workers = len(client.run(_warm_up))  # imports on every worker, as the serial run's were
        startup_s = time.perf_counter() - start
        start = time.perf_counter()
        remote = run_suite(statements, instances, seed, progress=False, mutants=False,
                           scheduler=client.scheduler.address).checks
        remote_s = time.perf_counter() - start
    cols = [c for c in serial.columns if c != "seconds"]
    same = serial[cols].to_csv(index=False) == remote[cols].to_csv(index=False)
    base = {"part": "sweep", "statements": serial["id"].nunique(), "instances": instances,
            "checks": len(serial), "same_rows": same, "cpus": os.cpu_count()}
    serial_rate, remote_rate = len(serial) / serial_s, len(remote) / remote_s
    return pd.DataFrame([
        {**base, "mode": "serial", "workers": 1, "seconds": serial_s, "startup_seconds": 0.0,
         "checks_per_second": serial_rate, "ratio": 1.0},
        {**base, "mode": "dask local" if local else "dask", "workers": workers, "seconds": remote_s,
         "startup_seconds": startup_s, "checks_per_second": remote_rate, "ratio": remote_rate / serial_rate},
    ])


def _warm_up() -> None:
    import robust_gates.simulations.checks  # noqa: F401


def dit_table(df: pd.DataFrame) -> pd.DataFrame:
    part = df[df["part"] == "capacity_dit"]
    cols = ["K", "n", "status", "tol", "seconds", "dit_seconds", "ratio", "target_ratio", "met", "value",
            "dit_value", "dit_error",
            "gap", "iterations", "tight_seconds"]
    return part[[c for c in cols if c in part]].reset_index(drop=True)


def sweep_table(df: pd.DataFrame) -> pd.DataFrame:
    cols = ["mode", "workers", "statements", "instances", "checks", "seconds", "startup_seconds",
            "checks_per_second", "ratio", "same_rows"]
    return df[df["part"] == "sweep"][cols].reset_index(drop=True)


def main(dit_sizes: Iterable[tuple[int, int]] = DIT_SIZES, sweep_statements=SWEEP_STATEMENTS,
         sweep_instances: int = 20, seed: int = 0, workers: int = 2) -> pd.DataFrame:
    """Run both parts (``sweep_instances = 0`` or no ``dit_sizes`` skips one), print their
    tables, return the tidy frame."""
    frames = []
    dit_sizes = list(dit_sizes)
    if dit_sizes:
        frames.append(capacity_vs_dit(dit_sizes, seed))
    if sweep_instances > 0:
        frames.append(sweep_rate(sweep_statements, sweep_instances, seed, workers))
    df = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame({"part": []})
    with pd.option_context("display.width", 200, "display.max_columns", 30):
        if (df["part"] == "capacity_dit").any():
            print("\ncapacity vs dit's Blahut-Arimoto at equal accuracy (dit_error measured against "
                  f"our capacity certified to {REFERENCE_TOL:g}; ours run with tol = dit_error; "
                  "ratio = dit seconds / ours):")
            print(dit_table(df).to_string(index=False, float_format=_fmt))
        if (df["part"] == "sweep").any():
            print(f"\ncheck sweep, serial vs --scheduler local ({workers} workers, cluster start-up "
                  f"apart; {os.cpu_count()} CPUs); ratio = checks per second / serial:")
            print(sweep_table(df).to_string(index=False, float_format=_fmt))
    return df


def _fmt(x: float) -> str:
    return f"{x:.10g}" if abs(x) >= 1e-3 or x == 0 else f"{x:.3e}"
