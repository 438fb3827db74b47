"""`medvl judge RUN_DIR`: an LLM scores a deterministic sample of splits, pairs or retrieval results."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from medvl.cli import app


@app.command("judge")
def judge(
    run_dir: Path = typer.Argument(..., help="Run directory (subcaptions.jsonl / pairs.jsonl / neighbours file)."),
    what: str = typer.Option("splits", "--what", help="splits | pairs | retrieval"),
    judge_name: str = typer.Option("llm", "--judge", help="A registered judge: llm (a served model), or one a "
                                   "plugin adds (entry points medvl.judges)."),
    sample: int = typer.Option(20, "--sample", help="How many items to judge (-1: all). Nested: a larger N "
                                                    "with the same seed keeps the smaller sample."),
    seed: int = typer.Option(0, "--seed", help="Sampling seed."),
    prompt: Optional[str] = typer.Option(None, "--prompt", help="Judge prompt, e.g. judge/splits@1 "
                                                                 "(default: judge/<what>@1)."),
    llm_url: Optional[str] = typer.Option(None, "--llm-url", envvar="MEDVL_LLM_URL",
                                          help="OpenAI-compatible base url(s), comma-separated."),
    llm_model: Optional[str] = typer.Option(None, "--llm-model", envvar="MEDVL_LLM_MODEL", help="Served model name."),
    llm_mode: Optional[str] = typer.Option(None, "--llm-mode", envvar="MEDVL_LLM_MODE",
                                           help="json_schema (default) | tools | json"),
    llm_cache: Optional[Path] = typer.Option(None, "--llm-cache",
                                             help="Answer cache (SQLite; default RUN_DIR/.cache/llm.sqlite)."),
    concurrency: Optional[int] = typer.Option(None, "--concurrency", min=1,
                                              help="Requests in flight (default 8, as in `medvl run`)."),
    image_mode: str = typer.Option("auto", "--image-mode", help="pairs: auto (probe the server) | image | text_only"),
    k: int = typer.Option(5, "--k", min=1, help="retrieval: judge the top-k retrieved captions."),
    neighbours: Optional[Path] = typer.Option(None, "--neighbours",
                                              help="retrieval: JSONL of query -> top-k (default: found in RUN_DIR)."),
    gold: Optional[Path] = typer.Option(None, "--gold", help="Gold splits for judge agreement "
                                                             "(default: eval/gold/dev.jsonl when present)."),
    captions: Optional[Path] = typer.Option(None, "--captions", help="splits: JSONL {id, caption} when the run "
                                                                     "has no figures.jsonl."),
    interval: str = typer.Option("t", "--interval", help="Interval of mean scores: t | bootstrap."),
    retry_failed: bool = typer.Option(False, "--retry-failed", help="Ask again for items the judge failed on."),
    force: bool = typer.Option(False, "--force", help="Judge again even when done with the same settings and inputs "
                                                      "(answers come from the cache)."),
) -> None:
    """Score a sample of a run with an LLM judge -> judgments.jsonl and judge_summary.json (95 % CIs).

    This is the judge stage of `medvl run` (the same engine, settings and done marker): a rerun with the same
    settings and inputs reuses it; a changed setting, split or pair judges again (`medvl status` says why).
    """
    import json

    from medvl.cli.common import console, progress_bar
    from medvl.config import LLMSettings
    from medvl.errors import MedvlError
    from medvl.evaluate import stats
    from medvl.one_stage import run_stage
    from medvl.registry import JUDGES

    JUDGES.check(judge_name, "--judge")
    if not run_dir.is_dir():
        raise MedvlError(f"{run_dir}: run directory does not exist")
    if not llm_url or not llm_model:
        raise MedvlError("the judge needs an LLM server: --llm-url URL --llm-model NAME "
                         "(or $MEDVL_LLM_URL / $MEDVL_LLM_MODEL)")
    if interval not in ("t", "bootstrap"):
        raise MedvlError("--interval must be t or bootstrap")
    path = lambda p: str(p.resolve()) if p else None  # noqa: E731 - settings name files absolutely
    settings: dict = {"what": [what], "sample": None if sample < 0 else sample, "seed": seed, "prompt": prompt,
                      "image_mode": image_mode, "k": k, "neighbours": path(neighbours), "gold": path(gold),
                      "captions": path(captions), "interval": interval, "retry_failed": retry_failed,
                      "judge": judge_name}
    if what == "retrieval" and neighbours is None and not (run_dir / "eval" / "neighbours.jsonl").is_file():
        from medvl.evaluate.judge import find_neighbours_file

        # the command always looked further than the stage's eval/neighbours.jsonl: what it finds is the setting
        settings["neighbours"] = path(find_neighbours_file(run_dir.resolve()))
    if llm_mode is not None:
        settings["mode"] = llm_mode
    if concurrency is not None:
        settings["concurrency"] = concurrency
    if llm_cache is not None:
        settings["cache"] = path(llm_cache)
    with progress_bar(f"judge {what}") as advance:
        res = run_stage(run_dir, "judge", settings, force=force, progress=advance,
                        llm=LLMSettings(urls=llm_url, model=llm_model))
    if "retrieval not judged" in res.message:  # as before: no neighbours file is an error of this command
        raise MedvlError(f"judge: {res.message}; or pass --neighbours FILE")
    summary = json.loads((run_dir / "judge_summary.json").read_text(encoding="utf-8"))
    if not res.ran:
        console.print("judge: already done with the same settings and inputs; --force judges again "
                      "(answers come from the cache)")
    last = summary["last_run"]
    if res.ran:
        console.print(f"[green]judged[/] {last['judged_now']} new, {last['skipped_done']} already done, "
                      f"{last['failed_now']} failed ({last['cached_now']} from cache, {last['requests_now']} "
                      f"requests); mode {last['mode']}; prompt {last['prompt_id']} ({last['prompt_sha'][:12]}), "
                      f"model {last['model']}")
    for g in summary["groups"]:
        if g["what"] != what or g["prompt_id"] != last["prompt_id"] or g["judge_model"] != last["model"]:
            continue
        crit = ", ".join(f"{c} {stats.fmt_ci(v)}" for c, v in g["criteria"].items())
        typer.echo(f"{what} ({g['n']} judged): overall {stats.fmt_ci(g['overall'])}; flagged "
                   f"{stats.fmt_ci(g['flagged'], percent=True)}; {crit}")
        if g.get("gold"):
            a = g["gold"]["agreement"]
            typer.echo(f"agreement with gold ({g['gold']['n_matched']} items): flag precision "
                       f"{stats.fmt_ci(a['precision'], percent=True)}, recall {stats.fmt_ci(a['recall'], percent=True)}")
    console.print(f"[green]wrote[/] {run_dir / 'judgments.jsonl'} and {run_dir / 'judge_summary.json'}")
