"""Shared CLI helpers: consoles, progress bars, error reporting."""

from __future__ import annotations

import sys
from contextlib import contextmanager
from typing import Iterator

import typer
from rich.console import Console
from typer.core import TyperGroup
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from medvl.errors import MedvlError

console = Console(stderr=True)
out = Console()


class DefaultRun(TyperGroup):
    """A command group where `medvl GROUP X ...` means `medvl GROUP run X ...` unless X names a subcommand
    (`medvl eval CKPT DATA`, `medvl tag RUN_DIR`)."""

    def parse_args(self, ctx, args):
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["run", *args]
        return super().parse_args(ctx, args)


def run_app(app: typer.Typer) -> None:
    try:
        app()
    except MedvlError as exc:
        console.print(f"[bold red]error:[/] {exc}")
        sys.exit(2)


@contextmanager
def progress_bar(description: str, total: int | None = None, disable: bool = False) -> Iterator:
    """Yield a ProgressFn-compatible callback that drives a rich progress bar on stderr."""
    prog = Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
        TimeElapsedColumn(), TimeRemainingColumn(), TextColumn("{task.fields[note]}"),
        console=console, disable=disable or not console.is_terminal, transient=False,
    )
    with prog:
        task = prog.add_task(description, total=total, note="")

        def advance(n: int = 1, *, total: int | None = None, note: str = "") -> None:
            if total is not None:
                prog.update(task, total=total)
            prog.update(task, advance=n, note=note)

        yield advance


def report_rejects(rejects: list[dict], stage: str) -> None:
    for r in rejects:
        src = r.get("source") or r.get("id") or "?"
        console.print(f"[yellow]rejected[/] ({stage}) {src}: {r.get('detail') or r.get('reason')}")


def stage_news(stage: str, res, again: tuple[str, str], where: object = "") -> None:
    """What a stage command run by the engine did: 'export: already done with the same settings and
    inputs (DATA); --force exports again', or 'export: exported again: settings changed: split' (the words
    of `medvl status`); nothing when it ran for the first time.  `again`: ('exports', 'exported')."""
    if not res.ran:
        console.print(f"{stage}: already done with the same settings and inputs{f' ({where})' if where else ''}; "
                      f"--force {again[0]} again")
    elif (why := next(iter(res.redone), "")) and why != "not done before":
        console.print(f"{stage}: {again[1]} again: {why}")
