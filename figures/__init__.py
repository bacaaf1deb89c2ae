"""Figures: one module per figure, each a pure ``DataFrame -> Figure`` plotter plus the producer
of its results table; :data:`FIGURES` is the registry the report draws from.

Every public module of this package is a figure that registers itself
(``SPEC = register_figure(FigureSpec(...))`` next to its ``plot``); they are imported here, found
with :mod:`pkgutil` as the command line finds its commands, so a new figure is one new file.
Helpers shared by figures live in modules whose names start with ``_``.
"""

import importlib
import pkgutil

from .registry import (
    FIGURES,
    FigureSpec,
    MissingData,
    draw_all,
    draw_figure,
    produce_data,
    register_figure,
    store_table,
)
from .style import PALETTE, new_figure, save_figure, style, styled

__all__ = ["FIGURES", "FigureSpec", "MissingData", "draw_all", "draw_figure", "produce_data",
           "register_figure", "store_table", "PALETTE", "new_figure", "save_figure", "style", "styled"]

#: modules of this package that are not figures
_INFRASTRUCTURE = frozenset({"registry", "style"})


def _register_figure_modules() -> None:
    """Import every figure module (each registers its ``SPEC``); a module without one is an error."""
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("_") or info.name in _INFRASTRUCTURE:
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        spec = getattr(module, "SPEC", None)
        if not isinstance(spec, FigureSpec) or FIGURES.get(spec.id) is not spec:
            raise TypeError(f"figures/{info.name}.py registers no figure: a figure module ends with "
                            "SPEC = register_figure(FigureSpec(...)); name shared helpers with a "
                            "leading underscore")


_register_figure_modules()
