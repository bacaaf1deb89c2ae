"""``robust-gates report``: checks, cheap simulations and every figure, in one self-contained report.

Writes ``OUT/report.md`` and ``OUT/index.html`` (figures embedded as PNG, tables as HTML), the
result tables under ``OUT/results/`` (each figure's table computed by the producer it registered
in :mod:`robust_gates.figures`) and the figures under ``OUT/figures/``. The report lists,
for every checked statement (stated in full in the repository's ``docs/statements.md``), its
paper section, the statement, the instances tried, the pass count, the worst slack and the
tightest margin; then the figures with one-line captions; then the environment.
"""

from __future__ import annotations

import base64
import html
import platform
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
    from robust_gates.simulations.checks import run_checks, summarize
    from robust_gates.simulations.statements import STATEMENTS

    checks = run_checks(instances=cfg.n_instances, seed=cfg.seed, jobs=cfg.jobs,
                        progress=cfg.progress)
    summary = summarize(checks)
    summary.insert(2, "statement", summary["id"].map(lambda i: STATEMENTS[i].text))
    checks.to_csv(results / "checks.csv", index=False)
    summary.to_csv(results / "summary.csv", index=False)
    return summary, ""


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
    figs = draw_all(results, figdir, quick=cfg.quick, seed=cfg.seed, pdf=cfg.pdf,
                    progress=cfg.progress)
    figs = _label_experiment_figures(figs, results)
    seconds = time.perf_counter() - start
    env = _versions() | {"seed": str(cfg.seed), "quick": str(cfg.quick),
                         "instances per statement": str(cfg.n_instances),
                         "run time": f"{seconds:.1f} s"}
    _write_markdown(out / "report.md", summary, checks_note, figs, env)
    return _write_html(out / "index.html", summary, checks_note, figs, env)


#: figure id -> the summary JSON an experiment writes beside that figure's table
_EXPERIMENT_SUMMARIES = {"fig5": "fig5_summary.json", "real_text": "real_summary.json"}


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
    cols = [c for c in ("id", "section", "statement", "instances", "passed", "failed",
                        "worst_slack", "tightest_margin", "median_margin") if c in summary.columns]
    return summary[cols]


#: where the statements are written out (a path inside the repository, so it resolves in a clone)
_STATEMENTS_DOC = "docs/statements.md of the robust-gates repository"

_SLACK_NOTE = (
    "A check holds when its slack is >= 0. The slack of a part 'lhs <= rhs' is rhs - lhs + tol, "
    "with tol the rounding floor (1e-9 relative) plus the certificate gaps of the solves it uses; "
    "each statement's worst slack is its smallest over parts and instances, so a statement "
    "containing an identity (checked as equality) or a bound that is attained reports about 1e-9 "
    "there. How sharp a check is shows in tightest_margin: over instances and inequality parts, "
    "the smallest (rhs - lhs) / max(1, |lhs|, |rhs|) without the tolerance (0: the bound is "
    "attained somewhere; > 0: room never used; empty: only identities and residuals); "
    "median_margin is the median over instances of each instance's tightest margin. Per-part "
    "numbers are in results/checks.csv."
)


def _md_table(df: pd.DataFrame) -> str:
    def fmt(v):
        if isinstance(v, float):
            return f"{v:.3g}"
        return str(v).replace("|", "\\|")

    rows = ["| " + " | ".join(map(str, df.columns)) + " |", "|" + "---|" * len(df.columns)]
    rows += ["| " + " | ".join(fmt(v) for v in rec) + " |" for rec in df.itertuples(index=False)]
    return "\n".join(rows)


def _write_markdown(path: Path, summary, checks_note, figs: pd.DataFrame, env: dict) -> None:
    lines = ["# robust-gates report", "",
             "Numerical checks of this project's formalization of the statements of "
             "Cortes, Mohri, Zhong, arXiv 2602.17554. Each statement, its proof sketch, what its "
             "check computes and its status (including the two refuted first formalizations, of "
             f"T3 and LF, with their counterexamples) is in {_STATEMENTS_DOC}.", "",
             "## Statements", ""]
    if summary is None:
        lines += [f"_Checks not run: {checks_note}._", ""]
    else:
        lines += [_md_table(_summary_table(summary)), "", _SLACK_NOTE, ""]
    lines += ["## Figures", ""]
    for row in figs.itertuples():
        if row.status == "drawn":
            rel = Path(row.png).relative_to(path.parent)
            lines += [f"### {row.id}: {row.title}", "", f"![{row.title}]({rel})", "", row.caption, ""]
        else:
            lines += [f"### {row.id}: {row.title}", "", f"_Not drawn: {row.message}_", ""]
    lines += ["## Environment", "", "| item | value |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in env.items()]
    path.write_text("\n".join(lines) + "\n")


def _write_html(path: Path, summary, checks_note, figs: pd.DataFrame, env: dict) -> Path:
    esc = html.escape
    parts = ["<!doctype html><html><head><meta charset='utf-8'><title>robust-gates report</title>",
             "<style>body{font-family:sans-serif;max-width:980px;margin:2em auto;line-height:1.4}"
             "table{border-collapse:collapse;font-size:0.9em}td,th{border:1px solid #ccc;"
             "padding:3px 6px}figure{margin:1.5em 0}img{max-width:100%}"
             ".missing{color:#a33}</style></head><body>",
             "<h1>robust-gates report</h1>",
             "<p>Numerical checks of this project's formalization of the statements of "
             "Cortes, Mohri, Zhong, <i>A Theoretical Framework for Modular Learning of Robust "
             "Generative Models</i>, arXiv 2602.17554. Each statement, its proof sketch, what its "
             "check computes and its status (including the two refuted first formalizations, of "
             f"T3 and LF, with their counterexamples) is in {esc(_STATEMENTS_DOC)}.</p>",
             "<h2>Statements</h2>"]
    if summary is None:
        parts.append(f"<p class='missing'>Checks not run: {esc(checks_note)}.</p>")
    else:
        parts.append(_summary_table(summary).to_html(index=False, float_format=lambda v: f"{v:.3g}"))
        parts.append(f"<p><small>{esc(_SLACK_NOTE)}</small></p>")
    parts.append("<h2>Figures</h2>")
    for row in figs.itertuples():
        parts.append(f"<h3>{esc(row.id)}: {esc(row.title)}</h3>")
        if row.status == "drawn":
            parts.append(f"<figure><img alt='{esc(row.title)}' src='{_png_data_uri(row.png)}'>"
                         f"<figcaption>{esc(row.caption)}</figcaption></figure>")
        else:
            parts.append(f"<p class='missing'>Not drawn: {esc(row.message)}</p>")
    parts.append("<h2>Environment</h2><table>")
    parts += [f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in env.items()]
    parts.append("</table></body></html>")
    path.write_text("\n".join(parts))
    return path
