"""Where a command writes when the user names no folder: a fresh one under ``results/``."""

from __future__ import annotations

import time
from pathlib import Path


def fresh_output_dir(prefix: str, root: str | Path = "results") -> Path:
    """A new folder ``root/<prefix>-<YYYYmmdd-HHMMSS>`` (with ``-1``, ``-2``, ... appended if
    that exists), created; runs never write into an earlier run's folder by default."""
    base = Path(root) / f"{prefix}-{time.strftime('%Y%m%d-%H%M%S')}"
    out, i = base, 1
    while True:
        try:
            out.mkdir(parents=True)
            return out
        except FileExistsError:
            out = base.with_name(f"{base.name}-{i}")
            i += 1
