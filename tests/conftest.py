"""Shared test configuration.

CI (scripts/test.sh) sets MEDVL_FAIL_ON_SKIP=1: then any skipped test whose reason matches no line of
tests/expected_skips.txt fails the session, so a broken import or a missing tool cannot hide behind a
skip.  (`pytest.importorskip` is for optional extras only, never for medvl's own modules.)
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

EXPECTED_SKIPS = Path(__file__).with_name("expected_skips.txt")
_skipped: list[tuple[str, str]] = []


def _expected_patterns() -> list[re.Pattern]:
    lines = EXPECTED_SKIPS.read_text(encoding="utf-8").splitlines() if EXPECTED_SKIPS.exists() else []
    return [re.compile(line) for line in (x.strip() for x in lines) if line and not line.startswith("#")]


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped and not hasattr(report, "wasxfail"):
        longrepr = report.longrepr
        reason = longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(longrepr)
        _skipped.append((report.nodeid, str(reason)))


def unexpected_skips(skipped: list[tuple[str, str]], patterns: list[re.Pattern]) -> list[tuple[str, str]]:
    return [(node, why) for node, why in skipped if not any(p.search(why) for p in patterns)]


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if os.environ.get("MEDVL_FAIL_ON_SKIP") != "1":
        return
    bad = unexpected_skips(_skipped, _expected_patterns())
    if bad:
        tr = session.config.pluginmanager.get_plugin("terminalreporter")
        if tr is not None:
            tr.write_line(f"{len(bad)} unexpected skip(s) (MEDVL_FAIL_ON_SKIP=1; expected ones are listed in "
                          f"{EXPECTED_SKIPS.name}):", red=True)
            for node, why in bad:
                tr.write_line(f"  {node}: {why}", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
