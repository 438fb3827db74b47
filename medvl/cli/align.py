"""`medvl align`: pair subcaptions with panels."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from medvl.cli import app


@app.command("align")
def align(
    run_dir: Path = typer.Argument(..., help="Run directory with figures.jsonl and subcaptions.jsonl."),
    shared: str = typer.Option("auto", "--shared", help="Where '_shared' caption text goes in each panel's text: "
                               "auto (before/after, as in the caption), prepend, append or drop."),
    subcaptions: str = typer.Option("subcaptions.jsonl", "--subcaptions", help="Split rows file inside RUN_DIR."),
    out_file: str = typer.Option("pairs.jsonl", "--out-file", help="Pairs file to write inside RUN_DIR."),
    no_crop: bool = typer.Option(False, "--no-crop", help="Do not crop panel images parse did not write."),
    force: bool = typer.Option(False, "--force", help="Redo every paper, even those already done."),
    aligner: str = typer.Option("auto", "--aligner", help="rules, llm (the model pairs every figure with 2+ panels "
                                "and labelled subcaptions), auto (rules where sure, the model where the rules "
                                "reject or pair by order; without --llm-url: rules) or one a plugin adds "
                                "(entry points medvl.aligners); an unknown name lists them."),
    prompt: str = typer.Option("align/fewshot@1", "--prompt", help="Align prompt (medvl prompts ls align)."),
    vision: bool = typer.Option(False, "--vision", help="Send the figure image with panel boxes and ids drawn "
                                "(a vision-language model)."),
    confidence: bool = typer.Option(False, "--confidence", help="Ask the model for a confidence per subcaption."),
    replace_unsure: bool = typer.Option(False, "--replace-unsure", help="auto: the model's pairs replace the rule "
                                        "pairs of the figures it is asked (default: it only adds pairs the rules "
                                        "did not make)."),
    offer_none: str = typer.Option("always", "--offer-none", help="always, or when_needed: the model may answer "
                                   "'none' only when a figure has more subcaptions than panels."),
    fill: str = typer.Option("figure", "--fill", help="auto: figure (the model's pairs only in figures the rules "
                             "paired no panel of) or subcaption (also the subcaptions they left unpaired)."),
    llm_url: Optional[str] = typer.Option(None, "--llm-url", envvar="MEDVL_LLM_URL", help="OpenAI-compatible base URL(s), comma-separated."),
    llm_model: Optional[str] = typer.Option(None, "--llm-model", envvar="MEDVL_LLM_MODEL", help="Served model name (default smollm2-135m)."),
    llm_mode: str = typer.Option("json_schema", "--llm-mode", envvar="MEDVL_LLM_MODE", help="json_schema (vLLM), tools or json."),
    concurrency: int = typer.Option(8, "--concurrency", "-c", min=1),
    max_reasks: int = typer.Option(2, "--max-reasks", min=0),
    max_tokens: Optional[int] = typer.Option(None, "--max-tokens", min=16, help="Override the prompt's max_tokens."),
    timeout: float = typer.Option(120.0, "--timeout", help="Seconds per request."),
) -> None:
    """Pair subcaptions with panels (by letter, position, reading order, whole figure, or a served LLM)
    -> RUN_DIR/pairs.jsonl."""
    from medvl.align import AlignSettings, align_run
    from medvl.cli.common import console, out, progress_bar
    from medvl.cli.split import llm_options_to_settings
    from medvl.errors import MedvlError
    from medvl.registry import ALIGNERS

    uses_llm = ALIGNERS.get(ALIGNERS.check(aligner, "--aligner")).uses_llm  # before any work
    try:
        settings = AlignSettings(shared=shared, subcaptions_file=subcaptions, out_file=out_file,
                                 crop_missing=not no_crop, force=force, aligner=aligner, prompt=prompt,
                                 vision=vision, confidence=confidence, replace_unsure=replace_unsure,
                                 offer_none=offer_none, fill=fill)
    except ValueError as exc:
        raise MedvlError(str(exc)) from exc
    if uses_llm == "required" and not llm_url:
        console.print(f"[bold red]error:[/] --aligner {aligner} needs --llm-url (or $MEDVL_LLM_URL); start a local server "
                      "with scripts/llm_server.sh start --port 8000")
        raise typer.Exit(2)
    llm = llm_options_to_settings(llm_url, llm_model, llm_mode, concurrency, timeout, max_reasks, max_tokens, None) \
        if uses_llm != "none" else None
    with progress_bar("align") as advance:
        s = align_run(run_dir, settings, progress=advance, llm_settings=llm)
    methods = ", ".join(f"{k} {v}" for k, v in s.methods.items()) or "none"
    reasons = ", ".join(f"{k} {v}" for k, v in s.reject_reasons.items()) or "none"
    out.print(f"{s.pairs} pairs from {s.figures} figures in {s.papers} papers "
              f"({s.papers_skipped} papers already done) -> {s.out}")
    out.print(f"methods: {methods}")
    fa = s.figures_by_aligner
    out.print(f"aligner {s.aligner}: figures paired by rules {fa.get('rules', 0)}, by the LLM {fa.get('llm', 0)} "
              f"(rescued {fa.get('llm_rescued', 0)}), rule result kept after an LLM fallback {fa.get('llm_fallback', 0)}"
              + (f"; asked now {s.llm_asked}, fallbacks {s.llm_fallbacks}" if uses_llm != "none" and s.aligner != "rules" else ""))
    if s.note:
        console.print(f"[yellow]note:[/] {s.note}")
    console.print(f"rejects: {s.rejects} ({reasons})")
