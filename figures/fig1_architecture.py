"""Figure 1 (paper): the architecture -- frozen experts, a gate, the gated model.

The table lists the drawn components (one row each: ``role``, ``label``); the plot lays them
out left to right: input ``x`` -> K experts ``P_k(x)`` and the gate ``g(x)`` -> the mixture
``P_g(x) = sum_k g_k(x) P_k(x)``.
"""

from __future__ import annotations

import pandas as pd
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

from .registry import FigureSpec, register_figure
from .style import color, new_figure, styled


def produce(quick: bool = False, seed: int = 0, K: int = 3) -> pd.DataFrame:
    rows = [{"role": "input", "label": "x"}]
    rows += [{"role": "expert", "label": f"P_{k + 1}(x)  [domain D_{k + 1}]"} for k in range(K)]
    rows += [{"role": "gate", "label": "gate g(x) in simplex"},
             {"role": "output", "label": "P_g(x) = sum_k g_k(x) P_k(x)"}]
    return pd.DataFrame(rows)


def _box(ax, xy, w, h, text, fc):
    ax.add_patch(FancyBboxPatch(xy, w, h, boxstyle="round,pad=0.02", fc=fc, ec="black", lw=0.8,
                                alpha=0.9))
    ax.text(xy[0] + w / 2, xy[1] + h / 2, text, ha="center", va="center", fontsize=7)


def _arrow(ax, a, b, **kw):
    ax.add_patch(FancyArrowPatch(a, b, arrowstyle="-|>", mutation_scale=8, lw=0.8, **kw))


@styled
def plot(df: pd.DataFrame):
    fig, ax = new_figure("column", aspect=0.62)
    ax.set_xlim(0, 10)
    ax.set_ylim(0, 6.2)
    ax.axis("off")
    experts = df[df.role == "expert"].label.tolist()
    K = len(experts)
    _box(ax, (0.1, 3.4), 1.0, 0.8, df[df.role == "input"].label.iloc[0], "white")
    ys = [5.3 - i * (2.9 / max(K - 1, 1)) for i in range(K)] if K > 1 else [3.8]
    for i, (lab, y) in enumerate(zip(experts, ys, strict=True)):
        _box(ax, (2.0, y - 0.35), 3.3, 0.7, lab, color(i))
        _arrow(ax, (1.1, 3.8), (2.0, y))
        _arrow(ax, (5.3, y), (6.7, 3.8))
    _box(ax, (2.0, 0.5), 3.3, 0.65, df[df.role == "gate"].label.iloc[0], "#dddddd")
    _arrow(ax, (0.6, 3.4), (2.0, 0.85))
    _arrow(ax, (5.3, 0.85), (7.6, 3.3), linestyle="--")
    _box(ax, (6.7, 3.3), 3.2, 1.0, df[df.role == "output"].label.iloc[0].replace(" = ", "\n= "),
         "white")
    ax.text(3.65, 5.85, "frozen experts", ha="center", fontsize=7, style="italic")
    ax.text(6.55, 1.55, "mixing weights g_k(x)", fontsize=6.5, style="italic")
    ax.set_title("Modular generative model: experts combined by a gate")
    return fig


SPEC = register_figure(FigureSpec(
    id="fig1", title="Architecture",
    caption="Frozen experts P_k and a gate g(x) form the gated model P_g.",
    data="fig1_architecture.csv", plot=plot, produce=produce, paper=True, order=10))
