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
        "<h2 id='statements'>Statements")
    for cols in ("status", "mutants_refuted", "inconclusive", "errors"):
        assert cols in summary.columns and f"<th>{cols}</th>" in html
    findings = pd.read_csv(out / "results" / "findings.csv")
    shipped = findings[findings["kind"] == "refuted clause"]
    assert {"T3", "LF"} <= set(shipped["statement"])
    assert shipped["file"].str.startswith("simulations/counterexamples/").all()
    assert "wrote" in capsys.readouterr().out
    # issue 16: MathML built from LaTeX (no script, no network), the glossary, measured numbers in the
    # Findings, and every link of the page and of report.md resolves inside the output folder
    text = re.sub(r"data:image/png;base64,[^']*", "", html).replace("http://www.w3.org/1998/Math/MathML", "")
    assert "<math" in html and "<script" not in html and "http" not in text
    assert html.index("id='findings'") < html.index("id='notation'") < html.index("id='statements'")
    for sym in ("JS", "C(D)", "G_1", "varepsilon_k", "delta_Q"):
        assert sym in md
    assert html.count("<tr><td><math") >= 10  # one glossary row per symbol
    for sid in ("DH", "GB", "SD"):
        assert f"<p><b>{sid}</b>:" in html and f"### {sid}: measured numbers" in md
    assert "on the predicted side" in html
    links = re.findall(r"href='([^']+)'", html) + re.findall(r"\]\(([^)]+)\)", md)
    files = [x for x in links if not x.startswith("#")]
    assert "docs/statements.md" in files and any(x.startswith("simulations/counterexamples/") for x in files)
    for link in files:
        assert (out / link).is_file(), link


def test_experiment_sections_show_both_neural_studies_from_the_shipped_tables():
    """The report's Experiments part holds the Figure 5 study and the real-text study, each read
    from its shipped tables (no torch), with its completion status, and the real-text fit."""
    from robust_gates.paper_repro import report

    sections = {title: (md, html_) for title, md, html_ in report._experiment_sections()}
    assert "Figure 5 as a study (shipped tables)" in sections
    assert "Real text as a study (shipped tables)" in sections
    md, html_ = sections["Real text as a study (shipped tables)"]
    assert "Real-text study (" in md and "<table" in html_
    assert ("PARTIAL" in md) or ("complete" in md)
    assert "Controlled conflict" in md
