"""`medvl train` and `medvl eval run|compare` run the train and eval stages of the engine (issue 12): a
DATA_DIR that a run's export wrote trains and evaluates in that run (the same settings, fingerprint, done
marker and `medvl status` as `medvl run`, whichever command ran first); data and checkpoints of no run are
the stages' settings data_dir / checkpoints, with the --out folder as the run directory.  A rerun with the
same settings reuses the stage, a changed setting redoes it and says why."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from medvl.cli import app
from medvl.config import config_from_dict
from medvl.errors import MedvlError
from medvl.pipeline import get_stage, run_pipeline, run_status
from tests.helpers.export_run import build_run

#: the smallest training: 1 epoch of batches of 2 on 4-6 pairs, one thread, no validation
TRAIN = {"epochs": 1, "batch_size": 2, "workers": 0, "threads": 1, "val_frequency": 0}
TRAIN_OPTS = ["--epochs", "1", "--batch-size", "2", "--workers", "0", "--threads", "1", "--val-frequency", "0"]
EVAL = {"suite": None, "threads": 1}
EVAL_OPTS = ["--suite", "none", "--threads", "1"]


def _cli(*args):
    r = CliRunner().invoke(app, [str(a) for a in args], env={"COLUMNS": "250"})
    return r, " ".join(r.output.split())


def _ok(*args) -> str:
    r, text = _cli(*args)
    assert r.exit_code == 0, (r.output, r.exception)
    return text


def _run(run: Path, stages: dict, only: list[str]):
    cfg = config_from_dict({"executor": {"kind": "inline"}, "stages": stages})
    return run_pipeline(cfg, run, only=only).stage(only[0])


def _status(run: Path, stage: str) -> dict:
    return next(r for r in run_status(run) if r["stage"] == stage)


def _record(folder: Path) -> dict:
    return json.loads((folder / "medvl_train.json").read_text())


@pytest.fixture
def run(tmp_path) -> Path:
    """A run whose export stage wrote both variants (8 papers, half of them test)."""
    build_run(tmp_path / "run", n_papers=8)
    res = _run(tmp_path / "run", {"export": {"variants": ["aligned", "raw"], "formats": ["csv"],
                                             "split": [0.5, 0, 0.5]}}, ["export"])
    assert res.state == "done", res
    return tmp_path / "run"


# ---------------------------------------------------------------- fast: settings, lookups, resuming

def test_train_and_eval_settings_are_strict():
    plain = config_from_dict({"stages": ["train"]})
    train, ev = get_stage("train"), get_stage("eval")
    # every CLI option at its default is no setting: `medvl train` matches a config that sets none
    assert train.resolve(plain, {"epochs": 10, "lr": 5e-4, "threads": None, "extra_args": []}) == {}
    assert train.resolve(plain, {"lr": 1e-3, "out": "train/{variant}"}) == {"lr": 1e-3}
    for bad, msg in (({"epoch": 1}, "epoch: unknown setting.*did you mean 'epochs'"),
                     ({"epochs": "ten"}, "epochs: Input should be a valid integer"),
                     ({"variants": ["figures"]}, "variants.0: Input should be 'aligned' or 'raw'"),
                     ({"data_dir": "/d", "variants": ["raw"]}, "data_dir .* or variants .*not both"),
                     ({"data_format": "parquet"}, "data_format must be one of csv, wds")):
        with pytest.raises(MedvlError, match=msg):
            train.resolve(plain, bad)
    assert ev.resolve(plain, {"threads": None, "model": None}) == {
        "suite": None, "split": "test", "device": "cpu", "batch_size": 64, "neighbours_k": 5}
    for bad, msg in (({"checkpoint": {"a": "x"}}, "did you mean 'checkpoints'"),
                     ({"checkpoints": {"a": "x", "b": "y"}}, "raw and aligned to compare"),
                     ({"models": ["aligned"], "checkpoints": {"a": "x"}}, "not both"),
                     ({"models": ["aligned", "raw"], "label": "x"}, "label names the one model")):
        with pytest.raises(MedvlError, match=msg):
            ev.resolve(plain, bad)


def test_the_run_behind_an_export_and_print_command(run, tmp_path):
    from medvl.one_stage import export_run_of, run_relative, trained_variant

    assert export_run_of(run / "export" / "raw") == (run.resolve(), "raw")
    copy = tmp_path / "copy"
    shutil.copytree(run / "export" / "aligned", copy)  # its manifest names the run, which did not write it
    assert export_run_of(copy) is None and export_run_of(tmp_path) is None
    assert trained_variant(run, run / "train" / "aligned") is None  # nothing trained yet
    assert run_relative(run / "train" / "x", run) == "train/x" and run_relative(copy, run) == str(copy.resolve())
    # a run's export trains into RUN_DIR/train/<variant>; data of no run into --out (default runs/train)
    text = _ok("train", run / "export" / "aligned", "--batch-size", "2", "--print-command")
    assert f"--logs {run.resolve() / 'train'} --name aligned" in text
    text = _ok("train", copy, "--batch-size", "2", "--out", tmp_path / "o", "--print-command")
    assert f"--logs {tmp_path.resolve()} --name o" in text and f"--train-data {copy.resolve() / 'train.csv'}" in text
    assert not (run / "train").exists() and not (tmp_path / "o").exists()


def test_eval_of_a_missing_checkpoint_fails_before_any_folder_is_made(run, tmp_path):
    r, text = _cli("eval", tmp_path / "nope.pt", run / "export" / "aligned")
    assert r.exit_code != 0 and "nope.pt: checkpoint not found" in str(r.exception)
    assert not (tmp_path / "eval-test").exists()


def test_checkpoints_resume_only_the_same_training(tmp_path):
    from medvl.train import TrainConfig, _record_settings, stale_checkpoints

    data = tmp_path / "data"
    data.mkdir()
    cfg = TrainConfig(data_dir=data, out=tmp_path / "out", epochs=3, lr=1e-3)
    ident = {"manifest.json": "a", "train.csv": "b", "val.csv": None}
    assert stale_checkpoints(cfg, ident) is None  # nothing there
    (cfg.out / "checkpoints").mkdir(parents=True)
    (cfg.out / "checkpoints" / "epoch_2.pt").write_bytes(b"x")
    (cfg.out / "medvl_train.json").write_text(json.dumps({"settings": _record_settings(cfg),
                                                          "data": {"identity": ident}}))
    assert stale_checkpoints(cfg, ident) is None  # an interrupted training of the same settings goes on
    cfg.threads = 1  # does not change the model
    assert stale_checkpoints(cfg, ident) is None
    assert stale_checkpoints(cfg, {**ident, "train.csv": "c"}) == "made on other data"
    cfg.epochs = 1
    assert stale_checkpoints(cfg, ident) == "has 2 epochs, more than 1"
    cfg.epochs, cfg.lr = 5, 2e-3
    assert stale_checkpoints(cfg, ident) == "made with other settings: lr"


# ---------------------------------------------------------------- slow: real trainings and evaluations

@pytest.mark.slow  # three tiny trainings (about 10-30 s each on a busy machine)
def test_train_command_is_the_runs_train_stage(run):
    pytest.importorskip("open_clip_train")
    data = run / "export" / "aligned"
    first = _ok("train", data, *TRAIN_OPTS)
    folder = run / "train" / "aligned"
    ckpt = folder / "checkpoints" / "epoch_1.pt"
    assert ckpt.is_file() and f'"checkpoint": "{ckpt.resolve()}"' in first and '"epochs_done": 1' in first
    settings = json.loads((run / "run.json").read_text())["stages"]["train"]["settings"]
    assert settings == {**TRAIN, "variants": ["aligned"]}  # the run exported raw too: this variant only
    assert _status(run, "train")["outputs"] == {"aligned": "train/aligned"}
    stamp = ckpt.stat().st_mtime_ns
    # the same settings: nothing is trained, neither by the command nor by `medvl run`
    again = _ok("train", data, *TRAIN_OPTS)
    assert "train: already done with the same settings and inputs" in again
    res = _run(run, {"train": {**TRAIN, "variants": ["aligned"]}}, ["train"])
    assert (res.ran, res.reused) == (0, 1) and ckpt.stat().st_mtime_ns == stamp
    # another lr trains again from scratch (the old checkpoint is not resumed), and status says why
    lr = _ok("train", data, *TRAIN_OPTS, "--lr", "1e-3")
    assert "train: trained again: settings changed: lr" in lr
    assert _status(run, "train")["redone"] == {"settings changed: lr": 1}
    rec = _record(folder)
    assert rec["started_over"] == "made with other settings: lr" and rec["result"]["resumed_from_epoch"] == 0
    assert rec["result"]["trained_samples"] > 0
    # more epochs go on from the last checkpoint, training only the new one
    _ok("train", data, *TRAIN_OPTS[2:], "--lr", "1e-3", "--epochs", "2")
    rec = _record(folder)
    assert rec["result"]["resumed_from_epoch"] == 1 and rec["result"]["epochs_done"] == 2
    assert _status(run, "train")["redone"] == {"settings changed: epochs": 1}
    # a typo of a config key fails before anything runs, naming the key it meant
    with pytest.raises(MedvlError, match="lrr: unknown setting.*'lr'"):
        _run(run, {"train": {**TRAIN, "lrr": 1}}, ["train"])


@pytest.mark.slow  # two tiny trainings, four evaluations
def test_run_then_eval_commands_reuse_the_eval_stage(run):
    pytest.importorskip("open_clip_train")
    cfg = config_from_dict({"executor": {"kind": "inline"}, "stages": {"train": TRAIN, "eval": EVAL}})
    res = run_pipeline(cfg, run, only=["train", "eval"])
    assert res.ok and res.stage("eval").outputs["compare"] == "eval/compare.json"
    compare = (run / "eval" / "compare.json").read_bytes()
    data, models = run / "export" / "aligned", {v: run / "train" / v for v in ("raw", "aligned")}
    # `medvl eval compare` with the run's models and export is the run's eval stage: done before
    text = _ok("eval", "compare", data, "--raw", models["raw"], "--aligned", models["aligned"], *EVAL_OPTS)
    assert "eval: already done with the same settings and inputs" in text and "| metric | raw | aligned |" in text
    assert f"wrote {(run / 'eval' / 'compare.json').resolve()}" in text
    assert (run / "eval" / "compare.json").read_bytes() == compare
    # `medvl eval run` of one model: the stage with models [aligned], into RUN_DIR/eval/aligned
    one = _ok("eval", models["aligned"], data, *EVAL_OPTS)
    assert "| image → text |" in one and _status(run, "eval")["redone"] == {"settings changed: models": 1}
    assert (run / "eval" / "aligned" / "metrics.json").is_file() and (run / "eval" / "neighbours.jsonl").is_file()
    assert "eval: already done" in _ok("eval", models["aligned"], data, *EVAL_OPTS)
    res = _run(run, {"eval": {**EVAL, "models": ["aligned"]}}, ["eval"])
    assert (res.ran, res.reused) == (0, 1)
    batch = _ok("eval", models["aligned"], data, *EVAL_OPTS, "--batch-size", "4")
    assert "eval: evaluated again: settings changed: batch_size" in batch
    assert _status(run, "eval")["redone"] == {"settings changed: batch_size": 1}
    status = " ".join(_cli("status", run)[0].output.split())
    assert "settings changed: batch_size" in status


@pytest.mark.slow  # two tiny trainings, two evaluations
def test_data_and_checkpoints_of_no_run(run, tmp_path):
    pytest.importorskip("open_clip_train")
    data = tmp_path / "data"
    shutil.copytree(run / "export" / "aligned", data)  # made by no run's export
    out = tmp_path / "model"
    _ok("train", data, *TRAIN_OPTS, "--out", out)
    assert (out / "checkpoints" / "epoch_1.pt").is_file() and (out / "run.json").is_file()  # OUT: the run dir
    assert _status(out, "train")["outputs"] == {"model": "."} and not (run / "train").exists()
    assert "train: already done" in _ok("train", data, *TRAIN_OPTS, "--out", out)
    # the data folder is part of the fingerprint: changed data trains again, from scratch
    csv = data / "train.csv"
    csv.write_text(csv.read_text() + csv.read_text().splitlines()[1] + "\n")
    changed = _ok("train", data, *TRAIN_OPTS, "--out", out)
    assert "train: trained again: input outside the run directory changed" in changed
    assert _record(out)["started_over"] == "made on other data"
    # a checkpoint and data of no run: evaluated into CHECKPOINT/eval-test, itself the run directory
    text = _ok("eval", out, data, *EVAL_OPTS)
    metrics = out / "eval-test" / "metrics.json"
    assert f"wrote {metrics.resolve()}" in text and (out / "eval-test" / "run.json").is_file()
    assert json.loads(metrics.read_text())["zeroshot"] is None
    assert "eval: already done" in _ok("eval", out, data, *EVAL_OPTS)
    (data / "test.csv").write_text((data / "test.csv").read_text() + "\n")
    assert "eval: evaluated again: input outside the run directory changed" in _ok("eval", out, data, *EVAL_OPTS)
