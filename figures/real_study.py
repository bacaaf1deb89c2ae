"""Real text as a study (``robust-gates repro real-study``): size sweep, matched and robust
monolithic baselines and the controlled conflict, with 95% bootstrap intervals over documents.

Input: ``real_study_intervals.csv`` written by ``robust_gates.paper_repro.neural.real_study``,
one row per ``quantity`` (``bpb``, ``regret``, ``gap_bpb``, ``gap_regret``, ``gap_same_size``),
cell group ``c`` (``-1``: the three-domain study; otherwise the conflict fraction), ``method``,
``size``, ``domain`` (a domain, ``worst`` or ``average``), ``params``, ``mean``, ``lo``, ``hi``
and ``n_seeds``. Panels: (a) the size sweep, worst-case bits per byte against total
parameters for the monolithic models and the robust gate over experts of each size, with the
total-parameter and robust monolithic models as single points; (b) worst-case regret of every
method of the base size; (c) the controlled conflict, the monolithic model minus the robust
gate against ``c`` (worst case, average and the permuted domain); (d) bits per byte on the
permuted domain against ``c``. This module never imports torch.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.ticker import NullFormatter

from .registry import FigureSpec, register_figure
from .style import color, new_figure, styled

_REQUIRED = ("quantity", "c", "method", "size", "domain", "params", "mean", "lo", "hi", "n_seeds")
_MAIN = -1.0


#: method ids of the tables -> the words on the regret panel's axis
_READABLE = {
    "mono_total_params": "monolithic, total params",
    "uniform_mixture": "uniform mixture",
    "robust_mono": "robust monolithic (DRO)",
    "robust_gate_regret": "robust gate, regret payoff",
    "robust_gate": "robust gate, CE payoff",
    "monolithic": "monolithic, matched compute",
    "bayes_router": "Bayes router",
}


def _errorbar(ax, x, g, col, label, marker="o", ls="-"):
    ax.errorbar(np.asarray(x, float), g["mean"], yerr=[g["mean"] - g["lo"], g["hi"] - g["mean"]],
                color=color(col), marker=marker, ms=3.5, capsize=2, lw=1.1, ls=ls, label=label)


def _base_size(df: pd.DataFrame) -> str:
    """The base size: the robust monolithic model's (else the robust gate's, else the most common)."""
    for method in ("robust_mono", "robust_gate"):
        r = df[df.method == method]["size"]
        if len(r):
            return str(r.mode().iloc[0])
    return str(df["size"].mode().iloc[0])


@styled
def plot(df: pd.DataFrame):
    """``DataFrame -> Figure`` (module docstring)."""
    for col in _REQUIRED:
        if col not in df.columns:
            raise ValueError(f"the real-text study table needs a column {col!r}; "
                             "run `robust-gates repro real-study`")
    if not (df.quantity == "bpb").any():
        raise ValueError("the real-text study table has no finished cells (no 'bpb' rows)")
    base = _base_size(df)
    fig, axes = new_figure("page", aspect=0.62, ncols=2, nrows=2)
    a, b = axes[0]
    cc, d = axes[1]
    main = df[df.c == _MAIN]
    worst = main[(main.quantity == "bpb") & (main.domain == "worst")]
    for method, col, label, marker in (("monolithic", "orange", "monolithic, matched", "o"),
                                       ("robust_gate", "blue", "robust gate", "s")):
        g = worst[worst.method == method].sort_values("params")
        if len(g):
            _errorbar(a, g.params, g, col, label, marker)
    for method, col, label, marker in (("mono_total_params", "purple", "monolithic, total params", "D"),
                                       ("robust_mono", "vermillion", "group DRO monolithic", "^")):
        g = worst[worst.method == method]
        if len(g):
            _errorbar(a, g.params, g, col, label, marker, ls="none")
    a.set_xscale("log")
    a.xaxis.set_minor_formatter(NullFormatter())
    ticks = []
    for p in sorted(worst.params.unique()):  # one label per cluster of nearly equal sizes
        if not ticks or p > 1.5 * ticks[-1]:  # (labels 1.2x apart overlap on this log axis)
            ticks.append(p)
    a.set_xticks(ticks)
    a.set_xticklabels([f"{p / 1000:.0f}k" for p in ticks], fontsize=6)
    a.set_xlabel("parameters (modular: all experts + router)")
    a.set_ylabel("worst-domain CE [bits/byte]")
    a.set_title("(a) size sweep, worst case over domains")
    if a.get_legend_handles_labels()[0]:
        a.legend(fontsize=5.5, loc="lower left")  # short labels: the corner below the small models is free

    reg = main[(main.quantity == "regret") & (main.domain == "worst") & (main["size"] == base)]
    reg = pd.concat([reg, main[(main.quantity == "regret") & (main.domain == "worst")
                               & (main.method == "mono_total_params")]])
    reg = reg[~reg.method.str.startswith("expert_")].reset_index(drop=True)
    if len(reg):
        y = np.arange(len(reg))
        b.errorbar(reg["mean"], y, xerr=[reg["mean"] - reg["lo"], reg["hi"] - reg["mean"]], fmt="o",
                   color=color("blue"), ms=3.5, capsize=2)
        b.set_yticks(y)
        b.set_yticklabels([f"{_READABLE.get(m, m)} ({int(n)} seeds)"
                           for m, n in zip(reg.method, reg.n_seeds, strict=True)],
                          fontsize=5.5)
    b.axvline(0, color="0.5", lw=0.7, ls="-.")
    b.set_xlabel("worst-domain regret [bits/byte]")
    b.set_title(f"(b) regret vs own-domain expert ({base})")

    conf = df[(df.c != _MAIN)]
    gap = conf[(conf.quantity == "gap_bpb") & (conf.method == "monolithic")]
    perm = [x for x in conf.domain.unique() if str(x).endswith("_perm")]
    for dom, col, label in (("worst", "vermillion", "worst domain"), ("average", "orange", "average"),
                            *((p, "purple", p) for p in perm)):
        g = gap[gap.domain == dom].sort_values("c")
        if len(g):
            _errorbar(cc, g.c, g, col, label)
    cc.axhline(0, color="0.5", lw=0.7, ls="-.")
    cc.set_xlabel("fraction c of the copy under the byte bijection")
    cc.set_ylabel("monolithic - robust gate [bits/byte]")
    cc.set_title("(c) controlled conflict: gap (> 0: modular wins)")
    if len(gap):
        cc.legend(fontsize=5.5)
    else:
        cc.text(0.5, 0.5, "no conflict cells yet", ha="center", va="center", transform=cc.transAxes,
                fontsize=6, color="0.4")

    bp = conf[(conf.quantity == "bpb") & conf.domain.isin(perm)]
    for method, col, label in (("monolithic", "orange", "monolithic (4 domains)"),
                               ("robust_gate", "blue", "robust gate (4 experts)"),
                               ("uniform_mixture", "sky", "uniform mixture")):
        g = bp[bp.method == method].sort_values("c")
        if len(g):
            _errorbar(d, g.c, g, col, label)
    g = bp[bp.method.isin([f"expert_{p}" for p in perm])].sort_values("c")
    if len(g):
        _errorbar(d, g.c, g, "green", "its own expert")
    d.set_xlabel("fraction c of the copy under the byte bijection")
    d.set_ylabel("CE on the permuted copy [bits/byte]")
    d.set_title("(d) controlled conflict: the permuted domain")
    if len(bp):
        d.legend(fontsize=5.5)
    return fig


SPEC = register_figure(FigureSpec(
    id="real_study", title="Real text: size sweep, matched baselines and controlled conflict",
    caption=("Real text as a study: worst-domain bits per byte against parameters, worst-case regret per "
             "method, and the monolithic-minus-gate gap under a controlled byte-bijection conflict; 95% "
             "bootstrap intervals over test documents, means over seeds."),
    data="real_study_intervals.csv", plot=plot, produce=None,
    requires="run `robust-gates repro real-study` first", paper=False,
    shipped="paper_repro/neural/results/real_study_intervals.csv", order=75))
