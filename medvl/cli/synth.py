"""`medvl synth`: write a synthetic corpus with known answers."""

from __future__ import annotations

from pathlib import Path

import typer

from medvl.cli import app


@app.command("synth")
def synth(
    out: Path = typer.Option(..., "--out", "-o", help="Folder to write papers/*.pdf and ground_truth.json into."),
    papers: int = typer.Option(20, "--papers", "-n", min=1, help="Number of papers."),
    seed: int = typer.Option(0, "--seed", help="Random seed; the same seed gives byte-identical PDFs."),
    dpi: int = typer.Option(150, "--dpi", min=36, max=600, help="Resolution of the figure images (and of bbox_px)."),
    background: str = typer.Option("drawn", "--background", help="drawn: procedural parenchyma; mni: lesions "
                                   "drawn on real MNI152 T1 slices (pip install 'medvl[real]'), same answers."),
) -> None:
    """Write a synthetic corpus: PDFs with compound figures of drawn brain-MRI-like scans in six
    classes, captions in varied styles, and DIR/ground_truth.json with every answer."""
    from medvl.cli.common import console, progress_bar
    from medvl.synth import generate_corpus

    with progress_bar("synth", total=papers) as advance:
        path = generate_corpus(out, papers=papers, seed=seed, dpi=dpi, progress=advance, background=background)
    console.print(f"wrote {papers} papers to {path / 'papers'} and the answers to {path / 'ground_truth.json'}")
