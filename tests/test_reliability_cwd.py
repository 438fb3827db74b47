"""Workers never import from the current folder (issue 13, case 6).

Before: `medvl run` started from a folder holding a ``medvl/`` directory (a checkout, a data folder named
after the tool) failed its split stage with ``ImportError: cannot import name '__version__'``: the
forkserver that starts the workers is a ``python -c`` process, which puts the current folder first on
its import path.  After: workers import medvl from where the `medvl` command did.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


REPO = Path(__file__).resolve().parents[1]
SCRIPT = Path(sys.executable).with_name("medvl")  # the installed console script, as users run it


@pytest.mark.slow
@pytest.mark.skipif(not SCRIPT.exists(), reason=f"no medvl console script beside {sys.executable}")
def test_medvl_run_from_a_folder_that_holds_a_medvl_directory(tmp_path):
    from medvl.synth import generate_corpus

    generate_corpus(tmp_path / "corpus", papers=3, seed=2, dpi=72)
    here = tmp_path / "work"
    (here / "medvl").mkdir(parents=True)  # e.g. a data folder named after the tool, or a stale checkout
    (here / "medvl" / "__init__.py").write_text(
        'raise ImportError("the medvl/ folder of the current directory was imported")\n')
    p = subprocess.run([str(SCRIPT), "run", "--pdfs", str(tmp_path / "corpus" / "papers"), "-o", "run",
                        "-s", "parse,split,align", "-w", "2", "-q"], cwd=here, capture_output=True, text=True,
                       timeout=300, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    figures = (here / "run" / "figures.jsonl").read_text().splitlines()
    rows = [json.loads(x) for x in (here / "run" / "subcaptions.jsonl").read_text().splitlines()]
    assert figures and len(rows) == len(figures)  # every figure was split by a worker
    assert "current directory was imported" not in p.stdout + p.stderr
