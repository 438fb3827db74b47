"""`medvl report RUN_DIR`: one self-contained HTML page (or a Markdown summary) of a run."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from medvl.cli import app


@app.command("report")
def report(
    run_dir: Path = typer.Argument(..., help="Run directory."),
    out: Optional[Path] = typer.Option(None, "--out", help="Output file (default RUN_DIR/report.html or report.md)."),
    fmt: str = typer.Option("html", "--format", help="html (one self-contained page) | md (pull-request summary)."),
    max_figures: int = typer.Option(60, "--max-figures", help="Figures in the gallery, worst-judged first (-1: all)."),
    embed: bool = typer.Option(True, "--embed/--no-embed", help="Images inside the page as data URIs, or in "
                                                                "one folder beside it."),
    include: List[Path] = typer.Option([], "--include", "-i", help="Outputs kept outside RUN_DIR: metrics.json, "
                                       "compare.json of `medvl eval compare` or `medvl prompts compare`, or their "
                                       "folders; repeatable."),
    check: bool = typer.Option(False, "--check", help="Open the page in headless Chromium: console errors, "
                                                      "broken images, and a screenshot beside it."),
    force: bool = typer.Option(False, "--force", help="Write the report again even when nothing it reads changed."),
) -> None:
    """Write the run report: settings, counts, rejects, judge scores with CIs, evaluation, figure gallery.

    This is the report stage of `medvl run` (the same engine, settings and done marker): when nothing the
    report reads changed (the run's stages, the --include files, the options) the page is not written again.
    """
    from medvl.cli.common import console, progress_bar
    from medvl.errors import MedvlError
    from medvl.evaluate.report import check_in_browser
    from medvl.one_stage import run_stage

    if fmt not in ("html", "md"):
        raise MedvlError(f"--format must be html or md (got {fmt!r})")
    settings: dict = {"format": fmt, "max_figures": max_figures, "embed": embed}
    run_path = run_dir.resolve()
    if out is not None:  # relative to RUN_DIR when inside it (as the stage's `out` setting reads)
        target = out.resolve()
        settings["out"] = target.relative_to(run_path).as_posix() if target.is_relative_to(run_path) else str(target)
        if settings["out"] == ("report.html" if fmt == "html" else "report.md"):
            del settings["out"]
    if include:
        settings["include"] = [str(p.resolve()) for p in include]
    if not run_path.is_dir():
        raise MedvlError(f"{run_dir}: run directory does not exist")
    with progress_bar("report") as advance:
        res = run_stage(run_dir, "report", settings, force=force, progress=advance)
    rel = res.outputs["report"]
    path = Path(rel) if Path(rel).is_absolute() else run_path / rel
    done = "[green]wrote[/]" if res.ran else "up to date (nothing it reads changed; --force writes it again):"
    console.print(f"{done} {path} ({path.stat().st_size / 1e6:.1f} MB)")
    if fmt == "md":
        typer.echo(path.read_text(encoding="utf-8"))
    if check and fmt == "html":
        shot = path.with_suffix(".png")
        res = check_in_browser(path, screenshot=shot)
        console.print(f"browser: {res['figures']} figures, {len(res['images'])} images "
                      f"({res['broken_images']} broken), {len(res['errors'])} errors, "
                      f"{len(res['requests'])} network requests; screenshot {shot}")
        for e in res["errors"][:10]:
            console.print(f"[red]  {e}[/]")
        if res["errors"] or res["broken_images"] or res["requests"]:
            raise MedvlError(f"{path}: the page has problems in the browser (see above)")
