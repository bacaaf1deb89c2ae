r"""Random instance families for the theorem checks (SPEC sections 1 and 3).

An instance is a small frozen :class:`Instance`: the family name, the parameters drawn, one
:class:`robust_gates.theory.RobustProblem` (or two for nested pairs :math:`\Lambda \subseteq \Lambda'`)
and the seed that reproduces it. Everything is drawn from an explicit
``numpy.random.Generator``; :func:`make_instance` derives one from ``(seed, family, index)``
so the same index of a family is the same instance in every statement and every process.

Domains ``D`` (``K x n``)
    ``dirichlet``: rows :math:`D_k \sim \mathrm{Dir}(\alpha \mathbf 1)`, the concentration
    knob :math:`\alpha` (log-uniform on ``[0.1, 10]``) tunes the diversity (JSD) of the domains;
    ``near_disjoint``: domain ``k`` puts mass :math:`1 - \delta` on its own block of the sample
    space and :math:`\delta` elsewhere; ``near_identical``: :math:`D_k = (1-\delta) B + \delta N_k`
    around a common base ``B``.
Experts ``P``
    perfect (:math:`P = D`), or imperfect :math:`P_k = (1 - \tau_k) D_k + \tau_k N_k` with
    :math:`N_k \sim \mathrm{Dir}(\mathbf 1)`; the error :math:`\epsilon_k = KL(D_k\|P_k)`
    grows with :math:`\tau_k` and is recorded in the parameters.
Prior knowledge ``Lambda``
    the simplex; a box :math:`\{|\lambda - c|_\infty \le r\} \cap \Delta_K` around a point
    ``c`` (non-empty: it holds ``c``); a random polytope :math:`\{A\lambda \le A c + s\}`
    with ``s >= 0`` (non-empty: it holds ``c``); the hull of ``m`` random mixtures; nested pairs
    where :math:`\Lambda` is the hull of points of a box :math:`\Lambda'` (so
    :math:`\Lambda \subseteq \Lambda'` by convexity).

``K`` ranges over 2..8 and ``n`` over 2..40 (2..500 for the ``large`` family).

Boundary families (SPEC §6; :data:`BOUNDARY_FAMILIES`)
    The families above floor every probability at :data:`PROB_FLOOR`, so they never reach the
    edge cases where a formalization is most likely to be wrong. The boundary families do not:

    * ``sparse`` / ``perfect_sparse``: domains with exact zeros (each keeps a random support of
      1..n points; sometimes disjoint supports), experts with exact zeros; in a third of the
      imperfect instances an expert misses a point of its own domain that another expert
      covers (``eps_k = inf``, ``V`` finite);
    * ``undercover``: experts that put only part of their mass on the domains' points
      (``sum_S u < 1``: the water level is ``nu = 0`` and the robust model is not unique), plus
      a domain that leaks onto the experts' spare points;
    * ``dependent`` / ``perfect_dependent``: a domain that is a mixture of the others (half of the
      time the capacity output ``D_lam*`` of the others), sometimes a duplicated domain, and
      ``Lambda`` a single point or a segment at that domain's vertex;
    * ``lowdim`` / ``perfect_lowdim``: ``Lambda`` a single point, a segment, or a vertex ``e_k``;
    * ``face`` / ``perfect_face``: a box touching a vertex or a face of the simplex (``lo = 0``
      on some coordinates), so ``lam*`` often lies on a face of ``Lambda``;
    * ``tiny``: entries of order ``1e-300`` next to ordinary ones;
    * ``wide`` / ``perfect_wide``: ``K`` from 9 to 16 domains;
    * ``nested_lowdim`` / ``perfect_nested_lowdim``: a box at a vertex of the simplex and, inside
      it, a single point or a segment (for T2 and T3-G), sparse domains.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from robust_gates.theory import Box, Hull, LambdaSet, Polytope, RobustProblem, Simplex, capacity, kl

__all__ = [
    "Instance",
    "Family",
    "FAMILIES",
    "make_instance",
    "sample_instances",
    "dirichlet_domains",
    "near_disjoint_domains",
    "near_identical_domains",
    "noisy_experts",
    "box_around",
    "random_polytope",
    "random_hull",
    "nested_pair",
    "K_RANGE",
    "N_RANGE",
    "BOUNDARY_FAMILIES",
    "sparse_domains",
]

K_RANGE = (2, 8)
N_RANGE = (2, 40)
LARGE_N_RANGE = (100, 500)
#: smallest probability a drawn distribution keeps per point (keeps KL finite and solves well posed)
PROB_FLOOR = 1e-6


@dataclass(frozen=True, eq=False)
class Instance:
    """One random instance: ``problems[0]`` is the game; ``problems[1]``, when present, is the
    same game over a larger set :math:`\\Lambda' \\supseteq \\Lambda` (nested pairs)."""

    family: str
    params: dict
    problems: tuple[RobustProblem, ...]
    seed: tuple[int, ...] = ()

    @property
    def problem(self) -> RobustProblem:
        return self.problems[0]

    @property
    def outer(self) -> RobustProblem:
        """The problem over the larger set ``Lambda'`` of a nested pair."""
        if len(self.problems) < 2:
            raise ValueError(f"instance of family {self.family!r} is not a nested pair")
        return self.problems[1]

    @property
    def K(self) -> int:
        return self.problem.K

    @property
    def n(self) -> int:
        return self.problem.n

    def __repr__(self) -> str:
        return f"Instance({self.family!r}, K={self.K}, n={self.n}, seed={self.seed})"


