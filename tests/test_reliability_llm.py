"""Reliability of the LLM split stage in whole runs, against a fake OpenAI-compatible server.

The fake server (a thread in the test process) answers like a served model: it reads the caption
from the prompt and answers the rule splitter's subcaptions as JSON.  Faults are switched on per
test: down at start, dying mid-run, replies slower than the client's time limit, malformed JSON
and schema-invalid JSON.  Documented behaviour checked here:

* a server that is down at start: the split stage stops before any shard with one clear message;
  finished stages are kept, and the same command with the server up completes the run;
* a server that dies mid-run: the stage stops (no shard is marked done with missing rows), and
  a rerun finishes the rest: no row lost, none duplicated;
* slow replies: retried by the client, the run completes;
* malformed or schema-invalid answers: re-asked, then the rule splitter's rows with the reason in
  ``fallback_reason``.

Also: SIGKILL in the middle of the LLM split, then a rerun equals an uninterrupted run.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

pytest.importorskip("instructor")  # the llm extra (medvl's own modules are imported plainly)

from medvl.config import config_from_dict  # noqa: E402
from medvl.pipeline import run_pipeline  # noqa: E402

VOLATILE = ("latency_s", "cached")  # differ between runs by nature; everything else must be equal


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class FakeLLM:
    """An OpenAI-compatible chat server whose faults the test switches on."""

    def __init__(self, port: int | None = None):
        self.port = port or _free_port()
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self.fault = "none"  # none | malformed | invalid | mixed | slow_first
        self.delay = 0.0
        self.die_after: int | None = None  # chat requests answered before the server dies
        self.requests = 0
        self.seen: set[str] = set()
        self.lock = threading.Lock()
        self.server: ThreadingHTTPServer | None = None

    # lifecycle ----------------------------------------------------------------
    def start(self) -> "FakeLLM":
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):  # quiet
                pass

            def _send(self, code: int, obj: dict) -> None:
                body = json.dumps(obj).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                if self.path.rstrip("/").endswith("/models"):
                    self._send(200, {"object": "list", "data": [{"id": "fake", "object": "model"}]})
                else:
                    self._send(404, {"error": "not found"})

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                req = json.loads(self.rfile.read(n) or b"{}")
                with fake.lock:
                    fake.requests += 1
                    count = fake.requests
                if fake.die_after is not None and count > fake.die_after:
                    threading.Thread(target=fake.stop, daemon=True).start()
                    self.close_connection = True
                    return  # no answer: the connection just closes
                content = fake.answer(req)
                if fake.delay:
                    time.sleep(fake.delay)
                self._send(200, {
                    "id": f"c{count}", "object": "chat.completion", "created": 0, "model": "fake",
                    "choices": [{"index": 0, "finish_reason": "stop",
                                 "message": {"role": "assistant", "content": content}}],
                    "usage": {"prompt_tokens": 20, "completion_tokens": 10, "total_tokens": 30}})

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        srv, self.server = self.server, None
        if srv is not None:
            srv.shutdown()
            srv.server_close()

    # answers --------------------------------------------------------------------
    def answer(self, req: dict) -> str:
        from medvl.split.rules import split_caption

        schema = ((req.get("response_format") or {}).get("json_schema") or {}).get("schema") or {}
        props = schema.get("properties") or {}
        if "rationale" in props:  # a judge verdict: middling scores, no flags
            verdict = {"rationale": "The text matches the panel."}
            for name, spec in props.items():
                if name not in verdict:
                    verdict[name] = [] if spec.get("type") == "array" else 4
            return json.dumps(verdict)

        caption = ""
        for m in req.get("messages", []):
            c = m.get("content")
            if m.get("role") == "user" and isinstance(c, str) and c.startswith("Caption: "):
                caption = c[len("Caption: "):].strip()
        kind = self.fault
        h = int(hashlib.sha1(caption.encode()).hexdigest(), 16)
        if kind == "mixed":
            kind = ("malformed", "invalid", "none")[h % 3]
        if kind == "slow_first":
            with self.lock:
                first = caption not in self.seen
                self.seen.add(caption)
            if first and h % 3 == 0:
                time.sleep(1.5)  # longer than the client's time limit (0.5 s in that test)
            kind = "none"
        if kind == "malformed":
            return '{"subcaptions": [{"label": "A", "text": '
        if kind == "invalid":
            return json.dumps({"subcaptions": [{"label": "Q", "text": "words the caption never had"}]})
        subs = [{"label": s.label, "text": s.text} for s in split_caption(caption)]
        return json.dumps({"subcaptions": subs})


# ---------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def parsed(tmp_path_factory) -> tuple[Path, Path]:
    """A synthetic corpus and a run directory where parse is done (copied by each test)."""
    from medvl.synth import generate_corpus

    root = tmp_path_factory.mktemp("llmcorpus")
    generate_corpus(root, papers=6, seed=3, dpi=72)
    template = root / "template"
    res = run_pipeline(_config(root / "papers", "http://127.0.0.1:9/v1", stages=("parse",)), template)
    assert res.ok
    return root / "papers", template


def _config(corpus: Path, url: str, stages=("parse", "split"), workers: int = 2, **split):
    settings = {"splitter": "llm", "timeout_s": 1.0, "max_reasks": 1, "transport_retries": 2,
                "backoff_s": 0.05, "backoff_max_s": 0.2, "concurrency": 4, **split}
    return config_from_dict({
        "inputs": {"pdfs": str(corpus)}, "executor": {"workers": workers},
        "llm": {"urls": [url], "model": "fake"},
        "stages": {s: {"parse": {"dpi": 60, "ocr": "never"}, "split": settings}.get(s, {}) for s in stages}})


def _copy(template: Path, dst: Path) -> Path:
    shutil.copytree(template, dst)
    return dst


def _rows(run_dir: Path) -> list[dict]:
    out = []
    for line in (run_dir / "subcaptions.jsonl").read_text().splitlines():
        if line.strip():
            r = json.loads(line)
            for k in VOLATILE:
                r.pop(k, None)
            out.append(r)
    return out


def _assert_complete_llm_rows(run_dir: Path) -> None:
    """One row per figure, answered by the (fake) model: its subcaptions are the rule splitter's."""
    from medvl.split.llm import rule_subcaptions

    figs = {json.loads(line)["figure_id"]: json.loads(line)["caption"]
            for line in (run_dir / "figures.jsonl").read_text().splitlines() if line}
    rows = _rows(run_dir)
    assert sorted(r["id"] for r in rows) == sorted(figs)
    for r in rows:
        assert r["splitter"] == "llm" and not r["fallback_reason"], r
        assert r["subcaptions"] == [s.model_dump() for s in rule_subcaptions(figs[r["id"]])]


