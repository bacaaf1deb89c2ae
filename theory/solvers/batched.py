r"""Many small robust games at once: :func:`solve_many`.

A sweep over thousands of small instances (the check sweep, ``K`` and ``n`` in the tens) spends
most of its time in Python overhead, not arithmetic: one solve is a few hundred calls of numpy on
arrays of a few hundred entries. :func:`solve_many` stacks the problems that share a shape
``(K, n)``, a payoff and a ``Lambda`` that is the whole simplex of mixtures (the generic
parametrization with no inequalities; ``K <= BATCH_MAX_K``), and runs SPEC algorithm 2 on the whole
stack with array operations over the batch axis:

* the exact water-filling best response by safeguarded Newton on ``t`` for every problem at once
  (the same iteration as :func:`robust_gates.theory.best_response.water_fill`);
* losses ``c_k - D_k @ log q`` and the Hessian of ``phi`` (module docstring of
  :mod:`robust_gates.theory.solvers.fast`) as batched products;
* the Newton step's QP over the simplex by the primal-dual active-set method, every problem's
  ``(K + 1) x (K + 1)`` KKT system in one batched solve per round, accepted only at a verified KKT
  point;
* a backtracking (Armijo) line search, each problem with its own step.

Each answer is then certified independently, again for the whole stack: the two-expert gate of the
best primal model (:class:`robust_gates.theory.solvers.fast.TwoExpertGate`), its own model
``t l + (1 - t) u``, ``primal = max_k l_k(model)`` and ``dual = phi(lam)`` by a fresh
water-filling started from ``t = 1`` (only the entropies cached on each problem are shared). A
problem that leaves the batched path anywhere (a zero of the model where a domain has mass, a
mass-deficient envelope, a step that does not verify, a gap above ``tol`` after ``max_iter``
steps) is solved on its own by the named solver instead, so every returned result carries a
certificate below ``tol``, and a problem no solver can certify raises as it would alone.
"""

from __future__ import annotations

import dataclasses
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence

import numpy as np
from scipy.special import entr

from ..lambda_sets import LambdaSet, Simplex
from ..problem import RobustProblem
from .fast import SAFETY, _check_options
from .registry import SOLVERS
from .result import SolverError, SolveResult

__all__ = ["solve_many", "BATCH_MAX_K"]

#: the stacked path takes problems with at most this many domains (the KKT systems are dense
#: ``(K + 1) x (K + 1)``); larger ones are solved one by one
BATCH_MAX_K = 32
_ARMIJO = 1e-4


def _stackable(problem: RobustProblem) -> bool:
    """Whether ``Lambda`` is the whole simplex of mixtures: a set with the generic
    parametrization (``x = lam`` with its inequalities) and no inequalities. Asked of the set's
    interface, in microseconds (the full parametrization of a simplex costs ``K`` linear
    maximizations, more than a stacked solve)."""
    Lam = problem.Lambda
    if type(Lam) is Simplex:  # the common case, without building its (empty) inequalities
        return problem.K <= BATCH_MAX_K
    if problem.K > BATCH_MAX_K or type(Lam).parametrization is not LambdaSet.parametrization:
        return False
    return Lam.inequalities()[0].shape[0] == 0


