"""Certified intervals and the three outcomes of a check (issue 21): holds, refuted, inconclusive.

SPEC section 6: a check can fail only when its intervals prove the statement false; an instance
whose intervals straddle the rounding floor is re-run at a tighter tolerance and otherwise
reported as inconclusive, never as passed or failed; a check that raises is an error (a bug).
"""

import numpy as np
import pandas as pd
import pytest
from scipy.special import rel_entr

from robust_gates.simulations.checks import run_checks, run_decided, save_instances, summarize
from robust_gates.simulations.instances import make_instance
from robust_gates.simulations.problem_io import load_problem
from robust_gates.simulations.statements import Part, combine, get_statement, statement, unregister_statement
from robust_gates.simulations.statements.solving import tighter, tolerance_scale
from robust_gates.theory import Hull, min_kl_over_lambda

FLOOR = 1e-9


def test_part_outcomes_follow_the_interval():
    """``<=``: holds when ``v + err_hi <= floor``, refuted when ``v - err > floor`` (slack < 0),
    inconclusive in between; ``err_hi`` defaults to ``err``."""
    err = 1e-7
    tol = err + FLOOR
    assert Part("a", 0.0, 1.0, "<=", tol, FLOOR).outcome == "holds"
    assert Part("b", 1.0, 0.0, "<=", tol, FLOOR).outcome == "refuted"
    mid = Part("c", 0.5e-7, 0.0, "<=", tol, FLOOR)
    assert mid.slack >= 0 and mid.outcome == "inconclusive"
    assert mid.interval == pytest.approx((0.5e-7 - err, 0.5e-7 + err))
    # the same violation with a one-sided error bar (the rhs is attained): proved
    assert Part("d", 0.0, 0.0, "<=", tol, FLOOR, err_hi=0.0).outcome == "holds"
    assert Part("e", 0.0, 0.0, "<=", tol, FLOOR).outcome == "inconclusive"
    # the floor alone decides a part without a certified error bar
    assert Part("f", 0.5e-9, 0.0, "==", FLOOR, FLOOR).outcome == "holds"
    assert Part("g", 2e-9, 0.0, "==", FLOOR, FLOOR).outcome == "refuted"


def test_strict_part_outcomes():
    """``lhs < rhs``: holds when the room exceeds error + floor, refuted when the bound is attained
    up to the floor (room + err_hi <= floor), inconclusive otherwise."""
    assert Part("s", 0.0, 1.0, "<", 1e-7, FLOOR).outcome == "holds"
    assert Part("s", 1.0, 1.0, "<", FLOOR, FLOOR).outcome == "refuted"
    assert Part("s", 0.0, 5e-8, "<", 1e-7, FLOOR).outcome == "inconclusive"


def test_combine_outcome_order():
    """A refuted part refutes the check; otherwise one inconclusive part makes it inconclusive;
    ``holds`` is true only when every part is proved."""
    ok, undecided, bad = (Part("ok", 0, 1, "<=", FLOOR), Part("u", 0, 0, "<=", 1e-7),
                          Part("bad", 1, 0, "<=", FLOOR))
    r = combine([ok, undecided])
    assert r.outcome == "inconclusive" and not r.holds and not r.refuted
    assert r.details["inconclusive_parts"] == ["u"]
    assert combine([ok, undecided, bad]).outcome == "refuted"
    assert combine([ok]).holds


@pytest.fixture
def probe_statement():
    """A statement that is inconclusive at the usual tolerance and proved at a tighter one, and
    one that raises."""

    @statement("TEST-TIGHT", "test", "decided only at the tighter tolerance", ("dirichlet",))
    def _tight(instance):
        err = 1e-7 * tolerance_scale() ** 2
        return combine([Part("attained bound", 0.0, 0.0, "<=", err + FLOOR, FLOOR)])

    @statement("TEST-RAISE", "test", "a check with a bug", ("dirichlet",))
    def _raise(instance):
        raise RuntimeError("bug in the check")

    yield
    unregister_statement("TEST-TIGHT")
    unregister_statement("TEST-RAISE")


def test_inconclusive_is_rerun_tighter_and_errors_are_counted(probe_statement, tmp_path):
    """An inconclusive check is re-run inside :func:`tighter` (and is decided there); a check that
    raises is an ``error`` row, counted apart from failures, status ``error``."""
    res, retried = run_decided(get_statement("TEST-TIGHT"), make_instance("dirichlet", 0, 0))
    assert retried and res.outcome == "holds"
    with tighter():
        assert tolerance_scale() < 1
    assert tolerance_scale() == 1
    df = run_checks(["TEST-TIGHT", "TEST-RAISE"], instances=2, seed=0, progress=False)
    summary = summarize(df).set_index("id")
    assert summary.loc["TEST-TIGHT", "passed"] == 2 and summary.loc["TEST-TIGHT", "retried"] == 2
    assert summary.loc["TEST-RAISE", "errors"] == 2 and summary.loc["TEST-RAISE", "failed"] == 0
    assert summary.loc["TEST-RAISE", "status"] == "error"
    assert (df.loc[df["id"] == "TEST-RAISE", "error"].str.contains("bug in the check")).all()
    saved = save_instances(df, tmp_path, seed=0)
    assert len(saved) == 2 and set(saved["outcome"]) == {"error"}
    for f, inst in zip(saved["file"], saved["instance"], strict=True):
        original = make_instance("dirichlet", 0, int(inst.split("-")[-1])).problem
        assert np.array_equal(load_problem(f).D, original.D)


