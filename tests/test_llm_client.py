"""StructuredLLM against a small local fake OpenAI-compatible HTTP server: faults, re-asks, cache, concurrency.

The fake (tests/helpers/fake_llm.py) plays only what the real server cannot be made to do on demand.
Behaviour against the real vLLM server is in test_llm_integration.py.
"""

from __future__ import annotations

import json

import pytest

from medvl.llm.client import LLMSettings, LLMUnavailable, StructuredLLM
from medvl.prompts import Prompt
from tests.helpers.fake_llm import PROMPT, FakeLLM, Reply, Word, free_port, last_user, settings

# ---------------------------------------------------------------- tests


def test_valid_answer_and_tokens():
    with FakeLLM(lambda b, n: Reply(content='{"word": "hello"}')) as fake:
        llm = StructuredLLM(settings(fake.url))
        res = llm.call(PROMPT, {"word": "hello"}, Word, {"want": "hello"})
    assert res.ok and res.value.word == "hello"
    assert (res.reasks, res.requests, res.cached) == (0, 1, False)
    assert res.tokens == {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}
    body = fake.requests[0]
    assert body["model"] == "fake-model" and body["max_tokens"] == 32 and body["temperature"] == 0
    assert body["response_format"]["type"] == "json_schema"  # vLLM mode
    assert body["messages"][-1] == {"role": "user", "content": "Say hello"}


def test_reask_then_valid_counts_one_reask_and_sends_the_error():
    answers = ['{"word": "nope"}', '{"word": "yes"}']
    with FakeLLM(lambda b, n: Reply(content=answers[min(n, 1)])) as fake:
        llm = StructuredLLM(settings(fake.url, max_reasks=2))
        res = llm.call(PROMPT, {"word": "yes"}, Word, {"want": "yes"})
    assert res.ok and res.value.word == "yes"
    assert res.reasks == 1 and res.requests == 2 and len(fake.requests) == 2
    # the re-ask carries the validation error back to the model
    assert "word must be 'yes'" in json.dumps(fake.requests[1]["messages"])


def test_reasks_exhausted_gives_error_not_exception():
    with FakeLLM(lambda b, n: Reply(content='{"word": "never"}')) as fake:
        llm = StructuredLLM(settings(fake.url, max_reasks=2))
        res = llm.call(PROMPT, {"word": "x"}, Word, {"want": "x"})
    assert res.value is None and res.error.startswith("invalid after 2 re-asks")
    assert "word must be 'x'" in res.error
    assert len(fake.requests) == 3 and res.reasks == 2


def test_malformed_json_content_is_reasked_then_fails():
    with FakeLLM(lambda b, n: Reply(content='{"word": "unterminated')) as fake:
        llm = StructuredLLM(settings(fake.url, max_reasks=1))
        res = llm.call(PROMPT, {"word": "x"}, Word, None)
    assert res.value is None and res.error.startswith("invalid after 1 re-asks")
    assert len(fake.requests) == 2


def test_malformed_http_body_is_an_error_result():
    with FakeLLM(lambda b, n: Reply(body=b"<html>bad gateway page</html>")) as fake:
        llm = StructuredLLM(settings(fake.url))
        res = llm.call(PROMPT, {"word": "x"}, Word, None)
    assert res.value is None and res.error


def test_http_500_is_retried_with_backoff_then_succeeds():
    with FakeLLM(lambda b, n: Reply(status=500) if n < 2 else Reply(content='{"word": "ok"}')) as fake:
        llm = StructuredLLM(settings(fake.url, transport_retries=3))
        res = llm.call(PROMPT, {"word": "ok"}, Word, None)
    assert res.ok and res.value.word == "ok"
    assert len(fake.requests) == 3 and llm.stats["transport_retries"] == 2


def test_http_400_is_not_retried():
    with FakeLLM(lambda b, n: Reply(status=400)) as fake:
        llm = StructuredLLM(settings(fake.url, transport_retries=3))
        res = llm.call(PROMPT, {"word": "x"}, Word, None)
    assert res.value is None and res.error.startswith("request failed: http 400")
    assert len(fake.requests) == 1


def test_timeout_is_retried_then_recovers():
    with FakeLLM(lambda b, n: Reply(content='{"word": "late"}', delay=1.5 if n == 0 else 0)) as fake:
        llm = StructuredLLM(settings(fake.url, timeout_s=0.5, transport_retries=2))
        res = llm.call(PROMPT, {"word": "late"}, Word, None)
    assert res.ok and llm.stats["transport_retries"] == 1 and len(fake.requests) == 2


