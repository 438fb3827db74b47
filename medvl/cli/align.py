"""`medvl align`: pair subcaptions with panels."""

from __future__ import annotations

from pathlib import Path

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
) -> None:
    """Pair subcaptions with panels (by letter, position, reading order, or whole figure) -> RUN_DIR/pairs.jsonl."""
    from medvl.align import AlignSettings, align_run
    from medvl.cli.common import console, out, progress_bar
    from medvl.errors import MedvlError

    try:
        settings = AlignSettings(shared=shared, subcaptions_file=subcaptions, out_file=out_file,
                                 crop_missing=not no_crop, force=force)
    except ValueError as exc:
        raise MedvlError(str(exc)) from exc
    with progress_bar("align") as advance:
        s = align_run(run_dir, settings, progress=advance)
    methods = ", ".join(f"{k} {v}" for k, v in s.methods.items()) or "none"
    reasons = ", ".join(f"{k} {v}" for k, v in s.reject_reasons.items()) or "none"
    out.print(f"{s.pairs} pairs from {s.figures} figures in {s.papers} papers "
              f"({s.papers_skipped} papers already done) -> {s.out}")
    out.print(f"methods: {methods}")
    console.print(f"rejects: {s.rejects} ({reasons})")
