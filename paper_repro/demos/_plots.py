"""Figures of the teaching demos, in the suite's figure style (:mod:`robust_gates.figures.style`).

Each function takes what :mod:`robust_gates.paper_repro.demos._lib` computed and returns a matplotlib
figure; no
computation happens here. The demos sit on top of every layer (like ``robust_gates.paper_repro``): nothing in
``robust_gates.theory``, ``robust_gates.simulations`` or ``robust_gates.figures`` imports this package.
"""

from __future__ import annotations

import io

import numpy as np
import pandas as pd

from robust_gates.figures._common import order_polygon, to_xy
from robust_gates.figures.style import NATS, color, new_figure, styled

__all__ = ["DPI", "png", "plot_simplex", "plot_models", "plot_jsd", "plot_learning", "plot_generalization"]

#: resolution of the PNGs the demos show (one image pixel per screen pixel: a 7-inch figure is
#: 1050 pixels wide, the width of a marimo page)
DPI = 150


def png(fig, dpi: int = DPI) -> bytes:
    """Render ``fig`` once as PNG bytes and close it. The figures use fixed margins (no constrained
    layout, no tight bounding box), which keeps a slider's redraw cheap."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches=None)
    plt.close(fig)
    return buf.getvalue()

_DOMAIN_COLOURS = ("blue", "orange", "green")
_CORNERS = (("domain 1", (-0.02, -0.05)), ("domain 2", (1.02, -0.05)), ("domain 3", (0.5, 0.91)))


def _plain_log(ax, x: bool = True, y: bool = True, x_subs=(1.0, 2.0, 5.0)) -> None:
    """Log axes with plain-text tick labels and no minor ticks (mathtext labels are slow to draw)."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullLocator

    for on, axis, subs in ((x, ax.xaxis, x_subs), (y, ax.yaxis, (1.0, 2.0, 5.0))):
        if on:
            axis.set_major_locator(LogLocator(base=10, subs=subs, numticks=12))
            axis.set_minor_locator(NullLocator())
            axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))


def _simplex_frame(ax) -> None:
    ax.plot([0, 1, 0.5, 0], [0, 0, np.sqrt(3) / 2, 0], color="black", lw=0.8)
    for name, (x, y) in _CORNERS:
        ax.text(x, y, name, ha="center", va="center", fontsize=7)
    ax.set_aspect("equal")
    ax.set_xlim(-0.1, 1.1)
    ax.set_ylim(-0.1, 0.95)
    ax.axis("off")


def _polygon(ax, box, **kw) -> None:
    V = order_polygon(box.vertices())
    px, py = to_xy(np.vstack([V, V[:1]]))
    ax.fill(px, py, **kw)


def _mark(ax, lam, marker, col, label, ms=9) -> None:
    x, y = to_xy(np.asarray(lam))
    ax.plot(x, y, marker, ms=ms, color=col, mec="black", mew=0.6, lw=0, label=label)


@styled
def plot_simplex(grid: pd.DataFrame, summary: dict):
    """The dual function ``phi`` over the simplex, the box ``Lambda`` and both least-favorable mixtures."""
    fig, ax = new_figure(4.0, aspect=0.86, layout=None)
    fig.subplots_adjust(left=0.03, right=0.84, bottom=0.1, top=0.93)
    cax = fig.add_axes((0.84, 0.25, 0.03, 0.6))
    gx, gy = to_xy(grid[["l0", "l1", "l2"]].to_numpy())
    cs = ax.tricontourf(gx, gy, grid.phi, levels=16, cmap="viridis")
    fig.colorbar(cs, cax=cax, label=f"phi(lam)  [{NATS}]")
    _polygon(ax, summary["box"], facecolor=(1, 1, 1, 0.4), edgecolor="black", ls="--", lw=1.1,
             label="Lambda (the box)")
    _mark(ax, summary["res_simplex"].lam, "*", color("vermillion"), "lam* on the simplex", ms=13)
    _mark(ax, summary["res_box"].lam, "P", color("sky"), "lam* on Lambda")
    _simplex_frame(ax)
    fig.legend(*ax.get_legend_handles_labels(), loc="lower center", ncol=3, fontsize=6.5,
               bbox_to_anchor=(0.45, 0.04), handletextpad=0.3, columnspacing=1.0)
    ax.set_title("phi(lam): the best loss against the mixture lam")
    return fig


