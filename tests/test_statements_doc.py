"""The statement document (docs/statements.md) and the README's statements table are generated
from the registry, the prose module and the recorded sweep (docs/statements_sweep.json), and
every link in them resolves inside the repository."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from robust_gates.simulations.statements import STATEMENTS, prose
from robust_gates.simulations.statements.document import (
    DOCUMENT,
    ORDER,
    README,
    ROOT,
    SWEEP_FILE,
    counterexample_rows,
    load_sweep,
    main,
    ordered_ids,
    render_document,
    render_readme_table,
    update_readme,
)
from robust_gates.simulations.statements.mutants import mutants_of

SPEC_V2 = ("L0", "P1", "T1", "T1-M", "T2", "T3", "T3-G", "LF", "I2", "MB", "MA", "PoM", "JG", "SC", "DH",
           "GB", "GB2", "SD")


@pytest.fixture(scope="module")
def generated():
    sweep, counter = load_sweep(), counterexample_rows()
    return sweep, counter, render_document(sweep, counter), render_readme_table(sweep, counter)


def test_every_spec_id_is_registered_in_order():
    assert set(SPEC_V2) <= set(STATEMENTS)
    assert tuple(ordered_ids()[:len(ORDER)]) == ORDER == SPEC_V2
    for sid in SPEC_V2:
        assert sid in prose.TITLES and sid in prose.BODIES and sid in prose.SHORT and sid in prose.FORMULAS


def test_shipped_document_is_the_generators_output(generated):
    """docs/statements.md cannot go stale: it must equal what the generator writes now."""
    _, _, doc, _ = generated
    assert DOCUMENT.read_text(encoding="utf-8") == doc, (
        "docs/statements.md is stale: run python -m robust_gates.simulations.statements.document")


def test_readme_table_is_the_generators_output(generated):
    _, _, _, table = generated
    text = README.read_text(encoding="utf-8")
    assert update_readme(text, table) == text, (
        "README's statements table is stale: run python -m robust_gates.simulations.statements.document")
    assert "not yet checked" not in table


def test_recorded_sweep_covers_every_statement(generated):
    """The recorded sweep is the Done-when command and has a row for every registered id; every
    checked statement holds there with a refuted mutant, measured ones have their numbers."""
    sweep, _, _, _ = generated
    assert sweep["command"] == "robust-gates check --all --mutants --instances 200 --seed 0"
    rows = {r["id"]: r for r in sweep["summary"]}
    assert set(STATEMENTS) <= set(rows), (
        "re-record: python -m robust_gates.simulations.statements.document --sweep")
    for sid, s in STATEMENTS.items():
        if s.kind == "measured":
            assert rows[sid]["status"] == "measured"
        else:
            assert rows[sid]["status"] in ("holds", "refuted", "vacuous", "error")
            assert rows[sid]["mutants"] == len(mutants_of(sid))
    for sid in ("DH", "GB", "SD"):
        assert sweep["measured"][sid]


def test_document_sections(generated):
    """Per id: its paper section, status, registered statement, prose and mutants; the shipped
    counterexamples are linked under T3 and LF with the clause they refute."""
    _, counter, doc, _ = generated
    heads = re.findall(r"^## (\S+): ", doc, flags=re.M)
    assert heads == ordered_ids()
    for sid in ordered_ids():
        sec = doc[doc.index(f"## {sid}: "):]
        sec = sec[:sec.index("\n## ", 5)] if "\n## " in sec[5:] else sec
        assert "**Paper section:**" in sec and "**Status:**" in sec and "**Registered statement**" in sec
        for m in mutants_of(sid):
            assert m.kind in sec
    files = {c["id"]: c for c in counter}
    assert files["T3"]["name"] == "v1 strictness clause" and files["LF"]["name"] == "v1 uniqueness clause"
    assert "(../simulations/counterexamples/t3_v1_strictness.json)" in doc
    assert "Searches for the v1 uniqueness clause" in doc and "boundary starts" in doc


def _links(text: str) -> list[str]:
    return [m for m in re.findall(r"\]\(([^)\s]+)\)", text) if not m.startswith("#")]


def test_links_resolve_inside_the_repository(generated):
    """Every Markdown link of the document, of the README and of the README table points to a
    file of the repository (nothing outside it, no http)."""
    _, _, doc, table = generated
    for base, text in ((DOCUMENT.parent, doc), (ROOT, README.read_text(encoding="utf-8")), (ROOT, table)):
        for link in _links(text):
            assert not re.match(r"[a-z]+:", link), link
            target = (base / link.split("#")[0]).resolve()
            assert target.exists(), link
            assert ROOT.resolve() in target.parents or target == ROOT.resolve(), link
    assert "../shared" not in README.read_text(encoding="utf-8")


def test_check_mode(tmp_path, capsys):
    """--check writes nothing and exits 0 on the shipped files, 1 on a stale copy."""
    assert main(["--check"]) == 0
    stale = tmp_path / "statements.md"
    stale.write_text("old\n")
    assert main(["--check", "--out", str(stale), "--readme", ""]) == 1
    assert stale.read_text() == "old\n"
    assert "stale" in capsys.readouterr().err
    assert main(["--out", str(stale), "--readme", ""]) == 0
    assert stale.read_text(encoding="utf-8") == DOCUMENT.read_text(encoding="utf-8")
    assert main(["--readme", str(tmp_path / "none.md"), "--out", str(tmp_path / "x.md")]) == 2


def test_sweep_file_is_inside_docs():
    assert SWEEP_FILE.parent == Path(DOCUMENT).parent and SWEEP_FILE.exists()