def test_persistent_500_raises_llm_unavailable():
    with FakeLLM(lambda b, n: Reply(status=503)) as fake:
        llm = StructuredLLM(settings(fake.url, transport_retries=2))
        with pytest.raises(LLMUnavailable, match="unavailable after 3 attempts.*http 503"):
            llm.call(PROMPT, {"word": "x"}, Word, None)
    assert len(fake.requests) == 3


def test_dead_server_at_start():
    url = f"http://127.0.0.1:{free_port()}/v1"
    llm = StructuredLLM(settings(url, transport_retries=1))
    with pytest.raises(LLMUnavailable, match="does not answer"):
        llm.check_server()
    with pytest.raises(LLMUnavailable, match="connection error"):
        llm.call(PROMPT, {"word": "x"}, Word, None)


def test_check_server_names_a_missing_model():
    with FakeLLM(lambda b, n: Reply(content="{}"), model="other") as fake:
        llm = StructuredLLM(settings(fake.url))
        with pytest.raises(LLMUnavailable, match="does not serve model 'fake-model'.*other"):
            llm.check_server()


def test_server_dying_mid_run_keeps_finished_results():
    state = {"dead": False}

    def responder(body, n):
        if n >= 3:
            state["dead"] = True
        return Reply(drop=True) if state["dead"] else Reply(content='{"word": "w"}')

    with FakeLLM(responder) as fake:
        llm = StructuredLLM(settings(fake.url, concurrency=1, transport_retries=1))
        jobs = [(PROMPT, {"word": f"w{i}"}, Word, None) for i in range(8)]
        with pytest.raises(LLMUnavailable) as ei:
            llm.call_many(jobs)
    partial = ei.value.partial
    assert len(partial) == 8
    finished = [r for r in partial if r is not None]
    assert len(finished) == 3 and all(r.ok for r in finished)
    # once the server is known dead, the remaining jobs do not each wait for their own retries
    assert len(fake.requests) <= 3 + 2 + 1


def test_cache_makes_rerun_free(tmp_path):
    with FakeLLM(lambda b, n: Reply(content='{"word": "cached"}')) as fake:
        s = settings(fake.url, cache_path=tmp_path / "c.sqlite")
        first = StructuredLLM(s).call(PROMPT, {"word": "cached"}, Word, None)
        again = StructuredLLM(s)  # a new client (a rerun) with the same cache file
        second = again.call(PROMPT, {"word": "cached"}, Word, None)
        other = again.call(PROMPT, {"word": "different"}, Word, None)
    assert not first.cached and second.cached and second.value.model_dump() == first.value.model_dump()
    assert second.requests == 0 and again.stats["cache_hits"] == 1
    assert not other.cached
    assert len(fake.requests) == 2  # first + "different"; the cached one made no request


def test_cache_key_changes_with_prompt_model_and_params(tmp_path):
    s = settings("http://127.0.0.1:1/v1")
    llm = StructuredLLM(s)
    k = llm.key_for(PROMPT, {"word": "a"}, Word)
    assert k == llm.key_for(PROMPT, {"word": "a"}, Word)
    assert k != llm.key_for(PROMPT, {"word": "b"}, Word)
    p2 = Prompt(**{**PROMPT.__dict__, "sha": "1" * 64})
    assert k != llm.key_for(p2, {"word": "a"}, Word)
    assert k != StructuredLLM(settings(s.url, model="other")).key_for(PROMPT, {"word": "a"}, Word)
    assert k != StructuredLLM(settings(s.url, params={"max_tokens": 8})).key_for(PROMPT, {"word": "a"}, Word)


def test_failures_are_never_cached_only_answers_are(tmp_path):
    with FakeLLM(lambda b, n: Reply(content='{"word": "bad"}')) as fake:
        s = settings(fake.url, cache_path=tmp_path / "c.sqlite", max_reasks=0)
        r1 = StructuredLLM(s).call(PROMPT, {"word": "x"}, Word, {"want": "x"})
        r2 = StructuredLLM(s).call(PROMPT, {"word": "x"}, Word, {"want": "x"})
    assert r1.error and r2.error and not r2.cached and len(fake.requests) == 2  # an invalid answer: asked again
    with FakeLLM(lambda b, n: Reply(content='{"word": "x"}')) as fake:
        s = settings(fake.url, cache_path=tmp_path / "c.sqlite", max_reasks=0)
        r3 = StructuredLLM(s).call(PROMPT, {"word": "x"}, Word, {"want": "x"})
        r4 = StructuredLLM(s).call(PROMPT, {"word": "x"}, Word, {"want": "x"})
    assert r3.ok and r4.ok and r4.cached and len(fake.requests) == 1
    with FakeLLM(lambda b, n: Reply(status=400)) as fake:
        s = settings(fake.url, cache_path=tmp_path / "d.sqlite")
        StructuredLLM(s).call(PROMPT, {"word": "x"}, Word, None)
        StructuredLLM(s).call(PROMPT, {"word": "x"}, Word, None)
    assert len(fake.requests) == 2


