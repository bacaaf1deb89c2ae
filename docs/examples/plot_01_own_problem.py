r"""
Your own problem, solved with a certificate
===========================================

Three domains on eight points, three imperfect experts, and what you know about the test
mixture: each domain makes up between 10% and 60% of it. We write this as a problem file,
load it, solve it exactly and check the answer with a certificate computed independently of
the solver.

The value is

.. math:: V(\Lambda) = \min_{g \in G_1} \max_{\lambda \in \Lambda}
          \sum_k \lambda_k \, \mathrm{KL}(D_k \,\|\, P_g),

and the certificate is the gap between the worst case of the returned gate and the dual value
of the returned mixture :math:`\lambda^*`; it bounds how far both are from optimal.
"""

import json
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from robust_gates.simulations import load_problem
from robust_gates.theory import certify, kl, solve

# %%
# The problem file
# ----------------
# ``D`` holds the domains and ``P`` the experts (one row each, rows sum to 1); ``box_lo`` and
# ``box_hi`` make ``Lambda`` a box. The same keys work in a ``.npz`` file, and
# ``robust-gates solve my_problem.json`` solves it from the command line.

rng = np.random.default_rng(7)
D = rng.dirichlet(np.full(8, 0.6), size=3)
P = 0.7 * D + 0.3 * rng.dirichlet(np.ones(8), size=3)  # each expert is 30% noise
spec = {"D": D.tolist(), "P": P.tolist(), "box_lo": [0.1] * 3, "box_hi": [0.6] * 3,
        "payoff": "kl"}

path = Path(tempfile.mkdtemp()) / "my_problem.json"
path.write_text(json.dumps(spec))
problem = load_problem(path)
print(problem.Lambda)

# %%
# Solve and certify
# -----------------
# ``solve`` raises an error rather than return a number when the solver fails, so a result
# in hand is a certified one. We recompute the certificate anyway.

res = solve(problem, solver="fast", tol=1e-10)
cert = certify(problem, res.gate, res.lam)
print(f"V(Lambda) = {res.value:.6f} nats, lam* = {np.round(res.lam, 4)}")
print(f"certificate: {cert.dual:.9f} <= V <= {cert.primal:.9f} (gap {cert.gap:.1e})")

# %%
# The robust model lies, point by point, between the smallest and the largest expert (the
# gates can reach nothing else). Here :math:`\lambda^*` lies strictly inside the box, so the
# robust model *equalizes*: every domain gets the same loss, the value. (Where the box binds
# :math:`\lambda^*`, a domain may lose more than :math:`V`; what always equals :math:`V` is
# the loss under the worst mixture.)

losses = kl(problem.D, res.model)
fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.8), width_ratios=[1.6, 1])
x = np.arange(1, problem.n + 1)
left.fill_between(x, problem.l, problem.u, step="mid", color="0.85",
                  label="experts' envelope")
for k in range(problem.K):
    left.plot(x, D[k], "o", ms=4, label=f"domain {k + 1}")
left.step(x, res.model, where="mid", color="black", lw=2,
          label="robust model $P_{g^*}$")
left.set(xlabel="point x", ylabel="probability",
         title="robust model inside the envelope")
left.set_ylim(0, 1.5 * max(D.max(), problem.u.max()))  # room for the legend
left.legend(fontsize=8, ncols=3, loc="upper left")
right.bar([f"D{k + 1}" for k in range(problem.K)], losses, color="#4c72b0")
right.axhline(res.value, ls="--", color="black")
for k, (loss, w) in enumerate(zip(losses, res.lam, strict=True)):
    right.text(k, loss / 2, f"$\\lambda^*_{k + 1}$\n{w:.2f}", ha="center", va="center",
               color="white", fontsize=9)
right.set(ylabel="KL(D_k || robust model) [nats]",
          title=f"each domain's loss (V = {res.value:.3f})")
fig.tight_layout()
plt.show()

# %%
# The weighted loss of the worst mixture equals the value (up to the certificate gap):

print(f"lam* . losses = {res.lam @ losses:.6f}, value = {res.value:.6f}")
