"""Panels of a compound figure and their letters.

Panels come from the placed images inside a figure when there are several (each image is a
panel), otherwise from a recursive XY-cut of the rendered figure along white gutters.  Letters
("A", "(b)", "c.") printed as PDF text inside the figure attach to the nearest panel.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from medvl.pdf.figures import Rect4, r_area, r_gap, r_inter, r_union

LETTER_RE = re.compile(r"^\s*[(\[]?\s*([A-Za-z])\s*[)\]]?\s*[.:]?\s*$")


@dataclass
class PanelBox:
    bbox: tuple[int, int, int, int]  # pixels in the figure image
    label: str | None = None
    label_source: str | None = None


# ---------------------------------------------------------------- geometry

def to_pixels(rect: Rect4, origin: tuple[float, float], zoom: float, size: tuple[int, int]) -> tuple[int, int, int, int]:
    w, h = size
    x0 = int(round((rect[0] - origin[0]) * zoom))
    y0 = int(round((rect[1] - origin[1]) * zoom))
    x1 = int(round((rect[2] - origin[0]) * zoom))
    y1 = int(round((rect[3] - origin[1]) * zoom))
    return (max(0, min(w, x0)), max(0, min(h, y0)), max(0, min(w, x1)), max(0, min(h, y1)))


def reading_order(boxes: list[tuple[int, int, int, int]]) -> list[int]:
    """Indices of boxes in reading order: rows (by vertical overlap) top to bottom, then left to right."""
    idx = sorted(range(len(boxes)), key=lambda i: (boxes[i][1], boxes[i][0]))
    rows: list[list[int]] = []
    for i in idx:
        b = boxes[i]
        placed = False
        for row in rows:
            rb = boxes[row[0]]
            ov = min(b[3], rb[3]) - max(b[1], rb[1])
            if ov > 0.5 * min(b[3] - b[1], rb[3] - rb[1]):
                row.append(i)
                placed = True
                break
        if not placed:
            rows.append([i])
    out: list[int] = []
    for row in rows:
        out.extend(sorted(row, key=lambda i: boxes[i][0]))
    return out


def _merge_overlapping(rects: list[Rect4]) -> list[Rect4]:
    rects = list(rects)
    changed = True
    while changed:
        changed = False
        out: list[Rect4] = []
        for r in rects:
            for j, o in enumerate(out):
                inter = r_inter(r, o)
                if inter and r_area(inter) > 0.2 * min(r_area(r), r_area(o)):
                    out[j] = r_union(r, o)
                    changed = True
                    break
            else:
                out.append(r)
        rects = out
    return rects


def panels_from_images(image_rects: list[Rect4], fig_bbox: Rect4) -> list[Rect4] | None:
    """Placed images as panels when there are at least two sizeable, non-overlapping ones."""
    fa = r_area(fig_bbox)
    if fa <= 0:
        return None
    rects = [r for r in image_rects if r_area(r) >= 0.02 * fa and min(r[2] - r[0], r[3] - r[1]) >= 20]
    rects = _merge_overlapping(rects)
    if len(rects) < 2:
        return None
    covered = sum(r_area(r) for r in rects)
    if covered < 0.35 * fa:
        return None  # mostly vector content: the images are only parts of it
    return rects


# ---------------------------------------------------------------- XY-cut

def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) runs of True in a 1-D boolean array."""
    if mask.size == 0:
        return []
    m = np.concatenate([[False], mask, [False]]).astype(np.int8)
    d = np.diff(m)
    starts = np.flatnonzero(d == 1)
    ends = np.flatnonzero(d == -1)
    return list(zip(starts.tolist(), ends.tolist()))


