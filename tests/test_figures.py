"""Every registered figure draws headless from a small table, with the expected artists."""

import matplotlib
import numpy as np
import pandas as pd
import pytest

matplotlib.use("Agg")

from robust_gates.figures import FIGURES, MissingData, draw_all, draw_figure  # noqa: E402
from robust_gates.figures.registry import (  # noqa: E402
    FigureSpec,
    produce_data,
    register_figure,
    store_table,
)


@pytest.fixture(scope="module")
def tables():
    out = {}
    for fid, spec in FIGURES.items():
        if spec.produce is not None:
            out[fid] = spec.produce(quick=True, seed=1)
    return out


def test_figures_register_themselves_in_report_order():
    """Every figure module of the package declares its SPEC, and the registry lists the paper's
    figures first, then ours, whatever order the modules were found in."""
    import importlib
    import pkgutil

    import robust_gates.figures as package

    assert list(FIGURES) == ["fig1", "fig2", "fig3", "fig4", "fig5", "real_text", "fig5_study", "real_study",
                             "value_vs_lambda", "equalizer", "modular_vs_monolithic", "solver_convergence",
                             "primal_dual", "generalization", "fit"]
    modules = [m.name for m in pkgutil.iter_modules(package.__path__)
               if not m.name.startswith("_") and m.name not in ("registry", "style")]
    specs = [importlib.import_module(f"robust_gates.figures.{m}").SPEC for m in modules]
    assert sorted(s.id for s in specs) == sorted(FIGURES)
    assert all(FIGURES[s.id] is s for s in specs)
    assert [s.id for s in FIGURES.values() if s.paper] == list(FIGURES)[:6]


def test_register_figure_rejects_duplicates_unless_replacing():
    """A second figure with a registered id, or with another figure's results file, is an error;
    ``replace=True`` swaps a figure in place (the registry order is unchanged)."""
    spec = FIGURES["equalizer"]
    with pytest.raises(ValueError, match="already registered"):
        register_figure(spec)
    twin = FigureSpec(id="equalizer_copy", title="t", caption="c", data=spec.data, plot=spec.plot)
    with pytest.raises(ValueError, match="results file"):
        register_figure(twin)
    assert "equalizer_copy" not in FIGURES
    order = list(FIGURES)
    assert register_figure(spec, replace=True) is spec
    assert list(FIGURES) == order and FIGURES["equalizer"] is spec


def test_store_table_is_reused_by_produce_data(tmp_path):
    """A table a command stored with its configuration is reused by ``produce_data`` for that
    configuration and recomputed for another; without a configuration none is written."""
    df = pd.DataFrame({"role": ["input"], "label": ["stored by a command"]})
    csv = store_table("fig1", df, tmp_path, quick=True, seed=4)
    assert csv == tmp_path / FIGURES["fig1"].data
    assert produce_data("fig1", tmp_path, quick=True, seed=4) == csv
    assert list(pd.read_csv(csv).label) == ["stored by a command"]
    produce_data("fig1", tmp_path, quick=True, seed=5)
    assert "stored by a command" not in set(pd.read_csv(csv).label)
    bare = store_table("fig5", df, tmp_path / "bare")
    assert sorted(p.name for p in bare.parent.iterdir()) == [FIGURES["fig5"].data]
    with pytest.raises(ValueError, match="both quick and seed"):
        store_table("fig1", df, tmp_path, quick=True)


def test_every_figure_with_data_has_a_plotter(tables):
    for fid in tables:
        assert FIGURES[fid].plot is not None, fid


def test_fig1_architecture(tables):
    """SPEC §5 figure 1: one box per component (input, K experts, gate, output)."""
    from matplotlib.patches import FancyBboxPatch

    df = tables["fig1"]
    fig = FIGURES["fig1"].plot(df)
    boxes = [p for p in fig.axes[0].patches if isinstance(p, FancyBboxPatch)]
    assert len(boxes) == len(df) == 3 + 3
    texts = " ".join(t.get_text() for t in fig.axes[0].texts)
    assert "P_g(x)" in texts and "gate" in texts


def test_fig2_geometry(tables):
    """SPEC §5 figure 2 (T3): simplex, Lambda, iterates, both lam*, a colour bar in nats."""
    df = tables["fig2"]
    fig = FIGURES["fig2"].plot(df)
    ax = fig.axes[0]
    labels = ax.get_legend_handles_labels()[1]
    for want in ("Lambda", "adversary iterates", "before projection", "lam* (simplex)",
                 "lam* (Lambda)"):
        assert want in labels
    assert "nats" in fig.axes[1].get_ylabel()
    met = df[df.layer == "metric"].set_index("name").value
    assert met.V_simplex - met.V_lambda >= met.T3_min_kl - 1e-6  # T3 on the drawn instance
    assert (df.layer == "iterate").sum() == 12


def test_fig3_jsd_gap(tables):
    """SPEC §5 figure 3 (MB): gated model and two single models drawn over three domains."""
    df = tables["fig3"]
    fig = FIGURES["fig3"].plot(df)
    ax = fig.axes[0]
    assert len(ax.lines) == 3
    assert len(ax.collections) == 3
    assert ax.get_xlabel() == "x" and "density" in ax.get_ylabel()
    m = df[df.kind == "metric"].set_index("series").y
    assert m.worst_gated <= m.worst_robust_single <= m.worst_retrained
    assert m.worst_gated >= m.capacity - 1e-6


