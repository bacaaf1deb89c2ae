"""``robust-gates report``: checks, cheap simulations and every figure, in one self-contained report.

Writes ``OUT/report.md`` and ``OUT/index.html`` (figures embedded as PNG, mathematics as MathML
converted from LaTeX when the page is built, so it needs no script and no network), the result
tables under ``OUT/results/`` (each figure's table computed by the producer it registered in
:mod:`robust_gates.figures`) and the figures under ``OUT/figures/``. The page opens with
**Findings**: the clauses refuted by the shipped counterexamples
(``simulations/counterexamples/*.json``) with their numbers, what the run found (refuted
statements, errors, inconclusive instances saved as problem files), vacuous statements and the
measured-only statements (DH, GB, SD) with their numbers and the side each claim predicts. Then a
notation glossary; then the statements table (paper section, status, instances, passed / failed
/ inconclusive / error counts, mutants and how many were refuted, worst slack, tightest margin)
with each statement's main formula; then the figures with one-line captions and the environment.
The statement document (``docs/statements.md``), its recorded sweep and the counterexample files
are copied into ``OUT`` under the same relative paths, so every link of the page resolves inside
the folder.
"""

from __future__ import annotations

import base64
import html
import platform
import re
import sys
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import pandas as pd

__all__ = ["ReportConfig", "build_report"]


@dataclass(frozen=True)
class ReportConfig:
    """What the report runs. ``quick`` keeps the whole run under about two minutes."""

    out: Path = Path("report")
    quick: bool = True
    seed: int = 0
    jobs: int = 1
    pdf: bool = False
    instances: int | None = None  # per statement; default 8 (quick) or 200
    progress: bool = True
    extra: dict = field(default_factory=dict)

    @property
    def n_instances(self) -> int:
        return self.instances if self.instances is not None else (25 if self.quick else 200)


