"""Lambda sets: membership, vertices, linear maximization, projection (SPEC §1)."""

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from robust_gates.theory import Box, Hull, Polytope, Simplex, lambda_from_dict, project_simplex

TOL = 1e-9


def _sets(rng, K):
    centre = rng.dirichlet(np.ones(K))
    A = rng.normal(size=(2, K))
    b = A @ centre + 0.1
    pts = rng.dirichlet(np.ones(K), size=K + 1)
    return [
        Simplex(K),
        Box(np.clip(centre - 0.15, 0, 1), np.clip(centre + 0.15, 0, 1)),
        Polytope(A, b),
        Hull(pts),
    ]


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31), K=st.integers(2, 5))
def test_linear_max_equals_vertex_max(seed, K):
    """SPEC §1: max_{Lambda} <lam, c> is attained at a vertex, and the argmax is in Lambda."""
    rng = np.random.default_rng(seed)
    for lset in _sets(rng, K):
        c = rng.normal(size=K)
        val, lam = lset.maximize_linear(c)
        V = lset.vertices()
        assert all(lset.contains(v, tol=1e-8) for v in V)
        assert lset.contains(lam, tol=1e-8)
        assert abs(val - lam @ c) < TOL
        assert abs(val - np.max(V @ c)) < 1e-8
        # no random point of the set does better
        w = rng.dirichlet(np.ones(len(V)), size=50)
        assert np.max(w @ V @ c) <= val + 1e-9


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31), K=st.integers(2, 5))
def test_projection_is_nearest_point(seed, K):
    """Projection lands in Lambda and beats every vertex combination in distance."""
    rng = np.random.default_rng(seed)
    v = rng.normal(size=K) * 0.5 + 1.0 / K
    for lset in _sets(rng, K):
        p = lset.project(v)
        assert lset.contains(p, tol=1e-8)
        V = lset.vertices()
        w = rng.dirichlet(np.ones(len(V)), size=200)
        others = w @ V
        assert np.min(np.linalg.norm(others - v, axis=1)) >= np.linalg.norm(p - v) - 1e-6


def test_simplex_projection_closed_form():
    """Projection of a point already on the simplex is itself; a corner case is exact."""
    x = np.array([0.2, 0.3, 0.5])
    assert np.max(np.abs(project_simplex(x) - x)) < 1e-15
    assert np.array_equal(project_simplex(np.array([3.0, 0.0, 0.0])), np.array([1.0, 0.0, 0.0]))


def test_box_vertices_known():
    """Box {0.2 <= lam <= 0.5} in Delta_3 is a hexagon with vertices permutations of (.2,.3,.5)."""
    V = Box([0.2] * 3, [0.5] * 3).vertices()
    expected = {tuple(p) for p in itertools.permutations((0.2, 0.3, 0.5))}
    assert {tuple(np.round(v, 12)) for v in V} == expected


def test_hull_drops_interior_points_and_inequalities_match():
    """Hull vertices are the extreme points; its inequality form describes the same set."""
    pts = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1 / 3, 1 / 3, 1 / 3]], dtype=float)
    h = Hull(pts)
    assert h.vertices().shape == (3, 3)
    rng = np.random.default_rng(0)
    for lam in rng.dirichlet(np.ones(3), size=20):
        assert h.contains(lam)
    sub = Hull([[0.6, 0.2, 0.2], [0.2, 0.6, 0.2], [0.2, 0.2, 0.6]])
    A, b = sub.inequalities()
    for lam in rng.dirichlet(np.ones(3), size=200):
        assert sub.contains(lam) == bool(np.all(A @ lam <= b + 1e-9))


def test_lambda_from_dict_kinds():
    """Problem-file keys select the Lambda kind; mixing kinds is an error."""
    assert isinstance(lambda_from_dict({}, 3), Simplex)
    assert isinstance(lambda_from_dict({"box_lo": [0, 0], "box_hi": [1, 1]}, 2), Box)
    assert isinstance(lambda_from_dict({"A": [[1, 0]], "b": [0.5]}, 2), Polytope)
    assert isinstance(lambda_from_dict({"vertices": [[0.5, 0.5]]}, 2), Hull)
    with pytest.raises(ValueError, match="at most one Lambda"):
        lambda_from_dict({"vertices": [[0.5, 0.5]], "A": [[1, 0]], "b": [1]}, 2)
    with pytest.raises(ValueError, match="needs both box_lo and box_hi"):
        lambda_from_dict({"box_lo": [0, 0]}, 2)
