"""Reading order of panel boxes: one implementation for parse (which fills panel letters in this order,
medvl/pdf/panels.py) and align (which pairs letters "by order" in it, medvl/align.py), so a figure's
panels are never lettered in one order and paired in another.

`reading_order` is recursive cuts (bands, then columns beside a tall panel, else rows by overlap);
`grid_rows` groups panels into the rows of their grid, for positional words ("top left") and row/column
numbers, not for the order.  Boxes are (x0, y0, x1, y1) in any unit.
"""

from __future__ import annotations

from typing import Sequence

Box = Sequence[float]


def _rows_order(boxes: Sequence[Box], idx: list[int]) -> list[int]:
    """Rows (by vertical overlap) top to bottom, then left to right: for boxes no straight cut separates."""
    idx = sorted(idx, key=lambda i: (boxes[i][1], boxes[i][0]))
    rows: list[list[int]] = []
    for i in idx:
        b = boxes[i]
        for row in rows:
            rb = boxes[row[0]]
            ov = min(b[3], rb[3]) - max(b[1], rb[1])
            if ov > 0.5 * min(b[3] - b[1], rb[3] - rb[1]):
                row.append(i)
                break
        else:
            rows.append([i])
    out: list[int] = []
    for row in rows:
        out.extend(sorted(row, key=lambda i: boxes[i][0]))
    return out


def _cut(boxes: Sequence[Box], idx: list[int], axis: int, tol: float) -> list[list[int]]:
    """Split boxes by straight gutters along one axis (0: horizontal lines, 1: vertical lines)."""
    lo, hi = (1, 3) if axis == 0 else (0, 2)
    idx = sorted(idx, key=lambda i: boxes[i][lo])
    groups: list[list[int]] = []
    end = None
    for i in idx:
        if end is None or boxes[i][lo] >= end - tol:
            groups.append([i])
            end = boxes[i][hi]
        else:
            groups[-1].append(i)
            end = max(end, boxes[i][hi])
    return groups


def reading_order(boxes: Sequence[Box]) -> list[int]:
    """Indices of boxes in reading order.

    Recursive cuts: bands separated by horizontal gutters top to bottom; inside a band, columns
    separated by vertical gutters left to right when one column is a single panel as tall as the
    band (a tall panel is read before the stack beside it); otherwise rows by vertical overlap.
    Small overlaps (a tenth of the typical panel) are tolerated.
    """
    if not boxes:
        return []
    heights = sorted(b[3] - b[1] for b in boxes)
    widths = sorted(b[2] - b[0] for b in boxes)
    tol_y = 0.1 * heights[len(heights) // 2]
    tol_x = 0.1 * widths[len(widths) // 2]

    def rec(idx: list[int], depth: int) -> list[int]:
        if len(idx) <= 1 or depth > 12:
            return list(idx)
        groups = _cut(boxes, idx, 0, tol_y)
        if len(groups) > 1:
            out: list[int] = []
            for g in groups:
                out.extend(rec(g, depth + 1))
            return out
        cols = _cut(boxes, idx, 1, tol_x)
        if len(cols) > 1:
            # columns first only beside a panel as tall as the band (a tall panel next to a stack);
            # otherwise panels of staggered heights are read row by row
            top = min(boxes[i][1] for i in idx)
            bottom = max(boxes[i][3] for i in idx)
            is_tall = [len(c) == 1 and boxes[c[0]][3] - boxes[c[0]][1] >= 0.75 * (bottom - top) for c in cols]
            if any(is_tall):
                # a tall panel is read in its place; the columns between tall panels form one
                # block read on its own (a 2x3 grid beside a tall chart: the grid, then the chart)
                out = []
                block: list[int] = []
                for c, t in zip(cols, is_tall):
                    if t:
                        if block:
                            out.extend(rec(block, depth + 1))
                            block = []
                        out.extend(c)
                    else:
                        block.extend(c)
                if block:
                    out.extend(rec(block, depth + 1))
                return out
        return _rows_order(boxes, idx)

    return rec(list(range(len(boxes))), 0)


def grid_rows(boxes: Sequence[Box]) -> list[list[int]]:
    """Group panel boxes into rows (top to bottom), each sorted left to right; returns indices."""
    order = sorted(range(len(boxes)), key=lambda i: (boxes[i][1], boxes[i][0]))
    rows: list[list[int]] = []
    spans: list[list[float]] = []
    for i in order:
        y0, y1 = boxes[i][1], boxes[i][3]
        h = max(y1 - y0, 1e-6)
        for r, (ry0, ry1) in enumerate(spans):
            overlap = min(y1, ry1) - max(y0, ry0)
            if overlap > 0.5 * min(h, ry1 - ry0):
                rows[r].append(i)
                spans[r] = [min(ry0, y0), max(ry1, y1)]
                break
        else:
            rows.append([i])
            spans.append([y0, y1])
    rows_sorted = sorted(zip(spans, rows), key=lambda sr: sr[0][0])
    return [sorted(r, key=lambda i: boxes[i][0]) for _, r in rows_sorted]
