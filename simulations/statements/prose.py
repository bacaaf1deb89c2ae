# ruff: noqa: E501  (Markdown tables and display formulas cannot be wrapped)
r"""The hand-written part of the statement document (``docs/statements.md``).

:mod:`.document` writes the document from the registry (ids, paper sections, one-line statements,
mutants), a recorded sweep (status, counts) and the shipped counterexample files, around the
prose kept here: for every statement id its title and a Markdown body in this project's own words
(the precise statement, a proof sketch or reference, what the check computes, whether it can fail),
and the document's opening sections. Math is MyST/GitHub ``$...$``. Edit here, then regenerate
(``python -m robust_gates.simulations.statements.document``); a test keeps the shipped document equal
to the generator's output.
"""

from __future__ import annotations

__all__ = ["TITLES", "BODIES", "SHORT", "INTRO", "NOTATION", "DECIDING", "CAN_FAIL", "FORMULAS", "GLOSSARY"]

INTRO = r"""Cortes, Mohri and Zhong, *A Theoretical Framework for Modular Learning of Robust Generative
Models* (arXiv 2602.17554, 2026) is the paper this project studies. We had its abstract, its
table of contents, the names of its results and five figure captions, but not its proofs or the
exact wording of its theorems. Every statement below is therefore **our own formalization** of
one section of the paper: a precise claim on finite sample spaces that we believe true, with a
proof sketch, and with a numerical check where one exists. Where a formalization of ours turned
out false, we say so, give the counterexample and keep the false version as a known-false variant
that the tests must refute.

Every statement is registered in `robust_gates.simulations.statements` and run by
`robust-gates check --all`. Each comes with a **kind**:

- **checked**: the check asserts the statement on random, boundary and adversarial instances;
- **measured**: an empirical claim (DH, GB and the learned part of SD); the check reports numbers
  and the direction the claim predicts for each, and is never counted as passed or failed.

Every checked statement also carries **mutants** (see "Can a check fail?" below): strictly
stronger false variants that must be refuted on some instance. Its **status** is read from the
recorded sweep `robust-gates check --all --mutants --instances 200 --seed 0`: *holds* (every
instance passed and at least one mutant was refuted), *refuted* (some instance failed: the
failing instances are counterexamples), *vacuous* (every instance passed but no mutant was
refuted: the instances never came close enough to the edge of the claim to tell it from a
stronger one), *measured*, or *error*. A clause refuted by a counterexample file shipped in
`simulations/counterexamples/` is listed under its statement with the numbers of
`robust-gates check --problem FILE`.
"""

NOTATION = r"""| symbol | meaning |
|---|---|
| $\mathcal X=\{1,\dots,n\}$ | the finite sample space |
| $D_k,\ P_k$ ($k=1..K$) | domain distributions and frozen experts (rows of `D`, `P`) |
| $\Delta_K$, $\lambda$ | the probability simplex and a mixture on it; $D_\lambda=\sum_k\lambda_kD_k$, $P_\lambda=\sum_k\lambda_kP_k$ |
| $\Lambda\subseteq\Delta_K$ | prior knowledge: a non-empty closed convex set of mixtures |
| $g$, $P_g$ | a gate ($g(\cdot,x)\in\Delta_K$ for every $x$) and its model $P_g(x)=\sum_k g_k(x)P_k(x)$ |
| $G_1$ | gates whose model has total mass one |
| $\ell=\min_kP_k,\ u=\max_kP_k$ | pointwise envelope of the experts; $Q=\{q:\ell\le q\le u,\ \sum_x q(x)=1\}$ |
| $\varepsilon_k=\mathrm{KL}(D_k\Vert P_k)$ | expert error; "perfect experts" means $P=D$ |
| $L(g,\lambda)=\sum_k\lambda_k\,\mathrm{KL}(D_k\Vert P_g)$ | the payoff (linear in $\lambda$) |
| $V(\Lambda)=\min_{g\in G_1}\max_{\lambda\in\Lambda}L(g,\lambda)$ | the value of the robust game |
| $\varphi(\lambda)=\min_{g\in G_1}L(g,\lambda)$ | the dual function (concave) |
| $\mathrm{JS}_\lambda(D)=H(D_\lambda)-\sum_k\lambda_kH(D_k)$ | generalized Jensen-Shannon divergence |
| $C(D)=\max_{\lambda\in\Delta_K}\mathrm{JS}_\lambda(D)$ | capacity of the "channel" $k\mapsto D_k$; maximizer $\lambda^\star$ |
| $\delta_Q(\lambda)=\min_{q\in Q}\mathrm{KL}(D_\lambda\Vert q)$ | the experts' shortfall at $\lambda$ |
| $q_\lambda=\mathrm{clip}(tD_\lambda,\ell,u)$ | water-filling best response, $t$ set so that $\sum q_\lambda=1$ ($\nu=1/t$) |

Logs are natural (nats), $0\log0=0$, and $\mathrm{KL}(p\Vert q)=\infty$ when $p(x)>0=q(x)$.
"""

DECIDING = r"""A check computes both sides of each relation of its statement from solves that carry an
optimality certificate: a solve returns a value and a gap with
$\text{value}-\text{gap}\le V(\Lambda)\le\text{value}$. Each relation ("part") gets a tolerance
derived, in the check's docstring, from those gaps plus a rounding floor of $10^{-9}$ relative
to the size of the numbers. A part holds when its **slack** is non-negative (for
$\text{lhs}\le\text{rhs}$: $\text{rhs}-\text{lhs}+\text{tol}$); a check holds when all its parts
do. So a check can only fail if the exact numbers violate the statement, never because a solver
stopped early.

**Three outcomes.** The tolerance of a part is split into a stated **floor** (rounding,
$10^{-9}$ relative, or a resolution the check states, such as a membership tolerance or the
certificate a residual is compared with) and a **certified error bar** (certificate gaps, the
Frank-Wolfe gap of an inner program). With $v$ the computed violation ($\text{lhs}-\text{rhs}$
for $\le$, $|\text{lhs}-\text{rhs}|$ for $=$), the exact violation lies in
$[v-\text{err},\,v+\text{err}_{hi}]$; the part **holds** when $v+\text{err}_{hi}\le\text{floor}$,
is **refuted** when $v-\text{err}>\text{floor}$ (negative slack), and is **inconclusive**
otherwise. A check with an inconclusive part (and none refuted) is run once more with every
solve at 1/100 of the usual tolerance; if it is still undecided it is reported as
*inconclusive*, never as passed or failed, with its interval, and `check` saves the instance
as a problem file under `OUT/instances/inconclusive/`. A check that raises is an **error**:
a bug in the check or a solver, counted apart. Inner programs are bracketed at points of
$\Lambda$: `min_kl_over_lambda` evaluates the conic solution (projected onto $\Lambda$), its
Newton polish on the active face and an optional start point, and keeps the smallest value and
the largest Frank-Wolfe lower bound, so its interval is certified and not a local optimizer's
last iterate.

The slack includes the tolerance: a bound that is attained exactly has slack equal to the
tolerance, about $10^{-9}$, just like a bound that barely holds. That is why the summary's
`worst_slack` column read $10^{-9}$ on every statement. The summary therefore also reports
`tightest_margin`: the smallest, over instances and inequality parts, of
$(\text{rhs}-\text{lhs})/\max(1,|\text{lhs}|,|\text{rhs}|)$ (sign flipped for $\ge$), tolerance
left out. A margin of 0 means an inequality of the statement is attained on some instance (the
check is sharp there); a positive margin is the room that was never used; equalities and
residuals ("this distance is 0") have no margin. `tightest_part` names the relation,
`tightest_family` the instance family.
"""

