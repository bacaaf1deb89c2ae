"""``loglik_matrix`` (issue 18, item 5): the input of ``robust-gates fit`` from torch causal language
models, checked on the project's own tiny byte-level transformers (:class:`GPTStack`)."""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from robust_gates.paper_repro.neural import LoglikMatrix, loglik_matrix, stack_members  # noqa: E402
from robust_gates.paper_repro.neural.gpt import GPTStack  # noqa: E402
from robust_gates.paper_repro.neural.sizes import GPTSize  # noqa: E402
from robust_gates.simulations.fit import fit  # noqa: E402
from robust_gates.simulations.fit_data import fit_data_from_dict, load_fit_data, save_fit_data  # noqa: E402

#: float64 models: batched and padded scoring equals one-sample scoring to this (the issue's 1e-6)
EXACT_TOL = 1e-6
#: float32 models: batches of different shapes may round differently (sums of ~100 tokens)
FLOAT32_TOL = 1e-3
CTX = 24


def _stack(seed=0, members=3, dtype=torch.float64, dropout=0.0):
    stack = GPTStack(members, GPTSize(16, 1, 2), CTX, torch.Generator().manual_seed(seed), dropout=dropout)
    return stack.to(dtype).eval()


def _samples(rng, n=11, lo=2, hi=CTX + 1):
    return [rng.integers(0, 256, size=int(rng.integers(lo, hi + 1))) for _ in range(n)]


def _direct(stack, seq, start_of=None):
    """One sample, one position at a time: sum over scored positions p of log P(y_p | y[s:p]) where
    s = start_of(p) (0 by default). Returns (members,) float64."""
    y = torch.as_tensor(np.asarray(seq, dtype=np.int64))
    total = torch.zeros(stack.members, dtype=torch.float64)
    with torch.no_grad():
        if start_of is None:
            out = stack(y[None, :-1])[:, 0]  # (M, T - 1, V)
            return out.gather(2, y[1:].view(1, -1, 1).expand(stack.members, -1, 1)).double().sum(
                dim=(1, 2)).numpy()
        for p in range(1, y.numel()):
            s = start_of(p)
            out = stack(y[None, s:p])[:, 0, -1]  # (M, V): prediction of y_p
            total += out[:, y[p]].double()
    return total.numpy()


def test_matches_unbatched_computation():
    """Batched, right-padded scoring of samples of different lengths equals scoring each sample
    alone (float64 models: to 1e-6), for a stack given as one callable and as one callable per member."""
    stack = _stack()
    rng = np.random.default_rng(0)
    samples = _samples(rng)
    ref = np.stack([_direct(stack, s) for s in samples])
    res = loglik_matrix(stack_members(stack), samples, batch_size=4, progress=False)
    assert isinstance(res, LoglikMatrix) and res.loglik.shape == (len(samples), 3)
    assert res.loglik.dtype == np.float64
    assert np.abs(res.loglik - ref).max() <= EXACT_TOL
    assert (res.tokens == [len(s) - 1 for s in samples]).all()
    per_member = [(lambda x, m=m: stack(x)[m]) for m in range(3)]
    res2 = loglik_matrix(per_member, samples, batch_size=3, progress=False, names=["a", "b", "c"])
    assert np.abs(res2.loglik - ref).max() <= EXACT_TOL and res2.names == ("a", "b", "c")


def test_batching_padding_and_order_invariance():
    """The batch size, and so the padding each sample gets, does not change the answer; neither
    does the order of the samples (float32 models, rounding-level tolerance)."""
    stack = _stack(1, dtype=torch.float32)
    rng = np.random.default_rng(1)
    samples = _samples(rng, n=13)
    base = loglik_matrix(stack_members(stack), samples, batch_size=1, progress=False).loglik
    for bs in (2, 5, 64):
        other = loglik_matrix(stack_members(stack), samples, batch_size=bs, progress=False).loglik
        assert np.abs(other - base).max() <= FLOAT32_TOL
    perm = rng.permutation(len(samples))
    shuffled = loglik_matrix(stack_members(stack), [samples[i] for i in perm], batch_size=4,
                             progress=False).loglik
    assert np.abs(shuffled - base[perm]).max() <= FLOAT32_TOL


