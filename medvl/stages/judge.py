"""The judge stage: LLM judgments of splits, pairs and retrieval top-k (medvl/evaluate/judge.py).

A sharded stage: one unit per sampled item and `what` (keyed by item, prompt ref and sha, model and mode),
asked `batch` at a time of the registered judge (medvl.registry.JUDGES: a function judging a batch);
finalize writes judge_summary.json and run.json's judge:<what>.  Units of other prompts or models are kept
(keep_unplanned), so judgments.jsonl holds them side by side as before."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from medvl.config import LLM_NON_OUTPUT, RunConfig, with_llm_server
from medvl.errors import MedvlError
from medvl.pipeline import (WHOLE_KEY, Shard, ShardContext, Stage, StageContext, _kwargs_for, _marker,
                            _remove_unit, _stage_outputs, digest, register)
from medvl.versioning import stage_version


JUDGE_LLM_KEYS = ("mode", "timeout_s", "max_reasks", "transport_retries", "concurrency")


def _resolve_judge(config: RunConfig, raw: dict[str, Any]) -> dict[str, Any]:
    import dataclasses

    from medvl.evaluate.judge import WHATS, JudgeSettings

    # every JudgeSettings default filled in: `medvl judge` (which gives every option) and a config that
    # sets none have the same settings, and so the same fingerprint
    defaults = {f.name: f.default for f in dataclasses.fields(JudgeSettings) if f.name != "what"}
    settings = {"what": ["splits", "pairs"], "cache": True, **defaults, **raw}
    if isinstance(settings["what"], str):
        settings["what"] = [w.strip() for w in settings["what"].split(",") if w.strip()]
    bad = [w for w in settings["what"] if w not in WHATS]
    if bad:
        raise MedvlError(f"stage judge: what must be among {', '.join(WHATS)}, not {bad}")
    _kwargs_for(JudgeSettings, settings, "judge", also=("what", "cache", "client", *JUDGE_LLM_KEYS))
    from medvl.llm.client import LLMSettings
    from medvl.settings import check_types

    check_types(LLMSettings, {k: v for k, v in raw.items() if k in JUDGE_LLM_KEYS}, "stages.judge")
    if "judge" in settings:
        from medvl.registry import JUDGES

        JUDGES.check(settings["judge"], "stages.judge.judge")
    if not isinstance(settings["cache"], (bool, str)):
        raise MedvlError(f"stage judge: cache must be true, false or a file path, not {settings['cache']!r}")
    try:
        JudgeSettings(**{k: v for k, v in settings.items() if k in defaults})
    except (TypeError, ValueError) as exc:
        raise MedvlError(f"stage judge: {exc}") from None
    return with_llm_server(settings, config)


def _reads(settings: dict[str, Any]) -> list[str]:
    whats = settings.get("what") or ()
    return [*(["split"] if "splits" in whats else []), *(["align"] if "pairs" in whats else [])]


def _neighbours(ctx: StageContext) -> Path | None:
    """The retrieval top-k file: the setting, else the eval stage's (wherever its outputs say), which merges
    every model's top-k (`medvl judge` names another file it finds in RUN_DIR by the setting)."""
    if ctx.settings.get("neighbours"):
        return ctx.run.path / ctx.settings["neighbours"]
    path = ctx.run.path / (_stage_outputs(ctx, "eval").get("neighbours") or "eval/neighbours.jsonl")
    return path if path.is_file() else None


def _judge_when(config: RunConfig, settings: dict[str, Any]) -> str | None:
    if not config.llm.url:
        return "no LLM server configured (llm.urls or --llm-url)"
    if not config.llm.model:
        return "no LLM model configured (llm.model or --llm-model)"
    return None


RETRY_TAG = "+retry"  # a unit the judge failed on, asked again with retry_failed (see _planned)
FAILED_ASKED_AGAIN = "failed items asked again (retry_failed)"  # its redo reason in `medvl status`


def _llm(ctx_settings: dict[str, Any], run: Any) -> Any:
    """The served model's client settings (medvl.llm.client.LLMSettings) from the stage's settings."""
    from medvl.llm.client import LLMSettings

    s = ctx_settings
    cache = s.get("cache", True)
    # a relative cache path is inside the run (as before the judge's units moved to the engine), not the cwd
    cache_path = ((run.path / cache) if isinstance(cache, str) else run.file(".cache/llm.sqlite")) if cache else None
    return LLMSettings(url=s["url"], model=s["model"], cache_path=cache_path,
                       **{k: s[k] for k in JUDGE_LLM_KEYS if k in s})


