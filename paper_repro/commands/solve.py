"""``robust-gates solve``: solve one game exactly and print the certified answer."""

from __future__ import annotations

import argparse
import json

import numpy as np

from ..errors import UserError

NAME = "solve"
HELP = "solve a robust-gating game exactly, with a certificate"


def configure(p: argparse.ArgumentParser) -> None:
    from robust_gates.simulations.examples import EXAMPLES

    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("file", nargs="?", help="problem file (.npz or .json) with D, P, Lambda keys")
    src.add_argument("--example", choices=sorted(EXAMPLES), help="a shipped named instance")
    p.add_argument("--payoff", choices=["kl", "cross_entropy"], default=None,
                   help="payoff (default: the file's 'payoff' key, else kl)")
    p.add_argument("--solver", default="reference", help="solver name (default: reference)")
    p.add_argument("--tol", type=float, default=None,
                   help="certificate tolerance (fast solver stopping rule / reference check)")
    p.add_argument("--json", action="store_true", help="print one JSON object")


def run(args: argparse.Namespace) -> int:
    from robust_gates.simulations.examples import EXAMPLES, get_example
    from robust_gates.simulations.problem_io import load_problem
    from robust_gates.theory import SOLVERS, solve

    if args.solver not in SOLVERS:
        raise UserError(f"unknown solver {args.solver!r}; choose one of {sorted(SOLVERS)}")
    if args.example:
        problem = get_example(args.example, args.payoff or "kl")
        source = f"example {args.example!r}: {EXAMPLES[args.example].description}"
    else:
        problem = load_problem(args.file, args.payoff)
        source = args.file
    options = {}
    if args.tol is not None:
        options["tol"] = args.tol
    res = solve(problem, solver=args.solver, **options)
    if args.json:
        print(json.dumps(res.to_dict()))
        return 0
    unit = "nats"
    print(f"problem : {source}")
    print(f"          K = {problem.K}, n = {problem.n}, Lambda = {problem.Lambda!r}, "
          f"payoff = {problem.payoff}, perfect experts = {problem.perfect_experts}")
    print(f"value   : {res.value:.10f} {unit}  (lower bound {res.lower_bound:.10f})")
    print(f"gap     : {res.gap:.3e}  (certificate, recomputed independently)")
    print(f"lam*    : {np.array2string(res.lam, precision=6, separator=', ')}")
    print(f"solver  : {res.solver} ({res.backend}), status {res.status}, "
          f"{res.iterations} iterations, {res.seconds:.3f} s")
    if args.example and EXAMPLES[args.example].closed_form is not None and problem.payoff == "kl":
        ex = EXAMPLES[args.example]
        print(f"closed  : {ex.closed_form:.10f} {unit}  ({ex.closed_form_text})")
    return 0