def xy_cut(ink: np.ndarray, min_gap: int, min_side: int, depth: int = 0, max_depth: int = 6,
           x0: int = 0, y0: int = 0) -> list[tuple[int, int, int, int]]:
    """Recursive XY-cut of a boolean ink mask; returns boxes (x0, y0, x1, y1) of ink regions."""
    h, w = ink.shape
    rows = ink.any(axis=1)
    cols = ink.any(axis=0)
    if not rows.any():
        return []
    # trim to content
    ys = np.flatnonzero(rows)
    xs = np.flatnonzero(cols)
    ty0, ty1, tx0, tx1 = int(ys[0]), int(ys[-1]) + 1, int(xs[0]), int(xs[-1]) + 1
    sub = ink[ty0:ty1, tx0:tx1]
    ox, oy = x0 + tx0, y0 + ty0
    if depth >= max_depth:
        return [(ox, oy, ox + sub.shape[1], oy + sub.shape[0])]
    best = None
    for axis in (0, 1):  # 0: horizontal gutters (split rows), 1: vertical gutters
        prof = sub.any(axis=1 - axis) if axis == 0 else sub.any(axis=0)
        gaps = [(s, e) for s, e in _runs(~prof) if e - s >= min_gap and s > 0 and e < prof.size]
        if gaps:
            widest = max(e - s for s, e in gaps)
            if best is None or widest > best[0]:
                best = (widest, axis, gaps)
    if best is None:
        return [(ox, oy, ox + sub.shape[1], oy + sub.shape[0])]
    _, axis, gaps = best
    cuts = [0]
    for s, e in gaps:
        cuts.extend([s, e])
    cuts.append(sub.shape[0] if axis == 0 else sub.shape[1])
    out = []
    for a, b in zip(cuts[0::2], cuts[1::2]):
        piece = sub[a:b, :] if axis == 0 else sub[:, a:b]
        px, py = (ox, oy + a) if axis == 0 else (ox + a, oy)
        out.extend(xy_cut(piece, min_gap, min_side, depth + 1, max_depth, px, py))
    return out


def ink_mask(rgb: np.ndarray, threshold: int = 235) -> np.ndarray:
    """True where a pixel is not (near) white."""
    if rgb.ndim == 3:
        return (rgb.min(axis=2) < threshold)
    return rgb < threshold


def panels_from_pixels(rgb: np.ndarray) -> list[tuple[int, int, int, int]]:
    """Panels by XY-cut along white gutters; small pieces (letters, labels) merge into neighbours."""
    h, w = rgb.shape[:2]
    if h < 20 or w < 20:
        return []
    ink = ink_mask(rgb)
    min_gap = max(3, int(round(0.005 * max(h, w))))
    boxes = xy_cut(ink, min_gap=min_gap, min_side=0)
    if len(boxes) < 2:
        return []
    fa = float(w * h)
    big = [b for b in boxes if (b[2] - b[0]) * (b[3] - b[1]) >= 0.03 * fa
           and (b[2] - b[0]) >= 0.12 * w and (b[3] - b[1]) >= 0.12 * h]
    small = [b for b in boxes if b not in big]
    if len(big) < 2:
        return []
    big = [list(b) for b in big]
    for s in small:
        # merge a small piece into the nearest big one unless it is a panel letter far away
        j = min(range(len(big)), key=lambda k: r_gap(tuple(big[k]), s))
        if r_gap(tuple(big[j]), s) <= 2 * min_gap + 2:
            b = big[j]
            grown = (min(b[0], s[0]), min(b[1], s[1]), max(b[2], s[2]), max(b[3], s[3]))
            # never grow a panel into another one (a letter between two panels stays out)
            if any(k != j and r_inter(tuple(map(float, grown)), tuple(map(float, big[k]))) for k in range(len(big))):
                continue
            big[j] = list(grown)
    merged = [tuple(b) for b in big]
    # pieces that now overlap heavily were one panel
    merged = [tuple(int(v) for v in r) for r in _merge_overlapping([tuple(map(float, b)) for b in merged])]
    return merged if len(merged) >= 2 else []


# ---------------------------------------------------------------- letters

@dataclass
class LetterHit:
    letter: str  # upper-case
    bbox: tuple[int, int, int, int]  # pixels
    source: str


def letter_of(text: str) -> str | None:
    m = LETTER_RE.match(text)
    return m.group(1).upper() if m else None


