r"""Lean path of the fast solver when ``Lambda`` is the whole simplex (issue 17, items 2 and 3).

The general fast solver (:mod:`.fast`) serves every kind of ``Lambda`` through its
parametrization, a general active-set QP, a primal polish and the per-problem geometry. When
``Lambda`` is the simplex of mixtures (the generic parametrization with no inequalities) and
``K <= LEAN_MAX_K``, most of that machinery is idle, and its fixed cost dominates both ends of
the size range: a solve at ``K = 4, n = 50`` is a few hundred numpy calls on arrays of a few
hundred entries, and a solve at ``K = 16, n = 10^6`` is bounded by the number of reads of the
``K x n`` array ``D``. :func:`solve_lean` runs the same method (SPEC algorithm 2: regularized Newton
on the dual function ``phi`` with a backtracking line search) with less of both:

* the Newton step's QP over the simplex is the primal-dual active-set method on the
  ``(K + 1)``-square KKT system (:func:`simplex_qp`), accepted only at a verified KKT point;
* each evaluation is one product ``lam @ D``, the water-filling and one product ``D @ log q``;
* on large problems (``K n > SUBSAMPLE_ENTRIES``) the Hessian of ``phi`` is the exact Hessian of
  the terms of a fixed, spread set of column blocks (about ``HESSIAN_COLUMNS`` columns in blocks
  of ``_BLOCK``) scaled up to ``n``: a quasi-Newton matrix, negative semidefinite like the true
  one, for a fraction of a pass instead of ``K^2 n`` multiply-adds (at ``K = 16, n = 10^6`` the
  ascent takes one more evaluation than exact Newton, about what the exact Hessians would cost;
  the saving grows with ``K``). It serves up to ``LAG_STEPS`` more steps while full steps cut the
  gap by ``LAG_CUT``. The gradient and ``phi`` stay exact; a step that fails its line search is
  retried with a fresh Hessian, then with the exact one (chunked, no ``K x n`` temporary);
* the water-filling works in two preallocated length-``n`` buffers (on large problems in column
  chunks that stay in cache, the clipped points found in the same sweep), and on large problems an
  evaluation allocates only its ``q`` (``D_lam`` and ``log q`` share one scratch array, the
  Hessian reads ``D_lam = q / t`` off the free set; :class:`_Work`);
* the certificate is computed once, from the returned ``lam`` and gate only: the losses of the
  gate's own model ``P_g``, ``D @ log P_g``, and the Lagrangian lower bound on ``phi(lam)``,
  ``L(q_t, lam) + (sum q_t - 1) / t`` with ``q_t = clip(t D_lam, l, u)``, which bounds ``phi``
  from below at *every* level ``t > 0`` and equals it at the water-filling's level (as
  :func:`robust_gates.theory.best_response.phi_lower_bound`: a wrong level can widen the gap,
  never certify a wrong value). Small problems iterate a fresh water-filling to its level,
  started at the level the gate's model shows on a sample of points. Large problems evaluate
  the bound at that sampled level directly, in one read of ``D`` that also writes the gate, its
  model and its checks (column chunks that stay in cache between their products;
  ``sum_k lam_k CE(D_k, q_t)`` as the dot product ``-D_lam @ log q_t``;
  :func:`_gate_certificate`): one pass for gate and certificate, and the iterated water-filling
  runs only where that gap exceeds ``tol``;
* the ascent's last step does not get an evaluation of its own: where the rate of the last step
  says the next one ends the ascent (Newton's quadratic rate with the exact Hessian, a linear
  one with the subsampled), the full step is evaluated by :func:`_finish` (large problems) or
  :func:`_finish_small`, which write ``D_lam`` and its best response ``q`` as an evaluation does
  and then the gate of ``q`` and the certificate for it and the step's ``lam`` (the same bound,
  at the water-filling's level; on large problems in one read of ``D``). On large problems the
  losses ``D @ log q`` of an evaluation would only confirm what the certificate measures; if the
  certificate falls short of ``tol``, they are computed then and the ascent goes on;
* the gate is returned in its two-expert form
  (:class:`~robust_gates.theory.solvers.result.LazyGate`): its ``(K, n)`` array, 128 MB at
  ``K = 16, n = 10^6``, is written only when the caller asks for it.

The certificate is independent of the ascent's iterates: it sees only the returned ``lam``, the
gate (:class:`~robust_gates.theory.solvers.fast.TwoExpertGate`, whose model ``t l + s u`` is
recomputed from the gate) and, where the last step's finish makes it, the level at which it
evaluates its bound (a number: the bound holds at every level), and shares nothing with the
ascent but the entropies cached on the problem and ``D_lam = lam @ D`` of the returned ``lam``.
Anything unusual (a mass-deficient envelope, an infinite loss, a QP that does not verify, a line
search that finds nothing, ``max_iter`` reached) returns ``None`` and the caller runs the general
solver instead, so every result is certified below ``tol`` as before.
"""

from __future__ import annotations

import math
import sys
import time

import numpy as np
from scipy.linalg.lapack import dgesv as _dgesv

from ..gates import GATE_TOL
from ..lambda_sets import LambdaSet, Simplex
from ..problem import RobustProblem
from .result import LazyGate, SolveResult

__all__ = ["lean_applies", "solve_lean", "simplex_qp", "LEAN_MAX_K"]

#: the lean path takes simplex problems with at most this many domains
LEAN_MAX_K = 32
#: problems with more entries ``K n`` than this use the block-subsampled Hessian
SUBSAMPLE_ENTRIES = 4_000_000
#: columns (about) in the subsampled Hessian, and the width of one block of them
HESSIAN_COLUMNS = 1 << 18
#: keep the subsampled Hessian for up to ``LAG_STEPS`` more steps while full Newton steps cut the
#: point's gap by the factor ``LAG_CUT`` or more (on 40 random games of five kinds, ``K = 4 .. 24``,
#: ``n = 6 10^5 .. 2 10^6``: 63 subsampled Hessians and 140 evaluations with 2 and 3e-2, 97 and 134
#: with 1 and 1e-2, about 9 % of the passes)
LAG_HESSIAN = True
LAG_STEPS = 2
LAG_CUT = 3e-2
#: columns per block of the subsample (one block per product: ``K x 8192`` stays in cache, and a
#: long contiguous read of each row streams where short strided pieces do not)
_BLOCK = 8192
#: same stopping margin as the general path (the certificate is recomputed independently)
SAFETY = 0.5
_ARMIJO = 1e-4
_EYE: dict[int, np.ndarray] = {}
# reductions as ufunc methods: the same sums, minima and maxima as ndarray.sum / min / max, without
# their Python-level wrappers (a small solve makes some forty of them)
_sum, _min, _max = np.add.reduce, np.minimum.reduce, np.maximum.reduce


