"""`robust-gates repro real-study` (issue 20 item 3): real text as a study. Every row and interval
column is there, per-document sums add up to the bytes scored, a second run into the same folder
restores every cell and writes the same tables, a fresh run with the same seed computes the same
numbers, the permuted copy is a nested byte bijection, the matched baselines have the stated
parameters and compute, and the CLI refuses bad input with exit status 2."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

torch = pytest.importorskip("torch")

from robust_gates.figures import FIGURES  # noqa: E402
from robust_gates.paper_repro.cli import main as cli_main  # noqa: E402
from robust_gates.paper_repro.neural import real_study as S  # noqa: E402
from robust_gates.paper_repro.neural import text_data as T  # noqa: E402
from robust_gates.paper_repro.neural.gpt import gpt_params, krouter_params  # noqa: E402

BASE_METHODS = {"monolithic", "robust_mono", "mono_total_params", "robust_gate", "robust_gate_regret",
                "uniform_mixture", "bayes_router", "expert_python", "expert_prose", "expert_c"}
CONFLICT_METHODS = {"monolithic", "robust_gate", "robust_gate_regret", "uniform_mixture", "bayes_router",
                    "expert_python", "expert_prose", "expert_c", "expert_python_perm"}
CI_COLUMNS = ["quantity", "c", "method", "size", "domain", "params", "compute", "mean", "lo", "hi",
              "seed_sd", "n_seeds", "n_docs"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return T.load_corpus(tmp_path_factory.mktemp("cache"))


@pytest.fixture(scope="module")
def runs(corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp("real_study") / "run"
    first = S.main(S.TINY, out, progress=False, corpus=corpus)
    again = S.main(S.TINY, out, progress=False, corpus=corpus)  # resumes every cell
    return first, again


def test_every_row_and_interval_column(runs):
    res, _ = runs
    cfg = S.TINY
    s = res.summary
    assert s["complete"] and s["cells_done"] == s["cells_total"] == len(S.cells(cfg))
    ci = res.intervals
    assert list(ci.columns) == CI_COLUMNS
    assert np.isfinite(ci[["mean", "lo", "hi"]].to_numpy()).all()
    assert ((ci.lo <= ci["mean"] + 1e-12) & (ci["mean"] <= ci.hi + 1e-12)).all()
    assert set(ci.n_seeds) == {cfg.seeds}
    base = S._label(cfg.base)
    main = ci[ci.c == S.MAIN]
    at_base = main[main["size"] == base]
    assert BASE_METHODS - {"mono_total_params"} <= set(at_base.method)
    assert "mono_total_params" in set(main.method)
    for z in cfg.sizes:  # size sweep: experts, monolithic and gates at every size
        m = set(main[main["size"] == S._label(z)].method)
        assert {"monolithic", "robust_gate", "uniform_mixture", "bayes_router", "expert_python"} <= m
    for q in ("bpb", "regret", "gap_bpb", "gap_regret", "gap_same_size"):
        assert q in set(main.quantity), q
    domains = {"python", "prose", "c"}
    assert set(main[main.quantity == "bpb"].domain) == domains | {"worst", "average"}
    # the controlled conflict: one group per c with the permuted copy as a fourth domain
    for c in cfg.conflicts:
        g = ci[ci.c == c]
        assert CONFLICT_METHODS <= set(g.method), c
        assert set(g[g.quantity == "bpb"].domain) == domains | {"python_perm", "worst", "average"}
        gap = g[(g.quantity == "gap_bpb") & (g.method == "monolithic") & (g.domain == "worst")]
        assert len(gap) == 1
    # the per-seed table: regret is bpb minus the own-domain base expert of the same seed
    t = res.table
    assert {"c", "seed", "method", "size", "params", "compute", "domain", "bpb", "regret"} <= set(t.columns)
    e = t[(t.c == S.MAIN) & (t["size"] == base) & (t.method == "expert_prose") & (t.domain == "prose")]
    assert np.allclose(e.regret, 0.0)
    g = t[(t.c == S.MAIN) & (t["size"] == base) & (t.method == "robust_gate")].set_index(["seed", "domain"])
    ref = t[(t.c == S.MAIN) & (t["size"] == base) & (t.method.str.startswith("expert_"))]
    ref = ref[ref.method == "expert_" + ref.domain].set_index(["seed", "domain"])
    assert np.allclose(g.regret, (g.bpb - ref.bpb.reindex(g.index)).to_numpy())
    # the interval table's point value is the mean over seeds of the per-seed table
    row = ci[(ci.quantity == "bpb") & (ci.c == S.MAIN) & (ci.method == "robust_gate") & (ci["size"] == base)
             & (ci.domain == "prose")].iloc[0]
    assert row["mean"] == pytest.approx(g.xs("prose", level="domain").bpb.mean(), abs=1e-9)
    worst = ci[(ci.quantity == "bpb") & (ci.c == S.MAIN) & (ci.method == "robust_gate")
               & (ci["size"] == base) & (ci.domain == "worst")].iloc[0]
    assert worst["mean"] == pytest.approx(g.bpb.groupby(level="seed").max().mean(), abs=1e-9)
    assert Path(res.paths["figure"]).stat().st_size > 5000
    s = res.summary
    assert s["wall_seconds_by_kind"].keys() == {"experts", "mono", "gates", "mono_total", "conflict"}
    assert all(c["seconds"] is not None for c in s["cells"])


def test_document_sums_cover_the_scored_bytes(runs, corpus):
    """Every predicted byte of the evaluation windows is in exactly one document's sum, and the
    per-document nats add up to the model's mean loss over the windows."""
    res, _ = runs
    docs = res.docs
    cfg = S.TINY
    n_windows = {d: len(S._eval_starts(corpus.data[d]["test"].size, cfg.ctx + 1, cfg.eval_cap))
                 for d in ("python", "prose", "c")}
    mono = docs[(docs.c == S.MAIN) & (docs.method == "monolithic")]
    per = mono.groupby(["seed", "size", "domain"]).bytes.sum()
    for (_, _, d), n in per.items():
        assert n == n_windows[d] * cfg.ctx
    assert (docs.nats > 0).all() and (docs.bytes > 0).all()


