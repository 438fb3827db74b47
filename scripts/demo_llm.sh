#!/usr/bin/env bash
# make demo-llm: the demo's LLM stages against a local CPU vLLM server started for it and stopped after.
#   DEMO_LLM_PORT (default 18790), DEMO_LLM_OUT (default runs/demo-llm),
#   DEMO_LLM_SERVER_ARGS (more `scripts/llm_server.sh start` arguments, e.g. --python /path/to/vllm/bin/python)
set -euo pipefail
cd "$(dirname "$0")/.."
PORT="${DEMO_LLM_PORT:-18790}"
OUT="${DEMO_LLM_OUT:-runs/demo-llm}"
BIN="${MEDVL_BIN:-.venv/bin}"
# shellcheck disable=SC2086  # DEMO_LLM_SERVER_ARGS is a list of words
bash scripts/llm_server.sh start --port "$PORT" ${DEMO_LLM_SERVER_ARGS:-}
trap 'bash scripts/llm_server.sh stop --port "$PORT"' EXIT
"$BIN/medvl" run configs/demo-llm.yaml --out "$OUT" --llm-url "http://127.0.0.1:$PORT/v1" --llm-model smollm2-135m
