r"""The training loops: monolithic models on a mixture (with gradient-conflict logging), the
robust gate by stochastic primal-dual, and held-out evaluation.

Monolithic training (:func:`train_stack`). Member ``m`` of an :class:`MLPStack` minimizes the
``lam_m``-weighted per-domain cross-entropy, the paper's payoff at a fixed mixture,

.. math:: \mathrm{CE}(\theta, \lambda) = \lambda\,\mathrm{CE}_1(\theta) + (1-\lambda)\,\mathrm{CE}_2(\theta),
          \qquad \mathrm{CE}_k(\theta) = \mathbb E_{x \sim D_k}\Big[-\tfrac1T \sum_t
          \log p_\theta(x_t \mid x_{<t})\Big],

on balanced batches (``batch`` fresh sequences from each domain per step; weighting the two
halves by ``lam`` is an unbiased, lower-variance form of sampling the mixture). The two halves
are back-propagated separately, which costs the same as one pass over the whole batch and gives
the per-domain gradients ``g_k = grad CE_k`` at every step; the update uses
``lam g_1 + (1 - lam) g_2`` (Adam, cosine-decayed rate) and the log keeps
``cos(g_1, g_2)`` over all of a member's parameters (SPEC DH).

Robust gate (:func:`train_router`, SPEC algorithm 4, cross-entropy payoff, ``Lambda`` the
simplex): the experts are frozen, so their token log-probabilities on a pool of fresh
sequences per domain are computed once. Round ``t``: a minibatch from each domain's pool, the
router's per-domain losses ``ell_k``, an Adam step on the router for ``sum_k lam_k ell_k``,
projected ascent ``lam <- Proj_simplex(lam + eta / sqrt(t) (ell - mean ell))``, and the
polynomial-decay average (weights ``∝ t``) of ``lam`` and of the router's parameters; the
averaged router is returned.
"""

from __future__ import annotations

import copy

import numpy as np
import torch

from robust_gates.theory.lambda_sets import Simplex

from . import data as _data
from .model import MLPStack, Router

__all__ = ["train_stack", "evaluate_stack", "expert_token_logp", "train_router", "evaluate_router",
           "torch_batch"]


def torch_batch(task: _data.ConflictTask, x: np.ndarray, window: int, device: str):
    """Context windows ``(N T, W)`` and targets ``(N T,)`` of sequences ``x`` as tensors."""
    ctx = _data.windows(x, window, task.vocab).reshape(-1, window)
    return (torch.from_numpy(ctx).to(device), torch.from_numpy(x.reshape(-1)).to(device))


def _member_ce(stack: MLPStack, ctx: torch.Tensor, tgt: torch.Tensor) -> torch.Tensor:
    """Mean per-token cross-entropy of every member, shape ``(M,)``."""
    logp = stack(ctx)
    picked = logp.gather(2, tgt.view(1, -1, 1).expand(stack.members, -1, 1)).squeeze(2)
    return -picked.mean(dim=1)


def train_stack(stack: MLPStack, lams: np.ndarray, task: _data.ConflictTask, *, steps: int,
                batch: int, lr: float, rng: np.random.Generator, device: str = "cpu",
                progress=None) -> dict:
    """Train every member on its mixture (module docstring); return the gradient log.

    ``lams`` (length ``M``) holds each member's weight on domain 1. Returns ``cos`` (``steps x M``
    cosines between the per-domain gradients) and ``train_ce`` (``steps x M x 2`` batch losses).
    """
    lams = np.asarray(lams, dtype=np.float64)
    if lams.shape != (stack.members,) or lams.min() < 0 or lams.max() > 1:
        raise ValueError(f"lams must hold one weight in [0, 1] per member ({stack.members}); got {lams}")
    params = list(stack.parameters())
    w1 = torch.tensor(lams, dtype=torch.float32, device=device)
    opt = torch.optim.Adam(params, lr=lr)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: 0.1 + 0.9 * 0.5 * (1 + np.cos(np.pi * min(s, steps) / steps)))
    cos = np.empty((steps, stack.members))
    train_ce = np.empty((steps, stack.members, 2))
    for step in range(steps):
        grads, ces = [], []
        for k in range(2):
            ctx, tgt = torch_batch(task, _data.sample(task, k, batch, rng), stack.window, device)
            ce = _member_ce(stack, ctx, tgt)
            grads.append(torch.autograd.grad(ce.sum(), params))
            ces.append(ce.detach())
        dot = n1 = n2 = 0.0
        for p, g1, g2 in zip(params, grads[0], grads[1], strict=True):
            w = w1.view(-1, *([1] * (p.dim() - 1)))
            p.grad = w * g1 + (1 - w) * g2
            dot = dot + (g1 * g2).flatten(1).sum(1)
            n1 = n1 + (g1 * g1).flatten(1).sum(1)
            n2 = n2 + (g2 * g2).flatten(1).sum(1)
        cos[step] = (dot / torch.sqrt(n1 * n2).clamp_min(1e-30)).cpu().numpy()
        train_ce[step] = torch.stack(ces, dim=1).cpu().numpy()
        opt.step()
        sched.step()
        if progress is not None:
            progress.update(1)
    return {"cos": cos, "train_ce": train_ce}


