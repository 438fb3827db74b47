"""The report stage: one self-contained report page (medvl/evaluate/report.py)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from medvl.pipeline import Stage, StageContext, register
from medvl.progress import ProgressFn
from medvl.settings import StrictSettings
from medvl.versioning import stage_version


def _run_report(ctx: StageContext, progress: ProgressFn) -> dict[str, Any]:
    from medvl.evaluate.report import build_report

    s = ReportSettings.model_validate(ctx.settings)
    path = build_report(ctx.run.path, fmt=s.format, max_figures=s.max_figures, embed=s.embed, progress=progress)
    return {"records": 1, "outputs": {"report": ctx.run.rel(path)}}


class ReportSettings(StrictSettings):
    format: Literal["html", "md"] = "html"
    max_figures: int = Field(default=60, ge=0)
    embed: bool = True  # images as data URIs (one self-contained file)


register(Stage(
    "report", stage_version("report"), order=80, description="one self-contained report page (report.html)",
    modules=("medvl.evaluate.report", "jinja2"), tools=("jinja2", "matplotlib"), run_all=_run_report,
    settings_model=ReportSettings), replace=True)
