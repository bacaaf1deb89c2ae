"""Our figure (SPEC GB): population worst-case gap of empirical gates against the sample size.

Input: the per-trial table of :func:`robust_gates.simulations.generalization.generalization_study` (columns
``method``, ``M``, ``gap``; ``gap`` = population worst case minus ``V``, nats). Left: the mean gap
of every method (modular gate classes and monolithic baselines) with an ``M^(-1/2)`` reference
line. Right: for the modular classes, the mean excess over the class value and the stated
high-probability bound.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .registry import FigureSpec, register_figure
from .style import NATS, color, new_figure, styled


def produce(quick: bool = False, seed: int = 0) -> pd.DataFrame:
    """The ``trials`` table of the shipped study
    (:func:`robust_gates.simulations.generalization.default_study`)."""
    from robust_gates.simulations.generalization import default_study

    return default_study(quick=quick, seed=seed, progress=False).trials


@styled
def plot(df: pd.DataFrame):
    """``DataFrame -> Figure``: gap vs ``M`` (left) and excess vs bound (right), log-log."""
    for col in ("method", "M", "gap"):
        if col not in df.columns:
            raise ValueError(f"the generalization table needs a column {col!r}")
    fig, (a1, a2) = new_figure("page", aspect=0.38, ncols=2)
    methods = list(dict.fromkeys(df["method"]))
    means = df.groupby(["method", "M"], as_index=False).mean(numeric_only=True)
    for i, m in enumerate(methods):
        g = means[means["method"] == m].sort_values("M")
        ls = "-" if m.startswith("modular") else ":"
        a1.plot(g["M"], np.abs(g["gap"]), color=color(i), ls=ls, marker="o", ms=2.5, label=m)
    M = np.sort(df["M"].unique()).astype(float)
    top = means[means["M"] == M[0]]["gap"].abs().max()
    a1.plot(M, top * np.sqrt(M[0] / M), color="black", ls="--", lw=0.9, label=r"$\propto M^{-1/2}$")
    a1.set_xscale("log")
    a1.set_yscale("log")
    a1.set_xlabel("total samples M")
    a1.set_ylabel(f"|population worst case - V| [{NATS}]")
    a1.set_title("gap to the population value")
    a1.legend(loc="lower left", fontsize=6)
    mod = [m for m in methods if m.startswith("modular")]
    for i, m in enumerate(mod):
        g = means[means["method"] == m].sort_values("M")
        a2.plot(g["M"], np.clip(g["excess"], 1e-6, None), color=color(methods.index(m)), label=f"{m} excess")
        if "bound" in g.columns:
            a2.plot(g["M"], g["bound"], color=color(methods.index(m)), ls="--", lw=0.8,
                    label=f"{m} bound" if i == 0 else None)
    a2.set_xscale("log")
    a2.set_yscale("log")
    a2.set_xlabel("total samples M")
    a2.set_ylabel(f"excess over class value [{NATS}]")
    a2.set_title("measured excess and the stated bound")
    a2.legend(loc="lower left", fontsize=6)
    return fig


SPEC = register_figure(FigureSpec(
    id="generalization", title="Generalization gap against sample size (GB)",
    caption="Population worst-case excess of the empirical robust gate versus M, with the M^-1/2 line.",
    data="generalization_trials.csv", plot=plot, produce=produce, order=160))
