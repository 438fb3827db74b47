"""A small fake OpenAI-compatible HTTP server (FakeLLM) and a test prompt / answer model.

The fake plays only what the real vLLM server cannot be made to do on demand: answer invalid then
valid, return HTTP 500 / 400, hang past the timeout, send a malformed body, die.  Behaviour against
the real server is in tests/test_llm_integration.py.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable

from pydantic import ValidationInfo, field_validator

from medvl.llm.answers import StrictAnswer
from medvl.llm.client import LLMSettings
from medvl.prompts import Prompt

# ---------------------------------------------------------------- the fake server


@dataclass
class Reply:
    content: str | None = None  # assistant message content (JSON text for json_schema / json modes)
    tool_args: str | None = None  # a tool call with these arguments (tools mode)
    status: int = 200
    body: bytes | None = None  # raw body instead of a chat completion
    delay: float = 0.0
    drop: bool = False  # close the connection without answering
    finish_reason: str = "stop"
    headers: dict | None = None  # extra response headers (e.g. Retry-After on a 429)


class FakeLLM:
    """OpenAI-compatible server on 127.0.0.1: GET /v1/models, POST /v1/chat/completions.

    `responder(body, n)` gets the request JSON and the 0-based request number and returns a Reply."""

    def __init__(self, responder: Callable[[dict, int], Reply], model: str = "fake-model"):
        self.responder = responder
        self.model = model
        self.requests: list[dict] = []
        self.times: list[float] = []  # when each chat request arrived (time.monotonic)
        self.inflight = 0
        self.max_inflight = 0
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):  # quiet
                pass

            def _send(self, status: int, body: bytes, headers: dict | None = None) -> None:
                self.send_response(status)
                for k, v in (headers or {}).items():
                    self.send_header(k, str(v))
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                if self.path.rstrip("/").endswith("/models"):
                    self._send(200, json.dumps({"object": "list", "data": [{"id": fake.model, "object": "model"}]}).encode())
                else:
                    self._send(404, b'{"error": "not found"}')

            def do_POST(self):
                n = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(n) or b"{}")
                with fake._lock:
                    idx = len(fake.requests)
                    fake.requests.append(body)
                    fake.times.append(time.monotonic())
                    fake.inflight += 1
                    fake.max_inflight = max(fake.max_inflight, fake.inflight)
                try:
                    reply = fake.responder(body, idx)
                    if reply.delay:
                        time.sleep(reply.delay)
                    if reply.drop:
                        self.close_connection = True
                        self.connection.shutdown(socket.SHUT_RDWR)
                        return
                    if reply.body is not None:
                        self._send(reply.status, reply.body)
                        return
                    if reply.status != 200:
                        self._send(reply.status, json.dumps({"error": {"message": f"fake error {reply.status}",
                                                                       "type": "fake", "code": reply.status}}).encode(),
                                   reply.headers)
                        return
                    msg: dict = {"role": "assistant", "content": reply.content}
                    if reply.tool_args is not None:
                        name = body["tools"][0]["function"]["name"]
                        msg = {"role": "assistant", "content": None, "tool_calls": [
                            {"id": f"call_{idx}", "type": "function",
                             "function": {"name": name, "arguments": reply.tool_args}}]}
                    out = {"id": f"chatcmpl-{idx}", "object": "chat.completion", "created": 0, "model": fake.model,
                           "choices": [{"index": 0, "message": msg, "finish_reason": reply.finish_reason}],
                           "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}}
                    self._send(200, json.dumps(out).encode())
                finally:
                    with fake._lock:
                        fake.inflight -= 1

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "FakeLLM":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def last_user(body: dict) -> str:
    return [m for m in body["messages"] if m["role"] == "user"][-1]["content"]


# ---------------------------------------------------------------- a small prompt and model

#: a judge's verdict on a split (the judge prompts' answer)
VERDICT = {"faithful": 4, "complete": 3, "labels": 5, "isolated": 4, "flags": [],
           "rationale": "The pieces are caption text."}


def schema_answer(body: dict, n: int) -> Reply:
    """An answer made from the request's own JSON schema: a span split gives its first label every piece, an
    aligner question pairs the labelled subcaptions with the panels in *reverse* reading order (what the rules
    would not), a judge question gets VERDICT."""
    schema = body["response_format"]["json_schema"]["schema"]
    props = schema["properties"]
    if "subcaptions" in props:
        entry = schema["$defs"]["SpanEntry"]["properties"]
        label = entry["label"]["enum"][0]
        return Reply(content=json.dumps({"subcaptions": [{"label": label, "pieces": entry["pieces"]["items"]["enum"]}]}))
    if "faithful" in props:
        return Reply(content=json.dumps(VERDICT))
    ids = [i for i in schema["$defs"]["PanelChoice"]["properties"]["panel"]["enum"] if i != "none"]
    return Reply(content=json.dumps({lab: {"panel": pid, "reason": "letter_misread"}
                                     for lab, pid in zip(schema["required"], reversed(ids))}))


PROMPT = Prompt(id="test/echo", version=1, sha="0" * 64, description="test", user="Say {{ word }}",
                system="Answer JSON.", params={"temperature": 0, "max_tokens": 32})


class Word(StrictAnswer):
    word: str

    @field_validator("word")
    @classmethod
    def _must_match(cls, v: str, info: ValidationInfo) -> str:
        want = (info.context or {}).get("want")
        if want is not None and v != want:
            raise ValueError(f"word must be {want!r}, not {v!r}")
        return v


def settings(url: str, **kw) -> LLMSettings:
    base = dict(url=url, model="fake-model", backoff_s=0.01, backoff_max_s=0.05, timeout_s=5, transport_retries=2)
    base.update(kw)
    return LLMSettings(**base)
