"""`medvl prompts`: list, show, render and compare the prompt files in prompts/."""

from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer

from medvl.cli import app

prompts_app = typer.Typer(help="Prompt files (prompts/<group>/<name>_v<version>.yaml): list, show, render, compare.",
                          no_args_is_help=True)
app.add_typer(prompts_app, name="prompts")

_DIR_OPT = typer.Option(None, "--prompts-dir", envvar="MEDVL_PROMPTS_DIR", help="Folder of prompt files (default: medvl's built-in prompts, from prompts/).")


@prompts_app.command("ls")
def ls_cmd(
    group: Optional[str] = typer.Argument(None, help="Only this group, e.g. split or judge."),
    prompts_dir: Optional[Path] = _DIR_OPT,
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """List every prompt version with its sha and description."""
    from rich.table import Table

    from medvl.cli.common import out
    from medvl.prompts import list_prompts

    prompts = [p for p in list_prompts(prompts_dir) if group is None or p.id.startswith(group.rstrip("/") + "/")]
    if as_json:
        typer.echo(json.dumps([p.info() for p in prompts], indent=2))
        return
    table = Table("ref", "sha", "examples", "response model", "description")
    for p in prompts:
        table.add_row(p.ref, p.short_sha, str(len(p.examples)), p.response_model or "-", p.description)
    out.print(table)


@prompts_app.command("show")
def show_cmd(ref: str = typer.Argument(..., help="split/fewshot@1, or split/fewshot for the latest."),
             prompts_dir: Optional[Path] = _DIR_OPT) -> None:
    """Show one prompt: metadata, params, templates and examples."""
    from medvl.prompts import load_prompt

    p = load_prompt(ref, prompts_dir)
    info = p.info()
    for k in ("ref", "sha", "description", "response_model", "path"):
        typer.echo(f"{k}: {info[k]}")
    typer.echo(f"params: {json.dumps(p.params)}")
    if p.system:
        typer.echo("--- system ---\n" + p.system.rstrip())
    typer.echo("--- user ---\n" + p.user.rstrip())
    for i, ex in enumerate(p.examples, 1):
        typer.echo(f"--- example {i} ---\ninput: {json.dumps(ex.get('input'), ensure_ascii=False)}\n"
                   f"output: {json.dumps(ex.get('output'), ensure_ascii=False)}")


@prompts_app.command("render")
def render_cmd(
    ref: str = typer.Argument(..., help="Prompt reference."),
    caption: Optional[str] = typer.Option(None, "--caption", help="The caption variable."),
    var: List[str] = typer.Option([], "--var", help="More variables as NAME=VALUE (VALUE may be JSON)."),
    prompts_dir: Optional[Path] = _DIR_OPT,
    as_json: bool = typer.Option(False, "--json", help="Print the chat messages as JSON."),
) -> None:
    """Render the chat messages a prompt sends for the given variables."""
    from medvl.cli.common import console
    from medvl.prompts import load_prompt

    variables: dict = {}
    if caption is not None:
        variables["caption"] = caption
    for item in var:
        name, sep, value = item.partition("=")
        if not sep:
            console.print(f"[bold red]error:[/] --var {item!r}: expected NAME=VALUE")
            raise typer.Exit(2)
        try:
            variables[name] = json.loads(value)
        except json.JSONDecodeError:
            variables[name] = value
    messages = load_prompt(ref, prompts_dir).messages(**variables)
    if as_json:
        typer.echo(json.dumps(messages, indent=2, ensure_ascii=False))
        return
    for m in messages:
        typer.echo(f"--- {m['role']} ---\n{m['content']}")


def _compared_aligners(rules: bool) -> tuple[str, ...]:
    """The aligners of medvl.registry.ALIGNERS (a plugin's too) that `medvl prompts compare` runs on align
    prompts: every one that asks a model, and with --rules also those that ask none.  Those asking none come
    first, then those that need a model, then those that may use one (rules, llm, auto for the built-ins)."""
    from medvl.registry import ALIGNERS

    rank = {"none": 0, "required": 1, "optional": 2}
    uses = {name: rank.get(ALIGNERS.get(name).uses_llm, 1) for name in ALIGNERS.names()}
    return tuple(sorted((n for n, u in uses.items() if rules or u != 0), key=lambda n: uses[n]))


@prompts_app.command("compare")
def compare_cmd(
    gold: Path = typer.Option(..., "--gold", help="Gold JSONL: {id, caption, subcaptions: [{label, text}]} per line "
                              "(split prompts), or a figure gold (align prompts; see medvl.align_compare)."),
    prompts: str = typer.Option("", "--prompts", help="Comma-separated prompt refs, e.g. split/zeroshot@1,split/fewshot@1."),
    rules: bool = typer.Option(False, "--rules", help="Also score the rule splitter (align prompts: the aligners that ask no model)."),
    out_dir: Optional[Path] = typer.Option(None, "--out", help="Folder for compare.json, compare.md, predictions/ and the answer cache."),
    limit: Optional[int] = typer.Option(None, "--limit", "-n", min=1, help="Only the first N gold captions."),
    llm_url: Optional[str] = typer.Option(None, "--llm-url", envvar="MEDVL_LLM_URL", help="OpenAI-compatible base URL(s)."),
    llm_model: Optional[str] = typer.Option(None, "--llm-model", envvar="MEDVL_LLM_MODEL", help="Served model name."),
    llm_mode: str = typer.Option("json_schema", "--llm-mode", envvar="MEDVL_LLM_MODE", help="json_schema, tools or json."),
    concurrency: int = typer.Option(8, "--concurrency", "-c", min=1),
    max_reasks: int = typer.Option(2, "--max-reasks", min=0),
    max_tokens: Optional[int] = typer.Option(None, "--max-tokens", min=16, help="Override the prompts' max_tokens."),
    timeout: float = typer.Option(120.0, "--timeout"),
    prompts_dir: Optional[Path] = _DIR_OPT,
) -> None:
    """Run each prompt (and optionally the rules) on the same gold captions and tabulate the scores."""
    from medvl.cli.common import console, progress_bar
    from medvl.cli.split import llm_options_to_settings
    from medvl.split.compare import compare_splitters, to_markdown

    refs = [r.strip() for r in prompts.split(",") if r.strip()]
    if not refs and not rules:
        console.print("[bold red]error:[/] nothing to compare: give --prompts and/or --rules")
        raise typer.Exit(2)
    if refs and all(r.startswith("align/") for r in refs):
        # align prompts: --gold is a figure gold (medvl.align_compare), a system per registered aligner and prompt
        from medvl.align_compare import compare_aligners
        from medvl.align_compare import to_markdown as align_markdown

        settings = llm_options_to_settings(llm_url, llm_model, llm_mode, concurrency, timeout, max_reasks,
                                           max_tokens, None)
        if settings is None:
            console.print("[bold red]error:[/] comparing prompts needs --llm-url (or $MEDVL_LLM_URL)")
            raise typer.Exit(2)
        aligners = _compared_aligners(rules)
        with progress_bar("compare") as bar:
            report = compare_aligners(gold, refs, settings, aligners=aligners, out_dir=out_dir, limit=limit,
                                      progress=bar)
        typer.echo(align_markdown(report))
        if out_dir:
            console.print(f"wrote {out_dir}/align_compare.json, align_compare.md, predictions/")
        return
    settings = llm_options_to_settings(llm_url, llm_model, llm_mode, concurrency, timeout, max_reasks, max_tokens,
                                       None) if refs else None
    if refs and settings is None:
        console.print("[bold red]error:[/] comparing prompts needs --llm-url (or $MEDVL_LLM_URL)")
        raise typer.Exit(2)
    with progress_bar("compare") as bar:
        report = compare_splitters(gold, refs, settings, rules=rules, out_dir=out_dir, limit=limit,
                                   prompts_dir=prompts_dir, progress=bar)
    typer.echo(to_markdown(report, max_rows=20))  # plain text: markdown must not be re-wrapped
    if out_dir:
        console.print(f"wrote {out_dir}/compare.json, compare.md, predictions/")
