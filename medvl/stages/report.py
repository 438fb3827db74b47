"""The report stage: one self-contained report page (medvl/evaluate/report.py).

`medvl report RUN_DIR` runs this stage alone (medvl/cli/report.py): its fingerprint covers every earlier
stage's output and the files named by `include`, so an unchanged run is not reported again.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from medvl.pipeline import Stage, StageContext, file_stamp, register
from medvl.progress import ProgressFn
from medvl.settings import StrictSettings
from medvl.versioning import stage_version


class ReportSettings(StrictSettings):
    format: Literal["html", "md"] = "html"
    max_figures: int = Field(default=60, ge=-1)  # -1: all
    embed: bool = True  # images as data URIs (one self-contained file)
    out: str | None = None  # the report file: relative to RUN_DIR or absolute; default report.html / report.md
    # evaluation outputs kept outside RUN_DIR (metrics.json, compare.json, or folders holding them)
    include: list[str] = Field(default_factory=list)


def _target(ctx: StageContext, s: ReportSettings) -> Path:
    return (ctx.run.path / (s.out or ("report.html" if s.format == "html" else "report.md"))).resolve()


def _external(ctx: StageContext) -> list[Any]:
    """Stamps (size, mtime) of the JSON files under `include`, which the report reads."""
    stamps: list[Any] = []
    for inc in ReportSettings.model_validate(ctx.settings).include:
        p = Path(inc)
        files = [p] if p.is_file() else sorted(p.rglob("*.json")) if p.is_dir() else []
        stamps += [[str(f), file_stamp(f)] for f in files] or [[str(p), None]]
    return stamps


def _run_report(ctx: StageContext, progress: ProgressFn) -> dict[str, Any]:
    from medvl.evaluate.report import build_report

    s = ReportSettings.model_validate(ctx.settings)
    path = build_report(ctx.run.path, out=_target(ctx, s), fmt=s.format, max_figures=s.max_figures, embed=s.embed,
                        extra=list(s.include), progress=progress)
    rel = ctx.run.rel(path) if path.resolve().is_relative_to(ctx.run.path) else str(path.resolve())
    return {"records": 1, "outputs": {"report": rel}}


register(Stage(
    "report", stage_version("report"), order=80, description="one self-contained report page (report.html)",
    modules=("medvl.evaluate.report", "jinja2"), tools=("jinja2", "matplotlib"), run_all=_run_report,
    settings_model=ReportSettings, external=_external), replace=True)
