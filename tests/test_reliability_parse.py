"""Reliability of whole runs around parse: SIGKILL and resume, a fuzzed PDF reader, hostile input.

Every test runs the real parse stage through `medvl run` / the pipeline on small synthetic
papers generated in the test (medvl.synth), never on the shared corpus.
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from medvl.config import config_from_dict  # noqa: E402
from medvl.pipeline import run_pipeline, run_status  # noqa: E402

FAST_PARSE = {"dpi": 60, "ocr": "never"}


def _read(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    from medvl.synth import generate_corpus

    root = tmp_path_factory.mktemp("synth")
    generate_corpus(root, papers=16, seed=7, dpi=72)
    return root / "papers"


def _medvl(*args: str, **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", "from medvl.cli import main; main()", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True, **kw)


def _write_config(path: Path, corpus: Path, out: Path, stages: dict, workers: int = 2) -> Path:
    path.write_text(json.dumps({"out": str(out), "inputs": {"pdfs": str(corpus)},
                                "executor": {"workers": workers}, "stages": stages}))
    return path


def _kill_when(proc: subprocess.Popen, parts: Path, at_least: int, timeout: float = 120) -> int:
    """SIGKILL the whole process group once `at_least` done markers exist; return the count then."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        n = len(list(parts.glob("*.done"))) if parts.is_dir() else 0
        if n >= at_least:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            return n
        if proc.poll() is not None:
            pytest.fail(f"the run ended before it could be killed:\n{proc.stdout.read()}")
        time.sleep(0.01)
    os.killpg(proc.pid, signal.SIGKILL)
    pytest.fail("no progress within the time limit")


@pytest.mark.slow
def test_sigkill_mid_parse_then_rerun_equals_uninterrupted_run(corpus, tmp_path):
    stages = {"parse": FAST_PARSE}
    ref_dir, run_dir = tmp_path / "ref", tmp_path / "killed"
    ref = _medvl("run", str(_write_config(tmp_path / "ref.yaml", corpus, ref_dir, stages)), "-q")
    assert ref.wait(timeout=300) == 0, ref.stdout.read()

    cfg = _write_config(tmp_path / "run.yaml", corpus, run_dir, stages)
    proc = _medvl("run", str(cfg), "-q")
    done_at_kill = _kill_when(proc, run_dir / ".parts" / "parse", at_least=3)
    assert done_at_kill < 16, "the run finished before the kill; nothing was tested"
    assert not (run_dir / "figures.jsonl").exists()  # killed before the merge
    rows = {r["stage"]: r for r in run_status(run_dir)}
    assert rows["parse"]["state"] == "interrupted" and rows["parse"]["done"] >= 3  # its process is gone

    again = _medvl("run", str(cfg), "-q")
    out, _ = again.communicate(timeout=300)
    assert again.returncode == 0, out
    manifest = json.loads((run_dir / "run.json").read_text())
    assert manifest["pipeline"]["stages"]["parse"]["reused"] >= done_at_kill
    assert (run_dir / "figures.jsonl").read_bytes() == (ref_dir / "figures.jsonl").read_bytes()
    assert (run_dir / "rejects.jsonl").read_bytes() == (ref_dir / "rejects.jsonl").read_bytes()
    figs = _read(run_dir / "figures.jsonl")
    ids = [f["figure_id"] for f in figs]
    assert len(ids) == len(set(ids)) and len(ids) >= 16  # none lost, none duplicated
    for f in figs:
        assert (run_dir / f["image"]).is_file()
        for p in f["panels"]:
            assert p["image"] is None or (run_dir / p["image"]).is_file()
    assert not list((run_dir / ".parts" / "parse").glob(".*.tmp"))


# ---------------------------------------------------------------- fuzzing the PDF reader

