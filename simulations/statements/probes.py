r"""What the SPEC checks share: instance families, probe points and a few derived games.

Each check is a pure function of the instance: its random probes come from
:func:`instance_rng`, seeded by ``instance.seed`` and a salt of its own. Notation in the
checks' docstrings: ``res = certified_solve(problem)`` brackets the value,
``res.value - res.gap <= V(Lambda) <= res.value``; ``fp`` is :func:`fp_tol`. Each check's
docstring derives its tolerances from these brackets, so that a part can only fail when the
exact quantities violate the statement.
"""

from __future__ import annotations

import numpy as np

from robust_gates.theory import LambdaSet, RobustProblem, gated_model

__all__ = [
    "ALL_FAMILIES", "PERFECT_FAMILIES", "NESTED_FAMILIES", "PROBES",
    "instance_rng", "points_in", "g1_residual", "random_G1_gates", "perfect_game", "worst_case",
    "single_models", "extreme_points", "capacity_bracket", "max_js_bracket",
]

#: the v1 families (probabilities floored at 1e-6) followed by the boundary families of
#: :data:`robust_gates.simulations.instances.BOUNDARY_FAMILIES` (exact zeros, under-covering
#: experts, dependent domains, low-dimensional Lambda, faces, 1e-300 entries, K up to 16)
ALL_FAMILIES = ("dirichlet", "near_disjoint", "near_identical", "perfect", "box", "polytope", "hull",
                "nested", "perfect_box", "perfect_polytope", "perfect_hull", "perfect_nested", "large",
                "sparse", "perfect_sparse", "undercover", "dependent", "perfect_dependent", "lowdim",
                "perfect_lowdim", "face", "perfect_face", "tiny", "wide", "perfect_wide", "nested_lowdim",
                "perfect_nested_lowdim")
PERFECT_FAMILIES = ("perfect", "perfect_box", "perfect_polytope", "perfect_hull", "perfect_nested",
                    "perfect_sparse", "perfect_dependent", "perfect_lowdim", "perfect_face", "perfect_wide",
                    "perfect_nested_lowdim")
NESTED_FAMILIES = ("nested", "perfect_nested", "nested_lowdim", "perfect_nested_lowdim")
#: probe points per kind (mixtures, gates, single models) a check draws
PROBES = 8


def instance_rng(instance, salt: int) -> np.random.Generator:
    """The generator of a check's probes: seeded by ``instance.seed`` and a salt per check."""
    return np.random.default_rng([*map(int, instance.seed or (0,)), salt])


def points_in(Lam: LambdaSet, rng: np.random.Generator, m: int = PROBES) -> np.ndarray:
    """``m`` maximizers of random linear functions over ``Lambda`` (vertices) and ``m`` random
    convex combinations of them: all in ``Lambda`` by convexity, no projection needed."""
    V = np.array([Lam.maximize_linear(rng.normal(size=Lam.K))[1] for _ in range(m)])
    W = rng.dirichlet(np.full(m, 0.5), size=m)
    return np.vstack([V, W @ V])


def g1_residual(g: np.ndarray, P: np.ndarray) -> float:
    """Largest violation of the ``G_1`` conditions (non-negative entries, columns summing to 1,
    gated model of mass 1) by the gate ``g``."""
    return float(max(-g.min(), np.abs(g.sum(axis=0) - 1).max(), abs(gated_model(g, P).sum() - 1)))


def random_G1_gates(P: np.ndarray, rng: np.random.Generator, m: int) -> list[np.ndarray]:
    """``m`` random gates in ``G_1``: random column-stochastic gates ``g0`` moved toward the
    argmax-expert gate (mass ``sum u >= 1``) or argmin-expert gate (mass ``sum l <= 1``) just far
    enough that the gated model has mass 1 (mass is linear in the gate).

    The step ``a = (1 - s0) / (U - s0)`` (or ``(s0 - 1) / (s0 - Lm)``) lies in ``[0, 1]`` in
    exact arithmetic, because ``Lm <= 1 <= U``. When the experts (nearly) coincide, ``s0``,
    ``U`` and ``Lm`` all equal 1 up to rounding and the quotient of two rounding errors can be
    anything (a step of 300 took a gate far outside ``[0, 1]``); the step is clipped to
    ``[0, 1]``, its exact range, so the gate stays a convex combination of two gates in
    ``[0, 1]`` and its mass is within rounding of 1."""
    K, n = P.shape
    cols = np.arange(n)
    gmax = np.zeros((K, n))
    gmax[P.argmax(axis=0), cols] = 1.0
    gmin = np.zeros((K, n))
    gmin[P.argmin(axis=0), cols] = 1.0
    U, Lm = gated_model(gmax, P).sum(), gated_model(gmin, P).sum()
    out = []
    for _ in range(m):
        g0 = rng.dirichlet(np.full(K, 0.5), size=n).T
        s0 = gated_model(g0, P).sum()
        if s0 < 1:
            # U - s0 <= 0 only when the envelope's mass sum_x max_k P_k falls below 1 by rounding
            # (rows summing to 1 - 2e-16): g0 is then within rounding of G_1 already
            a = min((1 - s0) / (U - s0), 1.0) if U > s0 else 0.0
            out.append((1 - a) * g0 + a * gmax)
        else:
            a = min((s0 - 1) / (s0 - Lm), 1.0) if s0 > Lm else 0.0
            out.append((1 - a) * g0 + a * gmin)
    return out


