# medvl: one entry point.  `make demo` sets up and runs the whole flow on a built-in
# synthetic corpus; `make test` sets up and runs every test (unit + integration,
# including a real vLLM server on the CPU); `make bench` runs the benchmarks.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEMO_OUT ?= runs/demo
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: setup sysdeps venv llm-setup demo demo-llm test test-fast bench clean

## Debian packages (tesseract-ocr, poppler-utils, chromium), installed when missing.
sysdeps:
	@bash scripts/sysdeps.sh

$(BIN)/.medvl-installed: pyproject.toml
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[all]'
	@touch $@

## The main virtual environment at .venv with every extra.
venv: $(BIN)/.medvl-installed

setup: sysdeps venv

## vLLM (CPU build) in its own venv (.venv-vllm) and the SmolLM2-135M test model, converted once.
llm-setup: venv
	@bash scripts/llm_server.sh setup

demo: setup
	$(BIN)/medvl run --demo --out $(DEMO_OUT)

## The LLM stages (span splitter, LLM aligner, judge) on a small synthetic corpus: starts the local CPU
## vLLM server on DEMO_LLM_PORT (18790), runs configs/demo-llm.yaml against it, stops the server.
demo-llm: setup llm-setup
	@bash scripts/demo_llm.sh

## Whole suite: starts the local vLLM server, runs pytest, stops the server.
test: setup llm-setup
	@bash scripts/test.sh

## Unit tests only (no LLM server).
test-fast: setup
	$(BIN)/python -m pytest -q -m "not llm" tests

bench: setup llm-setup
	@bash scripts/bench.sh

clean:
	rm -rf $(VENV) .venv-vllm .cache runs