def _mutations(data: bytes, rng: random.Random) -> list[tuple[str, bytes]]:
    out = []
    # byte flips anywhere
    for _ in range(40):
        b = bytearray(data)
        for _ in range(rng.randint(1, 64)):
            i = rng.randrange(len(b))
            b[i] ^= rng.randint(1, 255)
        out.append(("flip", bytes(b)))
    # truncation
    for _ in range(15):
        out.append(("truncate", data[: rng.randrange(8, len(data))]))
    # xref table and trailer removed or damaged
    i = data.rfind(b"xref")
    if i > 0:
        out.append(("no_xref", data[:i] + b"%%EOF\n"))
        out.append(("bad_startxref", re.sub(rb"startxref\s+\d+", b"startxref 99999999", data)))
        out.append(("xref_garbage", data[:i] + b"xref\n0 9999\n" + bytes(rng.randrange(256) for _ in range(500))))
    # garbage objects: huge boxes, recursive page trees, bogus streams, random bytes
    garbage = [
        b"\n9990 0 obj << /Type /Pages /Kids [9990 0 R] /Count 1 >> endobj\n",
        b"\n9991 0 obj << /Type /Page /MediaBox [0 0 1e30 1e30] /Contents 9992 0 R >> endobj\n",
        b"\n9992 0 obj << /Length 999999999 /Filter /FlateDecode >> stream\nxx\nendstream endobj\n",
        b"\n9993 0 obj << /Type /XObject /Subtype /Image /Width 2000000 /Height 2000000 "
        b"/BitsPerComponent 8 /ColorSpace /DeviceRGB /Length 10 >> stream\n0123456789\nendstream endobj\n",
    ]
    for _ in range(15):
        b = bytearray(data)
        pos = rng.randrange(len(b))
        chunk = rng.choice(garbage) if rng.random() < 0.7 else bytes(rng.randrange(256) for _ in range(200))
        b[pos:pos] = chunk
        out.append(("garbage", bytes(b)))
    # damaged stream lengths and objects inside streams
    for _ in range(10):
        b = re.sub(rb"/Length (\d+)", lambda m: b"/Length " + str(int(m.group(1)) * rng.choice([0, 2, 1000])).encode(),
                   data, count=rng.randint(1, 5))
        out.append(("length", b))
    return out


@pytest.mark.slow
def test_fuzzed_pdfs_never_crash_the_run_and_every_bad_file_is_rejected(corpus, tmp_path):
    rng = random.Random(1234)
    fuzz = tmp_path / "fuzz"
    fuzz.mkdir()
    seeds = sorted(corpus.glob("*.pdf"))[:3]
    n = 0
    for s in seeds:
        data = s.read_bytes()
        for kind, mutated in _mutations(data, rng):
            (fuzz / f"{n:04d}-{kind}.pdf").write_bytes(mutated)
            n += 1
    (fuzz / "zero.pdf").write_bytes(b"")
    (fuzz / "text.pdf").write_bytes(b"hello, not a pdf")
    assert n >= 240
    cfg = config_from_dict({"inputs": {"pdfs": str(fuzz)}, "executor": {"workers": 2, "memory_mb": 3072},
                            "stages": {"parse": {**FAST_PARSE, "timeout_s": 10}}})
    run_dir = tmp_path / "run"
    res = run_pipeline(cfg, run_dir)
    parse = res.stage("parse")
    assert parse.state == "done", parse.message
    assert parse.planned == parse.ran  # every file got a unit
    figs = _read(run_dir / "figures.jsonl")
    rejects = [r for r in _read(run_dir / "rejects.jsonl") if r["stage"] == "parse"]
    with_figures = {f["source"] for f in figs}
    rejected = {r["source"] for r in rejects}
    for pdf in fuzz.iterdir():
        assert str(pdf) in with_figures or str(pdf) in rejected, f"{pdf.name}: neither figures nor a reject"
    for r in rejects:
        assert r["reason"] and r["detail"], r
    assert {r["reason"] for r in rejects if r["source"].endswith(("zero.pdf", "text.pdf"))} == {"empty", "not_pdf"}
    # a damaged file must never produce a figure without a caption or an image outside the run
    for f in figs:
        assert f["caption"].strip()
        if f["image"]:
            assert (run_dir / f["image"]).resolve().is_relative_to(run_dir.resolve())


