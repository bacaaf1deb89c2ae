"""Figure 3 (paper): the JSD gap -- routing fits separate modes, a single model spreads out.

Three domains on a fine grid of [0, 1], each one bump (a discretized Gaussian). The gated
model of three perfect one-bump experts, robust over the whole simplex, routes each mode to
its expert. A single model of one expert's capacity (one Gaussian bump) must cover all modes:
we show the one retrained on the uniform aggregate (maximum likelihood = moment matching) and
the one chosen to minimize the worst case directly. Annotated: the capacity ``C(D)`` (the
largest generalized JSD, a floor for every single model), the modular value and the measured
worst-case losses ``max_k KL(D_k || model)`` of each.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.optimize import minimize

from robust_gates.theory import RobustProblem, jensen_shannon, kl

from ._common import solve_best
from .registry import FigureSpec, register_figure
from .style import NATS, color, new_figure, styled

CENTRES = (0.2, 0.5, 0.8)
WIDTH = 0.05


def bump(x: np.ndarray, mu: float, sigma: float) -> np.ndarray:
    """A discretized Gaussian bump on the grid ``x`` (normalized to sum 1)."""
    w = np.exp(-0.5 * ((x - mu) / sigma) ** 2)
    return w / w.sum()


def produce(quick: bool = False, seed: int = 0, n: int | None = None) -> pd.DataFrame:
    n = n or (200 if quick else 400)
    x = (np.arange(n) + 0.5) / n
    D = np.vstack([bump(x, c, WIDTH) for c in CENTRES])
    res = solve_best(RobustProblem(D))
    agg = D.mean(axis=0)
    mu, var = agg @ x, agg @ (x - agg @ x) ** 2
    retrained = bump(x, mu, np.sqrt(var))

    def worst(params):
        q = bump(x, params[0], np.exp(params[1]))
        return float(np.max(kl(D, q)))

    best = min((minimize(worst, [m, np.log(s)], method="Nelder-Mead",
                         options={"xatol": 1e-6, "fatol": 1e-9, "maxiter": 2000})
                for m in (0.4, 0.5, 0.6) for s in (0.15, 0.25)), key=lambda r: r.fun)
    robust_single = bump(x, best.x[0], np.exp(best.x[1]))
    rows = []
    for name, dens in [*((f"domain {k + 1}", D[k]) for k in range(3)),
                       ("gated model", res.model), ("single, retrained on aggregate", retrained),
                       ("single, robust fit", robust_single)]:
        rows += [{"kind": "curve", "series": name, "x": xi, "y": yi * n}
                 for xi, yi in zip(x, dens, strict=True)]
    lam_u = np.full(3, 1 / 3)
    metrics = {
        "capacity": float(res.value - res.gap / 2),
        "jsd_uniform": jensen_shannon(lam_u, D),
        "worst_gated": float(np.max(kl(D, res.model))),
        "worst_retrained": float(np.max(kl(D, retrained))),
        "worst_robust_single": float(np.max(kl(D, robust_single))),
        "certificate_gap": float(res.gap),
    }
    rows += [{"kind": "metric", "series": k, "y": v} for k, v in metrics.items()]
    return pd.DataFrame(rows)


@styled
def plot(df: pd.DataFrame):
    fig, ax = new_figure("column", aspect=0.7)
    curves = df[df.kind == "curve"]
    styles = {"gated model": dict(color=color("black"), lw=1.3),
              "single, retrained on aggregate": dict(color=color("vermillion"), ls="--"),
              "single, robust fit": dict(color=color("purple"), ls="-.")}
    for i, (name, g) in enumerate(curves.groupby("series", sort=False)):
        kw = styles.get(name, dict(color=color(i), lw=0, alpha=0.35))
        if name.startswith("domain"):
            ax.fill_between(g.x, g.y, color=color(["blue", "orange", "green"][i % 3]), alpha=0.3,
                            label=name, lw=0)
        else:
            ax.plot(g.x, g.y, label=name, **kw)
    m = df[df.kind == "metric"].set_index("series").y
    ax.text(0.02, 0.71,
            f"C(D) = max JSD = {m.capacity:.3f} {NATS} (log 3 = {np.log(3):.3f})\n"
            f"worst-case KL: gated {m.worst_gated:.3f}, retrained single {m.worst_retrained:.3f},\n"
            f"robust single {m.worst_robust_single:.3f}",
            transform=ax.transAxes, fontsize=5.8, va="top")
    ax.set_ylim(0, curves.y.max() * 1.6)
    ax.set_xlabel("x")
    ax.set_ylabel("density (per unit of x)")
    ax.legend(loc="upper right", fontsize=5.5, ncol=2)
    ax.set_title("The JSD gap: routing versus one spread-out model")
    return fig


SPEC = register_figure(FigureSpec(
    id="fig3", title="The JSD gap",
    caption="Routing fits each mode with its expert; one retrained bump must spread over all modes.",
    data="fig3_jsd_gap.csv", plot=plot, produce=produce, paper=True, order=30))
