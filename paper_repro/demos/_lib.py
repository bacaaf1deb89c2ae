r"""Computations behind the teaching demos (the marimo notebooks next to this module).

The notebooks stay thin: every number they show comes from one of the functions here, which
call the library (:func:`robust_gates.theory.solve` with the fast exact solver,
:func:`robust_gates.theory.certify`,
:func:`robust_gates.simulations.primal_dual.primal_dual`, ...) and never re-implement a solver.
Functions whose
result depends only on slider values are memoized (``functools.lru_cache``) so that moving one
slider recomputes only what that slider changes; the cached objects are treated as read-only.

Demo ``game_on_simplex`` (SPEC T1, T3, LF). ``K = 3`` domains ``D_k = (1 - s) B_bar + s B_k`` with
``B_k ~ Dirichlet(0.3)`` on ``n`` points and ``s`` the *diversity*; experts
``P_k = (1 - e) D_k + e N_k`` with ``N_k ~ Dirichlet(1)`` and ``e`` the *expert error*; ``Lambda``
the box ``{lam : |lam_k - c_k| <= h}`` around a centre ``c`` of the simplex.

Demo ``jsd_gap`` (SPEC MB, MA). Three domains on a grid of ``[0, 1]``, each an equal mixture of two
Gaussian bumps (six interleaved modes spread over a width set by the *separation*); perfect
experts (each expert is its domain, a two-bump model). The monolithic model is a mixture of ``c``
Gaussians (its *capacity*) fitted by maximum likelihood (EM) to the uniform aggregate.

Demo ``learning_from_samples`` (SPEC algorithm 4, GB). ``m`` samples per domain form an empirical
game; the stochastic primal-dual method learns a one-hot gate on it (certified gap on the
empirical game) and the learned model is scored on the population game.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd

from robust_gates.theory import Box, RobustProblem, certify, jensen_shannon, kl, min_kl_over_lambda, solve

__all__ = [
    "draw_game", "box_around", "simplex_grid", "phi_grid", "game_summary",
    "mode_centres", "jsd_domains", "fit_gaussian_mixture", "jsd_point", "jsd_sweep",
    "learning_problem", "empirical_problem", "learn_from_samples", "generalization_curve", "curve_slope",
    "SEPARATIONS", "SAMPLE_SIZES", "LEARN_ROUNDS", "LEARN_STEPS", "warm_learning",
]

# ----------------------------------------------------------------------------- demo 1: the game

#: size of the sample space in the simplex demo (small: every slider move re-solves two games)
N_SIMPLEX = 12


@lru_cache(maxsize=64)
def draw_game(seed: int, diversity: float, error: float, n: int = N_SIMPLEX) -> tuple[np.ndarray, np.ndarray]:
    """Domains ``D`` and experts ``P`` (both ``3 x n``) for the simplex demo (module docstring).

    ``diversity = 0`` gives three identical domains (``V = 0``); ``error = 0`` perfect experts.
    The random draws depend on ``seed`` only, so the sliders deform one fixed instance.
    """
    if not 0 <= diversity <= 1 or not 0 <= error < 1:
        raise ValueError(f"diversity must lie in [0, 1] and error in [0, 1); got {diversity}, {error}")
    rng = np.random.default_rng([int(seed), 10])
    B = rng.dirichlet(np.full(n, 0.3), size=3)
    N = rng.dirichlet(np.ones(n), size=3)
    D = (1 - diversity) * B.mean(axis=0) + diversity * B
    P = (1 - error) * D + error * N
    for M in (D, P):
        M /= M.sum(axis=1, keepdims=True)
        M.setflags(write=False)
    return D, P


def box_around(centre, half_width: float) -> Box:
    """The box ``{lam in simplex : |lam_k - c_k| <= h}``; ``centre`` is renormalized onto the simplex
    (negative entries are clipped first) and always lies in the box, so it is never empty."""
    c = np.clip(np.asarray(centre, dtype=np.float64), 0.0, None)
    if c.shape != (3,) or c.sum() <= 0:
        raise ValueError(f"the centre needs three non-negative weights, not all zero; got {centre!r}")
    if not 0 < half_width <= 1:
        raise ValueError(f"the half-width must lie in (0, 1]; got {half_width!r}")
    c = c / c.sum()
    return Box(np.clip(c - half_width, 0.0, 1.0), np.clip(c + half_width, 0.0, 1.0))


def simplex_grid(steps: int) -> np.ndarray:
    """All points of ``Delta_3`` with coordinates in ``{0, 1/steps, ..., 1}`` (rows)."""
    return np.array([(i / steps, j / steps, (steps - i - j) / steps)
                     for i in range(steps + 1) for j in range(steps + 1 - i)])


@lru_cache(maxsize=32)
def phi_grid(seed: int, diversity: float, error: float, steps: int = 30) -> pd.DataFrame:
    """The dual function ``phi(lam) = min_{g in G_1} L(g, lam)`` on a grid of the simplex (columns
    ``l0, l1, l2, phi``, nats). It does not depend on ``Lambda``: moving the box reuses it."""
    D, P = draw_game(seed, diversity, error)
    prob = RobustProblem(D, P)
    pts = simplex_grid(steps)
    return pd.DataFrame({"l0": pts[:, 0], "l1": pts[:, 1], "l2": pts[:, 2],
                         "phi": [prob.phi(lam) for lam in pts]})


@lru_cache(maxsize=32)
def _solve_simplex(seed: int, diversity: float, error: float):
    D, P = draw_game(seed, diversity, error)
    prob = RobustProblem(D, P)
    return prob, solve(prob, solver="fast")


def game_summary(seed: int, diversity: float, error: float, centre, half_width: float) -> dict:
    r"""Solve the game on the simplex and on the box ``Lambda`` (fast exact solver, certified).

    Returns a dict: ``D``, ``P``, ``box`` (the :class:`~robust_gates.theory.Box`), ``res_simplex``/``res_box``
    (:class:`~robust_gates.theory.SolveResult`), ``V_simplex``/``V_box`` (values), ``losses_simplex``/
    ``losses_box`` (``KL(D_k || P_g*)`` of each robust model), ``t3_drop`` =
    ``V(Delta) - V(Lambda)`` and, with perfect experts only (T3 is stated for them),
    ``t3_bound`` = :math:`\min_{\lambda\in\Lambda} KL(D_\lambda \| D_{\lambda^*})` with its
    Frank-Wolfe certificate ``t3_fw`` (``nan`` otherwise).
    """
    D, P = draw_game(seed, diversity, error)
    full, rs = _solve_simplex(seed, diversity, error)
    box = box_around(centre, half_width)
    restricted = RobustProblem(D, P, Lambda=box)
    rb = solve(restricted, solver="fast")
    out = {"D": D, "P": P, "box": box, "res_simplex": rs, "res_box": rb,
           "V_simplex": float(rs.value), "V_box": float(rb.value),
           "losses_simplex": full.losses(rs.model), "losses_box": full.losses(rb.model),
           "perfect": bool(full.perfect_experts), "t3_drop": float(rs.value - rb.value),
           "t3_bound": float("nan"), "t3_fw": float("nan")}
    if full.perfect_experts:
        m, _, fw = min_kl_over_lambda(D, rs.lam @ D, box)
        out["t3_bound"], out["t3_fw"] = float(m), float(fw)
    return out


# ----------------------------------------------------------------------------- demo 2: JSD gap

#: grid size and bump width (standard deviation) of the one-dimensional domains
N_LINE = 200
MODE_WIDTH = 0.025
#: separations of the sweep drawn behind the current one
SEPARATIONS = tuple(np.round(np.linspace(0.0, 1.0, 21), 3))


def _grid(n: int = N_LINE) -> np.ndarray:
    return (np.arange(n) + 0.5) / n


def _bumps(x: np.ndarray, mu: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """Rows: discretized Gaussians ``N(mu_j, sigma_j^2)`` on ``x``, each normalized to sum 1 (computed
    in log space, with a floor of 1e-300 so far tails stay positive as the true density is)."""
    z = -0.5 * ((x[None, :] - mu[:, None]) / sigma[:, None]) ** 2
    w = np.exp(z - z.max(axis=1, keepdims=True))
    w = np.maximum(w / w.sum(axis=1, keepdims=True), 1e-300)
    return w / w.sum(axis=1, keepdims=True)


def mode_centres(separation: float) -> np.ndarray:
    """Six mode centres ``0.5 + 0.9 s (j - 2.5)/5`` (``j = 0..5``): all at 0.5 when ``s = 0``, spread
    over ``[0.05, 0.95]`` when ``s = 1``. Domain ``k`` owns modes ``k`` and ``k + 3``."""
    if not 0 <= separation <= 1:
        raise ValueError(f"the separation must lie in [0, 1]; got {separation!r}")
    return 0.5 + 0.9 * separation * (np.arange(6) - 2.5) / 5


def jsd_domains(separation: float, n: int = N_LINE) -> np.ndarray:
    """The three two-mode domains (``3 x n``) for a separation in ``[0, 1]``."""
    b = _bumps(_grid(n), mode_centres(separation), np.full(6, MODE_WIDTH))
    return 0.5 * (b[:3] + b[3:])


def fit_gaussian_mixture(x: np.ndarray, w: np.ndarray, c: int, iters: int = 300,
                         tol: float = 1e-10, min_sigma: float = 0.01) -> np.ndarray:
    r"""Maximum-likelihood mixture of ``c`` Gaussians for the weighted points ``(x, w)`` by EM, returned
    as a distribution on ``x``.

    Maximizes :math:`\sum_x w(x) \log \sum_j \pi_j N(x; \mu_j, \sigma_j^2)`, i.e. minimizes
    ``KL(w || model)`` (what retraining on an aggregate with weights ``w`` does). Deterministic start:
    means at the ``(j + 1/2)/c`` quantiles of ``w``, equal weights and widths; ``sigma_j >=
    min_sigma``. EM increases the likelihood monotonically but may stop at a local optimum.
    """
    if int(c) != c or c < 1:
        raise ValueError(f"the number of components must be a positive integer; got {c!r}")
    w = np.asarray(w, dtype=np.float64)
    w = w / w.sum()
    cdf = np.cumsum(w)
    mu = np.interp((np.arange(c) + 0.5) / c, cdf, x)
    sd = float(np.sqrt(w @ (x - w @ x) ** 2))
    sigma = np.full(c, max(sd / c, min_sigma))
    pi = np.full(c, 1.0 / c)
    prev = -np.inf
    for _ in range(iters):
        logp = (np.log(pi)[:, None] - np.log(sigma)[:, None]
                - 0.5 * ((x[None, :] - mu[:, None]) / sigma[:, None]) ** 2)
        top = logp.max(axis=0)
        lse = top + np.log(np.exp(logp - top).sum(axis=0))
        r = np.exp(logp - lse) * w[None, :]
        ll = float(w @ lse)
        nk = np.maximum(r.sum(axis=1), 1e-300)
        pi = nk / nk.sum()
        mu = (r @ x) / nk
        sigma = np.maximum(np.sqrt((r * (x[None, :] - mu[:, None]) ** 2).sum(axis=1) / nk), min_sigma)
        if ll - prev < tol:
            break
        prev = ll
    return pi @ _bumps(x, mu, sigma)


@lru_cache(maxsize=256)
def jsd_point(separation: float, capacity: int) -> dict:
    r"""Everything the JSD demo shows at one (separation, capacity).

    ``gated``: the robust gated model of the perfect two-bump experts over the simplex (fast solver,
    ``V`` its certified value, which equals the capacity ``C(D) = max_lam JS_lam(D)`` for perfect
    experts); ``js_star`` = ``JS_{lam*}(D)`` recomputed by :func:`robust_gates.theory.jensen_shannon`;
    ``js_uniform`` = ``JS`` at uniform weights; ``mono`` = the ``capacity``-Gaussian model retrained on
    the uniform aggregate, ``aggregate`` = the aggregate itself (a monolithic model of unlimited
    capacity); ``worst_*`` = ``max_k KL(D_k || model)``; ``ma_bound`` = ``KL(D_{lam*} || mono)``, the
    SPEC MA lower bound on ``worst_mono - V`` (perfect experts, ``eps = 0``).
    """
    x = _grid()
    D = jsd_domains(separation)
    res = solve(RobustProblem(D), solver="fast")
    agg = D.mean(axis=0)
    mono = fit_gaussian_mixture(x, agg, int(capacity))
    lam_u = np.full(3, 1.0 / 3)
    out = {
        "x": x, "D": D, "gated": res.model, "mono": mono, "aggregate": agg, "lam_star": res.lam,
        "V": float(res.value), "gap": float(res.gap),
        "js_star": float(jensen_shannon(res.lam, D)), "js_uniform": float(jensen_shannon(lam_u, D)),
        "worst_gated": float(np.max(kl(D, res.model))), "worst_mono": float(np.max(kl(D, mono))),
        "worst_aggregate": float(np.max(kl(D, agg))),
        "ma_bound": float(kl(res.lam @ D, mono)),
    }
    for v in out.values():
        if isinstance(v, np.ndarray):
            v.setflags(write=False)
    return out


@lru_cache(maxsize=16)
def jsd_sweep(capacity: int) -> pd.DataFrame:
    """:func:`jsd_point` over :data:`SEPARATIONS` (one row per separation; scalar columns only)."""
    rows = []
    for s in SEPARATIONS:
        p = jsd_point(float(s), int(capacity))
        rows.append({"separation": float(s), **{k: v for k, v in p.items() if isinstance(v, float)}})
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------- demo 3: samples

#: sample sizes per domain offered by the slider
SAMPLE_SIZES = (10, 30, 100, 300, 1000, 3000, 10000)
#: rounds of the primal-dual runs of the learning demo, and the default step sizes
LEARN_ROUNDS = 400
LEARN_STEPS = (0.3, 0.2)
#: the prior-knowledge box of the learning demo
LEARN_BOX = ((0.1, 0.1, 0.1), (0.6, 0.6, 0.6))


@lru_cache(maxsize=8)
def learning_problem(seed: int = 0) -> RobustProblem:
    """Population game of the learning demo: ``K = 3``, ``n = 10``, Dirichlet(0.7) domains, experts
    ``0.8 D + 0.2 Dirichlet(1)`` (:func:`robust_gates.simulations.primal_dual.pd_instance`), ``Lambda``
    the box
    ``[0.1, 0.6]^3``, cross-entropy payoff (the loss a learner can estimate from samples)."""
    from robust_gates.simulations.primal_dual import pd_instance

    return pd_instance(np.random.default_rng([int(seed), 2602]), Lambda=Box(*LEARN_BOX),
                       payoff="cross_entropy")


@lru_cache(maxsize=64)
def empirical_problem(seed: int, m: int) -> RobustProblem:
    """The game on the empirical distributions of ``m`` samples per domain (same experts, ``Lambda``)."""
    from robust_gates.simulations.generalization import draw_counts

    pop = learning_problem(seed)
    if int(m) != m or m < 1:
        raise ValueError(f"the sample size m must be a positive integer; got {m!r}")
    counts = draw_counts(pop, np.full(pop.K, int(m)), np.random.default_rng([int(seed), int(m), 7]))
    return RobustProblem(counts / counts.sum(axis=1, keepdims=True), pop.P, pop.Lambda, payoff=pop.payoff)


@lru_cache(maxsize=64)
def _exact(problem: RobustProblem):
    return solve(problem, solver="fast")


@lru_cache(maxsize=128)
def learn_from_samples(seed: int, m: int, lam_step: float = LEARN_STEPS[0], lr: float = LEARN_STEPS[1],
                       rounds: int = LEARN_ROUNDS) -> dict:
    r"""Run the stochastic primal-dual method (one-hot gate) on the empirical game of ``m`` samples.

    Returns ``trajectory`` (the :func:`~robust_gates.simulations.primal_dual.primal_dual` records: averaged
    ``lam_k`` and the certified gap on the empirical game per round), ``lam`` and ``gap`` (final),
    ``V_emp``/``lam_emp`` (exact empirical game), ``V``/``lam_star`` (exact population game),
    ``pop_worst`` = population worst case of the learned model and its ``excess = pop_worst - V``
    (nats), ``excess_exact`` the same for the exact robust model of the samples, and
    ``recheck_gap`` (the final gap recomputed by :func:`robust_gates.theory.certify`).
    """
    from robust_gates.simulations.primal_dual import primal_dual

    pop, emp = learning_problem(seed), empirical_problem(seed, m)
    res = primal_dual(emp, "onehot", rng=np.random.default_rng([int(seed), int(m), 11]), rounds=int(rounds),
                      lam_step=float(lam_step), lr=float(lr), records=15, progress=False)
    exact_emp, exact_pop = _exact(emp), _exact(pop)
    pop_worst = float(pop.worst_case(res.output.model)[0])
    exact_worst = float(pop.worst_case(exact_emp.model)[0])
    return {"trajectory": res.trajectory, "lam": res.lam, "gap": float(res.gap),
            "recheck_gap": float(certify(emp, res.output.gate, res.lam).gap),
            "V_emp": float(exact_emp.value), "lam_emp": exact_emp.lam,
            "V": float(exact_pop.value), "lam_star": exact_pop.lam,
            "pop_worst": pop_worst, "excess": pop_worst - float(exact_pop.value),
            "excess_exact": exact_worst - float(exact_pop.value)}


def warm_learning(seed: int = 0) -> None:
    """Run :func:`learn_from_samples` with the default steps for every slider value of ``m`` (about 1 s),
    so moving only the sample-size slider costs no computation."""
    for m in SAMPLE_SIZES:
        learn_from_samples(seed, m)


@lru_cache(maxsize=8)
def generalization_curve(seed: int = 0, seeds: int = 8) -> pd.DataFrame:
    """Mean population gap ``F(q_hat) - V`` of the exact empirical robust model (one-hot gate class,
    ``modular``) and of the monolithic DRO model fitted on the same samples, against the samples
    per domain ``m``, over ``seeds`` draws
    (:func:`robust_gates.simulations.generalization.generalization_study`).
    Columns ``method, m, gap, gap_sd, trials``."""
    from robust_gates.simulations.generalization import generalization_study

    pop = learning_problem(seed)
    grid = [3 * m for m in SAMPLE_SIZES]
    df = generalization_study(pop, grid, seeds=seeds, ds=[pop.n], seed=int(seed), progress=False)
    df = df[df.method.isin([f"modular-d{pop.n}", "mono-dro"])].copy()
    names = {f"modular-d{pop.n}": "modular (robust gate)", "mono-dro": "monolithic (DRO)"}
    df["method"] = df.method.map(names)
    df["m"] = df.M // pop.K
    g = df.groupby(["method", "m"], as_index=False).agg(gap=("gap", "mean"), gap_sd=("gap", "std"),
                                                        trials=("gap", "size"))
    return g



def curve_slope(curve: pd.DataFrame, method: str = "modular (robust gate)") -> float:
    """Least-squares slope of log(mean gap) against log(m) for ``method`` in a
    :func:`generalization_curve` table (:func:`robust_gates.simulations.generalization.fit_loglog_slope`)."""
    from robust_gates.simulations.generalization import fit_loglog_slope

    g = curve[curve.method == method]
    if g.empty:
        raise ValueError(f"no rows for method {method!r}; the table has {sorted(curve.method.unique())}")
    return fit_loglog_slope(g.m, g.gap)
