"""Inputs of ``robust-gates fit``: the experts' log-likelihoods of labelled samples.

A fit file is an ``.npz`` archive or a table pandas can read (``.csv``, ``.tsv``, ``.parquet``,
``.feather``, ``.json``). Keys (``.npz``) or columns (tables):

``loglik`` (required; tables: the columns ``loglik_<expert>``, in order)
    ``N x J``: the log-likelihood (nats) expert ``j`` gives sample ``i``, a sequence or token sum;
    ``-inf`` is allowed where an expert cannot produce a sample, as long as one expert can;
``domain`` (required)
    ``N`` integers in ``0..K-1`` (tables may use names; they are numbered in sorted order);
``features`` (optional; tables: ``features_<name>`` columns)
    ``N x d`` features for the contextual gate;
``split`` (optional)
    ``train``, ``valid`` or ``test`` per sample. The fit follows one rule: the gates are fitted on
    ``train``, the recommendation between them is decided on ``valid``, and ``test`` is only
    reported. A split missing from the input is carved out of ``train``, within every domain and
    from the seed: each missing split takes a quarter of the domain's ``train`` samples (so no
    split at all gives 50/25/25). :attr:`FitData.carved` names the carved splits;
``tokens`` (optional)
    ``N`` positive token (or byte) counts, for per-token losses;
Lambda keys (optional, ``.npz`` only; for a table pass a separate file to ``lambda_file``)
    exactly as in problem files (:data:`robust_gates.theory.LAMBDA_KEYS`); default the simplex;
``expert_names``, ``domain_names`` (optional, ``.npz``)
    names for the report.

:func:`example_data` builds the shipped example: iid-token "documents" from three domains over
a small vocabulary, scored by three experts that are noisy copies of the domains.
"""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from robust_gates.theory import LAMBDA_KEYS, LambdaSet, lambda_from_dict

__all__ = ["FitData", "load_fit_data", "fit_data_from_dict", "example_data", "save_fit_data", "SPLITS",
           "TABLE_SUFFIXES"]

SPLITS = ("train", "valid", "test")
TABLE_SUFFIXES = (".csv", ".tsv", ".parquet", ".feather", ".json")
_KNOWN = {"loglik", "domain", "features", "split", "tokens", "expert_names", "domain_names", *LAMBDA_KEYS}


@dataclass(frozen=True, eq=False)
class FitData:
    """Validated input of :func:`robust_gates.simulations.fit.fit` (module docstring).

    ``split`` holds one of :data:`SPLITS` per sample, and every domain has samples in all three;
    ``split_given`` says whether the input had a split and ``carved`` which splits were carved out
    of ``train`` from the seed (module docstring); ``features`` and ``tokens`` may be ``None``.
    """

    loglik: np.ndarray
    domain: np.ndarray
    Lambda: LambdaSet
    split: np.ndarray
    features: np.ndarray | None = None
    tokens: np.ndarray | None = None
    expert_names: tuple[str, ...] = ()
    domain_names: tuple[str, ...] = ()
    split_given: bool = True
    carved: tuple[str, ...] = ()
    source: str = field(default="", repr=False)

    @property
    def N(self) -> int:
        return int(self.loglik.shape[0])

    @property
    def J(self) -> int:
        return int(self.loglik.shape[1])

    @property
    def K(self) -> int:
        return len(self.domain_names)

    def mask(self, split: str) -> np.ndarray:
        return self.split == split


def _names(value, n: int, default: str, what: str) -> tuple[str, ...]:
    if value is None:
        return tuple(f"{default}{i}" for i in range(n))
    names = tuple(str(v) for v in np.atleast_1d(np.asarray(value)))
    if len(names) != n or len(set(names)) != n:
        raise ValueError(f"{what} must be {n} distinct names; got {list(names)}")
    return names


