"""The export stage: pairs -> open_clip CSV + WebDataset shards per variant (medvl/export.py).

`medvl export RUN_DIR` runs this stage alone (medvl/cli/export.py), so its fingerprint, done marker and
status are those of `medvl run`'s export, whichever command made them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from medvl.config import RunConfig
from medvl.errors import MedvlError
from medvl.pipeline import Stage, StageContext, _kwargs_for, file_sha, register
from medvl.progress import ProgressFn
from medvl.versioning import stage_version


VARIANTS = ("aligned", "raw")
DEMO_SPLIT = (0.6, 0.0, 0.4)  # train, val, test by paper: a test split large enough to compare models
#: where each variant's DATA_DIR goes unless the setting `out` says otherwise (relative to RUN_DIR)
DEFAULT_OUT = "export/{variant}"


def _resolve_export(config: RunConfig, raw: dict[str, Any]) -> dict[str, Any]:
    from medvl.export import ExportSettings, parse_split

    settings = dict(raw)
    variants = settings.pop("variants", list(VARIANTS) if config.demo is not None else ["aligned"])
    if isinstance(variants, str):
        variants = [v.strip() for v in variants.split(",") if v.strip()]
    if not variants or any(v not in VARIANTS for v in variants):
        raise MedvlError(f"stage export: variants must be a list of aligned and/or raw, not {variants!r}")
    variants = list(dict.fromkeys(variants))
    out = settings.pop("out", DEFAULT_OUT)
    if not isinstance(out, str) or not out.strip():
        raise MedvlError(f"stage export: out must be a folder path (relative to RUN_DIR or absolute), not {out!r}")
    if len(variants) > 1 and "{variant}" not in out:
        raise MedvlError(f"stage export: out {out!r} must contain {{variant}} when exporting {', '.join(variants)}")
    if config.demo is not None:
        settings.setdefault("split", list(DEMO_SPLIT))
    try:
        if isinstance(settings.get("split"), str):  # "0.8,0.1,0.1" (--split): three numbers before the type check
            settings["split"] = parse_split(settings["split"])
    except ValueError as exc:
        raise MedvlError(f"stage export: {exc}") from None
    kw = _kwargs_for(ExportSettings, settings, "export", skip=("pairs",), loose=("keep",))  # keep: parse_keep's
    try:
        es = ExportSettings(**kw).to_dict()
    except ValueError as exc:
        raise MedvlError(f"stage export: {exc}") from None
    es.pop("pairs")
    resolved = {"variants": variants, **es}
    if out != DEFAULT_OUT:  # the default stays out of the settings: runs made before the setting existed match
        resolved["out"] = out
    return resolved


def _reads(settings: dict[str, Any]) -> list[str]:
    """raw pairs are whole figures (no align needed); the keep filter reads the tags."""
    return ["parse", *(["align"] if "aligned" in settings.get("variants", VARIANTS) else []),
            *(["tag"] if settings.get("keep") else [])]


def _external(ctx: StageContext) -> str | None:
    """The ground truth file named by the settings (it labels synthetic pairs) is read outside RUN_DIR."""
    gt = ctx.settings.get("ground_truth")
    return file_sha(gt) if gt else None


def output_path(ctx: StageContext, rel: str) -> Path:
    """A path a stage recorded as output: relative to RUN_DIR, or absolute (export's `out` outside it)."""
    return Path(rel) if Path(rel).is_absolute() else ctx.run.inside(rel)


def recorded_path(ctx: StageContext, path: Path) -> str:
    """How a stage records an output path: relative to RUN_DIR when inside it, else absolute."""
    path = path.resolve()
    return ctx.run.rel(path) if path.is_relative_to(ctx.run.path) else str(path)


def _run_export(ctx: StageContext, progress: ProgressFn) -> dict[str, Any]:
    from medvl.export import ExportSettings, export_run

    settings = dict(ctx.settings)
    variants = settings.pop("variants")
    out = settings.pop("out", DEFAULT_OUT)
    outputs, rows, rejects = {}, 0, 0
    for v in variants:
        target = (ctx.run.path / out.replace("{variant}", v)).resolve()
        summary = export_run(ctx.run.path, target, ExportSettings(pairs=v, **settings), progress=progress)
        outputs[v] = recorded_path(ctx, target)
        rows += sum(summary.rows.values())
        rejects += summary.rejects
        ctx.notify(f"export {v}: " + ", ".join(f"{k} {n}" for k, n in summary.rows.items()))
    return {"records": rows, "rejects": rejects, "outputs": outputs}


register(Stage(
    "export", stage_version("export"), order=40, description="pairs -> open_clip CSV + WebDataset shards, split by paper (export/<variant>)",
    needs=("parse", "align"), reads=_reads, external=_external, modules=("medvl.export",), tools=("pillow",), run_all=_run_export,
    resolve=_resolve_export), replace=True)
