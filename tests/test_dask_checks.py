"""`robust-gates check --scheduler` (SPEC section 3) on dask.distributed: the LocalCluster of
``--scheduler local`` (two worker processes) gives checks.csv byte for byte as the serial run
(apart from ``seconds``), user plugins load on the workers, and a scheduler that cannot be
reached is a one-line user error."""

from __future__ import annotations

import pandas as pd
import pytest

distributed = pytest.importorskip("distributed")

from robust_gates.paper_repro.cli import main  # noqa: E402
from robust_gates.simulations import checks  # noqa: E402
from robust_gates.simulations.statements import STATEMENTS, unregister_statement  # noqa: E402

#: a true user claim (values grow with Lambda), registered only where the plugin is loaded
PLUGIN = '''
from robust_gates.simulations.statements import Part, certified_solve, combine, fp_tol, statement

@statement("NESTED-DASK", "planted", "V(Lambda) <= V(Lambda') for Lambda in Lambda'", ("nested",),
           replace=True)
def check(instance):
    a, b = certified_solve(instance.problem), certified_solve(instance.outer)
    return combine([Part("V(Lambda) <= V(Lambda')", a.value, b.value, "<=", a.gap + fp_tol(b.value))],
                   gap=max(a.gap, b.gap))
'''


@pytest.fixture(scope="module")
def cluster():
    """``scheduler="local"``'s LocalCluster: two single-threaded worker processes, 1 GiB each, no
    dashboard; the tests send work to it by its address."""
    with checks.dask_client("local", workers=2, memory_limit="1GiB") as client:
        assert len(client.scheduler_info()["workers"]) == 2
        yield client.scheduler.address


def _registered_ids() -> list[str]:
    """Runs on a worker: the statement ids registered there."""
    from robust_gates.simulations.statements import STATEMENTS

    return sorted(STATEMENTS)


def _checks_text(folder) -> str:
    """checks.csv as written, without the timing column."""
    return pd.read_csv(folder / "checks.csv").drop(columns="seconds").to_csv(index=False)


def test_cluster_run_matches_serial_with_a_plugin(tmp_path, cluster):
    """SPEC §3: the instances sent to a running scheduler (two worker processes that have never
    seen the plugin) come back as the serial run's rows, in the same order."""
    plugin = tmp_path / "nested_claim.py"
    plugin.write_text(PLUGIN)
    args = ["check", "--plugin", str(plugin), "--statement", "NESTED-DASK", "T2", "P1",
            "--instances", "4", "--seed", "5", "--no-progress"]
    try:
        assert main([*args, "--out", str(tmp_path / "serial")]) == 0
        with distributed.Client(cluster, timeout=10) as client:
            before = client.run(_registered_ids)  # the workers have not seen the plugin
        assert len(before) == 2 and not any("NESTED-DASK" in ids for ids in before.values())
        assert main([*args, "--out", str(tmp_path / "dask"), "--scheduler", cluster]) == 0
    finally:
        if "NESTED-DASK" in STATEMENTS:
            unregister_statement("NESTED-DASK")
    serial, remote = _checks_text(tmp_path / "serial"), _checks_text(tmp_path / "dask")
    assert remote == serial
    df = pd.read_csv(tmp_path / "dask" / "checks.csv")
    assert len(df) == 12 and set(df["id"]) == {"NESTED-DASK", "T2", "P1"}
    assert (df["outcome"] == "holds").all()


def test_mutant_rows_match_serial(cluster):
    """SPEC §3: the mutant rows (``run_suite`` with mutants) also come back in the serial order."""
    serial = checks.run_suite(["P1", "SC"], 3, seed=2, progress=False)
    remote = checks.run_suite(["P1", "SC"], 3, seed=2, progress=False, scheduler=cluster)
    for a, b in ((serial.checks, remote.checks), (serial.mutants, remote.mutants)):
        cols = [c for c in a.columns if c != "seconds"]
        assert len(a) and a[cols].to_csv(index=False) == b[cols].to_csv(index=False)


