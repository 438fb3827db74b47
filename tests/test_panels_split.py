"""Panel splitting on pixels: dark gutters and seams between photographs, strips and diagrams that
are not panels, touching placed images, letters as anchors, reading order beside a tall panel, and
the OCR letter-window rules (letters above a chart, next to a frame, followed by a title)."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from medvl.pdf import panels as P
from medvl.pdf.ocr import Read, consistent_labels

from tests.helpers.images import chart, photo, rgb_of

needs_tesseract = pytest.mark.skipif(shutil.which("tesseract") is None, reason="tesseract not installed")


# ---------------------------------------------------------------- dark gutters and seams

def test_photographs_split_on_a_black_gutter_and_on_a_seam_without_white():
    left, right = photo(200, 180, 1), photo(200, 180, 2, base=170)
    bar = np.full((200, 12), 15, np.uint8)
    g = np.hstack([left, bar, right])
    got = P.panels_from_pixels(rgb_of(g))
    assert len(got) == 2
    assert got[0][2] <= 182 and got[1][0] >= 190  # cut inside the black bar
    # touching, no gutter at all: the step between two different scans is a seam
    g = np.hstack([photo(200, 180, 3, base=90), photo(200, 170, 4, base=170)])
    got = sorted(P.panels_from_pixels(rgb_of(g)))
    assert len(got) == 2 and abs(got[0][2] - 180) <= 2 and abs(got[1][0] - 180) <= 2


def test_one_photograph_and_one_chart_are_not_split_on_lines():
    assert P.panels_from_pixels(rgb_of(photo(240, 360, 5))) == []
    # a chart's axis lines are uniform dark lines, but charts are not split on them
    assert P.split_tiles(chart(200, 300), (0, 0, 300, 200)) == [(0, 0, 300, 200)]


def test_thin_lines_drawn_inside_one_picture_are_not_seams():
    # a scatter plot's quadrant gate: two thin dark lines across most of one picture (not its
    # whole length, so no uniform band); each edge peaks in most rows like a seam, but the level
    # returns past the line, so the picture is one panel (before: cut into three)
    g = photo(280, 300, 11, base=170)
    g[0:252, 120:122] = 40  # vertical, 2 px, 90% of the height
    g[150:153, 24:] = 40  # horizontal, 3 px, 92% of the width
    assert P.split_tiles(g, (0, 0, 300, 280)) == [(0, 0, 300, 280)]
    assert P.panels_from_pixels(rgb_of(g)) == []
    # two different pictures touching still split at their seam
    g = np.hstack([photo(200, 180, 3, base=90), photo(200, 170, 4, base=170)])
    assert len(P.panels_from_pixels(rgb_of(g))) == 2


def test_touching_placed_images_with_a_line_between_are_two_panels_tiles_are_one():
    a, b = photo(150, 120, 6), photo(150, 120, 7, base=160)
    sep = np.hstack([a, np.full((150, 3), 255, np.uint8), b])
    grey = sep
    assert P.tiles_separated(grey, (0, 0, 121, 150), (121, 0, 243, 150))
    one = photo(150, 240, 8)  # one picture cut into two tiles: content continues
    assert not P.tiles_separated(one, (0, 0, 120, 150), (120, 0, 240, 150))
    rects = [(0.0, 0.0, 50.0, 60.0), (50.0, 0.0, 100.0, 60.0)]
    assert len(P.merge_tiles(rects)) == 1
    assert len(P.merge_tiles(rects, separated=lambda p, q: True)) == 2


# ---------------------------------------------------------------- cells that are not panels

def test_a_strip_of_axis_labels_joins_the_chart():
    g = np.full((300, 500), 255, np.uint8)
    g[10:40, 40:460] = 0  # a band of rotated tick labels, drawn as a block
    g[10:40:4, :] = 255
    g[60:290, 20:480] = chart(230, 460)
    got = P.panels_from_pixels(rgb_of(g))
    assert got == []  # the strip is not a panel, so one panel is left


def test_unsupported_split_of_a_diagram_is_refused_but_a_row_of_like_charts_is_kept():
    g = np.full((300, 600), 255, np.uint8)
    g[10:90, 200:400] = 60  # flowchart: a small box above a big one
    g[110:290, 20:580] = 60
    g[120:280, 30:570] = 230
    rgb = rgb_of(g)
    boxes = P.panels_from_pixels(rgb)
    assert len(boxes) == 2 and P.unsupported_graphics_split(rgb, boxes)
    row = np.full((200, 620), 255, np.uint8)
    row[:, 0:300] = chart(200, 300)
    row[:, 320:620] = chart(200, 300, bars=3)
    boxes = P.panels_from_pixels(rgb_of(row))
    assert len(boxes) == 2 and not P.unsupported_graphics_split(rgb_of(row), boxes)
    # photographs are panels of their own even when their sizes differ
    ph = np.full((300, 600), 255, np.uint8)
    ph[10:290, 10:200] = photo(280, 190, 9)
    ph[10:150, 220:590] = photo(140, 370, 10)
    boxes = P.panels_from_pixels(rgb_of(ph))
    assert len(boxes) == 2 and not P.unsupported_graphics_split(rgb_of(ph), boxes)


def test_letters_as_anchors_group_the_pieces_of_a_fine_cut():
    # two trees one above the other with only a 2-pixel gap: the gutter cut sees one piece, the
    # letters A and B (PDF text) top-left of each tell where the panels are
    g = np.full((400, 300), 255, np.uint8)
    g[20:190, 40:280:6] = 0
    g[192:380, 40:280:6] = 0
    rgb = rgb_of(g)
    hits = [P.LetterHit("A", (10, 20, 22, 34), "pdf_text", "A"), P.LetterHit("B", (10, 192, 22, 206), "pdf_text", "B")]
    groups = P.group_cells(P.fine_cells(rgb), hits)
    assert groups is not None and len(groups) == 2
    top, bottom = sorted(groups, key=lambda b: b[1])
    assert top[3] <= 191 and bottom[1] >= 191


# ---------------------------------------------------------------- reading order and OCR consistency

def test_reading_order_reads_a_grid_before_the_tall_panel_beside_it():
    grid = [(0, 0, 100, 90), (110, 0, 210, 90), (0, 100, 100, 190), (110, 100, 210, 190)]
    tall = (230, 40, 330, 185)  # a chart as tall as ~3/4 of the band, starting lower
    boxes = [tall] + grid
    order = [boxes[i] for i in P.reading_order(boxes)]
    assert order == grid + [tall]


def test_consistency_drops_a_misread_that_breaks_the_order():
    reads = [Read(panel=i, corner="tl", letter=c, conf=90.0, bbox=(0, 0, 1, 1), raw=c)
             for i, c in enumerate("ABGDEFH")]  # "C" misread as "G"
    got = consistent_labels(7, reads)
    assert [x[0] if x else None for x in got] == ["A", "B", None, "D", "E", "F", "H"]
    # the old rule (at most one inversion) threw the whole figure away
    # too many misfits (two of five break the order): nothing
    bad = [Read(panel=i, corner="tl", letter=c, conf=90.0, bbox=(0, 0, 1, 1), raw=c) for i, c in enumerate("ADCBE")]
    assert consistent_labels(5, bad) == [None] * 5


def _draw(canvas: np.ndarray, text: str, xy: tuple[int, int], size: int = 22, fill: int = 0) -> None:
    from PIL import Image, ImageDraw, ImageFont

    im = Image.fromarray(canvas)
    d = ImageDraw.Draw(im)
    d.text(xy, text, fill=fill, font=ImageFont.load_default(size=size))
    canvas[:] = np.asarray(im)


@needs_tesseract
def test_pixel_letters_above_framed_charts_and_followed_by_titles():
    from medvl.pdf.ocr import read_panel_letters

    W, H = 660, 300
    g = np.full((H, W), 255, np.uint8)
    boxes = []
    for k, title in enumerate(["Control", "Treated", "Rescue"]):
        x0 = 10 + k * 220
        box = (x0 + 10, 60, x0 + 200, 290)
        # a frame around the chart; the letter sits above-left, outside the panel box, with a title
        g[box[1]:box[3], box[0]:box[0] + 2] = 0
        g[box[1]:box[3], box[2] - 2:box[2]] = 0
        g[box[1]:box[1] + 2, box[0]:box[2]] = 0
        g[box[3] - 2:box[3], box[0]:box[2]] = 0
        g[box[1] + 40:box[3] - 10, box[0] + 40:box[0] + 70] = 90
        _draw(g, "abc"[k], (x0 + 4, 20), size=26)
        _draw(g, title, (x0 + 40, 24), size=18)
        boxes.append(box)
    got = read_panel_letters(rgb_of(g), boxes)
    assert [x[0] if x else None for x in got] == ["A", "B", "C"]
    assert sum(1 for x in got if x and x[1] == "ocr") >= 2  # read, not only filled from the order


def test_a_frame_around_the_whole_figure_does_not_hide_the_gutters():
    g = np.full((420, 320), 255, np.uint8)
    g[10:400, 20:22] = 0  # frame on three sides; the figure box cut off the bottom line
    g[10:400, 300:302] = 0
    g[10:12, 20:302] = 0
    g[40:190, 40:280:5] = 0  # tree A
    g[230:390, 40:280:5] = 0  # tree B
    ink = P.ink_mask(rgb_of(g))
    assert len(P.xy_cut(ink, min_gap=3, min_side=0)) == 1  # the frame holds everything together
    assert P.panels_from_pixels(rgb_of(g)) == []  # without letters a framed figure stays one panel
    hits = [P.LetterHit("A", (26, 20, 36, 32), "pdf_text", "A"), P.LetterHit("B", (26, 214, 36, 226), "pdf_text", "B")]
    got = sorted(P.group_cells(P.fine_cells(rgb_of(g)), hits), key=lambda b: b[1])
    assert len(got) == 2 and got[0][3] < 200 and got[1][1] > 200


@needs_tesseract
def test_pixel_letters_centred_above_charts_and_inside_a_frame_beside_tick_labels():
    from medvl.pdf.ocr import read_panel_letters

    W, H = 700, 300
    g = np.full((H, W), 255, np.uint8)
    boxes = []
    for k in range(2):
        x0 = 20 + k * 340
        box = (x0, 40, x0 + 320, 290)
        g[box[1] + 10:box[3] - 30, x0 + 40:x0 + 42] = 0  # y axis
        g[box[3] - 32:box[3] - 30, x0 + 40:box[2] - 10] = 0  # x axis
        for t in range(5):  # tick labels next to the axis
            _draw(g, f"{t * 20}", (x0 + 8, box[1] + 10 + t * 40), size=14)
        g[box[1] + 80:box[3] - 32, x0 + 90:x0 + 130] = 100
        _draw(g, "AB"[k], (x0 + 150, 8), size=26)  # centred above the chart, outside its box
        boxes.append(box)
    got = read_panel_letters(rgb_of(g), boxes)
    assert got == [("A", "ocr"), ("B", "ocr")]


def test_letters_down_the_columns_give_the_panels_of_a_framed_figure():
    # eLife style: a frame around the figure, A and B down the first column, C, D, E down the
    # second, F a tall third column.  Before: no grid (the letters do not run along the rows,
    # and B's box stopped at E's letter in the next column)
    g = np.full((600, 900), 255, np.uint8)
    g[2:4, 2:898] = 0
    g[596:598, 2:898] = 0
    g[2:598, 2:4] = 0
    g[2:598, 896:898] = 0
    cells = {"A": (20, 20, 290, 290), "B": (20, 310, 290, 580), "C": (310, 20, 590, 190),
             "D": (310, 210, 590, 390), "E": (310, 410, 590, 580), "F": (610, 20, 880, 580)}
    hits = []
    for lab, (x0, y0, x1, y1) in cells.items():
        g[y0 + 24:y1, x0 + 20:x1] = chart(y1 - y0 - 24, x1 - x0 - 20)
        hits.append(P.LetterHit(lab, (x0, y0, x0 + 14, y0 + 18), "pdf_text", lab))
    got = P.anchor_grid(rgb_of(g), hits)
    assert got is not None and len(got) == 6
    for b, (x0, y0, x1, y1) in zip(got, cells.values()):
        assert x0 <= b[0] and y0 <= b[1] and b[2] <= x1 + 1 and b[3] <= y1 + 1  # inside its cell
        assert (b[2] - b[0]) * (b[3] - b[1]) >= 0.5 * (x1 - x0) * (y1 - y0)
