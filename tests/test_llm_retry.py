"""Fallbacks are not final; failures are never cached; Retry-After is honoured (issue 13, case 4).

Misbehaviours come from the fake OpenAI-compatible server of tests/helpers/fake_llm.py (it answers what a real
server cannot be made to: refusals, wrong keys, 429s); the healthy rerun against the real vLLM server
is `test_healthy_rerun_against_the_real_server` (marked llm).

Before: a caption that fell back to the rules (server fault or invalid answer) stayed a fallback on every
rerun: its unit was done and the failure was cached.  After: the next run asks again for exactly those
captions (accepted answers come from the cache), unless --keep-fallbacks.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

pytest.importorskip("instructor")

from medvl.cli import app  # noqa: E402
from medvl.llm.client import LLMSettings, LLMUnavailable, StructuredLLM  # noqa: E402
from medvl.split.rules import split_caption  # noqa: E402

from tests.helpers.captions import CAPTIONS
from tests.helpers.fake_llm import PROMPT, FakeLLM, Reply, Word
from tests.helpers.env import LLM_MODEL, LLM_URL, needs_llm
from tests.helpers.vllm_metrics import server_requests

WRONG_KEYS = json.dumps({"answer": "panel A shows", "panels": 3})


def caption_of(body: dict) -> str:
    """The caption this request is about (the last user turn that carries one; re-asks add others)."""
    users = [m["content"] for m in body["messages"] if m["role"] == "user" and str(m["content"]).startswith("Caption: ")]
    return users[-1].removeprefix("Caption: ")


def rules_answer(body: dict, n: int) -> Reply:
    subs = [{"label": s.label, "text": s.text} for s in split_caption(caption_of(body))]
    return Reply(content=json.dumps({"subcaptions": subs}))


def said(result) -> str:
    """The console output with rich's line wrapping undone."""
    return " ".join(result.output.split())


def split_cmd(src: Path, out: Path, url: str, *extra: str) -> list[str]:
    return ["split", str(src), "--out", str(out), "--splitter", "llm", "--llm-url", url, "--llm-model",
            "fake-model", "--max-reasks", "1", "--timeout", "5", *extra]


def write_captions(tmp_path: Path) -> Path:
    p = tmp_path / "caps.jsonl"
    p.write_text("".join(json.dumps({"id": i, "caption": c}) + "\n" for i, c in CAPTIONS))
    return p


def rows(path: Path) -> dict[str, dict]:
    return {r["id"]: r for r in map(json.loads, path.read_text().splitlines())}


def cache_rows(out: Path) -> list[tuple]:
    db = out.parent / f".{out.name}.work" / ".cache" / "llm-split.sqlite"
    with sqlite3.connect(db) as con:
        return con.execute("SELECT value, error FROM answers").fetchall()


def test_fallbacks_are_asked_again_on_the_next_run_and_answers_stay_cached(tmp_path):
    src, out = write_captions(tmp_path), tmp_path / "out.jsonl"
    g1, g2 = (c for _, c in CAPTIONS)

    def faulty(body, n):  # g1: answered well; g2: refused (HTTP 400), a server fault that is not retried now
        return rules_answer(body, n) if caption_of(body) == g1 else Reply(status=400)

    with FakeLLM(faulty) as bad:
        r = CliRunner().invoke(app, split_cmd(src, out, bad.url))
    assert r.exit_code == 0, r.output
    first = rows(out)
    assert first["g1"]["splitter"] == "llm"
    assert first["g2"]["splitter"] == "rules" and first["g2"]["fallback_reason"].startswith("request failed: http 400")
    assert [v is not None for v, _ in cache_rows(out)] == [True]  # only the accepted answer is cached

    with FakeLLM(rules_answer) as good:  # the server is fixed: the same command asks again for g2 only
        r = CliRunner().invoke(app, split_cmd(src, out, good.url))
        assert r.exit_code == 0, r.output
        assert "1 unit(s) with earlier fallbacks asked again" in said(r)
        assert [caption_of(b) for b in good.requests] == [g2]
        second = rows(out)
        assert second["g2"]["splitter"] == "llm" and second["g2"]["fallback_reason"] is None
        assert second["g1"]["cached"] is True and second["g1"]["subcaptions"] == first["g1"]["subcaptions"]
        # nothing left to retry: a third run is free
        r = CliRunner().invoke(app, split_cmd(src, out, good.url))
        assert r.exit_code == 0 and "0 of 1 shard(s) run now" in said(r), r.output
        assert len(good.requests) == 1


