"""The sentences of a paper's body text that cite a figure (Figure.references): from a PDF's own text
when there is no XML, and the citation forms they are found by."""

from __future__ import annotations

from medvl.parse import ParseSettings, parse_paper
from medvl.pdf.references import cited_numbers, figure_references
from tests.helpers import pdfgen as gen

FAST = ParseSettings(dpi=60, ocr="never")


def test_a_pdf_without_xml_finds_the_sentences_citing_each_figure(tmp_path):
    pdf = gen.two_column(tmp_path / "paper.pdf")  # each column's body text opens "Figure N shows ..."
    figs, _ = parse_paper(pdf, None, FAST, run_dir=None)
    by = {f.label: f for f in figs}
    assert set(by) == {"Figure 1", "Figure 2"}
    for n in (1, 2):
        # the body sentence, not the figure's own caption (which also starts with its label)
        assert by[f"Figure {n}"].references == [f"Figure {n} shows the effect of the dose on growth."]


def test_citation_forms():
    assert cited_numbers("1, 3 and 5") == ["1", "3", "5"]
    assert cited_numbers("2-4") == ["2", "3", "4"] and cited_numbers("2A") == ["2"]
    refs = figure_references([
        "A mass was seen on CT (Figs. 1 and 2). The MRI was normal (Figure 3b, c). Smith et al. 2019 "
        "found more (Fig 4A-C). Data of 2010 (Figure S2)."])
    assert refs["1"] == refs["2"] == ["A mass was seen on CT (Figs. 1 and 2)."]
    assert refs["3"] == ["The MRI was normal (Figure 3b, c)."]
    assert refs["4"] == ["Smith et al. 2019 found more (Fig 4A-C)."]  # "et al." ends no sentence
    assert refs["S2"] == ["Data of 2010 (Figure S2)."] and "2010" not in refs and "201" not in refs
