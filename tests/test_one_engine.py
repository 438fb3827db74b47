"""One orchestrator: `medvl parse` is the parse stage of `medvl run` run alone.  The same units,
fingerprints, done markers and status hold whichever command made them: a changed setting redoes the
papers it affects (today's regression: `--dpi 100` then `--dpi 200` skipped both papers and kept the
100-dpi images while run.json said 200), and `medvl status` says why a unit was done again."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import pdfgen as gen
from medvl.config import config_from_dict
from medvl.parse import ParseSettings, parse_inputs
from medvl.pipeline import run_pipeline, run_status
from medvl.runs import read_jsonl

ROOT = Path(__file__).resolve().parent.parent


def _papers(root: Path) -> Path:
    for name, make in (("p1", gen.raster_2x2), ("p2", gen.single_image)):
        (root / name).mkdir(parents=True)
        make(root / name / "fulltext.pdf")
    return root


def _medvl(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "medvl", *args], capture_output=True, text=True, env=env,
                          timeout=300)


def _sizes(run: Path) -> list[tuple[int, int]]:
    return sorted((r["width"], r["height"]) for r in read_jsonl(run / "figures.jsonl"))


def _status(run: Path, stage: str) -> dict:
    return next(r for r in run_status(run) if r["stage"] == stage)


@pytest.mark.slow
def test_cli_parse_redoes_the_papers_a_changed_dpi_affects(tmp_path):
    src, run = _papers(tmp_path / "in"), tmp_path / "run"
    first = _medvl("parse", str(src), "--out", str(run), "--dpi", "100", "--ocr", "never")
    assert first.returncode == 0, first.stderr
    sizes_100 = _sizes(run)
    second = _medvl("parse", str(src), "--out", str(run), "--dpi", "200", "--ocr", "never")
    assert second.returncode == 0, second.stderr
    out = " ".join(second.stderr.split())
    assert "2 parsed, 0 already done" in out, out
    assert "settings changed: dpi" in out, out
    sizes_200 = _sizes(run)
    assert len(sizes_200) == len(sizes_100) and all(b[0] > a[0] for a, b in zip(sizes_100, sizes_200))
    man = json.loads((run / "run.json").read_text())
    assert man["stages"]["parse"]["settings"]["dpi"] == 200
    row = _status(run, "parse")
    assert row["redone"] == {"settings changed: dpi": 2}
    markers = sorted((run / ".parts" / "parse").glob("*.done"))
    assert {json.loads(m.read_text())["why"] for m in markers} == {"settings changed: dpi 100 -> 200"}
    # the same settings again: nothing to do
    third = _medvl("parse", str(src), "--out", str(run), "--dpi", "200", "--ocr", "never")
    assert "0 parsed, 2 already done" in " ".join(third.stderr.split())


@pytest.mark.slow
def test_parse_then_run_and_run_then_parse_share_their_units(tmp_path):
    src = _papers(tmp_path / "in")
    fast = ParseSettings(dpi=60, ocr="never")

    def run_cfg(dpi: int):
        return config_from_dict({"inputs": {"pdfs": str(src)}, "executor": {"kind": "inline"},
                                 "stages": {"parse": {"dpi": dpi, "ocr": "never"}}})

    # `medvl parse` first, then `medvl run` with the same settings: nothing is parsed again
    a = tmp_path / "a"
    s = parse_inputs([src], a, fast)
    assert s.parsed == 2
    before = (a / "figures.jsonl").read_bytes()
    res = run_pipeline(run_cfg(60), a).stage("parse")
    assert (res.ran, res.reused) == (0, 2)
    assert (a / "figures.jsonl").read_bytes() == before
    # `medvl run` first, then `medvl parse` with the same settings: nothing again either
    b = tmp_path / "b"
    assert run_pipeline(run_cfg(60), b).stage("parse").ran == 2
    assert (b / "figures.jsonl").read_bytes() == before
    again = parse_inputs([src], b, fast)
    assert (again.parsed, again.skipped) == (0, 2)
    # one changed input redoes exactly that paper, whichever command runs next (a paper's unit is keyed by
    # its content hash: new content is a new unit, and the old one leaves the output)
    gen.vector_chart(src / "p2" / "fulltext.pdf")
    changed = parse_inputs([src], b, fast)
    assert (changed.parsed, changed.skipped) == (1, 1)
    assert changed.redone == {"not done before": 1}
    res = run_pipeline(run_cfg(60), a).stage("parse")
    assert (res.ran, res.reused) == (1, 1) and res.redone == {"not done before": 1}
    assert (a / "figures.jsonl").read_bytes() == (b / "figures.jsonl").read_bytes()
    # a changed setting through `medvl run` redoes both, and says so
    res = run_pipeline(run_cfg(72), a).stage("parse")
    assert (res.ran, res.reused) == (2, 0) and res.redone == {"settings changed: dpi": 2}
    assert _status(a, "parse")["redone"] == {"settings changed: dpi": 2}
