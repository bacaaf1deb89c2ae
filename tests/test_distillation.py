"""Structural (algorithm 5) and monolithic (algorithm 6) distillation on sequences (SPEC SD, section 5)."""

from __future__ import annotations

import matplotlib
import numpy as np
import pandas as pd
import pytest

matplotlib.use("Agg")

from robust_gates.figures import FIGURES  # noqa: E402
from robust_gates.figures.registry import produce_data  # noqa: E402
from robust_gates.paper_repro.cli import main  # noqa: E402
from robust_gates.simulations.distillation import (  # noqa: E402
    BAYES_ROUTER,
    LEARNED_ROUTER,
    QUICK,
    TARGET,
    LearnedRouter,
    SequenceSystem,
    _objective,
    bayes_router,
    build_instance,
    cost_per_token,
    figure4_table,
    router_features,
    router_model,
    run_distillation,
    student_name,
)
from robust_gates.simulations.sequences import prefix_marginals, random_chain  # noqa: E402

#: the shipped quick configuration's distillation KL must end below this (nats)
DISTILL_KL_THRESHOLD = 0.05
#: ... and below this fraction of the uniform router's KL (where training starts)
DISTILL_KL_RATIO = 0.1
#: the expert upgrade must lower the untouched router's worst case by at least this (nats)
UPGRADE_MIN_GAIN = 0.01


@pytest.fixture(scope="module")
def result():
    return run_distillation(QUICK, progress=False)


def test_robust_gate_is_certified(result):
    """SPEC section 2 / SD: the sequence-level robust gate on X = V^T carries a certificate gap
    below 1e-9 nats, before and after the upgrade; the target row has KL 0 and worst case V."""
    inst = result.instance
    assert inst.gap.iloc[0] <= 1e-9 and inst.gap_upgraded.iloc[0] <= 1e-9
    assert inst.n.iloc[0] == QUICK.V ** QUICK.T
    target = result.methods[result.methods.family == "target"].iloc[0]
    assert abs(target.worst_case - target.value) <= 1e-8
    assert abs(target.kl_to_gstar) <= 1e-15


def test_distillation_kl_decreases_and_ends_below_threshold(result):
    """SPEC SD, algorithm 5: the learned router's KL(P_g* || P_r) never increases over L-BFGS
    iterations, ends below DISTILL_KL_THRESHOLD nats and DISTILL_KL_RATIO of its start, is no
    worse than the Bayes router of lam* (a member of its class) and no better than the certified
    lower bound on the best causal router."""
    kl = result.training.kl.to_numpy()
    assert np.all(np.diff(kl) <= 1e-12)
    assert kl[-1] <= DISTILL_KL_THRESHOLD
    assert kl[-1] <= DISTILL_KL_RATIO * kl[0]
    tr = result.training.iloc[0]
    assert kl[-1] <= tr.bayes_kl + 1e-9
    assert tr.tabular_kl_lower <= tr.tabular_kl + 1e-12
    assert kl[-1] >= tr.tabular_kl_lower - 1e-12
    m = result.methods.set_index("method")
    assert abs(m.loc["structural: learned router", "kl_to_gstar"] - kl[-1]) <= 1e-10


def test_result_tables_are_keyed_by_method(result):
    """SPEC SD bookkeeping: the training record's Bayes KL is the Bayes router's row; the upgrade
    table has the learned router and every student once per expert version (original, upgraded
    untouched, upgraded retrained), the untouched students keeping their sizes."""
    m = result.methods.set_index("method")
    assert m.index.is_unique and TARGET in m.index
    assert (result.training.bayes_kl == m.at[BAYES_ROUTER, "kl_to_gstar"]).all()
    orders = [o for o in QUICK.student_orders if o < QUICK.T]
    names = [LEARNED_ROUTER] + [student_name(o) for o in orders]
    for (experts, retrained), g in result.upgrade.groupby(["experts", "retrained"]):
        assert list(g.method) == names, (experts, retrained)
    assert len(result.upgrade) == 3 * len(names)
    kept = result.upgrade[~result.upgrade.retrained].set_index(["experts", "method"]).params
    for o in orders:
        assert kept["upgraded", student_name(o)] == kept["original", student_name(o)] == m.at[
            student_name(o), "params"]


def test_router_gradient_matches_finite_differences():
    """SPEC algorithm 5: the exact gradient of the distillation objective agrees with central
    differences (relative error below 1e-6)."""
    rng = np.random.default_rng(4)
    system = SequenceSystem.build([random_chain(3, o, rng) for o in (0, 1, 2)], 4)
    q = rng.dirichlet(np.ones(3 ** 4))
    marg = prefix_marginals(q, 3, 4)
    feats = router_features(system)
    W = 0.3 * rng.standard_normal((3, feats[0].shape[1]))
    _, G = _objective(W, feats, system.cond, marg)
    h = 1e-6
    num = np.zeros_like(W)
    for i in np.ndindex(W.shape):
        E = np.zeros_like(W)
        E[i] = h
        num[i] = (_objective(W + E, feats, system.cond, marg)[0]
                  - _objective(W - E, feats, system.cond, marg)[0]) / (2 * h)
    assert np.max(np.abs(num - G)) <= 1e-6 * max(1.0, np.max(np.abs(G)))


