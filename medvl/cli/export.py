"""`medvl export`: pairs -> open_clip CSV and WebDataset shards, split by paper."""

from __future__ import annotations

from pathlib import Path

import typer

from medvl.cli import app


@app.command("export")
def export(
    run_dir: Path = typer.Argument(..., help="Run directory with pairs.jsonl (aligned) or figures.jsonl (raw)."),
    out: Path = typer.Option(None, "--out", "-o", help="DATA_DIR to write (replaced if it is an earlier export); "
                             "default RUN_DIR/export/<pairs>, where `medvl run` writes it."),
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
    force: bool = typer.Option(False, "--force", help="Export again even when done with the same settings and inputs."),
) -> None:
    """Export image-text pairs as open_clip CSVs (filepath, title; tab-separated) and WebDataset shards,
    split by paper, with DATA_DIR/manifest.json and DATA_DIR/metadata.jsonl.

    This is the export stage of `medvl run` (the same engine, settings, fingerprint and done marker): a rerun
    with the same settings and inputs reuses the export, a changed setting exports again, and
    `medvl status RUN_DIR` says why.  Exit code: 0 when exported, 2 on usage or fatal errors.
    """
    from medvl.cli.common import console, out as stdout, progress_bar, stage_news
    from medvl.export import SPLITS, read_manifest
    from medvl.one_stage import run_relative, run_stage
    from medvl.stages.export import DEFAULT_OUT

    formats: list[str] = []
    for f in fmt:
        for part in f.split(","):
            part = part.strip()
            if part == "both":
                formats += ["csv", "wds"]
            elif part:
                formats.append(part)
    settings: dict = {"variants": [pairs], "formats": list(dict.fromkeys(formats)), "split": split, "seed": seed,
                      "shard_size": shard_size, "min_confidence": min_confidence, "min_per_split": min_per_split,
                      "link": not copy, "absolute_paths": absolute_paths,
                      "ground_truth": str(ground_truth.resolve()) if ground_truth else None,
                      "keep": list(keep) if keep else None, "keep_confidence": keep_confidence}
    run_path = run_dir.resolve()
    if out is not None and (rel := run_relative(out, run_path)) != DEFAULT_OUT.format(variant=pairs):
        settings["out"] = rel  # a setting of the stage (relative to RUN_DIR when inside it, so `medvl run` matches)
    with progress_bar(f"export ({pairs})") as advance:
        res = run_stage(run_dir, "export", settings, force=force, progress=advance)
    rel = res.outputs[pairs]
    data = Path(rel) if Path(rel).is_absolute() else run_path / rel
    stage_news("export", res, ("exports", "exported"), rel)
    man = read_manifest(data)
    splits = man.get("splits", {})
    rows = ", ".join(f"{k} {splits[k].get('rows', 0)} ({splits[k].get('papers', 0)} papers)" for k in SPLITS
                     if k in splits)
    stdout.print(f"exported {man.get('total_rows', 0)} pairs -> {data}: {rows}")
    reasons = man.get("rejects") or {}
    console.print(f"rejects: {sum(reasons.values())} ({', '.join(f'{k} {v}' for k, v in reasons.items()) or 'none'})")
    if man.get("moved_papers"):
        console.print(f"[yellow]note[/]: {len(man['moved_papers'])} paper(s) moved so that no split is empty")
