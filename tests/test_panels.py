"""Panels and panel letters, unit level: assignment, grouping, tiles, letter choice, OCR consistency."""

from __future__ import annotations

import itertools

import pytest

from medvl.pdf import panels as P
from medvl.pdf.ocr import Read, consistent_labels


def hit(letter: str, box: tuple[int, int, int, int], raw: str | None = None, source: str = "pdf_text") -> P.LetterHit:
    return P.LetterHit(letter=letter.upper(), bbox=box, source=source, raw=raw if raw is not None else letter)


def labels_of(boxes, hits) -> list[str | None]:
    order = P.reading_order(boxes)
    pbs = [P.PanelBox(bbox=boxes[i]) for i in order]
    P.attach_letters(pbs, hits)
    return [p.label for p in pbs]


# ---------------------------------------------------------------- assignment

def test_hungarian_finds_the_optimum_square_and_rectangular():
    cost = [[4, 1, 3], [2, 0, 5], [3, 2, 2]]
    pairs = P._hungarian(cost)
    best = min(itertools.permutations(range(3)), key=lambda p: sum(cost[i][p[i]] for i in range(3)))
    assert pairs == [(i, best[i]) for i in range(3)]
    # more columns than rows and more rows than columns
    assert P._hungarian([[5, 1, 9]]) == [(0, 1)]
    assert P._hungarian([[5], [1], [9]]) == [(1, 0)]


GRID = [(0, 0, 100, 80), (110, 0, 210, 80), (0, 110, 100, 190), (110, 110, 210, 190)]


def test_letters_centred_below_panels_go_to_the_panel_above_them():
    # the reported bug: "(a)".."(d)" printed under each image came out C, D, A, B
    hits = [hit("a", (44, 86, 56, 98), "(a)"), hit("b", (154, 86, 166, 98), "(b)"),
            hit("c", (44, 196, 56, 208), "(c)"), hit("d", (154, 196, 166, 208), "(d)")]
    assert labels_of(GRID, hits) == ["A", "B", "C", "D"]


@pytest.mark.parametrize("corner", ["tl", "tr", "bl", "br"])
def test_letters_inside_any_corner(corner):
    hits = []
    for i, (x0, y0, x1, y1) in enumerate(GRID):
        x = x0 + 3 if corner[1] == "l" else x1 - 13
        y = y0 + 3 if corner[0] == "t" else y1 - 15
        hits.append(hit("ABCD"[i], (x, y, x + 10, y + 12)))
    assert labels_of(GRID, hits) == ["A", "B", "C", "D"]


def test_letters_above_left_outside_the_panels():
    boxes = [(10, 20, 100, 100), (120, 20, 210, 100), (10, 130, 100, 210), (120, 130, 210, 210)]
    hits = [hit(c, (x - 9, y - 16, x, y - 4)) for c, (x, y) in zip("ABCD", [(10, 20), (120, 20), (10, 130), (120, 130)])]
    assert labels_of(boxes, hits) == ["A", "B", "C", "D"]


def test_reading_order_tolerates_small_offsets():
    boxes = [(110, 4, 210, 80), (0, 0, 100, 78), (112, 108, 210, 190), (0, 112, 100, 190)]
    assert [boxes[i] for i in P.reading_order(boxes)] == [boxes[1], boxes[0], boxes[3], boxes[2]]


# ---------------------------------------------------------------- grouping

def test_group_cells_under_letters_printed_below_groups():
    # (a) under a 2x2 group of images, (b) under two stacked blots, (c) under a row of two below
    cells = [(0, 0, 60, 40), (64, 0, 124, 40), (0, 44, 60, 84), (64, 44, 124, 84),
             (140, 0, 220, 38), (140, 46, 220, 84),
             (40, 110, 110, 170), (114, 110, 184, 170)]
    hits = [hit("a", (56, 90, 68, 100), "(a)"), hit("b", (174, 90, 186, 100), "(b)"),
            hit("c", (106, 176, 118, 186), "(c)")]
    groups = P.group_cells(cells, hits)
    assert groups is not None
    assert sorted(groups) == sorted([(0, 0, 124, 84), (140, 0, 220, 84), (40, 110, 184, 170)])
    assert labels_of(groups, hits) == ["A", "B", "C"]


def test_group_cells_with_letters_top_left_and_a_wide_row():
    # a | b c / d under b c / e = three charts in one row under one letter
    cells = [(5, 38, 514, 615), (519, 41, 810, 328), (832, 40, 980, 328), (535, 374, 911, 606),
             (8, 628, 366, 935), (379, 628, 734, 935), (753, 628, 979, 935)]
    hits = [hit("a", (4, 4, 16, 24)), hit("b", (501, 4, 514, 24)), hit("c", (817, 4, 829, 24)),
            hit("d", (502, 332, 515, 352)), hit("e", (4, 598, 16, 618))]
    groups = P.group_cells(cells, hits)
    assert groups is not None and len(groups) == 5
    assert (8, 628, 979, 935) in groups
    assert labels_of(groups, hits) == ["A", "B", "C", "D", "E"]  # a, then the stack b c / d beside it


def test_group_cells_refuses_groupings_out_of_order_or_overlapping():
    cells = [(0, 0, 50, 50), (60, 0, 110, 50), (120, 0, 170, 50)]
    # "a" under the middle cell and "b" under the first: letters would run b, a along the row
    assert P.group_cells(cells, [hit("a", (60, 60, 70, 70)), hit("b", (0, 60, 10, 70))]) is None
    # a wide cell under "a" would swallow the cell of "b"
    cells = [(0, 0, 200, 50), (60, 60, 110, 100), (0, 110, 200, 150)]
    hits = [hit("a", (95, 52, 105, 58)), hit("b", (95, 152, 105, 160))]
    got = P.group_cells(cells, hits)
    assert got is None or all(P.r_inter(tuple(map(float, a)), tuple(map(float, b))) is None
                              for a, b in itertools.combinations(got, 2))


