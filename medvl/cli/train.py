"""`medvl train`: train a CLIP model with open_clip_train on an exported DATA_DIR (the train stage)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from medvl.cli import app


@app.command("train", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def train_cmd(
    ctx: typer.Context,
    data_dir: Path = typer.Argument(..., help="Exported data folder (train.csv, val.csv, wds/, manifest.json): "
                                    "a run's export (trained in that run) or a folder of no run."),
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
    out: Optional[Path] = typer.Option(None, "--out", help="Model folder. Default: RUN_DIR/train/<variant> for a "
                                       "run's export, else runs/train (then also the run directory of the stage)."),
    workers: int = typer.Option(2, "--workers", min=0, help="Data loader workers per process."),
    device: str = typer.Option("cpu", "--device", help="cpu, cuda, cuda:N, mps or npu."),
    gpus: int = typer.Option(1, "--gpus", min=1, help="Processes/GPUs: >1 runs torchrun --nproc_per_node N."),
    threads: Optional[int] = typer.Option(None, "--threads", min=1,
                                          help="CPU threads per process (OMP_NUM_THREADS); 1 is fastest on a busy machine."),
    precision: Optional[str] = typer.Option(None, "--precision", help="open_clip_train's: amp, amp_bf16, "
                                            "amp_bfloat16, bf16, fp16, pure_bf16, pure_fp16 or fp32. Default: fp32 "
                                            "on cpu, amp on cuda."),
    val_frequency: int = typer.Option(1, "--val-frequency", help="Validate every N epochs; 0: never."),
    print_command: bool = typer.Option(False, "--print-command", help="Only print the open_clip_train command."),
    force: bool = typer.Option(False, "--force", help="Train again from scratch even when done with the same "
                               "settings and inputs."),
) -> None:
    """Train CLIP with open_clip_train (extra options after the known ones go to open_clip_train unchanged).

    --data-format wds streams export's WebDataset shards (--dataset-type webdataset, --train-num-samples
    from wds/sizes.json) instead of reading images from the CSV's paths.

    Multi-GPU: --gpus N runs `torchrun --standalone --nproc_per_node N -m medvl.train ...`.

    This is the train stage of `medvl run` (the same engine, settings, fingerprint and done marker).  A
    DATA_DIR that a run's export wrote is trained as that run's train stage for that variant (into
    RUN_DIR/train/<variant> unless --out), so `medvl run` reuses it and `medvl status RUN_DIR` shows it;
    any other DATA_DIR is the stage's setting data_dir, with the --out folder as the run directory.  A
    rerun with the same settings and inputs trains nothing, a changed setting trains again (more
    --epochs resume from the last checkpoint, another --lr or data start over) and says why.
    Exit code: 0 when trained (or already done), 2 on usage or fatal errors.
    """
    from medvl.cli.common import console, progress_bar, stage_news
    from medvl.one_stage import export_run_of, run_relative, run_stage, stage_outputs
    from medvl.stages.train import DATA_DIR_KEY, DEFAULT_OUT
    from medvl.train import TrainConfig, command, open_clip_args, read_train_record

    if data_format not in ("csv", "wds"):
        raise typer.BadParameter(f"--data-format must be csv or wds, not {data_format!r}")
    if gpus > 1 and not device.startswith("cuda"):
        raise typer.BadParameter("--gpus > 1 needs --device cuda")
    settings: dict = dict(model=model, pretrained=str(pretrained.resolve()) if pretrained else None, epochs=epochs,
                          batch_size=batch_size, lr=lr, wd=wd, warmup=warmup, seed=seed, workers=workers,
                          device=device, gpus=gpus, threads=threads, precision=precision,
                          val_frequency=val_frequency, data_format=data_format, extra_args=list(ctx.args))
    found = export_run_of(data_dir)
    if found:  # the run's train stage, for this variant
        run_dir, key = found
        if list(stage_outputs(run_dir, "export")) != [key]:
            settings["variants"] = [key]
        target = out or run_dir / DEFAULT_OUT.format(variant=key)
        if (rel := run_relative(target, run_dir)) != DEFAULT_OUT.format(variant=key):
            settings["out"] = rel
    else:  # data of no run: the --out folder is the run directory and the model folder
        run_dir, key = out or Path("runs/train"), DATA_DIR_KEY
        target = run_dir
        settings.update(data_dir=str(data_dir.resolve()), out=".")
    if print_command:
        import shlex

        cfg = TrainConfig(data_dir=data_dir, out=target, **{k: v for k, v in settings.items()
                                                           if k not in ("variants", "out", "data_dir")})
        typer.echo(shlex.join(command(cfg, open_clip_args(cfg))))
        return
    with progress_bar(f"train {model}") as advance:
        res = run_stage(run_dir, "train", settings, force=force, progress=advance)
    folder = Path(run_dir).resolve() / res.outputs[key]
    stage_news("train", res, ("trains", "trained"), folder)
    result = read_train_record(folder).get("result") or {}
    console.print(f"[green]trained[/] {result.get('epochs_done')} epochs -> {result.get('checkpoint')} "
                  f"({result.get('samples_per_second')} samples/s wall, {result.get('loop_samples_per_second')} "
                  "in the loop)")
    typer.echo(json.dumps(result, indent=2))
