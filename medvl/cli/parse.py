"""`medvl parse`: PDFs and JATS XML -> figures.jsonl (figures, captions, panels, panel letters)."""

from __future__ import annotations

from pathlib import Path
from typing import List

import typer

from medvl.cli import app


@app.command("parse")
def parse_cmd(
    inputs: List[Path] = typer.Argument(..., help="PDF files, JATS XML files (.xml, .nxml) or folders (searched recursively)."),
    out: Path = typer.Option(..., "--out", "-o", help="Run directory (figures.jsonl, rejects.jsonl, images/)."),
    workers: int = typer.Option(1, "--workers", "-w", min=1, help="Parallel worker processes (papers in parallel)."),
    dpi: int = typer.Option(150, "--dpi", help="Resolution of rendered figure images."),
    ocr: str = typer.Option("auto", "--ocr", help="OCR panel letters: auto (only when the PDF has no letter text), always, never."),
    overlays: bool = typer.Option(False, "--overlays", help="Also write debug pages with figure/caption/panel boxes to overlays/."),
    detector: str = typer.Option("none", "--detector", help="Layout detector for captions the rules find no figure for: none or rapid."),
    xml_repair: bool = typer.Option(True, "--xml-repair/--no-xml-repair", help="Use a paired JATS XML to confirm or repair PDF captions."),
    timeout: float = typer.Option(180.0, "--timeout", help="Time limit per paper in seconds."),
    max_side: int = typer.Option(4096, "--max-side", help="Largest side of a rendered image in pixels."),
    force: bool = typer.Option(False, "--force", help="Parse papers again even when already done in this run directory."),
) -> None:
    """Extract figures, captions, panels and panel letters from PDFs and JATS XML.

    A PDF and an XML of the same folder and name (fulltext.pdf + fulltext.xml) are one paper:
    the XML caption confirms or repairs the PDF caption.  This is the parse stage of `medvl run`
    (the same engine, units and done markers): a rerun skips papers already done with the same
    settings and redoes those a changed setting affects (`medvl status RUN_DIR` says why).

    Exit code: 0 when every input gave figures, 1 when anything was rejected (see
    RUN_DIR/rejects.jsonl; the other papers are still parsed), 2 on usage or fatal errors.
    """
    from medvl.cli.common import console, progress_bar, report_rejects
    from medvl.errors import MedvlError
    from medvl.parse import ParseSettings, parse_inputs

    settings = ParseSettings(dpi=dpi, ocr=ocr, overlays=overlays, detector=detector, xml_repair=xml_repair,
                             timeout_s=timeout, max_side=max_side)
    try:
        settings.validate()
    except MedvlError as exc:
        console.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(2)
    with progress_bar("parse", total=None) as bar:
        summary = parse_inputs([str(p) for p in inputs], out, settings, progress=bar, workers=workers, force=force)
    report_rejects(summary.rejects, "parse")
    redone = {k: v for k, v in summary.redone.items() if k != "not done before"}
    if redone:  # the same words as `medvl status`: why papers done before were parsed again
        console.print("parse: parsed again: " + ", ".join(f"{v} ({k})" for k, v in redone.items()))
    if summary.hidden:
        console.print(f"[yellow]parse: {summary.hidden} hidden file(s) skipped[/] (names starting with a dot are "
                      f"not parsed in folder scans; each is a 'hidden' row in rejects.jsonl; name a file to parse it)")
    console.print(
        f"parse: {summary.papers} paper(s), {summary.parsed} parsed, {summary.skipped} already done; "
        f"{summary.figures} figure(s), {summary.panels} panel(s) in {summary.run_dir}/figures.jsonl; "
        f"{summary.total_rejects} reject(s); {summary.seconds:.1f} s")
    raise typer.Exit(1 if summary.total_rejects else 0)
