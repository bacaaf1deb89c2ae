"""``fit`` on the real-text experiment's experts (issue 18, item 7): :mod:`.neural.real_fit` on a tiny
run over a synthetic three-domain corpus, its consistency checks, report fragment and command line."""

from __future__ import annotations

import json
from html import escape as html_escape

import numpy as np
import pandas as pd
import pytest

torch = pytest.importorskip("torch")

from robust_gates.paper_repro.cli import main as cli_main  # noqa: E402
from robust_gates.paper_repro.neural import real, real_fit  # noqa: E402
from robust_gates.paper_repro.neural import text_data as T  # noqa: E402

#: float32 experts: the helper and the experiment's own evaluation agree to rounding (nats per window)
LOGLIK_TOL = 1e-3
#: the causal Bayes router with uniform prior equals the sequence-level uniform mixture (SPEC SD);
#: float32 token log-probabilities, bits per byte
SD_TOL = 1e-5
GAP_TOL = 1e-8


def _corpus(size: int = 3000):
    rng = np.random.default_rng(18)
    data = {}
    for k, name in enumerate(T.DOMAINS):
        phrase = np.frombuffer(f"{name} text {'xy' * (k + 1)}; ".encode(), dtype=np.uint8)
        data[name] = {}
        for s in T.SPLITS:
            arr = np.resize(phrase, size).copy()
            flip = rng.random(size) < 0.15
            arr[flip] = rng.integers(32, 127, flip.sum())
            data[name][s] = arr
    return T.Corpus(data, "synthetic", {d: {s: [] for s in T.SPLITS} for d in data}, {})


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    out = tmp_path_factory.mktemp("real_fit")
    cfg = real.with_overrides(real.TINY, steps=20, gate_steps=40)
    res = real_fit.main(cfg, out, progress=False, corpus=_corpus(), draw=False,
                        settings=real_fit.FitSettings(bootstrap=50, rounds=60))
    return res, out


def test_schema_certificates_and_consistency(tiny):
    """The tidy table has every method x split x row; both constant gates are certified; the
    helper's matrix equals the experiment's own token log-probabilities; the causal Bayes router
    equals the sequence-level uniform mixture (SPEC SD); the routers' bits per byte equal the
    experiment's table."""
    res, out = tiny
    t = res.table
    assert list(t.columns) == list(real_fit.TABLE_COLUMNS)
    rows = [*T.DOMAINS, "worst_simplex", "worst_box", "average"]
    assert set(t.method) == set(real_fit.METHOD_LABELS)
    assert len(t) == len(real_fit.METHOD_LABELS) * 3 * len(rows)
    assert set(t.domain) == set(rows) and set(t.split) == {"valid_fit", "valid_select", "test"}
    test = t[t.split == "test"]
    assert test[["ci_low", "ci_high"]].notna().all().all()
    assert t[t.split != "test"][["ci_low", "ci_high"]].isna().all().all()
    assert ((test.ci_low <= test.bpb + 1e-12) & (test.bpb <= test.ci_high + 1e-12)).all()
    s = json.loads((out / real_fit.FIT_JSON_FILE).read_text())
    for lam in ("simplex", "box"):
        assert s["constant_gate"][lam]["gap"] <= GAP_TOL and s["constant_gate"][lam]["status"] == "optimal"
    c = s["consistency"]
    assert c["loglik_vs_experiment_nats"] <= LOGLIK_TOL
    assert c["bayes_router_vs_sequence_mixture_bpb"] <= SD_TOL
    assert c["router_bpb_vs_experiment_table"] <= SD_TOL
    bpb = pd.read_csv(out / real.BPB_FILE)  # the experiment's own table, written by the same run
    mine = t[(t.method == "robust_gate") & (t.split == "test") & (t.domain == "python")].bpb.iloc[0]
    theirs = bpb[(bpb.method == "robust_gate") & (bpb.split == "test") & (bpb.domain == "python")].bpb.iloc[0]
    assert abs(mine - theirs) <= 1e-5


def test_summary_rows_follow_from_domain_rows(tiny):
    """worst_simplex is the largest domain, average the mean, worst_box the box's maximum: recomputed
    from the per-domain rows of every method."""
    res, _ = tiny
    t = res.table
    box = real.TINY.box
    for _, g in t.groupby(["method", "split"]):
        g = g.set_index("domain").bpb
        per = g.loc[list(T.DOMAINS)].to_numpy()
        assert abs(g["worst_simplex"] - per.max()) <= 1e-9
        assert abs(g["average"] - per.mean()) <= 1e-9
        assert abs(g["worst_box"] - box.maximize_linear(per)[0]) <= 1e-9


def test_constant_gate_is_minimax_on_its_training_windows(tiny):
    """On the windows it was fitted on (the fit half of valid), the certified constant gate's worst
    domain is no worse than any other constant mixture's: the uniform one (the Bayes router at
    whole-window level) and every single expert."""
    res, _ = tiny
    t = res.table
    v = t[(t.split == "valid_fit") & (t.domain == "worst_simplex")].set_index("method").bpb
    assert v["constant_gate"] <= v["bayes_router"] + 1e-9
    assert v["constant_gate"] <= v["best_single_expert"] + 1e-9


