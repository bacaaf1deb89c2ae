r"""Gates and the envelope fact (SPEC section 1, statement L0).

A gate ``g`` is a ``(K, n)`` array whose columns lie in the simplex; the gated model is
:math:`P_g(x) = \sum_k g_k(x) P_k(x)`. The normalized gates
:math:`G_1 = \{g : \sum_x P_g(x) = 1\}` realize exactly the envelope set
:math:`Q = \{q : l \le q \le u, \sum_x q(x) = 1\}` with :math:`l = \min_k P_k`,
:math:`u = \max_k P_k`; :func:`gate_from_model` returns a gate for any ``q`` in ``Q``
that mixes, at each ``x``, the pointwise-min and pointwise-max experts.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "GATE_TOL",
    "envelope",
    "gated_model",
    "constant_gate",
    "in_G1",
    "check_gate",
    "gate_from_model",
    "in_envelope",
    "repair_envelope",
]

GATE_TOL = 1e-9


def envelope(P: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pointwise lower and upper envelopes ``(l, u) = (min_k P_k, max_k P_k)``."""
    P = np.asarray(P, dtype=np.float64)
    return P.min(axis=0), P.max(axis=0)


def gated_model(g: np.ndarray, P: np.ndarray) -> np.ndarray:
    """``P_g(x) = sum_k g_k(x) P_k(x)``."""
    return np.einsum("kx,kx->x", np.asarray(g, dtype=np.float64), np.asarray(P, dtype=np.float64))


def constant_gate(w: np.ndarray, n: int) -> np.ndarray:
    """The constant gate ``g(., x) = w`` (always in ``G_1``)."""
    w = np.asarray(w, dtype=np.float64)
    return np.repeat(w[:, None], n, axis=1)


def check_gate(g: np.ndarray, P: np.ndarray, tol: float = GATE_TOL) -> None:
    """Raise ``ValueError`` naming the first violated ``G_1`` condition."""
    g = np.asarray(g, dtype=np.float64)
    P = np.asarray(P, dtype=np.float64)
    if g.shape != P.shape:
        raise ValueError(f"gate has shape {g.shape} but the experts have shape {P.shape}")
    if not np.all(np.isfinite(g)):
        raise ValueError("gate has non-finite entries")
    if g.min() < -tol:
        k, x = np.unravel_index(int(np.argmin(g)), g.shape)
        raise ValueError(f"gate entry g[{k}, {x}] = {g[k, x]:.3g} is negative")
    cols = g.sum(axis=0)
    off = np.abs(cols - 1)
    if off.max() > tol:
        x = int(np.argmax(off))
        raise ValueError(f"gate column x = {x} sums to {cols[x]:.12g}, not 1")
    mass = gated_model(g, P).sum()
    if abs(mass - 1) > tol:
        raise ValueError(f"the gated model has total mass {mass:.12g}, not 1 (gate not in G_1)")


def in_G1(g: np.ndarray, P: np.ndarray, tol: float = GATE_TOL) -> bool:
    """Whether ``g`` is a normalized gate for experts ``P`` (within ``tol``)."""
    try:
        check_gate(g, P, tol)
    except ValueError:
        return False
    return True


def in_envelope(q: np.ndarray, P: np.ndarray, tol: float = GATE_TOL) -> bool:
    """Whether ``q`` lies in ``Q = {l <= q <= u, sum q = 1}`` (within ``tol``)."""
    l, u = envelope(P)
    q = np.asarray(q, dtype=np.float64)
    return bool(
        q.shape == l.shape and np.all(q >= l - tol) and np.all(q <= u + tol)
        and abs(q.sum() - 1) <= tol
    )


def gate_from_model(q: np.ndarray, P: np.ndarray, tol: float = GATE_TOL) -> np.ndarray:
    """A gate ``g`` in ``G_1`` with ``P_g = q``, for ``q`` in the envelope set ``Q``.

    At each ``x`` it puts weight ``t`` on an expert attaining ``l(x)`` and ``1 - t`` on one
    attaining ``u(x)``, with ``t = (u - q)/(u - l)``; so ``P_g(x) = q(x)`` exactly up to
    rounding. Raises ``ValueError`` if ``q`` is outside ``Q`` by more than ``tol``.
    """
    P = np.asarray(P, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    if not in_envelope(q, P, tol):
        l, u = envelope(P)
        worst = np.maximum(l - q, q - u)
        raise ValueError(
            f"q is not in the envelope set Q: max bound violation {worst.max():.3g} at "
            f"x = {int(np.argmax(worst))}, total mass {q.sum():.12g}"
        )
    K, n = P.shape
    kmin, kmax = P.argmin(axis=0), P.argmax(axis=0)
    l, u = P[kmin, np.arange(n)], P[kmax, np.arange(n)]
    width = u - l
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(width > 0, np.clip((u - q) / width, 0.0, 1.0), 1.0)
    g = np.zeros((K, n))
    cols = np.arange(n)
    g[kmin, cols] += t  # each statement touches every column once: no repeated indices
    g[kmax, cols] += 1.0 - t
    return g


def repair_envelope(q: np.ndarray, l: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Move a nearly feasible model (e.g. a conic solver's output) exactly into ``Q``.

    Clips to ``[l, u]``, then closes the remaining mass defect by moving every coordinate
    toward ``u`` (deficit) or ``l`` (surplus) in proportion to its room. The result satisfies
    the bounds exactly and sums to 1 up to rounding. Meant for solver outputs whose bound
    violations are at the solver's tolerance; certificates are then computed at the repaired
    point, so nothing is hidden.
    """
    q = np.clip(np.asarray(q, dtype=np.float64), l, u)
    s = q.sum()
    # With no room left (e.g. experts whose rows sum to 1 - 1e-16, so that sum(u) < 1 by
    # rounding), the clipped point is already the best there is: moving it would divide by 0.
    if s < 1.0:
        room = u - q
        if room.sum() > 0:
            q = q + room * ((1.0 - s) / room.sum())
    elif s > 1.0:
        room = q - l
        if room.sum() > 0:
            q = q - room * ((s - 1.0) / room.sum())
    return q