# --------------------------------------------------------------------------- building blocks
def _floor(D: np.ndarray) -> np.ndarray:
    D = np.maximum(np.asarray(D, dtype=np.float64), PROB_FLOOR)
    return D / D.sum(axis=-1, keepdims=True)


def dirichlet_domains(rng: np.random.Generator, K: int, n: int, alpha: float) -> np.ndarray:
    """``K`` rows drawn from ``Dir(alpha 1_n)`` (small ``alpha``: peaked, diverse domains)."""
    if alpha <= 0:
        raise ValueError(f"the Dirichlet concentration alpha must be positive; got {alpha}")
    return _floor(rng.dirichlet(np.full(n, alpha), size=K))


def near_disjoint_domains(rng: np.random.Generator, K: int, n: int, leak: float) -> np.ndarray:
    """Domain ``k`` puts ``1 - leak`` on its own block of points (blocks partition ``1..n``,
    wrapping around when ``n < K``) and ``leak`` spread over the whole space."""
    if not 0 <= leak <= 1:
        raise ValueError(f"leak must lie in [0, 1]; got {leak}")
    blocks = np.array_split(rng.permutation(n), min(K, n))
    D = np.empty((K, n))
    for k in range(K):
        own = np.zeros(n)
        b = blocks[k % len(blocks)]
        own[b] = rng.dirichlet(np.ones(len(b)))
        D[k] = (1 - leak) * own + leak * rng.dirichlet(np.ones(n))
    return _floor(D)


def near_identical_domains(rng: np.random.Generator, K: int, n: int, delta: float) -> np.ndarray:
    """``D_k = (1 - delta) B + delta N_k`` around a common base ``B`` (small JSD)."""
    if not 0 <= delta <= 1:
        raise ValueError(f"delta must lie in [0, 1]; got {delta}")
    base = rng.dirichlet(np.ones(n))
    return _floor((1 - delta) * base[None, :] + delta * rng.dirichlet(np.ones(n), size=K))


def noisy_experts(rng: np.random.Generator, D: np.ndarray, tau: np.ndarray) -> np.ndarray:
    """Imperfect experts ``P_k = (1 - tau_k) D_k + tau_k N_k``, ``N_k ~ Dir(1)``."""
    tau = np.broadcast_to(np.asarray(tau, dtype=np.float64), (D.shape[0],))
    if tau.min() < 0 or tau.max() > 1:
        raise ValueError(f"every tau_k must lie in [0, 1]; got {tau.tolist()}")
    N = rng.dirichlet(np.ones(D.shape[1]), size=D.shape[0])
    return _floor((1 - tau[:, None]) * D + tau[:, None] * N)


def box_around(center: np.ndarray, radius: float) -> Box:
    """``{lam in simplex : |lam - center|_inf <= radius}`` (holds ``center``, so non-empty)."""
    c = np.asarray(center, dtype=np.float64)
    if radius < 0:
        raise ValueError(f"the box radius must be non-negative; got {radius}")
    return Box(np.clip(c - radius, 0.0, 1.0), np.clip(c + radius, 0.0, 1.0))


def random_polytope(rng: np.random.Generator, center: np.ndarray, m: int, slack: float) -> Polytope:
    """``{lam in simplex : A lam <= A c + s}`` with Gaussian ``A`` (``m`` rows) and
    ``s ~ U[0, slack]``: the interior point ``c`` guarantees it is non-empty."""
    c = np.asarray(center, dtype=np.float64)
    A = rng.normal(size=(m, c.shape[0]))
    b = A @ c + rng.uniform(0.0, slack, size=m)
    return Polytope(A, b)


