"""Model sizes, the one place they are defined (numpy-free and torch-free).

The experiment configurations (:mod:`.fig5`, :mod:`.real`) name their models' sizes with these
classes and the torch modules (:mod:`.model`, :mod:`.gpt`) are built from the same objects, so a
configuration can be read, compared and hashed without importing torch.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["MLPSize", "GPTSize"]


@dataclass(frozen=True)
class MLPSize:
    """One context-window MLP language model (:class:`.model.MLPStack`): embedding size ``d`` and
    hidden width ``hidden``."""

    d: int
    hidden: int


@dataclass(frozen=True)
class GPTSize:
    """One byte-level transformer (:class:`.gpt.GPTStack`): width ``d``, depth ``n_layer`` and
    ``n_head`` attention heads (``d`` must be a multiple of ``n_head``)."""

    d: int
    n_layer: int
    n_head: int

    def __post_init__(self):
        if self.d % self.n_head:
            raise ValueError(f"d = {self.d} must be a multiple of n_head = {self.n_head}")