def fit_data_from_dict(d: dict, *, seed: int = 0, Lambda: LambdaSet | None = None,
                       source: str = "") -> FitData:
    """Validate the keys of a fit file (module docstring) and build :class:`FitData`."""
    unknown = set(d) - _KNOWN
    if unknown:
        raise ValueError(f"unknown keys {sorted(unknown)}; allowed keys are {sorted(_KNOWN)}")
    for key in ("loglik", "domain"):
        if key not in d:
            raise ValueError(f"the input has no {key!r}; a fit file needs 'loglik' (N x J) and 'domain' (N)")
    a = np.asarray(d["loglik"])
    if a.dtype.kind not in "fiu":
        raise ValueError(f"'loglik' must hold numbers; got dtype {a.dtype}")
    a = np.array(a, dtype=np.float64)
    if a.ndim != 2 or a.shape[0] < 1 or a.shape[1] < 1:
        raise ValueError(f"'loglik' must be an N x J array (samples x experts); got shape {a.shape}")
    N, J = a.shape
    if np.isnan(a).any() or np.isposinf(a).any():
        i, j = (int(v) for v in np.argwhere(np.isnan(a) | np.isposinf(a))[0])
        raise ValueError(f"loglik[{i}, {j}] is {a[i, j]}; log-likelihoods must be finite or -inf")
    dead = np.isneginf(a).all(axis=1)
    if dead.any():
        raise ValueError(f"sample {int(np.argmax(dead))} has log-likelihood -inf under every expert")
    dom = np.asarray(d["domain"])
    if dom.shape != (N,):
        raise ValueError(f"'domain' must hold one label per sample ({N}); got shape {dom.shape}")
    if dom.dtype.kind == "f" and np.all(np.isfinite(dom)) and np.all(dom == np.round(dom)):
        dom = dom.astype(np.int64)
    if dom.dtype.kind not in "iu":
        raise ValueError(f"'domain' must hold integers 0..K-1; got dtype {dom.dtype}")
    if dom.min() < 0:
        raise ValueError(f"'domain' labels must lie in 0..K-1; found {int(dom.min())}")
    K = int(dom.max()) + 1
    if "domain_names" in d:
        K = max(K, len(np.atleast_1d(d["domain_names"])))
    missing = sorted(set(range(K)) - set(dom.tolist()))
    if missing:
        raise ValueError(f"domain {missing[0]} has no samples; labels must cover 0..{K - 1}")
    lam_keys = {k: d[k] for k in LAMBDA_KEYS if k in d}
    if lam_keys and Lambda is not None:
        raise ValueError("give Lambda either in the input file or separately, not both")
    Lambda = lambda_from_dict(lam_keys, K) if Lambda is None else Lambda
    if Lambda.K != K:
        raise ValueError(f"Lambda is a set of mixtures of {Lambda.K} domains; the input has {K}")
    feats = None
    if "features" in d:
        feats = np.asarray(d["features"])
        if feats.dtype.kind not in "fiu":
            raise ValueError(f"'features' must hold numbers; got dtype {feats.dtype}")
        feats = np.array(feats, dtype=np.float64)
        if feats.ndim == 1:
            feats = feats[:, None]
        if feats.ndim != 2 or feats.shape[0] != N:
            raise ValueError(f"'features' must be an N x d array with N = {N}; got shape {feats.shape}")
        if not np.all(np.isfinite(feats)):
            raise ValueError("'features' contains non-finite values")
    tokens = None
    if "tokens" in d:
        tokens = np.asarray(d["tokens"])
        if tokens.dtype.kind not in "fiu" or tokens.shape != (N,):
            raise ValueError(f"'tokens' must hold one positive count per sample ({N})")
        tokens = tokens.astype(np.float64)
        if not np.all(np.isfinite(tokens)) or (tokens <= 0).any():
            raise ValueError("'tokens' must be positive counts")
    given = "split" in d
    if given:
        split = np.asarray(d["split"])
        if split.dtype.kind not in "USO" or split.shape != (N,):
            raise ValueError(f"'split' must hold one label (train, valid or test) per sample ({N}); "
                             f"got shape {split.shape} of dtype {split.dtype}")
        split = split.astype(str)
        bad = sorted(set(split.tolist()) - set(SPLITS))
        if bad:
            raise ValueError(f"'split' labels must be {', '.join(SPLITS)}; found {bad[0]!r}")
        if not (split == "train").any():
            raise ValueError("'split' has no 'train' samples to fit on")
    else:
        split = np.full(N, "train")
    split = split.astype("<U5")
    carved = tuple(s for s in ("valid", "test") if not (split == s).any())
    split = _carve(split, dom, K, seed, carved)
    for k in range(K):
        for s in SPLITS:
            if not (split[dom == k] == s).any():
                raise ValueError(f"domain {k} has no {s!r} samples; every domain needs samples in "
                                 "train, valid and test (a split missing altogether is carved from train)")
    return FitData(loglik=a, domain=dom.astype(np.int64), Lambda=Lambda, split=split, features=feats,
                   tokens=tokens, expert_names=_names(d.get("expert_names"), J, "expert_", "expert_names"),
                   domain_names=_names(d.get("domain_names"), K, "domain_", "domain_names"),
                   split_given=given, carved=carved, source=source)


