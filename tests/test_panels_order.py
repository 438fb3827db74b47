"""The stored order of a figure's panels (issue 11): letter order when every panel has a letter
(figures lettered down their columns, eLife style), reading order otherwise."""

from __future__ import annotations

import numpy as np

from medvl.pdf import panels as P
from medvl.pdf.figure_panels import panels_and_letters
from tests.helpers.images import chart, photo, rgb_of

# A and B down the first column, C, D, E down the second, F a tall third column; white gutters
COLUMN_CELLS = {"A": (20, 20, 290, 290), "B": (20, 310, 290, 580), "C": (310, 20, 590, 190),
                "D": (310, 210, 590, 390), "E": (310, 410, 590, 580), "F": (610, 20, 880, 580)}


def _column_figure() -> tuple[np.ndarray, list[P.LetterHit]]:
    g = np.full((600, 900), 255, np.uint8)
    hits = []
    for k, (lab, (x0, y0, x1, y1)) in enumerate(COLUMN_CELLS.items()):
        g[y0 + 24:y1, x0:x1] = photo(y1 - y0 - 24, x1 - x0, seed=k)
        hits.append(P.LetterHit(lab, (x0, y0, x0 + 14, y0 + 18), "pdf_text", lab))
    return rgb_of(g), hits


def _inside(b: tuple, cell: tuple, tol: int = 2) -> bool:
    return cell[0] - tol <= b[0] and cell[1] - tol <= b[1] and b[2] <= cell[2] + tol and b[3] <= cell[3] + tol


def test_panels_lettered_down_the_columns_are_stored_in_letter_order():
    # before: stored in reading order, row by row: A, C, D, B, E, F (align pairs letters, but the
    # panel list is the order users get)
    rgb, hits = _column_figure()
    pb, _ = panels_and_letters(rgb, None, hits, "never", True, expected=list("ABCDEF"), hint={})
    assert [p.label for p in pb] == list("ABCDEF")
    for p, cell in zip(pb, COLUMN_CELLS.values()):
        assert _inside(p.bbox, cell)  # each letter on its own cell


def test_unlettered_panels_keep_the_reading_order():
    rgb, _ = _column_figure()
    pb, _ = panels_and_letters(rgb, None, [], "never", True, expected=[], hint={})
    assert [p.label for p in pb] == [None] * 6
    got = [next(lab for lab, cell in COLUMN_CELLS.items() if _inside(p.bbox, cell)) for p in pb]
    assert got == ["A", "C", "D", "B", "E", "F"]  # rows top to bottom (the tall F last)


def test_letter_order_needs_every_panel_lettered_once():
    a, b, c = (P.PanelBox(bbox=(x, 0, x + 10, 10)) for x in (0, 20, 40))
    a.label, b.label, c.label = "A", "C", "B"
    assert [p.label for p in P.letter_order([a, b, c])] == ["A", "B", "C"]
    c.label = None
    assert [p.label for p in P.letter_order([a, b, c])] == ["A", "C", None]  # one unlettered: as given
    c.label = "A"
    assert [p.label for p in P.letter_order([a, b, c])] == ["A", "C", "A"]  # a letter twice: as given


# A B C over D E F, lines drawn across the gutters (no white gutter crosses the figure) except
# between D and E; E's letter is not found (an OCR miss): D's box from the letters reaches to F's
# letter and holds D and E
GRID_CELLS = {"A": (20, 20, 290, 280), "B": (310, 20, 580, 280), "C": (600, 20, 880, 280),
              "D": (20, 300, 290, 580), "E": (310, 300, 580, 580), "F": (600, 300, 880, 580)}


