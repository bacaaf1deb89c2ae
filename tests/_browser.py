"""Serve a demo and drive it in headless Chromium (tests and README screenshots).

:func:`serve` starts ``marimo run --headless`` on ``127.0.0.1`` and always stops it; :class:`Chromium`
launches a headless browser with a fresh profile and speaks the Chrome DevTools Protocol over a
websocket (the ``websockets`` package, a marimo dependency). Every wait is bounded by a timeout.

Screenshots for the README (the served demos) and of the built documentation site::

    python tests/_browser.py docs/screenshots
    python tests/_browser.py --docs docs/_build/html docs/screenshots
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from robust_gates.paper_repro.commands.teach import stop_process_group

__all__ = ["CHROMIUM", "CHROMIUM_FLAGS", "free_port", "serve", "Chromium", "take_screenshots",
           "docs_screenshots"]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--hide-scrollbars", "--mute-audio")


def free_port() -> int:
    """A TCP port that was free on 127.0.0.1 a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_http(url: str, timeout: float, proc: subprocess.Popen | None = None) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the server exited with status {proc.returncode} before answering {url}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise TimeoutError(f"{url} did not answer within {timeout:.0f} s")


@contextlib.contextmanager
def serve(path: str | Path, port: int | None = None, timeout: float = 60.0):
    """``marimo run --headless`` on ``path`` at ``127.0.0.1:port``; yields the URL, stops the server."""
    port = port or free_port()
    cmd = [sys.executable, "-m", "marimo", "-q", "run", str(path), "--headless", "--host", "127.0.0.1",
           "--port", str(port), "--no-token", "--no-skew-protection"]
    log = tempfile.TemporaryFile()
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                            env={**os.environ, "MARIMO_SKIP_UPDATE_CHECK": "1"})
    try:
        url = f"http://127.0.0.1:{port}"
        try:
            _wait_http(url + "/health", timeout, proc)
        except (RuntimeError, TimeoutError) as exc:
            log.seek(0)
            tail = log.read().decode(errors="replace")[-2000:]
            raise RuntimeError(f"{exc}; server output:\n{tail}") from None
        yield url
    finally:
        stop_process_group(proc, timeout=10.0)
        log.close()


