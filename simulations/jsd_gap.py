r"""The JSD gap on sequences (SPEC JG, paper section 4.5): exact computations on Markov chains.

Setting. Domains ``D_1..D_K`` and experts ``P_1..P_K`` are first-order Markov chains on the
vocabulary ``{0..V-1}``: chain ``c`` has an initial law ``c.init`` (``V``) and a transition
``c.trans`` (``V x V``, rows on the simplex), and its law on ``X = V^T`` is
``c(x) = init[x_1] prod_{t>=2} trans[x_{t-1}, x_t]``. A mixture weight ``lam`` (in the simplex)
is both the adversary's mixture and the constant gate ``w = lam``.

Two models built from the same experts:

* **sequence-level mixture** (what the Bayes router of SPEC SD realizes token by token):
  ``P_lam(x) = sum_k lam_k P_k(x)``. Its loss is
  ``R(T) = sum_k lam_k KL(D_k^{1:T} || P_lam^{1:T})``.
* **token-level mixture** (domain blind, fixed weights): ``P_tok(x) = prod_t sum_k w_k
  P_k(x_t | x_<t)``. For Markov experts the mixed conditional depends on ``x_{t-1}`` only, so
  ``P_tok`` is itself the Markov chain with initial law ``sum_k w_k P_k.init`` and transition
  ``sum_k w_k P_k.trans`` (:func:`token_mixture`). Its loss is
  ``Tok(T) = sum_k lam_k KL(D_k^{1:T} || P_tok^{1:T})``.

**Forward recursion (exact for any T).** For two chains ``d``, ``p`` the chain rule gives

.. math:: KL(d^{1:T} \| p^{1:T}) = KL(d.init \| p.init)
          + \sum_{t=1}^{T-1} \sum_s \mu_t(s)\, KL(d.trans[s] \| p.trans[s]),

with ``mu_t`` the law of ``x_t`` under ``d`` (``mu_1 = d.init``, ``mu_{t+1} = mu_t d.trans``).
Only the ``V``-vectors ``mu_t`` are propagated, never a sequence probability, so nothing
underflows at ``T = 1000`` (:func:`chain_kl`, ``O(T V^2)``).

**Linear growth.** Write ``f_k(s) = KL(D_k.trans[s] || P_tok.trans[s])``, ``pi_k`` the stationary
law of ``D_k`` and ``r = sum_k lam_k pi_k . f_k``. The increment of ``Tok`` at step ``t`` is
``sum_k lam_k mu_{k,t} . f_k``, and ``|(mu_{k,t} - pi_k) . f_k| <= osc(f_k) TV(mu_{k,t}, pi_k)``
(``osc = max - min`` over the states). With Dobrushin's coefficient
``delta_k = max_{s,s'} TV(trans[s], trans[s'])``, ``TV(mu_{k,t}, pi_k) <= delta_k^{t-1}
TV(mu_{k,1}, pi_k)``, so

.. math:: |Tok(T) - Tok(1) - (T-1) r| \le \sum_k \lambda_k\, osc(f_k)\, TV(D_k.init, \pi_k)
          \sum_{j=0}^{T-2} \delta_k^j =: rem(T),

bounded in ``T`` when every ``delta_k < 1``, and zero when every domain starts stationary
(:func:`linear_growth`). So ``Tok`` grows linearly with slope ``r``, and ``r > 0`` as soon as
some domain of positive weight has, at a state it visits, a conditional that differs from the
mixed one.

**Router side.** ``R(T)`` needs the posterior over experts given the whole prefix, a
continuous hidden state, so it is computed by enumeration of ``V^T`` (log space, every level
``t <= T`` at once: :func:`enumerate_levels`) where that is small, and for perfect experts
beyond by Monte Carlo (:func:`router_monte_carlo`) through the mutual-information form
``R(T) = H(lam) - E_{x ~ D_lam} H(pi(. | x))``, ``pi(k|x) = lam_k D_k(x) / D_lam(x)``, whose
integrand lies in ``[0, log K]`` (Hoeffding gives a rigorous interval).

Glossary: ``V`` vocabulary, ``T`` length, ``lam`` mixture (also the gate ``w``), ``domains`` /
``experts`` lists of :class:`MarkovChain`, ``rng`` an explicit ``numpy.random.Generator``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import entr, logsumexp, rel_entr

from robust_gates.theory._validate import check_distributions

__all__ = [
    "MarkovChain", "token_mixture", "state_marginals", "chain_kl", "stationary", "dobrushin",
    "LinearGrowth", "linear_growth", "EnumeratedLevels", "enumerate_levels", "log_sequence_probs",
    "router_monte_carlo", "mixture_entropy", "MAX_ENUMERATED",
]

#: the largest ``V^T`` :func:`enumerate_levels` accepts
MAX_ENUMERATED = 1 << 20
_ROW_TOL = 1e-9


@dataclass(frozen=True, eq=False)
class MarkovChain:
    """A first-order Markov chain on ``{0..V-1}``: initial law ``init`` and transition ``trans``."""

    init: np.ndarray
    trans: np.ndarray

    def __post_init__(self):
        init = np.array(self.init, dtype=np.float64)
        trans = np.array(self.trans, dtype=np.float64)
        V = init.shape[0] if init.ndim == 1 else -1
        if V < 2 or trans.shape != (V, V):
            raise ValueError(f"a chain needs init of shape (V,) with V >= 2 and trans of shape (V, V); "
                             f"got {init.shape} and {trans.shape}")
        check_distributions(init[None, :], "the chain's init", "rows", tol=_ROW_TOL)
        check_distributions(trans, "the chain's trans", "rows", tol=_ROW_TOL)
        init.setflags(write=False)
        trans.setflags(write=False)
        object.__setattr__(self, "init", init)
        object.__setattr__(self, "trans", trans)

    @property
    def V(self) -> int:
        return int(self.init.shape[0])

    def to_dict(self) -> dict:
        """Plain lists (for instance parameters that compare by value and pickle)."""
        return {"init": self.init.tolist(), "trans": self.trans.tolist()}

    @classmethod
    def from_dict(cls, d: dict) -> MarkovChain:
        return cls(np.asarray(d["init"]), np.asarray(d["trans"]))


def _weights(lam, K: int) -> np.ndarray:
    lam = np.asarray(lam, dtype=np.float64)
    if lam.shape != (K,) or lam.min() < 0 or abs(lam.sum() - 1) > 1e-9:
        raise ValueError(f"lam must be {K} non-negative weights summing to 1; got {lam}")
    return lam


def token_mixture(experts: list[MarkovChain], w) -> MarkovChain:
    """The domain-blind token-level model: the chain of the ``w``-mixed initial laws and rows."""
    w = _weights(w, len(experts))
    init = sum(wk * e.init for wk, e in zip(w, experts, strict=True))
    trans = sum(wk * e.trans for wk, e in zip(w, experts, strict=True))
    return MarkovChain(init / init.sum(), trans / trans.sum(axis=1, keepdims=True))


def state_marginals(chain: MarkovChain, T: int) -> np.ndarray:
    """``(T, V)``: row ``t - 1`` is the law of ``x_t`` (``mu_1 = init``, ``mu_{t+1} = mu_t trans``)."""
    if T < 1:
        raise ValueError(f"the length T must be at least 1; got {T}")
    mu = np.empty((T, chain.V))
    mu[0] = chain.init
    for t in range(1, T):
        mu[t] = mu[t - 1] @ chain.trans
    return mu


def _row_kl(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return rel_entr(a, b).sum(axis=-1)


def chain_kl(d: MarkovChain, p: MarkovChain, T: int) -> np.ndarray:
    """``(T,)``: entry ``t - 1`` is ``KL(d^{1:t} || p^{1:t})``, exactly, by the forward recursion of
    the module docstring (``inf`` once ``d`` reaches a transition ``p`` forbids)."""
    if d.V != p.V:
        raise ValueError(f"the chains have vocabularies of {d.V} and {p.V} tokens")
    mu = state_marginals(d, T)
    f = _row_kl(d.trans, p.trans)
    with np.errstate(invalid="ignore"):
        inc = np.where(mu[:-1] > 0, mu[:-1] * f[None, :], 0.0).sum(axis=1)  # 0 * inf = 0
    return float(_row_kl(d.init, p.init)) + np.concatenate([[0.0], np.cumsum(inc)])


def stationary(chain: MarkovChain) -> np.ndarray:
    """The stationary law ``pi = pi trans`` (``ValueError`` if it is not unique)."""
    V = chain.V
    A = np.vstack([chain.trans.T - np.eye(V), np.ones((1, V))])
    b = np.zeros(V + 1)
    b[-1] = 1.0
    pi, _, rank, _ = np.linalg.lstsq(A, b, rcond=None)
    if rank < V or np.abs(A @ pi - b).max() > 1e-9 or pi.min() < -1e-9:
        raise ValueError("the chain's stationary law is not unique (reducible chain)")
    pi = np.maximum(pi, 0.0)
    return pi / pi.sum()


def dobrushin(trans: np.ndarray) -> float:
    """Dobrushin's contraction coefficient ``max_{s,s'} TV(trans[s], trans[s'])``."""
    return float(0.5 * np.abs(trans[:, None, :] - trans[None, :, :]).sum(axis=2).max())


@dataclass(frozen=True)
class LinearGrowth:
    """Exact token-level loss and its linear law (module docstring): ``tok[t-1] = Tok(t)``,
    slope ``rate = r``, remainder bound ``rem[t-1] = rem(t)``, per-domain ``rates``, ``osc``,
    ``tv0`` (``TV(init, pi)``) and Dobrushin coefficients ``contraction``."""

    tok: np.ndarray
    rate: float
    rem: np.ndarray
    rates: np.ndarray
    osc: np.ndarray
    tv0: np.ndarray
    contraction: np.ndarray


def linear_growth(domains: list[MarkovChain], experts: list[MarkovChain], lam, T: int) -> LinearGrowth:
    """``Tok(t)`` for ``t = 1..T`` by the forward recursion and the linear law with its remainder.

    Domains of weight 0 are left out (``0 * inf = 0``). The remainder sum is evaluated in closed
    form, ``(1 - delta^(T-1)) / (1 - delta)``, or ``T - 1`` when ``delta = 1``.
    """
    lam = _weights(lam, len(domains))
    tokm = token_mixture(experts, lam)
    tok = np.zeros(T)
    rates, osc, tv0, con = (np.zeros(len(domains)) for _ in range(4))
    rem = np.zeros(T)
    steps = np.arange(T, dtype=np.float64)  # t - 1 for t = 1..T
    for k, d in enumerate(domains):
        con[k] = dobrushin(d.trans)
        if lam[k] == 0:
            continue
        tok += lam[k] * chain_kl(d, tokm, T)
        pi = stationary(d)
        f = _row_kl(d.trans, tokm.trans)
        with np.errstate(invalid="ignore"):
            rates[k] = float(np.where(pi > 0, pi * f, 0.0).sum())
        fin = f[np.isfinite(f)]
        osc[k] = float(f.max() - f.min()) if fin.size == f.size else np.inf
        tv0[k] = 0.5 * float(np.abs(d.init - pi).sum())
        geo = steps if con[k] >= 1 else (1 - con[k] ** steps) / (1 - con[k])
        with np.errstate(invalid="ignore"):
            rem += lam[k] * (osc[k] * tv0[k] * geo if tv0[k] > 0 else 0.0)
    return LinearGrowth(tok, float(lam @ rates), rem, rates, osc, tv0, con)


def log_sequence_probs(chain: MarkovChain, T: int) -> list[np.ndarray]:
    """``[l_1, ..., l_T]``: ``l_t[h] = log chain(x_{1..t} = h)`` over ``V^t`` prefixes in
    lexicographic order (``-inf`` for impossible prefixes); sums of logs, so no underflow."""
    V = chain.V
    if V ** T > MAX_ENUMERATED:
        raise ValueError(f"V^T = {V}^{T} exceeds {MAX_ENUMERATED}: too many sequences to enumerate")
    with np.errstate(divide="ignore"):
        la, lt = np.log(chain.init), np.log(chain.trans)
    out = [la]
    for _ in range(1, T):
        prev = out[-1]
        last = np.arange(prev.size) % V
        out.append((prev[:, None] + lt[last]).reshape(-1))
    return out


def _kl_log(p_log: np.ndarray, q_log: np.ndarray) -> float:
    """``KL(p || q)`` from log probabilities (``p = 0`` terms are 0, ``q = 0 < p`` gives inf)."""
    p = np.exp(p_log)
    m = p > 0
    return float(np.sum(p[m] * (p_log[m] - q_log[m])))


def mixture_entropy(lam) -> float:
    """``H(lam)`` in nats."""
    return float(entr(np.asarray(lam, dtype=np.float64)).sum())


@dataclass(frozen=True)
class EnumeratedLevels:
    """Per length ``t = 1..T`` (index ``t - 1``), by enumeration of ``V^t`` in log space:
    ``router`` = ``R(t)``, ``js`` = ``JS_lam(D^{1:t})``, ``mix_kl`` = ``KL(D_lam || P_lam)``,
    ``tok`` = ``Tok(t)``, ``tok_mix_kl`` = ``KL(D_lam || P_tok)``, and the per-domain ``eps``
    (``K x T``, ``KL(D_k || P_k)``)."""

    router: np.ndarray
    js: np.ndarray
    mix_kl: np.ndarray
    tok: np.ndarray
    tok_mix_kl: np.ndarray
    eps: np.ndarray


def enumerate_levels(domains: list[MarkovChain], experts: list[MarkovChain], lam, T: int) -> EnumeratedLevels:
    """Every quantity of :class:`EnumeratedLevels` by direct sums over ``V^t``, independently of
    the forward recursion (the two must agree: that is a check). The mixtures are formed in log
    space (``logsumexp`` over ``log lam_k + log P_k(x)``); domains of weight 0 are left out."""
    lam = _weights(lam, len(domains))
    tokm = token_mixture(experts, lam)
    with np.errstate(divide="ignore"):
        loglam = np.log(lam)
    per_d = [log_sequence_probs(d, T) for d in domains]
    per_p = [log_sequence_probs(p, T) for p in experts]
    per_tok = log_sequence_probs(tokm, T)
    live = [k for k in range(len(domains)) if lam[k] > 0]
    out = {key: np.zeros(T) for key in ("router", "js", "mix_kl", "tok", "tok_mix_kl")}
    eps = np.zeros((len(domains), T))
    for t in range(T):
        ld = np.stack([per_d[k][t] for k in range(len(domains))])
        lp = np.stack([per_p[k][t] for k in range(len(domains))])
        l_dmix = logsumexp(ld[live] + loglam[live, None], axis=0)
        l_pmix = logsumexp(lp[live] + loglam[live, None], axis=0)
        for k in range(len(domains)):
            eps[k, t] = _kl_log(ld[k], lp[k])
        out["router"][t] = sum(lam[k] * _kl_log(ld[k], l_pmix) for k in live)
        out["js"][t] = sum(lam[k] * _kl_log(ld[k], l_dmix) for k in live)
        out["mix_kl"][t] = _kl_log(l_dmix, l_pmix)
        out["tok"][t] = sum(lam[k] * _kl_log(ld[k], per_tok[t]) for k in live)
        out["tok_mix_kl"][t] = _kl_log(l_dmix, per_tok[t])
    return EnumeratedLevels(eps=eps, **out)


def _sample_paths(chain: MarkovChain, T: int, m: int, rng: np.random.Generator) -> np.ndarray:
    x = np.empty((m, T), dtype=np.int64)
    cdf0 = np.cumsum(chain.init)
    cdf = np.cumsum(chain.trans, axis=1)
    x[:, 0] = np.minimum(np.searchsorted(cdf0, rng.random(m) * cdf0[-1], side="right"), chain.V - 1)
    for t in range(1, T):
        c = cdf[x[:, t - 1]]
        u = rng.random(m)[:, None] * c[:, -1:]
        x[:, t] = np.minimum((u >= c).sum(axis=1), chain.V - 1)
    return x


def _path_logprob(chain: MarkovChain, x: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore"):
        la, lt = np.log(chain.init), np.log(chain.trans)
    return la[x[:, 0]] + lt[x[:, :-1], x[:, 1:]].sum(axis=1)


def router_monte_carlo(domains: list[MarkovChain], lam, T: int, m: int, rng: np.random.Generator,
                       alpha: float) -> tuple[float, float, float]:
    """Perfect experts: ``(estimate, lo, hi)`` of ``R(T) = H(lam) - E_{x~D_lam} H(pi(.|x))`` from
    ``m`` sequences of the mixture; ``[lo, hi]`` holds ``R(T)`` with probability ``>= 1 - alpha``
    (Hoeffding, the integrand lies in ``[0, log K_+]``, ``K_+`` the number of positive weights).
    Sequence log-probabilities are sums of ``T`` logs (no underflow)."""
    lam = _weights(lam, len(domains))
    if m < 1:
        raise ValueError(f"need at least one Monte Carlo sequence; got {m}")
    live = np.flatnonzero(lam > 0)
    comp = rng.choice(live, size=m, p=lam[live])
    x = np.concatenate([_sample_paths(domains[k], T, int((comp == k).sum()), rng) for k in live])
    logs = np.stack([_path_logprob(domains[k], x) for k in live]) + np.log(lam[live])[:, None]
    post = np.exp(logs - logsumexp(logs, axis=0))
    h_post = entr(post).sum(axis=0)
    est = mixture_entropy(lam) - float(h_post.mean())
    half = np.log(len(live)) * np.sqrt(np.log(2 / alpha) / (2 * m))
    return est, est - half, est + half
