"""HTTP for collect: httpx with a shared rate limit, retries with backoff, 429/Retry-After,
and downloads that reach their final name only when complete and valid.

Every failure becomes a :class:`FetchError` with a short ``reason`` code (``http_404``,
``http_500``, ``timeout``, ``truncated``, ``network``, ``interrupted`` ...) and clear words
in ``detail``, so the caller can write it into the manifest as is.
"""

from __future__ import annotations

import email.utils
import hashlib
import os
import random
import tempfile
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Callable, Iterator

import httpx

from medvl.collect.ratelimit import TokenBucket

RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
RETRY_REASONS = frozenset({"timeout", "truncated", "network"})


class FetchError(Exception):
    """A request that failed for good (after retries), with a manifest-ready reason."""

    def __init__(self, reason: str, detail: str, url: str = "", status: int | None = None):
        self.reason = reason
        self.detail = detail
        self.url = url
        self.status = status
        super().__init__(f"{url}: {detail}" if url else detail)


class ContentError(FetchError):
    """The server answered, but not with what was asked for (an HTML page instead of a PDF,
    a truncated PDF, XML that does not parse ...).  Not retried on the same source."""


class Interrupted(FetchError):
    def __init__(self, url: str = ""):
        super().__init__("interrupted", "stopped by the user before the download finished", url)


class _Final(Exception):
    """Carries a FetchError out of the retry loop without another attempt."""

    def __init__(self, error: FetchError):
        self.error = error


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (now if now is not None else time.time()))


@dataclass
class Download:
    url: str
    path: Path
    size: int
    sha256: str
    md5: str
    content_type: str
    status: int
    attempts: int = 1


@dataclass
class HttpSettings:
    timeout_s: float = 60.0
    retries: int = 4  # extra attempts after the first
    backoff_s: float = 1.0  # first backoff; doubles each retry, with jitter
    max_backoff_s: float = 60.0
    max_retry_after_s: float = 300.0  # a longer Retry-After fails the request instead of hanging
    user_agent: str = "medvl-collect"
    headers: dict[str, str] = field(default_factory=dict)


