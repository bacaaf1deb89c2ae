"""Issue 15 regressions: a validated problem never changes, bad input is refused with one line.

Each test uses the exact input the reliability report gave. The CLI cases run through
:func:`robust_gates.paper_repro.cli.main` and assert exit status 2 with exactly one line on
stderr that names the problem (never a traceback).
"""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest

from robust_gates.paper_repro.cli import main
from robust_gates.simulations import load_problem
from robust_gates.theory import Box, RobustProblem, solve


def _cli(capsys, *argv) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def _one_line_error(capsys, *argv, must_name: str) -> str:
    code, out, err = _cli(capsys, *argv)
    assert code == 2, (code, out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    assert must_name in lines[0], lines[0]
    return lines[0]


def test_validated_problem_does_not_follow_the_callers_array():
    """Issue 15.1: editing the caller's array after validation changes nothing."""
    D = np.array([[0.9, 0.1], [0.1, 0.9]])
    problem = RobustProblem(D)
    before = solve(problem, solver="fast").value
    D[0, 0] = 5.0
    assert problem.D[0, 0] == 0.9
    assert not problem.D.flags.writeable
    after = solve(problem, solver="fast").value
    assert after == before
    with pytest.raises(ValueError):
        problem.D[0, 0] = 1.0


def test_lambda_set_does_not_follow_the_callers_array():
    """Issue 15.1: the same for the bounds of a box."""
    lo, hi = np.array([0.1, 0.1]), np.array([0.9, 0.9])
    box = Box(lo, hi)
    lo[0] = 0.8
    assert box.contains(np.array([0.2, 0.8]))


@pytest.mark.parametrize("bad, word", [
    (np.array([[0.5, 0.5], [0.2, 0.8]], dtype=complex), "complex"),
    ([["0.5", "0.5"], ["0.2", "0.8"]], "strings"),
    ([[True, False], [False, True]], "booleans"),
    ([[0.5, 0.5], [0.2]], "real numbers"),
])
def test_non_real_input_is_refused_not_converted(bad, word):
    """Issue 15.6: complex numbers, numbers written as strings and booleans are refused."""
    with pytest.raises(TypeError, match=word):
        RobustProblem(bad)


@pytest.mark.parametrize("payoff", ["", 0, None, "KL"])
def test_payoff_key_must_name_a_payoff(tmp_path, capsys, payoff):
    """Issue 15.6: ``"payoff": ""`` or ``0`` is an error, not a silent ``kl``."""
    path = tmp_path / "p.json"
    path.write_text(json.dumps({"D": [[0.5, 0.5], [0.2, 0.8]], "payoff": payoff}))
    _one_line_error(capsys, "solve", str(path), must_name="payoff")


def _write_bad_files(tmp_path):
    (tmp_path / "dir.json").mkdir()
    (tmp_path / "dir.npz").mkdir()
    (tmp_path / "empty.npz").write_bytes(b"")
    (tmp_path / "corrupt.npz").write_bytes(b"PK\x03\x04 not really a zip archive")
    np.save(tmp_path / "single.npy", np.eye(2))
    (tmp_path / "single.npy").rename(tmp_path / "single.npz")
    np.savez(tmp_path / "noarrays.npz")
    with zipfile.ZipFile(tmp_path / "damaged.npz", "w") as zf:
        zf.writestr("D.npy", b"\x93NUMPY garbage")
    (tmp_path / "latin1.json").write_bytes(b'{"D": "\xff"}')
    (tmp_path / "list.json").write_text("[1, 2]")


@pytest.mark.parametrize("name, word", [
    ("dir.json", "directory"), ("dir.npz", "directory"), ("empty.npz", "not an .npz"),
    ("corrupt.npz", "not an .npz"), ("single.npz", "single .npy"), ("noarrays.npz", "no arrays"),
    ("damaged.npz", "damaged"), ("latin1.json", "not valid JSON"), ("list.json", "JSON object"),
    ("missing.json", "no such"),
])
def test_unusable_files_give_one_line(tmp_path, capsys, name, word):
    """Issue 15.2: every unusable file gives exit status 2 and one line naming it."""
    _write_bad_files(tmp_path)
    line = _one_line_error(capsys, "solve", str(tmp_path / name), must_name=word)
    assert name in line


def test_unusable_file_from_python(tmp_path):
    """Issue 15.2: the library raises ValueError (not an OSError or zipfile error)."""
    _write_bad_files(tmp_path)
    for name in ("dir.json", "empty.npz", "corrupt.npz", "single.npz", "damaged.npz"):
        with pytest.raises(ValueError, match=name.split(".")[0]):
            load_problem(tmp_path / name)


def test_lower_bound_is_taken_at_a_point_of_lambda():
    """Issue 15.3: the reference solver's lam must not weigh a domain that box_hi pins to 0, and
    the certificate gap must not be negative."""
    D = [[.5, .5, 0, 0], [0, .5, .5, 0], [0, 0, 0, 1]]
    P = [[.5, .5, 0, 0], [0, .5, .5, 0], [0, 0, .2, .8]]
    problem = RobustProblem(D, P, Box([0, 0, 0], [1, 1, 0]))
    for solver in ("reference", "fast"):
        res = solve(problem, solver=solver)
        assert res.lam[2] == 0.0
        assert res.gap >= 0.0
        assert abs(res.value - np.log(2) / 2) <= 1e-8


def test_domain_that_lambda_never_weighs_may_be_uncovered():
    """Issue 15.5: a domain with mass where no expert has any is fine when Lambda gives it no
    weight (V finite); it is refused, naming the domain and points, when Lambda can weigh it."""
    D = np.array([[1.0, 0, 0], [0.25, 0.25, 0.5]])
    P = np.array([[0.5, 0.5, 0], [0.5, 0.5, 0]])
    problem = RobustProblem(D, P, Box([0, 0], [1, 0]))
    for solver in ("reference", "fast"):
        res = solve(problem, solver=solver)
        assert res.lam.tolist() == [1.0, 0.0]
        assert abs(res.value - np.log(2)) <= 1e-9 and 0 <= res.gap <= 1e-9
    with pytest.raises(ValueError, match="domain 1 puts mass on x = 2"):
        RobustProblem(D, P)


def test_hull_vertex_with_a_tiny_negative_weight_is_refused(tmp_path, capsys):
    """Issue 15.2: a hull vertex with an entry of -5e-10 is refused with one line (it used to pass
    validation and crash the reference solver)."""
    path = tmp_path / "hull.json"
    path.write_text(json.dumps({"D": [[.5, .5], [.2, .8]],
                                "vertices": [[-5e-10, 1 + 5e-10], [0.5, 0.5]]}))
    _one_line_error(capsys, "solve", str(path), must_name="vertices[0, 0]")


def test_default_solver_solves_experts_with_tiny_entries(tmp_path, capsys):
    """Issue 15.4: with entries of 1e-300 the conic solver fails; the default (auto) returns the
    fast solver's certified closed form 0.5 log(0.5/1e-300) + 0.5 log 0.5, from the CLI too."""
    D = [[.5, .5, 0], [0, .5, .5]]
    P = [[1e-300, 1, 0], [0, 1, 1e-300]]
    closed = 0.5 * np.log(0.5 / 1e-300) + 0.5 * np.log(0.5)
    res = solve(RobustProblem(D, P))
    assert res.solver == "auto" and abs(res.value - closed) <= 1e-9 * closed and res.gap >= 0
    path = tmp_path / "tiny.json"
    path.write_text(json.dumps({"D": D, "P": P}))
    code, out, err = _cli(capsys, "solve", str(path), "--json")
    assert code == 0, err
    assert abs(json.loads(out)["value"] - closed) <= 1e-9 * closed


def test_status_says_what_was_proven(capsys):
    """Issue 15.8: a loose --tol gives status within_tol when the gap exceeds the default
    accuracy, and the JSON carries the tolerance asked for."""
    rng = np.random.default_rng(3)
    D = rng.dirichlet(np.ones(40), size=6)
    P = 0.7 * D + 0.3 * rng.dirichlet(np.ones(40), size=6)
    loose = solve(RobustProblem(D, P), solver="fast", tol=1.0)
    assert loose.tol == 1.0
    from robust_gates.theory import OPTIMAL_GAP

    expected = "optimal" if loose.gap <= OPTIMAL_GAP * max(1, abs(loose.value)) else "within_tol"
    assert loose.status == expected
    tight = solve(RobustProblem(D, P), solver="fast")
    assert tight.status == "optimal" and tight.gap <= 1e-9 and tight.tol == 1e-9
    code, out, _ = _cli(capsys, "solve", "--example", "bsc", "--tol", "0.5", "--json")
    assert code == 0 and json.loads(out)["tol"] == 0.5


def test_within_tol_status_when_the_gap_is_large():
    """Issue 15.8: the status is computed from the certificate, whatever the solver claimed."""
    from robust_gates.theory import SolveResult

    res = SolveResult(value=1.0, gate=np.eye(2), model=np.array([.5, .5]), lam=np.array([.5, .5]),
                      gap=0.041, lower_bound=0.959, status="optimal", solver="fast", payoff="kl",
                      iterations=0, seconds=0.0, tol=1.0)
    assert res.status == "within_tol"
    assert "within_tol" in repr(res) and "gap=4.10e-02" in repr(res)
    with pytest.raises(ValueError):
        res.lam[0] = 1.0


def test_solve_out_writes_the_solution(tmp_path, capsys):
    """Issue 19.3: --out DIR writes model, gate, lam and the certificate; never overwrites."""
    code, out, _ = _cli(capsys, "solve", "--example", "box3", "--out", str(tmp_path / "s"))
    assert code == 0 and "model" in out and "gate" in out
    arrays = np.load(tmp_path / "s" / "solution.npz")
    payload = json.loads((tmp_path / "s" / "solution.json").read_text())
    assert np.allclose(arrays["gate"].sum(axis=0)[arrays["model"] > 0], 1.0, atol=1e-9)
    assert np.array_equal(arrays["lam"], np.asarray(payload["lam"]))
    assert payload["gap"] >= 0 and payload["status"] == "optimal"
    _one_line_error(capsys, "solve", "--example", "box3", "--out", str(tmp_path / "s"),
                    must_name="already exists")


def _floor_case(e):
    D = [[.5, .5, 0], [0, .5, .5]]
    P = [[e, 1 - e, 0], [0, 1 - e, e]]
    exact = 0.5 * np.log(1 / e) + 0.5 * np.log(0.5 / (1 - e))  # q* = (e/2, 1 - e, e/2)
    return RobustProblem(D, P), exact


@pytest.mark.parametrize("e", [1e-4, 1e-8, 1e-10])
def test_numerical_floor_holds_at_and_above_the_floor(e):
    """Issue 15 (floors): down to PROBABILITY_FLOOR = 1e-10 the fast solver's value is within 1e-8
    (relative) of the closed form, and the problem is not flagged."""
    problem, exact = _floor_case(e)
    res = solve(problem, solver="fast")
    assert abs(res.value - exact) <= 1e-8 * exact
    assert not problem.below_floor


def test_numerical_floor_is_flagged_below_it(tmp_path, capsys):
    """Issue 15 (floors): at e = 1e-15 the float answer is off the exact value by about 2% (the
    model's mass is resolved only to ~1e-16), so the problem is flagged in Python, in the text
    output and in the JSON."""
    problem, exact = _floor_case(1e-15)
    res = solve(problem, solver="fast")
    assert problem.below_floor
    assert abs(res.value - exact) > 1e-3 * exact  # the documented loss of accuracy is real
    path = tmp_path / "floor.json"
    path.write_text(json.dumps({"D": problem.D.tolist(), "P": problem.P.tolist()}))
    code, out, _ = _cli(capsys, "solve", str(path))
    assert code == 0 and "below 1e-10" in out
    code, out, _ = _cli(capsys, "solve", str(path), "--json")
    assert code == 0 and json.loads(out)["below_floor"] is True


def test_experts_summing_to_one_minus_rounding():
    """Fuzz find: on one point, experts 0.9999999999999999 (valid within the 1e-9 row-sum
    tolerance) leave the envelope a rounding error short of 1; every solver still answers,
    with value log(1/0.9999999999999999) ~ 1.1e-16 and a zero gap."""
    problem = RobustProblem([[1.0], [1.0]], [[0.9999999999999999], [0.9999999999999999]])
    for solver in ("fast", "reference", "auto"):
        res = solve(problem, solver=solver)
        assert 0 <= res.value <= 1e-15 and res.gap == 0.0 and res.status == "optimal"


def test_commands_write_to_a_fresh_folder_by_default(tmp_path, monkeypatch, capsys):
    """Issue 15 (git status stays clean): without --out, check writes a new results/check-<time>
    folder under the working directory, and a second run a different one."""
    monkeypatch.chdir(tmp_path)
    for _ in range(2):
        code, _, _ = _cli(capsys, "check", "--statement", "T2", "--instances", "1", "--no-progress")
        assert code == 0
    runs = sorted((tmp_path / "results").glob("check-*"))
    assert len(runs) == 2 and all((r / "summary.csv").exists() for r in runs)