def lean_applies(problem: RobustProblem) -> bool:
    """Whether :func:`solve_lean` takes the problem: ``Lambda`` is the whole simplex (the generic
    parametrization with no inequalities) and ``2 <= K <= LEAN_MAX_K``."""
    Lam = problem.Lambda
    if type(Lam) is Simplex:  # the common case, without building its (empty) inequalities
        return 2 <= problem.K <= LEAN_MAX_K
    if not 2 <= problem.K <= LEAN_MAX_K or type(Lam).parametrization is not LambdaSet.parametrization:
        return False
    return Lam.inequalities()[0].shape[0] == 0


# --------------------------------------------------------------------------- pieces
#: points per chunk of the large water-filling's sweep (its five arrays' chunks stay in cache)
_FILL_CHUNK = 1 << 15
_NONE_CLIPPED = np.zeros(0, dtype=np.intp)


def _fill(d: np.ndarray, l: np.ndarray, u: np.ndarray, t: float, work: _Work | None = None):
    """``q = clip(t d, l, u)`` with ``sum q = 1`` by safeguarded Newton on ``t`` (the iteration of
    :func:`~robust_gates.theory.best_response.water_fill`, written with fewer temporaries; with
    ``work``, none at all: ``q`` from :meth:`_Work.take`, the scratch of one chunk in ``work.c``
    and ``work.free``). Returns ``(q, t)`` or ``None`` when the iteration does not settle."""
    lo, hi = 0.0, np.inf
    small = work is None
    if not small:
        q = work.take()
        total = float(_sum(d))  # the slope is d summed over the free set: total less the clipped
    for _ in range(100):
        if small:  # few entries: fewer calls matter more than temporaries
            td = d * t
            q = np.minimum(np.maximum(td, l), u)
            f = float(_sum(q))
        else:
            # in column chunks that stay in cache (each step reads its inputs from the last one's
            # output, not from memory), the clipped points found in the same sweep (the slope, d
            # on the free set, is then the total less them); fmax / fmin: the same values here
            # (no NaN: d, l, u are finite), without the NaN propagation that makes maximum /
            # minimum a third slower on long arrays
            f = 0.0
            clipped = []
            for a in range(0, d.shape[0], _FILL_CHUNK):
                b = a + _FILL_CHUNK
                dc, qc = d[a:b], q[a:b]
                tdc, fc = work.c[: dc.shape[0]], work.free[: dc.shape[0]]
                np.multiply(dc, t, out=tdc)
                np.fmax(tdc, l[a:b], out=qc)
                np.fmin(qc, u[a:b], out=qc)
                f += float(_sum(qc))
                idx = np.flatnonzero(np.not_equal(qc, tdc, out=fc))
                if idx.size:
                    clipped.append(idx + a)
            # the points clipped to l or u at this level (every return below returns this q)
            work.clipped = np.concatenate(clipped) if clipped else _NONE_CLIPPED
            slope = total - float(_sum(d[work.clipped]))
            if slope <= 1e-6 * total:  # most of the mass clipped: sum the free set itself
                free = np.ones(d.shape[0], dtype=bool)
                free[work.clipped] = False
                slope = float(_sum(d[free]))
        if abs(f - 1.0) <= 1e-14:
            return q, t
        if small:
            slope = float(np.dot(d, q == td))  # d on the free set
        if f < 1.0:
            lo = t
        else:
            hi = t
        tn = t + (1.0 - f) / slope if slope > 0 else np.nan
        if not lo < tn < hi:
            if tn == t and slope > 0:
                return q, t
            tn = 2.0 * lo if hi == np.inf else 0.5 * (lo + hi)
            if tn == 0.0:
                tn = 0.5 * hi
        elif tn == t:
            return q, t
        if hi < np.inf and hi - lo <= 1e-16 * max(1.0, hi):
            return q, t
        t = tn
    return None


def simplex_qp(M: np.ndarray, c: np.ndarray, x0: np.ndarray, max_iter: int = 30) -> np.ndarray | None:
    r"""``argmin 1/2 (y - x0)' M (y - x0) - c' (y - x0)`` over the simplex (``M`` symmetric
    positive definite) by the primal-dual active-set method, one ``(K + 1)``-square LU solve per
    round (LAPACK ``dgesv``); ``None`` unless it ends at a verified KKT point (feasible to
    rounding, multipliers of the fixed coordinates non-negative)."""
    K = x0.shape[0]
    eye = _EYE.get(K)
    if eye is None:
        eye = _EYE.setdefault(K, np.eye(K))
    r = c + M @ x0
    fixed = x0 <= 0.0
    any_fixed = bool(fixed.any())
    sigma = None
    kkt = np.empty((K + 1, K + 1))
    kkt[K, :K] = 1.0
    kkt[K, K] = 0.0
    rhs = np.empty(K + 1)
    rhs[K] = 1.0
    z = np.zeros(K)
    for _ in range(max_iter):
        if any_fixed:
            if fixed.all():  # keep one coordinate free so that 1'y = 1 can be met
                fixed[int(np.argmin(z))] = False
            kkt[:K, :K] = np.where(fixed[:, None], eye, M)
            kkt[:K, K] = ~fixed
            rhs[:K] = np.where(fixed, 0.0, r)
        else:
            kkt[:K, :K] = M
            kkt[:K, K] = 1.0
            rhs[:K] = r
        _, _, sol, info = _dgesv(kkt, rhs)
        if info != 0:
            return None
        y, mu = sol[:K], sol[K]
        if not any_fixed:
            if _min(y) >= 0.0:
                break
            fixed = y < 0.0
            any_fixed = True
            continue
        z = np.where(fixed, M @ y - r + mu, 0.0)
        if sigma is None:
            sigma = float(_max(np.abs(M.diagonal())))
        new = np.where(fixed, z > 0, y < 0) | (z - sigma * y > 0)
        if np.array_equal(new, fixed):
            break
        fixed = new
        any_fixed = bool(fixed.any())
    else:
        return None
    # (a NaN fails every comparison below)
    if not (_min(y) >= -1e-14 and abs(float(_sum(y)) - 1.0) <= 1e-11):
        return None
    if any_fixed and not _min(z) >= -1e-9 * (1.0 + float(_max(np.abs(z)))):
        return None
    return y if _min(y) >= 0.0 else np.maximum(y, 0.0)  # the caller renormalizes


