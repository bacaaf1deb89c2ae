"""Offline copies of the teaching demos: one self-contained HTML page per notebook.

:func:`export_demo` runs a demo's notebook once, at its default slider positions (marimo's script
mode, in this process), and writes every cell's output into a single ``.html`` file: text, the
result callouts and the figures (PNG data URLs). The page has no script and loads nothing: it
opens from a USB stick or a ``file://`` URL with no network and no Python. The sliders are drawn
as disabled range inputs at the values the numbers were computed for; the live demo (moving
them) needs ``robust-gates teach NAME``.

Why not marimo's own exports: ``marimo export html`` embeds the outputs but loads marimo's
frontend (JavaScript modules) from a CDN when the page is opened, so offline it shows an empty
page; ``marimo export html-wasm`` runs the notebook in the browser with Pyodide, which it fetches
with numpy, scipy and pandas from a CDN at view time (``--offline`` fetches them at export time
instead, from the same CDN), it cannot install this package (not a Pyodide package), and its
output must be served over HTTP, not opened as a file.

Needs marimo (the ``demos`` extra); this module imports without it.
"""

from __future__ import annotations

import html
import importlib.util
import json
import re
from pathlib import Path

from . import DEMOS, demo_path

__all__ = ["export_demo", "export_demos", "notebook_html"]

#: the custom elements a static page can draw; any other ``<marimo-...>`` element is replaced by
#: a note that it needs the live demo
_ELEMENT = re.compile(r"<(marimo-[a-z-]+)((?:\s+[\w-]+='[^']*')*)\s*>(.*?)</\1>", re.S)
_ATTR = re.compile(r"([\w-]+)='([^']*)'")

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
.control input { accent-color: #57606a; }
.unavailable { color: #57606a; font-style: italic; }
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


def _slider(a: dict) -> str:
    value = a.get("data-initial-value")
    label = _static(str(a.get("data-label", "")))
    bounds = " ".join(f'{k}="{html.escape(str(a[f"data-{v}"]))}"'
                      for k, v in (("min", "start"), ("max", "stop"), ("step", "step")) if f"data-{v}" in a)
    return (f'<label class="control">{label}<input type="range" {bounds} value="{html.escape(str(value))}" '
            f'disabled><span class="value">{html.escape(str(value))}</span></label>')


def _static(fragment: str) -> str:
    """``fragment`` with marimo's custom elements replaced by plain HTML (recursively)."""

    def repl(m: re.Match) -> str:
        tag, a, inner = m.group(1), _attrs(m.group(2)), m.group(3)
        if tag == "marimo-ui-element":
            return _static(inner)
        if tag == "marimo-slider":
            return _slider(a)
        if tag == "marimo-callout-output":
            kind = html.escape(str(a.get("data-kind", "neutral")))
            return f'<div class="callout {kind}">{_static(str(a.get("data-html", "")))}</div>'
        return f'<span class="unavailable">[{html.escape(tag[7:])}: shown in the live demo only]</span>'

    return _ELEMENT.sub(repl, fragment)


def notebook_html(path: str | Path, title: str, banner: str = "") -> str:
    """Run the marimo notebook at ``path`` (every cell, default inputs) and return one HTML page
    of its outputs, with ``banner`` (HTML) above them. Needs marimo."""
    import marimo

    spec = importlib.util.spec_from_file_location(f"_rg_export_{Path(path).stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    outputs, _ = module.app.run()
    cells = "\n".join(f'<div class="cell">{_static(marimo.as_html(o).text)}</div>'
                      for o in outputs if o is not None)
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f'<title>{html.escape(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n<main>\n'
            f'{banner}\n{cells}\n</main>\n</body>\n</html>\n')


def export_demo(name: str, out_dir: str | Path) -> Path:
    """Write ``out_dir/<name>.html``: the demo ``name`` run at its default settings (see the module
    docstring); returns the file's path."""
    from robust_gates import __version__

    path = demo_path(name)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    banner = (f'<p class="banner">Offline copy of the teaching demo <b>{html.escape(name)}</b> '
              f"(robust-gates {html.escape(__version__)}): every number and figure was computed at "
              f"the default slider positions shown. To move the sliders, run "
              f"<code>robust-gates teach {html.escape(name)}</code>.</p>")
    target = out / f"{name}.html"
    target.write_text(notebook_html(path, DEMOS[name].description, banner), encoding="utf-8")
    return target


def export_demos(out_dir: str | Path, names=None) -> list[Path]:
    """Export every demo in ``names`` (default: all) and write ``out_dir/index.html`` linking them."""
    names = list(names or DEMOS)
    pages = [export_demo(n, out_dir) for n in names]
    items = "\n".join(f'<li><a href="{p.name}">{html.escape(n)}</a>: {html.escape(DEMOS[n].description)}</li>'
                      for n, p in zip(names, pages, strict=True))
    index = Path(out_dir) / "index.html"
    index.write_text(f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
                     f"<title>robust-gates teaching demos</title>\n<style>{_CSS}</style>\n</head>\n"
                     f"<body>\n<main>\n<h1>Teaching demos (offline copies)</h1>\n<ul>\n{items}\n</ul>\n"
                     f"</main>\n</body>\n</html>\n", encoding="utf-8")
    return [*pages, index]
