"""The split stage: captions -> labelled subcaptions (medvl/split/), by a registered splitter, one unit per paper."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import ConfigDict

from medvl.config import LLM_NON_OUTPUT, RunConfig, with_llm_server
from medvl.errors import MedvlError
from medvl.pipeline import FALLBACKS_ASKED_AGAIN, Shard, ShardContext, Stage, StageContext, register
from medvl.records import Reject
from medvl.runs import RunDir
from medvl.settings import StrictSettings, validate_model
from medvl.versioning import stage_version

SPLIT_LLM_KEYS = ("mode", "timeout_s", "max_reasks", "transport_retries", "concurrency", "params", "backoff_s",
                  "backoff_max_s")


class SplitSettings(StrictSettings):
    """The types of the split stage's settings (checked, not converted: the stage reads the dict as given)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    splitter: str = "rules"
    prompt: str | None = None
    cache: bool = True
    # keys that change no row: the answer cache's place, a prompts folder, the captions file's units
    cache_path: str | None = None
    prompts_dir: str | None = None
    retry_fallbacks: bool = True
    captions: str | None = None
    shard_size: int = 32
    # the LLM client's (medvl.llm.client.LLMSettings)
    mode: Literal["json_schema", "tools", "json"] = "json_schema"
    timeout_s: float = 60.0
    max_reasks: int = 2
    transport_retries: int = 4
    concurrency: int = 8
    params: dict[str, Any] = {}
    backoff_s: float = 0.5
    backoff_max_s: float = 8.0


SPLIT_KEYS = set(SplitSettings.model_fields)


def _resolve_split(config: RunConfig, raw: dict[str, Any]) -> dict[str, Any]:
    from medvl.registry import SPLITTERS

    settings = {"splitter": "rules", **raw}
    validate_model(SplitSettings, {k: str(v) if isinstance(v, Path) else v for k, v in settings.items()},
                   "stages.split", given=True)
    name = SPLITTERS.check(settings["splitter"], "stages.split.splitter")
    size = settings.get("shard_size", 32)
    if size < 1:
        raise MedvlError(f"stages.split.shard_size: must be a whole number of at least 1, not {size!r}")
    if SPLITTERS.get(name).needs_llm:
        if not config.llm.url:
            raise MedvlError(f"stage split: splitter {name} needs an LLM server: llm.urls in the config or --llm-url")
        if not config.llm.model:
            raise MedvlError(f"stage split: splitter {name} needs llm.model in the config or --llm-model")
        settings.setdefault("prompt", "split/fewshot@1")
        settings.setdefault("cache", True)
        with_llm_server(settings, config)
    return settings


def _reads(settings: dict[str, Any]) -> list[str]:
    return [] if settings.get("captions") else ["parse"]  # a captions file needs no parse


def _llm_settings(run: RunDir, settings: dict[str, Any]) -> Any:
    from medvl.llm.client import LLMSettings

    kw = {k: settings[k] for k in SPLIT_LLM_KEYS if k in settings}
    # the same answer cache whichever command runs the stage, so either one reuses the other's answers
    cache = (settings.get("cache_path") or run.file(".cache/llm-split.sqlite")) if settings.get("cache", True) else None
    return LLMSettings(url=settings["url"], model=settings["model"], cache_path=cache, **kw)


def make_splitter(run: RunDir, settings: dict[str, Any]) -> Any:
    """The split stage's splitter (medvl.registry.SPLITTERS) made from its resolved settings."""
    from medvl.registry import SPLITTERS
    from medvl.split.splitter import DEFAULT_PROMPT, SplitOptions

    name = settings.get("splitter", "rules")
    llm = _llm_settings(run, settings) if SPLITTERS.get(name).needs_llm else None
    prompts_dir = Path(settings["prompts_dir"]) if settings.get("prompts_dir") else None
    return SPLITTERS.get(name).create(SplitOptions(prompt=settings.get("prompt", DEFAULT_PROMPT), llm=llm,
                                                   prompts_dir=prompts_dir))