def _framed_grid(missing: str = "E") -> tuple[np.ndarray, list[P.LetterHit]]:
    g = np.full((600, 900), 255, np.uint8)
    hits = []
    for k, (lab, (x0, y0, x1, y1)) in enumerate(GRID_CELLS.items()):
        g[y0 + 18:y1, x0:x1] = chart(y1 - y0 - 18, x1 - x0, bars=3 + k % 3)
        g[y0:y0 + 18, x0:x0 + 14] = 0  # the letter (a block of ink on the picture's corner)
        if lab != missing:
            hits.append(P.LetterHit(lab, (x0, y0, x0 + 14, y0 + 18), "ocr", lab))
    g[150:152, 270:330] = 0  # A-B
    g[150:152, 560:620] = 0  # B-C
    g[450:452, 560:620] = 0  # E-F
    if missing != "D":  # (D's picture must lie in A's box behind a white gutter)
        g[265:315, 150:152] = 0  # A over D
    g[265:315, 450:452] = 0  # B over E
    g[265:315, 750:752] = 0  # C over F
    return rgb_of(g), hits


def test_missing_letter_between_its_neighbours_is_implied_by_the_grid():
    rgb, hits = _framed_grid()
    assert P.missing_between(hits, list("ABCDEF")) == "E"
    assert P.missing_between(hits[:-1], list("ABCDEF")) is None  # E and F missing
    assert P.missing_between([h for h in hits if h.letter != "A"] + hits[3:4], list("ABCDE")) is None
    res = P.hinted_split(rgb, 6, 1, hits, current=[], expected_letters=list("ABCDEF"))
    assert res is not None and res[1] == "letter grid, E inferred"
    boxes = res[0]
    assert len(boxes) == 6
    for b, cell in zip(boxes, GRID_CELLS.values()):  # each box its cell (and the stubs of the lines)
        assert _inside(b, cell, tol=30) and (b[2] - b[0]) * (b[3] - b[1]) >= 0.9 * (cell[2] - cell[0]) * (cell[3] - cell[1])
    # without the missing letter's name nothing is inferred (before: the grid was refused)
    assert P.hinted_split(rgb, 6, 1, hits, current=[]) is None


def test_inferred_letter_is_flagged_in_the_panel_record(monkeypatch):
    # parse: 5 of the caption's 6 letters found in the pixels, E's cell gets E from its
    # neighbours, label_source "order" (the record's 'inferred' flag; align pairs it by order)
    from medvl.pdf import ocr

    rgb, hits = _framed_grid()
    monkeypatch.setattr(ocr, "tesseract_version", lambda: "test")
    monkeypatch.setattr(ocr, "find_letter_anchors", lambda rgb, expected, **kw: list(hits))
    monkeypatch.setattr(ocr, "read_panel_letters_and_hits", lambda rgb, boxes, **kw: ([None] * len(boxes), []))
    hint: dict[str, str] = {}
    pb, _ = panels_and_letters(rgb, None, [], "auto", True, expected=list("ABCDEF"), hint=hint)
    assert [p.label for p in pb] == list("ABCDEF")
    assert [p.label_source for p in pb] == ["ocr"] * 4 + ["order", "ocr"]
    assert "E inferred" in hint["panel_hint"]


def test_missing_letter_at_the_start_of_a_row_is_implied_below_the_row_above():
    # D not found: A's box reaches down to the figure's edge and holds A and D's picture
    rgb, hits = _framed_grid(missing="D")
    res = P.hinted_split(rgb, 6, 1, hits, current=[], expected_letters=list("ABCDEF"))
    assert res is not None and res[1] == "letter grid, D inferred"
    for b, cell in zip(res[0], GRID_CELLS.values()):
        assert _inside(b, cell, tol=30) and (b[2] - b[0]) * (b[3] - b[1]) >= 0.9 * (cell[2] - cell[0]) * (cell[3] - cell[1])


def test_a_second_picture_after_the_inferred_one_is_not_implied():
    # D's box holds D and two unlettered pictures: which of them is E is not implied
    rgb, hits = _framed_grid()
    g = rgb[:, :, 0].copy()
    g[300:580, 20:590] = 255
    for x0, x1 in ((20, 190), (210, 380), (400, 570)):
        g[318:580, x0:x1] = chart(262, x1 - x0)
    g[300:318, 20:34] = 0  # D's letter
    assert P.inferred_grid(rgb_of(g), hits, "E") is None
    assert P.inferred_grid(rgb, hits, "E") is not None
