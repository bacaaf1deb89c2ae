r"""
Fitting weights from log-likelihoods
====================================

You have ``J`` trained models (experts) and labelled samples from ``K`` domains. All that the
robust gate needs from them is one number per sample and expert: the log-likelihood
:math:`a_{ij} = \log P_j(x_i)` in nats. From that matrix ``fit`` finds

* the **constant gate**: mixture weights :math:`w^*` minimizing the worst case over
  :math:`\Lambda` of the per-domain losses :math:`f_k(w) = \mathbb{E}_{x \sim D_k}[-\log
  \sum_j w_j P_j(x)]`, with a certificate (an upper and a lower bound on the optimal value);
* a **contextual gate** :math:`g(x) = \mathrm{softmax}(W\phi(x))`, trained by the stochastic
  primal-dual method, which may pick different experts for different inputs.

This is what ``robust-gates fit FILE`` does with a file holding the same keys; here we call the
library directly on the synthetic input that ``robust-gates fit --example`` ships: three
domains of 40-token documents ("code", "prose", "math"), three experts, each a noisy
specialist of one domain.
"""

import textwrap

import numpy as np

from robust_gates.figures import fig_fit
from robust_gates.simulations.fit import fit
from robust_gates.simulations.fit_data import example_data, fit_data_from_dict
from robust_gates.simulations.primal_dual import PrimalDualConfig

raw = example_data(seed=0, per_domain=150)
for key, value in raw.items():
    print(f"{key:12s} shape {np.shape(value)}")

# %%
# ``loglik`` is the ``N x J`` matrix and ``domain`` the label of each row; the optional keys
# are a ``split`` (train, valid, test), the token count of each document (``tokens``) and
# ``features`` for the contextual gate (here the document's token frequencies). Your own
# experts go into a dict with the same keys. :func:`~robust_gates.simulations.fit_data.fit_data_from_dict`
# checks it (shapes, finite values, labels) and, without ``Lambda``, lets the adversary pick
# any mixture of the domains (the simplex).

data = fit_data_from_dict(raw, seed=0)
print(data.N, "samples,", data.J, "experts,", data.K, "domains; Lambda:", data.Lambda)

# %%
# Fit both gates. The contextual gate gets a short schedule (a few hundred rounds of
# minibatches) so that this page builds in seconds; the command line runs 1500 rounds.

res = fit(data, gate="softmax", seed=0, bootstrap=100,
          config=PrimalDualConfig(rounds=400, batch=32, lr=0.05, records=10))
c = res.constant
print(f"constant gate: status {c.status}, certificate gap {c.gap:.1e}")
print(f"  worst case {c.value:.5f}, lower bound {c.lower_bound:.5f} (nats per document)")
for name, w in zip(data.expert_names, c.weights, strict=True):
    print(f"  weight of expert {name:5s} = {w:.4f}")
for name, lam, loss in zip(data.domain_names, c.lam, c.losses, strict=True):
    print(f"  domain {name:5s}: lam* = {lam:.4f}, train loss = {loss:.5f}")

# %%
# The certificate says the weights are optimal on the train split to within ``gap`` nats:
# no other constant gate has a worst case below ``lower_bound``. The losses of the domains
# that ``lam*`` weighs are equal (the equalizer property); a domain with zero weight has no
# larger loss.
#
# Here :math:`w^* \approx \lambda^*`. A 40-token document is, almost surely, far more likely
# under its own domain's specialist than under the others, so the derivative of the
# :math:`\lambda^*`-weighted loss in :math:`w_j` is about :math:`-\lambda^*_j / w_j`, and the
# optimality condition (equal derivatives for every expert in use) gives :math:`w^*_j \approx
# \lambda^*_j`. With short or ambiguous samples the
# two part ways.
#
# The held-out split tells how the gates and the baselines generalize. The contextual gate's
# row is an upper bound on its loss: with features computed from the scored document itself
# its mixture need not sum to one, and the bound adds :math:`\log J` for that (see
# :mod:`robust_gates.simulations.fit`).

held = res.table[(res.table.split == res.summary["heldout_split"])
                 & res.table.domain.isin(["worst_case", "average"])]
print(held.pivot(index="method", columns="domain", values="loss").round(4))
print("recommendation:", res.recommendation)
print(textwrap.fill(res.reason, 76))

# %%
# The figure of ``robust-gates fit``: each method's worst case against its average on the
# held-out split (left; on the dotted diagonal the worst mixture costs no more than the
# average one) and its loss on every domain (right).

fig = fig_fit.plot(res.table)
