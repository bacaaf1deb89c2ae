"""Figure 5 as a study (``robust-gates repro fig5-study``): the conflict sweep with 95% bootstrap
intervals over task seeds.

Input: ``fig5_study_intervals.csv`` written by ``robust_gates.paper_repro.neural.fig5_study``,
one row per ``quantity`` (``excess``, ``gap``, ``cos_late``, ``cos_traj``, ``crossing``, ...),
conflict strength ``c``, sequence length ``T``, ``method``, ``size``, ``lam`` and ``step``, with
``mean``, ``lo``, ``hi`` (the interval) and ``n_tasks`` (task seeds behind it). Top row: excess
held-out loss against ``lam``, one panel per ``c`` (the main sequence length), for the robust
gate, the gate that knows ``lam``, the matched-size monolithic models (fixed, oracle, robust)
and the exact Bayes mixture. Bottom row: (a) the gap monolithic minus robust gate at
``lam = 0.5`` against ``c`` (above 0: the modular system wins); (b) the late-training cosine
between the per-domain gradients at ``lam = 0.5`` against ``c``; (c) that cosine through
training, one line per ``c`` (matched size); (d) where the oracles stop beating the gate: the
``lam`` distance from a vertex within which the oracle is below the gate, against ``T``
(at ``c = 1``). Bands and error bars are the intervals; one task seed gives no interval.
This module never imports torch.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .registry import FigureSpec, register_figure
from .style import NATS, color, new_figure, styled

_REQUIRED = ("quantity", "c", "T", "method", "size", "lam", "step", "mean", "lo", "hi", "n_tasks")
_LOSS_CURVES = {  # (method, size) -> label, colour, line style
    ("robust_gate", "modular"): ("robust gate (2 Smaller + router)", "blue", "-"),
    ("known_lam_gate", "modular"): ("gate knowing lam (posterior)", "sky", "--"),
    ("oracle", "matched"): ("oracle, matched size", "green", "-"),
    ("oracle", "larger"): ("oracle, Larger", "green", "--"),
    ("fixed", "matched"): ("fixed 50/50, matched size", "orange", "-"),
    ("robust_mono", "matched"): ("robust monolithic, matched", "vermillion", "-"),
    ("bayes", "exact"): ("Bayes mixture (true rules)", "black", ":"),
}
# Colour = kind of model (as in the top row: fixed orange, robust monolithic vermillion, oracle
# green, gates blue); marker and line style = size, the same in every panel.
_SIZES = {"smaller": ("Smaller", "v", ":"), "matched": ("matched size", "o", "-"),
          "larger": ("Larger", "D", "--")}


def _main_T(df: pd.DataFrame) -> int:
    """The sequence length of the main sweep: the one with the most conflict strengths."""
    e = df[df.quantity == "excess"]
    return int(e.groupby("T").c.nunique().idxmax())


def _errorbar(ax, x, g, col, label, marker="o", dx=0.0, ls="-"):
    ax.errorbar(np.asarray(x, float) + dx, g["mean"], yerr=[g["mean"] - g["lo"], g["hi"] - g["mean"]],
                color=color(col), marker=marker, ms=3, capsize=2, lw=1.1, ls=ls, label=label)


@styled
def plot(df: pd.DataFrame):
    """``DataFrame -> Figure`` (module docstring)."""
    for col in _REQUIRED:
        if col not in df.columns:
            raise ValueError(f"the fig5 study table needs a column {col!r}; "
                             "run `robust-gates repro fig5-study`")
    if not (df.quantity == "excess").any():
        raise ValueError("the fig5 study table has no finished cells (no 'excess' rows)")
    T = _main_T(df)
    conflicts = sorted(df[(df.quantity == "excess") & (df["T"] == T)].c.unique())
    ncols = max(4, len(conflicts))
    fig, axes = new_figure("page", aspect=0.62, ncols=ncols, nrows=2)
    ex = df[(df.quantity == "excess") & (df["T"] == T)]
    top = axes[0]
    for i, ax in enumerate(top):
        if i >= len(conflicts):
            ax.set_axis_off()
            continue
        c = conflicts[i]
        for (method, size), (label, col, ls) in _LOSS_CURVES.items():
            g = ex[(ex.c == c) & (ex.method == method) & (ex["size"] == size)].sort_values("lam")
            if not len(g):
                continue
            ax.plot(g.lam, g["mean"], color=color(col), ls=ls, marker="o", ms=1.8, lw=1.1, label=label)
            ax.fill_between(g.lam, g["lo"], g["hi"], color=color(col), alpha=0.18, lw=0)
        n = int(ex[ex.c == c].n_tasks.min())
        ax.set_title(f"c = {c:g}" + (" (control)" if c == 0 else "") + f"; {n} task seed{'s' * (n != 1)}")
        ax.set_xlabel("lam (weight of domain 1)")
        ax.set_xlim(0, 1)
        ax.axhline(0, color="0.6", lw=0.6)
    top[0].set_ylabel(f"excess CE [{NATS}/token]")
    handles, labels = top[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside upper center", ncol=4, fontsize=6.5)

    a, b, tr, cr = axes[1][:4]
    gap = df[(df.quantity == "gap") & (df["T"] == T) & (df.lam == 0.5)]
    for j, (size, (label, marker, ls)) in enumerate(_SIZES.items()):
        g = gap[(gap.method == "fixed") & (gap["size"] == size)].sort_values("c")
        if len(g):
            _errorbar(a, g.c, g, "orange", f"fixed 50/50 {label} (= oracle at 0.5)", marker=marker, ls=ls,
                      dx=(j - 1) * 0.012)
    g = gap[(gap.method == "robust_mono")].sort_values("c")
    if len(g):
        _errorbar(a, g.c, g, "vermillion", "robust monolithic, matched size", marker="s", dx=0.024)
    g = gap[(gap.method == "known_lam_gate")].sort_values("c")
    if len(g):
        _errorbar(a, g.c, g, "sky", "gate knowing lam", marker="^", dx=-0.024)
    a.axhline(0, color="0.5", lw=0.7, ls="-.")
    a.set_xlabel("conflict strength c")
    a.set_ylabel(f"monolithic - gate [{NATS}/token]")
    a.set_title("(a) gap at lam = 0.5")
    a.text(0.02, 0.98, "> 0: modular wins", transform=a.transAxes, va="top", fontsize=5.5, color="0.35")
    a.legend(fontsize=5, loc="upper center", bbox_to_anchor=(0.5, -0.28), ncol=1)

    cos = df[(df.quantity == "cos_late") & (df["T"] == T) & (df.lam == 0.5) & (df.method == "fixed")]
    for j, (size, (label, marker, ls)) in enumerate(_SIZES.items()):
        g = cos[cos["size"] == size].sort_values("c")
        if len(g):
            _errorbar(b, g.c, g, "orange", f"fixed 50/50 {label}", marker=marker, ls=ls, dx=(j - 1) * 0.012)
    b.axhline(0, color="0.5", lw=0.7, ls="-.")
    b.set_xlabel("conflict strength c")
    b.set_ylabel("cos(g_1, g_2), late half")
    b.set_title("(b) late cosine at 0.5")
    b.legend(fontsize=5, loc="upper center", bbox_to_anchor=(0.5, -0.28), ncol=1)

    traj = df[(df.quantity == "cos_traj") & (df["T"] == T) & (df.method == "fixed")
              & (df["size"] == "matched")]
    for i, c in enumerate(conflicts):
        g = traj[traj.c == c].sort_values("step")
        if len(g):
            tr.plot(g.step, g["mean"], color=color(i), lw=1.1, label=f"c = {c:g}")
            tr.fill_between(g.step, g["lo"], g["hi"], color=color(i), alpha=0.18, lw=0)
    tr.axhline(0, color="0.5", lw=0.7, ls="-.")
    tr.set_xlabel("training step")
    tr.set_ylabel("cos(g_1, g_2)")
    tr.set_title("(c) cosine, training")
    tr.legend(fontsize=5, title="fixed 50/50, matched size", title_fontsize=5, loc="upper center",
              bbox_to_anchor=(0.5, -0.28), ncol=2)

    cross = df[df.quantity == "crossing"]
    for j, (size, (label, marker, ls)) in enumerate(_SIZES.items()):
        g = cross[cross["size"] == size].sort_values("T")
        if len(g):
            _errorbar(cr, g["T"], g, "green", f"oracle {label}", marker=marker, ls=ls, dx=(j - 1) * 0.4)
    if len(cross):
        cr.set_xticks(sorted(cross["T"].unique()))
    else:
        cr.text(0.5, 0.5, "no crossing cells yet", ha="center", va="center", transform=cr.transAxes,
                fontsize=6, color="0.4")
    cr.set_xlabel("sequence length T (c = 1)")
    cr.set_ylabel("lam distance from vertex")
    cr.set_title("(d) where oracles win")
    cr.set_ylim(-0.02, 0.52)
    if len(cross):
        cr.legend(fontsize=5, loc="upper center", bbox_to_anchor=(0.5, -0.28), ncol=1)
    for ax in axes[1][4:]:
        ax.set_axis_off()
    return fig


SPEC = register_figure(FigureSpec(
    id="fig5_study", title="Gradient conflict: the conflict sweep",
    caption=("Figure 5 as a study: loss against lam per conflict strength, the gap to the robust gate "
             "and the gradient cosine against c, and where the oracles cross the gate; 95% bootstrap "
             "intervals over task seeds."),
    data="fig5_study_intervals.csv", plot=plot, produce=None,
    requires="run `robust-gates repro fig5-study` first", paper=False,
    shipped="paper_repro/neural/results/fig5_study_intervals.csv", order=65))
