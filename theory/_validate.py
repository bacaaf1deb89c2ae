"""Small input checks shared by the core; each raises with a sentence the user can act on."""

from __future__ import annotations

import numpy as np

ROW_SUM_TOL = 1e-9


_KIND_NAMES = {"b": "booleans", "c": "complex numbers", "U": "strings", "S": "bytes", "O": "Python objects",
               "M": "dates", "m": "time spans", "V": "records"}


def as_float_array(x, name: str, ndim: int) -> np.ndarray:
    """Return a read-only float64 C-contiguous array with the values of ``x``, never one that can
    change later.

    A validated object must not change when the caller later edits the array it passed in, so
    the input is copied unless nothing can write to it: a float64 C-contiguous array that is
    read-only all the way down its chain of bases (see :func:`_frozen`) is used in place, which
    spares a copy of large inputs that the caller has frozen (``arr.flags.writeable = False``).
    Only integer and real floating inputs are accepted; booleans, complex numbers, strings and
    objects are refused rather than converted (a complex array would otherwise lose its
    imaginary part, and ``"0.5"`` or ``True`` would be read as numbers).
    """
    try:
        raw = np.asarray(x)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be an array of real numbers ({exc})") from None
    if raw.dtype.kind not in "fiu":
        what = _KIND_NAMES.get(raw.dtype.kind, f"dtype {raw.dtype}")
        raise TypeError(f"{name} must be an array of real numbers; got {what} (dtype {raw.dtype})")
    if raw.ndim != ndim:
        want = "(K, n)" if ndim == 2 else "(K,)" if ndim == 1 else f"{ndim}-D"
        raise ValueError(f"{name} must be a {ndim}-D array of shape {want}; got shape {raw.shape}")
    if raw.dtype == np.float64 and raw.flags.c_contiguous and _frozen(raw):
        return raw
    arr = np.array(raw, dtype=np.float64, order="C", copy=True)
    arr.flags.writeable = False
    return arr


def _frozen(arr: np.ndarray) -> bool:
    """True when no array in the chain ``arr, arr.base, ...`` is writable and the chain ends in
    memory nobody can write (no base, or an immutable ``bytes`` object)."""
    node = arr
    while isinstance(node, np.ndarray):
        if node.flags.writeable:
            return False
        node = node.base
    return node is None or isinstance(node, bytes)


def check_finite(arr: np.ndarray, name: str) -> None:
    bad = ~np.isfinite(arr)
    if bad.any():
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        where = idx[0] if len(idx) == 1 else idx
        raise ValueError(f"{name}[{_fmt_idx(where)}] is {arr[idx]}; entries must be finite numbers")


def check_distributions(arr: np.ndarray, name: str, what: str, tol: float = ROW_SUM_TOL) -> None:
    """Rows of ``arr`` must be finite, non-negative and sum to 1 within ``tol``."""
    check_finite(arr, name)
    neg = arr < 0
    if neg.any():
        k, x = (int(i) for i in np.argwhere(neg)[0])
        raise ValueError(
            f"{name}[{k}, {x}] = {arr[k, x]:.6g} is negative; {what} must be probability vectors"
        )
    sums = arr.sum(axis=1)
    off = np.abs(sums - 1.0)
    if (off > tol).any():
        k = int(np.argmax(off > tol))
        raise ValueError(
            f"row {k} of {name} sums to {sums[k]:.12g} (off by {off[k]:.2e} > {tol:g}); "
            f"{what} must be probability vectors"
        )


def _fmt_idx(idx) -> str:
    if isinstance(idx, tuple):
        return ", ".join(str(i) for i in idx)
    return str(idx)
