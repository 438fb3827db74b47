"""The CI skip gate (tests/conftest.py): an unexpected skip fails the session, an expected one does not."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

from conftest import unexpected_skips

ROOT = Path(__file__).resolve().parent.parent


def test_unexpected_skips_are_those_no_pattern_matches():
    skipped = [("a", "tesseract not installed"), ("b", "module medvl.parse not found")]
    assert unexpected_skips(skipped, [re.compile("tesseract")]) == [("b", "module medvl.parse not found")]
    assert unexpected_skips(skipped, []) == skipped


def test_a_session_with_an_unexpected_skip_fails_under_the_gate(tmp_path):
    (tmp_path / "conftest.py").write_text((ROOT / "tests" / "conftest.py").read_text())
    (tmp_path / "expected_skips.txt").write_text("# none\nknown optional tool\n")
    (tmp_path / "test_x.py").write_text(textwrap.dedent('''
        import pytest
        def test_ok():
            assert True
        def test_expected():
            pytest.skip("known optional tool is absent")
        def test_hidden():
            pytest.skip("a broken import")
    '''))

    def run(gate: bool) -> subprocess.CompletedProcess:
        env = {k: v for k, v in os.environ.items() if k != "MEDVL_FAIL_ON_SKIP"}
        if gate:
            env["MEDVL_FAIL_ON_SKIP"] = "1"
        return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
                              cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)

    assert run(gate=False).returncode == 0
    gated = run(gate=True)
    assert gated.returncode == 1, gated.stdout
    assert "1 unexpected skip(s)" in gated.stdout and "a broken import" in gated.stdout
    assert "known optional tool" not in gated.stdout.split("unexpected skip(s)")[1]
