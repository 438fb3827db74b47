"""vLLM's own cumulative counters, read from the server's Prometheus page: what the server really did,
independent of what medvl's client reports."""

from __future__ import annotations

import re

import httpx

from tests.helpers.env import LLM_URL

COUNTERS = (("vllm:iteration_tokens_total_count", "iterations"),  # engine steps
            ("vllm:generation_tokens_total", "generated"),
            ("vllm:request_success_total", "finished"))


def server_counters(url: str | None = None) -> dict[str, float]:
    """Each counter summed over its label sets; a missing counter fails loudly (a vLLM upgrade renamed it)."""
    base = (url or LLM_URL or "").rstrip("/").removesuffix("/v1")
    text = httpx.get(f"{base}/metrics", timeout=30).text
    out: dict[str, float] = {}
    for name, key in COUNTERS:
        values = re.findall(rf"^{re.escape(name)}(?:\{{[^}}]*\}})? ([0-9.eE+]+)$", text, re.M)
        assert values, f"{name} missing from {base}/metrics"
        out[key] = sum(float(v) for v in values)
    return out


def server_requests(url: str | None = None) -> float:
    """vLLM's own count of finished requests."""
    return server_counters(url)["finished"]
