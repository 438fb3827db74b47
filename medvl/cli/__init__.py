"""The `medvl` command line: one subcommand per stage, plus run, status and prompts.

Each stage's commands live in their own module (medvl/cli/<stage>.py) and register on `app`.
Heavy imports (torch, open_clip, instructor) happen inside the command functions, so
`medvl --help` and the core stages work without the optional extras.
"""

from __future__ import annotations

import importlib

import typer

app = typer.Typer(
    name="medvl",
    help="Turn biomedical papers into vision-language training data and CLIP models.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

_COMMAND_MODULES = [
    "collect",
    "parse",
    "synth",
    "split",
    "prompts",
    "align",
    "tag",
    "export",
    "train",
    "evaluate",
    "judge",
    "report",
    "run",
    "llm",
]



@app.callback()
def _root() -> None:
    """medvl: papers -> figures, captions, panels -> subcaptions -> image-text pairs -> CLIP models."""


for _name in _COMMAND_MODULES:
    try:
        importlib.import_module(f"medvl.cli.{_name}")
    except ModuleNotFoundError as _exc:
        if _exc.name != f"medvl.cli.{_name}":
            raise


@app.command("version")
def version() -> None:
    """Print medvl's version."""
    from medvl import __version__

    typer.echo(__version__)


def main() -> None:
    from medvl.cli.common import run_app

    run_app(app)
