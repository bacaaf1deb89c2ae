r"""Prior-knowledge sets :math:`\Lambda \subseteq \Delta_K` (SPEC section 1).

Four kinds are supported, each a frozen object with the same small interface:

``Simplex(K)``
    the whole simplex :math:`\Delta_K`;
``Box(lo, hi)``
    :math:`\{\lambda \in \Delta_K : lo \le \lambda \le hi\}`;
``Polytope(A, b)``
    :math:`\{\lambda \in \Delta_K : A\lambda \le b\}`;
``Hull(points)``
    the convex hull of given mixtures (rows of ``points``).

Interface: ``K``, ``kind``, ``contains(lam)``, ``vertices()`` (small K),
``maximize_linear(c)`` returning :math:`(\max_{\lambda\in\Lambda}\langle\lambda,c\rangle,
\arg\max)`, ``project(v)`` (Euclidean projection), ``inequalities()`` (an ``(A, b)``
description relative to the simplex) and ``to_dict()`` (the file keys of ``robust-gates solve``).
Empty sets and sets that leave the simplex are rejected at construction.
"""

from __future__ import annotations

import itertools
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
from scipy.optimize import linprog, minimize

from ._validate import as_float_array, check_finite

__all__ = [
    "LambdaSet",
    "Simplex",
    "Box",
    "Polytope",
    "Hull",
    "project_simplex",
    "lambda_from_dict",
]

MEMBERSHIP_TOL = 1e-9
_MAX_VERTEX_COMBINATIONS = 200_000


def project_simplex(v: np.ndarray) -> np.ndarray:
    """Euclidean projection onto the probability simplex (sort-based, exact)."""
    v = np.asarray(v, dtype=np.float64)
    return _project_clip_shift(v, np.zeros_like(v), np.ones_like(v))


def _project_clip_shift(v: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Solve ``sum(clip(v - tau, lo, hi)) = 1`` for ``tau`` exactly and return the point.

    This is the Euclidean projection of ``v`` onto ``{lo <= lam <= hi, sum lam = 1}``
    (assumed non-empty). ``f(tau) = sum clip(v - tau, lo, hi)`` is continuous,
    piecewise linear and non-increasing, with breakpoints ``v - hi`` and ``v - lo``.
    """
    bps = np.unique(np.concatenate([v - hi, v - lo]))

    def f(tau: float) -> float:
        return float(np.clip(v - tau, lo, hi).sum())

    # f(bps[0]) = sum(hi) >= 1 >= sum(lo) = f(bps[-1]); find the piece containing the root.
    i, j = 0, len(bps) - 1
    while j - i > 1:
        mid = (i + j) // 2
        if f(bps[mid]) >= 1.0:
            i = mid
        else:
            j = mid
    t0, t1 = bps[i], bps[j]
    f0, f1 = f(t0), f(t1)
    tau = t0 if f0 == f1 else t0 + (f0 - 1.0) * (t1 - t0) / (f0 - f1)
    return np.clip(v - tau, lo, hi)


class LambdaSet(ABC):
    """A non-empty closed convex subset of the simplex Delta_K."""

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
        lam = np.asarray(lam, dtype=np.float64)
        if lam.shape != (self.K,) or not np.all(np.isfinite(lam)):
            return False
        if lam.min() < -tol or abs(lam.sum() - 1.0) > tol:
            return False
        A, b = self.inequalities()
        return bool(A.shape[0] == 0 or np.all(A @ lam <= b + tol))

    def maximize_linear(self, c: np.ndarray) -> tuple[float, np.ndarray]:
        """``max_{lam in Lambda} <lam, c>`` and a maximizer (LP; exact for each kind)."""
        c = self._check_c(c)
        A, b = self.inequalities()
        res = linprog(
            -c, A_ub=A if A.shape[0] else None, b_ub=b if A.shape[0] else None,
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

    def _check_c(self, c: np.ndarray) -> np.ndarray:
        c = np.asarray(c, dtype=np.float64)
        if c.shape != (self.K,):
            raise ValueError(f"the linear objective must have shape ({self.K},); got {c.shape}")
        if np.isnan(c).any():
            raise ValueError("the linear objective contains NaN")
        return c


def _linear_max_with_inf(lset: LambdaSet, c: np.ndarray) -> tuple[float, np.ndarray] | None:
    """Handle +inf entries of ``c``: the max is +inf iff some lam in the set weighs them."""
    inf = np.isposinf(c)
    if not inf.any():
        return None
    val, lam = lset.maximize_linear(inf.astype(np.float64))
    if val > 0:
        return float("inf"), lam
    finite = np.where(inf, 0.0, c)
    return lset.maximize_linear(finite)


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

    def maximize_linear(self, c):
        c = self._check_c(c)
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

    def maximize_linear(self, c):
        c = self._check_c(c)
        lam = self.lo.copy()
        rest = 1.0 - lam.sum()
        for k in np.argsort(-c, kind="stable"):
            add = min(rest, self.hi[k] - self.lo[k])
            lam[k] += add
            rest -= add
            if rest <= 0:
                break
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

    def maximize_linear(self, c):
        """LP (HiGHS), then the best enumerated vertex when there are few (exact to rounding).

        HiGHS stops within its optimality tolerance (about 1e-7 relative), which can pick a
        vertex that is ~1e-9 short of the maximum; certificates at 1e-9 need better.
        """
        val, lam = super().maximize_linear(c)
        V = self._vertex_cache
        if V is not None and V.shape[0]:
            vals = V @ self._check_c(c)
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
        neg = pts < -MEMBERSHIP_TOL
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

    def maximize_linear(self, c):
        c = self._check_c(c)
        vals = self.points @ c
        i = int(np.argmax(vals))
        return float(vals[i]), self.points[i].copy()

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


def lambda_from_dict(d: dict, K: int) -> LambdaSet:
    """Build a Lambda set from problem-file keys (``box_lo``/``box_hi``, ``A``/``b``, ``vertices``)."""
    kinds = [name for name, keys in (("box", ("box_lo", "box_hi")), ("polytope", ("A", "b")),
                                     ("hull", ("vertices",))) if any(k in d for k in keys)]
    if len(kinds) > 1:
        raise ValueError(f"give at most one Lambda description; found keys for {kinds}")
    if not kinds:
        return Simplex(K)
    kind = kinds[0]
    if kind == "box":
        if "box_lo" not in d or "box_hi" not in d:
            raise ValueError("a box Lambda needs both box_lo and box_hi")
        lset: LambdaSet = Box(d["box_lo"], d["box_hi"])
    elif kind == "polytope":
        if "A" not in d or "b" not in d:
            raise ValueError("a polytope Lambda needs both A and b")
        lset = Polytope(d["A"], d["b"])
    else:
        lset = Hull(d["vertices"])
    return lset
