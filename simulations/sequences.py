r"""Exact autoregressive sequence models on ``X = V^T`` (SPEC SD, section 5).

An n-gram model of order ``m`` over the vocabulary ``{0..V-1}`` generates ``x = (x_1..x_T)`` by

.. math:: P(x) = \prod_{t=1}^{T} P(x_t \mid x_{<t}), \qquad
          P(x_t \mid x_{<t}) = \begin{cases} A_{t-1}[x_{<t}, x_t] & t \le m \\
                                             A_m[x_{t-m..t-1}, x_t] & t > m \end{cases}

with ``tables = (A_0, ..., A_m)``: ``A_j`` (``V^j x V``, rows on the simplex) is the law of
``x_{j+1}`` given the whole prefix ``x_{1..j}`` for the first ``m`` positions, and ``A_m`` is the
time-homogeneous transition from the last ``m`` tokens. Order 0 is i.i.d. tokens, order 1 a
Markov chain with initial law ``A_0``, order 2 a second-order chain.

**Prefix-tree layout.** Prefixes of length ``t`` are indexed in base ``V`` (most significant token
first): ``h = sum_s x_s V^(t-s)``. The children of ``h`` are ``h V + v``, so level ``t + 1`` is the
row-major reshape of a ``(V^t, V)`` array and level ``T`` is ``X`` in lexicographic order (the
order of :func:`enumerate_sequences`). Every quantity here (conditionals, prefix probabilities,
sequence probabilities, marginals) is a list of per-level arrays, vectorized in float64; the
total work is :math:`O(T V^T)`, fine for ``|X| = V^T`` up to about ``10^5``-``10^6``.

Entropy rate of a stationary order-``m`` chain: with :math:`\mu` the stationary law of the
context chain on ``V^m`` states (``(x_{t-m+1..t}) -> (x_{t-m+2..t+1})``),

.. math:: h = \sum_{c} \mu(c)\, H(A_m[c, \cdot]) \quad \text{(nats per token)}.

Glossary: ``V`` vocabulary size, ``T`` length, ``m``/``order`` n-gram order, ``tables`` the
``A_j``, ``alpha`` add-alpha smoothing, ``rng`` an explicit ``numpy.random.Generator``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import entr

from robust_gates.theory._validate import check_distributions

__all__ = [
    "MAX_SEQUENCES", "NGram", "random_chain", "enumerate_sequences", "sequence_index",
    "conditionals", "prefix_probabilities", "sequence_probabilities", "prefix_marginals",
    "stationary_distribution", "entropy_rate", "block_entropy", "sample", "fit_ngram",
    "project_ngram", "perturb", "stack_conditionals",
]

#: the largest ``|X| = V^T`` the exact (enumerating) routines accept
MAX_SEQUENCES = 2_000_000
_ROW_TOL = 1e-9


def _check_VT(V: int, T: int) -> None:
    if not (isinstance(V, (int, np.integer)) and V >= 2):
        raise ValueError(f"the vocabulary size V must be an integer >= 2; got {V!r}")
    if not (isinstance(T, (int, np.integer)) and T >= 1):
        raise ValueError(f"the sequence length T must be an integer >= 1; got {T!r}")
    if V ** T > MAX_SEQUENCES:
        raise ValueError(f"|X| = V^T = {V}^{T} = {V ** T} exceeds {MAX_SEQUENCES}: too many "
                         "sequences to enumerate exactly; lower V or T")


@dataclass(frozen=True, eq=False)
class NGram:
    """An order-``m`` n-gram model; ``tables[j]`` has shape ``(V^j, V)`` (see the module docstring).

    Rows must be probability vectors (non-negative, summing to 1 within ``1e-9``).
    """

    V: int
    tables: tuple[np.ndarray, ...]

    def __post_init__(self):
        if not (isinstance(self.V, (int, np.integer)) and self.V >= 2):
            raise ValueError(f"the vocabulary size V must be an integer >= 2; got {self.V!r}")
        tabs = tuple(np.array(a, dtype=np.float64) for a in self.tables)
        if not tabs:
            raise ValueError("an n-gram needs at least one table (order 0: the unigram law)")
        for j, a in enumerate(tabs):
            if a.shape != (self.V ** j, self.V):
                raise ValueError(f"table {j} has shape {a.shape}; an n-gram over V = {self.V} "
                                 f"needs shape ({self.V ** j}, {self.V}) there")
            check_distributions(a, f"table {j}", "its rows", tol=_ROW_TOL)
            a.setflags(write=False)
        object.__setattr__(self, "tables", tabs)

    @property
    def order(self) -> int:
        return len(self.tables) - 1

    @property
    def transition(self) -> np.ndarray:
        """The time-homogeneous table ``A_m`` (``V^m x V``)."""
        return self.tables[-1]

    @property
    def n_parameters(self) -> int:
        """Stored table entries ``sum_j V^(j+1)`` (free parameters: ``(V-1)/V`` of that)."""
        return int(sum(a.size for a in self.tables))

    def __repr__(self) -> str:
        return f"NGram(V={self.V}, order={self.order})"


def random_chain(V: int, order: int, rng: np.random.Generator, concentration: float = 0.5
                 ) -> NGram:
    """An order-``order`` chain with every row drawn from ``Dirichlet(concentration * 1_V)``.

    Rows are floored at ``1e-6`` and renormalized, so every sequence has positive probability.
    """
    if order < 0 or order > 6:
        raise ValueError(f"order must be in 0..6; got {order}")
    if concentration <= 0:
        raise ValueError(f"concentration must be positive; got {concentration}")
    tabs = []
    for j in range(order + 1):
        a = rng.dirichlet(np.full(V, float(concentration)), size=V ** j)
        a = np.maximum(a, 1e-6)
        tabs.append(a / a.sum(axis=1, keepdims=True))
    return NGram(V, tuple(tabs))


def enumerate_sequences(V: int, T: int) -> np.ndarray:
    """All of ``X = V^T`` as an ``(V^T, T)`` integer array in lexicographic (prefix-tree) order."""
    _check_VT(V, T)
    idx = np.arange(V ** T)
    powers = V ** np.arange(T - 1, -1, -1)
    return (idx[:, None] // powers[None, :]) % V


def sequence_index(x: np.ndarray, V: int) -> np.ndarray:
    """Index of each row of ``x`` (``(m, T)`` tokens) in :func:`enumerate_sequences` order."""
    x = np.asarray(x)
    if x.ndim != 2:
        raise ValueError(f"sequences must be a 2-d (count, T) array; got shape {x.shape}")
    if x.size and (x.min() < 0 or x.max() >= V):
        raise ValueError(f"tokens must lie in 0..{V - 1}")
    idx = np.zeros(x.shape[0], dtype=np.int64)
    for t in range(x.shape[1]):
        idx = idx * V + x[:, t]
    return idx


def conditionals(model: NGram, T: int) -> list[np.ndarray]:
    """``[C_0, ..., C_{T-1}]``: ``C_t[h, v] = P(x_{t+1} = v | prefix h)``, of shape ``(V^t, V)``."""
    V, m = model.V, model.order
    _check_VT(V, T)
    out = []
    for t in range(T):
        if t < m:
            out.append(model.tables[t])
        else:
            ctx = np.arange(V ** t) % (V ** m)
            out.append(model.transition[ctx])
    return out


def stack_conditionals(models: list[NGram], T: int) -> list[np.ndarray]:
    """Per level ``t``, the experts' conditionals stacked as ``(K, V^t, V)``."""
    per = [conditionals(mo, T) for mo in models]
    return [np.stack([c[t] for c in per]) for t in range(T)]


