"""One small style for every figure: colour-blind-safe palette, paper-column sizes, units.

The palette is Okabe and Ito's (2008) eight colours, distinguishable under the common forms
of colour blindness. Sizes target a two-column paper: ``COLUMN`` is 3.4 in wide, ``PAGE`` 7 in.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

__all__ = ["PALETTE", "COLUMN", "PAGE", "NATS", "style", "styled", "new_figure", "save_figure", "color"]

PALETTE = {
    "blue": "#0072B2",
    "orange": "#E69F00",
    "green": "#009E73",
    "vermillion": "#D55E00",
    "purple": "#CC79A7",
    "sky": "#56B4E9",
    "yellow": "#F0E442",
    "black": "#000000",
}
_CYCLE = ["blue", "orange", "green", "vermillion", "purple", "sky", "black", "yellow"]
COLUMN = 3.4
PAGE = 7.0
NATS = "nats"

_RC = {
    "figure.dpi": 150,
    "savefig.dpi": 200,
    "savefig.bbox": "tight",
    "font.size": 8,
    "axes.titlesize": 8.5,
    "axes.labelsize": 8,
    "legend.fontsize": 7,
    "legend.frameon": False,
    "xtick.labelsize": 7,
    "ytick.labelsize": 7,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "lines.linewidth": 1.4,
    "axes.prop_cycle": matplotlib.cycler(color=[PALETTE[c] for c in _CYCLE]),
}


def color(i: int | str) -> str:
    """The ``i``-th palette colour (or a named one)."""
    return PALETTE[i] if isinstance(i, str) else PALETTE[_CYCLE[i % len(_CYCLE)]]


@contextmanager
def style():
    """Context manager applying the suite's rcParams."""
    with matplotlib.rc_context(_RC):
        yield


def styled(fn):
    """Decorator: run a plotting function inside :func:`style` (fonts apply at artist creation)."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with style():
            return fn(*args, **kwargs)

    return wrapper


def new_figure(width: str | float = "column", aspect: float = 0.75, ncols: int = 1, nrows: int = 1,
               **kwargs):
    """A figure of paper width (``"column"`` or ``"page"``, or inches) and its axes."""
    w = {"column": COLUMN, "page": PAGE}.get(width, width)
    kwargs.setdefault("layout", "constrained")
    with style():
        fig, axes = plt.subplots(nrows, ncols, figsize=(w, w * aspect), **kwargs)
    return fig, axes


def save_figure(fig, path: str | Path, pdf: bool = False) -> list[Path]:
    """Save ``fig`` as PNG (and PDF when ``pdf``); return the written paths."""
    path = Path(path).with_suffix(".png")
    path.parent.mkdir(parents=True, exist_ok=True)
    out = [path]
    with style():
        fig.savefig(path)
        if pdf:
            fig.savefig(path.with_suffix(".pdf"))
            out.append(path.with_suffix(".pdf"))
    plt.close(fig)
    return out
