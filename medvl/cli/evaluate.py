"""`medvl eval CHECKPOINT DATA_DIR` and `medvl eval compare --raw A --aligned B DATA_DIR`."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from medvl.cli import app
from medvl.cli.common import DefaultRun

eval_app = typer.Typer(cls=DefaultRun, no_args_is_help=True,
                       help="Evaluate CLIP checkpoints: retrieval and zero-shot (`medvl eval CKPT DATA_DIR`), "
                            "raw vs aligned (`medvl eval compare`).")
app.add_typer(eval_app, name="eval")


def _suite(value: str) -> Optional[str]:
    return None if value.lower() in ("", "none") else value


def _settings(suite: str, split: str, device: str, batch_size: int, threads: Optional[int],
              neighbours_k: int) -> dict:
    return {"suite": _suite(suite), "split": split, "device": device, "batch_size": batch_size, "threads": threads,
            "neighbours_k": neighbours_k}


def _in_run(data_dir: Path, **checkpoints: Path) -> Optional[Path]:
    """The run whose train stage made these checkpoints (by variant) and whose export made DATA_DIR (aligned:
    the test set), or None."""
    from medvl.one_stage import export_run_of, trained_variant

    found = export_run_of(data_dir)
    if not found or found[1] != "aligned":
        return None
    ok = all(trained_variant(found[0], ckpt) == variant for variant, ckpt in checkpoints.items())
    return found[0] if ok else None


def _evaluated(run_dir: Path, settings: dict, force: bool, what: str):
    """Run the eval stage; say whether it was done before or why it was done again; the stage's outputs."""
    from medvl.cli.common import progress_bar, stage_news
    from medvl.one_stage import run_stage

    with progress_bar(what) as advance:
        res = run_stage(run_dir, "eval", settings, force=force, progress=advance)
    stage_news("eval", res, ("evaluates", "evaluated"))
    return {k: Path(run_dir).resolve() / v for k, v in res.outputs.items()}


_ENGINE_HELP = ("This is the eval stage of `medvl run` (the same engine, settings, fingerprint and done marker). "
                "Checkpoints that a run's train stage made, with that run's aligned export as DATA_DIR, are "
                "evaluated as that run's eval stage (into RUN_DIR/eval unless --out), so `medvl run` reuses it "
                "and `medvl status RUN_DIR` shows it; other checkpoints or data are the stage's settings "
                "checkpoints and data_dir, with the --out folder as the run directory. A rerun with the same "
                "settings and inputs evaluates nothing, a changed setting or input evaluates again and says why. "
                "Exit code: 0 when evaluated (or already done), 2 on usage or fatal errors.")


@eval_app.command("run", help="Retrieval recall@1/5/10, mean/median rank and zero-shot accuracy on one split.\n\n"
                  + _ENGINE_HELP)
