"""Teaching demos (issue 10): the marimo notebooks run headless, show the library's numbers, and a
served demo reacts to a slider in headless Chromium.

Each notebook is checked against an independent computation: the values it displays are recomputed
here with the reference (cvxpy) solver, Blahut-Arimoto or :func:`robust_gates.theory.certify`, never
through the
demo helpers alone.
"""

from __future__ import annotations

import contextlib
import html
import importlib.util
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from robust_gates.paper_repro.demos import DEMOS, demo_path

marimo = pytest.importorskip("marimo", reason="the demos need marimo (the dev and demos extras install it)")

from robust_gates.paper_repro.demos import _lib as lib  # noqa: E402
from robust_gates.theory import Box, RobustProblem, capacity, kl, solve  # noqa: E402

#: agreement between the fast solver (certificate tol 1e-9 or better) and the reference solver
VALUE_TOL = 1e-6
#: slack for inequalities between computed quantities (solver certificates are far below it)
INEQ_TOL = 1e-7
ROOT = Path(__file__).resolve().parents[1]


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"demo_{name}", demo_path(name))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.app


def _run(name: str):
    """Run every cell of the notebook (marimo's script mode); return (outputs, defs, cell count)."""
    outputs, defs = _load(name).run()
    cells = demo_path(name).read_text().count("@app.cell")
    return outputs, defs, cells


def _headline(name: str, defs) -> float:
    """The headline number in the text of the notebook's ``values`` output (the callout's body)."""
    text = defs["values"].text
    m = re.search(DEMOS[name].headline, html.unescape(re.sub(r"<[^>]+>", "", text)))
    assert m, f"the headline of {name} is not on the page"
    return float(m.group(1))


# --------------------------------------------------------------------------- registry and CLI
def test_registry_lists_three_notebooks():
    """Issue 10: three demos, each a marimo app file with a one-line description."""
    assert list(DEMOS) == ["game_on_simplex", "jsd_gap", "learning_from_samples"]
    for d in DEMOS.values():
        assert d.path.is_file(), d.path
        assert "marimo.App(" in d.path.read_text()
        assert d.description and "\n" not in d.description
    with pytest.raises(ValueError, match="unknown demo"):
        demo_path("nope")