class Http:
    """One httpx client shared by all workers; every request goes through a TokenBucket."""

    def __init__(self, settings: HttpSettings | None = None, cancel: threading.Event | None = None,
                 transport: httpx.BaseTransport | None = None):
        self.s = settings or HttpSettings()
        self.cancel = cancel or threading.Event()
        headers = {"User-Agent": self.s.user_agent, **self.s.headers}
        self.client = httpx.Client(timeout=httpx.Timeout(self.s.timeout_s), follow_redirects=True,
                                   headers=headers, transport=transport)
        self._lock = threading.Lock()
        self.requests = 0
        self.retried = 0

    def close(self) -> None:
        self.client.close()

    # ------------------------------------------------------------ internals
    def _sleep(self, seconds: float, url: str) -> None:
        if seconds > 0 and self.cancel.wait(seconds):
            raise Interrupted(url)

    def _backoff(self, attempt: int) -> float:
        base = min(self.s.max_backoff_s, self.s.backoff_s * (2 ** attempt))
        return base * (1.0 + 0.25 * random.random())

    def _count(self, retried: bool = False) -> None:
        with self._lock:
            self.requests += 1
            if retried:
                self.retried += 1

    def _send(self, method: str, url: str, limiter: TokenBucket | None, params: dict | None,
              handle: Callable[[httpx.Response], object]) -> tuple[object, int]:
        """Send with retries; `handle` reads a 2xx response (streamed) and returns the result."""
        last: FetchError | None = None
        for attempt in range(self.s.retries + 1):
            if self.cancel.is_set():
                raise Interrupted(url)
            if limiter is not None:
                limiter.acquire(self.cancel)
                if self.cancel.is_set():
                    raise Interrupted(url)
            self._count(retried=attempt > 0)
            wait: float | None = None
            try:
                with self.client.stream(method, url, params=params) as resp:
                    if resp.status_code >= 400:
                        resp.read()
                        detail = f"HTTP {resp.status_code} {resp.reason_phrase or ''}".strip()
                        if resp.status_code in (429, 503):
                            retry_after = resp.headers.get("Retry-After")
                            wait = parse_retry_after(retry_after)
                            if retry_after:
                                detail += f" (Retry-After {retry_after})"
                        err = FetchError(f"http_{resp.status_code}", detail, url, resp.status_code)
                        if resp.status_code not in RETRY_STATUSES:
                            raise _Final(err)
                        if wait is not None and wait > self.s.max_retry_after_s:
                            err.detail += f"; refusing to wait more than {self.s.max_retry_after_s:.0f}s"
                            raise _Final(err)
                        raise err
                    return handle(resp), attempt + 1
            except _Final as fin:
                raise fin.error from None
            except (ContentError, Interrupted):
                raise
            except FetchError as exc:
                if exc.reason not in RETRY_REASONS and exc.status not in RETRY_STATUSES:
                    raise
                last = exc
            except httpx.TimeoutException as exc:
                last = FetchError("timeout", f"no complete answer within {self.s.timeout_s:g}s "
                                  f"({type(exc).__name__})", url)
            except httpx.RemoteProtocolError as exc:
                last = FetchError("truncated", f"the connection closed before the whole body arrived ({exc})",
                                  url)
            except (httpx.TransportError, OSError) as exc:
                last = FetchError("network", f"{type(exc).__name__}: {exc}", url)
            if attempt < self.s.retries:
                if wait is not None:
                    if limiter is not None:
                        limiter.pause(wait)  # every worker waits, not only this one
                    self._sleep(wait, url)
                else:
                    self._sleep(self._backoff(attempt), url)
        assert last is not None
        if self.s.retries:
            last.detail += f" (after {self.s.retries + 1} attempts)"
        raise last

    # ------------------------------------------------------------ public API
    def get_bytes(self, url: str, *, params: dict | None = None, limiter: TokenBucket | None = None,
                  max_bytes: int = 256 << 20) -> tuple[bytes, httpx.Headers]:
        """GET a whole (small) body into memory; checks Content-Length."""

        def handle(resp: httpx.Response):
            chunks, n = [], 0
            for chunk in resp.iter_bytes():
                if self.cancel.is_set():
                    raise Interrupted(url)
                n += len(chunk)
                if n > max_bytes:
                    raise ContentError("too_large", f"more than {max_bytes} bytes", url)
                chunks.append(chunk)
            body = b"".join(chunks)
            _check_length(resp, n, url)
            return body, resp.headers

        result, _ = self._send("GET", url, limiter, params, handle)
        return result  # type: ignore[return-value]

    def download(self, url: str, dest: Path, *, limiter: TokenBucket | None = None,
                 validate: Callable[[Path, bytes, bytes, httpx.Headers], None] | None = None,
                 params: dict | None = None, expected_md5: str | None = None) -> Download:
        """Stream `url` into a temp file beside `dest`, validate it, then rename it to `dest`.

        `validate(tmp_path, head, tail, headers)` raises :class:`ContentError` to refuse the
        file; then nothing is left under `dest` (nor a temp file).
        """
        dest = Path(dest)

        def handle(resp: httpx.Response):
            sha, md5 = hashlib.sha256(), hashlib.md5()
            head, tail, n = b"", b"", 0
            with _temp_beside(dest) as (fh, tmp_path):
                for chunk in resp.iter_bytes(1 << 16):
                    if self.cancel.is_set():
                        raise Interrupted(url)
                    fh.write(chunk)
                    sha.update(chunk)
                    md5.update(chunk)
                    n += len(chunk)
                    if len(head) < 2048:
                        head += chunk[: 2048 - len(head)]
                    tail = (tail + chunk)[-2048:]
                _check_length(resp, n, url)
                fh.flush()
                if validate is not None:
                    validate(tmp_path, head, tail, resp.headers)
                if expected_md5 and md5.hexdigest() != expected_md5.lower():
                    raise ContentError("checksum_mismatch", f"MD5 {md5.hexdigest()} differs from the "
                                       f"source's {expected_md5.lower()}", url)
            return Download(url=str(resp.url), path=dest, size=n, sha256=sha.hexdigest(),
                            md5=md5.hexdigest(), content_type=resp.headers.get("content-type", ""),
                            status=resp.status_code)

        result, attempts = self._send("GET", url, limiter, params, handle)
        result.attempts = attempts  # type: ignore[attr-defined]
        return result  # type: ignore[return-value]


def _check_length(resp: httpx.Response, n: int, url: str) -> None:
    declared = resp.headers.get("content-length")
    if declared and not resp.headers.get("content-encoding"):
        try:
            want = int(declared)
        except ValueError:
            return
        if n != want:
            raise FetchError("truncated", f"received {n} bytes but Content-Length said {want}", url)


@contextmanager
def _temp_beside(dest: Path) -> Iterator[tuple[IO[bytes], Path]]:
    """A temp file next to `dest`, fsynced and renamed to `dest` on success, removed on failure."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    tmp_path = Path(tmp)
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh, tmp_path
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp_path, dest)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise
