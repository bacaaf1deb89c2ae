r"""Prior-knowledge sets :math:`\Lambda \subseteq \Delta_K` (SPEC section 1).

Five kinds, each a frozen object (problem-file keys in brackets):

``Simplex(K)``
    the whole simplex :math:`\Delta_K` (no keys);
``Box(lo, hi)``
    :math:`\{\lambda \in \Delta_K : lo \le \lambda \le hi\}` (``box_lo``, ``box_hi``);
``Polytope(A, b)``
    :math:`\{\lambda \in \Delta_K : A\lambda \le b\}` (``A``, ``b``);
``Hull(points)``
    the convex hull of given mixtures, the rows of ``points`` (``vertices``);
``TVBall(center, radius)``
    the total-variation ball around a prior mixture ``p = center``,
    :math:`\{\lambda \in \Delta_K : \mathrm{TV}(\lambda, p) = \tfrac12\|\lambda - p\|_1 \le r\}`
    (``tv_center``, ``tv_radius``).

Every kind answers the same questions, so that no algorithm needs to know which kind it has:

``contains(lam, tol)``
    membership, to within ``tol`` in every constraint;
``maximize_linear(c)``
    :math:`(\max_{\lambda\in\Lambda}\langle\lambda, c\rangle, \arg\max)`; entries of ``c`` may be
    ``+inf`` (a loss of a domain the model does not cover): the maximum is ``+inf`` iff some
    :math:`\lambda \in \Lambda` puts positive weight on such an entry, and otherwise it is the
    maximum with those entries read as ``0`` (they can only meet a zero weight);
``vertices()`` / ``generators()``
    the extreme points / a cheap finite set whose convex hull is :math:`\Lambda` (the vertices,
    or the given points of a hull);
``project(v)``
    Euclidean projection :math:`\arg\min_{\lambda\in\Lambda}\|\lambda - v\|_2`;
``support()``
    the coordinates ``k`` some :math:`\lambda \in \Lambda` weighs (:math:`\lambda_k > 0`);
``parametrization()``
    a lifted polyhedral description :math:`\Lambda = \{Bx : x \in \Delta_m,\ Gx \le h\}` (see
    :class:`Parametrization`), the one form the Newton solver, the conic programs and the LP duals
    of :math:`\max_{\Lambda}` are written in;
``ascent_chart()``
    coordinates for first-order (projected or mirror) ascent on :math:`\Lambda` (see
    :class:`AscentChart`);
``inequalities()``
    an ``(A, b)`` description :math:`\{\lambda \in \Delta_K : A\lambda \le b\}`;
``to_dict()``
    the problem-file keys (:func:`lambda_from_dict` reads them back; :data:`LAMBDA_KEYS` lists
    every key).

A new kind subclasses :class:`LambdaSet`, implements ``K``, ``inequalities`` and ``to_dict``, and
overrides whichever answers it can give faster or more exactly than the generic ones (linear
programs, vertex enumeration, SLSQP projection). Empty sets and sets that leave the simplex are
rejected at construction.
"""

from __future__ import annotations

import itertools
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
from scipy.optimize import brentq, linprog, minimize

from ._validate import as_float_array, check_finite

__all__ = [
    "weights_face",
    "LambdaSet",
    "Simplex",
    "Box",
    "Polytope",
    "Hull",
    "TVBall",
    "Parametrization",
    "AscentChart",
    "project_simplex",
    "capped_simplex_argmax",
    "lambda_from_dict",
    "LAMBDA_KEYS",
    "MEMBERSHIP_TOL",
]

MEMBERSHIP_TOL = 1e-9
_MAX_VERTEX_COMBINATIONS = 200_000
#: a coordinate maximizer weighing a coordinate by more than this puts it in the support
#: (the linear programs of a polytope return exact zeros only up to their tolerance)
_SUPPORT_TOL = 1e-12


def project_simplex(v: np.ndarray) -> np.ndarray:
    """Euclidean projection onto the probability simplex, exact (``clip(v - tau, 0, 1)`` with
    ``tau`` found on the breakpoints of a piecewise-linear equation; see below)."""
    v = np.asarray(v, dtype=np.float64)
    return _project_clip_shift(v, np.zeros_like(v), np.ones_like(v))