def test_status_says_the_fallbacks_were_asked_again_not_that_the_input_changed(tmp_path):
    from medvl.pipeline import run_status

    src, out = write_captions(tmp_path), tmp_path / "out.jsonl"
    fixed = {"on": False}  # one server (the same url: no setting changes), invalid answers until fixed
    with FakeLLM(lambda b, n: rules_answer(b, n) if fixed["on"] else Reply(content=WRONG_KEYS)) as fake:
        assert CliRunner().invoke(app, split_cmd(src, out, fake.url)).exit_code == 0
        fixed["on"] = True
        assert CliRunner().invoke(app, split_cmd(src, out, fake.url)).exit_code == 0
    assert all(r["splitter"] == "llm" for r in rows(out).values())
    work = tmp_path / ".out.jsonl.work"
    split = next(r for r in run_status(work) if r["stage"] == "split")
    assert split["redone"] == {"fallback answers asked again": 1}
    markers = [json.loads(p.read_text()) for p in (work / ".parts" / "split").glob("*.done")]
    assert [m["why"] for m in markers] == ["fallback answers asked again"]


def test_invalid_answers_are_retried_and_keep_fallbacks_keeps_them(tmp_path):
    src, out = write_captions(tmp_path), tmp_path / "out.jsonl"
    with FakeLLM(lambda b, n: Reply(content=WRONG_KEYS)) as bad:
        assert CliRunner().invoke(app, split_cmd(src, out, bad.url)).exit_code == 0
        assert all(r["splitter"] == "rules" for r in rows(out).values())
        assert cache_rows(out) == []  # an invalid answer is not an answer: never cached
        r = CliRunner().invoke(app, split_cmd(src, out, bad.url, "--keep-fallbacks"))
        assert r.exit_code == 0 and "0 of 1 shard(s) run now" in said(r), r.output
        assert len(bad.requests) == 4  # --keep-fallbacks asked nothing
        r = CliRunner().invoke(app, split_cmd(src, out, bad.url))  # still broken: asked again, still rules
        assert r.exit_code == 0 and "asked again" in said(r)
        assert len(bad.requests) == 8 and all(x["splitter"] == "rules" for x in rows(out).values())
    with FakeLLM(rules_answer) as good:
        assert CliRunner().invoke(app, split_cmd(src, out, good.url)).exit_code == 0
    assert all(r["splitter"] == "llm" for r in rows(out).values()) and len(good.requests) == 2


def test_old_cached_failures_are_not_served(tmp_path):
    """A cache written by an older medvl (failures stored with value NULL) is asked again."""
    cache = tmp_path / "c.sqlite"
    with FakeLLM(lambda b, n: Reply(content='{"word": "yes"}')) as fake:
        llm = StructuredLLM(LLMSettings(url=fake.url, model="fake-model", cache_path=cache, timeout_s=5))
        key = llm.key_for(PROMPT, {"word": "yes"}, Word)
        llm.cache.put(key, value=None, error="invalid after 2 re-asks: old", reasks=2, tokens={}, model="fake-model",
                      latency_s=0.1)
        res = llm.call(PROMPT, {"word": "yes"}, Word, {"want": "yes"})
        llm.close()
    assert res.ok and not res.cached and len(fake.requests) == 1


# ---------------------------------------------------------------- Retry-After