def _carve(split: np.ndarray, dom: np.ndarray, K: int, seed: int, missing: tuple[str, ...]) -> np.ndarray:
    """Carve each ``missing`` split out of ``train`` within every domain, from ``seed``: a quarter
    of the domain's ``train`` samples each (at least one), leaving at least one to fit on."""
    if not missing:
        return split
    split = split.copy()
    rng = np.random.default_rng([seed, 18])
    for k in range(K):
        idx = rng.permutation(np.flatnonzero((dom == k) & (split == "train")))
        need = 1 + len(missing)
        if idx.size < need:
            raise ValueError(f"domain {k} has {idx.size} 'train' sample(s); carving the missing "
                             f"{' and '.join(missing)} split(s) from them needs at least {need}")
        take = min(max(1, int(round(idx.size / 4))), (idx.size - 1) // len(missing))
        for i, s in enumerate(missing):
            split[idx[i * take:(i + 1) * take]] = s
    return split


def load_fit_data(path: str | Path, *, seed: int = 0, lambda_file: str | Path | None = None) -> FitData:
    """Read a fit file (``.npz`` or a table, module docstring); ``lambda_file`` (``.json``/``.npz``
    with Lambda keys) describes Lambda for table inputs."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no such input file: {path}")
    if path.is_dir():
        raise ValueError(f"{path} is a directory, not an input file")
    suffix = path.suffix.lower()
    if suffix == ".npz":
        d = _read_npz(path)
    elif suffix in TABLE_SUFFIXES:
        d = _read_table(path)
    else:
        raise ValueError(f"{path}: input files must be .npz or a table ({', '.join(TABLE_SUFFIXES)})")
    Lambda = None
    if lambda_file is not None:
        lam = _read_lambda_file(Path(lambda_file))
        K = int(np.max(np.asarray(d.get("domain", [0])), initial=0)) + 1 if "domain" in d else 1
        try:
            K = max(K, len(np.atleast_1d(d["domain_names"]))) if "domain_names" in d else K
        except TypeError:
            pass
        Lambda = lambda_from_dict(lam, K)
    return fit_data_from_dict(d, seed=seed, Lambda=Lambda, source=str(path))


def _read_npz(path: Path) -> dict:
    raw = path.read_bytes()
    if not zipfile.is_zipfile(io.BytesIO(raw)):
        raise ValueError(f"{path} is not an .npz archive")
    try:
        with np.load(io.BytesIO(raw), allow_pickle=False) as npz:
            return {k: npz[k] for k in npz.files}
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as exc:
        raise ValueError(f"{path} is a damaged or unsupported .npz archive ({exc})") from None


def _read_table(path: Path) -> dict:
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".feather"):
        _need_arrow(path)
    try:
        if suffix == ".csv":
            df = pd.read_csv(path)
        elif suffix == ".tsv":
            df = pd.read_csv(path, sep="\t")
        elif suffix == ".parquet":
            df = pd.read_parquet(path)
        elif suffix == ".feather":
            df = pd.read_feather(path)
        else:
            df = pd.read_json(path)
    except ImportError as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ValueError(f"reading {path} needs an optional package ({first})") from None
    except (ValueError, OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise ValueError(f"cannot read {path} as a table: {str(exc).splitlines()[0]}") from None
    ll_cols = [c for c in df.columns if str(c).startswith("loglik_")]
    if not ll_cols:
        raise ValueError(f"{path} has no 'loglik_<expert>' columns; a table needs one per expert")
    feat_cols = [c for c in df.columns if str(c).startswith("features_")]
    other = set(df.columns) - set(ll_cols) - set(feat_cols) - {"domain", "split", "tokens"}
    if other:
        raise ValueError(f"{path}: unknown columns {sorted(map(str, other))}; allowed are loglik_*, "
                         "features_*, domain, split, tokens")
    for c in [*ll_cols, *feat_cols, *(["tokens"] if "tokens" in df else [])]:
        if df[c].dtype.kind not in "fiub":
            bad = df[c][pd.to_numeric(df[c], errors="coerce").isna() & df[c].notna()]
            if bad.empty:  # numbers stored as text: converted below
                continue
            raise ValueError(f"{path}: column {c!r} must hold numbers; sample {bad.index[0]} holds "
                             f"{str(bad.iloc[0])!r}")
    for c in ("domain", "split"):
        if c in df and df[c].isna().any():
            raise ValueError(f"{path}: column {c!r} is empty for sample {int(np.argmax(df[c].isna()))}")
    d: dict = {"loglik": df[ll_cols].to_numpy(dtype=np.float64),
               "expert_names": [str(c)[len("loglik_"):] for c in ll_cols]}
    if "domain" in df:
        dom = df["domain"]
        if dom.dtype.kind in "iu":
            d["domain"] = dom.to_numpy()
        else:
            names = sorted(map(str, dom.unique()))
            d["domain"] = dom.astype(str).map({n: i for i, n in enumerate(names)}).to_numpy()
            d["domain_names"] = names
    if feat_cols:
        d["features"] = df[feat_cols].to_numpy()
    for key in ("split", "tokens"):
        if key in df:
            d[key] = df[key].to_numpy()
    return d


def _need_arrow(path: Path) -> None:
    """Parquet and feather files need pyarrow (an optional package): one line when it is missing."""
    import importlib.util

    if importlib.util.find_spec("pyarrow") is None:
        raise ValueError(f"{path}: {path.suffix.lower()} files need the optional package pyarrow "
                         "(pip install pyarrow), or save the table as .csv")


def _read_lambda_file(path: Path) -> dict:
    if not path.exists():
        raise FileNotFoundError(f"no such Lambda file: {path}")
    if path.suffix.lower() == ".json":
        try:
            d = json.loads(path.read_text())
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(f"{path} is not valid JSON: {exc}") from None
        if not isinstance(d, dict):
            raise ValueError(f"{path} must hold a JSON object with Lambda keys")
    elif path.suffix.lower() == ".npz":
        d = _read_npz(path)
    else:
        raise ValueError(f"{path}: a Lambda file must be .json or .npz")
    extra = set(d) - set(LAMBDA_KEYS)
    if extra:
        raise ValueError(f"{path}: unknown keys {sorted(extra)}; Lambda keys are {sorted(LAMBDA_KEYS)}")
    return d


def example_data(seed: int = 0, *, per_domain: int = 200, length: int = 40, vocab: int = 12,
                 noise: float = 0.35) -> dict:
    """The shipped example (a dict of fit-file keys; :func:`save_fit_data` writes it).

    Three domains ``D_k`` over a ``vocab``-token alphabet (permutations of one Dirichlet(0.5)
    draw, so that no domain is intrinsically harder); three experts
    ``P_j = (1 - noise) D_j + noise U_j`` (``U_j`` Dirichlet(1)), so expert ``j`` is the
    specialist of domain ``j`` but not perfect; ``per_domain`` documents of ``length`` iid tokens
    per domain, each scored by every expert (``loglik`` = sum of token log-probabilities),
    ``tokens = length``, a train/valid/test split (50/25/25) and as features the document's
    token frequencies. All from ``numpy.random.default_rng([seed, 18])``.
    """
    rng = np.random.default_rng([seed, 18])
    K = 3
    base = rng.dirichlet(np.full(vocab, 0.5))
    D = np.stack([base[rng.permutation(vocab)] for _ in range(K)])  # equal entropies
    P = (1 - noise) * D + noise * rng.dirichlet(np.ones(vocab), size=K)
    docs = np.concatenate([rng.choice(vocab, size=(per_domain, length), p=D[k]) for k in range(K)])
    domain = np.repeat(np.arange(K), per_domain)
    counts = np.stack([np.bincount(doc, minlength=vocab) for doc in docs]).astype(np.float64)
    loglik = counts @ np.log(P).T
    split = np.empty(domain.size, dtype="<U5")
    for k in range(K):
        idx = rng.permutation(np.flatnonzero(domain == k))
        a, b = per_domain // 2, (3 * per_domain) // 4
        split[idx[:a]], split[idx[a:b]], split[idx[b:]] = "train", "valid", "test"
    return {"loglik": loglik, "domain": domain, "split": split, "tokens": np.full(domain.size, length),
            "features": counts / length, "expert_names": np.array(["code", "prose", "math"]),
            "domain_names": np.array(["code", "prose", "math"])}


def save_fit_data(d: dict, path: str | Path) -> Path:
    """Write fit-file keys to ``.npz``, or to a table (``.csv``; ``.parquet`` with pyarrow installed)
    in the table form (``loglik_<expert>`` columns, ``domain`` by name; without Lambda keys)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".npz":
        np.savez(path, **{k: np.asarray(v) for k, v in d.items()})
        return path
    if suffix not in (".csv", ".parquet"):
        raise ValueError(f"{path}: write .npz, .csv or .parquet")
    if suffix == ".parquet":
        _need_arrow(path)
    extra = sorted(set(d) & set(LAMBDA_KEYS))
    if extra:
        raise ValueError(f"{path}: a table cannot hold Lambda keys {extra}; write .npz, or give Lambda "
                         "with --lambda")
    names = list(d.get("expert_names", [f"expert_{j}" for j in range(np.shape(d["loglik"])[1])]))
    df = pd.DataFrame(np.asarray(d["loglik"]), columns=[f"loglik_{n}" for n in names])
    dn = d.get("domain_names")
    df["domain"] = np.asarray(dn)[np.asarray(d["domain"])] if dn is not None else np.asarray(d["domain"])
    for key in ("split", "tokens"):
        if key in d:
            df[key] = np.asarray(d[key])
    if "features" in d:
        F = np.asarray(d["features"])
        for c in range(F.shape[1]):
            df[f"features_{c}"] = F[:, c]
    if suffix == ".parquet":
        df.to_parquet(path, index=False)
    else:
        df.to_csv(path, index=False)
    return path
