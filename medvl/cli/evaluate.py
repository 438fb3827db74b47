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


@eval_app.command("run")
def eval_run(
    checkpoint: Path = typer.Argument(..., help="Checkpoint file, or a `medvl train` output folder."),
    data_dir: Path = typer.Argument(..., help="Exported data folder."),
    suite: str = typer.Option("brain", "--suite", help="Zero-shot suite: YAML path or name in eval/suites ('none': skip)."),
    split: str = typer.Option("test", "--split"),
    out: Optional[Path] = typer.Option(None, "--out", help="Where metrics.json/.md go (default: CHECKPOINT's eval-<split>/)."),
    model: Optional[str] = typer.Option(None, "--model", help="Architecture, when no medvl_train.json is beside the checkpoint."),
    device: str = typer.Option("cpu", "--device"),
    batch_size: int = typer.Option(64, "--batch-size", min=1),
    threads: Optional[int] = typer.Option(None, "--threads", min=1, help="CPU threads (torch.set_num_threads)."),
    neighbours_k: int = typer.Option(5, "--neighbours-k", min=0,
                                     help="Top-k captions per test image to OUT/neighbours.jsonl (for "
                                          "`medvl judge --what retrieval`); 0: none."),
    label: Optional[str] = typer.Option(None, "--label", help="Model name in neighbours.jsonl "
                                                               "(default: the train folder's name)."),
) -> None:
    """Retrieval recall@1/5/10, mean/median rank and zero-shot accuracy on one split."""
    from medvl.cli.common import console, progress_bar
    from medvl.evaluate import evaluate, markdown

    if out is None:
        base = checkpoint if checkpoint.is_dir() else checkpoint.parent
        if base.name == "checkpoints":  # a medvl train folder: OUT/eval-<split>
            base = base.parent
        out = base / f"eval-{split}"
    with progress_bar("eval") as advance:
        m = evaluate(checkpoint, data_dir, suite=_suite(suite), split=split, out=out, model=model, device=device,
                     batch_size=batch_size, progress=advance, threads=threads, neighbours_k=neighbours_k,
                     label=label)
    typer.echo(markdown(m))
    console.print(f"[green]wrote[/] {out / 'metrics.json'}, metrics.md"
                  + (", neighbours.jsonl" if neighbours_k else ""))
    if m["data"]["n_rejected"]:
        console.print(f"[yellow]{m['data']['n_rejected']} pairs rejected[/] (see {out / 'rejects.jsonl'})")


@eval_app.command("compare")
def eval_compare(
    data_dir: Path = typer.Argument(..., help="The ALIGNED export: its test split is the panel-level test set."),
    raw: Path = typer.Option(..., "--raw", help="Checkpoint (or train folder) of the raw-pairs model."),
    aligned: Path = typer.Option(..., "--aligned", help="Checkpoint (or train folder) of the aligned-pairs model."),
    suite: str = typer.Option("brain", "--suite"),
    split: str = typer.Option("test", "--split"),
    out: Path = typer.Option(Path("runs/compare"), "--out"),
    device: str = typer.Option("cpu", "--device"),
    batch_size: int = typer.Option(64, "--batch-size", min=1),
    threads: Optional[int] = typer.Option(None, "--threads", min=1, help="CPU threads (torch.set_num_threads)."),
    neighbours_k: int = typer.Option(5, "--neighbours-k", min=0,
                                     help="Top-k captions per test image and model to OUT/neighbours.jsonl; 0: none."),
) -> None:
    """Evaluate the raw-pairs and aligned-pairs models on the same test set and print the table."""
    from medvl.cli.common import console, progress_bar
    from medvl.evaluate.compare import compare, markdown

    with progress_bar("compare") as advance:
        cmp = compare(raw, aligned, data_dir, suite=_suite(suite), split=split, out=out, device=device,
                      batch_size=batch_size, progress=advance, threads=threads, neighbours_k=neighbours_k)
    typer.echo(markdown(cmp))
    console.print(f"[green]wrote[/] {out / 'compare.json'}, compare.md, "
                  + ("neighbours.jsonl, " if neighbours_k else "") + "raw/ and aligned/")
