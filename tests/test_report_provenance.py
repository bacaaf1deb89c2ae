"""Issue 15.7: the report labels each neural figure with the run its data came from and warns
when that is not the full run."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd

from robust_gates.figures import FIGURES
from robust_gates.paper_repro.report import _label_experiment_figures, experiment_provenance

ROOT = Path(__file__).resolve().parents[1]


def _figs(ids):
    return pd.DataFrame([{"id": i, "title": i, "caption": "cap.", "status": "drawn", "png": "",
                          "message": ""} for i in ids])


def test_shipped_tables_are_labelled_as_the_full_run(tmp_path):
    assert experiment_provenance("fig5", tmp_path) == ("full", True)
    assert experiment_provenance("real_text", tmp_path) == ("full", True)
    assert experiment_provenance("equalizer", tmp_path) is None
    labelled = _label_experiment_figures(_figs(["fig5", "equalizer"]), tmp_path)
    assert labelled.caption.tolist() == ["cap. Data: full run.", "cap."]


def test_a_smoke_run_is_flagged(tmp_path):
    """A tiny run's table and summary in the results folder: the caption carries a warning."""
    spec = FIGURES["fig5"]
    table = tmp_path / spec.data
    shutil.copyfile(ROOT / spec.shipped, table)
    table.write_text(table.read_text() + "\n")  # not byte-identical to the shipped table
    (tmp_path / "fig5_summary.json").write_text(json.dumps(
        {"config": {"name": "tiny"}, "run": {"config": "tiny", "label": "tiny (seeds=1)", "full": False}}))
    assert experiment_provenance("fig5", tmp_path) == ("tiny (seeds=1)", False)
    caption = _label_experiment_figures(_figs(["fig5"]), tmp_path).caption[0]
    assert "WARNING" in caption and "tiny (seeds=1)" in caption
