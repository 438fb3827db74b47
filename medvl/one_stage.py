"""One stage of the pipeline engine run alone: what `medvl export|train|eval|judge|report` do.

The stage runs exactly as inside `medvl run` (medvl/pipeline.py): the same settings check, fingerprint,
done marker, rejects and `medvl status`, so either command reuses what the other did and a changed
setting redoes the stage, saying why.  `medvl train DATA_DIR` and `medvl eval` find the run behind their
inputs here (export_run_of, trained_variant): a DATA_DIR that a run's export wrote trains and evaluates
in that run.
"""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path
from typing import Any

from medvl.config import ExecutorSettings, LLMSettings, RunConfig
from medvl.errors import MedvlError
from medvl.progress import ProgressFn, no_progress


def run_stage(run_dir: str | Path, stage: str, settings: dict[str, Any], *, force: bool = False,
              progress: ProgressFn = no_progress, notify: Any = None, llm: LLMSettings | None = None,
              source: str | None = None) -> Any:
    """Run `stage` alone over `run_dir` with `settings` (the stage's config section); returns its
    StageResult.  A stage that fails, is blocked or cannot run here raises MedvlError with the reason."""
    from medvl.pipeline import Pipeline

    config = RunConfig(executor=ExecutorSettings(kind="inline"), llm=llm or LLMSettings(), stages={stage: settings})
    config._source = source or f"medvl {stage}"

    def bars(description: str, total: int | None):
        progress(0, total=total, note="")
        return nullcontext(progress)

    result = Pipeline(config, run_dir, bars=bars, notify=notify, force=[stage] if force else (),
                      only=[stage]).run_all()
    res = result.stage(stage)
    if res is None or res.state != "done":
        state = f"{res.state}: {res.message}" if res else "did not run"
        raise MedvlError(f"{stage}: {state}")
    return res


def stage_outputs(run_dir: str | Path, stage: str) -> dict[str, Path]:
    """What a run's stage recorded as its outputs when it was last done, as absolute paths ({} if none)."""
    from medvl.pipeline import pipeline_manifest

    info = pipeline_manifest(run_dir).get("stages", {}).get(stage, {})
    if info.get("state") != "done":
        return {}
    root = Path(run_dir).resolve()
    return {k: (root / v).resolve() for k, v in (info.get("outputs") or {}).items() if isinstance(v, str)}


def export_run_of(data_dir: str | Path) -> tuple[Path, str] | None:
    """(RUN_DIR, variant) of the run whose export stage wrote DATA_DIR (its manifest's source_run, and that
    run's export recorded this folder), or None for data of no run (made by hand, copied, moved)."""
    import json

    try:
        source = json.loads((Path(data_dir) / "manifest.json").read_text(encoding="utf-8")).get("source_run")
    except (OSError, ValueError, AttributeError):
        return None
    if not isinstance(source, str) or not Path(source).is_dir():
        return None
    here = Path(data_dir).resolve()
    variant = next((v for v, p in stage_outputs(source, "export").items() if p == here), None)
    return (Path(source).resolve(), variant) if variant else None


def trained_variant(run_dir: str | Path, checkpoint: str | Path) -> str | None:
    """The variant whose model the run's train stage wrote at `checkpoint` (its folder, or that folder's
    latest checkpoint file), or None."""
    from medvl.train import latest_checkpoint

    p = Path(checkpoint).resolve()
    if p.is_file() and p.parent.name == "checkpoints" and latest_checkpoint(p.parent.parent) == p:
        p = p.parent.parent
    return next((v for v, out in stage_outputs(run_dir, "train").items() if out == p), None)


def run_relative(path: str | Path, run_dir: str | Path) -> str:
    """A path setting as the stages read it: relative to RUN_DIR when inside it (so that `medvl run`, whose
    defaults are relative, matches), else absolute."""
    target, root = Path(path).resolve(), Path(run_dir).resolve()
    return target.relative_to(root).as_posix() if target.is_relative_to(root) else str(target)
