"""Temp folders and files are removed on resume; outputs get the usual modes (issue 13, cases 5 and 7).

Each kill test runs the real CLI in a child process whose ``os.replace`` waits (after announcing itself
in a marker file) at the moment named, so the SIGKILL lands at a known point with the temp on disk:

* export: the new dataset is complete in ``export/.aligned.tmp-PID-*/``, about to be swapped in;
* parse: an image is written to ``images/<paper>/.NAME.PID.tmp``, about to be renamed.

Then the same command again (nothing patched) must leave no temp behind.  Before: the export temp
(``export/.aligned.<random>/``) stayed through every later resume.  Also: the exported dataset folder
had mode 0700 (tempfile.mkdtemp's); now it has the umask's mode like every other output.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest


REPO = Path(__file__).resolve().parents[1]

# a child `medvl ...` whose os.replace stops (for the kill) when MATCH is in the destination or source
WRAPPER = """
import os, sys, time
match, marker = os.environ["MEDVL_TEST_STOP_AT"], os.environ["MEDVL_TEST_MARKER"]
real = os.replace
def replace(src, dst, *a, **k):
    if match in os.fsdecode(src) or os.path.basename(os.fsdecode(dst)) == match:
        open(marker, "w").write(os.fsdecode(src))
        time.sleep(120)
    return real(src, dst, *a, **k)
os.replace = replace
from medvl.cli import main
sys.argv = ["medvl"] + sys.argv[1:]
main()
"""


def medvl(*args: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "medvl", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, "PYTHONPATH": str(REPO)})


def kill_at(args: list[str], stop_at: str, tmp_path: Path) -> str:
    """Run `medvl ARGS` until os.replace reaches `stop_at`, SIGKILL it there; returns the temp path."""
    marker = tmp_path / "reached"
    marker.unlink(missing_ok=True)
    env = {**os.environ, "PYTHONPATH": str(REPO), "MEDVL_TEST_STOP_AT": stop_at, "MEDVL_TEST_MARKER": str(marker)}
    proc = subprocess.Popen([sys.executable, "-c", WRAPPER, *args], cwd=tmp_path, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    try:
        deadline = time.monotonic() + 240
        while not marker.exists() or not marker.read_text():
            if proc.poll() is not None:
                raise AssertionError(f"finished before the kill point: {proc.stderr.read().decode()[-2000:]}")
            if time.monotonic() > deadline:
                raise AssertionError("the kill point was never reached")
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    return marker.read_text()


def temps(root: Path) -> list[Path]:
    return [p for p in root.rglob(".*") if ".tmp" in p.name or p.name.startswith((".aligned.", ".raw."))]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    from medvl.synth import generate_corpus

    root = tmp_path_factory.mktemp("tempcorpus")
    generate_corpus(root, papers=4, seed=5, dpi=72)
    return root / "papers"


@pytest.mark.slow
def test_sigkill_during_export_leaves_no_temp_after_the_resume(corpus, tmp_path):
    run = tmp_path / "run"
    p = medvl("run", "--pdfs", str(corpus), "-o", str(run), "-s", "parse,split,align", "-w", "2", "-q", cwd=tmp_path)
    assert p.returncode == 0, p.stdout + p.stderr
    out = run / "export" / "aligned"
    first = kill_at(["export", str(run), "-o", str(out)], "aligned", tmp_path)
    left = temps(run / "export")
    assert left and Path(first) in left, "the kill left no temp: nothing was tested"
    assert not out.exists()

    p = medvl("export", str(run), "-o", str(out), cwd=tmp_path)  # the same command again
    assert p.returncode == 0, p.stdout + p.stderr
    assert temps(run / "export") == []
    assert (out / "manifest.json").exists()
    # a second kill, now with a dataset in place: the old one stays readable, the temp goes on the resume
    # (--force: the same settings and inputs would reuse the export, and there would be nothing to kill)
    kill_at(["export", str(run), "-o", str(out), "--force"], "aligned", tmp_path)
    assert temps(run / "export") and (out / "manifest.json").exists()
    assert medvl("export", str(run), "-o", str(out), cwd=tmp_path).returncode == 0
    assert temps(run / "export") == []


@pytest.mark.slow
def test_sigkill_during_image_writes_leaves_no_temp_after_the_resume(corpus, tmp_path):
    ref = tmp_path / "ref"
    assert medvl("parse", str(corpus), "-o", str(ref), cwd=tmp_path).returncode == 0
    run = tmp_path / "run"
    first = kill_at(["parse", str(corpus), "-o", str(run)], "/images/", tmp_path)
    assert first.endswith(".tmp") and Path(first).exists(), "no image temp at the kill: nothing was tested"

    p = medvl("parse", str(corpus), "-o", str(run), cwd=tmp_path)  # the resume
    assert p.returncode == 0, p.stdout + p.stderr
    assert temps(run) == []
    rows = lambda d: sorted(json.loads(x)["figure_id"] for x in (d / "figures.jsonl").read_text().splitlines())  # noqa: E731
    assert rows(run) == rows(ref)
    assert sorted(p.relative_to(run) for p in (run / "images").rglob("*.png")) == \
        sorted(p.relative_to(ref) for p in (ref / "images").rglob("*.png"))


def test_exported_dataset_folder_has_the_usual_mode(corpus, tmp_path):
    from medvl.export import ExportSettings, export_run
    from medvl.parse import ParseSettings, parse_inputs

    run = tmp_path / "run"
    parse_inputs([corpus], run, ParseSettings(dpi=60, ocr="never"))
    old = os.umask(0o022)
    try:
        out = tmp_path / "data"
        export_run(run, out, ExportSettings(pairs="raw"))
    finally:
        os.umask(old)
    assert stat.S_IMODE(out.stat().st_mode) == 0o755  # was 0700 (mkdtemp's mode)
    for p in out.rglob("*"):
        want = 0o755 if p.is_dir() else 0o644
        assert stat.S_IMODE(p.stat().st_mode) == want, p
