"""The eval stage: retrieval and zero-shot metrics, raw vs aligned (medvl/evaluate/)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from medvl.config import RunConfig
from medvl.errors import MedvlError
from medvl.pipeline import Stage, StageContext, _stage_outputs, register
from medvl.progress import ProgressFn
from medvl.settings import StrictSettings, validate_model
from medvl.stages.export import output_path
from medvl.versioning import stage_version


class EvalSettings(StrictSettings):
    suite: str | None = None  # zero-shot suite (eval/suites/NAME.yaml); the demo: brain
    split: str = "test"
    device: str = "cpu"
    batch_size: int = Field(default=64, ge=1)
    threads: int | None = Field(default=None, ge=1)
    neighbours_k: int = Field(default=5, ge=0)  # top-k captions per test image kept for the retrieval judge


EVAL_KEYS = tuple(EvalSettings.model_fields)


def _resolve_eval(config: RunConfig, raw: dict[str, Any]) -> dict[str, Any]:
    validate_model(EvalSettings, raw, "stages.eval")
    if config.demo is not None:
        raw = {"threads": 1, **raw}
    return {"suite": "brain" if config.demo is not None else None, "split": "test", "device": "cpu",
            "batch_size": 64, "neighbours_k": 5, **raw}


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
    trained = _stage_outputs(ctx, "train")
    exported = _stage_outputs(ctx, "export")
    if "aligned" not in trained or "aligned" not in exported:
        raise MedvlError("eval: needs the aligned export and its trained model (stages export and train)")
    data_dir = output_path(ctx, exported["aligned"])
    kw = dict(suite=s["suite"], split=s["split"], device=s["device"], batch_size=s["batch_size"], progress=progress,
              threads=s.get("threads"),
              neighbours_k=int(s.get("neighbours_k", 5)))
    # eval/neighbours.jsonl: the top-k captions of every test image, per model (the retrieval judge reads it)
    nb = {"neighbours": "eval/neighbours.jsonl"} if kw["neighbours_k"] > 0 else {}
    if "raw" in trained:  # both models on the same aligned test set
        cmp = compare(ctx.run.inside(trained["raw"]), ctx.run.inside(trained["aligned"]), data_dir,
                      out=ctx.run.inside("eval"), **kw)
        for line in _compare_lines(cmp):
            ctx.notify(line)
        return {"records": 2, "outputs": {"metrics": "eval/aligned/metrics.json", "raw": "eval/raw/metrics.json",
                                          "compare": "eval/compare.json", **nb}}
    m = evaluate(ctx.run.inside(trained["aligned"]), data_dir, out=ctx.run.inside("eval/aligned"), label="aligned",
                 **kw)
    merge_neighbours([ctx.run.inside("eval/aligned/neighbours.jsonl")], ctx.run.inside("eval/neighbours.jsonl"))
    r = (m.get("retrieval") or {}).get("image_to_text", {})
    ctx.notify(f"eval: image → text R@1 {_pct(r.get('R@1'))}, R@5 {_pct(r.get('R@5'))}")
    return {"records": 1, "outputs": {"metrics": "eval/aligned/metrics.json", **nb}}


register(Stage(
    "eval", stage_version("eval"), order=60, description="retrieval and zero-shot metrics (raw vs aligned when both were trained)",
    needs=("export", "train"), modules=("torch", "open_clip", "medvl.evaluate"), extra="train",
    tools=("torch", "open_clip_torch", "numpy"), run_all=_run_eval, resolve=_resolve_eval), replace=True)