def _figure_ids(run_dir: Path) -> list[str]:
    return [json.loads(line)["figure_id"] for line in (run_dir / "figures.jsonl").read_text().splitlines() if line]


@pytest.fixture
def server():
    fake = FakeLLM().start()
    yield fake
    fake.stop()


# ---------------------------------------------------------------- faults

@pytest.mark.slow
def test_malformed_and_schema_invalid_answers_fall_back_with_a_reason(parsed, server, tmp_path):
    corpus, template = parsed
    server.fault = "mixed"
    run_dir = _copy(template, tmp_path / "run")
    res = run_pipeline(_config(corpus, server.url), run_dir)
    assert res.ok, [(s.name, s.state, s.message) for s in res.stages]
    rows = _rows(run_dir)
    assert sorted(r["id"] for r in rows) == sorted(_figure_ids(run_dir))  # one row per figure
    fallbacks = [r for r in rows if r["fallback_reason"]]
    llm_rows = [r for r in rows if r["splitter"] == "llm"]
    assert fallbacks and llm_rows
    for r in fallbacks:
        assert r["splitter"] == "rules" and r["fallback_reason"].startswith("invalid after")
        assert r["reasks"] == 1 and r["model"] == "fake" and r["prompt_id"]
    # accepted answers are cached, failures never are: a forced rerun asks again only for the fallbacks
    before = server.requests
    again = run_pipeline(_config(corpus, server.url), run_dir, force=["split"])
    assert again.ok and server.requests - before == 2 * len(fallbacks)  # each: the answer and one re-ask
    assert _rows(run_dir) == rows
    # fallbacks are not final: with the server fixed, the same run (no force) asks again for exactly those
    server.fault = "none"
    before = server.requests
    fixed = run_pipeline(_config(corpus, server.url), run_dir)
    assert fixed.ok and server.requests - before == len(fallbacks)
    _assert_complete_llm_rows(run_dir)
    before = server.requests  # and then nothing is left to ask
    assert run_pipeline(_config(corpus, server.url), run_dir).ok and server.requests == before
    # retry_fallbacks: false keeps fallbacks as they are
    server.fault = "invalid"
    kept = _copy(template, tmp_path / "kept")
    assert run_pipeline(_config(corpus, server.url), kept).ok
    before = server.requests
    assert run_pipeline(_config(corpus, server.url, retry_fallbacks=False), kept).ok
    assert server.requests == before and all(r["fallback_reason"] for r in _rows(kept))