def capped_simplex_argmax(c: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    r"""A maximizer of :math:`\langle c, x\rangle` over :math:`\{lo \le x \le hi,\ \mathbf 1^\top x = 1\}`
    (assumed non-empty: :math:`\mathbf 1^\top lo \le 1 \le \mathbf 1^\top hi`).

    A fractional knapsack, solved greedily: start at ``lo`` and pour the remaining mass
    :math:`1 - \mathbf 1^\top lo` into the coordinates of largest ``c`` first, each up to ``hi``
    (ties in the order of the coordinates). It is the linear maximization over a :class:`Box`, and
    its negation the linear minimization over the envelope set ``Q = {l <= q <= u, sum q = 1}`` of
    the best response (:func:`robust_gates.theory.programs.best_response_certified`).
    """
    x = np.array(lo, dtype=np.float64)
    rest = 1.0 - x.sum()
    for k in np.argsort(-np.asarray(c, dtype=np.float64), kind="stable"):
        add = min(rest, hi[k] - lo[k])
        x[k] += add
        rest -= add
        if rest <= 0:
            break
    return x


def _project_clip_shift(v: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Solve ``sum(clip(v - tau, lo, hi)) = 1`` for ``tau`` exactly and return the point.

    This is the Euclidean projection of ``v`` onto ``{lo <= lam <= hi, sum lam = 1}``
    (assumed non-empty). ``f(tau) = sum clip(v - tau, lo, hi)`` is continuous,
    piecewise linear and non-increasing, with breakpoints ``v - hi`` and ``v - lo``.
    """
    bps = np.unique(np.concatenate([v - hi, v - lo]))

    def f(tau: float) -> float:
        return float(np.clip(v - tau, lo, hi).sum())

    return np.clip(v - _unit_level(f, bps), lo, hi)


def _unit_level(f: Callable[[float], float], bps: np.ndarray) -> float:
    """``tau`` with ``f(tau) = 1`` for ``f`` continuous, non-increasing and linear between the
    sorted breakpoints ``bps``, with ``f(bps[0]) >= 1 >= f(bps[-1])``: bisection on the
    breakpoints finds the piece holding the root, then the root is read off that line."""
    i, j = 0, len(bps) - 1
    while j - i > 1:
        mid = (i + j) // 2
        if f(bps[mid]) >= 1.0:
            i = mid
        else:
            j = mid
    t0, t1 = bps[i], bps[j]
    f0, f1 = f(t0), f(t1)
    return t0 if f0 == f1 else t0 + (f0 - 1.0) * (t1 - t0) / (f0 - f1)


@dataclass(frozen=True, eq=False)
class Parametrization:
    r"""A lifted polyhedral description :math:`\Lambda = \{Bx : x \in \Delta_m,\ Gx \le h\}`.

    ``B`` (``K x m``, columns in :math:`\Delta_K`) maps weights :math:`x` on a simplex
    :math:`\Delta_m` to mixtures; ``B = None`` stands for the identity (``x = lam``, ``m = K``).
    ``G`` (``r x m``) and ``h`` (``r``) are the extra inequalities on the weights (``r = 0``: the
    weights range over the whole simplex). ``x0`` is a feasible start whose mixture ``B x0``
    weighs every coordinate in the set's :meth:`LambdaSet.support` (so every loss a mixture of
    :math:`\Lambda` can meet is finite there whenever any is).

    Everything that optimizes over :math:`\Lambda` with more than projections uses this form:
    a linear function :math:`\langle\lambda, c\rangle` is :math:`\langle x, B^\top c\rangle`,
    a Hessian :math:`H` in :math:`\lambda` is :math:`B^\top H B` in :math:`x`, and the LP dual of
    :math:`\max_{\lambda\in\Lambda}\langle\lambda,c\rangle` is

    .. math:: \min_{\mu,\ y \ge 0}\ \mu + h^\top y \quad\text{s.t.}\quad
              B^\top c \le \mu\mathbf 1 + G^\top y,

    whose constraint multipliers are a maximizing :math:`x` (and :math:`Bx` a maximizing mixture).
    Examples: the simplex ``(None, [], [])``; a polytope ``(None, A, b)``; a hull of points ``V``
    (rows) ``(V^T, [], [])``; a total-variation ball (:class:`TVBall`) a lift with ``m <= 2K``.
    """

    B: np.ndarray | None
    G: np.ndarray
    h: np.ndarray
    x0: np.ndarray

    @property
    def m(self) -> int:
        """Number of weights ``x``."""
        return int(self.x0.shape[0])

    @property
    def whole_simplex(self) -> bool:
        """``True`` when there are no extra inequalities: the weights range over all of
        :math:`\\Delta_m` and :math:`\\Lambda` is the convex hull of the columns of ``B``."""
        return self.G.shape[0] == 0

    def mixture(self, x: np.ndarray) -> np.ndarray:
        """``lam = B x``."""
        return x if self.B is None else self.B @ x

    def pullback(self, c: np.ndarray) -> np.ndarray:
        """A linear function of ``lam`` in the weights: ``B^T c``."""
        return c if self.B is None else self.B.T @ c


@dataclass(frozen=True, eq=False)
class AscentChart:
    r"""Coordinates for first-order ascent on :math:`\Lambda`: :math:`\lambda = Bx`, ``x in X``.

    When ``simplex`` is true, ``X`` is a whole simplex :math:`\Delta_m` (``B`` maps it onto
    :math:`\Lambda`; ``None`` is the identity): the Euclidean projection onto ``X`` is the exact
    :func:`project_simplex`, and an exponentiated (mirror) step
    :math:`x \propto x\, e^{\eta g}` stays in ``X`` without any projection. Otherwise
    ``x = lam``, ``X = Lambda``, and :meth:`project` returns a point of :math:`\Lambda`
    unchanged and projects any other (:meth:`LambdaSet.project`).
    """

    B: np.ndarray | None
    x0: np.ndarray
    simplex: bool
    lambda_set: LambdaSet = field(repr=False)

    def mixture(self, x: np.ndarray) -> np.ndarray:
        """``lam = B x``."""
        return x if self.B is None else self.B @ x

    def pullback(self, g: np.ndarray) -> np.ndarray:
        """A gradient in ``lam`` as a gradient in ``x``: ``B^T g``."""
        return g if self.B is None else self.B.T @ g

    def project(self, v: np.ndarray) -> np.ndarray:
        """Euclidean projection onto ``X``."""
        if self.simplex:
            return project_simplex(v)
        Lam = self.lambda_set
        return v if Lam.contains(v, tol=0.0) else Lam.project(v)


class LambdaSet(ABC):
    """A non-empty closed convex subset of the simplex Delta_K (interface: module docstring)."""

    kind: str = "abstract"

    @property
    @abstractmethod
    def K(self) -> int: ...

    @abstractmethod
    def inequalities(self) -> tuple[np.ndarray, np.ndarray]:
        """``(A, b)`` such that the set is ``{lam in Delta_K : A lam <= b}``."""

    @abstractmethod
    def to_dict(self) -> dict:
        """The keys this set has in a problem file (``box_lo``/``box_hi``, ``A``/``b``, ...)."""

    def contains(self, lam: np.ndarray, tol: float = MEMBERSHIP_TOL) -> bool:
        """Whether ``lam`` is in the set, to within ``tol`` in every constraint."""
        lam = np.asarray(lam, dtype=np.float64)
        if not _in_simplex(lam, self.K, tol):
            return False
        A, b = self.inequalities()
        return bool(A.shape[0] == 0 or np.all(A @ lam <= b + tol))

    def maximize_linear(self, c: np.ndarray) -> tuple[float, np.ndarray]:
        """``max_{lam in Lambda} <lam, c>`` and a maximizer; ``+inf`` entries as in the module
        docstring (one extra maximization of the indicator of the infinite entries)."""
        c = self._check_c(c)
        inf = np.isposinf(c)
        if inf.any():
            val, lam = self._maximize_finite(inf.astype(np.float64))
            if val > 0:
                return float("inf"), lam
            c = np.where(inf, 0.0, c)
        return self._maximize_finite(c)

    def _maximize_finite(self, c: np.ndarray) -> tuple[float, np.ndarray]:
        """``maximize_linear`` for a finite ``c``: the LP over the inequalities (HiGHS).

        The objective is shifted and scaled to the range ``[0, 1]`` (the maximizer is unchanged
        on the simplex) and solved with tight feasibility tolerances: with HiGHS's defaults (1e-7
        on reduced costs) losses that differ by ~1e-9 stopped at a vertex 3e-9 below the maximum,
        so a certificate's primal fell below ``V`` (issue #21, sweep polytope 0-597067487-684)."""
        A, b = self.inequalities()
        lo, span = float(np.min(c)), float(np.ptp(c))
        cs = (c - lo) / span if span > 0 else np.zeros_like(c)
        res = linprog(
            -cs, A_ub=A if A.shape[0] else None, b_ub=b if A.shape[0] else None,
            A_eq=np.ones((1, self.K)), b_eq=[1.0], bounds=(0, None), method="highs",
            options={"primal_feasibility_tolerance": 1e-10, "dual_feasibility_tolerance": 1e-10},
        )
        if res.status != 0:  # the tight tolerances not met: HiGHS's own defaults
            res = linprog(
                -cs, A_ub=A if A.shape[0] else None, b_ub=b if A.shape[0] else None,
                A_eq=np.ones((1, self.K)), b_eq=[1.0], bounds=(0, None), method="highs",
            )
        if res.status != 0:
            raise RuntimeError(f"linear maximization over {self!r} failed: {res.message}")
        lam = np.clip(res.x, 0.0, None)
        lam /= lam.sum()
        return float(lam @ c), lam

    def vertices(self) -> np.ndarray:
        """Extreme points, one per row (enumerated; meant for small K)."""
        A, b = self.inequalities()
        return _enumerate_vertices(A, b, self.K)

    def generators(self) -> np.ndarray:
        """Points of the set (rows) whose convex hull is the set, so that
        ``max_Lambda <lam, c> = max_i <points_i, c>``; the vertices unless a kind knows a cheaper
        generating set."""
        return self.vertices()

    def project(self, v: np.ndarray) -> np.ndarray:
        """Euclidean projection of ``v`` onto the set (SLSQP on the small QP, then verified)."""
        v = np.asarray(v, dtype=np.float64)
        A, b = self.inequalities()
        x0 = project_simplex(v)
        cons = [{"type": "eq", "fun": lambda x: x.sum() - 1.0, "jac": lambda x: np.ones_like(x)}]
        if A.shape[0]:
            cons.append({"type": "ineq", "fun": lambda x: b - A @ x, "jac": lambda x: -A})
        res = minimize(
            lambda x: 0.5 * np.sum((x - v) ** 2), x0, jac=lambda x: x - v, method="SLSQP",
            bounds=[(0.0, 1.0)] * self.K, constraints=cons,
            options={"ftol": 1e-15, "maxiter": 500},
        )
        lam = np.clip(res.x, 0.0, None)
        lam /= lam.sum()
        if not self.contains(lam, tol=1e-8):
            raise RuntimeError(f"projection onto {self!r} failed: {res.message}")
        return lam

    def support(self) -> np.ndarray:
        """Boolean mask of the coordinates ``k`` with ``max_Lambda lam_k > 0``."""
        return self._coordinate_maximizers.max(axis=0) > _SUPPORT_TOL

    def parametrization(self) -> Parametrization:
        """The lifted description of :class:`Parametrization`; by default ``x = lam`` with the
        set's inequalities, started at the mean of the ``K`` coordinate maximizers
        ``argmax_Lambda lam_k`` (a point of the set weighing every coordinate of the support)."""
        A, b = self.inequalities()
        return Parametrization(B=None, G=A, h=b, x0=self._coordinate_maximizers.mean(axis=0))

    def ascent_chart(self) -> AscentChart:
        """Coordinates for projected or mirror ascent (:class:`AscentChart`): the weights of
        :meth:`parametrization` when they range over a whole simplex (started uniform), else
        ``lam`` itself, started at the projection of the uniform mixture."""
        par = self.parametrization()
        if par.whole_simplex:
            return AscentChart(B=par.B, x0=np.full(par.m, 1.0 / par.m), simplex=True, lambda_set=self)
        u = np.full(self.K, 1.0 / self.K)
        x0 = u if self.contains(u) else self.project(u)
        return AscentChart(B=None, x0=x0, simplex=False, lambda_set=self)

    @cached_property
    def _coordinate_maximizers(self) -> np.ndarray:
        """Row ``k``: a maximizer of ``lam_k`` over the set."""
        return np.array([self.maximize_linear(np.eye(self.K)[k])[1] for k in range(self.K)])

    def _check_c(self, c: np.ndarray) -> np.ndarray:
        c = np.asarray(c, dtype=np.float64)
        if c.shape != (self.K,):
            raise ValueError(f"the linear objective must have shape ({self.K},); got {c.shape}")
        if np.isnan(c).any():
            raise ValueError("the linear objective contains NaN")
        if np.isneginf(c).any():
            raise ValueError("the linear objective contains -inf; entries must be real or +inf")
        return c


