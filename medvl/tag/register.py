"""The thin registration of the `tag` stage with the pipeline engine (everything else is in stage.py)."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from medvl.pipeline import Shard, ShardContext, Stage, StageContext, digest, file_sha, register, upstream_shards
from medvl.tag.stage import CODE, OUTPUT, STAGE, TagSettings, resolve_settings
from medvl.versioning import code_version


def _plan(ctx: StageContext) -> list[Shard]:
    """One shard per aligned paper, fingerprinted by its align part and its parse part (captions)."""
    return [Shard(s.key, {}, digest(s.fingerprint, file_sha(ctx.run.parts_dir("parse") / f"{s.key}.jsonl")),
                  s.source) for s in upstream_shards(ctx, "align")]


@lru_cache(maxsize=1)
def _tools() -> dict[str, str]:  # package metadata lookups cost ~20 ms each: once per worker
    from medvl.runs import tool_versions

    return tool_versions(["medvl", "numpy", "pillow"])


def _run_shard(sctx: ShardContext) -> tuple[list[Any], list[Any]]:
    from medvl.tag.stage import tag_paper

    settings = TagSettings(**{k: v for k, v in sctx.settings.items() if k != "version"})
    return tag_paper(list(sctx.upstream_records("align")), list(sctx.upstream_records("parse")), settings,
                     sctx.run.path, dict(_tools()))


register(Stage(
    STAGE, code_version(*CODE), order=35, description="modality, MRI sequence, anatomy, findings for every pair (tags.jsonl)",
    output=OUTPUT, needs=("parse", "align"), modules=("medvl.tag.stage",), tools=("numpy", "pillow"),
    plan=_plan, run_shard=_run_shard, resolve=lambda config, raw: resolve_settings(raw),
    settings_model=TagSettings, on_error="reject",
    preload=("medvl.tag.stage", "medvl.tag.text")), replace=True)