def plausible_letters(hits: list[LetterHit], allow_gaps: bool = False, unique_only: bool = False
                      ) -> list[LetterHit]:
    """Keep the letters that look like a panel sequence starting at A, one hit per letter.

    Strict (PDF text): the run A, B, C ... without gaps.  With ``allow_gaps`` (OCR, which misses
    or misreads some letters) every letter up to the last one such that at least half of A..last
    were seen; ``unique_only`` drops letters read at several places (misreads of other glyphs).
    """
    by: dict[str, list[LetterHit]] = {}
    for h in hits:
        by.setdefault(h.letter, []).append(h)
    if unique_only:
        by = {k: v for k, v in by.items() if len(v) == 1}
    if "A" not in by:
        return []
    if allow_gaps:
        present = sorted(by)
        last = "A"
        for c in present:
            n_span = ord(c) - ord("A") + 1
            seen = sum(1 for x in present if x <= c)
            if seen >= 0.5 * n_span:
                last = c
        letters = [c for c in present if c <= last]
    else:
        letters = []
        c = "A"
        while c in by and c <= "Z":
            letters.append(c)
            c = chr(ord(c) + 1)
    # several hits of the same letter: prefer the top-left-most
    return [min(by[c], key=lambda h: (h.bbox[1] + h.bbox[0])) for c in letters]


def enforce_order(panels: list[PanelBox], source: str) -> None:
    """Drop letters of `source` that break alphabetical order along the panels' reading order."""
    idx = [i for i, p in enumerate(panels) if p.label and p.label_source == source]
    if len(idx) < 2:
        return
    vals = [panels[i].label for i in idx]
    # longest strictly increasing subsequence
    n = len(vals)
    best = [1] * n
    prev = [-1] * n
    for i in range(n):
        for j in range(i):
            if vals[j] < vals[i] and best[j] + 1 > best[i]:
                best[i], prev[i] = best[j] + 1, j
    k = max(range(n), key=lambda i: best[i])
    keep = set()
    while k != -1:
        keep.add(idx[k])
        k = prev[k]
    for i in idx:
        if i not in keep:
            panels[i].label = None
            panels[i].label_source = None


def attach_letters(panels: list[PanelBox], hits: list[LetterHit]) -> None:
    """Attach each letter to the nearest panel (containing it, else closest; near its top-left)."""
    if not panels or not hits:
        return
    cost = []
    for hi, h in enumerate(hits):
        cx, cy = (h.bbox[0] + h.bbox[2]) / 2, (h.bbox[1] + h.bbox[3]) / 2
        for pi, p in enumerate(panels):
            b = p.bbox
            inside = b[0] - 2 <= cx <= b[2] + 2 and b[1] - 2 <= cy <= b[3] + 2
            d = 0.0 if inside else r_gap(tuple(map(float, b)), (cx, cy, cx, cy))
            corner = ((cx - b[0]) ** 2 + (cy - b[1]) ** 2) ** 0.5
            # a letter just left of / above a panel belongs to it more than to the panel it sits beside
            below_right = cx <= b[0] + 0.5 * (b[2] - b[0]) and cy <= b[1] + 0.5 * (b[3] - b[1])
            cost.append((d + 0.15 * corner + (0 if below_right else 25), hi, pi))
    cost.sort()
    used_h, used_p = set(), set()
    for _, hi, pi in cost:
        if hi in used_h or pi in used_p:
            continue
        panels[pi].label = hits[hi].letter
        panels[pi].label_source = hits[hi].source
        used_h.add(hi)
        used_p.add(pi)


def fill_by_order(panels: list[PanelBox]) -> None:
    """A panel between two lettered panels whose letters leave exactly its letter free gets it ('order')."""
    labels = [p.label for p in panels]
    for i, p in enumerate(panels):
        if p.label is not None:
            continue
        prev = next(((j, labels[j]) for j in range(i - 1, -1, -1) if labels[j]), None)
        nxt = next(((j, labels[j]) for j in range(i + 1, len(panels)) if labels[j]), None)
        if prev and nxt:
            (pj, pl), (nj, nl) = prev, nxt
            if ord(nl) - ord(pl) == nj - pj:
                p.label = chr(ord(pl) + (i - pj))
                p.label_source = "order"
