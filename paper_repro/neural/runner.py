r"""The one experiment runner of the neural experiments (:mod:`.fig5`, :mod:`.real`).

An experiment is an :class:`Experiment`: its name, the figure registry id of its figure, the
file of its summary, the named configurations it ships (``full``, ``quick``, ``tiny``), a function listing its
:class:`Stage` s for a run, and a function ``finish(run, done)`` turning the stages' results into
:class:`Table` s and a summary. :func:`run_experiment` does what every experiment needs, once:

1. **torch and the device**: torch is imported here (lazily, with the install command when it is
   missing) and the device checked;
2. **the output folder** (:func:`output_dir`): by default a fresh folder
   ``results/repro-<experiment>-<config>-<date>-<time>`` under the current directory (``results/``
   is git-ignored). The shipped results the report draws (``paper_repro/neural/results``) are
   written only with ``update_shipped``, and then only by the unmodified ``full`` configuration
   at seed 0 unless ``force``; any other path into that folder is refused;
3. **torch's CPU threads** are set to the configuration's ``threads`` and restored in
   ``finally``, whether the run succeeds or raises;
4. **stages** run in order; ``done[name]`` holds each stage's result for the stages after it.
   A stage with a :class:`Checkpoint` is saved, atomically, as
   ``<out>/checkpoints/<experiment>_<key>_<stage>.pt`` once it finishes (``key``: 12 hex digits of
   a hash of what determines the stage's result, e.g. configuration, seed, corpus and torch
   version; the file also holds the seconds the stage took). With ``resume`` (the default) a
   later run into the same folder with the same key restores the stage instead of computing it,
   so a run that was stopped continues after its last finished stage. Every stage draws from its
   own random stream, so a restored stage leaves the later ones exactly as in a fresh run;
5. **tables, summary and figure**: the tables are written as CSV, the summary as JSON with a
   ``run`` block saying which configuration produced it (:func:`provenance`), and the figure
   is drawn from the written table through :func:`robust_gates.figures.registry.draw_figure`.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from ..errors import UserError

__all__ = ["Experiment", "Stage", "Checkpoint", "Table", "Outputs", "Run", "RunResult",
           "run_experiment", "output_dir", "provenance", "checkpoint_key", "require_torch",
           "check_device", "SHIPPED_DIR", "CHECKPOINT_DIR", "RUN_KEY"]

#: the shipped full-run results the report draws (written only with ``update_shipped``)
SHIPPED_DIR = Path(__file__).resolve().parent / "results"
#: checkpoints live in this subfolder of a run's output folder
CHECKPOINT_DIR = "checkpoints"
#: the summary JSON key of the :func:`provenance` block
RUN_KEY = "run"


def require_torch():
    """Import torch, or fail with the install command of the ``torch`` extra."""
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - exercised only without the extra
        raise ImportError("the neural experiments need PyTorch: install the extra with "
                          "`pip install -e \".[torch]\"` (CPU wheel: `pip install torch==2.13.0`)") from exc
    return torch


def check_device(torch, device: str) -> None:
    """Reject an unknown device, and ``cuda`` where torch sees no GPU."""
    if device not in ("cpu", "cuda"):
        raise ValueError(f"device must be 'cpu' or 'cuda'; got {device!r}")
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' requested but torch.cuda.is_available() is False; use --device cpu")


@dataclass
class Run:
    """One run in progress, handed to every stage: what it runs and where, and what the runner
    recorded so far (``seconds[stage]``: the time the stage took when it was computed, also for a
    restored stage; ``restore_seconds[stage]`` and ``restored[stage]`` (checkpoint path) for the
    restored ones)."""

    experiment: str
    config: Any
    seed: int
    device: str
    out: Path
    progress: bool
    resume: bool
    torch: Any
    started: float = field(default_factory=time.perf_counter)
    seconds: dict = field(default_factory=dict)
    restore_seconds: dict = field(default_factory=dict)
    restored: dict = field(default_factory=dict)

    def bar(self, total: int, desc: str):
        """A progress bar for ``total`` steps (hidden without ``progress``); use with ``with``."""
        from tqdm.auto import tqdm

        return tqdm(total=total, desc=desc, disable=not self.progress, leave=False)

    def elapsed(self) -> float:
        """Seconds since the run started."""
        return time.perf_counter() - self.started


@dataclass(frozen=True)
class Checkpoint:
    """How a stage's result is stored and restored.

    ``key(run, done)``: a JSON-able dict of everything that determines the result (hashed into the
    file name by :func:`checkpoint_key`); ``save(result)``: a dict of tensors and plain values for
    :func:`torch.save`; ``load(blob, run, done)``: the result back from that dict.
    """

    key: Callable[[Run, dict], dict]
    save: Callable[[Any], dict]
    load: Callable[[dict, Run, dict], Any]


@dataclass(frozen=True)
class Stage:
    """One step of an experiment: ``compute(run, done)`` returns its result (a named object);
    with a ``checkpoint`` it can be restored instead of computed."""

    name: str
    compute: Callable[[Run, dict], Any]
    checkpoint: Checkpoint | None = None


@dataclass(frozen=True)
class Table:
    """One output table: its key in :attr:`RunResult.tables`, its file and float format."""

    key: str
    file: str
    frame: pd.DataFrame
    float_format: str


@dataclass(frozen=True)
class Outputs:
    """What an experiment's ``finish`` returns: its tables and its summary."""

    tables: Sequence[Table]
    summary: dict


