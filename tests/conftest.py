"""Shared fixtures, and the CI skip gate (tests/helpers/skips.py).

CI (scripts/test.sh) sets MEDVL_FAIL_ON_SKIP=1: then any skipped test whose node id and reason match no
line of tests/expected_skips.txt fails the session.  (`pytest.importorskip` is for optional extras only,
never for medvl's own modules or its core dependencies.)
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import skips
from tests.helpers.env import CORPUS

EXPECTED_SKIPS = Path(__file__).with_name("expected_skips.txt")


def pytest_configure(config: pytest.Config) -> None:
    skips.register(config, EXPECTED_SKIPS)


@pytest.fixture
def corpus_dir() -> Path:
    """The real third-party corpus beside the repository (../shared/corpus); skips when it is absent."""
    if not CORPUS.is_dir():
        pytest.skip(f"{CORPUS} absent (the shared folder sits beside the repository)")
    return CORPUS
