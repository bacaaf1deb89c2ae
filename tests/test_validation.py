"""Every validation error of the problem object and the Lambda sets names the problem (SPEC §1)."""

import numpy as np
import pytest

from robust_gates.theory import Box, Hull, Polytope, RobustProblem, Simplex

D2 = np.array([[0.5, 0.5, 0.0], [0.0, 0.5, 0.5]])


@pytest.mark.parametrize(
    "D, P, match",
    [
        (np.array([[0.5, 0.6], [0.5, 0.5]]), None, r"row 0 of D sums to 1\.1"),
        (np.array([[1.2, -0.2], [0.5, 0.5]]), None, r"D\[0, 1\] = -0\.2 is negative"),
        (np.array([[np.nan, 1.0], [0.5, 0.5]]), None, r"D\[0, 0\] is nan"),
        (np.array([[np.inf, 1.0], [0.5, 0.5]]), None, r"D\[0, 0\] is inf"),
        (np.array([[0.5, 0.5]]), None, r"at least K = 2 domains"),
        (np.array([0.5, 0.5]), None, r"D must be a 2-D array"),
        (D2, np.array([[0.5, 0.5], [0.5, 0.5]]), r"P has shape \(2, 2\) but D has shape \(2, 3\)"),
        (D2, np.array([[0.5, 0.5, 0.0], [0.0, 0.5, 0.4999]]), r"row 1 of P sums to 0\.9999"),
        (D2, np.array([[0.5, 0.5, 0.0], [0.5, 0.5, 0.0]]),
         r"domain 1 puts mass on x = 2, where every expert has probability 0, and Lambda allows"),
    ],
)
def test_problem_validation_messages(D, P, match):
    """SPEC §1: non-probability rows, NaN, shape mismatch, K < 2 and uncovered support."""
    with pytest.raises(ValueError, match=match):
        RobustProblem(D, P)


def test_row_sum_tolerance_is_1e_9():
    """SPEC §1: a row sum off by less than 1e-9 is accepted, more is rejected."""
    ok = np.array([[0.5, 0.5 + 5e-10], [0.5, 0.5]])
    RobustProblem(ok)
    bad = np.array([[0.5, 0.5 + 5e-9], [0.5, 0.5]])
    with pytest.raises(ValueError, match="off by 5.00e-09"):
        RobustProblem(bad)


def test_payoff_and_lambda_type_errors():
    """Unknown payoff, wrong Lambda type or dimension are rejected with their names."""
    with pytest.raises(ValueError, match="payoff must be one of"):
        RobustProblem(D2, payoff="mse")
    with pytest.raises(TypeError, match="Lambda must be a LambdaSet"):
        RobustProblem(D2, Lambda=[0.5, 0.5])
    with pytest.raises(ValueError, match="K = 3 domains but D has K = 2"):
        RobustProblem(D2, Lambda=Simplex(3))


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: Box([0.6, 0.6], [0.9, 0.9]), r"sum\(box_lo\) = 1\.2 > 1"),
        (lambda: Box([0.0, 0.0], [0.3, 0.3]), r"sum\(box_hi\) = 0\.6 < 1"),
        (lambda: Box([0.5, 0.2], [0.4, 0.9]), r"box is empty: box_lo\[0\] = 0\.5 > box_hi\[0\] = 0\.4"),
        (lambda: Box([-0.1, 0.0], [1.0, 1.0]), r"box_lo\[0\] = -0\.1 is outside \[0, 1\]"),
        (lambda: Box([0.0, 0.0], [1.0, 1.0, 1.0]), r"box_lo has shape \(2,\) but box_hi has shape"),
        (lambda: Polytope([[1.0, 0.0], [0.0, 1.0]], [0.3, 0.3]), r"polytope .* is empty"),
        (lambda: Polytope([[1.0, 0.0]], [0.3, 0.3]), r"A has 1 rows but b has 2"),
        (lambda: Hull(np.zeros((0, 3))), r"hull is empty"),
        (lambda: Hull([[0.5, 0.7, -0.2]]), r"vertices\[0, 2\] = -0\.2 is negative"),
        (lambda: Hull([[0.5, 0.6, 0.2]]), r"row 0 of vertices sums to 1\.3"),
        (lambda: Hull([[np.nan, 0.5, 0.5]]), r"vertices\[0, 0\] is nan"),
    ],
)
def test_lambda_validation_messages(make, match):
    """SPEC §1: empty or non-simplex Lambda sets are rejected with a clear error."""
    with pytest.raises(ValueError, match=match):
        make()


def test_arrays_are_read_only_copies():
    """The problem stores read-only copies (issue 15.1: a view would follow the caller's edits)."""
    D = np.ascontiguousarray(D2, dtype=np.float64)
    prob = RobustProblem(D)
    assert not np.shares_memory(prob.D, D)
    assert not prob.D.flags.writeable
    with pytest.raises(ValueError):
        prob.D[0, 0] = 1.0
