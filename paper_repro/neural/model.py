r"""The models: a stack of independent context-window MLP language models, and the causal router.

``MLPStack`` holds ``M`` independent members of one size (Bengio-style MLP language models) and
runs them with batched matrix products, so the 11 oracle models of one size train in one loop.
Member ``m`` maps the right-aligned window of the last ``W`` tokens (padding id ``V``) to
next-token logits:

.. math:: e = [E_m[x_{t-W}], \dots, E_m[x_{t-1}]] \in \mathbb R^{W d}, \quad
          z = \mathrm{ReLU}(e A_m + a_m), \quad \mathrm{logits} = z B_m + b_m .

Parameters per member: ``(V+1) d + W d h + h + h V + V`` (:func:`mlp_params`).

``Router`` is the robust gate's causal router over ``K = 2`` frozen experts. At position ``t``
it sees the experts' prefix log-likelihoods ``s_k(t) = sum_{i<t} log P_k(x_i | x_<i)`` and
outputs ``r(x_<t)`` in the simplex:

.. math:: \log r(x_{<t}) = \mathrm{log\,softmax}\big(\beta \odot (s(t) - \bar s(t)) + c
          + U \tanh(V_0 \phi_t + v_0)\big), \qquad \phi_t = (\delta_t / 10,\ t / T),

with ``delta_t = s_1(t) - s_2(t)`` clipped to ``[-30, 30]``. With ``beta = 1``, ``U = 0`` it is
exactly the Bayes posterior ``r_k \propto w_k P_k(x_<t)`` of the constant gate
``w = softmax(c)`` (SPEC SD), so the class holds the sequence-level mixtures; the small tanh
layer lets it bend the posterior (e.g. trust the evidence more or less early on).
The gated next-token law is ``P_r(x_t | x_<t) = sum_k r_k(x_<t) P_k(x_t | x_<t)``.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .sizes import MLPSize

__all__ = ["MLPSize", "MLPStack", "Router", "mlp_params", "router_params"]


def mlp_params(size: MLPSize, vocab: int, window: int) -> int:
    """Parameter count of one member: ``(V+1) d + W d h + h + h V + V``."""
    d, h = size.d, size.hidden
    return (vocab + 1) * d + window * d * h + h + h * vocab + vocab


def router_params(hidden: int, K: int = 2, features: int = 2) -> int:
    """Parameter count of :class:`Router`: ``beta, c`` (``2K``) plus the tanh layer."""
    return 2 * K + features * hidden + hidden + hidden * K


class MLPStack(nn.Module):
    """``M`` independent MLP language models of one :class:`MLPSize` (module docstring)."""

    def __init__(self, members: int, size: MLPSize, vocab: int, window: int,
                 generator: torch.Generator):
        super().__init__()
        M, d, h, V, W = members, size.d, size.hidden, vocab, window
        self.members, self.size, self.vocab, self.window = M, size, V, W

        def init(*shape, fan_in):
            return nn.Parameter(torch.randn(*shape, generator=generator) / math.sqrt(fan_in))

        self.emb = init(M, V + 1, d, fan_in=1)
        self.A = init(M, W * d, h, fan_in=W * d)
        self.a = nn.Parameter(torch.zeros(M, 1, h))
        self.B = init(M, h, V, fan_in=h)
        self.b = nn.Parameter(torch.zeros(M, 1, V))

    def forward(self, ctx: torch.Tensor) -> torch.Tensor:
        """Log-probabilities ``(M, N, V)`` for context windows ``ctx`` of shape ``(N, W)``."""
        N = ctx.shape[0]
        e = self.emb[:, ctx]  # (M, N, W, d)
        e = e.reshape(self.members, N, -1)
        z = torch.relu(torch.baddbmm(self.a, e, self.A))
        return torch.log_softmax(torch.baddbmm(self.b, z, self.B), dim=-1)

    def member_params(self) -> int:
        """Parameters of one member (checked against :func:`mlp_params`)."""
        return sum(p[0].numel() for p in self.parameters())


class Router(nn.Module):
    """The causal router of the robust gate (module docstring)."""

    def __init__(self, hidden: int, generator: torch.Generator, K: int = 2, clip: float = 30.0):
        super().__init__()
        if K != 2:
            raise ValueError(f"the router is built for K = 2 experts; got K = {K}")
        self.K, self.clip = K, clip
        self.beta = nn.Parameter(torch.ones(K))
        self.c = nn.Parameter(torch.zeros(K))
        self.V0 = nn.Parameter(torch.randn(2, hidden, generator=generator) / math.sqrt(2))
        self.v0 = nn.Parameter(torch.zeros(hidden))
        self.U = nn.Parameter(torch.zeros(hidden, K))

    def log_gate(self, prefix: torch.Tensor) -> torch.Tensor:
        """``log r`` of shape ``(N, T, K)`` from prefix log-likelihoods ``(N, T, K)``."""
        T = prefix.shape[1]
        centred = prefix - prefix.mean(dim=-1, keepdim=True)
        centred = centred.clamp(-self.clip, self.clip)
        delta = (prefix[..., 0] - prefix[..., 1]).clamp(-self.clip, self.clip) / 10.0
        pos = torch.arange(T, dtype=prefix.dtype).expand_as(delta) / T
        phi = torch.stack([delta, pos], dim=-1)
        logits = self.beta * centred + self.c + torch.tanh(phi @ self.V0 + self.v0) @ self.U
        return torch.log_softmax(logits, dim=-1)

    def forward(self, token_logp: torch.Tensor) -> torch.Tensor:
        """Gated log-probabilities of the observed tokens, ``(N, T)``.

        ``token_logp`` is ``(N, T, K)``: ``log P_k(x_t | x_<t)`` of the frozen experts. The prefix
        sums are exclusive (``s_k(1) = 0``), so the gate at ``t`` never sees ``x_t``.
        """
        prefix = torch.cumsum(token_logp, dim=1) - token_logp
        return torch.logsumexp(self.log_gate(prefix) + token_logp, dim=-1)

    def n_params(self) -> int:
        return sum(p.numel() for p in self.parameters())