def split_units(ctx: StageContext) -> list[Any]:
    """The units: one per paper of the run directory (medvl.split.stage.iter_paper_units), or, with the
    setting `captions` (a JSONL file of id and caption), `shard_size` captions each plus one unit for the
    lines that cannot be used."""
    from medvl.split.stage import INPUT_KEY, SplitUnit, caption_shards, iter_paper_units, read_captions

    if not ctx.settings.get("captions"):
        return list(iter_paper_units(ctx.run))
    path = Path(ctx.settings["captions"])
    items, rejects = read_captions(path)
    units = caption_shards(items, int(ctx.settings.get("shard_size", 32)))
    if rejects:
        units.append(SplitUnit(key=INPUT_KEY, items=[], rejects=rejects, source=str(path)))
    return units


def _plan_split(ctx: StageContext) -> list[Shard]:
    """The units with fingerprints of the splitter's settings and the unit's input (medvl/split/stage.py)."""
    from medvl.split.stage import (RETRY_TAG, done_fingerprint, fingerprint_sha, planned_fingerprint,
                                   settings_fingerprint, unit_fingerprint)

    splitter = make_splitter(ctx.run, ctx.settings)
    try:
        fp = fingerprint_sha(settings_fingerprint(ctx.settings.get("splitter", "rules"), splitter))
        shards, asked = [], False
        for unit in split_units(ctx):
            payload: dict[str, Any] = {"from_part": True} if unit.from_part else {
                "items": unit.items, "rejects": [r.model_dump(mode="json") for r in unit.rejects]}
            # fallback rows of an earlier run are asked again (retry_fallbacks, default true): the unit's
            # fingerprint then differs from its done marker, so the engine redoes it
            base = unit_fingerprint(fp, unit)
            fingerprint = planned_fingerprint(ctx.run, unit.key, base,
                                              splitter.falls_back and ctx.settings.get("retry_fallbacks", True))
            have = done_fingerprint(ctx.run, unit.key)
            retried = have in (base, base + RETRY_TAG) and have != fingerprint  # same settings and input
            shards.append(Shard(unit.key, payload, fingerprint, unit.source,
                                why=FALLBACKS_ASKED_AGAIN if retried else ""))
            asked |= bool(unit.items) and have != fingerprint
        if asked:  # fail fast, before any shard: a dead server or a wrong model name is one clear message
            splitter.check()
    finally:
        splitter.close()
    return shards


def _run_split_shard(sctx: ShardContext) -> tuple[Any, ...]:
    from medvl.split.stage import SplitUnit, load_paper_unit

    if sctx.payload.get("from_part"):
        unit = load_paper_unit(sctx.run, sctx.key)
    else:
        unit = SplitUnit(sctx.key, [tuple(x) for x in sctx.payload["items"]],
                         [Reject.model_validate(r) for r in sctx.payload["rejects"]])
    if not unit.items:
        return [], unit.rejects
    splitter = make_splitter(sctx.run, sctx.settings)
    try:
        rows = splitter.split_many(unit.items)  # LLMUnavailable stops the stage; a rerun resumes
        # the splitter's counts (requests, cache hits) for `medvl split`'s summary
        return rows, unit.rejects, ({"llm": splitter.stats()} if splitter.needs_llm else {})
    finally:
        splitter.close()


def _split_preload(settings: dict[str, Any]) -> list[str]:
    from medvl.registry import SPLITTERS

    return list(SPLITTERS.get(settings.get("splitter", "rules")).preload)


register(Stage(
    "split", stage_version("split"), order=20, description="captions -> labelled subcaptions, rules or a served LLM (subcaptions.jsonl)",
    output="subcaptions.jsonl", needs=("parse",), reads=_reads, modules=("medvl.split.llm", "medvl.split.rules"),
    tools=("instructor", "openai"), plan=_plan_split, run_shard=_run_split_shard, resolve=_resolve_split,
    on_error="retry", timeout_s=1800, own_fingerprints=True,
    # left out of settings_fingerprint (medvl/split/stage.py) too: the answer cache changes no accepted answer
    non_output=(*LLM_NON_OUTPUT, "cache", "cache_path"), preload=_split_preload,
    ))
