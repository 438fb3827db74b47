"""The CI skip gate (tests/helpers/skips.py, registered by tests/conftest.py): an unexpected skip fails the
session, an expected one does not; a module skipped at collection counts too."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.helpers.skips import read_patterns, unexpected_skips

ROOT = Path(__file__).resolve().parent.parent


def test_unexpected_skips_are_those_no_pattern_matches():
    skipped = [("a", "tesseract not installed"), ("b", "module medvl.parse not found")]
    assert unexpected_skips(skipped, [re.compile("tesseract")]) == [("b", "module medvl.parse not found")]
    assert unexpected_skips(skipped, []) == skipped
    # a line can pin the test as well as the reason
    assert unexpected_skips(skipped, [re.compile(r"^b: module")]) == [("a", "tesseract not installed")]
    assert unexpected_skips(skipped, [re.compile(r"^a: module")]) == skipped


def test_the_committed_list_reads_and_a_bad_line_names_itself(tmp_path):
    read_patterns(ROOT / "tests" / "expected_skips.txt")
    (tmp_path / "e.txt").write_text("# fine\nok\n(unclosed\n")
    with pytest.raises(pytest.UsageError, match=r"e.txt:3: not a regular expression"):
        read_patterns(tmp_path / "e.txt")


@pytest.mark.slow
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
        @pytest.mark.xfail(reason="known bug")
        def test_known():
            assert False
    '''))
    (tmp_path / "test_mod.py").write_text("import pytest\npytest.importorskip('no_such_module_medvl')\n")

    def run(gate: bool) -> subprocess.CompletedProcess:
        env = {k: v for k, v in os.environ.items() if k != "MEDVL_FAIL_ON_SKIP"}
        env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
        if gate:
            env["MEDVL_FAIL_ON_SKIP"] = "1"
        return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
                              cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)

    assert run(gate=False).returncode == 0
    gated = run(gate=True)
    assert gated.returncode == 1, gated.stdout
    assert "2 unexpected skip(s)" in gated.stdout and "a broken import" in gated.stdout, gated.stdout
    assert "test_mod.py: could not import 'no_such_module_medvl'" in gated.stdout  # skipped at collection
    after = gated.stdout.split("unexpected skip(s)")[1]
    assert "known optional tool" not in after and "known bug" not in after
