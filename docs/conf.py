"""Sphinx configuration of the robust-gates documentation.

Build (offline, warnings are errors), from the repository root, after ``pip install -e ".[docs]"``::

    python -m sphinx -W --keep-going -b html docs docs/_build/html

The pages need no network to be read: the theme (furo) ships its assets, the examples' figures are
PNG files drawn at build time, and the math is typeset by a copy of MathJax 3 taken from the
``sphinx-mathjax-offline`` package and written next to the pages (see :func:`_copy_mathjax`).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("MARIMO_SKIP_UPDATE_CHECK", "1")

import robust_gates  # noqa: E402

project = "robust-gates"
author = "the robust-gates authors"
copyright = "2026, the robust-gates authors (MIT licence)"
version = release = robust_gates.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "sphinx_gallery.gen_gallery",
    "myst_parser",
]

templates_path = ["_templates"]
exclude_patterns = ["_build", "examples", "screenshots", "Thumbs.db", ".DS_Store"]
root_doc = "index"
#: docs/statements.md (the formalized statements) is Markdown with $...$ math
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
myst_enable_extensions = ["dollarmath"]
myst_heading_anchors = 3
default_role = "code"  # `x` in a docstring reads as code, as ``x`` does

# ----------------------------------------------------------------------------- API reference
autosummary_generate = True
autosummary_ignore_module_all = True  # a package's __all__ lists names, not its modules
#: modules left out of the API reference: the demos' marimo notebooks are apps, not API
autosummary_context = {"skip": [
    "robust_gates.paper_repro.demos.game_on_simplex",
    "robust_gates.paper_repro.demos.jsd_gap",
    "robust_gates.paper_repro.demos.learning_from_samples",
]}
#: the neural modules import torch; without the torch extra their pages are built from stand-ins
autodoc_mock_imports = [] if importlib.util.find_spec("torch") else ["torch"]
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_preserve_defaults = False  # True trips Sphinx 9 on some signatures ("pop from empty list")
python_maximum_signature_line_length = 100
napoleon_google_docstring = False
napoleon_numpy_docstring = True
napoleon_use_rtype = False

# ----------------------------------------------------------------------------- examples gallery
sphinx_gallery_conf = {
    "examples_dirs": "examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "within_subsection_order": "FileNameSortKey",
    "doc_module": ("robust_gates",),
    "backreferences_dir": "gen_modules/backreferences",
    "reference_url": {"robust_gates": None},
    "remove_config_comments": True,
    "abort_on_example_error": True,
    "min_reported_time": 10,
    "write_computation_times": False,  # its pages load tables from a CDN; timings are printed anyway
    "show_memory": False,
    "matplotlib_animations": False,
}

# ----------------------------------------------------------------------------- HTML
html_theme = "furo"
html_title = f"robust-gates {release}"
html_static_path = []
html_show_sourcelink = False
html_theme_options = {"navigation_with_keys": True}

# ----------------------------------------------------------------------------- offline math
#: MathJax 3 (SVG output: glyphs are drawn as paths, so no web font has to load from a file:// URL)
mathjax_path = "mathjax/tex-svg.js"
mathjax3_config = {"tex": {"inlineMath": [["\\(", "\\)"]], "displayMath": [["\\[", "\\]"]]}}


def _mathjax_source() -> Path:
    """The MathJax 3 distribution shipped by the ``sphinx-mathjax-offline`` package (docs extra)."""
    try:
        dist = distribution("sphinx-mathjax-offline")
    except PackageNotFoundError:
        raise RuntimeError("the docs need the sphinx-mathjax-offline package for offline math: "
                           "pip install -e \".[docs]\"") from None
    root = Path(dist.locate_file("sphinx-mathjax-offline")) / "static" / "mathjax"
    if not (root / "tex-svg.js").is_file():
        raise RuntimeError(f"no tex-svg.js under {root}; reinstall sphinx-mathjax-offline")
    return root


def _copy_mathjax(app, exc) -> None:
    """Write ``_static/mathjax/``: the TeX-to-SVG bundle and the TeX extensions it may autoload."""
    if exc is not None or app.builder.format != "html":
        return
    src, dest = _mathjax_source(), Path(app.outdir) / "_static" / "mathjax"
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy2(src / "tex-svg.js", dest / "tex-svg.js")
    shutil.copytree(src / "input" / "tex" / "extensions", dest / "input" / "tex" / "extensions",
                    dirs_exist_ok=True)


def setup(app):
    _mathjax_source()  # fail at the start of the build, not at its end
    app.connect("build-finished", _copy_mathjax)