def random_hull(rng: np.random.Generator, K: int, m: int, alpha: float = 1.0) -> Hull:
    """Convex hull of ``m`` mixtures drawn from ``Dir(alpha 1_K)``."""
    return Hull(rng.dirichlet(np.full(K, alpha), size=m))


def nested_pair(rng: np.random.Generator, K: int, radius: float, m: int) -> tuple[LambdaSet, LambdaSet]:
    """``(Lambda, Lambda')`` with ``Lambda' = box_around(c, radius)`` and ``Lambda`` the hull of
    ``m`` points of ``Lambda'`` (projections of random mixtures), so ``Lambda ⊆ Lambda'``."""
    outer = box_around(rng.dirichlet(np.ones(K)), radius)
    pts = np.array([outer.project(rng.dirichlet(np.ones(K))) for _ in range(m)])
    return Hull(pts), outer


# --------------------------------------------------------------------------- families
@dataclass(frozen=True)
class Family:
    """A named generator ``(rng, K, n) -> (params, problems)``; ``perfect`` and ``lam_kind``
    describe what every instance of the family has (used to pick applicable statements)."""

    name: str
    perfect: bool
    lam_kind: str  # simplex | box | polytope | hull | nested
    draw: Callable = field(repr=False)
    n_range: tuple[int, int] = N_RANGE
    description: str = ""
    k_range: tuple[int, int] = K_RANGE
    boundary: bool = False


def _domains(rng: np.random.Generator, K: int, n: int, kind: str | None = None) -> tuple[np.ndarray, dict]:
    kind = kind or str(rng.choice(["dirichlet", "near_disjoint", "near_identical"]))
    if kind == "dirichlet":
        alpha = float(np.exp(rng.uniform(np.log(0.1), np.log(10.0))))
        return dirichlet_domains(rng, K, n, alpha), {"domains": kind, "alpha": alpha}
    if kind == "near_disjoint":
        leak = float(rng.uniform(0.01, 0.2))
        return near_disjoint_domains(rng, K, n, leak), {"domains": kind, "leak": leak}
    delta = float(rng.uniform(0.1, 0.4))
    return near_identical_domains(rng, K, n, delta), {"domains": kind, "delta": delta}


def _experts(rng: np.random.Generator, D: np.ndarray, perfect: bool) -> tuple[np.ndarray | None, dict]:
    if perfect:
        return None, {"experts": "perfect"}
    tau = rng.uniform(0.02, 0.5, size=D.shape[0])
    P = noisy_experts(rng, D, tau)
    eps = np.asarray(kl(D, P))
    return P, {"experts": "noisy", "tau": tau.round(6).tolist(), "eps": eps.round(8).tolist()}


def _lambda(rng: np.random.Generator, K: int, kind: str) -> tuple[tuple[LambdaSet, ...], dict]:
    if kind == "simplex":
        return (Simplex(K),), {"Lambda": "simplex"}
    if kind == "box":
        c = rng.dirichlet(np.ones(K))
        r = float(rng.uniform(0.02, 0.4))
        return (box_around(c, r),), {"Lambda": "box", "radius": r}
    if kind == "polytope":
        m = int(rng.integers(1, 2 * K + 1))
        slack = float(rng.uniform(0.01, 0.5))
        return (random_polytope(rng, rng.dirichlet(np.ones(K)), m, slack),), {
            "Lambda": "polytope", "m": m, "slack": slack}
    if kind == "hull":
        m = int(rng.integers(1, K + 3))
        return (random_hull(rng, K, m),), {"Lambda": "hull", "m": m}
    if kind == "nested":
        r = float(rng.uniform(0.05, 0.6))
        m = int(rng.integers(1, K + 2))
        inner, outer = nested_pair(rng, K, r, m)
        return (inner, outer), {"Lambda": "nested", "radius": r, "m": m}
    raise ValueError(f"unknown Lambda kind {kind!r}")


def _make_draw(perfect: bool, lam_kind: str, domains: str | None = None):
    def draw(rng: np.random.Generator, K: int, n: int):
        D, pd = _domains(rng, K, n, domains)
        P, pe = _experts(rng, D, perfect)
        sets, pl = _lambda(rng, K, lam_kind)
        problems = tuple(RobustProblem(D, P, s) for s in sets)
        return {**pd, **pe, **pl}, problems

    return draw


def _fam(name, perfect, lam_kind, domains=None, n_range=N_RANGE, description=""):
    return Family(name, perfect, lam_kind, _make_draw(perfect, lam_kind, domains), n_range, description)


