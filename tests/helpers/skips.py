"""The CI skip gate: with MEDVL_FAIL_ON_SKIP=1 (scripts/test.sh) a skip that no line of the expected list
matches fails the session, so a broken import or a missing tool cannot hide behind a quiet "s".

Each line of the list is a regular expression searched in ``NODE_ID: REASON``, so it can name the reason
only (``tesseract``) or pin the test too (``^tests/test_parse\\.py::test_ocr: tesseract``).  Skips of a
whole module at collection (a module-level ``pytest.importorskip``) count like skips of a test.
Registered by tests/conftest.py.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest


def read_patterns(path: Path) -> list[re.Pattern]:
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    out = []
    for n, line in enumerate((x.strip() for x in lines), 1):
        if not line or line.startswith("#"):
            continue
        try:
            out.append(re.compile(line))
        except re.error as exc:
            raise pytest.UsageError(f"{path}:{n}: not a regular expression ({exc}): {line!r}") from exc
    return out


def skip_reason(report) -> str:
    longrepr = report.longrepr
    text = longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(longrepr)
    return str(text).removeprefix("Skipped: ")


def unexpected_skips(skipped: list[tuple[str, str]], patterns: list[re.Pattern]) -> list[tuple[str, str]]:
    return [(node, why) for node, why in skipped if not any(p.search(f"{node}: {why}") for p in patterns)]


class SkipGate:
    def __init__(self, expected: Path):
        self.expected = expected
        self.patterns = read_patterns(expected)
        self.skipped: list[tuple[str, str]] = []

    def _note(self, report) -> None:
        if report.skipped and not hasattr(report, "wasxfail"):
            self.skipped.append((report.nodeid, skip_reason(report)))

    def pytest_runtest_logreport(self, report) -> None:
        self._note(report)

    def pytest_collectreport(self, report) -> None:
        self._note(report)

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        bad = unexpected_skips(self.skipped, self.patterns)
        if not bad:
            return
        tr = session.config.pluginmanager.get_plugin("terminalreporter")
        if tr is not None:
            tr.line("")  # after the progress line
            tr.write_line(f"{len(bad)} unexpected skip(s) (MEDVL_FAIL_ON_SKIP=1; expected ones are listed in "
                          f"{self.expected.name}):", red=True)
            for node, why in bad:
                tr.write_line(f"  {node}: {why}", red=True)
        if exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED


def register(config: pytest.Config, expected: Path) -> None:
    if os.environ.get("MEDVL_FAIL_ON_SKIP") == "1":
        config.pluginmanager.register(SkipGate(expected), "medvl-skip-gate")
