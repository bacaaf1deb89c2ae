r"""Training: the one loop (:func:`fit`), monolithic models on a mixture for Figure 5 (with
gradient-conflict logging) and for real text, the robust gate by stochastic primal-dual, and
held-out evaluation.

The loop (:func:`fit`). Every monolithic model of both experiments is trained by the same loop:
``steps`` rounds of "compute the gradients of this round's batch into ``p.grad``" (the
experiment's own ``step`` function), an optimizer step and a learning-rate step, the rate
following :func:`cosine_schedule` (linear warm-up, then cosine decay from ``lr`` to
``min_ratio lr``).

Figure 5 (:func:`train_stack`). Member ``m`` of an :class:`MLPStack` minimizes the
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

Real text (:func:`train_mixture`). Member ``m`` of a :class:`.gpt.GPTStack` minimizes its
``lams[m]``-mixture of per-domain cross-entropies over ``K`` domains: each batch of ``batch``
windows is allocated to the domains by largest remainders (:func:`.text_data.allocate`) and each
window weighted by ``lam_k / n_k``, so the loss is exactly the mixture's; AdamW, warm-up and
cosine decay.

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
import math
from collections.abc import Callable

import numpy as np
import torch

from robust_gates.theory.lambda_sets import Simplex

from . import data as _data
from . import text_data as _td
from .model import MLPStack, Router

__all__ = ["fit", "cosine_schedule", "train_stack", "train_mixture", "evaluate_stack",
           "expert_token_logp", "stack_token_logp", "train_router", "evaluate_router", "torch_batch"]


def cosine_schedule(steps: int, *, warmup: int = 0, min_ratio: float = 0.1) -> Callable[[int], float]:
    """Learning-rate factor at step ``s``: ``min(1, (s + 1) / warmup)`` times
    ``min_ratio + (1 - min_ratio) (1 + cos(pi min(s, steps) / steps)) / 2``."""
    def rate(s: int) -> float:
        warm = min(1.0, (s + 1) / max(warmup, 1))
        cosine = 0.5 * (1 + math.cos(math.pi * min(s, steps) / steps))
        return warm * (min_ratio + (1 - min_ratio) * cosine)
    return rate


def fit(optimizer: torch.optim.Optimizer, steps: int, step: Callable[[int], None], *,
        schedule: Callable[[int], float], progress=None) -> None:
    """The training loop (module docstring): ``steps`` times ``step(s)`` (which leaves the
    round's gradients in the parameters' ``.grad`` and logs what it wants), an ``optimizer`` step
    and a step of the rate ``lr * schedule(s)``; ``progress`` (a tqdm bar or ``None``) advances by
    one per step."""
    sched = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    for s in range(steps):
        step(s)
        optimizer.step()
        sched.step()
        if progress is not None:
            progress.update(1)


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
                progress=None, robust: np.ndarray | None = None, lam_step: float = 0.5) -> dict:
    """Train every member on its mixture (module docstring); return the gradient log.

    ``lams`` (length ``M``) holds each member's weight on domain 1. Members flagged in ``robust``
    (boolean, length ``M``) are trained **robustly over** ``Lambda`` = the simplex by stochastic
    primal-dual: their ``lam`` starts at ``lams[m]`` and after every step moves by projected
    ascent on the batch's per-domain losses, ``lam <- clip(lam + lam_step / sqrt(s + 1)
    (ce_1 - ce_2) / 2, 0, 1)`` (the projection onto the two-point simplex of
    ``lam + eta (ell - mean ell)``), with the ``t``-weighted average kept as ``lam_bar``.
    Returns ``cos`` (``steps x M`` cosines between the per-domain gradients), ``train_ce``
    (``steps x M x 2`` batch losses), ``lam`` (``steps x M``: the weight used at each step) and
    ``lam_bar`` (``M``).
    """
    lams = np.asarray(lams, dtype=np.float64)
    if lams.shape != (stack.members,) or lams.min() < 0 or lams.max() > 1:
        raise ValueError(f"lams must hold one weight in [0, 1] per member ({stack.members}); got {lams}")
    robust = np.zeros(stack.members, bool) if robust is None else np.asarray(robust, dtype=bool)
    if robust.shape != (stack.members,):
        raise ValueError(f"robust must hold one flag per member ({stack.members}); got {robust}")
    params = list(stack.parameters())
    cur = lams.copy()
    lam_bar = lams.copy()
    w1 = torch.tensor(cur, dtype=torch.float32, device=device)
    cos = np.empty((steps, stack.members))
    train_ce = np.empty((steps, stack.members, 2))
    lam_log = np.empty((steps, stack.members))

    def step(s: int) -> None:
        nonlocal w1, lam_bar
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
        cos[s] = (dot / torch.sqrt(n1 * n2).clamp_min(1e-30)).cpu().numpy()
        train_ce[s] = torch.stack(ces, dim=1).cpu().numpy()
        lam_log[s] = cur
        if robust.any():
            e = train_ce[s]
            moved = np.clip(cur + lam_step / np.sqrt(s + 1) * (e[:, 0] - e[:, 1]) / 2, 0.0, 1.0)
            cur[:] = np.where(robust, moved, cur)
            lam_bar = lam_bar + 2.0 / (s + 2) * (cur - lam_bar)  # weights proportional to t
            w1 = torch.tensor(cur, dtype=torch.float32, device=device)

    fit(torch.optim.Adam(params, lr=lr), steps, step, schedule=cosine_schedule(steps, min_ratio=0.1),
        progress=progress)
    return {"cos": cos, "train_ce": train_ce, "lam": lam_log, "lam_bar": np.where(robust, lam_bar, lams)}


def train_mixture(stack, lams: np.ndarray, train: list[np.ndarray], *, steps: int, batch: int,
                  lr: float, min_lr_ratio: float, warmup: int, weight_decay: float,
                  rng: np.random.Generator, device: str = "cpu", progress=None) -> np.ndarray:
    """Train every member of a :class:`.gpt.GPTStack` on its mixture (module docstring).

    ``lams`` is ``(M, K)``: member ``m``'s weights on the ``K`` domains whose training bytes are
    ``train``. AdamW (``betas = (0.9, 0.99)``), ``warmup`` steps of linear warm-up, then cosine
    decay to ``min_lr_ratio lr``. Returns the per-step weighted losses ``(steps, M)``; the stack is
    left in evaluation mode.
    """
    lams = np.asarray(lams, dtype=np.float64)
    M, ctx = stack.members, stack.ctx
    if lams.shape != (M, len(train)):
        raise ValueError(f"lams must be (members, domains) = ({M}, {len(train)}); got {lams.shape}")
    counts = np.stack([_td.allocate(lam, batch) for lam in lams])  # (M, K)
    w = np.concatenate([np.repeat(np.where(counts[m] > 0, lams[m] / np.maximum(counts[m], 1), 0.0),
                                  counts[m])[None] for m in range(M)])  # (M, batch)
    weights = torch.tensor(w, dtype=torch.float32, device=device)
    opt = torch.optim.AdamW(stack.parameters(), lr=lr, weight_decay=weight_decay, betas=(0.9, 0.99))
    losses = np.empty((steps, M))

    def step(s: int) -> None:
        x = np.stack([np.concatenate([_td.random_windows(train[k], int(counts[m, k]), ctx + 1, rng)
                                      for k in range(len(train)) if counts[m, k] > 0]) for m in range(M)])
        ce = -stack.token_logp(torch.from_numpy(x).to(device)).mean(dim=2)  # (M, batch)
        loss = (weights * ce).sum(dim=1)
        opt.zero_grad(set_to_none=True)
        loss.sum().backward()
        losses[s] = loss.detach().cpu().numpy()

    stack.train()
    fit(opt, steps, step, schedule=cosine_schedule(steps, warmup=warmup, min_ratio=min_lr_ratio),
        progress=progress)
    stack.eval()
    return losses


@torch.no_grad()
def stack_token_logp(stack, windows: np.ndarray, device: str = "cpu", chunk: int = 64) -> torch.Tensor:
    """``(M, N, ctx)`` token log-probabilities of every member of a :class:`.gpt.GPTStack` on byte
    windows ``(N, ctx + 1)`` (evaluation mode)."""
    stack.eval()
    parts = [stack.token_logp(torch.from_numpy(windows[i:i + chunk]).to(device)).cpu()
             for i in range(0, len(windows), chunk)]
    return torch.cat(parts, dim=1)


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
                 lam_step: float, rng: np.random.Generator, progress=None, lam_set=None,
                 offsets: np.ndarray | None = None) -> dict:
    """Stochastic primal-dual for the robust gate (module docstring).

    ``pools[k]`` is ``(N_k, T, K)``: the frozen experts' token log-probabilities on domain-``k``
    sequences; ``router`` is any module mapping such a tensor to gated log-probabilities ``(N, T)``
    (:class:`.model.Router`, :class:`.gpt.KRouter`). ``lam_set`` (a
    :class:`robust_gates.theory.lambda_sets.LambdaSet`, default the simplex) is where the adversary's ``lam``
    lives; it starts at the projection of the uniform mixture. ``offsets`` (``(K,)``) gives the
    regret payoff: the adversary ascends on ``ell_k - offsets_k`` (e.g. each expert's own loss on
    its pool); the router's step is unchanged, a constant shift not changing its gradient.
    Returns the averaged router
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
        g = e if offsets is None else e - offsets
        lam = simplex.project(lam + lam_step / np.sqrt(t) * (g - g.mean()))
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