def test_value_vs_lambda(tables):
    """T2/T3 figure: three series, value axis in nats, V non-decreasing in the radius."""
    df = tables["value_vs_lambda"]
    fig = FIGURES["value_vs_lambda"].plot(df)
    ax = fig.axes[0]
    assert len(ax.lines) == 3 and "nats" in ax.get_ylabel()
    assert np.all(np.diff(df.V_lambda) >= -1e-6)


def test_equalizer(tables):
    """LF figure: one bar per domain in each panel, loss axis in nats."""
    df = tables["equalizer"]
    fig = FIGURES["equalizer"].plot(df)
    a1, a2 = fig.axes
    assert len(a1.patches) == len(df) and len(a2.patches) == len(df)
    assert "nats" in a2.get_ylabel()


def test_modular_vs_monolithic(tables):
    """MB/MA figure: three marker series plus the C(D) diagonal, both axes in nats."""
    df = tables["modular_vs_monolithic"]
    fig = FIGURES["modular_vs_monolithic"].plot(df)
    ax = fig.axes[0]
    assert len(ax.lines) == 4
    assert "nats" in ax.get_xlabel() and "nats" in ax.get_ylabel()


def test_missing_figures_say_what_to_run(tmp_path):
    """Figures whose data comes from another experiment report a 'run ... first' message."""
    for fid, spec in FIGURES.items():
        if spec.produce is None and not spec.shipped:
            with pytest.raises(MissingData, match="run"):
                produce_data(fid, tmp_path)
            with pytest.raises(MissingData):
                draw_figure(fid, tmp_path, tmp_path)


def test_draw_all_writes_pngs_and_caches(tmp_path):
    """draw_all stores tables and PNGs; a second call reuses the stored tables."""
    ids = ["fig1", "equalizer"]
    table = draw_all(tmp_path / "res", tmp_path / "fig", quick=True, ids=ids, progress=False)
    assert list(table.status) == ["drawn", "drawn"]
    for row in table.itertuples():
        assert (tmp_path / "fig" / f"{row.id}.png").stat().st_size > 1000
    csv = tmp_path / "res" / "equalizer.csv"
    mtime = csv.stat().st_mtime_ns
    draw_all(tmp_path / "res", tmp_path / "fig", quick=True, ids=ids, progress=False)
    assert csv.stat().st_mtime_ns == mtime


def test_primal_dual_figure(tables):
    """Algorithm 4 figure: one gap curve per gate plus the t^-1/2 guide, log-log, in nats."""
    df = tables["primal_dual"]
    fig = FIGURES["primal_dual"].plot(df)
    ax = fig.axes[0]
    assert len(ax.lines) == df["gate"].nunique() + 1
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    assert "nats" in ax.get_ylabel()


def test_generalization_figure(tables):
    """GB figure: gap versus M for every method plus the M^-1/2 guide; excess and bound panel."""
    df = tables["generalization"]
    fig = FIGURES["generalization"].plot(df)
    a1, a2 = fig.axes
    assert len(a1.lines) == df["method"].nunique() + 1
    assert "nats" in a1.get_ylabel() and "nats" in a2.get_ylabel()
    assert a1.get_xlabel() and a2.get_xlabel()


def test_solver_convergence_figure(tables):
    """Algorithms 1-3 figure: one series per solver, log gap axis in nats; the fast solver and
    Blahut-Arimoto both end with a gap below 1e-12."""
    df = tables["solver_convergence"]
    fig = FIGURES["solver_convergence"].plot(df)
    ax = fig.axes[0]
    assert len(ax.lines) == 3 and ax.get_yscale() == "log" and "nats" in ax.get_ylabel()
    last = df.sort_values("iteration").groupby("method").gap.last()
    assert last["Blahut-Arimoto"] <= 1e-12 and last["fast (Newton)"] <= 1e-12


def test_shipped_real_text_table_is_drawn(tmp_path):
    """The real-text experiment's stored full-run table is drawn without torch, and its rows
    satisfy the table's own definitions (worst case = largest domain entry)."""
    table = draw_all(tmp_path / "res", tmp_path / "fig", ids=["real_text"], progress=False)
    assert list(table.status) == ["drawn"]
    df = pd.read_csv(tmp_path / "res" / "real_table.csv")
    single = df[df.method != "oracle"]
    dom = single[["bpb_python", "bpb_prose", "bpb_c"]].to_numpy()
    assert np.allclose(single.worst_simplex, dom.max(axis=1), atol=1e-6)
    assert {"robust_gate", "monolithic_larger", "uniform_mixture"} <= set(df.method)


def test_shipped_fig5_table_is_drawn(tmp_path):
    """Figure 5's stored full-run table (paper_repro/neural/results) is drawn without torch."""
    table = draw_all(tmp_path / "res", tmp_path / "fig", ids=["fig5"], progress=False)
    assert list(table.status) == ["drawn"]
    assert (tmp_path / "res" / "fig5_gradient_conflict.csv").exists()
