"""Caption labels, in-text references, hyphenation repair and caption similarity."""

from __future__ import annotations

import pytest

from medvl.pdf.captions import caption_body, join_lines, label_key, match_label, similarity


@pytest.mark.parametrize("text,label,number", [
    ("Figure 1: Subcellular localization", "Figure 1", "1"),
    ("Fig. 2. Expression in five groups", "Fig. 2", "2"),
    ("FIGURE 3 | Overview of the pipeline", "FIGURE 3", "3"),
    ("Fig 4 - Kaplan-Meier curves", "Fig 4", "4"),
    ("Supplementary Figure S1. Extra data", "Supplementary Figure S1", "S1"),
    ("Figure 1 Phylogenetic tree of the family", "Figure 1", "1"),
])
def test_caption_labels_are_recognised(text, label, number):
    m = match_label(text)
    assert m is not None and not m.body_like
    assert m.label == label and m.number == number


@pytest.mark.parametrize("text", [
    "Figure 1 summarizes the results of the screen",
    "Figure 2 shows the effect of the dose",
    "Figures 1 and 2 compare the groups",
    "as shown in Figure 2.",
])
def test_in_text_references_are_not_captions(text):
    m = match_label(text)
    assert m is None or m.body_like


def test_label_keys_unify_spellings():
    assert label_key("Figure 3") == label_key("Fig. 3") == label_key("FIGURE 3") == "3"
    assert label_key("Supplementary Figure 2") == "S2"
    assert label_key("Figure S2") == "S2"


def test_hyphenation_is_repaired_but_real_hyphens_stay():
    text = join_lines(["Immuno-", "histochemistry of p75ICD-", "transfected cells after treat-", "ment."])
    assert text == "Immunohistochemistry of p75ICD-transfected cells after treatment."
    # a compound the document spells with a hyphen elsewhere keeps it
    assert join_lines(["in non-", "small cell cancer"], vocab={"non-small"}) == "in non-small cell cancer"
    assert join_lines(["in non-", "small cell cancer"], vocab=set()) == "in nonsmall cell cancer"
    # before a capital or digit the hyphen is part of the name
    assert join_lines(["anti-", "CD20 antibody"]) == "anti-CD20 antibody"


def test_caption_body_strips_label_and_separator():
    assert caption_body("Figure 2: (a) qPCR of  SDH") == "(a) qPCR of SDH"
    assert caption_body("FIGURE 1 | Overview") == "Overview"


def test_similarity_ignores_whitespace_and_dash_variants():
    assert similarity("Data are mean \u00b1 SD (n = 3).", "Data are mean \u00b1 SD (n=3).") == 1.0
    assert similarity("Kaplan\u2013Meier curves", "Kaplan-Meier  curves") == 1.0
    assert similarity("Kaplan-Meier curves", "Western blot of lysates") < 0.6
