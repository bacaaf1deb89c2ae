"""`robust-gates report`: a self-contained HTML page and a Markdown report from one command."""

import re

import pandas as pd

from robust_gates.paper_repro.cli import main
from robust_gates.simulations.statements import STATEMENTS


def test_report_quick(tmp_path, capsys):
    """Every SPEC statement gets a row (section, instances, passed, worst slack); every drawable
    figure is embedded as PNG; missing figures say what to run; the environment is listed."""
    out = tmp_path / "rep"
    code = main(["report", "--quick", "--instances", "2", "--out", str(out), "--no-progress"])
    assert code == 0
    html = (out / "index.html").read_text()
    md = (out / "report.md").read_text()
    summary = pd.read_csv(out / "results" / "summary.csv")
    assert set(summary.id) == set(STATEMENTS)
    assert (summary.instances == 2).all()
    for sid in STATEMENTS:
        assert f"| {sid} |" in md
    drawn = sorted(p.stem for p in (out / "figures").glob("*.png"))
    assert {"fig1", "fig2", "fig3"} <= set(drawn)
    assert len(re.findall(r"src='data:image/png;base64,", html)) == len(drawn)
    assert "Not drawn" in html or len(drawn) >= 5
    for key in ("numpy", "cvxpy", "seed", "run time"):
        assert key in md
    # issue 16/21: Findings first, with the shipped counterexamples; the table's outcome columns
    assert md.index("## Findings") < md.index("## Statements") and html.index("Findings") < html.index(
        "<h2>Statements")
    for cols in ("status", "mutants_refuted", "inconclusive", "errors"):
        assert cols in summary.columns and f"<th>{cols}</th>" in html
    findings = pd.read_csv(out / "results" / "findings.csv")
    shipped = findings[findings["kind"] == "refuted clause"]
    assert {"T3", "LF"} <= set(shipped["statement"])
    assert shipped["file"].str.startswith("simulations/counterexamples/").all()
    assert "wrote" in capsys.readouterr().out
