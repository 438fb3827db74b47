"""eval's neighbours file (top-k captions per test image) and the retrieval judge that reads it.

A real export of a small run and a real medvl-tiny checkpoint (random weights: nothing is trained,
the file's structure is what is tested).  The llm-marked test runs the retrieval judge on the file
against the real local server (MEDVL_TEST_LLM_URL)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from medvl.evaluate.retrieval import top_neighbours

from tests.helpers.export_run import build_run
from tests.helpers.env import LLM_MODEL, LLM_URL, needs_llm

URL, MODEL = LLM_URL, LLM_MODEL


def _ws(text: str) -> str:
    return " ".join(text.split())


def _lines(p: Path) -> list[dict]:
    return [json.loads(x) for x in p.read_text().splitlines() if x.strip()] if p.is_file() else []


# ---------------------------------------------------------------- top-k by hand

def test_top_neighbours_by_hand():
    q = np.array([[1.0, 0.0], [0.0, 1.0]])
    c = np.array([[1.0, 0.0], [0.6, 0.8], [0.8, 0.6], [0.0, 1.0], [0.8, 0.6]])
    texts = ["a", "b", "c", "d", "C "]  # candidate 4 has candidate 2's text (case and space folded)
    top = top_neighbours(q, c, texts, k=3)
    assert [j for j, _ in top[0]] == [0, 2, 1]  # 4 ties with 2 and has the same text: listed once
    assert [round(s, 6) for _, s in top[0]] == [1.0, 0.8, 0.6]
    assert [j for j, _ in top[1]] == [3, 1, 2]
    # k beyond the distinct texts: every distinct text once; k = 0: nothing
    assert [j for j, _ in top_neighbours(q, c, texts, k=10)[0]] == [0, 2, 1, 3]
    assert top_neighbours(q, c, texts, k=0) == [[], []]
    # features need not be normalised; chunking does not change the answer
    assert top_neighbours(3 * q, 2 * c, texts, k=2, chunk=1) == top_neighbours(q, c, texts, k=2)


# ---------------------------------------------------------------- a run, its export, a checkpoint

def _checkpoint(folder: Path) -> Path:
    """A medvl train folder holding an untrained medvl-tiny checkpoint (open_clip's format)."""
    import open_clip
    import torch

    from medvl.train import register_models

    register_models()
    torch.manual_seed(0)
    model = open_clip.create_model("medvl-tiny")
    (folder / "checkpoints").mkdir(parents=True)
    torch.save({"epoch": 1, "name": "untrained", "state_dict": model.state_dict()},
               folder / "checkpoints" / "epoch_1.pt")
    (folder / "medvl_train.json").write_text(json.dumps({"model": "medvl-tiny"}))
    return folder


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """RUN_DIR with pairs.jsonl + figures.jsonl, its aligned export, and two checkpoints."""
    pytest.importorskip("open_clip")
    from medvl.export import ExportSettings, export_run

    root = tmp_path_factory.mktemp("neighbours")
    rd = build_run(root / "run", n_papers=10)
    data = root / "run" / "export" / "aligned"
    export_run(rd.path, data, ExportSettings(split=(0.5, 0.0, 0.5), shard_size=100))
    ckpts = {name: _checkpoint(root / "run" / "train" / name) for name in ("raw", "aligned")}
    return rd.path, data, ckpts


def _check_file(path: Path, run: Path, data: Path, models: list[str], k: int) -> list[dict]:
    """Well-formed: one row per test pair and model, k distinct neighbours, ids that are pair ids."""
    pairs = {p["pair_id"]: p for p in _lines(run / "pairs.jsonl")}
    test_ids = [m["pair_id"] for m in _lines(data / "metadata.jsonl") if m["split"] == "test"]
    rows = _lines(path)
    assert len(test_ids) >= 4 and len(rows) == len(models) * len(test_ids)
    for model in models:
        mine = [r for r in rows if r["model"] == model]
        assert [r["query_id"] for r in mine] == test_ids  # export's order, export's pair ids
    for r in rows:
        # inline texts are the export's (whitespace normalised), the pair's text otherwise
        assert r["direction"] == "image_to_text" and r["query_text"] == _ws(pairs[r["query_id"]]["text"])
        top = r["topk"]
        assert len(top) == k and len({t["text"] for t in top}) == k
        assert all(t["id"] in pairs and t["text"] == _ws(pairs[t["id"]]["text"]) for t in top)  # ids resolve
        assert all(t["id"] in test_ids for t in top)  # retrieved among the test split only
        scores = [t["score"] for t in top]
        assert scores == sorted(scores, reverse=True) and all(-1.0 <= s <= 1.0 for s in scores)
        hits = [i for i, t in enumerate(top) if t["match"]]
        assert all(top[i]["text"] == r["query_text"] for i in hits)
        # the rank of the query's own text: the metrics' rank (and inside the top-k exactly when listed)
        assert (r["gold_rank"] <= k) == bool(hits) and (not hits or hits[0] + 1 == r["gold_rank"])
    return rows


@pytest.mark.slow  # the exported fixture alone: 10.9 and 8.7 s
def test_eval_writes_neighbours_that_resolve_to_pairs(exported, tmp_path):
    from medvl.evaluate import evaluate
    from medvl.evaluate import judge as J

    run, data, ckpts = exported
    out = tmp_path / "ev"
    m = evaluate(ckpts["aligned"], data, suite=None, out=out, threads=1, neighbours_k=3)
    assert m["neighbours"] == {"file": "neighbours.jsonl", "k": 3, "model": "aligned", "direction": "image_to_text",
                               "queries": m["data"]["n_evaluated"]}
    rows = _check_file(out / "neighbours.jsonl", run, data, ["aligned"], 3)
    preds = {p["pair_id"]: p for p in _lines(out / "predictions.jsonl")}
    assert all(r["gold_rank"] == preds[r["query_id"]]["rank_image_to_text"] for r in rows)

    # the retrieval judge reads it as it is: every row an item, texts from the file and pairs.jsonl
    rejects: list = []
    items = J.retrieval_items(run, rejects, neighbours=out / "neighbours.jsonl", k=3)
    assert not rejects and len(items) == len(rows)
    by_id = {it.item_id: it for it in items}
    r0 = rows[0]
    it = by_id[f"aligned:image_to_text:{r0['query_id']}"]
    assert it.variables["retrieved"] == [t["text"] for t in r0["topk"]] and it.variables["k"] == 3
    assert it.figure_id and it.variables["query_caption"].startswith("Figure 1.")  # found via pairs.jsonl

    # neighbours_k=0: no file (and an old one is removed)
    evaluate(ckpts["aligned"], data, suite=None, out=out, threads=1, neighbours_k=0)
    assert not (out / "neighbours.jsonl").exists()


@pytest.mark.slow  # the exported fixture: 9-11 s
def test_compare_writes_both_models_where_the_judge_looks(exported):
    from medvl.evaluate import judge as J
    from medvl.evaluate.compare import compare

    run, data, ckpts = exported
    out = run / "eval"
    compare(ckpts["raw"], ckpts["aligned"], data, suite=None, out=out, threads=1)
    assert J.find_neighbours_file(run) == out / "neighbours.jsonl"
    rows = _check_file(out / "neighbours.jsonl", run, data, ["raw", "aligned"], 5)
    assert [r["model"] for r in rows] == sorted((r["model"] for r in rows), key=["raw", "aligned"].index)
    assert (out / "raw" / "neighbours.jsonl").is_file() and (out / "aligned" / "neighbours.jsonl").is_file()


@pytest.mark.slow
def test_eval_cli_neighbours_options(exported, tmp_path):
    import subprocess
    import sys

    run, data, ckpts = exported
    out = tmp_path / "cli"
    r = subprocess.run([sys.executable, "-c", "from medvl.cli import main; main()", "eval",
                        str(ckpts["aligned"] / "checkpoints" / "epoch_1.pt"), str(data), "--suite", "none",
                        "--out", str(out), "--threads", "1", "--neighbours-k", "2", "--label", "mine"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "neighbours.jsonl" in r.stdout + r.stderr  # the "wrote" line (console: stderr)
    rows = _lines(out / "neighbours.jsonl")
    assert rows and {x["model"] for x in rows} == {"mine"} and {len(x["topk"]) for x in rows} == {2}


# ---------------------------------------------------------------- the pipeline's judge stage

class _RetrievalServer:
    """An OpenAI-compatible chat endpoint answering retrieval verdicts of the schema's length."""

    def __init__(self):
        self.requests = 0

        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):  # quiet
                pass

            def do_POST(self):
                req = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
                fake.requests += 1
                schema = ((req.get("response_format") or {}).get("json_schema") or {}).get("schema") or {}
                n = (schema.get("properties") or {}).get("relevance", {}).get("minItems", 1)
                content = json.dumps({"relevance": [3] * n, "rationale": "Same modality.", "flags": []})
                body = json.dumps({"id": "c", "object": "chat.completion", "created": 0, "model": "fake",
                                   "choices": [{"index": 0, "finish_reason": "stop",
                                                "message": {"role": "assistant", "content": content}}],
                                   "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.slow  # 6.7 and 4.3 s, plus the exported fixture
def test_pipeline_judge_stage_judges_retrieval_from_eval_neighbours(exported, tmp_path):
    pytest.importorskip("instructor")
    import shutil

    from medvl.config import config_from_dict
    from medvl.pipeline import run_pipeline

    run0, data, ckpts = exported
    run = tmp_path / "run"
    shutil.copytree(run0, run, ignore=shutil.ignore_patterns("judgments.jsonl", ".parts", ".cache"))
    server = _RetrievalServer()
    try:
        cfg = config_from_dict({"executor": {"kind": "inline"}, "llm": {"urls": [server.url], "model": "fake"},
                                "stages": {"judge": {"what": ["retrieval"], "sample": 3, "k": 2,
                                                     "max_reasks": 0, "transport_retries": 0}}})
        notes: list[str] = []
        if (run / "eval" / "neighbours.jsonl").exists():
            (run / "eval" / "neighbours.jsonl").unlink()
        # no eval neighbours: nothing judged, said so, and the next run judges retrieval
        res = run_pipeline(cfg, run, only=["judge"], notify=notes.append).stage("judge")
        assert "retrieval not judged: no eval/neighbours.jsonl" in res.message and server.requests == 0
        assert any("retrieval not judged" in n for n in notes) and res.planned == 0
        # eval's file: judged, 3 sampled queries (3 units), 2 scores each
        from medvl.evaluate.compare import compare

        compare(ckpts["raw"], ckpts["aligned"], data, suite=None, out=run / "eval", threads=1)
        res = run_pipeline(cfg, run, only=["judge"]).stage("judge")
        assert not res.message and server.requests == 3 and (res.planned, res.ran) == (3, 3)
        js = _lines(run / "judgments.jsonl")
        assert len(js) == 3 and all(j["what"] == "retrieval" and j["scores"] == {"rank1": 3, "rank2": 3} for j in js)
        pairs = {p["pair_id"] for p in _lines(run / "pairs.jsonl")}
        assert all(j["item_id"].split(":", 2)[2] in pairs for j in js)
        assert {j["item_id"].split(":")[0] for j in js} <= {"raw", "aligned"}
    finally:
        server.stop()


# ---------------------------------------------------------------- the real server

@pytest.mark.llm
@needs_llm
def test_retrieval_judge_on_eval_neighbours_real_server(exported, tmp_path):
    import shutil

    from medvl.evaluate import evaluate
    from medvl.evaluate import judge as J
    from medvl.llm.client import LLMSettings
    from medvl.records import Judgment

    run0, data, ckpts = exported
    run = tmp_path / "run"
    shutil.copytree(run0, run, ignore=shutil.ignore_patterns("eval", "judgments.jsonl", ".parts", ".cache"))
    evaluate(ckpts["aligned"], data, suite=None, out=run / "eval", threads=1, neighbours_k=3)
    llm = LLMSettings(url=URL, model=MODEL, cache_path=run / ".cache" / "llm.sqlite", timeout_s=120, concurrency=2)
    s = J.judge_run(run, J.JudgeSettings(what="retrieval", sample=2, k=3), llm)
    last = s["last_run"]
    assert last["what"] == "retrieval" and last["judged_now"] + last["failed_now"] == 2
    rows = [Judgment.model_validate(r) for r in _lines(run / "judgments.jsonl")]
    rejects = [r for r in _lines(run / "rejects.jsonl") if r["stage"] == "judge"]
    assert len(rows) + len(rejects) == 2  # judged, or a reject row with the reason
    pairs = {p["pair_id"] for p in _lines(run / "pairs.jsonl")}
    for j in rows:
        assert j.item_id.startswith("aligned:image_to_text:") and j.item_id.split(":", 2)[2] in pairs
        assert set(j.scores) == {"rank1", "rank2", "rank3"} and all(1 <= v <= 5 for v in j.scores.values())
        assert j.prompt_id == "judge/retrieval@1" and j.judge_model == MODEL and j.rationale
    for r in rejects:
        assert r["reason"] == "judge_failed" and r["detail"]
    if rows:
        g = next(g for g in s["groups"] if g["what"] == "retrieval")
        assert g["n"] == len(rows) and g["relevant_share"]["n"] == 3 * len(rows)
