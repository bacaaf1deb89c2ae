"""Paper Figure 5 (SPEC DH): loss against the mixture weight for the robust gate, the fixed and
the oracle monolithic models; mean over runs with a one-standard-deviation band.

Input: the tidy table written by ``robust-gates repro fig5`` (``robust_gates.paper_repro.neural.fig5``), with
columns ``method`` (``robust_gate``, ``fixed``, ``oracle``, optionally ``bayes``), ``size``
(``modular``, ``smaller``, ``larger``, ``exact``), ``lam`` (weight of domain 1), ``seed`` and
``loss`` (held-out cross-entropy, nats per token, at mixture ``lam``). When the column
``excess`` (loss minus the exact entropy rate ``lam H_1 + (1 - lam) H_2``) is present it is
plotted instead of ``loss`` (same curves shifted by the entropy rate, which is constant in
``lam`` when ``H_1 = H_2``), so the differences between the methods are visible. Left panel: robust gate
versus the fixed Smaller and Larger models. Right panel: robust gate versus the oracles
(retrained per ``lam``), Smaller dashed, Larger solid. This module never imports torch.
"""

from __future__ import annotations

import pandas as pd

from .registry import FigureSpec, register_figure
from .style import NATS, color, new_figure, styled

_REQUIRED = ("method", "size", "lam", "seed", "loss")
_CURVES = {
    "robust_gate/modular": ("robust gate (2 Smaller experts)", "blue", "-"),
    "fixed/smaller": ("fixed Smaller (50/50)", "orange", "--"),
    "fixed/larger": ("fixed Larger (50/50)", "vermillion", "-"),
    "oracle/smaller": ("oracle Smaller (per lam)", "green", "--"),
    "oracle/larger": ("oracle Larger (per lam)", "green", "-"),
    "bayes/exact": ("Bayes mixture (true rules)", "black", ":"),
}
_PANELS = (("robust gate vs fixed", ("robust_gate/modular", "fixed/smaller", "fixed/larger")),
           ("robust gate vs oracles", ("robust_gate/modular", "oracle/smaller", "oracle/larger",
                                       "bayes/exact")))


def _band(ax, g: pd.DataFrame, key: str, y: str) -> None:
    label, col, ls = _CURVES[key]
    stats = g.groupby("lam")[y].agg(["mean", "std"]).fillna(0.0)
    ax.plot(stats.index, stats["mean"], color=color(col), ls=ls, marker="o", ms=2.2, label=label)
    ax.fill_between(stats.index, stats["mean"] - stats["std"], stats["mean"] + stats["std"],
                    color=color(col), alpha=0.2, lw=0)


@styled
def plot(df: pd.DataFrame):
    """``DataFrame -> Figure``: two panels of loss against ``lam`` (module docstring)."""
    for col in _REQUIRED:
        if col not in df.columns:
            raise ValueError(f"the fig5 table needs a column {col!r}; run `robust-gates repro fig5`")
    df = df.assign(key=df["method"] + "/" + df["size"])
    missing = [k for k in ("robust_gate/modular", "fixed/smaller", "fixed/larger", "oracle/smaller",
                           "oracle/larger") if k not in set(df.key)]
    if missing:
        raise ValueError(f"the fig5 table has no rows for {missing}")
    y = "excess" if "excess" in df.columns else "loss"
    fig, axes = new_figure("page", aspect=0.42, ncols=2, sharey=True)
    seeds = df.seed.nunique()
    for ax, (title, keys) in zip(axes, _PANELS, strict=True):
        for key in keys:
            g = df[df.key == key]
            if len(g):
                _band(ax, g, key, y)
        if y == "excess":
            ax.axhline(0.0, color="0.5", lw=0.8, ls="-.", label="entropy rate (excess 0)")
        ax.set_xlabel("mixture weight lam (of domain 1)")
        ax.set_title(f"{title} (mean ± std, {seeds} runs)")
        ax.set_xlim(0, 1)
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2, fontsize=6)
    axes[0].set_ylabel(f"held-out excess cross-entropy [{NATS}/token]" if y == "excess"
                       else f"held-out cross-entropy [{NATS}/token]")
    return fig


SPEC = register_figure(FigureSpec(
    id="fig5", title="Gradient conflict",
    caption="Loss versus mixture weight for the robust gate, fixed and oracle monolithic models.",
    data="fig5_gradient_conflict.csv", plot=plot, produce=None,
    requires="run `robust-gates repro fig5` first", paper=True,
    shipped="paper_repro/neural/results/fig5_gradient_conflict.csv", order=50))
