"""Mutants and boundary families (docs/statements.md, "Can a check fail?"): every statement keeps
false variants that the sweep must refute, the boundary families reach the refuted v1 clauses
of T3 and LF on their own, and `check --mutants` / `check --problem` report them."""

from __future__ import annotations

import json
from importlib import resources

import numpy as np
import pandas as pd
import pytest

from robust_gates.paper_repro.cli import main
from robust_gates.simulations.checks import (
    MUTANT_SUMMARY_COLUMNS,
    SUMMARY_COLUMNS,
    check_problem,
    run_suite,
    summarize,
    summarize_mutants,
)
from robust_gates.simulations.instances import BOUNDARY_FAMILIES, make_instance
from robust_gates.simulations.problem_io import load_problem
from robust_gates.simulations.statements import STATEMENTS, get_statement
from robust_gates.simulations.statements.mutants import Mutant, mutants_of, register_mutant
from robust_gates.simulations.statements.specialization import lf_v1_clause, t3_v1_clause


def test_every_checked_statement_has_a_mutant():
    """SPEC §6: each checked statement registers at least one strictly stronger false variant;
    duplicate names are rejected."""
    for sid, s in STATEMENTS.items():
        if s.kind == "checked":
            assert mutants_of(sid), sid
    m = mutants_of("T2")[0]
    with pytest.raises(ValueError, match="already has a mutant"):
        register_mutant(Mutant("T2", m.name, "clause", "dup", m.run))


def test_mutants_refuted_and_status(tmp_path):
    """SPEC §6: on a few instances the planted T2 reversal and the tightened P1 bound are refuted,
    the statements hold, and the summary carries mutants / mutants_refuted / status."""
    run = run_suite(["T2", "P1"], instances=4, seed=0, progress=False)
    summary = summarize(run.checks, run.mutants)
    assert list(summary.columns) == SUMMARY_COLUMNS
    assert (summary["status"] == "holds").all() and (summary["mutants_refuted"] >= 1).all()
    ms = summarize_mutants(run.mutants, ["T2", "P1"])
    assert list(ms.columns) == MUTANT_SUMMARY_COLUMNS
    rev = ms[ms["mutant"].str.startswith("reverse")].iloc[0]
    assert rev["refuted"] and rev["refuted_on"] >= 3


def test_vacuous_status_when_no_mutant_refuted():
    """A statement whose mutants all survive is reported as vacuous, not as holding."""
    run = run_suite(["SC"], instances=1, seed=0, progress=False)
    muts = run.mutants.assign(refuted=False)
    assert summarize(run.checks, muts)["status"].iloc[0] == "vacuous"


@pytest.mark.parametrize("family", BOUNDARY_FAMILIES)
def test_boundary_families_build(family):
    """SPEC §6 boundary families: valid problems, reproducible; the sparse ones have exact zeros."""
    a, b = make_instance(family, 3, 1), make_instance(family, 3, 1)
    assert np.array_equal(a.problem.D, b.problem.D)
    if family in ("sparse", "perfect_sparse", "undercover"):
        assert (a.problem.D == 0).any()
    if family in ("wide", "perfect_wide"):
        assert 9 <= a.K <= 16


def test_boundary_families_refute_v1_clauses():
    """The undercover family alone refutes the v1 LF clause, the perfect_dependent family alone
    the v1 T3 clause (within the first 10 instances of seed 0), while LF and T3 v2 hold there."""
    lf = [i for i in range(10) if lf_v1_clause(make_instance("undercover", 0, i)).refuted]
    t3 = [i for i in range(10) if t3_v1_clause(make_instance("perfect_dependent", 0, i)).refuted]
    assert lf and t3
    assert get_statement("LF").check(make_instance("undercover", 0, lf[0])).holds
    assert get_statement("T3").check(make_instance("perfect_dependent", 0, t3[0])).holds


def _shipped(name):
    return resources.files("robust_gates.simulations").joinpath("counterexamples", name)


