"""The run directory and record foundations: ids, atomic writes, units, merges, rejects, run.json."""

from __future__ import annotations

import json
import multiprocessing as mp
from pathlib import Path

import pytest
from pydantic import ValidationError

from medvl.records import Provenance, Reject, Subcaption, figure_id, paper_id_from_hash, sha256_bytes
from medvl.runs import RunDir, atomic_open, read_jsonl, safe_key


def test_ids_are_stable_and_derived_from_content():
    h = sha256_bytes(b"%PDF-1.7 same bytes")
    assert paper_id_from_hash(h) == paper_id_from_hash(sha256_bytes(b"%PDF-1.7 same bytes"))
    assert paper_id_from_hash(h) != paper_id_from_hash(sha256_bytes(b"%PDF-1.7 other bytes"))
    assert figure_id("pabc", 3, 1) == "pabc-p003-f01"
    assert figure_id("pabc", None, 0) == "pabc-p000-f00"


def test_records_forbid_unknown_keys():
    with pytest.raises(ValidationError):
        Subcaption(label="A", text="x", colour="red")
    with pytest.raises(ValidationError):
        Provenance(stage="parse", stage_version="1", input_sha256="x", typo=1)


def test_atomic_open_leaves_nothing_on_failure(tmp_path: Path):
    target = tmp_path / "out.jsonl"
    target.write_text("old\n")
    with pytest.raises(RuntimeError):
        with atomic_open(target) as fh:
            fh.write("half a line")
            raise RuntimeError("interrupted")
    assert target.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["out.jsonl"]


def test_safe_key_and_inside_never_escape(tmp_path: Path):
    rd = RunDir(tmp_path / "run")
    assert "/" not in safe_key("../../etc/passwd")
    with pytest.raises(ValueError):
        rd.inside("../outside.txt")
    assert rd.inside("images/a.png").is_relative_to(rd.path)


def test_units_merge_sorted_and_rerun_does_not_duplicate(tmp_path: Path):
    rd = RunDir(tmp_path / "run")
    rd.write_unit("parse", "b", [{"id": "b1"}], [Reject(stage="parse", source="b.pdf", reason="x")])
    rd.write_unit("parse", "a", [{"id": "a1"}, {"id": "a2"}])
    assert rd.is_done("parse", "a") and not rd.is_done("parse", "c")
    assert rd.done_keys("parse") == {"a", "b"}
    rd.merge("parse", "figures.jsonl")
    rd.write_unit("parse", "a", [{"id": "a1"}, {"id": "a2"}])  # redone unit replaces, never appends
    rd.merge("parse", "figures.jsonl")
    assert [r["id"] for r in read_jsonl(rd.file("figures.jsonl"))] == ["a1", "a2", "b1"]
    rejects = list(read_jsonl(rd.file("rejects.jsonl")))
    assert len(rejects) == 1 and rejects[0]["source"] == "b.pdf"


def test_part_without_done_marker_is_ignored(tmp_path: Path):
    rd = RunDir(tmp_path / "run")
    (rd.parts_dir("parse", create=True) / "x.jsonl").write_text('{"id": "half"}\n')  # a killed unit
    rd.merge("parse", "figures.jsonl")
    assert list(read_jsonl(rd.file("figures.jsonl"))) == []


def test_read_jsonl_names_file_and_line(tmp_path: Path):
    p = tmp_path / "bad.jsonl"
    p.write_text('{"a": 1}\nnot json\n')
    with pytest.raises(ValueError, match=r"bad.jsonl:2"):
        list(read_jsonl(p))


def _stage_writer(args):
    path, name = args
    rd = RunDir(path)
    for i in range(15):
        rd.update_manifest(f"{name}", {"i": i})


def test_manifest_updates_from_many_processes_are_not_lost(tmp_path: Path):
    path = tmp_path / "run"
    RunDir(path)
    names = [f"stage{i}" for i in range(6)]
    with mp.get_context("fork").Pool(3) as pool:
        pool.map(_stage_writer, [(path, n) for n in names])
    data = json.loads((path / "run.json").read_text())
    assert set(data["stages"]) == set(names)
    assert all(data["stages"][n]["settings"] == {"i": 14} for n in names)
    assert "medvl_version" in data and "python" in data


def test_lookups_create_no_folders_only_writes_do(tmp_path: Path):
    rd = RunDir(tmp_path / "run")
    parts = rd.path / ".parts"
    assert rd.parts_dir("align") == parts / "align"
    assert not rd.is_done("align", "a") and rd.done_keys("align") == set()
    assert list(rd.iter_unit_records("align")) == [] and list(rd.iter_unit_rejects("align")) == []
    rd.clear_stage("align")
    assert not parts.exists()  # no lookup made .parts/align (medvl status would list it as a stage)
    rd.write_unit("align", "a", [{"id": "a1"}])
    assert rd.done_keys("align") == {"a"} and sorted(p.name for p in parts.iterdir()) == ["align"]
    assert rd.parts_dir("tag", create=True).is_dir()


def test_a_blocked_stage_and_status_leave_no_folder_of_a_stage_that_never_ran(tmp_path: Path):
    from medvl.config import config_from_dict
    from medvl.pipeline import run_pipeline, run_status

    rd = RunDir(tmp_path / "run")
    rd.write_unit("parse", "p1", [{"id": "f1"}])
    cfg = config_from_dict({"executor": {"kind": "inline"}, "stages": {"tag": {"image": "off"}}})
    res = run_pipeline(cfg, rd.path, only=["tag"]).stage("tag")
    assert res.state == "blocked" and "align" in res.message
    assert sorted(p.name for p in (rd.path / ".parts").iterdir()) == ["parse"]
    assert [r["stage"] for r in run_status(rd.path)] == ["parse", "tag"]
    assert sorted(p.name for p in (rd.path / ".parts").iterdir()) == ["parse"]
