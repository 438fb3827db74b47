"""The eval stage: retrieval and zero-shot metrics, raw vs aligned (medvl/evaluate/).

`medvl eval run CKPT DATA_DIR` and `medvl eval compare --raw A --aligned B DATA_DIR` run this stage alone
(medvl/cli/evaluate.py): on the run whose train and export stages made the models and DATA_DIR, or, for
checkpoints and data of no run, with the settings `checkpoints` and `data_dir` over the --out folder as
its run directory; the same fingerprint, done marker and `medvl status` either way.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from medvl.config import RunConfig
from medvl.errors import MedvlError
from medvl.pipeline import Stage, StageContext, _stage_outputs, register
from medvl.progress import ProgressFn
from medvl.settings import StrictSettings, validate_model
from medvl.stages.export import VARIANTS, output_path, recorded_path
from medvl.versioning import stage_version


class EvalSettings(StrictSettings):
    suite: str | None = None  # zero-shot suite (eval/suites/NAME.yaml); the demo: brain
    split: str = "test"
    device: str = "cpu"
    batch_size: int = Field(default=64, ge=1)
    threads: int | None = Field(default=None, ge=1)
    neighbours_k: int = Field(default=5, ge=0)  # top-k captions per test image kept for the retrieval judge
    # which of the run's trained models to evaluate (default: all; raw and aligned are compared)
    models: list[Literal[VARIANTS]] | None = None
    # or checkpoints (files or train folders) of no run, by label: one, or raw and aligned to compare
    checkpoints: dict[str, str] | None = None
    data_dir: str | None = None  # the test data, when not the run's aligned export
    model: str | None = None  # the architecture, for a checkpoint without medvl_train.json
    label: str | None = None  # one model's name in neighbours.jsonl (default: its variant)
    # where the results go (relative to RUN_DIR or absolute): one model's metrics.json, or compare.json with
    # raw/ and aligned/; default eval/<label> (one model) or eval (two)
    out: str | None = None


EVAL_KEYS = tuple(EvalSettings.model_fields)
#: the settings filled in when not given (the others are left out when unset)
_BASE = ("suite", "split", "device", "batch_size", "neighbours_k")


def _resolve_eval(config: RunConfig, raw: dict[str, Any]) -> dict[str, Any]:
    s = validate_model(EvalSettings, raw, "stages.eval")
    if s.models is not None and s.checkpoints is not None:
        raise MedvlError("stages.eval: give models (the run's trained variants) or checkpoints, not both")
    n = len(s.checkpoints) if s.checkpoints is not None else len(s.models) if s.models is not None else None
    if n == 0 or (s.checkpoints is not None and n > 1 and set(s.checkpoints) != set(VARIANTS)):
        raise MedvlError("stages.eval: checkpoints are one {label: path}, or raw and aligned to compare; "
                         f"not {sorted(s.checkpoints or [])}")
    if s.label is not None and (s.checkpoints is not None or n != 1):
        raise MedvlError("stages.eval: label names the one model of `models` (checkpoints are named by their keys)")
    if config.demo is not None:
        raw = {"threads": 1, **raw}
    base = {"suite": "brain" if config.demo is not None else None, "split": "test", "device": "cpu",
            "batch_size": 64, "neighbours_k": 5}
    return {**base, **{k: v for k, v in raw.items() if v is not None or k in _BASE}}


def _models(ctx: StageContext) -> dict[str, Path]:
    """label -> checkpoint (file or train folder) of each model to evaluate."""
    s = ctx.settings
    if s.get("checkpoints"):
        return {label: (ctx.run.path / p).resolve() for label, p in s["checkpoints"].items()}  # relative: to RUN_DIR
    trained = _stage_outputs(ctx, "train")
    names = s.get("models") or [v for v in VARIANTS if v in trained]
    missing = [v for v in names if v not in trained]
    if not names or missing:
        raise MedvlError(f"eval: needs the trained model{'s' if len(missing) > 1 else ''} "
                         f"{', '.join(missing or ['aligned'])} (stages export and train)")
    if len(names) == 1 and s.get("label"):
        return {s["label"]: output_path(ctx, trained[names[0]])}
    return {v: output_path(ctx, trained[v]) for v in names}


def _data_dir(ctx: StageContext) -> Path:
    if ctx.settings.get("data_dir"):
        return (ctx.run.path / ctx.settings["data_dir"]).resolve()
    exported = _stage_outputs(ctx, "export")
    if "aligned" not in exported:
        raise MedvlError("eval: needs the aligned export (its test split is the test set; stage export)")
    return output_path(ctx, exported["aligned"])


def _external(ctx: StageContext) -> dict[str, Any] | None:
    """What the stage reads outside RUN_DIR: checkpoints of no run (size and mtime of the file each means)
    and a data folder of no run (its manifest, the split's CSV and metadata)."""
    from medvl.evaluate import METADATA_CANDIDATES
    from medvl.train import checkpoint_stamp, data_identity

    s, ident = ctx.settings, {}
    if s.get("checkpoints"):
        ident["checkpoints"] = {label: checkpoint_stamp(p) for label, p in sorted(_models(ctx).items())}
    if s.get("data_dir"):
        names = ["manifest.json", f"{s['split']}.csv", *(m.format(split=s["split"]) for m in METADATA_CANDIDATES)]
        ident["data_dir"] = data_identity(_data_dir(ctx), names)
    return ident or None


def _reads(settings: dict[str, Any]) -> list[str]:
    """The run's export and train stages, unless data_dir and checkpoints name folders of no run."""
    return [*([] if settings.get("data_dir") else ["export"]), *([] if settings.get("checkpoints") else ["train"])]


def _pct(v: Any) -> str:
    return f"{100 * v:.1f} %" if isinstance(v, (int, float)) else "n/a"


#: the comparison rows printed on the console (all of them are in eval/compare.md)
EVAL_CONSOLE_METRICS = ("image → text R@5", "text → image R@5", "zero-shot accuracy")


def _compare_lines(cmp: dict[str, Any]) -> list[str]:
    """'eval image → text R@5: raw 6.1 %, aligned 18.5 % (+12.4)' for the headline rows of a comparison."""
    rows = [r for r in cmp.get("rows", []) if r.get("metric") in EVAL_CONSOLE_METRICS] or cmp.get("rows", [])[:2]
    lines = []
    for row in rows:
        pct = row.get("percent", True)
        fmt = _pct if pct else (lambda v: f"{v:.1f}" if isinstance(v, (int, float)) else "n/a")
        vals = ", ".join(f"{k} {fmt(v)}" for k, v in row.get("values", {}).items())
        d = row.get("delta_aligned_minus_raw")
        delta = "" if not isinstance(d, (int, float)) else f" ({100 * d:+.1f})" if pct else f" ({d:+.1f})"
        lines.append(f"eval {row.get('metric')}: {vals}{delta}")
    return lines


def _run_eval(ctx: StageContext, progress: ProgressFn) -> dict[str, Any]:
    from medvl.evaluate import evaluate
    from medvl.evaluate.compare import compare, merge_neighbours

    s = ctx.settings
    models, data_dir = _models(ctx), _data_dir(ctx)
    kw = dict(suite=s["suite"], split=s["split"], device=s["device"], batch_size=s["batch_size"], progress=progress,
              threads=s.get("threads"), neighbours_k=int(s.get("neighbours_k", 5)), model=s.get("model"))
    if len(models) == 2:  # both models on the same (aligned) test set
        out = (ctx.run.path / s.get("out", "eval")).resolve()
        cmp = compare(models["raw"], models["aligned"], data_dir, out=out, **kw)
        for line in _compare_lines(cmp):
            ctx.notify(line)
        outputs = {"metrics": out / "aligned" / "metrics.json", "raw": out / "raw" / "metrics.json",
                   "compare": out / "compare.json", "neighbours": out / "neighbours.jsonl"}
    else:
        (label, checkpoint), = models.items()
        out = (ctx.run.path / s.get("out", f"eval/{label}")).resolve()
        m = evaluate(checkpoint, data_dir, out=out, label=label, **kw)
        # eval/neighbours.jsonl: the top-k captions of every test image, per model (the retrieval judge reads it)
        neighbours = out / "neighbours.jsonl"
        if "out" not in s and kw["neighbours_k"] > 0:
            neighbours = ctx.run.inside("eval/neighbours.jsonl")
            merge_neighbours([out / "neighbours.jsonl"], neighbours)
        outputs = {"metrics": out / "metrics.json", "neighbours": neighbours}
        r = (m.get("retrieval") or {}).get("image_to_text", {})
        ctx.notify(f"eval: image → text R@1 {_pct(r.get('R@1'))}, R@5 {_pct(r.get('R@5'))}")
    if kw["neighbours_k"] <= 0:
        del outputs["neighbours"]
    return {"records": len(models), "outputs": {k: recorded_path(ctx, p) for k, p in outputs.items()}}


register(Stage(
    "eval", stage_version("eval"), order=60,
    description="retrieval and zero-shot metrics (raw vs aligned when both were trained)",
    needs=("export", "train"), reads=_reads, external=_external, modules=("torch", "open_clip", "medvl.evaluate"),
    extra="train", tools=("torch", "open_clip_torch", "numpy"), run_all=_run_eval, resolve=_resolve_eval),
    replace=True)