def _in_simplex(lam: np.ndarray, K: int, tol: float) -> bool:
    return bool(lam.shape == (K,) and np.all(np.isfinite(lam)) and lam.min() >= -tol
                and abs(lam.sum() - 1.0) <= tol)


@dataclass(frozen=True, eq=False)
class Simplex(LambdaSet):
    """The whole simplex Delta_K (no prior knowledge)."""

    dim: int
    kind: str = field(default="simplex", init=False)

    def __post_init__(self):
        if int(self.dim) != self.dim or self.dim < 1:
            raise ValueError(f"Simplex needs a positive integer dimension; got {self.dim!r}")

    @property
    def K(self) -> int:
        return int(self.dim)

    def inequalities(self):
        return np.zeros((0, self.K)), np.zeros(0)

    def to_dict(self) -> dict:
        return {}

    def _maximize_finite(self, c):
        k = int(np.argmax(c))
        lam = np.zeros(self.K)
        lam[k] = 1.0
        return float(c[k]), lam

    def vertices(self):
        return np.eye(self.K)

    def project(self, v):
        return project_simplex(v)

    def __repr__(self) -> str:
        return f"Simplex(K={self.K})"


@dataclass(frozen=True, eq=False)
class Box(LambdaSet):
    """``{lam in Delta_K : lo <= lam <= hi}`` with ``0 <= lo <= hi <= 1``."""

    lo: np.ndarray
    hi: np.ndarray
    kind: str = field(default="box", init=False)

    def __post_init__(self):
        lo = as_float_array(self.lo, "box_lo", 1)
        hi = as_float_array(self.hi, "box_hi", 1)
        if lo.shape != hi.shape:
            raise ValueError(f"box_lo has shape {lo.shape} but box_hi has shape {hi.shape}")
        check_finite(lo, "box_lo")
        check_finite(hi, "box_hi")
        for name, arr in (("box_lo", lo), ("box_hi", hi)):
            bad = (arr < 0) | (arr > 1)
            if bad.any():
                k = int(np.argmax(bad))
                raise ValueError(
                    f"{name}[{k}] = {arr[k]:.6g} is outside [0, 1]; a box of mixture weights "
                    "must lie in the simplex"
                )
        if (lo > hi).any():
            k = int(np.argmax(lo > hi))
            raise ValueError(f"the box is empty: box_lo[{k}] = {lo[k]:.6g} > box_hi[{k}] = {hi[k]:.6g}")
        if lo.sum() > 1 + MEMBERSHIP_TOL:
            raise ValueError(f"the box misses the simplex: sum(box_lo) = {lo.sum():.6g} > 1")
        if hi.sum() < 1 - MEMBERSHIP_TOL:
            raise ValueError(f"the box misses the simplex: sum(box_hi) = {hi.sum():.6g} < 1")
        object.__setattr__(self, "lo", lo)
        object.__setattr__(self, "hi", hi)

    @property
    def K(self) -> int:
        return int(self.lo.shape[0])

    def inequalities(self):
        eye = np.eye(self.K)
        return np.vstack([eye, -eye]), np.concatenate([self.hi, -self.lo])

    def to_dict(self) -> dict:
        return {"box_lo": self.lo.tolist(), "box_hi": self.hi.tolist()}

    def contains(self, lam, tol=MEMBERSHIP_TOL):
        lam = np.asarray(lam, dtype=np.float64)
        if lam.shape != (self.K,) or not np.all(np.isfinite(lam)):
            return False
        return bool(
            abs(lam.sum() - 1) <= tol and np.all(lam >= self.lo - tol) and np.all(lam <= self.hi + tol)
            and lam.min() >= -tol
        )

    def _maximize_finite(self, c):
        lam = capped_simplex_argmax(c, self.lo, self.hi)
        return float(lam @ c), lam

    def vertices(self):
        K = self.K
        pts = []
        for j in range(K):
            others = [k for k in range(K) if k != j]
            for bits in itertools.product((0, 1), repeat=K - 1):
                lam = np.empty(K)
                for k, bit in zip(others, bits, strict=True):
                    lam[k] = self.hi[k] if bit else self.lo[k]
                lam[j] = 1.0 - lam[others].sum()
                if self.lo[j] - MEMBERSHIP_TOL <= lam[j] <= self.hi[j] + MEMBERSHIP_TOL:
                    pts.append(np.clip(lam, self.lo, self.hi))
        return _unique_rows(np.array(pts))

    def project(self, v):
        return _project_clip_shift(np.asarray(v, dtype=np.float64), self.lo, self.hi)

    def __repr__(self) -> str:
        return f"Box(lo={np.round(self.lo, 4).tolist()}, hi={np.round(self.hi, 4).tolist()})"


