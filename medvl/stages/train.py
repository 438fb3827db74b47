"""The train stage: open_clip_train on each exported variant (medvl/train.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from medvl.config import RunConfig
from medvl.errors import MedvlError
from medvl.pipeline import Stage, StageContext, _kwargs_for, _stage_outputs, register
from medvl.progress import ProgressFn
from medvl.stages.export import VARIANTS, output_path
from medvl.versioning import stage_version


#: the demo's training (configs/demo.yaml says the same): on 60 synthetic papers, 100 steps of 32 at lr 5e-3
#: make the tiny CNN learn (README "Whole runs"); one torch thread each (faster on a small shared machine)
DEMO_TRAIN = {"model": "medvl-tiny", "steps": 100, "batch_size": 32, "lr": 5e-3, "warmup": 10, "workers": 1,
              "threads": 1, "val_frequency": 0}


def _train_rows(data_dir: Path) -> int | None:
    """Rows of an export's train split (manifest.json), or None when it does not say."""
    try:
        manifest = json.loads((data_dir / "manifest.json").read_text(encoding="utf-8"))
        return int(manifest["splits"]["train"]["rows"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _epochs_for_steps(steps: int, rows: int, batch_size: int) -> tuple[int, int]:
    """(epochs, batch size) giving at least `steps` optimizer steps on `rows` training pairs; open_clip
    drops the last incomplete batch, so a split smaller than a batch trains with one batch of all of it."""
    batch = max(1, min(batch_size, rows))
    per_epoch = max(1, rows // batch)
    return -(-steps // per_epoch), batch


def _resolve_train(config: RunConfig, raw: dict[str, Any]) -> dict[str, Any]:
    from medvl.train import TrainConfig

    settings = dict(raw)
    if config.demo is not None:  # the demo trains the tiny CNN for 100 steps per variant on the CPU
        settings = {**DEMO_TRAIN, **settings}
        if "epochs" in raw and "steps" not in raw:
            settings.pop("steps")  # epochs given: they count, not the default steps
    steps = settings.get("steps")
    if steps is not None and (not isinstance(steps, int) or isinstance(steps, bool) or steps < 1):
        raise MedvlError(f"stage train: steps must be a positive whole number, not {steps!r}")
    if steps is not None and "epochs" in settings:
        raise MedvlError("stage train: give steps or epochs, not both")
    _kwargs_for(TrainConfig, settings, "train", skip=("data_dir", "out"), also=("variants", "steps"))
    for bad in ("data_dir", "out"):
        if bad in settings:
            raise MedvlError(f"stage train: {bad} is set by the pipeline (export/<variant>, train/<variant>)")
    return settings


def _run_train(ctx: StageContext, progress: ProgressFn) -> dict[str, Any]:
    from medvl.train import TrainConfig, train

    settings = dict(ctx.settings)
    exported = _stage_outputs(ctx, "export")
    variants = settings.pop("variants", None) or [v for v in VARIANTS if v in exported]
    if not variants:
        raise MedvlError("train: no exported data (run the export stage first)")
    steps = settings.pop("steps", None)
    outputs, samples, notes = {}, 0, []
    for v in variants:
        if v not in exported:
            raise MedvlError(f"train: variant {v} was not exported (export variants: {', '.join(exported)})")
        out = ctx.run.inside(f"train/{v}")
        data_dir = output_path(ctx, exported[v])
        kw = dict(settings)
        if steps is not None:  # the same number of optimizer steps for every variant, whatever its size
            rows = _train_rows(data_dir)
            if not rows:
                raise MedvlError(f"train: {ctx.run.rel(data_dir)} has no training pairs (manifest.json splits.train)")
            kw["epochs"], kw["batch_size"] = _epochs_for_steps(steps, rows, int(kw.get("batch_size", 32)))
        result = train(TrainConfig(data_dir=data_dir, out=out, **kw), progress=progress)
        outputs[v] = ctx.run.rel(out)
        samples += result.trained_samples
        notes.append(f"{v}: {result.epochs_done} epochs, {result.samples_per_second} samples/s")
        ctx.notify(f"train {v}: {result.epochs_done} epochs -> {ctx.run.rel(result.checkpoint)}")
    return {"records": samples, "outputs": outputs, "message": "; ".join(notes)}


register(Stage(
    "train", stage_version("train"), order=50, description="train CLIP models with open_clip_train on the exported pairs (train/<variant>)",
    needs=("export",), modules=("torch", "open_clip", "open_clip_train", "medvl.train"), extra="train",
    tools=("torch", "torchvision", "open_clip_torch"), run_all=_run_train, resolve=_resolve_train), replace=True)
