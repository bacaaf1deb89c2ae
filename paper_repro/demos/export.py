"""Offline copies of the teaching demos: one self-contained HTML page per notebook, with sliders.

:func:`export_demo` runs a demo's notebook (marimo's script mode, in this process) once at its
default slider positions and once at every point of a grid of slider positions
(:data:`GRIDS`), and writes every cell's output into a single ``.html`` file: text, the result
callouts and the figures (PNG data URLs). Cells whose output changes with the sliders are stored
once per distinct output, and a short inline script swaps them in when a slider moves; the sliders
of the page can stop only at grid points. Every number and figure the page shows was computed
by robust-gates at export time; the page itself computes nothing. It loads nothing either: it opens
from a USB stick or a ``file://`` URL with no network, no server and no Python, and without
JavaScript it still shows the default positions. Sliders left out of the grid are drawn disabled
at their default values; every other value needs the live demo, ``robust-gates teach NAME``.

Why not marimo's own exports: ``marimo export html`` embeds the outputs but loads marimo's
frontend (JavaScript modules) from a CDN when the page is opened, so offline it shows an empty
page; ``marimo export html-wasm`` runs the notebook in the browser with Pyodide, which it fetches
with numpy, scipy and pandas from a CDN at view time (``--offline`` fetches them at export time
instead, from the same CDN), it cannot install this package (not a Pyodide package), and its
output must be served over HTTP, not opened as a file.

Needs marimo (the ``demos`` extra) and Pillow (a matplotlib dependency); this module imports
without them.
"""

from __future__ import annotations

import base64
import html
import importlib.util
import io
import itertools
import json
import math
import re
from pathlib import Path

from . import DEMOS, demo_path

__all__ = ["GRIDS", "export_demo", "export_demos", "notebook_html"]

#: the slider positions each offline page offers: notebook variable -> values (each list holds the
#: notebook's default; every combination is computed at export time, so the product stays small:
#: about 60-80 points, a minute or so per demo). Sliders not named here are fixed at their default.
GRIDS: dict[str, dict[str, tuple]] = {
    "game_on_simplex": {"c1": (0.0, 0.2, 0.4, 0.6, 0.8), "c2": (0.0, 0.2, 0.4, 0.6, 0.8),
                        "half_width": (0.05, 0.15, 0.3)},
    "jsd_gap": {"separation": tuple(round(0.1 * i, 1) for i in range(11)), "capacity": (1, 2, 3, 4, 5, 6)},
    "learning_from_samples": {"m": (10, 30, 100, 300, 1000, 3000, 10000), "lam_step": (0.3, 1.0, 3.0),
                              "lr": (0.2, 0.5)},
}

#: colours of the palette the figures are stored in (matplotlib figures use few colours; a palette
#: PNG is about a third of the size of the RGBA one)
PALETTE_COLOURS = 128

#: the custom elements a static page can draw; any other ``<marimo-...>`` element is replaced by
#: a note that it needs the live demo
_ELEMENT = re.compile(r"<(marimo-[a-z-]+)((?:\s+[\w-]+='[^']*')*)\s*>(.*?)</\1>", re.S)
_ATTR = re.compile(r"([\w-]+)='([^']*)'")
_PNG = re.compile(r"data:image/png;base64,([A-Za-z0-9+/=]+)")

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1f2328;
       margin: 0; background: #fff; line-height: 1.5; }
