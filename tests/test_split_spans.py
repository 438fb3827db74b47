"""Span splitting: the deterministic cut, the per-caption schema, text rebuilt from pieces, the
splitter's rows (against the fake server: it answers what the rules would not)."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from medvl.prompts import load_prompt
from medvl.split.llm import LLMSplitter, rule_subcaptions
from medvl.split.pieces import cut_caption, mark_labels, rebuild_text, text_pieces
from medvl.split.rules import split_caption
from medvl.split.spans import SpanAnswer, cut_record
from tests.helpers.fake_llm import FakeLLM, Reply, last_user, settings
from tests.helpers.textcheck import is_verbatim

# captions written for these tests
CAP = ("Fig. 4. Spine MRI of a 52-year-old woman. (a) Sagittal T2 image shows a cord lesion at C4. "
       "B. Axial image at the same level; (c) contrast-enhanced T1 image. Scale bar, 2 cm.")
DISTRIB = "Sagittal (A) and axial (B) T1 images after contrast show a ring-enhancing mass."


def test_cut_is_deterministic_offsets_into_the_caption():
    a, b = cut_caption(CAP), cut_caption(CAP)
    assert a == b
    assert a[0].kind == "figure_label" and a[0].text(CAP) == "Fig. 4."
    kinds = [p.kind for p in a]
    assert kinds.count("mark") == 3
    # every piece is caption text at its offsets, in order, never overlapping
    ends = [p.end for p in a]
    starts = [p.start for p in a]
    assert all(s >= e for s, e in zip(starts[1:], ends[:-1]))
    # the rules keep only one label style here; the cut keeps every mark the finders see
    assert mark_labels(a) == ["A", "B", "C"]
    assert [s.label for s in split_caption(CAP) if s.label != "_shared"] != ["A", "B", "C"]
    ids = [p.id for p in text_pieces(a)]
    assert ids == list(range(len(ids)))


def test_loose_mark_after_a_comma_is_a_mark():
    cap = "Two dogs. A: left kidney, B: right kidney."
    assert mark_labels(cut_caption(cap)) == ["A", "B"]


def test_schema_is_per_caption_and_strict():
    model, variables, pieces = SpanAnswer.for_caption(CAP)
    schema = json.dumps(model.model_json_schema())
    n = len(text_pieces(pieces))
    assert f'"enum": {json.dumps(list(range(n)))}' in schema
    assert '"enum": ["A", "B", "C", "_shared"]' in schema
    assert '"additionalProperties": false' in schema
    model.model_validate({"subcaptions": [{"label": "A", "pieces": [1]}]})
    for bad in ({"subcaptions": [{"label": "D", "pieces": [1]}]},  # no such mark
                {"subcaptions": [{"label": "A", "pieces": [n]}]},  # no such piece
                {"subcaptions": [{"label": "A", "pieces": []}]},  # a panel with nothing
                {"subcaptions": [{"label": "A"}]},  # no default turns a missing answer into an empty one
                {"subcaptions": [{"label": "A", "pieces": [1], "text": "x"}]},  # unknown key
                {"subcaptions": []},  # nothing at all: a caption without panels is answered with _shared
                {}):
        with pytest.raises(ValidationError):
            model.model_validate(bad)
    assert variables["labels"] == ["A", "B", "C"]
    assert [p["id"] for p in variables["pieces"] if p["id"] is not None] == list(range(n))


def test_text_rebuilt_from_pieces_is_verbatim_and_reads_alone():
    model, _, pieces = SpanAnswer.for_caption(DISTRIB)
    texts = {p.id: p.text(DISTRIB) for p in text_pieces(pieces)}
    assert texts == {0: "Sagittal", 1: "and axial", 2: "T1 images after contrast show a ring-enhancing mass."}
    ans = model.model_validate({"subcaptions": [{"label": "A", "pieces": [0, 2]}, {"label": "B", "pieces": [2, 1]}]})
    subs = ans.to_subcaptions(DISTRIB, pieces)
    assert [(s.label, s.text) for s in subs] == [
        ("A", "Sagittal T1 images after contrast show a ring-enhancing mass."),
        ("B", "axial T1 images after contrast show a ring-enhancing mass.")]
    assert all(is_verbatim(s.text, DISTRIB) for s in subs)


def test_shared_runs_and_marks_stay_out_of_texts():
    model, _, pieces = SpanAnswer.for_caption(CAP)
    last = len(text_pieces(pieces)) - 1
    # consecutive ids 1, 2 around mark "B." must not pull "B." into A's text
    ans = model.model_validate({"subcaptions": [{"label": "_shared", "pieces": [0, last]},
                                                {"label": "A", "pieces": [1, 2]}, {"label": "A", "pieces": [3]}]})
    subs = ans.to_subcaptions(CAP, pieces)
    assert [s.label for s in subs] == ["_shared", "A", "_shared"]
    assert "B." not in subs[1].text and "Fig. 4" not in subs[0].text
    assert all(is_verbatim(s.text, CAP) for s in subs)
    rec = cut_record(pieces, ans)
    assert rec["answer"]["A"] == [1, 2, 3] and all(isinstance(p[0], int) for p in rec["pieces"])
    assert "Spine" not in json.dumps(rec)  # offsets only, no caption text


def test_rebuild_ignores_unknown_ids():
    pieces = cut_caption(DISTRIB)
    assert rebuild_text(DISTRIB, pieces, [0, 99]) == ["Sagittal"]


def test_fewshot_examples_are_what_the_cutter_cuts():
    p = load_prompt("split/spans_fewshot@1")
    assert p.examples
    for ex in p.examples:
        model, variables, _ = SpanAnswer.for_caption(ex["input"]["caption"])
        assert ex["input"]["pieces"] == variables["pieces"] and ex["input"]["labels"] == variables["labels"]
        model.model_validate(ex["output"])  # each worked answer is valid for its own schema


def test_prompt_renders_pieces_and_marks():
    model, variables, _ = SpanAnswer.for_caption(CAP)
    msgs = load_prompt("split/spans_zeroshot@1").messages(**variables)
    user = msgs[-1]["content"]
    assert "[0] Spine MRI of a 52-year-old woman." in user and "(label mark A)" in user
    assert "(figure number)" in user and "Panel labels marked: A, B, C" in user


def test_span_splitter_rows_against_a_fake_server(tmp_path):
    # the fake answers one panel only, grouping everything else as shared: not what the rules say
    def answer(body, n):
        assert body["response_format"]["type"] == "json_schema"
        assert "[1]" in last_user(body)
        return Reply(content=json.dumps({"subcaptions": [{"label": "_shared", "pieces": [0]},
                                                         {"label": "B", "pieces": [1, 2]}]}))

    with FakeLLM(answer) as fake:
        sp = LLMSplitter.from_ref(settings(fake.url, cache_path=tmp_path / "c.sqlite"), "split/spans_zeroshot@1")
        assert sp.spans and sp.tools["pieces"]
        rows = sp.split_many([("x1", CAP), ("x2", DISTRIB)])
        sp.close()
        schema = fake.requests[0]["response_format"]["json_schema"]["schema"]
        assert "SpanEntry" in json.dumps(schema)
    r1, r2 = rows
    assert r1.splitter == "llm" and r1.fallback_reason is None
    assert [s.label for s in r1.subcaptions] == ["_shared", "B"]
    assert r1.subcaptions != split_caption(CAP)
    assert r1.spans["answer"] == {"_shared": [0], "B": [1, 2]} and r1.prompt_id == "split/spans_zeroshot@1"
    # DISTRIB marks A and B only: "B" with pieces 1, 2 is valid there too
    assert r2.splitter == "llm" and r2.subcaptions[-1].label == "B"


def test_span_splitter_invalid_answer_falls_back_with_the_cut_recorded(tmp_path):
    with FakeLLM(lambda b, n: Reply(content=json.dumps({"subcaptions": [{"label": "Z", "pieces": [0]}]}))) as fake:
        sp = LLMSplitter.from_ref(settings(fake.url, max_reasks=1), "split/spans_fewshot@1")
        row = sp.split_many([("x1", CAP)])[0]
        sp.close()
        assert len(fake.requests) == 2  # asked, re-asked once
    assert row.splitter == "rules" and row.fallback_reason.startswith("invalid after 1 re-asks")
    assert row.subcaptions == rule_subcaptions(CAP)
    assert row.spans["answer"] is None and row.spans["pieces"]

