"""Span splitting against the real local vLLM server (SmolLM2-135M on the CPU).

The per-caption schema (Literal labels and piece ids) must be accepted by vLLM's guided decoding and
the answers must be valid: labels the caption marks, texts verbatim from the pieces.  The tiny model's
accuracy is not asserted.  Two short captions, small max_tokens."""

from __future__ import annotations


import pytest

from medvl.llm.client import LLMSettings
from medvl.split.llm import LLMSplitter, rule_subcaptions
from medvl.split.pieces import cut_caption, mark_labels
from medvl.split.rules import split_caption
from tests.helpers.textcheck import is_verbatim
from tests.helpers.env import LLM_MODEL, LLM_URL, needs_llm

URL, MODEL = LLM_URL, LLM_MODEL

pytestmark = [pytest.mark.llm, pytest.mark.slow, needs_llm]

CAPTIONS = [  # written for this test
    ("s1", "Knee MRI. (A) Sagittal PD image shows a meniscal tear. (B) Coronal image of the same knee."),
    ("s2", "Left: axial CT of the chest. Right: the same slice after treatment."),
]


def test_span_split_answers_are_accepted_and_verbatim(tmp_path):
    settings = LLMSettings(url=URL, model=MODEL, timeout_s=180, concurrency=2, max_reasks=1,
                           params={"max_tokens": 96}, cache_path=tmp_path / "cache.sqlite")
    sp = LLMSplitter.from_ref(settings, "split/spans_zeroshot@1")
    sp.llm.check_server()
    rows = sp.split_many(CAPTIONS)
    sp.close()
    accepted = [r for r in rows if r.splitter == "llm"]
    assert accepted, [r.fallback_reason for r in rows]  # guided decoding made at least one valid answer
    for (_, cap), r in zip(CAPTIONS, rows):
        assert r.prompt_id == "split/spans_zeroshot@1" and r.model == MODEL and r.spans["pieces"]
        if r.splitter == "llm":
            allowed = set(mark_labels(cut_caption(cap))) | {"_shared"}
            assert {s.label for s in r.subcaptions} <= allowed
            assert all(is_verbatim(s.text, cap) for s in r.subcaptions)
            assert r.spans["answer"]
        else:
            assert r.fallback_reason and r.subcaptions == rule_subcaptions(cap)
    # a rerun is answered from the cache
    again = LLMSplitter.from_ref(settings, "split/spans_zeroshot@1")
    rows2 = again.split_many(CAPTIONS)
    again.close()
    assert all(r.cached for r in rows2) and again.llm.stats["requests"] == 0
    assert [r.subcaptions for r in rows2] == [r.subcaptions for r in rows]