@dataclass(frozen=True, eq=False)
class Polytope(LambdaSet):
    """``{lam in Delta_K : A lam <= b}``; rejected when empty."""

    A: np.ndarray
    b: np.ndarray
    kind: str = field(default="polytope", init=False)

    def __post_init__(self):
        A = as_float_array(self.A, "A", 2)
        b = as_float_array(self.b, "b", 1)
        if A.shape[0] != b.shape[0]:
            raise ValueError(f"A has {A.shape[0]} rows but b has {b.shape[0]} entries")
        check_finite(A, "A")
        check_finite(b, "b")
        if A.shape[1] < 1:
            raise ValueError("A must have one column per domain")
        object.__setattr__(self, "A", A)
        object.__setattr__(self, "b", b)
        res = linprog(
            np.zeros(self.K), A_ub=A if A.shape[0] else None, b_ub=b if A.shape[0] else None,
            A_eq=np.ones((1, self.K)), b_eq=[1.0], bounds=(0, None), method="highs",
        )
        if res.status == 2:
            raise ValueError("the polytope {lam in simplex : A lam <= b} is empty")
        if res.status != 0:
            raise RuntimeError(f"could not decide whether the polytope is empty: {res.message}")

    @property
    def K(self) -> int:
        return int(self.A.shape[1])

    def inequalities(self):
        return self.A, self.b

    def to_dict(self) -> dict:
        return {"A": self.A.tolist(), "b": self.b.tolist()}

    @cached_property
    def _vertex_cache(self) -> np.ndarray | None:
        try:
            return self.vertices()
        except ValueError:  # too many active sets to enumerate
            return None

    def _maximize_finite(self, c):
        """LP (HiGHS), then the best enumerated vertex when there are few (exact to rounding).

        HiGHS stops within its optimality tolerance (about 1e-7 relative), which can pick a
        vertex that is ~1e-9 short of the maximum; certificates at 1e-9 need better.
        """
        val, lam = super()._maximize_finite(c)
        V = self._vertex_cache
        if V is not None and V.shape[0]:
            vals = V @ c
            i = int(np.argmax(vals))
            if vals[i] > val:
                val, lam = float(vals[i]), V[i].copy()
        return val, lam

    def __repr__(self) -> str:
        return f"Polytope(K={self.K}, m={self.A.shape[0]})"


