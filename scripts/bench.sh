#!/usr/bin/env bash
# Every benchmark, one after another; each prints its own figures.  Benchmarks that need the
# development corpus (../shared/corpus) say so and skip that part when it is absent.  The LLM part
# of the split benchmark runs against a local vLLM server started here and stopped at the end.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
port="${MEDVL_BENCH_LLM_PORT:-18766}"
status=0
run() { echo; echo "=== $*"; "$@" || { echo "(failed: $*)"; status=1; }; }

run $PY benchmarks/parse_corpus.py
run $PY benchmarks/panels.py
run $PY benchmarks/split.py --gold eval/gold/dev.jsonl
run $PY benchmarks/split.py --gold eval/gold/heldout.jsonl
run $PY benchmarks/align_synth.py --papers 20 --seed 0
[ -f benchmarks/train_eval.py ] && run $PY benchmarks/train_eval.py
run $PY benchmarks/collect.py
run $PY benchmarks/scale.py
if bash scripts/llm_server.sh start --port "$port"; then
  run $PY benchmarks/split.py --llm-url "http://127.0.0.1:${port}/v1" --n 8 --concurrency 8 \
      --prompt split/fewshot@1,split/zeroshot@1 --only llm
  bash scripts/llm_server.sh stop --port "$port"
fi
exit $status
