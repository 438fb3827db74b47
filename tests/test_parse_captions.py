"""Caption labels, in-text references, hyphenation repair and caption similarity."""

from __future__ import annotations

import pytest

from medvl.pdf.captions import (caption_body, join_lines, label_key, match_label, panel_suffixed, reference_only,
                                similarity, split_supplement_list, strip_supplement_list)


@pytest.mark.parametrize("text,label,number", [
    ("Figure 1: Subcellular localization", "Figure 1", "1"),
    ("Fig. 2. Expression in five groups", "Fig. 2", "2"),
    ("FIGURE 3 | Overview of the pipeline", "FIGURE 3", "3"),
    ("Fig 4 - Kaplan-Meier curves", "Fig 4", "4"),
    ("Supplementary Figure S1. Extra data", "Supplementary Figure S1", "S1"),
    ("Figure 1 Phylogenetic tree of the family", "Figure 1", "1"),
    ("Figure-2: (a) Schematic of the region", "Figure-2", "2"),  # Veterinary World style
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


def test_figure_supplements_have_labels_of_their_own_and_lists_of_them_are_no_caption_text():
    m = match_label("Figure 2\u2014figure supplement 1. Rescue of the phenotype.")
    assert m is not None and m.label == "Figure 2\u2014figure supplement 1" and m.number == "2-FS1"
    assert label_key("Figure 2\u2014figure supplement 1") == "2-FS1" != label_key("Figure 2")
    text = ("Figure 2. Release in three lines. (A) Control. DOI: 10.1/x.005 The following figure supplement is "
            "available for figure 2: Figure supplement 1. Rescue of the phenotype. DOI: 10.1/x.006")
    assert strip_supplement_list(text) == "Figure 2. Release in three lines. (A) Control. DOI: 10.1/x.005"
    text += " Figure supplement 2. Time course: all cells, day 3. DOI: 10.1/x.007"
    assert split_supplement_list(text) == ("Figure 2. Release in three lines. (A) Control. DOI: 10.1/x.005",
                                           [("1", "Rescue of the phenotype."), ("2", "Time course: all cells, day 3.")])
    assert split_supplement_list("Figure 3. No list here.") == ("Figure 3. No list here.", [])


def test_label_keys_unify_spellings():
    assert label_key("Figure 3") == label_key("Fig. 3") == label_key("FIGURE 3") == label_key("Figure-3") == "3"
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


@pytest.mark.parametrize("body,ref", [
    ("", True), ("A.", True), ("(b)", True), ("A-C", True), ("a, b", True), ("A and B.", True),
    ("(continued)", False), ("A patient with fever", False), ("Overview of the pipeline", False),
])
def test_reference_only_bodies(body, ref):
    assert reference_only(body) is ref


def test_panel_suffixed_labels():
    assert panel_suffixed(match_label("Fig. 4A."))
    assert not panel_suffixed(match_label("Figure S4. Extra"))
    assert not panel_suffixed(match_label("Figure 4. Extra"))


def test_label_with_only_a_panel_reference_is_not_a_caption(tmp_path):
    """Issue 2: "Fig. 4A." opening a line of body text was read as a caption (empty text, no image)."""
    from tests.helpers import pdfgen as gen
    from medvl.parse import ParseSettings, parse_paper

    pdf = gen.panel_reference_lines(tmp_path / "fulltext.pdf")
    figs, rejects = parse_paper(pdf, None, ParseSettings(dpi=72, ocr="never"))
    assert [f.label for f in figs] == ["Figure 1"]
    assert figs[0].image is None and figs[0].bbox is not None and figs[0].caption.startswith("Figure 1: Chest")
    # "Figure 2." alone (no text, no graphics) is dropped with a reason; "Fig. 4A." is never a caption
    assert [(r.reason, r.detail.split(":")[0]) for r in rejects] == [("not_a_caption", "page 2")]
    assert "'Figure 2.'" in rejects[0].detail


def test_scheme_labels_and_unnumbered_figure_labels():
    m = match_label("Scheme 2. Synthesis of the second ligand")
    assert m is not None and m.label == "Scheme 2" and m.number == "2" and not m.body_like
    assert label_key("Scheme 2") == "SCHEME2" != label_key("Figure 2")
    c = match_label("Chart 1. Structures of the three complexes")  # ACS journals number charts apart
    assert c is not None and c.label == "Chart 1" and not c.body_like
    assert label_key("Chart 1") == "CHART1" not in (label_key("Figure 1"), label_key("Scheme 1"))
    assert match_label("Chart 2 shows the structures").body_like
    u = match_label("Figure. Regulation of the response")
    assert u is not None and u.label == "Figure" and u.number == "" and caption_body(
        "Figure. Regulation of the response") == "Regulation of the response"
    assert label_key("Figure") == label_key("Figure.") == "FIGURE"
    assert match_label("Figure: shown below") is None and match_label("Schemes 1 and 2") is None


def test_schemes_unnumbered_figures_and_captions_continued_over_a_page(tmp_path):
    from tests.helpers import pdfgen as gen
    from medvl.parse import ParseSettings, parse_paper

    figs, _ = parse_paper(gen.scheme_and_unnumbered(tmp_path / "a.pdf"), None, ParseSettings(dpi=72, ocr="never"))
    assert [(f.label, f.page, f.caption) for f in figs] == [
        ("Scheme 1", 1, "Scheme 1 Synthesis of the ligand in three steps."),
        ("Figure 1", 1, "Figure 1. Spectra of the two products."),
        ("Figure", 2, "Figure. Regulation of the response by two factors in the plant.")]
    assert all(f.bbox is not None for f in figs)

    figs, _ = parse_paper(gen.caption_continued(tmp_path / "b.pdf"), None, ParseSettings(dpi=72, ocr="never"))
    assert [f.label for f in figs] == ["Figure 1"]
    assert figs[0].caption == ("Figure 1. Growth of three strains. (A) The first strain in rich medium over five "
                               "days. (B) The second strain in minimal medium, with a much lower yield. "
                               "(C) The third strain at low temperature.")


def test_a_bold_reference_wrapped_to_a_line_start_is_no_caption(tmp_path):
    from tests.helpers import pdfgen as gen
    from medvl.parse import ParseSettings, parse_paper

    figs, _ = parse_paper(gen.reference_at_line_start(tmp_path / "a.pdf"), None, ParseSettings(dpi=72, ocr="never"))
    assert [f.label for f in figs] == ["Figure 1"]


@pytest.mark.parametrize("gap", [3, 8, 20])
def test_a_label_set_apart_from_its_caption_text_keeps_the_text(tmp_path, gap):
    # "FIGURE 1." in small capitals (smaller than the text), the text beside it on the same baseline
    # and wrapped under itself: the caption is the whole text, not the label alone
    from tests.helpers import pdfgen as gen
    from medvl.parse import ParseSettings, parse_paper

    figs, _ = parse_paper(gen.label_beside_caption(tmp_path / "a.pdf", gap=gap), None,
                          ParseSettings(dpi=72, ocr="never"))
    assert [f.label for f in figs] == ["FIGURE 1"]
    assert figs[0].caption == ("FIGURE 1. Sagittal T1 (left) and axial FLAIR (right) images of the second patient, "
                               "with a small cyst in the pons (arrowhead).")


def test_captions_worded_alike_side_by_side_at_the_page_foot_are_no_running_footer(tmp_path):
    from tests.helpers import pdfgen as gen
    from medvl.parse import ParseSettings, parse_paper

    figs, _ = parse_paper(gen.captions_alike_at_page_foot(tmp_path / "a.pdf"), None, ParseSettings(dpi=72, ocr="never"))
    assert sorted(f.label for f in figs) == ["Fig. 1", "Fig. 2"]
    assert all("Bars show the mean of three runs" in f.caption for f in figs)


def test_a_caption_sentence_running_into_a_figure_reference_keeps_its_end(tmp_path):
    from tests.helpers import pdfgen as gen
    from medvl.parse import ParseSettings, parse_paper

    figs, _ = parse_paper(gen.caption_running_into_a_reference(tmp_path / "a.pdf"), None,
                          ParseSettings(dpi=72, ocr="never"))
    assert [f.label for f in figs] == ["Figure 1"]
    assert figs[0].caption.endswith("all atoms are drawn in Figure S4. Colours: metal (cyan), oxygen (red).")


@pytest.mark.parametrize("text", ["Fig. 1 a Axial T2-weighted image and b coronal FLAIR",
                                  "Figure 2 a Growth of the wild type and b Growth of the mutant"])
def test_a_caption_opening_with_a_bare_lower_case_panel_letter_is_a_caption(text):
    m = match_label(text)
    assert m is not None and not m.body_like


def test_in_text_references_followed_by_a_lower_case_word_stay_references():
    for text in ["Figure 1 a and b show the lesion", "Fig. 2 an overview of the cohort", "Figure 3 shows a Western blot"]:
        m = match_label(text)
        assert m is None or m.body_like, text


def _block(rows):
    """A text block from (x0, y0, text, bold) rows, 9.7 pt lines."""
    from medvl.pdf.figures import Block, Line

    lines = [Line(bbox=(x, y, x + 5.2 * len(t), y + 9.0), text=t, size=9.7, bold=b, font="F", block=0,
                  index_in_block=i, first_span_bold=b) for i, (x, y, t, b) in enumerate(rows)]
    return Block(bbox=(min(ln.bbox[0] for ln in lines), min(ln.bbox[1] for ln in lines),
                       max(ln.bbox[2] for ln in lines), max(ln.bbox[3] for ln in lines)), lines=lines, number=0)


def test_a_caption_in_a_block_that_runs_on_into_the_next_column_stops_at_the_column():
    # some PDFs carry a hidden copy of the next figure's title over its label, in the same text block as
    # the previous caption: the text over the label is no running text, and the next column's lines
    # are no part of this caption
    from medvl.pdf.figures import PageModel, find_captions

    blk = _block([(54, 460, "Figure 6", True), (54, 470, "Treated hearts showed no change in the", False),
                  (54, 481, "expression of the protein versus control.", False),
                  (312, 490, "Representative photomicrographs of tissue", False),
                  (312, 490, "Figure 7", True), (312, 501, "Representative photomicrographs of tissue", False),
                  (312, 512, "stained for DNA breaks.", False)])
    pm = PageModel(number=0, rect=(0, 0, 612, 792), blocks=[blk], lines=blk.lines, graphics=[])
    caps = {c.match.label: c.text for c in find_captions(pm, body_size=9.7)}
    assert caps == {"Figure 6": "Figure 6 Treated hearts showed no change in the expression of the protein versus control.",
                    "Figure 7": "Figure 7 Representative photomicrographs of tissue stained for DNA breaks."}
