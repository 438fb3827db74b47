"""One stage of the pipeline engine run alone: what `medvl export|train|eval|judge|report RUN_DIR` do.

The stage runs exactly as inside `medvl run` (medvl/pipeline.py): the same settings check, fingerprint,
done marker, rejects and `medvl status`, so either command reuses what the other did and a changed
setting redoes the stage, saying why.
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
