"""medvl train: open_clip_train arguments, data checks, and a real tiny training run on CPU."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from medvl.errors import InputError
from medvl.train import (TrainConfig, check_data, command, latest_checkpoint, local_model_names, model_dirs,
                         open_clip_args, train)
from tests.helpers.shapes import make_shapes

REPO = Path(__file__).resolve().parent.parent


def test_model_configs_are_open_clip_configs():
    names = local_model_names()
    assert "medvl-tiny" in names and "medvl-ViT-B-16" in names
    for d in model_dirs():
        for p in d.glob("*.json"):
            cfg = json.loads(p.read_text())
            assert {"embed_dim", "vision_cfg", "text_cfg"} <= set(cfg), p
    tiny = json.loads((REPO / "models" / "medvl-tiny.json").read_text())
    assert tiny["vision_cfg"]["image_size"] == 64 and tiny["text_cfg"]["context_length"] == 64
    # the tiny model uses open_clip's bundled BPE tokenizer: nothing to download
    assert "hf_tokenizer_name" not in tiny["text_cfg"]


@pytest.mark.slow  # 14.3 and 11.2 s here (imports torch and open_clip)
def test_register_models_makes_tiny_buildable():
    pytest.importorskip("open_clip")
    import open_clip

    from medvl.train import register_models

    assert "medvl-tiny" in register_models()
    model = open_clip.create_model("medvl-tiny")
    n_params = sum(p.numel() for p in model.parameters())
    assert n_params < 6_000_000
    tok = open_clip.get_tokenizer("medvl-tiny")
    assert tuple(tok(["a red circle"]).shape) == (1, 64)


def test_open_clip_args_and_command(tmp_path):
    data = make_shapes(tmp_path / "data", n_train=8, n_val=4)
    cfg = TrainConfig(data_dir=data, out=tmp_path / "out" / "run1", epochs=3, batch_size=4, lr=1e-3, workers=0)
    args = open_clip_args(cfg, n_train=8)
    opt = {a: args[i + 1] for i, a in enumerate(args[:-1]) if a.startswith("--")}
    assert opt["--train-data"] == str(data.resolve() / "train.csv")
    assert opt["--val-data"] == str(data.resolve() / "val.csv")
    assert opt["--csv-separator"] == "\t" and opt["--csv-img-key"] == "filepath" and opt["--csv-caption-key"] == "title"
    assert opt["--resume"] == "latest" and opt["--model"] == "medvl-tiny" and opt["--epochs"] == "3"
    assert opt["--logs"] == str((tmp_path / "out").resolve()) and opt["--name"] == "run1"
    assert opt["--precision"] == "fp32" and opt["--device"] == "cpu"
    assert "--pretrained" not in args
    # validation off: no --val-data
    cfg.val_frequency = 0
    assert "--val-data" not in open_clip_args(cfg)
    # one process: this module as the program; several GPUs: torchrun
    assert command(cfg, args)[1:3] == ["-m", "medvl.train"]
    cfg.gpus, cfg.device = 4, "cuda"
    cmd = command(cfg, args)
    assert cmd[1:3] == ["-m", "torch.distributed.run"] and "--nproc_per_node=4" in cmd
    assert cmd[cmd.index("--nproc_per_node=4") + 1: cmd.index("--nproc_per_node=4") + 3] == ["-m", "medvl.train"]
    assert "amp" in open_clip_args(cfg)


def test_pretrained_must_be_local(tmp_path):
    data = make_shapes(tmp_path / "data", n_train=8)
    cfg = TrainConfig(data_dir=data, out=tmp_path / "o", pretrained=tmp_path / "nope.pt")
    with pytest.raises(InputError, match="nope.pt"):
        open_clip_args(cfg)
    # a train folder means its latest checkpoint
    ck = tmp_path / "prev" / "checkpoints"
    ck.mkdir(parents=True)
    for e in (2, 10):
        (ck / f"epoch_{e}.pt").write_bytes(b"x")
    cfg.pretrained = tmp_path / "prev"
    args = open_clip_args(cfg)
    assert args[args.index("--pretrained") + 1] == str(ck / "epoch_10.pt")
    assert latest_checkpoint(tmp_path / "prev") == ck / "epoch_10.pt"


def test_check_data_names_file_and_reason(tmp_path):
    with pytest.raises(InputError, match="not found"):
        check_data(TrainConfig(data_dir=tmp_path / "missing", out=tmp_path / "o"))
    data = make_shapes(tmp_path / "d", n_train=6)
    with pytest.raises(InputError, match=r"train.csv.*fewer than one batch"):
        check_data(TrainConfig(data_dir=data, out=tmp_path / "o", batch_size=8))
    (data / "img" / "train_0003.png").unlink()
    with pytest.raises(InputError, match=r"1 image files not found, e.g. img/train_0003.png"):
        check_data(TrainConfig(data_dir=data, out=tmp_path / "o", batch_size=2))
    (data / "train.csv").write_text("image,caption\nimg/a.png,x\n")
    with pytest.raises(InputError, match="filepath and title"):
        check_data(TrainConfig(data_dir=data, out=tmp_path / "o", batch_size=2))


def _losses(log: Path) -> list[float]:
    return [float(m.group(1)) for m in re.finditer(r"Contrastive_loss: ([\d.]+)", log.read_text())]


@pytest.mark.slow
def test_train_tiny_offline_then_resume(tmp_path, monkeypatch):
    pytest.importorskip("open_clip_train")
    data = make_shapes(tmp_path / "data", n_train=96)
    # any attempt to reach the network fails fast
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.setenv(var, "http://127.0.0.1:9")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    out = tmp_path / "runs" / "tiny"
    seen: list[str] = []
    cfg = TrainConfig(data_dir=data, out=out, epochs=3, batch_size=16, lr=1e-3, workers=0, seed=1, threads=1)
    res = train(cfg, progress=lambda n=1, *, total=None, note="": seen.append(note))
    assert res.epochs_done == 3 and res.checkpoint == out / "checkpoints" / "epoch_3.pt"
    assert res.checkpoint.exists() and not (out / "checkpoints" / "epoch_2.pt").exists()
    assert res.trained_samples == 3 * 96 and res.resumed_from_epoch == 0
    assert any("epoch 3/3" in s for s in seen)
    rec = json.loads((out / "medvl_train.json").read_text())
    assert rec["model"] == "medvl-tiny" and rec["data"]["train_rows"] == 96
    assert rec["data"]["manifest"]["pairs"] == "toy" and len(rec["data"]["manifest_sha256"]) == 64
    assert rec["result"]["epochs_done"] == 3 and rec["versions"]["open_clip_torch"]
    assert (out / "params.txt").exists()
    losses = _losses(out / "out.log")
    assert len(losses) >= 3 and losses[-1] < losses[0]  # it learns

    # rerun with more epochs: resumes from epoch 3 and trains only the 4th
    cfg.epochs = 4
    res2 = train(cfg)
    assert res2.resumed_from_epoch == 3 and res2.epochs_done == 4 and res2.trained_samples == 96
    assert "resuming checkpoint" in res2.log.read_text()
    # rerun of a finished run trains nothing
    res3 = train(cfg)
    assert res3.epochs_done == 4 and res3.trained_samples == 0

    # fine-tune from that run's folder: open_clip loads its latest checkpoint as pretrained weights
    ft = train(TrainConfig(data_dir=data, out=tmp_path / "runs" / "ft", epochs=1, batch_size=16, workers=0,
                           threads=1, pretrained=out))
    log = (tmp_path / "runs" / "ft" / "out.log").read_text()
    assert f"Loading full pretrained weights from: {out / 'checkpoints' / 'epoch_4.pt'}" in log
    assert ft.epochs_done == 1 and ft.trained_samples == 96


def test_train_cli_print_command(tmp_path):
    data = make_shapes(tmp_path / "data", n_train=8)
    r = subprocess.run([sys.executable, "-c", "from medvl.cli import main; main()", "train", str(data), "--out", str(tmp_path / "o"),
                        "--batch-size", "4", "--print-command", "--lock-image"],
                       capture_output=True, text=True, cwd=REPO)
    assert r.returncode == 0, r.stderr
    assert "-m medvl.train --train-data" in r.stdout and r.stdout.strip().endswith("--lock-image")


# ---------------------------------------------------------------- WebDataset shards (--data-format wds)

def _export_shards(tmp_path: Path, n_papers: int = 12, shard_size: int = 4) -> Path:
    """A real `medvl export` DATA_DIR (CSV + WebDataset shards) of a small run."""
    from tests.helpers.export_run import build_run
    from medvl.export import ExportSettings, export_run

    rd = build_run(tmp_path / "run", n_papers=n_papers)
    export_run(rd.path, tmp_path / "data", ExportSettings(shard_size=shard_size))
    return tmp_path / "data"


def test_wds_args_come_from_the_manifest_and_sizes(tmp_path):
    from medvl.train import wds_split

    data = _export_shards(tmp_path)
    manifest = json.loads((data / "manifest.json").read_text())
    n_train = manifest["splits"]["train"]["rows"]
    n_shards = -(-n_train // 4)
    tr = wds_split(data, "train")
    assert tr.num_samples == n_train and len(tr.shards) == n_shards
    assert tr.pattern == str(data / "wds" / f"train-{{000000..{n_shards - 1:06d}}}.tar")
    cfg = TrainConfig(data_dir=data, out=tmp_path / "o", batch_size=4, workers=8, data_format="wds")
    args = open_clip_args(cfg)
    opt = {a: args[i + 1] for i, a in enumerate(args[:-1]) if a.startswith("--")}
    assert opt["--dataset-type"] == "webdataset" and opt["--train-data"] == tr.pattern
    assert opt["--train-num-samples"] == str(n_train)
    n_val = manifest["splits"]["val"]["rows"]
    assert opt["--val-data"] == str(data / "wds" / f"val-{{000000..{-(-n_val // 4) - 1:06d}}}.tar")
    assert opt["--val-num-samples"] == str(n_val)
    assert "--csv-img-key" not in args and "train.csv" not in " ".join(args)
    assert opt["--workers"] == str(n_shards)  # one shard per worker at most (open_clip asserts it)
    # sizes.json without the shards: the manifest's num_samples; no manifest: the shards on disk
    (data / "wds" / "sizes.json").write_text("{}")
    assert wds_split(data, "train").num_samples == n_train
    (data / "manifest.json").unlink()
    with pytest.raises(InputError, match="sizes.json.*no sample count"):
        wds_split(data, "train")
    assert wds_split(data, "nope") is None
    # a missing shard names the file
    (data / "manifest.json").write_text(json.dumps(manifest))
    (data / "wds" / "train-000001.tar").unlink()
    with pytest.raises(InputError, match=r"train-000001.tar: WebDataset shard not found"):
        open_clip_args(cfg)
    with pytest.raises(Exception, match="data format must be one of csv, wds"):
        TrainConfig(data_dir=data, out=tmp_path / "o", data_format="parquet")


def test_train_cli_print_command_wds(tmp_path):
    data = _export_shards(tmp_path, n_papers=6, shard_size=100)
    r = subprocess.run([sys.executable, "-c", "from medvl.cli import main; main()", "train", str(data), "--out",
                        str(tmp_path / "o"), "--batch-size", "2", "--data-format", "wds", "--print-command"],
                       capture_output=True, text=True, cwd=REPO)
    assert r.returncode == 0, r.stderr
    assert "--dataset-type webdataset" in r.stdout and "--train-num-samples" in r.stdout
    assert "wds/train-" in r.stdout and "--workers 1" in r.stdout  # one train shard: one worker


@pytest.mark.slow
def test_train_tiny_from_webdataset_shards(tmp_path):
    """A few real open_clip_train steps reading only the tar shards (the CSV and image folder are gone)."""
    pytest.importorskip("open_clip_train")
    import shutil

    from medvl.train import samples_per_epoch

    data = _export_shards(tmp_path)
    n_train = json.loads((data / "manifest.json").read_text())["splits"]["train"]["rows"]
    for name in ("train.csv", "val.csv", "test.csv"):
        (data / name).unlink()
    shutil.rmtree(data / "images")
    out = tmp_path / "runs" / "wds"
    cfg = TrainConfig(data_dir=data, out=out, epochs=1, batch_size=4, lr=1e-3, workers=0, seed=0, threads=1,
                      data_format="wds", val_frequency=1)
    res = train(cfg)
    assert res.epochs_done == 1 and res.checkpoint == out / "checkpoints" / "epoch_1.pt" and res.checkpoint.exists()
    # webdataset rounds an epoch up to whole batches
    assert res.trained_samples == samples_per_epoch(cfg, n_train, 0) == -(-n_train // 4) * 4
    params = (out / "params.txt").read_text()
    assert "dataset_type: webdataset" in params and f"train_num_samples: {n_train}" in params
    log = (out / "out.log").read_text()
    assert "Train Epoch: 0" in log and "Eval Epoch: 1" in log  # trained, then validated on the val shards
    rec = json.loads((out / "medvl_train.json").read_text())
    assert rec["data"]["format"] == "wds" and rec["data"]["train_rows"] == n_train
    assert rec["data"]["train_shards"].startswith(str(data / "wds" / "train-"))
    with pytest.raises(InputError, match="fewer than one batch"):
        train(TrainConfig(data_dir=data, out=tmp_path / "o2", batch_size=n_train + 1, data_format="wds"))
