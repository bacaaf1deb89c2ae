r"""Two synthetic sequence domains whose next-token rules conflict (numpy only, no torch).

Generator. Vocabulary ``{0..V-1}``, sequences ``x_1..x_T``. Each domain ``k`` has a
deterministic second-order rule ``f_k : V x V -> V`` and a noise level ``eps``:

.. math:: x_1, x_2 \sim \mathrm{Unif}(V), \qquad
          P_k(x_t = c \mid x_{t-2} = a, x_{t-1} = b) = (1 - \varepsilon)\,[c = f_k(a, b)]
          + \varepsilon / V \quad (t \ge 3).

``f_1`` is a uniformly random table (drawn from ``task_seed``). The **conflict strength**
``c`` in ``[0, 1]`` is the fraction of the ``V^2`` contexts ``(a, b)`` on which the rules
disagree: on exactly ``round(c V^2)`` contexts, chosen at random, ``f_2(a, b) = f_1(a, b) + s``
(mod ``V``) with a random shift ``s != 0``; elsewhere ``f_2 = f_1``. So the same context calls
for a different continuation in the two domains, and nothing but the prefix (which earlier
transitions followed which rule) tells the domains apart: there is no domain token.

Exact entropy rates. Every conditional distribution with ``t >= 3`` has the same entropy

.. math:: h(\varepsilon) = -p \log p - (V - 1)\,\tfrac{\varepsilon}{V}\log\tfrac{\varepsilon}{V},
          \qquad p = 1 - \varepsilon + \varepsilon / V,

so the per-token entropy of a length-``T`` sequence of either domain is exactly
``H = (2 log V + (T - 2) h(eps)) / T`` nats, whatever the rules. A model's *excess* loss at
mixture ``lam`` is its ``lam``-weighted per-domain cross-entropy minus ``sum_k lam_k H_k``
(``= H`` here): zero only for a model that knows the domain of every sequence from its first
token, which no model can; the best single model for the ``lam``-mixture is the Bayes
sequence mixture ``P_lam(x) = sum_k lam_k P_k(x)`` (:func:`log_likelihood` gives its exact
log-likelihood), whose excess is ``JS_lam`` of the two sequence laws divided by ``T``.

Conventions: ``lam`` is the weight of domain 1 (index 0); mixture ``lam D_1 + (1 - lam) D_2``.
All randomness comes from explicit ``numpy.random.Generator`` objects.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["ConflictTask", "make_task", "entropy_rate", "sample", "log_likelihood", "windows",
           "BOS"]

BOS = -1  # marker for "before the sequence"; :func:`windows` maps it to token id V


@dataclass(frozen=True, eq=False)
class ConflictTask:
    """Two conflicting second-order domains (see the module docstring).

    ``rules`` has shape ``(2, V, V)``: ``rules[k, a, b] = f_k(a, b)``; ``conflict`` is the exact
    fraction of contexts where the rows differ; ``noise`` is ``eps``; ``seq_len`` is ``T``.
    """

    rules: np.ndarray
    noise: float
    seq_len: int
    conflict: float

    @property
    def vocab(self) -> int:
        return int(self.rules.shape[1])

    @property
    def K(self) -> int:
        return int(self.rules.shape[0])

    @property
    def entropy(self) -> np.ndarray:
        """Exact per-token entropy rate ``H_k`` of each domain (nats), shape ``(K,)``."""
        return np.full(self.K, entropy_rate(self.vocab, self.noise, self.seq_len))

    def conditional(self, k: int) -> np.ndarray:
        """Domain ``k``'s next-token table ``P_k(c | a, b)``, shape ``(V, V, V)``."""
        V = self.vocab
        table = np.full((V, V, V), self.noise / V)
        a, b = np.meshgrid(np.arange(V), np.arange(V), indexing="ij")
        table[a, b, self.rules[k]] += 1.0 - self.noise
        return table