def test_summary_counts_inconclusive_apart():
    """``inconclusive`` rows are neither passed nor failed."""
    df = pd.DataFrame({"id": ["X"] * 3, "section": "s", "family": "f", "slack": [1e-9, 1e-9, 1e-9],
                       "holds": [True, False, False], "outcome": ["holds", "inconclusive", "inconclusive"],
                       "retried": [False, True, True], "margin": np.nan, "margin_part": "", "gap": 0.0,
                       "error": ""})
    row = summarize(df).iloc[0]
    assert (row.passed, row.failed, row.inconclusive, row.errors, row.retried) == (1, 0, 2, 0, 2)
    assert row.status == "holds"


def test_min_kl_bracket_is_taken_inside_lambda():
    """SPEC T3: ``min_Lambda KL(D_lam||r)`` is bracketed at points of Lambda. On a one-point hull the
    value is the KL at that point exactly (the conic solution is only feasible up to its
    tolerance, and near exact zeros that moved the value by 1.6e-8: perfect_lowdim 0/18)."""
    inst = make_instance("perfect_lowdim", 0, 18)
    p = inst.problem
    assert isinstance(p.Lambda, Hull) and p.Lambda.points.shape[0] == 1
    r = np.full(p.n, 1.0 / p.n)
    res = min_kl_over_lambda(p.D, r, p.Lambda)
    v = p.Lambda.points[0]
    exact = float(rel_entr(v @ p.D, r).sum())
    assert np.array_equal(res.lam, v) and abs(res.value - exact) <= 1e-15 and res.fw <= 1e-15
    t3 = get_statement("T3").check(inst)
    assert t3.holds, t3.details


def test_min_kl_start_point_closes_the_bracket():
    """With a start point that attains the minimum 0 (r = D_lam with lam in Lambda), the bracket is
    [0, 0] up to rounding: the interior minimizer of the conic program alone leaves a
    Frank-Wolfe gap of order 1e-5 (first order in its error)."""
    inst = make_instance("perfect", 0, 22)
    p = inst.problem
    lam = np.full(p.K, 1.0 / p.K)
    res = min_kl_over_lambda(p.D, lam @ p.D, p.Lambda, start=lam)
    assert res.value <= 1e-15 and res.fw <= 1e-12


def test_nan_side_is_an_error_not_a_refutation():
    """A part whose computation produced ``nan`` proves nothing either way: :func:`combine` raises,
    and a sweep records the row as an error (a bug to fix)."""
    with pytest.raises(FloatingPointError, match="nan side"):
        combine([Part("broken", float("nan"), 0.0, "<=", FLOOR)])


def test_saved_instance_files_replay_the_sweep_checks(tmp_path):
    """A file saved by a sweep records its instance (family, seed tuple, the larger game of a
    nested pair), so ``check --problem`` draws the same probes and gets the outer game: the parts
    computed from the file equal those of the sweep's own instance, T2 included (without the
    record, T2 was 'not applicable' and probe-based parts used other probes)."""
    from robust_gates.simulations.checks import check_problem
    from robust_gates.simulations.problem_io import load_provenance

    df = pd.DataFrame([{"id": "T2", "family": "nested", "instance": "0-1-3", "outcome": "inconclusive",
                        "undecided": ""},
                       {"id": "LF", "family": "box", "instance": "0-1-5", "outcome": "error",
                        "undecided": ""}])
    saved = save_instances(df, tmp_path, seed=0)
    for row in saved.itertuples():
        path = row.file.split(";")[0]
        prov = load_provenance(path)
        inst = make_instance(row.family, 0, int(row.instance.split("-")[-1]))
        assert prov["family"] == row.family and prov["seed"] == inst.seed
        outer = load_problem(tmp_path / row.outcome / prov["outer"]) if prov["outer"] else None
        table = check_problem(load_problem(path), [row.id], outer=outer, seed=prov["seed"])
        parts = table[table["kind"] == "part"].set_index("name")
        res, _ = run_decided(get_statement(row.id), inst)
        direct = res.details["parts"]
        assert len(parts) == len(direct) > 0
        for name, pt in direct.items():
            assert parts.loc[name, "lhs"] == pt["lhs"] and parts.loc[name, "rhs"] == pt["rhs"], name


@pytest.mark.parametrize("record,message", [
    ("[1, 2]", "'instance' must be an object"),
    ('{"family": "box"}', "'instance.seed'"),
    ('{"family": "box", "seed": [1, -2]}', "'instance.seed'"),
    ('{"family": "box", "seed": [1], "outer": "../x.json"}', "'instance.outer'"),
    ('{"family": "box", "seed": [1], "extra": 1}', "unknown keys"),
])
def test_bad_instance_record_is_one_line_exit_2(tmp_path, record, message):
    import subprocess

    f = tmp_path / "p.json"
    f.write_text('{"D": [[0.5, 0.5], [0.9, 0.1]], "instance": ' + record + "}")
    out = subprocess.run(["robust-gates", "check", "--problem", str(f), "--statement", "T1"],
                         capture_output=True, text=True)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in out.stderr
