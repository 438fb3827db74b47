"""parse_inputs / `medvl parse`: folders, PDF+XML pairing and caption repair, XML-only papers,
bad input (rejects, the run goes on), resume after interruption, workers, exit codes."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.helpers import pdfgen as gen
from medvl.parse import ParseSettings, discover, parse_inputs, parse_paper
from medvl.runs import read_jsonl

FAST = ParseSettings(dpi=60, ocr="never")


def _rows(path: Path) -> list[dict]:
    return list(read_jsonl(path))


def test_xml_only_input(tmp_path):
    xml = gen.jats(tmp_path / "paper.nxml", [("Figure 1", "Survival of mice."), ("Figure 2.", "Weight curves.")])
    figs, rejects = parse_paper(None, xml, FAST, run_dir=tmp_path / "run")
    assert rejects == []
    assert [f.label for f in figs] == ["Figure 1", "Figure 2"]
    assert [f.caption for f in figs] == ["Figure 1. Survival of mice.", "Figure 2. Weight curves."]
    assert all(f.page is None and f.caption_source == "xml" and f.bbox is None for f in figs)
    assert figs[0].figure_id.endswith("-p000-f00") and figs[1].figure_id.endswith("-p000-f01")
    assert figs[0].license == "CC-BY-4.0"  # the JATS licence URL, normalised


def test_xml_graphic_beside_the_xml_becomes_the_image(tmp_path):
    (tmp_path / "g1.png").write_bytes(gen.png(120, 80, seed=1))
    xml = gen.jats(tmp_path / "paper.xml", [("Figure 1", "A photo.")], graphics=["g1"])
    figs, _ = parse_paper(None, xml, FAST, run_dir=tmp_path / "run")
    assert figs[0].image and (tmp_path / "run" / figs[0].image).is_file()
    assert (figs[0].width, figs[0].height) == (120, 80)


def test_pdf_and_xml_confirm_and_repair_captions(tmp_path):
    d = tmp_path / "PMC1"
    d.mkdir()
    gen.two_column(d / "fulltext.pdf")
    gen.jats(d / "fulltext.xml", [
        ("Figure 1", "Growth curve of strain 1 in minimal medium at 37 degrees."),  # same as the PDF
        ("Figure 2", "Growth curve of the mutant strain in rich medium at 30 degrees."),  # differs
        ("Figure 3", "A figure the PDF does not show."),
    ], paragraphs=['The mutant grew slower (<xref ref-type="fig" rid="f2">Figure 2</xref>). Fine.'])
    units = discover([d])
    assert len(units) == 1 and units[0].xml and units[0].pdf
    s = parse_inputs([d], tmp_path / "run", FAST)
    rows = _rows(tmp_path / "run" / "figures.jsonl")
    by = {r["label"]: r for r in rows}
    assert by["Figure 1"]["caption_source"] == "pdf+xml" and by["Figure 1"]["caption_similarity"] == 1.0
    assert by["Figure 1"]["caption"] == "Figure 1. Growth curve of strain 1 in minimal medium at 37 degrees."
    assert by["Figure 2"]["caption_source"] == "xml_repaired" and by["Figure 2"]["caption_similarity"] < 0.95
    assert by["Figure 2"]["caption"] == "Figure 2. Growth curve of the mutant strain in rich medium at 30 degrees."
    assert by["Figure 3"]["caption_source"] == "xml" and by["Figure 3"]["page"] is None
    # the XML's sentences citing a figure travel with the PDF's figure
    assert by["Figure 2"]["references"] == ["The mutant grew slower (Figure 2)."] and by["Figure 1"]["references"] == []
    assert all(r["license"] == "CC-BY-4.0" for r in rows)
    assert s.figures == 3 and s.total_rejects == 0
    # with repair off, the XML is not used at all
    parse_inputs([d], tmp_path / "run2", ParseSettings(dpi=60, ocr="never", xml_repair=False))
    rows2 = _rows(tmp_path / "run2" / "figures.jsonl")
    assert {r["caption_source"] for r in rows2} == {"pdf"} and len(rows2) == 2


def _bad_inputs(root: Path) -> dict[str, Path]:
    root.mkdir(parents=True, exist_ok=True)
    good = gen.raster_2x2(root / "good.pdf")
    data = good.read_bytes()
    files = {
        "good": good,
        "empty": root / "empty.pdf",
        "notpdf": root / "notes.pdf",
        "corrupt": root / "corrupt.pdf",
        "truncated": root / "truncated.pdf",
        "encrypted": gen.encrypted(root / "locked.pdf"),
        "nofigs": gen.no_figures(root / "text_only.pdf"),
        "zeropage": root / "zero.pdf",
    }
    files["empty"].write_bytes(b"")
    files["notpdf"].write_text("<html><body>Not found</body></html>")
    files["corrupt"].write_bytes(b"%PDF-1.7\n" + os.urandom(3000))
    files["truncated"].write_bytes(data[: len(data) // 3])
    files["zeropage"].write_bytes(b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
                                  b"2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n")
    return files


def test_bad_inputs_become_rejects_and_the_run_goes_on(tmp_path):
    files = _bad_inputs(tmp_path / "in")
    txt = tmp_path / "readme.txt"
    txt.write_text("hello")
    s = parse_inputs([tmp_path / "in", txt], tmp_path / "run", FAST)
    rows = _rows(tmp_path / "run" / "figures.jsonl")
    rejects = _rows(tmp_path / "run" / "rejects.jsonl")
    by_src = {Path(r["source"]).name: r for r in rejects}
    assert by_src["empty.pdf"]["reason"] == "empty"
    assert by_src["notes.pdf"]["reason"] == "not_pdf"
    assert by_src["readme.txt"]["reason"] == "not_pdf"
    assert by_src["corrupt.pdf"]["reason"] in ("corrupt", "no_pages")
    assert by_src["locked.pdf"]["reason"] == "encrypted"
    assert by_src["text_only.pdf"]["reason"] == "no_figures"
    assert by_src["zero.pdf"]["reason"] in ("no_pages", "corrupt")
    # a truncated PDF is either repaired by MuPDF (and then has no figure) or rejected as damaged
    assert by_src["truncated.pdf"]["reason"] in ("corrupt", "no_pages", "no_figures")
    assert all(r["stage"] == "parse" and r["detail"] for r in rejects)
    assert "good.pdf" not in by_src
    # the good paper was parsed in the same run
    assert [r["source"] for r in rows] == [str(files["good"])]
    assert s.total_rejects == len(rejects) == 8


def test_duplicate_content_is_parsed_once(tmp_path):
    a = gen.single_image(tmp_path / "a" / "x.pdf") if (tmp_path / "a").mkdir() is None else None
    (tmp_path / "b").mkdir()
    shutil.copy(a, tmp_path / "b" / "x.pdf")
    parse_inputs([tmp_path / "a", tmp_path / "b"], tmp_path / "run", FAST)
    rows = _rows(tmp_path / "run" / "figures.jsonl")
    rejects = _rows(tmp_path / "run" / "rejects.jsonl")
    assert len(rows) == 1
    assert [r["reason"] for r in rejects] == ["duplicate"]


def _corpus(root: Path) -> Path:
    for name, fn in [("p1", gen.raster_2x2), ("p2", gen.vector_chart), ("p3", gen.two_column),
                     ("p4", gen.caption_beside)]:
        (root / name).mkdir(parents=True)
        fn(root / name / "fulltext.pdf")
    (root / "p5").mkdir()
    gen.jats(root / "p5" / "fulltext.xml", [("Figure 1", "Only in XML.")])
    return root


def test_resume_after_lost_units_gives_identical_output(tmp_path):
    src = _corpus(tmp_path / "in")
    run = tmp_path / "run"
    s1 = parse_inputs([src], run, FAST)
    first = (run / "figures.jsonl").read_bytes()
    assert s1.parsed == 5 and s1.skipped == 0 and s1.figures == 6
    # rerun: everything is skipped, output unchanged
    s2 = parse_inputs([src], run, FAST)
    assert s2.parsed == 0 and s2.skipped == 5
    assert (run / "figures.jsonl").read_bytes() == first
    # simulate an interruption: two units lost their done markers, one left a half-written part
    parts = run / ".parts" / "parse"
    markers = sorted(parts.glob("*.done"))
    for m in markers[:2]:
        m.unlink()
    (parts / markers[0].name.replace(".done", ".jsonl")).write_text('{"half": ')
    (run / "figures.jsonl").unlink()
    s3 = parse_inputs([src], run, FAST)
    assert s3.parsed == 2 and s3.skipped == 3
    assert (run / "figures.jsonl").read_bytes() == first
    ids = [r["figure_id"] for r in _rows(run / "figures.jsonl")]
    assert len(ids) == len(set(ids))


@pytest.mark.slow
def test_killed_cli_run_resumes_to_identical_output(tmp_path):
    import signal
    import subprocess
    import sys
    import time

    src = _corpus(tmp_path / "in")
    ref = tmp_path / "ref"
    parse_inputs([src], ref, FAST)
    run = tmp_path / "run"
    cmd = [sys.executable, "-c", "from medvl.cli import main; main()", "parse", str(src), "--out", str(run),
           "--dpi", "60", "--ocr", "never"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    parts = run / ".parts" / "parse"
    t0 = time.monotonic()
    while time.monotonic() - t0 < 60 and proc.poll() is None:
        if parts.is_dir() and len(list(parts.glob("*.done"))) >= 2:
            os.killpg(proc.pid, signal.SIGKILL)
            break
        time.sleep(0.02)
    proc.wait(timeout=30)
    done_at_kill = len(list(parts.glob("*.done")))
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert (run / "figures.jsonl").read_bytes() == (ref / "figures.jsonl").read_bytes()
    assert done_at_kill >= 2


@pytest.mark.slow
def test_two_workers_give_the_same_output(tmp_path):
    src = _corpus(tmp_path / "in")
    parse_inputs([src], tmp_path / "one", FAST, workers=1)
    parse_inputs([src], tmp_path / "two", FAST, workers=2)
    assert (tmp_path / "one" / "figures.jsonl").read_bytes() == (tmp_path / "two" / "figures.jsonl").read_bytes()
    for row in _rows(tmp_path / "two" / "figures.jsonl"):
        if row["image"]:
            assert (tmp_path / "two" / row["image"]).is_file()
    man = json.loads((tmp_path / "two" / "run.json").read_text())
    assert man["pipeline"]["executor"]["workers"] == 2  # the engine records its executor
    assert man["stages"]["parse"]["settings"]["dpi"] == 60


def test_cli_exit_codes_and_reject_lines(tmp_path):
    from medvl.cli import app

    good = tmp_path / "good"
    good.mkdir()
    gen.single_image(good / "a.pdf")
    runner = CliRunner()
    res = runner.invoke(app, ["parse", str(good), "--out", str(tmp_path / "r1"), "--dpi", "60", "--ocr", "never"])
    assert res.exit_code == 0, res.output
    assert len(_rows(tmp_path / "r1" / "figures.jsonl")) == 1
    bad = tmp_path / "bad.pdf"
    bad.write_bytes(b"")
    res = runner.invoke(app, ["parse", str(good), str(bad), "--out", str(tmp_path / "r2"), "--dpi", "60"])
    assert res.exit_code == 1
    assert "bad.pdf" in res.output and "empty" in res.output
    res = runner.invoke(app, ["parse", str(good), "--out", str(tmp_path / "r3"), "--ocr", "sometimes"])
    assert res.exit_code == 2


def test_time_limit_turns_into_a_reject(tmp_path, monkeypatch):
    import time

    import medvl.pdf.figures as F

    real = F.page_model

    def slow(page, *a, **k):
        time.sleep(0.6)
        return real(page, *a, **k)

    monkeypatch.setattr(F, "page_model", slow)
    pdf = gen.caption_next_page(tmp_path / "slow.pdf")
    figs, rejects = parse_paper(pdf, None, ParseSettings(dpi=60, ocr="never", timeout_s=0.5))
    assert figs == [] and [r.reason for r in rejects] == ["timeout"]
    assert "time limit" in rejects[0].detail
