"""Our figure (LF): the least-favorable mixture and the equalizer property.

Imperfect experts, ``Lambda`` the simplex, K = 5. At the robust gate every domain with
``lam*_k > 0`` has loss ``KL(D_k || P_g*) = V``, the others at most ``V``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from robust_gates.theory import RobustProblem

from ._common import solve_best
from .registry import FigureSpec, register_figure
from .style import NATS, color, new_figure, styled


def produce(quick: bool = False, seed: int = 0, K: int = 5, n: int = 40) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    D = rng.dirichlet(np.full(n, 0.5), size=K)
    D[-1] = 0.7 * D[0] + 0.3 * D[1]  # a domain inside the others' hull: typically lam*_K = 0
    P = 0.85 * D + 0.15 * rng.dirichlet(np.ones(n), size=K)
    prob = RobustProblem(D, P)
    res = solve_best(prob)
    loss = prob.losses(res.model)
    return pd.DataFrame({"domain": np.arange(1, K + 1), "lam": res.lam, "loss": loss,
                         "value": res.value, "gap": res.gap})


@styled
def plot(df: pd.DataFrame):
    fig, (a1, a2) = new_figure("column", aspect=0.55, ncols=2)
    a1.bar(df.domain, df.lam, color=color("blue"))
    a1.set_xlabel("domain k")
    a1.set_ylabel("lam*_k")
    a1.set_title("least-favorable mixture")
    a2.bar(df.domain, df.loss, color=[color("orange") if v > 1e-6 else color("sky") for v in df.lam])
    a2.axhline(df.value.iloc[0], color="black", lw=0.9, ls="--", label="V")
    a2.set_xlabel("domain k")
    a2.set_ylabel(f"KL(D_k || P_g*) [{NATS}]")
    a2.set_title("equalizer")
    a2.set_ylim(0, 1.25 * max(df.value.iloc[0], df.loss.max()))
    a2.legend(loc="upper right")
    for a in (a1, a2):
        a.set_xticks(df.domain)
    return fig


SPEC = register_figure(FigureSpec(
    id="equalizer", title="Least-favorable mixture and equalizer (LF)",
    caption="Domains with lam*_k > 0 all incur exactly V at the robust gate; the others at most V.",
    data="equalizer.csv", plot=plot, produce=produce, order=120))
