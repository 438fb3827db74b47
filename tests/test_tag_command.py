"""`medvl tag RUN_DIR` runs the tag stage of `medvl run` alone (medvl/one_stage.py): the same settings,
fingerprints and done markers whichever command ran first, a changed option tags again and `medvl status`
says why (issue 12).  The run is hand-made (tests/test_tag.py: parse and align units, no PDFs)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from medvl.cli import app
from medvl.config import config_from_dict
from medvl.errors import MedvlError
from medvl.pipeline import run_pipeline, run_status
from medvl.runs import RunDir, read_jsonl
from tests.helpers.parsed_run import done_markers
from tests.helpers.tag_run import build_engine_run


def _tag(*args: str):
    r = CliRunner().invoke(app, ["tag", *map(str, args)], env={"COLUMNS": "250"})
    assert r.exit_code == 0, (r.output, r.exception)
    return " ".join(r.output.split())


def _status(run, stage: str = "tag") -> dict:
    return next(r for r in run_status(run) if r["stage"] == stage)


def _run_tag(run, **settings):
    cfg = config_from_dict({"executor": {"kind": "inline"}, "stages": {"tag": {"image": "off", **settings}}})
    return run_pipeline(cfg, run, only=["tag"]).stage("tag")


def test_tag_command_and_run_share_units_and_a_changed_option_tags_again(tmp_path):
    run = build_engine_run(tmp_path / "run", n_papers=2).path
    out = _tag(run, "--image", "off")
    assert "tagged 14 rows (12 pairs, 2 figures) of 2 papers, 2 tagged now (0 already done)" in out, out
    rows = list(read_jsonl(run / "tags.jsonl"))
    assert {r["modality"]["value"] for r in rows if r["kind"] == "pair"} >= {"mri", "ct", "histology"}
    marks, tags = done_markers(run, "tag"), (run / "tags.jsonl").read_bytes()
    # medvl run with the same settings reuses every paper, and so does the command again (`tag run` too)
    res = _run_tag(run)
    assert (res.state, res.ran, res.reused) == ("done", 0, 2)
    assert "already done with the same settings and inputs" in _tag("run", run, "--image", "off")
    assert done_markers(run, "tag") == marks and (run / "tags.jsonl").read_bytes() == tags
    # a changed option tags again, saying why, and so does `medvl status`; medvl run then reuses it
    out = _tag(run, "--image", "off", "--no-figures")
    assert "2 tagged now" in out and "tagged again: 2 paper(s) (settings changed: figures)" in out, out
    assert _status(run)["redone"] == {"settings changed: figures": 2}
    whys = {json.loads((run / ".parts" / "tag" / k).read_text())["why"] for k in done_markers(run, "tag")}
    assert whys == {"settings changed: figures True -> False"}
    assert sum(r["kind"] == "figure" for r in read_jsonl(run / "tags.jsonl")) == 0
    assert _run_tag(run, figures=False).ran == 0
    # --force tags again whatever the markers say
    assert "tagged again: 2 paper(s) (forced)" in _tag(run, "--image", "off", "--no-figures", "--force")


def test_llm_tagger_options_are_the_settings_of_medvl_run(tmp_path):
    from tests.helpers.fake_llm import FakeLLM
    from tests.helpers.tag_run import fake_responder

    run = build_engine_run(tmp_path / "run", n_papers=1).path
    with FakeLLM(fake_responder) as fake:
        out = _tag(run, "--image", "off", "--tagger", "llm", "--llm-url", fake.url, "--llm-model", "fake-model",
                   "--max-reasks", "1", "--keep-fallbacks")
        assert "tagger llm: 6 rows from the model, 1 kept the text tags" in out, out  # (D): not answered validly
        asked = len(fake.requests)
        cfg = config_from_dict({"llm": {"urls": [fake.url], "model": "fake-model"}, "executor": {"kind": "inline"},
                                "stages": {"tag": {"image": "off", "tagger": "llm", "max_reasks": 1,
                                                  "retry_fallbacks": False}}})
        res = run_pipeline(cfg, run, only=["tag"]).stage("tag")
        assert (res.ran, res.reused) == (0, 1) and len(fake.requests) == asked  # the same units: nothing asked
    assert sum(r["tagger"] == "llm" for r in read_jsonl(run / "tags.jsonl")) == 6


def test_tag_command_errors_name_the_reason(tmp_path):
    rd = RunDir(tmp_path / "run")
    rd.write_unit("parse", "p1", [])
    r = CliRunner().invoke(app, ["tag", str(rd.path), "--image", "off"])
    assert r.exit_code != 0 and isinstance(r.exception, MedvlError)  # exit 2 via run_app
    assert "needs the output of align" in str(r.exception)
    for args, msg in ((["--tagger", "llm"], "needs an LLM server"), (["--vocab", "modality"], "VOCABULARY=VERSION"),
                      (["--vocab", "modality=99"], "modality")):
        r = CliRunner().invoke(app, ["tag", str(rd.path), *args], env={"MEDVL_LLM_URL": ""})
        assert isinstance(r.exception, MedvlError) and msg in str(r.exception), (args, r.exception)
    # a bad value names the command's option, not the stage setting of a config (stages.tag.tagger)
    for args, msg in ((["--tagger", "lmm"], "--tagger: Input should be 'text', 'llm' or 'both', not 'lmm'"),
                      (["--image", "of"], "--image: "), (["--llm-mode", "xml"], "--llm-mode: "),
                      (["--timeout", "0"], "--timeout: ")):
        r = CliRunner().invoke(app, ["tag", str(rd.path), *args])
        assert isinstance(r.exception, MedvlError) and msg in str(r.exception), (args, r.exception)
        assert "stages.tag" not in str(r.exception)
    with pytest.raises(MedvlError, match="does not exist"):
        CliRunner().invoke(app, ["tag", str(tmp_path / "nowhere")], catch_exceptions=False)
