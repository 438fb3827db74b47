"""Strict settings: every config section is checked before any stage runs, and a typo names the file,
the section and the key and suggests the nearest known key."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from medvl.config import config_from_dict, load_config
from medvl.errors import MedvlError
from medvl.pipeline import Pipeline
from medvl.settings import check_keys, suggest

ROOT = Path(__file__).resolve().parent.parent


def test_suggest_names_the_nearest_key_or_nothing():
    assert suggest("fromat", ["format", "embed", "max_figures"]) == " (did you mean 'format'?)"
    assert suggest("zzz", ["format", "embed"]) == ""
    with pytest.raises(MedvlError, match=r"stages\.x\.paperz: unknown setting \(did you mean 'papers'\?\)"):
        check_keys({"paperz": 3}, {"papers", "seed"}, "stages.x")


def _parse_only_error(tmp_path, name: str, section: str, body: str) -> str:
    """The error of a parse-only run whose config file `name` has `{body}` in stages.<section>."""
    cfg_file = tmp_path / name
    cfg_file.write_text(f"inputs: {{pdfs: {tmp_path}}}\nstages:\n  parse: {{}}\n  {section}: {{{body}}}\n")
    with pytest.raises(MedvlError) as err:
        Pipeline(load_config(cfg_file), tmp_path / "run", only=["parse"]).run_all()
    return str(err.value)


@pytest.mark.parametrize("section, typo, near", [
    ("report", "fromat: md", "format"),
    ("synth", "paperz: 3", "papers"),
    ("eval", "neighbors_k: 3", "neighbours_k"),
    ("parse", "dpii: 3", "dpi"),
    ("split", "spliter: rules", "splitter"),
])
def test_a_typo_in_any_section_fails_before_work_starts(tmp_path, section, typo, near):
    # the typo is in a stage this invocation does not even run (--stages parse): it still fails first
    msg = _parse_only_error(tmp_path, "typo.yaml", section, typo)
    run_dir = tmp_path / "run"
    key = typo.split(":")[0]
    assert "typo.yaml" in msg and f"stages.{section}.{key}" in msg and f"did you mean '{near}'" in msg, msg
    assert not (run_dir / "run.json").exists() and not (run_dir / ".parts").exists()  # nothing ran


def test_top_level_and_executor_typos_suggest_the_key(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("executor:\n  wokers: 2\nstagez: [parse]\n")
    with pytest.raises(MedvlError) as err:
        load_config(bad)
    msg = str(err.value)
    assert "bad.yaml" in msg
    assert "executor.wokers: unknown setting (did you mean 'workers'?)" in msg
    assert "stagez: unknown setting (did you mean 'stages'?)" in msg
    with pytest.raises(MedvlError, match=r"unknown stage 'aling' \(did you mean 'align'\?\)"):
        Pipeline(config_from_dict({"stages": ["aling"]}), tmp_path / "r")


def test_a_stage_must_declare_its_settings():
    from medvl.pipeline import Stage, register

    with pytest.raises(ValueError, match="settings_model"):
        register(Stage("toy_unchecked", "1", order=2000, run_all=lambda ctx, progress: {}))


def test_cli_run_exits_2_on_a_typo_before_anything_runs(tmp_path):
    cfg_file = tmp_path / "c.yaml"
    cfg_file.write_text(f"out: {tmp_path / 'run'}\ninputs: {{pdfs: {tmp_path}}}\n"
                        "stages: {parse: {}, report: {fromat: md}}\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-m", "medvl", "run", str(cfg_file), "-q"], capture_output=True,
                          text=True, env=env, timeout=120)
    assert proc.returncode == 2, proc.stderr
    err = " ".join(proc.stderr.split())
    assert "stages.report.fromat" in err and "did you mean 'format'" in err
    assert not (tmp_path / "run" / "run.json").exists()


@pytest.mark.parametrize("section, bad, key, reason", [
    ("export", "min_confidence: high", "min_confidence", "Input should be a valid number, not 'high'"),
    ("judge", "batch: x", "batch", "Input should be a valid integer, not 'x'"),
    ("parse", "dpi: hi", "dpi", "Input should be a valid integer, not 'hi'"),
    ("parse", "dpi: true", "dpi", "Input should be a valid integer, not True"),  # a bool is no number
    ("parse", "ocr: sometimes", "ocr", "Input should be 'auto', 'always' or 'never', not 'sometimes'"),
    ("align", "crop_missing: maybe", "crop_missing", "Input should be a valid boolean, not 'maybe'"),
    ("split", "shard_size: '8'", "shard_size", "Input should be a valid integer, not '8'"),
    ("align", "concurrency: '4'", "concurrency", "Input should be a valid integer, not '4'"),
    ("judge", "timeout_s: soon", "timeout_s", "Input should be a valid number, not 'soon'"),
    ("split", "mode: xml", "mode", "Input should be 'json_schema', 'tools' or 'json', not 'xml'"),
])
def test_an_ill_typed_value_in_a_stage_section_fails_before_work_starts(tmp_path, section, bad, key, reason):
    msg = _parse_only_error(tmp_path, "typed.yaml", section, bad)
    assert f"typed.yaml: stages.{section}.{key}: {reason}" in msg, msg
    run_dir = tmp_path / "run"
    assert not run_dir.exists() or not any(run_dir.iterdir())  # nothing ran, nothing written


def test_typed_values_are_checked_not_converted(tmp_path):
    # an int where a float is wanted passes and stays an int: the resolved settings (fingerprints) do not change
    cfg = config_from_dict({"inputs": {"pdfs": str(tmp_path)},
                            "stages": {"parse": {"timeout_s": 60, "dpi": 150},
                                       "export": {"min_confidence": 1, "split": [1, 0, 0]}}})
    pipe = Pipeline(cfg, tmp_path / "run", only=["parse"])
    pipe.check()
    from medvl.pipeline import get_stage

    parse, export = (pipe.settings_for(get_stage(n)) for n in ("parse", "export"))
    assert parse["timeout_s"] == 60 and type(parse["timeout_s"]) is int
    assert export["min_confidence"] == 1 and type(export["min_confidence"]) is int


TRAIN = ["train", "{data}", "--out", "{new}/model"]


@pytest.mark.parametrize("args, msg", [
    ([*TRAIN, "--device", "tpu"], "stages.train.device: must be cpu, cuda, mps, npu"),
    ([*TRAIN, "--precision", "bogus"], "stages.train.precision: must be one of amp,"),
    ([*TRAIN, "--device", "cuda:x"], "not 'cuda:x'"),
    (["export", "{new}/run", "--format", "parquet"], "formats must be csv and/or wds, not ['parquet']"),
])
def test_a_bad_stage_option_exits_2_and_writes_nothing(tmp_path, args, msg):
    (tmp_path / "data").mkdir()
    new = tmp_path / "new"
    proc = subprocess.run([sys.executable, "-m", "medvl", *[a.format(data=tmp_path / "data", new=new) for a in args]],
                          capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert msg in " ".join(proc.stderr.split()), proc.stderr
    assert not new.exists()  # neither the run directory (run.json) nor its parent was made


def test_every_device_open_clip_train_knows_passes():
    from medvl.train import device_problem

    assert [d for d in ("cpu", "cuda", "cuda:0", "cuda:12", "mps", "npu:1") if device_problem(d)] == []
    assert all(device_problem(d) for d in ("tpu", "cuda:", "CPU", "cuda:1:2", 0, None))
