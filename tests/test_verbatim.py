"""One verbatim check (medvl.split.verbatim) for every validator, and the caption offsets subcaptions store.

Captions here are written for the tests (no third-party text)."""

from __future__ import annotations

import pytest

from medvl.evaluate import report as rep
from medvl.llm.client import LLMResult, LLMSettings
from medvl.prompts import load_prompt
from medvl.records import Subcaption
from medvl.split.llm import LLMSplitter, SplitAnswer, rule_subcaptions, verbatim_pieces
from medvl.split.verbatim import normalise_ws, spans_fit, verbatim_spans, with_spans
from tests.helpers.textcheck import is_verbatim

CAPTIONS = [
    "Figure 2. Brain MRI of patient 4. (A) Axial FLAIR image shows a lesion. (B) Coronal T1 image after contrast.",
    "Pulmonary function before (A) and after (B) bronchodilator inhalation.",
    "DWI (b) and ADC map (c) show an acute infarct in the right  frontal\nlobe; scale bar, 1 cm.",
    "Left: CT of the abdomen. Right: PET of the same patient, 2 h after injection.",
    "Histology of the liver. A-C, H&E at three magnifications; D, Masson trichrome.",
    "(a) Wild-type mice, (b) knockout mice and (c) rescued mice were imaged at day 3.",
]


def _rebuilt(caption: str, sc: Subcaption) -> str:
    return " ".join(caption[a:b] for a, b in sc.spans)


@pytest.mark.parametrize("caption", CAPTIONS)
def test_the_rule_splitters_offsets_rebuild_each_subcaption_text_from_the_caption(caption):
    subs = rule_subcaptions(caption)
    assert subs and all(s.spans for s in subs), subs
    for s in subs:
        assert normalise_ws(_rebuilt(caption, s)) == normalise_ws(s.text), (s, _rebuilt(caption, s))
        assert all(0 <= a < b <= len(caption) for a, b in s.spans)
        assert [a for a, _ in s.spans] == sorted(a for a, _ in s.spans)  # caption order
    # a text joined from pieces keeps them apart: panel B of "before (A) and after (B)" is three pieces
    if caption.startswith("Pulmonary"):
        b = next(s for s in subs if s.label == "B")
        assert [caption[x:y] for x, y in b.spans] == ["Pulmonary function", "after", "bronchodilator inhalation."]


def test_the_rule_splitter_row_stores_the_offsets(tmp_path):
    from medvl.split.llm import rules_row

    row = rules_row("x", CAPTIONS[0])
    assert row.subcaptions == rule_subcaptions(CAPTIONS[0])
    assert all(_rebuilt(CAPTIONS[0], s) == s.text for s in row.subcaptions)


def test_the_llm_text_splitter_stores_the_offsets_of_an_accepted_answer():
    cap = CAPTIONS[2]
    sp = LLMSplitter(settings=LLMSettings(url="http://127.0.0.1:9/v1", model="m"), prompt=load_prompt("split/fewshot@1"))
    answer = SplitAnswer.model_validate({"subcaptions": [
        {"label": "B", "text": "DWI show an acute infarct in the right frontal lobe"},
        {"label": "C", "text": "ADC map  show an acute infarct"}]}, context={"caption": cap})
    row = sp.row("x", cap, LLMResult(value=answer, model="m", error=None, reasks=0, latency_s=0.1, tokens={}, cached=False))
    sp.close()
    assert row.splitter == "llm"
    b, c = row.subcaptions
    assert [cap[x:y] for x, y in b.spans] == ["DWI", "show an acute infarct in the right  frontal\nlobe"]
    assert [cap[x:y] for x, y in c.spans] == ["ADC map", "show an acute infarct"]
    assert all(spans_fit(s.text, cap, s.spans) for s in row.subcaptions)


