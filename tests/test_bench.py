"""`robust-gates bench`: every part prints ratios measured in the same run (issue 17).

Timing targets are not asserted here (a unit test is no benchmark); what is checked is that
each part runs, reports its ratio columns and that the solvers it times agree on the values.
"""

from __future__ import annotations

import numpy as np

from robust_gates.paper_repro.cli import main as cli_main
from robust_gates.simulations.bench_solvers import (
    capacity_vs_plain,
    passes_fast,
    plain_blahut_arimoto,
)
from robust_gates.theory import capacity

#: certificate tolerance of the fast solver in the bench's passes part
PASS_TOL = 1e-8


def test_passes_part_reports_costs_in_passes():
    """SPEC algorithm 2 cost accounting: every cost is a positive multiple of one streaming
    pass, the solve is ascent plus result, and the independent certificate is below tol."""
    df = passes_fast([(6, 500)], tol=PASS_TOL)
    row = df.iloc[0]
    assert row["gap"] <= PASS_TOL
    for col in ("ascent_passes", "certify_passes", "result_passes", "entropy_passes"):
        assert np.isfinite(row[col]) and row[col] > 0
    assert row["solve_passes"] >= row["ascent_passes"]


def test_capacity_part_agrees_with_plain_blahut_arimoto():
    """SPEC algorithm 3: the bench's plain Blahut-Arimoto (the peer) and ``capacity`` stop at
    the same bound gap, so their values agree to it; the ratio is reported."""
    df = capacity_vs_plain([(5, 200)], tol=1e-10)
    row = df.iloc[0]
    assert row["value_diff"] <= 1e-10 and row["ratio"] > 0
    D = np.random.default_rng(1).dirichlet(np.ones(7), size=3)
    value, steps = plain_blahut_arimoto(D, 1e-11)
    assert abs(value - capacity(D, tol=1e-11).capacity) <= 1e-11 and steps >= 1


def test_bench_quick_cli(capsys):
    """The `--quick` bench runs in seconds and prints every table with its ratio columns."""
    assert cli_main(["bench", "--quick"]) == 0
    out = capsys.readouterr().out
    for header in ("fast vs reference", "fast solver alone", "streaming passes", "capacity"):
        assert header in out
    for column in ("ratio", "solve_passes", "certify_passes", "peer_seconds"):
        assert column in out