def _roll_out(cond: list[np.ndarray]) -> list[np.ndarray]:
    """Prefix probabilities from per-level conditionals (any leading batch axes)."""
    lead = cond[0].shape[:-2]
    probs = [np.ones(lead + (1,))]
    for c in cond:
        probs.append((probs[-1][..., :, None] * c).reshape(lead + (-1,)))
    return probs


def prefix_probabilities(model: NGram, T: int) -> list[np.ndarray]:
    """``[p_0, ..., p_T]``: ``p_t[h] = P(x_{1..t} = h)`` (``p_0 = [1]``, ``p_T`` = sequence law)."""
    return _roll_out(conditionals(model, T))


def sequence_probabilities(model: NGram, T: int) -> np.ndarray:
    """``P(x)`` for every ``x`` in ``X = V^T`` (lexicographic order); sums to 1."""
    return prefix_probabilities(model, T)[-1]


def prefix_marginals(q: np.ndarray, V: int, T: int) -> list[np.ndarray]:
    """Prefix marginals ``[q_0, ..., q_T]`` of ``q`` on ``V^T``: ``q_t[h] = sum_{x_{1..t} = h} q(x)``."""
    _check_VT(V, T)
    q = np.asarray(q, dtype=np.float64)
    if q.shape != (V ** T,):
        raise ValueError(f"q must have shape ({V ** T},) for V = {V}, T = {T}; got {q.shape}")
    out = [q]
    for _ in range(T):
        out.append(out[-1].reshape(-1, V).sum(axis=1))
    return out[::-1]


def stationary_distribution(model: NGram) -> np.ndarray:
    """Stationary law of the context chain on ``V^m`` states (order 0: the single empty context).

    Solves ``mu M = mu``, ``sum mu = 1`` for the context transition matrix ``M``; raises
    ``ValueError`` when it is not unique (a reducible chain).
    """
    V, m = model.V, model.order
    S = V ** m
    if m == 0:
        return np.ones(1)
    M = np.zeros((S, S))
    A = model.transition
    nxt = (np.arange(S)[:, None] * V + np.arange(V)[None, :]) % S
    np.add.at(M, (np.repeat(np.arange(S), V), nxt.ravel()), A.ravel())
    lhs = np.vstack([M.T - np.eye(S), np.ones((1, S))])
    rhs = np.zeros(S + 1)
    rhs[-1] = 1.0
    mu, _, rank, _ = np.linalg.lstsq(lhs, rhs, rcond=None)
    if rank < S or np.abs(lhs @ mu - rhs).max() > 1e-9 or mu.min() < -1e-9:
        raise ValueError("the chain's stationary distribution is not unique (reducible chain)")
    mu = np.maximum(mu, 0)
    return mu / mu.sum()


