"""Fuzz suite (issue 15): random malformed and hard problem files through ``robust-gates solve``.

Every draw is a problem file (JSON or ``.npz``) built from a valid random game and then, with
some probability, spoiled in one way (shapes, dtypes, NaN/inf, signs, row sums, empty arrays,
huge or tiny entries, Lambda descriptions that are empty, leave the simplex, are redundant or
degenerate, bad payoffs). For every draw exactly one of two things must happen:

* exit status 0 with a certified result: ``status`` is a success status, the gap is at least
  ``-GAP_FLOOR`` (rounding) and at most the tolerance, ``lam`` lies in Lambda (membership at
  ``EXACT_TOL``, far below the solvers' 1e-9 input tolerance), the model is a distribution inside
  the experts' envelope, and the other exact solver, where it runs, agrees by weak duality
  (each solver's lower bound is at most the other's value);
* exit status 2 with exactly one line on stderr naming the problem, and no traceback.

Anything else (another exit status, an uncaught exception, a second line) fails the test.

Profiles: the default (``ci``) is derandomized and draws ``FUZZ_EXAMPLES`` files per solver;
``ROBUST_GATES_FUZZ=long python -m pytest tests/test_fuzz.py`` draws 5,000 per solver with a
fresh seed each run.
"""

from __future__ import annotations

import contextlib
import io
import json
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from robust_gates.paper_repro.cli import main
from robust_gates.simulations import load_problem
from robust_gates.theory import SolverError, solve

LONG = os.environ.get("ROBUST_GATES_FUZZ") == "long"
FUZZ_EXAMPLES = 5000 if LONG else 120
#: rounding floor for a certificate gap: a negative gap below this (in magnitude) is float noise
GAP_FLOOR = 1e-12
#: membership tolerance for the returned lam (the solvers accept inputs at 1e-9)
EXACT_TOL = 1e-12
#: the tolerance the CLI is asked to certify
TOL = 1e-7
#: envelope and normalization of the returned model
MODEL_TOL = 1e-9

FUZZ = settings(max_examples=FUZZ_EXAMPLES, deadline=None, derandomize=not LONG,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
                database=None)

D_SPOILERS = ["none", "none", "none", "nan", "inf", "neg", "rowsum", "shape1d", "empty_cols",
              "one_row", "strings", "bools", "tiny", "huge", "zeros_col", "P_shape", "P_uncovered",
              "P_tiny", "P_missing"]
LAMBDA_KINDS = ["simplex", "simplex", "box", "box", "box_empty", "box_lo_gt_hi", "box_miss",
                "box_zero_hi", "box_half", "box_neg", "poly", "poly_empty", "poly_redundant",
                "poly_bad_shape", "hull", "hull_neg_tiny", "hull_off", "hull_one", "hull_empty",
                "two_kinds", "unknown_key"]
PAYOFFS = [None, None, "kl", "cross_entropy", "", 0, "hinge"]
#: spoilers, Lambda kinds and payoffs that leave a valid problem, which must then be solved
VALID = ({"none", "tiny", "zeros_col", "P_missing"},
         {"simplex", "box", "box_zero_hi", "poly", "poly_redundant", "hull", "hull_one"},
         {None, "kl", "cross_entropy"})


