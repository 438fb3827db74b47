"""The stored order of a figure's panels (issue 11): letter order when every panel has a letter
(figures lettered down their columns, eLife style), reading order otherwise."""

from __future__ import annotations

import numpy as np

from medvl.pdf import panels as P
from medvl.pdf.figure_panels import panels_and_letters
from tests.test_panels_split import chart, photo, rgb_of

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
