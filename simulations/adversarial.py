r"""Counterexample search: minimize a statement's slack over instance parameters.

An :class:`AdversarialSpace` maps a real vector :math:`\theta` to an instance of a family's
shape (same expert kind and ``Lambda`` kind, fixed ``K`` and ``n``):

* ``D_k = softmax(theta_D[k])`` (logits, so every distribution with full support is reachable);
* imperfect experts ``P_k = (1 - tau_k) D_k + tau_k softmax(theta_N[k])``,
  ``tau_k = sigmoid(theta_tau[k])``;
* ``Lambda``: a box ``|lam - softmax(theta_c)|_inf <= 0.5 sigmoid(theta_r)``; a polytope
  ``{A lam <= A c + 0.5 sigmoid(s)}`` with ``A`` read from ``theta``; the hull of ``K`` points
  ``softmax(theta_i)``; a nested pair (hull of box points projected into the box).

:func:`adversarial_search` runs random probes and then Nelder-Mead restarts from the best
probes on ``theta -> slack`` (SPEC section 3 claims should never go below zero; a planted false
claim must). It returns the worst instance found; :func:`save_worst` writes it with
:func:`robust_gates.simulations.problem_io.save_problem` so ``robust-gates solve FILE`` opens it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit, softmax

from robust_gates.theory import Box, Hull, Polytope, RobustProblem, Simplex, SolverError

from .instances import FAMILIES, PROB_FLOOR, Instance, box_around
from .problem_io import save_problem
from .statements import FP_TOL, Statement, get_statement

__all__ = ["AdversarialSpace", "AdversarialResult", "adversarial_search", "default_families", "save_worst",
           "PENALTY"]

#: objective value given to parameters whose instance cannot be built or solved (not a violation)
PENALTY = 10.0


def _dist(logits: np.ndarray) -> np.ndarray:
    d = np.maximum(softmax(np.clip(logits, -30, 30), axis=-1), PROB_FLOOR)
    return d / d.sum(axis=-1, keepdims=True)


@dataclass(frozen=True)
class AdversarialSpace:
    """Parameter space of instances shaped like ``family`` with ``K`` domains on ``n`` points."""

    family: str
    K: int = 3
    n: int = 4
    sizes: dict = field(init=False, repr=False)

    def __post_init__(self):
        if self.family not in FAMILIES:
            raise ValueError(f"unknown family {self.family!r}; choose one of {sorted(FAMILIES)}")
        if self.K < 2 or self.n < 2:
            raise ValueError(f"need K >= 2 and n >= 2; got K = {self.K}, n = {self.n}")
        fam = FAMILIES[self.family]
        K, n = self.K, self.n
        sizes = {"D": K * n}
        if not fam.perfect:
            sizes.update(N=K * n, tau=K)
        kind = fam.lam_kind
        if kind == "box":
            sizes.update(c=K, r=1)
        elif kind == "polytope":
            sizes.update(c=K, A=K * K, s=K)
        elif kind == "hull":
            sizes.update(V=K * K)
        elif kind == "nested":
            sizes.update(c=K, r=1, V=K * K)
        object.__setattr__(self, "sizes", sizes)

    @property
    def dim(self) -> int:
        return int(sum(self.sizes.values()))

    def _split(self, theta: np.ndarray) -> dict:
        theta = np.asarray(theta, dtype=np.float64)
        if theta.shape != (self.dim,):
            raise ValueError(f"theta must have shape ({self.dim},); got {theta.shape}")
        out, i = {}, 0
        for k, s in self.sizes.items():
            out[k] = theta[i:i + s]
            i += s
        return out

    def decode(self, theta: np.ndarray) -> Instance:
        """The instance encoded by ``theta`` (see the module docstring)."""
        t = self._split(theta)
        K, n = self.K, self.n
        D = _dist(t["D"].reshape(K, n))
        P = None
        if "N" in t:
            tau = expit(t["tau"])
            P = (1 - tau[:, None]) * D + tau[:, None] * _dist(t["N"].reshape(K, n))
        kind = FAMILIES[self.family].lam_kind
        sets: tuple = (Simplex(K),)
        if kind == "box":
            sets = (box_around(_dist(t["c"]), 0.5 * float(expit(t["r"][0]))),)
        elif kind == "polytope":
            A = t["A"].reshape(K, K)
            sets = (Polytope(A, A @ _dist(t["c"]) + 0.5 * expit(t["s"])),)
        elif kind == "hull":
            sets = (Hull(_dist(t["V"].reshape(K, K))),)
        elif kind == "nested":
            outer: Box = box_around(_dist(t["c"]), 0.5 * float(expit(t["r"][0])))
            pts = np.array([outer.project(v) for v in _dist(t["V"].reshape(K, K))])
            sets = (Hull(pts), outer)
        problems = tuple(RobustProblem(D, P, s) for s in sets)
        return Instance(f"adv:{self.family}", {"K": K, "n": n, "theta": theta.round(12).tolist()},
                        problems, (0,))


@dataclass(frozen=True)
class AdversarialResult:
    """Worst instance found for one statement: its slack, check result and search record."""

    statement: str
    family: str
    worst_slack: float
    worst: Instance | None
    result: object
    evaluations: int
    failures: int
    seconds: float
    history: list = field(default_factory=list, repr=False)

    @property
    def violated(self) -> bool:
        return bool(self.worst_slack < 0)


class _Found(Exception):
    pass


#: families tried by default for a statement: its first family, then the first it has of each group
_ADV_GROUPS = (("box", "polytope", "nested", "hull"),
               ("perfect_polytope", "perfect_box", "perfect_nested", "perfect_hull"))


def default_families(stmt: Statement) -> list[str]:
    """Up to three families for the adversarial search of ``stmt`` (never ``large``)."""
    fams = [f for f in stmt.families if f != "large"] or list(stmt.families)
    out = [fams[0]]
    for group in _ADV_GROUPS:
        hit = next((f for f in group if f in fams), None)
        if hit and hit not in out:
            out.append(hit)
    return out


def _relative(part: dict) -> float:
    """Slack in units of the part's tolerance (sign kept: ``< 0`` iff the part fails)."""
    s = float(part["slack"])
    return s / max(float(part["tol"]), FP_TOL) if np.isfinite(s) else -1e12


