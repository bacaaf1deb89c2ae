"""``robust-gates teach [NAME]``: open a teaching demo (a marimo notebook) in the browser.

Without ``NAME`` it lists the demos. With it, it runs ``marimo run`` on the notebook (read-only
app mode, served on 127.0.0.1); ``--headless`` serves without opening a browser, ``--port`` picks
the port. Needs marimo: ``pip install marimo`` or ``pip install -e ".[demos]"``.
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys

from ..errors import UserError

NAME = "teach"
HELP = "open an interactive teaching demo (marimo notebook) in the browser"

MISSING = ("marimo is not installed; the demos need it: pip install marimo "
           "(or pip install -e \".[demos]\" in a checkout of robust-gates)")


def configure(p: argparse.ArgumentParser) -> None:
    from robust_gates.paper_repro.demos import DEMOS

    p.add_argument("name", nargs="?", choices=list(DEMOS), metavar="NAME",
                   help=f"the demo to open ({', '.join(DEMOS)}); omit it to list them")
    p.add_argument("--port", type=int, default=None, help="port to serve on (default: marimo's choice)")
    p.add_argument("--host", default="127.0.0.1", help="address to serve on (default: 127.0.0.1)")
    p.add_argument("--headless", action="store_true", help="serve without opening a browser")


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


def run(args: argparse.Namespace) -> int:
    from robust_gates.paper_repro.demos import DEMOS

    if args.name is None:
        print("teaching demos (open one with: robust-gates teach NAME):")
        width = max(map(len, DEMOS))
        for name, demo in DEMOS.items():
            print(f"  {name:<{width}}  {demo.description}")
        return 0
    if importlib.util.find_spec("marimo") is None:
        raise UserError(MISSING)
    cmd = marimo_command(DEMOS[args.name].path, args.port, args.host, args.headless)
    print(f"serving {args.name!r} with: {' '.join(cmd[1:])}  (Ctrl-C stops it)", flush=True)
    try:
        return subprocess.call(cmd)
    except KeyboardInterrupt:
        return 0
