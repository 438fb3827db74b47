"""The align stage: subcaptions paired with panels (medvl/align.py), by a registered aligner, one unit per paper
(medvl.align.plan_papers) plus one for the run's own rejects; `medvl align RUN_DIR` runs it alone."""

from __future__ import annotations

from typing import Any

from medvl.config import LLM_NON_OUTPUT, RunConfig, with_llm_server
from medvl.errors import MedvlError
from medvl.pipeline import Shard, ShardContext, Stage, StageContext, _kwargs_for, digest, register
from medvl.records import Reject
from medvl.runs import RunDir
from medvl.versioning import stage_version

# the LLM client's settings: none of them changes a pair (the model and prompt do, through the aligner's
# fingerprint), so they stay out of the units' fingerprints
ALIGN_LLM_KEYS = ("url", "model", "mode", "timeout_s", "max_reasks", "transport_retries", "concurrency", "params",
                  "backoff_s", "backoff_max_s", "cache", "cache_path", "llm_dead")
RETRY_TAG = "+retry"  # a unit the server did not fully answer: redone once it answers (see _planned)
UNANSWERED_ASKED_AGAIN = "figures the server did not answer asked again"  # its redo reason in `medvl status`


def _resolve_align(config: RunConfig, raw: dict[str, Any]) -> dict[str, Any]:
    from medvl.align import AlignSettings
    from medvl.registry import ALIGNERS

    from medvl.llm.client import LLMSettings
    from medvl.settings import check_types

    llm_kw = {k: raw[k] for k in ALIGN_LLM_KEYS if k in raw and k not in ("url", "model", "llm_dead")}
    check_types(LLMSettings, llm_kw, "stages.align")  # the LLM client's settings: types as LLMSettings's
    kw = _kwargs_for(AlignSettings, {k: v for k, v in raw.items() if k not in ALIGN_LLM_KEYS}, "align",
                     skip=("force",))
    try:
        settings = AlignSettings(**kw).to_dict()
    except ValueError as exc:
        raise MedvlError(f"stage align: {exc}") from None
    settings.pop("force")
    uses_llm = ALIGNERS.get(settings["aligner"]).uses_llm
    if uses_llm != "none":
        if not config.llm.url or not config.llm.model:
            if uses_llm == "required":
                raise MedvlError(f"stage align: aligner {settings['aligner']} needs an LLM server: llm.urls and "
                                 "llm.model in the config or --llm-url / --llm-model")
            settings["aligner"] = "rules"  # auto without a server: the rules (the report says how to turn it on)
        else:
            settings.update(llm_kw)
            with_llm_server(settings, config)
    return settings


def _align_parts(run: RunDir, settings: dict[str, Any]) -> tuple[Any, Any]:
    """(AlignSettings, Aligner) of the align stage's resolved settings (medvl.registry.ALIGNERS); an LLM
    aligner whose server was down at planning is told so (it keeps the rule pairs and says why)."""
    from medvl.align import AlignSettings
    from medvl.registry import ALIGNERS

    s = dict(settings)
    llm_kw = {k: s.pop(k) for k in ALIGN_LLM_KEYS if k in s}
    settings_obj = AlignSettings(**s)
    cls = ALIGNERS.get(settings_obj.aligner)
    if cls.uses_llm == "none" or "url" not in llm_kw:
        return settings_obj, (cls if cls.uses_llm == "none" else ALIGNERS.get("rules"))(settings_obj)
    from medvl.llm.client import LLMSettings

    dead = llm_kw.pop("llm_dead", None)
    use_cache = llm_kw.pop("cache", True)
    cache = (llm_kw.pop("cache_path", None) or run.file(".cache/llm-align.sqlite")) if use_cache else None
    llm_kw.pop("cache_path", None)
    aligner = cls(settings_obj, LLMSettings(cache_path=cache, **llm_kw))
    if dead:
        aligner.mark_unavailable(dead)
    return settings_obj, aligner


