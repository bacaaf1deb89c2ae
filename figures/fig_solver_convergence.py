"""Our figure (solvers): certificate gap against iterations.

Perfect experts (so Blahut-Arimoto applies), K = 5 Dirichlet domains: the gap
``upper - lower`` of Blahut-Arimoto (SPEC algorithm 3) per iteration, the fast solver's
``best primal - best dual`` per Newton step (algorithm 2), and the reference conic solver's
final certificate at its interior-point iteration count (algorithm 1).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from robust_gates.theory import RobustProblem, solve
from robust_gates.theory.solvers.capacity import capacity
from robust_gates.theory.solvers.fast import dual_ascent

from .registry import FigureSpec, register_figure
from .style import NATS, color, new_figure, styled

#: gaps are drawn down to this floor (a certified gap can be 0 or a rounding-level negative)
FLOOR = 1e-16


def produce(quick: bool = False, seed: int = 0, K: int = 5, n: int | None = None) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = n or (200 if quick else 1000)
    D = rng.dirichlet(np.full(n, 0.5), size=K)
    rows = []
    capacity(D, tol=1e-13, callback=lambda it, lo, up: rows.append(
        {"method": "Blahut-Arimoto", "iteration": it, "gap": up - lo}))
    dual_ascent(RobustProblem(D), tol=1e-13, callback=lambda it, ev, p, d: rows.append(
        {"method": "fast (Newton)", "iteration": it, "gap": p - d}))
    ref = solve(RobustProblem(D), solver="reference")
    rows.append({"method": "reference (Clarabel)", "iteration": ref.iterations, "gap": ref.gap})
    return pd.DataFrame(rows)


@styled
def plot(df: pd.DataFrame):
    fig, ax = new_figure("column", aspect=0.7)
    styles = {"Blahut-Arimoto": dict(color=color("blue"), ls="-"),
              "fast (Newton)": dict(color=color("vermillion"), marker="o", ms=3),
              "reference (Clarabel)": dict(color=color("green"), marker="s", ms=5, lw=0)}
    for method, g in df.groupby("method", sort=False):
        g = g.sort_values("iteration")
        ax.plot(g.iteration.clip(lower=0), np.maximum(g.gap, FLOOR), label=method,
                **styles.get(method, {}))
    ax.set_yscale("log")
    ax.set_xscale("symlog", linthresh=10)
    ax.set_xlabel("iteration (BA step, Newton step, interior-point step)")
    ax.set_ylabel(f"certificate gap [{NATS}]")
    ax.set_xlim(left=0)
    ax.legend(loc="lower left")
    ax.set_title("Solver convergence (perfect experts, K = 5)")
    return fig


SPEC = register_figure(FigureSpec(
    id="solver_convergence", title="Certificate gap against iterations (algorithms 1-3)",
    caption="Blahut-Arimoto closes its bounds linearly; the fast Newton solver in a few steps.",
    data="solver_convergence.csv", plot=plot, produce=produce, order=140))
