r"""The input of ``robust-gates fit`` from torch language models: :func:`loglik_matrix`.

``fit`` (:mod:`robust_gates.simulations.fit`) needs, for ``N`` labelled samples and ``J``
experts, the matrix ``loglik[i, j] = log P_j(x_i)``. For causal language models that is a sum of
next-token log-probabilities,

.. math:: \log P_j(x) = \sum_{t \in S(x)} \log P_j(x_t \mid x_{<t}),

and :func:`loglik_matrix` computes it for any number of models and samples of any lengths:

* **Models** are callables ``f(x)`` taking a ``(B, T)`` ``torch.long`` batch of token ids and
  returning next-token log-probabilities ``(B, T, V)``: ``f(x)[b, t, v] = log P(v | x[b, :t+1])``
  (position ``t`` predicts token ``t + 1``). A callable returning ``(M, B, T, V)`` counts as ``M``
  experts (a :class:`.gpt.GPTStack` runs its members in one pass this way). With
  ``logits=True`` the outputs are logits and are normalized by ``log_softmax``; otherwise they
  must already be normalized (checked on the first batch: a model that returns logits is
  refused, not silently mis-scored). A ``torch.nn.Module`` is run in evaluation mode (no
  dropout) and under ``torch.no_grad``; its previous mode is restored afterwards.
* **Samples** are 1-D sequences of token ids (lists, numpy arrays, tensors) or ``bytes`` (the
  byte values are the ids, as for the byte-level models of :mod:`.gpt`).
* **Which tokens are scored** (the set ``S(x)``). Without ``bos`` the first token is
  conditioned on and not scored: ``S = {2, ..., T}``, ``T - 1`` tokens. With ``bos`` (a token id)
  the model reads ``[bos, x_1, ..., x_T]`` and all ``T`` tokens are scored. ``tokens[i]`` is the
  number of scored tokens, so ``-loglik[i, j] / tokens[i]`` is the per-token loss.
* **Long samples**. A model reads a window of ``T + 1`` tokens as its first ``T`` (the last token
  is only a target). With ``context = C`` (the models' largest input length) a sample longer
  than ``C + 1`` tokens is read in windows of ``C + 1`` tokens: the first scores its tokens
  ``2..C+1``; each next window ends ``stride`` tokens later (``1 <= stride <= C``, default ``C``)
  and scores only its last ``stride`` tokens. Every token after the first is scored exactly once,
  from at least ``C + 1 - stride`` tokens of context (one with the default: consecutive windows
  share one token, as the real-text experiment evaluates). Without ``context`` every sample is
  read whole.
* **Batching**. Windows are sorted by length and cut into batches of ``batch_size``; each batch is
  right-padded to its longest window and the padded positions are masked out. A causal model's
  output at position ``t`` does not depend on later positions, so padding changes nothing (the
  tests check this against one-sample-at-a-time scoring). Sums are accumulated in float64.
* **Device**. Batches are built on ``device`` (``"cpu"`` by default; ``"cuda"`` or a
  ``torch.device``); a module whose parameters live elsewhere is refused with the fix
  (``model.to(device)``) rather than moved behind the caller's back. Nothing is downloaded.

A progress bar (tqdm) counts the batches (``progress=False`` hides it).

Example (two byte-level models, documents of two domains) that writes a ``fit`` input file::

    from robust_gates.paper_repro.neural import loglik_matrix
    from robust_gates.simulations.fit_data import save_fit_data

    res = loglik_matrix([model_a, model_b], docs, context=128, device="cpu")
    save_fit_data({"loglik": res.loglik, "tokens": res.tokens, "domain": labels}, "mine.npz")
    # then: robust-gates fit mine.npz --per-token

Tables work too (``save_fit_data(..., "mine.csv")``; ``fit`` also reads ``.parquet`` when pyarrow
is installed).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

import numpy as np

__all__ = ["LoglikMatrix", "loglik_matrix", "stack_members"]

#: a model's outputs count as normalized when every ``logsumexp`` over the vocabulary is within
#: this of 0 (float32 rounding of a log_softmax is ~1e-6)
NORMALIZED_TOL = 1e-3


class LoglikMatrix(NamedTuple):
    """What :func:`loglik_matrix` returns: ``loglik`` (``N x J`` float64, nats), ``tokens`` (``N``
    scored tokens per sample) and ``names`` (one per expert)."""

    loglik: np.ndarray
    tokens: np.ndarray
    names: tuple


def stack_members(stack, members: Sequence[int] | None = None) -> Callable:
    """A callable for :func:`loglik_matrix` that runs the chosen ``members`` of a
    :class:`.gpt.GPTStack` in one pass: ``(B, T) -> (len(members), B, T, V)``."""
    idx = list(range(stack.members)) if members is None else [int(m) for m in members]
    if not idx or min(idx) < 0 or max(idx) >= stack.members:
        raise ValueError(f"members must be indices in 0..{stack.members - 1}; got {members}")

    def run(x):
        return stack(x)[idx]

    run.module = stack  # so that loglik_matrix can switch it to evaluation mode and check its device
    run.vocab = stack.vocab  # so that out-of-vocabulary ids are refused before the model sees them
    return run


def _as_tokens(sample, i: int) -> np.ndarray:
    if isinstance(sample, (bytes, bytearray)):
        return np.frombuffer(bytes(sample), dtype=np.uint8).astype(np.int64)
    if isinstance(sample, str):
        raise TypeError(f"sample {i} is a str; give token ids or bytes (e.g. text.encode('utf-8'))")
    try:
        import torch

        if isinstance(sample, torch.Tensor):
            sample = sample.detach().cpu().numpy()
    except ImportError:  # pragma: no cover - torch is required below anyway
        pass
    arr = np.asarray(sample)
    if arr.ndim != 1:
        raise ValueError(f"sample {i} must be a 1-D sequence of token ids; got shape {arr.shape}")
    if arr.size and arr.dtype.kind not in "iu":
        if arr.dtype.kind == "f" and np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)):
            arr = arr.astype(np.int64)
        else:
            raise ValueError(f"sample {i} must hold integer token ids; got dtype {arr.dtype}")
    arr = arr.astype(np.int64)
    if arr.size and arr.min() < 0:
        raise ValueError(f"sample {i} holds a negative token id ({int(arr.min())})")
    return arr


def _windows(seq: np.ndarray, context: int | None, stride: int) -> list[tuple[int, int, int]]:
    """``(start, end, scored)`` windows of one sequence: the window ``seq[start:end]`` (read by the
    model as ``seq[start:end - 1]``) scores its last ``scored`` tokens (module docstring)."""
    L = seq.size
    if context is None or L <= context + 1:
        return [(0, L, L - 1)]
    out = [(0, context + 1, context)]
    done = context + 1  # tokens 1..done-1 are scored
    while done < L:
        end = min(done + stride, L)
        out.append((end - context - 1, end, end - done))
        done = end
    return out


def _module_of(model):
    import torch

    m = getattr(model, "module", model)
    return m if isinstance(m, torch.nn.Module) else None


def loglik_matrix(models, samples, *, batch_size: int = 16, device="cpu", bos: int | None = None,
                  context: int | None = None, stride: int | None = None, logits: bool = False,
                  names: Sequence[str] | None = None, vocab: int | None = None,
                  progress: bool = True) -> LoglikMatrix:
    """Sequence log-likelihoods of ``samples`` under ``models`` (module docstring): an
    ``N x J`` float64 matrix in nats, with the number of scored tokens per sample.

    ``models``: a callable or a sequence of callables (each ``(B, T) -> (B, T, V)`` or
    ``(M, B, T, V)``); ``samples``: sequences of token ids or ``bytes``; ``batch_size``: windows
    per forward pass; ``device``: where batches are built; ``bos``: a token id prepended to every
    sample so that its first token is scored too; ``context`` / ``stride``: windowing of long
    samples; ``logits``: normalize the outputs with ``log_softmax``; ``names``: one per expert
    (default ``expert_0``, ...); ``vocab``: the vocabulary size, to refuse larger token ids before
    any model runs (default: the ``vocab`` attribute of the callables made by
    :func:`stack_members`; otherwise ids are checked against the models' output size);
    ``progress``: show a tqdm bar.
    """
    import torch
    from tqdm.auto import tqdm

    if callable(models) and not isinstance(models, (list, tuple)):
        models = [models]
    models = list(models)
    if not models or not all(callable(m) for m in models):
        raise TypeError("models must be a callable or a non-empty sequence of callables returning "
                        "next-token log-probabilities")
    if isinstance(samples, (bytes, bytearray, str)) or not hasattr(samples, "__len__"):
        raise TypeError("samples must be a sequence of samples (token-id sequences or bytes)")
    if len(samples) == 0:
        raise ValueError("samples is empty")
    if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer; got {batch_size!r}")
    if context is not None and (not isinstance(context, (int, np.integer)) or context < 1):
        raise ValueError(f"context must be a positive integer (the models' input length); got {context!r}")
    if stride is not None:
        if context is None:
            raise ValueError("stride applies only with context")
        if not isinstance(stride, (int, np.integer)) or not 1 <= stride <= context:
            raise ValueError(f"stride must be an integer in 1..context = {context}; got {stride!r}")
    stride = context if (context is not None and stride is None) else stride
    if bos is not None and (not isinstance(bos, (int, np.integer)) or bos < 0):
        raise ValueError(f"bos must be a non-negative token id; got {bos!r}")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} requested but torch.cuda.is_available() is False")
    modules = [_module_of(m) for m in models]
    for j, mod in enumerate(modules):
        p = next(iter(mod.parameters()), None) if mod is not None else None
        if p is not None and p.device.type != dev.type:
            raise ValueError(f"model {j}'s parameters are on {p.device} but device is {dev}; move it "
                             f"first with model.to({str(dev)!r})")

    seqs = []
    for i, s in enumerate(samples):
        x = _as_tokens(s, i)
        if bos is not None:
            x = np.concatenate([[bos], x])
        if x.size < 2:
            raise ValueError(f"sample {i} has no token to score ({x.size} token{'s' if x.size != 1 else ''}"
                             f"{' after bos' if bos is not None else ''}; without bos the first token is "
                             "only conditioned on)")
        seqs.append(x)
    vocab = vocab if vocab is not None else min((getattr(m, "vocab", None) for m in models
                                                 if getattr(m, "vocab", None) is not None), default=None)
    if vocab is not None:
        top = max(int(x.max()) for x in seqs)
        if top >= vocab:
            i = next(i for i, x in enumerate(seqs) if int(x.max()) == top)
            raise ValueError(f"sample {i} holds token id {top}, outside the models' vocabulary of {vocab}")
    N = len(seqs)
    tokens = np.array([x.size - 1 for x in seqs], dtype=np.int64)
    # every window of every sample: (sample, start, end, scored)
    wins = [(i, *w) for i, x in enumerate(seqs) for w in _windows(x, context, stride)]
    order = sorted(range(len(wins)), key=lambda w: (-(wins[w][2] - wins[w][1]), w))
    batches = [order[b:b + batch_size] for b in range(0, len(order), batch_size)]

    modes = [(mod, mod.training) for mod in modules if mod is not None]
    totals = None
    try:
        for mod, _ in modes:
            mod.eval()
        with torch.no_grad():
            for bi, batch in enumerate(tqdm(batches, desc="log-likelihoods", disable=not progress,
                                            leave=False)):
                lens = [wins[w][2] - wins[w][1] for w in batch]
                T = max(lens)
                x = np.zeros((len(batch), T), dtype=np.int64)
                mask = np.zeros((len(batch), T - 1), dtype=bool)
                for r, w in enumerate(batch):
                    i, start, end, scored = wins[w]
                    x[r, :end - start] = seqs[i][start:end]
                    mask[r, end - start - 1 - scored:end - start - 1] = True
                xt = torch.from_numpy(x).to(dev)
                inp = xt[:, :-1]
                tgt = xt[:, 1:].unsqueeze(0).unsqueeze(-1)
                m = torch.from_numpy(mask).to(dev)
                top = int(x.max())
                cols = []
                for j, model in enumerate(models):
                    out = model(inp)
                    if not isinstance(out, torch.Tensor):
                        raise TypeError(f"model {j} returned {type(out).__name__}; it must return a tensor")
                    if out.dim() == 3:
                        out = out.unsqueeze(0)
                    if out.dim() != 4 or tuple(out.shape[1:3]) != tuple(inp.shape):
                        raise ValueError(f"model {j} returned shape {tuple(out.shape)} for a batch of shape "
                                         f"{tuple(inp.shape)}; expected (B, T, V) or (M, B, T, V)")
                    if top >= out.shape[-1]:
                        raise ValueError(f"token id {top} is outside model {j}'s vocabulary of "
                                         f"{out.shape[-1]} (its output size)")
                    if logits:
                        out = torch.log_softmax(out.float() if out.dtype in (torch.float16, torch.bfloat16)
                                                else out, dim=-1)
                    if bi == 0:
                        dev_max = float((torch.logsumexp(out.double(), dim=-1)).abs().max())
                        if not np.isfinite(dev_max) or dev_max > NORMALIZED_TOL:
                            raise ValueError(f"model {j}'s outputs are not log-probabilities (logsumexp "
                                             f"over the vocabulary is off by {dev_max:.3g}); pass "
                                             "logits=True if it returns logits")
                    # gather at once, so that only one model's (M, B, T, V) output is held at a time
                    lp = out.gather(3, tgt.expand(out.shape[0], -1, -1, -1)).squeeze(3)
                    cols.append(torch.where(m, lp.double(), 0.0).sum(dim=2).T.cpu())  # (B, M)
                    del out
                if totals is None:
                    totals = torch.zeros(N, sum(c.shape[1] for c in cols), dtype=torch.float64)
                rows = torch.tensor([wins[w][0] for w in batch])
                totals.index_add_(0, rows, torch.cat(cols, dim=1))
    finally:
        for mod, was_training in modes:
            mod.train(was_training)
    J = totals.shape[1]
    if names is None:
        names = tuple(f"expert_{j}" for j in range(J))
    else:
        names = tuple(str(n) for n in names)
        if len(names) != J or len(set(names)) != J:
            raise ValueError(f"names must be {J} distinct names (one per expert); got {list(names)}")
    return LoglikMatrix(totals.numpy(), tokens, names)
