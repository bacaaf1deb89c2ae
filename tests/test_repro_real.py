"""`robust-gates repro real`: the real-text corpus (deterministic, disjoint splits; clear errors
for a missing domain), the byte-level models, and the tiny end-to-end run (schema, the minimax
property of the robust gate on its own data, resume, and any number of domains)."""

import json

import numpy as np
import pandas as pd
import pytest

from robust_gates.paper_repro.neural import text_data as T

CORPUS_COLUMNS = ["method", "size", "params", "split", "domain", "bpb"]
TABLE_COLUMNS = ["method", "split", "size", "params", "bpb_python", "bpb_prose", "bpb_c",
                 "worst_simplex", "worst_box", "average"]
GRID_COLUMNS = ["method", "split", "lam_name", "lam_python", "lam_prose", "lam_c", "in_box", "bpb"]
EXACT_TOL = 1e-5  # float32 model outputs compared with float64 recomputations
MINIMAX_SLACK = 0.0  # the robust gate must not be worse than the uniform mixture at all


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return T.load_corpus(tmp_path_factory.mktemp("cache"))


def test_split_is_deterministic_disjoint_and_complete(corpus, tmp_path):
    """Every document lands in exactly one split, by a hash of its path only; a rebuild without
    the cache gives identical bytes, and the cached copy matches too."""
    again = T.load_corpus(tmp_path, use_cache=False)
    cached = T.load_corpus(corpus.info["cache"].rsplit("/", 1)[0])
    assert cached.info["from_cache"] and not again.info["from_cache"]
    for d in T.DOMAINS:
        names = [set(corpus.documents[d][s]) for s in T.SPLITS]
        assert all(names), f"domain {d} has an empty split"
        assert not (names[0] & names[1] or names[0] & names[2] or names[1] & names[2])
        listed = {rel for rel, _ in T.list_documents(d)}
        assert set().union(*names) == listed
        for s, group in zip(T.SPLITS, names, strict=True):
            assert all(T.split_of(d, rel) == s for rel in group)
            assert np.array_equal(corpus.data[d][s], again.data[d][s])
            assert np.array_equal(corpus.data[d][s], cached.data[d][s])
            assert corpus.data[d][s].dtype == np.uint8
    # the split of a path does not depend on anything else
    assert T.split_of("python", "json/decoder.py") == T.split_of("python", "json/decoder.py")
    fractions = np.array([len(corpus.documents["python"][s]) for s in T.SPLITS], float)
    fractions /= fractions.sum()
    assert fractions[0] > 0.7 and fractions[1] > 0.05 and fractions[2] > 0.05


def test_corpus_contents(corpus):
    """Python code without test packages or site-packages, prose from pydoc_data, C headers;
    all bytes valid UTF-8; the Python version and byte counts are recorded."""
    import platform
    from pydoc_data.topics import topics

    py = [rel for s in T.SPLITS for rel in corpus.documents["python"][s]]
    assert all(rel.endswith(".py") for rel in py)
    assert not any(part in ("test", "tests", "site-packages") for rel in py for part in rel.split("/")[:-1])
    assert "os.py" in py and "json/decoder.py" in py
    assert set().union(*(corpus.documents["prose"][s] for s in T.SPLITS)) <= set(topics)
    h = [rel for s in T.SPLITS for rel in corpus.documents["c"][s]]
    assert "Python.h" in h and all(rel.endswith(".h") for rel in h)
    for d in T.DOMAINS:
        for s in T.SPLITS:
            corpus.data[d][s].tobytes().decode("utf-8")  # raises if not UTF-8
            assert b"\r" not in corpus.data[d][s].tobytes()
    assert corpus.python_version == platform.python_version()
    assert corpus.info["bytes"] == corpus.bytes_table()
    assert corpus.bytes_table()["python"]["train"] > corpus.bytes_table()["prose"]["train"]


