"""The ``robust-gates`` command line: a thin facade over the library.

Each subcommand is a module in :mod:`robust_gates.paper_repro.commands` defining ``NAME``, ``HELP``,
``configure(parser)`` and ``run(args) -> exit code``; it is found automatically, so a new
feature adds a file there and touches nothing else. Errors a user can fix (bad input,
solver failures) print one line on stderr and exit with status 2, without a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from types import ModuleType

__all__ = ["main", "COMMANDS", "UserError"]


from .errors import UserError


def _discover() -> dict[str, ModuleType]:
    """Every module in :mod:`robust_gates.paper_repro.commands` with ``NAME``, ``HELP``, ``configure``,
    ``run``."""
    from . import commands

    found = {}
    for info in pkgutil.iter_modules(commands.__path__):
        if info.name.startswith("_"):
            continue
        mod = importlib.import_module(f"{commands.__name__}.{info.name}")
        found[mod.NAME] = mod
    return dict(sorted(found.items()))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="robust-gates",
        description="Robust gates for modular generative models: exact solvers, theorem checks, "
        "simulations and figures (Cortes, Mohri, Zhong, arXiv 2602.17554).",
    )
    from robust_gates import __version__

    parser.add_argument("--version", action="version", version=f"robust-gates {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, mod in COMMANDS.items():
        mod.configure(sub.add_parser(name, help=mod.HELP, description=mod.HELP))
    return parser


COMMANDS: dict[str, ModuleType] = _discover()


def main(argv: list[str] | None = None) -> int:
    from robust_gates.theory.solvers.result import SolverError

    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(COMMANDS[args.command].run(args) or 0)
    except (UserError, ValueError, TypeError, FileNotFoundError, SolverError) as exc:
        print(f"robust-gates {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # output piped into e.g. `head`, which stopped reading: not an error
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