main { max-width: 1100px; margin: 0 auto; padding: 1.5rem 2rem 4rem; }
.banner { background: #f6f8fa; border: 1px solid #d0d7de; border-radius: 6px; padding: 0.6rem 1rem;
          font-size: 0.9rem; color: #57606a; }
.cell { margin: 1.2rem 0; }
.paragraph { display: block; margin: 0.5rem 0; }
h1 { font-size: 1.9rem; margin: 1.2rem 0 0.6rem; }
code { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 0.9em;
       background: #f3f4f6; padding: 0.05em 0.3em; border-radius: 4px; }
img { max-width: 100%; height: auto; }
.callout { border-left: 4px solid #0969da; background: #ddf4ff; border-radius: 6px; padding: 0.4rem 1rem; }
.callout.warn { border-color: #9a6700; background: #fff8c5; }
.callout.danger { border-color: #cf222e; background: #ffebe9; }
.callout.success { border-color: #1a7f37; background: #dafbe1; }
.control { display: flex; flex-direction: column; min-width: 12rem; font-size: 0.9rem; }
.control .value { font-variant-numeric: tabular-nums; font-weight: 600; }
.control input { accent-color: #0969da; }
.control input:disabled { accent-color: #8c959f; }
.control .fixed { color: #57606a; font-size: 0.8rem; }
.unavailable { color: #57606a; font-style: italic; }
"""

#: moves the page to the grid point the sliders show: each changing cell's output for that point
_SCRIPT = """
(() => {
  const data = JSON.parse(document.getElementById('rg-data').textContent);
  const inputs = data.sliders.map((s) => document.querySelector(`input[data-var="${s.name}"]`));
  const cells = Array.from(document.querySelectorAll('[data-dyn]'));
  const update = () => {
    let k = 0;
    data.sliders.forEach((s, j) => {
      const i = Number(inputs[j].value);
      k = k * s.values.length + i;
      inputs[j].parentElement.querySelector('.value').textContent = s.values[i];
    });
    cells.forEach((el) => {
      const c = data.cells[Number(el.dataset.dyn)];
      const t = String(c.at[k]);
      if (el.dataset.shown !== t) { el.innerHTML = c.table[t]; el.dataset.shown = t; }
    });
  };
  inputs.forEach((input) => input.addEventListener('input', update));
  update();
})();
"""


def _attrs(raw: str) -> dict:
    """The ``data-*`` attributes of a marimo element, decoded from their HTML-escaped JSON."""
    out = {}
    for key, value in _ATTR.findall(raw):
        text = html.unescape(value)
        try:
            out[key] = json.loads(text)
        except json.JSONDecodeError:
            out[key] = text
    return out


def _shown(value) -> str:
    """A slider value as the page prints it (``0.6``, ``2``, ``10000``)."""
    return f"{value:g}" if isinstance(value, float) else str(value)


def _slider(a: dict, live: dict | None) -> str:
    """A marimo slider as a range input: ``live`` (``{"name", "values", "index"}``) makes it step
    through the grid values; without it the input is disabled at the slider's default value."""
    label = _static(str(a.get("data-label", "")))
    if live is not None:
        return (f'<label class="control">{label}<input type="range" min="0" max="{len(live["values"]) - 1}" '
                f'step="1" value="{live["index"]}" data-var="{html.escape(live["name"])}">'
                f'<span class="value">{html.escape(_shown(live["values"][live["index"]]))}</span></label>')
    value = a.get("data-initial-value")
    steps = a.get("data-steps") or []
    if steps and isinstance(value, int) and 0 <= value < len(steps):
        value = steps[value]  # a slider over a list of steps stores the index of its value
    bounds = " ".join(f'{k}="{html.escape(str(a[f"data-{v}"]))}"'
                      for k, v in (("min", "start"), ("max", "stop"), ("step", "step")) if f"data-{v}" in a)
    if steps:
        bounds = f'min="{html.escape(str(min(steps)))}" max="{html.escape(str(max(steps)))}"'
    return (f'<label class="control">{label}<input type="range" {bounds} value="{html.escape(str(value))}" '
            f'disabled><span class="value">{html.escape(str(value))}</span>'
            f'<span class="fixed">fixed in this copy</span></label>')


def _static(fragment: str, live: dict | None = None) -> str:
    """``fragment`` with marimo's custom elements replaced by plain HTML (recursively); ``live`` maps
    the object ids of the grid's sliders to their grid (see :func:`_slider`)."""
    live = live or {}

    def repl(m: re.Match) -> str:
        tag, a, inner = m.group(1), _attrs(m.group(2)), m.group(3)
        if tag == "marimo-ui-element":
            oid = a.get("object-id")
            if oid in live:
                sub = _ELEMENT.search(inner)
                return _slider(_attrs(sub.group(2)) if sub else {}, live[oid])
            return _static(inner, live)
        if tag == "marimo-slider":
            return _slider(a, None)
        if tag == "marimo-callout-output":
            kind = html.escape(str(a.get("data-kind", "neutral")))
            return f'<div class="callout {kind}">{_static(str(a.get("data-html", "")), live)}</div>'
        return f'<span class="unavailable">[{html.escape(tag[7:])}: shown in the live demo only]</span>'

    return _ELEMENT.sub(repl, fragment)


def _palette_pngs(fragment: str) -> str:
    """``fragment`` with every PNG data URL re-encoded as a palette PNG of
    :data:`PALETTE_COLOURS` colours (the figures' flat colours survive; the file shrinks)."""
    from PIL import Image

    def repl(m: re.Match) -> str:
        img = Image.open(io.BytesIO(base64.b64decode(m.group(1)))).convert("RGB")
        buf = io.BytesIO()
        img.quantize(colors=PALETTE_COLOURS, method=Image.Quantize.MEDIANCUT).save(buf, "PNG", optimize=True)
        return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")

    return _PNG.sub(repl, fragment)


def _same(a, b) -> bool:
    return a == b or (isinstance(a, float | int) and isinstance(b, float | int) and math.isclose(a, b))


def _load(path: str | Path):
    spec = importlib.util.spec_from_file_location(f"_rg_export_{Path(path).stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.app


def _page(title: str, banner: str, body: str, data: dict | None = None) -> str:
    script = ""
    if data is not None:
        payload = json.dumps(data, separators=(",", ":")).replace("</", "<\\/")
        script = (f'<script type="application/json" id="rg-data">{payload}</script>\n'
                  f"<script>{_SCRIPT}</script>\n")
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f'<title>{html.escape(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n<main>\n'
            f'{banner}\n{body}\n</main>\n{script}</body>\n</html>\n')


def notebook_html(path: str | Path, title: str, banner: str = "", grid: dict | None = None,
                  progress=None) -> str:
    """Run the marimo notebook at ``path`` and return one HTML page of its outputs, with ``banner``
    (HTML) above them.

    Without ``grid`` the page shows the default slider positions and has no script. With ``grid``
    (slider variable -> values, each holding the default) the notebook also runs at every
    combination of the values, and the page's sliders step through them (module docstring);
    ``progress(done, total)`` is called after each run. Needs marimo."""
    import marimo as mo

    app = _load(path)
    outputs, defs = app.run()
    grid = dict(grid or {})
    sliders = {k: v for k, v in defs.items() if isinstance(v, mo.ui.slider)}
    live, specs = {}, []
    for name, values in grid.items():
        if name not in sliders:
            raise ValueError(f"{Path(path).name} has no slider {name!r}; "
                             f"its sliders: {', '.join(sorted(sliders))}")
        default = sliders[name].value
        index = next((i for i, v in enumerate(values) if _same(v, default)), None)
        if index is None:
            raise ValueError(f"the grid of {name!r} must hold its default {default!r}; got {values!r}")
        spec = {"name": name, "values": [_shown(v) for v in values], "index": index}
        live[sliders[name]._id] = spec
        specs.append(spec)

    default_html = [None if o is None else _palette_pngs(mo.as_html(o).text) for o in outputs]
    if not grid:
        cells = "\n".join(f'<div class="cell">{_static(h)}</div>' for h in default_html if h is not None)
        return _page(title, banner, cells)

    # every slider is overridden (grid sliders by their grid value, the others by their default),
    # so the cells that define sliders are skipped and their outputs come from the default run
    points = list(itertools.product(*grid.values()))
    # app.run leaves out the cells it skips (those that define an overridden name): put them back
    cell_defs = [set(cd.cell.defs) if cd.cell is not None else set() for cd in app._cell_manager.cell_data()]
    kept = [i for i, d in enumerate(cell_defs) if not d & sliders.keys()]
    if len(cell_defs) != len(outputs):
        raise RuntimeError(f"{Path(path).name}: {len(outputs)} outputs for {len(cell_defs)} cells")
    runs = []
    for done, point in enumerate(points, 1):
        values = {**{k: s.value for k, s in sliders.items()}, **dict(zip(grid, point, strict=True))}
        outs, _ = app.run(defs={k: mo.ui.slider(steps=[v], value=v) for k, v in values.items()})
        if len(outs) != len(kept):
            raise RuntimeError(f"{Path(path).name}: {len(outs)} outputs for {len(kept)} cells that ran")
        run = [None] * len(outputs)
        for i, o in zip(kept, outs, strict=True):
            run[i] = None if o is None else mo.as_html(o).text
        runs.append(run)
        if progress is not None:
            progress(done, len(points))
    default_point = sum(s["index"] * math.prod(len(v) for v in list(grid.values())[j + 1:])
                        for j, s in enumerate(specs))

    body, dynamic = [], []
    for i, first in enumerate(default_html):
        column = [r[i] for r in runs]
        if first is None or all(c is None for c in column) or all(c == column[0] for c in column):
            if first is not None:
                body.append(f'<div class="cell">{_static(first, live)}</div>')
            continue
        if any(c is None for c in column):
            raise RuntimeError(f"cell {i} of {Path(path).name} shows output at some slider positions only")
        table, at, seen = [], [], {}
        for c in column:
            if c not in seen:
                seen[c] = len(table)
                table.append(_static(_palette_pngs(c), live))
            at.append(seen[c])
        body.append(f'<div class="cell" data-dyn="{len(dynamic)}" data-shown="{at[default_point]}">'
                    f'{table[at[default_point]]}</div>')
        dynamic.append({"table": table, "at": at})
    data = {"sliders": [{"name": s["name"], "values": s["values"]} for s in specs], "cells": dynamic}
    return _page(title, banner, "\n".join(body), data)


def _grid_text(grid: dict) -> str:
    return "; ".join(f"<code>{html.escape(k)}</code> in {{{', '.join(_shown(v) for v in vs)}}}"
                     for k, vs in grid.items())


def export_demo(name: str, out_dir: str | Path, grid: dict | None = None, progress=None) -> Path:
    """Write ``out_dir/<name>.html``: the demo ``name`` at its default settings and at every point
    of ``grid`` (default :data:`GRIDS`\\ ``[name]``; ``{}`` gives a page without sliders); returns
    the file's path."""
    from robust_gates import __version__

    path = demo_path(name)
    grid = GRIDS.get(name, {}) if grid is None else grid
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    points = math.prod(len(v) for v in grid.values()) if grid else 0
    head = (f'<p class="banner">Offline copy of the teaching demo <b>{html.escape(name)}</b> '
            f"(robust-gates {html.escape(__version__)}). ")
    if grid:
        head += (f"Every number and figure on this page was computed by robust-gates at export time, "
                 f"for {points} combinations of slider positions: {_grid_text(grid)}. The sliders "
                 f"pick one of these grid points; this page computes nothing itself. Other values "
                 f"and the fixed sliders need the live demo: <code>robust-gates teach "
                 f"{html.escape(name)}</code>.</p>")
    else:
        head += (f"Every number and figure was computed at the default slider positions shown. To move "
                 f"the sliders, run <code>robust-gates teach {html.escape(name)}</code>.</p>")
    target = out / f"{name}.html"
    target.write_text(notebook_html(path, DEMOS[name].description, head, grid, progress), encoding="utf-8")
    return target


def export_demos(out_dir: str | Path, names=None, progress=None) -> list[Path]:
    """Export every demo in ``names`` (default: all) and write ``out_dir/index.html`` linking them;
    ``progress(name, done, total)`` is called after each notebook run."""
    names = list(names or DEMOS)
    pages = []
    for n in names:
        step = None if progress is None else (lambda done, total, n=n: progress(n, done, total))
        pages.append(export_demo(n, out_dir, progress=step))
    items = "\n".join(f'<li><a href="{p.name}">{html.escape(n)}</a>: {html.escape(DEMOS[n].description)}</li>'
                      for n, p in zip(names, pages, strict=True))
    index = Path(out_dir) / "index.html"
    index.write_text(f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
                     f"<title>robust-gates teaching demos</title>\n<style>{_CSS}</style>\n</head>\n"
                     f"<body>\n<main>\n<h1>Teaching demos (offline copies)</h1>\n"
                     f"<p>Each page opens without a server or a network; its sliders step through "
                     f"values computed when the copy was made.</p>\n<ul>\n{items}\n</ul>\n"
                     f"</main>\n</body>\n</html>\n", encoding="utf-8")
    return [*pages, index]
