"""`medvl run` with the span splitter and the LLM aligner against the fake server (a real HTTP server
that answers from the request's own schema): synth -> parse -> split (spans) -> align (llm) -> report.
The fake answers what the rules would not: every labelled subcaption to the panels in *reverse*
reading order, and for the split a single panel with every piece.  Also: auto without a server is the
rules and the report says how to turn the LLM stages on."""

from __future__ import annotations

import json

import pytest

from typer.testing import CliRunner

from medvl.cli import app as cli_app
from medvl.config import RunConfig
from medvl.pipeline import run_pipeline
from medvl.runs import read_jsonl
from tests.helpers.fake_llm import FakeLLM, schema_answer

pytestmark = pytest.mark.slow


def config(run_dir, url=None, aligner="llm"):
    return RunConfig.model_validate({
        "name": "llm-align", "out": str(run_dir), "demo": {"papers": 2, "seed": 3},
        "executor": {"kind": "local", "workers": 1},
        "llm": {"urls": url or "", "model": "fake-model"},
        "stages": {"synth": {}, "parse": {},
                   "split": {"splitter": "llm", "prompt": "split/spans_zeroshot@1"} if url else {"splitter": "rules"},
                   "align": {"aligner": aligner, "prompt": "align/zeroshot@1", "transport_retries": 0},
                   "report": {"format": "md"}}})


def test_run_with_span_split_and_llm_aligner(tmp_path):
    run_dir = tmp_path / "run"
    with FakeLLM(schema_answer) as fake:
        res = run_pipeline(config(run_dir, fake.url), run_dir)
        assert res.ok, [(s.name, s.state, s.message) for s in res.stages]
        assert any("PanelChoice" in json.dumps(r.get("response_format")) for r in fake.requests)
    splits = list(read_jsonl(run_dir / "subcaptions.jsonl"))
    assert splits and all(s["splitter"] == "llm" and s["spans"]["answer"] for s in splits)
    pairs = list(read_jsonl(run_dir / "pairs.jsonl"))
    llm_pairs = [p for p in pairs if p["method"] == "llm"]
    assert llm_pairs and all(p["llm"]["prompt_id"] == "align/zeroshot@1" for p in llm_pairs)
    report = next(run_dir.glob("report*.md"), None) or next(run_dir.rglob("*.md"))
    text = report.read_text()
    assert "by the LLM" in text and "plumbing" not in text  # fake-model is no tiny model
    # `medvl status` (the same table `medvl run` prints) says how many figures the LLM aligner paired
    status = CliRunner().invoke(cli_app, ["status", str(run_dir)], env={"COLUMNS": "250"})
    assert status.exit_code == 0, status.output
    n_llm = len({p["figure_id"] for p in llm_pairs})
    assert f"llm {n_llm} (rescued" in status.output


def test_auto_without_a_server_is_rules_and_report_says_how_to_turn_on(tmp_path):
    run_dir = tmp_path / "run"
    res = run_pipeline(config(run_dir, None, aligner="auto"), run_dir)
    assert res.ok, [(s.name, s.state, s.message) for s in res.stages]
    pairs = list(read_jsonl(run_dir / "pairs.jsonl"))
    assert pairs and not any(p["method"] == "llm" for p in pairs)
    text = next(run_dir.rglob("report*.md")).read_text()
    assert "LLM stages off" in text and "--llm-url" in text
    status = CliRunner().invoke(cli_app, ["status", str(run_dir)], env={"COLUMNS": "250"})
    assert status.exit_code == 0 and "figures: rules" not in status.output  # no LLM took part: no note
