"""Divergences on a finite sample space, with the SPEC section 1 conventions.

Natural logarithms (nats); ``0 log 0 = 0``; ``KL(p || q) = +inf`` as soon as
``p(x) > 0 = q(x)``. Infinite values are ``inf``, never ``nan``.

Every function accepts a single distribution (shape ``(n,)``) or a stack of them
(shape ``(K, n)``), in which case it returns one number per row.
"""

from __future__ import annotations

import numpy as np
from scipy.special import entr, rel_entr

__all__ = ["kl", "cross_entropy", "entropy", "jensen_shannon", "mixture"]


def entropy(p: np.ndarray) -> np.ndarray | float:
    r"""Shannon entropy :math:`H(p) = -\sum_x p(x) \log p(x)` in nats (row-wise)."""
    p = np.asarray(p, dtype=np.float64)
    out = entr(p).sum(axis=-1)
    return float(out) if out.ndim == 0 else out


def kl(p: np.ndarray, q: np.ndarray) -> np.ndarray | float:
    r"""Kullback-Leibler divergence :math:`KL(p\|q) = \sum_x p(x) \log(p(x)/q(x))`.

    ``p`` and ``q`` broadcast against each other along the last axis, so ``kl(D, q)``
    with ``D`` of shape ``(K, n)`` and ``q`` of shape ``(n,)`` gives the K per-domain
    divergences. Returns ``inf`` where ``p`` puts mass outside the support of ``q``.
    """
    p = np.asarray(p, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    out = rel_entr(p, q).sum(axis=-1)
    return float(out) if out.ndim == 0 else out


def cross_entropy(p: np.ndarray, q: np.ndarray) -> np.ndarray | float:
    r"""Cross-entropy :math:`CE(p, q) = -\sum_x p(x) \log q(x) = H(p) + KL(p\|q)`."""
    p = np.asarray(p, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    out = entr(p).sum(axis=-1) + rel_entr(p, q).sum(axis=-1)
    return float(out) if out.ndim == 0 else out


def mixture(lam: np.ndarray, D: np.ndarray) -> np.ndarray:
    r"""The mixture :math:`D_\lambda = \sum_k \lambda_k D_k` (shape ``(n,)``)."""
    return np.asarray(lam, dtype=np.float64) @ np.asarray(D, dtype=np.float64)


def jensen_shannon(lam: np.ndarray, D: np.ndarray) -> float:
    r"""Generalized Jensen-Shannon divergence (SPEC identity I1).

    .. math:: JS_\lambda(D) = H(D_\lambda) - \sum_k \lambda_k H(D_k)
              = \sum_k \lambda_k KL(D_k \| D_\lambda) \ge 0.

    It is computed in the second (KL) form, which is non-negative term by term
    and so never returns a tiny negative number from cancellation.
    """
    lam = np.asarray(lam, dtype=np.float64)
    D = np.asarray(D, dtype=np.float64)
    if lam.ndim != 1 or D.ndim != 2 or lam.shape[0] != D.shape[0]:
        raise ValueError(
            f"jensen_shannon needs lam of shape (K,) and D of shape (K, n); got {lam.shape} "
            f"and {D.shape}"
        )
    m = lam @ D
    per = rel_entr(D, m[None, :]).sum(axis=1)
    weigh = lam > 0  # a domain with lam_k = 0 contributes 0 even where its KL is infinite
    return float(np.sum(lam[weigh] * per[weigh]))