def test_long_samples_are_windowed_as_documented():
    """context/stride (module docstring): windows of C + 1 tokens ending at C + 1 + i * stride;
    token p > C is predicted from the first window ending after it (reference: one forward pass per
    token); every token after the first is scored once."""
    stack = _stack(2)
    rng = np.random.default_rng(2)
    C = 10
    samples = [rng.integers(0, 256, size=n) for n in (3, 11, 12, 23, 40)]
    for S in (C, 4, 1):
        res = loglik_matrix(stack_members(stack), samples, context=C, stride=S, batch_size=3, progress=False)

        def start_of(p, L, S=S):
            if p <= C:
                return 0
            i = -(-(p - C) // S)  # ceil
            return min(C + 1 + i * S, L) - C - 1

        ref = np.stack([_direct(stack, s, partial(start_of, L=len(s))) for s in samples])
        assert np.abs(res.loglik - ref).max() <= EXACT_TOL, S
        assert (res.tokens == [len(s) - 1 for s in samples]).all()


def test_bos_scores_the_first_token_and_bytes_are_ids():
    """With ``bos`` the first token is scored (T tokens), exactly as scoring [bos] + x; bytes samples
    are their byte values."""
    stack = _stack(3)
    docs = [b"def f(x):\n", b"a", "Ünïcode".encode()]
    res = loglik_matrix(stack_members(stack), docs, bos=10, progress=False)
    ids = [np.r_[10, np.frombuffer(d, dtype=np.uint8)] for d in docs]
    ref = np.stack([_direct(stack, x) for x in ids])
    assert np.abs(res.loglik - ref).max() <= EXACT_TOL
    assert (res.tokens == [len(d) for d in docs]).all()


def test_determinism_and_evaluation_mode():
    """Two calls give identical matrices; a module left in training mode with dropout is scored in
    evaluation mode (no dropout noise) and handed back in training mode."""
    stack = _stack(4, dtype=torch.float32, dropout=0.3)
    samples = _samples(np.random.default_rng(4))
    a = loglik_matrix(stack_members(stack), samples, progress=False).loglik
    stack.train()
    b = loglik_matrix(stack_members(stack), samples, progress=False).loglik
    assert stack.training
    assert np.array_equal(a, b)


def test_logits_are_normalized_only_when_asked():
    """A model returning logits is refused with the fix; with logits=True it is log_softmax-ed and
    agrees with the log-probability version."""
    stack = _stack(5)
    samples = _samples(np.random.default_rng(5), n=4)

    def raw(x):
        return stack(x)[0] * 3.0 + 1.0  # not normalized
    with pytest.raises(ValueError, match="logits=True"):
        loglik_matrix(raw, samples, progress=False)
    got = loglik_matrix(raw, samples, logits=True, progress=False).loglik[:, 0]
    ref = loglik_matrix(lambda x: torch.log_softmax(stack(x)[0] * 3.0 + 1.0, -1), samples,
                        progress=False).loglik[:, 0]
    assert np.abs(got - ref).max() <= EXACT_TOL


@pytest.mark.parametrize("kwargs, message", [
    ({"samples": []}, "samples is empty"),
    ({"samples": "abc"}, "sequence of samples"),
    ({"samples": ["abc"]}, "is a str"),
    ({"samples": [[1, 2], [3]]}, "sample 1 has no token to score"),
    ({"samples": [[1, -2]]}, "negative token id"),
    ({"samples": [[1, 300]]}, "sample 0 holds token id 300, outside"),
    ({"samples": [[1, 20]], "models": lambda x: torch.log_softmax(torch.zeros(*x.shape, 8), -1)},
     "token id 20 is outside model 0's vocabulary of 8"),
    ({"samples": [[[1, 2]]]}, "1-D sequence"),
    ({"samples": [[1.5, 2]]}, "integer token ids"),
    ({"batch_size": 0}, "batch_size"),
    ({"context": 0}, "context must be"),
    ({"context": 8, "stride": 9}, "stride must be"),
    ({"stride": 2}, "only with context"),
    ({"bos": -1}, "bos must be"),
    ({"names": ["x"]}, "names must be 3"),
    ({"models": []}, "non-empty sequence"),
    ({"models": [lambda x: x]}, "returned shape"),
])
def test_bad_inputs(kwargs, message):
    """Bad inputs raise ValueError/TypeError with a sentence naming the problem."""
    stack = _stack(6)
    args = {"models": stack_members(stack), "samples": [[1, 2, 3], [4, 5]], "progress": False, **kwargs}
    with pytest.raises((ValueError, TypeError), match=message):
        loglik_matrix(**args)


def test_device_mismatch_is_refused():
    """A module on another device than ``device`` is refused (never moved behind the caller's back);
    cuda without a GPU is refused too."""
    stack = _stack(7)
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="cuda"):
            loglik_matrix(stack_members(stack), [[1, 2]], device="cuda", progress=False)
    else:  # pragma: no cover - only on a machine with a GPU
        with pytest.raises(ValueError, match="model.to"):
            loglik_matrix(stack_members(stack), [[1, 2]], device="cuda", progress=False)
        gpu = loglik_matrix(stack_members(stack.to("cuda")), [[1, 2, 3]], device="cuda", progress=False)
        cpu = loglik_matrix(stack_members(stack.to("cpu")), [[1, 2, 3]], progress=False)
        assert np.abs(gpu.loglik - cpu.loglik).max() <= EXACT_TOL


