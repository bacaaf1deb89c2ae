"""Issue 19 (teaching offline): ``robust-gates teach NAME --export DIR`` writes one self-contained
HTML page that opens from a ``file://`` URL with no server and no network, shows the demo's
numbers and figures, and whose sliders change the numbers shown (to values robust-gates computed
at export time on a grid of slider positions).

The numbers on the page are compared with the library's own computation
(:func:`robust_gates.paper_repro.demos._lib.jsd_point`) at each slider position, not with the
exporter.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from robust_gates.paper_repro.demos import DEMOS

pytest.importorskip("marimo", reason="the demos need marimo (the dev and demos extras install it)")

from robust_gates.paper_repro.demos import _lib as lib  # noqa: E402
from robust_gates.paper_repro.demos import export  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
#: the default slider positions of jsd_gap (separation 0.6, two Gaussians)
JSD_DEFAULT = (0.6, 2)
#: the page rounds the headline to four decimals
SHOWN_TOL = 1e-4


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> Path:
    """``robust-gates teach jsd_gap --export DIR``, run once for the module."""
    from robust_gates.paper_repro.cli import main

    out = tmp_path_factory.mktemp("export")
    assert main(["teach", "jsd_gap", "--export", str(out)]) == 0
    return out / "jsd_gap.html"


def _data(text: str) -> dict:
    m = re.search(r'<script type="application/json" id="rg-data">(.*?)</script>', text, re.S)
    assert m, "the page should embed its grid data"
    return json.loads(m.group(1))


def test_export_is_one_self_contained_page(exported):
    """Issue 19 item 4: the page references nothing outside itself (no URL, no sibling file, no
    script file); its only scripts are inline; the live sliders step through the grid and sit at
    the notebook's defaults; no marimo element is left."""
    text = exported.read_text(encoding="utf-8")
    assert len(re.findall(r"<script\b", text)) == 2  # the grid data and the code that reads it
    assert not re.search(r"<script\b[^>]*\bsrc=", text)
    refs = re.findall(r"""(?:src|href)\s*=\s*\\?["']([^"'\\]*)""", text)
    assert refs, "the page should embed its figures"
    assert all(r.startswith("data:image/png;base64,") for r in refs), sorted({r[:40] for r in refs})
    assert not re.search(r"https?://", text)
    assert "<marimo-" not in text
    grid = export.GRIDS["jsd_gap"]
    data = _data(text)
    assert [s["name"] for s in data["sliders"]] == list(grid)
    assert all(len(c["at"]) == len(grid["separation"]) * len(grid["capacity"]) for c in data["cells"])
    assert data["cells"], "some cell must change with the sliders"
    sep = grid["separation"].index(JSD_DEFAULT[0])
    cap = grid["capacity"].index(JSD_DEFAULT[1])
    assert f'value="{sep}" data-var="separation"' in text and f'value="{cap}" data-var="capacity"' in text
    assert "robust-gates teach jsd_gap" in text  # says how to get the live demo
    assert "computed by robust-gates at export time" in text  # says where the numbers come from


@pytest.mark.skipif(not Path(CHROMIUM).exists(),
                    reason="needs Debian's chromium (apt-get install chromium); .ci/run installs it")
def test_exported_page_is_live_offline_in_chromium(exported):
    """Issue 19 done-when: opened from ``file://`` in headless Chromium with the network switched
    off, the page shows its figure and the headline number the library computes; moving a slider
    (a real key press, then a scripted input event) changes the number to the library's value at
    the new position and redraws the figure; nothing is loaded over the network."""
    pytest.importorskip("websockets", reason="the browser test speaks CDP through websockets")
    from _browser import Chromium

    demo = DEMOS["jsd_gap"]
    grid = export.GRIDS["jsd_gap"]

    def headline(b):
        return b.rendered(demo.headline, demo.figures)

    with Chromium(timeout=30, offline=True) as browser:
        browser.goto(exported.resolve().as_uri())
        shown = browser.wait_for(headline, timeout=30)
        assert abs(float(shown) - lib.jsd_point(*JSD_DEFAULT)["worst_mono"]) <= SHOWN_TOL
        assert len(browser.images()) == demo.figures
        width = browser.evaluate("Math.max(...Array.from(document.images).map((i) => i.naturalWidth))")
        assert width >= 800  # the figure decoded at full size, not a broken-image icon
        before = browser.images()

        # one step right on the capacity slider, with the keyboard: 2 -> 3 Gaussians
        assert browser.evaluate("document.querySelector('input[data-var=\"capacity\"]').focus(), "
                                "document.activeElement.dataset.var") == "capacity"
        browser.press_key("ArrowRight")
        expected = lib.jsd_point(JSD_DEFAULT[0], 3)["worst_mono"]
        shown = browser.wait_for(lambda b: (v := headline(b)) and abs(float(v) - expected) <= SHOWN_TOL and v,
                                 timeout=10)
        assert abs(float(shown) - lib.jsd_point(*JSD_DEFAULT)["worst_mono"]) > 10 * SHOWN_TOL
        assert browser.evaluate("document.querySelector('input[data-var=\"capacity\"]')"
                                ".parentElement.querySelector('.value').textContent") == "3"
        assert browser.images() != before and len(browser.images()) == demo.figures

        # the separation slider set by script to 0.3 (an input event, as a drag sends)
        i = grid["separation"].index(0.3)
        browser.evaluate(f"(() => {{ const s = document.querySelector('input[data-var=\"separation\"]'); "
                         f"s.value = '{i}'; s.dispatchEvent(new Event('input')); }})()")
        expected = lib.jsd_point(0.3, 3)["worst_mono"]
        browser.wait_for(lambda b: (v := headline(b)) and abs(float(v) - expected) <= SHOWN_TOL, timeout=10)
        text = browser.text()
        gated = float(re.search(r"Worst case of the gated model = ([0-9.]+) nats", text).group(1))
        assert abs(gated - lib.jsd_point(0.3, 3)["worst_gated"]) <= SHOWN_TOL

        loaded = browser.evaluate("performance.getEntriesByType('resource').map((e) => e.name)")
        assert all(u.startswith(("file:", "data:")) for u in loaded), loaded


def test_export_grid_must_hold_the_default(tmp_path, monkeypatch):
    """A grid that misses a slider's default, or names no slider, is refused with the reason."""
    monkeypatch.setattr(export, "_load", lambda path: _FakeApp())
    with pytest.raises(ValueError, match="must hold its default 0.6"):
        export.notebook_html("x.py", "t", grid={"separation": (0.0, 1.0)})
    with pytest.raises(ValueError, match="has no slider 'width'"):
        export.notebook_html("x.py", "t", grid={"width": (1,)})


class _FakeApp:
    """A notebook with one slider, ``separation`` at 0.6, and no output."""

    def run(self, defs=None):
        import marimo as mo

        return (), {"separation": mo.ui.slider(0.0, 1.0, 0.1, value=0.6)}


def test_export_all_writes_an_index(tmp_path, monkeypatch):
    """Issue 19 item 4: without NAME every demo is exported and ``index.html`` links each page."""
    written = []

    def fake(path, title, banner="", grid=None, progress=None):
        written.append((path, grid))
        return "<p>"

    monkeypatch.setattr(export, "notebook_html", fake)
    paths = export.export_demos(tmp_path)
    assert [p.name for p in paths] == [f"{n}.html" for n in DEMOS] + ["index.html"]
    assert written == [(d.path, export.GRIDS[n]) for n, d in DEMOS.items()]
    index = (tmp_path / "index.html").read_text()
    for n in DEMOS:
        assert f'href="{n}.html"' in index
