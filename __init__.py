"""robust-gates: exact robust gates for modular generative models, checks of the theory,
simulations, figures and the paper's experiments (Cortes, Mohri, Zhong, arXiv 2602.17554).

One import package with four layers, each importing only those before it:

- :mod:`robust_gates.theory`: the exact core (problem, Lambda sets, gates, solvers, certificates);
- :mod:`robust_gates.simulations`: instances, statement checks, sweeps, stochastic algorithms;
- :mod:`robust_gates.figures`: one module per figure, each registering itself;
- :mod:`robust_gates.paper_repro`: the ``robust-gates`` command line, the report, the neural
  experiments (torch extra) and the teaching demos.

In the repository the four layers are the top-level folders of the same names; ``pyproject.toml``
maps them under this package, whose ``__init__`` is this file.
"""

from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _version

try:
    __version__ = _version("robust-gates")
except PackageNotFoundError:  # pragma: no cover - running from a source tree that is not installed
    __version__ = "0+unknown"

__all__ = ["__version__"]
