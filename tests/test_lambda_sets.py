"""Lambda sets: membership, vertices, linear maximization, projection, parametrization (SPEC §1).

Every kind is run through the same interface checks; the total-variation ball is also compared
with the same set written as a :class:`Polytope` (its subset inequalities).
"""

import itertools
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog

from robust_gates.theory import Box, Hull, Polytope, Simplex, lambda_from_dict, project_simplex
from robust_gates.theory.lambda_sets import LAMBDA_KEYS, TVBall

TOL = 1e-9
#: SLSQP (the generic projection) stops at about this accuracy
PROJECTION_TOL = 1e-6
#: linear programs (HiGHS) agree with exact answers to about this
LP_TOL = 1e-8


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
        TVBall(rng.dirichlet(np.ones(K)), 0.3 * rng.random()),
        _face_tv_ball(rng, K),
    ]


def _face_tv_ball(rng, K):
    """A TV ball with a centre on a face of the simplex and a degenerate or large radius."""
    c = rng.dirichlet(np.ones(K))
    c = np.where(c < 0.15, 0.0, c)  # the largest entry is >= 1/K > 0.15 for K <= 5
    return TVBall(c / c.sum(), [0.0, 0.25, 1.0][int(rng.integers(3))])


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


def test_lambda_from_dict_tv_ball_round_trip():
    """File keys tv_center/tv_radius build a TV ball, to_dict gives them back, and every kind's
    keys are in LAMBDA_KEYS (the keys a problem file may use for Lambda)."""
    tv = lambda_from_dict({"tv_center": [0.2, 0.3, 0.5], "tv_radius": 0.1}, 3)
    assert isinstance(tv, TVBall) and tv.K == 3 and tv.radius == 0.1
    again = lambda_from_dict(tv.to_dict(), 3)
    assert np.array_equal(again.center, tv.center) and again.radius == tv.radius
    for lset in _sets(np.random.default_rng(0), 3):
        assert set(lset.to_dict()) <= LAMBDA_KEYS
    with pytest.raises(ValueError, match="needs both tv_center and tv_radius"):
        lambda_from_dict({"tv_center": [0.5, 0.5]}, 2)
    with pytest.raises(ValueError, match="at most one Lambda"):
        lambda_from_dict({"tv_center": [0.5, 0.5], "tv_radius": 0.1, "vertices": [[0.5, 0.5]]}, 2)


def test_tv_ball_rejects_bad_input():
    """SPEC §1: a centre off the simplex or a negative radius is refused with a sentence."""
    with pytest.raises(ValueError, match="not a mixture"):
        TVBall([0.5, 0.6], 0.1)
    with pytest.raises(ValueError, match="tv_radius must be a finite number >= 0"):
        TVBall([0.5, 0.5], -0.1)
    with pytest.raises(TypeError, match="real numbers"):
        TVBall([0.5, 0.5], True)


def test_tv_ball_vertices_known():
    """Closed form: the TV ball of radius 1/6 around the uniform mixture of 3 is the hexagon
    whose vertices are the permutations of (1/2, 1/3, 1/6) (mass 1/6 moved from one domain to
    another); radius 0 is the centre alone; radius 1 is the whole simplex."""
    tv = TVBall([1 / 3] * 3, 1 / 6)
    expected = set(itertools.permutations((Fraction(1, 2), Fraction(1, 3), Fraction(1, 6))))
    V = tv.vertices()
    got = [tuple(Fraction(float(x)).limit_denominator(100) for x in v) for v in V]
    assert set(got) == expected and len(got) == len(expected)
    for v, exact in zip(V, got, strict=True):  # each coordinate is its fraction to rounding
        assert np.max(np.abs(v - np.array([float(x) for x in exact]))) < 1e-15
    point = TVBall([0.2, 0.8], 0.0)
    assert np.array_equal(point.vertices(), [[0.2, 0.8]])
    whole = TVBall([0.2, 0.3, 0.5], 1.0)
    assert {tuple(np.round(v, 12)) for v in whole.vertices()} == {tuple(e) for e in np.eye(3)}


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**31), K=st.integers(2, 5))
def test_tv_ball_agrees_with_its_polytope(seed, K):
    """The TV ball and Polytope(its subset inequalities) are the same set: same membership of
    random points, same linear maxima, same vertices, same projections (to SLSQP accuracy)."""
    rng = np.random.default_rng(seed)
    center = rng.dirichlet(np.full(K, 0.7))
    tv = TVBall(center, 0.4 * rng.random())
    poly = Polytope(*tv.inequalities())
    for lam in np.vstack([rng.dirichlet(np.ones(K), size=40), center[None, :]]):
        assert tv.contains(lam) == poly.contains(lam)
        assert abs(tv.distance(lam) - 0.5 * np.abs(lam - center).sum()) < 1e-15
    for _ in range(10):
        c = rng.normal(size=K)
        assert abs(tv.maximize_linear(c)[0] - poly.maximize_linear(c)[0]) < LP_TOL
        v = rng.normal(size=K) * 0.5 + 1.0 / K
        assert np.max(np.abs(tv.project(v) - poly.project(v))) < PROJECTION_TOL
    V1 = tv.vertices()
    V2 = poly.vertices()
    assert V1.shape == V2.shape
    for v in V1:
        assert np.min(np.max(np.abs(V2 - v), axis=1)) < LP_TOL


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**31), K=st.integers(2, 5))
def test_tv_projection_is_exact(seed, K):
    """The TV-ball projection satisfies the optimality condition of a Euclidean projection:
    <v - p, lam - p> <= 0 for every vertex lam (hence every point) of the ball."""
    rng = np.random.default_rng(seed)
    tv = TVBall(rng.dirichlet(np.ones(K)), 0.3 * rng.random())
    v = rng.normal(size=K)
    p = tv.project(v)
    assert tv.contains(p, tol=1e-12)
    assert np.max((tv.vertices() - p) @ (v - p)) <= 1e-12 * (1 + np.abs(v).max())


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31), K=st.integers(2, 5))
def test_parametrization_describes_the_set(seed, K):
    """Parametrization: Lambda = {B x : x in Delta_m, G x <= h}. The start point is feasible and
    weighs the whole support; the LP max_x <x, B^T c> equals maximize_linear(c), and its
    maximizer maps into Lambda."""
    rng = np.random.default_rng(seed)
    for lset in _sets(rng, K):
        par = lset.parametrization()
        B = np.eye(K) if par.B is None else par.B
        assert B.shape == (K, par.m)
        x0 = par.x0
        assert x0.min() >= 0 and abs(x0.sum() - 1) < 1e-12
        assert par.whole_simplex or np.all(par.G @ x0 <= par.h + 1e-12)
        lam0 = par.mixture(x0)
        assert lset.contains(lam0)
        assert np.all(lam0[lset.support()] > 0)
        for _ in range(5):
            c = rng.normal(size=K)
            res = linprog(-par.pullback(c), A_ub=par.G if par.G.shape[0] else None,
                          b_ub=par.h if par.G.shape[0] else None, A_eq=np.ones((1, par.m)), b_eq=[1.0],
                          bounds=(0, None), method="highs")
            assert res.status == 0
            assert abs(-res.fun - lset.maximize_linear(c)[0]) < LP_TOL
            assert lset.contains(par.mixture(np.clip(res.x, 0, None)), tol=1e-8)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**31), K=st.integers(2, 5))
