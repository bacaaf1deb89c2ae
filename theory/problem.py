r"""The validated, frozen robust-gating problem (SPEC sections 1 and 2).

A :class:`RobustProblem` holds ``D`` (domains, ``K x n``), ``P`` (experts, ``K x n``,
default ``D``: perfect experts), ``Lambda`` (prior knowledge, default the simplex) and the
``payoff``:

``"kl"``
    :math:`L(g, \lambda) = \sum_k \lambda_k KL(D_k \| P_g)`;
``"cross_entropy"``
    :math:`CE(g, \lambda) = \sum_k \lambda_k CE(D_k, P_g) = L(g,\lambda) + \sum_k \lambda_k H(D_k)`.

Both are linear in :math:`\lambda`, so the per-domain loss vector :math:`\ell(q)` of a model
``q`` determines the payoff of every mixture: :math:`\lambda \cdot \ell(q)`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
from scipy.special import rel_entr

from ._validate import as_float_array, check_distributions
from .best_response import WaterFill, water_fill
from .divergences import entropy
from .lambda_sets import LambdaSet, Simplex

__all__ = ["PAYOFFS", "RobustProblem", "PROBABILITY_FLOOR"]

PAYOFFS = ("kl", "cross_entropy")
#: smallest positive expert probability at which the solvers' answers keep about 1e-8 relative
#: accuracy. A model in double precision resolves mass only to about 1e-16 in absolute terms,
#: so at entries below this an error of that size can move log P_g(x) by a visible amount while
#: the certificate (computed in the same precision) still reads ~0. Measured on two experts
#: ``(e, 1 - e, 0)`` and ``(0, 1 - e, e)``: relative error 3e-9 at e = 1e-10 and 1e-11, 3e-6 at
#: 1e-12, 2e-2 at 1e-15 (tests/test_reliability.py::test_numerical_floor_*).
PROBABILITY_FLOOR = 1e-10


@dataclass(frozen=True, eq=False)
class RobustProblem:
    """A finite robust-gating game. Construction validates everything (see ``__post_init__``).

    Parameters
    ----------
    D : array (K, n)
        Domain distributions, one per row.
    P : array (K, n), optional
        Frozen experts, one per domain; defaults to ``D`` (perfect experts).
    Lambda : LambdaSet, optional
        Prior-knowledge set of mixtures; defaults to the whole simplex.
    payoff : {"kl", "cross_entropy"}
        The loss the gate minimizes and the adversary maximizes.
    """

    D: np.ndarray
    P: np.ndarray | None = None
    Lambda: LambdaSet | None = None
    payoff: str = "kl"

    def __post_init__(self):
        D = as_float_array(self.D, "D", 2)
        K, n = D.shape
        if K < 2:
            raise ValueError(f"need at least K = 2 domains; D has {K} row")
        if n < 1:
            raise ValueError("the sample space is empty: D has no columns")
        check_distributions(D, "D", "domains")
        if self.P is None:
            P = D
        else:
            P = as_float_array(self.P, "P", 2)
            if P.shape != D.shape:
                raise ValueError(
                    f"P has shape {P.shape} but D has shape {D.shape}; need one expert per "
                    "domain on the same sample space"
                )
            check_distributions(P, "P", "experts")
        Lam = Simplex(K) if self.Lambda is None else self.Lambda
        if not isinstance(Lam, LambdaSet):
            raise TypeError(
                "Lambda must be a LambdaSet (Simplex, Box, Polytope, Hull, TVBall, ...); "
                f"got {type(Lam).__name__}"
            )
        if Lam.K != K:
            raise ValueError(f"Lambda is a set of mixtures of K = {Lam.K} domains but D has K = {K}")
        if self.payoff not in PAYOFFS:
            raise ValueError(f"payoff must be one of {PAYOFFS}; got {self.payoff!r}")
        # V is infinite iff a domain that some lam in Lambda weighs has mass where every expert
        # has none; a domain Lambda never weighs (e.g. box_hi = 0) may be uncovered.
        u = P.max(axis=0)
        uncovered = (D > 0) & (u[None, :] == 0) & Lam.support()[:, None]
        if uncovered.any():
            k = int(np.argwhere(uncovered)[0][0])
            points = np.flatnonzero(uncovered[k])
            shown = ", ".join(str(int(x)) for x in points[:8]) + (", ..." if points.size > 8 else "")
            raise ValueError(
                f"domain {k} puts mass on x = {shown}, where every expert has probability 0, and "
                f"Lambda allows weight on domain {k}: KL(D_{k} || P_g) is infinite for every gate g"
            )
        object.__setattr__(self, "D", D)
        object.__setattr__(self, "P", P)
        object.__setattr__(self, "Lambda", Lam)

    # ----------------------------------------------------------------- derived data
    @property
    def K(self) -> int:
        return int(self.D.shape[0])

    @property
    def n(self) -> int:
        return int(self.D.shape[1])

    @cached_property
    def l(self) -> np.ndarray:
        """Lower envelope ``min_k P_k``."""
        return self.P.min(axis=0)

    @cached_property
    def u(self) -> np.ndarray:
        """Upper envelope ``max_k P_k``."""
        return self.P.max(axis=0)

    @cached_property
    def envelope_width(self) -> np.ndarray:
        """``u - l`` (read-only): the denominator of the two-expert gate's weights, part of the
        envelope like ``l`` and ``u``."""
        width = self.u - self.l
        width.flags.writeable = False
        return width

    @cached_property
    def envelope_experts(self) -> tuple[np.ndarray, np.ndarray]:
        """``(kmin, kmax)``: for each ``x`` the first expert attaining ``l(x)`` and the first
        attaining ``u(x)`` (read-only). One sweep of ``K`` row comparisons in column blocks, so
        ``l``, ``u`` and the masks stay in cache across the rows (``argmin`` over the strided
        axis 0 of a C-ordered ``K x n`` array is several times slower); shared by the solvers'
        two-expert gates."""
        P, l, u, n = self.P, self.l, self.u, self.n
        kmin = np.empty(n, dtype=np.intp)
        kmax = np.empty(n, dtype=np.intp)
        step = 1 << 15
        mask = np.empty(step, dtype=bool)
        for a in range(0, n, step):
            b = min(a + step, n)
            m = mask[: b - a]
            for k in range(self.K - 1, -1, -1):  # the last write is the first k attaining it
                np.equal(P[k, a:b], l[a:b], out=m)
                np.putmask(kmin[a:b], m, k)
                np.equal(P[k, a:b], u[a:b], out=m)
                np.putmask(kmax[a:b], m, k)
        kmin.flags.writeable = False
        kmax.flags.writeable = False
        return kmin, kmax

    @cached_property
    def entropies(self) -> np.ndarray:
        """``H(D_k)`` for each domain (nats)."""
        return np.asarray(entropy(self.D))

    @cached_property
    def expert_errors(self) -> np.ndarray:
        """``eps_k = KL(D_k || P_k)`` (may be ``inf``)."""
        return rel_entr(self.D, self.P).sum(axis=1)

    @cached_property
    def below_floor(self) -> bool:
        """True when some expert gives a positive probability below :data:`PROBABILITY_FLOOR` at
        a point some domain weighs: the answer is then certified only in floating point."""
        relevant = self.P[:, self.D.max(axis=0) > 0]
        positive = relevant[relevant > 0]
        return bool(positive.size and positive.min() < PROBABILITY_FLOOR)

    @property
    def perfect_experts(self) -> bool:
        return bool(self.P is self.D or np.array_equal(self.P, self.D))

    # ----------------------------------------------------------------- payoff
    def cross_entropies(self, q: np.ndarray) -> np.ndarray:
        """``CE(D_k, q) = -sum_x D_k(x) log q(x)`` for every ``k`` in one product ``D @ log q``
        (``0 log 0 = 0``; ``inf`` for each ``k`` with ``D_k(x) > 0 = q(x)`` somewhere, and
        for every ``k`` if some ``q(x) < 0``, as ``rel_entr`` has it)."""
        q = np.asarray(q, dtype=np.float64)
        if q.shape != (self.n,):
            raise ValueError(f"a model must have shape ({self.n},); got {q.shape}")
        pos = q > 0
        if pos.all():
            return -(self.D @ np.log(q))
        if (q < 0).any():
            return np.full(self.K, np.inf)
        ce = -(self.D @ np.log(np.where(pos, q, 1.0)))
        ce[(self.D[:, ~pos] > 0).any(axis=1)] = np.inf
        return ce

    def losses(self, q: np.ndarray) -> np.ndarray:
        """Per-domain losses ``l_k(q)``: ``KL(D_k||q)`` or ``CE(D_k, q)``; ``inf`` where uncovered.

        Computed as ``CE(D_k, q) - H(D_k)`` with the entropies :attr:`entropies` computed once
        per problem: one product ``D @ log q`` (``n`` logarithms) instead of ``K n`` terms of
        ``rel_entr``. The difference of the two ways is rounding, about ``1e-16 (H + CE)``.
        """
        ce = self.cross_entropies(q)
        return ce if self.payoff == "cross_entropy" else ce - self.entropies

    def payoff_value(self, q: np.ndarray, lam: np.ndarray) -> float:
        """``L(q, lam) = sum_k lam_k l_k(q)`` (terms with ``lam_k = 0`` contribute 0)."""
        lam = np.asarray(lam, dtype=np.float64)
        c = self.losses(q)
        weigh = lam > 0
        return float(np.sum(lam[weigh] * c[weigh]))

    def worst_case(self, q: np.ndarray) -> tuple[float, np.ndarray]:
        """``max_{lam in Lambda} L(q, lam)`` and a maximizing mixture (``inf`` when a mixture in
        ``Lambda`` weighs a domain that ``q`` does not cover)."""
        return self.Lambda.maximize_linear(self.losses(q))

    # ----------------------------------------------------------------- best response
    def mixture(self, lam: np.ndarray) -> np.ndarray:
        return np.asarray(lam, dtype=np.float64) @ self.D

    def best_response(self, lam: np.ndarray, t0: float | None = None) -> WaterFill:
        """Water-filling ``q_lam = clip(D_lam / nu, l, u)`` (see :mod:`robust_gates.theory.best_response`)."""
        lam = self._check_mixture(lam)
        return water_fill(self.mixture(lam), self.l, self.u, t0=t0)

    def phi(self, lam: np.ndarray) -> float:
        """Dual function ``phi(lam) = min_{g in G_1} L(g, lam)``."""
        lam = self._check_mixture(lam)
        return self.payoff_value(self.best_response(lam).q, lam)

    def _check_mixture(self, lam) -> np.ndarray:
        lam = np.asarray(lam, dtype=np.float64)
        if lam.shape != (self.K,):
            raise ValueError(f"lam must have shape ({self.K},); got {lam.shape}")
        if not np.all(np.isfinite(lam)) or lam.min() < -1e-12 or abs(lam.sum() - 1) > 1e-9:
            raise ValueError(f"lam = {np.round(lam, 6).tolist()} is not a mixture in the simplex")
        return lam

    def __repr__(self) -> str:
        return (
            f"RobustProblem(K={self.K}, n={self.n}, Lambda={self.Lambda!r}, payoff={self.payoff!r}, "
            f"perfect_experts={self.perfect_experts})"
        )
