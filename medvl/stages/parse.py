"""The parse stage: PDFs and JATS XML -> figures, captions and panels (medvl/parse.py), one unit per paper."""

from __future__ import annotations

import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

from medvl.config import RunConfig
from medvl.errors import MedvlError
from medvl.pipeline import (Shard, ShardContext, Stage, StageContext, _kwargs_for, _stage_outputs, digest, file_stamp,
                            register)
from medvl.records import Reject
from medvl.versioning import stage_version


def input_pdfs_dir(ctx: StageContext) -> Path | None:
    """Where the papers are: inputs.pdfs, else what collect or synth put in the run directory."""
    if ctx.config.inputs.pdfs:
        return Path(ctx.config.inputs.pdfs)
    collected = _stage_outputs(ctx, "collect").get("papers")
    if collected:
        return ctx.run.path / collected if not Path(collected).is_absolute() else Path(collected)
    for rel in ("papers", "corpus/papers"):
        if (ctx.run.path / rel).is_dir():
            return ctx.run.path / rel
    return None



def _resolve_parse(config: RunConfig, raw: dict[str, Any]) -> dict[str, Any]:
    from medvl.parse import ParseSettings

    settings = ParseSettings(**_kwargs_for(ParseSettings, raw, "parse"))
    settings.validate()
    return settings.to_dict()


def _plan_parse(ctx: StageContext) -> list[Shard]:
    from medvl.parse import discover

    inputs: list[str | Path] = list(ctx.config.inputs.paths)
    pdfs = input_pdfs_dir(ctx) if ctx.config.inputs.pdfs or not inputs else None
    if pdfs is not None:
        inputs.append(pdfs)
    if ctx.config.inputs.xml:
        inputs.append(ctx.config.inputs.xml)
    if not inputs:
        raise MedvlError("parse: no input; set inputs.pdfs in the config (or --pdfs DIR)")
    shards = []
    for u in discover(inputs):
        stamp: list[Any] = [u.sha256, u.reject]
        if u.xml and os.path.exists(u.xml):
            stamp.append(file_stamp(u.xml))
        shards.append(Shard(key=u.key, payload=asdict(u), fingerprint=digest(stamp), source=u.source))
    return shards


def _run_parse_shard(sctx: ShardContext) -> tuple[list[Any], list[Any]]:
    from medvl.parse import ParseSettings, parse_paper

    u = sctx.payload
    if u.get("reject"):
        return [], [Reject(stage="parse", source=u["source"], id=sctx.key, reason=u["reject"]["reason"],
                           detail=f"{u['source']}: {u['reject']['detail']}")]
    settings = ParseSettings.from_dict(sctx.settings)
    try:
        return parse_paper(u.get("pdf"), u.get("xml"), settings, run_dir=sctx.run, source=u["source"])
    finally:
        _empty_mupdf_store()


def _empty_mupdf_store() -> None:
    """MuPDF caches fonts and images across documents (up to 256 MB per process): a worker that
    parses paper after paper would grow by about 1 MB a paper.  Emptying it keeps workers flat."""
    try:
        import pymupdf

        pymupdf.TOOLS.store_shrink(100)
    except Exception:  # noqa: BLE001 - best effort
        pass


register(Stage(
    "parse", stage_version("parse"), order=10, description="PDFs and JATS XML -> figures, captions, panels (figures.jsonl)",
    output="figures.jsonl", modules=("medvl.parse", "pymupdf"),
    tools=("pymupdf", "layoutparser", "pytesseract", "rapid-layout", "pillow", "numpy"),
    plan=_plan_parse, run_shard=_run_parse_shard, resolve=_resolve_parse, on_error="reject",
    preload=("medvl.parse", "pymupdf", "numpy", "PIL.Image"),
    # parse_paper stops itself at timeout_s (SIGALRM); the executor kills what that cannot stop
    timeout_for=lambda s: (s.get("timeout_s") or 0) * 1.5 + 10 if s.get("timeout_s") else None,
    ))
