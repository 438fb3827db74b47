"""Panel letters printed far from the panels' corners (issue 11): "(a)" "(b)" centred on one line
under two charts, below the tick labels, read from the whole image when the caption names them."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from medvl.pdf.figure_panels import panels_and_letters
from medvl.pdf.ocr import tesseract_version

needs_tesseract = pytest.mark.skipif(tesseract_version() is None, reason="tesseract is not installed")


def _charts_letters_far_below() -> np.ndarray:
    """A tall bar chart with long tick labels (left) and a short one (right); "(a)" and "(b)" on
    one line near the bottom of the figure, so "(b)" lies far below the right chart."""
    im = Image.new("RGB", (900, 380), "white")
    d = ImageDraw.Draw(im)
    small, big = ImageFont.load_default(size=13), ImageFont.load_default(size=16)
    for x0, y1, n in ((100, 240, 6), (550, 200, 3)):
        d.line([(x0, 30), (x0, y1), (x0 + 330, y1)], fill="black", width=2)
        for i in range(n):
            bx = x0 + 20 + i * (300 // n)
            d.rectangle([bx, y1 - 40 - 25 * (i % 4), bx + 150 // n, y1 - 1], fill=(90, 90, 90))
            d.text((bx, y1 + 8), f"grp{i}", fill="black", font=small)
        for t in range(4):
            d.text((x0 - 30, y1 - 8 - 50 * t), str(50 * t), fill="black", font=small)
    d.text((255, 350), "(a)", fill="black", font=big)
    d.text((705, 350), "(b)", fill="black", font=big)
    return np.asarray(im)


@needs_tesseract
def test_letters_centred_far_below_the_charts_are_read():
    # before: two panels, no letter (the corner windows end well above "(b)")
    pb, _ = panels_and_letters(_charts_letters_far_below(), None, [], "auto", True, expected=["A", "B"], hint={})
    assert len(pb) == 2
    assert [p.label for p in pb] == ["A", "B"]
    assert pb[0].bbox[2] <= pb[1].bbox[0]


def test_letters_by_place_need_each_letter_by_its_panel_in_order():
    from medvl.pdf.panels import LetterHit, letters_by_place

    boxes = [(0, 0, 300, 200), (350, 0, 650, 200)]
    below = [LetterHit("A", (140, 260, 160, 275), "ocr", "(a)"), LetterHit("B", (490, 260, 510, 275), "ocr", "(b)")]
    got = letters_by_place(boxes, below)
    assert got is not None and [p.label for p in got] == ["A", "B"]
    swapped = [LetterHit("B", (140, 260, 160, 275), "ocr", "(b)"), LetterHit("A", (490, 260, 510, 275), "ocr", "(a)")]
    assert letters_by_place(boxes, swapped) is None  # B before A along the row
    far = [below[0], LetterHit("B", (490, 700, 510, 715), "ocr", "(b)")]
    assert letters_by_place(boxes, far) is None  # "(b)" far from every panel
    assert letters_by_place(boxes, below[:1]) is None  # one letter for two panels