@dataclass(frozen=True)
class Experiment:
    """A neural experiment as the runner sees it (module docstring).

    ``seeds(config, seed)`` lists the seeds a run uses (for the summary's ``run`` block).
    """

    name: str
    figure: str
    summary_file: str
    configs: dict
    stages: Callable[[Run], list[Stage]]
    finish: Callable[[Run, dict], Outputs]
    seeds: Callable[[Any, int], list[int]]


@dataclass(frozen=True)
class RunResult:
    """What :func:`run_experiment` computed and wrote: the tables by key, the summary, the paths
    of the files (``<table key>``, ``summary``, ``figure``) and the output folder."""

    tables: dict
    summary: dict
    paths: dict
    out_dir: str


def _plain(value):
    """``value`` with dataclasses as dicts and tuples as lists (JSON-able, comparable)."""
    if is_dataclass(value):
        return _plain(asdict(value))
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    return value


def provenance(experiment: Experiment, config, seed: int) -> dict:
    """The summary's ``run`` block: which configuration a run came from.

    ``config`` is the name of the shipped configuration it started from (``full``, ``quick``,
    ``tiny``; another name for a configuration built by hand), ``overrides`` the fields changed
    from it, ``seeds`` the seeds used, ``steps`` / ``gate_steps`` the training lengths, ``full``
    whether it is the unmodified full run at seed 0 (a different ``threads`` does not count), and
    ``label`` all of that in a few words (e.g. ``"tiny (seeds=1, seed=3)"``).
    """
    base = experiment.configs.get(config.name)
    if base is None:
        overrides = {f.name: _plain(getattr(config, f.name)) for f in fields(config)
                     if f.compare and f.name != "name"}
    else:
        overrides = {f.name: _plain(getattr(config, f.name)) for f in fields(config)
                     if f.compare and f.name != "name" and getattr(config, f.name) != getattr(base, f.name)}
    full = base is not None and config.name == "full" and not set(overrides) - {"threads"} and seed == 0
    shown = {**({} if base is None else overrides), **({"seed": seed} if seed else {})}
    label = config.name + (f" ({', '.join(f'{k}={v}' for k, v in shown.items())})" if shown else "")
    return {"experiment": experiment.name, "config": config.name, "overrides": overrides,
            "seeds": list(experiment.seeds(config, seed)), "steps": config.steps,
            "gate_steps": config.gate_steps, "full": bool(full), "label": label}


def ship_run(run_dir: str | Path, summary_file: str, files: Sequence[str], *,
             force: bool = False) -> list[Path]:
    """Copy ``files`` of a study's run folder (those present) into :data:`SHIPPED_DIR`. Only a
    run of the ``full`` configuration at seed 0 is shipped unless ``force``; its overrides may
    be ``threads`` and ``max_cells`` (a partial run says so in its summary: ``complete``,
    ``cells_done``). Returns the copied paths."""
    run_dir = Path(run_dir)
    summ = run_dir / summary_file
    if not summ.is_file():
        raise UserError(f"{run_dir} holds no {summary_file}; run the study into it first")
    info = json.loads(summ.read_text())
    over = set(info["run"]["overrides"]) - {"threads", "max_cells"}
    if not force and (info["run"]["config"] != "full" or over or info["seed"] != 0):
        raise UserError(f"refusing to ship a '{info['run']['label']}' run; only the full configuration "
                        "at seed 0 (any max_cells) is shipped (--force overrides)")
    out = []
    for name in files:
        src = run_dir / name
        if src.is_file():
            shutil.copyfile(src, SHIPPED_DIR / name)
            out.append(SHIPPED_DIR / name)
    return out


