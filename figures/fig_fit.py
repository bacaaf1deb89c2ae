"""``robust-gates fit``: worst case against average on the held-out split, per method.

Input: ``fit_table.csv`` written by ``robust-gates fit`` (:mod:`robust_gates.simulations.fit`), one
row per ``method``, ``split`` and ``domain`` (a domain's name, ``worst_case`` or ``average``) with
``loss``, ``ci_low``, ``ci_high``. The held-out split drawn is ``test`` (``valid`` when there is no
``test``). Left: every method as a point (average, worst case) with its bootstrap intervals;
points near the diagonal are as good on their worst mixture as on average. Right: each method's
loss on every domain and its worst case. Losses are in nats per sample (or per token).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .registry import FigureSpec, register_figure
from .style import color, new_figure, styled

_REQUIRED = ("method", "split", "domain", "loss", "ci_low", "ci_high")
_STYLE = {  # method -> (label, colour, marker, filled)
    "constant_gate": ("robust constant gate (certified)", "blue", "^", True),
    "softmax_gate": ("contextual gate (loss bound)", "vermillion", "s", True),
    "softmax_gate_score": ("contextual gate (raw score)", "vermillion", "s", False),
    "uniform_mixture": ("uniform mixture", "purple", "o", True),
    "bayes_router": ("Bayes router, uniform prior", "black", "o", False),
    "best_single_expert": ("best single expert", "sky", "v", True),
    "oracle_per_domain": ("per-domain best expert (oracle)", "green", "D", False),
}
_SUMMARY = ("worst_case", "average")


@styled
def plot(df: pd.DataFrame):
    """``DataFrame -> Figure`` (module docstring)."""
    for col in _REQUIRED:
        if col not in df.columns:
            raise ValueError(f"the fit table needs a column {col!r}; run `robust-gates fit`")
    split = "test" if (df["split"] == "test").any() else "valid"
    t = df[df["split"] == split]
    if t.empty:
        raise ValueError("the fit table has no held-out ('test' or 'valid') rows; run `robust-gates fit`")
    order = [m for m in _STYLE if m in set(t["method"])] + sorted(set(t["method"]) - set(_STYLE))
    wide = {s: t[t["domain"] == s].set_index("method") for s in _SUMMARY}
    domains = [d for d in dict.fromkeys(t["domain"]) if d not in _SUMMARY]
    fig, (ax, bx) = new_figure("page", aspect=0.45, ncols=2)
    for m in order:
        label, col, marker, filled = _STYLE.get(m, (m, "black", "x", True))
        a, w = wide["average"].loc[m], wide["worst_case"].loc[m]
        ax.errorbar(a["loss"], w["loss"], xerr=_err(a), yerr=_err(w), fmt="none", ecolor=color(col),
                    elinewidth=0.7, alpha=0.7, zorder=2)
        ax.scatter(a["loss"], w["loss"], marker=marker, s=28, linewidths=1.1, zorder=3, label=label,
                   facecolors=color(col) if filled else "none", edgecolors=color(col))
    lo, hi, off = _zoom(wide, order)
    ax.plot([lo, hi], [lo, hi], color="0.6", lw=0.8, ls=":", label="worst case = average")
    if off:
        ax.set_xlim(lo, hi)
        ax.set_ylim(lo, hi)
        ax.text(0.98, 0.02, "off scale: " + "; ".join(off), transform=ax.transAxes, ha="right",
                va="bottom", fontsize=5.5, color="0.3")
    ax.set_xlabel("average loss over domains (nats)")
    ax.set_ylabel("worst case over Lambda (nats)")
    ax.set_title(f"robustness against average ({split} split, 95% bootstrap)")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), fontsize=5.5, ncol=2)

    y = np.arange(len(order))[::-1]
    markers = ["o", "s", "^", "v", "D", "<", ">", "p"]
    for i, d in enumerate(domains):
        rows = t[t["domain"] == d].set_index("method").loc[order]
        bx.scatter(rows["loss"], y, marker=markers[i % len(markers)], s=16, color=color(i), label=d, zorder=3)
    bx.scatter(wide["worst_case"].loc[order, "loss"], y, marker="|", s=60, color="black",
               label="worst case", zorder=4)
    bx.set_yticks(y, [_STYLE.get(m, (m,))[0] for m in order], fontsize=6)
    bx.grid(axis="y", color="0.9", lw=0.6)
    bx.set_xlabel("loss (nats)")
    bx.set_title(f"per domain ({split} split)")
    # below the axis, as on the left: above it the legend would crowd the title
    bx.legend(fontsize=6, ncol=min(4, len(domains) + 1), loc="upper center", bbox_to_anchor=(0.5, -0.16))
    return fig


def _zoom(wide: dict, order: list[str]) -> tuple[float, float, list[str]]:
    """Axis range of the left panel: every method's (average, worst case), except methods more than
    three spans away from the others, which are named as off scale instead (a poor single expert
    would otherwise squash the comparison that matters)."""
    pts = {m: (wide["average"].loc[m, "loss"], wide["worst_case"].loc[m, "loss"]) for m in order}
    vals = np.array(list(pts.values()))
    med = np.median(vals, axis=0)
    core = [m for m in order if m != "best_single_expert"] or order
    span = max(float(np.ptp(np.array([pts[m] for m in core]))), 1e-9)
    off = [m for m in order if np.max(np.abs(np.array(pts[m]) - med)) > 3 * span]
    keep = np.array([pts[m] for m in order if m not in off])
    lo, hi = float(keep.min()), float(keep.max())
    pad = 0.08 * max(hi - lo, 1e-9)
    labels = [f"{_STYLE.get(m, (m,))[0]} ({pts[m][0]:.4g}, {pts[m][1]:.4g})" for m in off]
    return lo - pad, hi + pad, labels


def _err(row) -> np.ndarray | None:
    if not (np.isfinite(row["ci_low"]) and np.isfinite(row["ci_high"])):
        return None
    return np.array([[max(row["loss"] - row["ci_low"], 0.0)], [max(row["ci_high"] - row["loss"], 0.0)]])


SPEC = register_figure(FigureSpec(
    id="fit", title="Your experts: robust mixture weights and a contextual gate",
    caption="Held-out worst case against average loss of the certified robust mixture weights, the "
            "contextual gate and the baselines, with bootstrap intervals.",
    data="fit_table.csv", plot=plot, produce=None,
    requires="run `robust-gates fit FILE --out DIR` (or `robust-gates fit --example`) first", order=170))
