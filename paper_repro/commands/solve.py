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
    src.add_argument(
        "file", nargs="?",
        help="problem file (.npz or .json): D (K x n domains, required); P (K x n experts, default D); "
             "at most one Lambda: box_lo + box_hi, A + b (A lam <= b), vertices (convex hull) or "
             "tv_center + tv_radius (total-variation ball); payoff (kl or cross_entropy)")
    src.add_argument("--example", choices=sorted(EXAMPLES), help="a shipped named instance")
    p.add_argument("--payoff", choices=["kl", "cross_entropy"], default=None,
                   help="payoff (default: the file's 'payoff' key, else kl)")
    from robust_gates.theory import DEFAULT_SOLVER, SOLVERS

    p.add_argument("--solver", default=DEFAULT_SOLVER, choices=sorted(SOLVERS),
                   help=f"solver (default: {DEFAULT_SOLVER}: the fast solver, cross-checked by the "
                        "reference cvxpy solver where it can run)")
    p.add_argument("--tol", type=float, default=None,
                   help="certificate tolerance (default: the solver's own); a result whose gap exceeds "
                        "the default accuracy is reported with status within_tol")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--out", metavar="DIR", default=None,
                   help="also write the solution to DIR: solution.npz (model, gate, lam) and "
                        "solution.json (the certificate and the same arrays); DIR must not hold them yet")


def run(args: argparse.Namespace) -> int:
    from robust_gates.simulations.examples import EXAMPLES, get_example
    from robust_gates.simulations.problem_io import load_problem
    from robust_gates.theory import SOLVERS, solve

    if args.solver not in SOLVERS:
        raise UserError(f"unknown solver {args.solver!r}; choose one of {sorted(SOLVERS)}")
    if args.tol is not None and not (np.isfinite(args.tol) and args.tol > 0):
        raise UserError(f"--tol must be a positive number; got {args.tol!r}")
    out_dir = _check_out(args.out)
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
    written = _write_solution(out_dir, res) if out_dir is not None else []
    if args.json:
        print(json.dumps({**res.to_dict(), "below_floor": problem.below_floor}))
        return 0
    unit = "nats"
    print(f"problem : {source}")
    print(f"          K = {problem.K}, n = {problem.n}, Lambda = {problem.Lambda!r}, "
          f"payoff = {problem.payoff}, perfect experts = {problem.perfect_experts}")
    print(f"value   : {res.value:.10f} {unit}  (lower bound {res.lower_bound:.10f})")
    print(f"gap     : {res.gap:.3e}  (certificate, recomputed independently)")
    print(f"lam*    : {np.array2string(res.lam, precision=6, separator=', ')}")
    print(f"model   : P_g* = {_compact(res.model)}  (the robust gated model, sums to {res.model.sum():.12g})")
    print("gate    : g*_k(x), one row per expert k:")
    for k, row in enumerate(np.asarray(res.gate)[:_ROWS]):
        print(f"          k={k}: {_compact(row)}")
    if problem.K > _ROWS:
        print(f"          ... {problem.K - _ROWS} more rows (--out DIR writes them all)")
    print(f"solver  : {res.solver} ({res.backend}), status {res.status}, "
          f"{res.iterations} iterations, {res.seconds:.3f} s")
    if args.example and EXAMPLES[args.example].closed_form is not None and problem.payoff == "kl":
        ex = EXAMPLES[args.example]
        print(f"closed  : {ex.closed_form:.10f} {unit}  ({ex.closed_form_text})")
    if problem.below_floor:
        from robust_gates.theory.problem import PROBABILITY_FLOOR

        print(f"note    : an expert probability is below {PROBABILITY_FLOOR:g}; the value is certified "
              "in double precision only and may differ from the exact one (see README, numerical floors)")
    for path in written:
        print(f"wrote   : {path}")
    return 0


_ROWS = 6
_COLS = 8


def _compact(v: np.ndarray) -> str:
    """The first entries of a vector, with a count of the rest."""
    v = np.asarray(v)
    head = np.array2string(v[:_COLS], precision=4, separator=", ", suppress_small=True)
    return head if v.size <= _COLS else f"{head[:-1]}, ...] ({v.size} entries)"


def _check_out(out: str | None):
    from pathlib import Path

    if out is None:
        return None
    path = Path(out)
    if path.exists() and not path.is_dir():
        raise UserError(f"--out {out}: exists and is not a directory")
    for name in ("solution.npz", "solution.json"):
        if (path / name).exists():
            raise UserError(f"--out {out}: {name} already exists there; choose a new folder")
    return path


def _write_solution(out_dir, res) -> list:
    out_dir.mkdir(parents=True, exist_ok=True)
    npz = out_dir / "solution.npz"
    np.savez(npz, model=res.model, gate=res.gate, lam=res.lam)
    payload = res.to_dict()
    payload["gate"] = np.asarray(res.gate).tolist()
    js = out_dir / "solution.json"
    js.write_text(json.dumps(payload, indent=1))
    return [npz, js]
