"""`medvl split` and `medvl align` run the split and align stages of the engine that `medvl run` runs: the
same units, fingerprints and done markers whichever command ran first, so a changed setting redoes exactly
the units it affects, and `medvl status` says why (issue 12)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from medvl.cli import app
from medvl.pipeline import run_status
from medvl.split.stage import run_split
from tests.helpers.parsed_run import done_markers, parsed_template


@pytest.fixture(scope="module")
def parsed(tmp_path_factory):
    """Two synthetic papers parsed by `medvl run --stages parse` (each test works on a copy)."""
    return parsed_template(tmp_path_factory.mktemp("stagecmds"), papers=2, seed=3)


def _config(cfg: Path, tmp_path: Path, **align: str) -> Path:
    data = json.loads(cfg.read_text())
    data["stages"]["align"] = dict(align)
    out = tmp_path / f"run-{len(align)}.json"
    out.write_text(json.dumps(data))
    return out


def _ran(run: Path, stage: str) -> int:
    return json.loads((run / "run.json").read_text())["pipeline"]["stages"][stage]["ran"]


def _status(run: Path, stage: str) -> dict:
    return next(r for r in run_status(run) if r["stage"] == stage)


def _invoke(*args: str):
    r = CliRunner().invoke(app, list(args))
    assert r.exit_code == 0, r.output
    return " ".join(r.output.split())


@pytest.mark.slow
def test_split_and_align_commands_then_run_reuse_their_units(parsed, tmp_path):
    cfg, template = parsed
    run = shutil.copytree(template, tmp_path / "a")
    assert "2 of 2 paper(s) run now" in _invoke("split", str(run))
    out = _invoke("align", str(run))
    assert "in 2 papers (0 papers already done)" in out, out
    split_marks, align_marks = done_markers(run, "split"), done_markers(run, "align")
    pairs = (run / "pairs.jsonl").read_bytes()
    # medvl run with the same settings: every split and align unit is reused
    _invoke("run", str(cfg), "--out", str(run), "--stages", "split,align", "-q")
    assert _ran(run, "split") == 0 and _ran(run, "align") == 0
    assert done_markers(run, "split") == split_marks and done_markers(run, "align") == align_marks
    assert (run / "pairs.jsonl").read_bytes() == pairs
    rows = {r["stage"]: r for r in run_status(run)}
    assert rows["split"]["state"] == rows["align"]["state"] == "done" and rows["align"]["done"] == 3  # + run unit


@pytest.mark.slow
def test_run_then_split_and_align_commands_reuse_its_units(parsed, tmp_path):
    cfg, template = parsed
    run = shutil.copytree(template, tmp_path / "b")
    _invoke("run", str(cfg), "--out", str(run), "--stages", "split,align", "-q")
    split_marks, align_marks = done_markers(run, "split"), done_markers(run, "align")
    assert "0 of 2 paper(s) run now" in _invoke("split", str(run))
    assert "(2 papers already done)" in _invoke("align", str(run))
    assert done_markers(run, "split") == split_marks and done_markers(run, "align") == align_marks


@pytest.mark.slow
def test_changed_align_setting_redoes_align_units_only_and_status_says_why(parsed, tmp_path):
    cfg, template = parsed
    run = shutil.copytree(template, tmp_path / "c")
    _invoke("split", str(run))
    _invoke("align", str(run))
    parse_marks, split_marks, align_marks = (done_markers(run, s) for s in ("parse", "split", "align"))
    out = _invoke("align", str(run), "--shared", "prepend")
    assert "(0 papers already done)" in out, out
    assert done_markers(run, "parse") == parse_marks and done_markers(run, "split") == split_marks
    redone = {k for k, t in done_markers(run, "align").items() if align_marks.get(k) != t}
    assert redone == {k for k in align_marks if k != "zz-run.done"}  # every paper; the run's rejects kept
    assert _status(run, "align")["redone"] == {"settings changed: shared": 2}
    whys = {json.loads((run / ".parts" / "align" / k).read_text())["why"] for k in redone}
    assert whys == {"settings changed: shared 'auto' -> 'prepend'"}
    # medvl run with the command's setting reuses them; with the config's default it redoes them, saying why
    prepend = done_markers(run, "align")
    _invoke("run", str(_config(cfg, tmp_path, shared="prepend")), "--out", str(run), "--stages", "split,align", "-q")
    assert _ran(run, "split") == 0 and _ran(run, "align") == 0 and done_markers(run, "align") == prepend
    _invoke("run", str(cfg), "--out", str(run), "--stages", "split,align", "-q")
    assert _ran(run, "split") == 0 and _ran(run, "align") == 2
    assert _status(run, "align")["redone"] == {"settings changed: shared": 2}


def test_captions_file_runs_through_the_engine_and_status_reads_its_work_dir(tmp_path):
    caps = tmp_path / "caps.jsonl"
    items = [("c1", "Brain MRI. (A) Axial T1. (B) Axial T2."), ("c2", "Chest CT of a nodule."),
             ("c3", "Knee radiographs: (a) before, (b) after surgery.")]
    caps.write_text("".join(json.dumps({"id": i, "caption": c}) + "\n" for i, c in items) + "not json\n")
    s = run_split(caps, shard_size=2)
    assert (s.n_shards, s.n_shards_run, s.n_rows, s.n_rejected) == (2, 2, 3, 1)
    work = tmp_path / ".caps.subcaptions.jsonl.work"
    row = _status(work, "split")
    assert row["state"] == "done" and row["done"] == 3 and row["rejects"] == 1  # two shards + the input unit
    assert row["reasons"] == {"bad_json": 1}
    # a changed caption redoes its shard only, and status says why
    items[2] = ("c3", "Knee radiographs: (a) before, (b) after, (c) a year after surgery.")
    caps.write_text("".join(json.dumps({"id": i, "caption": c}) + "\n" for i, c in items))
    s = run_split(caps, shard_size=2)
    assert s.n_shards_run == 1 and not s.restarted and s.n_rejected == 0
    labels = [x["label"] for x in json.loads((tmp_path / "caps.subcaptions.jsonl").read_text().splitlines()[-1])
              ["subcaptions"]]
    assert "C" in labels
    assert _status(work, "split")["redone"] == {"not done before": 1}  # the shard's key holds its content
