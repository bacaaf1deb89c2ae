"""Read and write problem files (``.npz`` or ``.json``) for ``robust-gates solve``.

Keys: ``D`` (K x n, required), ``P`` (K x n, optional; default ``D``), at most one Lambda
description (``box_lo`` + ``box_hi``, or ``A`` + ``b``, or ``vertices``; default the simplex)
and, in JSON or as a 0-d string array in ``.npz``, ``payoff`` (``kl`` or ``cross_entropy``).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from robust_gates.theory import RobustProblem, lambda_from_dict

__all__ = ["load_problem", "save_problem", "problem_from_dict", "problem_to_dict"]

_KNOWN = {"D", "P", "box_lo", "box_hi", "A", "b", "vertices", "payoff"}


def problem_from_dict(d: dict, payoff: str | None = None) -> RobustProblem:
    """Build a problem from a mapping with the file keys; ``payoff`` overrides the file's."""
    unknown = set(d) - _KNOWN
    if unknown:
        raise ValueError(f"unknown keys {sorted(unknown)}; allowed keys are {sorted(_KNOWN)}")
    if "D" not in d:
        raise ValueError("the problem has no 'D' (the K x n array of domain distributions)")
    D = np.asarray(d["D"], dtype=np.float64)
    if D.ndim != 2:
        raise ValueError(f"D must be a 2-D array of shape (K, n); got shape {D.shape}")
    lset = lambda_from_dict(d, D.shape[0])
    file_payoff = d.get("payoff")
    if isinstance(file_payoff, np.ndarray):
        file_payoff = str(file_payoff)
    return RobustProblem(d["D"], d.get("P"), lset, payoff or file_payoff or "kl")


def problem_to_dict(problem: RobustProblem) -> dict:
    out = {"D": problem.D.tolist(), "payoff": problem.payoff}
    if not problem.perfect_experts:
        out["P"] = problem.P.tolist()
    out.update(problem.Lambda.to_dict())
    return out


def load_problem(path: str | Path, payoff: str | None = None) -> RobustProblem:
    """Load a problem from a ``.npz`` or ``.json`` file."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no such problem file: {path}")
    suffix = path.suffix.lower()
    if suffix == ".json":
        try:
            data = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path} is not valid JSON: {exc}") from None
        if not isinstance(data, dict):
            raise ValueError(f"{path} must hold a JSON object with the key 'D'")
    elif suffix == ".npz":
        with np.load(path, allow_pickle=False) as npz:
            data = {k: npz[k] for k in npz.files}
    else:
        raise ValueError(f"{path}: problem files must end in .npz or .json")
    return problem_from_dict(data, payoff)


def save_problem(problem: RobustProblem, path: str | Path) -> Path:
    """Write ``problem`` to ``.json`` or ``.npz`` (chosen by the suffix)."""
    path = Path(path)
    d = problem_to_dict(problem)
    if path.suffix.lower() == ".json":
        path.write_text(json.dumps(d))
    elif path.suffix.lower() == ".npz":
        np.savez(path, **{k: np.asarray(v) for k, v in d.items()})
    else:
        raise ValueError(f"{path}: problem files must end in .npz or .json")
    return path
