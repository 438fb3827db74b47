"""The judge stage: LLM judgments of splits, pairs and retrieval top-k (medvl/evaluate/judge.py)."""

from __future__ import annotations

from typing import Any

from medvl.config import RunConfig
from medvl.errors import MedvlError
from medvl.pipeline import Stage, StageContext, _kwargs_for, _stage_outputs, register
from medvl.progress import ProgressFn
from medvl.versioning import stage_version


JUDGE_LLM_KEYS = ("mode", "timeout_s", "max_reasks", "transport_retries", "concurrency")


def _resolve_judge(config: RunConfig, raw: dict[str, Any]) -> dict[str, Any]:
    from medvl.evaluate.judge import WHATS, JudgeSettings

    settings = {"what": ["splits", "pairs"], "cache": True, **raw}
    if isinstance(settings["what"], str):
        settings["what"] = [w.strip() for w in settings["what"].split(",") if w.strip()]
    bad = [w for w in settings["what"] if w not in WHATS]
    if bad:
        raise MedvlError(f"stage judge: what must be among {', '.join(WHATS)}, not {bad}")
    _kwargs_for(JudgeSettings, settings, "judge", also=("what", "cache", *JUDGE_LLM_KEYS))
    if "judge" in settings:
        from medvl.registry import JUDGES

        JUDGES.check(settings["judge"], "stages.judge.judge")
    settings["url"] = config.llm.url
    settings["model"] = config.llm.model
    if config.llm.timeout_s and "timeout_s" not in settings:
        settings["timeout_s"] = config.llm.timeout_s
    return settings


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
    llm = LLMSettings(url=url, model=model, cache_path=ctx.run.file(".cache/llm.sqlite") if cache else None, **llm_kw)
    judged = 0
    not_judged = []
    for what in whats:
        settings = dict(s)
        if what == "retrieval" and not settings.get("neighbours"):
            # the eval stage's top-k file (eval/neighbours.jsonl), wherever its outputs say it is
            rel = _stage_outputs(ctx, "eval").get("neighbours") or "eval/neighbours.jsonl"
            if not ctx.run.inside(rel).is_file():
                why = (f"retrieval not judged: no {rel} (the eval stage writes it; run train and eval, "
                       "with eval.neighbours_k > 0)")
                ctx.notify(f"judge {why}")
                not_judged.append(why)
                continue
            settings["neighbours"] = str(ctx.run.inside(rel))
        st = JudgeSettings(what=what, **settings)
        summary = JUDGES.get(st.judge)(ctx.run.path, st, llm, progress=progress)
        last = summary.get("last_run", {})
        judged += int(last.get("judgments_total") or 0)
        ctx.notify(f"judge {what}: {last.get('judged_now', 0)} new, {last.get('failed_now', 0)} failed")
    info: dict[str, Any] = {"records": judged,
                            "outputs": {"judgments": "judgments.jsonl", "summary": "judge_summary.json"}}
    if not_judged:  # usable, not done: the next run judges again once the neighbours exist
        info["incomplete"] = "; ".join(not_judged)
    return info


register(Stage(
    "judge", stage_version("judge"), order=70, description="LLM judgments of splits, pairs and retrieval top-k (judgments.jsonl; "
                                        "needs an LLM server)",
    needs=("split",), modules=("medvl.evaluate.judge", "instructor", "openai"), extra="llm",
    tools=("instructor", "openai"), run_all=_run_judge, resolve=_resolve_judge, when=_judge_when), replace=True)
