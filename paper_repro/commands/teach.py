"""``robust-gates teach [NAME]``: open a teaching demo (a marimo notebook) in the browser.

Without ``NAME`` it lists the demos. With it, it runs ``marimo run`` on the notebook (read-only
app mode, served on 127.0.0.1); ``--headless`` serves without opening a browser, ``--port`` picks
the port. Ctrl-C (SIGINT) or SIGTERM stops the server and every process it started. Needs
marimo: ``pip install marimo`` or ``pip install -e ".[demos]"``.

``--export DIR`` writes an offline copy instead of serving: ``DIR/NAME.html``, one
self-contained page (no server, no network, no Python needed to open it) whose sliders step through
a grid of positions; every number and figure for each grid point was computed by robust-gates at
export time (see :mod:`robust_gates.paper_repro.demos.export`; about a minute per demo). Without
``NAME`` every demo plus ``DIR/index.html``.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import os
import signal
import subprocess
import sys

from ..errors import UserError

NAME = "teach"
HELP = "open an interactive teaching demo (marimo notebook) in the browser, or export it for offline use"

MISSING = ("marimo is not installed; the demos need it: pip install marimo "
           "(or pip install -e \".[demos]\" in a checkout of robust-gates)")

#: seconds the server gets to stop after SIGTERM before it is killed
STOP_TIMEOUT = 10.0


def configure(p: argparse.ArgumentParser) -> None:
    from robust_gates.paper_repro.demos import DEMOS

    p.add_argument("name", nargs="?", choices=list(DEMOS), metavar="NAME",
                   help=f"the demo to open ({', '.join(DEMOS)}); omit it to list them")
    p.add_argument("--port", type=int, default=None, help="port to serve on (default: marimo's choice)")
    p.add_argument("--host", default="127.0.0.1", help="address to serve on (default: 127.0.0.1)")
    p.add_argument("--headless", action="store_true", help="serve without opening a browser")
    p.add_argument("--export", metavar="DIR", default=None,
                   help="write an offline HTML copy to DIR/NAME.html instead of serving (opens from a "
                        "file, no server or network; its sliders step through a grid of positions "
                        "computed now, about a minute per demo); without NAME, every demo")


def marimo_command(path, port: int | None = None, host: str = "127.0.0.1",
                   headless: bool = False) -> list[str]:
    """The ``marimo run`` command line that serves the notebook ``path``."""
    cmd = [sys.executable, "-m", "marimo", "run", str(path), "--host", host]
    if port is not None:
        if not 0 < port < 65536:
            raise UserError(f"--port must lie in 1..65535; got {port}")
        cmd += ["--port", str(port)]
    if headless:
        cmd.append("--headless")
    return cmd


class _Stop(Exception):
    """Raised in the main thread by the SIGTERM handler."""


def _raise_stop(signum, frame):
    raise _Stop(signum)


def stop_process_group(proc: subprocess.Popen, timeout: float = STOP_TIMEOUT) -> None:
    """SIGTERM to the process group of ``proc`` (started in a new session), SIGKILL after
    ``timeout`` seconds; the tests' browser client stops its servers with it too."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def serve(cmd: list[str]) -> int:
    """Run the server ``cmd`` until it exits or this process gets SIGINT or SIGTERM, then stop it.

    The server runs in its own process group, so a signal to this process alone (a terminal's
    Ctrl-C, ``kill PID``, a service manager's SIGTERM) stops the server and whatever it started
    too. Returns the server's exit status, or 0 when a signal stopped it."""
    previous = signal.signal(signal.SIGTERM, _raise_stop)
    proc = None
    try:
        proc = subprocess.Popen(cmd, start_new_session=True)
        return proc.wait()
    except (KeyboardInterrupt, _Stop):
        return 0
    finally:
        # a second Ctrl-C or SIGTERM while stopping must not leave the server behind
        interrupt = signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        try:
            if proc is not None:
                stop_process_group(proc)
        finally:
            signal.signal(signal.SIGINT, interrupt)
            signal.signal(signal.SIGTERM, previous)


def _export(args: argparse.Namespace) -> int:
    from robust_gates.paper_repro.demos.export import export_demo, export_demos

    def progress(name, done, total):
        if done == 1 or done % 10 == 0 or done == total:
            print(f"{name}: computed {done} of {total} slider positions", file=sys.stderr, flush=True)

    try:
        paths = ([export_demo(args.name, args.export, progress=lambda d, t: progress(args.name, d, t))]
                 if args.name else export_demos(args.export, progress=progress))
    except OSError as exc:
        raise UserError(f"cannot write to {args.export}: {exc.strerror or exc}") from None
    for p in paths:
        print(p)
    return 0


def run(args: argparse.Namespace) -> int:
    from robust_gates.paper_repro.demos import DEMOS

    if args.export is None and args.name is None:
        print("teaching demos (open one with: robust-gates teach NAME):")
        width = max(map(len, DEMOS))
        for name, demo in DEMOS.items():
            print(f"  {name:<{width}}  {demo.description}")
        return 0
    if importlib.util.find_spec("marimo") is None:
        raise UserError(MISSING)
    if args.export is not None:
        return _export(args)
    cmd = marimo_command(DEMOS[args.name].path, args.port, args.host, args.headless)
    print(f"serving {args.name!r} with: {' '.join(cmd[1:])}  (Ctrl-C stops it)", flush=True)
    return serve(cmd)