def test_429_retry_after_is_honoured():
    def limited(body, n):
        return Reply(status=429, headers={"Retry-After": "1"}) if n == 0 else Reply(content='{"word": "ok"}')

    with FakeLLM(limited) as fake:
        llm = StructuredLLM(LLMSettings(url=fake.url, model="fake-model", timeout_s=5, backoff_s=0.01,
                                        backoff_max_s=0.02, transport_retries=2))
        res = llm.call(PROMPT, {"word": "ok"}, Word)
    assert res.ok and len(fake.requests) == 2
    assert fake.times[1] - fake.times[0] >= 1.0  # the backoff alone would have waited ~0.01 s
    assert llm.stats["retry_after_waits"] == 1


def test_429_asking_too_long_a_wait_stops_with_a_clear_message():
    with FakeLLM(lambda b, n: Reply(status=429, headers={"Retry-After": "3600"})) as fake:
        llm = StructuredLLM(LLMSettings(url=fake.url, model="fake-model", timeout_s=5, max_retry_after_s=30))
        with pytest.raises(LLMUnavailable, match=r"asks to wait 3600 s \(Retry-After\)"):
            llm.call(PROMPT, {"word": "ok"}, Word)
    assert len(fake.requests) == 1


# ---------------------------------------------------------------- the real server

URL, MODEL = LLM_URL, LLM_MODEL

# A prompt whose worked example is the very caption asked (a caption without panel labels, answer []):
# the 135M test model copies few-shot answers, so this is an answer it gives and the validators accept.
ECHO_CAPTION = "Survival curves of both cohorts."
ECHO_PROMPT = """\
id: split/echo
version: 1
description: test prompt whose example is the caption itself
response_model: medvl.split.llm:SplitAnswer
params: {temperature: 0.0, max_tokens: 128}
system: |
  Split the caption into panels. Answer JSON {"subcaptions": [{"label": ..., "text": ...}]}.
user: |
  Caption: {{ caption }}
examples:
  - input: {caption: "Survival curves of both cohorts."}
    output:
      subcaptions: []
"""


@pytest.mark.llm
@pytest.mark.slow
@needs_llm
def test_healthy_rerun_against_the_real_server(tmp_path, monkeypatch):
    """Fallbacks from a misbehaving server are asked again of the real vLLM server on the next run."""
    (tmp_path / "prompts" / "split").mkdir(parents=True)
    (tmp_path / "prompts" / "split" / "echo_v1.yaml").write_text(ECHO_PROMPT)
    monkeypatch.setenv("MEDVL_PROMPTS_DIR", str(tmp_path / "prompts"))
    src, out = tmp_path / "caps.jsonl", tmp_path / "out.jsonl"
    src.write_text(json.dumps({"id": "e1", "caption": ECHO_CAPTION}) + "\n")

    def cmd(url: str) -> list[str]:
        return ["split", str(src), "--out", str(out), "--splitter", "llm", "--prompt", "split/echo@1",
                "--llm-url", url, "--llm-model", MODEL, "--max-reasks", "1", "--timeout", "180"]

    with FakeLLM(lambda b, n: Reply(content=WRONG_KEYS), model=MODEL) as bad:
        assert CliRunner().invoke(app, cmd(bad.url)).exit_code == 0
    assert rows(out)["e1"]["splitter"] == "rules" and "Extra inputs" in rows(out)["e1"]["fallback_reason"]

    before = server_requests()
    r = CliRunner().invoke(app, cmd(URL))  # the same command, now the healthy real server
    assert r.exit_code == 0, r.output
    assert "asked again" in said(r)
    assert server_requests() - before >= 1  # the fallback really went to vLLM
    row = rows(out)["e1"]
    assert row["splitter"] == "llm", row  # the model's accepted answer replaced the fallback
    assert row["fallback_reason"] is None and row["model"] == MODEL
    assert row["subcaptions"] == []  # the model's answer (the rules would say the same here)

    before = server_requests()  # accepted answers stay cached: the next run asks nothing
    r = CliRunner().invoke(app, cmd(URL))
    assert r.exit_code == 0 and "0 of 1 shard(s) run now" in said(r), r.output
    assert server_requests() == before