@styled
def plot_models(summary: dict):
    """Left: domains, the experts' envelope and the two robust models. Right: the equalizer bars."""
    fig, (a1, a2) = new_figure("page", aspect=0.36, ncols=2, width_ratios=[1.6, 1], layout=None)
    fig.subplots_adjust(left=0.07, right=0.99, bottom=0.14, top=0.92, wspace=0.22)
    D, P = summary["D"], summary["P"]
    x = np.arange(1, D.shape[1] + 1)
    a1.fill_between(x, P.min(axis=0), P.max(axis=0), step="mid", color="0.85", lw=0,
                    label="experts' envelope")
    for k in range(3):
        a1.plot(x, D[k], "o-", ms=2.5, lw=0.8, color=color(_DOMAIN_COLOURS[k]), label=f"domain {k + 1}")
    a1.step(x, summary["res_simplex"].model, where="mid", color="black", lw=1.6,
            label="robust model (simplex)")
    a1.step(x, summary["res_box"].model, where="mid", color=color("sky"), lw=1.2, ls="--",
            label="robust model (box)")
    a1.set_xlabel("point x of the sample space")
    a1.set_ylabel("probability")
    a1.set_xticks(x)
    a1.set_title("the robust model stays inside the experts' envelope")
    a1.legend(loc="upper left", fontsize=6, ncol=3, handlelength=1.8, columnspacing=1.0)
    a1.set_ylim(0, 1.55 * max(D.max(), P.max()))
    w = 0.38
    k = np.arange(1, 4)
    a2.bar(k - w / 2, summary["losses_simplex"], w, color=color("vermillion"), label="simplex-robust model")
    a2.bar(k + w / 2, summary["losses_box"], w, color=color("sky"), label="box-robust model")
    a2.axhline(summary["V_simplex"], color=color("vermillion"), ls="--", lw=1.0, label="V(simplex)")
    a2.axhline(summary["V_box"], color=color("sky"), ls=":", lw=1.2, label="V(Lambda)")
    a2.set_xticks(k, [f"domain {i}" for i in k])
    a2.set_ylabel(f"KL(D_k || robust model)  [{NATS}]")
    a2.set_title("equalizer: each domain's loss")
    top = max(summary["losses_simplex"].max(), summary["losses_box"].max(), summary["V_simplex"], 1e-3)
    a2.set_ylim(0, 1.5 * top)
    a2.legend(loc="upper right", fontsize=6, ncol=2)
    return fig


@styled
def plot_jsd(point: dict, sweep: pd.DataFrame, separation: float, capacity: int):
    """Left: domains and models at the current separation. Right: worst cases against the separation."""
    fig, (a1, a2) = new_figure("page", aspect=0.42, ncols=2, layout=None)
    fig.subplots_adjust(left=0.065, right=0.99, bottom=0.14, top=0.93, wspace=0.22)
    x, n = point["x"], point["x"].size
    for k in range(3):
        a1.fill_between(x, point["D"][k] * n, color=color(_DOMAIN_COLOURS[k]), alpha=0.3, lw=0,
                        label=f"domain {k + 1}")
    a1.plot(x, point["gated"] * n, color="black", lw=1.3, label="gated model (robust gate)")
    a1.plot(x, point["mono"] * n, color=color("vermillion"), ls="--", lw=1.3,
            label=f"monolithic, {capacity} Gaussian{'s' if capacity > 1 else ''}, retrained on aggregate")
    a1.set_ylim(0, 1.7 * max(point["D"].max(), point["mono"].max()) * n)
    a1.set_xlabel("x")
    a1.set_ylabel("density (per unit of x)")
    a1.set_title(f"separation {separation:.2f}")
    a1.legend(loc="upper left", fontsize=6)
    s = sweep.separation
    a2.plot(s, sweep.worst_mono, color=color("vermillion"), ls="--",
            label=f"monolithic, {capacity} Gaussians")
    a2.plot(s, sweep.V + sweep.ma_bound, color=color("vermillion"), ls=":", lw=1.0,
            label="V + KL(D_lam* || monolithic)  (MA floor)")
    a2.plot(s, sweep.worst_aggregate, color=color("purple"), ls="-.", lw=1.0,
            label="the aggregate itself (unlimited capacity)")
    a2.plot(s, sweep.V, color="black", lw=1.6, label="gated model = C(D) = max JSD")
    a2.plot(s, sweep.js_uniform, color=color("green"), lw=1.0, ls=(0, (1, 1)), label="JSD at uniform weights")
    a2.fill_between(s, sweep.V, sweep.worst_mono, color=color("vermillion"), alpha=0.12, lw=0)
    a2.axhline(np.log(3), color="0.5", lw=0.7, ls="--")
    a2.text(0.01, np.log(3) + 0.03, "log 3", fontsize=6, color="0.4")
    a2.axvline(separation, color="0.3", lw=0.8)
    a2.set_xlabel("separation of the modes")
    a2.set_ylabel(f"max_k KL(D_k || model)  [{NATS}]")
    a2.set_title("worst-case loss against the separation")
    a2.set_ylim(0, max(2.0, 1.1 * sweep.worst_mono.max()))
    a2.legend(loc="upper left", fontsize=5.8)
    return fig


