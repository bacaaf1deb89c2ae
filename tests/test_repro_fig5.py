"""`robust-gates repro fig5` on the tiny configuration: schema, figure, determinism, linearity
of the gate's payoff in ``lam`` (SPEC DH, algorithm 4, SD; paper Figure 5); and the experiment
runner both neural experiments share: torch's threads restored after a failure, resume from
checkpoints, the output folder (never the shipped results unless asked) and the run's label."""

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

torch = pytest.importorskip("torch")

from robust_gates.paper_repro.cli import main as cli_main  # noqa: E402
from robust_gates.paper_repro.errors import UserError  # noqa: E402
from robust_gates.paper_repro.neural import data as D  # noqa: E402
from robust_gates.paper_repro.neural import fig5, runner  # noqa: E402

LINEAR_TOL = 1e-9  # the payoff is computed in float64 from stored per-domain losses
ENTROPY_TOL = 1e-12
COLUMNS = ["method", "size", "lam", "seed", "loss", "excess", "loss_d1", "loss_d2", "params"]
COS_COLUMNS = ["seed", "size", "method", "lam", "cos_mean", "cos_std", "frac_negative",
               "cos_mean_late", "frac_negative_late", "steps"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    base = tmp_path_factory.mktemp("fig5")
    a = fig5.main(fig5.TINY, base / "a", seed=3, progress=False)
    b = fig5.main(fig5.TINY, base / "b", seed=3, progress=False)
    c = fig5.main(fig5.TINY, base / "c", seed=4, progress=False, draw=False)
    return a, b, c


def test_csv_schema_and_figure(runs):
    """SPEC DH / paper Figure 5: the tidy table has one row per method x size x lam x seed, the
    cosine table one row per monolithic model, and the figure file is written."""
    res = runs[0]
    cfg = fig5.TINY
    table = pd.read_csv(res.paths["table"])
    assert list(table.columns) == COLUMNS
    curves = set(zip(table.method, table["size"], strict=True))
    assert curves == {("robust_gate", "modular"), ("fixed", "smaller"), ("fixed", "larger"),
                      ("oracle", "smaller"), ("oracle", "larger"), ("bayes", "exact")}
    assert len(table) == len(curves) * cfg.grid * cfg.seeds
    assert sorted(table.lam.unique()) == pytest.approx(list(np.linspace(0, 1, cfg.grid)), abs=1e-12)
    assert sorted(table.seed.unique()) == [3, 4]
    assert np.isfinite(table[["loss", "excess", "loss_d1", "loss_d2"]].to_numpy()).all()
    H = res.summary["task"]["entropy_rate"][0]
    assert np.abs(table.loss - table.excess - H).max() < 1e-9
    cos = pd.read_csv(res.paths["cosine"])
    assert list(cos.columns) == COS_COLUMNS
    assert len(cos) == cfg.seeds * ((3 + cfg.grid) + (1 + cfg.grid))
    assert ((cos.cos_mean >= -1) & (cos.cos_mean <= 1)).all()
    assert ((cos.frac_negative >= 0) & (cos.frac_negative <= 1)).all()
    png = res.paths["figure"]
    with open(png, "rb") as fh:
        assert fh.read(8) == b"\x89PNG\r\n\x1a\n"
    assert Path(png).stat().st_size > 5000


def test_parameter_counts(runs):
    """Paper Figure 5 setup: the Larger model has more parameters than the modular system (two
    Smaller experts plus the router), and the formula matches the torch modules."""
    from robust_gates.paper_repro.neural.model import MLPStack, mlp_params

    p = runs[0].summary["params"]
    assert p["modular_total"] == 2 * p["smaller"] + p["router"]
    for cfg in (fig5.TINY, fig5.QUICK, fig5.FULL):
        n_s = mlp_params(cfg.smaller, cfg.vocab, cfg.window)
        n_l = mlp_params(cfg.larger, cfg.vocab, cfg.window)
        assert n_l > 2 * n_s + p["router"], cfg.name
    tiny = fig5.TINY
    stack = MLPStack(3, tiny.smaller, tiny.vocab, tiny.window, torch.Generator().manual_seed(0))
    assert stack.member_params() == p["smaller"]
    assert sum(q.numel() for q in stack.parameters()) == 3 * p["smaller"]


def test_determinism_under_fixed_seed(runs):
    """Randomness only through explicit seeds: the same seed gives identical tables; another
    seed gives different ones (so the comparison can fail)."""
    a, b, c = runs
    pd.testing.assert_frame_equal(a.table, b.table, check_exact=True)
    pd.testing.assert_frame_equal(a.cosine, b.cosine, check_exact=True)
    trained = a.table.method != "bayes"
    assert not np.array_equal(a.table[trained].loss.to_numpy(), c.table[trained].loss.to_numpy())


def test_gate_payoff_is_linear_in_lam(runs):
    """SPEC §2 / algorithm 4 (consistency check, not a result): the gate is one model scored at
    every lam, so its lam-averaged loss equals lam CE_1 + (1 - lam) CE_2 of its per-domain
    losses, and the per-domain losses do not depend on lam."""
    table = runs[0].table
    gate = table[table.method == "robust_gate"]
    lin = gate.lam * gate.loss_d1 + (1 - gate.lam) * gate.loss_d2
    assert np.abs(gate.loss - lin).max() < LINEAR_TOL
    for _, g in gate.groupby("seed"):
        g = g.set_index("lam").sort_index()
        assert g.loss_d1.nunique() == 1 and g.loss_d2.nunique() == 1
        assert abs(g.loss.loc[1.0] - g.loss_d1.iloc[0]) < LINEAR_TOL
        assert abs(g.loss.loc[0.0] - g.loss_d2.iloc[0]) < LINEAR_TOL
        mid = g.loss.loc[0.5]
        assert abs(mid - 0.5 * (g.loss.loc[0.0] + g.loss.loc[1.0])) < LINEAR_TOL
    for gate_info in runs[0].summary["gates"]:
        lam_bar = np.array(gate_info["lam_bar"])
        assert abs(lam_bar.sum() - 1) < 1e-9 and (lam_bar >= 0).all()


def test_task_entropy_rate_and_conflict_are_exact():
    """SPEC DH data: the generator's entropy rate is exact (every conditional has entropy
    h(eps)), the conflict knob is the exact fraction of contexts whose rules differ, and the
    exact log-likelihood matches the conditional tables."""
    rng = np.random.default_rng(0)
    for c in (0.0, 0.25, 1.0):
        task = D.make_task(vocab=6, seq_len=9, conflict=c, noise=0.2, rng=rng)
        assert task.conflict == pytest.approx(round(c * 36) / 36, abs=0)
        assert (task.rules[0] != task.rules[1]).mean() == pytest.approx(task.conflict, abs=0)
        for k in range(2):
            tab = task.conditional(k)
            assert np.abs(tab.sum(-1) - 1).max() < ENTROPY_TOL
            h = -(tab * np.log(tab)).sum(-1)
            want = (2 * np.log(6) + 7 * h.mean()) / 9
            assert abs(task.entropy[k] - want) < ENTROPY_TOL
            x = D.sample(task, k, 50, rng)
            ll = D.log_likelihood(task, x)[k]
            direct = np.log(tab[x[:, :-2], x[:, 1:-1], x[:, 2:]])
            assert np.abs(ll[:, 2:] - direct).max() < ENTROPY_TOL
    with pytest.raises(ValueError, match="conflict"):
        D.make_task(conflict=1.5, rng=rng)


def test_router_holds_the_bayes_sequence_mixture():
    """SPEC SD: with beta = 1, no hidden term and c = log w, the causal router's gated sequence
    log-likelihood equals log(sum_k w_k P_k(x)) exactly (experts = the true domains here)."""
    from robust_gates.paper_repro.neural.model import Router

    rng = np.random.default_rng(1)
    task = D.make_task(vocab=5, seq_len=8, conflict=1.0, noise=0.3, rng=rng)
    x = np.concatenate([D.sample(task, k, 20, rng) for k in range(2)])
    tok = torch.from_numpy(D.log_likelihood(task, x)).permute(1, 2, 0).double()  # (N, T, K)
    w = np.array([0.3, 0.7])
    router = Router(4, torch.Generator().manual_seed(0)).double()
    with torch.no_grad():
        router.c.copy_(torch.from_numpy(np.log(w)))
        router.U.zero_()
    gated = router(tok).sum(1).detach().numpy()
    seq = D.log_likelihood(task, x).sum(2)
    exact = np.logaddexp(np.log(w[0]) + seq[0], np.log(w[1]) + seq[1])
    assert np.abs(gated - exact).max() < 1e-9


def test_cli_tiny_and_missing_torch(tmp_path, capsys, monkeypatch):
    """The `repro` command runs the tiny path end to end, and without torch it exits 2 naming
    the install command."""
    out = tmp_path / "cli"
    assert cli_main(["repro", "fig5", "--tiny", "--seeds", "1", "--out", str(out), "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert "parameters:" in text and "robust_gate/modular" in text
    assert (out / fig5.DATA_FILE).exists() and (out / "fig5.png").exists()

    import importlib.util

    from robust_gates.paper_repro.commands import repro

    real = importlib.util.find_spec
    monkeypatch.setattr(repro.importlib.util, "find_spec",
                        lambda name, *a: None if name == "torch" else real(name, *a))
    assert cli_main(["repro", "fig5", "--tiny", "--out", str(out)]) == 2
    assert 'pip install -e ".[torch]"' in capsys.readouterr().err


ONE_SEED = fig5.with_overrides(fig5.TINY, seeds=1)


def _failing_on_call(n: int):
    """A stand-in for ``train_router`` that raises on its ``n``-th call and trains otherwise."""
    from robust_gates.paper_repro.neural import train

    real_train_router, calls = train.train_router, []

    def train_router(*args, **kwargs):
        calls.append(1)
        if len(calls) == n:
            raise RuntimeError("stopped on purpose")
        return real_train_router(*args, **kwargs)

    return train_router


def test_threads_restored_after_an_exception(tmp_path, monkeypatch):
    """torch's thread count is restored when a stage raises, not only on success."""
    from robust_gates.paper_repro.neural import train

    before = torch.get_num_threads()
    torch.set_num_threads(3)
    try:
        monkeypatch.setattr(train, "train_router", _failing_on_call(1))
        with pytest.raises(RuntimeError, match="stopped on purpose"):
            fig5.main(ONE_SEED, tmp_path, progress=False, draw=False)  # ONE_SEED.threads == 1
        assert torch.get_num_threads() == 3
    finally:
        torch.set_num_threads(before)


def test_resume_after_a_failure_reproduces_the_run(runs, tmp_path, monkeypatch):
    """A run stopped in its second seed keeps the first seed's checkpoint; the rerun into the
    same folder restores it, computes the rest, and every number equals an uninterrupted run."""
    from robust_gates.paper_repro.neural import train

    with monkeypatch.context() as m:
        m.setattr(train, "train_router", _failing_on_call(2))
        with pytest.raises(RuntimeError, match="stopped on purpose"):
            fig5.main(fig5.TINY, tmp_path, seed=3, progress=False, draw=False)
    assert [p.name.rsplit("_", 1)[1] for p in (tmp_path / runner.CHECKPOINT_DIR).glob("*.pt")] == ["seed3.pt"]
    res = fig5.main(fig5.TINY, tmp_path, seed=3, progress=False, draw=False)
    assert list(res.summary["restored_checkpoints"]) == ["seed3"]
    pd.testing.assert_frame_equal(res.table, runs[0].table, check_exact=True)
    pd.testing.assert_frame_equal(res.cosine, runs[0].cosine, check_exact=True)
    assert res.summary["gates"] == runs[0].summary["gates"]
    again = fig5.main(fig5.TINY, tmp_path, seed=3, progress=False, draw=False, resume=False)
    assert again.summary["restored_checkpoints"] == {}
    pd.testing.assert_frame_equal(again.table, runs[0].table, check_exact=True)


def _digests(folder: Path) -> dict:
    files = sorted(p for p in folder.iterdir() if p.is_file())
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


def test_default_output_folder_is_fresh_and_not_shipped(tmp_path, monkeypatch):
    """Without an output folder a run writes into a new folder under ./results, a second run into
    another one, and the shipped tables are left as they are."""
    shipped = _digests(runner.SHIPPED_DIR)
    monkeypatch.chdir(tmp_path)
    a = fig5.main(ONE_SEED, progress=False, draw=False)
    b = fig5.main(ONE_SEED, progress=False, draw=False)
    for res in (a, b):
        out = Path(res.out_dir).resolve()
        assert out.parent == (tmp_path / "results").resolve() and out.name.startswith("repro-fig5-tiny-")
        assert Path(res.paths["table"]).resolve().parent == out
    assert a.out_dir != b.out_dir
    assert _digests(runner.SHIPPED_DIR) == shipped
    assert cli_main(["repro", "fig5", "--tiny", "--seeds", "1", "--no-progress"]) == 0
    assert len(list((tmp_path / "results").iterdir())) == 3
    assert _digests(runner.SHIPPED_DIR) == shipped


def test_update_shipped_is_required_to_write_there(tmp_path, monkeypatch, capsys):
    """The shipped folder is written only with --update-shipped, and then only by the full
    configuration at seed 0 unless --force; each refusal is one line and exit status 2."""
    shipped = _digests(runner.SHIPPED_DIR)
    with pytest.raises(UserError, match="update-shipped"):
        fig5.main(ONE_SEED, runner.SHIPPED_DIR, progress=False)
    with pytest.raises(UserError, match="update-shipped"):
        fig5.main(ONE_SEED, runner.SHIPPED_DIR / "sub", progress=False)
    refusals = {
        ("--out", str(runner.SHIPPED_DIR)): "--update-shipped",
        ("--update-shipped",): "refusing to replace the shipped full-run results",
        ("--update-shipped", "--out", str(tmp_path / "elsewhere")): "leave out --out",
        ("--force",): "--force applies only with --update-shipped",
        ("--seeds", "0"): "positive integers",
        ("--seed", "-1"): "non-negative",
        ("--steps", "5"): "`repro real` only",
    }
    for extra, message in refusals.items():
        assert cli_main(["repro", "fig5", "--tiny", "--no-progress", *extra]) == 2, extra
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1, (extra, err)
    assert _digests(runner.SHIPPED_DIR) == shipped
    # with --update-shipped --force the (here: stand-in) shipped folder is written
    monkeypatch.setattr(runner, "SHIPPED_DIR", tmp_path / "shipped")
    assert cli_main(["repro", "fig5", "--tiny", "--seeds", "1", "--no-progress", "--update-shipped",
                     "--force"]) == 0
    summary = json.loads((tmp_path / "shipped" / fig5.SUMMARY_FILE).read_text())
    assert summary[runner.RUN_KEY]["shipped"] and not summary[runner.RUN_KEY]["full"]


def test_summary_records_the_configuration(runs):
    """Every summary says which configuration it came from (the report labels figures by it)."""
    run = runs[0].summary[runner.RUN_KEY]
    assert run == {**run, "experiment": "fig5", "config": "tiny", "overrides": {}, "seeds": [3, 4],
                   "steps": fig5.TINY.steps, "gate_steps": fig5.TINY.gate_steps, "full": False,
                   "label": "tiny (seed=3)", "shipped": False}
    assert runner.provenance(fig5.EXPERIMENT, fig5.FULL, 0)["full"]
    assert runner.provenance(fig5.EXPERIMENT, fig5.with_overrides(fig5.FULL, threads=8), 0)["full"]
    short = runner.provenance(fig5.EXPERIMENT, fig5.with_overrides(fig5.FULL, steps=10), 0)
    assert not short["full"] and short["label"] == "full (steps=10)" and short["overrides"] == {"steps": 10}
    assert not runner.provenance(fig5.EXPERIMENT, fig5.FULL, 1)["full"]