# --------------------------------------------------------------------------- boundary families
def sparse_domains(rng: np.random.Generator, K: int, n: int, disjoint: bool = False) -> np.ndarray:
    """``K`` rows with exact zeros: row ``k`` is ``Dir(0.5)`` on a random support of 1..n points
    (``disjoint``: the supports are disjoint blocks, wrapping around when ``n < K``)."""
    D = np.zeros((K, n))
    blocks = np.array_split(rng.permutation(n), min(K, n))
    for k in range(K):
        if disjoint:
            supp = blocks[k % len(blocks)]
        else:
            supp = rng.choice(n, size=int(rng.integers(1, n + 1)), replace=False)
        D[k, supp] = rng.dirichlet(np.full(len(supp), 0.5))
    return D / D.sum(axis=1, keepdims=True)


def _sparse_experts(rng: np.random.Generator, D: np.ndarray, drop: bool) -> np.ndarray:
    """``P_k = (1 - tau_k) D_k + tau_k N_k`` with sparse noise ``N_k`` (exact zeros); with
    ``drop``, one expert loses a point of its own domain that another expert still covers."""
    K, n = D.shape
    tau = rng.uniform(0.05, 0.6, size=K)
    N = sparse_domains(rng, K, n)
    P = (1 - tau[:, None]) * D + tau[:, None] * N
    if drop:
        k = int(rng.integers(K))
        for x in rng.permutation(np.flatnonzero(D[k] > 0)):
            others = np.delete(P[:, x], k)
            if others.max() > 0 and P[k].sum() - P[k, x] > 0:
                P[k, x] = 0.0
                break
    return P / P.sum(axis=1, keepdims=True)


def _draw_sparse(perfect: bool):
    def draw(rng, K, n):
        disjoint = bool(rng.random() < 0.25)
        D = sparse_domains(rng, K, n, disjoint)
        params = {"domains": "sparse", "disjoint": disjoint, "Lambda": "simplex"}
        P = None
        if not perfect:
            drop = bool(rng.random() < 1 / 3)
            P = _sparse_experts(rng, D, drop)
            params.update(experts="sparse", dropped=drop)
        return params, (RobustProblem(D, P, Simplex(K)),)

    return draw


def _draw_undercover(rng, K, n):
    """``K - 1`` point-mass domains on points ``0..K-2``; expert ``k`` keeps ``a_k`` there and puts
    ``1 - a_k`` on a spare point; the last domain sits mostly on point 0 and leaks onto the spare
    points, and its expert copies expert 0 (the structure of the LF counterexample)."""
    m = K - 1
    spare = max(2, n - m)
    n = m + spare
    a = rng.uniform(0.1, 0.6, size=m) if rng.random() < 0.5 else np.full(m, rng.uniform(0.1, 0.6))
    D = np.zeros((K, n))
    P = np.zeros((K, n))
    for k in range(m):
        D[k, k] = 1.0
        P[k, k] = a[k]
        P[k, m + k % spare] += 1 - a[k]
    leak = float(rng.uniform(0.02, 0.3))
    D[m, 0] = 1 - leak
    covered = np.unique(m + np.arange(m) % spare)
    D[m, covered] = leak * rng.dirichlet(np.ones(len(covered)))
    P[m] = P[0]
    return ({"domains": "point masses + leaking domain", "a": a.round(6).tolist(), "leak": leak,
             "experts": "undercovering", "Lambda": "simplex"}, (RobustProblem(D, P, Simplex(K)),))


def _dependent_domains(rng, K, n):
    base = sparse_domains(rng, K - 1, n) if rng.random() < 0.5 else dirichlet_domains(rng, K - 1, n, 0.5)
    if K > 2 and rng.random() < 0.25:
        base[-1] = base[0]  # a duplicated domain
    at_capacity = bool(rng.random() < 0.5)
    w = capacity(base).lam if at_capacity else rng.dirichlet(np.ones(K - 1))
    return np.vstack([base, w @ base]), {"domains": "dependent", "last_row": "D_lam*" if at_capacity
                                          else "random mixture"}


def _lowdim_set(rng, K, anchor: int | None = None) -> tuple[Hull, dict]:
    """A single point, a segment, or a vertex ``e_k`` (``anchor``: the segment/point holds ``e_anchor``)."""
    kind = str(rng.choice(["point", "segment", "vertex"]))
    e = np.eye(K)
    if kind == "vertex":
        pts = e[[int(rng.integers(K)) if anchor is None else anchor]]
    elif kind == "point":
        pts = (e[[anchor]] if anchor is not None else rng.dirichlet(np.ones(K), size=1))
    else:
        first = e[anchor] if anchor is not None else rng.dirichlet(np.ones(K))
        pts = np.vstack([first, rng.dirichlet(np.full(K, 0.5))])
    return Hull(pts), {"Lambda": kind}


