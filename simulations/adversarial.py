r"""Counterexample search: minimize a statement's (or a mutant's) slack over instances.

Two kinds of starting points (``starts``):

``"boundary"`` (the default)
    Probe instances are drawn from instance families
    (:func:`robust_gates.simulations.instances.make_instance`); by default from the statement's
    **boundary families** (:func:`default_families`: exact zeros, under-covering experts,
    dependent and duplicated domains, ``Lambda`` on a face, a segment or a point, entries near
    ``1e-300``, ``K`` up to 16). Nelder-Mead then searches around the best
    probes in a :class:`LocalSpace`: the probe's domains and experts are multiplied entry-wise by
    ``exp(theta)`` and renormalized, so every exact zero stays zero (and every ``1e-300`` entry stays
    of that order) while the other entries move; ``Lambda`` is kept. ``theta`` is a random
    ``dim``-dimensional subspace (at most 12 coordinates) so the search stays cheap for large
    ``K n``. Families whose instances carry more than the problem (the Markov-chain and gate
    families, whose checks read ``instance.params``) are only probed.
``"random"`` (the v1 search, ``robust-gates check --adversarial --adv-starts random``)
    An :class:`AdversarialSpace` maps a real vector :math:`\theta` to an instance of a family's
    shape (same expert kind and ``Lambda`` kind, fixed ``K`` and ``n``), every probability floored
    at ``1e-6``:

    * ``D_k = softmax(theta_D[k])`` (logits, so every distribution with full support is reachable);
    * imperfect experts ``P_k = (1 - tau_k) D_k + tau_k softmax(theta_N[k])``,
      ``tau_k = sigmoid(theta_tau[k])``;
    * ``Lambda``: a box ``|lam - softmax(theta_c)|_inf <= 0.5 sigmoid(theta_r)``; a polytope
      ``{A lam <= A c + 0.5 sigmoid(s)}`` with ``A`` read from ``theta``; the hull of ``K`` points
      ``softmax(theta_i)``; a nested pair (hull of box points projected into the box).

    The floor keeps this search away from the edges where the v1 LF and T3 clauses fail.

:func:`adversarial_search` checks the probes and then runs Nelder-Mead restarts from the best
probes, one objective per part of the check (its slack in units of the part's tolerance), and
stops at the first refutation (certified, :mod:`robust_gates.simulations.statements.registry`).
With ``mutant=NAME`` it searches for an instance that refutes that mutant of the statement
instead (:mod:`robust_gates.simulations.statements.mutants`): this is how the boundary starts are
shown to find the refuted v1 clauses of T3 and LF on their own. It returns the worst instance
found and the evaluation at which the first refutation came; :func:`save_worst` writes it with
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

from .instances import (
    BOUNDARY_FAMILIES,
    FAMILIES,
    GATE_FAMILIES,
    PROB_FLOOR,
    SEQUENCE_FAMILIES,
    Instance,
    box_around,
    make_instance,
)
from .problem_io import save_problem
from .statements import FP_TOL, Statement, get_statement
from .statements.mutants import Mutant, mutants_of

__all__ = ["AdversarialSpace", "LocalSpace", "AdversarialResult", "adversarial_search", "default_families",
           "save_worst", "PENALTY", "STARTS", "LOCAL_DIM"]

#: objective value given to parameters whose instance cannot be built or solved (not a violation)
PENALTY = 10.0
#: where the search starts: instances of (boundary) families, or the floored parameter space of v1
STARTS = ("boundary", "random")
#: largest number of coordinates Nelder-Mead moves in a :class:`LocalSpace`
LOCAL_DIM = 12


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


@dataclass(frozen=True, eq=False)
class LocalSpace:
    """Perturbations of one instance that keep its zeros (module doc, ``starts="boundary"``).

    ``theta`` (``dim`` numbers) moves the log of every positive entry of ``D`` (and of ``P`` for
    imperfect experts) along a fixed random basis ``basis`` (``entries x dim``); ``theta = 0``
    decodes to the start instance itself. ``dim`` is 0 when the family's checks read more than
    the problem (sequence and gate families): then there is nothing to move."""

    start: Instance
    basis: np.ndarray = field(repr=False)

    @classmethod
    def around(cls, start: Instance, rng: np.random.Generator, dim: int = LOCAL_DIM) -> LocalSpace:
        movable = start.family not in SEQUENCE_FAMILIES + GATE_FAMILIES
        p = start.problem
        entries = p.D.size + (0 if p.perfect_experts else p.P.size)
        d = min(dim, entries) if movable else 0
        return cls(start, rng.normal(0.0, 1.0, size=(entries, d)))

    @property
    def dim(self) -> int:
        return int(self.basis.shape[1])

    def decode(self, theta: np.ndarray) -> Instance:
        theta = np.asarray(theta, dtype=np.float64)
        if theta.shape != (self.dim,):
            raise ValueError(f"theta must have shape ({self.dim},); got {theta.shape}")
        if self.dim == 0 or not np.any(theta):
            return self.start
        step = np.clip(self.basis @ theta, -30, 30)
        p0 = self.start.problem
        D = _scale(p0.D, step[:p0.D.size])
        P = None if p0.perfect_experts else _scale(p0.P, step[p0.D.size:])
        problems = tuple(RobustProblem(D, P, q.Lambda, q.payoff) for q in self.start.problems)
        return Instance(f"adv:{self.start.family}", {**self.start.params, "theta": theta.round(12).tolist()},
                        problems, self.start.seed)


def _scale(A: np.ndarray, logs: np.ndarray) -> np.ndarray:
    """Rows of ``A * exp(logs)`` renormalized (zeros stay zero)."""
    B = A * np.exp(logs.reshape(A.shape) - logs.max())
    return B / B.sum(axis=1, keepdims=True)


@dataclass(frozen=True)
class AdversarialResult:
    """Worst instance found for one statement (or one of its mutants, ``target = "ID:mutant"``):
    its slack and check result, whether it is a certified refutation, the evaluation at which
    the first refutation came (``None``: none), and the search record."""

    statement: str
    family: str
    worst_slack: float
    worst: Instance | None
    result: object
    evaluations: int
    failures: int
    seconds: float
    history: list = field(default_factory=list, repr=False)
    refuted: bool = False
    first_refutation: int | None = None
    target: str = ""
    starts: str = "boundary"

    @property
    def violated(self) -> bool:
        """A certified refutation was found (the check's outcome is ``"refuted"``)."""
        return bool(self.refuted)


class _Found(Exception):
    pass


#: families tried by default for a statement with ``starts="random"``: its first family, then the
#: first it has of each group
_ADV_GROUPS = (("box", "polytope", "nested", "hull"),
               ("perfect_polytope", "perfect_box", "perfect_nested", "perfect_hull"))
#: boundary families tried by default (``starts="boundary"``): the first the statement has of each
#: group (zeros and under-covering; dependent domains and low-dimensional Lambda; faces and tiny
#: entries)
_BOUNDARY_GROUPS = (("undercover", "sparse", "perfect_sparse"),
                    ("perfect_dependent", "dependent", "lowdim", "perfect_lowdim", "nested_lowdim",
                     "perfect_nested_lowdim"),
                    ("face", "perfect_face", "tiny", "wide", "perfect_wide"))


def default_families(stmt: Statement, starts: str = "boundary") -> list[str]:
    """The families the search of ``stmt`` starts from: with ``"boundary"``, up to three of its
    boundary families (one per group: zeros, dependent / low-dimensional, faces / tiny), or, for a
    statement with none, its families named ``*boundary*`` and else its first; with ``"random"``
    up to three families of the v1 search (never ``large``)."""
    _check_starts(starts)
    if starts == "boundary":
        out = [next(f for f in group if f in stmt.families) for group in _BOUNDARY_GROUPS
               if any(f in stmt.families for f in group)]
        if not out:
            out = [f for f in stmt.families if "boundary" in f] or [stmt.families[0]]
        return out
    fams = [f for f in stmt.families if f != "large" and f not in BOUNDARY_FAMILIES] or list(stmt.families)
    out = [fams[0]]
    for group in _ADV_GROUPS:
        hit = next((f for f in group if f in fams), None)
        if hit and hit not in out:
            out.append(hit)
    return out


def _check_starts(starts: str) -> None:
    if starts not in STARTS:
        raise ValueError(f"starts must be one of {STARTS}; got {starts!r}")


def _relative(part: dict) -> float:
    """Slack in units of the part's tolerance (sign kept: ``< 0`` iff the part fails)."""
    s = float(part["slack"])
    return s / max(float(part["tol"]), FP_TOL) if np.isfinite(s) else -1e12


def _find_mutant(stmt: Statement, name: str) -> Mutant:
    for m in mutants_of(stmt.id):
        if m.name == name or m.name.startswith(name):
            return m
    raise ValueError(f"statement {stmt.id} has no mutant {name!r}; its mutants: "
                     f"{[m.name for m in mutants_of(stmt.id)]}")


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
    starts: str = "boundary",
    mutant: str | None = None,
) -> AdversarialResult:
    """Minimize the slack of each part of ``stmt``'s check (or of its mutant ``mutant``).

    With ``starts="boundary"`` the ``probes`` are instances ``0..probes-1`` of ``family``
    (default: the first of :func:`default_families`) for a seed drawn from ``rng`` (``K`` and
    ``n`` as the family draws them), and Nelder-Mead (``maxfev`` evaluations per part, from the
    ``restarts`` best probes) moves a :class:`LocalSpace` around each. With ``starts="random"``
    (v1) the probes are ``theta ~ N(0, 2^2)`` in an :class:`AdversarialSpace` of ``K x n``
    instances. Each part's objective is its slack in units of its tolerance (one objective per
    part, so tight identities in one part do not mask another). Parameters whose instance cannot
    be built or solved score :data:`PENALTY` and count as ``failures``; so do instances where the
    mutant does not apply. With ``stop_on_violation`` the search ends at the first certified
    refutation.
    """
    stmt = get_statement(stmt) if isinstance(stmt, str) else stmt
    _check_starts(starts)
    mut = _find_mutant(stmt, mutant) if mutant else None
    family = family or default_families(stmt, starts)[0]
    if family not in stmt.families:
        raise ValueError(f"statement {stmt.id} does not apply to family {family!r}")
    start = time.perf_counter()
    state = {"best": np.inf, "inst": None, "res": None, "evals": 0, "fail": 0, "first": None}
    history: list[float] = []

    def evaluate(inst) -> dict | None:
        state["evals"] += 1
        try:
            res = stmt.check(inst)
            target = res if mut is None else mut.run(inst, res)
        except (ValueError, SolverError, RuntimeError, ArithmeticError):
            target = None
        if target is None:
            state["fail"] += 1
            history.append(PENALTY)
            return None
        s = float(target.slack) if np.isfinite(target.slack) else -np.inf
        history.append(s)
        if target.refuted and state["first"] is None:
            state["first"] = state["evals"]
        if s < state["best"] or (target.refuted and not (state["res"] is not None and state["res"].refuted)):
            state.update(best=s, inst=inst, res=target)
        if stop_on_violation and target.refuted:
            raise _Found
        parts = target.details.get("parts") or {"check": {"slack": s, "tol": target.tol}}
        return {name: _relative(pt) for name, pt in parts.items()}

    def decode_or_none(space, theta):
        try:
            return space.decode(theta)
        except (ValueError, SolverError, RuntimeError, ArithmeticError):
            return None

    def scored(space, theta) -> dict | None:
        inst = decode_or_none(space, theta)
        if inst is None:
            state["evals"] += 1
            state["fail"] += 1
            history.append(PENALTY)
            return None
        return evaluate(inst)

    try:
        if starts == "random":
            space = AdversarialSpace(family, K, n)
            thetas = [rng.normal(0.0, 2.0, size=space.dim) for _ in range(probes)]
            spaces = [space] * probes
        else:
            seed = int(rng.integers(2**31))
            spaces, thetas = [], []
            for i in range(probes):
                try:
                    inst = make_instance(family, seed, i)
                except ValueError:
                    continue
                sp = LocalSpace.around(inst, rng)
                spaces.append(sp)
                thetas.append(np.zeros(sp.dim))
        scores = [scored(sp, th) for sp, th in zip(spaces, thetas, strict=True)]
        names = sorted({name for sc in scores if sc for name in sc})
        for name in names:
            vals = [sc.get(name, PENALTY) if sc else PENALTY for sc in scores]
            for j in np.argsort(vals)[:restarts]:
                sp, th0 = spaces[j], thetas[j]
                if sp.dim == 0:
                    continue

                def f(theta, name=name, sp=sp):
                    sc = scored(sp, theta)
                    return PENALTY if sc is None else sc.get(name, PENALTY)

                simplex = None
                if starts == "boundary":  # steps of one nat in every direction (the default is 0.00025 at 0)
                    simplex = np.vstack([th0, th0 + np.eye(sp.dim)])
                minimize(f, th0, method="Nelder-Mead",
                         options={"maxfev": maxfev, "xatol": 1e-8, "fatol": 1e-13, "adaptive": True,
                                  "initial_simplex": simplex})
    except _Found:
        pass
    res = state["res"]
    target = stmt.id if mut is None else f"{stmt.id}:{mut.name}"
    return AdversarialResult(stmt.id, family, float(state["best"]), state["inst"], res, state["evals"],
                             state["fail"], time.perf_counter() - start, history,
                             bool(res is not None and res.refuted), state["first"], target, starts)


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
