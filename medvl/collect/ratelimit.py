"""A thread-safe token bucket shared by every worker that talks to one service.

NCBI allows 3 E-utilities requests per second without an API key and 10 with one; one
:class:`TokenBucket` per service, shared by all threads, keeps the whole process under
that rate.  A 429 reply with ``Retry-After`` pauses the bucket for everybody
(:meth:`TokenBucket.pause`), not only for the thread that got it.

With ``burst=1`` (the default) requests are spaced by at least ``1/rate`` seconds, which
is what NCBI's servers measure; a larger burst lets short bursts through while keeping
the long-run average.
"""

from __future__ import annotations

import threading
import time
from typing import Callable

NCBI_RATE = 3.0  # requests per second without an API key
NCBI_RATE_WITH_KEY = 10.0


def ncbi_rate(api_key: str | None) -> float:
    return NCBI_RATE_WITH_KEY if api_key else NCBI_RATE


class TokenBucket:
    """Hand out one token per request at ``rate`` per second, to any number of threads."""

    def __init__(self, rate: float, burst: int = 1, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep, name: str = ""):
        if rate <= 0:
            raise ValueError(f"rate must be positive, got {rate}")
        if burst < 1:
            raise ValueError(f"burst must be at least 1, got {burst}")
        self.rate = float(rate)
        self.burst = int(burst)
        self.name = name
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._tokens = float(burst)
        self._last = clock()
        self._paused_until = 0.0
        self.waited_s = 0.0  # total time threads spent waiting, for reports
        self.acquired = 0

    def _refill(self, now: float) -> None:
        if now > self._last:
            self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
            self._last = now

    def reserve(self) -> float:
        """Take a token now, possibly on credit; return how long the caller must wait first.

        Reservations are handed out in call order, so waiting threads never starve each
        other and the spacing between reservations is exactly ``1/rate`` under load.
        """
        with self._lock:
            now = self._clock()
            if now < self._paused_until:
                # Nothing may start before the pause ends; the bucket restarts empty then.
                self._last = max(self._last, self._paused_until)
                self._tokens = min(self._tokens, 0.0)
            else:
                self._refill(now)
            self._tokens -= 1.0
            self.acquired += 1
            start = max(now, self._paused_until, self._last)
            if self._tokens >= 0:
                return max(0.0, start - now)
            # Short of tokens: wait until the debt is repaid.
            return max(0.0, start - now) + (-self._tokens) / self.rate

    def acquire(self, cancel: threading.Event | None = None) -> None:
        """Block until this thread may send one request (returns early if `cancel` is set)."""
        wait = self.reserve()
        if wait > 0:
            with self._lock:
                self.waited_s += wait
            if cancel is not None:
                cancel.wait(wait)
            else:
                self._sleep(wait)

    def pause(self, seconds: float) -> None:
        """Stop every thread from starting a request for `seconds` (e.g. a 429's Retry-After)."""
        if seconds <= 0:
            return
        with self._lock:
            self._paused_until = max(self._paused_until, self._clock() + seconds)