def test_resume_restores_every_cell_and_writes_the_same_tables(runs):
    first, again = runs
    stages = {c.stage for c in S.cells(S.TINY)}
    assert set(again.summary["restored_checkpoints"]) == stages
    assert not first.summary["restored_checkpoints"]
    for a, b in ((first.table, again.table), (first.intervals, again.intervals), (first.docs, again.docs)):
        pd.testing.assert_frame_equal(a, b)
    # the restored summary keeps the seconds each cell took when it was computed
    assert [c["seconds"] for c in first.summary["cells"]] == [c["seconds"] for c in again.summary["cells"]]


def test_fresh_rerun_with_the_same_seed_computes_the_same_numbers(runs, corpus, tmp_path):
    """A fresh folder, same seed: the cells it holds give the same per-document sums; a run cut
    short by max_cells says so."""
    first, _ = runs
    cfg = S.with_overrides(S.TINY, max_cells=4)
    part = S.main(cfg, tmp_path / "part", progress=False, corpus=corpus)
    assert not part.summary["complete"] and part.summary["cells_done"] == 4
    assert part.summary["cells_left"] == [c.stage for c in S.cells(S.TINY)[4:]]
    keys = ["seed", "c", "method", "size", "domain", "doc"]
    a = part.docs.set_index(keys).sort_index()
    b = first.docs.set_index(keys).reindex(a.index)
    assert np.array_equal(a.bytes.to_numpy(), b.bytes.to_numpy())
    assert np.array_equal(a.nats.to_numpy(), b.nats.to_numpy())
    again = S.main(cfg, tmp_path / "part2", progress=False, corpus=corpus)
    pd.testing.assert_frame_equal(part.table, again.table)
    pd.testing.assert_frame_equal(part.intervals, again.intervals)


def test_permuted_copy_is_a_nested_byte_bijection():
    rng = np.random.default_rng(0)
    lengths = np.array([30, 5, 44, 12, 60, 7, 25, 19])
    parts = [rng.integers(32, 127, n).astype(np.uint8) for n in lengths]
    arr = np.frombuffer(b"\n".join(p.tobytes() for p in parts), np.uint8).copy()
    names = [f"doc{i}.py" for i in range(len(lengths))]
    assert np.array_equal(S.permuted_copy(arr, lengths, names, 0.0, 20), arr)
    full = S.permuted_copy(arr, lengths, names, 1.0, 20)
    perm = np.random.default_rng(20).permutation(256)
    ends = np.cumsum(lengths + 1) - 1
    inside = np.ones(arr.size, bool)
    inside[ends[:-1]] = False
    assert np.array_equal(full[inside], perm[arr[inside]])
    assert np.array_equal(full[~inside], arr[~inside])  # the joining newlines stay
    assert sorted(np.bincount(full, minlength=256)) == sorted(np.bincount(arr, minlength=256))
    changed = {}
    for c in (0.25, 0.5, 0.75):
        out = S.permuted_copy(arr, lengths, names, c, 20)
        off = np.concatenate([[0], np.cumsum(lengths + 1)[:-1]])
        changed[c] = {i for i, (o, n) in enumerate(zip(off, lengths, strict=True))
                      if not np.array_equal(out[o:o + n], arr[o:o + n])}
    assert changed[0.25] <= changed[0.5] <= changed[0.75]
    assert S._doc_of(lengths, np.array([0, 29, 30, 31, 36])).tolist() == [0, 0, 0, 1, 1]