def test_learned_router_class_contains_the_bayes_router():
    """SPEC SD: W = [I, 0, log w] in the softmax router class reproduces sum_k w_k P_k(x) to
    1e-12 on every sequence (the feature layout log P_k(h), onehot(last), onehot(t))."""
    rng = np.random.default_rng(8)
    system = SequenceSystem.build([random_chain(4, o, rng) for o in (0, 1, 2)], 5)
    w = np.array([0.2, 0.5, 0.3])
    K, V, T = 3, 4, 5
    W = np.zeros((K, K + V + T))
    W[:, :K] = np.eye(K)
    W[:, K + V:] = np.log(w)[:, None]
    router = LearnedRouter(W, np.nan, pd.DataFrame(), 0, True)
    Pr = router_model(system, router.routers(system))
    assert np.max(np.abs(Pr - w @ system.P)) <= 1e-12
    assert np.max(np.abs(Pr - router_model(system, bayes_router(system, w)))) <= 1e-12


def test_expert_upgrade_helps_structural_without_retraining(result):
    """SPEC SD (section 5, modularity): replacing one expert by a better one (closer to its true
    chain) lowers the structural system's worst case by at least UPGRADE_MIN_GAIN nats and its KL
    to the new P_g*, with the router weights untouched; the monolithic students stay as trained
    (same worst case to 1e-12)."""
    inst = result.instance
    k0 = QUICK.upgrade_domain
    assert inst.expert_error_upgraded.iloc[k0] < inst.expert_error.iloc[k0]
    up = result.upgrade[~result.upgrade.retrained]
    s = up[up.method == "structural: learned router"].set_index("experts")
    assert s.loc["upgraded", "worst_case"] <= s.loc["original", "worst_case"] - UPGRADE_MIN_GAIN
    assert s.loc["upgraded", "kl_to_gstar"] < s.loc["original", "kl_to_gstar"]
    mono = up[up.family == "monolithic"].pivot(index="method", columns="experts", values="worst_case")
    assert np.max(np.abs(mono.original - mono.upgraded)) <= 1e-12
    # the structural system without retraining beats every monolithic student of no larger size
    small = result.methods[(result.methods.family == "monolithic")
                           & (result.methods.params <= s.loc["original", "total_params"])]
    assert (s.loc["upgraded", "worst_case"] < small.worst_case).all()


def test_monolithic_robustness_grows_with_capacity(result):
    """SPEC algorithm 6: the n-gram student's KL to P_g* does not increase with its order (nested
    classes, exact M-projection); on the shipped configuration its worst case does not either
    (measured, not a theorem); the full-order student (order T-1) is P_g* itself (KL <= 1e-12,
    worst case V)."""
    mono = result.methods[result.methods.family == "monolithic"].sort_values("order")
    assert np.all(np.diff(mono.kl_to_gstar) <= 1e-12)
    assert np.all(np.diff(mono.worst_case) <= 1e-9)
    full = mono[mono.order == QUICK.T - 1].iloc[0]
    assert abs(full.kl_to_gstar) <= 1e-12
    assert abs(full.worst_case - full.value) <= 1e-9


def test_parameters_and_cost_are_reported(result):
    """SPEC SD: the router's parameter count is K (K + V + T); structural cost per token is the
    experts' lookups plus a router of K^2 + O(K V) multiply-adds; unknown methods are rejected."""
    K, V, T = len(QUICK.chain_orders), QUICK.V, QUICK.T
    m = result.methods.set_index("method")
    assert m.loc["structural: learned router", "params"] == K * (K + V + T)
    _, experts, _, _ = build_instance(QUICK)
    assert (m.loc["structural: learned router", "total_params"]
            == K * (K + V + T) + sum(e.n_parameters for e in experts))
    assert cost_per_token("learned", K, V)["macs"] == K * K + 5 * K + K * V
    with pytest.raises(ValueError, match="unknown method"):
        cost_per_token("dense", K, V)


def test_fig4_plot_has_labelled_axes_and_series(result):
    """SPEC section 5, figure 4: three labelled panels (KL, worst case with V(Lambda), training
    curve) with the monolithic, structural and upgraded series."""
    spec = FIGURES["fig4"]
    assert spec.plot is not None and spec.produce is not None and spec.paper
    df = figure4_table(result)
    assert set(df.record) == {"method", "training"}
    fig = spec.plot(df)
    axes = fig.axes
    assert len(axes) == 3
    for ax in axes:
        assert ax.get_xlabel() and ax.get_ylabel() and "nats" in ax.get_ylabel()
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    for want in ("monolithic n-gram student", "structural: learned router",
                 "learned router, expert upgraded (no retraining)", "V(Lambda)"):
        assert want in labels
    assert len(axes[2].get_legend_handles_labels()[1]) == 3
    mono = df[(df.record == "method") & (df.family == "monolithic") & (df.experts == "original")]
    assert len(axes[0].lines[0].get_xdata()) == len(mono)


def test_distill_cli_writes_tables_and_figure(tmp_path, capsys):
    """SPEC SD: ``robust-gates distill --quick`` writes the result tables, the Figure 4 data and
    the PNG, and prints the method table."""
    assert main(["distill", "--out", str(tmp_path), "--quick", "--no-progress"]) == 0
    for name in ("distillation_methods.csv", "distillation_training.csv", "distillation_upgrade.csv",
                 "distillation_instance.csv", "fig4_distillation.csv", "fig4.png"):
        assert (tmp_path / name).stat().st_size > 0
    methods = pd.read_csv(tmp_path / "distillation_methods.csv")
    assert {"method", "params", "macs_per_token", "kl_to_gstar", "worst_case"} <= set(methods.columns)
    assert "structural: learned router" in capsys.readouterr().out
    table = tmp_path / "fig4_distillation.csv"
    stamp = table.stat().st_mtime_ns
    assert produce_data("fig4", tmp_path, quick=True, seed=0) == table  # reused, not recomputed
    assert table.stat().st_mtime_ns == stamp