@st.composite
def problem_files(draw):
    """A dict of problem-file keys, built valid from a seed and then maybe spoiled."""
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    K = draw(st.integers(2, 5))
    n = draw(st.integers(1, 7))
    D = rng.dirichlet(np.full(n, 0.6), size=K)
    D[rng.random(D.shape) < 0.2] = 0.0
    D[D.sum(axis=1) == 0, 0] = 1.0
    D /= D.sum(axis=1, keepdims=True)
    P = 0.7 * D + 0.3 * rng.dirichlet(np.ones(n), size=K)
    d: dict = {"D": D.tolist(), "P": P.tolist()}

    spoil = draw(st.sampled_from(D_SPOILERS))
    if spoil == "nan":
        d["D"][0][0] = float("nan")
    elif spoil == "inf":
        d["P"][K - 1][n - 1] = float("inf")
    elif spoil == "neg":
        d["D"][0][0] = -1e-3
    elif spoil == "rowsum":
        d["D"][K - 1] = (np.asarray(D[K - 1]) * 1.01).tolist()
    elif spoil == "shape1d":
        d["D"] = D[0].tolist()
    elif spoil == "empty_cols":
        d["D"], d["P"] = [[] for _ in range(K)], [[] for _ in range(K)]
    elif spoil == "one_row":
        d["D"], d["P"] = [D[0].tolist()], [P[0].tolist()]
    elif spoil == "strings":
        d["D"] = [[str(v) for v in row] for row in D]
    elif spoil == "bools":
        d["D"] = [[bool(v > 0.5) for v in row] for row in D]
    elif spoil == "tiny":  # valid: experts with entries of 1e-300
        Pt = np.where(P < 0.05, 1e-300, P)
        d["P"] = (Pt / Pt.sum(axis=1, keepdims=True)).tolist()
    elif spoil == "huge":
        d["D"][0][0] = 1e300
    elif spoil == "zeros_col":  # valid: an unused point
        Dz = np.hstack([D, np.zeros((K, 1))])
        Pz = np.hstack([P, np.zeros((K, 1))])
        d["D"], d["P"] = Dz.tolist(), Pz.tolist()
    elif spoil == "P_shape":
        d["P"] = P[:, :-1].tolist() if n > 1 else P.T.tolist()
    elif spoil == "P_uncovered":
        Pu = P.copy()
        Pu[:, 0] = 0.0
        Pu[Pu.sum(axis=1) == 0, -1] = 1.0
        d["P"] = (Pu / Pu.sum(axis=1, keepdims=True)).tolist()
    elif spoil == "P_missing":
        del d["P"]

    kind = draw(st.sampled_from(LAMBDA_KINDS))
    lo = rng.uniform(0, 1.0 / K, size=K) * rng.integers(0, 2, size=K)
    hi = np.minimum(1.0, lo + rng.uniform(0.2, 1.0, size=K))
    if hi.sum() < 1:
        hi = np.minimum(1.0, hi + (1 - hi.sum()) / K + 0.05)
    if kind == "box":
        d["box_lo"], d["box_hi"] = lo.tolist(), hi.tolist()
    elif kind == "box_empty":
        d["box_lo"], d["box_hi"] = [0.6] * K, [1.0] * K
    elif kind == "box_lo_gt_hi":
        d["box_lo"], d["box_hi"] = (hi + 0.01).clip(0, 1).tolist(), lo.tolist()
    elif kind == "box_miss":
        d["box_lo"], d["box_hi"] = [0.0] * K, [0.9 / K] * K
    elif kind == "box_zero_hi":  # valid: the last domain gets no weight ...
        d["box_lo"], d["box_hi"] = [0.0] * K, [1.0] * (K - 1) + [0.0]
        if spoil in ("none", "tiny", "zeros_col"):
            # ... and has mass on a new point where no expert has any: V is still finite
            Dd, Pd = np.asarray(d["D"]), np.asarray(d["P"])
            extra = np.zeros((Dd.shape[0], 1))
            extra[-1] = 0.5
            Dd = np.hstack([Dd, extra])
            Dd[-1, :-1] = Dd[-1, :-1] * 0.5
            d["D"], d["P"] = Dd.tolist(), np.hstack([Pd, np.zeros((Pd.shape[0], 1))]).tolist()
    elif kind == "box_half":
        d["box_lo"] = lo.tolist()
    elif kind == "box_neg":
        d["box_lo"], d["box_hi"] = [-0.1] + [0.0] * (K - 1), [1.0] * K
    elif kind == "poly":
        A = rng.normal(size=(2, K))
        c = rng.dirichlet(np.ones(K))
        d["A"], d["b"] = A.tolist(), (A @ c + rng.uniform(0, 0.3, size=2)).tolist()
    elif kind == "poly_empty":
        d["A"], d["b"] = [[1.0] * K], [0.5]
    elif kind == "poly_redundant":
        d["A"], d["b"] = [[1.0] + [0.0] * (K - 1)] * 3, [0.7, 0.7, 2.0]
    elif kind == "poly_bad_shape":
        d["A"], d["b"] = [[1.0] * (K + 1)], [0.5]
    elif kind == "hull":
        d["vertices"] = rng.dirichlet(np.ones(K), size=int(rng.integers(1, 5))).tolist()
    elif kind == "hull_neg_tiny":
        v = rng.dirichlet(np.ones(K), size=2)
        v[0, 0] -= 5e-10
        v[0, 1] += 5e-10
        d["vertices"] = v.tolist()
    elif kind == "hull_off":
        d["vertices"] = (rng.dirichlet(np.ones(K), size=2) * 1.1).tolist()
    elif kind == "hull_one":  # valid: a single mixture
        d["vertices"] = [np.full(K, 1.0 / K).tolist()]
    elif kind == "hull_empty":
        d["vertices"] = []
    elif kind == "two_kinds":
        d["box_lo"], d["box_hi"], d["vertices"] = [0.0] * K, [1.0] * K, [[1.0] + [0.0] * (K - 1)]
    elif kind == "unknown_key":
        d["lambda"] = [1.0 / K] * K

    payoff = draw(st.sampled_from(PAYOFFS))
    if payoff is not None:
        d["payoff"] = payoff
    fmt = draw(st.sampled_from(["json", "npz"]))
    valid = spoil in VALID[0] and kind in VALID[1] and payoff in VALID[2]
    return d, fmt, f"{spoil}/{kind}/{payoff!r}/{fmt}", valid


