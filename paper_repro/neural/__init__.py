"""Neural experiments of the paper (torch, behind the ``torch`` extra; imported lazily).

Layout (nanoGPT-shaped): :mod:`.runner` (the one experiment runner: output folder, torch
threads, stages and checkpoints, tables, summary, figure), :mod:`.sizes` (the model sizes,
torch-free), :mod:`.data` (the synthetic conflicting domains, numpy only), :mod:`.model` (the MLP
language models and the causal router), :mod:`.train` (the one training loop, its uses, the
primal-dual gate loop and evaluation) and :mod:`.fig5` (configurations, stages and ``main`` for
paper Figure 5); for real text, :mod:`.text_data` (the byte corpus every CPython ships, numpy
only), :mod:`.gpt` (batched byte-level transformers and the ``K``-expert router) and :mod:`.real`
(configurations, stages and ``main``). Importing this package, :mod:`.runner`, :mod:`.fig5` or
:mod:`.real` does not import torch; :mod:`.model`, :mod:`.train`, :mod:`.gpt` and running an
experiment do. See ``README.md`` here for the numbers to expect.

For ``robust-gates fit`` on your own language models: :func:`loglik_matrix` (from
:mod:`.loglik`) turns torch causal language models and samples into the log-likelihood matrix
``fit`` reads, and :mod:`.real_fit` fits both gates to the real-text experiment's experts and
compares them with its trained router (``robust-gates fit --real-text``).
"""

from .loglik import LoglikMatrix, loglik_matrix, stack_members

__all__ = ["data", "fig5", "real", "real_fit", "runner", "sizes", "text_data", "loglik",
           "LoglikMatrix", "loglik_matrix", "stack_members"]
