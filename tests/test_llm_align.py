"""The LLM aligner against the real local vLLM server (SmolLM2-135M on the CPU).

The per-figure schema must be accepted by vLLM's guided decoding and every answer must name panel ids
of its own figure; at least one figure must be paired by the model (not a fallback); a rerun is served
from the cache; a dead server keeps the rule pairs and says so.  Accuracy is not asserted (135M)."""

from __future__ import annotations


import pytest

from medvl.align import AlignSettings, align_run
from medvl.align_llm import LLMAligner, figure_question
from medvl.llm.client import LLMSettings
from medvl.runs import RunDir, read_jsonl, write_jsonl
from tests.helpers.align_rows import make_figure, make_split
from tests.helpers.fake_llm import free_port
from tests.helpers.env import LLM_MODEL, LLM_URL, needs_llm

URL, MODEL = LLM_URL, LLM_MODEL

pytestmark = [pytest.mark.llm, pytest.mark.slow, needs_llm]

ROW2 = [[0, 0, 95, 200], [105, 0, 200, 200]]
ROW3 = [[0, 0, 60, 200], [70, 0, 130, 200], [140, 0, 200, 200]]


def settings(tmp_path, **kw) -> LLMSettings:
    base = dict(url=URL, model=MODEL, timeout_s=180, concurrency=2, max_reasks=2, params={"max_tokens": 100},
                cache_path=tmp_path / "align-cache.sqlite")
    base.update(kw)
    return LLMSettings(**base)


def figures(rd):
    """Two figures the rules cannot pair (no letters read, more panels than subcaptions)."""
    out = []
    for i, (boxes, subs) in enumerate([(ROW3, [("A", "Axial CT before surgery"), ("B", "Axial CT after surgery")]),
                                       (ROW3, [("A", "T1 image"), ("B", "T2 image")])]):
        fig = make_figure(rd, f"p{i}", 0, "Figure 1. (A) x. (B) y.", boxes)
        out.append((fig, make_split(fig, subs)))
    return out


def test_llm_aligns_with_valid_ids_and_reruns_from_cache(tmp_path):
    rd = RunDir(tmp_path / "run")
    figs = figures(rd)
    write_jsonl(rd.file("figures.jsonl"), [f for f, _ in figs])
    write_jsonl(rd.file("subcaptions.jsonl"), [s for _, s in figs])
    # SmolLM2-135M answers "none" for every subcaption whenever it may (a valid answer that pairs
    # nothing): these figures have a panel for every subcaption, so "none" is left out of the schema
    st = AlignSettings(aligner="llm", prompt="align/zeroshot@1", offer_none="when_needed")
    s = align_run(rd.path, st, llm_settings=settings(tmp_path))
    assert s.aligner == "llm" and s.llm_asked == 2 and not s.note
    pairs = list(read_jsonl(rd.file("pairs.jsonl")))
    own = {f.figure_id: {p.panel_id for p in f.panels} for f, _ in figs}
    assert s.figures_by_aligner["llm"] + s.figures_by_aligner["llm_fallback"] >= 1
    llm_pairs = [p for p in pairs if p["method"] == "llm"]
    assert llm_pairs, [p.get("llm") for p in pairs]  # at least one figure paired by the model itself
    for p in llm_pairs:
        assert p["panel_id"] in own[p["figure_id"]]
        assert p["llm"]["model"] == MODEL and p["llm"]["prompt_id"] == "align/zeroshot@1"
    assert s.figures_by_aligner["llm"] >= 1
    # the same questions again: answered from the cache, no request
    al = LLMAligner(settings(tmp_path), st)
    qs = [figure_question(f, sp, st, rd) for f, sp in figs]
    res = al.ask(qs)
    al.close()
    assert all(r.cached for r in res) and al.llm.stats["requests"] == 0


def test_dead_server_keeps_rule_pairs(tmp_path):
    rd = RunDir(tmp_path / "run")
    fig = make_figure(rd, "p9", 0, "Figure 1. (A) a. (B) b.", ROW2, ["A", "B"])
    write_jsonl(rd.file("figures.jsonl"), [fig])
    write_jsonl(rd.file("subcaptions.jsonl"), [make_split(fig, [("A", "a"), ("B", "b")])])
    dead = settings(tmp_path, url=f"http://127.0.0.1:{free_port()}/v1", transport_retries=0)
    s = align_run(rd.path, AlignSettings(aligner="llm"), llm_settings=dead)
    assert "rule pairs were kept" in s.note
    assert [p["method"] for p in read_jsonl(rd.file("pairs.jsonl"))] == ["letter", "letter"]
