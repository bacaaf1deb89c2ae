r"""
Checking your own claim
=======================

The statement checks of the suite are plugins: a claim is a function from a random instance
to a :class:`~robust_gates.simulations.statements.registry.CheckResult`, registered under an id
with the ``statement`` decorator. Registered, it runs through the same random families (and
the same adversarial search) as the paper's statements.

Our claim: *the robust value never exceeds the worst expert error plus* :math:`\log K`,

.. math:: V(\Lambda) \;\le\; \max_k \varepsilon_k + \log K,

with :math:`\varepsilon_k = \mathrm{KL}(D_k \| P_k)`. It holds because the uniform constant
gate gives the model :math:`\bar P = \frac1K \sum_j P_j \ge P_k / K`, so
:math:`\mathrm{KL}(D_k \| \bar P) \le \varepsilon_k + \log K` for every domain. A second
claim, without the :math:`\log K`, is false, and shows what a failure looks like.
"""

import matplotlib.pyplot as plt
import numpy as np

from robust_gates.simulations.checks import run_checks, summarize
from robust_gates.simulations.statements import (
    Part,
    certified_solve,
    combine,
    fp_tol,
    statement,
    unregister_statement,
)


@statement("MINE", section="user claim", text="V(Lambda) <= max_k eps_k + log K",
           families=("dirichlet", "box"))
def check_mine(instance):
    problem = instance.problem
    res = certified_solve(problem)
    bound = float(np.max(problem.expert_errors) + np.log(problem.K))
    # the solver's value is an upper bound on V within its certificate gap
    return combine([Part("value <= max eps + log K", res.value, bound, "<=",
                         res.gap + fp_tol(res.value, bound))], gap=res.gap)


@statement("WRONG", section="user claim", text="V(Lambda) <= max_k eps_k (false)",
           families=("dirichlet", "box"))
def check_wrong(instance):
    problem = instance.problem
    res = certified_solve(problem)
    bound = float(np.max(problem.expert_errors))
    return combine([Part("value <= max eps", res.value - res.gap, bound, "<=",
                         fp_tol(res.value, bound))], gap=res.gap)


# %%
# Run both on 40 random instances (the ``check`` command does the same with
# ``robust-gates check --plugin my_claims.py --statement MINE WRONG``):

rows = run_checks(["MINE", "WRONG"], instances=40, seed=0, progress=False)
summary = summarize(rows)[["id", "instances", "passed", "failed", "worst_slack"]]
print(summary.to_string(index=False))

# %%
# The slack is ``rhs - lhs`` plus the tolerance: non-negative where the claim holds.

fig, ax = plt.subplots(figsize=(7, 3.4))
for sid, colour in (("MINE", "#4c72b0"), ("WRONG", "#c44e52")):
    s = rows[rows.id == sid]
    ax.plot(np.arange(len(s)), s.slack, "o", color=colour, ms=4, label=sid)
ax.axhline(0, color="black", lw=1)
ax.set(xlabel="random instance", ylabel="slack [nats]",
       title="a claim holds where its slack is >= 0")
ax.legend(fontsize=8)
fig.tight_layout()
plt.show()

# %%
# Registered claims stay in the registry for the rest of the session; remove them when done.

unregister_statement("MINE")
unregister_statement("WRONG")