def test_fit_select_test_rule(tiny):
    """The valid windows are split into a fit half and a selection half (here by runs of
    consecutive windows: the synthetic corpus lists no documents); the recommendation follows the
    selection half's worst domains, which are the table's valid_select rows; test is only reported."""
    res, _ = tiny
    s, t = res.summary, res.table
    n_valid = t[(t.split == "valid_fit") & (t.method == "constant_gate")].set_index("domain").n_windows
    n_sel = t[(t.split == "valid_select") & (t.method == "constant_gate")].set_index("domain").n_windows
    for d, h in s["samples"]["halves"].items():
        assert h["unit"] == "block of consecutive windows"
        assert h["windows_fit"] == n_valid[d] > 0 and h["windows_select"] == n_sel[d] > 0
        assert h["units_fit"] > 0 and h["units_select"] > 0
    sel = t[(t.split == "valid_select") & (t.domain == "worst_simplex")].set_index("method").bpb
    w = s["selection"]["worst_case_bpb"]
    for m in ("constant_gate", "softmax_gate"):
        assert abs(w[m] - sel[m]) <= 1e-6  # the table rounds to 1e-6
    assert s["recommendation"] == ("softmax" if w["softmax_gate"] < w["constant_gate"] else "constant")
    pdiff = s["selection"]["paired_difference_bpb"]
    assert abs(pdiff["bpb"] - (w["softmax_gate"] - w["constant_gate"])) <= 1e-9
    assert pdiff["ci_low"] <= pdiff["ci_high"]
    assert "selection half" in s["reason"] and "test" not in s["reason"]
    assert f"{w['constant_gate']:.3f}" in s["findings"][3]


def test_valid_halves_follow_documents():
    """On the interpreter's corpus the helper finds where every valid document starts (each start
    follows the joining newline), and the halves keep every document's windows together; the same
    seed gives the same halves."""
    from types import SimpleNamespace

    try:
        corpus = T.load_corpus()
    except T.MissingDomainError as exc:  # an interpreter without its C headers
        pytest.skip(str(exc))
    cfg = real.QUICK
    windows = {"valid": [T.eval_windows(corpus.data[d]["valid"], cfg.ctx + 1, cfg.eval_cap)
                         for d in corpus.domains]}
    setup = SimpleNamespace(domains=corpus.domains, windows=windows, corpus=corpus)
    masks, info = real_fit._selection_halves(setup, cfg, 0)
    again, _ = real_fit._selection_halves(setup, cfg, 0)
    for k, d in enumerate(corpus.domains):
        arr = corpus.data[d]["valid"]
        starts = real_fit._document_starts(corpus, d, "valid")
        assert len(starts) == len(corpus.documents[d]["valid"]) and starts[0] == 0
        assert (arr[starts[1:] - 1] == ord("\n")).all()
        first = real_fit._window_starts(arr.size, cfg.ctx + 1, cfg.eval_cap)
        assert np.array_equal(arr[first[:, None] + np.arange(cfg.ctx + 1)], windows["valid"][k])
        doc = np.searchsorted(starts, first, side="right") - 1
        for i in np.unique(doc):
            assert len(set(masks[k][doc == i].tolist())) == 1  # a document is never split
        assert info[d]["unit"] == "document" and 0 < masks[k].sum() < masks[k].size
        assert np.array_equal(masks[k], again[k])


def test_findings_trace_to_the_table(tiny):
    """Every findings line's quoted test numbers are the table's (rounded as printed)."""
    res, _ = tiny
    t = res.table[res.table.split == "test"].set_index(["method", "domain"])
    lines = res.summary["findings"]
    assert 3 <= len(lines) <= 5
    wc = t.loc[("constant_gate", "worst_simplex")]
    assert f"constant gate {wc.bpb:.3f} [{wc.ci_low:.3f}, {wc.ci_high:.3f}]" in lines[1]
    rg = t.loc[("robust_gate", "worst_simplex")]
    assert f"robust router {rg.bpb:.3f} [{rg.ci_low:.3f}, {rg.ci_high:.3f}]" in lines[1]


def test_report_fragment_and_figure(tiny, tmp_path):
    """real_fit_section: a table row per method, the findings and an embedded PNG; without the
    files, a note naming the command."""
    res, out = tiny
    html = real_fit.real_fit_section(out)
    assert html.count("<tr>") == 1 + len(real_fit.METHOD_LABELS)
    assert "data:image/png;base64," in html and html_escape(res.summary["findings"][1]) in html
    note = real_fit.real_fit_section(tmp_path)
    assert "robust-gates fit --real-text" in note and "<table" not in note
    fig = real_fit.plot(res.table, res.summary)
    assert len(fig.axes) == 2


def test_cli_real_text_bad_flags(capsys, tmp_path):
    """Flags that do not fit --real-text, or only fit it, are one line and exit status 2."""
    for argv, needle in [
        (["fit", "--real-text", "--gate", "softmax"], "--gate does not apply"),
        (["fit", "--real-text", "x.npz"], "no input FILE"),
        (["fit", "--quick", "--example"], "--quick applies to --real-text only"),
        (["fit", "--real-text", "--tiny", "--force"], "--force applies only with --update-shipped"),
        (["fit", "--real-text", "--tiny", "--update-shipped"], "refusing to replace"),
    ]:
        assert cli_main(argv) == 2
        err = capsys.readouterr().err
        assert needle in err and err.count("\n") == 1