def test_normalization_and_exclusions(tmp_path):
    """A synthetic standard library: declared Latin-1 sources and CRLF line endings become UTF-8
    with LF; test packages and site-packages are left out; a domain too small to fill all three
    splits is a clear error."""
    lib = tmp_path / "lib"
    for i in range(40):
        (lib / "pkg").mkdir(parents=True, exist_ok=True)
        (lib / "pkg" / f"m{i}.py").write_bytes(b"# -*- coding: latin-1 -*-\r\ns = '\xe9'\r\n")
    for skip in ("test", "site-packages", "pkg/tests"):
        (lib / skip).mkdir(parents=True, exist_ok=True)
        (lib / skip / "x.py").write_bytes(b"SKIPPED = 1\n")
    c = T.load_corpus(tmp_path / "cache", domains=("python",), stdlib=lib, use_cache=False)
    names = [rel for s in T.SPLITS for rel in c.documents["python"][s]]
    assert sorted(names) == sorted(f"pkg/m{i}.py" for i in range(40))
    text = b"\n".join(c.data["python"][s].tobytes() for s in T.SPLITS).decode("utf-8")
    assert "s = '\u00e9'\n" in text and "\r" not in text and "SKIPPED" not in text
    small = tmp_path / "small"
    small.mkdir()
    (small / "only.py").write_text("x = 1\n")
    with pytest.raises(T.MissingDomainError, match="no documents in split"):
        T.load_corpus(tmp_path / "cache", domains=("python",), stdlib=small, use_cache=False)


def test_missing_domain_names_the_package(tmp_path):
    """No C headers: the error names the domain, the folder and python3-dev; no stdlib source:
    the error names the folder."""
    with pytest.raises(T.MissingDomainError, match=r"domain 'c'.*Python\.h.*python3-dev"):
        T.load_corpus(tmp_path / "cache", include=tmp_path)
    with pytest.raises(T.MissingDomainError, match="domain 'python'"):
        T.load_corpus(tmp_path / "cache", stdlib=tmp_path / "nowhere")