def _versions() -> dict[str, str]:
    out = {"python": sys.version.split()[0], "platform": platform.platform()}
    for pkg in ("robust-gates", "numpy", "scipy", "cvxpy", "clarabel", "pandas", "matplotlib"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "not installed"
    return out


def _run_checks(cfg: ReportConfig, results: Path) -> tuple[pd.DataFrame | None, str]:
    from robust_gates.simulations.checks import run_suite, save_instances, summarize
    from robust_gates.simulations.statements import STATEMENTS

    run = run_suite(instances=cfg.n_instances, seed=cfg.seed, jobs=cfg.jobs, progress=cfg.progress,
                    mutants=True)
    summary = summarize(run.checks, run.mutants)
    summary.insert(2, "statement", summary["id"].map(lambda i: STATEMENTS[i].text))
    run.checks.to_csv(results / "checks.csv", index=False)
    run.mutants.to_csv(results / "mutants.csv", index=False)
    summary.to_csv(results / "summary.csv", index=False)
    saved = save_instances(run.checks, results / "instances", cfg.seed)
    saved.to_csv(results / "instances.csv", index=False)
    return summary, ""


@dataclass(frozen=True)
class Finding:
    """One line of the report's Findings: what was found, the numbers, and the file to rerun."""

    kind: str  # "refuted clause", "refuted", "inconclusive", "error", "vacuous", "measured"
    statement: str
    what: str
    numbers: str = ""
    file: str = ""


#: the shipped counterexamples (problem files inside the repository) and the clause each refutes
_COUNTEREXAMPLES = "simulations/counterexamples"


def _shipped_counterexamples() -> list[Finding]:
    """Run each shipped counterexample file through ``check --problem`` and list the first
    formalization it refutes (the statement's written-out ``v1 ...`` mutant; a file is named
    after its statement, ``t3_...`` for T3) with the numbers; any part of a registered statement
    it refutes is listed too."""
    from robust_gates.simulations.checks import check_problem
    from robust_gates.simulations.problem_io import load_problem
    from robust_gates.simulations.statements.mutants import mutants_of

    root = Path(__file__).resolve().parent.parent
    out = []
    for path in sorted((root / _COUNTEREXAMPLES).glob("*.json")):
        table = check_problem(load_problem(path), name=path.name)
        sid = {i.lower().replace("-", ""): i for i in table["id"]}.get(path.stem.split("_")[0], "")
        kinds = {(m.statement, m.name): m.kind for m in mutants_of(sid)}
        texts = {m.name: m.text for m in mutants_of(sid)}
        hit = table[(table["kind"] == "mutant") & (table["outcome"] == "refuted") & (table["id"] == sid)]
        hit = hit[[kinds.get((sid, n)) == "clause" and n.startswith("v1") for n in hit["name"]]]
        rel = f"{_COUNTEREXAMPLES}/{path.name}"
        own = table[(table["id"] == sid) & (table["kind"] == "part")]
        holds = bool(len(own)) and bool((own["outcome"] == "holds").all())
        verdict = ("the corrected statement holds on this file" if holds
                   else "the corrected statement does not hold on this file either")
        for row in hit.itertuples():
            out.append(Finding("refuted clause", row.id, texts.get(row.name, row.name),
                               f"the clause claims lhs {row.relation} rhs; here lhs = {row.lhs:.6g}, "
                               f"rhs = {row.rhs:.6g} (slack {row.slack:.3g}); {verdict}", rel))
        broken = table[table["outcome"].isin(["refuted", "error"]) & (table["kind"] != "mutant")]
        for row in broken.itertuples():
            out.append(Finding("refuted", row.id, f"{row.name} {row.note}".strip(),
                               f"lhs = {row.lhs:.6g}, rhs = {row.rhs:.6g}", rel))
    return out


def _findings(summary: pd.DataFrame | None, results: Path) -> list[Finding]:
    """Refuted clauses (shipped counterexamples), then what this run found: refuted statements,
    errors, inconclusive instances (saved as problem files), vacuous and measured statements."""
    found = _shipped_counterexamples()
    if summary is None:
        return found
    saved_csv = results / "instances.csv"
    saved = pd.read_csv(saved_csv).fillna("") if saved_csv.exists() else pd.DataFrame()
    for row in saved.itertuples() if len(saved) else []:
        file = Path(row.file.split(";")[0]).resolve().relative_to(results.resolve().parent).as_posix()
        kind = {"inconclusive": "inconclusive", "refuted": "refuted", "error": "error"}[row.outcome]
        found.append(Finding(kind, row.id, f"{row.family} instance {row.instance}", row.undecided, file))
    for row in summary.itertuples():
        if row.status == "vacuous":
            found.append(Finding("vacuous", row.id, f"none of its {row.mutants:.0f} mutants was refuted on "
                                 f"{row.instances} instances: the check cannot tell it from a stronger "
                                 "false claim here"))
        elif row.status == "measured":
            nums = _measured(row.id, results)
            on_side = [n for n in nums if n[4] is not None]
            agree = sum(bool(n[4]) for n in on_side)
            found.append(Finding("measured", row.id, "measured only, never asserted",
                                 f"{agree} of {len(on_side)} numbers on the side the claim predicts"
                                 + (f"; {row.errors} of {row.instances} measurements raised an error"
                                    if row.errors else "")))
    return found


def _measured(sid: str, results: Path) -> list[tuple[str, float, str, float, bool | None]]:
    """The numbers of measured statement ``sid``: ``(quantity, value, relation, reference, on the
    predicted side)``; for SD, the exact part's largest log-ratio over this run comes first."""
    from robust_gates.simulations.statements import STATEMENTS
    from robust_gates.simulations.statements.measured import measured_numbers, predicted

    if sid not in ("DH", "GB", "SD") or STATEMENTS.get(sid) is None or STATEMENTS[sid].kind != "measured":
        return []
    out = []
    if sid == "SD":
        checks = results / "checks.csv"
        df = pd.read_csv(checks) if checks.exists() else pd.DataFrame(columns=["id", "lhs"])
        sd = df[(df["id"] == "SD") & df["lhs"].notna()]
        if len(sd):
            out.append((f"exact part: largest |log P_r - log sum_k w_k P_k| over {len(sd)} instances "
                        "(0 up to rounding)", float(sd["lhs"].max()), "", float("nan"), None))
    for name, value, rel, ref in measured_numbers(sid):
        out.append((name, value, rel, ref, predicted(value, rel, ref)))
    return out


#: files of the repository the page links to, copied into OUT under the same relative paths
_LINKED = ("docs/statements.md", "docs/statements_sweep.json")


def _copy_linked(out: Path) -> None:
    """Copy the statement document, its recorded sweep and the counterexample files into ``out``
    (same relative paths as in the repository), so the page's links resolve inside the folder."""
    import shutil

    root = Path(__file__).resolve().parent.parent
    files = [root / f for f in _LINKED] + sorted((root / _COUNTEREXAMPLES).glob("*.json"))
    for f in files:
        if f.exists():
            dest = out / f.relative_to(root)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(f, dest)


def _findings_frame(found: list[Finding]) -> pd.DataFrame:
    return pd.DataFrame([f.__dict__ for f in found], columns=["kind", "statement", "what", "numbers", "file"])


def _png_data_uri(path: str) -> str:
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode("ascii")


def build_report(cfg: ReportConfig) -> Path:
    """Run everything the report needs and write it; returns the path of ``index.html``."""
    from robust_gates.figures import draw_all

    start = time.perf_counter()
    out = Path(cfg.out)
    results, figdir = out / "results", out / "figures"
    results.mkdir(parents=True, exist_ok=True)
    figdir.mkdir(parents=True, exist_ok=True)
    summary, checks_note = _run_checks(cfg, results)
    found = _findings_frame(_findings(summary, results))
    found.to_csv(results / "findings.csv", index=False)
    measured = {} if summary is None else {
        sid: _measured(sid, results) for sid in summary.loc[summary["status"] == "measured", "id"]}
    _copy_linked(out)
    figs = draw_all(results, figdir, quick=cfg.quick, seed=cfg.seed, pdf=cfg.pdf,
                    progress=cfg.progress)
    figs = _label_experiment_figures(figs, results)
    seconds = time.perf_counter() - start
    env = _versions() | {"seed": str(cfg.seed), "quick": str(cfg.quick),
                         "instances per statement": str(cfg.n_instances),
                         "run time": f"{seconds:.1f} s"}
    _write_markdown(out / "report.md", summary, checks_note, figs, env, found, measured)
    return _write_html(out / "index.html", summary, checks_note, figs, env, found, measured)


#: figure id -> the summary JSON an experiment writes beside that figure's table
_EXPERIMENT_SUMMARIES = {"fig5": "fig5_summary.json", "real_text": "real_summary.json",
                         "fig5_study": "fig5_study_summary.json", "real_study": "real_study_summary.json"}


def experiment_provenance(fig_id: str, results: Path) -> tuple[str, bool] | None:
    """Which run a neural figure's table came from: ``(label, full)``, read from the summary JSON
    beside the table in ``results`` or, when the table there is the shipped one, the shipped
    summary. ``None`` for figures that are not drawn from an experiment's run."""
    import json

    from robust_gates.figures import FIGURES

    name = _EXPERIMENT_SUMMARIES.get(fig_id)
    if name is None:
        return None
    spec = FIGURES[fig_id]
    candidates = [results / name]
    if spec.shipped:
        shipped_table = Path(__file__).resolve().parent.parent / spec.shipped
        table = results / spec.data
        if not table.exists() or table.read_bytes() == shipped_table.read_bytes():
            candidates.insert(0, shipped_table.parent / name)
    for path in candidates:
        if path.exists():
            summary = json.loads(path.read_text())
            run = summary.get("run")
            if run:
                return str(run.get("label", run.get("config", "?"))), bool(run.get("full"))
            config = summary.get("config", {})
            name_ = config.get("name", "?") if isinstance(config, dict) else str(config)
            seed = summary.get("seed", 0)
            label = name_ + (f" (seed={seed})" if seed else "")
            return label, name_ == "full" and not seed
    return "unknown (no summary beside the table)", False


def _experiment_sections() -> list[tuple[str, str, str]]:
    """``(title, markdown, html)`` for the shipped neural studies' findings: the Figure 5 study
    and the real-text study (their own markdown tables, marked PARTIAL while cells are missing)
    and the real-text ``fit`` demonstration. Read from the shipped tables, so the report needs no
    torch; a missing or unreadable table gives a one-line note instead of a section."""
    import importlib

    sections = []
    for module, title, what in (("fig5_study", "Figure 5 as a study", "Figure 5 study"),
                                ("real_study", "Real text as a study", "real-text study")):
        try:
            md = importlib.import_module(f"robust_gates.paper_repro.neural.{module}").shipped_findings()
            sections.append((f"{title} (shipped tables)", md, _md_to_html(md)))
        except Exception as err:  # noqa: BLE001 - the report states what is missing and goes on
            note = f"{what} not shown: {type(err).__name__}: {err}"
            sections.append((title, f"_{note}_", f"<p class='missing'>{html.escape(note)}</p>"))
    try:
        from robust_gates.paper_repro.neural import real_fit

        # the fragment's findings quote commands in markdown backticks
        frag = re.sub(r"`([^`<>]+)`", r"<code>\1</code>", real_fit.real_fit_section())
        md = ("The certified constant gate and the contextual gate fitted by `robust-gates fit` on the "
              "real-text experts, against that experiment's trained routers: see the HTML report.")
        sections.append(("Fitting the real-text experts (robust-gates fit --real-text)", md, frag))
    except Exception as err:  # noqa: BLE001
        note = f"real-text fit not shown: {type(err).__name__}: {err}"
        sections.append(("Fitting the real-text experts", f"_{note}_",
                         f"<p class='missing'>{html.escape(note)}</p>"))
    return sections


def _md_to_html(md: str) -> str:
    """The small markdown subset the studies write (pipe tables, **bold** lines, paragraphs)."""
    esc = html.escape
    out, rows = [], []

    def inline(text: str) -> str:
        text = re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", esc(text))
        return re.sub(r"`([^`]+)`", r"<code>\1</code>", text)

    def flush():
        if rows:
            body = [r for r in rows if not re.fullmatch(r"\|?[\s|:-]+\|?", r)]
            cells = [[c.strip() for c in r.strip().strip("|").split("|")] for r in body]
            head = "".join(f"<th>{inline(c)}</th>" for c in cells[0])
            trs = "".join("<tr>" + "".join(f"<td>{inline(c)}</td>" for c in r) + "</tr>" for r in cells[1:])
            out.append(f"<table><tr>{head}</tr>{trs}</table>")
            rows.clear()

    items: list[str] = []
    for line in md.splitlines():
        if line.lstrip().startswith("|"):
            rows.append(line)
            continue
        flush()
        if line.startswith("- "):
            items.append(f"<li>{inline(line[2:])}</li>")
            continue
        if items:
            out.append("<ul>" + "".join(items) + "</ul>")
            items.clear()
        if line.strip():
            out.append(f"<p>{inline(line)}</p>")
    flush()
    if items:
        out.append("<ul>" + "".join(items) + "</ul>")
    return "\n".join(out)


def _label_experiment_figures(figs: pd.DataFrame, results: Path) -> pd.DataFrame:
    """Append to each neural figure's caption the configuration its data came from, with a
    warning when it is not the full run (issue: a smoke run must never pass for the paper's)."""
    figs = figs.copy()
    for i, row in figs.iterrows():
        found = experiment_provenance(row["id"], results) if row["status"] == "drawn" else None
        if found is None:
            continue
        label, full = found
        note = f" Data: {label} run." if full else (
            f" WARNING: data from a {label} run, not the full run; its numbers are not the paper's.")
        figs.at[i, "caption"] = row["caption"] + note
    return figs


def _summary_table(summary: pd.DataFrame) -> pd.DataFrame:
    """The statements table as shown: counts as integers, margins within the rounding floor shown
    as 0 (a bound attained up to rounding), a missing margin (no inequality part) left blank, and
    no pass counts, slacks or margins for measured statements (they assert nothing). The
    statements themselves are listed under the table (they made its rows too tall)."""
    from robust_gates.simulations.statements import FP_TOL

    cols = [c for c in ("id", "section", "status", "instances", "passed", "failed", "inconclusive", "errors",
                        "mutants", "mutants_refuted", "worst_slack", "tightest_margin", "median_margin")
            if c in summary.columns]
    out = summary[cols].copy()
    measured = out["status"] == "measured" if "status" in out else pd.Series(False, index=out.index)
    for c in ("mutants", "mutants_refuted"):
        if c in out:
            out[c] = out[c].map(lambda v: "" if pd.isna(v) else str(int(v)))
    for c in ("tightest_margin", "median_margin"):
        if c in out:
            out[c] = out[c].map(lambda v: "" if pd.isna(v) else ("0" if abs(v) <= FP_TOL else f"{v:.3g}"))
    if "worst_slack" in out:
        out["worst_slack"] = out["worst_slack"].map(
            lambda v: "" if pd.isna(v) or v == float("inf") else f"{v:.3g}")
    for c in ("passed", "failed", "inconclusive", "worst_slack", "tightest_margin", "median_margin"):
        if c in out:
            out[c] = out[c].astype(object)
            out.loc[measured, c] = ""
    out["section"] = out["section"].map(lambda t: str(t).split(" (")[0])
    return out


def _statement_lines(summary: pd.DataFrame) -> list[tuple[str, str, str, str]]:
    """``(id, section, statement, LaTeX formula)`` per row, for the list under the table."""
    from robust_gates.simulations.statements.prose import FORMULAS

    return [(r.id, r.section, getattr(r, "statement", ""), FORMULAS.get(r.id, ""))
            for r in summary.itertuples()]


def _mathml(latex: str, display: bool = False) -> str:
    """``latex`` as MathML (converted now, so the page needs no script and no network)."""
    from latex2mathml.converter import convert

    return convert(latex, display="block" if display else "inline")


#: where the statements are written out, relative to OUT (copied there by :func:`_copy_linked`)
_STATEMENTS_DOC = "docs/statements.md"

_SLACK_NOTE = (
    "Each check compares quantities that carry certified intervals (solver certificates, the dual "
    "bounds of inner programs) above a stated rounding floor (1e-9 relative). An instance passes when "
    "the intervals prove every part, fails (is refuted) when they prove a part false, and is "
    "inconclusive otherwise, after one re-run at a tighter solver tolerance; errors are checks that "
    "raised (bugs). status: holds, refuted, vacuous (no mutant refuted), measured or error. mutants: "
    "false, strictly stronger variants registered for the statement; mutants_refuted: how many of them "
    "some instance refuted. worst_slack is the smallest slack (tolerance included) over parts and "
    "instances, so an identity or an attained bound reads about 1e-9; tightest_margin is the smallest "
    "(rhs - lhs) / max(1, |lhs|, |rhs|) over inequality parts without the tolerance (0: attained; "
    "empty: only identities and residuals; margins within the 1e-9 rounding floor are shown as 0); "
    "median_margin is its median over instances. Measured statements (DH, GB, SD) assert nothing: "
    "their numbers are in the Findings. Per-part numbers are in results/checks.csv, mutants in "
    "results/mutants.csv."
)

_FINDINGS_NOTE = (
    "What the checks found, before the tables: each clause refuted by a counterexample shipped with "
    "the project (rerun it with robust-gates check --problem FILE), then, from this run, refuted "
    "statements, checks that raised, inconclusive instances (saved as problem files under results/), "
    "vacuous statements and measured-only ones, whose numbers follow."
)

_INTRO = (
    "Numerical checks of this project's formalization of the statements of Cortes, Mohri, Zhong, "
    "A Theoretical Framework for Modular Learning of Robust Generative Models (arXiv 2602.17554). "
    "Only the paper's abstract, contents, theorem names and figure captions were available, so every "
    "statement checked here is the project's own precise version of a section of the paper. Each "
    "statement, its proof sketch, what its check computes and its status (including the two refuted "
    "first formalizations, of T3 and LF, with their counterexamples) is written out in the statement "
    "document."
)


def _md_table(df: pd.DataFrame) -> str:
    def fmt(v):
        if isinstance(v, float):
            return f"{v:.3g}"
        return str(v).replace("|", "\\|")

    rows = ["| " + " | ".join(map(str, df.columns)) + " |", "|" + "---|" * len(df.columns)]
    rows += ["| " + " | ".join(fmt(v) for v in rec) + " |" for rec in df.itertuples(index=False)]
    return "\n".join(rows)


def _measured_frame(rows) -> pd.DataFrame:
    return pd.DataFrame([{"quantity": q, "value": f"{v:.4g}", "predicted": f"{rel} {ref:.4g}" if rel else "",
                          "on the predicted side": "" if ok is None else ("yes" if ok else "no")}
                         for q, v, rel, ref, ok in rows],
                        columns=["quantity", "value", "predicted", "on the predicted side"])


def _write_markdown(path: Path, summary, checks_note, figs: pd.DataFrame, env: dict,
                    found: pd.DataFrame | None = None, measured: dict | None = None) -> None:
    from robust_gates.simulations.statements.prose import GLOSSARY

    lines = ["# robust-gates report", "", f"{_INTRO} See [{_STATEMENTS_DOC}]({_STATEMENTS_DOC}).", "",
             "## Findings", "", _FINDINGS_NOTE, ""]
    if found is not None and len(found):
        shown = found.fillna("").copy()
        shown["file"] = shown["file"].map(lambda f: f"[{f}]({f})" if f else "")
        lines += [_md_table(shown), ""]
    else:
        lines += ["_Nothing refuted, inconclusive or vacuous._", ""]
    for sid, rows in (measured or {}).items():
        if rows:
            lines += [f"### {sid}: measured numbers", "", _md_table(_measured_frame(rows)), ""]
    lines += ["## Notation", "", "| symbol | definition | meaning |", "|---|---|---|"]
    lines += [f"| ${sym}$ | ${d}$ | {m} |" for sym, d, m in GLOSSARY] + [""]
    lines += ["## Statements", ""]
    if summary is None:
        lines += [f"_Checks not run: {checks_note}._", ""]
    else:
        lines += [_md_table(_summary_table(summary)), "", _SLACK_NOTE, ""]
        lines += [f"- **{sid}** ({sec}): ${tex}$. {text}" if tex else f"- **{sid}** ({sec}): {text}"
                  for sid, sec, text, tex in _statement_lines(summary)] + [""]
    lines += ["## Figures", ""]
    for row in figs.itertuples():
        if row.status == "drawn":
            rel = Path(row.png).relative_to(path.parent)
            lines += [f"### {row.id}: {row.title}", "", f"![{row.title}]({rel})", "", row.caption, ""]
        else:
            lines += [f"### {row.id}: {row.title}", "", f"_Not drawn: {row.message}_", ""]
    lines += ["## Experiments", ""]
    for title, md, _ in _experiment_sections():
        lines += [f"### {title}", "", md, ""]
    lines += ["## Environment", "", "| item | value |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in env.items()]
    path.write_text("\n".join(lines) + "\n")


_FINDING_GROUPS = (
    ("refuted clause", "Refuted clauses (counterexamples shipped with the project)"),
    ("refuted", "Refuted by this run"),
    ("error", "Checks that raised (bugs)"),
    ("inconclusive", "Inconclusive instances of this run"),
    ("vacuous", "Vacuous as checked"),
    ("measured", "Measured only, never asserted"),
)


def _link(file: str) -> str:
    esc = html.escape
    return f"<a href='{esc(file)}'><code>{esc(file)}</code></a>" if file else ""


def _findings_html(found: pd.DataFrame | None, measured: dict | None = None) -> str:
    esc = html.escape
    if found is None or not len(found):
        return "<p>Nothing refuted, inconclusive or vacuous.</p>"
    found = found.fillna("")
    parts = []
    for kind, title in _FINDING_GROUPS:
        g = found[found["kind"] == kind]
        if not len(g):
            continue
        parts.append(f"<h3 class='{esc(kind.split()[0])}'>{esc(title)}</h3>")
        if kind == "measured":
            for f in g.itertuples():
                parts.append(f"<p><b>{esc(f.statement)}</b>: {esc(f.numbers)}.</p>")
                rows = (measured or {}).get(f.statement, [])
                if rows:
                    parts.append(_measured_frame(rows).to_html(index=False, classes="measured", border=0,
                                                               justify="left"))
            continue
        rows = ["<table class='findings'><tr><th>statement</th><th>what</th><th>numbers</th>"
                "<th>file</th></tr>"]
        for f in g.itertuples():
            rows.append(f"<tr><td>{esc(f.statement)}</td><td>{esc(f.what)}</td><td>{esc(f.numbers)}</td>"
                        f"<td>{_link(f.file)}</td></tr>")
        rows.append("</table>")
        parts.append("".join(rows))
    return "".join(parts)


def _glossary_html() -> str:
    from robust_gates.simulations.statements.prose import GLOSSARY

    esc = html.escape
    rows = ["<table class='glossary'><tr><th>symbol</th><th>definition</th><th>meaning</th></tr>"]
    rows += [f"<tr><td>{_mathml(sym)}</td><td>{_mathml(d)}</td><td>{esc(m)}</td></tr>"
             for sym, d, m in GLOSSARY]
    rows.append("</table>")
    return "".join(rows)


def _write_html(path: Path, summary, checks_note, figs: pd.DataFrame, env: dict,
                found: pd.DataFrame | None = None, measured: dict | None = None) -> Path:
    esc = html.escape
    parts = ["<!doctype html><html lang='en'><head><meta charset='utf-8'><title>robust-gates report</title>",
             "<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;"
             "line-height:1.45}"
             "table{border-collapse:collapse;font-size:0.9em;margin:.5em 0}td,th{border:1px solid #ccc;"
             "padding:3px 6px}th{background:#f3f3f3}figure{margin:1.5em 0}img{max-width:100%}"
             ".missing{color:#a33}h3.refuted,h3.error{color:#a33}h3.inconclusive{color:#a60}"
             "table.findings td{vertical-align:top}table.glossary td{vertical-align:middle}"
             "code{font-size:0.85em;word-break:break-all}dl.statements dd{margin:0 0 .8em 2em}"
             "dl.statements dt{margin-top:.4em}td:first-child{white-space:nowrap}"
             "math{font-size:1.08em}.note{color:#444;font-size:.88em}div.formula{margin:.25em 0 .3em}"
             "</style></head><body>",
             "<h1>robust-gates report</h1>",
             f"<p>{esc(_INTRO)} Read it here: <a href='{_STATEMENTS_DOC}'><code>{_STATEMENTS_DOC}</code></a> "
             "(its recorded sweep: <a href='docs/statements_sweep.json'><code>docs/statements_sweep.json"
             "</code></a>). "
             "Contents: <a href='#findings'>Findings</a>, <a href='#notation'>Notation</a>, "
             "<a href='#statements'>Statements</a>, <a href='#figures'>Figures</a>, "
             "<a href='#experiments'>Experiments</a>, <a href='#environment'>Environment</a>.</p>",
             "<h2 id='findings'>Findings</h2>", f"<p class='note'>{esc(_FINDINGS_NOTE)}</p>",
             _findings_html(found, measured),
             "<h2 id='notation'>Notation</h2>",
             "<p class='note'>Natural logarithms (nats) throughout; 0 log 0 = 0; a KL divergence is infinite "
             "when its first argument puts mass where the second puts none.</p>", _glossary_html(),
             "<h2 id='statements'>Statements</h2>"]
    if summary is None:
        parts.append(f"<p class='missing'>Checks not run: {esc(checks_note)}.</p>")
    else:
        parts.append(_summary_table(summary).to_html(index=False, float_format=lambda v: f"{v:.3g}",
                                                     na_rep="", border=0, justify="left"))
        parts.append(f"<p class='note'>{esc(_SLACK_NOTE)}</p>")
        parts.append("<dl class='statements'>" + "".join(
            f"<dt><b>{esc(sid)}</b> {esc(sec)}</dt><dd>"
            + (f"<div class='formula'>{_mathml(tex)}</div>" if tex else "") + f"{esc(text)}</dd>"
            for sid, sec, text, tex in _statement_lines(summary)) + "</dl>")
    parts.append("<h2 id='figures'>Figures</h2>")
    for row in figs.itertuples():
        parts.append(f"<h3>{esc(row.id)}: {esc(row.title)}</h3>")
        if row.status == "drawn":
            parts.append(f"<figure><img alt='{esc(row.title)}' src='{_png_data_uri(row.png)}'>"
                         f"<figcaption>{esc(row.caption)}</figcaption></figure>")
        else:
            parts.append(f"<p class='missing'>Not drawn: {esc(row.message)}</p>")
    parts.append("<h2 id='experiments'>Experiments</h2>")
    for title, _, frag in _experiment_sections():
        heading = "" if frag.lstrip().startswith("<h3") else f"<h3>{esc(title)}</h3>"
        parts.append(heading + frag)
    parts.append("<h2 id='environment'>Environment</h2><table>")
    parts += [f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in env.items()]
    parts.append("</table></body></html>")
    path.write_text("\n".join(parts))
    return path