def make_task(vocab: int = 16, seq_len: int = 16, conflict: float = 1.0, noise: float = 0.1,
              rng: np.random.Generator | None = None) -> ConflictTask:
    """Draw the rules ``f_1, f_2`` with conflict strength ``conflict`` (module docstring)."""
    if int(vocab) != vocab or vocab < 2:
        raise ValueError(f"vocab must be an integer >= 2; got {vocab!r}")
    if int(seq_len) != seq_len or seq_len < 3:
        raise ValueError(f"seq_len must be an integer >= 3 (two free tokens, then the rule); got {seq_len!r}")
    if not 0.0 <= conflict <= 1.0:
        raise ValueError(f"conflict strength must lie in [0, 1]; got {conflict!r}")
    if not 0.0 < noise <= 1.0:
        raise ValueError(f"noise eps must lie in (0, 1] so every sequence has positive probability; "
                         f"got {noise!r}")
    if rng is None:
        raise ValueError("pass an explicit numpy Generator rng (randomness is never global)")
    V = int(vocab)
    f1 = rng.integers(0, V, size=(V, V))
    n_conf = int(round(conflict * V * V))
    flat = np.zeros(V * V, dtype=bool)
    flat[rng.permutation(V * V)[:n_conf]] = True
    mask = flat.reshape(V, V)
    shift = rng.integers(1, V, size=(V, V))
    f2 = np.where(mask, (f1 + shift) % V, f1)
    rules = np.stack([f1, f2]).astype(np.int64)
    rules.setflags(write=False)
    return ConflictTask(rules, float(noise), int(seq_len), n_conf / (V * V))


def entropy_rate(vocab: int, noise: float, seq_len: int) -> float:
    """Exact per-token entropy ``(2 log V + (T-2) h(eps)) / T`` in nats (module docstring)."""
    V, eps = int(vocab), float(noise)
    p = 1.0 - eps + eps / V
    q = eps / V
    h = -p * np.log(p) - (V - 1) * q * np.log(q)
    return float((2 * np.log(V) + (seq_len - 2) * h) / seq_len)


def sample(task: ConflictTask, k: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """``size`` sequences from domain ``k``: int64 array ``(size, T)``."""
    V, T, eps = task.vocab, task.seq_len, task.noise
    x = np.empty((size, T), dtype=np.int64)
    x[:, :2] = rng.integers(0, V, size=(size, 2))
    noisy = rng.random((size, T)) < eps
    uniform = rng.integers(0, V, size=(size, T))
    rule = task.rules[k]
    for t in range(2, T):
        x[:, t] = np.where(noisy[:, t], uniform[:, t], rule[x[:, t - 2], x[:, t - 1]])
    return x


def log_likelihood(task: ConflictTask, x: np.ndarray) -> np.ndarray:
    """Exact per-token log-probabilities ``log P_k(x_t | x_<t)``: array ``(K, N, T)``."""
    V, eps = task.vocab, task.noise
    out = np.full((task.K,) + x.shape, -np.log(V))
    hit, miss = np.log(1.0 - eps + eps / V), np.log(eps / V)
    for k in range(task.K):
        pred = task.rules[k][x[:, :-2], x[:, 1:-1]]
        out[k, :, 2:] = np.where(x[:, 2:] == pred, hit, miss)
    return out


def windows(x: np.ndarray, window: int, vocab: int) -> np.ndarray:
    """Causal context windows: ``(N, T, window)`` with row ``[n, t]`` = ``x[n, t-window:t]``.

    Positions before the sequence start hold the padding token id ``vocab`` (so the embedding
    table has ``V + 1`` rows); the window is right-aligned, its last slot is ``x_{t-1}``.
    """
    N, T = x.shape
    pad = np.full((N, window), vocab, dtype=np.int64)
    xp = np.concatenate([pad, x], axis=1)
    idx = np.arange(T)[:, None] + np.arange(window)[None, :]
    return xp[:, idx]