@pytest.mark.slow
def test_slow_replies_are_retried_and_the_run_completes(parsed, server, tmp_path):
    corpus, template = parsed
    server.fault = "slow_first"
    run_dir = _copy(template, tmp_path / "run")
    res = run_pipeline(_config(corpus, server.url, transport_retries=3, timeout_s=0.5), run_dir)
    assert res.ok, res.stage("split").message
    _assert_complete_llm_rows(run_dir)
    assert server.requests > len(_figure_ids(run_dir))  # the slow ones were asked again


@pytest.mark.slow
def test_server_down_at_start_stops_cleanly_then_a_rerun_completes(parsed, tmp_path):
    corpus, template = parsed
    fake = FakeLLM()  # not started: nothing listens on its port
    run_dir = _copy(template, tmp_path / "run")
    t0 = time.monotonic()
    res = run_pipeline(_config(corpus, fake.url), run_dir)
    split = res.stage("split")
    assert split.state == "failed" and "does not answer" in split.message
    assert res.stage("parse").state == "done" and res.stage("parse").ran == 0  # kept, not redone
    assert not list((run_dir / ".parts" / "split").glob("*.done"))
    assert time.monotonic() - t0 < 60
    fake.start()
    try:
        res = run_pipeline(_config(corpus, fake.url), run_dir)
    finally:
        fake.stop()
    assert res.ok
    _assert_complete_llm_rows(run_dir)


@pytest.mark.slow
def test_server_dying_mid_run_stops_the_stage_and_a_rerun_finishes(parsed, tmp_path):
    corpus, template = parsed
    fake = FakeLLM().start()
    fake.die_after = 6
    run_dir = _copy(template, tmp_path / "run")
    res = run_pipeline(_config(corpus, fake.url), run_dir)
    split = res.stage("split")
    assert split.state == "failed" and "rerun" in split.message and "unavailable" in split.message
    done = len(list((run_dir / ".parts" / "split").glob("*.done")))
    assert done < split.planned
    # every shard marked done holds one row per figure of its paper: nothing half-written
    for marker in (run_dir / ".parts" / "split").glob("*.done"):
        key = marker.name[:-5]
        figs = (run_dir / ".parts" / "parse" / f"{key}.jsonl").read_text().splitlines()
        rows = (run_dir / ".parts" / "split" / f"{key}.jsonl").read_text().splitlines()
        assert len(rows) == len([f for f in figs if f.strip()])
    fake = FakeLLM(fake.port).start()  # the server is back
    try:
        res = run_pipeline(_config(corpus, fake.url), run_dir)
    finally:
        fake.stop()
    assert res.ok, res.stage("split").message
    _assert_complete_llm_rows(run_dir)


# ---------------------------------------------------------------- SIGKILL mid-parse, then mid-split

