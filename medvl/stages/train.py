"""The train stage: open_clip_train on each exported variant, or on a data folder of no run (medvl/train.py).

`medvl train DATA_DIR` runs this stage alone (medvl/cli/train.py): on the run whose export wrote DATA_DIR
(that variant), or, for a DATA_DIR of no run, with the setting `data_dir` over the --out folder as its
run directory; the same fingerprint, done marker and `medvl status` either way.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any, Literal

from medvl.config import RunConfig
from medvl.errors import MedvlError
from medvl.pipeline import Stage, StageContext, _stage_outputs, register
from medvl.progress import ProgressFn
from medvl.settings import StrictSettings, validate_model
from medvl.stages.export import VARIANTS, output_path, recorded_path
from medvl.versioning import stage_version

#: where each variant's model goes unless the setting `out` says otherwise (relative to RUN_DIR); the model
#: of a `data_dir` goes to train/model
DEFAULT_OUT = "train/{variant}"
DATA_DIR_KEY = "model"  # the output key of the model trained on `data_dir`
#: the stage's own keys beside TrainConfig's (data_dir and out there are set by the stage)
OWN_KEYS = ("variants", "steps", "data_dir", "out")


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


@cache
def train_settings_model() -> type[StrictSettings]:
    """The strict settings of the stage: TrainConfig's fields (types and defaults from medvl/train.py, so
    the two never differ) and the stage's own keys."""
    import dataclasses
    import typing

    from pydantic import Field, create_model

    from medvl.train import TrainConfig

    hints = typing.get_type_hints(TrainConfig)
    fields: dict[str, Any] = {
        f.name: (hints[f.name], Field(default_factory=f.default_factory) if f.default is dataclasses.MISSING else f.default)
        for f in dataclasses.fields(TrainConfig) if f.name not in OWN_KEYS}
    return create_model("TrainSettings", __base__=StrictSettings, variants=(list[Literal[VARIANTS]] | None, None),
                        steps=(int | None, None), data_dir=(str | None, None), out=(str | None, None), **fields)


def _library_defaults() -> dict[str, Any]:
    model = train_settings_model()
    return {k: f.get_default(call_default_factory=True) for k, f in model.model_fields.items() if k not in OWN_KEYS}


def _resolve_train(config: RunConfig, raw: dict[str, Any]) -> dict[str, Any]:
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
    validate_model(train_settings_model(), settings, "stages.train")
    from medvl.train import DATA_FORMATS, PRECISIONS, device_problem

    if (problem := device_problem(settings.get("device", "cpu"))) is not None:
        raise MedvlError(f"stages.train.device: {problem}")
    if settings.get("precision") is not None and settings["precision"] not in PRECISIONS:
        raise MedvlError(f"stages.train.precision: must be one of {', '.join(PRECISIONS)} (open_clip_train's), "
                         f"not {settings['precision']!r}")
    if settings.get("data_dir") is not None and settings.get("variants") is not None:
        raise MedvlError("stage train: give data_dir (a data folder of no run) or variants (of the run's "
                         "export), not both")
    for key in ("data_dir", "out"):
        if key in settings and (not isinstance(settings[key], str) or not settings[key].strip()):
            raise MedvlError(f"stage train: {key} must be a folder path (relative to RUN_DIR or absolute), "
                             f"not {settings[key]!r}")
    if settings.get("data_format", "csv") not in DATA_FORMATS:
        raise MedvlError(f"stage train: data_format must be one of {', '.join(DATA_FORMATS)}, "
                         f"not {settings['data_format']!r}")
    if settings.get("out") == (f"train/{DATA_DIR_KEY}" if settings.get("data_dir") else DEFAULT_OUT):
        del settings["out"]
    if config.demo is None:
        # the library's defaults stay out of the settings, so `medvl train --epochs 10 ...` (every option
        # given) and a run config that sets none of them have the same settings and fingerprint
        defaults = _library_defaults()
        settings = {k: v for k, v in settings.items() if k not in defaults or v != defaults[k]}
    return {k: v for k, v in settings.items() if v is not None or k not in OWN_KEYS}