@dataclass(frozen=True, eq=False)
class Hull(LambdaSet):
    """Convex hull of given mixtures (rows of ``points``, each in the simplex)."""

    points: np.ndarray
    kind: str = field(default="hull", init=False)

    def __post_init__(self):
        pts = as_float_array(self.points, "vertices", 2)
        if pts.shape[0] == 0:
            raise ValueError("the hull is empty: give at least one mixture in vertices")
        check_finite(pts, "vertices")
        neg = pts < 0  # exactly: a slightly negative weight is not a mixture (the solvers need one)
        if neg.any():
            i, k = (int(t) for t in np.argwhere(neg)[0])
            raise ValueError(
                f"vertices[{i}, {k}] = {pts[i, k]:.6g} is negative; hull points must be mixtures "
                "in the simplex"
            )
        sums = pts.sum(axis=1)
        off = np.abs(sums - 1)
        if (off > MEMBERSHIP_TOL).any():
            i = int(np.argmax(off > MEMBERSHIP_TOL))
            raise ValueError(
                f"row {i} of vertices sums to {sums[i]:.12g}; hull points must be mixtures in "
                "the simplex"
            )
        object.__setattr__(self, "points", pts)

    @property
    def K(self) -> int:
        return int(self.points.shape[1])

    @cached_property
    def _ineq(self) -> tuple[np.ndarray, np.ndarray]:
        return _hull_to_inequalities(self.vertices())

    def inequalities(self):
        return self._ineq

    def to_dict(self) -> dict:
        return {"vertices": self.points.tolist()}

    def contains(self, lam, tol=MEMBERSHIP_TOL):
        lam = np.asarray(lam, dtype=np.float64)
        if lam.shape != (self.K,) or not np.all(np.isfinite(lam)):
            return False
        # lam in hull iff min ||V^T w - lam||_inf over w in simplex is ~0 (an LP).
        m = self.points.shape[0]
        K = self.K
        # variables (w, s): minimize s subject to -s <= V^T w - lam <= s, sum w = 1, w >= 0
        c = np.r_[np.zeros(m), 1.0]
        VT = self.points.T
        A_ub = np.block([[VT, -np.ones((K, 1))], [-VT, -np.ones((K, 1))]])
        b_ub = np.r_[lam, -lam]
        res = linprog(c, A_ub=A_ub, b_ub=b_ub, A_eq=np.r_[np.ones(m), 0.0][None, :], b_eq=[1.0],
                      bounds=(0, None), method="highs")
        return bool(res.status == 0 and res.fun <= tol)

    def _maximize_finite(self, c):
        vals = self.points @ c
        i = int(np.argmax(vals))
        return float(vals[i]), self.points[i].copy()

    def generators(self):
        """The given points (interior and repeated ones included; no pruning LPs)."""
        return self.points

    def support(self):
        return self.points.max(axis=0) > 0

    def parametrization(self):
        """Weights on the given points: ``lam = V^T w``, ``w`` in the whole simplex, started uniform."""
        m = self.points.shape[0]
        return Parametrization(B=self.points.T.copy(), G=np.zeros((0, m)), h=np.zeros(0),
                               x0=np.full(m, 1.0 / m))

    def vertices(self):
        pts = _unique_rows(self.points)
        keep = []
        for i in range(pts.shape[0]):
            others = np.delete(pts, i, axis=0)
            if others.shape[0] == 0 or not Hull(others).contains(pts[i], tol=1e-12):
                keep.append(i)
        return pts[keep]

    def project(self, v):
        v = np.asarray(v, dtype=np.float64)
        V = self.points
        m = V.shape[0]
        res = minimize(
            lambda w: 0.5 * np.sum((V.T @ w - v) ** 2), np.full(m, 1.0 / m),
            jac=lambda w: V @ (V.T @ w - v), method="SLSQP", bounds=[(0.0, 1.0)] * m,
            constraints=[{"type": "eq", "fun": lambda w: w.sum() - 1.0}],
            options={"ftol": 1e-15, "maxiter": 500},
        )
        w = np.clip(res.x, 0.0, None)
        w /= w.sum()
        return V.T @ w

    def __repr__(self) -> str:
        return f"Hull(K={self.K}, points={self.points.shape[0]})"