def test_ascent_chart_stays_in_the_set(seed, K):
    """AscentChart: the start and every projected point map into Lambda; in whole-simplex charts
    an exponentiated step needs no projection."""
    rng = np.random.default_rng(seed)
    for lset in _sets(rng, K):
        chart = lset.ascent_chart()
        assert lset.contains(chart.mixture(chart.x0))
        for _ in range(5):
            v = chart.x0 + rng.normal(size=chart.x0.shape) * 0.5
            assert lset.contains(chart.mixture(chart.project(v)), tol=1e-8)
            if chart.simplex:
                w = chart.x0 * np.exp(rng.normal(size=chart.x0.shape))
                assert lset.contains(chart.mixture(w / w.sum()))


def test_maximize_linear_with_infinite_entries():
    """SPEC §2 certificate with uncovered domains: max_Lambda <lam, c> is +inf iff some lam in
    Lambda weighs a +inf entry; otherwise the +inf entries meet zero weight and the max is that of
    the finite part. Every kind answers the same way; -inf and NaN are refused."""
    c = np.array([0.3, 1.0, np.inf])
    outside = [  # sets whose mixtures never weigh domain 2
        Box([0, 0, 0], [1, 1, 0]),
        Polytope([[0.0, 0.0, 1.0]], [0.0]),
        Hull([[0.5, 0.5, 0.0], [1.0, 0.0, 0.0]]),
        TVBall([0.5, 0.5, 0.0], 0.0),
    ]
    for lset in outside:
        val, lam = lset.maximize_linear(c)
        assert np.isfinite(val) and lam[2] <= TOL and lset.contains(lam)
        assert abs(val - lset.maximize_linear(np.array([0.3, 1.0, 0.0]))[0]) < LP_TOL
        assert not lset.support()[2]
    inside = [Simplex(3), Box([0, 0, 0], [1, 1, 0.1]), Polytope([[0.0, 0.0, 1.0]], [0.2]),
              Hull([[0.5, 0.5, 0.0], [0.0, 0.9, 0.1]]), TVBall([0.5, 0.5, 0.0], 0.05)]
    for lset in inside:
        val, lam = lset.maximize_linear(c)
        assert val == np.inf and lam[2] > 0 and lset.support()[2]
    for bad in (np.array([0.0, -np.inf, 1.0]), np.array([0.0, np.nan, 1.0])):
        with pytest.raises(ValueError, match="linear objective"):
            Simplex(3).maximize_linear(bad)


def test_generators():
    """generators(): a hull's own points (interior ones kept); the vertices otherwise."""
    pts = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1 / 3, 1 / 3, 1 / 3]], dtype=float)
    assert np.array_equal(Hull(pts).generators(), pts)
    box = Box([0.2] * 3, [0.5] * 3)
    assert np.array_equal(box.generators(), box.vertices())
    assert np.array_equal(Simplex(3).generators(), np.eye(3))


@pytest.mark.parametrize("suffix", [".json", ".npz"])
def test_tv_ball_problem_file_round_trip(tmp_path, suffix):
    """A problem file with tv_center/tv_radius loads as the same TV ball (the loader takes every
    key of LAMBDA_KEYS, so a new kind needs no loader edit)."""
    from robust_gates.simulations.problem_io import load_problem, save_problem
    from robust_gates.theory import RobustProblem

    D = np.random.default_rng(3).dirichlet(np.ones(5), size=3)
    problem = RobustProblem(D, None, TVBall([0.2, 0.3, 0.5], 0.1))
    loaded = load_problem(save_problem(problem, tmp_path / f"p{suffix}"))
    assert isinstance(loaded.Lambda, TVBall)
    assert loaded.Lambda.to_dict() == problem.Lambda.to_dict()