@pytest.mark.parametrize("name,sid,mutant", [("t3_v1_strictness.json", "T3", "v1 strictness clause"),
                                             ("lf_v1_uniqueness.json", "LF", "v1 uniqueness clause")])
def test_counterexample_files_refute_their_clause(name, sid, mutant, tmp_path, capsys):
    """The shipped counterexample files load, the v2 statement holds on them and the v1 clause
    (a mutant) is refuted; `check --problem` prints it and exits 0."""
    path = _shipped(name)
    table = check_problem(load_problem(str(path)), [sid])
    parts = table[table["kind"] == "part"]
    assert len(parts) and parts["holds"].astype(bool).all()
    row = table[(table["kind"] == "mutant") & (table["name"] == mutant)].iloc[0]
    assert not row["holds"]
    code = main(["check", "--problem", str(path), "--statement", sid, "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0 and f"mutant '{mutant}' is refuted" in out
    assert pd.read_csv(tmp_path / "problem_checks.csv")["id"].eq(sid).all()
    assert json.loads(path.read_text())["D"]


def test_check_mutants_cli(tmp_path, capsys):
    """`check --mutants` writes mutants.csv and mutant_summary.csv and lists the mutants."""
    out = tmp_path / "o"
    code = main(["check", "--statement", "T2", "--mutants", "--instances", "3", "--out", str(out),
                 "--no-progress"])
    printed = capsys.readouterr().out
    assert code == 0 and "mutants (false variants" in printed
    summary = pd.read_csv(out / "summary.csv")
    assert summary.loc[0, "status"] == "holds" and summary.loc[0, "mutants_refuted"] >= 1
    assert len(pd.read_csv(out / "mutant_summary.csv")) == len(mutants_of("T2"))


def test_measured_statements_registered_and_reported():
    """DH, GB and SD are registered measured statements: their checks report numbers with the
    side each claim predicts, the sweep never counts them as passed or failed (status measured),
    and on a problem file DH and GB say they do not apply (they are measured once per sweep)."""
    from robust_gates.simulations.statements.measured import measured_numbers

    for sid in ("DH", "GB", "SD"):
        assert STATEMENTS[sid].kind == "measured"
    run = run_suite(["DH", "GB", "SD"], instances=2, seed=0, progress=False)
    summary = summarize(run.checks, run.mutants).set_index("id")
    assert (summary["status"] == "measured").all() and (summary["passed"] == 0).all()
    assert (summary["failed"] == 0).all() and (summary["errors"] == 0).all()
    dh = dict((n, v) for n, v, _, _ in measured_numbers("DH"))
    assert any("gradient cosine" in n for n in dh) and all(np.isfinite(v) for v in dh.values())
    gb = measured_numbers("GB")
    assert any("slope" in n for n, *_ in gb)
    assert any(rel == ">=" and "under the bound" in n for n, _, rel, _ in gb)
    res = get_statement("DH").check(make_instance("perfect", 0, 0))
    assert res.holds and all(p["outcome"] == "measured" for p in res.details["parts"].values())
    table = check_problem(load_problem(str(_shipped("t3_v1_strictness.json"))), ["DH", "GB", "SD"])
    assert (table["kind"] == "not applicable").all()


def test_SD_router_identity_and_its_mutant():
    """SD's exact part: the constant-gate causal router reproduces the sequence mixture to
    rounding on every Markov family; the token-level mixture does not when the conditionals
    differ (its mutant is refuted on such an instance)."""
    sd = get_statement("SD")
    refuted = 0
    for fam in ("markov", "markov_noisy", "markov_distinct", "markov_boundary"):
        for i in range(2):
            inst = make_instance(fam, 0, i)
            res = sd.check(inst)
            assert res.outcome == "holds" and res.details["router_dev"] < 1e-9
            refuted += bool(mutants_of("SD")[0].run(inst, res).refuted)
    assert refuted >= 4