# --------------------------------------------------------------------------- batched pieces
def _water_fill(d: np.ndarray, l: np.ndarray, u: np.ndarray, t0: np.ndarray,
                tol: float = 1e-14) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows of ``sum_x clip(t d, l, u) = 1`` solved for ``t`` (safeguarded Newton, as
    :func:`~robust_gates.theory.best_response.water_fill`: the level kept in ``(0, max u/d]``,
    bisected in ``log t`` while that bracket is wide, settled when Newton moves it by a few ulps
    of ``t``). Returns ``(q, t, ok)``; ``ok`` is false for rows where ``t = inf`` would be needed
    (the mass-deficient case), the iteration did not settle, or the free coordinates carry so
    little mass that they need the exactly rounded remainder of ``water_fill``: those problems
    leave the batched path."""
    on = d > 0
    ok = np.where(on, u, l).sum(axis=1) > 1.0 + tol
    B = d.shape[0]
    eps = np.finfo(np.float64).eps
    t = np.where(np.isfinite(t0) & (t0 > 0), t0, 1.0)
    lo = np.zeros(B)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        hi = np.max(np.where(on, u / np.where(on, d, 1.0), 0.0), axis=1)  # f(hi) = f(inf) > 1
        low = np.where(on & (l > 0), l / np.where(on, d, 1.0), np.inf).min(axis=1)
    hi = np.where(np.isfinite(hi) & (hi > 0), hi, np.finfo(np.float64).max)
    floor = np.maximum(np.minimum(np.where(np.isfinite(low), 0.5 * low, hi * 2.0 ** -1000),
                                  0.5 * hi), np.finfo(np.float64).tiny)
    t = np.where(t < hi, t, np.sqrt(floor) * np.sqrt(hi))
    active = ok.copy()
    settled = np.zeros(B, dtype=bool)
    q = np.clip(t[:, None] * d, l, u)
    for _ in range(200):
        if not active.any():
            break
        idx = np.flatnonzero(active)
        ta = t[idx]
        if idx.size == B:  # every row: the arrays themselves, not gathered copies
            da, la, ua = d, l, u
        else:
            da, la, ua = d[idx], l[idx], u[idx]
        td = ta[:, None] * da
        qa = np.clip(td, la, ua)
        q[idx] = qa
        f = qa.sum(axis=1)
        mid = (td > la) & (td < ua)
        slope = np.where(mid, da, 0.0).sum(axis=1)
        lo[idx] = np.where(f < 1.0, ta, lo[idx])
        hi[idx] = np.where(f > 1.0, ta, hi[idx])
        with np.errstate(divide="ignore", invalid="ignore"):
            tn = ta + (1.0 - f) / slope
        stationary = (f == 1.0) | ((slope > 0) & (np.abs(tn - ta) <= 4.0 * eps * ta))
        # free mass below 1e-3: the level is right but the free coordinates need the exact
        # remainder of the scalar water-filling (not settled here)
        settled[idx] = stationary & (ta * slope >= 1e-3)
        narrow = hi[idx] - lo[idx] <= 4.0 * eps * hi[idx]
        bad = ~((lo[idx] < tn) & (tn < hi[idx])) | (slope <= 0) | ~np.isfinite(tn)
        a = np.maximum(lo[idx], floor[idx])
        wide = hi[idx] > 2.0 * a
        fallback = np.where(wide, np.sqrt(a) * np.sqrt(hi[idx]), 0.5 * (lo[idx] + hi[idx]))
        tn = np.where(bad, fallback, tn)
        stop = stationary | narrow
        t[idx] = np.where(stop, ta, tn)
        active[idx[stop]] = False
    ok &= ~active & settled
    return q, t, ok


def _losses(D: np.ndarray, const: np.ndarray, q: np.ndarray) -> np.ndarray:
    """``const_k - D_k @ log q`` per problem; ``inf`` where ``D_k > 0 = q``."""
    zero = q <= 0
    logq = np.log(np.where(zero, 1.0, q))
    out = const - np.einsum("bkn,bn->bk", D, logq)
    if zero.any():
        out[np.einsum("bkn,bn->bk", D, zero.astype(np.float64)) > 0] = np.inf
    return out


def _hessian(D, lam, q, d, l, u) -> np.ndarray:
    free = (q > l) & (q < u) & (d > 0)
    w = np.where(free, 1.0 / np.sqrt(np.where(free, d, 1.0)), 0.0)
    W = D * w[:, None, :]
    gram = W @ W.transpose(0, 2, 1)
    DF = np.einsum("bkj,bj->bk", gram, lam)
    dF = np.einsum("bk,bk->b", lam, DF)
    with np.errstate(divide="ignore", invalid="ignore"):
        rank1 = np.where(dF[:, None, None] > 0,
                         DF[:, :, None] * DF[:, None, :] / dF[:, None, None], 0.0)
    H = -gram + rank1
    return 0.5 * (H + H.transpose(0, 2, 1))


def _simplex_qp(M: np.ndarray, c: np.ndarray, x0: np.ndarray, max_iter: int = 30):
    r"""``min 1/2 (y - x0)' M (y - x0) - c' (y - x0)`` over the simplex for every problem, by the
    primal-dual active-set method with one batched ``(K + 1)``-square solve per round. Returns
    ``(y, ok)``; ``ok`` marks verified KKT points (feasible, multipliers >= 0)."""
    Bn, K = x0.shape
    r = c + np.einsum("bkj,bj->bk", M, x0)
    fixed = x0 <= 0.0
    sigma = np.abs(np.diagonal(M, axis1=1, axis2=2)).max(axis=1)[:, None]
    eye = np.eye(K)
    ok = np.zeros(Bn, dtype=bool)
    y = x0.copy()
    z = np.zeros((Bn, K))
    for _ in range(max_iter):
        none_free = fixed.all(axis=1)
        if none_free.any():  # keep one coordinate free so that 1'y = 1 can be met
            j = np.argmin(np.where(fixed, z, np.inf), axis=1)
            fixed[none_free, j[none_free]] = False
        kkt = np.zeros((Bn, K + 1, K + 1))
        kkt[:, :K, :K] = np.where(fixed[:, :, None], eye[None], M)
        kkt[:, :K, K] = np.where(fixed, 0.0, 1.0)
        kkt[:, K, :K] = 1.0
        rhs = np.concatenate([np.where(fixed, 0.0, r), np.ones((Bn, 1))], axis=1)
        try:
            sol = np.linalg.solve(kkt, rhs[:, :, None])[:, :, 0]
        except np.linalg.LinAlgError:
            return y, ok
        y, mu = sol[:, :K], sol[:, K]
        z = np.where(fixed, np.einsum("bkj,bj->bk", M, y) - r + mu[:, None], 0.0)
        new_fixed = np.where(fixed, z > 0, y < 0) | ((z - sigma * y) > 0)
        same = (new_fixed == fixed).all(axis=1)
        fixed = new_fixed
        if same.all():
            break
    scale = 1e-9 * (1.0 + np.abs(z).max(axis=1))
    ok = (same & np.all(np.isfinite(y), axis=1) & (y.min(axis=1) >= -1e-14)
          & (np.abs(y.sum(axis=1) - 1.0) <= 1e-11) & (z.min(axis=1) >= -scale))
    return np.clip(y, 0.0, None), ok


class _Stack:
    """Arrays of a group of problems of one shape, payoff and simplex ``Lambda``."""

    def __init__(self, problems: Sequence[RobustProblem]):
        # the envelopes and entropies of the whole stack in one reduction each, with the same
        # operations as each problem's own (P.min / P.max over the experts, entr summed over x),
        # so the numbers are those the problems would cache
        self.D = np.stack([p.D for p in problems])
        self.P = np.stack([p.P for p in problems])
        self.l = self.P.min(axis=1)
        self.u = self.P.max(axis=1)
        if problems[0].payoff == "kl":
            self.const = -entr(self.D).sum(axis=-1)
        else:
            self.const = np.zeros(self.D.shape[:2])

    def evaluate(self, idx, lam, t0):
        D, l, u, const = self.D[idx], self.l[idx], self.u[idx], self.const[idx]
        d = np.einsum("bk,bkn->bn", lam, D)
        q, t, ok = _water_fill(d, l, u, t0)
        losses = _losses(D, const, q)
        finite = np.all(np.isfinite(losses), axis=1)
        dual = np.where(lam > 0, lam * np.where(np.isfinite(losses), losses, 0.0), 0.0).sum(axis=1)
        primal = losses.max(axis=1)
        return d, q, t, losses, dual, primal, ok & finite


def _ascent(stack: _Stack, tol: float, max_iter: int):
    """Batched Newton ascent; returns ``(lam, model, ok, iterations)`` per problem."""
    Bn, K = stack.D.shape[0], stack.D.shape[1]
    lam = np.full((Bn, K), 1.0 / K)
    idx_all = np.arange(Bn)
    d, q, t, losses, dual, primal, ok = stack.evaluate(idx_all, lam, np.full(Bn, np.nan))
    best_p, best_pq = primal.copy(), q.copy()
    best_d, best_lam = dual.copy(), lam.copy()
    reg_c = np.full(Bn, 1e-3)
    target = SAFETY * tol
    live = ok & (best_p - best_d > target)
    iters = np.zeros(Bn, dtype=int)
    for _ in range(max_iter):
        idx = np.flatnonzero(live)
        if idx.size == 0:
            break
        iters[idx] += 1
        H = _hessian(stack.D[idx], lam[idx], q[idx], d[idx], stack.l[idx], stack.u[idx])
        g = losses[idx]
        fw = np.maximum(primal[idx] - dual[idx], 0.0)
        scale = np.abs(np.diagonal(H, axis1=1, axis2=2)).max(axis=1)
        reg = np.maximum(reg_c[idx] * fw, 1e-13 * (1.0 + scale))
        M = -H + reg[:, None, None] * np.eye(K)[None]
        y, qp_ok = _simplex_qp(M, g, lam[idx])
        ok[idx[~qp_ok]] = False
        step = y - lam[idx]
        slope = np.einsum("bk,bk->b", g, step)
        alpha = np.ones(idx.size)
        pending = qp_ok.copy()
        for trial in range(40):
            sub = np.flatnonzero(pending)
            if sub.size == 0:
                break
            bi = idx[sub]
            cand = np.clip(lam[bi] + alpha[sub, None] * step[sub], 0.0, None)
            cand /= cand.sum(axis=1, keepdims=True)
            cd, cq, ct, closs, cdual, cprimal, cok = stack.evaluate(bi, cand, t[bi])
            better_p = cok & (cprimal < best_p[bi])
            best_p[bi] = np.where(better_p, cprimal, best_p[bi])
            best_pq[bi] = np.where(better_p[:, None], cq, best_pq[bi])
            better_d = cok & (cdual > best_d[bi])
            best_d[bi] = np.where(better_d, cdual, best_d[bi])
            best_lam[bi] = np.where(better_d[:, None], cand, best_lam[bi])
            noise = 1e-13 * (1.0 + np.abs(dual[bi]))
            accept = cok & (((slope[sub] > 0) & (cdual >= dual[bi] + _ARMIJO * alpha[sub] * slope[sub]))
                            | ((cdual >= dual[bi] - noise) & (cprimal - cdual < fw[sub])))
            done = best_p[bi] - best_d[bi] <= target
            take = accept | done
            a = bi[take]
            lam[a], d[a], q[a], t[a] = cand[take], cd[take], cq[take], ct[take]
            losses[a], dual[a], primal[a] = closs[take], cdual[take], cprimal[take]
            full = alpha[sub] == 1.0
            reg_c[a] = np.where(full[take], np.maximum(reg_c[a] * 0.1, 1e-6),
                                np.minimum(reg_c[a] * 10.0, 1e6))
            pending[sub[take]] = False
            alpha[sub[~take]] *= 0.5 if trial < 2 else 0.25
        # a problem whose line search found nothing leaves the batch (solved alone)
        ok[idx[pending]] = False
        live = ok & (best_p - best_d > target)
    ok &= best_p - best_d <= target
    return best_lam, best_pq, ok, iters


def _certify_stack(stack: _Stack, problems, lam: np.ndarray, model_q: np.ndarray):
    """Independent certificates for the stack: two-expert gates of the models, their own models,
    ``primal = max_k l_k``, ``dual = phi(lam)`` by a fresh water-filling from ``t = 1``."""
    P = stack.P
    l, u = stack.l, stack.u
    kmin = P.argmin(axis=1)  # the first expert attaining the envelope: P[kmin] == l bit for bit
    kmax = P.argmax(axis=1)
    width = u - l
    t = np.ones_like(width)
    np.divide(u - model_q, width, out=t, where=width > 0)
    np.clip(t, 0.0, 1.0, out=t)
    model = t * l + (1.0 - t) * u
    inside = ((model_q >= l - 1e-9) & (model_q <= u + 1e-9)).all(axis=1)
    mass_ok = np.abs(model.sum(axis=1) - 1.0) <= 1e-9
    primal = _losses(stack.D, stack.const, model).max(axis=1)
    lam = np.clip(lam, 0.0, None)
    lam = lam / lam.sum(axis=1, keepdims=True)
    member = (lam.min(axis=1) >= 0) & (np.abs(lam.sum(axis=1) - 1.0) <= 1e-12)
    d = np.einsum("bk,bkn->bn", lam, stack.D)
    q, _, wf_ok = _water_fill(d, l, u, np.ones(lam.shape[0]))
    ls = _losses(stack.D, stack.const, q)
    dual = np.where(lam > 0, lam * np.where(np.isfinite(ls), ls, 0.0), 0.0).sum(axis=1)
    dual_ok = np.all(np.isfinite(np.where(lam > 0, ls, 0.0)), axis=1)
    ok = inside & mass_ok & member & wf_ok & dual_ok & np.isfinite(primal)
    return kmin, kmax, t, model, lam, primal, dual, ok


def _dense_gates(kmin: np.ndarray, kmax: np.ndarray, t: np.ndarray, K: int) -> np.ndarray:
    """The ``(B, K, n)`` dense gates of a stack of two-expert gates (weight ``t`` on ``kmin``,
    ``1 - t`` on ``kmax``, added where they coincide), as
    :meth:`~robust_gates.theory.solvers.fast.TwoExpertGate.dense` writes one, for all at once."""
    B, n = t.shape
    gates = np.zeros((B, K, n))
    b = np.arange(B)[:, None]
    x = np.arange(n)[None, :]
    gates[b, kmin, x] = t
    gates[b, kmax, x] += 1.0 - t
    return gates


def solve_many(problems: Iterable[RobustProblem], solver: str = "fast", *, tol: float = 1e-9,
               max_iter: int = 200, verbose: bool = False) -> list[SolveResult]:
    """Solve many robust games; the results in the order of ``problems``, each certified below
    ``tol`` (module docstring). The stacked path is the fast solver's (``solver="fast"``, the
    default); problems it does not take (another solver named, a ``Lambda`` other than the
    simplex, ``K > BATCH_MAX_K``, a single problem of its shape) and those that leave it are
    solved one by one by ``solver`` (a name in
    :data:`~robust_gates.theory.solvers.registry.SOLVERS`) with the same options; its errors
    propagate as they would for that problem alone."""
    _check_options(tol, max_iter)
    if solver not in SOLVERS:
        raise ValueError(f"unknown solver {solver!r}; choose one of {sorted(SOLVERS)}")
    problems = list(problems)
    for p in problems:
        if not isinstance(p, RobustProblem):
            raise TypeError(f"solve_many takes RobustProblem objects; got {type(p).__name__}")
    results: list[SolveResult | None] = [None] * len(problems)
    groups: dict[tuple, list[int]] = defaultdict(list)
    for i, p in enumerate(problems):
        if solver == "fast" and _stackable(p):
            groups[(p.K, p.n, p.payoff)].append(i)
    for members in groups.values():
        if len(members) < 2:
            continue
        start = time.perf_counter()
        group = [problems[i] for i in members]
        stack = _Stack(group)
        lam, model_q, ok, iters = _ascent(stack, tol, max_iter)
        kmin, kmax, t, model, lam, primal, dual, cert_ok = _certify_stack(stack, group, lam, model_q)
        gap = primal - dual
        ok &= cert_ok & (gap <= tol)
        gates = _dense_gates(kmin, kmax, t, stack.D.shape[1])
        for arr in (gates, model, lam):  # each result holds read-only views of these
            arr.flags.writeable = False
        per = (time.perf_counter() - start) / len(members)
        backend = f"batched newton+active-set ({len(members)} problems stacked)"
        payoff = group[0].payoff
        for j, i in enumerate(members):
            if not ok[j]:
                continue
            results[i] = SolveResult(
                value=float(primal[j]), gate=gates[j], model=model[j], lam=lam[j], gap=float(gap[j]),
                lower_bound=float(dual[j]), status="optimal", solver=solver,
                payoff=payoff, iterations=int(iters[j]), seconds=per, backend=backend, tol=float(tol),
            )
    for i, p in enumerate(problems):
        if results[i] is None:
            res = SOLVERS[solver](p, tol=tol, max_iter=max_iter, verbose=verbose)
            results[i] = dataclasses.replace(res, tol=float(tol))
    if any(r is None for r in results):  # pragma: no cover - every branch above fills its slot
        raise SolverError("solve_many left a problem without a result")
    return results