CAN_FAIL = r"""Several statements are short consequences of the definitions, so their check can fail only if
the code that computes the two sides is wrong; they are still worth running as tests of that
code, but a reader learns little about the paper from "200/200 passed". We mark each statement
**definitional** or **substantive** below. A substantive statement's check could, in principle,
be refuted by an instance; two of our first formalizations (of T3 and LF) were.

**Mutants.** To show that a check can fail, each statement registers false variants next to its
check (`robust_gates.simulations.statements.mutants`), run on the same instances as the
statement. Most are derived from one relation of the check: *tighten* (the bound moved by 1% of
the larger side), *strict* (the bound is never attained), *equality* (the bound is always
attained: for a statement with an equality case, the equality moved off its condition) and
*reverse* (the inequality turned around). Others are written out: the refuted v1 clauses of T3
and LF, "every column-stochastic gate is normalized", "every model in $Q$ is a fixed mixture of
the experts", "the robust gate equalizes the loss on all of $\Lambda$", "$\varphi=\mathrm{JS}$".
A mutant that no instance refutes would mark its statement *vacuous as checked*. Each
statement's section below lists its mutants, with how often the recorded sweep refuted each.

**Boundary families.** The first instance families floor every probability at $10^{-6}$. The
boundary families (`robust_gates.simulations.instances.BOUNDARY_FAMILIES`) reach the edges:
exact zeros in domains and experts (including an expert that misses a point of its own domain
covered by another expert, so $\varepsilon_k=\infty$ while $V$ is finite), under-covering
experts ($\sum_Su+\sum_{\notin S}\ell<1$), domains that are mixtures of the others (often the
capacity output $D_{\lambda^\star}$) or duplicates, $\Lambda$ a point, a segment or a vertex,
boxes on a face or at a vertex of the simplex, entries near $10^{-300}$ and $K$ up to 16. Every
statement draws from them. Comparisons follow the extended reals: a bound by $+\infty$ holds.

**Random and adversarial search.** The sweep (`check --all`) cycles each statement through all
of its families, v1 and boundary. The adversarial search (`check --adversarial`,
`robust_gates.simulations.adversarial`) starts from instances of the boundary families by
default and moves them with Nelder-Mead in a space that keeps every exact zero and every
$10^{-300}$ entry; `--adv-starts random` gives the first search, over a parameter space that
floors every probability at $10^{-6}$. Both reach the refuted v1 clauses of T3 and LF on their
own (numbers in the sections of T3 and LF below); the floored search does not.

**Problem files.** `robust-gates check --problem FILE [--statement IDS]` runs every applicable
statement and its mutants on one problem file and prints each relation's numbers. The two
counterexamples below ship as `simulations/counterexamples/t3_v1_strictness.json` and
`simulations/counterexamples/lf_v1_uniqueness.json` (also accepted by `robust-gates solve`).
"""

#: one line per statement for the README's table (the full statement is in the document)
SHORT = {
    "L0": "`G_1` is non-empty, convex, compact; constant gates belong to it; envelope fact",
    "P1": "`min_g KL(D_lam‖P_g) ≤ KL(D_lam‖P_lam) ≤ Σ lam_k eps_k`",
    "T1": "a saddle point exists for the linearized payoff `L` (and for cross-entropy)",
    "T1-M": "no saddle point for `KL(D_lam‖P_g)`: `min max = C(D) > 0 = max min`",
    "T2": "a smaller `Λ` never has a larger value",
    "T3": "perfect experts: `V(Δ) − V(Λ) ≥ min_Λ KL(D_lam‖D_lam*)`, equality if `lam*` has full support; "
          "strict iff `Λ` holds no maximizer of `phi`",
    "T3-G": "the same improvement with imperfect experts, `≥ min_Λ [KL(D_lam‖q') − delta_Q]`",
    "LF": "least-favorable set, equalizer, capacity prior; robust models agree on `supp D_lam*`, unique "
          "only under a mass condition",
    "I2": "`phi = JS + delta_Q`, `0 ≤ delta_Q ≤ KL(D_lam‖P_lam) ≤ Σ lam_k eps_k`, posterior identity",
    "MB": "every single model pays at least `max_Λ JS`; the aggregate pays at least `C(D)`",
    "MA": "`V(Λ) ≤ max_Λ JS + max_Λ Σ lam_k eps_k` (the JSD-characterized advantage)",
    "PoM": "`delta_Q(lamJ) ≤ V(Λ) − max_Λ JS ≤ max_Λ delta_Q`: the price of modularity",
    "JG": "on Markov-chain sequences the Bayes router's loss stays under `H(lam) + Σ lam_k eps_k`, the "
          "token-level mixture's grows linearly in `T`",
    "SC": "aggregate `KL(D_k‖D_lam0) ≤ log 1/lam0_k`, `C(D) ≤ log K`, gated never worse than a fixed mixture",
    "DH": "decoupling hypothesis: monolithic per-domain gradients conflict (empirical)",
    "GB": "generalization: excess `~ M^(-1/2)`, bound coverage, modular vs monolithic with few samples",
    "GB2": "a bound in the gate's complexity (`2BR sqrt(K s/M)`), free of `n` for the uniform deviation",
    "SD": "structural distillation: the constant-gate causal router equals the sequence mixture; learned router",
}

#: section title of each statement in the document
TITLES = {
    'L0': 'the normalized gates and the envelope',
    'P1': 'fixed-mixture guarantee',
    'T1': 'robust existence',
    'T1-M': 'no saddle point for the mixture payoff',
    'T2': 'dominance of the specialized solution',
    'T3': 'quantitative improvement in game value, perfect experts',
    'T3-G': 'improvement with imperfect experts',
    'I2': 'decomposition of the dual function',
    'LF': 'the least-favorable mixture and the robust models',
    'MB': 'monolithic barrier',
    'MA': 'modular advantage',
    'PoM': 'price of modularity',
    'JG': 'the JSD gap on sequences',
    'SC': 'safety in convex settings',
    'DH': 'decoupling hypothesis',
    'GB': 'generalization and sample efficiency',
    'GB2': "a generalization bound in the gate's complexity",
    'SD': 'structural distillation',
}

