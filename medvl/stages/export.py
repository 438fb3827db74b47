"""The export stage: pairs -> open_clip CSV + WebDataset shards per variant (medvl/export.py)."""

from __future__ import annotations

from typing import Any

from medvl.config import RunConfig
from medvl.errors import MedvlError
from medvl.pipeline import Stage, StageContext, _kwargs_for, register
from medvl.progress import ProgressFn
from medvl.versioning import stage_version


VARIANTS = ("aligned", "raw")
DEMO_SPLIT = (0.6, 0.0, 0.4)  # train, val, test by paper: a test split large enough to compare models


def _resolve_export(config: RunConfig, raw: dict[str, Any]) -> dict[str, Any]:
    from medvl.export import ExportSettings, parse_split

    settings = dict(raw)
    variants = settings.pop("variants", list(VARIANTS) if config.demo is not None else ["aligned"])
    if isinstance(variants, str):
        variants = [v.strip() for v in variants.split(",") if v.strip()]
    if not variants or any(v not in VARIANTS for v in variants):
        raise MedvlError(f"stage export: variants must be a list of aligned and/or raw, not {variants!r}")
    if config.demo is not None:
        settings.setdefault("split", list(DEMO_SPLIT))
    if isinstance(settings.get("split"), str):
        settings["split"] = parse_split(settings["split"])
    kw = _kwargs_for(ExportSettings, settings, "export", skip=("pairs",))
    try:
        es = ExportSettings(**kw).to_dict()
    except ValueError as exc:
        raise MedvlError(f"stage export: {exc}") from None
    es.pop("pairs")
    return {"variants": list(dict.fromkeys(variants)), **es}


def _run_export(ctx: StageContext, progress: ProgressFn) -> dict[str, Any]:
    from medvl.export import ExportSettings, export_run

    settings = dict(ctx.settings)
    variants = settings.pop("variants")
    outputs, rows, rejects = {}, 0, 0
    for v in variants:
        summary = export_run(ctx.run.path, ctx.run.inside(f"export/{v}"), ExportSettings(pairs=v, **settings),
                             progress=progress)
        outputs[v] = f"export/{v}"
        rows += sum(summary.rows.values())
        rejects += summary.rejects
        ctx.notify(f"export {v}: " + ", ".join(f"{k} {n}" for k, n in summary.rows.items()))
    return {"records": rows, "rejects": rejects, "outputs": outputs}


register(Stage(
    "export", stage_version("export"), order=40, description="pairs -> open_clip CSV + WebDataset shards, split by paper (export/<variant>)",
    needs=("parse", "align"), modules=("medvl.export",), tools=("pillow",), run_all=_run_export,
    resolve=_resolve_export), replace=True)
