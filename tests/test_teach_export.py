"""Issue 19 (teaching offline): ``robust-gates teach NAME --export DIR`` writes one self-contained
HTML page that shows the demo's numbers and figures when opened from a ``file://`` URL with no
server and no network.

The headline number on the page is compared with the library's own computation at the default
slider positions (:func:`robust_gates.paper_repro.demos._lib.jsd_point`), not with the exporter.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from robust_gates.paper_repro.demos import DEMOS

pytest.importorskip("marimo", reason="the demos need marimo (the dev and demos extras install it)")

from robust_gates.paper_repro.demos import _lib as lib  # noqa: E402

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


def test_export_is_one_self_contained_page(exported, capsys):
    """Issue 19 item 4: the page has no script and references nothing outside itself (no URL, no
    sibling file); the sliders appear at their default values and no marimo element is left."""
    text = exported.read_text(encoding="utf-8")
    assert "<script" not in text.lower()
    refs = re.findall(r"""(?:src|href)\s*=\s*["']([^"']*)""", text)
    assert refs, "the page should embed its figures"
    assert all(r.startswith("data:image/png;base64,") for r in refs), [r[:40] for r in refs]
    assert not re.search(r"https?://", text)
    assert "<marimo-" not in text
    assert re.search(r'type="range"[^>]*value="0.6"', text)
    assert "robust-gates teach jsd_gap" in text  # says how to get the live demo


@pytest.mark.skipif(not Path(CHROMIUM).exists(),
                    reason="needs Debian's chromium (apt-get install chromium); .ci/run installs it")
def test_exported_page_renders_offline_in_chromium(exported):
    """Issue 19 item 4: opened from ``file://`` in headless Chromium, the page shows its figure
    and the headline number the library computes; it loads no resource over the network."""
    pytest.importorskip("websockets", reason="the browser test speaks CDP through websockets")
    from _browser import Chromium

    demo = DEMOS["jsd_gap"]
    expected = lib.jsd_point(*JSD_DEFAULT)["worst_mono"]
    with Chromium(timeout=30) as browser:
        browser.goto(exported.resolve().as_uri())
        shown = browser.wait_for(lambda b: b.rendered(demo.headline, demo.figures), timeout=30)
        assert abs(float(shown) - expected) <= SHOWN_TOL
        assert len(browser.images()) == demo.figures
        width = browser.evaluate("Math.max(...Array.from(document.images).map((i) => i.naturalWidth))")
        assert width >= 800  # the figure decoded at full size, not a broken-image icon
        loaded = browser.evaluate("performance.getEntriesByType('resource').map((e) => e.name)")
        assert all(u.startswith(("file:", "data:")) for u in loaded), loaded


def test_export_all_writes_an_index(tmp_path, monkeypatch):
    """Issue 19 item 4: without NAME every demo is exported and ``index.html`` links each page."""
    import robust_gates.paper_repro.demos.export as export

    written = []
    monkeypatch.setattr(export, "notebook_html", lambda path, title, banner="": written.append(path) or "<p>")
    paths = export.export_demos(tmp_path)
    assert [p.name for p in paths] == [f"{n}.html" for n in DEMOS] + ["index.html"]
    assert written == [d.path for d in DEMOS.values()]
    index = (tmp_path / "index.html").read_text()
    for n in DEMOS:
        assert f'href="{n}.html"' in index
