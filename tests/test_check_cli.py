"""`robust-gates check` (SPEC section 3): output files and columns, exit codes, user plugins."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from robust_gates.paper_repro.cli import main
from robust_gates.simulations.checks import ADV_COLUMNS, CHECK_COLUMNS, SUMMARY_COLUMNS
from robust_gates.simulations.statements import STATEMENTS, unregister_statement

PLUGIN = '''
from robust_gates.simulations.statements import Part, certified_solve, combine, fp_tol, statement

@statement("FALSE-CLI", "planted", "V(Lambda) >= V(Lambda') for Lambda in Lambda' (false)",
           ("nested",), replace=True)
def check(instance):
    a, b = certified_solve(instance.problem), certified_solve(instance.outer)
    return combine([Part("V(Lambda) >= V(Lambda')", a.value, b.value, ">=", b.gap + fp_tol(a.value))],
                   gap=max(a.gap, b.gap))
'''


@pytest.fixture
def plugin(tmp_path):
    path = tmp_path / "false_claim.py"
    path.write_text(PLUGIN)
    yield path
    if "FALSE-CLI" in STATEMENTS:
        unregister_statement("FALSE-CLI")


def test_check_writes_files_and_passes(tmp_path, capsys):
    """SPEC §3: checks.csv (one row per statement x instance) and summary.csv with the documented
    columns; exit 0 when every statement holds; the T1-M contrast line is printed."""
    out = tmp_path / "o"
    code = main(["check", "--statement", "T2", "T1-M", "SC", "--instances", "3", "--seed", "1",
                 "--out", str(out), "--no-progress"])
    printed = capsys.readouterr().out
    assert code == 0
    df = pd.read_csv(out / "checks.csv")
    assert list(df.columns) == CHECK_COLUMNS
    assert len(df) == 9 and df["holds"].all()
    assert set(df["id"]) == {"T2", "T1-M", "SC"}
    summary = pd.read_csv(out / "summary.csv")
    assert list(summary.columns) == SUMMARY_COLUMNS
    assert summary["passed"].tolist() == [3, 3, 3] and summary["failed"].sum() == 0
    assert "T1-M contrast" in printed and "worst_slack" in printed


def test_false_plugin_claim_fails_with_nonzero_exit(tmp_path, plugin, capsys):
    """SPEC §3 (machinery can fail): a planted false user claim makes the command exit 1, and the
    adversarial search saves a violating instance that `robust-gates solve` opens."""
    out = tmp_path / "o"
    code = main(["check", "--plugin", str(plugin), "--statement", "FALSE-CLI", "--instances", "4",
                 "--adversarial", "--adv-probes", "3", "--adv-evals", "10", "--out", str(out),
                 "--no-progress"])
    captured = capsys.readouterr()
    assert code == 1
    assert "FAILED" in captured.err
    df = pd.read_csv(out / "checks.csv")
    assert (~df["holds"]).sum() >= 2
    adv = pd.read_csv(out / "adversarial.csv")
    assert list(adv.columns) == ADV_COLUMNS
    assert not adv["holds"].iloc[0] and adv["worst_slack"].iloc[0] < 0
    worst = adv["file"].iloc[0].split(";")[0]
    assert main(["solve", worst, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["status"] == "optimal"


def test_list_and_unknown_statement(capsys):
    """SPEC §3: --list names every statement; an unknown id is a one-line user error (exit 2)."""
    assert main(["check", "--list"]) == 0
    listed = capsys.readouterr().out
    for sid in ("L0", "P1", "T1", "T1-M", "T2", "T3", "LF", "MB", "MA", "SC"):
        assert f"{sid} " in listed
    assert main(["check", "--statement", "NOPE", "--no-progress"]) == 2
    assert "unknown statement" in capsys.readouterr().err


@pytest.mark.parametrize("backend", ["loky", "threading"])
def test_parallel_jobs_match_serial(tmp_path, backend):
    """SPEC §3: --jobs 2 with either joblib backend writes checks.csv as the serial run does (the
    timing column aside), rows in the same order."""
    a, b = tmp_path / "a", tmp_path / "b"
    args = ["check", "--statement", "P1", "T2", "--instances", "4", "--no-progress"]
    assert main([*args, "--out", str(a)]) == 0
    assert main([*args, "--out", str(b), "--jobs", "2", "--backend", backend]) == 0
    da, db = pd.read_csv(a / "checks.csv"), pd.read_csv(b / "checks.csv")
    assert len(da) == 8
    assert da.drop(columns="seconds").to_csv(index=False) == db.drop(columns="seconds").to_csv(index=False)


def test_dropped_backends_and_conflicting_options(tmp_path, capsys):
    """The joblib backends are loky and threading (a cluster is --scheduler's); --backend with
    --scheduler, and --jobs 0, are one-line user errors (exit 2)."""
    base = ["check", "--statement", "P1", "--instances", "2", "--no-progress", "--out", str(tmp_path)]
    for bad in (["--jobs", "2", "--backend", "ray"], ["--jobs", "2", "--backend", "dask"]):
        with pytest.raises(SystemExit) as exc:
            main([*base, *bad])
        assert exc.value.code == 2
    capsys.readouterr()
    assert main([*base, "--scheduler", "local", "--backend", "loky"]) == 2
    assert "leave it out with --scheduler" in capsys.readouterr().err
    assert main([*base, "--jobs", "0"]) == 2
    assert "--jobs must be at least 1" in capsys.readouterr().err


RAISING = '''
from robust_gates.simulations.statements import statement

@statement("RAISES-CLI", "planted", "a check with a bug", ("dirichlet",), replace=True)
def check(instance):
    raise RuntimeError("planted bug")
'''


def test_errors_and_refuted_instances_are_saved_and_shown(tmp_path, plugin, capsys):
    """Issue 21: an exception inside a check is an error (counted apart, printed, exit 1); every
    instance not decided as holding is saved as a problem file that `check --problem` reruns."""
    raising = tmp_path / "raising.py"
    raising.write_text(RAISING)
    out = tmp_path / "o"
    code = main(["check", "--plugin", str(plugin), "--plugin", str(raising), "--statement", "FALSE-CLI",
                 "RAISES-CLI", "--instances", "2", "--out", str(out), "--no-progress"])
    captured = capsys.readouterr()
    unregister_statement("RAISES-CLI")
    assert code == 1 and "planted bug" in captured.err
    summary = pd.read_csv(out / "summary.csv").set_index("id")
    assert summary.loc["RAISES-CLI", "errors"] == 2 and summary.loc["RAISES-CLI", "status"] == "error"
    assert summary.loc["FALSE-CLI", "failed"] >= 1 and summary.loc["FALSE-CLI", "inconclusive"] >= 0
    saved = pd.read_csv(out / "instances.csv")
    assert set(saved["outcome"]) == {"error", "refuted"}
    first = saved.loc[saved["outcome"] == "refuted", "file"].iloc[0].split(";")[0]
    assert main(["check", "--problem", first, "--statement", "T1", "--out", str(tmp_path / "p")]) == 0
