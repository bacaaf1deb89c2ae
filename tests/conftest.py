"""Shared test helpers: explicit random instances and named tolerances."""

from __future__ import annotations

import os

import matplotlib
import numpy as np
import pytest
from hypothesis import settings

matplotlib.use("Agg")

# One BLAS thread for the whole suite, as the check sweep's workers use. The tests' matrices are
# small; on a machine with few cores shared with other jobs, OpenBLAS's thread pool made the
# quick bench (tests/test_bench.py) 4-5 times slower (160 s against 35 s, measured) without
# changing any number a test asserts. Kept in a module global so the limit lasts the session.
from threadpoolctl import threadpool_limits  # noqa: E402

_ONE_BLAS_THREAD = threadpool_limits(limits=1, user_api="blas")

# Property tests draw the same examples on every run (a test suite that passes or fails by
# chance is no check); `ROBUST_GATES_HYPOTHESIS=explore python -m pytest` draws fresh ones to
# look for new counterexamples (which then become explicit regression tests).
settings.register_profile("deterministic", derandomize=True, database=None)
settings.register_profile("explore", derandomize=False)
settings.load_profile(
    "explore" if os.environ.get("ROBUST_GATES_HYPOTHESIS") == "explore" else "deterministic")

#: certificate gap the reference solver must reach on small instances
GAP_TOL = 1e-6
#: agreement with a closed form (the conic solver's accuracy)
CLOSED_FORM_TOL = 1e-6
#: floating-point identities evaluated in double precision
FP_TOL = 1e-12


def random_instance(rng: np.random.Generator, K: int, n: int, alpha: float = 0.7,
                    tau: float = 0.2) -> tuple[np.ndarray, np.ndarray]:
    """Dirichlet(alpha) domains and experts ``(1 - tau) D + tau * noise``."""
    D = rng.dirichlet(np.full(n, alpha), size=K)
    P = (1 - tau) * D + tau * rng.dirichlet(np.ones(n), size=K)
    return D, P


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)

#: a certificate gap is a difference of two values of order 1 evaluated in double precision;
#: it may come out this far below zero from rounding alone
FP_GAP_FLOOR = 1e-10

# CI runs are derandomized (same examples every run); local runs explore new ones.
from hypothesis import settings as _hyp_settings  # noqa: E402

_hyp_settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
_hyp_settings.register_profile("dev", deadline=None, print_blob=True)
import os as _os  # noqa: E402

_hyp_settings.load_profile("ci" if _os.environ.get("CI") else "dev")