class Chromium:
    """Headless Chromium with a fresh profile, driven over the DevTools Protocol (one page)."""

    def __init__(self, binary: str = CHROMIUM, width: int = 1280, height: int = 1600, timeout: float = 30.0,
                 offline: bool = False):
        """``offline``: the page gets no network at all (no host name resolves and the DevTools
        protocol's network emulation is switched to offline before any navigation)."""
        from websockets.sync.client import connect

        self.width, self.height = width, height
        self.profile = tempfile.mkdtemp(prefix="rg-chromium-")
        extra = ["--host-resolver-rules=MAP * ~NOTFOUND"] if offline else []
        self.proc = subprocess.Popen(
            [binary, *CHROMIUM_FLAGS, *extra, f"--user-data-dir={self.profile}", "--remote-debugging-port=0",
             f"--window-size={width},{height}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        self._ids = itertools.count(1)
        try:
            port = self._devtools_port(timeout)
            end = time.monotonic() + timeout
            while True:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=5) as r:
                    pages = [t for t in json.load(r) if t["type"] == "page"]
                if pages or time.monotonic() > end:
                    break
                time.sleep(0.2)
            if not pages:
                raise TimeoutError("Chromium opened no page")
            self.ws = connect(pages[0]["webSocketDebuggerUrl"], max_size=64 * 2**20, open_timeout=timeout,
                              legacy=True)
            self.send("Page.enable")
            self.send("Runtime.enable")
            self.send("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1,
                      mobile=False)
            if offline:
                self.send("Network.enable")
                self.send("Network.emulateNetworkConditions", offline=True, latency=0, downloadThroughput=-1,
                          uploadThroughput=-1)
        except BaseException:
            self.close()
            raise

    def _devtools_port(self, timeout: float) -> int:
        f = Path(self.profile) / "DevToolsActivePort"
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise RuntimeError(f"Chromium exited with status {self.proc.returncode}")
            if f.exists() and f.read_text().strip():
                return int(f.read_text().split()[0])
            time.sleep(0.1)
        raise TimeoutError(f"Chromium did not open its DevTools port within {timeout:.0f} s")

    def send(self, method: str, timeout: float = 30.0, **params) -> dict:
        """Send one CDP command and return its result (events in between are dropped)."""
        i = next(self._ids)
        self.ws.send(json.dumps({"id": i, "method": method, "params": params}))
        end = time.monotonic() + timeout
        while True:
            left = end - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no answer to {method} within {timeout:.0f} s")
            msg = json.loads(self.ws.recv(timeout=left))
            if msg.get("id") == i:
                if "error" in msg:
                    raise RuntimeError(f"{method} failed: {msg['error']}")
                return msg.get("result", {})

    def evaluate(self, expression: str, timeout: float = 30.0):
        """Value of a JavaScript expression in the page (promises are awaited)."""
        r = self.send("Runtime.evaluate", timeout=timeout, expression=expression, returnByValue=True,
                      awaitPromise=True)
        if "exceptionDetails" in r:
            det = r["exceptionDetails"]
            why = det.get("exception", {}).get("description") or det.get("text")
            raise RuntimeError(f"JavaScript error: {why}")
        return r["result"].get("value")

    def goto(self, url: str) -> None:
        self.send("Page.navigate", url=url)

    def text(self) -> str:
        """The page's visible text, including what marimo renders inside shadow roots."""
        return self.evaluate(_DEEP_TEXT) or ""

    def wait_for(self, predicate, timeout: float = 60.0, poll: float = 0.1):
        """Poll ``predicate(self)`` until it returns something truthy; return it (or time out)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            got = predicate(self)
            if got:
                return got
            time.sleep(poll)
        raise TimeoutError(f"the page did not reach the expected state within {timeout:.0f} s")

    def images(self) -> list[str]:
        """A short fingerprint (length and tail of the data URL) of every PNG image on the page."""
        return self.evaluate(_DEEP_IMAGES) or []

    def rendered(self, headline: str, figures: int) -> str | None:
        """The headline number (regex group 1 in the page text) once ``figures`` images are
        shown."""
        import re

        m = re.search(headline, self.text())
        return m.group(1) if m and len(self.images()) >= figures else None

    def sliders(self) -> int:
        """Number of slider thumbs (inside marimo's shadow roots)."""
        return int(self.evaluate(_with_thumbs("thumbs().length")))

    def press_key_on_slider(self, index: int, key: str = "ArrowRight", times: int = 1) -> None:
        """Focus slider ``index`` and press ``key`` (a real keyboard event) ``times`` times."""
        i = int(index)
        ok = self.evaluate(_with_thumbs(f"thumbs()[{i}] ? (thumbs()[{i}].focus(), true) : false"))
        if not ok:
            raise RuntimeError(f"no slider number {index} on the page")
        self.press_key(key, times)

    def press_key(self, key: str = "ArrowRight", times: int = 1) -> None:
        """Press ``key`` (a real keyboard event, to the focused element) ``times`` times."""
        codes = {"ArrowRight": 39, "ArrowLeft": 37, "ArrowUp": 38, "ArrowDown": 40, "End": 35, "Home": 36}
        for _ in range(times):
            for kind in ("rawKeyDown", "keyUp"):
                self.send("Input.dispatchKeyEvent", type=kind, key=key, code=key,
                          windowsVirtualKeyCode=codes[key], nativeVirtualKeyCode=codes[key])

    def screenshot(self, path: str | Path, full_page: bool = True) -> Path:
        """Save a PNG of the page; with ``full_page`` the viewport is first stretched to the height
        of the tallest scrolling element (marimo scrolls inside a container, not the document)."""
        import base64

        if full_page:
            h = int(self.evaluate("Math.max(...Array.from(document.querySelectorAll('*'))"
                                  ".map((e) => e.scrollHeight), document.documentElement.scrollHeight)"))
            self.send("Emulation.setDeviceMetricsOverride", width=self.width, height=max(h, self.height),
                      deviceScaleFactor=1, mobile=False)
            time.sleep(1.0)  # let the layout settle at the new size
        params = {"format": "png"}
        if full_page:  # crop below the last cell
            bottom = self.evaluate("Math.max(0, ...Array.from(document.querySelectorAll('[data-cell-id]'))"
                                   ".map((e) => e.getBoundingClientRect().bottom))")
            if bottom:
                params["clip"] = {"x": 0, "y": 0, "width": self.width, "height": int(bottom) + 40, "scale": 1}
        try:
            data = self.send("Page.captureScreenshot", timeout=60, **params)["data"]
        finally:
            if full_page:
                self.send("Emulation.setDeviceMetricsOverride", width=self.width, height=self.height,
                          deviceScaleFactor=1, mobile=False)
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))
        return path

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.ws.close()
        stop_process_group(self.proc, timeout=10.0)
        shutil.rmtree(self.profile, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


#: JavaScript: ``innerText`` of the document and of every element inside an open shadow root
_DEEP_TEXT = """
(() => {
  if (!document.body) return '';
  const parts = [document.body.innerText];
  const walk = (root) => {
    root.querySelectorAll('*').forEach((el) => {
      if (el.shadowRoot) {
        for (const c of el.shadowRoot.children) if (c.innerText) parts.push(c.innerText);
        walk(el.shadowRoot);
      }
    });
  };
  walk(document);
  return parts.join('\\n');
})()
"""

#: JavaScript: fingerprints of the loaded PNG images (marimo serves ``mo.image`` bytes as virtual
#: files ``/@file/<size>-<id>.png``, figures as data URLs), searching open shadow roots too
_DEEP_IMAGES = """
(() => {
  const out = [];
  const walk = (root) => {
    root.querySelectorAll('*').forEach((el) => {
      if (el.tagName === 'IMG' && el.complete && el.naturalWidth > 0
          && (el.src.startsWith('data:image/png') || el.src.includes('/@file/')))
        out.push(el.src.length + ':' + el.src.slice(-48));
      if (el.shadowRoot) walk(el.shadowRoot);
    });
  };
  walk(document);
  return out;
})()
"""

#: JavaScript: every element with role="slider", searching open shadow roots too
_FIND_THUMBS = """
const thumbs = () => {
  const out = [];
  const walk = (root) => {
    root.querySelectorAll('*').forEach((el) => {
      if (el.getAttribute && el.getAttribute('role') === 'slider') out.push(el);
      if (el.shadowRoot) walk(el.shadowRoot);
    });
  };
  walk(document);
  return out;
};
"""


def _with_thumbs(expression: str) -> str:
    """``expression`` evaluated where ``thumbs()`` lists the sliders (in its own scope)."""
    return f"(() => {{ {_FIND_THUMBS} return ({expression}); }})()"


def take_screenshots(out_dir: str | Path, names=None, width: int = 1280, height: int = 1600,
                     timeout: float = 90.0) -> list[Path]:
    """Serve each demo, wait until every cell has run, and save ``<name>.png`` under ``out_dir``."""
    from robust_gates.paper_repro.demos import DEMOS

    paths = []
    for name in names or DEMOS:
        with serve(DEMOS[name].path) as url, Chromium(width=width, height=height) as browser:
            browser.goto(url)
            demo = DEMOS[name]
            browser.wait_for(lambda b, d=demo: b.rendered(d.headline, d.figures), timeout=timeout)
            time.sleep(1.0)  # let the last images decode
            paths.append(browser.screenshot(Path(out_dir) / f"{name}.png"))
    return paths


def slider_response(name: str, slider: int, key: str = "ArrowRight", presses: int = 4,
                    timeout: float = 90.0, quiet: float = 1.0) -> list[dict]:
    """Serve demo ``name``, press ``key`` on slider number ``slider`` ``presses`` times and measure,
    for each press, the seconds until the headline number changed (``text_s``; ``nan`` if it did
    not) and until the last figure that changed was replaced (``figures_s``: the last image change
    before ``quiet`` seconds without one; ``nan`` if none changed). Polls every 20 ms."""
    from robust_gates.paper_repro.demos import DEMOS

    demo, rows, nan = DEMOS[name], [], float("nan")
    with serve(demo.path) as url, Chromium() as b:
        b.goto(url)
        b.wait_for(lambda br: br.rendered(demo.headline, demo.figures), timeout=timeout)
        time.sleep(quiet)
        for i in range(presses):
            v0, prev = b.rendered(demo.headline, demo.figures), b.images()
            t0 = time.perf_counter()
            b.press_key_on_slider(slider, key)
            row = {"demo": name, "slider": slider, "press": i, "text_s": nan, "figures_s": nan}
            last = None
            while (now := time.perf_counter() - t0) < 10 and (last is None or now - last < quiet):
                v, imgs = b.rendered(demo.headline, demo.figures), b.images()
                now = time.perf_counter() - t0
                if v and v != v0 and row["text_s"] != row["text_s"]:
                    row["text_s"] = now
                if len(imgs) >= demo.figures and imgs != prev:
                    row["figures_s"], last, prev = now, now, imgs
                if last is None and now > quiet and row["text_s"] == row["text_s"]:
                    last = now  # the number changed but no figure did
                time.sleep(0.02)
            rows.append(row)
    return rows


#: JavaScript: true once the page has loaded and MathJax (if the page has it) has typeset it
_TYPESET = ("document.readyState === 'complete' && (!window.MathJax || !MathJax.startup"
            " || MathJax.startup.promise.then(() => true))")

#: pages of the built documentation site that :func:`docs_screenshots` captures
DOCS_PAGES = {"docs_home": "index.html",
              "docs_api": "gen_modules/robust_gates.theory.mixture_program.html",
              "docs_gallery": "auto_examples/plot_05_fit_logliks.html"}


def docs_screenshots(site: str | Path, out_dir: str | Path, width: int = 1280,
                     height: int = 1000) -> list[Path]:
    """Open pages of the built site (:data:`DOCS_PAGES`) from ``file://`` with the network off, wait
    until MathJax has typeset them, and save full-page ``<name>.png`` under ``out_dir``. Raises if
    an image failed to load, a formula did not render or anything was fetched from outside."""
    paths = []
    for name, rel in DOCS_PAGES.items():
        with Chromium(width=width, height=height, offline=True) as b:
            b.goto((Path(site).resolve() / rel).as_uri())
            b.wait_for(lambda br: br.evaluate(_TYPESET), timeout=30)
            broken = b.evaluate("Array.from(document.images).filter((i) => !i.complete || !i.naturalWidth)"
                                ".map((i) => i.src)")
            errors = b.evaluate("document.querySelectorAll('mjx-merror, .MathJax_Error').length")
            remote = b.evaluate("performance.getEntriesByType('resource').map((e) => e.name)"
                                ".filter((u) => !u.startsWith('file:') && !u.startsWith('data:'))")
            if broken or errors or remote:
                raise RuntimeError(f"{rel}: broken images {broken}, {errors} math errors, fetched {remote}")
            paths.append(b.screenshot(Path(out_dir) / f"{name}.png"))
    return paths


if __name__ == "__main__":  # pragma: no cover
    if len(sys.argv) > 1 and sys.argv[1] == "--docs":  # python tests/_browser.py --docs SITE OUT
        for p in docs_screenshots(sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else "docs/screenshots"):
            print(p)
        sys.exit(0)
    for p in take_screenshots(sys.argv[1] if len(sys.argv) > 1 else "docs/screenshots", sys.argv[2:] or None):
        print(p)