@dataclass(frozen=True, eq=False)
class TVBall(LambdaSet):
    r"""Mixtures within total variation ``radius`` of a prior mixture ``center``:
    :math:`\{\lambda \in \Delta_K : \tfrac12\|\lambda - p\|_1 \le r\}` (``p = center``,
    ``r = radius``; ``r >= 1`` is the whole simplex, ``r = 0`` the single point ``p``).

    Polyhedral, with the answers computed in closed form or by one-dimensional root finding:

    * linear maximization is greedy: move mass :math:`t = \min(r, 1 - p_j)` to the best
      coordinate :math:`j = \arg\max_k c_k`, taking it from the worst coordinates first;
    * every vertex is such a greedy move for some order of the coordinates,
      :math:`p + t e_j - p_F - (t - p(F)) e_i` (the set ``F`` emptied, ``i`` partly);
    * on the simplex :math:`\mathrm{TV}(\lambda, p) = \sum_k (\lambda_k - p_k)^+
      = \max_S \lambda(S) - p(S)`, so the inequalities are
      :math:`\lambda(S) \le p(S) + r` for every proper subset ``S`` (:math:`2^K - 2` rows, small
      ``K`` only), and the lift :math:`\lambda = y + z`, :math:`(y, z) \in \Delta_{2K}`,
      :math:`y \le p`, :math:`\mathbf 1^\top z \le r` (``y = min(lam, p)``,
      ``z = (lam - p)^+``) describes it with ``K + 1`` rows for any ``K``
      (:meth:`parametrization`);
    * the Euclidean projection minimizes
      :math:`\tfrac12\|\lambda - v\|^2 + \kappa\|\lambda - p\|_1` over the simplex: coordinate-wise
      :math:`\lambda_k = \max(0, p_k + S_\kappa(v_k - \tau - p_k))` (``S`` the soft threshold),
      ``tau`` exact on the breakpoints for each ``kappa``, and ``kappa >= 0`` the root of
      :math:`\mathrm{TV}(\lambda_\kappa, p) = r` (non-increasing in ``kappa``; ``kappa = 0``, the
      simplex projection, when that is already in the ball).
    """

    center: np.ndarray
    radius: float
    kind: str = field(default="tv_ball", init=False)

    def __post_init__(self):
        p = as_float_array(self.center, "tv_center", 1)
        check_finite(p, "tv_center")
        if p.shape[0] < 1:
            raise ValueError("tv_center must have one entry per domain")
        if p.min() < -MEMBERSHIP_TOL or abs(p.sum() - 1.0) > MEMBERSHIP_TOL:
            raise ValueError(
                f"tv_center = {np.round(p, 6).tolist()} is not a mixture; the centre of a "
                "total-variation ball must be a probability vector"
            )
        r = float(as_float_array(self.radius, "tv_radius", 0))
        if not (np.isfinite(r) and r >= 0):
            raise ValueError(f"tv_radius must be a finite number >= 0; got {r!r}")
        p = np.clip(p, 0.0, None)
        p = p / p.sum()
        p.flags.writeable = False
        object.__setattr__(self, "center", p)
        object.__setattr__(self, "radius", r)

    @property
    def K(self) -> int:
        return int(self.center.shape[0])

    def to_dict(self) -> dict:
        return {"tv_center": self.center.tolist(), "tv_radius": self.radius}

    def distance(self, lam: np.ndarray) -> float:
        """``TV(lam, center) = ||lam - center||_1 / 2``."""
        return 0.5 * float(np.abs(np.asarray(lam, dtype=np.float64) - self.center).sum())

    def contains(self, lam, tol=MEMBERSHIP_TOL):
        lam = np.asarray(lam, dtype=np.float64)
        return _in_simplex(lam, self.K, tol) and self.distance(lam) <= self.radius + tol

    def inequalities(self):
        K = self.K
        if K > 16:
            raise ValueError(f"the subset inequalities of a TV ball have 2^K - 2 rows; too many for "
                             f"K = {K} (use parametrization() instead)")
        S = np.array(list(itertools.product((0.0, 1.0), repeat=K)))[1:-1]
        return S, S @ self.center + self.radius

    def _maximize_finite(self, c):
        p = self.center
        j = int(np.argmax(c))
        lam = p.copy()
        budget = min(self.radius, 1.0 - p[j])
        for i in np.argsort(c, kind="stable"):
            if budget <= 0 or c[i] >= c[j]:
                break
            take = min(p[i], budget)
            lam[i] -= take
            lam[j] += take
            budget -= take
        return float(lam @ c), lam

    def vertices(self):
        K, p = self.K, self.center
        if K * 2 ** (K - 1) > _MAX_VERTEX_COMBINATIONS:
            raise ValueError(f"vertex enumeration of a TV ball visits K 2^(K-1) donor sets; too many "
                             f"for K = {K} (use maximize_linear instead)")
        pts = []
        for j in range(K):
            t = min(self.radius, 1.0 - p[j])
            if t <= 0:  # nothing can move to j: the greedy answer is the centre itself
                pts.append(p.copy())
                continue
            others = [k for k in range(K) if k != j]
            for bits in itertools.product((False, True), repeat=K - 1):
                F = [k for k, b in zip(others, bits, strict=True) if b]
                pF = float(p[F].sum())
                if pF > t + 1e-12:
                    continue
                base = p.copy()
                base[F] = 0.0
                base[j] += pF
                rest = t - pF
                if rest <= 1e-12:  # the emptied set alone carries the move
                    pts.append(base)
                for i in others:
                    if i not in F and p[i] >= rest - 1e-12:
                        lam = base.copy()
                        take = min(rest, p[i])
                        lam[i] -= take
                        lam[j] += take
                        pts.append(lam)
        pts = np.clip(np.array(pts), 0.0, None)
        return _unique_rows(pts / pts.sum(axis=1, keepdims=True))

    def project(self, v):
        v = np.asarray(v, dtype=np.float64)
        p, r = self.center, self.radius
        q = project_simplex(v)
        if self.distance(q) <= r:
            return q
        d = v - p

        def point(kappa: float) -> np.ndarray:
            def lam_at(tau: float) -> np.ndarray:
                s = d - tau
                return np.maximum(0.0, p + np.sign(s) * np.maximum(np.abs(s) - kappa, 0.0))

            bps = np.unique(np.concatenate([d - kappa, d + kappa, v + kappa]))
            return lam_at(_unit_level(lambda tau: float(lam_at(tau).sum()), bps))

        if r == 0:  # the ball is the single point p
            return p.copy()
        # at kappa_max every coordinate can sit at p_k: the penalized point is p itself
        kappa_max = 0.5 * float(d.max() - d.min()) + 1.0
        if self.distance(point(kappa_max)) >= r:  # p itself, up to rounding: no sign change
            return p.copy()
        kappa = brentq(lambda k: self.distance(point(k)) - r, 0.0, kappa_max, xtol=1e-15, rtol=1e-15,
                       maxiter=200)
        lam = point(kappa)
        return lam / lam.sum()

    def parametrization(self):
        """The lift ``lam = y + z`` of the class docstring, reduced so that no weight is pinned
        (pinned weights make the Newton solver's active sets degenerate): ``y_k`` only where
        ``p_k > 0``, so ``B = [I_S I]`` with ``S = supp(p)`` and rows ``y <= p_S``,
        ``sum z <= r``. The degenerate radii have their own exact forms: ``r = 0`` is the hull of
        the single point ``p``, and ``r >= 1 - min_k p_k`` (the largest distance from ``p`` to a
        vertex of the simplex) is the whole simplex. Started at the lift of the mean coordinate
        maximizer."""
        K, p, r = self.K, self.center, self.radius
        if r >= 1.0 - p.min():
            return Parametrization(B=None, G=np.zeros((0, K)), h=np.zeros(0), x0=np.full(K, 1.0 / K))
        if r == 0:
            return Parametrization(B=p.copy()[:, None], G=np.zeros((0, 1)), h=np.zeros(0), x0=np.ones(1))
        S = np.flatnonzero(p > 0)
        eye = np.eye(K)
        G = np.zeros((S.size + 1, S.size + K))
        G[np.arange(S.size), np.arange(S.size)] = 1.0
        G[S.size, S.size:] = 1.0
        lam0 = self._coordinate_maximizers.mean(axis=0)
        y0 = np.minimum(lam0[S], p[S])
        z0 = lam0.copy()
        z0[S] -= y0
        return Parametrization(B=np.hstack([eye[:, S], eye]), G=G, h=np.r_[p[S], r], x0=np.r_[y0, z0])

    def __repr__(self) -> str:
        return f"TVBall(center={np.round(self.center, 4).tolist()}, radius={self.radius:.4g})"


