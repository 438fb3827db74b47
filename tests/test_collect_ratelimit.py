"""The shared token bucket: spacing, pauses (Retry-After), many threads; and Retry-After parsing."""

from __future__ import annotations

import threading
import time

import pytest

from medvl.collect.http import parse_retry_after
from medvl.collect.ratelimit import TokenBucket, ncbi_rate


class FakeClock:
    def __init__(self):
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_ncbi_rates():
    assert ncbi_rate(None) == 3.0
    assert ncbi_rate("abc") == 10.0


def test_reservations_are_spaced_by_one_over_rate():
    clock = FakeClock()
    tb = TokenBucket(4.0, clock=clock)
    waits = [tb.reserve() for _ in range(4)]
    assert waits == pytest.approx([0.0, 0.25, 0.5, 0.75])
    clock.t += 10  # idle time refills only up to the burst
    assert tb.reserve() == pytest.approx(0.0)
    assert tb.reserve() == pytest.approx(0.25)


def test_burst_lets_that_many_through_at_once():
    clock = FakeClock()
    tb = TokenBucket(2.0, burst=3, clock=clock)
    assert [tb.reserve() for _ in range(4)] == pytest.approx([0, 0, 0, 0.5])


def test_pause_holds_everybody_until_it_ends():
    clock = FakeClock()
    tb = TokenBucket(10.0, clock=clock)
    assert tb.reserve() == 0.0
    tb.pause(2.0)
    w1, w2 = tb.reserve(), tb.reserve()
    assert w1 >= 2.0
    assert w2 >= w1 + 0.1 - 1e-9
    clock.t += 5.0
    assert tb.reserve() == pytest.approx(0.0, abs=1e-9)


def test_rejects_bad_rates():
    with pytest.raises(ValueError):
        TokenBucket(0)
    with pytest.raises(ValueError):
        TokenBucket(1, burst=0)


def test_threads_share_one_rate():
    tb = TokenBucket(50.0)
    stamps: list[float] = []
    lock = threading.Lock()

    def worker():
        for _ in range(5):
            tb.acquire()
            with lock:
                stamps.append(time.monotonic())

    threads = [threading.Thread(target=worker) for _ in range(4)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(stamps) == 20
    # 20 grants at 50/s, the first one free: the last cannot come before 19/50 s
    # (sleeping late only makes it later)
    assert max(stamps) - t0 >= 19 / 50 * 0.99
    assert tb.acquired == 20


def test_parse_retry_after():
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after("0.5") == 0.5
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    # An HTTP date 10 s after "now"
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:10 GMT", now=1445412480.0) == pytest.approx(10.0)
