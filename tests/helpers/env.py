"""Where the tests find what lies outside the repository: the shared data folder and the LLM server."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
# real third-party data (corpus, gold legends), beside the repository; never committed
SHARED_DIR = Path(os.environ.get("MEDVL_SHARED") or REPO.parent / "shared")
CORPUS = SHARED_DIR / "corpus"

# the real local OpenAI-compatible server (scripts/test.sh starts one and sets both)
LLM_URL = os.environ.get("MEDVL_TEST_LLM_URL")
LLM_MODEL = os.environ.get("MEDVL_TEST_LLM_MODEL", "smollm2-135m")
NO_LLM = "MEDVL_TEST_LLM_URL is not set"
needs_llm = pytest.mark.skipif(not LLM_URL, reason=NO_LLM)