def _draw_dependent(perfect: bool):
    def draw(rng, K, n):
        D, params = _dependent_domains(rng, K, n)
        Lam, pl = _lowdim_set(rng, K, anchor=K - 1)
        P = None if perfect else _sparse_experts(rng, D, False)
        return {**params, **pl}, (RobustProblem(D, P, Lam),)

    return draw


def _boundary_domains(rng, K, n):
    if rng.random() < 0.5:
        return sparse_domains(rng, K, n, bool(rng.random() < 0.25)), {"domains": "sparse"}
    return _domains(rng, K, n)


def _boundary_experts(rng, D, perfect):
    if perfect:
        return None, {"experts": "perfect"}
    if (D == 0).any():
        return _sparse_experts(rng, D, bool(rng.random() < 1 / 3)), {"experts": "sparse"}
    return _experts(rng, D, False)


def _draw_lowdim(perfect: bool):
    def draw(rng, K, n):
        D, pd_ = _boundary_domains(rng, K, n)
        P, pe = _boundary_experts(rng, D, perfect)
        Lam, pl = _lowdim_set(rng, K)
        return {**pd_, **pe, **pl}, (RobustProblem(D, P, Lam),)

    return draw


def _face_box(rng, K) -> tuple[Box, dict]:
    if rng.random() < 0.5:  # a box at a vertex of the simplex
        k = int(rng.integers(K))
        r = float(rng.uniform(0.05, 0.7))
        return box_around(np.eye(K)[k], r), {"Lambda": "box at a vertex", "radius": r}
    zero = rng.random(K) < 0.5
    zero[int(rng.integers(K))] = False
    c = rng.dirichlet(np.ones(K)) * ~zero
    c /= c.sum()
    r = float(rng.uniform(0.02, 0.4))
    lo = np.where(zero, 0.0, np.clip(c - r, 0.0, 1.0))
    hi = np.where(zero, rng.uniform(0.0, r, size=K), np.clip(c + r, 0.0, 1.0))
    return Box(lo, hi), {"Lambda": "box on a face", "radius": r}


def _draw_face(perfect: bool):
    def draw(rng, K, n):
        D, pd_ = _boundary_domains(rng, K, n)
        P, pe = _boundary_experts(rng, D, perfect)
        Lam, pl = _face_box(rng, K)
        return {**pd_, **pe, **pl}, (RobustProblem(D, P, Lam),)

    return draw


def _draw_tiny(rng, K, n):
    """Dirichlet domains and noisy experts with about a third of the entries set near 1e-300."""
    def tinify(A):
        A = rng.dirichlet(np.full(A.shape[1], 0.7), size=A.shape[0]) if A is None else A.copy()
        mask = rng.random(A.shape) < 1 / 3
        mask[np.arange(A.shape[0]), A.argmax(axis=1)] = False
        A[mask] = 10.0 ** rng.uniform(-300, -200, size=int(mask.sum()))
        return A / A.sum(axis=1, keepdims=True)

    D = tinify(rng.dirichlet(np.full(n, 0.7), size=K))
    tau = rng.uniform(0.05, 0.5, size=K)
    P = tinify((1 - tau[:, None]) * D + tau[:, None] * rng.dirichlet(np.ones(n), size=K))
    return {"domains": "tiny entries", "experts": "tiny entries", "Lambda": "simplex"}, \
        (RobustProblem(D, P, Simplex(K)),)


def _draw_nested_lowdim(perfect: bool):
    def draw(rng, K, n):
        D, pd_ = _boundary_domains(rng, K, n)
        P, pe = _boundary_experts(rng, D, perfect)
        outer, po = _face_box(rng, K)
        m = int(rng.integers(1, 3))
        pts = np.array([outer.project(v) for v in rng.dirichlet(np.full(K, 0.5), size=m)])
        if rng.random() < 0.3:  # the inner set holds the outer set's least-favorable candidate vertex
            pts[0] = outer.maximize_linear(rng.normal(size=K))[1]
        return {**pd_, **pe, **po, "inner": f"hull of {m} point(s)"}, \
            tuple(RobustProblem(D, P, s) for s in (Hull(pts), outer))

    return draw


def _bfam(name, perfect, lam_kind, draw, description, n_range=(2, 12), k_range=K_RANGE):
    return Family(name, perfect, lam_kind, draw, n_range, description, k_range, True)