# ---------------------------------------------------------------- hostile input

def _pdf_with_figure(path: Path, page_size: tuple[float, float] = (612, 792), caption: str = "Figure 1. A test scan.",
                     fig_rect: tuple[float, float, float, float] | None = None) -> None:
    import pymupdf

    doc = pymupdf.open()
    w, h = page_size
    page = doc.new_page(width=w, height=h)
    r = pymupdf.Rect(*(fig_rect or (72, 72, w - 72, h * 0.6)))
    page.draw_rect(r, color=(0, 0, 0), fill=(0.2, 0.4, 0.6))
    page.draw_circle(r.tl + (r.br - r.tl) * 0.5, min(r.width, r.height) / 4, color=(1, 1, 1), fill=(0.9, 0.9, 0.9))
    box = pymupdf.Rect(r.x0, r.y1 + 6, r.x1, min(h - 10, r.y1 + 6 + max(40, h * 0.3)))
    page.insert_textbox(box, caption, fontsize=max(9, w / 70), fontname="helv")
    doc.save(path)


@pytest.mark.slow
def test_hostile_names_huge_pages_and_huge_captions_stay_inside_the_run(tmp_path):
    src = tmp_path / "in put"
    (src / "sub dir").mkdir(parents=True)
    _pdf_with_figure(src / "my paper (1) ünï 图 ..pdf")
    _pdf_with_figure(src / "sub dir" / "up ..%2F..%2Fescape.pdf")
    # a page 200 inches wide: rendering it at the stage's dpi would be 30,000 pixels a side
    _pdf_with_figure(src / "huge.pdf", page_size=(14400, 14400), caption="Figure 1. A very large figure.")
    # a JATS article whose caption is 50,000 characters and whose graphic points outside its folder
    words = ("(A) axial T2 image of a lesion. (B) coronal view with contrast. " * 800)[:50_000]
    (src / "long").mkdir()
    (src / "long" / "article.xml").write_text(
        '<?xml version="1.0"?><article xmlns:xlink="http://www.w3.org/1999/xlink"><front><article-meta>'
        '<title-group><article-title>Long</article-title></title-group></article-meta></front><body>'
        f'<fig id="f1"><label>Figure 1</label><caption><p>{words}</p></caption>'
        '<graphic xlink:href="../../../../etc/passwd"/></fig></body></article>', encoding="utf-8")
    outside_before = sorted(p.name for p in tmp_path.iterdir())
    run_dir = tmp_path / "run"
    cfg = config_from_dict({"inputs": {"pdfs": str(src)}, "executor": {"workers": 2},
                            "stages": {"parse": {"ocr": "never", "max_side": 2048}}})
    res = run_pipeline(cfg, run_dir)
    assert res.stage("parse").state == "done", res.stage("parse").message
    figs = _read(run_dir / "figures.jsonl")
    sources = {Path(f["source"]).name for f in figs}
    assert "my paper (1) ünï 图 ..pdf" in sources and "up ..%2F..%2Fescape.pdf" in sources
    huge = [f for f in figs if f["source"].endswith("huge.pdf")]
    assert huge and all(max(f["width"], f["height"]) <= 2048 for f in huge)
    from PIL import Image

    for f in figs:
        for rel in [f["image"]] + [p["image"] for p in f["panels"]]:
            if rel:
                p = (run_dir / rel).resolve()
                assert p.is_relative_to(run_dir.resolve()), rel
                with Image.open(p) as im:
                    assert max(im.size) <= 2048
    long = [f for f in figs if f["source"].endswith("article.xml")]
    rejected_long = [r for r in _read(run_dir / "rejects.jsonl") if r.get("source", "").endswith("article.xml")]
    assert long or rejected_long
    if long:
        assert len(long[0]["caption"]) >= 49_000
    # nothing was written beside the run directory
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(outside_before + ["run"])