@torch.no_grad()
def evaluate_stack(stack: MLPStack, task: _data.ConflictTask, tests: list[np.ndarray], *,
                   device: str = "cpu", chunk: int = 256) -> np.ndarray:
    """Held-out per-domain cross-entropy (nats per token) of every member: ``(M, K)``."""
    out = np.zeros((stack.members, len(tests)))
    for k, x in enumerate(tests):
        total = torch.zeros(stack.members, dtype=torch.float64)
        for i in range(0, len(x), chunk):
            ctx, tgt = torch_batch(task, x[i:i + chunk], stack.window, device)
            total += _member_ce(stack, ctx, tgt).double().cpu() * tgt.numel()
        out[:, k] = (total / x.size).numpy()
    return out


@torch.no_grad()
def expert_token_logp(stack: MLPStack, members: list[int], task: _data.ConflictTask,
                      x: np.ndarray, *, device: str = "cpu", chunk: int = 256) -> torch.Tensor:
    """``log P_k(x_t | x_<t)`` of the chosen members on sequences ``x``: ``(N, T, len(members))``."""
    N, T = x.shape
    parts = []
    for i in range(0, N, chunk):
        ctx, tgt = torch_batch(task, x[i:i + chunk], stack.window, device)
        logp = stack(ctx)[members]
        picked = logp.gather(2, tgt.view(1, -1, 1).expand(len(members), -1, 1)).squeeze(2)
        parts.append(picked.reshape(len(members), -1, T).permute(1, 2, 0))
    return torch.cat(parts, dim=0).cpu()


def train_router(router: Router, pools: list[torch.Tensor], *, steps: int, batch: int, lr: float,
                 lam_step: float, rng: np.random.Generator, progress=None, lam_set=None) -> dict:
    """Stochastic primal-dual for the robust gate (module docstring).

    ``pools[k]`` is ``(N_k, T, K)``: the frozen experts' token log-probabilities on domain-``k``
    sequences; ``router`` is any module mapping such a tensor to gated log-probabilities ``(N, T)``
    (:class:`.model.Router`, :class:`.gpt.KRouter`). ``lam_set`` (a
    :class:`robust_gates.theory.lambda_sets.LambdaSet`, default the simplex) is where the adversary's ``lam``
    lives; it starts at the projection of the uniform mixture. Returns the averaged router
    ``router_bar``, the averaged ``lam_bar`` and the trajectory (``lam`` and batch losses per round).
    """
    simplex = lam_set if lam_set is not None else Simplex(len(pools))
    if simplex.K != len(pools):
        raise ValueError(f"lam_set has K = {simplex.K} weights but there are {len(pools)} pools")
    opt = torch.optim.Adam(router.parameters(), lr=lr)
    lam = simplex.project(np.full(len(pools), 1.0 / len(pools)))
    lam_bar = lam.copy()
    avg = copy.deepcopy(router)
    lam_traj, loss_traj = np.empty((steps, len(pools))), np.empty((steps, len(pools)))
    for t in range(1, steps + 1):
        ell = torch.stack([-router(pool[torch.from_numpy(rng.integers(0, len(pool), batch))]).mean()
                           for pool in pools])
        opt.zero_grad()
        (torch.from_numpy(lam).float() @ ell).backward()
        opt.step()
        e = ell.detach().double().numpy()
        lam = simplex.project(lam + lam_step / np.sqrt(t) * (e - e.mean()))
        a = 2.0 / (t + 1)  # weights proportional to t
        lam_bar = lam_bar + a * (lam - lam_bar)
        with torch.no_grad():
            for pa, p in zip(avg.parameters(), router.parameters(), strict=True):
                pa.add_(a * (p - pa))
        lam_traj[t - 1], loss_traj[t - 1] = lam, e
        if progress is not None:
            progress.update(1)
    return {"router_bar": avg, "lam_bar": lam_bar, "lam": lam_traj, "loss": loss_traj}


@torch.no_grad()
def evaluate_router(router: Router, tests: list[torch.Tensor]) -> np.ndarray:
    """Held-out per-domain cross-entropy (nats per token) of the gated model: ``(K,)``."""
    return np.array([float(-router(x).double().mean()) for x in tests])