_BOUNDARY = [
    _bfam("sparse", False, "simplex", _draw_sparse(False), "exact zeros in domains and experts"),
    _bfam("perfect_sparse", True, "simplex", _draw_sparse(True), "perfect experts, exact zeros"),
    _bfam("undercover", False, "simplex", _draw_undercover, "experts with sum_S u < 1 (nu = 0)"),
    _bfam("dependent", False, "hull", _draw_dependent(False), "a domain mixing the others, low-dim Lambda"),
    _bfam("perfect_dependent", True, "hull", _draw_dependent(True),
          "perfect experts, a domain mixing the others (often D_lam*), Lambda at its vertex"),
    _bfam("lowdim", False, "hull", _draw_lowdim(False), "Lambda a point, a segment or a vertex"),
    _bfam("perfect_lowdim", True, "hull", _draw_lowdim(True), "perfect experts, low-dimensional Lambda"),
    _bfam("face", False, "box", _draw_face(False), "box at a vertex or on a face of the simplex"),
    _bfam("perfect_face", True, "box", _draw_face(True), "perfect experts, box on a face"),
    _bfam("tiny", False, "simplex", _draw_tiny, "entries near 1e-300"),
    _bfam("wide", False, "simplex", _make_draw(False, "simplex"), "K from 9 to 16", (2, 24), (9, 16)),
    _bfam("perfect_wide", True, "simplex", _make_draw(True, "simplex"), "perfect experts, K 9..16",
          (2, 24), (9, 16)),
    _bfam("nested_lowdim", False, "nested", _draw_nested_lowdim(False),
          "a point or segment inside a box at a vertex or face"),
    _bfam("perfect_nested_lowdim", True, "nested", _draw_nested_lowdim(True),
          "perfect experts, a point or segment inside a box on a face"),
]
#: the boundary families (module doc), in the order statements list them
BOUNDARY_FAMILIES = tuple(f.name for f in _BOUNDARY)

FAMILIES: dict[str, Family] = {f.name: f for f in [
    _fam("dirichlet", False, "simplex", "dirichlet", description="Dirichlet domains, noisy experts"),
    _fam("near_disjoint", False, "simplex", "near_disjoint", description="near-disjoint domains"),
    _fam("near_identical", False, "simplex", "near_identical", description="nearly identical domains"),
    _fam("perfect", True, "simplex", description="perfect experts P = D on the simplex"),
    _fam("box", False, "box", description="noisy experts, box around a point"),
    _fam("polytope", False, "polytope", description="noisy experts, random polytope"),
    _fam("hull", False, "hull", description="noisy experts, hull of random mixtures"),
    _fam("nested", False, "nested", description="noisy experts, Lambda ⊆ Lambda' (hull in a box)"),
    _fam("perfect_box", True, "box", description="perfect experts, box"),
    _fam("perfect_polytope", True, "polytope", description="perfect experts, random polytope"),
    _fam("perfect_hull", True, "hull", description="perfect experts, hull"),
    _fam("perfect_nested", True, "nested", description="perfect experts, nested pair"),
    _fam("large", False, "simplex", "dirichlet", LARGE_N_RANGE, "Dirichlet domains, n in 100..500"),
    *_BOUNDARY,
]}


def _rng_for(seed: int, family: str, index: int) -> tuple[np.random.Generator, tuple[int, ...]]:
    fam_id = zlib.crc32(family.encode())  # stable across processes (unlike hash())
    key = (int(seed), fam_id, int(index))
    return np.random.default_rng(np.random.SeedSequence(list(key))), key


def make_instance(family: str, seed: int, index: int = 0, K: int | None = None,
                  n: int | None = None) -> Instance:
    """Instance ``index`` of ``family`` for the global ``seed`` (deterministic; ``K``/``n``
    drawn from the family's ranges unless given)."""
    if family not in FAMILIES:
        raise ValueError(f"unknown instance family {family!r}; choose one of {sorted(FAMILIES)}")
    fam = FAMILIES[family]
    rng, key = _rng_for(seed, family, index)
    K = int(rng.integers(fam.k_range[0], fam.k_range[1] + 1)) if K is None else int(K)
    if n is None:
        lo, hi = fam.n_range
        # log-uniform n: small sample spaces are as common as large ones
        n = int(np.round(np.exp(rng.uniform(np.log(lo), np.log(hi)))))
    if K < 2 or n < 1:
        raise ValueError(f"need K >= 2 and n >= 1; got K = {K}, n = {n}")
    params, problems = fam.draw(rng, K, int(n))
    return Instance(family, {"K": K, "n": int(n), **params}, problems, key)


def sample_instances(families: list[str] | tuple[str, ...], count: int, seed: int,
                     **kwargs) -> list[Instance]:
    """``count`` instances cycling through ``families`` (index ``i`` uses family ``i % len``)."""
    if not families:
        raise ValueError("give at least one family")
    return [make_instance(families[i % len(families)], seed, i, **kwargs)
            for i in range(count)]


