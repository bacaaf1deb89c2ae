r"""Byte-level causal transformers (nanoGPT-shaped) trained several at once, and a K-expert router.

``GPTStack`` holds ``M`` independent decoder-only transformers of one :class:`GPTSize` and runs
them with batched matrix products (parameters carry a leading member axis), so the experts and the
oracle models of one size train in a single loop on 2 CPU cores. Member ``m`` is the usual
pre-norm GPT: token and learned position embeddings; ``n_layer`` blocks of causal multi-head
self-attention and a 4x GELU MLP, each behind a LayerNorm and a residual connection; a final
LayerNorm; the output layer tied to the token embedding; every linear map has a bias. Dropout
(rate ``dropout``, training mode only) acts on the embeddings and on each residual branch, as
in nanoGPT. Parameters per member: :func:`gpt_params`.

``KRouter`` is the robust gate's causal router over ``K`` frozen experts (the ``K``-expert form
of :class:`.model.Router`). At position ``t`` it sees the experts' prefix log-likelihoods
``s_k(t) = sum_{i<t} log P_k(x_i | x_<i)`` inside the window and outputs ``r(x_<t)`` in the
simplex:

.. math:: \log r = \mathrm{log\,softmax}\big(\beta \odot (s - \bar s) + c
          + U \tanh(V_0 \phi_t + v_0)\big), \qquad
          \phi_t = \big(\mathrm{clip}(s - \bar s, \pm 30) / 10,\ t / T\big).

With ``beta = 1``, ``U = 0``, ``c = log w`` it is exactly the Bayes posterior
``r_k \propto w_k P_k(x_<t)`` of the constant gate ``w`` (the **Bayes causal router with prior**
``w``, :meth:`KRouter.bayes`); with ``beta = 0``, ``U = 0`` it is the constant token-level gate
``softmax(c)`` (:meth:`KRouter.constant`, e.g. the uniform mixture of experts). Both baselines
are therefore points of the class the robust gate is trained over.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .sizes import GPTSize

__all__ = ["GPTSize", "GPTStack", "KRouter", "gpt_params", "krouter_params"]


def gpt_params(size: GPTSize, vocab: int, ctx: int) -> int:
    """Parameters of one member: ``V d + T d + L (12 d^2 + 13 d) + 2 d`` (tied output layer)."""
    d, L = size.d, size.n_layer
    return vocab * d + ctx * d + L * (12 * d * d + 13 * d) + 2 * d


def krouter_params(K: int, hidden: int) -> int:
    """Parameters of :class:`KRouter`: ``beta, c`` and the tanh layer on ``K + 1`` features."""
    return 2 * K + (K + 1) * hidden + hidden + hidden * K


class GPTStack(nn.Module):
    """``M`` independent byte-level causal transformers of one size (module docstring)."""

    def __init__(self, members: int, size: GPTSize, ctx: int, generator: torch.Generator,
                 vocab: int = 256, dropout: float = 0.0):
        super().__init__()
        if not 0 <= dropout < 1:
            raise ValueError(f"dropout must lie in [0, 1); got {dropout}")
        M, d, L = members, size.d, size.n_layer
        self.members, self.size, self.ctx, self.vocab, self.dropout = M, size, ctx, vocab, dropout

        def normal(*shape, std=0.02):
            return nn.Parameter(torch.randn(*shape, generator=generator) * std)

        def zeros(*shape):
            return nn.Parameter(torch.zeros(*shape))

        def ones(*shape):
            return nn.Parameter(torch.ones(*shape))

        proj_std = 0.02 / math.sqrt(2 * L)
        self.wte = normal(M, vocab, d)
        self.wpe = normal(M, ctx, d)
        self.ln1_w, self.ln1_b = ones(L, M, 1, d), zeros(L, M, 1, d)
        self.attn_w, self.attn_b = normal(L, M, d, 3 * d), zeros(L, M, 1, 3 * d)
        self.proj_w, self.proj_b = normal(L, M, d, d, std=proj_std), zeros(L, M, 1, d)
        self.ln2_w, self.ln2_b = ones(L, M, 1, d), zeros(L, M, 1, d)
        self.fc_w, self.fc_b = normal(L, M, d, 4 * d), zeros(L, M, 1, 4 * d)
        self.out_w, self.out_b = normal(L, M, 4 * d, d, std=proj_std), zeros(L, M, 1, d)
        self.lnf_w, self.lnf_b = ones(M, 1, d), zeros(M, 1, d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Next-byte log-probabilities ``(M, B, T, V)`` for inputs ``x`` of shape ``(M, B, T)``
        (one batch per member) or ``(B, T)`` (the same batch for every member)."""
        M, d, H = self.members, self.size.d, self.size.n_head
        if x.dim() == 2:
            x = x.unsqueeze(0).expand(M, -1, -1)
        _, B, T = x.shape
        if T > self.ctx:
            raise ValueError(f"input length {T} exceeds the context {self.ctx}")
        idx = torch.arange(M, device=x.device).view(M, 1, 1)
        p = self.dropout if self.training else 0.0
        h = F.dropout((self.wte[idx, x] + self.wpe[:, None, :T]).reshape(M, B * T, d), p)
        for layer in range(self.size.n_layer):
            a = F.layer_norm(h, (d,)) * self.ln1_w[layer] + self.ln1_b[layer]
            qkv = torch.baddbmm(self.attn_b[layer], a, self.attn_w[layer])
            q, k, v = (t.reshape(M * B, T, H, d // H).transpose(1, 2) for t in qkv.split(d, dim=-1))
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            y = y.transpose(1, 2).reshape(M, B * T, d)
            h = h + F.dropout(torch.baddbmm(self.proj_b[layer], y, self.proj_w[layer]), p)
            a = F.layer_norm(h, (d,)) * self.ln2_w[layer] + self.ln2_b[layer]
            a = F.gelu(torch.baddbmm(self.fc_b[layer], a, self.fc_w[layer]))
            h = h + F.dropout(torch.baddbmm(self.out_b[layer], a, self.out_w[layer]), p)
        h = F.layer_norm(h, (d,)) * self.lnf_w + self.lnf_b
        logits = torch.bmm(h, self.wte.transpose(1, 2))
        return torch.log_softmax(logits, dim=-1).reshape(M, B, T, self.vocab)

    def token_logp(self, x: torch.Tensor) -> torch.Tensor:
        """``log P_m(x_t | x_<t)`` for ``t = 2..T`` of windows ``x`` (``(B, T)`` or ``(M, B, T)``):
        ``(M, B, T - 1)``."""
        if x.dim() == 2:
            x = x.unsqueeze(0).expand(self.members, -1, -1)
        logp = self(x[..., :-1])
        return logp.gather(3, x[..., 1:].unsqueeze(3)).squeeze(3)

    def member_params(self) -> int:
        """Parameters of one member (checked against :func:`gpt_params`)."""
        return sum(p.numel() for p in self.parameters()) // self.members


class KRouter(nn.Module):
    """The causal router over ``K`` frozen experts (module docstring)."""

    def __init__(self, K: int, hidden: int, generator: torch.Generator, clip: float = 30.0):
        super().__init__()
        if K < 2:
            raise ValueError(f"a router needs K >= 2 experts; got K = {K}")
        self.K, self.clip = K, clip
        self.beta = nn.Parameter(torch.ones(K))
        self.c = nn.Parameter(torch.zeros(K))
        self.V0 = nn.Parameter(torch.randn(K + 1, hidden, generator=generator) / math.sqrt(K + 1))
        self.v0 = nn.Parameter(torch.zeros(hidden))
        self.U = nn.Parameter(torch.zeros(hidden, K))

    @classmethod
    def bayes(cls, prior, hidden: int = 1) -> KRouter:
        """The Bayes causal router with prior ``w``: ``r_k(x_<t) ∝ w_k P_k(x_<t)`` (a zero weight
        gives ``c_k = -inf``: expert ``k`` is never used)."""
        w = _as_weights(prior)
        r = cls(len(w), hidden, torch.Generator().manual_seed(0))
        with torch.no_grad():
            r.c.copy_(torch.log(torch.from_numpy(w)).float())
        return r

    @classmethod
    def constant(cls, weights, hidden: int = 1) -> KRouter:
        """The constant token-level gate ``w`` (``beta = 0``): ``P = sum_k w_k P_k``."""
        r = cls.bayes(weights, hidden)
        with torch.no_grad():
            r.beta.zero_()
        return r

    def log_gate(self, prefix: torch.Tensor) -> torch.Tensor:
        """``log r`` of shape ``(N, T, K)`` from prefix log-likelihoods ``(N, T, K)``."""
        T = prefix.shape[1]
        centred = prefix - prefix.mean(dim=-1, keepdim=True)
        feat = centred.clamp(-self.clip, self.clip) / 10.0
        pos = (torch.arange(T, dtype=prefix.dtype, device=prefix.device) / T).view(1, T, 1)
        phi = torch.cat([feat, pos.expand(prefix.shape[0], T, 1)], dim=-1)
        logits = self.beta * centred + self.c + torch.tanh(phi @ self.V0 + self.v0) @ self.U
        return torch.log_softmax(logits, dim=-1)

    def forward(self, token_logp: torch.Tensor) -> torch.Tensor:
        """Gated log-probabilities of the observed tokens ``(N, T)`` from the experts' ``(N, T, K)``
        (exclusive prefix sums: the gate at ``t`` never sees ``x_t``)."""
        prefix = torch.cumsum(token_logp, dim=1) - token_logp
        return torch.logsumexp(self.log_gate(prefix) + token_logp, dim=-1)

    def n_params(self) -> int:
        return sum(p.numel() for p in self.parameters())


def _as_weights(w) -> np.ndarray:
    w = np.asarray(w, dtype=np.float64)
    if w.ndim != 1 or not np.isfinite(w).all() or (w < 0).any() or abs(w.sum() - 1) > 1e-9:
        raise ValueError(f"router weights must be a probability vector; got {w}")
    return w