def adversarial_search(
    stmt: Statement | str,
    rng: np.random.Generator,
    *,
    family: str | None = None,
    K: int = 3,
    n: int = 4,
    probes: int = 16,
    restarts: int = 1,
    maxfev: int = 80,
    stop_on_violation: bool = True,
) -> AdversarialResult:
    """Minimize the slack of each part of ``stmt``'s check over ``theta``.

    ``probes`` random ``theta ~ N(0, 2^2)`` are checked first; then, for every part of the
    check, Nelder-Mead (``maxfev`` evaluations) minimizes that part's slack measured in units of
    its tolerance, from the ``restarts`` best probes for it (one objective per part, so tight
    identities in one part do not mask another). The worst instance is the one with the
    smallest overall slack seen. Parameters whose instance cannot be built or solved score
    :data:`PENALTY` and count as ``failures`` (not violations). With ``stop_on_violation`` the
    search ends at the first negative slack.
    """
    stmt = get_statement(stmt) if isinstance(stmt, str) else stmt
    family = family or stmt.families[0]
    if family not in stmt.families:
        raise ValueError(f"statement {stmt.id} does not apply to family {family!r}")
    space = AdversarialSpace(family, K, n)
    start = time.perf_counter()
    state = {"best": np.inf, "inst": None, "res": None, "evals": 0, "fail": 0}
    history: list[float] = []

    def evaluate(theta) -> dict | None:
        state["evals"] += 1
        try:
            inst = space.decode(theta)
            res = stmt.check(inst)
        except (ValueError, SolverError, RuntimeError, ArithmeticError):
            state["fail"] += 1
            history.append(PENALTY)
            return None
        s = float(res.slack) if np.isfinite(res.slack) else -np.inf
        history.append(s)
        if s < state["best"]:
            state.update(best=s, inst=inst, res=res)
        if stop_on_violation and s < 0:
            raise _Found
        parts = res.details.get("parts") or {"check": {"slack": s, "tol": res.tol}}
        return {name: _relative(pt) for name, pt in parts.items()}

    try:
        starts = [rng.normal(0.0, 2.0, size=space.dim) for _ in range(probes)]
        scores = [evaluate(th) for th in starts]
        names = sorted({name for sc in scores if sc for name in sc})
        for name in names:
            vals = [sc.get(name, PENALTY) if sc else PENALTY for sc in scores]

            def f(theta, name=name):
                sc = evaluate(theta)
                return PENALTY if sc is None else sc.get(name, PENALTY)

            for j in np.argsort(vals)[:restarts]:
                minimize(f, starts[j], method="Nelder-Mead",
                         options={"maxfev": maxfev, "xatol": 1e-8, "fatol": 1e-13, "adaptive": True})
    except _Found:
        pass
    return AdversarialResult(stmt.id, family, float(state["best"]), state["inst"], state["res"],
                             state["evals"], state["fail"], time.perf_counter() - start, history)


def save_worst(result: AdversarialResult, out_dir: str | Path) -> list[Path]:
    """Write the worst instance's problem(s) as JSON files ``worst_<id>.json`` (and
    ``worst_<id>_outer.json`` for the larger set of a nested pair)."""
    if result.worst is None:
        return []
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = "worst_" + "".join(c if c.isalnum() or c in "-_" else "_" for c in result.statement)
    paths = [save_problem(result.worst.problem, out_dir / f"{stem}.json")]
    if len(result.worst.problems) > 1:
        paths.append(save_problem(result.worst.outer, out_dir / f"{stem}_outer.json"))
    return paths