def _judge_settings(settings: dict[str, Any], what: str) -> Any:
    from medvl.evaluate.judge import JudgeSettings

    keys = {f for f in JudgeSettings.__dataclass_fields__ if f != "what"}
    return JudgeSettings(what=what, **{k: v for k, v in settings.items() if k in keys})


def _plans(ctx: StageContext) -> tuple[list[Any], list[str]]:
    """One plan per `what` (medvl.evaluate.judge.plan_items), and why a `what` is not judged now."""
    from medvl.evaluate.judge import plan_items

    client = _client(ctx.settings)
    llm = client.settings if client is not None else _llm(ctx.settings, ctx.run)
    plans, not_judged = [], []
    for what in ctx.settings["what"]:
        settings = dict(ctx.settings)
        if what == "retrieval" and not settings.get("neighbours"):
            found = _neighbours(ctx)
            if found is None:
                why = ("retrieval not judged: no eval/neighbours.jsonl (the eval stage writes it; run train and "
                       "eval, with eval.neighbours_k > 0)")
                ctx.notify(f"judge {why}")
                not_judged.append(why)
                continue
            settings["neighbours"] = str(found)
        plans.append(plan_items(ctx.run.path, _judge_settings(settings, what), llm))
    return plans, not_judged


def _client(settings: dict[str, Any]) -> Any:
    from medvl.evaluate.judge import _CLIENTS

    return _CLIENTS.get(settings.get("client") or "")


def _planned(ctx: StageContext, key: str, base: str) -> tuple[str, str]:
    """(the fingerprint a unit must carry to be reused, why it is redone on purpose): `base`, or for a unit
    of the same item, prompt and model that the judge failed on, with retry_failed, the other of base /
    base+retry (so it is asked again, and `medvl status` says why)."""
    marker = _marker(ctx.run, "judge", key) or {}
    have = marker.get("fingerprint")
    if have not in (base, base + RETRY_TAG):
        return base, ""
    if marker.get("failed") and ctx.settings.get("retry_failed"):
        return (base + RETRY_TAG if have == base else base), FAILED_ASKED_AGAIN
    return have, ""


def _plan_judge(ctx: StageContext) -> list[Shard]:
    """One unit per sampled item and `what`, keyed and fingerprinted by the item, prompt (ref and sha), model
    and mode (and the item's input), plus one per `what` for the input's rejects."""
    import uuid

    from medvl.evaluate.judge import STAGE_VERSION, item_to_json

    _remove_unit(ctx.run, "judge", WHOLE_KEY)  # the marker of the judge when it was a whole stage
    plans, not_judged = _plans(ctx)
    # what this invocation did, for judge_summary.json's last_run (finalize reads it from the done markers)
    ctx.settings["invocation"] = uuid.uuid4().hex
    ctx.judge = {"plans": plans, "not_judged": not_judged}  # type: ignore[attr-defined]
    shards = []
    for plan in plans:
        head = {"what": plan.what, "prompt": plan.prompt.ref, "mode": plan.mode}
        for it in plan.items:
            key = plan.key(it)
            base = digest("judge", STAGE_VERSION, key, plan.prompt.sha, it.input_sha, plan.settings.judge)
            fingerprint, why = _planned(ctx, key, base)
            shards.append(Shard(key, {**head, "item": item_to_json(it)}, fingerprint, it.item_id, why=why))
        if plan.rejects:
            rejects = [r.model_dump(mode="json") for r in plan.rejects]
            shards.append(Shard(plan.rejects_key, {**head, "rejects": rejects},
                                digest("judge", STAGE_VERSION, rejects), plan.what))
    return shards


def _run_judge_batch(sctxs: list[ShardContext]) -> list[Any]:
    """Ask the registered judge about a batch of items (one request batch, `batch` items at a time), those of
    one `what` (prompt and mode) together; per unit its judgment or judge_failed / unreadable_image reject."""
    groups: dict[tuple, list[int]] = {}
    for i, sctx in enumerate(sctxs):
        p = sctx.payload
        groups.setdefault((p["what"], p["prompt"], p["mode"]), []).append(i)
    out: list[Any] = [None] * len(sctxs)
    for idx in groups.values():
        for i, o in zip(idx, _judge_group([sctxs[i] for i in idx])):
            out[i] = o
    return out


