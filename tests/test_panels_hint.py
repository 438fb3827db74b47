"""The caption's panel letters as a hint for panel splitting (parse round five): a figure whose
caption names more lettered panels than the default gutters find is split finer, never more than
the caption names, and the Figure records that the hint was used."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from medvl.parse import ParseSettings, parse_paper
from medvl.pdf.figure_panels import caption_letters
from medvl.pdf import panels as P
from tests.helpers import pdfgen as gen

FAST = ParseSettings(dpi=72, ocr="never")


def _charts(n: int = 3, gutter: int = 1, w: int = 150, h: int = 150) -> np.ndarray:
    """n flat-colour chart panels side by side, separated by white gutters of `gutter` px."""
    width = n * w + (n - 1) * gutter
    arr = np.full((h, width, 3), 255, dtype=np.uint8)
    for k in range(n):
        x0 = k * (w + gutter)
        arr[:, x0:x0 + w] = (200, 215, 235)  # panel background
        arr[10:h - 10, x0 + 8:x0 + 10] = (0, 0, 0)  # y axis
        arr[h - 12:h - 10, x0 + 8:x0 + w - 8] = (0, 0, 0)  # x axis
        for j in range(4):  # bars of different heights
            top = 30 + ((k * 7 + j * 23) % 70)
            arr[top:h - 12, x0 + 20 + j * 30:x0 + 40 + j * 30] = (30 + 60 * k, 90, 160)
    return arr


def _png(arr: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def _pdf(path: Path, caption: str, n: int = 3) -> Path:
    import pymupdf

    arr = _charts(n)
    doc = pymupdf.open()
    page = doc.new_page(width=gen.W, height=gen.H)
    gen.body(page, (50, 40, 562, 110))
    h, w = arr.shape[:2]
    rect = (60, 140, 60 + w, 140 + h)  # 1 pt per pixel: at 72 dpi the gutters stay 1 px wide
    page.insert_image(rect, stream=_png(arr))
    gen.caption(page, 60, 140 + h + 20, "Figure 1:", [caption])
    doc.save(path)
    return path


def test_caption_letters_ignores_shared_and_positions():
    assert caption_letters("Lungs. (A) CT. (B) MRI. (C) X-ray.") == ["A", "B", "C"]
    assert caption_letters("CT (left) and MRI (right) of the same patient.") == []
    assert caption_letters("A chest radiograph without panels.") == []
    assert caption_letters("") == []


def test_default_split_misses_one_pixel_gutters():
    rgb = _charts(3)
    assert P.panels_from_pixels(rgb) == []  # the default gutter (3 px) sees one panel
    assert len(P.panels_from_pixels(rgb, min_gap_px=1)) == 3


def test_hinted_split_reaches_the_named_count_and_never_exceeds_it():
    rgb = _charts(3)
    res = P.hinted_split(rgb, 3, 1)
    assert res is not None
    boxes, step = res
    assert len(boxes) == 3 and step == "gutter1"
    # the caption names two letters: a three-cell cut would exceed it, so nothing is accepted
    assert P.hinted_split(rgb, 2, 1) is None
    # already enough panels: nothing to do
    assert P.hinted_split(rgb, 3, 3) is None


def test_text_only_cells_are_not_panels():
    rgb = np.full((120, 301, 3), 255, dtype=np.uint8)
    rgb[:, :150] = (200, 215, 235)  # a picture
    for y in range(10, 110, 14):  # lines of "text" on the right
        rgb[y:y + 6, 160:290:3] = 0
    boxes = [(0, 0, 150, 120), (151, 0, 301, 120)]
    assert not P.plausible_cells(rgb, boxes)
    assert P.plausible_cells(_charts(2), [(0, 0, 150, 150), (151, 0, 301, 150)])


def test_parse_splits_one_pixel_gutters_when_caption_names_letters(tmp_path):
    pdf = _pdf(tmp_path / "hint.pdf", "Three charts. (A) Dose. (B) Response. (C) Survival.")
    figs, rejects = parse_paper(pdf, settings=FAST)
    assert len(figs) == 1
    fig = figs[0]
    assert len(fig.panels) == 3
    xs = [p.bbox[0] for p in fig.panels]
    assert xs == sorted(xs)  # reading order, left to right
    assert all(abs((p.bbox[2] - p.bbox[0]) - 150) <= 3 for p in fig.panels)
    assert fig.panel_hint and "caption names 3" in fig.panel_hint and "1 -> 3" in fig.panel_hint


def test_parse_without_caption_letters_stays_as_before(tmp_path):
    pdf = _pdf(tmp_path / "nohint.pdf", "Three charts of dose, response and survival.")
    figs, _ = parse_paper(pdf, settings=FAST)
    assert len(figs) == 1
    assert figs[0].panels == []  # one panel, as without the hint
    assert figs[0].panel_hint is None


def test_parse_never_splits_more_than_the_caption_names(tmp_path):
    pdf = _pdf(tmp_path / "two.pdf", "Charts. (A) Dose and response. (B) Survival.")
    figs, _ = parse_paper(pdf, settings=FAST)
    assert len(figs) == 1
    assert len(figs[0].panels) <= 2
    assert figs[0].panel_hint is None


def test_dark_background_split_only_with_the_hint():
    """Two bright micrographs on one black background (no white gutter), with a light frame."""
    rng = np.random.default_rng(1)
    rgb = np.zeros((160, 330, 3), dtype=np.uint8)
    for x0 in (15, 175):
        rgb[20:140, x0:x0 + 140] = rng.integers(90, 230, size=(120, 140, 1), dtype=np.uint8)
    rgb[:2, :] = 200  # a light frame line around the figure
    rgb[-2:, :] = 200
    rgb[:, :2] = 200
    rgb[:, -2:] = 200
    assert P.panels_from_pixels(rgb) == []  # black is ink: no white gutter
    dark = P.panels_from_pixels(rgb, dark_background=True)
    assert len(dark) == 2 and dark[0][2] <= dark[1][0] and dark[0][0] >= 10  # the frame is not a panel
    res = P.hinted_split(rgb, 2, 1)  # a finer step (the black band as a seam, or the dark cut)
    assert res is not None and len(res[0]) == 2
    # a caption naming 3 panels: a 2-cell cut would put two named panels in one cell -> no split
    assert P.hinted_split(rgb, 3, 1) is None