#: the hand-written body of each statement (statement, proof sketch, what is computed, can it fail)
BODIES = {
    'L0': r"""**Statement.** $G_1$ is non-empty, convex and compact, contains every constant gate
$g(\cdot,x)=w$, and $\{P_g:g\in G_1\}=Q$.

**Proof sketch.** Mass is linear in $g$, so $G_1$ is a slice of a product of simplices by one
hyperplane: convex and compact. A constant gate gives $P_w=\sum_kw_kP_k$, of mass one. Every
$P_g$ lies pointwise between $\ell$ and $u$; conversely any $q\in Q$ is realized at each $x$ by
mixing the pointwise-min and pointwise-max experts.

**What is computed.** The largest membership residual over constant gates, random gates in
$G_1$, their convex combinations, the models of random gates (in $Q$?), gates rebuilt from random
$q\in Q$ ($P_g=q$?) and the solver's robust gate; tolerance $10^{-9}$.

**Can fail?** Definitional: only through a bug in the gate or water-filling code. Residual
parts only, so `tightest_margin` is empty.
""",
    'P1': r"""**Statement.** For every $\lambda\in\Delta_K$:
$\min_{g\in G_1}\mathrm{KL}(D_\lambda\Vert P_g)\le\mathrm{KL}(D_\lambda\Vert P_\lambda)\le\sum_k\lambda_k\varepsilon_k$.

**Proof sketch.** The first inequality: the constant gate $\lambda$ has model $P_\lambda$. The
second: joint convexity of KL.

**What is computed.** At random mixtures, the vertices and the solver's $\lambda^\star$: the
water-filled minimum (with its Frank-Wolfe gap as tolerance), the middle term and the bound.

**Can fail?** Definitional (both steps are one line); the middle inequality is attained at the
vertices with perfect experts.
""",
    'T1': r"""**Statement T1.** With payoff $L$, or with the cross-entropy payoff $L+\sum_k\lambda_kH(D_k)$, a
saddle point exists:
$\min_{g\in G_1}\max_{\lambda\in\Lambda}L=\max_{\lambda\in\Lambda}\min_{g\in G_1}L=V(\Lambda)$.

**Proof sketch.** $L$ is convex in $P_g$ (hence in $g$, since $P_g$ is linear in $g$) and linear
in $\lambda$; $G_1$ and $\Lambda$ are convex and compact: Sion's minimax theorem.

**What is computed.** The certificate of the solver's pair for both payoffs, recomputed
independently, and the two saddle inequalities at probe mixtures and probe gates.

**Can fail?** Definitional on a finite game (Sion); its check tests the solvers and the
certificate.
""",
    'T1-M': r"""**Statement (contrast to T1).** With $M(g,\lambda)=\mathrm{KL}(D_\lambda\Vert P_g)$, perfect
experts, $\Lambda=\Delta_K$ and domains not all equal, there is no saddle point:
$\min_g\max_\lambda M=C(D)>0=\max_\lambda\min_gM$.

**Proof sketch.** $M$ is convex in $\lambda$, so its maximum over the simplex sits at a vertex:
$\min_g\max_k\mathrm{KL}(D_k\Vert P_g)=C(D)$ (the minimax redundancy, equal to capacity). For
each $\lambda$ the constant gate $\lambda$ gives $P_g=D_\lambda$, so $\min_gM=0$.

**What is computed.** The water-filled $\min_gM$ at probes, the certified lower bound of $C(D)$,
and an independent lower bound $C(D)\ge\mathrm{JS}_{1/2,1/2}(D_j,D_k)$ for the most distant pair.

**Can fail?** A genuine contrast: the strict inequality is checked with a margin.
""",
    'T2': r"""**Statement.** If $\Lambda\subseteq\Lambda'$ then $V(\Lambda)\le V(\Lambda')$, and the gate
robust for $\Lambda$ is, on $\Lambda$, at least as good as the gate robust for $\Lambda'$.

**Proof sketch.** A maximum over a subset is at most the maximum over the set; the robust gate
for $\Lambda$ minimizes the worst case over $\Lambda$.

**Can fail?** Definitional. The test suite keeps a planted false claim (T2 reversed) that the
random and the adversarial searches must refute.
""",
    'T3': r"""**Statement (v2).** Let $P=D$. Then $V(\Delta_K)=C(D)$ and, for every $\Lambda$,
$$V(\Delta_K)-V(\Lambda)\ \ge\ \min_{\lambda\in\Lambda}\mathrm{KL}(D_\lambda\Vert D_{\lambda^\star}),$$
with equality when $\lambda^\star$ has full support. Moreover the improvement equals
$C(D)-\max_{\lambda\in\Lambda}\varphi(\lambda)$, so it is **strictly positive if and only if
$\Lambda$ contains no maximizer of $\varphi$ over $\Delta_K$** (more generally, for
$\Lambda\subseteq\Lambda'$: $V(\Lambda)<V(\Lambda')$ iff $\Lambda$ contains no maximizer of
$\varphi$ over $\Lambda'$).

**Proof sketch.** With perfect experts $\varphi(\lambda)=\mathrm{JS}_\lambda(D)$ (the best
model for $\lambda$ is $D_\lambda$ itself), so $V(\Lambda)=\max_\Lambda\mathrm{JS}$ by T1. The
identity I1 with $r=D_{\lambda^\star}$ gives, for every $\lambda$,
$$C-\mathrm{JS}_\lambda=\mathrm{KL}(D_\lambda\Vert r)+\sum_k\lambda_k\bigl(C-\mathrm{KL}(D_k\Vert r)\bigr),$$
and the capacity conditions say $\mathrm{KL}(D_k\Vert r)\le C$ for all $k$, with equality on the
support of $\lambda^\star$. Both terms are therefore non-negative ("output term" and "support
term"); dropping the second gives the bound, and when $\lambda^\star$ has full support the
second term vanishes, giving equality. Compactness of $\Lambda$ and continuity of $\varphi$
give the "iff".

**Refuted v1 clause.** Our first version said the improvement is strict iff no $D_\lambda$,
$\lambda\in\Lambda$, equals $D_{\lambda^\star}$. That only looks at the output term and is
**false**: take $D=\begin{pmatrix}1&0\\0&1\\.5&.5\end{pmatrix}$ and $\Lambda=\{e_3\}$. Then
$\lambda^\star=(\tfrac12,\tfrac12,0)$, $D_{e_3}=(\tfrac12,\tfrac12)=D_{\lambda^\star}$, yet
$V(\Delta_3)=\log2$ and $V(\{e_3\})=\mathrm{JS}_{e_3}=0$: the improvement is
$\log2\approx0.6931$, all of it in the support term (verified numerically by the suite: output
term 0, support term 0.693147, the v2 check holds and the v1 clause fails with slack $-0.6931$).

**What is computed.** The certified improvement $V(\Delta_K)-V(\Lambda)$ (both solves), the
minimum of $\mathrm{KL}(D_\lambda\Vert D_{\hat\lambda})$ over $\Lambda$ with its Frank-Wolfe gap,
the certificate of the constant gate $\hat\lambda$ (which bounds how far the computed
$\hat\lambda$ is from a capacity-achieving prior), and $\mathrm{JS}$ at the solver's
maximizer over $\Lambda$. Parts: the bound; the equality when $\min_k\hat\lambda_k>10^{-3}$; the
v2 clause as "improvement $=C-\max_\Lambda\mathrm{JS}$" (tolerance: the certificate of
$\Lambda$'s solve); and the I1 split at that maximizer (an identity, tolerance $10^{-9}$), whose
two terms are reported in the check's details.

**Can fail?** Substantive: the bound and its equality case are real claims about the capacity
prior. The v1 clause was refuted, mostly on the boundary family `perfect_dependent`, and also on
instances of the floored families with $n<K$, where the domains are linearly dependent and some
$D_\lambda$ with $\lambda\ne\lambda^\star$ equals $D_{\lambda^\star}$ (the mutant table below
counts them). The
tolerance includes the measured error of the min-KL program's minimizer, which lies in
$\Lambda$ only up to the membership tolerance; on the boundary of the simplex that moves the
value by about $10^{-8}$ (found by the `perfect_lowdim` family). The refuted v1 clause is kept as
`t3_v1_clause` and `tests/test_statements.py` asserts that it fails on the counterexample while
the v2 check holds.
""",
    'T3-G': r"""**Statement.** For $\Lambda\subseteq\Lambda'$ and any model $q'$ robust for $\Lambda'$:
$$V(\Lambda')-V(\Lambda)\ \ge\ \min_{\lambda\in\Lambda}\bigl[\mathrm{KL}(D_\lambda\Vert q')-\delta_Q(\lambda)\bigr]\ \ge0,$$
with equality when $L(q',\cdot)$ is constant on $\Lambda$ (for instance $\Lambda'=\Delta_K$ and a
least-favorable mixture of full support, by the equalizer property). Perfect experts give T3
($\delta_Q=0$, $q'=D_{\lambda^\star}$).

**Proof sketch.** For $\lambda\in\Lambda$, $V(\Lambda')\ge L(q',\lambda)=\mathrm{JS}_\lambda+\mathrm{KL}(D_\lambda\Vert q')$
(I1), while $V(\Lambda)=\max_\Lambda\varphi=\max_\Lambda(\mathrm{JS}_\lambda+\delta_Q(\lambda))$
(I2). Subtract at the maximizer of the latter.

**What is computed.** $\Lambda'$ is the outer set of a nested pair, otherwise the simplex. The
check verifies the stronger pointwise form the proof gives, at the computed maximizer
$\lambda_\Lambda$ of $\varphi$ over $\Lambda$: improvement $\ge h(\lambda_\Lambda)$ with
$h(\lambda)=\mathrm{KL}(D_\lambda\Vert q')-\delta_Q(\lambda)$ (tolerance $\text{gap}'+2\,\text{gap}_\Lambda$);
$h\ge0$ at probes; and, when $\Lambda'=\Delta_K$ and the least-favorable mixture has full
support (all coordinates above $10^{-3}$), equality within $\text{gap}'/\min_k\lambda'_k$ plus
the gaps (module `robust_gates.simulations.statements.decomposition`).

**Can fail?** Substantive. Its mutants (below) make the equality hold for every pair, make the
inequality strict (refuted where the equality case is reached) and tighten the bound by 1%.
""",
    'I2': r"""**Statement.** $\varphi(\lambda)=\mathrm{JS}_\lambda(D)+\delta_Q(\lambda)$ and
$0\le\delta_Q(\lambda)\le\mathrm{KL}(D_\lambda\Vert P_\lambda)\le\sum_k\lambda_k\varepsilon_k$,
with the exact gap
$$\sum_k\lambda_k\varepsilon_k-\mathrm{KL}(D_\lambda\Vert P_\lambda)=\mathbb E_{x\sim D_\lambda}\,\mathrm{KL}\bigl(\pi_D(\cdot\mid x)\Vert\pi_P(\cdot\mid x)\bigr),$$
where $\pi_D(k\mid x)=\lambda_kD_k(x)/D_\lambda(x)$ and $\pi_P(k\mid x)=\lambda_kP_k(x)/P_\lambda(x)$.

**Proof sketch.** I1 ($\sum_k\lambda_k\mathrm{KL}(D_k\Vert q)=\mathrm{KL}(D_\lambda\Vert q)+\mathrm{JS}_\lambda$)
minimized over $q\in Q$; $P_\lambda\in Q$; the chain rule of KL on the joint law of $(k,x)$.

**What is computed.** At probe mixtures, the vertices and $\lambda^\star$: $\varphi$ as
$\sum_k\lambda_k\mathrm{KL}(D_k\Vert q_\lambda)$, JS from entropies and
$\delta_Q=\mathrm{KL}(D_\lambda\Vert q_\lambda)$ (three independent sums, with the Frank-Wolfe
gap of $q_\lambda$), the bracket, and the posterior identity summed in log space (entries near
$10^{-300}$ underflow a ratio of products; the `tiny` family found this); skipped where
$\sum_k\lambda_k\varepsilon_k=\infty$.

**Can fail?** The identity is definitional given I1; the bracket's links are attained (margin
0). Mutants: $\delta_Q>0$ always, $\delta_Q<\mathrm{KL}(D_\lambda\Vert P_\lambda)$ always,
convexity tightened by 1%, and $\varphi=\mathrm{JS}$.
""",
    'LF': r"""**Statement (v2).**
1. The least-favorable set $\Lambda^\star=\arg\max_\Lambda\varphi$ is non-empty, convex and
   compact; it need not be a single point.
2. Equalizer: for $\Lambda=\Delta_K$, $\mathrm{KL}(D_k\Vert P_{g^\star})=V$ for every $k$ in the
   support of some $\lambda^\star$, and $\le V$ for the others.
3. With perfect experts every $\lambda^\star$ is a capacity-achieving prior and the constant gate
   $\lambda^\star$ is robust.
4. Structure of the robust models: every robust model coincides with the water-filling
   response $q_{\lambda^\star}$ on $\operatorname{supp}D_{\lambda^\star}$ (for every
   $\lambda^\star\in\Lambda^\star$; with $\lambda^\circ$ in the relative interior of
   $\Lambda^\star$ the support $S=\operatorname{supp}D_{\lambda^\circ}$ is the largest). The
   robust models are exactly $\{q\in Q:q=q_{\lambda^\circ}\text{ on }S,\ \max_\Lambda L(q,\cdot)\le V\}$.
   This set is a single point when $\sum_{x\in S}u(x)+\sum_{x\notin S}\ell(x)\ge1$ (then
   $q=\ell$ off $S$), and is in general a continuum otherwise.

**Proof sketch.** (1) $\varphi$ is concave and continuous on a compact convex set. (2) and (3)
are the complementary slackness of the saddle point. (4) At a saddle point the robust $q$
minimizes $L(\cdot,\lambda^\star)$ over $Q$; that function is
$\mathrm{KL}(D_{\lambda^\star}\Vert q)$ plus a constant, strictly convex in the coordinates of
$\operatorname{supp}D_{\lambda^\star}$ and flat elsewhere, so all minimizers agree there. When
$\nu>0$ the water-filling leaves no free mass, which forces $q=\ell$ off the support.

**Refuted v1 clause.** Our first version said the robust model is unique "wherever some
$D_k>0$". **False:** with
$D=\begin{pmatrix}1&0&0&0\\0&1&0&0\\.9&0&.05&.05\end{pmatrix}$,
$P=\begin{pmatrix}.3&0&.7&0\\0&.3&0&.7\\.3&0&.7&0\end{pmatrix}$ and $\Lambda=\Delta_3$:
$\ell=0$, $u=(.3,.3,.7,.7)$, $\varphi(a,1-a,0)=\log(1/.3)\approx1.20397=V$ for every
$a\in[0,1]$ (so $\Lambda^\star$ is a segment), $S=\{1,2\}$, $\sum_Su+\sum_{\notin S}\ell=0.6<1$
(free mass 0.4), and both $(.3,.3,.2,.2)$ and $(.3,.3,.3,.1)$ have worst case exactly
$\log(1/.3)$: two robust models that differ where $D_3>0$. (Verified numerically by the suite:
$\varphi(a,1-a,0)=1.2039728043$ at $a=0,\ .25,\ .5,\ 1$; both models' worst cases equal $V$ to
$10^{-12}$; the v2 check holds on this instance and records a mass shift of 0.1 off the support
that keeps a model robust; the v1 clause fails.)

**What is computed.** $\varphi$ at probe mixtures against the certified value; with perfect
experts JS at probes and the certificate of the constant gate $\hat\lambda$; on the simplex the
equalizer (each loss on the support within $\text{gap}/\hat\lambda_k$ of the value); the
Bregman divergence of $L(\cdot,\hat\lambda)$ between the solver's model and $q_{\hat\lambda}$ on
$\operatorname{supp}D_{\hat\lambda}$ ($\le$ gap); and, when $\nu>0$, the mass the solver's model
puts above $\ell$ off that support, which must be at most $t\cdot\text{gap}$: for any $q\in Q$
the first-order term of $L(\cdot,\hat\lambda)$ at $q_{\hat\lambda}$ is at least $\nu$ times that
mass. When $\nu=0$ no uniqueness is claimed; the check records the free mass and a witness of
non-uniqueness when it finds one.

**Can fail?** Substantive (the structure clause and the equalizer are real claims); the
convexity of $\Lambda^\star$ is not checked separately. The refuted
v1 clause is kept as `lf_v1_clause`; `tests/test_statements.py` asserts it fails on the
counterexample while the v2 check holds.
""",
    'MB': r"""**Statement.** Every single model $q$ has
$\max_\Lambda L(q,\cdot)\ge\max_\Lambda\mathrm{JS}_\lambda(D)$. The model retrained on the
aggregate with weights $\lambda_0$, over all distributions, is $D_{\lambda_0}$, and
$\max_k\mathrm{KL}(D_k\Vert D_{\lambda_0})\ge C(D)$, with equality iff
$D_{\lambda_0}=D_{\lambda^\star}$; quantitatively
$\max_k\mathrm{KL}(D_k\Vert D_{\lambda_0})-C\ge\mathrm{KL}(D_{\lambda^\star}\Vert D_{\lambda_0})$.

**Proof sketch.** I1 with $q$: $L(q,\lambda)\ge\mathrm{JS}_\lambda$. For the aggregate, I1 at
$\lambda^\star$ with $q=D_{\lambda_0}$.

**Can fail?** The first part is definitional given I1; the quantitative aggregate bound is a
real (attained at $\lambda_0=\lambda^\star$) inequality.
""",
    'MA': r"""**Statement.** $V(\Lambda)\le\max_\Lambda\mathrm{JS}_\lambda+\max_\Lambda\sum_k\lambda_k\varepsilon_k$;
hence every single model $q$ has
$\max_\Lambda L(q,\cdot)-V(\Lambda)\ge\mathrm{KL}(D_{\lambda_J}\Vert q)-\max_\Lambda\sum_k\lambda_k\varepsilon_k$,
where $\lambda_J$ maximizes JS over $\Lambda$.

**Proof sketch.** P1 and I1; the second inequality is I1 at $\lambda_J$ minus the first.

**Can fail?** Definitional given P1 and I1.
""",
    'PoM': r"""**Statement.** The best unrestricted single model has worst case
$M(\Lambda)=\min_{q\in\Delta_n}\max_\Lambda L(q,\cdot)=\max_\Lambda\mathrm{JS}$, and for every
maximizer $\lambda_J$ of JS over $\Lambda$:
$\delta_Q(\lambda_J)\le V(\Lambda)-M(\Lambda)\le\max_\Lambda\delta_Q\le\max_\Lambda\sum_k\lambda_k\varepsilon_k$.
The modular system matches the best single model up to the experts' shortfall; with perfect
experts the two coincide.

**Proof sketch.** I2 and T1 for both games; $\delta_Q$ is convex in $\lambda$ (a partial minimum
of a jointly convex function), so its maximum over $\Lambda$ sits at a vertex.

**What is computed.** $M(\Lambda)$ is bracketed by the perfect-expert game on $\Lambda$ (its
robust model is a single model with worst case at most its value; I1 bounds every single model
below by $\max_\Lambda\mathrm{JS}$); $\max_\Lambda\delta_Q$ over the vertices of $\Lambda$;
$\max_\Lambda\lambda\cdot\varepsilon$ by a linear program.

**Can fail?** Substantive bracket; with perfect experts it collapses to 0 (margins 0). Mutants:
"modularity always costs something" (strict lower bound), "the price is at least the largest
shortfall" (upper bound reversed) and the last link tightened by 1%.
""",
    'JG': r"""**Statement.** Domains $D_k$ and experts $P_k$ are first-order Markov chains on a vocabulary of
$V$ tokens, seen as distributions on $V^T$; a mixture $\lambda$ is also the constant gate
$w=\lambda$. The sequence-level mixture $P_\lambda=\sum_k\lambda_kP_k$ (what the Bayes router
realizes token by token, see SD) has loss
$R(T)=\sum_k\lambda_k\mathrm{KL}(D_k^{1:T}\Vert P_\lambda^{1:T})=\mathrm{JS}_\lambda(D^{1:T})+\mathrm{KL}(D_\lambda^{1:T}\Vert P_\lambda^{1:T})\le H(\lambda)+\sum_k\lambda_k\varepsilon_k^{1:T}$,
nondecreasing in $T$, and with perfect experts bounded by $H(\lambda)$ for every $T$. The
domain-blind token-level mixture $P_{\text{tok}}(x)=\prod_t\sum_kw_kP_k(x_t\mid x_{<t})$ is itself a
Markov chain (mixed initial law, mixed transition rows), and its loss
$\mathrm{Tok}(T)=\sum_k\lambda_k\mathrm{KL}(D_k^{1:T}\Vert P_{\text{tok}}^{1:T})$ obeys
$|\mathrm{Tok}(T)-\mathrm{Tok}(1)-(T-1)r|\le\mathrm{rem}(T)$ with the rate
$r=\sum_k\lambda_k\sum_s\pi_k(s)\,\mathrm{KL}(D_k(\cdot\mid s)\Vert P_{\text{tok}}(\cdot\mid s))$
($\pi_k$ stationary) and a remainder that is bounded in $T$ when the chains contract, and 0 for
stationary starts: linear growth. The gap between the two models is exactly
$\mathrm{Tok}-R=\mathrm{KL}(D_\lambda\Vert P_{\text{tok}})-\mathrm{KL}(D_\lambda\Vert P_\lambda)$.

**Proof sketch.** The identity is I1 at $q=P_\lambda$; $P_\lambda\ge\lambda_kP_k$ pointwise gives
$\log(D_k/P_\lambda)\le\log(1/\lambda_k)+\log(D_k/P_k)$, whose $D_k$-mean is the bound;
$\mathrm{JS}_\lambda$ is the mutual information between the label and the sequence, at most
$H(\lambda)$ and nondecreasing in $T$ (a longer sequence carries more information), and so is each
KL of marginals (data processing). The token side is the chain rule: the increment at step $t$ is
$\sum_k\lambda_k\mu_{k,t}\cdot f_k$ with $\mu_{k,t}$ the law of $x_t$ under $D_k$ and $f_k(s)$ the
row divergence; Hölder gives $|(\mu_{k,t}-\pi_k)\cdot f_k|\le\mathrm{osc}(f_k)\,\mathrm{TV}(\mu_{k,t},\pi_k)$
and Dobrushin's coefficient $\delta_k$ contracts the total variation geometrically, so
$\mathrm{rem}(T)=\sum_k\lambda_k\mathrm{osc}(f_k)\mathrm{TV}(D_k^{(1)},\pi_k)\sum_{j<T-1}\delta_k^j$.
The gap identity is I1 at $P_{\text{tok}}$ minus I1 at $P_\lambda$.

**What is computed** (`robust_gates.simulations.jsd_gap`, check in
`robust_gates.simulations.statements.sequences`). At the enumerated length $T_0$ ($V^{T_0}\le4096$):
$R$, $\mathrm{JS}$, $\mathrm{KL}(D_\lambda\Vert P_\lambda)$, $\mathrm{Tok}$ and
$\mathrm{KL}(D_\lambda\Vert P_{\text{tok}})$ as sums over $V^t$ in log space, and
$\varepsilon_k^{1:T}$ by the forward recursion over state marginals (no sequence probability is
ever formed, so nothing underflows at $T=1000$). Parts: the identity, the bound, $\mathrm{JS}\le
H(\lambda)$, monotonicity for $t\le T_0$, recursion = enumeration for Tok, the gap identity, and
at $T=1000$ the two sides of the linear law. With perfect experts, $R(1000)$ is estimated by Monte
Carlo (256 sequences) through $R=H(\lambda)-\mathbb E_{x\sim D_\lambda}H(\pi(\cdot\mid x))$, whose
integrand lies in $[0,\log K]$; the upper end of the Hoeffding interval (level $10^{-6}$) must stay
above $R(T_0)$. Tolerances are the rounding floor $10^{-9}$ (relative), derived in the check's
docstring. Families: `markov` (Dirichlet rows, perfect experts, stationary or random start),
`markov_noisy` (experts mixing each domain with noise), `markov_distinct` (nearly deterministic,
different transitions, stationary start), `markov_boundary` (shared transitions that only the
first token tells apart, so $r=0$ and $R$ stops growing; exact zeros with an irreducible cycle;
duplicated domains; $\lambda$ on a face). Known answers in the tests: two i.i.d. domains on
disjoint halves of four tokens give $R(T)=\log2$ and $\mathrm{Tok}(T)=T\log2$ exactly; a flip
chain gives $(T-1)\,\mathrm{kl}(a\Vert b)$.

**Numbers.** The linear law is attained (margin 0 up to rounding) on stationary starts. Example (`markov_distinct`, seed 0, index 0, $K$ domains on $V=3$ tokens,
$T_0=7$): $H(\lambda)=1.169$, $R(7)=0.862$, Monte Carlo $R(1000)\in[0.94,1.40]$ (estimate
1.169), while $\mathrm{Tok}(7)=4.11$ and $\mathrm{Tok}(1000)=602.9$ at rate 0.603 per token.

**Can fail?** Substantive (the bound and the linear law are not one-line consequences of the
code that computes them: enumeration and recursion are independent). Mutants: the router bound
tightened by 1%, the linear law's upper side tightened by 1%, "the router's loss strictly
increases with every token" (refuted by shared transitions), "no JSD gap: the token-level loss is
bounded like the router's at $T=1000$", "the experts' error term is not needed" (refuted by noisy
experts) and "the entropy term is not needed".
""",
    'SC': r"""**Statement.** $\mathrm{KL}(D_k\Vert D_{\lambda_0})\le\log(1/\lambda_{0,k})$; $C(D)\le\log K$;
the robust gated model's worst case is never above that of any fixed mixture of the experts.

**Proof sketch.** $D_{\lambda_0}\ge\lambda_{0,k}D_k$ pointwise; $\mathrm{JS}_\lambda\le H(\lambda)\le\log K$;
fixed mixtures are constant gates, hence in $G_1$.

**Can fail?** Definitional.
""",
    'DH': r"""**Hypothesis, not a theorem.** In monolithic neural training on mixed domains the per-domain
gradients conflict (negative cosine), and the gap to the modular system grows with that
conflict.

**What is measured** (`robust_gates.simulations.statements.measured`, read from the neural runs
shipped in `paper_repro/neural/results/`; `simulations/` may not import `paper_repro/`, so the
tables are read as data). On the synthetic two-domain task of figure 5 (five seeds): the mean
cosine between the two domains' gradients of a monolithic model trained on the fixed mixture
$\lambda=1/2$, and the fraction of training steps where it is negative, for the smaller and the
larger network; for the per-mixture oracle models, the Pearson correlation, over the eleven
mixtures, between the conflict ($-\cos$) and the gap (oracle loss minus robust gate loss). On
real text (`robust-gates repro real`: Python code, English prose, C headers): the smallest
cross-domain gradient cosine of the monolithic models. The numbers are listed below with the
sign the hypothesis predicts; a number on the wrong side is reported, not hidden.
""",
    'GB': r"""**Statement (empirical).** For a parametric gate class (softmax of a linear map of bounded
features) and $m_k$ samples per domain ($M=\sum_km_k$), the empirical robust gate's population
worst case exceeds the class optimum by an excess that shrinks like $M^{-1/2}$, scales with the
gate's complexity, and stays under a stated high-probability bound in at least $1-\delta$ of
trials; with few samples the modular system beats a monolithic model fitted on the same samples.

**Reference.** The bound and its proof sketch (symmetrization over the vertices of $\Lambda$,
McDiarmid, Hoeffding for the comparator) are in the docstring of
`robust_gates.simulations.generalization`; the gate-complexity form is GB2 below.

**What is measured** (`robust_gates.simulations.statements.measured`, once per sweep). One
instance ($K=3$, $n=16$, experts $0.95D+0.05$ noise), total sample sizes $M$ from 30 to 3000, 4
seeds each, the constant gate class and the one-hot class: the log-log slope of the mean excess
in $M$ (the bound's rate is $-1/2$), the fraction of trials under the bound (stated at
$1-\delta=0.9$), and at the smallest $M$ the worst case of the smoothed pooled model and of the
DRO model over all distributions minus that of each modular class. The larger study behind the
`generalization` figure is `robust-gates simulate generalization`.
""",
    'GB2': r"""**Statement.** For $g_W(x)=\mathrm{softmax}(W\phi(x))$ with
$\Vert W\Vert_F\le B$, $\Vert\phi(x)\Vert_2\le R$ and $m_k$ samples of domain $k$ ($M=\sum_km_k$,
$\bar m=m/M$, $s(v\Vert\bar m)=\sum_kv_k^2/\bar m_k$): (a) for any fixed sample, the weighted
empirical Rademacher complexity of the losses $f_W=-\log P_{g_W}$ is at most
$2BR\sqrt{K\,s(v\Vert\bar m)/M}$; (b) for a polytope $\Lambda$ with vertex set $\mathrm{Vert}$ and a
comparator $W_{\text{ref}}$ fixed before sampling, with probability at least $1-\delta/2$, the uniform
deviation $\sup_W\max_{\lambda\in\Lambda}\lambda\cdot(L-\hat L)(f_W-f_{\text{ref}})$ is at most
$\Phi_B=\max_v[4BR\sqrt{Ks_v/M}+2\sqrt2BR\sqrt{2s_v\log(2|\mathrm{Vert}|/\delta)/M}]$; (c) with
probability at least $1-\delta$, every data-dependent gate $\hat W$ satisfies
$F(\hat W)-F(W_{\text{ref}})\le\Phi_B+2\max_vb_{\text{ref}}\sqrt{s_v\log(4|\mathrm{Vert}|/\delta)/(2M)}+[\hat F(\hat W)-\hat F(W_{\text{ref}})]_+$,
where $b_{\text{ref}}$ is the spread of $f_{\text{ref}}$ over the domains' support and the middle
term is 0 when $\Lambda$ is one point.

**Derivation** (written out with every constant in the docstring of
`robust_gates.simulations.gate_bound`). (1) The logit gradient of $f_W$ is $s-\text{post}$, two
points of the simplex, so its norm is at most $\sqrt2$. (2) Maurer's vector contraction (a
factor $\sqrt2$) and Cauchy-Schwarz over the Frobenius ball give (a). (3) The log-likelihood range
of a gate depends on the experts, so the deviation is taken for differences to the comparator:
$|f_W-f_{\text{ref}}|\le\mathrm{osc}_k(z-z')\le\sqrt2R\Vert W-W'\Vert_F\le2\sqrt2BR$, which is
free of the experts. (4) Symmetrization and McDiarmid per vertex; (5) the supremum is convex in
$\lambda$, so its maximum over the polytope is at a vertex: a union bound over the vertices
replaces the $\varepsilon$-cover of the agnostic federated learning bound (Mohri, Sivek and
Suresh, 2019). (6) The excess adds the comparator's own deviation (Hoeffding for one function).

**Where the SPEC form fails.** Step 6: the comparator term carries $b_{\text{ref}}$, which depends
on the experts' log-likelihoods and can grow with $n$. So the *uniform deviation* (b) is free of
$n$ and of the experts' size, but the *excess* bound (c) is free of them only when $\Lambda$ is a
single mixture (or for a comparator with bounded log-likelihood spread). Plugging the loss range
into the agnostic federated learning bound, as the SPEC suggests, puts the same dependence in the
main term. We check (a)-(c) as stated here.

**What is computed.** Families `gate_softmax` ($\Lambda$ the simplex) and `gate_softmax_hull`
($\Lambda$ a hull, a point when it has one generator): Dirichlet domains (concentration 0.03 to
3), experts mixing each domain with noise (positive everywhere), $B$ from 0.3 to 5, one-hot cell
features or centred expert log-likelihoods, $M$ from 40 to 2000. Per instance: a lower estimate of
(a) at the vertex of largest skewness (1500 sign draws at the linearized maximizer, minus a
McDiarmid correction at level $10^{-6}$); 12 trials of (b), at a gate chosen by projected ascent on
the deviation, and of (c), for the empirical robust gate found by projected descent; the failure
counts are compared with the $1-10^{-6}$ quantile of $\mathrm{Binomial}(12,\delta/2)$ and
$\mathrm{Binomial}(12,\delta)$, $\delta=0.1$. The slopes in $M$ and in $n$ are **measured** by
`gb2_measure`, not asserted: $\Phi_B$ decays like $M^{-1/2}$ by construction and is identical for
$n=8$ and $n=800$ (test).

**Numbers.** The lower estimate reaches only a fraction of bound (a) (about 0.16 at most when
this section was written; the tightest margin of the recorded sweep is in the summary table), and
the measured deviation stays far below $\Phi_B$: the contraction bound is loose by a factor of at
least 4 in the linear regime ($\Vert s-\text{post}\Vert\le\sqrt{(K-1)/K}$ at $W=0$). Mutants:
"(a) holds with $1/8$ of its constant" and "the complexity term decays like $1/M$:
$2BR\sqrt K\,s/M$".
Checked: (a) and the coverage of (b) and (c); the $n$-dependence of (c) through $b_{\text{ref}}$
is a documented limitation, not hidden.
""",
    'SD': r"""**Statement.** On sequences, for a constant gate $w$ the causal router
$r_k(x_{<t})\propto w_kP_k(x_{<t})$ reproduces the sequence-level mixture exactly:
$\prod_t\sum_kr_k(x_{<t})P_k(x_t\mid x_{<t})=\sum_kw_kP_k(x)$ for every sequence $x$. For a
general robust gate $g^\star$, a learned causal router's $\mathrm{KL}(P_{g^\star}\Vert P_r)$
decreases with training, at the inference cost of the experts plus a small router.

**Proof sketch (exact part).** $r_k(x_{<t})P_k(x_t\mid x_{<t})=w_kP_k(x_{\le t})/\sum_jw_jP_j(x_{<t})$,
so the sum over $k$ is the ratio of consecutive prefix masses of the mixture and the product
over $t$ telescopes to $\sum_kw_kP_k(x)$. The domain-blind token-level mixture
$\prod_t\sum_kw_kP_k(x_t\mid x_{<t})$ does not telescope: it differs from the mixture as soon as
two experts' conditionals differ (this is the JSD gap of JG).

**What is computed.** Exact part (a check, per instance of the Markov-chain families): the router
composed token by token from the experts' transition rows, in log space, against the mixture of
the whole-sequence laws at the enumerated length $T_0$; the largest log-ratio must be 0 up to
the rounding floor. Its mutant says the token-level mixture reproduces the mixture too. Learned
part (measured once per sweep, `robust_gates.simulations.distillation`): a softmax router on
$[\log P_k(x_{<t}),\text{last token},t]$ trained by L-BFGS on $\mathrm{KL}(P_{g^\star}\Vert P_r)$
for a small system ($V=4$, $T=5$, three Markov domains of orders 0 to 2, fitted experts,
$\Lambda$ a box); its KL at the uniform start, after 10 steps and at the end, against the
Bayes router with $w=\lambda^\star$. The whole study is `robust-gates simulate distillation`.

**Can fail?** The exact part is definitional (a telescoping product) and checks the router code;
the learned part is empirical.
""",
}

