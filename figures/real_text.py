"""Real text (``robust-gates repro real``): worst case against average bits per byte per method.

Input: ``real_table.csv`` written by :mod:`robust_gates.paper_repro.neural.real`, one row per ``method`` and
``split`` with ``bpb_python, bpb_prose, bpb_c`` (bits per byte on each domain), ``worst_simplex``
(the worst domain), ``average`` (uniform mixture), ``size`` and ``params``. Only the ``test``
rows are drawn (the ``valid`` split is the routers' training data). Left: each method as a point
(average, worst case); points close to the diagonal are as good on their worst domain as on
average (the modular methods are triangles; the per-``lam`` oracle, an open diamond, has its
worst case over the grid only). Right: bits per byte of every method on each domain, and its
worst case. This module never imports torch.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .registry import FigureSpec, register_figure
from .style import color, new_figure, styled

_REQUIRED = ("method", "split", "size", "bpb_python", "bpb_prose", "bpb_c", "worst_simplex", "average")
_DOMAINS = ("python", "prose", "c")
_STYLE = {  # method -> (label, colour, marker, filled)
    "expert_python": ("expert: Python", "sky", "o", True),
    "expert_prose": ("expert: prose", "sky", "v", True),
    "expert_c": ("expert: C", "sky", "s", True),
    "monolithic_smaller": ("monolithic Smaller", "orange", "o", True),
    "monolithic_larger": ("monolithic Larger", "vermillion", "s", True),
    "oracle_mixed_a": ("oracle, mixed point a", "green", "<", True),
    "oracle_mixed_b": ("oracle, mixed point b", "green", ">", True),
    "oracle": ("oracle per lam (worst over grid)", "green", "D", False),
    "uniform_mixture": ("uniform mixture of experts", "purple", "^", True),
    "bayes_router": ("Bayes router, uniform prior", "black", "^", False),
    "robust_gate": ("robust gate, Lambda = simplex", "blue", "^", True),
    "robust_gate_box": ("robust gate, Lambda = box", "blue", "^", False),
}
_DOMAIN_MARK = {"python": ("o", "blue"), "prose": ("s", "orange"), "c": ("^", "green")}


@styled
def plot(df: pd.DataFrame):
    """``DataFrame -> Figure`` (module docstring)."""
    for col in _REQUIRED:
        if col not in df.columns:
            raise ValueError(f"the real-text table needs a column {col!r}; run `robust-gates repro real`")
    t = df[df["split"] == "test"]
    if t.empty:
        raise ValueError("the real-text table has no 'test' rows; run `robust-gates repro real`")
    fig, (ax, bx) = new_figure("page", aspect=0.5, ncols=2)
    order = [m for m in _STYLE if m in set(t["method"])] + sorted(set(t["method"]) - set(_STYLE))
    tt = t.set_index("method")
    for m in order:
        label, col, marker, filled = _STYLE.get(m, (m, "black", "x", True))
        r = tt.loc[m]
        ax.scatter(r["average"], r["worst_simplex"], marker=marker, s=30, linewidths=1.1,
                   facecolors=color(col) if filled else "none", edgecolors=color(col), label=label,
                   zorder=3)
    lo = float(min(t["average"].min(), t["worst_simplex"].min()))
    hi = float(max(t["average"].max(), t["worst_simplex"].max()))
    ax.plot([lo, hi], [lo, hi], color="0.6", lw=0.8, ls=":", label="worst case = average")
    ax.set_xlabel("average bits per byte (uniform mixture of domains)")
    ax.set_ylabel("worst-case bits per byte (worst domain)")
    ax.set_title("robustness against average (test split)")
    ax.legend(loc="upper left", fontsize=5.5, ncol=1)

    y = np.arange(len(order))[::-1]
    for d, (marker, col) in _DOMAIN_MARK.items():
        bx.scatter(tt.loc[order, f"bpb_{d}"], y, marker=marker, s=16, color=color(col), label=d,
                   zorder=3)
    bx.scatter(tt.loc[order, "worst_simplex"], y, marker="|", s=60, color="black",
               label="worst case", zorder=4)
    bx.set_yticks(y, [_STYLE.get(m, (m,))[0] for m in order], fontsize=6)
    bx.grid(axis="y", color="0.9", lw=0.6)
    bx.set_xlabel("bits per byte")
    bx.set_title("per domain (test split)")
    bx.legend(fontsize=6, ncol=4, loc="lower center", bbox_to_anchor=(0.5, 1.06))
    return fig


SPEC = register_figure(FigureSpec(
    id="real_text", title="Modular versus monolithic on real text",
    caption="Worst-case against average bits per byte on Python code, English prose and C headers.",
    data="real_table.csv", plot=plot, produce=None,
    requires="run `robust-gates repro real` first", paper=True,
    shipped="paper_repro/neural/results/real_table.csv", order=60))
