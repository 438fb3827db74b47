"""`medvl export`: pairs -> open_clip CSV and WebDataset shards, split by paper."""

from __future__ import annotations

from pathlib import Path

import typer

from medvl.cli import app


@app.command("export")
def export(
    run_dir: Path = typer.Argument(..., help="Run directory with pairs.jsonl (aligned) or figures.jsonl (raw)."),
    out: Path = typer.Option(..., "--out", "-o", help="DATA_DIR to write (replaced if it is an earlier export)."),
    pairs: str = typer.Option("aligned", "--pairs", help="aligned: panel <-> subcaption pairs; raw: whole figures "
                              "with whole captions of the same papers."),
    fmt: list[str] = typer.Option(["csv", "wds"], "--format", help="csv (open_clip CsvDataset) and/or wds "
                                  "(WebDataset shards); repeat the option for both."),
    split: str = typer.Option("0.8,0.1,0.1", "--split", help="train,val,test fractions (by paper)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the hash-based split by paper."),
    shard_size: int = typer.Option(1000, "--shard-size", min=1, help="Samples per WebDataset shard."),
    min_confidence: float = typer.Option(0.0, "--min-confidence", help="Drop pairs aligned with less confidence."),
    min_per_split: int = typer.Option(1, "--min-per-split", min=0, help="Papers a non-empty split gets at least "
                                      "(tiny corpora); 0 disables."),
    keep: list[str] = typer.Option(None, "--keep", help="Tag filter FIELD=VALUE[,VALUE...] (modality, anatomy, "
                                   "sequence, finding), repeatable: --keep modality=mri,ct --keep anatomy=brain; "
                                   "needs RUN_DIR/tags.jsonl (the tag stage)."),
    keep_confidence: float = typer.Option(0.0, "--keep-confidence", help="Probability of the kept set a pair needs "
                                          "(0: its most likely class must be in the set)."),
    copy: bool = typer.Option(False, "--copy", help="Copy images instead of hard-linking them."),
    absolute_paths: bool = typer.Option(False, "--absolute-paths", help="Absolute image paths in the CSVs."),
    ground_truth: Path = typer.Option(None, "--ground-truth", help="Synthetic ground_truth.json for class labels "
                                      "(found next to the papers when not given)."),
) -> None:
    """Export image-text pairs as open_clip CSVs (filepath, title; tab-separated) and WebDataset shards,
    split by paper, with DATA_DIR/manifest.json and DATA_DIR/metadata.jsonl."""
    from medvl.cli.common import console, out as stdout, progress_bar
    from medvl.errors import MedvlError
    from medvl.export import ExportSettings, export_run, parse_split

    formats: list[str] = []
    for f in fmt:
        for part in f.split(","):
            part = part.strip()
            if part == "both":
                formats += ["csv", "wds"]
            elif part:
                formats.append(part)
    try:
        settings = ExportSettings(pairs=pairs, formats=tuple(dict.fromkeys(formats)), split=parse_split(split),
                                  seed=seed, shard_size=shard_size, min_confidence=min_confidence,
                                  min_per_split=min_per_split, link=not copy, absolute_paths=absolute_paths,
                                  ground_truth=str(ground_truth) if ground_truth else None,
                                  keep=list(keep) if keep else None, keep_confidence=keep_confidence)
    except ValueError as exc:
        raise MedvlError(str(exc)) from exc
    with progress_bar(f"export ({pairs})") as advance:
        s = export_run(run_dir, out, settings, progress=advance)
    rows = ", ".join(f"{k} {v} ({s.papers[k]} papers)" for k, v in s.rows.items())
    stdout.print(f"exported {sum(s.rows.values())} pairs -> {s.data_dir}: {rows}")
    reasons = ", ".join(f"{k} {v}" for k, v in s.reject_reasons.items()) or "none"
    console.print(f"rejects: {s.rejects} ({reasons})")
    if s.moved_papers:
        console.print(f"[yellow]note[/]: {len(s.moved_papers)} paper(s) moved so that no split is empty")