def _hessian_blocks(n: int) -> tuple[int, int] | None:
    """The subsampled Hessian's column blocks: ``(step, take)``, every ``step``-th block of
    ``_BLOCK`` columns, ``take`` of them (about ``HESSIAN_COLUMNS`` columns spread evenly over
    ``0..n``); ``None`` when ``n`` is too small for a subsample to pay."""
    blocks = n // _BLOCK
    take = HESSIAN_COLUMNS // _BLOCK
    if take == 0 or blocks < 2 * take:
        return None
    return blocks // take, take


def _blocks(a: np.ndarray, step: int, take: int) -> np.ndarray:
    """The subsample's columns of ``a`` (last axis) as a strided view of shape
    ``(..., take, _BLOCK)``: every ``step``-th block of ``_BLOCK`` columns, no copy."""
    head = a[..., : (a.shape[-1] // _BLOCK) * _BLOCK]
    return head.reshape(*a.shape[:-1], -1, _BLOCK)[..., ::step, :][..., :take, :]


def _weights(qc, dc, lc, uc, t):
    """``1 / sqrt(D_lam)`` on the free set ``l < q < u`` of a block, ``0`` elsewhere; ``D_lam`` is
    ``dc``, or ``q / t`` when ``dc`` is ``None`` (the free set is where ``q = t D_lam``: the large
    path keeps no copy of ``D_lam``)."""
    free = (qc > lc) & (qc < uc)
    w = np.zeros(qc.shape)
    if dc is None:
        np.divide(t, qc, out=w, where=free)
        np.sqrt(w, out=w, where=free)
    else:
        np.sqrt(dc, out=w, where=free)
        np.divide(1.0, w, out=w, where=free)
    return w


def _gram(D, q, d, l, u, chunk: int = 8192, t: float = 1.0) -> np.ndarray:
    """``sum_F D_k D_j / D_lam`` over the free set ``F = {l < q < u}`` (where ``q = t D_lam > 0``),
    in cache-sized column chunks when ``n`` is large (no ``K x n`` temporary); ``d = None``: ``D_lam
    = q / t`` on ``F``."""
    K, n = D.shape
    if n <= chunk and d is not None:
        free = (q > l) & (q < u)
        w = np.divide(1.0, np.sqrt(d), out=np.zeros(d.shape), where=free)
        W = D * w
        return W @ W.T
    gram = np.zeros((K, K))
    for a in range(0, n, chunk):
        b = min(a + chunk, n)
        w = _weights(q[a:b], None if d is None else d[a:b], l[a:b], u[a:b], t)
        W = D[:, a:b] * w
        gram += W @ W.T
    return gram


def _hessian(D, lam, q, d, l, u, sub=None, t: float = 1.0) -> np.ndarray:
    """The Hessian of ``phi`` (module docstring of :mod:`.fast`) from all columns, or, with
    ``sub = (step, take)``, from the subsample's columns scaled by ``n / columns``. Symmetric as
    computed (``W W^T`` and an outer product). ``d = None``: ``D_lam = q / t`` on the free set."""
    if sub is None:
        gram = _gram(D, q, d, l, u, t=t)
    else:
        K = D.shape[0]
        Dv, qv, lv, uv = (_blocks(a, *sub) for a in (D, q, l, u))
        dv = None if d is None else _blocks(d, *sub)
        gram = np.zeros((K, K))
        group = max(1, 8192 // _BLOCK)  # blocks per product: K x 8192 stays in cache
        for j in range(0, qv.shape[0], group):
            w = _weights(qv[j:j + group], None if dv is None else dv[j:j + group],
                         lv[j:j + group], uv[j:j + group], t)
            W = (Dv[:, j:j + group] * w).reshape(K, -1)
            gram += W @ W.T
        gram *= D.shape[1] / (qv.shape[0] * _BLOCK)
    DF = gram @ lam
    dF = float(lam @ DF)
    H = -gram
    if dF > 0:
        H += DF[:, None] * (DF / dF)  # the rank-one term (np.outer costs more calls)
    return H


class _Eval:
    __slots__ = ("lam", "d", "q", "t", "losses", "dual", "primal", "clipped")

    def __init__(self, lam, d, q, t, losses, clipped=None):
        self.lam, self.d, self.q, self.t, self.losses = lam, d, q, t, losses
        self.clipped = clipped  # large problems: (points clipped to l or u, their values)
        self.dual = float(lam @ losses)
        self.primal = float(_max(losses))


def _log_covered(D: np.ndarray, q: np.ndarray, out: np.ndarray | None = None) -> np.ndarray | None:
    """``log q`` with ``0`` where ``q = 0`` (``0 log 0 = 0``: no domain has mass there), or ``None``
    when some domain has mass where ``q = 0`` (an infinite loss) or ``q`` has a negative entry;
    written into ``out`` when given."""
    if _min(q) > 0.0:
        return np.log(q, out=out)
    zero = q <= 0.0
    if _min(q) < 0.0 or (D[:, zero] > 0).any():
        return None
    return np.log(np.where(zero, 1.0, q), out=out)


class _Work:
    """Memory of one large solve (``n > WORK_N``). A fresh length-``n`` array costs its first touch
    of memory (page faults: about a tenth of a pass each at ``n = 10^6``), and a solve made some
    twenty of them. Here ``a`` holds ``D_lam`` until the water-filling is done and then ``log
    q``; ``c`` and ``free`` are scratch for one column chunk (``_FILL_CHUNK`` points, reused by
    every chunk, so they stay in cache); :meth:`take` hands out a length-``n`` array for a result
    (an evaluation's ``q``, the gate's weights): one of the solve's earlier arrays that nothing
    references any more, or a new one. Only the memory is shared: every array is written in full
    before it is read."""

    __slots__ = ("a", "c", "free", "pool", "clipped")

    def __init__(self, n: int):
        self.a = np.empty(n)
        self.c, self.free = np.empty(_FILL_CHUNK), np.empty(_FILL_CHUNK, dtype=bool)
        self.pool: list[np.ndarray] = []
        self.clipped = _NONE_CLIPPED  # the last water-filling's clipped points (_fill)

    def take(self) -> np.ndarray:
        if _FREE_REFS is not None:
            for buf in self.pool:
                # referenced by the pool (and this loop) only: no evaluation, view or result
                # holds it. The count of such an array is measured once at import by the same
                # loop (_free_refs), since what a call adds to it differs between versions of
                # CPython; without reference counts (PyPy) every array is new
                if sys.getrefcount(buf) <= _FREE_REFS:
                    return buf
        buf = np.empty_like(self.a)
        self.pool.append(buf)
        return buf


def _free_refs() -> int | None:
    """The reference count :meth:`_Work.take` sees for an array that only its pool holds (``None``
    where Python has no reference counts)."""
    if not hasattr(sys, "getrefcount"):
        return None
    pool = [np.empty(1)]
    for buf in pool:
        return sys.getrefcount(buf)
    return None


_FREE_REFS = _free_refs()
#: problems with more points than this get a :class:`_Work` (below it, fewer calls matter more)
WORK_N = 4096


def _work_for(n: int, work: _Work | None = None) -> _Work | None:
    """``work`` if given, else a fresh :class:`_Work` when ``n > WORK_N``, else ``None``."""
    return work if work is not None or n <= WORK_N else _Work(n)


def _level(d: np.ndarray, clipped, t0: float) -> float:
    """The water-filling's level for ``D_lam = d`` if the points ``clipped`` at the last
    evaluation (``(indices, values)``: at ``l`` or ``u``) stay clipped and no other point is:
    ``sum q = t (sum d - sum d[clipped]) + sum values = 1``. Where that holds the water-filling
    ends at its first sweep; it is only a start (``t0`` where it is not a positive number)."""
    idx, values = clipped
    free_mass = float(_sum(d)) - float(_sum(d[idx]))
    t = (1.0 - float(_sum(values))) / free_mass if free_mass > 0.0 else t0
    return t if math.isfinite(t) and t > 0.0 else t0


def _respond(D, l, u, lam, t0, work: _Work | None = None, clipped=None):
    """``(D_lam, q, t)`` at ``lam``: ``D_lam = lam @ D`` (on large problems in ``work.a``) and its
    best response ``q`` by water-filling from the level ``t0``, or on large problems from
    :func:`_level` with the last evaluation's ``clipped`` points; ``None`` when the water-filling
    does not settle."""
    d = lam @ D if work is None else np.matmul(lam, D, out=work.a)
    if work is not None and clipped is not None:
        t0 = _level(d, clipped, t0)
    out = _fill(d, l, u, t0, work)
    if out is None:
        return None
    return (d,) + out


def _evaluated(D, const, lam, d, q, t, work: _Work | None = None, positive: bool = False):
    """The :class:`_Eval` of ``lam`` from its :func:`_respond`: the losses at ``q``; ``None``
    where a loss is infinite. ``positive``: ``l > 0`` everywhere, so that ``q >= l`` is positive
    and needs no check before its logarithm."""
    clipped = None
    if work is not None:  # D_lam only for the water-filling (the Hessian reads it off q and t)
        d, clipped = None, (work.clipped, q[work.clipped])
    out = None if work is None else work.a  # (log q in D_lam's place)
    logq = np.log(q, out=out) if positive else _log_covered(D, q, out)
    if logq is None:  # a domain's mass where q = 0: an infinite loss, left to the general path
        return None
    losses = const - D @ logq  # finite
    return _Eval(lam, d, q, t, losses, clipped)


def _evaluate(D, l, u, const, lam, t0, work: _Work | None = None, positive: bool = False,
              clipped=None):
    """The dual at ``lam``: ``D_lam``, its best response ``q`` and the losses there
    (:func:`_respond`, :func:`_evaluated`); ``None`` where a loss is infinite."""
    response = _respond(D, l, u, lam, t0, work, clipped)
    if response is None:
        return None
    return _evaluated(D, const, lam, *response, work, positive)


# --------------------------------------------------------------------------- solver
def _ascent(problem: RobustProblem, tol: float, max_iter: int, work: _Work | None = None):
    D, l, u = problem.D, problem.l, problem.u
    K, n = D.shape
    if float(_sum(u)) <= 1.0 + 1e-12 or float(_sum(l)) >= 1.0 - 1e-12:
        return None  # a degenerate envelope: the general path handles it
    const = -problem.entropies if problem.payoff == "kl" else np.zeros(K)
    cols = _hessian_blocks(n) if K * n > SUBSAMPLE_ENTRIES else None
    work = _work_for(n, work)
    positive = bool(_min(l) > 0.0)
    pt = _evaluate(D, l, u, const, np.full(K, 1.0 / K), 1.0, work, positive)
    if pt is None:
        return None
    best_p = best_d = pt
    target = SAFETY * tol
    reg_c = 1e-3
    exact = cols is None
    lagged = False
    lags = 0
    H = _hessian(D, pt.lam, pt.q, pt.d, l, u, cols, pt.t)
    iterations, evaluations = 0, 1
    prev_gap = None  # the own gap of the point before pt (the rate of the last step)
    eye = _EYE.get(K)
    if eye is None:
        eye = _EYE.setdefault(K, np.eye(K))
    while best_p.primal - best_d.dual > target:
        if iterations >= max_iter:
            return None
        fw = max(pt.primal - pt.dual, 0.0)
        M = -H + eye * (max(reg_c * fw, 1e-13) + 1e-13 * np.abs(H.diagonal()))
        y = simplex_qp(M, pt.losses, pt.lam)
        if y is None:
            return None
        p = y - pt.lam
        slope = float(pt.losses @ p)
        accepted = None
        alpha = 1.0
        # where the last step's rate says this one ends the ascent, the full step is evaluated by
        # _finish (_finish_small), which certifies it at once (if it falls short, the ascent goes
        # on with that evaluation). The rate: with the exact Hessian Newton's, the
        # gap squared times the constant the last step showed (gap / prev_gap^2); with the
        # subsampled one a linear rate, the gap times the factor by which the last step cut it
        finish = False
        if prev_gap is not None and prev_gap > 0.0:
            ratio = fw / prev_gap
            finish = fw * ratio * (ratio if exact else 1.0) <= tol
        for trial in range(30 if slope > 0 else 3):
            cand = np.maximum(pt.lam + alpha * p, 0.0)
            cand /= _sum(cand)
            if finish and trial == 0:
                if work is None:
                    c, fin = _finish_small(problem, const, cand, pt.t, positive, tol)
                else:
                    c, fin = _finish(problem, const, cand, pt.t, work, positive, pt.clipped, tol)
                if fin is not None:
                    return cand, fin[-1], iterations + 1, evaluations + 1, fin[:-1]
            else:
                c = _evaluate(D, l, u, const, cand, pt.t, work, positive, pt.clipped)
            evaluations += 1
            if c is None:
                return None
            if c.primal < best_p.primal:
                best_p = c
            if c.dual > best_d.dual:
                best_d = c
            if best_p.primal - best_d.dual <= target:
                break
            noise = 1e-13 * (1.0 + abs(pt.dual))
            # (the Armijo rule with a true rise of phi, as in the general path: where alpha * slope
            # is below phi's rounding an unchanged phi would pass it)
            if ((slope > 0 and c.dual >= pt.dual + _ARMIJO * alpha * slope and c.dual > pt.dual)
                    or (c.dual >= pt.dual - noise and c.primal - c.dual < fw)):
                accepted = c
                break
            alpha *= 0.5 if trial < 2 else 0.25
        iterations += 1
        if best_p.primal - best_d.dual <= target:
            break
        if accepted is None:
            if lagged:  # the step used the last point's Hessian: retry with this point's
                H, lagged = _hessian(D, pt.lam, pt.q, pt.d, l, u, None if exact else cols, pt.t), False
                lags = 0
                continue
            if exact:
                return None  # the general path (polish, stall handling) takes over
            exact = True  # retry the step with the exact Hessian
            H = _hessian(D, pt.lam, pt.q, pt.d, l, u, None, pt.t)
            continue
        if (LAG_HESSIAN and not exact and lags < LAG_STEPS and alpha == 1.0
                and accepted.primal - accepted.dual <= LAG_CUT * fw):
            # a full step that cut the point's own gap by LAG_CUT: Newton is in its fast phase
            # and the Hessian moves by O(step), so the last one serves the next step (a
            # subsampled Hessian costs most of a pass; a step that then fails is retried with a
            # fresh one, and a step that cuts the gap less gets a fresh one next)
            lagged = True
            lags += 1
        else:
            lags = 0
            H, lagged = _hessian(D, accepted.lam, accepted.q, accepted.d, l, u, None if exact else cols,
                                 accepted.t), False
        prev_gap, pt = fw, accepted
        reg_c = max(reg_c * 0.1, 1e-6) if alpha == 1.0 else min(reg_c * 10.0, 1e6)
    return best_d.lam, best_p.q, iterations, evaluations, None


#: points (about) of the sample on which the certificate reads its water-filling's starting level
_HINT_POINTS = 4096
#: columns per chunk of the certificate's read of ``D`` (``K x 8192`` stays in cache)
_CERT_CHUNK = 8192


#: columns per chunk of the one-read certificate (``K x`` this many entries, 4 MB: big enough for
#: the chunk's products to use BLAS's threads, small enough to be read from cache the second time)
_ONE_READ_ENTRIES = 1 << 19


def _sample_level(ms, ls, us, ds) -> float:
    """``sum model / sum D_lam`` over the sample's points strictly inside the envelope (the
    certified model is ``q_lam`` there, to the gap, and ``q_lam = t D_lam`` on them); ``1`` when
    that is not a positive number. Only a start or a multiplier: a wrong one costs iterations or a
    looser bound, never validity."""
    inside = (ms > ls) & (ms < us) & (ds > 0)
    t0 = float(_sum(ms[inside]) / _sum(ds[inside])) if inside.any() else 1.0
    return t0 if math.isfinite(t0) and t0 > 0 else 1.0


def _hint_level(model, l, u, d) -> float:
    """The water-filling's starting level for ``D_lam = d``, read off the gate's own model on a
    spread sample of about :data:`_HINT_POINTS` points (:func:`_sample_level`)."""
    step = max(1, d.shape[0] // _HINT_POINTS)
    if step == 1:
        return _sample_level(model, l, u, d)
    return _sample_level(model[::step], l[::step], u[::step], d[::step])


def _gate_and_bound(problem: RobustProblem, q, lam, level: float, t, s, model, d=None,
                    positive: bool = False):
    """One read of ``D`` in column chunks (``K x`` :data:`_ONE_READ_ENTRIES` ``/ K`` entries,
    read from cache the second time) that writes the gate of the model ``q`` (:func:`_gate`'s
    numbers bit for bit) into ``t`` and ``s`` and its own model ``t l + s u`` into ``model``
    (which may be ``q`` itself), and computes the certificate for that gate and ``lam``:
    ``D @ log P_g`` for the primal, and the Lagrangian lower bound on ``phi(lam)`` at ``level``,
    ``L(q_t, lam) + (sum q_t - 1) / level`` with ``q_t = clip(level D_lam, l, u)`` computed here
    (it holds at *any* level and is ``phi(lam)`` at the water-filling's), ``sum_k lam_k CE(D_k,
    q_t)`` as the dot product ``-D_lam @ log q_t``. ``D_lam`` is ``d`` when given (``lam @ D``),
    else made chunk by chunk. ``positive``: ``l > 0`` everywhere (no check before the
    logarithms). Returns ``(mass, worst, (primal, dual))`` with ``mass = sum model`` and ``worst =
    max |t + s - 1|``, or ``None`` when a loss is not finite."""
    D, l, u = problem.D, problem.l, problem.u
    K, n = D.shape
    entropies = problem.entropies if problem.payoff == "kl" else np.zeros(K)
    width = problem.envelope_width
    wide = bool(_min(width) > 0.0)
    chunk = max(1024, _ONE_READ_ENTRIES // K)
    span = min(chunk, n)
    logs, scratch, qbuf = np.empty(span), np.empty(span), np.empty(span)
    dbuf = np.empty(span) if d is None else None
    ce_model, dot, mass, mass_t = np.zeros(K), 0.0, 0.0, 0.0
    hi, lo = -np.inf, np.inf
    for a in range(0, n, chunk):
        b = min(a + chunk, n)
        w = b - a
        lc, uc, qc, tc, sc, mc, wc = l[a:b], u[a:b], q[a:b], t[a:b], s[a:b], model[a:b], scratch[:w]
        # the gate, its model (after the weights: it may overwrite q) and its two checks
        _weights_into(lc, uc, qc, tc, sc, width[a:b], True, wide)
        np.multiply(tc, lc, out=mc)
        mc += np.multiply(sc, uc, out=wc)
        mass += float(_sum(mc))
        np.add(tc, sc, out=wc)  # max |t + s - 1| from the extremes of t + s
        hi, lo = max(hi, float(_max(wc))), min(lo, float(_min(wc)))
        # the certificate on this chunk of D
        Dc = D[:, a:b]
        log_model = np.log(mc, out=logs[:w]) if positive else _log_covered(Dc, mc, logs[:w])
        if log_model is None:
            return None
        ce_model += Dc @ log_model
        dc = np.matmul(lam, Dc, out=dbuf[:w]) if d is None else d[a:b]
        qt = np.multiply(dc, level, out=qbuf[:w])
        np.fmax(qt, lc, out=qt)
        np.fmin(qt, uc, out=qt)
        mass_t += float(_sum(qt))
        log_q = np.log(qt, out=logs[:w]) if positive else _log_covered(Dc, qt, logs[:w])
        if log_q is None:
            return None
        dot += float(dc @ log_q)
    weigh = lam > 0
    dual = -dot - float(lam[weigh] @ entropies[weigh]) + (mass_t - 1.0) / level
    primal = float(_max(-ce_model - entropies))
    if not (math.isfinite(dual) and math.isfinite(primal)):
        return None
    return mass, max(hi - 1.0, 1.0 - lo), (primal, dual)


def _gate_certificate(problem: RobustProblem, q: np.ndarray, lam: np.ndarray, work: _Work):
    """On a large problem, the gate of the model ``q`` and the certificate for it and ``lam`` in
    one read of ``D`` (:func:`_gate_and_bound`, the model written over ``q``), at a level read
    off the gate's model on a spread sample of points before the sweep (:func:`_sample_level`;
    the sample's model by the same operations as the sweep's): no iteration. The certificate
    sees the gate's weights and ``lam`` only. Returns ``(kmin, kmax, t, s, model, mass, worst,
    cert)``: the experts the gate weighs (from the problem's cached envelope sweep), its weights,
    its model, ``mass = sum model``, ``worst = max |t + s - 1|`` and ``cert = (primal, dual)``;
    or ``None`` when a loss is not finite."""
    D, l, u = problem.D, problem.l, problem.u
    t, s = work.take(), work.take()
    step = max(1, D.shape[1] // _HINT_POINTS)
    ls, us, qs = l[::step], u[::step], q[::step]
    ts, ss, ws = np.empty(qs.shape[0]), np.empty(qs.shape[0]), np.empty(qs.shape[0])
    _weights_into(ls, us, qs, ts, ss, ws)
    ms = np.multiply(ts, ls)
    ms += np.multiply(ss, us, out=ws)
    level = _sample_level(ms, ls, us, lam @ D[:, ::step])
    out = _gate_and_bound(problem, q, lam, level, t, s, q)
    if out is None:
        return None
    kmin, kmax = problem.envelope_experts
    return (kmin, kmax, t, s, q) + out


def _finish(problem: RobustProblem, const, lam, t0, work: _Work, positive: bool, clipped, tol: float):
    """The ascent's last evaluation and the result in one: at ``lam``, ``D_lam = lam @ D`` and its
    best response ``q`` (the water-filling to its level, as :func:`_evaluate`), then one read of
    ``D`` (:func:`_gate_and_bound`) that writes the gate of ``q``, its model ``t l + s u`` with
    its two checks, ``D @ log P_g`` for the primal, and the Lagrangian lower bound on
    ``phi(lam)`` at the water-filling's level ``t``, from ``q_t = clip(t D_lam, l, u)`` computed
    again in the sweep (phi(lam) to rounding, a lower bound at any ``t``).

    The certificate so made depends on ``lam``, the gate and one number, the level, as the one of
    :func:`_gate_certificate` does: its dual is a function of ``lam`` (``lam @ D``, made here
    from the returned ``lam``) at that level, its primal a function of the gate's weights;
    neither reads the water-filling's ``q`` or anything of the earlier iterates, so an error
    there could cost a wider gap, never a wrong certificate. What it saves is the ascent's own
    evaluation of ``lam``, whose losses ``D @ log q`` would only confirm what the certificate
    measures.

    Returns ``(None, fin)`` when the gate passes its checks and the certificate's gap is at most
    ``tol``, ``fin`` as :func:`_gate_certificate` returns it with ``q`` appended; otherwise
    ``(ev, None)`` with ``ev`` the :class:`_Eval` of ``lam`` (:func:`_evaluate`'s numbers bit for
    bit: the ascent goes on) or ``None`` where a loss is infinite."""
    response = _respond(problem.D, problem.l, problem.u, lam, t0, work, clipped)
    if response is None:
        return None, None
    d, q, level = response
    t, s, model = work.take(), work.take(), work.take()
    out = _gate_and_bound(problem, q, lam, level, t, s, model, d, positive)
    if out is not None:
        mass, worst, (primal, dual) = out
        if primal - dual <= tol and abs(mass - 1.0) <= GATE_TOL and worst <= GATE_TOL:
            kmin, kmax = problem.envelope_experts
            return None, (kmin, kmax, t, s, model, mass, worst, (primal, dual), q)
    del t, s, model
    # not certified: the evaluation of lam for the ascent, from the same D_lam and q
    return _evaluated(problem.D, const, lam, d, q, level, work, positive), None


def _finish_small(problem: RobustProblem, const, lam, t0, positive: bool, tol: float):
    """:func:`_finish` on a small problem (``n <= WORK_N``: whole arrays, no chunks): ``D_lam``
    and its best response ``q`` (as an evaluation), the gate of ``q`` with its model and checks
    (:func:`_gate_model`), ``D @ log P_g``, and the Lagrangian bound at the water-filling's level
    from ``q_t = clip(t D_lam, l, u)`` computed again (the certificate reads ``lam``, the gate and
    the level, not ``q``). Returns ``(None, fin)`` with ``fin = (t, s, model, mass, worst,
    (primal, dual), q)`` when the gate passes its checks and the gap is at most ``tol``;
    otherwise ``(ev, None)``, ``ev`` the :class:`_Eval` of ``lam`` as :func:`_evaluate` makes it
    (``None`` where a loss is infinite)."""
    D, l, u = problem.D, problem.l, problem.u
    response = _respond(D, l, u, lam, t0)
    if response is None:
        return None, None
    d, q, level = response
    t, s, model, mass, worst = _gate_model(problem, q)
    if abs(mass - 1.0) <= GATE_TOL and worst <= GATE_TOL:
        log_model = np.log(model) if positive else _log_covered(D, model)
        # the certificate's own best response at the water-filling's level (not the array q)
        q_t = np.minimum(np.maximum(d * level, l), u)
        log_t = np.log(q_t) if positive else _log_covered(D, q_t)
        if log_model is not None and log_t is not None:
            # the Lagrangian bound at that level (as _certificate: L(q_t, lam) = sum_k lam_k
            # (CE(D_k, q_t) (- H(D_k))), over the weighted domains)
            ce_t = const - D @ log_t
            weigh = lam > 0
            lagrangian = float(lam @ ce_t) if weigh.all() else float(lam[weigh] @ ce_t[weigh])
            dual = lagrangian + (float(_sum(q_t)) - 1.0) / level
            primal = float(_max(const - D @ log_model))
            if math.isfinite(dual) and math.isfinite(primal) and primal - dual <= tol:
                return None, (t, s, model, mass, worst, (primal, dual), q)
    return _evaluated(D, const, lam, d, q, level, None, positive), None


def _certificate(problem: RobustProblem, lam: np.ndarray, model: np.ndarray, work: _Work | None = None):
    """``(primal, dual)`` of the independent certificate for the gate's model ``model`` and
    ``lam`` (module docstring), or ``None`` when a loss is not finite there, with the
    water-filling iterated to its level (large problems first try the one-level certificate of
    :func:`_gate_certificate`). ``work``: the solve's scratch arrays (memory only; nothing of the
    ascent is read from them)."""
    D = problem.D
    l, u = problem.l, problem.u
    n = D.shape[1]
    work = _work_for(n, work)
    entropies = problem.entropies if problem.payoff == "kl" else np.zeros(lam.shape[0])
    if work is None:
        d = lam @ D
    else:
        # one read of D for two products, D_lam = lam @ D and D @ log P_g, in column chunks
        # that stay in cache between the two (two whole products read D twice)
        d, ce_model = work.a, np.zeros(D.shape[0])
        for a in range(0, n, _CERT_CHUNK):
            b = min(a + _CERT_CHUNK, n)
            Dc = D[:, a:b]
            log_model = _log_covered(Dc, model[a:b], work.c[: b - a])
            if log_model is None:
                return None
            np.matmul(lam, Dc, out=d[a:b])
            ce_model += Dc @ log_model
    # a fresh best response: water_fill's Newton iteration (nothing of the ascent is reused),
    # started at the level the gate's own model shows on a spread sample of points strictly inside
    # the envelope (the certified model is q_lam there, to the gap): the iteration then usually
    # stops at its first evaluation. Only a start: a wrong one costs iterations, never validity
    t0 = _hint_level(model, l, u, d)
    filled = _fill(d, l, u, t0, work)
    if filled is None:
        return None
    q, t = filled
    weigh = lam > 0
    # the Lagrangian lower bound on phi(lam) at the level t (as the general path's
    # best_response.phi_lower_bound): L(q_t, lam) + (sum q_t - 1) / t with q_t = clip(t d, l, u)
    # bounds phi from below at any t > 0 and equals it at the right one, so an inaccurate
    # water-filling can widen the gap but never certify a wrong value (issue 21).
    # L(q, lam) = sum_k lam_k CE(D_k, q) (- H(D_k) for KL): on small problems from the products
    # D_k @ log q; on large ones as -D_lam @ log q, the same sum in one dot product of length n
    # instead of a matrix-vector product that reads all of D
    if work is None:
        log_q = _log_covered(D, q)
        log_model = _log_covered(D, model)
        if log_q is None or log_model is None:
            return None
        ce_q = -(D @ log_q) - entropies
        # (the same sum over the weighted domains: with every weight positive, lam itself)
        lagrangian = float(lam @ ce_q) if weigh.all() else float(lam[weigh] @ ce_q[weigh])
        ce_model = D @ log_model
    else:
        dot = 0.0
        for a in range(0, n, _FILL_CHUNK):  # log q chunk by chunk, in cache
            b = min(a + _FILL_CHUNK, n)
            log_q = _log_covered(D[:, a:b], q[a:b], work.c[: b - a])
            if log_q is None:
                return None
            dot += float(d[a:b] @ log_q)
        lagrangian = -dot - float(lam[weigh] @ entropies[weigh])
    dual = lagrangian + (float(_sum(q)) - 1.0) / t
    primal = float(_max(-ce_model - entropies))  # max_k CE(D_k, P_g) (- H(D_k))
    if not (math.isfinite(dual) and math.isfinite(primal)):
        return None
    return primal, dual


def _gate(problem: RobustProblem, q: np.ndarray):
    """The weights ``(t, s)`` of the two-expert gate of the model ``q`` (the form of
    :class:`~robust_gates.theory.solvers.fast.TwoExpertGate`, whose ``from_model`` makes the
    envelope check that the caller has made): weight ``t = (u - q) / (u - l)`` on the first expert
    attaining ``l`` and ``s = (q - l) / (u - l)`` on the first attaining ``u`` (``t = 1, s = 0``
    where ``u = l``); the experts themselves are found when the gate is written
    (:func:`_dense_of`). Both weights lie in ``[0, 1]`` as computed, with no clipping: ``l <= q <=
    u`` (the water-filling clips to the envelope), so ``0 <= u - q <= u - l`` exactly, rounding is
    monotone, and a rounded quotient ``a / b`` of ``0 <= a <= b`` lies in ``[0, 1]``. Large
    problems: :func:`_gate_certificate`."""
    n = q.shape[0]
    t, s = np.empty(n), np.empty(n)
    _weights_into(problem.l, problem.u, q, t, s, np.empty(n))
    return t, s


def _gate_model(problem: RobustProblem, q: np.ndarray):
    """A small problem's gate of the model ``q`` (:func:`_gate`) with its own model ``t l + s u``
    (``P_kmin = l``, ``P_kmax = u`` exactly) and its two checks: ``(t, s, model, mass, worst)``,
    ``mass = sum model`` (a distribution: one) and ``worst = max |t + s - 1|``."""
    t, s = _gate(problem, q)
    model = t * problem.l
    model += s * problem.u
    total = t + s
    total -= 1.0
    return t, s, model, float(_sum(model)), float(_max(np.abs(total, out=total)))


def _weights_into(l, u, q, t, s, width, given: bool = False, positive: bool | None = None) -> None:
    """:func:`_gate`'s weights written into ``t`` and ``s`` (``width``: scratch for ``u - l``, or
    with ``given`` that difference already; ``positive``: whether it is positive everywhere, when
    known), for a whole problem or one column chunk of it."""
    if not given:
        np.subtract(u, l, out=width)
    np.subtract(u, q, out=t)
    np.subtract(q, l, out=s)
    if positive is None:
        positive = float(_min(width)) > 0.0
    if positive:  # the common case: plain in-place division, no mask
        t /= width
        s /= width
    else:
        pos = width > 0
        np.divide(t, width, out=t, where=pos)
        np.divide(s, width, out=s, where=pos)
        np.logical_not(pos, out=pos)
        t[pos] = 1.0
        s[pos] = 0.0


def _dense_of(P: np.ndarray, t: np.ndarray, s: np.ndarray) -> np.ndarray:
    """:func:`_dense` of a small problem's gate, its experts (the first attaining ``l``, the first
    attaining ``u``) found now, by ``argmin`` / ``argmax`` over the experts ``P``."""
    return _dense(P.argmin(axis=0), P.argmax(axis=0), t, s, P.shape[0])


def _dense(kmin, kmax, t, s, K: int, step: int = 1 << 15) -> np.ndarray:
    """The read-only ``(K, n)`` array of a two-expert gate, equal to
    :meth:`~robust_gates.theory.solvers.fast.TwoExpertGate.dense` bit for bit (weight ``t`` on
    ``kmin``, ``s`` on ``kmax``, ``t + s`` where they coincide), written by plain scatters in
    column blocks (no read-modify-write, the block's ``K`` row pieces stay in cache)."""
    n = t.shape[0]
    g = np.zeros((K, n))
    flat = g.reshape(-1)
    upper = np.where(kmin == kmax, t + s, s)
    cols = np.arange(n)
    if n <= step:
        flat[kmin * n + cols] = t
        flat[kmax * n + cols] = upper
        g.flags.writeable = False
        return g
    for a in range(0, n, step):
        b = min(a + step, n)
        c = cols[a:b]
        flat[kmin[a:b] * n + c] = t[a:b]
        flat[kmax[a:b] * n + c] = upper[a:b]
    g.flags.writeable = False
    return g


def solve_lean(problem: RobustProblem, tol: float = 1e-9, max_iter: int = 200,
               start: float | None = None) -> SolveResult | None:
    """The fast solver's answer on a simplex problem (:func:`lean_applies`), certified below
    ``tol``, or ``None`` when the lean path declines (module docstring); the caller then runs the
    general path."""
    if start is None:
        start = time.perf_counter()
    work = _work_for(problem.n)
    out = _ascent(problem, tol, max_iter, work)
    if out is None:
        return None
    # lam: a candidate of the line search, non-negative and normalized; q = clip(t d, l, u) is in
    # the envelope by construction, and its gate's own model is checked below
    lam, q, iterations, evaluations, fin = out
    del out
    # the gate and its own model t l + s u (P_kmin = l, P_kmax = u exactly), which must be a
    # distribution, and its weights must sum to one at every point
    if work is None:
        # the ascent's _finish_small made them, or they are made now
        t, s, model, mass, worst, cert = fin if fin is not None else _gate_model(problem, q) + (None,)
        gate = LazyGate(_dense_of, problem.P, t, s)
    else:
        # the ascent's _finish made gate and certificate already, or one read makes them now
        out = fin if fin is not None else _gate_certificate(problem, q, lam, work)
        del fin
        if out is None:
            return None
        kmin, kmax, t, s, model, mass, worst, cert = out
        gate = LazyGate(_dense, kmin, kmax, t, s, problem.K)
    del q
    if not (abs(mass - 1.0) <= GATE_TOL and worst <= GATE_TOL):
        return None
    if cert is None or not cert[0] - cert[1] <= tol:
        # small problems the ascent did not finish, or a one-level bound that is not tight
        # enough: the water-filling iterated to its level
        cert = _certificate(problem, lam, model, work)
    if cert is None:
        return None
    primal, dual = cert
    if not primal - dual <= tol:
        return None
    for a in (model, lam, t, s):  # (t and s stay with the gate, written on first access)
        a.flags.writeable = False
    return SolveResult(
        value=primal, gate=gate, model=model, lam=lam, gap=primal - dual,
        lower_bound=dual, status="optimal", solver="fast", payoff=problem.payoff,
        iterations=iterations, seconds=time.perf_counter() - start,
        backend=f"lean newton on the simplex ({evaluations} evaluations)",
    )
