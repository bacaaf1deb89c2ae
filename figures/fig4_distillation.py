"""Paper figure 4 (SPEC SD, algorithms 5 and 6): efficiency, structural versus monolithic distillation.

Sequences ``X = V^T`` with K = 3 chains and fitted n-gram experts; the sequence-level robust
model ``P_g*`` is distilled (a) into a causal router over the frozen experts (structural) and
(b) into one n-gram student of growing order (monolithic). Panels: quality ``KL(P_g* || model)``
and worst-case loss over ``Lambda`` against the trainable parameters (structural also at its
total, frozen experts included: faint marker at the end of a dotted line; hollow marker: one
expert upgraded, nothing retrained), and
the router's distillation KL over L-BFGS iterations.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .registry import FigureSpec, register_figure
from .style import NATS, color, new_figure, styled

_STRUCT = {"structural: learned router": ("learned router", "o", "blue"),
           "structural: Bayes router, w = lam*": ("Bayes router (w = lam*)", "D", "sky"),
           "structural: tabular router (best causal)": ("tabular router (best causal)", "s",
                                                        "green")}


def produce(quick: bool = False, seed: int = 0) -> pd.DataFrame:
    """The Figure 4 table of the shipped study
    (:func:`robust_gates.simulations.distillation.default_study`)."""
    from robust_gates.simulations.distillation import default_study, figure4_table

    return figure4_table(default_study(quick=quick, seed=seed, progress=False))


def _mono(df):
    m = df[(df.family == "monolithic")].copy()
    m["order"] = m.method.str.extract(r"(\d+)-order").astype(int)
    return m.sort_values("order")


def _panel(ax, meth, col, value_col="value"):
    orig = meth[meth.experts == "original"]
    upg = meth[meth.experts == "upgraded"]
    mono = _mono(orig)
    ax.plot(mono.params, mono[col], "-^", color=color("vermillion"), ms=4,
            label="monolithic n-gram student")
    for m in mono.itertuples():
        ax.annotate(f"order {m.order}", (m.params, getattr(m, col)), textcoords="offset points",
                    xytext=(3, 3), fontsize=6, color=color("vermillion"))
    for name, (label, mk, c) in _STRUCT.items():
        row = orig[orig.method == name]
        if row.empty:
            continue
        r = row.iloc[0]
        ax.plot([r.params], [r[col]], mk, color=color(c), ms=5, label=f"structural: {label}")
        ax.plot([r.params, r.total_params], [r[col], r[col]], ":", color=color(c), lw=0.8)
        ax.plot([r.total_params], [r[col]], mk, color=color(c), ms=3, alpha=0.5)
        up = upg[upg.method == name]
        if not up.empty:
            u = up.iloc[0]
            ax.annotate("", (u.params, u[col]), (r.params, r[col]),
                        arrowprops={"arrowstyle": "->", "color": color(c), "lw": 0.9})
            ax.plot([u.params], [u[col]], mk, mfc="none", color=color(c), ms=5,
                    label="learned router, expert upgraded (no retraining)")
    ax.set_xscale("log")
    ax.set_xlabel("trainable parameters")


@styled
def plot(df: pd.DataFrame):
    fig, (a1, a2, a3) = new_figure("page", aspect=0.4, ncols=3)
    meth = df[df.record == "method"]
    meth = meth[meth.family != "target"]
    _panel(a1, meth, "kl_to_gstar")
    a1.set_yscale("symlog", linthresh=1e-3)
    a1.set_ylim(bottom=0)
    a1.set_ylabel(f"KL(P_g* || model) [{NATS}]")
    a1.set_title("quality of the distilled model")

    _panel(a2, meth, "worst_case")
    V = meth[meth.experts == "original"].value.iloc[0]
    a2.axhline(V, color="black", ls="--", lw=0.9, label="V(Lambda)")
    up = meth[meth.experts == "upgraded"]
    if not up.empty:
        a2.axhline(up.value.iloc[0], color="black", ls=":", lw=0.9, label="V(Lambda), upgraded")
    a2.set_ylabel(f"worst-case loss over Lambda [{NATS}]")
    a2.set_title("robustness kept")
    handles, labels = a1.get_legend_handles_labels()
    h2, l2 = a2.get_legend_handles_labels()
    keep = [i for i, lab in enumerate(l2) if lab.startswith("V(")]
    fig.legend(handles + [h2[i] for i in keep], labels + [l2[i] for i in keep],
               loc="outside lower center", ncols=3)

    tr = df[df.record == "training"].sort_values("iteration")
    a3.plot(tr.iteration, tr.kl_to_gstar, color=color("blue"), label="learned router (L-BFGS)")
    a3.axhline(tr.bayes_kl.iloc[0], color=color("sky"), ls="--", lw=0.9,
               label="Bayes router (w = lam*)")
    a3.axhline(tr.tabular_kl.iloc[0], color=color("green"), ls=":", lw=0.9,
               label="best causal router")
    a3.set_yscale("log")
    a3.set_xlabel("iteration")
    a3.set_ylabel(f"distillation KL(P_g* || P_r) [{NATS}]")
    a3.set_title("structural distillation")
    a3.legend(loc="upper right")
    a3.set_xlim(0, max(1, int(np.nanmax(tr.iteration))))
    return fig


SPEC = register_figure(FigureSpec(
    id="fig4", title="Efficiency: structural vs monolithic distillation",
    caption="Quality (KL to P_g*), robustness (worst case over Lambda) and size of a causal router over "
    "frozen experts versus n-gram students; an upgraded expert helps the router untrained.",
    data="fig4_distillation.csv", plot=plot, produce=produce,
    requires="`robust-gates distill --out DIR` writes it (with the result tables)", paper=True, order=40))
