r"""A real three-domain byte corpus that every CPython installation already holds (numpy only).

The "real" experiment (:mod:`.real`) needs several genuinely different text domains and may not
download anything. Every machine that runs this suite has a Python interpreter, and with it:

* ``python`` -- **Python code**: the standard library's ``.py`` files under
  ``sysconfig.get_paths()["stdlib"]``, without ``site-packages`` / ``dist-packages`` and without the
  test packages (any folder named ``test``, ``tests`` or ``idle_test``);
* ``prose`` -- **English prose**: the documentation strings of ``pydoc_data.topics.topics`` (the
  text behind ``help("if")``), one document per topic key; the Python module around them is not
  used;
* ``c`` -- **C code**: CPython's C headers (``*.h``, recursively) in
  ``sysconfig.get_paths()["include"]``.

Documents (files, or topics for ``prose``) are listed in sorted order and assigned to a split by a
hash of their path relative to the domain root (``sha256("<domain>:<path>")`` read as a number in
``[0, 1)``): below 0.8 ``train``, below 0.9 ``valid``, else ``test``. A document's split therefore
depends on its path only, not on which other files exist, so the split is deterministic and the
three splits are disjoint by construction. Text is normalized to UTF-8: ``.py`` files are decoded
with their declared source encoding (PEP 263, :func:`tokenize.detect_encoding`), headers as UTF-8
(Latin-1 where that fails; the count is recorded), line endings become ``\n``; the documents of a
split are joined with one ``\n`` and stored as ``uint8`` arrays (byte-level models: vocabulary
256).

:func:`load_corpus` caches the encoded arrays in ``cache_dir`` (default ``$ROBUST_GATES_CACHE`` or
``~/.cache/robust-gates``) under a key made of the Python version and the list of source files
with their sizes and modification times, so a changed installation is re-read. The returned
:class:`Corpus` records the Python version, per-domain and per-split byte and document counts,
and the document lists of each split. :func:`allocate` splits a training batch among the
domains of a mixture.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import platform
import sysconfig
import tokenize
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import UserError

__all__ = ["DOMAINS", "SPLITS", "SPLIT_BOUNDS", "MissingDomainError", "Corpus", "split_of", "allocate",
           "list_documents", "load_corpus", "random_windows", "eval_windows", "default_cache_dir"]

DOMAINS = ("python", "prose", "c")
SPLITS = ("train", "valid", "test")
SPLIT_BOUNDS = (0.8, 0.9)  # hash < 0.8: train; < 0.9: valid; else test
EXCLUDED_DIRS = frozenset({"site-packages", "dist-packages", "test", "tests", "idle_test",
                           "__pycache__"})
CACHE_VERSION = 1


class MissingDomainError(UserError):
    """A domain's source is not installed on this machine (the message says what provides it)."""


def split_of(domain: str, path: str) -> str:
    """The split of document ``path`` (relative to its domain root) of ``domain``."""
    h = hashlib.sha256(f"{domain}:{path}".encode()).digest()
    u = int.from_bytes(h[:8], "big") / 2.0**64
    return SPLITS[0] if u < SPLIT_BOUNDS[0] else SPLITS[1] if u < SPLIT_BOUNDS[1] else SPLITS[2]