# texts whose verdict the LLM validator, the report, the test helper and the stored offsets all share
VERDICTS = [
    ("Axial FLAIR image shows a lesion.", True),
    ("Axial  FLAIR image\nshows a lesion.", True),  # whitespace differs
    ("Brain MRI of patient 4. Coronal T1 image after contrast.", True),  # two pieces in caption order
    ("Coronal T1 image after contrast. Brain MRI of patient 4.", False),  # pieces out of caption order
    ("Axial FLAIR image shows a lesions.", False),  # a word changed
    ("Axial FLAIR ima shows a lesion.", False),  # a piece cut inside a word
    ("Sagittal image shows a lesion.", False),  # invented
]


@pytest.mark.parametrize("text,ok", VERDICTS)
def test_one_definition_of_verbatim_for_every_validator(text, ok):
    cap = CAPTIONS[0]
    assert (verbatim_spans(text, cap) is not None) is ok
    assert (verbatim_pieces(text, cap) is not None) is ok  # the LLM splitter's check
    assert (rep.find_pieces(cap, text) is not None) is ok  # the report's
    assert is_verbatim(text, cap) is ok  # the tests'
    try:  # the LLM answer's validator
        SplitAnswer.model_validate({"subcaptions": [{"label": "A", "text": text}]}, context={"caption": cap})
        accepted = True
    except ValueError:
        accepted = False
    assert accepted is ok


def test_the_report_reads_stored_offsets_where_a_search_would_find_other_text():
    # "Scale bar, 1 cm." is printed twice: a search finds the first, the rows' offsets say the second
    cap = "(A) Axial CT. Scale bar, 1 cm. (B) Coronal CT. Scale bar, 1 cm."
    second = cap.rindex("Scale bar")
    stored = {"label": "B", "text": "Scale bar, 1 cm.", "spans": [[second, len(cap)]]}
    assert rep.find_pieces(cap, stored["text"]) == [(cap.index("Scale bar"), cap.index("Scale bar") + 16)]
    assert rep.subcaption_pieces(cap, stored) == [(second, len(cap))]
    html, info = rep.highlight_caption(cap, [stored], {"b": "#E69F00"})
    assert info[0]["found"] and html.index("<mark") > html.index("Coronal CT")  # the second one is marked
    # offsets that do not make the text (a stale row, another caption) are not trusted: searched instead
    stale = {**stored, "spans": [[0, 12]]}
    assert not spans_fit(stale["text"], cap, stale["spans"])
    assert rep.subcaption_pieces(cap, stale) == rep.find_pieces(cap, stale["text"])


def test_the_rule_splitter_offsets_follow_caption_order_for_repeated_text():
    cap = "(A) Axial CT. Scale bar, 1 cm. (B) Coronal CT. Scale bar, 1 cm."
    subs = with_spans(cap, [Subcaption(label="A", text="Axial CT. Scale bar, 1 cm."),
                            Subcaption(label="B", text="Coronal CT. Scale bar, 1 cm.")])
    assert subs[0].spans == [[4, 30]] and subs[1].spans == [[35, len(cap)]]


def test_stored_offsets_are_checked_without_a_search():
    cap = CAPTIONS[0]
    a = cap.index("Axial")
    assert spans_fit("Axial FLAIR", cap, [[a, a + 11]])
    assert not spans_fit("Axial FLAIR", cap, [[a, a + 10]])  # one character short
    assert not spans_fit("Axial FLAIR", cap, [[a, a + 5], [a, a + 11]])  # overlapping
    assert not spans_fit("Axial FLAIR", cap, [[a, len(cap) + 5]])  # outside the caption
    assert not spans_fit("Axial FLAIR", cap, None)


def test_the_span_splitter_stores_the_offsets_of_its_runs():
    from medvl.split.pieces import cut_caption, text_pieces
    from medvl.split.spans import SpanAnswer

    cap = CAPTIONS[5]
    model, _, pieces = SpanAnswer.for_caption(cap)
    ids = [p.id for p in text_pieces(pieces)]
    ans = model.model_validate({"subcaptions": [{"label": "A", "pieces": [ids[0], ids[-1]]}]})
    (sub,) = ans.to_subcaptions(cap, cut_caption(cap))
    assert sub.spans and len(sub.spans) == 2 and normalise_ws(_rebuilt(cap, sub)) == sub.text
