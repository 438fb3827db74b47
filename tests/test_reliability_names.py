"""Odd file names and hidden files from a user's point of view (issue 13, cases 1 and 2).

Before: a name that is not valid UTF-8 (``bad\\xff\\xfe.pdf``) made `medvl parse` crash with a
PydanticSerializationError and no figures.jsonl at all (the good paper was lost too), and `medvl run`
failed the parse stage; a folder scan skipped ``.hidden.pdf`` silently (exit 0, no reject row).
After: the odd name is parsed and written as escaped text that reads back to the same file; a name
that cannot be written safely is a reject row; hidden files are a ``hidden`` reject row each, counted on
the console.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from medvl.cli import app
from medvl.paths import UnsafeName, path_from_text, path_text

from tests.helpers import pdfgen

REPO = Path(__file__).resolve().parents[1]
BAD = b"bad\xff\xfe.pdf"


def said(result) -> str:
    return " ".join(result.output.split())


def jsonl(path: Path) -> list[dict]:
    data = path.read_bytes()
    data.decode("utf-8")  # strict: every byte written is UTF-8
    return [json.loads(x) for x in data.splitlines() if x.strip()]


def folder_with_bad_name(tmp_path: Path) -> Path:
    src = tmp_path / "in"
    src.mkdir()
    pdfgen.single_image(src / "good.pdf")
    pdfgen.raster_2x2(tmp_path / "x.pdf")
    os.rename(os.fsencode(tmp_path / "x.pdf"), os.fsencode(src) + b"/" + BAD)
    return src


def test_path_text_round_trips_any_bytes():
    name = os.fsdecode(b"/data/caf\xc3\xa9/bad\xff\xfe.pdf")  # a UTF-8 folder, a non-UTF-8 file name
    text = path_text(name)
    assert text == "/data/caf\u00e9/bad\\xff\\xfe.pdf"
    text.encode("utf-8")  # JSON-safe
    assert os.fsencode(path_from_text(text)) == b"/data/caf\xc3\xa9/bad\xff\xfe.pdf"
    assert path_text("plain/name.pdf") == "plain/name.pdf"
    with pytest.raises(UnsafeName, match="rename the file"):
        path_text("literal\\xff.pdf")  # would read back as another name


def test_non_utf8_name_is_parsed_and_the_good_paper_kept(tmp_path):
    src = folder_with_bad_name(tmp_path)
    run = tmp_path / "run"
    r = CliRunner().invoke(app, ["parse", str(src), "-o", str(run)])
    assert r.exit_code == 0, r.output
    figs = jsonl(run / "figures.jsonl")
    sources = {f["source"] for f in figs}
    bad_text = path_text(os.fsencode(src) + b"/" + BAD)
    assert sources == {str(src / "good.pdf"), bad_text}
    assert "\\xff\\xfe" in bad_text
    # the original bytes are recoverable: the text names the very file that was parsed
    assert os.path.samefile(path_from_text(bad_text), os.fsencode(src) + b"/" + BAD)
    json.loads((run / "run.json").read_bytes().decode("utf-8"))  # run.json is written too
    assert jsonl(run / "rejects.jsonl") == []


@pytest.mark.slow
def test_medvl_run_with_a_non_utf8_name_finishes_every_stage(tmp_path):
    src = folder_with_bad_name(tmp_path)
    run = tmp_path / "run"
    p = subprocess.run([sys.executable, "-m", "medvl", "run", "--pdfs", str(src), "-o", str(run),
                        "-s", "parse,split,align", "-w", "2", "-q"], cwd=tmp_path, capture_output=True,
                       text=True, timeout=300, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert p.returncode == 0, p.stdout + p.stderr
    papers = {f["paper_id"] for f in jsonl(run / "figures.jsonl")}
    assert len(papers) == 2
    assert {x["figure_id"].split("-")[0] for x in jsonl(run / "pairs.jsonl")} == papers


def test_a_name_that_cannot_be_written_safely_is_a_reject_row(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    pdfgen.single_image(src / "good.pdf")
    pdfgen.raster_2x2(src / "literal\\xff.pdf")  # valid UTF-8, but it reads like an escaped byte
    run = tmp_path / "run"
    r = CliRunner().invoke(app, ["parse", str(src), "-o", str(run)])
    assert r.exit_code == 1, r.output  # something was rejected
    rejects = jsonl(run / "rejects.jsonl")
    assert [x["reason"] for x in rejects] == ["unsafe_name"]
    assert rejects[0]["source"].endswith("literal\\xff.pdf") and "rename the file" in rejects[0]["detail"]
    assert [f["source"] for f in jsonl(run / "figures.jsonl")] == [str(src / "good.pdf")]


def test_hidden_files_are_counted_and_rejected_never_skipped_silently(tmp_path):
    src = tmp_path / "in"
    (src / ".git").mkdir(parents=True)
    pdfgen.single_image(src / ".hidden.pdf")
    pdfgen.single_image(src / "..evil.pdf", label="Figure 2:")
    pdfgen.single_image(src / ".git" / "inside.pdf", label="Figure 3:")
    run = tmp_path / "run"
    r = CliRunner().invoke(app, ["parse", str(src), "-o", str(run)])
    assert r.exit_code == 1, r.output  # before: exit 0 with "0 paper(s)" and no row
    assert "3 hidden file(s) skipped" in said(r)
    rejects = jsonl(run / "rejects.jsonl")
    assert sorted(Path(x["source"]).name for x in rejects) == ["..evil.pdf", ".hidden.pdf", "inside.pdf"]
    assert {x["reason"] for x in rejects} == {"hidden"} and all("starts with a dot" in x["detail"] for x in rejects)
    # named explicitly, a hidden file is parsed
    r = CliRunner().invoke(app, ["parse", str(src / ".hidden.pdf"), "-o", str(tmp_path / "one")])
    assert r.exit_code == 0, r.output
    assert [f["source"] for f in jsonl(tmp_path / "one" / "figures.jsonl")] == [str(src / ".hidden.pdf")]