def entropy_rate(model: NGram) -> float:
    """``h = sum_c mu(c) H(A_m[c, .])`` nats per token (stationary entropy rate)."""
    mu = stationary_distribution(model)
    return float(mu @ entr(model.transition).sum(axis=1))


def block_entropy(model: NGram, T: int) -> float:
    """``H(X_1..X_T)`` in nats, exactly, over the enumerated ``X`` (chain rule by levels)."""
    cond = conditionals(model, T)
    probs = _roll_out(cond)
    return float(sum(p @ entr(c).sum(axis=1) for p, c in zip(probs[:-1], cond, strict=True)))


def sample(model: NGram, T: int, m: int, rng: np.random.Generator) -> np.ndarray:
    """``m`` i.i.d. sequences (``(m, T)`` ints) drawn token by token by inverse CDF from ``rng``."""
    V, order = model.V, model.order
    if m < 0:
        raise ValueError(f"the number of samples must be non-negative; got {m}")
    x = np.zeros((m, T), dtype=np.int64)
    ctx = np.zeros(m, dtype=np.int64)  # full prefix index while t < order, then last-order tokens
    for t in range(T):
        A = model.tables[t] if t < order else model.transition
        cdf = np.cumsum(A[ctx], axis=1)
        u = rng.random(m)[:, None] * cdf[:, -1:]
        x[:, t] = np.minimum((u >= cdf).sum(axis=1), V - 1)
        ctx = (ctx * V + x[:, t]) % (V ** order) if order else ctx
    return x


def _expected_counts(q: np.ndarray, V: int, T: int, order: int) -> list[np.ndarray]:
    """Expected n-gram counts under ``q``: one ``(V^j, V)`` table per ``j < order`` and the
    transition counts summed over positions ``t >= order``."""
    if not 0 <= order < T:
        raise ValueError(f"order must be in 0..T-1 = 0..{T - 1}; got {order}")
    marg = prefix_marginals(q, V, T)
    counts = [marg[j + 1].reshape(V ** j, V) for j in range(order)]
    trans = np.zeros((V ** order, V))
    for t in range(order, T):
        trans += marg[t + 1].reshape(V ** (t - order), V ** order, V).sum(axis=0)
    return counts + [trans]


def _normalize(counts: list[np.ndarray], V: int, alpha: float) -> NGram:
    tabs = []
    for c in counts:
        c = c + alpha
        s = c.sum(axis=1, keepdims=True)
        tabs.append(np.where(s > 0, c / np.where(s > 0, s, 1.0), 1.0 / V))
    return NGram(V, tuple(tabs))


def fit_ngram(samples: np.ndarray, V: int, order: int, alpha: float = 0.5) -> NGram:
    """Maximum-likelihood order-``order`` n-gram from sequences with add-``alpha`` smoothing.

    ``A_j[c, v] = (N_j(c, v) + alpha) / (N_j(c) + V alpha)``; unseen contexts with ``alpha = 0``
    get the uniform row.
    """
    samples = np.asarray(samples)
    if samples.ndim != 2 or samples.shape[0] == 0:
        raise ValueError("samples must be a non-empty (count, T) array of tokens")
    if alpha < 0:
        raise ValueError(f"alpha must be non-negative; got {alpha}")
    T = samples.shape[1]
    _check_VT(V, T)
    emp = np.bincount(sequence_index(samples, V), minlength=V ** T).astype(np.float64)
    return _normalize(_expected_counts(emp, V, T, order), V, alpha)


def project_ngram(q: np.ndarray, V: int, T: int, order: int) -> NGram:
    r"""The order-``order`` n-gram closest to ``q`` in ``KL(q || .)`` (exact moment matching).

    :math:`-\mathbb E_q \log P(x) = -\sum_j \sum_{c,v} N_j(c,v) \log A_j[c,v]` with expected
    counts :math:`N_j` under ``q``, so the minimizer is the row-normalized expected counts (the
    M-projection onto the n-gram family). Contexts of ``q``-mass 0 get the uniform row.
    """
    return _normalize(_expected_counts(q, V, T, order), V, 0.0)


def perturb(model: NGram, strength: float, rng: np.random.Generator) -> NGram:
    """A copy with every row replaced by ``(1 - strength) row + strength Dirichlet(1_V)``."""
    if not 0 <= strength <= 1:
        raise ValueError(f"strength must be in [0, 1]; got {strength}")
    tabs = []
    for a in model.tables:
        noise = rng.dirichlet(np.ones(model.V), size=a.shape[0])
        tabs.append((1 - strength) * a + strength * noise)
    return NGram(model.V, tuple(tabs))
