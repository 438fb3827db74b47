"""`medvl train`: train a CLIP model with open_clip_train on an exported DATA_DIR."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from medvl.cli import app


@app.command("train", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def train_cmd(
    ctx: typer.Context,
    data_dir: Path = typer.Argument(..., help="Exported data folder (train.csv, val.csv, wds/, manifest.json)."),
    data_format: str = typer.Option("csv", "--data-format",
                                    help="csv: train.csv/val.csv; wds: the WebDataset shards export wrote (wds/*.tar, "
                                         "sample counts from wds/sizes.json)."),
    model: str = typer.Option("medvl-tiny", "--model", help="Model config: models/*.json or an open_clip name."),
    pretrained: Optional[Path] = typer.Option(None, "--pretrained",
                                              help="Local checkpoint file or train folder to start from."),
    epochs: int = typer.Option(10, "--epochs", min=1),
    batch_size: int = typer.Option(32, "--batch-size", min=1, help="Per GPU/process."),
    lr: float = typer.Option(5e-4, "--lr"),
    wd: float = typer.Option(0.1, "--wd", help="Weight decay."),
    warmup: int = typer.Option(10, "--warmup", help="Warm-up steps."),
    seed: int = typer.Option(0, "--seed"),
    out: Path = typer.Option(Path("runs/train"), "--out", help="Output folder (reruns resume from it)."),
    workers: int = typer.Option(2, "--workers", min=0, help="Data loader workers per process."),
    device: str = typer.Option("cpu", "--device", help="cpu or cuda."),
    gpus: int = typer.Option(1, "--gpus", min=1, help="Processes/GPUs: >1 runs torchrun --nproc_per_node N."),
    threads: Optional[int] = typer.Option(None, "--threads", min=1,
                                          help="CPU threads per process (OMP_NUM_THREADS); 1 is fastest on a busy machine."),
    precision: Optional[str] = typer.Option(None, "--precision", help="Default: fp32 on cpu, amp on cuda."),
    val_frequency: int = typer.Option(1, "--val-frequency", help="Validate every N epochs; 0: never."),
    print_command: bool = typer.Option(False, "--print-command", help="Only print the open_clip_train command."),
) -> None:
    """Train CLIP with open_clip_train (extra options after the known ones go to open_clip_train unchanged).

    --data-format wds streams export's WebDataset shards (--dataset-type webdataset, --train-num-samples
    from wds/sizes.json) instead of reading images from the CSV's paths.

    Multi-GPU: --gpus N runs `torchrun --standalone --nproc_per_node N -m medvl.train ...`.
    """
    from medvl.cli.common import console, progress_bar
    from medvl.train import TrainConfig, command, open_clip_args, train

    if data_format not in ("csv", "wds"):
        raise typer.BadParameter(f"--data-format must be csv or wds, not {data_format!r}")
    if gpus > 1 and not device.startswith("cuda"):
        raise typer.BadParameter("--gpus > 1 needs --device cuda")
    cfg = TrainConfig(data_dir=data_dir, out=out, model=model, pretrained=pretrained, epochs=epochs,
                      batch_size=batch_size, lr=lr, wd=wd, warmup=warmup, seed=seed, workers=workers,
                      device=device, gpus=gpus, threads=threads, precision=precision, val_frequency=val_frequency,
                      data_format=data_format, extra_args=list(ctx.args))
    if print_command:
        import shlex

        typer.echo(shlex.join(command(cfg, open_clip_args(cfg))))
        return
    with progress_bar(f"train {model}") as advance:
        result = train(cfg, progress=advance)
    console.print(f"[green]trained[/] {result.epochs_done} epochs -> {result.checkpoint} "
                  f"({result.samples_per_second} samples/s wall, {result.loop_samples_per_second} in the loop)")
    typer.echo(json.dumps(result.to_dict(), indent=2))