def test_merge_tiles_joins_a_picture_cut_into_tiles_but_not_separate_images():
    tiles = [(100 + 34 * c - 0.1 * c, 70 + 34 * r, 134 + 34 * c, 104 + 34 * r) for r in range(3) for c in range(3)]
    assert len(P.merge_tiles(tiles)) == 1
    separate = [(0, 0, 100, 80), (110, 0, 210, 80)]
    assert P.merge_tiles(separate) == separate
    # placed images with tiles become one panel -> no panels for a single tiled picture
    assert P.panels_from_images(tiles, (90, 60, 250, 180)) is None


def test_plausible_letters_prefers_the_panel_letters_over_axis_labels():
    hits = [hit("A", (150, 40, 160, 52)), hit("B", (290, 40, 299, 52)),  # "Cluster A", "Cluster B"
            hit("a", (4, 4, 16, 24)), hit("b", (500, 4, 514, 24)), hit("c", (816, 4, 829, 24))]
    got = P.plausible_letters(hits)
    assert [(h.letter, h.bbox) for h in got] == [("A", (4, 4, 16, 24)), ("B", (500, 4, 514, 24)),
                                                 ("C", (816, 4, 829, 24))]


# ---------------------------------------------------------------- OCR consistency

def read(panel: int, corner: str, letter: str, conf: float) -> Read:
    return Read(panel=panel, corner=corner, letter=letter, conf=conf, bbox=(0, 0, 1, 1), raw=letter)


def test_consistency_picks_the_corner_of_the_sequence_and_drops_misreads():
    reads = [read(0, "tr", "A", 90), read(1, "tr", "B", 25), read(2, "tr", "C", 85), read(3, "tr", "D", 70),
             read(0, "bl", "J", 95), read(1, "bl", "X", 90), read(2, "tl", "F", 60)]
    assert consistent_labels(4, reads) == [("A", "ocr"), ("B", "ocr"), ("C", "ocr"), ("D", "ocr")]


def test_consistency_fills_a_single_gap_from_the_order():
    reads = [read(0, "tl", "A", 90), read(1, "tl", "B", 88), read(3, "tl", "D", 80), read(2, "tl", "Q", 40)]
    assert consistent_labels(4, reads) == [("A", "ocr"), ("B", "ocr"), ("C", "order"), ("D", "ocr")]


def test_consistency_rejects_isolated_reads():
    # one letter alone is no evidence of a panel sequence (a stray glyph read as "A")
    assert consistent_labels(4, [read(0, "tl", "A", 95)]) == [None] * 4
    # letters out of sequence
    assert consistent_labels(3, [read(0, "tl", "C", 90), read(1, "tl", "A", 90)]) == [None] * 3
    assert consistent_labels(1, [read(0, "tl", "A", 95)]) == [None]


# ---------------------------------------------------------------- framed charts, narrow gutters

def _framed(w: int, h: int, rects: list[tuple[int, int, int, int]], stray: tuple[int, int] | None = None):
    import numpy as np
    img = np.full((h, w, 3), 255, np.uint8)
    for x0, y0, x1, y1 in rects:
        img[y0:y0 + 2, x0:x1] = 0
        img[y1 - 2:y1, x0:x1] = 0
        img[y0:y1, x0:x0 + 2] = 0
        img[y0:y1, x1 - 2:x1] = 0
        img[y0 + 20:y1 - 20, x0 + 30:x0 + 40] = 90  # a bar inside the frame
    if stray:
        img[stray[1], stray[0]] = 0
    return img


def test_two_px_gutter_between_framed_charts_splits_them():
    # 2x2 grid of framed charts 2 px apart, a stray pixel in one gutter, a centred fifth below
    # (the layout of PMC7971039 Figure 1); the plain XY-cut minimum gap here is 3 px
    rects = [(0, 0, 300, 200), (302, 0, 600, 200), (0, 202, 300, 400), (302, 202, 600, 400), (150, 403, 450, 600)]
    img = _framed(600, 600, rects, stray=(300, 100))
    boxes = sorted(P.panels_from_pixels(img))
    assert len(boxes) == 5
    for want in rects:
        assert any(abs(b[0] - want[0]) <= 3 and abs(b[2] - want[2]) <= 3 and abs(b[1] - want[1]) <= 3
                   and abs(b[3] - want[3]) <= 3 for b in boxes), (want, boxes)


def test_a_double_ruled_border_is_no_gutter():
    # one chart inside a double frame (outer line, 2 px white, inner line): still one panel
    import numpy as np
    img = _framed(400, 300, [(0, 0, 400, 300)])
    inner = _framed(400, 300, [(4, 4, 396, 296)])
    img = np.minimum(img, inner)
    assert P.panels_from_pixels(img) == []
    # and a lone vertical rule in the middle of a chart does not cut it either
    chart = np.full((300, 400, 3), 255, np.uint8)
    chart[10:290, 10:12] = 0  # y axis
    chart[288:290, 10:390] = 0  # x axis
    chart[10:290, 200:202] = 0  # a ruled line at x=200 (no second line 2 px away)
    chart[100:288, 50:80] = 60
    chart[150:288, 250:280] = 60
    assert P.panels_from_pixels(chart) == []
