r"""Fast exact solver (SPEC algorithm 2): ascent on the dual function over ``Lambda``.

The robust game :math:`V(\Lambda) = \min_{q \in Q} \max_{\lambda \in \Lambda} \lambda^\top \ell(q)`
(SPEC section 2, in model space by the envelope fact) is solved through its concave dual

.. math:: \max_{\lambda \in \Lambda} \phi(\lambda), \qquad
          \phi(\lambda) = \min_{q \in Q} \lambda^\top \ell(q) = \lambda^\top \ell(q_\lambda),

where :math:`q_\lambda = \mathrm{clip}(t D_\lambda, l, u)` is the exact water-filling best
response (:func:`robust_gates.theory.best_response.water_fill`, warm-started at the previous ``t``),
:math:`\ell_k(q) = c_k - \sum_x D_k(x) \log q(x)` with ``c_k = -H(D_k)`` (``"kl"``) or ``0``
(``"cross_entropy"``). Its gradient is :math:`\nabla\phi(\lambda) = \ell(q_\lambda)` (Danskin) and,
on the free set :math:`F = \{x : l(x) < q_\lambda(x) < u(x)\}`, its Hessian is

.. math:: \nabla^2\phi(\lambda)_{kj} = -\sum_{x \in F} \frac{D_k(x) D_j(x)}{D_\lambda(x)}
          + \frac{D_k(F)\, D_j(F)}{D_\lambda(F)} \;\preceq\; 0,

obtained by differentiating :math:`q = t D_\lambda` on ``F`` with ``t`` fixed by
:math:`\sum_x q(x) = 1`. Each step is a regularized Newton (proximal
Newton / sequential QP) step: the quadratic model of :math:`\phi` is maximized over
:math:`\Lambda` exactly by an active-set QP (:mod:`._qp`: bounds handled by fixing
coordinates, an updated inverse on the free ones, the working set warm-started at the current
point's active set, so that ``K`` in the hundreds costs a few factorizations per step), then a
backtracking (Armijo) line search on :math:`\phi` picks the step. For the simplex with perfect
experts :math:`\phi` is the mutual information :math:`JS_\lambda(D)`, whose first-order
(exponentiated-gradient) ascent is Blahut-Arimoto (:mod:`robust_gates.theory.solvers.capacity`);
the Newton step reaches the same fixed point in far fewer passes over the data.

Parametrization: the ascent runs in the coordinates that ``Lambda`` itself provides
(:meth:`robust_gates.theory.lambda_sets.LambdaSet.parametrization`),
:math:`\Lambda = \{Bx : x \in \Delta_m,\ Gx \le h\}`, with gradient :math:`B^\top\ell` and
Hessian :math:`B^\top \nabla^2\phi\, B` in ``x``, and the QP constraints
:math:`Gx \le h`, :math:`x \ge 0`, :math:`\mathbf 1^\top x = 1`. For a box or a polytope
:math:`x = \lambda` (``B`` the identity) and ``G`` are its inequalities; for a hull of points ``V``
(rows) :math:`x` are the weights of the points, :math:`B = V^\top`; other kinds lift (a
total-variation ball uses :math:`m = 2K`). The solver never asks which kind it has.

Certificate: every evaluation at a mixture :math:`\lambda` gives a model :math:`q_\lambda` with
primal value :math:`\max_{\lambda'\in\Lambda} \lambda'^\top\ell(q_\lambda) \ge V` and a dual value
:math:`\phi(\lambda) \le V`; the difference at one point is the Frank-Wolfe gap of the ascent.
The best of each seen so far is kept, the loop stops when ``primal - dual <= tol`` and the
final pair is certified independently by :func:`robust_gates.theory.certify` (SPEC section 2).

Many weights (``K`` or the number of hull points in the hundreds or thousands): the QP of a
Newton step goes first to a primal-dual active-set method (:mod:`._pdas`: bounds fixed in bulk,
each round one pivoted LU on the free coordinates, accepted only at a verified KKT point), the
primal method being the fallback; a set that keeps the generic parametrization (``x = lam``: the
simplex, a box, a polytope) gets its support and start from one LP (:func:`_relative_interior`)
instead of one LP per coordinate; the geometry is cached per problem; on large problems a
Hessian may serve one more step (after a full step that cut the gap a hundredfold).

Result: the gate mixes, at each ``x``, the experts attaining the lower and upper envelope
(:class:`TwoExpertGate`), and :func:`certify_two_expert` recomputes :func:`certify`'s numbers from
that form (the model ``t l + (1 - t) u`` in ``O(n)``, a fresh water-filling for ``phi``), so the
certificate costs about two passes over ``D`` and no ``K x n`` product besides writing the gate.

Cost: one evaluation is one ``lambda @ D`` product, a few O(n) water-filling passes over
vectors and one ``D @ log q`` product (fused with the Hessian in cache-sized column blocks
when the Hessian is wanted): about two streaming passes over ``D`` and no ``K x n``
temporary. Memory O(K n), float64; ``D`` and ``P`` are read, never copied.

Glossary: ``D`` = :math:`D_k`, ``P`` = :math:`P_k`, ``l``/``u`` = envelope, ``lam`` =
:math:`\lambda`, ``t`` = :math:`1/\nu`, ``tol`` = certificate tolerance.
"""

from __future__ import annotations

import dataclasses
import math
import threading
import time
import weakref
from collections import deque
from dataclasses import dataclass

import numpy as np

from ..best_response import phi_lower_bound, water_fill
from ..certificate import certify
from ..gates import GATE_TOL, gate_from_model, gated_model
from ..lambda_sets import LambdaSet, Parametrization, weights_face
from ..problem import RobustProblem
from ._pdas import pdas_qp
from ._qp import _normalize_rows, active_set_qp, is_simplex, simplex_active_set_qp
from .lean import lean_applies, solve_lean
from .registry import register_solver
from .result import CertificateError, LazyGate, SolverError, SolveResult

__all__ = ["solve_fast", "dual_ascent", "certified_result", "DualAscent", "dual_hessian",
           "TwoExpertGate", "certify_two_expert"]

#: columns per block in the fused loss/Hessian pass (K x block stays in the L2 cache)
CHUNK = 8192
#: the loop stops at ``internal gap <= SAFETY * tol`` so the independent recomputation
#: (exact ``rel_entr`` sums instead of the fast matrix-vector form) still lands below ``tol``
SAFETY = 0.5
_ARMIJO = 1e-4
#: best responses kept for the primal polish (a convex combination of them)
_POLISH_POINTS = 8
#: a point counts as inside Lambda when its weights ``x`` (in the simplex by construction)
#: satisfy every inequality ``G x <= h``, rows scaled to unit norm, to within this; only such
#: points become the returned mixture
FEASIBILITY_TOL = 1e-12


