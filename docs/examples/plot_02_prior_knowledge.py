r"""
Prior knowledge: the value against the size of Lambda
=====================================================

The less the adversary may choose, the smaller the robust value: for nested sets
:math:`\Lambda \subseteq \Lambda'`, :math:`V(\Lambda) \le V(\Lambda')` (SPEC T2, paper
section 4.3). With perfect experts the drop from the whole simplex is at least how far
:math:`\Lambda` stays from the least-favorable mixture :math:`\lambda^*` (SPEC T3):

.. math:: V(\Delta) - V(\Lambda) \;\ge\; \min_{\lambda \in \Lambda}
          \mathrm{KL}(D_\lambda \,\|\, D_{\lambda^*}).

We grow a box of half-width ``h`` around a guess ``c`` of the test mixture, from a single
point (``h = 0``) to the whole simplex, and draw both sides.
"""

import matplotlib.pyplot as plt
import numpy as np

from robust_gates.theory import Box, RobustProblem, min_kl_over_lambda, solve

rng = np.random.default_rng(3)
D = rng.dirichlet(np.full(30, 0.4), size=3)  # perfect experts: P = D
full = solve(RobustProblem(D), solver="fast")
centre = np.array([0.7, 0.2, 0.1])  # the guess, far from lam*
print(f"V(simplex) = {full.value:.4f} nats at lam* = {np.round(full.lam, 3)}")

# %%
# One certified solve per box, and the exact right-hand side of T3 (a small convex program):

widths = np.linspace(0.0, 0.9, 19)
values, bounds = [], []
for h in widths:
    box = Box(np.clip(centre - h, 0, 1), np.clip(centre + h, 0, 1))
    values.append(solve(RobustProblem(D, Lambda=box), solver="fast").value)
    bounds.append(full.value - min_kl_over_lambda(D, full.lam @ D, box).value)
values, bounds = np.array(values), np.array(bounds)
assert np.all(np.diff(values) >= -1e-9)  # T2: a larger box never has a smaller value
assert np.all(values <= bounds + 1e-7)  # T3

# %%
# The simplex's :math:`\lambda^*` has no zero weight here, and then T3 holds with equality:
# every box's value lies on the bound, to within the solvers' tolerances.

print(f"largest |V(Lambda) - bound| = {np.max(np.abs(values - bounds)):.1e} nats")

# %%
fig, ax = plt.subplots(figsize=(7, 3.8))
ax.axhline(full.value, color="black", lw=1, label=r"$V(\Delta)$: no prior knowledge")
ax.plot(widths, bounds, color="#dd8452", lw=3, alpha=0.7,
        label="T3 bound")
ax.plot(widths, values, "o", color="#4c72b0", ms=5,
        label=r"$V(\Lambda)$, box of half-width $h$")
reach = widths[np.argmax(np.isclose(values, full.value, atol=1e-6))]
ax.axvline(reach, color="0.6", lw=0.8, ls="--")
ax.annotate(r"the box contains $\lambda^*$", (reach, values[0]), xytext=(6, 0),
            textcoords="offset points", color="0.35", fontsize=8)
ax.set(xlabel="half-width h of the box around c = (0.7, 0.2, 0.1)",
       ylabel="value [nats]",
       title="knowing more about the mixture lowers the robust value")
ax.legend(fontsize=8, loc="center right")
fig.tight_layout()
plt.show()

# %%
# From a single point (``h = 0``, the mixture is known) the value grows with the box until
# the box contains :math:`\lambda^*`; from then on knowing the box is worth nothing and
# :math:`V(\Lambda) = V(\Delta)`.
