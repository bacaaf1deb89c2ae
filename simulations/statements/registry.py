r"""The registry of checkable statements (SPEC section 3) and the result every check returns.

A :class:`Statement` holds the SPEC id, the paper section, the statement in one sentence, the
instance families it applies to (:data:`robust_gates.simulations.instances.FAMILIES`) and a pure check
function ``instance -> CheckResult``. A statement declares itself next to its check with the
:func:`statement` decorator; registering an id twice is an error unless ``replace=True``. This
module imports no statement: the SPEC statements (L0, P1, T1, T1-M, T2, T3, LF, MB, MA, SC) live
in the sibling modules that :mod:`robust_gates.simulations.statements` imports after it.

A check compares two sides it computes from certified solves. It is written as one or more
:class:`Part` s, each a relation ``lhs REL rhs`` with a named tolerance ``tol``:

==========  =============================  =======================================
relation    claim                          slack (``>= 0`` iff the part holds)
==========  =============================  =======================================
``"<="``    ``lhs <= rhs``                 ``rhs - lhs + tol``
``">="``    ``lhs >= rhs``                 ``lhs - rhs + tol``
``"=="``    ``lhs == rhs``                 ``tol - |lhs - rhs|``
``"<"``     ``lhs < rhs`` (strictly)       ``rhs - lhs - tol`` (tol is a margin)
==========  =============================  =======================================

The tolerance of a part is derived from the certificates of the solves it uses (a solve
brackets the value, ``value - gap <= V <= value``) plus :data:`FP_TOL` for rounding, and each
check's docstring derives it. The check's slack is the smallest part slack; its ``lhs``/``rhs``
are those of its main part.

**Three outcomes.** ``tol`` is two things added up: the rounding floor ``floor`` (stated,
:func:`fp_tol` of the sides unless a check states another, e.g. a membership tolerance) and
the certified error bar ``err = tol - floor`` (certificate gaps, Frank-Wolfe gaps of inner
programs). Write ``v`` for the computed violation (``lhs - rhs`` for ``<=``, ``rhs - lhs``
for ``>=``, ``|lhs - rhs|`` for ``==``): the exact violation lies in ``[v - err, v + err_hi]``
(``err_hi`` = ``err`` unless the check states the error on the other side). A part

* **holds** when that interval proves it: ``v + err_hi <= floor``;
* is **refuted** when it proves the negation: ``v - err > floor`` (that is, ``slack < 0``);
* is **inconclusive** otherwise: the interval straddles the floor.

A strict part ``lhs < rhs`` (room ``g = rhs - lhs``, ``tol`` its margin) holds when ``g - err >=
floor`` (``slack >= 0``), is refuted when ``g + err_hi <= floor`` (the bound is attained up to
rounding) and is otherwise inconclusive. A check is refuted when a part is, inconclusive when
no part is refuted and some part is inconclusive, and holds otherwise. An inconclusive check
is re-run once with every solve at a tighter tolerance (:func:`.solving.tighter`) by the
sweeps; if it stays inconclusive it is reported as such, never as passed or failed.

The slack decides pass or fail, but it says little about how sharp a statement is: a part whose
two sides agree exactly has slack ``tol`` (the floor ``FP_TOL``), the same as a part that
holds with nothing to spare. The **margin** of a part measures that sharpness with the tolerance
left out, relative to the size of the sides:

==========  ==============================================
relation    margin
==========  ==============================================
``"<="``    ``(rhs - lhs) / max(1, |lhs|, |rhs|)``
``">="``    ``(lhs - rhs) / max(1, |lhs|, |rhs|)``
``"<"``     ``(rhs - lhs) / max(1, |lhs|, |rhs|)``
``"=="``    ``nan``: an equality has no room to measure
==========  ==============================================

A margin of 0 means the bound is attained (the check is sharp there), a positive margin is the
room left, a negative one means the part held only thanks to its tolerance. Margins are
relative above one nat and absolute below. A check's margin is the smallest margin over its
inequality parts and ``details["margin_part"]`` names that part.

Extension point: register your own claim and run it through the same random and adversarial
machinery (``robust-gates check --plugin my_claims.py --statement MINE``)::

    from robust_gates.simulations.statements import Part, certified_solve, combine, fp_tol, statement

    @statement("MINE", section="user", text="V(Lambda) <= log K", families=("dirichlet", "box"))
    def check_mine(instance):
        res = certified_solve(instance.problem)
        K = instance.problem.K
        return combine([Part("value <= log K", res.value, float(np.log(K)), "<=",
                             res.gap + fp_tol(res.value))], gap=res.gap)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ..instances import FAMILIES

__all__ = [
    "CheckResult",
    "Part",
    "Statement",
    "STATEMENTS",
    "combine",
    "register_statement",
    "unregister_statement",
    "statement",
    "get_statement",
    "fp_tol",
    "FP_TOL",
    "KINDS",
    "OUTCOMES",
]

#: relative floating-point floor: quantities of order ``x`` nats computed in double precision
#: (sums of ``n`` logs) may differ from their exact values by this times ``max(1, |x|)``
FP_TOL = 1e-9

RELATIONS = ("<=", ">=", "==", "<")
#: what a statement's check does: assert the claim, or only measure it
KINDS = ("checked", "measured")
#: outcome of a part or a check (module doc)
OUTCOMES = ("holds", "inconclusive", "refuted")


def fp_tol(*values: float) -> float:
    """Rounding floor ``FP_TOL * max(1, |values|)`` for a comparison of these numbers."""
    finite = [abs(float(v)) for v in values if np.isfinite(v)]
    return FP_TOL * max([1.0, *finite])


@dataclass(frozen=True)
class Part:
    """One relation ``lhs REL rhs`` of a check, with its tolerance ``tol`` (see module doc)."""

    name: str
    lhs: float
    rhs: float
    relation: str
    tol: float
    floor: float | None = None
    err_hi: float | None = None

    def __post_init__(self):
        if self.relation not in RELATIONS:
            raise ValueError(f"relation must be one of {RELATIONS}; got {self.relation!r}")
        if not self.tol >= 0:
            raise ValueError(f"tolerance of part {self.name!r} must be >= 0; got {self.tol}")
        if self.floor is not None and not self.floor >= 0:
            raise ValueError(f"rounding floor of part {self.name!r} must be >= 0; got {self.floor}")
        if self.err_hi is not None and not self.err_hi >= 0:
            raise ValueError(f"error bar of part {self.name!r} must be >= 0; got {self.err_hi}")

    @property
    def rounding(self) -> float:
        """The rounding floor (stated, or :func:`fp_tol` of the sides), at most ``tol``."""
        f = fp_tol(self.lhs, self.rhs) if self.floor is None else float(self.floor)
        return min(f, float(self.tol))

    @property
    def err(self) -> float:
        """Certified error bar on the side that could make a true claim look violated."""
        return max(float(self.tol) - self.rounding, 0.0)

    @property
    def interval(self) -> tuple[float, float]:
        """Certified interval of the exact violation (of the exact room ``rhs - lhs`` for
        ``<``); see the module doc."""
        lhs, rhs = float(self.lhs), float(self.rhs)
        if self.relation == "<=":
            v = lhs - rhs
        elif self.relation == ">=":
            v = rhs - lhs
        elif self.relation == "==":
            v = abs(lhs - rhs)
        else:
            v = rhs - lhs
        hi = self.err if self.err_hi is None else float(self.err_hi)
        lo = v - self.err
        if self.relation == "==" and not np.isnan(lo):
            lo = max(lo, 0.0)  # a distance |lhs - rhs| is never negative
        return lo, v + hi

    @property
    def outcome(self) -> str:
        """``"holds"``, ``"refuted"`` or ``"inconclusive"`` (module doc)."""
        if self.slack < 0:
            return "refuted" if self.relation != "<" else self._strict_outcome()
        if self.slack == np.inf or self.relation == "<":
            return "holds"
        lo, hi = self.interval
        return "holds" if hi <= self.rounding else "inconclusive"

    def _strict_outcome(self) -> str:
        lo, hi = self.interval
        if np.isnan(hi) or hi <= self.rounding:
            return "refuted"
        return "inconclusive"

    @property
    def slack(self) -> float:
        lhs, rhs, tol = float(self.lhs), float(self.rhs), float(self.tol)
        # extended reals: ``x <= +inf`` and ``+inf >= x`` hold for every x, +inf included (e.g. an
        # expert that misses a point of its domain has eps_k = +inf, so a bound by it is void)
        if (self.relation == "<=" and rhs == np.inf) or (self.relation == ">=" and lhs == np.inf):
            return float("inf")
        if self.relation == "<=":
            s = rhs - lhs + tol
        elif self.relation == ">=":
            s = lhs - rhs + tol
        elif self.relation == "==":
            s = tol - abs(lhs - rhs)
        else:
            s = rhs - lhs - tol
        # ``x <= inf`` holds (+inf slack); ``inf <= inf`` or a nan side cannot be confirmed (-inf)
        return float(s) if not np.isnan(s) else -np.inf

    @property
    def margin(self) -> float:
        """How much room the relation has without its tolerance (module doc); ``nan`` for ``==``."""
        if self.relation == "==":
            return float("nan")
        lhs, rhs = float(self.lhs), float(self.rhs)
        diff = lhs - rhs if self.relation == ">=" else rhs - lhs
        if not np.isfinite(diff):
            return float(diff) if not np.isnan(diff) else -np.inf
        return float(diff / max(1.0, abs(lhs), abs(rhs)))


@dataclass(frozen=True)
class CheckResult:
    """Outcome of one check on one instance: ``outcome`` is ``"holds"`` (every part proved),
    ``"refuted"`` (some part's negation proved; then ``slack < 0``) or ``"inconclusive"``
    (module doc); ``holds`` is ``outcome == "holds"``.

    ``lhs``/``rhs``/``tol`` are those of the main part, ``slack`` the smallest slack over all
    parts, ``margin`` the smallest margin over the inequality parts (``nan`` if there is none;
    see the module doc), ``gap`` the largest certificate gap among the solves used, ``details``
    the per-part numbers (``binding`` names the part with the smallest slack, ``margin_part``
    the one with the smallest margin) and the solver used.
    """

    holds: bool
    lhs: float
    rhs: float
    slack: float
    tol: float = 0.0
    gap: float = 0.0
    details: dict = field(default_factory=dict)
    margin: float = float("nan")
    outcome: str = ""

    def __post_init__(self):
        if not self.outcome:
            object.__setattr__(self, "outcome", "holds" if self.holds else "refuted")
        if self.outcome not in OUTCOMES:
            raise ValueError(f"outcome must be one of {OUTCOMES}; got {self.outcome!r}")

    @property
    def refuted(self) -> bool:
        """The certified intervals prove the negation of some part."""
        return self.outcome == "refuted"

    @property
    def inconclusive(self) -> bool:
        return self.outcome == "inconclusive"


def combine(parts: list[Part], gap: float = 0.0, main: int = 0, **details) -> CheckResult:
    """The :class:`CheckResult` of a list of parts (``parts[main]`` supplies ``lhs``/``rhs``).
    A part with a ``nan`` side raises :class:`FloatingPointError`: the sweeps count it as an
    error (a bug), never as a refutation or a pass."""
    if not parts:
        raise ValueError("a check needs at least one part")
    broken = [p.name for p in parts if np.isnan(float(p.lhs)) or np.isnan(float(p.rhs))]
    if broken:  # a computation broke down: a bug to see (an error row), not a refutation
        raise FloatingPointError(f"part(s) {broken} have a nan side")
    slacks = [p.slack for p in parts]
    outcomes = [p.outcome for p in parts]
    b = int(np.argmin(slacks))
    info = {}
    for p, s, o in zip(parts, slacks, outcomes, strict=True):
        lo, hi = p.interval
        info[p.name] = {"lhs": float(p.lhs), "rhs": float(p.rhs), "rel": p.relation, "tol": float(p.tol),
                        "slack": s, "margin": p.margin, "outcome": o, "lo": float(lo), "hi": float(hi),
                        "floor": p.rounding}
    if "refuted" in outcomes:
        outcome = "refuted"
    elif "inconclusive" in outcomes:
        outcome = "inconclusive"
    else:
        outcome = "holds"
    undecided = [p.name for p, o in zip(parts, outcomes, strict=True) if o == "inconclusive"]
    slack = float(slacks[b])
    ineq = [p for p in parts if p.relation != "=="]
    tight = min(ineq, key=lambda p: p.margin) if ineq else None
    return CheckResult(
        holds=outcome == "holds", lhs=float(parts[main].lhs), rhs=float(parts[main].rhs),
        slack=slack, tol=float(parts[main].tol), gap=float(gap),
        details={"binding": parts[b].name, "margin_part": tight.name if tight else "", "parts": info,
                 "inconclusive_parts": undecided, **details},
        margin=tight.margin if tight else float("nan"), outcome=outcome,
    )


@dataclass(frozen=True)
class Statement:
    """A registered claim: SPEC id, paper section, one-sentence text, families, check.

    ``kind`` is ``"checked"`` (the check asserts the statement: a negative slack is a failure)
    or ``"measured"`` (an empirical quantity: the check reports numbers in ``details`` and its
    ``holds`` only says the measurement ran; it is never counted as a pass or a failure)."""

    id: str
    section: str
    text: str
    families: tuple[str, ...]
    check: Callable = field(repr=False)
    kind: str = "checked"

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"statement {self.id!r}: kind must be one of {KINDS}; got {self.kind!r}")
        if not self.families:
            raise ValueError(f"statement {self.id!r} must name at least one instance family")
        unknown = [f for f in self.families if f not in FAMILIES]
        if unknown:
            raise ValueError(f"statement {self.id!r} names unknown families {unknown}; "
                             f"choose from {sorted(FAMILIES)}")
        if not callable(self.check):
            raise TypeError(f"the check of statement {self.id!r} must be callable")
        object.__setattr__(self, "families", tuple(self.families))


STATEMENTS: dict[str, Statement] = {}


def register_statement(stmt: Statement, replace: bool = False) -> Statement:
    """Add ``stmt`` to :data:`STATEMENTS` (``replace=True`` to overwrite an existing id)."""
    if not isinstance(stmt, Statement):
        raise TypeError(f"register a Statement; got {type(stmt).__name__}")
    if stmt.id in STATEMENTS and not replace:
        raise ValueError(f"a statement with id {stmt.id!r} is already registered "
                         "(pass replace=True to overwrite it)")
    STATEMENTS[stmt.id] = stmt
    return stmt


def unregister_statement(id: str) -> None:
    """Remove a registered statement (e.g. a user claim after a test)."""
    if id not in STATEMENTS:
        raise ValueError(f"no statement {id!r} is registered")
    del STATEMENTS[id]


def statement(id: str, section: str, text: str, families: tuple[str, ...], replace: bool = False,
              kind: str = "checked"):
    """Decorator form of :func:`register_statement` for a check function."""

    def deco(fn: Callable) -> Callable:
        register_statement(Statement(id, section, text, tuple(families), fn, kind), replace=replace)
        return fn

    return deco


def get_statement(id: str) -> Statement:
    """The registered statement ``id`` (``ValueError`` naming the registered ids if unknown)."""
    try:
        return STATEMENTS[id]
    except KeyError:
        raise ValueError(f"unknown statement {id!r}; registered: {sorted(STATEMENTS)}") from None