#: the main claim of each statement as one LaTeX formula (the report renders it as MathML)
FORMULAS = {
    "L0": r"G_1\neq\emptyset \text{ convex, compact},\quad \{P_g: g\in G_1\}=Q",
    "P1": r"\min_{g\in G_1}\mathrm{KL}(D_\lambda\|P_g)\le\mathrm{KL}(D_\lambda\|P_\lambda)\le\sum_k\lambda_k\varepsilon_k",
    "T1": r"\min_{g\in G_1}\max_{\lambda\in\Lambda}L(g,\lambda)=\max_{\lambda\in\Lambda}\min_{g\in G_1}L(g,\lambda)"
          r"=V(\Lambda)",
    "T1-M": r"\min_{g}\max_{\lambda\in\Delta_K}\mathrm{KL}(D_\lambda\|P_g)=C(D)>0="
            r"\max_{\lambda}\min_{g}\mathrm{KL}(D_\lambda\|P_g)",
    "T2": r"\Lambda\subseteq\Lambda'\ \Rightarrow\ V(\Lambda)\le V(\Lambda')",
    "T3": r"P=D:\quad V(\Delta_K)-V(\Lambda)\ge\min_{\lambda\in\Lambda}\mathrm{KL}(D_\lambda\|D_{\lambda^*})",
    "T3-G": r"V(\Lambda')-V(\Lambda)\ge\min_{\lambda\in\Lambda}\left[\mathrm{KL}(D_\lambda\|q')"
            r"-\delta_Q(\lambda)\right]\ge0",
    "LF": r"\Lambda^*=\mathrm{argmax}_{\Lambda}\,\varphi\neq\emptyset,\quad "
          r"\mathrm{KL}(D_k\|P_{g^*})=V\ \text{on the support of}\ \lambda^*",
    "I2": r"\varphi(\lambda)=\mathrm{JS}_\lambda(D)+\delta_Q(\lambda),\quad 0\le\delta_Q(\lambda)\le"
          r"\mathrm{KL}(D_\lambda\|P_\lambda)\le\sum_k\lambda_k\varepsilon_k",
    "MB": r"\max_{\lambda\in\Lambda}L(q,\lambda)\ge\max_{\lambda\in\Lambda}\mathrm{JS}_\lambda(D)\ "
          r"\text{for every single model}\ q",
    "MA": r"V(\Lambda)\le\max_{\Lambda}\mathrm{JS}_\lambda(D)+\max_{\Lambda}\sum_k\lambda_k\varepsilon_k",
    "PoM": r"\delta_Q(\lambda_J)\le V(\Lambda)-M(\Lambda)\le\max_{\Lambda}\delta_Q\le"
           r"\max_{\Lambda}\sum_k\lambda_k\varepsilon_k",
    "JG": r"\sum_k\lambda_k\mathrm{KL}(D_k^{1:T}\|P_\lambda^{1:T})\le H(\lambda)+\sum_k\lambda_k\varepsilon_k^{1:T},"
          r"\quad \mathrm{Tok}(T)=\mathrm{Tok}(1)+(T-1)\,r+O(1)",
    "SC": r"\mathrm{KL}(D_k\|D_{\lambda_0})\le\log\frac{1}{\lambda_{0,k}},\quad C(D)\le\log K",
    "DH": r"\cos\left(\nabla\ell_1,\nabla\ell_2\right)<0\ \text{in a monolith (measured)}",
    "GB": r"F(\hat g)-F(g_{\mathrm{ref}})=O\!\left(M^{-1/2}\right)\ \text{(measured)}",
    "GB2": r"\mathfrak{R}_M(\lambda)\le 2BR\sqrt{K\,s(\lambda\|\bar m)/M}",
    "SD": r"\prod_t\sum_k r_k(x_{<t})\,P_k(x_t\mid x_{<t})=\sum_k w_kP_k(x),\quad r_k(x_{<t})\propto w_kP_k(x_{<t})",
}

