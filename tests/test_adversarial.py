"""The adversarial search (simulations/adversarial.py): boundary starts by default, the v1 floored
parameter space on request, and the refuted v1 clauses of T3 and LF found from the boundary
starts alone (docs/statements.md, "Can a check fail?")."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from robust_gates.paper_repro.cli import main
from robust_gates.simulations.adversarial import (
    LocalSpace,
    adversarial_search,
    default_families,
)
from robust_gates.simulations.instances import BOUNDARY_FAMILIES, PROB_FLOOR, make_instance
from robust_gates.simulations.statements import get_statement


def test_default_families_are_boundary_families():
    """By default every statement with boundary families starts from them (one per group);
    `random` keeps the v1 families."""
    for sid in ("T3", "LF", "I2", "T2"):
        fams = default_families(get_statement(sid))
        assert fams and all(f in BOUNDARY_FAMILIES for f in fams), (sid, fams)
    assert default_families(get_statement("LF"))[0] == "undercover"
    assert "perfect_dependent" in default_families(get_statement("T3"))
    assert not set(default_families(get_statement("LF"), "random")) & set(BOUNDARY_FAMILIES)
    assert default_families(get_statement("JG")) == ["markov_boundary"]
    with pytest.raises(ValueError, match="starts must be one of"):
        default_families(get_statement("LF"), "nowhere")


def test_local_space_keeps_zeros_and_tiny_entries():
    """A perturbation moves positive entries and keeps every exact zero (and 1e-300 scales);
    theta = 0 is the start instance itself."""
    rng = np.random.default_rng(0)
    for fam in ("sparse", "undercover", "tiny", "perfect_dependent"):
        start = make_instance(fam, 0, 2)
        space = LocalSpace.around(start, rng)
        assert space.decode(np.zeros(space.dim)) is start
        moved = space.decode(rng.normal(0, 1, size=space.dim))
        D0, D1 = start.problem.D, moved.problem.D
        assert np.array_equal(D0 == 0, D1 == 0)
        assert np.allclose(D1.sum(axis=1), 1)
        if not start.problem.perfect_experts:
            assert np.array_equal(start.problem.P == 0, moved.problem.P == 0)
        if fam == "tiny":
            small = (D0 > 0) & (D0 < 1e-250)
            assert small.any() and (D1[small] < 1e-200).all()
        assert not np.array_equal(D0, D1) or space.dim == 0
    seq = make_instance("markov", 0, 0)
    assert LocalSpace.around(seq, rng).dim == 0  # the check reads the chains, not the problem


@pytest.mark.parametrize("sid,mutant,family,budget", [
    ("T3", "v1 strictness clause", "perfect_dependent", 16),
    ("T3", "v1 strictness clause", "perfect_face", 16),
    ("LF", "v1 uniqueness clause", "undercover", 16),
])
def test_boundary_starts_refute_v1_clauses(sid, mutant, family, budget):
    """From boundary starts alone, the search refutes the v1 clause (a mutant) within a few
    evaluations (counted in docs/statements.md), and the v2 statement holds on the same instance."""
    r = adversarial_search(sid, np.random.default_rng([0, 1]), family=family, mutant=mutant, probes=8,
                           maxfev=8)
    assert r.refuted and r.violated and r.worst is not None
    assert r.first_refutation is not None and r.first_refutation <= budget
    assert r.target == f"{sid}:{mutant}"
    assert get_statement(sid).check(r.worst).holds


def test_random_starts_stay_above_the_floor():
    """`starts="random"` is the v1 search: every probability is floored, so exact zeros (where the
    v1 clauses fail) are out of its reach; within the same budget it does not refute the LF clause."""
    r = adversarial_search("LF", np.random.default_rng([0, 1]), family="dirichlet",
                           mutant="v1 uniqueness clause", probes=8, maxfev=8, starts="random")
    assert r.starts == "random" and not r.refuted
    assert r.worst.problem.D.min() >= PROB_FLOOR * 0.5 and r.worst.problem.P.min() > 0


def test_unknown_mutant_is_rejected():
    with pytest.raises(ValueError, match="has no mutant"):
        adversarial_search("LF", np.random.default_rng(0), mutant="no such clause", probes=1)


def test_true_statement_not_refuted_from_boundary_starts():
    """The v2 LF and T3 hold on the instances the boundary search tries."""
    for sid in ("LF", "T3"):
        r = adversarial_search(sid, np.random.default_rng(3), probes=4, maxfev=10)
        assert not r.refuted and r.evaluations >= 4


def test_check_cli_adv_starts(tmp_path):
    """`check --adversarial` starts from boundary families by default (the rows name them) and
    `--adv-starts random` gives the v1 search; a bad value exits 2."""
    out = tmp_path / "b"
    code = main(["check", "--statement", "T2", "--instances", "1", "--adversarial", "--adv-probes", "2",
                 "--adv-evals", "4", "--out", str(out), "--no-progress"])
    adv = pd.read_csv(out / "adversarial.csv")
    assert code == 0 and set(adv["family"]) <= set(BOUNDARY_FAMILIES) and adv["holds"].all()
    out = tmp_path / "r"
    code = main(["check", "--statement", "T2", "--instances", "1", "--adversarial", "--adv-probes", "2",
                 "--adv-evals", "4", "--adv-starts", "random", "--out", str(out), "--no-progress"])
    adv = pd.read_csv(out / "adversarial.csv")
    assert code == 0 and not set(adv["family"]) & set(BOUNDARY_FAMILIES)
    with pytest.raises(SystemExit) as exc:
        main(["check", "--statement", "T2", "--adversarial", "--adv-starts", "nowhere"])
    assert exc.value.code == 2
