"""Raster figures with letters burnt into the pixels (issue 11): letters as anchors, and the record
saying when the panels are unsure."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from medvl.parse import ParseSettings, parse_paper
from medvl.pdf import ocr
from medvl.pdf.figure_panels import panel_check
from medvl.pdf.ocr import tesseract_version
from medvl.pdf.panels import PanelBox
from tests.helpers import pdfgen

needs_tesseract = pytest.mark.skipif(tesseract_version() is None, reason="tesseract is not installed")


@pytest.mark.slow
@needs_tesseract
def test_framed_chart_figure_splits_at_its_burnt_in_letters(tmp_path: Path):
    # one image, a frame around it and no full gutter: only the letters tell the panels apart
    pdf = pdfgen.burnt_letters_framed(tmp_path / "f.pdf")
    figs, _ = parse_paper(pdf, settings=ParseSettings(ocr="auto"), run_dir=tmp_path / "run")
    f = figs[0]
    assert [p.label for p in f.panels] == ["A", "B", "C"]
    assert all(p.label_source == "ocr" for p in f.panels)
    a, b, c = (p.bbox for p in f.panels)
    assert a[2] <= b[0] + 2 and a[2] <= c[0] + 2  # A is the left column
    assert b[3] <= c[1]  # B above C
    assert a[3] - a[1] > 1.8 * (b[3] - b[1])  # A spans both rows
    assert f.panel_check is None


def test_without_ocr_the_record_says_the_panels_are_unsure(tmp_path: Path):
    pdf = pdfgen.burnt_letters_framed(tmp_path / "f.pdf")
    figs, _ = parse_paper(pdf, settings=ParseSettings(ocr="never", render=False))
    assert figs[0].panels == []
    assert figs[0].panel_check == "count_differs: caption names 3 (A,B,C), found 1"


def test_panel_check_reasons():
    boxes = [PanelBox(bbox=(0, 0, 5, 5), label="A"), PanelBox(bbox=(6, 0, 9, 5), label=None)]
    assert panel_check(boxes, ["A", "B"]) == "letters_missing: 1 of 2 panels"
    assert panel_check(boxes, ["A", "B", "C"]).startswith("count_differs: caption names 3 (A,B,C), found 2")
    assert panel_check([], []) is None
    boxes[1].label = "B"
    assert panel_check(boxes, ["A", "B"]) is None
    assert panel_check(boxes, ["A", "C"]) == "letters_differ: A,B vs caption A,C"


@needs_tesseract
@pytest.mark.parametrize("letters,rows,cols,italic,inside", [
    (list("ABCDEF"), 2, 3, False, True),  # white capitals on black photographs, black gutters
    ([f"({c})" for c in "abcd"], 2, 2, True, True),  # white italic "(a)" on the photographs
    (list("ABCD"), 2, 2, True, True),  # white italic capitals; the lower row has no dark gutter
    ([f"({c})" for c in "abcd"], 2, 2, True, False),  # black italic "(a)" above, on white
])
def test_burnt_in_white_on_dark_and_italic_letters_are_read(tmp_path: Path, letters, rows, cols, italic, inside):
    pdf = pdfgen.burnt_letters_dark(tmp_path / "f.pdf", letters, rows, cols, italic=italic, inside=inside)
    figs, _ = parse_paper(pdf, settings=ParseSettings(ocr="auto", render=False))
    f = figs[0]
    want = [s.strip("().").upper() for s in letters]
    assert [p.label for p in f.panels] == want
    assert all(p.label_source == "ocr" for p in f.panels)
    assert f.panel_check is None
    # reading order: rows top to bottom, left to right; panels do not overlap
    for a, b in zip(f.panels, f.panels[1:]):
        assert (a.bbox[1] < b.bbox[1] - 20) or (abs(a.bbox[1] - b.bbox[1]) <= 20 and a.bbox[2] <= b.bbox[0] + 2)


def _bracketed_charts() -> np.ndarray:
    """Two line charts labelled "(a)" "(b)" whose tick labels run into the next chart (no
    gutter), with bare "b" curve labels inside chart (a)."""
    im = Image.new("RGB", (840, 300), "white")
    d = ImageDraw.Draw(im)
    big, mid, small = (ImageFont.load_default(size=s) for s in (20, 17, 13))
    for x0, lab in ((0, "(a)"), (420, "(b)")):
        d.text((x0 + 6, 8), lab, fill="black", font=big)
        d.line([(x0 + 50, 40), (x0 + 50, 270), (x0 + 419, 270)], fill="black", width=2)
        d.line([(float(x), 150 + 60 * np.sin(x / 17.0)) for x in np.linspace(x0 + 52, x0 + 419, 80)],
               fill="black", width=2)
        for t in range(5):
            d.text((x0 + 60 + 80 * t, 276), str(10 * t), fill="black", font=small)
    for x, y in ((160, 120), (260, 190)):
        d.text((x, y), "b", fill="black", font=mid)
    return np.asarray(im)


@needs_tesseract
def test_bracketed_letter_read_with_low_confidence_beats_a_bare_chart_label(monkeypatch):
    # tesseract scored a real "(b)" 0 and a curve label "b" 93: with "(a)" read well, the
    # figure's letters are bracketed, so the bracketed read is the anchor of B
    real = ocr.ocr_candidates

    def low_b(cands, **kw):
        return [dataclasses.replace(r, conf=0.0) if r.raw.strip() == "(b)" else r for r in real(cands, **kw)]

    monkeypatch.setattr(ocr, "ocr_candidates", low_b)
    rgb = _bracketed_charts()
    hits = {h.letter: h.bbox for h in ocr.find_letter_anchors(rgb, ["A", "B"])}
    assert set(hits) == {"A", "B"}
    assert hits["B"][0] > 420 and hits["B"][1] < 40  # the "(b)" over the right chart


def _columns_under_letters() -> np.ndarray:
    """Three columns of three light micrographs (white gutters), one burnt-in letter per column
    printed at a different place on its top image: "(a)" top-left, "(b)" top-right, "(c)" centred."""
    rng = np.random.default_rng(3)
    pw, ph, gut = 240, 180, 24
    g = np.full((3 * ph + 2 * 22, 3 * pw + 2 * gut), 255, np.uint8)
    yy, xx = np.mgrid[0:ph, 0:pw]
    for c in range(3):
        for r in range(3):
            x, y = c * (pw + gut), r * (ph + 22)
            blob = 90 * np.exp(-(((xx - pw * (0.3 + 0.2 * r)) / 40.0) ** 2 + ((yy - ph * 0.6) / 30.0) ** 2))
            g[y:y + ph, x:x + pw] = np.clip(215 - blob + rng.normal(0, 6, (ph, pw)), 0, 255).astype(np.uint8)
    im = Image.fromarray(np.repeat(g[:, :, None], 3, axis=2))
    d = ImageDraw.Draw(im)
    font = ImageFont.load_default(size=30)
    for c, (lab, dx) in enumerate((("(a)", 10), ("(b)", pw - 55), ("(c)", pw // 2 - 20))):
        d.text((c * (pw + gut) + dx, 8), lab, fill="black", font=font)
    return np.asarray(im)


@needs_tesseract
def test_cells_group_under_the_caption_letters_found_in_the_pixels():
    # nine gutter cells, the caption names three panels: the burnt-in letters (found anywhere in
    # the image) group the cells into their three columns (before: nine unlettered panels)
    from medvl.pdf.figure_panels import panels_and_letters

    pb, _ = panels_and_letters(_columns_under_letters(), None, [], "auto", True, expected=["A", "B", "C"], hint={})
    assert [p.label for p in pb] == ["A", "B", "C"]
    for p, x0 in zip(pb, (0, 264, 528)):
        assert abs(p.bbox[0] - x0) <= 2 and p.bbox[1] <= 2 and p.bbox[3] >= 580  # a whole column


def _framed_diagram_bold_letters() -> np.ndarray:
    """Two rows of outlined cells in a frame around the whole figure (eLife style), each row
    under a big bold "A" / "B" whose counters (the holes) are light glyphs of their own."""
    im = Image.new("RGB", (760, 680), "white")
    d = ImageDraw.Draw(im)
    d.rectangle([2, 2, 757, 677], outline=(150, 150, 150), width=2)
    font, small = ImageFont.load_default(size=44), ImageFont.load_default(size=20)
    for y0, lab in ((40, "A"), (390, "B")):
        d.text((60, y0), lab, fill="black", font=font, stroke_width=1, stroke_fill="black")
        for x0, col in ((130, (40, 160, 230)), (390, (220, 20, 120))):
            d.rounded_rectangle([x0, y0 + 60, x0 + 240, y0 + 260], radius=14, outline=col, width=4)
            d.ellipse([x0 + 100, y0 + 120, x0 + 140, y0 + 160], fill=(240, 130, 30))
        d.text((320, y0 + 270), "label", fill="black", font=small)
    return np.asarray(im)


@needs_tesseract
def test_a_letters_counter_does_not_hide_the_letter():
    # the hole of a bold "A" is found as a light blob too; it used to take the letter's place
    # (same spot, found first), so neither letter was read and the framed figure stayed one panel
    from medvl.pdf.figure_panels import panels_and_letters

    rgb = _framed_diagram_bold_letters()
    hits = {h.letter: h.bbox for h in ocr.find_letter_anchors(rgb, ["A", "B"])}
    assert set(hits) == {"A", "B"} and hits["A"][3] - hits["A"][1] >= 25  # the glyph, not its hole
    pb, _ = panels_and_letters(rgb, None, [], "auto", True, expected=["A", "B"], hint={})
    assert [p.label for p in pb] == ["A", "B"]
    assert pb[0].bbox[3] <= pb[1].bbox[1] + 2  # A above B