#: the report's notation glossary: (symbol, LaTeX definition, meaning)
GLOSSARY = (
    (r"D_k,\ P_k", r"k=1,\dots,K", "the domain distributions and the frozen experts, on a finite sample space "
     "of n points; perfect experts means P = D"),
    (r"\lambda,\ \Lambda", r"\lambda\in\Lambda\subseteq\Delta_K",
     "a mixture of the domains, and the prior knowledge: a closed convex set of mixtures"),
    (r"D_\lambda,\ P_g", r"D_\lambda=\sum_k\lambda_kD_k,\quad P_g(x)=\sum_kg_k(x)P_k(x)",
     "the mixed domain, and the model of a gate g"),
    (r"G_1", r"G_1=\{g:\ g(\cdot,x)\in\Delta_K\ \forall x,\ \sum_xP_g(x)=1\}", "the normalized gates"),
    (r"Q", r"Q=\{q:\ \ell\le q\le u,\ \sum_xq(x)=1\},\quad \ell=\min_kP_k,\ u=\max_kP_k",
     "the models the gates can realize (the envelope of the experts)"),
    (r"L", r"L(g,\lambda)=\sum_k\lambda_k\,\mathrm{KL}(D_k\|P_g)", "the payoff of the robust game, linear in the mixture"),
    (r"V", r"V(\Lambda)=\min_{g\in G_1}\max_{\lambda\in\Lambda}L(g,\lambda)", "the value of the robust game"),
    (r"\varphi", r"\varphi(\lambda)=\min_{g\in G_1}L(g,\lambda)",
     "the dual function (concave); its maximizers are the least-favorable mixtures"),
    (r"\varepsilon_k", r"\varepsilon_k=\mathrm{KL}(D_k\|P_k)", "the error of expert k"),
    (r"\mathrm{JS}", r"\mathrm{JS}_\lambda(D)=H(D_\lambda)-\sum_k\lambda_kH(D_k)",
     "the generalized Jensen-Shannon divergence of the domains"),
    (r"C(D)", r"C(D)=\max_{\lambda\in\Delta_K}\mathrm{JS}_\lambda(D)",
     "the capacity of the domains, reached at the capacity-achieving prior λ*"),
    (r"\delta_Q", r"\delta_Q(\lambda)=\min_{q\in Q}\mathrm{KL}(D_\lambda\|q)",
     "the experts' shortfall at λ (0 with perfect experts)"),
    (r"M", r"M(\Lambda)=\min_{q\in\Delta_n}\max_{\lambda\in\Lambda}L(q,\lambda)=\max_{\Lambda}\mathrm{JS}_\lambda(D)",
     "the best single (monolithic) model's worst case; in T1-M, M also names the mixture payoff "
     "KL(D_λ‖P_g)"),
)
