r"""Generalization and sample efficiency of the empirical robust gate (SPEC GB, paper section 4.6).

Setting. A finite game ``(D, P, Lambda)`` with the ``"cross_entropy"`` payoff (the loss a learner
can evaluate from samples; the ``"kl"`` payoff differs by the unknown ``sum_k lam_k H(D_k)``).
The experts ``P`` are given; only the domains are sampled: ``m_k = round(M p_k)`` points from
``D_k`` (``p`` the sampling proportions, ``m_bar_k = m_k / M``). The *empirical robust gate* of a
gate class ``G`` is the exact minimizer of the empirical game
:math:`\hat F(q) = \max_{\lambda\in\Lambda} \sum_k \lambda_k \widehat{CE}_k(q)` over the models
``q = P_g``, ``g in G``; it is scored by its exact population worst case
:math:`F(\hat q) = \max_{\Lambda} \sum_k \lambda_k CE(D_k, \hat q)`.

Gate classes (gate complexity = feature dimension ``d``): ``cells-d`` gates are
``softmax(W phi(x))`` with ``phi(x)`` the one-hot code of the cell of ``x`` in a fixed partition of
``X`` into ``d`` cells (nested as ``d`` doubles; :func:`nested_cells`). In the gate itself this
class (closed) is ``{g : g(., x) = w_{c(x)}, w_c in Delta_K, sum_x P_g(x) = 1}``, convex, and the
ERM is a convex program (exponential cone, solved by cvxpy/Clarabel, :func:`fit_cells`);
``d = n`` is the one-hot class (all of ``G_1``), whose ERM is the exact solver on the empirical
game; ``d = 1`` the constant gates.

Monolithic baselines fitted on the same pooled samples: ``mono-smoothed``, the add-``alpha``
(default 1/2) smoothed pooled empirical distribution; ``mono-dro``, the DRO model over *all*
distributions on ``X`` for the add-``alpha`` smoothed per-domain empirical distributions
``D~_k``, i.e. ``argmin_q max_Lambda sum_k lam_k CE(D~_k, q) = D~_{lam_J}`` (the robust model of the
game with perfect experts ``P = D~``, SPEC LF), solved exactly.

The bound (:func:`gb_bound`). Assumptions: every expert is positive on ``S = supp(D_1..D_K)``
(so each loss ``f_q(x) = -log q(x)`` of a model ``q`` in the envelope lies in
``[a(x), b(x)] = [-log u(x), -log l(x)]``); samples are independent. Let ``B = max_S b - min_S a``,
``r(x) = b(x) - a(x) = log(u(x)/l(x))``, ``Vert`` the vertices of ``Lambda`` and
:math:`s(v\|\bar m) = \sum_k v_k^2/\bar m_k` the skewness. For a fixed comparator ``q_ref`` in the
class (here the population class optimum), with probability at least ``1 - delta``:

.. math:: F(\hat q) - F(q_{ref}) \le \max_{v \in Vert}\Big[2 R_v + B\sqrt{\tfrac{s(v\|\bar m)\,
          \log(2|Vert|/\delta)}{2M}}\Big] + \max_{v\in Vert} B\sqrt{\tfrac{s(v\|\bar m)\,
          \log(2|Vert|/\delta)}{2M}} + \big[\hat F(\hat q) - \hat F(q_{ref})\big]_+ ,

.. math:: R_v = \sum_{x} \frac{r(x)}{2} \sqrt{\sum_k v_k^2 D_k(x)/m_k} .

Proof sketch. ``F(q) - \hat F(q) <= max_{v in Vert} sum_k v_k (CE_k - \widehat{CE}_k)(q)`` (the
payoff is linear in ``lam``, so a maximum over ``Lambda`` is one over its vertices). For each
vertex, symmetrization bounds the expected supremum over the class by ``2 R_v``, with ``R_v``
the Rademacher complexity of the box ``{f : a <= f <= b}`` (it contains every class, so the
bound holds for every ``G`` and does not shrink with ``d``) weighted by ``v_k / m_k``:
``E sup = sum_x (r(x)/2) E|S_x|`` and ``E|S_x| <= sqrt(E S_x^2) = sqrt(sum_k v_k^2 D_k(x)/m_k)``.
McDiarmid (a point of domain ``k`` moves the supremum by at most ``v_k B / m_k``) gives the
deviation term, Hoeffding the comparator term, each at level ``delta/(2|Vert|)``; a union bound
over the ``2|Vert|`` events and the ERM inequality ``\hat F(\hat q) <= \hat F(q_ref) +
slack`` finish it. Constants: none hidden; all logs natural; everything in nats.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import xlogy

from robust_gates.theory import SOLVERS, RobustProblem, SolverError, solve
from robust_gates.theory.lambda_sets import LambdaSet, Simplex

from .softmax_gate import vertices_of

__all__ = [
    "exact_solve", "CellFit", "gb_instance", "nested_cells", "cell_features", "fit_cells", "fit_onehot",
    "mono_smoothed", "mono_dro", "GBBound", "gb_bound", "skewness", "draw_counts", "generalization_study",
    "skewness_study", "summarize_generalization", "crossings", "fit_loglog_slope", "crossing_point",
    "GeneralizationStudy", "default_study",
]


#: certificate tolerance of the exact solves inside the study (nats)
SOLVE_TOL = 1e-8


def exact_solve(problem: RobustProblem):
    """Certified exact solution: the fast solver (``tol = SOLVE_TOL``) when registered, falling back
    to the reference solver if it reports a failure; either result carries its certificate."""
    if "fast" in SOLVERS:
        try:
            return solve(problem, solver="fast", tol=SOLVE_TOL)
        except SolverError:
            pass
    return solve(problem, solver="reference")


def gb_instance(rng: np.random.Generator, K: int = 3, n: int = 16, alpha: float = 0.5,
                tau: float = 0.3, Lambda: LambdaSet | None = None) -> RobustProblem:
    """Dirichlet(``alpha``) domains, experts ``(1 - tau) D_k + tau * Dirichlet(1)`` (positive
    everywhere, as the bound assumes), cross-entropy payoff."""
    D = rng.dirichlet(np.full(n, alpha), size=K)
    D = np.maximum(D, 1e-300)
    D /= D.sum(axis=1, keepdims=True)
    P = (1 - tau) * D + tau * rng.dirichlet(np.ones(n), size=K)
    return RobustProblem(D, P, Lambda if Lambda is not None else Simplex(K), payoff="cross_entropy")


def nested_cells(problem: RobustProblem, d: int) -> np.ndarray:
    """Cell labels (``n``,) of a partition of ``X`` into ``d`` contiguous blocks of the points sorted
    by their preferred expert and log-likelihood ratio; blocks of sizes as equal as possible, so
    the partitions for ``d`` and ``2d`` are nested when ``d`` divides ``n``."""
    n = problem.n
    if int(d) != d or not 1 <= d <= n:
        raise ValueError(f"the number of cells d must be an integer in [1, n = {n}]; got {d!r}")
    logP = np.log(np.maximum(problem.P, 1e-300))
    top = np.argmax(logP, axis=0)
    margin = logP.max(axis=0) - np.sort(logP, axis=0)[-2] if problem.K > 1 else np.zeros(n)
    order = np.lexsort((margin, top))
    labels = np.empty(n, dtype=np.intp)
    labels[order] = (np.arange(n) * d) // n
    return labels


def cell_features(labels: np.ndarray) -> np.ndarray:
    """One-hot codes of the cells (``n x d``): user features for :func:`make_features`."""
    d = int(labels.max()) + 1
    return np.eye(d)[labels]


@dataclass(frozen=True)
class CellFit:
    """Output of :func:`fit_cells`: the model ``q``, its worst case ``value`` on the fitted game,
    and the conic solver's ``status`` (``"optimal"`` or ``"optimal_inaccurate"``)."""

    model: np.ndarray
    value: float
    status: str


