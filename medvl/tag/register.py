"""The thin registration of the `tag` stage with the pipeline engine (everything else is in stage.py)."""

from __future__ import annotations

from dataclasses import replace
from functools import lru_cache
from typing import Any

from medvl.config import LLM_NON_OUTPUT
from medvl.pipeline import (FALLBACKS_ASKED_AGAIN, Shard, ShardContext, Stage, StageContext, digest, file_sha,
                            register, settings_digest, upstream_shards)
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


def _plan_checked(ctx: StageContext) -> list[Shard]:
    """The shards; with the llm / both tagger the server is checked first: a server that is down gives
    text tags now (each row says why), and the flag (a setting, so in the fingerprint) redoes them later."""
    if ctx.settings.get("tagger", "text") != "text" and not ctx.settings.get("llm_unavailable"):
        from medvl.llm.client import LLMUnavailable
        from medvl.tag.stage import llm_tagger

        tagger = llm_tagger(_settings(ctx.settings), ctx.run.path)
        try:
            tagger.llm.check_server()
        except LLMUnavailable as exc:
            ctx.settings["llm_unavailable"] = True
            ctx.notify(f"tag: {exc}; the text tags are kept for every row")
        finally:
            tagger.close()
    shards = _plan(ctx)
    if ctx.settings.get("tagger", "text") != "text" and not ctx.settings.get("llm_unavailable") \
            and ctx.settings.get("retry_fallbacks", True):
        shards = [_retrying(ctx, s) for s in shards]
    return shards


RETRY_TAG = "+retry"


def _retrying(ctx: StageContext, shard: Shard) -> Shard:
    """Fallbacks are not final (as in split): a done paper with rows that fell back (an invalid answer,
    a server that died mid-run) gets the *other* of fingerprint / fingerprint+retry, so the engine redoes
    it; accepted answers come from the cache, only the fallbacks are asked again.  The engine wraps the
    fingerprint with the stage version and settings, so the marker is compared in that form."""
    from medvl.pipeline import _marker, get_stage
    from medvl.runs import read_jsonl

    have = (_marker(ctx.run, STAGE, shard.key) or {}).get("fingerprint")
    base = settings_digest(get_stage(STAGE), ctx.settings)
    plain, retry = digest(base, shard.fingerprint), digest(base, shard.fingerprint + RETRY_TAG)
    if have not in (plain, retry):
        return shard
    part = ctx.run.parts_dir(STAGE) / f"{shard.key}.jsonl"
    fell_back = part.exists() and any(
        (r.get("fallback_reason") or "") and not r["fallback_reason"].startswith("not asked") for r in read_jsonl(part))
    if not fell_back:
        return shard if have == plain else replace(shard, fingerprint=shard.fingerprint + RETRY_TAG)
    return replace(shard, fingerprint=shard.fingerprint + (RETRY_TAG if have == plain else ""),
                   why=FALLBACKS_ASKED_AGAIN)


def _settings(raw: dict[str, Any]) -> TagSettings:
    return TagSettings(**{k: v for k, v in raw.items() if k != "version"})


def _run_shard(sctx: ShardContext) -> tuple[list[Any], list[Any]]:
    from medvl.tag.stage import llm_tagger, tag_paper

    settings = _settings(sctx.settings)
    tagger = llm_tagger(settings, sctx.run.path)
    tools = dict(_tools())
    if tagger is not None:
        tools.update(_llm_tools())
    try:
        return tag_paper(list(sctx.upstream_records("align")), list(sctx.upstream_records("parse")), settings,
                         sctx.run.path, tools, tagger)
    finally:
        if tagger is not None:
            tagger.close()


@lru_cache(maxsize=1)
def _llm_tools() -> dict[str, str]:
    from medvl.runs import tool_versions

    return tool_versions(["instructor", "openai"])


register(Stage(
    STAGE, code_version(*CODE), order=35, description="modality, MRI sequence, anatomy, findings for every pair (tags.jsonl)",
    output=OUTPUT, needs=("parse", "align"), modules=("medvl.tag.stage",), tools=("numpy", "pillow"),
    plan=_plan_checked, run_shard=_run_shard, resolve=lambda config, raw: resolve_settings(raw, config),
    settings_model=TagSettings, on_error="reject", non_output=(*LLM_NON_OUTPUT, "cache"),
    preload=lambda s: ["medvl.tag.stage", "medvl.tag.text"] + (
        ["medvl.tag.llm", "instructor", "openai", "openai.resources"] if s.get("tagger", "text") != "text" else [])),
    replace=True)