def _unique_rows(pts: np.ndarray, decimals: int = 12) -> np.ndarray:
    if pts.size == 0:
        return pts
    _, idx = np.unique(np.round(pts, decimals), axis=0, return_index=True)
    return pts[np.sort(idx)]


def _enumerate_vertices(A: np.ndarray, b: np.ndarray, K: int) -> np.ndarray:
    """Vertices of ``{lam >= 0, sum lam = 1, A lam <= b}`` by active-set enumeration."""
    G = np.vstack([A, -np.eye(K)]) if A.shape[0] else -np.eye(K)
    h = np.concatenate([b, np.zeros(K)]) if A.shape[0] else np.zeros(K)
    m = G.shape[0]
    from math import comb

    if comb(m, K - 1) > _MAX_VERTEX_COMBINATIONS:
        raise ValueError(
            f"vertex enumeration needs {comb(m, K - 1)} active sets; too many for K = {K} with "
            f"{A.shape[0]} inequalities (use maximize_linear instead)"
        )
    pts = []
    for rows in itertools.combinations(range(m), K - 1):
        M = np.vstack([G[list(rows)], np.ones((1, K))])
        rhs = np.r_[h[list(rows)], 1.0]
        if abs(np.linalg.det(M)) < 1e-12:
            continue
        lam = np.linalg.solve(M, rhs)
        if np.all(G @ lam <= h + 1e-9):
            pts.append(np.clip(lam, 0.0, None) / np.clip(lam, 0.0, None).sum())
    return _unique_rows(np.array(pts).reshape(-1, K))


