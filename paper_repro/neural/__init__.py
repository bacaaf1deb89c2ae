"""Neural experiments of the paper (torch, behind the ``torch`` extra; imported lazily).

Layout (nanoGPT-shaped): :mod:`.data` (the synthetic conflicting domains, numpy only),
:mod:`.model` (the MLP language models and the causal router), :mod:`.train` (one training loop
per kind of model, plus evaluation) and :mod:`.fig5` (configurations and ``main`` for paper
Figure 5); for real text, :mod:`.text_data` (the three-domain byte corpus every CPython ships,
numpy only), :mod:`.gpt` (batched byte-level transformers and the ``K``-expert router) and
:mod:`.real` (configurations and ``main``). Importing this package does not import torch;
:mod:`.model`, :mod:`.train`, :mod:`.gpt`, ``fig5.main`` and ``real.main`` do. See ``README.md``
here for the numbers to expect.
"""

__all__ = ["data", "fig5", "text_data", "real"]
