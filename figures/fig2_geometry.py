"""Figure 2 (paper): geometry of prior knowledge on the simplex (K = 3).

Computed on a real instance with perfect experts: the dual function ``phi(lam)`` as filled
contours over the simplex, the region ``Lambda`` (a box), the adversary's projected ascent
iterates (each step drawn from its unprojected point back onto ``Lambda``), the
least-favorable mixtures for the simplex and for ``Lambda``, and the values of T3:
``V(Delta) - V(Lambda) >= min_{Lambda} KL(D_lam || D_lam*)``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from robust_gates.theory import Box, RobustProblem

from ._common import min_kl_to, order_polygon, simplex_grid, solve_best, to_xy
from .registry import FigureSpec, register_figure
from .style import NATS, color, new_figure, styled


def produce(quick: bool = False, seed: int = 0, n: int = 30, steps: int | None = None) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    D = rng.dirichlet(np.full(n, 0.4), size=3)
    box = Box([0.5, 0.1, 0.0], [0.8, 0.4, 0.3])
    full = RobustProblem(D)
    restricted = RobustProblem(D, Lambda=box)
    r_full, r_box = solve_best(full), solve_best(restricted)
    rows = []
    for lam in simplex_grid(steps or (24 if quick else 60)):
        rows.append({"layer": "grid", "l0": lam[0], "l1": lam[1], "l2": lam[2], "value": full.phi(lam)})
    for lam in order_polygon(box.vertices()):
        rows.append({"layer": "lambda", "l0": lam[0], "l1": lam[1], "l2": lam[2]})
    # the adversary's projected supergradient ascent, started at the simplex centre
    V = box.vertices()
    lam = V[np.argmax(np.abs(V - r_box.lam).sum(axis=1))]  # the corner of Lambda farthest from lam*
    for t in range(12):
        grad = full.losses(full.best_response(lam).q)
        raw = lam + 0.5 / np.sqrt(t + 1) * (grad - grad.mean())
        new = box.project(raw)
        rows.append({"layer": "iterate", "step": t, "l0": lam[0], "l1": lam[1], "l2": lam[2],
                     "r0": raw[0], "r1": raw[1], "r2": raw[2], "value": full.phi(lam)})
        lam = new
    for name, res in (("lamstar_simplex", r_full), ("lamstar_lambda", r_box)):
        rows.append({"layer": name, "l0": res.lam[0], "l1": res.lam[1], "l2": res.lam[2],
                     "value": res.value})
    t3 = min_kl_to(D, r_full.lam @ D, box)
    rows += [{"layer": "metric", "name": "V_simplex", "value": r_full.value},
             {"layer": "metric", "name": "V_lambda", "value": r_box.value},
             {"layer": "metric", "name": "T3_min_kl", "value": t3}]
    return pd.DataFrame(rows)


@styled
def plot(df: pd.DataFrame):
    fig, ax = new_figure("column", aspect=0.9, layout=None)
    fig.subplots_adjust(left=0.01, right=0.86, bottom=0.02, top=0.93)
    grid = df[df.layer == "grid"]
    gx, gy = to_xy(grid[["l0", "l1", "l2"]].to_numpy())
    cs = ax.tricontourf(gx, gy, grid.value, levels=14, cmap="viridis")
    fig.colorbar(cs, ax=ax, shrink=0.75, pad=0.01, label=f"phi(lam) [{NATS}]")
    ax.plot([0, 1, 0.5, 0], [0, 0, np.sqrt(3) / 2, 0], color="black", lw=0.8)
    poly = df[df.layer == "lambda"][["l0", "l1", "l2"]].to_numpy()
    px, py = to_xy(np.vstack([poly, poly[:1]]))
    ax.fill(px, py, facecolor=(1, 1, 1, 0.3), edgecolor="black", ls="--", lw=0.9, label="Lambda")
    it = df[df.layer == "iterate"].sort_values("step")
    ix, iy = to_xy(it[["l0", "l1", "l2"]].to_numpy())
    rx, ry = to_xy(it[["r0", "r1", "r2"]].to_numpy())
    ax.plot(ix, iy, "-o", ms=2.5, color=color("orange"), lw=1.0, label="adversary iterates")
    for k in range(len(it) - 1):
        ax.plot([rx[k], ix[k + 1]], [ry[k], iy[k + 1]], ":", color=color("orange"), lw=0.8)
    ax.plot(rx, ry, "x", ms=3, color=color("orange"), lw=0, label="before projection")
    for layer, mk, col, lab in (("lamstar_simplex", "*", color("vermillion"), "lam* (simplex)"),
                                ("lamstar_lambda", "P", color("sky"), "lam* (Lambda)")):
        p = df[df.layer == layer][["l0", "l1", "l2"]].to_numpy()
        x, y = to_xy(p)
        ax.plot(x, y, mk, ms=8, color=col, mec="black", mew=0.5, lw=0, label=lab)
    met = df[df.layer == "metric"].set_index("name").value
    ax.text(0.5, -0.09, f"V(simplex) = {met.V_simplex:.3f} {NATS},  V(Lambda) = {met.V_lambda:.3f} {NATS}\n"
            f"T3: V(simplex) - V(Lambda) = {met.V_simplex - met.V_lambda:.4f}"
            f"  >=  min_Lambda KL(D_lam || D_lam*) = {met.T3_min_kl:.4f}",
            fontsize=6, va="top", ha="center")
    for name, (x, y) in zip(["e1", "e2", "e3"], [(-0.03, -0.03), (1.03, -0.03), (0.5, 0.89)],
                            strict=True):
        ax.text(x, y, name, ha="center", va="center", fontsize=7)
    ax.set_aspect("equal")
    ax.set_xlim(-0.08, 1.08)
    ax.set_ylim(-0.2, 0.95)
    ax.axis("off")
    ax.legend(loc="upper left", fontsize=5.5, bbox_to_anchor=(-0.02, 1.02))
    ax.set_title("Geometry of prior knowledge (K = 3)")
    return fig


SPEC = register_figure(FigureSpec(
    id="fig2", title="Geometry of prior knowledge",
    caption="phi on the simplex, the region Lambda, projected adversary iterates, lam* and the T3 values.",
    data="fig2_geometry.csv", plot=plot, produce=produce, paper=True, order=20))
