"""The LLM aligner: per-figure schema and validators, auto vs llm vs rules, fallbacks, dead server, the
vision request shape.  The fake server answers what the rules would not (a count mismatch the rules
reject, a reversed order), so every assertion tells the model's path from the rules'."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from medvl.align import AlignSettings, align_figure, align_run
from medvl.align_llm import (LLMAligner, aligner_counts, answer_model, figure_question, model_for_prompt_input,
                             panel_views)
from medvl.llm.client import LLMSettings
from medvl.prompts import load_prompt
from medvl.runs import RunDir, read_jsonl, write_jsonl
from tests.helpers.align_rows import GRID, ROW, make_figure, make_split
from tests.helpers.fake_llm import FakeLLM, Reply, free_port

THREE = [[0, 0, 60, 200], [70, 0, 130, 200], [140, 0, 200, 200]]


def llm_settings(url: str, **kw) -> LLMSettings:
    base = dict(url=url, model="fake-model", backoff_s=0.01, backoff_max_s=0.05, timeout_s=5, transport_retries=1,
                max_reasks=1)
    base.update(kw)
    return LLMSettings(**base)


def mismatch_figure(rd, paper="p1", idx=0):
    """3 panels without letters, 2 subcaptions: the rules reject both (count_mismatch)."""
    fig = make_figure(rd, paper, idx, "Figure 1. CT. (A) Before. (B) After.", THREE)
    return fig, make_split(fig, [("_shared", "CT"), ("A", "Before"), ("B", "After")])


def test_per_figure_schema_is_strict_and_valid_ids_only(tmp_path):
    rd = RunDir(tmp_path)
    fig = make_figure(rd, "p1", 0, "Figure 1. (A) a. (B) b.", ROW, ["A", "B"])
    views = panel_views(fig, [0, 1])
    assert [v.key for v in views] == ["P1", "P2"] and views[0].box == (0.0, 0.0, 0.47, 1.0)
    assert views[1].row == 1 and views[1].col == 2 and views[0].source == "pdf_text"
    model = answer_model(["A", "B"], {"A": "a", "B": "b"}, views)
    schema = json.dumps(model.model_json_schema())
    assert '"enum": ["P1", "P2", "none"]' in schema and '"required": ["A", "B"]' in schema
    ok = model.model_validate({"A": {"panel": "P1", "reason": "letter_match"},
                               "B": {"panel": "P2", "reason": "letter_match"}})
    assert ok.choices()["B"].panel == "P2"
    bad = [
        {"A": {"panel": "P3", "reason": "letter_match"}, "B": {"panel": "P2", "reason": "letter_match"}},  # no P3
        {"A": {"panel": "P1", "reason": "letter_match"}},  # B missing: no default makes it "none"
        {"A": {"panel": "P1", "reason": "letter_match"}, "B": {"panel": "P2", "reason": "letter_match"}, "C": {}},
        {"A": {"panel": "P1", "reason": "because"}, "B": {"panel": "P2", "reason": "letter_match"}},
    ]
    for b in bad:
        with pytest.raises(ValidationError):
            model.model_validate(b)


def test_validators_conflicts_and_letter_disagreement(tmp_path):
    rd = RunDir(tmp_path)
    fig = make_figure(rd, "p1", 0, "Figure 1. (A) a. (B) b.", ROW, ["A", "B"])
    views = panel_views(fig, [0, 1])
    model = answer_model(["A", "B"], {"A": "a", "B": "b"}, views)
    with pytest.raises(ValidationError, match="given to both 'A' and 'B'"):
        model.model_validate({"A": {"panel": "P1", "reason": "letter_match"},
                              "B": {"panel": "P1", "reason": "letter_misread"}})
    with pytest.raises(ValidationError, match="detected letter is 'B'"):
        model.model_validate({"A": {"panel": "P2", "reason": "letter_match"}, "B": {"panel": "none", "reason": "no_panel"}})
    # a named reason allows the disagreement; grouped labels (same text) may share a panel
    model.model_validate({"A": {"panel": "P2", "reason": "letter_misread"}, "B": {"panel": "P1", "reason": "letter_misread"}})
    grouped = answer_model(["A", "B"], {"A": "same", "B": "same"}, panel_views(fig, [0, 1]))
    grouped.model_validate({"A": {"panel": "P1", "reason": "grouped_label"}, "B": {"panel": "P1", "reason": "grouped_label"}})


def test_align_prompts_examples_are_valid_and_listed():
    refs = {p.ref for p in __import__("medvl.prompts", fromlist=["list_prompts"]).list_prompts()}
    assert {"align/zeroshot@1", "align/fewshot@1"} <= refs
    p = load_prompt("align/fewshot@1")
    assert len(p.examples) == 2
    for ex in p.examples:
        model_for_prompt_input(ex["input"]).model_validate(ex["output"])


@pytest.mark.slow
def test_llm_replaces_rules_and_auto_only_adds(tmp_path):
    rd = RunDir(tmp_path)
    fig, split = mismatch_figure(rd)
    rule_pairs, rule_rejects = align_figure(fig, split, AlignSettings(), rd)
    assert rule_pairs == [] and {r.reason for r in rule_rejects} == {"count_mismatch", "no_subcaption_for_panel"}
    answer = {"A": {"panel": "P1", "reason": "reading_order"}, "B": {"panel": "P3", "reason": "reading_order"}}
    with FakeLLM(lambda b, n: Reply(content=json.dumps(answer))) as fake:
        write_jsonl(rd.file("figures.jsonl"), [fig])
        write_jsonl(rd.file("subcaptions.jsonl"), [split])
        s = align_run(tmp_path, AlignSettings(aligner="auto"), llm_settings=llm_settings(fake.url))
        assert len(fake.requests) == 1
    pairs = list(read_jsonl(rd.file("pairs.jsonl")))
    assert [(p["label"], p["panel_id"], p["method"]) for p in pairs] == [
        ("A", fig.panels[0].panel_id, "llm"), ("B", fig.panels[2].panel_id, "llm")]
    assert pairs[0]["text"] == "CT. Before." and pairs[0]["llm"]["rescued"] is True
    assert pairs[0]["llm"]["prompt_id"] == "align/fewshot@1" and pairs[0]["llm"]["model"] == "fake-model"
    assert pairs[0]["llm"]["prompt_sha"] == load_prompt("align/fewshot@1").sha and pairs[0]["llm"]["reason"]
    rejects = [r for r in read_jsonl(rd.file("rejects.jsonl")) if r["stage"] == "align"]
    assert [r["reason"] for r in rejects] == ["no_subcaption_for_panel"]  # P2: the model gave it nothing
    assert s.figures_by_aligner == {"rules": 0, "llm": 1, "llm_rescued": 1, "llm_fallback": 0}


def test_auto_keeps_sure_rule_figures_and_never_replaces_rule_pairs(tmp_path):
    rd = RunDir(tmp_path)
    sure = make_figure(rd, "p1", 0, "Figure 1. (A) a. (B) b.", ROW, ["A", "B"])
    sure_split = make_split(sure, [("A", "a"), ("B", "b")])
    # letters read for A only; B and C go by order (unsure): the model is asked, but A's rule pair stays
    part = make_figure(rd, "p1", 1, "Figure 2. (A) x. (B) y. (C) z.", THREE, ["A", None, None])
    part_split = make_split(part, [("A", "x"), ("B", "y"), ("C", "z")])
    asked = []

    def answer(body, n):
        asked.append(body)
        # reversed: C on P2, B on P3, A on P1 (agrees)
        return Reply(content=json.dumps({"A": {"panel": "P1", "reason": "letter_match"},
                                         "B": {"panel": "P3", "reason": "reading_order"},
                                         "C": {"panel": "P2", "reason": "reading_order"}}))

    write_jsonl(rd.file("figures.jsonl"), [sure, part])
    write_jsonl(rd.file("subcaptions.jsonl"), [sure_split, part_split])
    with FakeLLM(answer) as fake:
        align_run(tmp_path, AlignSettings(aligner="auto"), llm_settings=llm_settings(fake.url))
        assert len(asked) == 1  # only the unsure figure
        auto = {(p["figure_id"], p["label"]): p for p in read_jsonl(rd.file("pairs.jsonl"))}
        assert auto[(part.figure_id, "B")]["method"] == "order"  # the rule pair stays (no replace)
        assert auto[(part.figure_id, "B")]["panel_id"] == part.panels[1].panel_id
        assert auto[(sure.figure_id, "A")]["method"] == "letter"
        # llm: every figure with 2+ panels is asked, and its answer replaces the rule steps
        align_run(tmp_path, AlignSettings(aligner="auto", replace_unsure=True), llm_settings=llm_settings(fake.url))
        rep = {(p["figure_id"], p["label"]): p for p in read_jsonl(rd.file("pairs.jsonl"))}
        assert rep[(part.figure_id, "B")]["method"] == "llm"
        assert rep[(part.figure_id, "B")]["panel_id"] == part.panels[2].panel_id
        assert rep[(part.figure_id, "B")]["llm"]["rescued"] is False  # the rules had paired B
        assert rep[(sure.figure_id, "A")]["method"] == "letter"


def test_invalid_answer_keeps_rule_pairs_with_the_reason(tmp_path):
    rd = RunDir(tmp_path)
    fig = make_figure(rd, "p1", 0, "Figure 1. (A) a. (B) b.", ROW, ["A", "B"])
    split = make_split(fig, [("A", "a"), ("B", "b")])
    write_jsonl(rd.file("figures.jsonl"), [fig])
    write_jsonl(rd.file("subcaptions.jsonl"), [split])
    # always the same conflict: A and B on P1
    bad = {"A": {"panel": "P1", "reason": "letter_match"}, "B": {"panel": "P1", "reason": "letter_misread"}}
    with FakeLLM(lambda b, n: Reply(content=json.dumps(bad))) as fake:
        s = align_run(tmp_path, AlignSettings(aligner="llm"), llm_settings=llm_settings(fake.url))
        assert len(fake.requests) == 2  # asked and re-asked with the validation error
        assert "given to both" in json.dumps(fake.requests[1]["messages"])
    pairs = list(read_jsonl(rd.file("pairs.jsonl")))
    assert [p["method"] for p in pairs] == ["letter", "letter"]
    assert pairs[0]["llm"]["fallback_reason"].startswith("rule pairs kept: invalid after 1 re-asks")
    assert s.llm_fallbacks == {"invalid after 1 re-asks": 1}
    assert s.figures_by_aligner["llm_fallback"] == 1


def test_dead_server_keeps_rule_pairs_and_says_so(tmp_path):
    rd = RunDir(tmp_path)
    fig, split = mismatch_figure(rd)
    ok = make_figure(rd, "p2", 0, "Figure 1. (A) a. (B) b.", ROW, ["A", "B"])
    ok_split = make_split(ok, [("A", "a"), ("B", "b")])
    write_jsonl(rd.file("figures.jsonl"), [fig, ok])
    write_jsonl(rd.file("subcaptions.jsonl"), [split, ok_split])
    url = f"http://127.0.0.1:{free_port()}/v1"
    s = align_run(tmp_path, AlignSettings(aligner="auto"), llm_settings=llm_settings(url))
    assert "does not answer" in s.note and "rule pairs were kept" in s.note
    pairs = list(read_jsonl(rd.file("pairs.jsonl")))
    assert {p["method"] for p in pairs} == {"letter"}
    rej = [r for r in read_jsonl(rd.file("rejects.jsonl")) if r["reason"] == "count_mismatch"]
    assert rej and all("LLM aligner: rule result kept" in r["detail"] for r in rej)
    # the paper the server could not answer is not settled: a rerun with a live server asks again
    answer = {"A": {"panel": "P1", "reason": "reading_order"}, "B": {"panel": "P2", "reason": "reading_order"}}
    with FakeLLM(lambda b, n: Reply(content=json.dumps(answer))) as fake:
        s2 = align_run(tmp_path, AlignSettings(aligner="auto"), llm_settings=llm_settings(fake.url))
        assert len(fake.requests) == 1 and s2.papers_skipped == 1
    assert s2.figures_by_aligner["llm_rescued"] == 1 and not s2.note
    from medvl.pipeline import run_status

    align = next(r for r in run_status(tmp_path) if r["stage"] == "align")
    assert align["redone"] == {"figures the server did not answer asked again": 1}


def test_auto_without_a_server_is_rules_and_says_so(tmp_path):
    rd = RunDir(tmp_path)
    fig, split = mismatch_figure(rd)
    write_jsonl(rd.file("figures.jsonl"), [fig])
    write_jsonl(rd.file("subcaptions.jsonl"), [split])
    s = align_run(tmp_path, AlignSettings(aligner="auto"))
    assert s.aligner == "rules" and "no LLM server" in s.note
    # the same settings sha as a plain rules run: nothing is redone
    assert AlignSettings(aligner="auto", prompt="align/zeroshot@1").sha() != AlignSettings().sha()
    assert AlignSettings(aligner="rules", prompt="align/zeroshot@1").sha() == AlignSettings().sha()


def test_vision_request_has_the_image_and_the_cache_key_covers_it(tmp_path):
    rd = RunDir(tmp_path)
    fig, split = mismatch_figure(rd)
    q_text = figure_question(fig, split, AlignSettings(aligner="llm"), rd)
    q_img = figure_question(fig, split, AlignSettings(aligner="llm", vision=True), rd)
    assert "_images" not in q_text.variables and q_img.variables["_images"][0].startswith("data:image/png;base64,")
    answer = {"A": {"panel": "P2", "reason": "reading_order"}, "B": {"panel": "P3", "reason": "reading_order"}}
    with FakeLLM(lambda b, n: Reply(content=json.dumps(answer))) as fake:
        al = LLMAligner(llm_settings(fake.url, cache_path=tmp_path / "c.sqlite"), AlignSettings(aligner="llm", vision=True))
        r1 = al.ask([q_img])[0]
        r2 = al.ask([q_img])[0]  # cached
        r3 = al.ask([q_text])[0]  # the same figure without the image: another key, another request
        al.close()
        assert r1.ok and r2.cached and not r3.cached and len(fake.requests) == 2
        user = fake.requests[0]["messages"][-1]
        assert isinstance(user["content"], list)
        kinds = [part["type"] for part in user["content"]]
        assert kinds == ["text", "image_url"]
        assert "attached" in user["content"][0]["text"]
        assert user["content"][1]["image_url"]["url"] == q_img.variables["_images"][0]
        assert isinstance(fake.requests[1]["messages"][-1]["content"], str)


def test_aligner_counts_from_pair_rows():
    rows = [{"figure_id": "f1", "method": "letter"}, {"figure_id": "f2", "method": "llm", "llm": {"rescued": True}},
            {"figure_id": "f2", "method": "order"}, {"figure_id": "f3", "method": "letter",
                                                     "llm": {"fallback_reason": "x"}}]
    assert aligner_counts(rows) == {"rules": 2, "llm": 1, "llm_rescued": 1, "llm_fallback": 1}


ALIGN_PINNED = {  # a used prompt version is never edited: new wording is a new file
    "align/zeroshot@1": "9fe823a41b24abca01b4e9452d403f4303506d9f48a3173e9be49589582e758b",
    "align/fewshot@1": "94f90fb95b248c65c700a6e99d448af4733d59265b0e9ad627f803f4fb4591a1",
}


@pytest.mark.parametrize("ref", sorted(ALIGN_PINNED))
def test_align_prompts_are_pinned(ref):
    assert load_prompt(ref).sha == ALIGN_PINNED[ref], f"{ref} changed; write a new version instead"


def test_auto_fill_figure_adds_only_where_the_rules_paired_nothing(tmp_path):
    from medvl.align_llm import merge_added

    rd = RunDir(tmp_path)
    # A lettered (rule pair), B and C left over for 3 unlettered panels: the rules reject them
    fig = make_figure(rd, "p1", 0, "Figure 1. (A) a. (B) b. (C) c.", GRID, ["A", None, None, None])
    split = make_split(fig, [("A", "a"), ("B", "b"), ("C", "c")])
    rp, rr = align_figure(fig, split, AlignSettings(), rd)
    assert [p.label for p in rp] == ["A"] and any(r.reason == "count_mismatch" for r in rr)
    from medvl.align_llm import LLMAssignment

    llm = LLMAssignment(assign={"A": fig.panels[0].panel_id, "B": fig.panels[1].panel_id, "C": fig.panels[3].panel_id},
                        reasons={}, info={"model": "m"})
    lp, lr = align_figure(fig, split, AlignSettings(), rd, llm=llm)
    kept, _, added = merge_added(rp, rr, lp, lr, fill="figure")
    assert added == 0 and kept == rp
    more, rej, added = merge_added(rp, rr, lp, lr, fill="subcaption")
    assert added == 2 and [p.label for p in more] == ["A", "B", "C"] and more[0] == rp[0]
    assert not any(r.reason == "count_mismatch" for r in rej)
