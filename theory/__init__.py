"""Exact core of robust-gates: divergences, the problem, Lambda sets, gates, best
responses, certificates and solvers (pure numpy/scipy; cvxpy only in the reference solver).

See ``docs/statements.md`` (in the repository) for the mathematics; each module's docstring
states what it implements.
"""

from .best_response import WaterFill, water_fill, water_fill_sorted
from .certificate import Certificate, certify
from .divergences import cross_entropy, entropy, jensen_shannon, kl, mixture
from .gates import (
    GATE_TOL,
    check_gate,
    constant_gate,
    envelope,
    gate_from_model,
    gated_model,
    in_envelope,
    in_G1,
    repair_envelope,
)
from .lambda_sets import (
    LAMBDA_KEYS,
    AscentChart,
    Box,
    Hull,
    LambdaSet,
    Parametrization,
    Polytope,
    Simplex,
    TVBall,
    capped_simplex_argmax,
    lambda_from_dict,
    project_simplex,
)
from .mixture_program import MixtureWeights, mixture_weights, mixture_weights_from_samples
from .problem import PAYOFFS, RobustProblem
from .programs import (
    CertifiedBestResponse,
    MinKL,
    best_response_certified,
    min_kl_over_lambda,
    minimax_all_distributions,
)
from .solvers import (
    DEFAULT_SOLVER,
    OPTIMAL_GAP,
    SOLVERS,
    Capacity,
    CertificateError,
    SolverError,
    SolveResult,
    capacity,
    default_solver,
    solve,
    solve_auto,
    solve_fast,
    solve_reference,
)

__all__ = [
    "WaterFill", "water_fill", "water_fill_sorted",
    "Certificate", "certify",
    "cross_entropy", "entropy", "jensen_shannon", "kl", "mixture",
    "GATE_TOL", "check_gate", "constant_gate", "envelope", "gate_from_model", "gated_model",
    "in_envelope", "in_G1", "repair_envelope",
    "Box", "Hull", "LambdaSet", "Polytope", "Simplex", "TVBall", "lambda_from_dict", "project_simplex",
    "LAMBDA_KEYS", "AscentChart", "Parametrization", "capped_simplex_argmax",
    "PAYOFFS", "RobustProblem",
    "MixtureWeights", "mixture_weights", "mixture_weights_from_samples",
    "CertifiedBestResponse", "MinKL", "best_response_certified", "min_kl_over_lambda",
    "minimax_all_distributions",
    "SOLVERS", "DEFAULT_SOLVER", "OPTIMAL_GAP", "solve_auto", "default_solver", "CertificateError",
    "SolveResult", "SolverError", "solve", "solve_reference", "solve_fast", "capacity", "Capacity",
]