def perfect_game(problem: RobustProblem, Lam: LambdaSet | None = None) -> RobustProblem:
    """The same domains with perfect experts (``P = D``), on ``Lam`` (default: the same Lambda)."""
    return RobustProblem(problem.D, None, problem.Lambda if Lam is None else Lam, "kl")


def worst_case(problem: RobustProblem, q: np.ndarray) -> float:
    """``max_{lam in Lambda} L(q, lam)``: the worst case of the model ``q`` in ``problem``."""
    return float(problem.worst_case(q)[0])


def single_models(problem: RobustProblem, rng: np.random.Generator) -> list[np.ndarray]:
    """Candidate single models: uniform, random distributions, aggregates ``D_lam0``, experts."""
    K, n = problem.D.shape
    qs = [np.full(n, 1.0 / n)]
    qs += list(rng.dirichlet(np.ones(n), size=PROBES))
    qs += list(rng.dirichlet(np.ones(K), size=PROBES) @ problem.D)
    qs += list(problem.P)
    return qs


def extreme_points(Lam: LambdaSet, rng: np.random.Generator, m: int = 4 * PROBES) -> tuple[np.ndarray, bool]:
    """``(points, complete)``: the vertices of ``Lambda`` (``complete = True``) when the set can
    enumerate them (:meth:`robust_gates.theory.LambdaSet.vertices` refuses a polytope with too
    many active sets, a TV ball with large ``K``), else maximizers of ``K`` coordinate and ``m``
    random linear functions, vertices found by linear programs (``complete = False``)."""
    try:
        return np.atleast_2d(Lam.vertices()), True
    except ValueError:
        C = np.vstack([np.eye(Lam.K), rng.normal(size=(m, Lam.K))])
        return np.array([Lam.maximize_linear(c)[1] for c in C]), False


def capacity_bracket(D: np.ndarray, rs) -> tuple[np.ndarray, float, float]:
    """``(lam^, lo, hi)``: a certified bracket ``lo <= C(D) <= hi`` of the capacity from the
    simplex solve ``rs`` and its ``lam`` polished (:func:`robust_gates.theory.programs.polish_capacity`):
    ``lo = max(value - gap, JS(lam^))``, ``hi = min(value, max_k KL(D_k||D_lam^))`` (I1: the
    constant gate ``lam^`` has worst case ``max_k KL(D_k||D_lam^) >= C``)."""
    from scipy.special import rel_entr

    from robust_gates.theory import jensen_shannon
    from robust_gates.theory.programs import polish_capacity

    lam = polish_capacity(D, rs.lam)
    c_hat = float(rel_entr(D, (lam @ D)[None, :]).sum(axis=1).max())
    return lam, max(float(rs.value - rs.gap), jensen_shannon(lam, D)), min(float(rs.value), c_hat)


def max_js_bracket(D: np.ndarray, Lam: LambdaSet, rp) -> tuple[np.ndarray, float, float]:
    """``(lamJ, lo, hi)``: a certified bracket of ``max_Lambda JS`` (the perfect-expert value
    on ``Lambda``) from the solve ``rp`` and its ``lam`` polished
    (:func:`robust_gates.theory.programs.polish_max_js`, :func:`robust_gates.theory.programs.js_bracket`)."""
    from robust_gates.theory.programs import js_bracket, polish_max_js

    lam = polish_max_js(D, rp.lam, Lam)
    js, worst = js_bracket(D, lam, Lam)
    return lam, max(float(rp.value - rp.gap), js), min(float(rp.value), worst)