def _run_align_shard(sctx: ShardContext) -> tuple[Any, ...]:
    from medvl.align import RUN_UNIT
    from medvl.records import Figure, SplitRow
    from medvl.runs import tool_versions

    if sctx.key == RUN_UNIT:
        return [], [Reject.model_validate(r) for r in sctx.payload["rejects"]]
    _, aligner = _align_parts(sctx.run, sctx.settings)
    rows = sctx.payload.get("figures")
    rows = rows if rows is not None else list(sctx.upstream_records("parse"))
    split_rows = sctx.payload.get("splits")
    split_rows = list(split_rows.values()) if split_rows is not None else list(sctx.upstream_records("split"))
    splits: dict[str, SplitRow] = {}
    for r in split_rows:
        splits.setdefault(str(r["id"]), SplitRow.model_validate(r))  # the first row of an id wins
    tools = tool_versions(["medvl", "pydantic", "pillow"])
    figs = sorted((Figure.model_validate(r) for r in rows), key=lambda f: (f.index, f.figure_id))
    try:
        done = aligner.align_paper(figs, splits, sctx.run, tools)
    finally:
        aligner.close()
    # kept in the done marker: the summary's counts, and whether the server left figures unanswered (a
    # server that died mid-run or was down at planning: the next run with it up redoes the paper)
    extra: dict[str, Any] = {"figures": len(figs)}
    if done.asked:
        extra["asked"] = done.asked
    if done.fallbacks:
        extra["fallbacks"] = dict(done.fallbacks)
    if done.incomplete:
        extra["llm_incomplete"] = True
    if aligner.dead:
        extra["llm_dead"] = aligner.dead
    return done.pairs, done.rejects, extra


def _planned(ctx: StageContext, key: str, base: str) -> tuple[str, str]:
    """(the fingerprint a unit must carry to be reused, why it is redone on purpose): `base`, or for a done
    unit of the same settings and input whose figures the server did not answer, the other of base /
    base+retry (so it is redone, and `medvl status` says why)."""
    from medvl.pipeline import _marker

    marker = _marker(ctx.run, "align", key) or {}
    have = marker.get("fingerprint")
    if have not in (base, base + RETRY_TAG):
        return base, ""
    if marker.get("llm_incomplete") and not ctx.settings.get("llm_dead"):
        return (base + RETRY_TAG if have == base else base), UNANSWERED_ASKED_AGAIN
    return have, ""


def _plan_align(ctx: StageContext) -> list[Shard]:
    """One shard per paper (medvl.align.plan_papers), fingerprinted by the stage version, the settings that
    change the pairs (AlignSettings.sha, the aligner's model and prompt) and the *content* of the paper's
    figures and split rows: a split rerun that changes only latencies or cache flags redoes no paper."""
    from medvl.align import RUN_UNIT, STAGE_VERSION, plan_papers
    from medvl.registry import ALIGNERS

    settings_obj, aligner = _align_parts(ctx.run, ctx.settings)
    try:
        if ALIGNERS.get(settings_obj.aligner).uses_llm != "none" and "url" in ctx.settings:
            why = aligner.check()
            if why:  # rule pairs now, marked unsettled: a run with the server up redoes those papers
                ctx.settings["llm_dead"] = why
                ctx.notify(f"align: {why}; the rule pairs are kept for every figure")
        base = digest("align", STAGE_VERSION, settings_obj.sha(), aligner.fingerprint())
    finally:
        aligner.close()
    shards = []
    for unit in plan_papers(ctx.run, settings_obj):
        payload: dict[str, Any] = {"rejects": [r.model_dump(mode="json") for r in unit.rejects]} \
            if unit.key == RUN_UNIT else {"figures": unit.figures, "splits": unit.splits}
        # the run's own rejects (bad rows, orphan split rows) do not depend on the settings
        fp = digest("align", STAGE_VERSION, unit.input_sha) if unit.key == RUN_UNIT else digest(base, unit.input_sha)
        fingerprint, why = _planned(ctx, unit.key, fp)
        shards.append(Shard(unit.key, payload, fingerprint, unit.source, why=why))
    return shards


def _finalize_align(ctx: StageContext) -> dict[str, Any]:
    """Another pairs file named by `out_file` (medvl align --out-file): the same rows as pairs.jsonl."""
    out = ctx.settings.get("out_file") or "pairs.jsonl"
    if out != "pairs.jsonl":
        ctx.run.merge("align", out)
        return {out: out}
    return {}


def _reads(settings: dict[str, Any]) -> list[str]:
    return ["parse"] if settings.get("figures_file", "figures.jsonl") == "figures.jsonl" else []


def _align_preload(settings: dict[str, Any]) -> list[str]:
    from medvl.registry import ALIGNERS

    return list(ALIGNERS.get(settings.get("aligner", "rules")).preload)


register(Stage(
    "align", stage_version("align"), order=30, description="pair subcaptions with panels (pairs.jsonl)", output="pairs.jsonl",
    # without split rows every figure is paired whole (with a reject saying so)
    needs=("parse", "split"), reads=_reads, optional=("split",), modules=("medvl.align",),
    tools=("pydantic", "pillow"), plan=_plan_align, run_shard=_run_align_shard, finalize=_finalize_align,
    resolve=_resolve_align, on_error="reject", preload=_align_preload, own_fingerprints=True,
    # left out of the units' fingerprints too (_plan_align: AlignSettings.sha and the aligner's fingerprint)
    non_output=(*LLM_NON_OUTPUT, "cache", "cache_path")))