def test_concurrency_is_bounded():
    with FakeLLM(lambda b, n: Reply(content='{"word": "w"}', delay=0.2)) as fake:
        llm = StructuredLLM(settings(fake.url, concurrency=3))
        results = llm.call_many([(PROMPT, {"word": f"w{i}"}, Word, None) for i in range(9)])
    assert all(r.ok for r in results) and len(fake.requests) == 9
    assert fake.max_inflight == 3 and llm.stats["max_inflight"] == 3


def test_results_keep_job_order_and_progress_counts():
    with FakeLLM(lambda b, n: Reply(content=json.dumps({"word": last_user(b).split()[-1]}),
                                    delay=0.05 * (n % 3))) as fake:
        llm = StructuredLLM(settings(fake.url, concurrency=4))
        seen = []
        results = llm.call_many([(PROMPT, {"word": f"w{i}"}, Word, None) for i in range(7)],
                                progress=lambda n=1, **kw: seen.append(n))
    assert [r.value.word for r in results] == [f"w{i}" for i in range(7)]
    assert sum(seen) == 7


def test_several_urls_share_the_load():
    with FakeLLM(lambda b, n: Reply(content='{"word": "a"}')) as a, FakeLLM(lambda b, n: Reply(content='{"word": "b"}')) as b:
        llm = StructuredLLM(settings(f"{a.url},{b.url}", concurrency=2))
        results = llm.call_many([(PROMPT, {"word": f"w{i}"}, Word, None) for i in range(6)])
    assert all(r.ok for r in results)
    assert len(a.requests) == 3 and len(b.requests) == 3


def test_one_dead_url_of_two_is_retried_on_the_other():
    with FakeLLM(lambda b, n: Reply(content='{"word": "ok"}')) as live:
        dead = f"http://127.0.0.1:{free_port()}/v1"
        llm = StructuredLLM(settings(f"{dead},{live.url}", concurrency=1, transport_retries=2))
        results = llm.call_many([(PROMPT, {"word": f"w{i}"}, Word, None) for i in range(4)])
    assert all(r.ok for r in results)


def test_tools_mode_reads_the_tool_call():
    with FakeLLM(lambda b, n: Reply(tool_args='{"word": "tool"}')) as fake:
        llm = StructuredLLM(settings(fake.url, mode="tools"))
        res = llm.call(PROMPT, {"word": "tool"}, Word, None)
    assert res.ok and res.value.word == "tool"
    assert fake.requests[0]["tool_choice"]["function"]["name"] == "Word"


def test_json_mode_sends_json_object_format():
    with FakeLLM(lambda b, n: Reply(content='{"word": "j"}')) as fake:
        res = StructuredLLM(settings(fake.url, mode="json")).call(PROMPT, {"word": "j"}, Word, None)
    assert res.ok and fake.requests[0]["response_format"]["type"] == "json_object"


def test_incomplete_output_is_an_error_result():
    with FakeLLM(lambda b, n: Reply(content='{"word": "cut', finish_reason="length")) as fake:
        res = StructuredLLM(settings(fake.url)).call(PROMPT, {"word": "x"}, Word, None)
    assert res.value is None and "max_tokens" in res.error and len(fake.requests) == 1


def test_settings_are_checked():
    from medvl.errors import MedvlError

    with pytest.raises(MedvlError, match="unknown LLM mode"):
        LLMSettings(url="http://x/v1", model="m", mode="yaml")
    with pytest.raises(MedvlError, match="no LLM url"):
        LLMSettings(url=" , ", model="m")
    assert LLMSettings(url="http://a/v1/, http://b/v1", model="m").urls == ["http://a/v1", "http://b/v1"]


def test_client_module_imports_without_instructor():
    import subprocess
    import sys

    code = ("import sys; import medvl.llm.client, medvl.prompts, medvl.split.llm, medvl.split.stage; "
            "bad = [m for m in ('instructor', 'openai', 'torch', 'vllm') if m in sys.modules]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)
