"""Our figure (T2, T3): the value ``V(Lambda)`` as a box ``Lambda`` grows around a point.

Perfect experts, K = 3. For boxes ``Lambda_r = {lam : |lam - c|_inf <= r}`` (intersected with
the simplex), ``V`` is non-decreasing in ``r`` (T2) and T3 bounds the improvement over the
simplex: ``V(Delta) - V(Lambda_r) >= min_{Lambda_r} KL(D_lam || D_lam*)``, with equality when
``lam*`` has full support.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from robust_gates.theory import Box, RobustProblem

from ._common import min_kl_to, solve_best
from .registry import FigureSpec, register_figure
from .style import NATS, color, new_figure, styled

CENTRE = np.array([0.7, 0.2, 0.1])


def produce(quick: bool = False, seed: int = 0, n: int = 30) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    D = rng.dirichlet(np.full(n, 0.4), size=3)
    full = solve_best(RobustProblem(D))
    rows = []
    for r in np.linspace(0.0, 0.7, 8 if quick else 22):
        box = Box(np.clip(CENTRE - r, 0, 1), np.clip(CENTRE + r, 0, 1))
        res = solve_best(RobustProblem(D, Lambda=box))
        rows.append({"radius": r, "V_lambda": res.value, "gap": res.gap, "V_simplex": full.value,
                     "t3_bound": full.value - min_kl_to(D, full.lam @ D, box),
                     "lamstar_min": float(full.lam.min())})
    return pd.DataFrame(rows)


@styled
def plot(df: pd.DataFrame):
    fig, ax = new_figure("column", aspect=0.7)
    ax.plot(df.radius, df.V_lambda, "-o", ms=3, color=color("blue"), label="V(Lambda_r) (solver)")
    ax.plot(df.radius, df.t3_bound, "--", color=color("orange"),
            label="V(simplex) - min KL(D_lam||D_lam*) (T3)")
    ax.axhline(df.V_simplex.iloc[0], color=color("black"), lw=0.8, ls=":", label="V(simplex) = C(D)")
    ax.set_xlabel("box radius r around c = (0.7, 0.2, 0.1)")
    ax.set_ylabel(f"game value [{NATS}]")
    ax.legend(loc="lower right")
    ax.set_title("Prior knowledge lowers the value (T2, T3)")
    return fig


SPEC = register_figure(FigureSpec(
    id="value_vs_lambda", title="Value against the size of Lambda (T2, T3)",
    caption="V(Lambda_r) grows with the box radius r; T3's bound on the improvement is tight here.",
    data="value_vs_lambda.csv", plot=plot, produce=produce, order=110))
