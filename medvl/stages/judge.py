"""The judge stage: LLM judgments of splits, pairs and retrieval top-k (medvl/evaluate/judge.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from medvl.config import LLM_NON_OUTPUT, RunConfig, with_llm_server
from medvl.errors import MedvlError
from medvl.pipeline import Stage, StageContext, _kwargs_for, _stage_outputs, file_stamp, register
from medvl.progress import ProgressFn
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
    _kwargs_for(JudgeSettings, settings, "judge", also=("what", "cache", *JUDGE_LLM_KEYS))
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


def _external(ctx: StageContext) -> list[Any]:
    """Stamps of the files the judge reads beside the run's stages: gold, captions, neighbours."""
    from medvl.evaluate.judge import GOLD_DEFAULT

    s = ctx.settings
    files = [s.get("gold") or GOLD_DEFAULT, s.get("captions"),
             _neighbours(ctx) if "retrieval" in (s.get("what") or ()) else None]
    return [[str(f), file_stamp(f)] for f in files if f and Path(f).is_file()]


def _judge_when(config: RunConfig, settings: dict[str, Any]) -> str | None:
    if not config.llm.url:
        return "no LLM server configured (llm.urls or --llm-url)"
    if not config.llm.model:
        return "no LLM model configured (llm.model or --llm-model)"
    return None


def _run_judge(ctx: StageContext, progress: ProgressFn) -> dict[str, Any]:
    from medvl.evaluate.judge import JudgeSettings
    from medvl.llm.client import LLMSettings
    from medvl.registry import JUDGES

    s = dict(ctx.settings)
    whats, cache = s.pop("what"), s.pop("cache")
    llm_kw = {k: s.pop(k) for k in JUDGE_LLM_KEYS if k in s}
    url, model = s.pop("url"), s.pop("model")
    cache_path = (ctx.run.path / cache if isinstance(cache, str) else ctx.run.file(".cache/llm.sqlite")) if cache else None
    llm = LLMSettings(url=url, model=model, cache_path=cache_path, **llm_kw)
    judged = failed = 0
    not_judged = []
    for what in whats:
        settings = dict(s)
        if what == "retrieval" and not settings.get("neighbours"):
            found = _neighbours(ctx)
            if found is None:
                why = ("retrieval not judged: no eval/neighbours.jsonl (the eval stage writes it; run train and "
                       "eval, with eval.neighbours_k > 0)")
                ctx.notify(f"judge {why}")
                not_judged.append(why)
                continue
            settings["neighbours"] = str(found)
        st = JudgeSettings(what=what, **settings)
        summary = JUDGES.get(st.judge)(ctx.run.path, st, llm, progress=progress)
        last = summary.get("last_run", {})
        judged += int(last.get("judgments_total") or 0)
        failed += int(last.get("failed_now") or 0)
        ctx.notify(f"judge {what}: {last.get('judged_now', 0)} new, {last.get('failed_now', 0)} failed")
    info: dict[str, Any] = {"records": judged,
                            "outputs": {"judgments": "judgments.jsonl", "summary": "judge_summary.json"}}
    if failed and s.get("retry_failed"):  # asked to retry failures: a rerun asks again for what failed now
        not_judged.append(f"{failed} item(s) failed; a rerun asks again")
    if not_judged:  # usable, not done: the next run judges again once the neighbours exist
        info["incomplete"] = "; ".join(not_judged)
    return info


register(Stage(
    "judge", stage_version("judge"), order=70, description="LLM judgments of splits, pairs and retrieval top-k (judgments.jsonl; "
                                        "needs an LLM server)",
    needs=("split",), modules=("medvl.evaluate.judge", "instructor", "openai"), extra="llm",
    tools=("instructor", "openai"), run_all=_run_judge, resolve=_resolve_judge, when=_judge_when, reads=_reads,
    external=_external,
    # the answer cache (true, false or its file) and the items per request batch change no judgment
    non_output=(*LLM_NON_OUTPUT, "cache", "batch")), replace=True)