# --------------------------------------------------------------------------- sequence and gate families
# Families for the v2 statements JG (Markov chains on V^T) and GB2 (softmax-linear gates). A JG
# instance's problem is the sequence-level game at the enumerated length T0 (n = V^T0, Lambda the
# single mixture lam); the chains themselves travel in ``params`` as plain lists (see
# :class:`robust_gates.simulations.jsd_gap.MarkovChain`), with the long horizon ``T``.
#: the long horizon of the JG families (the token-level recursion runs to it)
SEQ_HORIZON = 1000
SEQ_N_RANGE = (64, 4096)


def _seq_length(V: int, n: int) -> int:
    """The enumerated length ``T0``: the largest with ``V^T0 <= n``, kept inside :data:`SEQ_N_RANGE`."""
    lo = int(np.ceil(np.log(SEQ_N_RANGE[0]) / np.log(V) - 1e-12))
    hi = int(np.floor(np.log(SEQ_N_RANGE[1]) / np.log(V) + 1e-12))
    return int(np.clip(int(np.floor(np.log(n) / np.log(V) + 1e-12)), lo, hi))


def _rows(rng: np.random.Generator, V: int, m: int, conc: float, floor: float = 1e-3) -> np.ndarray:
    a = np.maximum(rng.dirichlet(np.full(V, conc), size=m), floor)
    return a / a.sum(axis=1, keepdims=True)


def _stationary_rows(trans: np.ndarray) -> np.ndarray:
    from .jsd_gap import MarkovChain, stationary

    return stationary(MarkovChain(np.full(trans.shape[0], 1.0 / trans.shape[0]), trans))


def _chain_dict(init: np.ndarray, trans: np.ndarray) -> dict:
    init = np.maximum(init, 0.0)
    trans = trans / trans.sum(axis=1, keepdims=True)
    return {"init": (init / init.sum()).tolist(), "trans": trans.tolist()}


def _seq_problem(domains: list[dict], experts: list[dict] | None, lam: np.ndarray, T0: int) -> RobustProblem:
    from .jsd_gap import MarkovChain, log_sequence_probs

    def law(c):
        p = np.exp(log_sequence_probs(MarkovChain.from_dict(c), T0)[-1])
        return p / p.sum()

    D = np.array([law(c) for c in domains])
    P = None if experts is None else np.array([law(c) for c in experts])
    return RobustProblem(D, P, Hull(lam[None, :]))


def _draw_markov(kind: str):
    """Draw for the JG families: ``random`` (Dirichlet rows, perfect experts), ``noisy`` (experts
    that mix each domain with noise), ``distinct`` (nearly deterministic, different transitions:
    the posterior over domains settles fast) and ``boundary`` (shared transitions with different
    initial laws, exact zeros, duplicated domains, weights on a face)."""

    def draw(rng: np.random.Generator, K: int, n: int):
        V = int(rng.integers(2, 5))
        T0 = _seq_length(V, n)
        params: dict = {"V": V, "T0": T0, "T": SEQ_HORIZON, "chains": kind}
        if kind == "distinct":
            eps = float(rng.uniform(0.01, 0.2))
            trans = []
            for _ in range(K):
                tgt = rng.integers(0, V, size=V)
                tgt[0] = (tgt[0] + 1) % V if tgt[0] == 0 else tgt[0]  # leave state 0
                trans.append((1 - eps) * np.eye(V)[tgt] + eps * _rows(rng, V, V, 1.0))
            params["noise"] = eps
        elif kind == "boundary":
            variant = str(rng.choice(["shared", "sparse", "duplicate"]))
            params["variant"] = variant
            if variant == "shared":  # the same transition: only the first token tells the domains apart
                trans = [_rows(rng, V, V, 0.7)] * K
            elif variant == "sparse":  # exact zeros, irreducible through the cycle s -> s+1
                trans = []
                for _ in range(K):
                    a = rng.dirichlet(np.full(V, 0.5), size=V) * (rng.random((V, V)) < 0.5)
                    a[np.arange(V), (np.arange(V) + 1) % V] += rng.uniform(0.2, 1.0, size=V)
                    trans.append(a / a.sum(axis=1, keepdims=True))
            else:
                trans = [_rows(rng, V, V, 0.5) for _ in range(K - 1)]
                trans.append(trans[0])
        else:
            trans = [_rows(rng, V, V, 0.5) for _ in range(K)]
        stationary_start = kind in ("distinct",) or bool(rng.random() < 0.5)
        if kind == "boundary" and params["variant"] == "shared":
            stationary_start = False
        inits = [_stationary_rows(a) if stationary_start else rng.dirichlet(np.full(V, 0.7)) for a in trans]
        if kind == "boundary" and params["variant"] == "sparse" and not stationary_start:
            inits = [np.eye(V)[int(rng.integers(V))] for _ in range(K)]  # a point mass: zeros at t = 1
        params["start"] = "stationary" if stationary_start else "random"
        domains = [_chain_dict(i, a) for i, a in zip(inits, trans, strict=True)]
        experts = None
        if kind == "noisy":
            tau = rng.uniform(0.02, 0.4, size=K)
            experts = [_chain_dict((1 - tk) * np.asarray(c["init"]) + tk * rng.dirichlet(np.ones(V)),
                                   (1 - tk) * np.asarray(c["trans"]) + tk * _rows(rng, V, V, 1.0, 0.0))
                       for tk, c in zip(tau, domains, strict=True)]
            params["tau"] = tau.round(6).tolist()
        lam = rng.dirichlet(np.ones(K))
        if kind == "boundary" and rng.random() < 0.5:  # weights on a face of the simplex
            lam[int(rng.integers(K))] = 0.0
            lam /= lam.sum()
        params.update(lam=lam.tolist(), markov_domains=domains, markov_experts=experts, n=V ** T0)
        return params, (_seq_problem(domains, experts, lam, T0),)

    return draw


