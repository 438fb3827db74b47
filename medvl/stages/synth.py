"""The synth stage: a synthetic corpus with known answers (medvl/synth/) in RUN_DIR/corpus."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from medvl.pipeline import Stage, StageContext, register
from medvl.progress import ProgressFn
from medvl.settings import StrictSettings
from medvl.versioning import stage_version


def _run_synth(ctx: StageContext, progress: ProgressFn) -> dict[str, Any]:
    from medvl.config import DemoSettings
    from medvl.synth import generate_corpus

    demo = ctx.config.demo or DemoSettings()
    papers = int(ctx.settings.get("papers", demo.papers))
    seed = int(ctx.settings.get("seed", demo.seed))
    kwargs: dict[str, Any] = {"dpi": int(ctx.settings["dpi"])} if "dpi" in ctx.settings else {}
    if ctx.settings.get("background"):
        kwargs["background"] = ctx.settings["background"]
    generate_corpus(ctx.run.path / "corpus", papers=papers, seed=seed, progress=progress, **kwargs)
    return {"records": papers, "outputs": {"papers": "corpus/papers", "ground_truth": "corpus/ground_truth.json"}}


class SynthSettings(StrictSettings):
    papers: int | None = Field(default=None, ge=1)  # default: the config's demo.papers (60)
    seed: int | None = None  # default: demo.seed (0)
    dpi: int | None = Field(default=None, ge=18, le=1200)  # default: the corpus generator's
    # the scans' parenchyma: drawn (default), or real MNI152 T1 slices (pip install 'medvl[real]')
    background: Literal["drawn", "mni"] | None = None


register(Stage(
    "synth", stage_version("synth"), order=5, description="generate a synthetic corpus with known answers (RUN_DIR/corpus)",
    modules=("medvl.synth",), tools=("pymupdf", "numpy", "pillow"), run_all=_run_synth,
    settings_model=SynthSettings))
