"""Splitters, aligners and judges are registries: a new one is one class (here: in this test module, and the
aligner i12_reverse in tests/helpers/reverse_aligner.py), found by name by `medvl split`, `medvl align`, the
pipeline's stages and `medvl judge`; an unknown name fails before any work, listing the known ones."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from medvl.cli import app
from medvl.errors import MedvlError
from medvl.records import Provenance, SplitRow, Subcaption, sha256_text
from medvl.registry import JUDGES, SPLITTERS
from medvl.runs import RunDir, read_jsonl, write_jsonl
from medvl.split.rules import split_caption
from medvl.split.splitter import Splitter
from tests.helpers.align_rows import GRID, make_figure, make_split
from tests.helpers.reverse_aligner import ReverseAligner  # noqa: F401 - registers the plugin aligner i12_reverse

CAPTIONS = [("c1", "Knee MRI of one patient. (A) Sagittal view. (B) Coronal view with contrast."),
            ("c2", "Renal ultrasound. Left: longitudinal scan. Right: transverse scan.")]


@SPLITTERS.register("i12_sentences", replace=True)
class SentenceSplitter(Splitter):
    """A toy: one subcaption per sentence, lettered A, B, C ... in order (the rules cut at panel labels)."""

    def split(self, item_id: str, caption: str) -> SplitRow:
        sentences = [s.strip() for s in re.split(r"(?<=\.)\s+", caption) if s.strip()]
        sha = sha256_text(caption)
        return SplitRow(id=item_id, caption_sha256=sha, splitter="i12_sentences",
                        subcaptions=[Subcaption(label=chr(65 + i), text=s) for i, s in enumerate(sentences)],
                        provenance=Provenance(stage="split", stage_version="toy", input_sha256=sha))


def _captions(path: Path) -> Path:
    path.write_text("".join(json.dumps({"id": i, "caption": c}) + "\n" for i, c in CAPTIONS))
    return path


def test_a_splitter_registered_in_a_test_module_runs_through_medvl_split_by_name(tmp_path):
    src, out = _captions(tmp_path / "caps.jsonl"), tmp_path / "out.jsonl"
    r = CliRunner().invoke(app, ["split", str(src), "--out", str(out), "--splitter", "i12_sentences"])
    assert r.exit_code == 0, r.output
    rows = {d["id"]: d for d in read_jsonl(out)}
    assert {d["splitter"] for d in rows.values()} == {"i12_sentences"}
    c1 = rows["c1"]["subcaptions"]
    assert [s["label"] for s in c1] == ["A", "B", "C"] and c1[0]["text"] == "Knee MRI of one patient."
    rules = [{"label": s.label, "text": s.text} for s in split_caption(CAPTIONS[0][1])]
    assert c1 != rules  # the toy answered, not the rules
    # the stage's resume works for it too: the same settings redo nothing, another splitter starts over
    r = CliRunner().invoke(app, ["split", str(src), "--out", str(out), "--splitter", "i12_sentences"])
    assert "0 of 1 shard(s) run now" in " ".join(r.output.split()), r.output
    r = CliRunner().invoke(app, ["split", str(src), "--out", str(out)])
    assert "started over" in " ".join(r.output.split()) and {d["splitter"] for d in read_jsonl(out)} == {"rules"}


def test_an_unknown_splitter_fails_before_work_naming_the_known_ones(tmp_path):
    src, out = _captions(tmp_path / "caps.jsonl"), tmp_path / "out.jsonl"
    r = CliRunner().invoke(app, ["split", str(src), "--out", str(out), "--splitter", "nope"])
    assert isinstance(r.exception, MedvlError), r.output
    msg = str(r.exception)
    assert "--splitter: unknown splitter 'nope'" in msg and re.search(r"known: .*\bllm\b.*\brules\b", msg)
    assert not out.exists() and not list(tmp_path.glob(".out.jsonl.work"))
    r = CliRunner().invoke(app, ["split", str(src), "--out", str(out), "--splitter", "rulez"])
    assert "did you mean 'rules'" in str(r.exception)


def test_the_pipeline_split_stage_takes_a_registered_splitter_and_rejects_a_typo(tmp_path):
    from medvl.config import config_from_dict
    from medvl.pipeline import Pipeline, get_stage

    ok = config_from_dict({"stages": {"split": {"splitter": "i12_sentences"}}})
    assert Pipeline(ok, tmp_path / "a").settings_for(get_stage("split"))["splitter"] == "i12_sentences"
    bad = config_from_dict({"stages": {"split": {"splitter": "sentencs"}}})
    with pytest.raises(MedvlError, match=r"stages.split.splitter: unknown splitter 'sentencs'.*known: .*rules"):
        Pipeline(bad, tmp_path / "b").check()
    assert not (tmp_path / "b" / "run.json").exists()


def _align_run_dir(root: Path) -> RunDir:
    rd = RunDir(root)
    figs, splits = [], []
    for paper in ("p1", "p2"):
        fig = make_figure(rd, paper, 0, "Figure 1. (A) a. (B) b. (C) c. (D) d.", GRID, ["A", "B", "C", "D"])
        figs.append(fig)
        splits.append(make_split(fig, [("A", "one"), ("B", "two"), ("C", "three"), ("D", "four")]))
    write_jsonl(rd.file("figures.jsonl"), figs)
    write_jsonl(rd.file("subcaptions.jsonl"), splits)
    return rd


def test_an_aligner_registered_in_a_test_module_runs_through_medvl_align_by_name(tmp_path):
    rules_rd, toy_rd = _align_run_dir(tmp_path / "rules"), _align_run_dir(tmp_path / "toy")
    r = CliRunner().invoke(app, ["align", str(rules_rd.path), "--aligner", "rules"])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(app, ["align", str(toy_rd.path), "--aligner", "i12_reverse"])
    assert r.exit_code == 0, r.output
    rules = {(p["figure_id"], p["label"]): p["panel_id"] for p in read_jsonl(rules_rd.file("pairs.jsonl"))}
    toy = {(p["figure_id"], p["label"]): p["panel_id"] for p in read_jsonl(toy_rd.file("pairs.jsonl"))}
    assert len(toy) == len(rules) == 8 and set(toy) == set(rules)
    assert all(toy[k] != rules[k] for k in rules)  # every letter went elsewhere: the toy paired, not the rules
    assert json.loads(toy_rd.file("run.json").read_text())["stages"]["align"]["settings"]["aligner"] == "i12_reverse"


def test_an_unknown_aligner_fails_before_work_naming_the_known_ones(tmp_path):
    rd = _align_run_dir(tmp_path / "r")
    r = CliRunner().invoke(app, ["align", str(rd.path), "--aligner", "nope"])
    assert isinstance(r.exception, MedvlError), r.output
    assert re.search(r"--aligner: unknown aligner 'nope'; known: .*auto.*llm.*rules", str(r.exception))
    assert not rd.file("pairs.jsonl").exists() and not (rd.path / ".parts").exists()
    from medvl.config import config_from_dict
    from medvl.pipeline import Pipeline

    bad = config_from_dict({"stages": {"align": {"aligner": "revrse"}}})
    with pytest.raises(MedvlError, match=r"unknown aligner 'revrse'"):
        Pipeline(bad, tmp_path / "b").check()


def test_judges_are_a_registry_with_the_llm_judge(tmp_path):
    from medvl.evaluate.judge import ask_llm

    # a judge is one function judging a batch of items (the judge stage plans, marks and merges the units)
    assert JUDGES.get("llm") is ask_llm
    r = CliRunner().invoke(app, ["judge", str(tmp_path), "--judge", "jduge", "--llm-url", "http://127.0.0.1:9/v1",
                                 "--llm-model", "m"])
    assert isinstance(r.exception, MedvlError) and "unknown judge 'jduge'" in str(r.exception)
    assert not list(tmp_path.iterdir())
