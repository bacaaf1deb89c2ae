r"""Structural and monolithic distillation of the robust gate on sequences (SPEC SD, algorithms 5, 6).

Setting (exact, ``X = V^T`` enumerated): ``K`` true chains ``D_k`` and frozen n-gram experts
``P_k`` (:mod:`robust_gates.simulations.sequences`); the sequence-level robust gate ``g*`` of
``RobustProblem(D, P, Lambda)`` gives the robust model ``q* = P_g*``. A gate that looks at the
whole sequence cannot be sampled token by token, so it is distilled:

**Causal router** (structural distillation, algorithm 5). A router ``r(x_<t)`` in ``Delta_K``
mixes the experts' next-token laws, experts frozen:

.. math:: P_r(x) = \prod_{t=1}^{T} \sum_k r_k(x_{<t})\, P_k(x_t \mid x_{<t}).

*Bayes router* (SPEC SD): for a constant gate ``w``, ``r_k(x_<t) ∝ w_k P_k(x_<t)`` telescopes to
``P_r(x) = sum_k w_k P_k(x)`` exactly. *Learned router*: ``r(h) = softmax(W f(h))`` with features
``f(h) = [log P_1(h), ..., log P_K(h), onehot(last token of h), onehot(position |h|)]``
(``d = K + V + T``, ``K d`` weights; the Bayes router of any ``w > 0`` is the member
``W = [I, 0, log w 1^T]``). It is trained, from ``W = 0`` (the uniform router), by L-BFGS on the
exact objective

.. math:: KL(q^* \| P_r) = -H(q^*) - \sum_{t=0}^{T-1} \sum_{h \in V^t, v} q^*_{t+1}(h v)
          \log \sum_k r_k(h) P_k(v \mid h),

with ``q*_t`` the prefix marginals of ``q*``, and gradient
:math:`\partial/\partial s_k(h) = q^*_t(h) r_k(h) - \sum_v q^*_{t+1}(hv)\, \pi_k(h,v)`,
:math:`\pi_k(h, v) = r_k(h) P_k(v|h) / P_r(v|h)` (posterior over experts), ``s = W f``.
*Tabular router*: one free ``r(h)`` per prefix, the best causal router there is; the objective
splits into one convex problem per prefix, solved by EM (multiplicative) updates with a
Frank-Wolfe lower bound, so its KL is bracketed (``kl_lower <= best causal KL <= kl``).

**Monolithic student** (algorithm 6): one n-gram of order ``m`` fitted to ``q*`` by exact moment
matching (:func:`robust_gates.simulations.sequences.project_ngram`, the minimizer of ``KL(q* || student)``),
which discards the experts.

Both are scored by ``KL(q* || model)`` and by the worst-case loss
``max_{lam in Lambda} sum_k lam_k KL(D_k || model)`` against ``V(Lambda)``. Note that ``P_r`` need not
lie in the sequence-level envelope ``[min_k P_k, max_k P_k]`` (token-level mixing can exceed it),
so its worst case is not bounded below by ``V(Lambda)``; we report it as measured.

Cost per generated token (:func:`cost_per_token`), counted analytically: multiply-adds (MACs)
and table entries read to produce the next-token law from the running state; an n-gram lookup
is ``V`` reads and 0 MACs.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.special import entr, softmax, xlogy
from tqdm.auto import tqdm

from robust_gates.theory import RobustProblem, default_solver, solve
from robust_gates.theory.lambda_sets import Box

from .sequences import (
    NGram,
    fit_ngram,
    perturb,
    prefix_marginals,
    project_ngram,
    random_chain,
    sample,
    sequence_probabilities,
    stack_conditionals,
)

__all__ = [
    "SequenceSystem", "bayes_router", "router_model", "router_features", "LearnedRouter",
    "distill_router", "tabular_router", "TabularRouter", "cost_per_token", "DistillConfig",
    "QUICK", "FULL", "build_instance", "run_distillation", "DistillationResult", "default_study",
    "figure4_table", "TARGET", "BAYES_ROUTER", "LEARNED_ROUTER", "TABULAR_ROUTER", "student_name",
]


# --------------------------------------------------------------------------- the expert system
@dataclass(frozen=True, eq=False)
class SequenceSystem:
    """Frozen experts on ``X = V^T``: per-level conditionals and log prefix probabilities.

    ``cond[t]`` is ``(K, V^t, V)`` (``P_k(v | h)``), ``logprefix[t]`` is ``(K, V^t)``
    (``log P_k(h)``, ``t = 0..T``) and ``P`` the ``(K, V^T)`` sequence laws.
    """

    experts: tuple[NGram, ...]
    T: int
    cond: tuple[np.ndarray, ...]
    logprefix: tuple[np.ndarray, ...]

    @classmethod
    def build(cls, experts, T: int) -> SequenceSystem:
        experts = tuple(experts)
        if len(experts) < 2:
            raise ValueError(f"need at least K = 2 experts; got {len(experts)}")
        if len({e.V for e in experts}) != 1:
            raise ValueError("all experts must share one vocabulary size V")
        cond = stack_conditionals(list(experts), T)
        with np.errstate(divide="ignore"):
            logc = [np.log(c) for c in cond]
        K = len(experts)
        lp = [np.zeros((K, 1))]
        for lc in logc:
            lp.append((lp[-1][:, :, None] + lc).reshape(K, -1))
        return cls(experts, T, tuple(cond), tuple(lp))

    @property
    def K(self) -> int:
        return len(self.experts)

    @property
    def V(self) -> int:
        return self.experts[0].V

    @property
    def P(self) -> np.ndarray:
        return np.exp(self.logprefix[-1])

    @property
    def n_parameters(self) -> int:
        return int(sum(e.n_parameters for e in self.experts))


def _check_routers(system: SequenceSystem, routers) -> list[np.ndarray]:
    routers = [np.asarray(r, dtype=np.float64) for r in routers]
    if len(routers) != system.T:
        raise ValueError(f"need one router table per position t = 0..{system.T - 1}; got {len(routers)}")
    for t, r in enumerate(routers):
        if r.shape != (system.V ** t, system.K):
            raise ValueError(f"router table {t} has shape {r.shape}; need ({system.V ** t}, {system.K})")
        if r.min() < 0 or np.abs(r.sum(axis=1) - 1).max() > 1e-9:
            raise ValueError(f"router table {t} has rows outside the simplex")
    return routers


def router_model(system: SequenceSystem, routers) -> np.ndarray:
    """``P_r(x) = prod_t sum_k r_k(x_<t) P_k(x_t | x_<t)`` for every ``x``.

    ``routers[t]`` is the ``(V^t, K)`` table of ``r(h)`` over the prefixes of length ``t``.
    """
    routers = _check_routers(system, routers)
    p = np.ones(1)
    for r, c in zip(routers, system.cond, strict=True):
        p = (p[:, None] * np.einsum("hk,khv->hv", r, c)).reshape(-1)
    return p


def bayes_router(system: SequenceSystem, w: np.ndarray) -> list[np.ndarray]:
    """The causal router of the constant gate ``w``: ``r_k(h) ∝ w_k P_k(h)`` (log-space, SPEC SD)."""
    w = np.asarray(w, dtype=np.float64)
    if w.shape != (system.K,) or w.min() < 0 or abs(w.sum() - 1) > 1e-9:
        raise ValueError(f"w must be a mixture of the K = {system.K} experts; got {w}")
    with np.errstate(divide="ignore"):
        logw = np.log(w)
    return [softmax(logw[None, :] + lp.T, axis=1) for lp in system.logprefix[:-1]]


# --------------------------------------------------------------------------- learned router
def router_features(system: SequenceSystem) -> list[np.ndarray]:
    """Per level ``t``, the ``(V^t, K + V + T)`` features ``[log P_k(h), onehot(last), onehot(t)]``."""
    K, V, T = system.K, system.V, system.T
    out = []
    for t in range(T):
        F = np.zeros((V ** t, K + V + T))
        F[:, :K] = system.logprefix[t].T
        if t > 0:
            F[np.arange(V ** t), K + np.arange(V ** t) % V] = 1.0
        F[:, K + V + t] = 1.0
        out.append(F)
    return out


def _objective(W, feats, cond, marg):
    """``sum_t -sum_{h,v} q_{t+1}(hv) log P_r(v|h)`` and its gradient in ``W`` (``K x d``)."""
    J = 0.0
    G = np.zeros_like(W)
    for t, (F, C) in enumerate(zip(feats, cond, strict=True)):
        r = softmax(F @ W.T, axis=1)                      # (H, K)
        M = np.einsum("hk,khv->hv", r, C)                 # P_r(v | h)
        Q = marg[t + 1].reshape(M.shape)                  # q*(h v)
        J -= float(xlogy(Q, M).sum())
        ratio = np.divide(Q, M, out=np.zeros_like(Q), where=Q > 0)
        post = r * np.einsum("khv,hv->hk", C, ratio)      # sum_v q(hv) pi_k(h, v)
        grad_s = marg[t][:, None] * r - post
        G += grad_s.T @ F
    return J, G


@dataclass(frozen=True, eq=False)
class LearnedRouter:
    """A trained softmax router ``r(h) = softmax(W f(h))`` and its training record."""

    W: np.ndarray
    kl: float
    history: pd.DataFrame  # iteration, kl
    iterations: int
    converged: bool

    @property
    def n_parameters(self) -> int:
        return int(self.W.size)

    def routers(self, system: SequenceSystem) -> list[np.ndarray]:
        """The router tables on ``system`` (the experts may differ from the training ones)."""
        if self.W.shape != (system.K, system.K + system.V + system.T):
            raise ValueError(f"W has shape {self.W.shape}; this system needs "
                             f"({system.K}, {system.K + system.V + system.T})")
        return [softmax(F @ self.W.T, axis=1) for F in router_features(system)]


def distill_router(system: SequenceSystem, target: np.ndarray, iters: int = 300,
                   W0: np.ndarray | None = None, progress: bool = False) -> LearnedRouter:
    """Structural distillation (algorithm 5): minimize ``KL(target || P_r)`` over ``W`` by L-BFGS.

    Full-batch, exact objective and gradient (module docstring); starts from ``W0`` (default 0,
    the uniform router). ``history`` holds the KL at every accepted iterate (iteration 0 = start).
    """
    V, T = system.V, system.T
    marg = prefix_marginals(target, V, T)
    H = float(entr(target).sum())
    feats = router_features(system)
    shape = (system.K, feats[0].shape[1])
    W0 = np.zeros(shape) if W0 is None else np.asarray(W0, dtype=np.float64)
    if W0.shape != shape:
        raise ValueError(f"W0 must have shape {shape}; got {W0.shape}")

    def fun(w):
        J, G = _objective(w.reshape(shape), feats, system.cond, marg)
        return J - H, G.ravel()

    hist = [fun(W0.ravel())[0]]
    bar = tqdm(total=iters, desc="router L-BFGS", disable=not progress, leave=False)

    def callback(intermediate_result):
        hist.append(float(intermediate_result.fun))
        bar.update(1)

    res = minimize(fun, W0.ravel(), jac=True, method="L-BFGS-B", callback=callback,
                   options={"maxiter": iters, "maxcor": 20, "ftol": 1e-15, "gtol": 1e-11})
    bar.close()
    history = pd.DataFrame({"iteration": np.arange(len(hist)), "kl": hist})
    return LearnedRouter(res.x.reshape(shape), float(res.fun), history, int(res.nit),
                         bool(res.success))


# --------------------------------------------------------------------------- tabular router
@dataclass(frozen=True, eq=False)
class TabularRouter:
    """The best causal router (one ``r(h)`` per prefix), with ``kl_lower <= min KL <= kl``."""

    routers: list[np.ndarray]
    kl: float
    kl_lower: float
    iterations: int

    @property
    def n_parameters(self) -> int:
        return int(sum(r.size for r in self.routers))


def tabular_router(system: SequenceSystem, target: np.ndarray, iters: int = 3000,
                   tol: float = 1e-10) -> TabularRouter:
    r"""Best causal router: per prefix ``h``, ``min_{r in Delta_K} -sum_v q(hv) log sum_k r_k P_k(v|h)``.

    EM updates ``r_k <- r_k sum_v q(v|h) P_k(v|h) / P_r(v|h)`` (monotone, convex problem); the
    Frank-Wolfe bound ``f(r) - (grad . r - min_k grad_k)`` lower-bounds each prefix's optimum.
    Stops when the summed bound gap is ``<= tol`` or after ``iters`` sweeps.
    """
    V, T, K = system.V, system.T, system.K
    marg = prefix_marginals(target, V, T)
    H = float(entr(target).sum())
    routers = [np.full((V ** t, K), 1.0 / K) for t in range(T)]
    Qs = [marg[t + 1].reshape(V ** t, V) for t in range(T)]
    it = 0
    for it in range(1, iters + 1):  # noqa: B007
        f_tot = low_tot = 0.0
        for t in range(T):
            r, C, Q = routers[t], system.cond[t], Qs[t]
            M = np.einsum("hk,khv->hv", r, C)
            ratio = np.divide(Q, M, out=np.zeros_like(Q), where=Q > 0)
            S = np.einsum("khv,hv->hk", C, ratio)          # -grad_k
            f = -xlogy(Q, M).sum(axis=1)
            gap = (S.max(axis=1) - (r * S).sum(axis=1))    # FW gap, >= 0
            f_tot += f.sum()
            low_tot += (f - gap).sum()
            mass = marg[t]
            new = np.where(mass[:, None] > 0, r * S / np.where(mass > 0, mass, 1.0)[:, None], r)
            routers[t] = new / new.sum(axis=1, keepdims=True)
        if f_tot - low_tot <= tol:
            break
    # KL of the final tables (recomputed after the last update)
    kl = float(-H - sum(xlogy(Qs[t], np.einsum("hk,khv->hv", routers[t], system.cond[t])).sum()
                        for t in range(T)))
    return TabularRouter(routers, kl, float(low_tot - H), it)


# --------------------------------------------------------------------------- cost model
def cost_per_token(method: str, K: int, V: int) -> dict[str, int]:
    """Analytic cost of producing one next-token law from the running state.

    ``ngram``: one table row: ``V`` reads, 0 MACs (the context index update is not counted).
    ``learned``: the experts' rows (``K V`` reads); update the ``K`` prefix log-likelihoods
    (``K`` adds); ``s = A l + B[:, last] + c[:, t]`` (``K^2`` MACs, ``2K`` adds, ``K^2 + 2K``
    reads); softmax (``2K``: exp and divide); mixture ``sum_k r_k P_k(.|h)`` (``K V`` MACs).
    ``bayes``: as ``learned`` without the linear map (``s = log w + l``: ``K`` adds, ``K`` reads).
    ``tabular``: the experts' rows and one router row (``K V + K`` reads), mixture ``K V`` MACs.
    """
    if method == "ngram":
        return {"macs": 0, "reads": V}
    if method == "learned":
        return {"macs": K + K * K + 2 * K + 2 * K + K * V, "reads": K * V + K * K + 2 * K}
    if method == "bayes":
        return {"macs": K + K + 2 * K + K * V, "reads": K * V + K}
    if method == "tabular":
        return {"macs": K * V, "reads": K * V + K}
    raise ValueError(f"unknown method {method!r}; choose ngram, learned, bayes or tabular")


# --------------------------------------------------------------------------- the experiment
@dataclass(frozen=True)
class DistillConfig:
    """One sequence-distillation experiment (``|X| = V^T``).

    ``experts = "fitted"``: each expert is the chain's-order n-gram fitted to ``expert_samples``
    sequences of its domain (add-``alpha``); the upgrade refits expert ``upgrade_domain`` on
    ``upgrade_samples``. ``experts = "perturbed"``: each expert is its true chain with every row
    mixed with Dirichlet noise of weight ``perturb_strength``; the upgrade uses ``upgrade_strength``.
    """

    V: int = 6
    T: int = 6
    chain_orders: tuple[int, ...] = (0, 1, 2)
    concentration: float = 0.4
    experts: str = "fitted"
    expert_samples: int = 200
    alpha: float = 0.5
    perturb_strength: float = 0.3
    upgrade_domain: int = 2
    upgrade_samples: int = 20000
    upgrade_strength: float = 0.02
    lam_lo: float = 0.1
    lam_hi: float = 0.7
    student_orders: tuple[int, ...] = (0, 1, 2, 3, 4, 5)
    router_iters: int = 400
    tabular_iters: int = 3000
    seed: int = 0


QUICK = DistillConfig(V=4, T=5, student_orders=(0, 1, 2, 3, 4), router_iters=300, tabular_iters=2000)
FULL = DistillConfig()


def build_instance(cfg: DistillConfig):
    """True chains, fitted experts, the upgraded expert set and ``Lambda`` (a box) from ``cfg.seed``."""
    K = len(cfg.chain_orders)
    if not 0 <= cfg.upgrade_domain < K:
        raise ValueError(f"upgrade_domain must be in 0..{K - 1}; got {cfg.upgrade_domain}")
    if cfg.experts not in ("fitted", "perturbed"):
        raise ValueError(f"experts must be 'fitted' or 'perturbed'; got {cfg.experts!r}")
    rng = np.random.default_rng([cfg.seed, 6])
    chains = [random_chain(cfg.V, o, rng, cfg.concentration) for o in cfg.chain_orders]
    k0 = cfg.upgrade_domain
    if cfg.experts == "fitted":
        experts = [fit_ngram(sample(c, cfg.T, cfg.expert_samples, rng), cfg.V, c.order, cfg.alpha)
                   for c in chains]
        better = fit_ngram(sample(chains[k0], cfg.T, cfg.upgrade_samples, rng), cfg.V,
                           chains[k0].order, cfg.alpha)
    else:
        experts = [perturb(c, cfg.perturb_strength, rng) for c in chains]
        better = perturb(chains[k0], cfg.upgrade_strength, rng)
    upgraded = experts[:k0] + [better] + experts[k0 + 1:]
    Lambda = Box(np.full(K, cfg.lam_lo), np.full(K, cfg.lam_hi))
    return chains, experts, upgraded, Lambda


@dataclass(frozen=True, eq=False)
class DistillationResult:
    """Tables of one experiment: ``methods`` (one row per method), ``training`` (KL per
    iteration), ``upgrade`` (each system before and after the expert upgrade) and ``instance``."""

    methods: pd.DataFrame
    training: pd.DataFrame
    upgrade: pd.DataFrame
    instance: pd.DataFrame


#: method names of the result tables (rows are selected by these, never by position)
TARGET = "robust gate g* (sequence level)"
BAYES_ROUTER = "structural: Bayes router, w = lam*"
LEARNED_ROUTER = "structural: learned router"
TABULAR_ROUTER = "structural: tabular router (best causal)"


def student_name(order: int) -> str:
    """The method name of the monolithic n-gram student of ``order``."""
    return f"monolithic: {order}-order n-gram"


def _row(method, family, problem, q, target, params, total, cost, **extra):
    """One result row: size, cost per token, ``KL(target || q)`` and the worst case of ``q``."""
    worst, lam = problem.worst_case(q)
    kl = float(np.sum(xlogy(target, target) - xlogy(target, q)))
    return {"method": method, "family": family, "params": int(params), "total_params": int(total),
            "macs_per_token": cost["macs"] if cost else np.nan,
            "reads_per_token": cost["reads"] if cost else np.nan,
            "kl_to_gstar": kl, "worst_case": float(worst),
            "worst_lam": np.array2string(lam, precision=3, separator=" "), **extra}


def _router_row(router: LearnedRouter, system: SequenceSystem, problem, target) -> dict:
    """The learned router's row with its weights acting on ``system``'s experts."""
    return _row(LEARNED_ROUTER, "structural", problem, router_model(system, router.routers(system)),
                target, router.n_parameters, router.n_parameters + system.n_parameters,
                cost_per_token("learned", system.K, system.V))


def _students(target: np.ndarray, V: int, T: int, orders) -> dict[int, tuple[np.ndarray, int]]:
    """Monolithic students fitted to ``target``: order -> (sequence law, parameter count)."""
    out = {}
    for m in orders:
        student = project_ngram(target, V, T, m)
        out[m] = (sequence_probabilities(student, T), student.n_parameters)
    return out


def _student_rows(students, problem, target, K: int, V: int) -> list[dict]:
    return [_row(student_name(m), "monolithic", problem, q, target, size, size,
                 cost_per_token("ngram", K, V), order=m) for m, (q, size) in students.items()]


def _version_rows(experts: str, retrained: bool, system: SequenceSystem, problem, target, value,
                  router: LearnedRouter, students) -> list[dict]:
    """Rows of the upgrade table for one version of the experts: the router, then the students."""
    tag = {"experts": experts, "value": value, "retrained": retrained}
    rows = [_router_row(router, system, problem, target),
            *_student_rows(students, problem, target, system.K, system.V)]
    return [{**row, **tag} for row in rows]


def run_distillation(cfg: DistillConfig = QUICK, progress: bool = True) -> DistillationResult:
    """Run the experiment of ``cfg``: robust gate, structural and monolithic distillation, upgrade.

    After the upgrade the *same* router weights ``W`` act on the new experts' features and the
    students are kept as trained (rows ``retrained = False``); for reference, the router
    (warm-started at ``W``) and the students are also refitted to the new ``P_g*``
    (``retrained = True``). Robust gates come from the fast exact solver when registered (else
    the reference one), certified to ``1e-9`` nats.
    """
    chains, experts, upgraded, Lambda = build_instance(cfg)
    T, V, K = cfg.T, cfg.V, len(chains)
    D = np.stack([sequence_probabilities(c, T) for c in chains])
    steps = tqdm(total=6, desc=f"distillation V={V} T={T}", disable=not progress)

    def solve_system(exps):
        system = SequenceSystem.build(exps, T)
        problem = RobustProblem(D, system.P, Lambda)
        res = solve(problem, solver=default_solver(), tol=1e-9)
        return system, problem, res

    system, problem, res = solve_system(experts)
    q = res.model
    steps.update(1)
    router = distill_router(system, q, cfg.router_iters, progress=progress)
    steps.update(1)
    tab = tabular_router(system, q, cfg.tabular_iters)
    steps.update(1)
    w = np.maximum(res.lam, 0) / np.maximum(res.lam, 0).sum()
    E = system.n_parameters
    bayes = _row(BAYES_ROUTER, "structural", problem, router_model(system, bayes_router(system, w)), q,
                 K, K + E, cost_per_token("bayes", K, V))
    students = _students(q, V, T, [m for m in cfg.student_orders if m < T])
    rows = [
        _row(TARGET, "target", problem, q, q, K * problem.n, K * problem.n + E, None,
             value=res.value, gap=res.gap),
        bayes,
        _router_row(router, system, problem, q),
        _row(TABULAR_ROUTER, "structural", problem, router_model(system, tab.routers), q,
             tab.n_parameters, tab.n_parameters + E, cost_per_token("tabular", K, V),
             kl_lower=tab.kl_lower),
        *_student_rows(students, problem, q, K, V),
    ]
    steps.update(1)
    methods = pd.DataFrame(rows)
    methods["value"] = res.value
    methods["gap"] = res.gap

    # ----- expert upgrade: same router weights W and same students, new expert k0
    system2, problem2, res2 = solve_system(upgraded)
    q2 = res2.model
    steps.update(1)
    router2 = distill_router(system2, q2, cfg.router_iters, W0=router.W)
    upgrade = pd.DataFrame([
        *_version_rows("original", False, system, problem, q, res.value, router, students),
        *_version_rows("upgraded", False, system2, problem2, q2, res2.value, router, students),
        *_version_rows("upgraded", True, system2, problem2, q2, res2.value, router2,
                       _students(q2, V, T, students)),
    ])
    steps.update(1)
    steps.close()

    training = router.history.assign(method=LEARNED_ROUTER, bayes_kl=bayes["kl_to_gstar"],
                                     tabular_kl=tab.kl, tabular_kl_lower=tab.kl_lower)
    eps = problem.expert_errors
    eps2 = problem2.expert_errors
    instance = pd.DataFrame({
        "domain": np.arange(K), "chain_order": [c.order for c in chains],
        "entropy_per_token": problem.entropies / T, "expert_error": eps,
        "expert_error_upgraded": eps2, "lam_star": res.lam, "lam_star_upgraded": res2.lam,
        "value": res.value, "value_upgraded": res2.value, "gap": res.gap, "gap_upgraded": res2.gap,
        "n": problem.n, "solver": res.solver, "router_converged": router.converged,
        "router_iterations": router.iterations, "tabular_iterations": tab.iterations,
        **{f"cfg_{k}": str(v) for k, v in asdict(cfg).items()},
    })
    return DistillationResult(methods, training, upgrade, instance)


def default_study(quick: bool = False, seed: int = 0, progress: bool = True) -> DistillationResult:
    """The shipped study (``robust-gates distill``): ``QUICK`` (V = 4, T = 5) or ``FULL``
    (V = 6, T = 6) with the given seed; :func:`figure4_table` turns it into the figure's data."""
    return run_distillation(replace(QUICK if quick else FULL, seed=seed), progress=progress)


def figure4_table(result: DistillationResult) -> pd.DataFrame:
    """Tidy Figure 4 data: ``record`` = ``method`` (quality and cost of every method, original
    and upgraded experts, router not retrained) or ``training`` (KL per L-BFGS iteration)."""
    keep = ["method", "family", "params", "total_params", "macs_per_token", "reads_per_token",
            "kl_to_gstar", "worst_case", "value"]
    up = result.upgrade[~result.upgrade.retrained]
    meth = pd.concat([result.methods[keep].assign(experts="original"),
                      up[up.experts == "upgraded"][keep].assign(experts="upgraded")])
    meth = meth.assign(record="method", iteration=np.nan)
    value = result.methods.set_index("method").at[TARGET, "value"]
    tr = result.training.rename(columns={"kl": "kl_to_gstar"})
    tr = tr[["iteration", "kl_to_gstar", "tabular_kl", "bayes_kl"]].assign(
        record="training", method=LEARNED_ROUTER, family="structural", experts="original", value=value)
    return pd.concat([meth, tr], ignore_index=True)