def _draw_gate(lam_kind: str):
    """Draw for the GB2 families: Dirichlet domains on ``n`` points, experts mixing each domain with
    noise (positive everywhere), a gate class ``softmax(W phi(x))`` with ``||W||_F <= B`` and
    features ``phi`` one-hot cells (``R = 1``) or centred expert log-likelihoods scaled to norm
    ``<= 1``, a total sample size ``M`` and sampling proportions."""

    def draw(rng: np.random.Generator, K: int, n: int):
        alpha = float(np.exp(rng.uniform(np.log(0.03), np.log(3.0))))
        D = dirichlet_domains(rng, K, n, alpha)
        tau = np.exp(rng.uniform(np.log(0.01), np.log(0.5), size=K))
        P = noisy_experts(rng, D, tau)
        if lam_kind == "simplex":
            sets: LambdaSet = Simplex(K)
        else:
            m = int(rng.integers(1, K + 2))
            sets = random_hull(rng, K, m)
        props = rng.dirichlet(np.full(K, 2.0))
        params = {"alpha": alpha, "tau": tau.round(6).tolist(), "Lambda": lam_kind,
                  "B": float(np.exp(rng.uniform(np.log(0.3), np.log(5.0)))),
                  "features": str(rng.choice(["cells", "loglik"])),
                  "cells": int(np.round(np.exp(rng.uniform(0.0, np.log(n))))),
                  "M": int(np.round(np.exp(rng.uniform(np.log(40), np.log(2000))))),
                  "proportions": (0.1 / K + 0.9 * props).tolist()}
        return params, (RobustProblem(D, P, sets),)

    return draw


_SEQUENCE_FAMILIES = [
    Family("markov", True, "hull", _draw_markov("random"), SEQ_N_RANGE,
           "Markov-chain domains (Dirichlet rows), perfect experts, lam a point", (2, 4)),
    Family("markov_noisy", False, "hull", _draw_markov("noisy"), SEQ_N_RANGE,
           "Markov-chain domains, experts mixing each domain with noise", (2, 4)),
    Family("markov_distinct", True, "hull", _draw_markov("distinct"), SEQ_N_RANGE,
           "nearly deterministic, distinct chains started stationary, perfect experts", (2, 4)),
    Family("markov_boundary", True, "hull", _draw_markov("boundary"), SEQ_N_RANGE,
           "shared transitions, exact zeros, duplicated domains, lam on a face", (2, 4), True),
    Family("gate_softmax", False, "simplex", _draw_gate("simplex"), (8, 256),
           "softmax-linear gate class (B, features), noisy experts, samples M", (2, 4)),
    Family("gate_softmax_hull", False, "hull", _draw_gate("hull"), (8, 256),
           "softmax-linear gate class, Lambda a hull (a point when m = 1)", (2, 4)),
]
#: the JG families (Markov chains) and the GB2 families (softmax-linear gates)
SEQUENCE_FAMILIES = tuple(f.name for f in _SEQUENCE_FAMILIES[:4])
GATE_FAMILIES = tuple(f.name for f in _SEQUENCE_FAMILIES[4:])
FAMILIES.update({f.name: f for f in _SEQUENCE_FAMILIES})