def _jobs(ctx: StageContext) -> list[tuple[str, Path, str]]:
    """(output key, DATA_DIR, model folder relative to RUN_DIR or absolute) of each model to train."""
    s = ctx.settings
    if s.get("data_dir"):
        return [(DATA_DIR_KEY, (ctx.run.path / s["data_dir"]).resolve(), s.get("out", f"train/{DATA_DIR_KEY}"))]
    exported = _stage_outputs(ctx, "export")
    variants = s.get("variants") or [v for v in VARIANTS if v in exported]
    if not variants:
        raise MedvlError("train: no exported data (run the export stage first)")
    out = s.get("out", DEFAULT_OUT)
    if len(variants) > 1 and "{variant}" not in out:
        raise MedvlError(f"stage train: out {out!r} must contain {{variant}} when training {', '.join(variants)}")
    jobs = []
    for v in variants:
        if v not in exported:
            raise MedvlError(f"train: variant {v} was not exported (export variants: {', '.join(exported)})")
        jobs.append((v, output_path(ctx, exported[v]), out.replace("{variant}", v)))
    return jobs


def _config(ctx: StageContext, data_dir: Path, out: str) -> Any:
    from medvl.train import TrainConfig

    kw = {k: v for k, v in ctx.settings.items() if k not in OWN_KEYS}
    return TrainConfig(data_dir=data_dir, out=ctx.run.path / out, **kw)


def _external(ctx: StageContext) -> dict[str, Any] | None:
    """What the stage reads outside RUN_DIR: a data folder of no run (`data_dir`: its manifest, CSVs and
    shards, see medvl.train.data_identity) and a `pretrained` checkpoint (size and mtime)."""
    from medvl.train import checkpoint_stamp, train_data_identity

    ident: dict[str, Any] = {}
    if ctx.settings.get("data_dir"):
        ident["data_dir"] = train_data_identity(_config(ctx, (ctx.run.path / ctx.settings["data_dir"]).resolve(), "."))
    if ctx.settings.get("pretrained"):
        ident["pretrained"] = checkpoint_stamp(ctx.settings["pretrained"])
    return ident or None


def _reads(settings: dict[str, Any]) -> list[str]:
    return [] if settings.get("data_dir") else ["export"]  # a data folder of no run needs no export


def _run_train(ctx: StageContext, progress: ProgressFn) -> dict[str, Any]:
    from medvl.train import train

    steps = ctx.settings.get("steps")
    outputs, samples, notes = {}, 0, []
    for key, data_dir, out in _jobs(ctx):
        cfg = _config(ctx, data_dir, out)
        if steps is not None:  # the same number of optimizer steps for every variant, whatever its size
            rows = _train_rows(data_dir)
            if not rows:
                raise MedvlError(f"train: {data_dir} has no training pairs (manifest.json splits.train)")
            cfg.epochs, cfg.batch_size = _epochs_for_steps(steps, rows, cfg.batch_size)
        # --force trains from scratch; otherwise an interrupted training resumes (medvl.train.stale_checkpoints)
        result = train(cfg, progress=progress, resume=not ctx.forced)
        outputs[key] = recorded_path(ctx, cfg.out)
        samples += result.trained_samples
        notes.append(f"{key}: {result.epochs_done} epochs, {result.samples_per_second} samples/s")
        ctx.notify(f"train {key}: {result.epochs_done} epochs -> {result.checkpoint}")
    return {"records": samples, "outputs": outputs, "message": "; ".join(notes)}


register(Stage(
    "train", stage_version("train"), order=50,
    description="train CLIP models with open_clip_train on the exported pairs (train/<variant>) or a data_dir",
    needs=("export",), reads=_reads, external=_external, modules=("torch", "open_clip", "open_clip_train", "medvl.train"),
    extra="train", tools=("torch", "torchvision", "open_clip_torch"), run_all=_run_train, resolve=_resolve_train),
    replace=True)