def fit_cells(problem: RobustProblem, labels: np.ndarray, D: np.ndarray | None = None) -> CellFit:
    r"""Exact best cell-constant gate for the game on ``D`` (default ``problem.D``).

    Convex program: :math:`\min_{w, t} t` s.t. :math:`w_c \in \Delta_K`,
    :math:`q(x) = \sum_k w_{c(x),k} P_k(x)`, :math:`\sum_x q(x) = 1` and
    :math:`v^\top \ell(q) \le t` for every vertex ``v`` of ``Lambda``, with
    :math:`\ell_k(q) = c_k - \sum_x D_k(x) \log q(x)`. Raises :class:`SolverError` unless Clarabel
    ends ``optimal`` or ``optimal_inaccurate``; the latter is kept in ``status`` (the study records
    it, and its ERM slack is measured and added to the bound, so an inaccurate solve is never
    hidden).
    """
    import cvxpy as cp

    D = problem.D if D is None else np.asarray(D, dtype=np.float64)
    P = problem.P
    K, n = P.shape
    d = int(labels.max()) + 1
    A = np.eye(d)[labels]
    S = D.sum(axis=0) > 0
    w = cp.Variable((d, K), nonneg=True)
    q = cp.sum(cp.multiply(A @ w, P.T), axis=1)
    offs = _offsets(D, problem.payoff)
    ell = offs - D[:, S] @ cp.log(q[S])
    Vx = vertices_of(problem.Lambda)
    t = cp.Variable()
    prob = cp.Problem(cp.Minimize(t), [cp.sum(w, axis=1) == 1, cp.sum(q) == 1, Vx @ ell <= t])
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        prob.solve(solver="CLARABEL")
    if prob.status not in ("optimal", "optimal_inaccurate") or w.value is None:
        raise SolverError(f"cell-gate program ended with status {prob.status!r}")
    W = np.clip(w.value, 0.0, None)
    W /= W.sum(axis=1, keepdims=True)
    qv = (W[labels] * P.T).sum(axis=1)
    qv /= qv.sum()
    return CellFit(qv, float(np.max(Vx @ (offs - xlogy(D, qv[None, :]).sum(axis=1)))), prob.status)


