"""Words from glyph geometry (medvl.pdf.words): PDFs whose text layer has no space characters."""

from __future__ import annotations

from pathlib import Path

import pymupdf

from medvl.parse import ParseSettings, parse_paper
from medvl.pdf.words import looks_run_together, respace_line, words_in

from tests.helpers import pdfgen

LINES = ["Serial scans of one volunteer over two years. (a) Baseline scan before the",
         "treatment started; (b) follow up scan with the same sequence and settings."]


def test_fixture_reproduces_run_together_text(tmp_path: Path):
    # the problem as PyMuPDF alone reads it: no spaces where the glyphs leave only a gap
    pdf = pdfgen.spaceless(tmp_path / "s.pdf", LINES)
    with pymupdf.open(pdf) as doc:
        text = doc[0].get_text()
    assert "Serialscansofonevolunteer" in text
    line = next(t for t in text.splitlines() if "Serialscans" in t)
    assert looks_run_together(line)
    assert not any(looks_run_together(t) for t in text.splitlines() if "cultured" in t)  # the body has spaces


def test_caption_words_come_back_from_glyph_gaps(tmp_path: Path):
    pdf = pdfgen.spaceless(tmp_path / "s.pdf", LINES)
    figs, rejects = parse_paper(pdf, settings=ParseSettings(ocr="never", render=False))
    assert len(figs) == 1, rejects
    f = figs[0]
    assert f.label == "Figure 1"
    assert f.caption == "Figure 1. " + " ".join(LINES)
    # the panel letters drawn beside their words are read as letters of the two images
    assert [p.label for p in f.panels] == ["A", "B"]


def test_words_in_splits_letters_from_their_words(tmp_path: Path):
    pdf = pdfgen.spaceless(tmp_path / "s.pdf", LINES)
    with pymupdf.open(pdf) as doc:
        page = doc[0]
        plain = [w[4] for w in words_in(page, (100, 170, 520, 320), respace=False)]
        glyph = [w[4] for w in words_in(page, (100, 170, 520, 320), respace=True)]
    assert "(a)Baseline" in plain  # PyMuPDF's own words
    assert glyph[:2] == ["(a)", "Baseline"] and "(b)" in glyph and "Follow" in glyph


def test_text_with_spaces_is_left_as_the_pdf_has_it(tmp_path: Path):
    # an ordinary page (spaces in the text layer): respacing every line changes nothing
    pdf = pdfgen.raster_2x2(tmp_path / "r.pdf")
    flags = pymupdf.TEXT_PRESERVE_WHITESPACE | pymupdf.TEXT_MEDIABOX_CLIP
    with pymupdf.open(pdf) as doc:
        tp = doc[0].get_textpage(flags=flags)
        d, raw = tp.extractDICT(), tp.extractRAWDICT()
    n = 0
    for b, rb in zip(d["blocks"], raw["blocks"]):
        for ln, rln in zip(b.get("lines", []), rb.get("lines", [])):
            spans, inserted = respace_line(rln)
            assert inserted == 0
            assert "".join(s["text"] for s in spans) == "".join(s["text"] for s in ln["spans"])
            n += 1
    assert n > 5


def test_gap_rule_needs_a_real_gap():
    # hand-made glyph boxes, 10 pt: letters 5 pt wide; a 0.5 pt kern is no break, 1.5 pt is
    def ch(c, x0):
        return {"c": c, "bbox": (x0, 0, x0 + 5, 10), "origin": (x0, 8)}

    xs, text, x = [], "abcdefgh", 0.0
    for i, c in enumerate(text):
        xs.append(ch(c, x))
        x += 5 + (1.5 if i == 3 else 0.5 if i == 5 else 0.0)
    line = {"dir": (1.0, 0.0), "spans": [{"size": 10.0, "font": "X", "flags": 0, "chars": xs}]}
    spans, inserted = respace_line(line)
    assert spans[0]["text"] == "abcd efgh" and inserted == 1
