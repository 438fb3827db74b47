"""The LLM splitter's validators and row building (pure functions; no server)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from medvl.llm.client import LLMResult, LLMSettings
from medvl.prompts import load_prompt
from medvl.split.llm import (LLMSplitter, SplitAnswer, answer_to_subcaptions, caption_letters, label_in_caption,
                             normalise_ws, split_stats, verbatim_pieces)

CAP = ("Brain MRI of patient 2. (a) Axial T2-weighted image shows a hyperintense lesion in the left "
       "temporal lobe. (b) Sagittal T1 image after contrast. Scale bar, 1 cm.")


def test_normalise_ws():
    assert normalise_ws("  a\n\tb   c ") == "a b c"
    assert normalise_ws("ﬁbrosis\u00a0x") == "fibrosis x"  # NFKC ligature and no-break space


@pytest.mark.parametrize("text", [
    "Axial T2-weighted image shows a hyperintense lesion in the left temporal lobe.",
    "Axial  T2-weighted image\nshows a hyperintense lesion",  # whitespace differs
    "Brain MRI of patient 2. Scale bar, 1 cm.",  # two pieces joined
    "Brain MRI of patient 2. Sagittal T1 image after contrast.",
])
def test_verbatim_accepts_caption_text_and_joined_pieces(text):
    assert verbatim_pieces(text, CAP) is not None


@pytest.mark.parametrize("text", [
    "Axial image showing a bright lesion.",  # paraphrase
    "Sagittal T1 image before contrast.",  # one word changed
    "The lesion is malignant.",  # invented
    "",
    "Brain MRI of patient 3.",
])
def test_verbatim_rejects_paraphrase_and_invention(text):
    assert verbatim_pieces(text, CAP) is None


def test_verbatim_pieces_are_word_aligned():
    # "Sagittal T1 image after" is in the caption, "Sagittal T1 image afterwards" is not: no mid-word cut
    assert verbatim_pieces("Sagittal T1 image afterwards", CAP) is None
    assert verbatim_pieces("Sagittal T1 image after contrast. Scale bar, 1 cm.", CAP) == [
        "Sagittal T1 image after contrast. Scale bar, 1 cm."]


def test_caption_letters_and_ranges():
    assert {"A", "B"} <= caption_letters(CAP)
    letters = caption_letters("Histology. A–C: H&E at increasing magnification; D: trichrome.")
    assert {"A", "B", "C", "D"} <= letters
    assert "F" not in letters
    assert {"A", "B"} <= caption_letters("(Ai) first (Bii) second")


def test_label_in_caption_positions():
    cap = "Upper left: CT. Lower right: PET."
    assert label_in_caption("top left", cap) and label_in_caption("bottom right", cap)
    assert not label_in_caption("middle", cap)
    assert label_in_caption("_shared", cap)


def test_split_answer_valid_with_context():
    ans = SplitAnswer.model_validate(
        {"subcaptions": [{"label": "_shared", "text": "Brain MRI of patient 2. Scale bar, 1 cm."},
                         {"label": "(a)", "text": "Axial T2-weighted image shows a hyperintense lesion"},
                         {"label": "b", "text": "Sagittal T1 image after contrast."}]}, context={"caption": CAP})
    subs = answer_to_subcaptions(ans)
    assert [s.label for s in subs] == ["_shared", "A", "B"]


def test_split_answer_rejects_non_verbatim_text_with_a_clear_reason():
    with pytest.raises(ValidationError, match=r"subcaptions\[1\]\.text is not verbatim caption text"):
        SplitAnswer.model_validate({"subcaptions": [
            {"label": "a", "text": "Axial T2-weighted image shows a hyperintense lesion"},
            {"label": "b", "text": "A sagittal image with contrast."}]}, context={"caption": CAP})


def test_split_answer_rejects_labels_not_in_caption():
    with pytest.raises(ValidationError, match=r"label 'D' does not occur in the caption"):
        SplitAnswer.model_validate({"subcaptions": [{"label": "D", "text": "Sagittal T1 image after contrast."}]},
                                   context={"caption": CAP})
    with pytest.raises(ValidationError, match="is not a panel label"):
        SplitAnswer.model_validate({"subcaptions": [{"label": "MRI scan", "text": "Brain MRI of patient 2."}]},
                                   context={"caption": CAP})


def test_split_answer_without_context_checks_only_the_schema():
    SplitAnswer.model_validate({"subcaptions": [{"label": "Z", "text": "anything"}]})
    with pytest.raises(ValidationError):
        SplitAnswer.model_validate({"subcaptions": [{"label": "A"}]})


def test_ranges_expand_to_one_entry_per_panel():
    cap = "Histology. A–C: H&E at increasing magnification; D: trichrome."
    ans = SplitAnswer.model_validate({"subcaptions": [{"label": "A-C", "text": "H&E at increasing magnification"},
                                                      {"label": "D", "text": "trichrome."}]}, context={"caption": cap})
    subs = answer_to_subcaptions(ans)
    assert [(s.label, s.text) for s in subs] == [("A", "H&E at increasing magnification"),
                                                 ("B", "H&E at increasing magnification"),
                                                 ("C", "H&E at increasing magnification"), ("D", "trichrome.")]


def _splitter(tmp_path=None) -> LLMSplitter:
    return LLMSplitter(settings=LLMSettings(url="http://127.0.0.1:9/v1", model="m"), prompt=load_prompt("split/fewshot@1"))


def test_row_from_valid_answer_has_provenance():
    sp = _splitter()
    ans = SplitAnswer.model_validate({"subcaptions": [{"label": "a", "text": "Axial T2-weighted image"}]},
                                     context={"caption": CAP})
    row = sp.row("f1", CAP, LLMResult(value=ans, error=None, reasks=1, latency_s=0.5, tokens={"total_tokens": 9},
                                      cached=False, model="m"))
    assert row.splitter == "llm" and row.fallback_reason is None and row.reasks == 1
    assert row.prompt_id == "split/fewshot@1" and row.prompt_sha == sp.prompt.sha and row.model == "m"
    assert row.provenance.prompt_sha == sp.prompt.sha and row.provenance.stage == "split"
    assert "instructor" in row.provenance.tools and "rules" in row.provenance.tools


def test_row_falls_back_to_rules_with_the_reason():
    sp = _splitter()
    row = sp.row("f1", CAP, LLMResult(value=None, error="invalid after 2 re-asks: text not verbatim", reasks=2,
                                      latency_s=1.0, tokens={}, cached=False, model="m"))
    assert row.splitter == "rules" and row.fallback_reason.startswith("invalid after 2 re-asks")
    assert {s.label for s in row.subcaptions} >= {"A", "B"}  # the rule splitter's answer
    assert row.prompt_id == "split/fewshot@1"  # what was tried is still recorded
    st = split_stats([row])
    assert st["fallbacks"] == 1 and st["fallback_reasons"] == {"invalid after 2 re-asks": 1}