def default_cache_dir() -> Path:
    env = os.environ.get("ROBUST_GATES_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "robust-gates"


def _python_version() -> str:
    return platform.python_version()


def _install_hint() -> str:
    v = f"{os.sys.version_info.major}.{os.sys.version_info.minor}"
    return (f"Debian/Ubuntu: `apt install python3-dev` (for this interpreter, python{v}-dev); an "
            "interpreter built from source, by pyenv or from python.org installs its own headers "
            "with it (`make install`); conda: the `python` package ships them")


def _roots(stdlib: str | Path | None, include: str | Path | None) -> tuple[Path, Path]:
    paths = sysconfig.get_paths()
    return Path(stdlib or paths["stdlib"]), Path(include or paths["include"])


def list_documents(domain: str, *, stdlib=None, include=None) -> list[tuple[str, Path | None]]:
    """Sorted ``(relative path, file)`` of a domain's documents (``file`` is None for prose).

    Raises :class:`MissingDomainError` when the domain's source is absent or empty.
    """
    stdlib, include = _roots(stdlib, include)
    if domain == "python":
        if not stdlib.is_dir():
            raise MissingDomainError(f"domain 'python' needs the standard library's source, but "
                                     f"{stdlib} is not a folder")
        docs = []
        for f in stdlib.rglob("*.py"):
            rel = f.relative_to(stdlib)
            if not EXCLUDED_DIRS.intersection(rel.parts[:-1]) and f.is_file():
                docs.append((rel.as_posix(), f))
        if not docs:
            raise MissingDomainError(f"domain 'python' found no .py files under {stdlib}; this "
                                     "interpreter ships its standard library without source "
                                     "(install the full interpreter, e.g. Debian's python3)")
    elif domain == "prose":
        try:
            from pydoc_data.topics import topics
        except ImportError as exc:
            raise MissingDomainError("domain 'prose' needs the module pydoc_data.topics, which this "
                                     "interpreter lacks (Debian: `apt install libpython3-stdlib`; "
                                     "it ships with every full CPython)") from exc
        docs = [(key, None) for key in topics if isinstance(topics[key], str) and topics[key]]
        if not docs:
            raise MissingDomainError("domain 'prose': pydoc_data.topics.topics holds no text")
    elif domain == "c":
        found = include.is_dir() and (include / "Python.h").is_file()
        docs = ([(f.relative_to(include).as_posix(), f) for f in include.rglob("*.h") if f.is_file()]
                if found else [])
        if not docs:
            raise MissingDomainError(f"domain 'c' needs CPython's C headers, but {include} has no "
                                     f"Python.h; install them: {_install_hint()}")
    else:
        raise ValueError(f"unknown domain {domain!r}; the domains are {DOMAINS}")
    return sorted(docs, key=lambda d: d[0])


def _decode(domain: str, rel: str, path: Path | None, stats: dict) -> str:
    if domain == "prose":
        from pydoc_data.topics import topics

        text = topics[rel]
    else:
        raw = path.read_bytes()
        if domain == "python":
            try:
                enc, _ = tokenize.detect_encoding(io.BytesIO(raw).readline)
                text = raw.decode(enc)
            except (SyntaxError, UnicodeDecodeError, LookupError):
                text = raw.decode("latin-1")
                stats["latin1_fallbacks"] += 1
            if text.startswith("\ufeff"):
                text = text[1:]
        else:
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                text = raw.decode("latin-1")
                stats["latin1_fallbacks"] += 1
    return text.replace("\r\n", "\n").replace("\r", "\n")


@dataclass(frozen=True, eq=False)
class Corpus:
    """The encoded corpus: ``data[domain][split]`` is a ``uint8`` array of UTF-8 bytes."""

    data: dict
    python_version: str
    documents: dict  # domain -> split -> list of relative paths
    info: dict = field(default_factory=dict)  # counts, roots, cache file

    @property
    def domains(self) -> tuple:
        """The domains the corpus holds, in order (the experiments take their count from here)."""
        return tuple(self.data)

    def bytes_table(self) -> dict:
        """``{domain: {split: bytes}}``."""
        return {d: {s: int(self.data[d][s].size) for s in SPLITS} for d in self.data}


def _manifest(domains, stdlib, include) -> tuple[dict, str]:
    docs = {d: list_documents(d, stdlib=stdlib, include=include) for d in domains}
    h = hashlib.sha256(f"v{CACHE_VERSION}|{_python_version()}|{SPLIT_BOUNDS}".encode())
    for d in domains:
        for rel, f in docs[d]:
            st = f.stat() if f is not None else None
            h.update(f"{d}:{rel}:{st.st_size if st else ''}:{st.st_mtime_ns if st else ''}\n".encode())
    if "prose" in domains:
        from pydoc_data.topics import topics

        h.update(hashlib.sha256("".join(topics[k] for k, _ in docs["prose"]).encode()).digest())
    return docs, h.hexdigest()[:16]


def load_corpus(cache_dir: str | Path | None = None, *, domains=DOMAINS, stdlib=None, include=None,
                use_cache: bool = True) -> Corpus:
    """Build (or read from the cache) the encoded three-domain corpus (module docstring)."""
    domains = tuple(domains)
    for d in domains:
        if d not in DOMAINS:
            raise ValueError(f"unknown domain {d!r}; the domains are {DOMAINS}")
    stdlib, include = _roots(stdlib, include)
    docs, key = _manifest(domains, stdlib, include)
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    npz = cache / f"real_corpus_py{_python_version()}_{key}.npz"
    meta = npz.with_suffix(".json")
    if use_cache and npz.is_file() and meta.is_file():
        with np.load(npz) as z:
            data = {d: {s: z[f"{d}/{s}"] for s in SPLITS} for d in domains}
        m = json.loads(meta.read_text())
        return Corpus(data, m["python_version"], m["documents"], {**m["info"], "cache": str(npz),
                                                                  "from_cache": True})
    stats = {"latin1_fallbacks": 0}
    data, documents, doc_counts = {}, {}, {}
    for d in domains:
        parts = {s: [] for s in SPLITS}
        names = {s: [] for s in SPLITS}
        for rel, f in docs[d]:
            s = split_of(d, rel)
            parts[s].append(_decode(d, rel, f, stats).encode("utf-8"))
            names[s].append(rel)
        empty = [s for s in SPLITS if not parts[s]]
        if empty:
            raise MissingDomainError(f"domain {d!r} has no documents in split(s) {empty}: "
                                     f"{len(docs[d])} documents are too few to split 80/10/10")
        data[d] = {s: np.frombuffer(b"\n".join(parts[s]), dtype=np.uint8).copy() for s in SPLITS}
        documents[d] = names
        doc_counts[d] = {s: len(names[s]) for s in SPLITS}
    info = {"roots": {"python": str(stdlib), "prose": "pydoc_data.topics.topics", "c": str(include)},
            "documents": doc_counts, "latin1_fallbacks": stats["latin1_fallbacks"],
            "bytes": {d: {s: int(data[d][s].size) for s in SPLITS} for d in domains},
            "split_bounds": list(SPLIT_BOUNDS), "key": key}
    if use_cache:
        cache.mkdir(parents=True, exist_ok=True)
        tmp = npz.with_name(npz.stem + ".tmp.npz")
        np.savez(tmp, **{f"{d}/{s}": data[d][s] for d in domains for s in SPLITS})
        os.replace(tmp, npz)
        meta.write_text(json.dumps({"python_version": _python_version(), "documents": documents,
                                    "info": info}))
    return Corpus(data, _python_version(), documents, {**info, "cache": str(npz) if use_cache else None,
                                                       "from_cache": False})


def allocate(lam: np.ndarray, batch: int) -> np.ndarray:
    """Windows per domain in a batch of ``batch`` for mixture ``lam``: largest remainders of
    ``batch * lam``, at least one for every domain with ``lam_k > 0`` (the loss weights each
    window by ``lam_k / n_k``, so the objective is exactly the ``lam``-mixture's)."""
    lam = np.asarray(lam, dtype=float)
    pos = lam > 0
    if pos.sum() > batch:
        raise ValueError(f"batch {batch} is smaller than the {pos.sum()} domains with weight > 0")
    raw = batch * lam
    n = np.floor(raw).astype(int)
    n[pos & (n == 0)] = 1
    while n.sum() > batch:  # took too many by the minimum of one: give back from the largest
        n[np.argmax(np.where(n > 1, n, -1))] -= 1
    order = np.argsort(-(raw - np.floor(raw)), kind="stable")
    i = 0
    while n.sum() < batch:
        if pos[order[i % len(order)]]:
            n[order[i % len(order)]] += 1
        i += 1
    return n


def random_windows(arr: np.ndarray, n: int, length: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` windows of ``length`` consecutive bytes at uniform random offsets: ``(n, length)`` int64."""
    if arr.size < length:
        raise ValueError(f"a split of {arr.size} bytes is shorter than one window ({length})")
    start = rng.integers(0, arr.size - length + 1, size=n)
    return arr[start[:, None] + np.arange(length)].astype(np.int64)


def eval_windows(arr: np.ndarray, length: int, cap: int | None = None) -> np.ndarray:
    """Windows for evaluation: consecutive, overlapping by one byte, so every byte after the
    first is predicted exactly once (``(n, length)`` int64); at most ``cap`` of them, evenly spaced
    over the split when there are more."""
    step = length - 1
    n = (arr.size - 1) // step
    if n < 1:
        raise ValueError(f"a split of {arr.size} bytes is shorter than one window ({length})")
    idx = np.arange(n)
    if cap is not None and n > cap:
        idx = np.unique(np.linspace(0, n - 1, cap).round().astype(int))
    start = idx * step
    return arr[start[:, None] + np.arange(length)].astype(np.int64)
