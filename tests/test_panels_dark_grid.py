"""A grid of dark fluorescence micrographs separated by 1-2 px white lines, with shared row and
column labels and no letters (issue 11): flat in grey like a chart, but split into its fields."""

from __future__ import annotations

import numpy as np


def _dark_micrograph(h: int, w: int, seed: int) -> np.ndarray:
    """Near-black fluorescence field with sparse red dots (flat in grey: looks like a chart)."""
    rng = np.random.default_rng(seed)
    im = np.zeros((h, w, 3), np.uint8)
    im[:, :] = (8, 4, 4)
    for _ in range(40):
        y, x = int(rng.integers(2, h - 3)), int(rng.integers(2, w - 3))
        im[y - 1:y + 2, x - 1:x + 2] = (200, 30, 20)
    return im


def test_a_grid_of_dark_micrographs_with_one_pixel_white_lines_splits_into_its_cells():
    # 4 rows x 3 columns, two blocks of two rows (a 5-px gutter between the blocks), 1-px white
    # lines between the rows of a block and 2-px lines between the columns; row labels at the left
    # and column titles above (shared labels, no letters).  Before: not split (one panel)
    rgb = np.full((760, 700, 3), 255, np.uint8)
    cw, ch = 210, 170
    cells = []
    for r in range(4):
        y0 = 30 + r * (ch + 1) + (4 if r >= 2 else 0)
        for c in range(3):
            x0 = 60 + c * (cw + 2)
            rgb[y0:y0 + ch, x0:x0 + cw] = _dark_micrograph(ch, cw, seed=10 * r + c)
            cells.append((x0, y0, x0 + cw, y0 + ch))
        rgb[y0 + 80:y0 + 92, 20:44] = 0  # a row label ("1 h")
    for c in range(3):
        rgb[8:20, 60 + c * (cw + 2) + 80:60 + c * (cw + 2) + 130] = 0  # a column title
    from medvl.pdf.figure_panels import panels_and_letters

    pb, _ = panels_and_letters(rgb, None, [], "never", True, expected=[], hint={})
    assert len(pb) == 12
    for p, cell in zip(pb, cells):  # reading order: rows top to bottom
        b = p.bbox
        inter = max(0, min(b[2], cell[2]) - max(b[0], cell[0])) * max(0, min(b[3], cell[3]) - max(b[1], cell[1]))
        assert inter >= 0.9 * cw * ch


def test_the_lanes_of_a_dark_plate_are_not_split():
    # a dark TLC plate: lanes 38 px wide between 2-px white lines; chunks of lanes would be
    # "like" tiles, but each still holds lane lines: not fields of view
    from medvl.pdf import panels as P

    g = np.full((300, 800), 10, np.uint8)
    for x in range(40, 800, 40):
        g[:, x:x + 2] = 255
    g[60:70, 5:795] = 120  # a band across the lanes
    assert P.split_tiles(g, (0, 0, 800, 300)) == [(0, 0, 800, 300)]
