"""Registry of figures: id -> (producer of a results table, plotter of that table).

Compute, store and plot are separate steps. ``produce`` builds a tidy DataFrame from a seed
(and a ``quick`` switch for smaller runs) and is stored as CSV under the results folder with
its configuration beside it; ``plot`` is a pure ``DataFrame -> Figure`` function. Figures whose
data comes from another command (e.g. the neural experiments) have no producer and a
``requires`` message saying which command to run first.

A figure module registers itself, next to its ``plot`` (and ``produce``), with
``SPEC = register_figure(FigureSpec(...))``; :mod:`robust_gates.figures` imports every such
module on first import, and :data:`FIGURES` lists them by ``FigureSpec.order``. A command that
computes a figure's table itself hands it to :func:`store_table`, which writes it where
:func:`produce_data` and :func:`draw_figure` look for it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from .style import save_figure

__all__ = ["FigureSpec", "FIGURES", "register_figure", "produce_data", "store_table", "draw_figure",
           "draw_all", "MissingData"]


class MissingData(RuntimeError):
    """The figure's results table does not exist yet; the message says what to run."""


@dataclass(frozen=True)
class FigureSpec:
    """One figure: its id, caption, results table (``data``, a file name) and the functions that
    compute (``produce``; ``None`` when another command writes the table) and draw it (``plot``)."""

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
    #: place in :data:`FIGURES` and in the report (smaller first; ties keep registration order)
    order: int = 1000


FIGURES: dict[str, FigureSpec] = {}


def register_figure(spec: FigureSpec, *, replace: bool = False) -> FigureSpec:
    """Add ``spec`` to :data:`FIGURES` (kept sorted by ``spec.order``) and return it.

    A second figure with the same ``id`` (or the same results file) is an error unless
    ``replace=True``, which swaps the registered figure of that id for ``spec``.
    """
    if spec.id in FIGURES and not replace:
        raise ValueError(f"a figure with id {spec.id!r} is already registered (by "
                         f"{_origin(FIGURES[spec.id])}); pick another id or pass replace=True")
    for other in FIGURES.values():
        if other.id != spec.id and other.data == spec.data:
            raise ValueError(f"figures {other.id!r} and {spec.id!r} would share the results file "
                             f"{spec.data!r}; give {spec.id!r} a file of its own")
    FIGURES[spec.id] = spec
    ranked = sorted(FIGURES.values(), key=lambda s: s.order)  # stable: ties keep their order
    FIGURES.clear()
    FIGURES.update((s.id, s) for s in ranked)
    return spec


def _origin(spec: FigureSpec) -> str:
    fn = spec.plot or spec.produce
    return getattr(fn, "__module__", None) or "an unknown module"


def _config_path(csv: Path) -> Path:
    return csv.with_suffix(".config.json")


def store_table(fig_id: str, df: pd.DataFrame, results_dir: str | Path, *, quick: bool | None = None,
                seed: int | None = None, float_format: str | None = None) -> Path:
    """Write ``df`` as the figure's results table (``results_dir / spec.data``) and return its path.

    With ``quick`` and ``seed`` (the arguments ``produce`` would have been called with) the
    configuration is stored beside the table, so :func:`produce_data` reuses it instead of
    computing it again; without them (tables of figures with no producer) nothing else is written.
    """
    spec = FIGURES[fig_id]
    if (quick is None) != (seed is None):
        raise ValueError("pass both quick and seed (the table's configuration) or neither")
    csv = Path(results_dir) / spec.data
    csv.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(csv, index=False, float_format=float_format)
    if quick is not None:
        _config_path(csv).write_text(json.dumps(_config(quick, seed)))
    return csv


def _config(quick, seed) -> dict:
    return {"quick": bool(quick), "seed": int(seed)}


def produce_data(fig_id: str, results_dir: str | Path, *, quick: bool = False, seed: int = 0,
                 force: bool = False) -> Path:
    """Compute and store the figure's table (cached: reused when its configuration matches)."""
    spec = FIGURES[fig_id]
    csv = Path(results_dir) / spec.data
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
        if json.loads(_config_path(csv).read_text()) == _config(quick, seed):
            return csv
    return store_table(fig_id, spec.produce(quick=quick, seed=seed), results_dir, quick=quick,
                       seed=seed)


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
