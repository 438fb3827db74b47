"""One orchestrator for the whole-stage commands: `medvl export|train|eval|judge|report RUN_DIR` run the
stage of `medvl run` alone (medvl/one_stage.py), so whichever command ran first, the other reuses the
stage with the same settings, a changed setting redoes it, and `medvl status` says why."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from medvl.cli import app
from medvl.config import config_from_dict
from medvl.pipeline import run_pipeline, run_status
from tests.helpers.export_run import build_run

ROOT = Path(__file__).resolve().parent.parent


def _cli(*args: str):
    return CliRunner().invoke(app, [str(a) for a in args], env={"COLUMNS": "250"})


def _status(run: Path, stage: str) -> dict:
    return next(r for r in run_status(run) if r["stage"] == stage)


def _run(run: Path, stages: dict, only: list[str]):
    cfg = config_from_dict({"executor": {"kind": "inline"}, "stages": stages})
    return run_pipeline(cfg, run, only=only)


def _marker(run: Path, stage: str) -> dict:
    return json.loads((run / ".parts" / stage / "whole-stage.done").read_text())


# ---------------------------------------------------------------- export

def test_export_then_run_reuses_it_and_a_changed_setting_redoes_it(tmp_path):
    rd = build_run(tmp_path / "run", n_papers=5)
    run = rd.path
    first = _cli("export", run, "--format", "csv", "--seed", "3")
    assert first.exit_code == 0, first.output
    assert "exported 10 pairs -> " in first.output and str(run / "export" / "aligned") in first.output
    csv = (run / "export" / "aligned" / "train.csv").read_bytes()
    # `medvl run` with the same settings (its default DATA_DIR is RUN_DIR/export/aligned): reused
    res = _run(run, {"export": {"formats": ["csv"], "seed": 3}}, ["export"]).stage("export")
    assert (res.ran, res.reused) == (0, 1), res
    assert (run / "export" / "aligned" / "train.csv").read_bytes() == csv
    # the command again: reused too, and it prints the same summary (read from the export's manifest)
    again = _cli("export", run, "--format", "csv", "--seed", "3")
    assert again.exit_code == 0 and "already done" in again.output and "exported 10 pairs" in again.output
    # a changed setting through the command redoes it, and `medvl status` says which
    changed = _cli("export", run, "--format", "csv", "--seed", "3", "--split", "1,0,0")
    assert changed.exit_code == 0, changed.output
    assert "exported again: settings changed: split" in " ".join(changed.output.split())
    assert _status(run, "export")["redone"] == {"settings changed: split": 1}
    assert "split [0.8, 0.1, 0.1] -> [1.0, 0.0, 0.0]" in _marker(run, "export")["why"]
    # ... and `medvl run` with the old settings redoes it once more, for the same reason
    res = _run(run, {"export": {"formats": ["csv"], "seed": 3}}, ["export"]).stage("export")
    assert res.ran == 1 and res.redone == {"settings changed: split": 1}
    status = _cli("status", run)
    assert "settings changed: split" in " ".join(status.output.split()), status.output


def test_export_out_is_a_setting_and_a_missing_data_dir_is_exported_again(tmp_path):
    rd = build_run(tmp_path / "run", n_papers=4)
    data = tmp_path / "data"
    assert _cli("export", rd.path, "--out", data, "--format", "csv").exit_code == 0
    assert (data / "train.csv").is_file() and not (rd.path / "export" / "aligned").exists()
    same = {"export": {"formats": ["csv"], "out": str(data)}}
    assert _run(rd.path, same, ["export"]).stage("export").reused == 1
    # another DATA_DIR is another output: exported there
    res = _run(rd.path, {"export": {"formats": ["csv"]}}, ["export"]).stage("export")
    assert res.ran == 1 and res.redone == {"settings changed: out": 1}
    assert (rd.path / "export" / "aligned" / "train.csv").is_file()
    # a deleted DATA_DIR is not "done": the same settings export it again
    shutil.rmtree(rd.path / "export" / "aligned")
    res = _run(rd.path, {"export": {"formats": ["csv"]}}, ["export"]).stage("export")
    assert res.ran == 1 and res.redone == {"output missing": 1}
    assert (rd.path / "export" / "aligned" / "train.csv").is_file()


def test_export_keep_filter_change_redoes_it(tmp_path):
    from tests.helpers.tag_run import write_tags

    rd = build_run(tmp_path / "run", n_papers=3)
    write_tags(rd)
    base = ["export", rd.path, "--split", "1,0,0", "--format", "csv"]
    assert _cli(*base, "--keep", "modality=mri").exit_code == 0
    again = _cli(*base, "--keep", "modality=mri")
    assert again.exit_code == 0 and "already done" in again.output
    other = _cli(*base, "--keep", "modality=ct")
    assert other.exit_code == 0, other.output
    assert _status(rd.path, "export")["redone"] == {"settings changed: keep": 1}
    # the tags are read: new tags redo the export (upstream output changed)
    (rd.path / "tags.jsonl").write_text((rd.path / "tags.jsonl").read_text() + "\n")
    res = _cli(*base, "--keep", "modality=ct")
    assert res.exit_code == 0 and "already done" not in res.output


def test_export_config_typo_fails_before_work_naming_the_nearest_key(tmp_path):
    rd = build_run(tmp_path / "run", n_papers=3)
    cfg = config_from_dict({"executor": {"kind": "inline"}, "stages": {"export": {"sead": 3}}})
    from medvl.errors import MedvlError

    with pytest.raises(MedvlError, match="sead.*seed"):
        run_pipeline(cfg, rd.path, only=["export"])
    assert not (rd.path / "export").exists()
    bad = _cli("export", rd.path, "--split", "1,2")
    assert bad.exit_code != 0 and "--split needs three numbers" in str(bad.exception)  # (exit 2 via run_app)


@pytest.fixture(scope="module")
def aligned_run(tmp_path_factory) -> Path:
    """A small real run: synthetic PDFs parsed, split and aligned by `medvl run`."""
    from medvl.synth import generate_corpus

    root = tmp_path_factory.mktemp("stagecmd")
    generate_corpus(root / "corpus", papers=4, seed=3, dpi=72)
    cfg = config_from_dict({"inputs": {"pdfs": str(root / "corpus" / "papers")}, "executor": {"kind": "inline"},
                            "stages": {"parse": {"dpi": 72, "ocr": "never"}}})
    res = run_pipeline(cfg, root / "run", only=["parse", "split", "align"])
    assert res.ok, [(s.name, s.state, s.message) for s in res.stages]
    return root


def _medvl(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "250"}
    return subprocess.run([sys.executable, "-m", "medvl", *map(str, args)], capture_output=True, text=True, env=env,
                          timeout=600)


@pytest.mark.slow
def test_export_command_then_a_whole_run_reuses_the_export(aligned_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(aligned_run / "run", run)
    first = _medvl("export", run, "--split", "0.5,0,0.5")
    assert first.returncode == 0, first.stderr
    manifest = (run / "export" / "aligned" / "manifest.json").read_bytes()
    # a longer `medvl run` (parse, split and align reused, tag new) with the same export settings
    cfg = config_from_dict({"inputs": {"pdfs": str(aligned_run / "corpus" / "papers")},
                            "executor": {"kind": "inline"},
                            "stages": {"parse": {"dpi": 72, "ocr": "never"}, "export": {"split": [0.5, 0, 0.5]}}})
    res = run_pipeline(cfg, run, only=["parse", "split", "align", "tag", "export"])
    assert res.ok and res.stage("tag").ran > 0
    assert [res.stage(n).ran for n in ("parse", "split", "align", "export")] == [0, 0, 0, 0]
    assert res.stage("export").reused == 1
    assert (run / "export" / "aligned" / "manifest.json").read_bytes() == manifest
    # the keep filter reads the tags: a changed setting through the command redoes it, and status says why
    keep = _medvl("export", run, "--split", "0.5,0,0.5", "--keep", "modality=mri,ct")
    assert keep.returncode == 0, keep.stderr
    assert "exported again: settings changed: keep" in " ".join(keep.stderr.split())
    status = _medvl("status", run)
    assert "settings changed: keep" in " ".join(status.stdout.split()), status.stdout


# ---------------------------------------------------------------- report

@pytest.mark.slow  # 10.2 and 8.7 s here
def test_report_then_run_reuses_it_and_changes_redo_it(tmp_path):
    from tests.helpers.report_run import make_run

    run = tmp_path / "run"
    make_run(run)
    first = _cli("report", run, "--max-figures", "5")
    assert first.exit_code == 0, first.output
    assert "wrote" in first.output and (run / "report.html").is_file()
    page = (run / "report.html").read_bytes()
    # `medvl run` with the same settings: reused; the command again too
    res = _run(run, {"report": {"max_figures": 5}}, ["report"]).stage("report")
    assert (res.ran, res.reused) == (0, 1), res
    again = _cli("report", run, "--max-figures", "5")
    assert again.exit_code == 0 and "up to date" in again.output
    assert (run / "report.html").read_bytes() == page
    # a changed option redoes it and `medvl status` says which
    assert _cli("report", run, "--max-figures", "2").exit_code == 0
    assert _status(run, "report")["redone"] == {"settings changed: max_figures": 1}
    # an upstream output that changed (pairs.jsonl) redoes it too, whichever command runs
    with open(run / "pairs.jsonl", "a") as fh:
        fh.write("\n")
    res = _run(run, {"report": {"max_figures": 2}}, ["report"]).stage("report")
    assert res.ran == 1 and res.redone == {"upstream output changed": 1}
    # a file kept outside RUN_DIR (--include) is part of the fingerprint
    extra = tmp_path / "cmp" / "metrics.json"
    extra.parent.mkdir()
    extra.write_text(json.dumps({"retrieval": {}}))
    assert _cli("report", run, "--max-figures", "2", "--include", extra.parent).exit_code == 0
    os.utime(extra, ns=(1, 1))
    assert "wrote" in _cli("report", run, "--max-figures", "2", "--include", extra.parent).output
    assert _status(run, "report")["redone"] == {"input outside the run directory changed": 1}
    # a typo of a config key fails before anything runs, naming the key it meant
    from medvl.errors import MedvlError

    with pytest.raises(MedvlError, match="fromat.*format"):
        _run(run, {"report": {"fromat": "md"}}, ["report"])


# ---------------------------------------------------------------- judge

def _verdict_server():
    from tests.helpers.fake_llm import VERDICT, FakeLLM, Reply

    return FakeLLM(lambda body, n: Reply(content=json.dumps(VERDICT)), model="fake-judge")


@pytest.mark.slow  # 26 s here (the CLI runs and the fake server)
def test_judge_then_run_reuses_it_and_a_changed_setting_redoes_it(tmp_path):
    pytest.importorskip("instructor")  # the llm extra
    from tests.helpers.report_run import make_run

    run = tmp_path / "run"
    make_run(run, judged=False, metrics=False)
    with _verdict_server() as server:  # (the fake serves from __enter__)
        base = ["judge", run, "--what", "splits", "--sample", "2", "--llm-url", server.url,
                "--llm-model", "fake-judge"]
        first = _cli(*base)
        assert first.exit_code == 0, first.output
        assert "judged 2 new" in first.output and "splits (2 judged)" in first.output
        asked = len(server.requests)
        assert asked == 2
        # `medvl run` with the same settings and server: reused, nothing asked
        cfg = config_from_dict({"executor": {"kind": "inline"}, "llm": {"urls": [server.url], "model": "fake-judge"},
                                "stages": {"judge": {"what": ["splits"], "sample": 2}}})
        res = run_pipeline(cfg, run, only=["judge"]).stage("judge")
        # one unit per judged item (the engine's units, shown by `medvl status`)
        assert (res.ran, res.reused) == (0, 2) and len(server.requests) == asked
        assert (_status(run, "judge")["done"], _status(run, "judge")["planned"]) == (2, 2)
        again = _cli(*base)
        assert again.exit_code == 0 and "already done" in again.output and "splits (2 judged)" in again.output
        # a larger sample through `medvl run`: the run has 2 captions, both judged before: nothing is redone
        # nor asked again
        cfg.stages["judge"]["sample"] = 3
        res = run_pipeline(cfg, run, only=["judge"]).stage("judge")
        assert (res.ran, res.reused) == (0, 2) and len(server.requests) == asked
        # another judge model judges every item again (new units; the first model's judgments are kept)
        other = _cli("judge", run, "--what", "splits", "--sample", "3", "--llm-url", server.url,
                     "--llm-model", "fake-judge-2")
        assert other.exit_code == 0 and "judged 2 new" in other.output, other.output
        assert _status(run, "judge")["redone"] == {"not done before": 2}, other.output
        assert _status(run, "judge")["done"] == 4 and len(server.requests) == asked + 2


@pytest.mark.slow  # about 6 s (split, align and judge twice, the fake server)
def test_a_changed_judge_prompt_redoes_exactly_the_judge_units(tmp_path, monkeypatch):
    pytest.importorskip("instructor")  # the llm extra

    from medvl.prompts import default_prompts_dir
    from medvl.runs import RunDir, read_jsonl
    from tests.helpers.report_run import make_run

    run = tmp_path / "run"
    make_run(run, judged=False, metrics=False)
    figs = list(read_jsonl(run / "figures.jsonl"))
    for paper in sorted({f["paper_id"] for f in figs}):  # the figures as parse units: split and align run on them
        RunDir(run).write_unit("parse", paper, [f for f in figs if f["paper_id"] == paper])
    with _verdict_server() as server:
        cfg = config_from_dict({"executor": {"kind": "inline"}, "llm": {"urls": [server.url], "model": "fake-judge"},
                                "stages": {"split": {}, "align": {}, "judge": {"what": ["splits"], "sample": 5}}})
        first = run_pipeline(cfg, run, only=["split", "align", "judge"])
        assert first.ok and first.stage("judge").ran == 3 and len(server.requests) == 3
        # the same prompt version with another temperature: another sha, so other judge units
        prompts = tmp_path / "prompts"
        shutil.copytree(default_prompts_dir(), prompts)
        path = prompts / "judge" / "splits_v1.yaml"
        path.write_text(path.read_text().replace("temperature: 0.0", "temperature: 0.1"))
        monkeypatch.setenv("MEDVL_PROMPTS_DIR", str(prompts))
        again = run_pipeline(cfg, run, only=["split", "align", "judge"])
        assert again.ok and [again.stage(n).ran for n in ("split", "align", "judge")] == [0, 0, 3]
        assert len(server.requests) == 6 and _status(run, "judge")["redone"] == {"not done before": 3}
    shas = [j["prompt_sha"] for j in read_jsonl(run / "judgments.jsonl")]
    assert len(shas) == 6 and len(set(shas)) == 2  # the first prompt's judgments are kept beside the new ones


@pytest.mark.slow  # about 6 s (judge and report twice, the fake server)
def test_a_judge_summary_setting_redoes_the_report_not_the_judge_units(tmp_path):
    pytest.importorskip("instructor")  # the llm extra
    from tests.helpers.report_run import make_run

    run = tmp_path / "run"
    make_run(run, judged=False, metrics=False)
    with _verdict_server() as server:
        cfg = config_from_dict({"executor": {"kind": "inline"}, "llm": {"urls": [server.url], "model": "fake-judge"},
                                "stages": {"judge": {"what": ["splits"], "sample": 2}, "report": {}}})
        first = run_pipeline(cfg, run, only=["judge", "report"])
        assert first.ok and [first.stage(n).ran for n in ("judge", "report")] == [2, 1]
        # the interval changes judge_summary.json only: no judge unit, but the report that shows it
        cfg.stages["judge"]["interval"] = "bootstrap"
        again = run_pipeline(cfg, run, only=["judge", "report"])
        assert again.ok and [again.stage(n).ran for n in ("judge", "report")] == [0, 1]
        assert again.stage("report").redone == {"upstream output changed": 1} and len(server.requests) == 2
