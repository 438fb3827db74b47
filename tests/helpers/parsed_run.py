"""A run directory of synthetic papers parsed by `medvl run --stages parse`, made once per test module and
copied by each test, and the done markers of a stage (to tell which units a command did again)."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from medvl.cli import app


def parsed_template(root: Path, *, papers: int, seed: int) -> tuple[Path, Path]:
    """(run config, parsed run directory) under `root`: `papers` synthetic papers of `seed` at 72 dpi; the
    config parses them at 60 dpi without OCR and has split and align with their default settings."""
    from medvl.synth import generate_corpus

    generate_corpus(root / "corpus", papers=papers, seed=seed, dpi=72)
    cfg = root / "run.json"
    cfg.write_text(json.dumps({"inputs": {"pdfs": str(root / "corpus" / "papers")}, "executor": {"kind": "inline"},
                               "stages": {"parse": {"dpi": 60, "ocr": "never"}, "split": {}, "align": {}}}))
    template = root / "template"
    r = CliRunner().invoke(app, ["run", str(cfg), "--out", str(template), "--stages", "parse", "-q"])
    assert r.exit_code == 0, r.output
    return cfg, template


def done_markers(run: Path, stage: str) -> dict[str, int]:
    """Done marker name -> its mtime (ns): a unit done again has a new one."""
    return {p.name: p.stat().st_mtime_ns for p in (run / ".parts" / stage).glob("*.done")}
