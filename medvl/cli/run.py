"""`medvl run` (a whole run from a config, a folder of PDFs, or the demo) and `medvl status`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from medvl.cli import app
from medvl.errors import MedvlError


def _split_names(values: list[str] | None) -> list[str]:
    out: list[str] = []
    for v in values or []:
        out.extend(s.strip() for s in v.split(",") if s.strip())
    return out


@app.command("run")
def run_cmd(
    config: Optional[Path] = typer.Argument(None, help="Run config YAML (see configs/)."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Run directory (overrides the config's `out`)."),
    pdfs: Optional[Path] = typer.Option(None, "--pdfs", help="Folder of PDFs (and JATS XML) to run on, without a config."),
    demo: bool = typer.Option(False, "--demo", help="Generate a synthetic corpus and run every stage on it."),
    demo_papers: int = typer.Option(60, "--demo-papers", help="Papers in the demo corpus (fewer than about 40 learn little)."),
    demo_seed: int = typer.Option(0, "--demo-seed", help="Seed of the demo corpus."),
    stages: Optional[list[str]] = typer.Option(None, "--stages", "-s", help="Only these stages (comma list)."),
    force: Optional[list[str]] = typer.Option(None, "--force", "-f", help="Redo this stage from scratch (repeatable)."),
    workers: Optional[int] = typer.Option(None, "--workers", "-w", min=1, help="Parallel workers (default: cores)."),
    executor: Optional[str] = typer.Option(None, "--executor", help="local (default), inline, ray or a plugin's."),
    address: Optional[str] = typer.Option(None, "--address", help="Ray address: auto, ray://head:10001."),
    timeout: Optional[float] = typer.Option(None, "--timeout", help="Time limit per shard (one paper), seconds."),
    llm_url: Optional[str] = typer.Option(None, "--llm-url", envvar="MEDVL_LLM_URL",
                                          help="OpenAI-compatible server URL(s), comma-separated."),
    llm_model: Optional[str] = typer.Option(None, "--llm-model", envvar="MEDVL_LLM_MODEL", help="Served model name."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars."),
) -> None:
    """Run the stages a config names (collect, parse, split, align, export, train, eval, judge, report).

    Work is cut into shards by paper; each shard is marked done when written, so the same
    command after an interruption does only what is missing.  run.json records the resolved
    config; `medvl status RUN_DIR` shows progress.
    """
    from medvl.cli.common import console, progress_bar
    from medvl.config import DEFAULT_PDF_STAGES, RunConfig, config_from_dict, demo_config, load_config
    from medvl.pipeline import Pipeline

    chosen = sum(x is not None and x is not False for x in (config, pdfs, demo or None))
    if chosen != 1:
        raise MedvlError("give exactly one of CONFIG.yaml, --pdfs DIR or --demo")
    cfg: RunConfig
    if demo:
        cfg = demo_config(papers=demo_papers, seed=demo_seed)
    elif pdfs is not None:
        if not pdfs.exists():
            raise MedvlError(f"{pdfs}: no such file or folder")
        cfg = config_from_dict({"inputs": {"pdfs": str(pdfs)}, "stages": DEFAULT_PDF_STAGES}, "--pdfs")
    else:
        assert config is not None
        cfg = load_config(config)
    if out is not None:
        cfg.out = str(out)
    if not cfg.out:
        raise MedvlError("say where the run goes: --out RUN_DIR (or `out:` in the config)")
    if workers:
        cfg.executor.workers = workers
    if executor:
        from medvl.registry import EXECUTORS

        cfg.executor.kind = EXECUTORS.check(executor, "--executor")
    if address:
        cfg.executor.address = address
    if timeout:
        cfg.executor.timeout_s = timeout
    if llm_url:
        cfg.llm.urls = [u.strip() for u in llm_url.split(",") if u.strip()]
    if llm_model:
        cfg.llm.model = llm_model
    only = _split_names(stages) or None

    def bars(description: str, total: int | None):
        return progress_bar(description, total=total, disable=quiet)

    def notify(msg: str) -> None:
        if not quiet:
            console.print(msg)

    pipe = Pipeline(cfg, cfg.out, bars=bars, notify=notify, force=_split_names(force), only=only,
                    skip_unavailable=demo)
    console.print(f"run directory: {pipe.run.path}")
    try:
        result = pipe.run_all()
    except KeyboardInterrupt:
        console.print("[yellow]interrupted[/]: finished shards are kept; run the same command to resume")
        raise typer.Exit(130) from None
    _print_table(result.run_dir)
    report = result.stage("report")
    if report is not None and report.state == "done":
        path = report.outputs.get("report") or report.outputs.get("html")
        if path:
            typer.echo(f"report: {result.run_dir / path}")
    if not result.ok:
        bad = [f"{s.name} ({s.state})" for s in result.stages if s.state in ("failed", "blocked")]
        raise MedvlError(f"not finished: {', '.join(bad)}; rerun the same command to continue")


def _print_table(run_dir: Path) -> None:
    from rich.table import Table

    from medvl.cli.common import out
    from medvl.pipeline import run_status

    rows = run_status(run_dir)
    any_failed = any(r["failed"] for r in rows)
    table = Table(title=f"medvl run {run_dir}", title_justify="left")
    cols = [("stage", "left"), ("state", "left"), ("shards", "right"), ("records", "right"), ("rejects", "right")]
    if any_failed:
        cols.append(("failed", "right"))
    cols += [("time", "right"), ("notes", "left")]
    for col, just in cols:
        table.add_column(col, justify=just, overflow="fold")  # type: ignore[arg-type]
    colors = {"done": "green", "failed": "red", "blocked": "red", "interrupted": "yellow", "running": "cyan",
              "skipped": "dim", "unavailable": "dim", "merging": "cyan"}
    for r in rows:
        planned = r["planned"]
        shards = f"{r['done']}/{planned}" if planned else (str(r["done"]) if r["done"] else "")
        secs = f"{r['seconds']:.1f} s" if isinstance(r["seconds"], (int, float)) and r["done"] else ""
        state = r["state"]
        notes = ", ".join(f"{k} {v}" for k, v in list(r["reasons"].items())[:3])
        redone = {k: v for k, v in (r.get("redone") or {}).items() if k != "not done before"}
        if redone:  # why units were done again (a changed setting, a new stage version, new input)
            notes = "; ".join(x for x in (notes, "redone: " + ", ".join(f"{k} ({v})" for k, v in redone.items())) if x)
        if r["stage"] == "align" and state == "done":  # how many figures the LLM aligner paired (issue 14)
            notes = "; ".join(x for x in (_aligner_note(run_dir), notes) if x)
        if r["message"] and state != "done":
            notes = r["message"] + (f"; {notes}" if notes else "")
        cells = [r["stage"], f"[{colors.get(state, 'white')}]{state}[/]", shards, str(r["records"]),
                 str(r["rejects"])]
        if any_failed:
            cells.append(str(r["failed"]) if r["failed"] else "")
        table.add_row(*cells, secs, notes)
    out.print(table)


def _aligner_note(run_dir: Path) -> str:
    """'figures: rules N, llm N (rescued N)' when the LLM aligner took part in the run's pairs.jsonl."""
    from medvl.align_llm import aligner_counts

    path = run_dir / "pairs.jsonl"
    if not path.is_file():
        return ""
    with path.open(encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    c = aligner_counts(rows)
    if not (c["llm"] or c["llm_fallback"]):
        return ""
    note = f"figures: rules {c['rules']}, llm {c['llm']} (rescued {c['llm_rescued']})"
    return note + (f", rule result kept after an LLM fallback {c['llm_fallback']}" if c["llm_fallback"] else "")


@app.command("status")
def status_cmd(
    run_dir: Path = typer.Argument(..., help="A run directory."),
    as_json: bool = typer.Option(False, "--json", help="Print the rows as JSON."),
    failures: bool = typer.Option(False, "--failures", help="List failed shards with their errors."),
) -> None:
    """Per-stage progress, counts and rejects of a run (finished, interrupted or running)."""
    from medvl.pipeline import failures as stage_failures
    from medvl.pipeline import run_status
    from medvl.runs import RunDir

    if not run_dir.is_dir():
        raise MedvlError(f"{run_dir}: no such run directory")
    rows = run_status(run_dir)
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    _print_table(run_dir)
    if failures:
        run = RunDir(run_dir)
        for r in rows:
            for f in stage_failures(run, r["stage"]):
                typer.echo(f"{r['stage']} {f['key']}: {f.get('kind', '?')}: {f.get('detail', '')}")
