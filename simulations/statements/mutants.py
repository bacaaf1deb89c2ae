r"""Mutants: planted false variants of each statement that the search must refute (SPEC §6).

A check that only an inaccurate solver could violate says little. So every statement keeps at
least one **mutant**: a variant strictly stronger than the statement, believed false, run on the
same instances as the statement. A mutant is *refuted* when its check is refuted on some instance
(outcome ``"refuted"``: the certified intervals prove the mutated claim false; an inconclusive
mutant is not refuted); a statement none of whose mutants is refuted is **vacuous as checked**: the
instances never came close enough to the edge of the claim to tell it from a stronger one.

Most mutants are derived from one part of the statement's own check (no extra solve): with
``s = max(|lhs|, |rhs|)`` and the part's tolerance ``tol`` kept unchanged,

=============  ===========================================  ==================================
kind           mutated claim (for a part ``lhs <= rhs``)    refuted when
=============  ===========================================  ==================================
``tighten``    ``lhs <= rhs - f s`` (bound tightened by f)  the bound comes within ``f s``
``strict``     ``lhs < rhs`` (never attained)               the bound is attained (within tol)
``equality``   ``lhs == rhs`` (always attained)             the bound has room beyond tol
``reverse``    ``lhs >= rhs`` (inequality turned around)    the bound has room beyond tol
=============  ===========================================  ==================================

(``>=`` parts are mirrored; a ``<`` part reversed reads ``lhs >= rhs``.) ``equality`` is the
"equality case moved off its condition" of SPEC §6 when the statement has an equality case.
Other mutants are written out (``kind="clause"``): the refuted v1 clauses of T3 and LF, and a
few definitional shortcuts ("every column-stochastic gate is normalized").

A mutant declares itself next to the statement it mutates (:func:`part_mutant`, or the
:func:`mutant` decorator for a written-out one); a duplicate ``(statement, name)`` is an error.
``Mutant.run(instance, result)`` returns the mutant's :class:`CheckResult`, or ``None`` when the
mutated part does not occur on that instance (e.g. an equality part that needs full support).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from .registry import CheckResult, Part, combine

__all__ = ["Mutant", "MUTANTS", "MUTANT_KINDS", "register_mutant", "part_mutant", "mutant",
           "mutants_of", "TIGHTEN"]

MUTANT_KINDS = ("tighten", "strict", "equality", "reverse", "clause")
#: default tightening factor of a ``tighten`` mutant (1% of the larger side)
TIGHTEN = 0.01


@dataclass(frozen=True)
class Mutant:
    """A false variant of statement ``statement``; ``run(instance, result)`` checks it on one
    instance given the statement's own result there (``None``: not applicable there)."""

    statement: str
    name: str
    kind: str
    text: str
    run: Callable = field(repr=False)

    def __post_init__(self):
        if self.kind not in MUTANT_KINDS:
            raise ValueError(f"mutant {self.name!r}: kind must be one of {MUTANT_KINDS}; got {self.kind!r}")

    @property
    def key(self) -> str:
        return f"{self.statement}:{self.name}"


MUTANTS: dict[str, list[Mutant]] = {}


def register_mutant(m: Mutant) -> Mutant:
    """Add ``m`` to :data:`MUTANTS` (a second mutant with the same statement and name is an error)."""
    if not isinstance(m, Mutant):
        raise TypeError(f"register a Mutant; got {type(m).__name__}")
    same = MUTANTS.setdefault(m.statement, [])
    if any(o.name == m.name for o in same):
        raise ValueError(f"statement {m.statement!r} already has a mutant named {m.name!r}")
    same.append(m)
    return m


def mutants_of(sid: str) -> list[Mutant]:
    """The mutants registered for statement ``sid`` (empty list if none)."""
    return list(MUTANTS.get(sid, []))


def _mutate(p: dict, kind: str, factor: float) -> Part | None:
    lhs, rhs, rel, tol = p["lhs"], p["rhs"], p["rel"], p["tol"]
    fl = p.get("floor")
    if rel == "==":
        return None
    up = rel in ("<=", "<")  # claim of the form lhs <= rhs
    s = max(abs(lhs), abs(rhs)) if all(map(_finite, (lhs, rhs))) else 0.0
    if kind == "tighten":
        return Part("tightened", lhs, rhs - factor * s if up else rhs + factor * s, rel, tol, fl)
    if kind == "strict":
        return Part("strict", lhs, rhs, "<", tol, fl) if up else Part("strict", rhs, lhs, "<", tol, fl)
    if kind == "equality":
        return Part("equality", lhs, rhs, "==", tol, fl)
    if kind == "reverse":
        return Part("reversed", lhs, rhs, ">=" if up else "<=", tol, fl)
    raise ValueError(f"unknown mutant kind {kind!r}")


def _finite(x) -> bool:
    return abs(float(x)) < float("inf")


def part_mutant(sid: str, part: str, kind: str, text: str, factor: float = TIGHTEN,
                name: str | None = None) -> Mutant:
    """Register a mutant of statement ``sid`` that mutates the part whose name starts with
    ``part`` (first match in the check's ``details["parts"]``) by ``kind`` (module doc)."""
    if kind not in ("tighten", "strict", "equality", "reverse"):
        raise ValueError(f"part mutants are tighten, strict, equality or reverse; got {kind!r}")

    def run(instance, result: CheckResult):
        parts = result.details.get("parts", {})
        hit = next((k for k in parts if k.startswith(part)), None)
        if hit is None:
            return None
        mp = _mutate(parts[hit], kind, factor)
        if mp is None:
            return None
        return combine([Part(f"{kind}: {hit}", mp.lhs, mp.rhs, mp.relation, mp.tol, mp.floor)],
                       gap=result.gap, solver=result.details.get("solver", ""))

    label = f"{kind} {factor:g}" if kind == "tighten" else kind
    return register_mutant(Mutant(sid, name or f"{label}: {part}", kind, text, run))


def mutant(sid: str, name: str, text: str, kind: str = "clause"):
    """Decorator registering a written-out mutant ``fn(instance, result) -> CheckResult | None``."""

    def deco(fn: Callable) -> Callable:
        register_mutant(Mutant(sid, name, kind, text, fn))
        return fn

    return deco
