"""Read and write problem files (``.npz`` or ``.json``) for ``robust-gates solve``.

Keys: ``D`` (K x n, required), ``P`` (K x n, optional; default ``D``), at most one Lambda
description (``box_lo`` + ``box_hi``, or ``A`` + ``b``, or ``vertices``, or ``tv_center`` +
``tv_radius``: :data:`robust_gates.theory.lambda_sets.LAMBDA_KEYS`; default the simplex)
and, in JSON or as a 0-d string array in ``.npz``, ``payoff`` (``kl`` or ``cross_entropy``).

A JSON file written by a check sweep (:func:`robust_gates.simulations.checks.save_instances`) also
holds ``instance``: where it came from (``family``, ``seed``: the instance's seed tuple, and
``outer``: the file name of the larger game of a nested pair, saved beside it). The problem
ignores it; ``robust-gates check --problem`` reads it (:func:`load_provenance`) so that the
checks draw the same probes as in the sweep and nested statements get their larger game.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np

from robust_gates.theory import PAYOFFS, RobustProblem, lambda_from_dict
from robust_gates.theory._validate import as_float_array
from robust_gates.theory.lambda_sets import LAMBDA_KEYS

__all__ = ["load_problem", "save_problem", "problem_from_dict", "problem_to_dict", "load_provenance"]

_KNOWN = {"D", "P", "payoff", "instance", *LAMBDA_KEYS}


def _payoff_of(value) -> str:
    """The file's ``payoff`` entry: a string naming one of :data:`PAYOFFS` (no default for ``""``)."""
    if isinstance(value, np.ndarray) and value.ndim == 0 and value.dtype.kind in "US":
        value = str(value)
    if not isinstance(value, str) or value not in PAYOFFS:
        raise ValueError(f"'payoff' must be one of {list(PAYOFFS)} (a string); got {value!r}")
    return value


def problem_from_dict(d: dict, payoff: str | None = None) -> RobustProblem:
    """Build a problem from a mapping with the file keys; ``payoff`` overrides the file's."""
    unknown = set(d) - _KNOWN
    if unknown:
        raise ValueError(f"unknown keys {sorted(unknown)}; allowed keys are {sorted(_KNOWN)}")
    if "D" not in d:
        raise ValueError("the problem has no 'D' (the K x n array of domain distributions)")
    if "instance" in d:
        _provenance(d["instance"])  # validated here too, so a damaged record never passes silently
    D = as_float_array(d["D"], "D", 2)
    lset = lambda_from_dict(d, D.shape[0])
    file_payoff = _payoff_of(d["payoff"]) if "payoff" in d else "kl"
    return RobustProblem(D, d.get("P"), lset, file_payoff if payoff is None else payoff)


def problem_to_dict(problem: RobustProblem) -> dict:
    out = {"D": problem.D.tolist(), "payoff": problem.payoff}
    if not problem.perfect_experts:
        out["P"] = problem.P.tolist()
    out.update(problem.Lambda.to_dict())
    return out


def load_problem(path: str | Path, payoff: str | None = None) -> RobustProblem:
    """Load a problem from a ``.npz`` or ``.json`` file.

    Every way a file can be unusable (missing, a directory, unreadable, not JSON, not a zip
    archive of arrays, an archive with no arrays, arrays stored as Python objects) raises
    :class:`ValueError` or :class:`FileNotFoundError` with one sentence naming the file.
    """
    d = _read(Path(path))
    _record(d, path)  # a damaged record names its file (the record is not part of the game)
    return problem_from_dict(d, payoff)


def _read(path: Path) -> dict:
    if not path.exists():
        raise FileNotFoundError(f"no such problem file: {path}")
    if path.is_dir():
        raise ValueError(f"{path} is a directory, not a problem file")
    suffix = path.suffix.lower()
    if suffix not in (".json", ".npz"):
        raise ValueError(f"{path}: problem files must end in .npz or .json")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror or exc}") from None
    if suffix == ".json":
        try:
            data = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(f"{path} is not valid JSON: {exc}") from None
        if not isinstance(data, dict):
            raise ValueError(f"{path} must hold a JSON object with the key 'D'")
        return data
    if not zipfile.is_zipfile(io.BytesIO(raw)):
        hint = " (it looks like a single .npy array; save with numpy.savez and the key 'D')" \
            if raw[:6] == b"\x93NUMPY" else ""
        raise ValueError(f"{path} is not an .npz archive{hint}")
    try:
        with np.load(io.BytesIO(raw), allow_pickle=False) as npz:
            data = {k: npz[k] for k in npz.files}
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as exc:
        raise ValueError(f"{path} is a damaged or unsupported .npz archive ({exc})") from None
    if not data:
        raise ValueError(f"{path} holds no arrays; it needs at least 'D'")
    return data


def _provenance(rec) -> dict:
    """The validated ``instance`` record of a problem file (module doc)."""
    if not isinstance(rec, dict):
        raise ValueError("'instance' must be an object with 'family' and 'seed'")
    unknown = set(rec) - {"family", "seed", "outer"}
    if unknown:
        raise ValueError(f"'instance' has unknown keys {sorted(unknown)}; allowed: family, seed, outer")
    family, seed = rec.get("family"), rec.get("seed")
    if not isinstance(family, str) or not family:
        raise ValueError("'instance.family' must be a non-empty string")
    if (not isinstance(seed, list) or not seed
            or not all(isinstance(x, int) and not isinstance(x, bool) and x >= 0 for x in seed)):
        raise ValueError("'instance.seed' must be a non-empty list of non-negative integers")
    outer = rec.get("outer")
    if outer is not None and (not isinstance(outer, str) or not outer.endswith(".json") or "/" in outer
                              or "\\" in outer):
        raise ValueError("'instance.outer' must be the name of a .json file beside this one")
    return {"family": family, "seed": tuple(seed), "outer": outer}


def load_provenance(path: str | Path) -> dict | None:
    """The ``instance`` record of a problem file (``family``, ``seed`` as a tuple, ``outer`` or
    ``None``), or ``None`` when the file has none (an ``.npz`` file never has one)."""
    path = Path(path)
    return _record(_read(path), path) if path.suffix.lower() == ".json" else None


def _record(d: dict, path) -> dict | None:
    """The validated ``instance`` record of the file contents ``d`` (``None`` without one); a bad
    record is a ``ValueError`` naming ``path``."""
    if "instance" not in d:
        return None
    try:
        return _provenance(d["instance"])
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None


def save_problem(problem: RobustProblem, path: str | Path, provenance: dict | None = None) -> Path:
    """Write ``problem`` to ``.json`` or ``.npz`` (chosen by the suffix); ``provenance`` (JSON
    only) is the ``instance`` record of the module doc."""
    path = Path(path)
    d = problem_to_dict(problem)
    if provenance is not None:
        if path.suffix.lower() != ".json":
            raise ValueError(f"{path}: the instance record is written to .json files only")
        rec = {"family": provenance["family"], "seed": [int(x) for x in provenance["seed"]]}
        if provenance.get("outer"):
            rec["outer"] = str(provenance["outer"])
        _provenance(rec)  # the record a reader will accept
        d["instance"] = rec
    if path.suffix.lower() == ".json":
        path.write_text(json.dumps(d))
    elif path.suffix.lower() == ".npz":
        np.savez(path, **{k: np.asarray(v) for k, v in d.items()})
    else:
        raise ValueError(f"{path}: problem files must end in .npz or .json")
    return path
