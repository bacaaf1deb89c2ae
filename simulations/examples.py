"""Named example instances with known answers (``robust-gates solve --example NAME``).

Each entry builds a :class:`robust_gates.theory.RobustProblem` and, where one exists, states the closed
form of the value so that users (and the tests) can compare.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from robust_gates.theory import Box, RobustProblem

__all__ = ["Example", "EXAMPLES", "get_example", "binary_entropy"]


def binary_entropy(p: float) -> float:
    """``H_b(p) = -p log p - (1-p) log(1-p)`` in nats."""
    return float(-sum(t * np.log(t) for t in (p, 1 - p) if t > 0))


@dataclass(frozen=True)
class Example:
    name: str
    description: str
    build: Callable[[str], RobustProblem]
    closed_form: float | None
    closed_form_text: str


def _identical(payoff: str) -> RobustProblem:
    d = np.array([0.5, 0.3, 0.2])
    return RobustProblem(np.vstack([d, d]), payoff=payoff)


def _disjoint(payoff: str, K: int = 3, width: int = 2) -> RobustProblem:
    D = np.kron(np.eye(K), np.full((1, width), 1.0 / width))
    return RobustProblem(D, payoff=payoff)


def _bsc(payoff: str, p: float = 0.1) -> RobustProblem:
    return RobustProblem(np.array([[1 - p, p], [p, 1 - p]]), payoff=payoff)


def _box3(payoff: str) -> RobustProblem:
    rng = np.random.default_rng(2602_17554)
    D = rng.dirichlet(np.full(12, 0.5), size=3)
    P = 0.8 * D + 0.2 * rng.dirichlet(np.ones(12), size=3)
    return RobustProblem(D, P, Box([0.1, 0.1, 0.1], [0.6, 0.6, 0.6]), payoff=payoff)


EXAMPLES: dict[str, Example] = {
    "identical": Example(
        "identical", "two identical domains with perfect experts (nothing to be robust about)",
        _identical, 0.0, "V = 0 (kl payoff)",
    ),
    "disjoint": Example(
        "disjoint", "K = 3 domains with disjoint supports and perfect experts",
        _disjoint, float(np.log(3)), "V = log 3 with uniform lam* (kl payoff)",
    ),
    "bsc": Example(
        "bsc", "binary symmetric channel, crossover p = 0.1, perfect experts",
        _bsc, float(np.log(2) - binary_entropy(0.1)), "V = log 2 - H_b(0.1) (kl payoff)",
    ),
    "box3": Example(
        "box3", "K = 3 random domains, experts 0.8 D + 0.2 noise, Lambda a box [0.1, 0.6]^3",
        _box3, None, "no closed form",
    ),
}


def get_example(name: str, payoff: str = "kl") -> RobustProblem:
    """Build the named example with the given payoff."""
    try:
        ex = EXAMPLES[name]
    except KeyError:
        raise ValueError(f"unknown example {name!r}; choose one of {sorted(EXAMPLES)}") from None
    return ex.build(payoff)
