"""Real text (``robust-gates repro real``): worst case against average bits per byte per method.

Input: ``real_table.csv`` written by :mod:`paper_repro.neural.real`, one row per ``method`` and
``split`` with ``bpb_python, bpb_prose, bpb_c`` (bits per byte on each domain), ``worst_simplex``
(the worst domain), ``average`` (uniform mixture), ``size`` and ``params``. Only the ``test``
rows are drawn (the ``valid`` split is the routers' training data). Left: each method as a point
(average, worst case); points below the diagonal's band are more robust than their average
suggests; the modular methods are triangles, Smaller single models circles, the Larger model a
square, the per-``lam`` oracle a diamond (its worst case is over the grid only). Right: bits per
byte on each domain. This module never imports torch.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .style import color, new_figure, styled

_REQUIRED = ("method", "split", "size", "bpb_python", "bpb_prose", "bpb_c", "worst_simplex", "average")
_DOMAINS = ("python", "prose", "c")
_MARKER = {"smaller": "o", "larger": "s", "modular": "^"}
_LABEL = {
    "expert_python": "expert: Python", "expert_prose": "expert: prose", "expert_c": "expert: C",
    "monolithic_smaller": "monolithic Smaller", "monolithic_larger": "monolithic Larger",
    "oracle_mixed_a": "oracle (mixed a)", "oracle_mixed_b": "oracle (mixed b)",
    "uniform_mixture": "uniform mixture", "bayes_router": "Bayes router (uniform prior)",
    "robust_gate": "robust gate (simplex)", "robust_gate_box": "robust gate (box)",
    "oracle": "oracle per lam (grid)",
}
_COLOR = {
    "expert_python": "sky", "expert_prose": "sky", "expert_c": "sky",
    "monolithic_smaller": "orange", "monolithic_larger": "vermillion",
    "oracle_mixed_a": "green", "oracle_mixed_b": "green", "oracle": "green",
    "uniform_mixture": "purple", "bayes_router": "black",
    "robust_gate": "blue", "robust_gate_box": "blue",
}


@styled
def plot(df: pd.DataFrame):
    """``DataFrame -> Figure`` (module docstring)."""
    for col in _REQUIRED:
        if col not in df.columns:
            raise ValueError(f"the real-text table needs a column {col!r}; run `robust-gates repro real`")
    t = df[df["split"] == "test"]
    if t.empty:
        raise ValueError("the real-text table has no 'test' rows; run `robust-gates repro real`")
    fig, (ax, bx) = new_figure("page", aspect=0.42, ncols=2)
    for _, r in t.iterrows():
        m = r["method"]
        marker = "D" if m == "oracle" else _MARKER.get(r["size"], "o")
        face = "none" if m in ("robust_gate_box", "oracle") else color(_COLOR.get(m, "black"))
        ax.scatter(r["average"], r["worst_simplex"], marker=marker, s=28, facecolors=face,
                   edgecolors=color(_COLOR.get(m, "black")), linewidths=1.0, zorder=3)
        ax.annotate(_LABEL.get(m, m), (r["average"], r["worst_simplex"]), fontsize=5.5,
                    xytext=(3, 2), textcoords="offset points")
    lo = float(min(t["average"].min(), t["worst_simplex"].min()))
    hi = float(max(t["average"].max(), t["worst_simplex"].max()))
    ax.plot([lo, hi], [lo, hi], color="0.6", lw=0.8, ls=":", label="worst = average")
    ax.set_xlabel("average bits per byte (uniform mixture of domains)")
    ax.set_ylabel("worst-case bits per byte (worst domain)")
    ax.set_title("robustness against average (test split)")
    ax.legend(loc="upper left", fontsize=6)

    order = [m for m in _LABEL if m in set(t["method"])]
    x = np.arange(len(order))
    width = 0.27
    tt = t.set_index("method")
    for i, d in enumerate(_DOMAINS):
        bx.bar(x + (i - 1) * width, tt.loc[order, f"bpb_{d}"], width, label=d, color=color(i))
    bx.set_xticks(x, [_LABEL[m] for m in order], rotation=60, ha="right", fontsize=5.5)
    bx.set_ylabel("bits per byte")
    bx.set_title("per domain (test split)")
    bx.legend(fontsize=6, ncol=3)
    return fig