def _judge_group(sctxs: list[ShardContext]) -> list[Any]:
    """_run_judge_batch for items of one `what`.  The server gone: the answers before are kept, the rest
    end as LLMUnavailable (the stage stops, a rerun asks only for those)."""
    from medvl.evaluate.judge import JudgeBatch, JudgePlan, item_from_json, judgment_unit, with_image
    from medvl.llm.client import LLMUnavailable
    from medvl.prompts import load_prompt
    from medvl.records import Reject
    from medvl.registry import JUDGES
    from medvl.runs import tool_versions

    first = sctxs[0]
    head, settings = first.payload, first.settings
    client = _client(settings)
    llm = client.settings if client is not None else _llm(settings, first.run)
    plan = JudgePlan(head["what"], _judge_settings(settings, head["what"]), [], [], load_prompt(head["prompt"]),
                     llm.model, head["mode"])
    out: list[Any] = [None] * len(sctxs)
    asked = []
    for i, sctx in enumerate(sctxs):
        if "rejects" in sctx.payload:
            out[i] = ([], [Reject.model_validate(r) for r in sctx.payload["rejects"]])
            continue
        it = with_image(plan, item_from_json(sctx.payload["item"]))
        if isinstance(it, Reject):
            out[i] = ([], [it], {"failed": True})
        else:
            asked.append((i, it))
    if not asked:
        return out
    batch = JudgeBatch(plan, [it for _, it in asked], llm_settings=llm, llm=client)
    tools = tool_versions(["pydantic", "instructor", "openai", "jinja2"])
    try:
        results = JUDGES.get(plan.settings.judge)(batch)
    except LLMUnavailable as exc:
        results = list(exc.partial or []) + [None] * len(asked)
        gone: Any = exc
    else:
        gone = None
    for n, ((i, it), res) in enumerate(zip(asked, results)):
        if res is None:
            out[i] = gone or MedvlError(f"{it.item_id}: the judge gave no answer")
            continue
        out[i] = judgment_unit(plan, sctxs[i].key, it, res, tools)
        if n == 0:  # the batch's requests, counted once (judge_summary.json's requests_now)
            out[i][2]["requests"] = batch.stats["requests"]
    return out


def _finalize_judge(ctx: StageContext) -> dict[str, Any]:
    """judge_summary.json (every judgment of the run) and run.json's judge:<what>, as each `what` is done."""
    from medvl.evaluate.judge import write_summary

    state = getattr(ctx, "judge", {"plans": [], "not_judged": []})
    client = _client(ctx.settings)
    llm = client.settings if client is not None else _llm(ctx.settings, ctx.run)
    llm_public = llm.public() if hasattr(llm, "public") else {"model": llm.model}
    for plan in state["plans"]:
        counts = {"judged": 0, "failed": 0, "cached": 0, "requests": 0}
        for it in plan.items:
            m = _marker(ctx.run, "judge", plan.key(it)) or {}
            if (m.get("settings") or {}).get("invocation") != ctx.settings["invocation"]:
                continue  # done before
            counts["failed" if m.get("failed") or m.get("status") != "done" else "judged"] += 1
            counts["cached"] += bool(m.get("cached"))
            counts["requests"] += int(m.get("requests") or 0)
        write_summary(ctx.run.path, plan, counts, llm_public)
        ctx.notify(f"judge {plan.what}: {counts['judged']} new, {counts['failed']} failed")
    outputs: dict[str, Any] = {"judgments": "judgments.jsonl", "summary": "judge_summary.json"}
    if state["not_judged"]:  # usable, not all done: the next run judges retrieval once the neighbours exist
        outputs["incomplete"] = "; ".join(state["not_judged"])
    return outputs


register(Stage(
    "judge", stage_version("judge"), order=70, description="LLM judgments of splits, pairs and retrieval top-k (judgments.jsonl; "
                                        "needs an LLM server)",
    needs=("split",), modules=("medvl.evaluate.judge", "instructor", "openai"), extra="llm",
    tools=("instructor", "openai"), output="judgments.jsonl", also_outputs=("judge_summary.json",), plan=_plan_judge, run_batch=_run_judge_batch,
    batch_size=lambda s: int(s.get("batch") or 8), finalize=_finalize_judge, keep_unplanned=True,
    own_fingerprints=True, resolve=_resolve_judge, when=_judge_when, reads=_reads,
    on_error="retry",  # a batch that crashes is not judged: its items are asked again by the next run
    # the answer cache (true, false or its file), the items per request batch, a client judge_run hands over
    # and the invocation change no judgment; the sample, seed, gold and interval choose items or summarise
    # them (the units' fingerprints are their own: _plan_judge)
    non_output=(*LLM_NON_OUTPUT, "cache", "batch", "client", "invocation", "sample", "seed", "gold",
                "interval", "retry_failed")), replace=True)
