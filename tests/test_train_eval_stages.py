"""`medvl train` runs the train stage of the engine (issue 12): a DATA_DIR that a run's export wrote trains
in that run (the same settings, fingerprint, done marker and `medvl status` as `medvl run`, whichever
command ran first); data of no run is the stage's setting data_dir, with the --out folder as the run
directory.  A rerun with the
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

def test_train_settings_are_strict():
    plain = config_from_dict({"stages": ["train"]})
    train = get_stage("train")
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


# ---------------------------------------------------------------- slow: real trainings

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


@pytest.mark.slow  # two tiny trainings
def test_data_of_no_run(run, tmp_path):
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