def test_matched_baselines_parameters_and_compute(runs):
    for cfg in (S.FULL, S.QUICK, S.TINY):
        total = S.total_size(cfg, 3)
        target = 3 * gpt_params(cfg.base, 256, cfg.ctx) + krouter_params(3, cfg.router_hidden)
        assert abs(gpt_params(total, 256, cfg.ctx) - target) <= 0.05 * target, cfg.name
    res, _ = runs
    t = res.table[res.table.c == S.MAIN].drop_duplicates(["method", "size"]).set_index(["method", "size"])
    base = S._label(S.TINY.base)
    experts = t.loc[("expert_python", base), "compute"]
    assert t.loc[("monolithic", base), "compute"] == pytest.approx(3 * experts)  # same tokens and FLOPs
    assert t.loc[("robust_mono", base), "compute"] == t.loc[("monolithic", base), "compute"]
    assert t.loc[("robust_gate", base), "compute"] == t.loc[("monolithic", base), "compute"]
    mt = t[t.index.get_level_values(0) == "mono_total_params"].iloc[0]
    assert mt.params == pytest.approx(t.loc[("robust_gate", base), "params"], rel=0.2)


def test_cli_and_figure(runs, tmp_path, capsys):
    assert cli_main(["repro", "real-study", "--tiny", "--max-cells", "-1"]) == 2
    assert "--max-cells" in capsys.readouterr().err
    assert cli_main(["repro", "real-study", "--tiny", "--update-shipped"]) == 2
    assert cli_main(["repro", "real-study", "--tiny", "--steps", "3"]) == 2
    res, _ = runs
    with pytest.raises(Exception, match="refusing to ship"):
        S.ship(res.out_dir)
    out = tmp_path / "cli"
    assert cli_main(["repro", "real-study", "--tiny", "--out", str(out), "--max-cells", "3",
                     "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert "cells done: 3 /" in text and "PARTIAL" in text
    info = json.loads((out / S.SUMMARY_FILE).read_text())
    assert info["complete"] is False and info["cells_done"] == 3
    spec = FIGURES["real_study"]
    fig = spec.plot(res.intervals)
    assert len(fig.axes) >= 4
    md = S.shipped_findings(res.out_dir)
    assert "Controlled conflict" in md and "robust_gate" in md


SHIPPED = Path(S.__file__).resolve().parent / "results"


@pytest.mark.skipif(not (SHIPPED / S.SUMMARY_FILE).is_file(), reason="no shipped real-study results yet")
def test_shipped_results_say_what_they_hold():
    """The shipped tables come from the full configuration at seed 0, say whether they are complete,
    hold one interval row set per finished cell group and draw the registered figure."""
    info = json.loads((SHIPPED / S.SUMMARY_FILE).read_text())
    assert info["run"]["config"] == "full" and info["seed"] == 0
    assert set(info["run"]["overrides"]) <= {"threads", "max_cells"}
    assert info["complete"] == (info["cells_done"] == info["cells_total"] == len(S.cells(S.FULL)))
    assert [c["stage"] for c in info["cells"]] == [c.stage for c in S.cells(S.FULL)[:info["cells_done"]]]
    assert all(c["seconds"] is not None and c["seconds"] > 0 for c in info["cells"])
    ci = pd.read_csv(SHIPPED / S.INTERVALS_FILE)
    assert list(ci.columns) == CI_COLUMNS
    assert ((ci.lo <= ci["mean"] + 1e-9) & (ci["mean"] <= ci.hi + 1e-9)).all()
    done = {c["kind"] for c in info["cells"]}
    if "gates" in done:
        assert {"robust_gate", "monolithic", "uniform_mixture", "bayes_router"} <= set(ci.method)
    if "conflict" in done:
        assert (ci.c >= 0).any()
    assert S.shipped_findings(SHIPPED).startswith("Real-text study (")
    fig = FIGURES["real_study"].plot(ci)
    assert len(fig.axes) >= 4