def _hull_to_inequalities(V: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Facet inequalities ``A lam <= b`` of conv(V) relative to the simplex's affine hull."""
    from scipy.spatial import ConvexHull

    m, K = V.shape
    if m == 1:  # a single point: pin every coordinate
        eye = np.eye(K)
        return np.vstack([eye, -eye]), np.concatenate([V[0], -V[0]])
    # coordinates in the affine hull of the points
    centre = V.mean(axis=0)
    U, s, Wt = np.linalg.svd(V - centre, full_matrices=False)
    r = int((s > 1e-10 * max(1.0, s[0])).sum())
    basis = Wt[:r]  # r x K, orthonormal directions spanning aff(V) - centre
    # equalities: components orthogonal to the affine hull and to the all-ones direction
    ones = np.ones(K) / np.sqrt(K)
    span = np.vstack([basis, ones])
    _, s2, W2 = np.linalg.svd(span)
    rank2 = int((s2 > 1e-10).sum())
    normals = W2[rank2:]  # directions n with n . (lam - centre) = 0 on the hull
    A_rows = [normals, -normals]
    b_rows = [normals @ centre, -(normals @ centre)]
    if r == 1:
        z = (V - centre) @ basis[0]
        A_rows += [basis[0][None, :], -basis[0][None, :]]
        b_rows += [np.array([z.max() + basis[0] @ centre]), np.array([-(z.min() + basis[0] @ centre)])]
    elif r >= 2:
        Z = (V - centre) @ basis.T
        hull = ConvexHull(Z)
        for eq in hull.equations:  # eq[:-1] . z + eq[-1] <= 0
            a = eq[:-1] @ basis
            A_rows.append(a[None, :])
            b_rows.append(np.array([-eq[-1] + a @ centre]))
    return np.vstack(A_rows), np.concatenate(b_rows)


#: problem-file keys of each kind (all of a kind's keys are required; the simplex has none)
_FILE_KINDS: dict[str, tuple[tuple[str, ...], type[LambdaSet]]] = {
    "box": (("box_lo", "box_hi"), Box),
    "polytope": (("A", "b"), Polytope),
    "hull": (("vertices",), Hull),
    "TV-ball": (("tv_center", "tv_radius"), TVBall),
}
#: every problem-file key that describes Lambda
LAMBDA_KEYS = frozenset(k for keys, _ in _FILE_KINDS.values() for k in keys)


def lambda_from_dict(d: dict, K: int) -> LambdaSet:
    """Build a Lambda set from problem-file keys (``box_lo``/``box_hi``, ``A``/``b``, ``vertices``,
    ``tv_center``/``tv_radius``; none: the simplex on ``K`` domains)."""
    kinds = [name for name, (keys, _) in _FILE_KINDS.items() if any(k in d for k in keys)]
    if len(kinds) > 1:
        raise ValueError(f"give at most one Lambda description; found keys for {kinds}")
    if not kinds:
        return Simplex(K)
    keys, make = _FILE_KINDS[kinds[0]]
    missing = [k for k in keys if k not in d]
    if missing:
        raise ValueError(f"a {kinds[0]} Lambda needs both {' and '.join(keys)}; "
                         f"{', '.join(missing)} is missing")
    return make(*(d[k] for k in keys))


def weights_face(Lam: LambdaSet, zero: np.ndarray) -> LambdaSet | None:
    """The face of ``Lam`` where the weights ``x`` marked ``zero`` vanish (``x = lam`` for a simplex,
    box or polytope, the weights on the points for a hull); ``None`` for other kinds or when the
    weights cannot vanish there (a box with a positive lower bound). Used by the fast solver to
    re-solve a game on the face where weights the optimum drives to ~1e-90 are exactly 0."""
    keep = ~zero
    if isinstance(Lam, Simplex):
        return Box(np.zeros(Lam.dim), np.where(zero, 0.0, 1.0))
    if isinstance(Lam, Box):
        if np.any(Lam.lo[zero] > 0):
            return None
        return Box(Lam.lo, np.where(zero, 0.0, Lam.hi))
    if isinstance(Lam, Polytope):
        rows = np.eye(Lam.A.shape[1])[zero]
        return Polytope(np.vstack([Lam.A, rows]), np.concatenate([Lam.b, np.zeros(rows.shape[0])]))
    if isinstance(Lam, Hull):
        return Hull(Lam.points[keep])
    return None
