"""Errors are bugs (issue 21): a derandomized sweep over the families where the 2000-instance
run with seed 7 cried wolf, small enough for CI (about 20 s).

The classes it covers: the fast solver returning a mixture outside Lambda (T1, T2 on boxes and
nested sets, payoffs KL and cross-entropy), the T3 equality case on polytopes (``min_Lambda
KL(D_lam||D_lam*)`` from an inaccurate inner program), single-point and segment hulls (a
projection with a membership tolerance of its own), and the rows of a perfect-expert instance
that sum to ``1 - 2e-16`` (an envelope of mass below 1 by rounding).
"""

import pytest

from robust_gates.simulations.checks import run_decided
from robust_gates.simulations.instances import make_instance
from robust_gates.simulations.statements import get_statement

SEED = 7
SWEEP = [("T1", "box", range(0, 40)), ("T1", "box", [1798]), ("T2", "nested", range(0, 30)),
         ("T2", "perfect_nested", range(0, 30)), ("T3", "perfect_polytope", range(0, 10)),
         ("T3", "perfect_hull", range(30, 40)), ("T3", "perfect_lowdim", range(0, 20)),
         ("T3", "perfect_face", range(0, 20)), ("LF", "undercover", range(0, 20))]


@pytest.mark.parametrize("sid,family,indices", SWEEP, ids=[f"{s}-{f}-{len(i)}" for s, f, i in SWEEP])
def test_no_spurious_failure_at_seed_7(sid, family, indices):
    """SPEC T1, T2, T3, LF: on every instance the check is never refuted and never raises; at most
    one instance per family may stay inconclusive after the re-run at a tighter tolerance."""
    stmt = get_statement(sid)
    undecided = []
    for i in indices:
        res, _ = run_decided(stmt, make_instance(family, SEED, i))
        assert not res.refuted, (sid, family, i, res.details)
        if res.inconclusive:
            undecided.append(i)
    assert len(undecided) <= 1, (sid, family, undecided)


def test_envelope_of_mass_one_minus_rounding_is_solved():
    """SPEC T3 on perfect_dependent seed 7 index 1073 (K = 2, identical domains): the simplex game
    must be solved, not rejected with 'the envelope set Q is empty' (the sweep's 4 errors in
    2000 T3 instances: the envelope's mass ``sum_x max_k P_k`` is ``1 - 2e-16`` there)."""
    res, _ = run_decided(get_statement("T3"), make_instance("perfect_dependent", SEED, 1073))
    assert not res.refuted