def checkpoint_key(determined_by: dict) -> str:
    """12 hex digits of the SHA-256 of ``determined_by`` as sorted JSON."""
    text = json.dumps(_plain(determined_by), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _inside(path: Path, folder: Path) -> bool:
    path, folder = path.resolve(), folder.resolve()
    return path == folder or folder in path.parents


def output_dir(experiment: str, config_name: str, out_dir: str | Path | None = None, *,
               full: bool = False, label: str = "", update_shipped: bool = False,
               force: bool = False) -> Path:
    """Where a run writes (module docstring, step 2), created.

    ``full`` says whether the run is the unmodified full configuration at seed 0 (``label``
    names it in the refusal). Raises :class:`~robust_gates.paper_repro.errors.UserError` for an
    ``out_dir`` inside the shipped folder without ``update_shipped``, for ``update_shipped`` with
    another ``out_dir``, and for ``update_shipped`` by a run that is not ``full`` without ``force``.
    """
    if update_shipped:
        if out_dir is not None and not _inside(Path(out_dir), SHIPPED_DIR):
            raise UserError(f"--update-shipped writes the shipped results in {SHIPPED_DIR}; "
                            f"leave out --out (got {out_dir})")
        if not full and not force:
            raise UserError(f"refusing to replace the shipped full-run results in {SHIPPED_DIR} with a "
                            f"'{label or config_name}' run; only the unmodified full configuration "
                            "at seed 0 updates them (add --force to do it anyway)")
        SHIPPED_DIR.mkdir(parents=True, exist_ok=True)
        return SHIPPED_DIR
    if out_dir is None:
        if _inside(Path("results"), SHIPPED_DIR):
            raise UserError(f"the default output folder {Path('results').resolve()} is the shipped "
                            "results folder; run from another folder or pass --out DIR")
        from ..commands._output import fresh_output_dir

        return fresh_output_dir(f"repro-{experiment}-{config_name}")
    out = Path(out_dir)
    if _inside(out, SHIPPED_DIR):
        raise UserError(f"{out} is the shipped results folder the report draws ({SHIPPED_DIR}); "
                        "write elsewhere (the default is a fresh folder under ./results) or pass "
                        "--update-shipped")
    out.mkdir(parents=True, exist_ok=True)
    return out


def _run_stage(run: Run, stage: Stage, done: dict):
    """Compute ``stage`` (saving its checkpoint) or restore it (module docstring, step 4)."""
    torch = run.torch
    t0 = time.perf_counter()
    cp = stage.checkpoint
    if cp is None:
        result = stage.compute(run, done)
        run.seconds[stage.name] = time.perf_counter() - t0
        return result
    key = checkpoint_key(cp.key(run, done))
    path = run.out / CHECKPOINT_DIR / f"{run.experiment}_{key}_{stage.name}.pt"
    if run.resume and path.is_file():
        blob = torch.load(path, map_location=run.device)
        result = cp.load(blob, run, done)
        run.restored[stage.name] = str(path)
        run.restore_seconds[stage.name] = time.perf_counter() - t0
        seconds = blob.get("seconds")  # measured when the stage was computed
        run.seconds[stage.name] = None if seconds is None else float(seconds)
        return result
    result = stage.compute(run, done)
    seconds = time.perf_counter() - t0
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    torch.save({**cp.save(result), "seconds": torch.tensor(seconds, dtype=torch.float64)}, partial)
    os.replace(partial, path)  # a run killed while saving leaves no half-written checkpoint
    run.seconds[stage.name] = seconds
    return result


def run_experiment(experiment: Experiment, config, out_dir: str | Path | None = None, *,
                   seed: int = 0, device: str = "cpu", progress: bool = True, draw: bool = True,
                   resume: bool = True, update_shipped: bool = False, force: bool = False) -> RunResult:
    """Run ``experiment`` with ``config`` (module docstring) and write its outputs."""
    torch = require_torch()
    check_device(torch, device)
    if seed < 0:
        raise ValueError(f"seed must be a non-negative integer; got {seed}")
    run_info = provenance(experiment, config, seed)
    out = output_dir(experiment.name, config.name, out_dir, full=run_info["full"],
                     label=run_info["label"], update_shipped=update_shipped, force=force)
    run_info["shipped"] = _inside(out, SHIPPED_DIR)
    run_info["torch"] = torch.__version__
    threads_before = torch.get_num_threads()
    try:
        torch.set_num_threads(max(1, config.threads))
        run = Run(experiment.name, config, seed, device, out, progress, resume, torch)
        done = {}
        for stage in experiment.stages(run):
            done[stage.name] = _run_stage(run, stage, done)
        outputs = experiment.finish(run, done)
        if (outputs.summary.get("complete") and config.name == "full" and seed == 0
                and not set(run_info["overrides"]) - {"threads", "max_cells"}):
            # a cell limit that every cell of the full configuration fits under is the full run
            run_info = {**run_info, "full": True, "label": "full"}
        summary = {**outputs.summary, RUN_KEY: run_info}
        paths = {}
        for table in outputs.tables:
            paths[table.key] = out / table.file
            table.frame.to_csv(paths[table.key], index=False, float_format=table.float_format)
        paths["summary"] = out / experiment.summary_file
        paths["summary"].write_text(json.dumps(summary, indent=1))
        if draw:
            from robust_gates.figures.registry import draw_figure

            paths["figure"] = draw_figure(experiment.figure, out, out)[0]
    finally:
        torch.set_num_threads(threads_before)
    return RunResult({t.key: t.frame for t in outputs.tables}, summary,
                     {k: str(v) for k, v in paths.items()}, str(out))