def test_unreachable_scheduler_is_a_user_error(tmp_path, capsys, monkeypatch):
    """SPEC §3 CLI contract: a scheduler that does not answer, or an address without a port,
    exits 2 with one line naming the address; --jobs with a remote scheduler is refused."""
    monkeypatch.setattr(checks, "CONNECT_TIMEOUT", 1.0)
    base = ["check", "--statement", "P1", "--instances", "2", "--no-progress", "--out", str(tmp_path)]
    for address in ("tcp://127.0.0.1:1", "no-port-here"):
        assert main([*base, "--scheduler", address]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "cannot reach the dask scheduler" in err[0] and address in err[0]
    assert main([*base, "--scheduler", "tcp://127.0.0.1:1", "--jobs", "3"]) == 2
    assert "--scheduler local only" in capsys.readouterr().err


def test_bench_sweep_rows(cluster):
    """Issue 17 bench: the sweep part times the same checks serially and on the cluster, in the
    same run, and records that both gave the same rows."""
    from robust_gates.simulations.bench_scale import sweep_rate, sweep_table

    df = sweep_rate(["P1", "T2"], 2, seed=1, scheduler=cluster)
    assert df["mode"].tolist() == ["serial", "dask"] and df["workers"].tolist() == [1, 2]
    assert df["same_rows"].all() and (df["checks"] == 4).all()
    assert (df["checks_per_second"] > 0).all() and df["ratio"].iloc[0] == 1.0
    assert df["ratio"].iloc[1] == df["checks_per_second"].iloc[1] / df["checks_per_second"].iloc[0]
    assert list(sweep_table(df).columns)[:2] == ["mode", "workers"]


def test_blas_threads_do_not_change_the_numbers(cluster):
    """Regression (a 200-instance sweep, seed 0): these checks round differently when BLAS splits
    its sums over two threads, so serial and dask rows differed in the last bits; every engine
    now runs the checks with BLAS on one thread and the values agree exactly."""
    args = [("perfect_nested", 169, 0, ["T3"], "auto", False),
            ("gate_softmax", 176, 0, ["GB2"], "auto", False)]
    quiet = {"disable": True}
    serial = checks._execute(checks._run_group, args, jobs=1, backend=None, scheduler=None,
                             plugins=(), bar=quiet)
    remote = checks._execute(checks._run_group, args, jobs=None, backend=None, scheduler=cluster,
                             plugins=(), bar=quiet)
    threads = checks._execute(checks._run_group, args, jobs=2, backend="threading", scheduler=None,
                              plugins=(), bar=quiet)
    fields = ("lhs", "rhs", "slack", "margin", "gap")
    values = [[tuple(rows[0][f] for f in fields) for rows, _ in out] for out in (serial, remote, threads)]
    assert values[0] == values[1] == values[2]


@pytest.mark.parametrize("count,workers",
                         [(0, 2), (1, 2), (5, 2), (100, 2), (1000, 2), (150_000, 2), (999, 7)])
def test_dask_batches_cover_every_call_once_in_order(count, workers):
    """The dask tasks' batches are consecutive, cover every call once in order, hold at most
    DASK_BATCH calls, and give each worker at least DASK_TASKS_PER_WORKER tasks where the calls
    allow it."""
    from robust_gates.simulations.checks import DASK_BATCH, DASK_TASKS_PER_WORKER, dask_batches

    batches = dask_batches(count, workers)
    assert [k for b in batches for k in b] == list(range(count))
    assert all(1 <= len(b) <= DASK_BATCH for b in batches)
    assert len(batches) >= min(count, workers * DASK_TASKS_PER_WORKER)


def test_batched_tasks_keep_the_serial_order(cluster, monkeypatch):
    """Calls batched three to a dask task, with a last, shorter batch, come back at their own
    indices (the serial order), on a bare function and on a check sweep."""
    monkeypatch.setattr(checks, "DASK_BATCH", 3)
    monkeypatch.setattr(checks, "DASK_TASKS_PER_WORKER", 1)
    assert [len(b) for b in checks.dask_batches(8, 2)] == [3, 3, 2]
    quiet = {"disable": True}
    args = [(k, 2) for k in range(8)]
    out = checks._execute(pow, args, jobs=None, backend=None, scheduler=cluster, plugins=(), bar=quiet)
    assert out == [k * k for k in range(8)]
    serial = checks.run_suite(["P1", "SC", "T1"], 7, seed=4, progress=False)
    remote = checks.run_suite(["P1", "SC", "T1"], 7, seed=4, progress=False, scheduler=cluster)
    cols = [c for c in serial.checks.columns if c != "seconds"]
    assert len(serial.checks) == 21
    assert serial.checks[cols].to_csv(index=False) == remote.checks[cols].to_csv(index=False)
