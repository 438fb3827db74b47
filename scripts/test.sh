#!/usr/bin/env bash
# The whole test suite: start a real vLLM OpenAI-compatible server on the CPU (SmolLM2-135M),
# run pytest against it, stop the server whatever happens.
set -euo pipefail
cd "$(dirname "$0")/.."
port="${MEDVL_TEST_LLM_PORT:-18765}"
bash scripts/llm_server.sh start --port "$port"
trap 'bash scripts/llm_server.sh stop --port "$port"' EXIT
export MEDVL_TEST_LLM_URL="http://127.0.0.1:${port}/v1"
export MEDVL_TEST_LLM_MODEL="${MEDVL_TEST_LLM_MODEL:-smollm2-135m}"
# any skip not listed in tests/expected_skips.txt fails the run (tests/conftest.py)
export MEDVL_FAIL_ON_SKIP=1
.venv/bin/python -m pytest -q -ra tests "$@"
