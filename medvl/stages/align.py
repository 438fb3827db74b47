"""The align stage: subcaptions paired with panels (medvl/align.py), by a registered aligner, one unit per paper."""

from __future__ import annotations

from typing import Any

from medvl.config import RunConfig
from medvl.errors import MedvlError
from medvl.pipeline import Shard, ShardContext, Stage, StageContext, _kwargs_for, digest, register, upstream_shards
from medvl.runs import RunDir, read_jsonl
from medvl.versioning import stage_version

ALIGN_LLM_KEYS = ("url", "model", "mode", "timeout_s", "max_reasks", "transport_retries", "concurrency", "params",
                  "cache", "llm_unavailable")


def _resolve_align(config: RunConfig, raw: dict[str, Any]) -> dict[str, Any]:
    from medvl.align import AlignSettings

    llm_kw = {k: raw[k] for k in ALIGN_LLM_KEYS if k in raw}
    kw = _kwargs_for(AlignSettings, {k: v for k, v in raw.items() if k not in ALIGN_LLM_KEYS}, "align",
                     skip=("figures_file", "subcaptions_file", "out_file", "force"))
    from medvl.registry import ALIGNERS

    try:
        settings = AlignSettings(**kw).to_dict()
    except ValueError as exc:
        raise MedvlError(f"stage align: {exc}") from None
    uses_llm = ALIGNERS.get(settings["aligner"]).uses_llm
    if uses_llm != "none":
        if not config.llm.url or not config.llm.model:
            if uses_llm == "required":
                raise MedvlError(f"stage align: aligner {settings['aligner']} needs an LLM server: llm.urls and "
                                 "llm.model in the config or --llm-url / --llm-model")
            settings["aligner"] = "rules"  # auto without a server: the rules (the report says how to turn it on)
        else:
            settings.update(llm_kw, url=config.llm.url, model=config.llm.model)
            if config.llm.timeout_s and "timeout_s" not in settings:
                settings["timeout_s"] = config.llm.timeout_s
    return settings


def _align_parts(run: RunDir, settings: dict[str, Any]) -> tuple[Any, Any]:
    """(AlignSettings, Aligner) of the align stage's resolved settings (medvl.registry.ALIGNERS); the
    rules when the aligner's server was down at planning."""
    from medvl.align import AlignSettings
    from medvl.registry import ALIGNERS

    s = dict(settings)
    llm_kw = {k: s.pop(k) for k in ALIGN_LLM_KEYS if k in s}
    settings_obj = AlignSettings(**s)
    cls = ALIGNERS.get(settings_obj.aligner)
    if cls.uses_llm == "none":
        return settings_obj, cls(settings_obj)
    if "url" not in llm_kw or llm_kw.get("llm_unavailable"):
        return settings_obj, ALIGNERS.get("rules")(settings_obj)
    from medvl.llm.client import LLMSettings

    cache = run.file(".cache/llm-align.sqlite") if llm_kw.pop("cache", True) else None
    llm_kw.pop("llm_unavailable", None)
    return settings_obj, cls(settings_obj, LLMSettings(cache_path=cache, **llm_kw))


def _run_align_shard(sctx: ShardContext) -> tuple[list[Any], list[Any]]:
    from medvl.records import Figure, SplitRow
    from medvl.runs import tool_versions

    _, aligner = _align_parts(sctx.run, sctx.settings)
    splits = {r["id"]: SplitRow.model_validate(r) for r in sctx.upstream_records("split")}
    tools = tool_versions(["medvl", "pydantic", "pillow"])
    figs = sorted((Figure.model_validate(r) for r in sctx.upstream_records("parse")),
                  key=lambda f: (f.index, f.figure_id))
    try:
        done = aligner.align_paper(figs, splits, sctx.run, tools)
    finally:
        aligner.close()
    # a server that dies mid-run: this paper keeps its rule pairs (each says why in pair.llm); a server
    # down at the start is found by _plan_align, whose flag makes the next run redo the papers
    return done.pairs, done.rejects


def _plan_align(ctx: StageContext) -> list[Shard]:
    """One shard per paper, fingerprinted by its parse part and the *content* of its split rows
    (subcaptions, prompt, model): a split rerun that changes only latencies or cache flags (an LLM
    answering from its cache) redoes no paper here."""
    from medvl.align import splits_content_sha
    from medvl.registry import ALIGNERS

    if ALIGNERS.get(ctx.settings.get("aligner", "rules")).uses_llm != "none" and "url" in ctx.settings:
        _, aligner = _align_parts(ctx.run, ctx.settings)
        try:
            why = aligner.check()
        finally:
            aligner.close()
        if why:
            # rule pairs now; the flag is part of the fingerprint, so a run with the server up redoes them
            ctx.settings["llm_unavailable"] = True
            ctx.notify(f"align: {why}; the rule pairs are kept for every figure")
    shards = []
    for s in upstream_shards(ctx, "parse"):
        part = ctx.run.parts_dir("split") / f"{s.key}.jsonl"
        split_sha = splits_content_sha(read_jsonl(part)) if part.exists() else None
        shards.append(Shard(s.key, {"upstream": "parse"}, digest(s.fingerprint, split_sha), s.source))
    return shards


def _align_preload(settings: dict[str, Any]) -> list[str]:
    from medvl.registry import ALIGNERS

    return list(ALIGNERS.get(settings.get("aligner", "rules")).preload)


register(Stage(
    "align", stage_version("align"), order=30, description="pair subcaptions with panels (pairs.jsonl)", output="pairs.jsonl",
    needs=("parse", "split"), modules=("medvl.align",), tools=("pydantic", "pillow"),
    plan=_plan_align, run_shard=_run_align_shard,
    resolve=_resolve_align, on_error="reject", preload=_align_preload))
