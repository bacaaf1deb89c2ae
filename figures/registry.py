"""Registry of figures: id -> (producer of a results table, plotter of that table).

Compute, store and plot are separate steps. ``produce`` builds a tidy DataFrame from a seed
(and a ``quick`` switch for smaller runs) and is stored as CSV under the results folder with
its configuration beside it; ``plot`` is a pure ``DataFrame -> Figure`` function. Figures whose
data comes from another command (e.g. the neural experiments) have no producer and a
``requires`` message saying which command to run first.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from .style import save_figure

__all__ = ["FigureSpec", "FIGURES", "register_figure", "produce_data", "draw_figure", "draw_all",
           "MissingData"]


class MissingData(RuntimeError):
    """The figure's results table does not exist yet; the message says what to run."""


@dataclass(frozen=True)
class FigureSpec:
    id: str
    title: str
    caption: str
    data: str
    plot: Callable[[pd.DataFrame], object] | None
    produce: Callable[..., pd.DataFrame] | None = None
    requires: str = ""
    paper: bool = False
    #: a results table shipped in the repository (path relative to its root), used when the
    #: results folder has none; the report says where it came from
    shipped: str = ""


FIGURES: dict[str, FigureSpec] = {}


def register_figure(spec: FigureSpec) -> FigureSpec:
    """Add (or replace) a figure in the registry."""
    FIGURES[spec.id] = spec
    return spec


def _config_path(csv: Path) -> Path:
    return csv.with_suffix(".config.json")


def produce_data(fig_id: str, results_dir: str | Path, *, quick: bool = False, seed: int = 0,
                 force: bool = False) -> Path:
    """Compute and store the figure's table (cached: reused when its configuration matches)."""
    spec = FIGURES[fig_id]
    csv = Path(results_dir) / spec.data
    config = {"quick": bool(quick), "seed": int(seed)}
    if spec.produce is None:
        stored = Path(__file__).resolve().parent.parent / spec.shipped if spec.shipped else None
        if not csv.exists() and stored is not None and stored.exists():
            import shutil

            csv.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(stored, csv)
        if not csv.exists():
            raise MissingData(f"{fig_id}: no data at {csv}; {spec.requires}")
        return csv
    if csv.exists() and not force and _config_path(csv).exists():
        if json.loads(_config_path(csv).read_text()) == config:
            return csv
    csv.parent.mkdir(parents=True, exist_ok=True)
    df = spec.produce(quick=quick, seed=seed)
    df.to_csv(csv, index=False)
    _config_path(csv).write_text(json.dumps(config))
    return csv


def draw_figure(fig_id: str, results_dir: str | Path, out_dir: str | Path, *, pdf: bool = False
                ) -> list[Path]:
    """Draw one figure from its stored table; raises :class:`MissingData` when absent."""
    spec = FIGURES[fig_id]
    csv = Path(results_dir) / spec.data
    if spec.plot is None:
        raise MissingData(f"{fig_id}: {spec.requires}")
    if not csv.exists():
        raise MissingData(f"{fig_id}: no data at {csv}; {spec.requires or 'produce it first'}")
    fig = spec.plot(pd.read_csv(csv))
    return save_figure(fig, Path(out_dir) / fig_id, pdf=pdf)


def draw_all(results_dir: str | Path, out_dir: str | Path, *, quick: bool = False, seed: int = 0,
             pdf: bool = False, ids: list[str] | None = None, progress: bool = True) -> pd.DataFrame:
    """Produce (where possible) and draw every registered figure.

    Returns a table with one row per figure: id, title, caption, status (``drawn`` or
    ``missing``), the PNG path and, when missing, the message saying what to run first.
    """
    from tqdm.auto import tqdm

    rows = []
    ids = list(FIGURES) if ids is None else ids
    for fig_id in tqdm(ids, desc="figures", disable=not progress):
        spec = FIGURES[fig_id]
        try:
            produce_data(fig_id, results_dir, quick=quick, seed=seed)
            paths = draw_figure(fig_id, results_dir, out_dir, pdf=pdf)
            rows.append({"id": fig_id, "title": spec.title, "caption": spec.caption,
                         "status": "drawn", "png": str(paths[0]), "message": ""})
        except MissingData as exc:
            rows.append({"id": fig_id, "title": spec.title, "caption": spec.caption,
                         "status": "missing", "png": "", "message": str(exc)})
    return pd.DataFrame(rows)