def _offsets(D: np.ndarray, payoff: str) -> np.ndarray:
    if payoff == "cross_entropy":
        return np.zeros(D.shape[0])
    return xlogy(D, D).sum(axis=1)


def fit_onehot(problem: RobustProblem, D: np.ndarray) -> np.ndarray:
    """Exact empirical robust model of the one-hot class (all of ``G_1``) for domains ``D``."""
    emp = RobustProblem(D, problem.P, problem.Lambda, payoff=problem.payoff)
    return exact_solve(emp).model


def mono_smoothed(counts: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """Add-``alpha`` smoothed pooled empirical distribution (counts ``K x n``)."""
    c = counts.sum(axis=0) + alpha
    return c / c.sum()


def mono_dro(problem: RobustProblem, counts: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """DRO model over all distributions for the add-``alpha`` smoothed per-domain empiricals."""
    Dt = counts + alpha
    Dt = Dt / Dt.sum(axis=1, keepdims=True)
    return exact_solve(RobustProblem(Dt, Dt, problem.Lambda, payoff=problem.payoff)).model


def skewness(lam: np.ndarray, mbar: np.ndarray) -> float:
    """``s(lam || m_bar) = sum_k lam_k^2 / m_bar_k``."""
    return float(np.sum(np.asarray(lam) ** 2 / np.asarray(mbar)))


@dataclass(frozen=True)
class GBBound:
    """The terms of the bound in the module docstring (nats)."""

    bound: float
    rademacher: float
    deviation: float
    comparator: float
    B: float
    s_max: float


def gb_bound(problem: RobustProblem, m: np.ndarray, delta: float) -> GBBound:
    """Evaluate the high-probability bound of the module docstring (slack term excluded)."""
    if not 0 < delta < 1:
        raise ValueError(f"delta must lie in (0, 1); got {delta!r}")
    m = np.asarray(m, dtype=np.float64)
    if m.shape != (problem.K,) or m.min() < 1:
        raise ValueError(f"need m_k >= 1 samples for every one of the K = {problem.K} domains; got {m}")
    S = problem.D.sum(axis=0) > 0
    l, u = problem.l[S], problem.u[S]
    if l.min() <= 0:
        raise ValueError("the bound assumes every expert is positive on the domains' support")
    a, b = -np.log(u), -np.log(l)
    B = float(b.max() - a.min())
    r = b - a
    Vx = vertices_of(problem.Lambda)
    M = m.sum()
    mbar = m / M
    log_term = np.log(2 * Vx.shape[0] / delta)
    DS = problem.D[:, S]
    rads, devs, svals = [], [], []
    for v in Vx:
        rads.append(float(np.sum(r / 2 * np.sqrt((v**2 / m) @ DS))))
        s = skewness(v, mbar)
        svals.append(s)
        devs.append(B * np.sqrt(s * log_term / (2 * M)))
    rads, devs = np.array(rads), np.array(devs)
    first = float(np.max(2 * rads + devs))
    comp = float(np.max(devs))
    return GBBound(first + comp, float(rads.max()), float(devs.max()), comp, B, float(max(svals)))


def draw_counts(problem: RobustProblem, m: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Counts ``K x n`` of ``m_k`` samples from each ``D_k``."""
    return np.array([rng.multinomial(int(mk), problem.D[k]) for k, mk in enumerate(m)], dtype=np.float64)


def _sizes(M: int, p: np.ndarray) -> np.ndarray:
    return np.maximum(np.round(M * np.asarray(p)).astype(int), 1)


@dataclass(frozen=True)
class _Refs:
    V: float
    classes: dict  # d -> (labels or None, q_ref, value)


def _references(problem: RobustProblem, ds) -> _Refs:
    exact = exact_solve(problem)
    classes = {}
    for d in ds:
        if d == problem.n:
            classes[d] = (None, exact.model, exact.value)
        else:
            labels = nested_cells(problem, d)
            fit = fit_cells(problem, labels)
            classes[d] = (labels, fit.model, fit.value)
    return _Refs(exact.value, classes)


def _emp_value(problem: RobustProblem, Demp: np.ndarray, q: np.ndarray) -> float:
    losses = _offsets(Demp, problem.payoff) - xlogy(Demp, q[None, :]).sum(axis=1)
    return float(np.max(vertices_of(problem.Lambda) @ losses))


def _trial(problem, refs, M, p, ds, delta, alpha, seed_seq, bound_cache) -> list[dict]:
    rng = np.random.default_rng(seed_seq)
    m = _sizes(M, p)
    counts = draw_counts(problem, m, rng)
    Demp = counts / counts.sum(axis=1, keepdims=True)
    rows = []
    bnd = bound_cache
    base = {"M": int(M), "s_lam_star": np.nan, "bound": np.nan}
    for d in ds:
        labels, q_ref, v_ref = refs.classes[d]
        if labels is None:
            q, status = fit_onehot(problem, Demp), "optimal"
        else:
            fit = fit_cells(problem, labels, Demp)
            q, status = fit.model, fit.status
        pop = problem.worst_case(q)[0]
        slack = max(0.0, _emp_value(problem, Demp, q) - _emp_value(problem, Demp, q_ref))
        excess = pop - v_ref
        b = bnd.bound + slack
        rows.append({**base, "method": f"modular-d{d}", "d": d, "worst_case": pop, "gap": pop - refs.V,
                     "excess": excess, "class_value": v_ref, "bound": b, "under_bound": bool(excess <= b),
                     "slack": slack, "erm_status": status})
    monos = (("mono-smoothed", mono_smoothed(counts, alpha)), ("mono-dro", mono_dro(problem, counts, alpha)))
    for name, q in monos:
        pop = problem.worst_case(q)[0]
        rows.append({**base, "method": name, "d": problem.n, "worst_case": pop, "gap": pop - refs.V,
                     "excess": np.nan, "class_value": np.nan, "under_bound": np.nan, "slack": np.nan})
    return rows


def generalization_study(problem: RobustProblem, M_grid, *, seeds: int = 40, ds=None,
                         proportions=None, delta: float = 0.1, alpha: float = 0.5, seed: int = 0,
                         n_jobs: int = 1, progress: bool = True) -> pd.DataFrame:
    """Sweep the total sample size ``M`` over ``M_grid`` with ``seeds`` independent draws each.

    One row per (M, seed, method): ``worst_case`` (exact population worst case, nats), ``gap``
    (minus ``V``), and for the modular classes ``excess`` (minus the class value), ``bound`` (the
    docstring bound at ``delta``, plus the measured ERM slack) and ``under_bound``. Columns
    ``m_k`` sizes are ``round(M p_k)``; ``s_max`` the largest vertex skewness. Randomness: trial
    ``(i, j)`` uses ``SeedSequence([seed, i, j])``.
    """
    from joblib import Parallel, delayed
    from tqdm.auto import tqdm

    K, n = problem.K, problem.n
    ds = [n] if ds is None else sorted({int(d) for d in ds})
    p = np.full(K, 1.0 / K) if proportions is None else np.asarray(proportions, dtype=np.float64)
    if p.shape != (K,) or p.min() <= 0 or abs(p.sum() - 1) > 1e-9:
        raise ValueError(f"proportions must be K = {K} positive numbers summing to 1; got {p}")
    refs = _references(problem, ds)
    jobs = []
    for i, M in enumerate(M_grid):
        bnd = gb_bound(problem, _sizes(M, p), delta)
        for j in range(seeds):
            jobs.append(((i, j, M, bnd), np.random.SeedSequence([seed, i, j])))
    run = Parallel(n_jobs=n_jobs, return_as="generator")(
        delayed(_trial)(problem, refs, M, p, ds, delta, alpha, ss, bnd) for (i, j, M, bnd), ss in jobs)
    rows = []
    for ((_i, j, _M, bnd), _), out in tqdm(zip(jobs, run, strict=True), total=len(jobs),
                                           desc="generalization", disable=not progress, leave=False):
        for r in out:
            r.update({"seed": j, "V": refs.V, "s_max": bnd.s_max, "delta": delta})
            rows.append(r)
    return pd.DataFrame(rows)


def skewness_study(problem: RobustProblem, M: int, proportions_list, *, seeds: int = 40,
                   seed: int = 0, n_jobs: int = 1, progress: bool = True) -> pd.DataFrame:
    """Gap of the one-hot empirical robust gate at fixed ``M`` for several sampling proportions.

    One row per (proportions, seed) with ``s_lam_star = s(lam* || p)`` (``lam*`` the population
    least-favorable mixture) and the bound's ``s_max``.
    """
    exact = exact_solve(problem)
    frames = []
    for i, p in enumerate(proportions_list):
        p = np.asarray(p, dtype=np.float64)
        df = generalization_study(problem, [M], seeds=seeds, proportions=p, seed=seed + 1000 * (i + 1),
                                  n_jobs=n_jobs, progress=progress)
        df = df[df.method == f"modular-d{problem.n}"].copy()
        df["s_lam_star"] = skewness(exact.lam, p)
        df["proportions"] = ",".join(f"{v:.3f}" for v in p)
        frames.append(df)
    return pd.concat(frames, ignore_index=True)


def fit_loglog_slope(x, y) -> float:
    """Least-squares slope of ``log y`` against ``log x`` (points with ``y > 0``)."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    ok = (x > 0) & (y > 0)
    if ok.sum() < 2:
        return float("nan")
    return float(np.polyfit(np.log(x[ok]), np.log(y[ok]), 1)[0])


def crossing_point(M, a, b) -> float:
    """First ``M`` (log-linear interpolation) where curve ``b - a`` changes sign; ``nan`` if never."""
    M, diff = np.asarray(M, dtype=np.float64), np.asarray(b) - np.asarray(a)
    for i in range(len(M) - 1):
        if diff[i] == 0:
            return float(M[i])
        if diff[i] * diff[i + 1] < 0:
            f = diff[i] / (diff[i] - diff[i + 1])
            return float(np.exp(np.log(M[i]) + f * (np.log(M[i + 1]) - np.log(M[i]))))
    return float("nan")


def summarize_generalization(df: pd.DataFrame) -> pd.DataFrame:
    """One row per method: fitted log-log slope of the mean gap (modular: of the mean excess over
    the class value), bound coverage, and the crossing sample size with each monolithic model."""
    means = df.groupby(["method", "M"], as_index=False)[["worst_case", "gap", "excess"]].mean()
    out = []
    for method, g in means.groupby("method"):
        g = g.sort_values("M")
        sub = df[df.method == method]
        row = {"method": method, "d": int(sub.d.iloc[0]), "slope_gap": fit_loglog_slope(g.M, g.gap),
               "slope_excess": np.nan, "coverage": np.nan, "trials": int(len(sub)),
               "gap_at_max_M": float(g.gap.iloc[-1]), "inaccurate_erm_fraction": np.nan}
        if method.startswith("modular"):
            row["slope_excess"] = fit_loglog_slope(g.M, g.excess)
            row["coverage"] = float(sub.under_bound.astype(float).mean())
            row["inaccurate_erm_fraction"] = float((sub.erm_status != "optimal").mean())
        out.append(row)
    return pd.DataFrame(out)


def crossings(df: pd.DataFrame) -> pd.DataFrame:
    """For every (modular class, monolithic model) pair: the sample size where the monolithic mean
    population worst case drops below the modular one (``nan``: no crossing on the grid), and which
    is better at the smallest and at the largest ``M``."""
    means = df.groupby(["method", "M"], as_index=False)["worst_case"].mean()
    rows = []
    mods = sorted(m for m in means.method.unique() if m.startswith("modular"))
    monos = sorted(m for m in means.method.unique() if m.startswith("mono"))
    for a in mods:
        ga = means[means.method == a].sort_values("M")
        for b in monos:
            gb = means[means.method == b].sort_values("M")
            diff = gb.worst_case.values - ga.worst_case.values
            rows.append({"modular": a, "monolithic": b,
                         "crossing_M": crossing_point(ga.M.values, ga.worst_case.values,
                                                      gb.worst_case.values),
                         "modular_better_at_min_M": bool(diff[0] > 0),
                         "modular_better_at_max_M": bool(diff[-1] > 0),
                         "advantage_at_min_M": float(diff[0]), "advantage_at_max_M": float(diff[-1])})
    return pd.DataFrame(rows)


@dataclass(frozen=True, eq=False)
class GeneralizationStudy:
    """Tables of :func:`default_study`: ``trials`` (one row per trial and method, the table of the
    ``generalization`` figure), its ``summary`` (:func:`summarize_generalization`), the
    ``crossings`` of modular and monolithic curves (:func:`crossings`) and the ``skewness`` trials
    (:func:`skewness_study`)."""

    trials: pd.DataFrame
    summary: pd.DataFrame
    crossings: pd.DataFrame
    skewness: pd.DataFrame


def default_study(quick: bool = False, seed: int = 0, jobs: int = 1,
                  progress: bool = True) -> GeneralizationStudy:
    """The shipped study (``robust-gates simulate generalization`` and the report).

    K = 3, experts ``0.95 D + 0.05 noise``, n = 32 (quick) or 256; a log grid of sample sizes
    up to 3e3 (quick) or 1e5; 6 (quick) or 40 seeds; gate classes of d = 1, 4, (16,) n cells.
    """
    n = 32 if quick else 256
    problem = gb_instance(np.random.default_rng([seed, 4, 6]), n=n, tau=0.05)
    grid = [30, 100, 300, 1000, 3000] if quick else [30, 100, 300, 1000, 3000, 10000, 30000, 100000]
    seeds = 6 if quick else 40
    ds = [1, 4, n] if quick else [1, 4, 16, n]
    df = generalization_study(problem, grid, seeds=seeds, ds=ds, seed=seed, n_jobs=jobs,
                              progress=progress)
    props = [[1 / 3, 1 / 3, 1 / 3], [0.5, 0.25, 0.25], [0.7, 0.2, 0.1], [0.1, 0.2, 0.7],
             [0.8, 0.1, 0.1]]
    skew = skewness_study(problem, 300 if quick else 1000, props, seeds=seeds, seed=seed,
                          n_jobs=jobs, progress=progress)
    return GeneralizationStudy(df, summarize_generalization(df), crossings(df), skew)