def _kill_at(cmd: list[str], parts: Path, at_least: int) -> int:
    """Start `medvl run`, SIGKILL its process group once `at_least` done markers are in `parts`."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    t0 = time.monotonic()
    while True:
        n = len(list(parts.glob("*.done"))) if parts.is_dir() else 0
        if n >= at_least:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            return n
        if proc.poll() is not None:
            pytest.fail(f"the run ended before the kill:\n{proc.stdout.read()}")
        if time.monotonic() - t0 > 180:
            os.killpg(proc.pid, signal.SIGKILL)
            pytest.fail(f"no progress in {parts}")
        time.sleep(0.01)


def _pairs(run_dir: Path) -> list[dict]:
    # align hashes only the content of a split row (not its latency or cache flag), so pairs compare whole
    return [json.loads(line) for line in (run_dir / "pairs.jsonl").read_text().splitlines() if line.strip()]


@pytest.mark.slow
def test_sigkill_mid_parse_then_mid_split_then_rerun_equals_uninterrupted_run(parsed, server, tmp_path):
    corpus, _template = parsed
    server.delay = 0.25
    stages = ("parse", "split", "align")
    cfg = _config(corpus, server.url, stages=stages, concurrency=1).model_dump(mode="json")
    cfg["stages"]["parse"] = {"ocr": "never"}  # 150 dpi: slow enough to be caught in the middle
    ref_dir = tmp_path / "ref"
    from medvl.config import config_from_dict as _cfd

    assert run_pipeline(_cfd(cfg), ref_dir).ok

    run_dir = tmp_path / "run"
    cfg["out"] = str(run_dir)
    cfg_path = tmp_path / "run.yaml"
    cfg_path.write_text(json.dumps(cfg))
    cmd = [sys.executable, "-c", "from medvl.cli import main; main()", "run", str(cfg_path), "-q"]
    planned = len(list(corpus.glob("*.pdf")))

    n = _kill_at(cmd, run_dir / ".parts" / "parse", at_least=2)
    assert n < planned, "parse finished before the kill; nothing was tested"
    assert not (run_dir / "figures.jsonl").exists()

    n = _kill_at(cmd, run_dir / ".parts" / "split", at_least=2)  # the rerun resumes parse, then split
    assert n < planned, "split finished before the kill; nothing was tested"
    assert len(list((run_dir / ".parts" / "parse").glob("*.done"))) == planned
    assert not (run_dir / "subcaptions.jsonl").exists()

    again = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stdout + again.stderr
    assert (run_dir / "figures.jsonl").read_bytes() == (ref_dir / "figures.jsonl").read_bytes()
    assert _rows(run_dir) == _rows(ref_dir)
    assert _pairs(run_dir) == _pairs(ref_dir)
    for name in ("subcaptions.jsonl", "pairs.jsonl"):
        ids = [json.loads(line).get("id") or json.loads(line).get("pair_id")
               for line in (run_dir / name).read_text().splitlines() if line]
        assert len(ids) == len(set(ids))  # none duplicated
    assert (run_dir / "rejects.jsonl").read_bytes() == (ref_dir / "rejects.jsonl").read_bytes()


@pytest.mark.slow
def test_judge_runs_in_a_whole_run_only_when_an_llm_is_configured(parsed, server, tmp_path):
    corpus, template = parsed
    run_dir = _copy(template, tmp_path / "run")
    cfg = _config(corpus, server.url, stages=("parse", "split", "align", "judge", "report"))
    cfg.stages["judge"] = {"what": ["splits", "pairs"], "sample": 5, "image_mode": "text_only",
                           "max_reasks": 1, "transport_retries": 1, "timeout_s": 5}
    res = run_pipeline(cfg, run_dir)
    assert res.ok, [(s.name, s.state, s.message) for s in res.stages]
    judgments = [json.loads(line) for line in (run_dir / "judgments.jsonl").read_text().splitlines() if line]
    assert {j["what"] for j in judgments} == {"splits", "pairs"} and len(judgments) == 10
    assert all(j["judge_model"] == "fake" and j["scores"] and set(j["scores"].values()) == {4} for j in judgments)
    assert (run_dir / "judge_summary.json").is_file() and (run_dir / "report.html").is_file()
    # without an LLM server the same config skips judge and still reports
    cfg.llm.urls = []
    cfg.stages["split"] = {}
    other = _copy(template, tmp_path / "nollm")
    res = run_pipeline(cfg, other)
    assert res.ok and res.stage("judge").state == "skipped" and (other / "report.html").is_file()