@styled
def plot_learning(run: dict, box):
    """Left: the averaged ``lam`` of the primal-dual run on the simplex. Right: its certified gap."""
    fig, (a1, a2) = new_figure("page", aspect=0.4, ncols=2, width_ratios=[1, 1.15], layout=None)
    fig.subplots_adjust(left=0.02, right=0.98, bottom=0.13, top=0.92, wspace=0.25)
    tr = run["trajectory"]
    _polygon(a1, box, facecolor=(0.8, 0.8, 0.8, 0.4), edgecolor="black", ls="--", lw=0.8,
             label="Lambda (the box)")
    lx, ly = to_xy(tr[["lam_0", "lam_1", "lam_2"]].to_numpy())
    a1.plot(lx, ly, "-o", ms=2, lw=0.9, color=color("orange"), label="averaged lam")
    _mark(a1, run["lam_emp"], "P", color("sky"), "lam* (samples)", ms=8)
    _mark(a1, run["lam_star"], "*", color("vermillion"), "lam* (population)", ms=11)
    _simplex_frame(a1)
    a1.set_ylim(-0.32, 0.95)
    a1.legend(loc="lower center", fontsize=6, ncol=2, bbox_to_anchor=(0.5, -0.02), handletextpad=0.3,
              columnspacing=0.8)
    a1.set_title("where the adversary's weights go")
    ok = tr.gap > 0
    a2.loglog(tr["round"][ok], tr.gap[ok], "-o", ms=2.5, color=color("blue"), label="certified gap")
    t = tr["round"].to_numpy(dtype=float)
    first = tr.iloc[0]
    a2.loglog(t, first.gap * np.sqrt(first["round"] / t), color="black", ls="--", lw=0.8,
              label="~ t^(-1/2) from round 1")
    a2.set_xlabel("round t")
    a2.set_ylabel(f"certificate gap on the sample game  [{NATS}]")
    a2.set_title("primal-dual: the certified gap falls")
    _plain_log(a2)
    a2.legend(loc="lower left", fontsize=6.5)
    return fig


@styled
def plot_generalization(curve: pd.DataFrame, m: int):
    """Population excess of exactly fitted empirical models against ``m``; the current ``m`` marked."""
    fig, a3 = new_figure(4.2, aspect=0.75, layout=None)
    fig.subplots_adjust(left=0.17, right=0.97, bottom=0.15, top=0.92)
    a3.axvline(m, color="0.6", lw=0.8, label="the m chosen above")
    for i, (meth, g) in enumerate(curve.groupby("method", sort=False)):
        a3.errorbar(g.m, g.gap, yerr=g.gap_sd / np.sqrt(g.trials), color=color(i), marker="o", ms=3,
                    lw=1.0, capsize=2, ls="-" if i == 0 else ":", label=f"{meth}, exact fit")
    mod = curve[curve.method == curve.method.iloc[0]]
    m_ = mod.m.to_numpy(dtype=float)
    a3.plot(m_, mod.gap.iloc[0] * np.sqrt(m_[0] / m_), color="black", ls="--", lw=0.8, label="~ m^(-1/2)")
    a3.set_xscale("log")
    a3.set_yscale("log")
    _plain_log(a3, x_subs=(1.0,))
    a3.set_xlabel("samples per domain m")
    a3.set_ylabel(f"population worst case - V  [{NATS}]")
    a3.set_title("generalization: excess over the best gate")
    a3.legend(loc="lower left", fontsize=6)
    return fig
