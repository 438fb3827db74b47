"""Captions that describe supplementary files (no graphics in the PDF) are rejects, never figures."""

from __future__ import annotations

from pathlib import Path

from medvl.parse import REJECT_REASONS, ParseSettings, parse_paper
from medvl.pdf.captions import supplementary_file

from tests.helpers import pdfgen


def test_supplementary_file_descriptions():
    assert supplementary_file("Additional file 1: Figure S1", ". Growth curves.")
    assert supplementary_file("Figure S2", "Figure S2 Emission spectra of the strains. (TIF)")
    assert supplementary_file("Figure S3", "Figure S3. Blots. (PDF 120 kb)")
    assert not supplementary_file("Figure 2", "Figure 2. Emission spectra (PDF, see Methods) of the strains.")
    assert not supplementary_file("Supplementary Figure S1", "Supplementary Figure S1. Blots of the lysates.")


def test_supplementary_list_gives_rejects_and_the_real_figure_keeps_its_image(tmp_path: Path):
    pdf = pdfgen.supplementary_list(tmp_path / "s.pdf")
    figs, rejects = parse_paper(pdf, settings=ParseSettings(ocr="never", render=False))
    assert [f.label for f in figs] == ["Figure 1"]
    assert figs[0].bbox is not None and figs[0].kind == "raster"
    supp = [r for r in rejects if r.reason == "supplementary_file"]
    # S1, S2 by their "Additional file" labels; S3 (heading above, no file mark) and S4 by the heading
    assert len(supp) == 4, [(r.reason, r.detail) for r in rejects]
    assert all("page 2" in r.detail for r in supp)
    assert "supplementary_file" in REJECT_REASONS


def test_figure_supplements_listed_by_title_only_are_rejects_not_lost(tmp_path: Path):
    """eLife lists a figure's supplements by title under its caption; without the XML their images are
    nowhere in the parse, so each is a reject row that names it (before: dropped without a trace)."""
    pdf = pdfgen.supplements_by_title(tmp_path / "e.pdf")
    figs, rejects = parse_paper(pdf, settings=ParseSettings(ocr="never", render=False))
    assert [f.label for f in figs] == ["Figure 1"]
    assert "supplement" not in figs[0].caption and figs[0].caption.endswith("DOI: 10.1/x.003")
    listed = [r for r in rejects if r.reason == "supplement_not_printed"]
    assert [r.detail.split(" (")[0] for r in listed] == ["page 1: Figure 1\u2014figure supplement 1",
                                                          "page 1: Figure 1\u2014figure supplement 2"]
    assert "Dose response of the uptake." in listed[1].detail
    assert "supplement_not_printed" in REJECT_REASONS