def test_missing_headers_via_cli(tmp_path, monkeypatch, capsys):
    """The command line reports a missing domain as one line and exit status 2."""
    pytest.importorskip("torch")
    import sysconfig

    from robust_gates.paper_repro.cli import main as cli_main

    real_paths = sysconfig.get_paths()
    monkeypatch.setattr(sysconfig, "get_paths", lambda *a, **k: {**real_paths, "include": str(tmp_path)})
    assert cli_main(["repro", "real", "--tiny", "--out", str(tmp_path / "o"), "--cache",
                     str(tmp_path / "c"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "python3-dev" in err and "Traceback" not in err


def test_windows():
    arr = np.arange(100, dtype=np.uint8)
    w = T.eval_windows(arr, 11)
    assert w.shape == (9, 11)
    # consecutive windows overlap by one byte, so every byte after the first is a target once
    assert np.array_equal(w[1:, 0], w[:-1, -1])
    targets = w[:, 1:].ravel()
    assert len(np.unique(targets)) == len(targets) and targets.min() == 1
    assert T.eval_windows(arr, 11, cap=3).shape == (3, 11)
    r = T.random_windows(arr, 50, 11, np.random.default_rng(0))
    assert r.shape == (50, 11) and np.all(np.diff(r, axis=1) == 1)
    with pytest.raises(ValueError, match="shorter than one window"):
        T.random_windows(arr[:5], 1, 11, np.random.default_rng(0))


def test_allocate():
    allocate = T.allocate
    for lam, batch in (([1, 0, 0], 32), ([1 / 3] * 3, 32), ([0.6, 0.3, 0.1], 32), ([0.1, 0.3, 0.6], 7)):
        n = allocate(np.array(lam), batch)
        assert n.sum() == batch and ((n > 0) == (np.array(lam) > 0)).all()
        assert np.abs(n - batch * np.array(lam)).max() < 1  # largest remainders
    # a tiny weight still gets one window (its loss weight lam_k / n_k keeps the mixture exact)
    assert allocate(np.array([0.98, 0.01, 0.01]), 6).tolist() == [4, 1, 1]
    with pytest.raises(ValueError, match="smaller than"):
        allocate(np.array([0.5, 0.3, 0.2]), 2)


@pytest.fixture(scope="module")
def torch_mod():
    return pytest.importorskip("torch")


def test_gpt_stack_is_causal_and_members_independent(torch_mod):
    torch = torch_mod
    from robust_gates.paper_repro.neural.gpt import GPTSize, GPTStack, gpt_params

    size = GPTSize(16, 2, 2)
    stack = GPTStack(3, size, 12, torch.Generator().manual_seed(0)).eval()
    assert stack.member_params() == gpt_params(size, 256, 12)
    x = torch.randint(0, 256, (4, 12), generator=torch.Generator().manual_seed(1))
    lp = stack.token_logp(x)
    assert lp.shape == (3, 4, 11) and (lp <= 0).all()
    y = x.clone()
    y[:, 8:] = (y[:, 8:] + 1) % 256
    lp2 = stack.token_logp(y)
    assert torch.allclose(lp[..., :7], lp2[..., :7], atol=1e-6)  # targets 1..7 see only x_0..x_7
    assert not torch.allclose(lp[..., 7:], lp2[..., 7:])
    with torch.no_grad():
        stack.fc_w[:, 1].mul_(3.0)
    lp3 = stack.token_logp(x)
    assert torch.allclose(lp[0], lp3[0]) and torch.allclose(lp[2], lp3[2])
    assert not torch.allclose(lp[1], lp3[1])
    full = stack(x)
    assert torch.allclose(full.exp().sum(-1), torch.ones(3, 4, 12), atol=1e-5)


def test_krouter_baselines_are_exact(torch_mod):
    """SPEC SD: KRouter.bayes(w) reproduces the sequence-level mixture sum_k w_k P_k(x) exactly,
    and KRouter.constant(w) the token-level mixture (both recomputed in float64)."""
    torch = torch_mod
    from robust_gates.paper_repro.neural.gpt import KRouter, krouter_params

    rng = np.random.default_rng(0)
    tok = np.log(rng.dirichlet(np.ones(5), size=(7, 9)))[..., :3]  # (N, T, K) log-probabilities
    w = np.array([0.5, 0.3, 0.2])
    t = torch.from_numpy(tok).float()
    seq = np.log(w) + np.cumsum(tok, axis=1)  # log w_k P_k(x_<=t)
    bayes_ref = np.logaddexp.reduce(seq, axis=2)
    bayes_ref = np.diff(np.concatenate([np.zeros((7, 1)), bayes_ref], axis=1), axis=1)
    assert np.abs(KRouter.bayes(w)(t).detach().double().numpy() - bayes_ref).max() < EXACT_TOL
    const_ref = np.logaddexp.reduce(np.log(w) + tok, axis=2)
    assert np.abs(KRouter.constant(w)(t).detach().double().numpy() - const_ref).max() < EXACT_TOL
    vertex = KRouter.bayes(np.array([0.0, 1.0, 0.0]))(t).detach().double().numpy()
    assert np.abs(vertex - tok[..., 1]).max() < EXACT_TOL
    r = KRouter(3, 8, torch.Generator().manual_seed(0))
    assert r.n_params() == krouter_params(3, 8)
    with pytest.raises(ValueError, match="probability vector"):
        KRouter.bayes(np.array([0.5, 0.6, -0.1]))


@pytest.fixture(scope="module")
def tiny_run(torch_mod, corpus, tmp_path_factory):
    from robust_gates.paper_repro.neural import real

    out = tmp_path_factory.mktemp("real")
    return real.main(real.TINY, out, seed=0, progress=False, corpus=corpus)


def test_tiny_run_schema(tiny_run):
    from robust_gates.paper_repro.neural import real

    bpb = pd.read_csv(tiny_run.paths["bpb"])
    assert list(bpb.columns) == CORPUS_COLUMNS
    single = [m for m in real.METHODS if m != "oracle"]
    assert set(bpb.method) == set(single)
    assert len(bpb) == len(single) * 2 * 3  # methods x {valid, test} x domains
    assert set(bpb.split) == {"valid", "test"} and set(bpb.domain) == set(T.DOMAINS)
    assert (bpb.bpb > 0).all() and (bpb.bpb < 16).all()
    table = pd.read_csv(tiny_run.paths["table"])
    assert list(table.columns) == TABLE_COLUMNS
    assert set(table.method) == set(real.METHODS) and len(table) == 2 * len(real.METHODS)
    grid = pd.read_csv(tiny_run.paths["grid"])
    assert list(grid.columns) == GRID_COLUMNS
    lam = grid[["lam_python", "lam_prose", "lam_c"]].to_numpy()
    assert np.allclose(lam.sum(axis=1), 1)
    summary = json.loads(open(tiny_run.paths["summary"]).read())
    assert summary["python_version"] and summary["corpus"]["bytes"]["c"]["train"] > 0
    for name in ("robust_gate", "robust_gate_box"):
        g = summary["gates"][name]
        assert np.isclose(sum(g["lam_bar"]), 1) and np.isclose(sum(g["lam_star_test"]), 1)
    box = real.TINY.box
    assert box.contains(np.array(summary["gates"]["robust_gate_box"]["lam_bar"]))
    with open(tiny_run.paths["figure"], "rb") as fh:
        assert fh.read(8) == b"\x89PNG\r\n\x1a\n"


def test_tiny_gradient_cosines(tiny_run):
    """SPEC DH, measured: one split-half and three cross-domain cosines per expert and per
    monolithic model, each in [-1, 1], and the summary's minimum matches the table."""
    cos = pd.read_csv(tiny_run.paths["cosine"])
    assert list(cos.columns) == ["method", "size", "domain_a", "domain_b", "cos", "windows"]
    assert set(cos.method) == {"expert_python", "expert_prose", "expert_c", "monolithic_smaller",
                               "monolithic_larger"}
    assert (cos.groupby("method").size() == 6).all()
    assert cos.cos.between(-1, 1).all() and cos.cos.abs().gt(0).all()
    summary = tiny_run.summary["gradient_cosine"]
    cross = tiny_run.cosine[tiny_run.cosine.domain_a != tiny_run.cosine.domain_b]
    for method, g in cross.groupby("method"):
        assert summary[method]["min_cross_domain"] == pytest.approx(g.cos.min(), abs=1e-12)


def test_gradient_cosines_use_the_right_member(torch_mod, corpus):
    """The cosines of member 1 of a two-member stack equal those of a one-member stack holding
    the same weights (same random windows): the per-member slices are the right ones."""
    torch = torch_mod
    from robust_gates.paper_repro.neural.gpt import GPTSize, GPTStack
    from robust_gates.paper_repro.neural.real import gradient_cosines

    size = GPTSize(16, 2, 2)
    two = GPTStack(2, size, 16, torch.Generator().manual_seed(0))
    one = GPTStack(1, size, 16, torch.Generator().manual_seed(1))
    with torch.no_grad():
        for (name, p1), p2 in zip(one.named_parameters(), two.parameters(), strict=True):
            per_layer = name.startswith(("ln1_", "attn_", "proj_", "ln2_", "fc_", "out_"))
            p1.copy_(p2[:, 1:2] if per_layer else p2[1:2])
    a = gradient_cosines(two, 1, corpus, 16, 16, 8, np.random.default_rng(5))
    b = gradient_cosines(one, 0, corpus, 16, 16, 8, np.random.default_rng(5))
    assert [r["cos"] for r in a] == pytest.approx([r["cos"] for r in b], abs=EXACT_TOL)
    c = gradient_cosines(two, 0, corpus, 16, 16, 8, np.random.default_rng(5))
    assert [r["cos"] for r in a] != pytest.approx([r["cos"] for r in c], abs=EXACT_TOL)


def test_tiny_table_is_consistent(tiny_run):
    """Worst cases and averages are recomputed from the per-domain entries; the modular methods
    count three experts (plus the router)."""
    from robust_gates.paper_repro.neural import real

    t = tiny_run.table.set_index(["method", "split"])
    dom = t[["bpb_python", "bpb_prose", "bpb_c"]].to_numpy()
    single = t.index.get_level_values(0) != "oracle"
    assert np.allclose(t.worst_simplex.to_numpy()[single], dom[single].max(axis=1))
    assert np.allclose(t.average.to_numpy()[single], dom[single].mean(axis=1))
    box = real.TINY.box
    for (method, _split), row in t.iterrows():
        if method != "oracle":
            value, lam = box.maximize_linear(row[["bpb_python", "bpb_prose", "bpb_c"]].to_numpy(float))
            assert row.worst_box == pytest.approx(value, abs=1e-9) and box.contains(lam)
    p = tiny_run.summary["params"]
    assert t.loc[("uniform_mixture", "test"), "params"] == 3 * p["smaller"]
    assert t.loc[("robust_gate", "test"), "params"] == p["modular_total"] == 3 * p["smaller"] + p["router"]


def test_robust_gate_minimax_on_validation(tiny_run):
    """SPEC SC and algorithm 4: the minimax property on the routers' own (validation) data. The
    uniform mixture of experts is a point of the router class, so the primal-dual gate's worst
    case over Lambda is no worse than that fixed mixture's (simplex gate: worst domain; box
    gate: worst over the box)."""
    t = tiny_run.table[tiny_run.table.split == "valid"].set_index("method")
    assert t.loc["robust_gate", "worst_simplex"] <= t.loc["uniform_mixture", "worst_simplex"] + MINIMAX_SLACK
    assert t.loc["robust_gate_box", "worst_box"] <= t.loc["uniform_mixture", "worst_box"] + MINIMAX_SLACK


def test_resume_restores_models_and_reproduces(torch_mod, corpus, tmp_path):
    """A rerun with the same configuration and seed restores the trained models from the
    checkpoints and reproduces every number; resume=False trains again, with the same result
    (each stage has its own random stream and seeds its dropout masks)."""
    from robust_gates.paper_repro.neural import real

    cfg = real.with_overrides(real.TINY, steps=8, gate_steps=20)
    a = real.main(cfg, tmp_path, seed=1, progress=False, corpus=corpus, draw=False)
    b = real.main(cfg, tmp_path, seed=1, progress=False, corpus=corpus, draw=False)
    c = real.main(cfg, tmp_path, seed=1, progress=False, corpus=corpus, draw=False, resume=False)
    assert a.summary["restored_checkpoints"] == {} and c.summary["restored_checkpoints"] == {}
    assert set(b.summary["restored_checkpoints"]) == {"smaller", "larger"}
    pd.testing.assert_frame_equal(a.table, b.table)
    pd.testing.assert_frame_equal(a.table, c.table)
    d = real.main(cfg, tmp_path, seed=2, progress=False, corpus=corpus, draw=False)
    assert d.summary["restored_checkpoints"] == {}
    assert not np.allclose(d.table.average, a.table.average)
    # settings that do not change the trained models (routers, evaluation) reuse the checkpoints
    e = real.main(real.with_overrides(cfg, gate_steps=10, eval_cap=8), tmp_path, seed=1,
                  progress=False, corpus=corpus, draw=False)
    assert set(e.summary["restored_checkpoints"]) == {"smaller", "larger"}


def test_cli_tiny(torch_mod, corpus, tmp_path, capsys):
    from robust_gates.paper_repro.cli import main as cli_main

    cache = corpus.info["cache"].rsplit("/", 1)[0]
    out = tmp_path / "cli"
    assert cli_main(["repro", "real", "--tiny", "--out", str(out), "--cache", cache, "--no-progress",
                     "--steps", "5"]) == 0
    text = capsys.readouterr().out
    assert "bits per byte on the test split" in text and "robust_gate" in text and "lam*" in text
    assert (out / "real_table.csv").exists() and (out / "real_text.png").exists()
    assert "restored from checkpoints" not in text
    assert cli_main(["repro", "real", "--tiny", "--out", str(out), "--cache", cache, "--no-progress",
                     "--steps", "5"]) == 0
    assert "restored from checkpoints" in capsys.readouterr().out
    summary = json.loads((out / "real_summary.json").read_text())
    assert summary["run"]["label"] == "tiny (steps=5)" and summary["run"]["seeds"] == [0]
    assert cli_main(["repro", "real", "--tiny", "--seeds", "2", "--out", str(out)]) == 2
    assert "--seeds applies to `repro fig5` only" in capsys.readouterr().err


def _synthetic_corpus(K: int, size: int = 4000):
    """A corpus of ``K`` made-up domains (each its own repeated phrase with random noise)."""
    rng = np.random.default_rng(K)
    data = {}
    for k in range(K):
        phrase = np.frombuffer(f"domain {k} says {'ab' * (k + 1)}; ".encode(), dtype=np.uint8)
        data[f"d{k}"] = {}
        for s in T.SPLITS:
            arr = np.resize(phrase, size).copy()
            flip = rng.random(size) < 0.1
            arr[flip] = rng.integers(32, 127, flip.sum())
            data[f"d{k}"][s] = arr
    return T.Corpus(data, "synthetic", {d: {s: [] for s in T.SPLITS} for d in data}, {})


@pytest.mark.parametrize("K", [2, 4])
def test_domain_count_comes_from_the_data(torch_mod, tmp_path, K):
    """The number of experts, of per-domain columns and of gradient-cosine rows follows the
    corpus's domains (here 2 and 4 made-up ones), not a fixed three."""
    from robust_gates.paper_repro.neural import real

    corpus = _synthetic_corpus(K)
    uniform, eye = np.full(K, 1 / K), np.eye(K)
    cfg = real.with_overrides(real.TINY, steps=4, gate_steps=10, mixed_a=tuple(0.5 * eye[0] + 0.5 * uniform),
                              mixed_b=tuple(0.5 * eye[-1] + 0.5 * uniform), box_lo=(0.1,) * K,
                              box_hi=(0.9,) * K)
    res = real.main(cfg, tmp_path, progress=False, draw=False, corpus=corpus)
    domains = [f"d{k}" for k in range(K)]
    experts = [f"expert_{d}" for d in domains]
    assert list(res.table.columns) == ["method", "split", "size", "params", *[f"bpb_{d}" for d in domains],
                                       "worst_simplex", "worst_box", "average"]
    assert set(experts) <= set(res.table.method)
    assert list(res.grid.lam_name.unique()) == [*domains, "uniform", "mixed_a", "mixed_b"]
    p = res.summary["params"]
    assert p["modular_total"] == K * p["smaller"] + p["router"]
    assert len(res.summary["gates"]["robust_gate"]["lam_bar"]) == K
    assert (res.cosine.groupby("method").size() == K + K * (K - 1) // 2).all()
    t = res.table.set_index(["method", "split"])
    for d in domains:  # the oracle's vertex entries are the experts on their own domain
        assert t.loc[("oracle", "test"), f"bpb_{d}"] == t.loc[(f"expert_{d}", "test"), f"bpb_{d}"]
    with pytest.raises(ValueError, match="one weight per domain"):
        real.main(real.TINY, tmp_path / "three", progress=False, draw=False, corpus=corpus)