def _write(d: dict, fmt: str, path_base) -> str:
    if fmt == "json":
        path = f"{path_base}.json"
        with open(path, "w") as fh:
            json.dump(d, fh)
        return path
    path = f"{path_base}.npz"
    arrays = {}
    for key, value in d.items():
        try:
            arrays[key] = np.asarray(value)
        except ValueError:  # ragged: store as an object array, which np.load must refuse
            arrays[key] = np.asarray(value, dtype=object)
    try:
        np.savez(path, **arrays)
    except ValueError:
        return _write(d, "json", path_base)
    return path


def _below_floor(path: str) -> bool:
    """Below the documented PROBABILITY_FLOOR a solver may refuse (one line, status 2), never
    return a wrong certified answer; above it a valid problem must be solved."""
    return load_problem(path).below_floor


def _run_cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


def _assert_certified(path: str, payload: dict, solver: str) -> None:
    problem = load_problem(path)
    lam = np.asarray(payload["lam"])
    model = np.asarray(payload["model"])
    assert payload["status"] in ("optimal", "within_tol"), payload["status"]
    assert payload["gap"] >= -GAP_FLOOR, f"negative certificate {payload['gap']}"
    assert payload["gap"] <= TOL, payload["gap"]
    assert problem.Lambda.contains(lam, tol=EXACT_TOL), f"lam = {lam.tolist()} is outside {problem.Lambda!r}"
    assert abs(model.sum() - 1) <= MODEL_TOL
    assert np.all(model >= problem.l - MODEL_TOL) and np.all(model <= problem.u + MODEL_TOL)
    other = "reference" if solver in ("fast", "auto") else "fast"
    try:
        res = solve(problem, solver=other)
    except SolverError:
        return  # the other solver may refuse (e.g. the conic solver on 1e-300 entries)
    assert res.lower_bound <= payload["value"] + TOL, (res.lower_bound, payload["value"])
    assert payload["lower_bound"] <= res.value + TOL, (payload["lower_bound"], res.value)


@pytest.mark.parametrize("solver", ["fast", "reference", "auto"])
@FUZZ
@given(case=problem_files())
def test_solve_cli_fuzz(tmp_path, solver, case):
    """SPEC section 2 and issue 15: a certified answer or one line with exit status 2."""
    d, fmt, label, valid = case
    path = _write(d, fmt, tmp_path / "problem")
    code, out, err = _run_cli("solve", path, "--solver", solver, "--tol", str(TOL), "--json")
    if valid and not _below_floor(path):
        assert code == 0, f"a valid problem ({label}) was refused: {err.strip()}"
    if code == 0:
        _assert_certified(path, json.loads(out), solver)
    else:
        assert code == 2, (label, code, err)
        lines = err.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in err, (label, err)
        assert lines[0].startswith("robust-gates solve: error: "), (label, lines[0])
