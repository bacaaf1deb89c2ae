"""Issue 14: one import package. The wheel holds ``robust_gates/`` and its dist-info only, and
``python -m robust_gates`` is the command line."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_python_dash_m_prints_the_version():
    from robust_gates import __version__

    out = subprocess.run([sys.executable, "-m", "robust_gates", "--version"], capture_output=True,
                         text=True, check=True, cwd="/")
    assert out.stdout.strip() == f"robust-gates {__version__}"


def test_wheel_installs_only_the_robust_gates_package(tmp_path):
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(tmp_path), str(ROOT)], capture_output=True, text=True)
    if build.returncode != 0:
        pytest.skip(f"cannot build a wheel here: {build.stderr.strip().splitlines()[-1:]}")
    (wheel,) = tmp_path.glob("robust_gates-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    tops = {name.split("/")[0] for name in names}
    assert {t for t in tops if not t.endswith(".dist-info")} == {"robust_gates"}
    for layer in ("theory", "simulations", "figures", "paper_repro"):
        # every package folder in the source tree is in the wheel (pyproject lists them by hand)
        for init in sorted((ROOT / layer).rglob("__init__.py")):
            assert f"robust_gates/{init.relative_to(ROOT).as_posix()}" in names
    assert "robust_gates/__main__.py" in names
    # the shipped neural tables travel with the package (the report draws them without torch)
    assert "robust_gates/paper_repro/neural/results/real_table.csv" in names
    assert not any(name.startswith("robust_gates/tests/") for name in names)
