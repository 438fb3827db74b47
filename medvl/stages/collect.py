"""The collect stage: search PubMed Central and download open-access papers (medvl/collect/)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from medvl.config import RunConfig
from medvl.pipeline import Stage, StageContext, register
from medvl.progress import ProgressFn
from medvl.runs import read_jsonl
from medvl.settings import validate_model
from medvl.versioning import stage_version


def _resolve_collect(config: RunConfig, raw: dict[str, Any]) -> dict[str, Any]:
    from medvl.collect import CollectSettings

    settings = {"papers_dir": "papers", **raw}
    validate_model(CollectSettings, {k: v for k, v in settings.items() if k != "papers_dir"}, "stages.collect")
    return settings  # as given (environment-derived keys such as api_key stay out of run.json)


COLLECT_REJECTS = "collect-rejects"  # the run's copy of PAPERS_DIR/rejects.jsonl (a helper of collect)


def _run_collect(ctx: StageContext, progress: ProgressFn) -> dict[str, Any]:
    from medvl.collect import collect

    settings = dict(ctx.settings)
    papers = settings.pop("papers_dir")
    out = Path(papers) if Path(papers).is_absolute() else ctx.run.inside(papers)
    summary = collect(settings, out, progress=progress)
    rel = ctx.run.rel(out) if out.resolve().is_relative_to(ctx.run.path) else str(out)
    # what collect dropped (license, retraction, duplicates, files that could not be fetched) is kept
    # in PAPERS_DIR/rejects.jsonl; a copy as a unit of the run makes them rows of RUN_DIR/rejects.jsonl
    # (and of `medvl status`) like every other stage's rejects
    collected_rejects = out / "rejects.jsonl"
    ctx.run.write_unit(COLLECT_REJECTS, "papers", [],
                       read_jsonl(collected_rejects) if collected_rejects.exists() else [],
                       meta={"from": f"{rel}/rejects.jsonl"})
    info: dict[str, Any] = {"records": summary.downloaded + summary.skipped, "rejects": summary.rejected,
                            "outputs": {"papers": rel, "manifest": summary.manifest}, "message": summary.note()}
    if summary.failed or summary.interrupted:
        # later stages go on with what is there; the next run retries the rest (collect resumes)
        info["incomplete"] = f"{summary.failed} paper(s) could not be fetched; rerun to retry them"
    return info


register(Stage(
    "collect", stage_version("collect"), order=8, description="search PubMed Central and download open-access papers (RUN_DIR/papers)",
    modules=("medvl.collect.collector",), tools=("httpx",), run_all=_run_collect, resolve=_resolve_collect,
    # how fast and how persistently it downloads, not which papers: changing them does not collect again
    non_output=("workers", "timeout_s", "retries", "backoff_s", "eutils_rate", "pmc_rate", "europepmc_rate")),
    replace=True)