def test_matrix_feeds_fit_through_npz_and_csv(tmp_path):
    """The helper's output is a valid fit input: npz and csv round trips give the same constant gate,
    certified (gap <= 1e-8), and the per-token losses use the helper's token counts."""
    stack = _stack(8, dtype=torch.float32)
    rng = np.random.default_rng(8)
    samples = _samples(rng, n=30, lo=6)
    res = loglik_matrix(stack_members(stack), samples, progress=False)
    dom = np.arange(30) % 3
    d = {"loglik": res.loglik, "tokens": res.tokens, "domain": dom, "expert_names": list(res.names)}
    a = fit(load_fit_data(save_fit_data(d, tmp_path / "m.npz")), per_token=True, bootstrap=0)
    b = fit(load_fit_data(save_fit_data(d, tmp_path / "m.csv")), per_token=True, bootstrap=0)
    assert a.constant.gap <= 1e-8 and b.constant.gap <= 1e-8
    assert np.abs(a.constant.weights - b.constant.weights).max() <= 1e-6
    assert fit_data_from_dict(d).tokens.tolist() == res.tokens.tolist()


def test_default_windows_are_the_real_text_evaluation_windows():
    """With ``context = ctx`` and the default stride, one long sample is scored exactly as the
    real-text experiment scores its evaluation windows (``eval_windows``: ctx + 1 bytes, sharing one
    byte), and the windows themselves give the experiment's own token log-probabilities."""
    from robust_gates.paper_repro.neural.text_data import eval_windows
    from robust_gates.paper_repro.neural.train import stack_token_logp

    stack = _stack(9)
    arr = np.random.default_rng(9).integers(0, 256, size=5 * CTX + 1).astype(np.uint8)
    wins = eval_windows(arr, CTX + 1)
    own = stack_token_logp(stack, wins).double().sum(dim=2).T.numpy()  # (N, M)
    per_window = loglik_matrix(stack_members(stack), list(wins), context=CTX, progress=False)
    assert np.abs(per_window.loglik - own).max() <= EXACT_TOL
    whole = loglik_matrix(stack_members(stack), [arr], context=CTX, progress=False)
    assert np.abs(whole.loglik[0] - own.sum(axis=0)).max() <= EXACT_TOL
    assert whole.tokens[0] == arr.size - 1 == per_window.tokens.sum()
