"""`medvl split`: captions -> labelled subcaptions with the rule splitter or a served LLM."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from medvl.cli import app


def llm_options_to_settings(llm_url: str | None, llm_model: str | None, llm_mode: str, concurrency: int,
                            timeout: float, max_reasks: int, max_tokens: int | None, cache: Path | None,
                            retries: int = 4):
    """LLMSettings from the shared --llm-* options (None when no url was given)."""
    from medvl.llm.client import LLMSettings

    if not llm_url:
        return None
    params = {"max_tokens": max_tokens} if max_tokens else {}
    return LLMSettings(url=llm_url, model=llm_model or "smollm2-135m", mode=llm_mode, concurrency=concurrency,
                       timeout_s=timeout, max_reasks=max_reasks, transport_retries=retries, cache_path=cache,
                       params=params)


@app.command("split")
def split_cmd(
    input: Path = typer.Argument(..., help="A run directory (reads figures.jsonl) or a JSONL file with id and caption per line."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Output JSONL (default: RUN_DIR/subcaptions.jsonl, or INPUT.subcaptions.jsonl)."),
    splitter: str = typer.Option("rules", "--splitter", help="A registered splitter: rules, llm (a served model) "
                                 "or one a plugin adds (entry points medvl.splitters); an unknown name lists them."),
    prompt: str = typer.Option("split/fewshot@1", "--prompt", help="Prompt for a splitter that asks a model: split/NAME@VERSION (see medvl prompts ls)."),
    llm_url: Optional[str] = typer.Option(None, "--llm-url", envvar="MEDVL_LLM_URL", help="OpenAI-compatible base URL(s), comma-separated, e.g. http://127.0.0.1:8000/v1."),
    llm_model: Optional[str] = typer.Option(None, "--llm-model", envvar="MEDVL_LLM_MODEL", help="Served model name (default smollm2-135m)."),
    llm_mode: str = typer.Option("json_schema", "--llm-mode", envvar="MEDVL_LLM_MODE", help="json_schema (vLLM), tools (llama.cpp server) or json."),
    concurrency: int = typer.Option(8, "--concurrency", "-c", min=1, help="Requests in flight at once."),
    max_reasks: int = typer.Option(2, "--max-reasks", min=0, help="Re-asks after a failed validation before falling back to the rules."),
    max_tokens: Optional[int] = typer.Option(None, "--max-tokens", min=16, help="Override the prompt's max_tokens."),
    timeout: float = typer.Option(120.0, "--timeout", help="Seconds per request."),
    shard_size: int = typer.Option(32, "--shard-size", min=1, help="Captions per resumable unit of a captions JSONL file (a run directory is split per paper, like medvl run)."),
    cache: Optional[Path] = typer.Option(None, "--cache", help="SQLite answer cache (default: in the work folder)."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Do not read or write the answer cache."),
    retry_fallbacks: bool = typer.Option(True, "--retry-fallbacks/--keep-fallbacks", help="Ask the LLM again for the captions that fell back to the rules in an earlier run (server fault or invalid answer); accepted answers come from the cache. --keep-fallbacks keeps them as they are."),
) -> None:
    """Split captions into labelled subcaptions (SplitRow per caption, resumable).

    A rerun does only the units that are missing: papers of a run directory (the same units as
    `medvl run`, so either command reuses the other's work), shards of --shard-size captions of a
    JSONL file.  A rerun with other settings starts over.
    With --splitter llm every answer is validated against its caption (labels present, text verbatim),
    re-asked on failure, and falls back to the rules with the reason in fallback_reason.  Fallbacks are
    not final: the next run asks again for those captions (only them: accepted answers are cached and
    failures never are), unless --keep-fallbacks.

    Exit code: 0 when every input line was used, 1 when some were rejected (see the rejects file),
    2 on usage errors or when the LLM server is unavailable (finished shards are kept).
    """
    from medvl.cli.common import console, progress_bar, report_rejects
    from medvl.registry import SPLITTERS
    from medvl.runs import read_jsonl
    from medvl.split.stage import run_split

    settings = None
    uses_llm = SPLITTERS.get(SPLITTERS.check(splitter, "--splitter")).needs_llm  # before any work
    if uses_llm:
        if not llm_url:
            console.print(f"[bold red]error:[/] --splitter {splitter} needs --llm-url (or $MEDVL_LLM_URL); "
                          "start a local server with scripts/llm_server.sh start --port 8000")
            raise typer.Exit(2)
        settings = llm_options_to_settings(llm_url, llm_model, llm_mode, concurrency, timeout, max_reasks,
                                           max_tokens, cache)
    with progress_bar(f"split ({splitter})") as bar:
        summary = run_split(input, out, splitter=splitter, prompt=prompt, llm_settings=settings,
                            shard_size=shard_size, use_cache=not no_cache, retry_fallbacks=retry_fallbacks,
                            progress=bar)
    rejects = list(read_jsonl(summary.rejects_path)) if summary.rejects_path.exists() else []
    report_rejects([r for r in rejects if r.get("stage") == "split"], "split")
    st = summary.stats
    extra = ""
    if uses_llm:
        ls = summary.llm_stats
        extra = (f"; {splitter} {st['by_splitter'].get(splitter, 0)}, fallback {st['fallbacks']} "
                 f"{st['fallback_reasons'] or ''}, re-asks {st['reasks']}, cached {st['cached']}, "
                 f"requests this run {ls.get('requests', 0)}")
    if summary.n_retried:
        extra += f"; {summary.n_retried} unit(s) with earlier fallbacks asked again"
    console.print(f"split: {summary.n_rows} caption(s) -> {summary.out}; {summary.n_shards_run} of "
                  f"{summary.n_shards} {'paper' if summary.settings.get('units') == 'paper' else 'shard'}(s) run now{' (settings changed: started over)' if summary.restarted else ''}; "
                  f"{summary.n_rejected} reject(s){extra}")
    raise typer.Exit(1 if summary.n_rejected else 0)