#: per-problem data computed once (a validated problem is frozen): the parametrization and
#: support of its ``Lambda``, the experts attaining the envelope
_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _problem_cache(problem: RobustProblem) -> dict:
    try:
        return _CACHE.setdefault(problem, {})
    except TypeError:  # not weak-referenceable: nothing is cached
        return {}


# --------------------------------------------------------------------------- evaluation
@dataclass(frozen=True, eq=False)
class _Point:
    """One evaluation of the dual function at ``lam`` (coordinates ``x``)."""

    x: np.ndarray
    lam: np.ndarray
    d: np.ndarray  # D_lam
    q: np.ndarray  # q_lam
    t: float
    losses: np.ndarray  # l(q_lam), the gradient of phi
    dual: float  # phi(lam)
    primal: float  # max_Lambda l(q_lam) . lam'
    finite: bool  # every loss a mixture in Lambda can weigh is finite
    inside: bool  # x satisfies G x <= h to FEASIBILITY_TOL: lam = B x is in Lambda


def _losses_and_hessian(
    D: np.ndarray, lam: np.ndarray, q: np.ndarray, d: np.ndarray, l: np.ndarray, u: np.ndarray,
    const: np.ndarray, want_hessian: bool, chunk: int = CHUNK,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Per-domain losses ``const - D @ log q`` and, if asked, the Hessian of ``phi``.

    Points with ``q = 0`` contribute ``0`` to the matrix-vector product (``D_k = 0`` there for
    every finite loss) and make ``losses_k = inf`` for each ``k`` with ``D_k > 0`` there. The
    Hessian pass works on ``K x chunk`` column blocks, so ``log q``, the free-set weights
    ``1/sqrt(D_lam)`` and the block of ``D`` stay in cache: one read of ``D`` in all. Since
    ``D_lam = lam @ D``, the rank-one term needs no pass of its own:
    ``D_k(F) = (gram @ lam)_k`` with ``gram = sum_F D D^T / D_lam``.
    """
    K, n = D.shape
    zero = q == 0
    has_zero = bool(zero.any())
    s = np.zeros(K)
    H = None
    if not want_hessian:
        logq = np.log(np.where(zero, 1.0, q)) if has_zero else np.log(q)
        s = D @ logq
    else:
        gram = np.zeros((K, K))
        for a in range(0, n, chunk):
            b = min(a + chunk, n)
            Dc, qc, dc = D[:, a:b], q[a:b], d[a:b]
            s += Dc @ np.log(np.where(qc == 0, 1.0, qc) if has_zero else qc)
            free = (qc > l[a:b]) & (qc < u[a:b]) & (dc > 0)  # there q = t D_lam exactly
            w = np.sqrt(np.where(free, dc, 1.0))
            np.divide(free, w, out=w)  # 1/sqrt(D_lam) on F, 0 elsewhere
            Wc = Dc * w
            gram += Wc @ Wc.T
        DF = gram @ lam
        dF = float(lam @ DF)
        H = -gram
        if dF > 0:
            H += np.outer(DF, DF) / dF
        H = 0.5 * (H + H.T)
    losses = const - s
    if has_zero:
        losses[D[:, zero].sum(axis=1) > 0] = np.inf
    return losses, H


def dual_hessian(problem: RobustProblem, lam: np.ndarray) -> np.ndarray:
    r"""Hessian :math:`\nabla^2\phi(\lambda)` (``K x K``, negative semidefinite) at ``lam``.

    Exact wherever the free set of the water-filling is locally constant (everywhere but a
    null set); see the module docstring for the formula.
    """
    lam = problem._check_mixture(lam)
    d = problem.mixture(lam)
    q = water_fill(d, problem.l, problem.u).q
    const = np.zeros(problem.K)
    return _losses_and_hessian(problem.D, lam, q, d, problem.l, problem.u, const, True)[1]


class _Oracle:
    """Evaluates ``phi``, its gradient and (optionally) its Hessian; counts evaluations."""

    def __init__(self, problem: RobustProblem, par: Parametrization, relevant: np.ndarray):
        self.problem = problem
        self.D, self.l, self.u = problem.D, problem.l, problem.u
        self.const = -problem.entropies if problem.payoff == "kl" else np.zeros(problem.K)
        self.par = par
        self.B = par.B
        self.relevant = relevant
        self.all_relevant = bool(np.all(relevant))
        norms = np.linalg.norm(par.G, axis=1) if par.G.shape[0] else np.zeros(0)
        self._G = par.G / np.where(norms > 0, norms, 1.0)[:, None]
        self._h = par.h / np.where(norms > 0, norms, 1.0)
        self.evaluations = 0
        self.hessians = 0
        # columns of B that are unit vectors (a lift that copies coordinates): B^T H B is then
        # a submatrix of H, read off without a product
        B = self.B
        self._copies = None
        if B is not None and np.all((B == 0) | (B == 1)) and np.all((B == 1).sum(axis=0) == 1):
            self._copies = np.argmax(B, axis=0)
        # weights that B maps to the same mixture (its null space) leave phi unchanged: the QP's
        # model is flat along them. When most weights are redundant (a hull of many more points
        # than domains) the active-set QP wanders along that flat space for hundreds of working-set
        # changes; the projector onto it lets the step pay for such moves. With few redundant
        # weights they are needed to slide along the faces, and are left free.
        self.null = None
        if B is not None and B.shape[1] > 2 * B.shape[0]:
            _, sv, Vt = np.linalg.svd(B, full_matrices=False)
            rank = int(np.sum(sv > 1e-10 * max(1.0, float(sv[0]))))
            if B.shape[1] - rank > rank:
                rows = Vt[:rank]
                self.null = np.eye(B.shape[1]) - rows.T @ rows

    def clean(self, x: np.ndarray) -> np.ndarray:
        """``x`` put exactly on the simplex of weights (rounding of the QP's steps removed)."""
        x = np.clip(x, 0.0, None)
        return x / x.sum()

    def inside(self, x: np.ndarray) -> bool:
        """Whether the weights ``x`` (on the simplex) satisfy ``G x <= h``, so that ``B x`` is in
        ``Lambda`` (to rounding): the parametrization's own test, for every kind of set."""
        return bool(self._G.shape[0] == 0 or np.max(self._G @ x - self._h) <= FEASIBILITY_TOL)

    def lam_of(self, x: np.ndarray) -> np.ndarray:
        lam = x if self.B is None else self.B @ x
        lam = np.clip(lam, 0.0, None)
        if not self.all_relevant:
            # a domain no mixture of Lambda weighs gets exactly 0, not the QP's rounding (3e-21
            # times an infinite loss made phi infinite: fuzz, box_hi = 0 on an uncovered domain)
            lam = np.where(self.relevant, lam, 0.0)
        return lam / lam.sum()

    def __call__(self, x: np.ndarray, t0: float | None, want_hessian: bool):
        x = self.clean(x)
        return self.evaluate(x, self.lam_of(x), t0, want_hessian, self.inside(x))

    def evaluate(self, x: np.ndarray, lam: np.ndarray, t0: float | None, want_hessian: bool,
                 inside: bool):
        """Evaluate at the mixture ``lam`` (weights ``x``, or the previous weights when ``lam``
        was obtained otherwise, e.g. projected onto ``Lambda``)."""
        self.evaluations += 1
        d = lam @ self.D
        wf = water_fill(d, self.l, self.u, t0=t0)
        losses, H = _losses_and_hessian(self.D, lam, wf.q, d, self.l, self.u, self.const,
                                        want_hessian)
        self.hessians += H is not None
        weigh = lam > 0
        dual = float(np.sum(lam[weigh] * losses[weigh]))
        primal = self.problem.Lambda.maximize_linear(losses)[0]
        finite = bool(np.all(np.isfinite(losses[self.relevant])))
        pt = _Point(x=x, lam=lam, d=d, q=wf.q, t=wf.t, losses=losses, dual=dual, primal=primal,
                    finite=finite, inside=inside)
        return pt, H

    def hessian(self, pt: _Point) -> np.ndarray:
        self.hessians += 1
        return _losses_and_hessian(self.D, pt.lam, pt.q, pt.d, self.l, self.u, self.const, True)[1]

    def model(self, pt: _Point, H: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Gradient and Hessian in the coordinates ``x``."""
        g = np.where(self.relevant, pt.losses, 0.0)
        if self.B is None:
            return g, H
        if self._copies is not None:
            return g[self._copies], H[np.ix_(self._copies, self._copies)]
        return self.B.T @ g, self.B.T @ H @ self.B


# --------------------------------------------------------------------------- geometry
#: from this many domains on, a set that keeps the generic parametrization (``x = lam`` with its
#: inequalities: simplex, box, polytope) gets its support and start from one linear program
#: (:func:`_relative_interior`) instead of ``K`` (one per coordinate)
LARGE_K_SETUP = 64
#: problems with more entries ``K * n`` than this may keep a Hessian for one more step
LAGGED_HESSIAN_SIZE = 50_000
#: QPs with more weights than this go to the primal-dual active-set method first (:mod:`._pdas`),
#: the one-change-at-a-time primal method (:mod:`._qp`) being the fallback; smaller ones keep the
#: primal method alone
PDAS_SIZE = 64


def _relative_interior(A: np.ndarray, b: np.ndarray, K: int) -> tuple[np.ndarray, np.ndarray]:
    r"""A point of :math:`\{\lambda \in \Delta_K : A\lambda \le b\}` weighing every coordinate that
    some point of the set weighs, and that set of coordinates, from one linear program:

    .. math:: \max \mathbf 1^\top s \quad\text{s.t.}\quad A y \le b\tau,\ \mathbf 1^\top y = \tau,\
              0 \le s \le 1,\ s \le y,\ y \ge 0,\ \tau \ge 0

    (``y = tau lam``). A coordinate in the support of some ``lam`` of the set reaches ``s_k = 1``
    for ``tau`` large enough, and all of them at once at a relative-interior point, so the optimum
    is the size of the support and ``lam = y / tau`` weighs all of it. The rows are tightened by
    ``1e-9`` (relative) first, so the point is inside to rounding despite the LP's own tolerance;
    when that empties the set (implicit equalities) the plain rows are used."""
    from scipy.optimize import linprog
    from scipy.sparse import bmat, csr_matrix, identity

    r = A.shape[0]
    if r == 0:
        return np.full(K, 1.0 / K), np.ones(K, dtype=bool)
    I = identity(K, format="csr")
    cost = np.r_[np.zeros(K), -np.ones(K), 0.0]
    for margin in (1e-9, 0.0):
        bm = b - margin * (1.0 + np.abs(b))
        A_ub = bmat([[csr_matrix(A), csr_matrix((r, K)), csr_matrix(-bm[:, None])],
                     [-I, I, csr_matrix((K, 1))]], format="csr")
        A_eq = csr_matrix(np.r_[np.ones(K), np.zeros(K), -1.0][None, :])
        res = linprog(cost, A_ub=A_ub, b_ub=np.zeros(r + K), A_eq=A_eq, b_eq=[0.0],
                      bounds=[(0, None)] * K + [(0, 1)] * K + [(0, None)], method="highs",
                      options={"primal_feasibility_tolerance": 1e-10})
        if res.status == 0 and res.x[2 * K] > 0:
            y, s, tau = res.x[:K], res.x[K:2 * K], res.x[2 * K]
            lam = np.clip(y / tau, 0.0, None)
            lam /= lam.sum()
            return lam, (s > 0.5) & (lam > 0)
    raise SolverError("could not find a point of Lambda by linear programming")


def _geometry(problem: RobustProblem):
    """Parametrization of ``Lambda``, QP constraints ``G x <= h`` (``x >= 0`` appended; ``1^T x = 1``
    is the QP's own) also with unit-norm merged rows, and the relevant domains (those some mixture
    in ``Lambda`` weighs: the only losses that enter ``phi`` and the certificate). Cached per
    problem."""
    cache = _problem_cache(problem)
    if "geometry" in cache:
        return cache["geometry"]
    Lam = problem.Lambda
    generic = (type(Lam).parametrization is LambdaSet.parametrization
               and type(Lam).support is LambdaSet.support)
    if generic and problem.K >= LARGE_K_SETUP:
        A, b = Lam.inequalities()
        x0, support = _relative_interior(A, b, problem.K)
        par = Parametrization(B=None, G=A, h=b, x0=x0)
    else:
        par = Lam.parametrization()
        support = Lam.support()
    G = np.vstack([par.G, -np.eye(par.m)])
    h = np.concatenate([par.h, np.zeros(par.m)])
    if par.m > PDAS_SIZE:  # unit-norm rows for the primal-dual method (no merging: it needs none)
        norms = np.linalg.norm(G, axis=1)
        Gn, hn = G[norms > 0] / norms[norms > 0, None], h[norms > 0] / norms[norms > 0]
    else:  # the primal method's own normalization, done once per problem
        Gn, hn = _normalize_rows(G, h)
    cache["geometry"] = (par, G, h, support, Gn, hn)
    return cache["geometry"]


# --------------------------------------------------------------------------- ascent
@dataclass(frozen=True, eq=False)
class DualAscent:
    """Outcome of :func:`dual_ascent`: the best primal model and best dual mixture found.

    ``primal = max_Lambda L(model, .)`` and ``dual = phi(lam)`` as computed inside the loop
    (not yet certified independently); ``iterations`` Newton steps, ``evaluations`` of
    ``phi`` (each about two passes over ``D``), ``hessians`` Hessian computations,
    ``seconds`` wall time of the loop.
    """

    lam: np.ndarray
    model: np.ndarray
    primal: float
    dual: float
    gap: float
    iterations: int
    evaluations: int
    hessians: int
    seconds: float
    #: the weights ``x`` of ``lam`` in the parametrization (``lam = B x`` normalized), a
    #: membership witness the certificate verifies instead of solving a membership LP
    weights: np.ndarray | None = None


class _NoBar:
    """Stands in for a progress bar when none is shown (importing and building one costs more than
    a small solve)."""

    def update(self, _n: int) -> None:
        pass

    def close(self) -> None:
        pass


def _check_options(tol: float, max_iter: int) -> None:
    if not (isinstance(tol, (int, float)) and math.isfinite(tol) and tol > 0):
        raise ValueError(f"tol must be a positive number; got {tol!r}")
    if int(max_iter) != max_iter or max_iter < 1:
        raise ValueError(f"max_iter must be a positive integer; got {max_iter!r}")


# Floating-point warnings are silenced inside the ascent, and only there: with weights near
# 1e-300 the Hessian's free-set terms D_j D_k / D_lam overflow (the curvature really is that
# large), the QP step built from it is non-finite and the step is rejected like any other that
# does not improve (a finite candidate is required), so the warning carries no information for
# the user; every returned value is checked by the independent certificate (certified_result)
@np.errstate(over="ignore", invalid="ignore", divide="ignore")
def dual_ascent(
    problem: RobustProblem, *, tol: float = 1e-9, max_iter: int = 200, progress: bool = False,
    callback=None,
) -> DualAscent:
    """Maximize ``phi`` over ``Lambda`` by regularized Newton steps until ``primal - dual <= tol``.

    ``callback(iteration, evaluations, best_primal, best_dual)``, if given, is called at the
    start and after every Newton step (for convergence plots).

    Raises :class:`SolverError` if the gap is not below ``SAFETY * tol`` after ``max_iter``
    Newton steps or if the ascent stalls at the floating-point floor.
    """
    _check_options(tol, max_iter)
    start = time.perf_counter()
    par, G, h, relevant, Gn, hn = _geometry(problem)
    on_simplex = Gn.shape[1] > PDAS_SIZE and is_simplex(Gn, hn)
    oracle = _Oracle(problem, par, relevant)
    x = oracle.clean(par.x0)
    if not oracle.inside(x) and par.B is None:
        # the start comes from linear programs solved to their own tolerance: project it
        x = oracle.clean(problem.Lambda.project(x))
    pt, H = oracle(x, None, True)
    if not pt.finite:
        raise SolverError("the start mixture leaves a domain's loss infinite; cannot start the ascent")
    best_p, best_d = pt, pt
    recent: deque[_Point] = deque([pt], maxlen=_POLISH_POINTS)
    target = SAFETY * tol
    reg_c = 1e-3
    H_fresh = True
    iterations = 0
    stalls = 0
    gradient_tried, gradient_left = None, _GRADIENT_TRIES
    bar = _NoBar()
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=max_iter, desc="fast solver", disable=False, leave=False)
    if callback is not None:
        callback(0, oracle.evaluations, best_p.primal, best_d.dual)
    try:
        while best_p.primal - best_d.dual > target:
            if callback is not None and iterations > 0:
                callback(iterations, oracle.evaluations, best_p.primal, best_d.dual)
            if iterations >= max_iter:
                if best_p.primal - best_d.dual <= tol:
                    break  # within tol, only short of the safety margin: certified below
                snapped = _zero_snap(problem, oracle, best_p, best_d, tol, max_iter)
                if snapped is not None:
                    best_p, best_d = snapped
                    break
                raise SolverError(
                    f"fast solver: certificate gap {best_p.primal - best_d.dual:.3e} > {target:.3e} "
                    f"after max_iter = {max_iter} Newton steps"
                )
            iterations += 1
            bar.update(1)
            g, Hx = oracle.model(pt, H)
            fw = max(pt.primal - pt.dual, 0.0)
            scale = float(np.max(np.abs(np.diag(Hx)))) if Hx.size else 0.0
            # the rounding floor of the regularization is per coordinate (relative to its own
            # curvature): a weight that must stay ~1e-18 (a domain covered only by it, perfect
            # sparse experts) has curvature ~1e15, and a floor scaled by the largest diagonal
            # entry damped every other coordinate's step into linear convergence (issue #21)
            diag = np.abs(np.diag(Hx)) if Hx.size else np.zeros(0)
            reg = max(reg_c * fw, 1e-13)
            M = -Hx + np.diag(reg + 1e-13 * diag)
            if oracle.null is not None:
                M += max(reg, 1e-8 * (1.0 + scale)) * oracle.null
            y = pdas_qp(M, g, pt.x, Gn, hn) if M.shape[0] > PDAS_SIZE else None
            if y is None and M.shape[0] > PDAS_SIZE and on_simplex:
                # the bulk exchanges cycled (a hull of many more points than domains: M is
                # rank-deficient up to its regularization): the support's active set, whose
                # systems are as small as the answer's support, before the general method
                y = simplex_active_set_qp(M, g, pt.x)
            if y is None:
                small = M.shape[0] <= PDAS_SIZE
                y, _ = active_set_qp(M, g, pt.x, Gn if small else G, hn if small else h,
                                     max_iter=2 * M.shape[0] + 20, normalized=small)
            p = y - pt.x
            if not np.any(p != 0):
                # the QP's absolute step floor (1e-13) can hide the step a weight ~1e-8 needs
                # (issue 21, sparse (7, 679718329, 1147): stalled at gap 2e-9): Newton on the face
                p = _face_step(M, g, pt.x, oracle)
            # near the optimum g @ p is a difference of rounding-size terms (g has a large
            # common part, p sums to 0 only to rounding); a non-zero QP step is still tried, and
            # then accepted only when it narrows this point's own gap without lowering phi
            slope = float(g @ p)
            accepted = None
            if slope > 0 or np.any(p != 0):
                alpha = 1.0
                for trial in range(40 if slope > 0 else 3):
                    try:
                        cand, Hc = oracle(pt.x + alpha * p, pt.t, False)
                    except ValueError:
                        # the trial mixture's entries span beyond the floating-point range, so
                        # its water-filling has no representable level: a trial point like any
                        # other that does not improve, so shorten the step (issue 21 sweep,
                        # tiny (1, 1354274761, 7096))
                        alpha *= 0.5 if trial < 2 else 0.25
                        continue
                    if cand.finite:
                        recent.append(cand)
                    if cand.primal < best_p.primal:
                        best_p = cand
                    # a dual point only where every relevant loss is finite (a weight that must
                    # stay ~1e-18 is not rounded to 0: its lam keeps a finite capacity certificate)
                    if cand.inside and cand.finite and (cand.dual > best_d.dual
                                                        or not best_d.inside):
                        best_d = cand
                    if best_p.primal - best_d.dual <= target:
                        break
                    noise = 1e-13 * (1.0 + abs(pt.dual))
                    # the Armijo rule with a true rise of phi: where alpha * slope is below the
                    # rounding of phi, an unchanged phi would pass it, and the ascent crept for
                    # 160 steps, a weight ~1e-20 halving a hundredfold per step towards 0 while the
                    # others stayed put (issue 21 sweep, tiny (7, ..., 2533))
                    if cand.finite and (
                        (slope > 0 and cand.dual >= pt.dual + _ARMIJO * alpha * slope
                         and cand.dual > pt.dual)
                        or (cand.dual >= pt.dual - noise and cand.primal - cand.dual < fw)
                    ):
                        accepted = (cand, Hc)
                        break
                    alpha *= 0.5 if trial < 2 else 0.25
            if best_p.primal - best_d.dual <= target:
                break
            if (accepted is None and H_fresh and gradient_tried is not pt and gradient_left > 0
                    and fw > _GRADIENT_GAP * target):
                # once per point (the stalls that follow retry Newton with more regularization
                # from the same point), a few times per solve, and only far from the rounding
                # floor (there Newton's steps are expected to fail; each trial costs a pass)
                gradient_tried = pt
                gradient_left -= 1
                accepted = _gradient_step(oracle, pt, g, Gn, hn, G, h)
                if accepted is not None:
                    alpha = 0.0  # not Newton's full step: the Hessian is recomputed below
                    cand = accepted[0]
                    recent.append(cand)
                    if cand.primal < best_p.primal:
                        best_p = cand
                    if cand.inside and (cand.dual > best_d.dual or not best_d.inside):
                        best_d = cand
            if accepted is None:
                if not H_fresh:  # the step used a lagged Hessian: retry with the exact one first
                    H, H_fresh = oracle.hessian(pt), True
                    continue
                stalls += 1
                if stalls >= 2:  # Newton is at its noise floor: improve the primal side instead
                    polished = _polish(problem, oracle, list(recent), best_p)
                    if polished is not None:
                        best_p = polished
                        if best_p.primal - best_d.dual <= target:
                            break
                if stalls > 6:
                    if best_p.primal - best_d.dual <= tol:
                        # at the noise floor but within tol: return the pair (the independent
                        # certificate in certified_result still decides), never raise
                        break
                    snapped = _zero_snap(problem, oracle, best_p, best_d, tol, max_iter)
                    if snapped is not None:
                        best_p, best_d = snapped
                        break
                    raise SolverError(
                        f"fast solver stalled at certificate gap {best_p.primal - best_d.dual:.3e} "
                        f"(tol {tol:g}); the floating-point floor of this instance may be above tol"
                    )
                reg_c = reg_c * 100.0 + 1.0
                continue
            stalls = 0
            pt, _ = accepted
            # the Hessian only when another step is needed (not at the final point). On large
            # problems, after a full step that cut the point's own gap a hundredfold, the last
            # Hessian is kept for one step (it changes by O(step) and costs several passes over
            # D); a step that then fails is retried with the exact one
            if (H_fresh and alpha == 1.0 and problem.K * problem.n > LAGGED_HESSIAN_SIZE
                    and pt.primal - pt.dual <= 1e-2 * fw):
                H_fresh = False
            else:
                H, H_fresh = oracle.hessian(pt), True
            reg_c = max(reg_c * 0.1, 1e-6) if alpha == 1.0 else min(reg_c * 10.0, 1e6)
    finally:
        bar.close()
    if not best_d.inside:  # never with a feasible start; kept so no mixture outside Lambda escapes
        lam = problem.Lambda.project(best_d.lam)
        best_d, _ = oracle.evaluate(best_d.x, lam, best_d.t, False, True)
    if callback is not None:
        callback(iterations, oracle.evaluations, best_p.primal, best_d.dual)
    return DualAscent(
        lam=best_d.lam, model=best_p.q, primal=best_p.primal, dual=best_d.dual,
        gap=best_p.primal - best_d.dual, iterations=iterations, evaluations=oracle.evaluations,
        hessians=oracle.hessians, seconds=time.perf_counter() - start, weights=best_d.x,
    )


#: step lengths (relative to the largest gradient entry) of the projected-gradient steps tried when
#: Newton's model gives no improving step
_GRADIENT_STEPS = tuple(10.0 ** -j for j in range(0, 16, 2))
#: projected-gradient fallbacks per solve, and the point's own gap (in units of the target) above
#: which one is tried (the sweep's cases needed one or two, at gaps 7.6e-4 to 506)
_GRADIENT_TRIES = 4
_GRADIENT_GAP = 100.0
#: weights outside the support tried one at a time by :func:`_gradient_step` (largest slope first)
_GRADIENT_SINGLES = 4


def _gradient_step(oracle: _Oracle, pt: _Point, g: np.ndarray, Gn, hn, G, h):
    """A projected-gradient step when Newton's model gives none that improves ``phi``.

    At a vertex of ``Lambda`` whose neighbours' domains are nearly uncovered by the envelope
    (``D_lam ~ 1e-250`` where another domain has mass), the curvature of ``phi`` there is
    ~1e250 and the Newton step is rounded to nothing, although ``phi`` rises by O(1e-2) a
    percent away (issue 21 sweep, tiny (0, 1354274761, 4477): stalled at gap 1.9e-2). The
    step ``argmax_{y in Lambda} g.y - |y - x|^2 / (2 s)`` is tried for step lengths ``s`` from
    1 down to 1e-14 (scaled by the gradient), the first that raises ``phi`` beyond rounding is
    taken; ``None`` if none does."""
    x = pt.x
    gmax = float(np.max(np.abs(g))) if g.size else 0.0
    if not (np.isfinite(gmax) and gmax > 0 and np.all(np.isfinite(g))):
        return None
    small = x.shape[0] <= PDAS_SIZE
    noise = 1e-13 * (1.0 + abs(pt.dual))
    m = x.shape[0]
    # every weight moves, then (where that fails) only the support and one weight outside it, the
    # most promising first: at a vertex the gradient may point into several weights whose slope
    # holds for a step ~1e-250 only (domains covered at that scale), and moving them all lowers
    # phi although one alone raises it (issue 21 sweep, tiny (7, ..., 2533) with cross-entropy:
    # phi rises by 1e-6 from e_1 towards e_5 alone, and falls towards e_2 ... e_5 together)
    masks = [np.ones(m, dtype=bool)]
    support = x > 0
    outside = np.flatnonzero(~support)
    if 0 < outside.size and support.any():
        order = outside[np.argsort(-g[outside], kind="stable")][:_GRADIENT_SINGLES]
        for k in order:
            if g[k] > float(g[support].min()):
                mask = support.copy()
                mask[k] = True
                masks.append(mask)
    for free in masks:
        gf = np.where(free, g, 0.0)
        for s in _GRADIENT_STEPS:
            # frozen weights: a step cost 1e30 times larger keeps them where they are
            M = np.diag(np.where(free, gmax / s, 1e30 * gmax / s))
            try:
                # the QP the Newton step uses at this size (the one-change active set is slow
                # past PDAS_SIZE weights)
                y = None if small else pdas_qp(M, gf, x, Gn, hn)
                if y is None:
                    y, _ = active_set_qp(M, gf, x, Gn if small else G, hn if small else h,
                                         max_iter=2 * m + 20, normalized=small)
            except (ValueError, np.linalg.LinAlgError):
                continue
            if y is None or not np.all(np.isfinite(y)) or not np.any(y != x):
                continue
            y = oracle.clean(np.where(free, y, x))
            if not oracle.inside(y):
                continue
            try:
                cand, Hc = oracle(y, pt.t, False)
            except ValueError:
                continue
            if cand.finite and cand.inside and cand.dual > pt.dual + noise:
                return cand, Hc
    return None


def _face_step(M: np.ndarray, g: np.ndarray, x: np.ndarray, oracle: _Oracle) -> np.ndarray:
    """The Newton step of the QP model ``min 1/2 p.M.p - g.p`` on the face of the simplex where the
    zero weights stay zero (``sum p = 0``), cut back to keep ``x + p >= 0`` and inside
    ``Lambda``; zeros when there is none. Used when the active-set QP returns no step."""
    S = np.flatnonzero(x > 0)
    zero = np.zeros_like(x)
    if S.size < 2:
        return zero
    m = S.size
    kkt = np.zeros((m + 1, m + 1))
    kkt[:m, :m] = M[np.ix_(S, S)]
    kkt[:m, m] = kkt[m, :m] = 1.0
    try:
        sol = np.linalg.solve(kkt, np.concatenate([g[S], [0.0]]))
    except np.linalg.LinAlgError:
        return zero
    p = zero.copy()
    p[S] = sol[:m]
    if not np.all(np.isfinite(p)) or not np.any(p != 0):
        return zero
    neg = p < 0
    if np.any(neg):
        p *= min(1.0, 0.99 * float(np.min(x[neg] / -p[neg])))
    for _ in range(30):
        if oracle.inside(oracle.clean(x + p)):
            return p
        p *= 0.5
    return zero


#: weights of the best dual point below these are tried at exactly 0 (at most this many
#: distinct faces) when the ascent cannot close its gap
_SNAP_WEIGHTS = (1e-9, 1e-16, 1e-30)
#: shares of the best primal model mixed into the face's robust model (to cover the domains the
#: face does not weigh)
_SNAP_COVER = (1e-9, 1e-16, 1e-30, 1e-60, 1e-120, 1e-240)
#: shares of the best dual point mixed back into the face's mixture (largest kept that costs
#: under a tenth of the target; 0 last)
_SNAP_KEEP = (1e-3, 1e-6, 1e-9, 1e-12, 0.0)
#: faces of faces tried at most this deep (each drops at least one positive weight)
_SNAP_DEPTH = 2
_snap = threading.local()


def _zero_snap(problem: RobustProblem, oracle: _Oracle, best_p: _Point, best_d: _Point,
               tol: float, max_iter: int) -> tuple[_Point, _Point] | None:
    """Exact zeros for weights the optimum drives to ``~1e-90`` (issue 21, perfect_sparse): such a
    weight has a curvature ~1e90 in Newton's model and the other weights then barely move, while
    the optimum is, to rounding, on the face of ``Lambda`` where that weight is 0. The game is
    solved again on that face (the same envelope, ``Lambda`` replaced by the face, so its ``lam``
    is in ``Lambda`` and ``phi`` is the same function); its robust model leaves the dropped domains
    uncovered, so a small share of the best primal model (which covers them) is mixed in, and the
    worst case of that model over the whole ``Lambda`` is computed exactly. Returns the
    ``(primal, dual)`` pair when its gap is within ``SAFETY * tol``, else ``None``; the independent
    certificate of :func:`certified_result` still decides."""
    from ..problem import RobustProblem as Problem

    depth = getattr(_snap, "depth", 0)
    if depth >= _SNAP_DEPTH:
        return None
    x0 = best_d.x
    tried: set[bytes] = set()
    for thr in _SNAP_WEIGHTS:
        zero = x0 < thr
        # only faces that drop a positive weight (a weight already 0 gives the same problem)
        if not np.any(zero & (x0 > 0)) or zero.all() or zero.tobytes() in tried:
            continue
        tried.add(zero.tobytes())
        _snap.depth = depth + 1
        try:
            face = weights_face(problem.Lambda, zero)
            if face is None:
                continue
            sub = Problem(D=problem.D, P=problem.P, Lambda=face, payoff=problem.payoff)
            asc = dual_ascent(sub, tol=tol, max_iter=max_iter)
        except (SolverError, ValueError):
            continue
        finally:
            _snap.depth = depth
        x = asc.lam
        if oracle.B is not None:  # a hull: the face's weights on the points it keeps
            x = np.zeros(x0.shape[0])
            x[~zero] = asc.weights
        x = oracle.clean(x)
        if not oracle.inside(x):
            continue
        # the face's mixture has exact zeros where the optimum keeps tiny weights; a consumer
        # of lam* (D_lam* as a model, T3) needs them positive: phi is concave, so mixing in a
        # small share of the best dual point costs at most that share of their difference
        dual = None
        for share in _SNAP_KEEP:
            xs = oracle.clean((1.0 - share) * x + share * x0)
            if share and not oracle.inside(xs):
                continue
            pt, _ = oracle.evaluate(xs, oracle.lam_of(xs), None, False, True)
            if dual is None or pt.dual > dual.dual + 0.1 * SAFETY * tol:
                dual = pt  # a smaller share only where it buys a tenth of the target
        best = None
        for share in _SNAP_COVER:
            q = (1.0 - share) * asc.model + share * best_p.q
            primal = problem.worst_case(q)[0]
            if best is None or primal < best.primal:
                best = dataclasses.replace(best_p, q=q, primal=primal)
        if best.primal - dual.dual <= SAFETY * tol:
            return best, dual
    return None


def _polish(problem: RobustProblem, oracle: _Oracle, pts: list[_Point], best: _Point) -> _Point | None:
    r"""Best convex combination of recent best responses (primal side of the certificate).

    Near a kink of the water-filling's active set the best response jumps, and the robust model
    is a mixture of the responses on either side; Newton on ``phi`` then stalls with a gap the
    line search can no longer see. This solves the small convex program

    .. math:: \min_{\theta \in \Delta_m} \max_{\lambda \in \Lambda}
              \lambda^\top \ell\Big(\sum_i \theta_i q_i\Big)

    (LP dual of the inner max in the parametrization :math:`\Lambda = \{Bx : x \in \Delta_m,
    Gx \le h\}`, as in the reference solver; ``m <= 8`` weights) by SLSQP, and returns the mixture
    as a new primal candidate when it is better, else ``None``. Only relevant domains and the
    weights that can be positive (those whose column of ``B`` weighs no irrelevant domain) enter,
    so losses that no mixture in ``Lambda`` can meet are never evaluated. The final answer is
    still certified independently.
    """
    from scipy.optimize import minimize

    uniq = {id(p): p for p in [best, *pts] if p.finite}
    pts = list(uniq.values())
    if len(pts) < 2:
        return None
    Q = np.stack([p.q for p in pts])
    m = Q.shape[0]
    D, const, rel, par = oracle.D, oracle.const, oracle.relevant, oracle.par
    B = np.eye(problem.K) if par.B is None else par.B
    live = ~np.any(B[~rel] > 0, axis=0)
    W = np.ascontiguousarray(B[rel][:, live].T)  # losses of relevant domains -> live weights
    A, b = par.G[:, live], par.h
    p = A.shape[0]
    Dr, cr = D[rel], const[rel]

    def parts(z):
        q = z[:m] @ Q
        if np.any(q[np.any(Dr > 0, axis=0)] <= 0):
            return None
        safe = np.where(q > 0, q, 1.0)
        c = cr - Dr @ np.log(safe)
        J = -(Dr / safe) @ Q.T  # d c / d theta
        return c, J

    def cons(z):
        out = parts(z)
        if out is None:
            return -np.ones(W.shape[0])
        c, _ = out
        return z[m] + (A.T @ z[m + 1:] if p else 0.0) - W @ c

    def cons_jac(z):
        out = parts(z)
        J = out[1] if out is not None else np.zeros((Dr.shape[0], m))
        rows = W.shape[0]
        return np.hstack([-W @ J, np.ones((rows, 1)), A.T if p else np.zeros((rows, 0))])

    z0 = np.concatenate([np.eye(m)[0], [best.primal], np.zeros(p)])
    obj = np.concatenate([np.zeros(m), [1.0], b])
    res = minimize(
        lambda z: float(obj @ z), z0, jac=lambda z: obj, method="SLSQP",
        bounds=[(0.0, 1.0)] * m + [(None, None)] + [(0.0, None)] * p,
        constraints=[{"type": "ineq", "fun": cons, "jac": cons_jac},
                     {"type": "eq", "fun": lambda z: z[:m].sum() - 1.0,
                      "jac": lambda z: np.r_[np.ones(m), 0.0, np.zeros(p)]}],
        options={"ftol": 1e-16, "maxiter": 200},
    )
    theta = np.clip(res.x[:m], 0.0, None)
    theta /= theta.sum()
    q = theta @ Q
    losses, _ = _losses_and_hessian(D, best.lam, q, best.d, oracle.l, oracle.u, const, False)
    primal = problem.Lambda.maximize_linear(losses)[0]
    if not primal < best.primal:
        return None
    return _Point(x=best.x, lam=best.lam, d=best.d, q=q, t=float("nan"), losses=losses,
                  dual=best.dual, primal=primal, finite=True, inside=best.inside)


# --------------------------------------------------------------------------- result
#: problems up to this many entries ``K * n`` get the generic gate construction and
#: :func:`certify` (cheap there); larger ones the two-expert form below (same numbers, fewer passes)
GENERIC_CERTIFY_SIZE = 50_000


@dataclass(frozen=True, eq=False)
class TwoExpertGate:
    r"""A gate that mixes, at each ``x``, the expert ``kmin[x]`` attaining the lower envelope and
    ``kmax[x]`` attaining the upper one: :math:`g_{kmin}(x) = t(x)`, :math:`g_{kmax}(x) = 1 - t(x)`
    (added when they coincide). Its gated model is :math:`t\,l + (1 - t)\,u` in ``O(n)``, with no
    ``K x n`` product; :meth:`dense` writes the ``(K, n)`` array (read-only)."""

    kmin: np.ndarray
    kmax: np.ndarray
    t: np.ndarray
    #: the weight of ``kmax``, ``(q - l) / (u - l)`` computed directly (``1 - t`` when not given):
    #: a model ~1e-20 above ``l = 0`` has ``t = 1`` in floating point, and ``1 - t`` would lose it
    #: (a zero where the robust model is positive, an infinite loss: issue #21, perfect_sparse)
    s: np.ndarray | None = None

    @classmethod
    def from_model(cls, problem: RobustProblem, q: np.ndarray) -> TwoExpertGate:
        """The gate of :func:`robust_gates.theory.gates.gate_from_model` for a model ``q`` in the
        envelope set (``t = (u - q) / (u - l)`` clipped to ``[0, 1]``, ``1`` where ``u = l``)."""
        l, u = problem.l, problem.u
        worst = max(float(np.max(l - q)), float(np.max(q - u)), abs(float(q.sum()) - 1.0))
        if not worst <= GATE_TOL:
            raise SolverError(f"the fast solver's model leaves the envelope set by {worst:.3g}")
        kmin, kmax = problem.envelope_experts
        width = u - l
        pos = width > 0
        t = np.ones(problem.n)
        np.divide(u - q, width, out=t, where=pos)
        np.clip(t, 0.0, 1.0, out=t)
        s = np.zeros(problem.n)
        np.divide(q - l, width, out=s, where=pos)
        np.clip(s, 0.0, 1.0, out=s)
        return cls(kmin, kmax, t, s)

    @property
    def upper_weight(self) -> np.ndarray:
        """The weight of ``kmax`` at each ``x``."""
        return 1.0 - self.t if self.s is None else self.s

    def model(self, problem: RobustProblem) -> np.ndarray:
        """``P_g(x) = t(x) P_kmin(x) + s(x) P_kmax(x) = t(x) l(x) + s(x) u(x)``, ``s = 1 - t``
        (to rounding; see :attr:`s`)
        (``P_kmin(x)`` is ``l(x)`` bit for bit: that is how ``kmin`` was chosen). The gate's own
        model, not the solver's ``q``."""
        return self.t * problem.l + self.upper_weight * problem.u

    def dense(self, K: int) -> np.ndarray:
        n = self.t.shape[0]
        g = np.zeros((K, n))
        flat = g.reshape(-1)
        cols = np.arange(n)
        flat[self.kmin * n + cols] = self.t
        flat[self.kmax * n + cols] += self.upper_weight
        g.flags.writeable = False
        return g


def _witnessed(problem: RobustProblem, lam: np.ndarray, weights: np.ndarray | None) -> bool:
    r"""Whether ``weights`` prove ``lam`` in ``Lambda`` through its parametrization
    :math:`\Lambda = \{Bx : x \in \Delta_m, Gx \le h\}`: ``x`` in the simplex, every row of
    ``G x <= h`` to ``MEMBERSHIP_TOL`` (relative to the row's norm) and ``B x = lam`` to rounding.
    A check of a point, not a search: an LP-based ``contains`` (a hull) is then not needed."""
    from ..lambda_sets import MEMBERSHIP_TOL

    if weights is None:
        return False
    par, *_ = _geometry(problem)
    x = np.asarray(weights, dtype=np.float64)
    if x.shape != (par.m,) or x.min() < 0 or abs(x.sum() - 1.0) > 1e-12:
        return False
    if par.G.shape[0]:
        norms = np.maximum(np.linalg.norm(par.G, axis=1), 1e-300)
        if np.max((par.G @ x - par.h) / norms) > MEMBERSHIP_TOL:
            return False
    mix = x if par.B is None else par.B @ x
    return bool(np.max(np.abs(mix - lam)) <= 1e-12)


def certify_two_expert(problem: RobustProblem, gate: TwoExpertGate, lam: np.ndarray,
                       weights: np.ndarray | None = None):
    r"""The certificate of :func:`robust_gates.theory.certify` for a :class:`TwoExpertGate`, computed
    in ``O(n)`` beyond the products with ``D``: membership of the gate in :math:`G_1` (each column
    is ``t, 1 - t`` with ``t`` in ``[0, 1]``, so only the mass of the model needs a check), of
    ``lam`` in ``Lambda``, then ``primal = max_Lambda L(g, .)`` from the gate's own model and
    ``dual`` a lower bound on ``phi(lam)`` from a fresh water-filling's level
    (:func:`~robust_gates.theory.best_response.phi_lower_bound`, valid even where that level is
    off). Nothing of the solver's iterates enters the numbers (only the entropies cached on the
    problem). Membership of ``lam`` is checked through the ``weights`` witness when given and
    valid (:func:`_witnessed`), else by ``Lambda.contains``. Same numbers as :func:`certify` up
    to rounding (tested)."""
    from ..certificate import Certificate
    from ..lambda_sets import MEMBERSHIP_TOL

    w = gate.upper_weight
    if not (np.all(gate.t >= 0.0) and np.all(gate.t <= 1.0) and np.all(w >= 0.0)
            and np.all(w <= 1.0) and np.max(np.abs(gate.t + w - 1.0), initial=0.0) <= GATE_TOL):
        raise ValueError("gate weights outside [0, 1] or not summing to 1 at some x")
    model = gate.model(problem)
    mass = float(model.sum())
    if abs(mass - 1.0) > GATE_TOL:
        raise ValueError(f"the gated model has total mass {mass:.12g}, not 1 (gate not in G_1)")
    lam = np.asarray(lam, dtype=np.float64)
    if not (_witnessed(problem, lam, weights) or problem.Lambda.contains(lam, tol=MEMBERSHIP_TOL)):
        raise ValueError(f"lam = {np.round(lam, 8).tolist()} is not in {problem.Lambda!r}")
    primal, worst = problem.worst_case(model)
    lam = np.clip(lam, 0.0, None)
    lam = lam / lam.sum()
    # the Lagrangian bound on phi: valid at any level t, so an inaccurate best response can
    # only widen the gap, never certify a wrong value (issue 21)
    dual = phi_lower_bound(problem, lam)
    return Certificate(primal=primal, dual=dual, gap=primal - dual, worst_lam=worst), model


def certified_result(
    problem: RobustProblem, ascent: DualAscent, tol: float, start: float | None = None,
    two_expert: bool = True,
) -> SolveResult:
    """Turn an ascent into a :class:`SolveResult`: a gate for its model, then the independent
    certificate: :func:`certify_two_expert` (the computation of :func:`certify` on the gate's
    two-expert form, no ``K x n`` product), or with ``two_expert=False`` on problems up to
    ``GENERIC_CERTIFY_SIZE`` entries, :func:`certify` on the dense gate of
    :func:`~robust_gates.theory.gates.gate_from_model`.

    Raises :class:`CertificateError` if the independent gap exceeds ``tol``.
    """
    if start is None:
        start = time.perf_counter() - ascent.seconds
    if problem.K * problem.n <= GENERIC_CERTIFY_SIZE and not two_expert:
        gate = gate_from_model(ascent.model, problem.P)
        cert = certify(problem, gate, ascent.lam)
        model = gated_model(gate, problem.P)
    else:
        two = TwoExpertGate.from_model(problem, ascent.model)
        cert, model = certify_two_expert(problem, two, ascent.lam, ascent.weights)
        gate = LazyGate(two.dense, problem.K)  # the (K, n) array only when asked for
    if not cert.gap <= tol:
        raise CertificateError(
            f"fast solver reached an internal gap {ascent.gap:.3e} but the independent "
            f"certificate gap is {cert.gap:.3e} > {tol:g}"
        )
    return SolveResult(
        value=cert.primal,
        gate=gate,
        model=model,
        lam=ascent.lam,
        gap=cert.gap,
        lower_bound=cert.dual,
        status="optimal",
        solver="fast",
        payoff=problem.payoff,
        iterations=ascent.iterations,
        seconds=time.perf_counter() - start,
        backend=f"newton+active-set ({ascent.evaluations} evaluations)",
    )


@register_solver("fast")
def solve_fast(
    problem: RobustProblem, *, tol: float = 1e-9, max_iter: int = 200, verbose: bool = False
) -> SolveResult:
    """Solve the robust game by dual Newton ascent (SPEC algorithm 2), certified to ``tol``.

    Returns the robust model's gate, the least-favorable mixture and the independent
    certificate gap (``<= tol``); raises :class:`SolverError` if the gap is not reached in
    ``max_iter`` Newton steps and :class:`CertificateError` if the independent check fails.
    ``verbose`` shows a progress bar over the Newton steps. See the module docstring for the
    program and the method.
    """
    start = time.perf_counter()
    # -- lean path when Lambda is the simplex (issue 17; .lean, owned by the performance work):
    # it returns None where it declines, and the general path below runs as before
    if not verbose and lean_applies(problem):
        _check_options(tol, max_iter)
        res = solve_lean(problem, tol=tol, max_iter=max_iter, start=start)
        if res is not None:
            return res
    # -- end of the lean path
    ascent = dual_ascent(problem, tol=tol, max_iter=max_iter, progress=verbose)
    return certified_result(problem, ascent, tol, start)
