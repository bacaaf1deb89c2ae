"""Instance generators, sweeps and stochastic algorithms built on :mod:`robust_gates.theory`."""

from .examples import EXAMPLES, Example, binary_entropy, get_example
from .problem_io import load_problem, problem_from_dict, problem_to_dict, save_problem

__all__ = [
    "EXAMPLES", "Example", "binary_entropy", "get_example",
    "load_problem", "problem_from_dict", "problem_to_dict", "save_problem",
]