def test_notebooks_run_as_scripts():
    """Issue 10: ``python paper_repro/demos/X.py`` runs every cell without error (all three in parallel)."""
    env = {**os.environ, "MPLBACKEND": "Agg", "MARIMO_SKIP_UPDATE_CHECK": "1"}
    procs = {name: subprocess.Popen([sys.executable, str(d.path)], cwd=ROOT, env=env,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for name, d in DEMOS.items()}
    for name, p in procs.items():
        try:
            out, err = p.communicate(timeout=120)
        finally:
            if p.poll() is None:
                p.kill()
        assert p.returncode == 0, f"{name} failed:\n{err.decode()[-3000:]}"
        assert b"Traceback" not in err, err.decode()[-3000:]


def test_teach_lists_demos(capsys):
    """Issue 10: ``robust-gates teach`` without a name lists every demo."""
    from robust_gates.paper_repro.cli import main

    assert main(["teach"]) == 0
    out = capsys.readouterr().out
    for name in DEMOS:
        assert name in out


def test_teach_without_marimo_names_the_install(monkeypatch, capsys):
    """Issue 10: a missing marimo gives a one-line error naming ``pip install marimo`` and the extra."""
    import robust_gates.paper_repro.commands.teach as teach
    from robust_gates.paper_repro.cli import main

    real = importlib.util.find_spec
    monkeypatch.setattr(teach.importlib.util, "find_spec",
                        lambda name, *a: None if name == "marimo" else real(name, *a))
    assert main(["teach", "jsd_gap"]) == 2
    err = capsys.readouterr().err
    assert "pip install marimo" in err and ".[demos]" in err


def test_teach_command_line():
    """Issue 10: ``teach NAME --port P --headless`` becomes ``marimo run FILE --port P --headless``."""
    from robust_gates.paper_repro.commands.teach import marimo_command
    from robust_gates.paper_repro.errors import UserError

    cmd = marimo_command(demo_path("jsd_gap"), 2718, headless=True)
    assert cmd[1:4] == ["-m", "marimo", "run"]
    assert cmd[4] == str(demo_path("jsd_gap"))
    assert cmd[cmd.index("--port") + 1] == "2718" and "--headless" in cmd
    with pytest.raises(UserError, match="port"):
        marimo_command(demo_path("jsd_gap"), 70000)


# --------------------------------------------------------------------------- helpers
def test_box_around_contains_centre_and_rejects_bad_input():
    """Issue 10 / SPEC section 1 (Lambda a box): the demo's box holds its centre and is validated."""
    box = lib.box_around((0.7, 0.5, 0.0), 0.1)  # rescaled onto the simplex
    c = np.array([0.7, 0.5, 0.0]) / 1.2
    assert box.contains(c)
    assert np.all(box.lo >= 0) and np.all(box.hi <= 1)
    with pytest.raises(ValueError, match="centre"):
        lib.box_around((0, 0, 0), 0.1)
    with pytest.raises(ValueError, match="half-width"):
        lib.box_around((1, 0, 0), 0.0)


def test_gaussian_mixture_fit():
    """Issue 10 (SPEC MB setting): one Gaussian fitted by EM is moment matching; six recover six modes."""
    x = lib._grid()
    agg = lib.jsd_domains(0.8).mean(axis=0)
    q1 = lib.fit_gaussian_mixture(x, agg, 1)
    mean, var = agg @ x, agg @ (x - agg @ x) ** 2
    moment_matched = lib._bumps(x, np.array([mean]), np.array([np.sqrt(var)]))[0]  # truncated to [0, 1]
    assert np.max(np.abs(q1 - moment_matched)) < 1e-9
    q6 = lib.fit_gaussian_mixture(x, agg, 6)
    assert float(kl(agg, q6)) < 1e-3
    with pytest.raises(ValueError, match="components"):
        lib.fit_gaussian_mixture(x, agg, 0)


# --------------------------------------------------------------------------- the notebooks' numbers
def test_game_on_simplex_numbers():
    """SPEC T1, T3, LF (paper 4.2-4.4): the simplex demo shows certified values that match the
    reference solver, T3 holds with equality (lam* has full support) and the equalizer holds."""
    outputs, defs, cells = _run("game_on_simplex")
    assert len(outputs) == cells
    s = defs["summary"]
    D, P = s["D"], s["P"]
    c, h = np.array(defs["centre"]), defs["half_width"].value
    box = Box(np.clip(c - h, 0, 1), np.clip(c + h, 0, 1))
    ref_box = solve(RobustProblem(D, P, Lambda=box), solver="reference")
    ref_full = solve(RobustProblem(D, P), solver="reference")
    assert abs(s["V_box"] - ref_box.value) < VALUE_TOL
    assert abs(s["V_simplex"] - ref_full.value) < VALUE_TOL
    shown = _headline("game_on_simplex", defs)
    assert shown == pytest.approx(round(ref_box.value, 5), abs=1.5e-5)
    # T3 (perfect experts by default): drop >= min KL, with equality as lam* has full support
    assert s["perfect"]
    assert s["res_simplex"].lam.min() > 1e-3
    assert s["t3_drop"] >= s["t3_bound"] - s["t3_fw"] - INEQ_TOL
    assert abs(s["t3_drop"] - s["t3_bound"]) < 1e-6
    # equalizer on the simplex (LF)
    lam, loss, V = s["res_simplex"].lam, s["losses_simplex"], s["V_simplex"]
    assert np.all(np.abs(loss[lam > 1e-6] - V) < 1e-6)
    assert np.all(loss <= V + 1e-6)
    # the heat map is phi: its maximum over the grid is at most V (phi <= V everywhere)
    assert defs["grid"].phi.max() <= V + INEQ_TOL


def test_jsd_gap_numbers():
    """SPEC MB, MA, LF (paper 4.5): with perfect experts the gated worst case equals the capacity
    C(D) (Blahut-Arimoto); the aggregate's worst case is at least C(D); the monolithic model's
    excess is at least KL(D_lam* || model)."""
    outputs, defs, cells = _run("jsd_gap")
    assert len(outputs) == cells
    p = defs["point"]
    D = lib.jsd_domains(defs["sep"])
    cap = capacity(D, tol=1e-12)
    assert abs(p["V"] - cap.capacity) < VALUE_TOL
    assert abs(p["worst_gated"] - cap.capacity) < VALUE_TOL
    assert abs(p["js_star"] - cap.capacity) < VALUE_TOL
    mono = p["mono"]
    worst_mono = float(np.max(kl(D, mono)))
    assert abs(_headline("jsd_gap", defs) - worst_mono) < 1e-4
    assert float(np.max(kl(D, D.mean(axis=0)))) >= cap.capacity - INEQ_TOL  # MB
    assert worst_mono - cap.capacity >= float(kl(cap.lam @ D, mono)) - 1e-5  # MA with eps = 0
    sweep = defs["sweep"]
    assert np.all(sweep.worst_aggregate >= sweep.V - INEQ_TOL)
    assert np.all(sweep.worst_mono - sweep.V >= sweep.ma_bound - 1e-5)
    assert np.all(sweep.V <= np.log(3) + INEQ_TOL)  # SC: C(D) <= log K


def test_learning_from_samples_numbers():
    """SPEC algorithm 4 and GB (paper 5.2, 4.6): the displayed gap is the certificate of the
    learned gate on the sample game, the population value matches the reference solver, and the
    learned model is never better than V on the population."""
    outputs, defs, cells = _run("learning_from_samples")
    assert len(outputs) == cells
    run = defs["run"]
    m = int(defs["m"].value)
    emp = lib.empirical_problem(0, m)
    assert np.max(np.abs(emp.D.sum(axis=1) - 1.0)) < 1e-12
    shown = _headline("learning_from_samples", defs)
    assert shown == pytest.approx(round(run["gap"], 5), abs=1.5e-5)
    assert run["recheck_gap"] == pytest.approx(run["gap"], abs=1e-12)
    assert run["gap"] >= -1e-12
    pop = lib.learning_problem(0)
    ref = solve(pop, solver="reference")
    assert abs(run["V"] - ref.value) < VALUE_TOL
    assert run["excess"] >= -INEQ_TOL
    curve = defs["curve"]
    assert set(curve.m) == set(lib.SAMPLE_SIZES)
    mod = curve[curve.method == "modular (robust gate)"].sort_values("m")
    assert mod.gap.iloc[-1] < mod.gap.iloc[0] / 10  # the excess falls with m (GB)
    assert lib.curve_slope(curve) < -0.4


def test_learning_gap_is_the_certificate():
    """SPEC section 2 (certificate): the demo's gap equals theory.certify on the learned gate."""
    r = lib.learn_from_samples(0, 100, 0.3, 0.2, rounds=200)
    emp = lib.empirical_problem(0, 100)
    exact = solve(emp, solver="reference")
    # the certificate bounds the learned gate's worst case: primal - V_emp <= gap
    traj = r["trajectory"]
    assert traj["round"].iloc[-1] == 200
    last = traj.iloc[-1]
    assert last.worst_case - exact.value <= r["gap"] + VALUE_TOL
    cert_gap = last.worst_case - last.dual
    assert cert_gap == pytest.approx(r["gap"], abs=1e-10)
    # and it is a certificate: it bounds the distance of lam to the exact dual optimum's value
    assert emp.phi(r["lam"]) >= exact.value - r["gap"] - VALUE_TOL


# --------------------------------------------------------------------------- served, in a browser
CHROMIUM = "/usr/bin/chromium"


@pytest.mark.skipif(not Path(CHROMIUM).exists(),
                    reason="headless Chromium is absent (apt-get install -y chromium chromium-driver)")
def test_served_demo_reacts_to_a_slider():
    """Issue 10: ``marimo run`` serves the simplex demo; in headless Chromium the page renders its
    figures and value, and moving the half-width slider shows the new V(Lambda) the library gives."""
    pytest.importorskip("websockets", reason="the browser test speaks CDP through websockets")
    from _browser import Chromium, serve

    demo = DEMOS["game_on_simplex"]
    with serve(demo.path, timeout=60) as url, Chromium(timeout=30) as browser:
        browser.goto(url)
        before = browser.wait_for(lambda b: b.rendered(demo.headline, demo.figures), timeout=90)
        s0 = lib.game_summary(0, 0.8, 0.0, (0.6, 0.2, 0.2), 0.15)
        assert before == f"{s0['V_box']:.5f}"
        images = browser.images()
        assert len(images) == demo.figures
        t0 = time.perf_counter()
        browser.press_key_on_slider(5, "ArrowRight")  # half-width 0.15 -> 0.20
        after = browser.wait_for(
            lambda b: (v := b.rendered(demo.headline, demo.figures)) and v != before and v, timeout=30)
        latency = time.perf_counter() - t0
        s1 = lib.game_summary(0, 0.8, 0.0, (0.6, 0.2, 0.2), 0.2)
        assert after == f"{s1['V_box']:.5f}"
        browser.wait_for(lambda b: set(b.images()).isdisjoint(images), timeout=30)
        print(f"value updated {latency:.2f} s after the key press")


# --------------------------------------------------------------------------- stopping the server
def _children(pid: int) -> list[int]:
    """Process ids whose parent is ``pid`` (from /proc)."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


def _listening(port: int) -> bool:
    import socket

    with socket.socket() as s:
        s.settimeout(1.0)
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads child processes from /proc")
@pytest.mark.parametrize("signum", ["SIGTERM", "SIGINT"])
def test_teach_stops_its_server_on_signal(signum):
    """Issue 19 item 4: ``robust-gates teach NAME --headless --port P`` stops the marimo server it
    started when it gets SIGTERM (a service manager, ``kill PID``) or SIGINT (Ctrl-C): the port is
    free afterwards and the server process is gone."""
    import signal
    import urllib.request

    from _browser import free_port

    port = free_port()
    env = {**os.environ, "MARIMO_SKIP_UPDATE_CHECK": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "robust_gates", "teach", "jsd_gap", "--headless", "--port", str(port)],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # as in a terminal
    servers: list[int] = []
    try:
        end = time.monotonic() + 60
        while not _listening(port):
            assert proc.poll() is None, f"teach exited with status {proc.returncode} before serving"
            assert time.monotonic() < end, "the demo server did not start within 60 s"
            time.sleep(0.2)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=10) as r:
            assert r.status == 200
        servers = _children(proc.pid)
        assert servers, "teach should run marimo as a child process"
        proc.send_signal(getattr(signal, signum))
        assert proc.wait(timeout=30) == 0
        assert not _listening(port), f"port {port} still answers after {signum}"
        alive = [pid for pid in servers if Path(f"/proc/{pid}").exists()
                 and Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"]
        assert not alive, f"server processes {alive} survived {signum}"
    finally:
        for pid in [proc.pid, *servers]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        proc.wait(timeout=10)