def eval_run(
    checkpoint: Path = typer.Argument(..., help="Checkpoint file, or a `medvl train` output folder."),
    data_dir: Path = typer.Argument(..., help="Exported data folder."),
    suite: str = typer.Option("brain", "--suite", help="Zero-shot suite: YAML path or name in eval/suites ('none': skip)."),
    split: str = typer.Option("test", "--split"),
    out: Optional[Path] = typer.Option(None, "--out", help="Where metrics.json/.md go (default: RUN_DIR/eval/<variant> "
                                       "in a run, else CHECKPOINT's eval-<split>/)."),
    model: Optional[str] = typer.Option(None, "--model", help="Architecture, when no medvl_train.json is beside the checkpoint."),
    device: str = typer.Option("cpu", "--device"),
    batch_size: int = typer.Option(64, "--batch-size", min=1),
    threads: Optional[int] = typer.Option(None, "--threads", min=1, help="CPU threads (torch.set_num_threads)."),
    neighbours_k: int = typer.Option(5, "--neighbours-k", min=0,
                                     help="Top-k captions per test image to OUT/neighbours.jsonl (for "
                                          "`medvl judge --what retrieval`); 0: none."),
    label: Optional[str] = typer.Option(None, "--label", help="Model name in neighbours.jsonl "
                                                               "(default: the train folder's name)."),
    force: bool = typer.Option(False, "--force", help="Evaluate again even when done with the same settings and inputs."),
) -> None:
    import json

    from medvl.cli.common import console
    from medvl.evaluate import model_label, resolve_checkpoint
    from medvl.one_stage import run_relative, stage_outputs, trained_variant

    resolve_checkpoint(checkpoint)  # a missing checkpoint fails here, before any folder is made
    settings = {**_settings(suite, split, device, batch_size, threads, neighbours_k), "model": model}
    run_dir = _in_run(data_dir)
    variant = trained_variant(run_dir, checkpoint) if run_dir else None
    if variant:  # the run's eval stage, for this model
        if list(stage_outputs(run_dir, "train")) != [variant]:
            settings["models"] = [variant]
        if label and label != variant:
            settings["label"] = label
        if out is not None and (rel := run_relative(out, run_dir)) != f"eval/{label or variant}":
            settings["out"] = rel
    else:  # a checkpoint or data of no run: the output folder is the run directory
        if out is None:
            base = checkpoint if checkpoint.is_dir() else checkpoint.parent
            if base.name == "checkpoints":  # a medvl train folder: OUT/eval-<split>
                base = base.parent
            out = base / f"eval-{split}"
        run_dir = out
        settings.update(checkpoints={label or model_label(checkpoint): str(checkpoint.resolve())},
                        data_dir=str(data_dir.resolve()), out=".")
    outputs = _evaluated(run_dir, settings, force, "eval")
    m = json.loads(outputs["metrics"].read_text(encoding="utf-8"))
    typer.echo(outputs["metrics"].with_suffix(".md").read_text(encoding="utf-8"))  # the table, as written
    console.print(f"[green]wrote[/] {outputs['metrics']}, metrics.md" + (", neighbours.jsonl" if neighbours_k else ""))
    if m["data"]["n_rejected"]:
        console.print(f"[yellow]{m['data']['n_rejected']} pairs rejected[/] "
                      f"(see {outputs['metrics'].parent / 'rejects.jsonl'})")


@eval_app.command("compare", help="Evaluate the raw-pairs and aligned-pairs models on the same test set and print "
                  "the table.\n\n" + _ENGINE_HELP)
def eval_compare(
    data_dir: Path = typer.Argument(..., help="The ALIGNED export: its test split is the panel-level test set."),
    raw: Path = typer.Option(..., "--raw", help="Checkpoint (or train folder) of the raw-pairs model."),
    aligned: Path = typer.Option(..., "--aligned", help="Checkpoint (or train folder) of the aligned-pairs model."),
    suite: str = typer.Option("brain", "--suite"),
    split: str = typer.Option("test", "--split"),
    out: Optional[Path] = typer.Option(None, "--out", help="Folder of compare.json, raw/, aligned/ (default: RUN_DIR/eval "
                                       "in a run, else runs/compare)."),
    device: str = typer.Option("cpu", "--device"),
    batch_size: int = typer.Option(64, "--batch-size", min=1),
    threads: Optional[int] = typer.Option(None, "--threads", min=1, help="CPU threads (torch.set_num_threads)."),
    neighbours_k: int = typer.Option(5, "--neighbours-k", min=0,
                                     help="Top-k captions per test image and model to OUT/neighbours.jsonl; 0: none."),
    force: bool = typer.Option(False, "--force", help="Evaluate again even when done with the same settings and inputs."),
) -> None:
    from medvl.cli.common import console
    from medvl.evaluate import resolve_checkpoint
    from medvl.one_stage import run_relative

    for ckpt in (raw, aligned):
        resolve_checkpoint(ckpt)  # a missing checkpoint fails here, before any folder is made
    settings = _settings(suite, split, device, batch_size, threads, neighbours_k)
    run_dir = _in_run(data_dir, raw=raw, aligned=aligned)
    if run_dir:  # the run's eval stage, both of its models
        if out is not None and (rel := run_relative(out, run_dir)) != "eval":
            settings["out"] = rel
    else:
        run_dir = out or Path("runs/compare")
        settings.update(checkpoints={"raw": str(raw.resolve()), "aligned": str(aligned.resolve())},
                        data_dir=str(data_dir.resolve()), out=".")
    outputs = _evaluated(run_dir, settings, force, "compare")
    typer.echo(outputs["compare"].with_suffix(".md").read_text(encoding="utf-8"))  # the table, as written
    console.print(f"[green]wrote[/] {outputs['compare']}, compare.md, "
                  + ("neighbours.jsonl, " if neighbours_k else "") + "raw/ and aligned/")
