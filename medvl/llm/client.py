"""Structured calls to an OpenAI-compatible server (vLLM, llama.cpp server ...) through instructor.

Every answer is a validated pydantic model.  The flow of one call::

    cache hit?  -> LLMResult(cached=True), no request (only accepted answers are cached)
    request     -> instructor parses + validates (validators see `validation_context`)
    invalid     -> instructor re-asks with the validation error, at most `max_reasks` times
    exhausted   -> LLMResult(value=None, error="invalid after N re-asks: ...")  (the caller falls back)
    transport   -> timeouts, connection errors, HTTP 429/5xx retry with exponential backoff
                   (`transport_retries` times, across the configured urls); a 429/503 with Retry-After
                   waits what the server asked (up to `max_retry_after_s`); then LLMUnavailable

Response models must be strict (medvl.llm.answers.StrictAnswer: unknown keys forbidden, no defaults),
so an answer that does not match the schema is a validation error (re-asked), never an empty answer.

Nothing here parses free text: the server is asked for a JSON schema (vLLM: Mode.JSON_SCHEMA,
llama.cpp: Mode.TOOLS, or Mode.JSON) and instructor validates the answer.

`instructor` and `openai` are imported lazily, so the module imports without the `llm` extra.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from medvl.errors import MedvlError, require
from medvl.llm.answers import check_strict
from medvl.llm.cache import AnswerCache, cache_key
from medvl.progress import ProgressFn, no_progress
from medvl.prompts import Prompt

MODES = ("json_schema", "tools", "json")

# OpenAI chat-completion arguments passed as they are; other prompt params go to `extra_body`
# (vLLM sampling extras such as repetition_penalty, top_k).
_OPENAI_PARAMS = {"temperature", "top_p", "max_tokens", "max_completion_tokens", "seed", "stop",
                  "presence_penalty", "frequency_penalty", "logit_bias", "n"}


class LLMUnavailable(MedvlError):
    """The server does not answer (after retries).  `partial` holds the results finished before."""

    def __init__(self, message: str, partial: list | None = None):
        super().__init__(message)
        self.partial = partial or []


@dataclass
class LLMSettings:
    url: str  # one or more base urls ("http://host:8000/v1"), comma-separated: requests are spread
    model: str  # the served model name
    mode: str = "json_schema"  # json_schema | tools | json
    timeout_s: float = 60
    max_reasks: int = 2
    transport_retries: int = 4
    concurrency: int = 8
    cache_path: Path | None = None
    api_key: str = "EMPTY"
    backoff_s: float = 0.5  # first transport retry waits this long, doubling each time (+ jitter)
    backoff_max_s: float = 8.0
    params: dict[str, Any] = field(default_factory=dict)  # overrides the prompt's params
    max_retry_after_s: float = 120.0  # a 429/503 asking to wait longer stops the stage instead of hanging

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise MedvlError(f"unknown LLM mode {self.mode!r}: use one of {', '.join(MODES)}")
        if not self.urls:
            raise MedvlError("no LLM url given (e.g. --llm-url http://127.0.0.1:8000/v1)")
        if self.concurrency < 1:
            raise MedvlError("concurrency must be at least 1")
        if self.cache_path is not None:
            self.cache_path = Path(self.cache_path)

    @property
    def urls(self) -> list[str]:
        return [u.strip().rstrip("/") for u in self.url.split(",") if u.strip()]

    def public(self) -> dict[str, Any]:
        """Settings for run.json (no api key)."""
        return {"url": self.url, "model": self.model, "mode": self.mode, "timeout_s": self.timeout_s,
                "max_reasks": self.max_reasks, "transport_retries": self.transport_retries,
                "concurrency": self.concurrency, "cache_path": str(self.cache_path) if self.cache_path else None,
                "params": dict(self.params)}


@dataclass
class LLMResult:
    value: BaseModel | None  # the validated answer, None when it failed
    error: str | None  # why it failed: "invalid after N re-asks: ...", "http 400: ..."
    reasks: int  # re-asks after failed validation (0 = the first answer was valid)
    latency_s: float
    tokens: dict[str, int]  # prompt_tokens, completion_tokens, total_tokens (summed over re-asks)
    cached: bool
    model: str
    requests: int = 0  # HTTP requests this call made (0 when cached)
    key: str = ""  # cache key

    @property
    def ok(self) -> bool:
        return self.value is not None


def _schema_sha(model: type[BaseModel]) -> str:
    return cache_key(name=f"{model.__module__}.{model.__qualname__}", schema=model.model_json_schema())


_STRICT_OK: set[type] = set()


def _strict(model: type[BaseModel]) -> None:
    if model not in _STRICT_OK:
        check_strict(model)
        _STRICT_OK.add(model)


def _usage_dict(usage: Any) -> dict[str, int]:
    if usage is None:
        return {}
    out = {}
    for k in ("prompt_tokens", "completion_tokens", "total_tokens"):
        v = getattr(usage, k, None) if not isinstance(usage, dict) else usage.get(k)
        if isinstance(v, int):
            out[k] = v
    return out


def _is_transport_error(exc: BaseException) -> tuple[bool, str]:
    """(retryable, short description) for an error raised by the request itself."""
    import httpx
    import openai

    for e in _chain(exc):
        if isinstance(e, openai.APITimeoutError):
            return True, "timeout"
        if isinstance(e, openai.APIConnectionError):
            return True, f"connection error ({_root_msg(e)})"
        if isinstance(e, openai.APIStatusError):
            code = e.status_code
            if code == 429 or code >= 500:
                return True, f"http {code}"
            return False, f"http {code}: {_short(e.message)}"
        if isinstance(e, (httpx.TimeoutException,)):
            return True, "timeout"
        if isinstance(e, httpx.TransportError):
            return True, f"connection error ({e})"
    return False, _short(str(exc))


def _retry_after(exc: BaseException) -> float | None:
    """Seconds from the Retry-After header of a 429/503 answer in the exception chain, else None."""
    from medvl.collect.http import parse_retry_after

    for e in _chain(exc):
        response = getattr(e, "response", None)
        code = getattr(e, "status_code", None) or getattr(response, "status_code", None)
        headers = getattr(response, "headers", None)
        if code in (429, 503) and headers is not None:
            return parse_retry_after(headers.get("retry-after"))
    return None


def _chain(exc: BaseException):
    seen = set()
    e: BaseException | None = exc
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        yield e
        e = e.__cause__ or e.__context__


def _root_msg(exc: BaseException) -> str:
    last = exc
    for e in _chain(exc):
        last = e
    return _short(str(last) or type(last).__name__)


def _short(text: str, n: int = 300) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= n else text[: n - 3] + "..."


class _LoopState:
    """Clients and the semaphore belong to one event loop."""

    def __init__(self, settings: LLMSettings):
        import logging
        import os

        instructor = require("instructor", "llm", "llm")
        if not os.environ.get("MEDVL_LLM_DEBUG"):
            # instructor logs every failed attempt at ERROR; we report them as results instead.
            logging.getLogger("instructor").setLevel(logging.CRITICAL)
        openai = require("openai", "llm", "llm")
        mode = {"json_schema": instructor.Mode.JSON_SCHEMA, "tools": instructor.Mode.TOOLS,
                "json": instructor.Mode.JSON}[settings.mode]
        self.loop = asyncio.get_running_loop()
        self.raw = [openai.AsyncOpenAI(base_url=u, api_key=settings.api_key, timeout=settings.timeout_s,
                                       max_retries=0) for u in settings.urls]
        self.clients = [instructor.from_openai(c, mode=mode) for c in self.raw]
        self.semaphore = asyncio.Semaphore(settings.concurrency)

    async def aclose(self) -> None:
        for c in self.raw:
            try:
                await c.close()
            except Exception:  # pragma: no cover - closing is best effort
                pass


class StructuredLLM:
    """Validated structured answers from an OpenAI-compatible server, with cache and retries."""

    def __init__(self, settings: LLMSettings):
        self.settings = settings
        self.cache = AnswerCache(settings.cache_path) if settings.cache_path else None
        self.stats: Counter[str] = Counter()  # requests, cache_hits, reasks, transport_retries, failures
        self._rr = itertools.count()
        self._state: _LoopState | None = None
        self._dead: str | None = None
        self._inflight = 0

    # ------------------------------------------------------------------ helpers
    @contextlib.asynccontextmanager
    async def _inflight_slot(self):
        """Count calls in flight (stats['max_inflight'] shows the concurrency really reached)."""
        self._inflight += 1
        self.stats["max_inflight"] = max(self.stats["max_inflight"], self._inflight)
        try:
            yield
        finally:
            self._inflight -= 1

    def _loop_state(self) -> _LoopState:
        loop = asyncio.get_running_loop()
        if self._state is None or self._state.loop is not loop:
            self._state = _LoopState(self.settings)
        return self._state

    def request_params(self, prompt: Prompt) -> dict[str, Any]:
        return {**prompt.params, **self.settings.params}

    def key_for(self, prompt: Prompt, variables: dict, response_model: type[BaseModel]) -> str:
        return cache_key(prompt_sha=prompt.sha, model=self.settings.model, mode=self.settings.mode,
                         params=self.request_params(prompt), response_model=_schema_sha(response_model),
                         variables=variables)

    def check_server(self) -> list[str]:
        """GET /models on every url; raise LLMUnavailable naming the dead one or a missing model."""
        import httpx

        served: list[str] = []
        for url in self.settings.urls:
            try:
                r = httpx.get(f"{url}/models", timeout=min(self.settings.timeout_s, 10),
                              headers={"Authorization": f"Bearer {self.settings.api_key}"})
                r.raise_for_status()
                ids = [m.get("id") for m in r.json().get("data", [])]
            except (httpx.HTTPError, ValueError) as exc:
                raise LLMUnavailable(f"LLM server at {url} does not answer ({_short(str(exc)) or type(exc).__name__}); "
                                     f"start one (scripts/llm_server.sh start --port P) or fix --llm-url") from exc
            if self.settings.model not in ids:
                raise LLMUnavailable(f"LLM server at {url} does not serve model {self.settings.model!r} "
                                     f"(it serves: {', '.join(map(str, ids)) or 'nothing'}); fix --llm-model")
            served.extend(ids)
        return served

    # ------------------------------------------------------------------ one call
    async def acall(self, prompt: Prompt, variables: dict, response_model: type[BaseModel],
                    validation_context: dict | None = None, use_cache: bool = True) -> LLMResult:
        t0 = time.perf_counter()
        s = self.settings
        _strict(response_model)  # a loose model would accept wrong answers as empty ones
        key = self.key_for(prompt, variables, response_model)
        if use_cache and self.cache is not None:
            hit = self.cache.get(key)
            if hit is not None:
                res = self._from_cache(hit, response_model, validation_context, key, t0)
                if res is not None:
                    self.stats["cache_hits"] += 1
                    return res
        if self._dead:
            raise LLMUnavailable(self._dead)

        messages = prompt.messages(**variables)
        params = self.request_params(prompt)
        std = {k: v for k, v in params.items() if k in _OPENAI_PARAMS}
        extra = {k: v for k, v in params.items() if k not in _OPENAI_PARAMS}
        if extra:
            std["extra_body"] = extra
        state = self._loop_state()

        from instructor.core.exceptions import InstructorRetryException
        from instructor.core.hooks import Hooks

        counts: Counter[str] = Counter()
        tokens: Counter[str] = Counter()

        def on_response(response: Any) -> None:
            counts["requests"] += 1
            for k, v in _usage_dict(getattr(response, "usage", None)).items():
                tokens[k] += v

        def on_parse_error(error: Exception, **_: Any) -> None:
            counts["invalid"] += 1

        hooks = Hooks()
        hooks.on("completion:response", on_response)
        hooks.on("parse:error", on_parse_error)

        last_transport = ""
        async with state.semaphore, self._inflight_slot():
            for attempt in range(s.transport_retries + 1):
                if self._dead:
                    raise LLMUnavailable(self._dead)
                idx = next(self._rr) % len(state.clients)
                client = state.clients[idx]
                counts["invalid"] = 0
                try:
                    value = await client.chat.completions.create(
                        model=s.model, messages=messages, response_model=response_model,
                        max_retries=s.max_reasks, context=validation_context, hooks=hooks, **std)
                except (InstructorRetryException, Exception) as exc:  # noqa: B014 - classify below
                    if isinstance(exc, asyncio.CancelledError):  # pragma: no cover
                        raise
                    if type(exc).__name__ == "IncompleteOutputException":
                        error = "incomplete output: the answer hit max_tokens"
                        return self._finish(key, prompt, None, error, counts["invalid"], dict(tokens), counts,
                                            t0, cache_it=False)
                    if isinstance(exc, InstructorRetryException) and self._validation_exhausted(exc):
                        reasks = max(counts["invalid"] - 1, 0)
                        error = f"invalid after {reasks} re-asks: {_short(_last_validation(exc))}"
                        return self._finish(key, prompt, None, error, reasks, dict(tokens), counts, t0,
                                            cache_it=False)
                    retryable, why = _is_transport_error(exc)
                    if not retryable:
                        return self._finish(key, prompt, None, f"request failed: {why}", 0, dict(tokens),
                                            counts, t0, cache_it=False)
                    last_transport = f"{s.urls[idx]}: {why}"
                    wait = _retry_after(exc)
                    if wait is not None and wait > s.max_retry_after_s:
                        self._dead = (f"LLM server at {s.urls[idx]} asks to wait {wait:.0f} s (Retry-After), more "
                                      f"than max_retry_after_s={s.max_retry_after_s:.0f}; finished work is kept, "
                                      f"rerun later to resume")
                        raise LLMUnavailable(self._dead) from exc
                    if attempt < s.transport_retries:
                        self.stats["transport_retries"] += 1
                        if wait is not None:  # the server said when: wait that long (a little more, never less)
                            self.stats["retry_after_waits"] += 1
                            await asyncio.sleep(wait * (1 + 0.1 * random.random()))
                        else:
                            delay = min(s.backoff_s * (2 ** attempt), s.backoff_max_s)
                            await asyncio.sleep(delay * (0.75 + 0.5 * random.random()))
                        continue
                    self._dead = (f"LLM server unavailable after {s.transport_retries + 1} attempts "
                                  f"(last: {last_transport}); finished work is kept, rerun to resume")
                    raise LLMUnavailable(self._dead) from exc
                reasks = counts["invalid"]
                return self._finish(key, prompt, value, None, reasks, dict(tokens), counts, t0, cache_it=True)
        raise AssertionError("unreachable")  # pragma: no cover

    @staticmethod
    def _validation_exhausted(exc: BaseException) -> bool:
        return bool(getattr(exc, "failed_attempts", None)) and not _is_transport_error(exc)[0]

    def _finish(self, key: str, prompt: Prompt, value: BaseModel | None, error: str | None, reasks: int,
                tokens: dict[str, int], counts: Counter, t0: float, cache_it: bool) -> LLMResult:
        latency = time.perf_counter() - t0
        self.stats["requests"] += counts["requests"]
        self.stats["reasks"] += reasks
        if value is None:
            self.stats["failures"] += 1
        if cache_it and value is not None and self.cache is not None:  # a failure is never an answer
            self.cache.put(key, value=value.model_dump(mode="json") if value is not None else None, error=error,
                           reasks=reasks, tokens=tokens, model=self.settings.model, latency_s=latency,
                           prompt_ref=prompt.ref)
        return LLMResult(value=value, error=error, reasks=reasks, latency_s=latency, tokens=tokens,
                         cached=False, model=self.settings.model, requests=counts["requests"], key=key)

    def _from_cache(self, hit, response_model: type[BaseModel], ctx: dict | None, key: str,
                    t0: float) -> LLMResult | None:
        if hit.value is None:
            return None  # a failure stored by an older medvl: ask again
        try:
            value = response_model.model_validate(hit.value, context=ctx)
        except ValidationError:
            return None  # the validators changed: ask again
        return LLMResult(value=value, error=None, reasks=hit.reasks, latency_s=time.perf_counter() - t0,
                         tokens=dict(hit.tokens), cached=True, model=hit.model or self.settings.model,
                         requests=0, key=key)

    # ------------------------------------------------------------------ many calls
    async def acall_many(self, jobs: list[tuple[Prompt, dict, type[BaseModel], dict | None]],
                         progress: ProgressFn | None = no_progress) -> list[LLMResult]:
        results: list[LLMResult | None] = [None] * len(jobs)
        progress = progress or no_progress
        progress(0, total=len(jobs))

        async def run(i: int, job) -> None:
            prompt, variables, model, ctx = job
            results[i] = await self.acall(prompt, variables, model, ctx)
            progress(1)

        tasks = [asyncio.ensure_future(run(i, j)) for i, j in enumerate(jobs)]
        try:
            for fut in asyncio.as_completed(tasks):
                await fut
        except LLMUnavailable as exc:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise LLMUnavailable(str(exc), partial=results) from exc
        except BaseException:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
        return results  # type: ignore[return-value]

    def call_many(self, jobs: list[tuple[Prompt, dict, type[BaseModel], dict | None]],
                  progress: ProgressFn | None = no_progress) -> list[LLMResult]:
        """Run jobs concurrently (at most `concurrency` in flight); results in job order.

        On a dead server raises LLMUnavailable whose `partial` list holds the finished results
        (None where a job did not finish)."""

        async def main() -> list[LLMResult]:
            try:
                return await self.acall_many(jobs, progress)
            finally:
                await self.aclose()

        return asyncio.run(main())

    def call(self, prompt: Prompt, variables: dict, response_model: type[BaseModel],
             validation_context: dict | None = None) -> LLMResult:
        return self.call_many([(prompt, variables, response_model, validation_context)])[0]

    async def aclose(self) -> None:
        """Close the HTTP clients of the running event loop (call before the loop ends)."""
        if self._state is not None:
            await self._state.aclose()
            self._state = None

    def close(self) -> None:
        if self.cache is not None:
            self.cache.close()


def _last_validation(exc: BaseException) -> str:
    """The last validation error in plain words (pydantic's messages without the boilerplate)."""
    attempts = getattr(exc, "failed_attempts", None) or []
    last = attempts[-1].exception if attempts else exc
    if isinstance(last, ValidationError):
        parts = []
        for e in last.errors():
            loc = ".".join(str(x) for x in e.get("loc", ()))
            msg = str(e.get("msg", "")).removeprefix("Value error, ")
            parts.append(f"{loc}: {msg}" if loc else msg)
        return "; ".join(parts)
    return f"{type(last).__name__}: {last}"


def settings_from_env(prefix: str = "MEDVL_LLM_", **overrides: Any) -> LLMSettings | None:
    """LLMSettings from $MEDVL_LLM_URL / _MODEL / _MODE, or None when no url is set."""
    import os

    url = overrides.pop("url", None) or os.environ.get(f"{prefix}URL")
    if not url:
        return None
    model = overrides.pop("model", None) or os.environ.get(f"{prefix}MODEL") or "smollm2-135m"
    mode = overrides.pop("mode", None) or os.environ.get(f"{prefix}MODE") or "json_schema"
    return LLMSettings(url=url, model=model, mode=mode, **overrides)


__all__ = ["LLMSettings", "LLMResult", "LLMUnavailable", "StructuredLLM", "MODES", "settings_from_env"]
