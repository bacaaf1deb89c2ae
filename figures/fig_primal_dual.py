"""Our figure (SPEC algorithm 4): certificate gap of the averaged primal-dual iterates against rounds.

Input: the ``trajectory`` table of :func:`robust_gates.simulations.primal_dual.convergence_study` (columns
``gate``, ``round``, ``gap``). One line per gate class plus a ``c / sqrt(t)`` reference line
anchored at the first gate's gap at round 100 (or its first record after it).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .registry import FigureSpec, register_figure
from .style import NATS, color, new_figure, styled


def produce(quick: bool = False, seed: int = 0) -> pd.DataFrame:
    """The ``trajectory`` table of the shipped study
    (:func:`robust_gates.simulations.primal_dual.default_study`)."""
    from robust_gates.simulations.primal_dual import default_study

    return default_study(quick=quick, seed=seed, progress=False).trajectory


@styled
def plot(df: pd.DataFrame):
    """``DataFrame -> Figure``: log-log certificate gap (nats) against rounds, one line per gate."""
    for col in ("gate", "round", "gap"):
        if col not in df.columns:
            raise ValueError(f"the primal-dual table needs a column {col!r}")
    fig, ax = new_figure("column", aspect=0.75)
    gates = list(dict.fromkeys(df["gate"]))
    for i, gate in enumerate(gates):
        g = df[df["gate"] == gate].sort_values("round")
        ok = g["gap"] > 0
        ax.loglog(g["round"][ok], g["gap"][ok], color=color(i), label=f"{gate} gate")
    g0 = df[df["gate"] == gates[0]].sort_values("round")
    anchor = g0[g0["round"] >= min(100, g0["round"].max())].iloc[0]
    t = np.logspace(0, np.log10(df["round"].max()), 50)
    ax.loglog(t, anchor["gap"] * np.sqrt(anchor["round"] / t), color="black", ls="--", lw=0.9,
              label=r"$\propto t^{-1/2}$")
    ax.set_xlabel("round t")
    ax.set_ylabel(f"certificate gap of averaged iterates [{NATS}]")
    ax.set_title("stochastic primal-dual: duality gap")
    ax.legend(loc="lower left")
    return fig


SPEC = register_figure(FigureSpec(
    id="primal_dual", title="Stochastic primal-dual convergence (algorithm 4)",
    caption="Certificate gap of the averaged iterates against rounds, one-hot and log-likelihood gates.",
    data="primal_dual_trajectory.csv", plot=plot, produce=produce, order=150))
