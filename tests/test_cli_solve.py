"""`robust-gates solve`: files, examples, JSON keys and one-line errors."""

import json
import subprocess
import sys

import numpy as np
import pytest

from robust_gates.paper_repro.cli import main
from robust_gates.simulations import get_example, load_problem, save_problem


def _run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_example_json(capsys):
    code, out, _ = _run(capsys, "solve", "--example", "bsc", "--json")
    assert code == 0
    d = json.loads(out)
    assert set(d) >= {"value", "lam", "gap", "status", "solver", "payoff", "iterations",
                      "seconds", "model", "tol", "lower_bound", "backend"}
    assert abs(d["value"] - (np.log(2) - (-(0.1 * np.log(0.1) + 0.9 * np.log(0.9))))) < 1e-6
    assert d["status"] == "optimal" and d["solver"] == "auto" and d["payoff"] == "kl"


def test_readable_summary(capsys):
    code, out, _ = _run(capsys, "solve", "--example", "disjoint")
    assert code == 0
    assert "value" in out and "gap" in out and "closed" in out


@pytest.mark.parametrize("suffix", [".json", ".npz"])
def test_file_roundtrip(tmp_path, capsys, suffix):
    prob = get_example("box3", "cross_entropy")
    path = save_problem(prob, tmp_path / f"p{suffix}")
    back = load_problem(path)
    assert np.array_equal(back.D, prob.D) and np.array_equal(back.P, prob.P)
    assert back.payoff == "cross_entropy" and back.Lambda.kind == "box"
    code, out, _ = _run(capsys, "solve", str(path), "--json")
    assert code == 0
    assert json.loads(out)["payoff"] == "cross_entropy"
    code, out, _ = _run(capsys, "solve", str(path), "--json", "--payoff", "kl")
    assert json.loads(out)["payoff"] == "kl"


def test_json_file_with_polytope(tmp_path, capsys):
    p = tmp_path / "poly.json"
    p.write_text(json.dumps({"D": [[0.7, 0.2, 0.1], [0.1, 0.2, 0.7]], "A": [[1, -1]], "b": [0.2]}))
    code, out, _ = _run(capsys, "solve", str(p), "--json")
    d = json.loads(out)
    assert code == 0 and d["lam"][0] - d["lam"][1] <= 0.2 + 1e-9


@pytest.mark.parametrize(
    "content, match",
    [
        ({"D": [[0.5, 0.6], [0.5, 0.5]]}, "row 0 of D sums to 1.1"),
        ({"P": [[0.5, 0.5]]}, "has no 'D'"),
        ({"D": [[0.5, 0.5], [0.5, 0.5]], "box_lo": [0.7, 0.7], "box_hi": [1, 1]}, "misses the simplex"),
        ({"D": [[0.5, 0.5], [0.5, 0.5]], "extra": 1}, "unknown keys"),
    ],
)
def test_bad_input_one_line(tmp_path, capsys, content, match):
    p = tmp_path / "bad.json"
    p.write_text(json.dumps(content))
    code, out, err = _run(capsys, "solve", str(p))
    assert code == 2
    assert match in err and "Traceback" not in err
    assert err.count("\n") == 1


def test_missing_file_and_console_script(tmp_path):
    """The installed console script exits non-zero with one clear line and no traceback."""
    proc = subprocess.run(
        [sys.executable, "-m", "robust_gates", "solve", str(tmp_path / "nope.json")],
        capture_output=True, text=True,
    )
    assert proc.returncode == 2
    assert "no such problem file" in proc.stderr and "Traceback" not in proc.stderr
