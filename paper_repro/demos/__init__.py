"""Teaching demonstrations: marimo notebooks a lecturer can open and move sliders in.

Each demo is a plain ``.py`` marimo app in this folder: run it as a script (``python
paper_repro/demos/jsd_gap.py``), serve it (``robust-gates teach jsd_gap``, i.e. ``marimo run``) or
edit it (``marimo edit``). Their computations live in :mod:`robust_gates.paper_repro.demos._lib` and their
figures in :mod:`robust_gates.paper_repro.demos._plots`. marimo is an optional dependency (the ``demos``
extra);
this module imports without it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = ["Demo", "DEMOS", "demo_path"]  # offline exports: robust_gates.paper_repro.demos.export

_HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Demo:
    """One notebook: its ``name``, file ``path``, a one-line ``description``, the regular expression
    ``headline`` that finds its main number in the page text (group 1) and the number of
    figures it shows (both used by the browser test and the screenshots)."""

    name: str
    path: Path
    description: str
    headline: str
    figures: int


DEMOS: dict[str, Demo] = {
    d.name: d for d in (
        Demo("game_on_simplex", _HERE / "game_on_simplex.py",
             "the robust game for K = 3: phi on the simplex, lam*, the equalizer, a box Lambda and T3",
             r"V\(Λ\) = ([0-9.]+) nats", 2),
        Demo("jsd_gap", _HERE / "jsd_gap.py",
             "why retraining one model on the aggregate loses: the Jensen-Shannon gap on 1-D modes",
             r"Worst case of the monolithic model = ([0-9.]+) nats", 1),
        Demo("learning_from_samples", _HERE / "learning_from_samples.py",
             "the stochastic primal-dual method on samples: lam's path, the certified gap, m^(-1/2)",
             r"Certified gap after \d+ rounds = ([0-9.]+) nats", 1),
    )
}


def demo_path(name: str) -> Path:
    """The notebook file of demo ``name`` (``ValueError`` naming the choices if unknown)."""
    if name not in DEMOS:
        raise ValueError(f"unknown demo {name!r}; choose one of {', '.join(DEMOS)}")
    return DEMOS[name].path

