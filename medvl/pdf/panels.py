"""Panels of a compound figure and their letters.

Panels come from the placed images inside a figure when there are several (each image is a
panel), otherwise from a recursive XY-cut of the rendered figure along white gutters.  Letters
("A", "(b)", "c.") printed as PDF text inside the figure attach to the nearest panel.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

import numpy as np

from medvl.pdf.figures import Rect4, r_area, r_gap, r_inter, r_union
from medvl.readingorder import reading_order  # one reading order for parse and align

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


def panels_from_images(image_rects: list[Rect4], fig_bbox: Rect4,
                       separated: "Callable[[Rect4, Rect4], bool] | None" = None) -> list[Rect4] | None:
    """Placed images as panels when there are at least two sizeable, non-overlapping ones.

    ``separated(a, b)`` (optional, from the rendered pixels) tells touching images that are
    separate pictures (a visible line or seam between them) from tiles of one picture.
    """
    fa = r_area(fig_bbox)
    if fa <= 0:
        return None
    rects = merge_tiles([r for r in image_rects if r_area(r) > 0], separated=separated)
    rects = [r for r in rects if r_area(r) >= 0.02 * fa and min(r[2] - r[0], r[3] - r[1]) >= 20]
    rects = merge_tiles(_merge_overlapping(rects), separated=separated)
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


def _framed_gutters(sub: np.ndarray, axis: int) -> list[tuple[int, int]]:
    """Gutters of 2 px and up between two framed panels, which the plain XY-cut misses when they
    are narrower than its minimum gap or hold a stray pixel.

    A thin white channel counts when a ruled line runs (nearly) the whole length of the piece
    within 2 px on both sides of it -- two frames side by side -- and each side keeps at least a
    tenth of the piece.  A line or two of stray ink pixels inside the channel does not close it.
    Also a channel along one edge of a framed box (:func:`_box_edge`).
    """
    counts = sub.sum(axis=1) if axis == 0 else sub.sum(axis=0)
    length = sub.shape[1] if axis == 0 else sub.shape[0]
    size = counts.size
    if length < 40 or size < 40:
        return []
    empty = counts <= max(1, int(0.01 * length))
    full = counts >= 0.85 * length
    out = []
    m = sub if axis == 0 else sub.T  # rows across the channel
    for s, e in _runs(empty):
        if s < 0.1 * size or e > 0.9 * size:
            continue
        if e - s < 2:
            continue
        if full[max(0, s - 2):s].any() and full[e:e + 2].any():
            out.append((s, e))
        elif _box_edge(m, s, e, above=True) or _box_edge(m, s, e, above=False):
            out.append((s, e))
    return out


def _box_edge(m: np.ndarray, s: int, e: int, above: bool) -> bool:
    """The channel [s, e) of rows of ``m`` runs along an edge of a framed box on one side (above
    it, or below it with ``above=False``): a ruled line within 3 px of the channel (thin: 4 px into
    the box the row is mostly empty), at least a fifth of the piece long, with ruled lines going
    up (down) from both its ends over the box's height,
    which is at least a tenth of the piece.  A framed picture whose neighbour below it (beside it)
    comes within a few pixels of its frame is a panel of its own; a chart's axis has no line at
    its far end."""
    n, length = m.shape
    rows = range(max(0, s - 3), s) if above else range(e, min(n, e + 3))
    for r in rows:
        xs = np.flatnonzero(m[r])
        if xs.size < 0.2 * length:
            continue
        x0, x1 = int(xs[0]), int(xs[-1]) + 1
        if xs.size < 0.85 * (x1 - x0):
            continue
        inner = r - 4 if above else r + 4  # a ruled line, not the edge of a solid picture
        if not 0 <= inner < n or m[inner, x0:x1].mean() >= 0.5:
            continue
        part = m[:r, x0:x1] if above else m[r + 1:, x0:x1]
        ys = np.flatnonzero(part.any(axis=1))
        if ys.size == 0:
            continue
        span = part[int(ys[0]):, :] if above else part[:int(ys[-1]) + 1, :]
        if span.shape[0] < 0.1 * n or not 0.2 <= span.shape[1] / span.shape[0] <= 5.0:
            continue  # too flat or too thin to be a framed picture (a framed legend row)
        left = span[:, :3].any(axis=1).mean()
        right = span[:, -3:].any(axis=1).mean()
        if left >= 0.85 and right >= 0.85:
            return True
    return False


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
        gaps = sorted(gaps + [g for g in _framed_gutters(sub, axis)
                              if not any(g[0] < e and s < g[1] for s, e in gaps)])
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


def flatness(grey: np.ndarray) -> float:
    """Share of pixels in the four most frequent of 64 grey levels.

    Charts, diagrams and text are drawn in a few flat colours (>= 0.8); photographs, micrographs
    and scans spread over many levels (mostly < 0.6).
    """
    if grey.size == 0:
        return 1.0
    h = np.bincount((grey >> 2).ravel(), minlength=64)
    return float(np.sort(h)[-4:].sum()) / grey.size


def smoothness(grey: np.ndarray) -> float:
    """Share of pixels whose neighbours have (almost) the same value.

    Drawn graphics are flat fills between sharp edges (>= 0.65 even after JPEG compression);
    photographs and scans carry noise and texture everywhere (mostly < 0.6).
    """
    if grey.shape[0] < 2 or grey.shape[1] < 2:
        return 1.0
    g = grey.astype(np.int16)
    d = np.abs(g[:-1, 1:] - g[:-1, :-1]) + np.abs(g[1:, :-1] - g[:-1, :-1])
    return float((d <= 1).mean())


def graphic_like(grey: np.ndarray) -> bool:
    """Drawn in flat colours (a chart, a diagram, text), not a photograph."""
    return flatness(grey) >= 0.8 or smoothness(grey) >= 0.62


def _grey(rgb: np.ndarray) -> np.ndarray:
    if rgb.ndim == 2:
        return rgb.astype(np.uint8)
    return (rgb[:, :, 0].astype(np.uint16) * 77 + rgb[:, :, 1].astype(np.uint16) * 150
            + rgb[:, :, 2].astype(np.uint16) * 29 >> 8).astype(np.uint8)


def _drawn_line(gi: np.ndarray, x: int, peak: np.ndarray, max_width: int = 5) -> bool:
    """The step between columns x and x+1 is an edge of a thin drawn line (a quadrant gate or
    axis line inside one picture, up to ``max_width`` px wide), not a seam between two pictures.

    In the rows where the step peaks, a seam leaves the level changed (the other picture), while
    a line returns to it: the columns just past the line match the columns before it and both
    differ from the line.  A line when that holds in at least 60% of those rows, with the line
    on either side of the step.
    """
    h, w = gi.shape
    rows = np.flatnonzero(peak[:, max(0, x - 1):x + 2].any(axis=1))
    if rows.size < 8:
        return False
    g = gi[rows].astype(np.float32)

    def level(a: int, b: int) -> np.ndarray | None:
        a, b = max(0, a), min(w, b)
        return g[:, a:b].mean(axis=1) if b - a >= 2 else None

    for line, before, after in (((x + 1, x + 3), (x - 5, x - 1), (x + 2 + max_width, x + 6 + max_width)),
                                ((x - 1, x + 1), (x - 5 - max_width, x - 1 - max_width), (x + 2, x + 6))):
        c, l, r = level(*line), level(*before), level(*after)
        if c is None or l is None or r is None:
            continue
        past, side = (r, l) if line[0] > x else (l, r)  # past the line; the step's other side
        contrast = np.abs(c - side)
        back = (np.abs(past - side) < 0.5 * contrast) & (contrast >= 12)
        if back.mean() >= 0.6:
            return True
    return False


def _line_cuts(g: np.ndarray, min_part: float, seam_frac: float = 0.85,
               levels: bool = False) -> list[tuple[int, int]]:
    """Vertical separators inside one raster piece (``g``: grey, rows x columns): [start, end) column runs.

    Two kinds, both spanning the whole height of the piece: a band of uniform colour (a black or
    grey gutter between image tiles: every column of the run has nearly one value and differs
    from the content beside it), or a seam where two images touch (a step edge that is the
    strongest local edge in at least 85% of rows and stands out from the columns around it).
    Separators closer than ``min_part`` (a share of the width) to an edge or to each other are
    ignored: tiles are big.
    """
    h, w = g.shape
    if h < 24 or w < 24:
        return []
    gi = g.astype(np.int16)
    lo, hi = int(np.ceil(min_part * w)), int(w - min_part * w)
    cuts: list[tuple[int, int]] = []
    # uniform bands
    std = g.std(axis=0)
    uni = std <= 10.0
    mean = g.mean(axis=0)
    bands: list[tuple[int, int]] = []
    for s, e in _runs(uni):
        # ``levels``: a run of uniform columns that changes level (a white line between uniform
        # dark fields of micrographs on black) is several bands, one per level
        jumps = [x + 1 for x in range(s, e - 1) if abs(float(mean[x + 1]) - float(mean[x])) > 30] if levels else []
        edges = [s] + jumps + [e]
        bands.extend(zip(edges[:-1], edges[1:]))
    for s, e in bands:
        if s <= 0 or e >= w or e - s > 0.08 * w:
            continue
        m = float(mean[s:e].mean())
        left, right = g[:, max(0, s - 4)], g[:, min(w - 1, e + 3)]
        if (np.abs(left.astype(np.int16) - m) > 30).mean() < 0.3 or (np.abs(right.astype(np.int16) - m) > 30).mean() < 0.3:
            continue  # the band continues the background on one side: not a separator
        if (s + e) / 2 < lo or (s + e) / 2 > hi:
            continue
        cuts.append((s, e))
    # seams: a step between columns x and x+1 that peaks in most rows
    dx = np.abs(np.diff(gi, axis=1))
    pad = np.pad(dx, ((0, 0), (2, 2)))
    n = dx.shape[1]
    neigh = np.maximum.reduce([pad[:, k:k + n] for k in (0, 1, 3, 4)])
    # a step well above the piece's own texture (noise, grain): 2.5 times its typical step
    step = max(12.0, 2.5 * float(np.median(dx)))
    peak = ((dx >= neigh) & (dx >= step)).astype(np.uint8)
    pp = np.pad(peak, ((0, 0), (1, 1)))
    frac = np.maximum.reduce([pp[:, k:k + n] for k in range(3)]).mean(axis=0)
    for x in np.flatnonzero(frac >= seam_frac):
        x = int(x)
        if x + 1 < lo or x + 1 > hi:
            continue
        around = np.concatenate([frac[max(0, x - 20):max(0, x - 2)], frac[x + 3:x + 21]])
        if around.size and frac[x] < 2.0 * float(np.median(around)):
            continue  # texture: every column has edges
        if any(a - 3 <= x + 1 <= b + 3 for a, b in cuts):
            continue
        if _drawn_line(gi, x, peak):
            continue  # one edge of a thin line drawn inside a picture (a gate in a scatter plot)
        cuts.append((x + 1, x + 1))
    cuts.sort()
    out: list[tuple[int, int]] = []
    last = 0
    for s, e in cuts:
        if s - last >= min_part * w:
            out.append((s, e))
            last = e
    if out and w - out[-1][1] < min_part * w:
        out.pop()
    return out


def tiles_separated(grey: np.ndarray, a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> bool:
    """Two touching images (pixel boxes) show a separator where they meet: a uniform line (white,
    black) or a seam, so they are two pictures, not tiles of one."""
    side = a[2] <= b[0] + 3 or b[2] <= a[0] + 3  # side by side (else one above the other)
    u = (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))
    if side:
        edge = b[0] if a[0] < b[0] else a[0]
        y0, y1 = max(a[1], b[1]), min(a[3], b[3])
        g = grey[y0:y1, max(u[0], edge - 12):min(u[2], edge + 12)]
        off = edge - max(u[0], edge - 12)
    else:
        edge = b[1] if a[1] < b[1] else a[1]
        x0, x1 = max(a[0], b[0]), min(a[2], b[2])
        g = grey[max(u[1], edge - 12):min(u[3], edge + 12), x0:x1].T
        off = edge - max(u[1], edge - 12)
    if g.shape[0] < 24 or g.shape[1] < 8:
        return False
    return any(s - 4 <= off <= e + 4 for s, e in _line_cuts(g, 0.0))


def split_tiles(grey: np.ndarray, box: tuple[int, int, int, int], depth: int = 0, min_part: float = 0.2,
                seam_frac: float = 0.85, dark: bool = False) -> list[tuple[int, int, int, int]]:
    """Split a photographic piece along dark/uniform gutters and seams (no white gutter needed).

    Only pieces whose pixels look photographic (not :func:`graphic_like`) are split: charts and
    diagrams have straight uniform lines (axes, frames) that are not gutters.  A dark piece
    (median grey below 40: fluorescence micrographs on black, flat in grey like a chart) is split
    too (``dark``: inside such a piece), but only into like fields (:func:`_like_fields`: a grid of
    micrographs, not the lanes of a gel or plate).
    """
    x0, y0, x1, y1 = box
    g = grey[y0:y1, x0:x1]
    if depth > 3 or g.shape[0] < 48 or g.shape[1] < 48:
        return [box]
    if graphic_like(g):
        if not (dark or depth == 0) or float(np.median(g)) >= 40:
            return [box]
        if depth == 0 and not dark:
            out = split_tiles(grey, box, depth, min_part, seam_frac, dark=True)
            return out if _like_fields(grey, out) else [box]
    for axis in (1, 0):  # vertical separators first (side-by-side tiles are the common case)
        cuts = _line_cuts(g if axis == 1 else g.T, min_part, seam_frac, levels=dark)
        if not cuts:
            continue
        edges = [0]
        for s, e in cuts:
            edges.extend([s, e])
        edges.append(g.shape[1] if axis == 1 else g.shape[0])
        out: list[tuple[int, int, int, int]] = []
        for a, b in zip(edges[0::2], edges[1::2]):
            sub = (x0 + a, y0, x0 + b, y1) if axis == 1 else (x0, y0 + a, x1, y0 + b)
            out.extend(split_tiles(grey, sub, depth + 1, min_part, seam_frac, dark))
        return out
    return [box]


def _like_fields(grey: np.ndarray, tiles: list[tuple[int, int, int, int]]) -> bool:
    """Tiles of one regular grid of pictures: at least two, areas within a factor of 1.6, none
    longer than 2.5 times its width, and no separator line left inside any (fields of view, not
    the lanes of a plate or gel, whose chunks hold more lane lines)."""
    if len(tiles) < 2:
        return False
    areas = [max(1, (b[2] - b[0]) * (b[3] - b[1])) for b in tiles]
    long_side = [max(b[2] - b[0], b[3] - b[1]) / max(1, min(b[2] - b[0], b[3] - b[1])) for b in tiles]
    if max(areas) > 1.6 * min(areas) or max(long_side) > 2.5:
        return False
    for x0, y0, x1, y1 in tiles:
        g = grey[y0:y1, x0:x1]
        if _line_cuts(g, 0.05, levels=True) or _line_cuts(g.T, 0.05, levels=True):
            return False
    return True


def _thin(b: tuple, w: int, h: int, max_aspect: float = 5.0) -> bool:
    """A strip (axis labels, a legend row, a colour bar): too thin or too small to be a panel."""
    bw, bh = b[2] - b[0], b[3] - b[1]
    return min(bw, bh) < 0.08 * min(w, h) or max(bw, bh) > max_aspect * min(bw, bh) or bw * bh < 0.02 * w * h


def _dark_ink(grey: np.ndarray) -> np.ndarray:
    """Ink of a figure on a black background (anything brighter than near-black), without a
    bright margin or frame line along its edges (up to 10 px of rows/columns that are nearly all lit)."""
    ink = grey > 60
    for axis in (0, 1):
        n = ink.shape[axis]
        for idx in list(range(min(10, n))) + list(range(max(0, n - 10), n)):
            line = ink[idx, :] if axis == 0 else ink[:, idx]
            if line.mean() > 0.85:
                line[:] = False
    return ink


def panels_from_pixels(rgb: np.ndarray, min_gap_frac: float = 0.0025, min_gap_px: int | None = None,
                       tile_min_part: float = 0.2, seam_frac: float = 0.85, dark_background: bool = False
                       ) -> list[tuple[int, int, int, int]]:
    """Panels by XY-cut along white gutters, then dark gutters and seams inside photographic pieces.

    ``min_gap_px`` (when given) replaces the gutter width from ``min_gap_frac`` (at least 3 px);
    ``tile_min_part`` and ``seam_frac`` are the seam settings of :func:`split_tiles` (the finer
    settings are tried only when the caption names more panels: :func:`hinted_split`);
    ``dark_background``: gutters are near-black instead of white (micrographs on black).
    Small pieces (letters, labels) merge into the nearest panel; strips (axis labels, legends: see
    :func:`_thin`) join the panel they share the longest edge with.
    """
    h, w = rgb.shape[:2]
    if h < 20 or w < 20:
        return []
    grey = _grey(rgb)
    # a frame around everything stays: without letters it is one panel
    ink = _dark_ink(grey) if dark_background else ink_mask(rgb)
    min_gap = max(3, int(round(min_gap_frac * max(h, w)))) if min_gap_px is None else max(1, int(min_gap_px))
    boxes = xy_cut(ink, min_gap=min_gap, min_side=0)
    if not boxes:
        return []
    fa = float(w * h)
    big: list[list[int]] = []
    small: list[tuple[int, int, int, int]] = []
    for b in boxes:
        bw, bh = b[2] - b[0], b[3] - b[1]
        if bw * bh >= 0.03 * fa and bw >= 0.06 * w and bh >= 0.06 * h and min(bw, bh) >= 16:
            big.extend(list(t) for t in split_tiles(grey, b, min_part=tile_min_part, seam_frac=seam_frac))
        else:
            small.append(b)
    if len(big) < 2:
        return []
    # strips are not panels: they join the big piece they share the longest edge with
    changed = True
    while changed and len(big) >= 2:
        changed = False
        for i, b in enumerate(big):
            if not _thin(tuple(b), w, h):
                continue
            def shared(k: int) -> float:
                o = big[k]
                ox = min(b[2], o[2]) - max(b[0], o[0])
                oy = min(b[3], o[3]) - max(b[1], o[1])
                return max(ox, oy) - 0.5 * r_gap(tuple(map(float, b)), tuple(map(float, o)))
            j = max((k for k in range(len(big)) if k != i), key=shared)
            o = big[j]
            big[j] = [min(o[0], b[0]), min(o[1], b[1]), max(o[2], b[2]), max(o[3], b[3])]
            del big[i]
            changed = True
            break
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


def drop_frame(ink: np.ndarray) -> np.ndarray:
    """The ink mask without a frame drawn around the whole figure (a thin line on three or four
    sides with white inside it), which would hide every gutter from the XY-cut."""
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    if rows.size < 12 or cols.size < 12:
        return ink
    y0, y1, x0, x1 = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
    sub = ink[y0:y1, x0:x1]
    h, w = sub.shape
    k = 3  # frame line width, pixels
    bands = {
        "top": (sub[:k, :].any(axis=0).mean(), sub[k:2 * k + 3, k:w - k].mean()),
        "bottom": (sub[h - k:, :].any(axis=0).mean(), sub[h - 2 * k - 3:h - k, k:w - k].mean()),
        "left": (sub[:, :k].any(axis=1).mean(), sub[k:h - k, k:2 * k + 3].mean()),
        "right": (sub[:, w - k:].any(axis=1).mean(), sub[k:h - k, w - 2 * k - 3:w - k].mean()),
    }
    sides = [name for name, (cover, inside) in bands.items() if cover >= 0.85 and inside < 0.5]
    if len(sides) < 3:  # a frame (one side may be cut off by the figure box), not an axis line
        return ink
    out = ink.copy()
    if "top" in sides:
        out[y0:y0 + k, x0:x1] = False
    if "bottom" in sides:
        out[y1 - k:y1, x0:x1] = False
    if "left" in sides:
        out[y0:y1, x0:x0 + k] = False
    if "right" in sides:
        out[y0:y1, x1 - k:x1] = False
    return out


def fine_cells(rgb: np.ndarray) -> list[tuple[int, int, int, int]]:
    """All pieces of a fine XY-cut (2-pixel white gutters), for grouping under printed letters."""
    h, w = rgb.shape[:2]
    if h < 20 or w < 20:
        return []
    boxes = xy_cut(drop_frame(ink_mask(rgb)), min_gap=2, min_side=0, max_depth=8)
    # specks (the rounded corner of a frame, a dot) belong to no panel
    return [b for b in boxes if (b[2] - b[0]) * (b[3] - b[1]) >= max(4.0, 0.0005 * w * h)]


def unsupported_graphics_split(rgb: np.ndarray, boxes: list[tuple[int, int, int, int]]) -> bool:
    """Cells that look like parts of one chart or diagram rather than panels.

    Used when no printed letter supports more than one panel: every cell is drawn in flat colours
    (:func:`graphic_like`: charts, flowchart boxes, legends) and the cells differ in size or
    shape (a flowchart cut at an arrow, a chart and its legend); a regular arrangement of like
    cells (a row or grid of same-size charts) is kept.
    """
    if len(boxes) < 2:
        return False
    grey = _grey(rgb)
    for b in boxes:
        if not graphic_like(grey[b[1]:b[3], b[0]:b[2]]):
            return False  # a photograph is a panel of its own
    areas = [max(1, (b[2] - b[0]) * (b[3] - b[1])) for b in boxes]
    aspects = [(b[2] - b[0]) / max(1, b[3] - b[1]) for b in boxes]
    alike = max(areas) <= 1.6 * min(areas) and max(aspects) <= 1.6 * min(aspects)
    return not alike


# ---------------------------------------------------------------- letters

@dataclass
class LetterHit:
    letter: str  # upper-case
    bbox: tuple[int, int, int, int]  # pixels
    source: str
    raw: str = ""  # the text as printed ("(b)", "c.")
    conf: float = 100.0  # OCR confidence (0-100); PDF text is certain


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
    # several hits of the same letter ("A" of a panel and "A" of an axis label): prefer the hit
    # that looks like the unambiguous letters (same case, similar size), then the top-left-most
    single = [v[0] for c, v in by.items() if len(v) == 1 and c in letters]
    heights = sorted(h.bbox[3] - h.bbox[1] for h in single)
    med_h = heights[len(heights) // 2] if heights else None
    lower = sum(1 for h in single if h.raw and any(ch.islower() for ch in h.raw))
    upper = sum(1 for h in single if h.raw and any(ch.isupper() for ch in h.raw))
    want_lower = lower > upper if (lower or upper) else None

    def rank(h: LetterHit) -> tuple:
        case_miss = 0
        if want_lower is not None and h.raw:
            case_miss = int(any(ch.islower() for ch in h.raw) != want_lower)
        size_miss = abs((h.bbox[3] - h.bbox[1]) - med_h) / max(1, med_h) if med_h else 0.0
        return (case_miss, round(size_miss, 1), h.bbox[1] + h.bbox[0])

    return [min(by[c], key=rank) for c in letters]


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


def _hungarian(cost: list[list[float]]) -> list[tuple[int, int]]:
    """Minimum-cost one-to-one assignment (rows to columns, rectangular allowed): sorted (row, col) pairs
    (scipy's linear_sum_assignment; benchmarks/hungarian_scipy.py compares it with the hand-written one
    it replaced)."""
    if not cost or not cost[0]:
        return []
    from scipy.optimize import linear_sum_assignment

    rows, cols = linear_sum_assignment(np.asarray(cost, dtype=float))
    return sorted((int(r), int(c)) for r, c in zip(rows, cols))


# Where a panel's letter sits relative to the panel: at one of its corners (inside the panel or
# just outside it), or centred under / above it.  One figure uses one convention throughout.
ANCHORS = ("tl", "tr", "bl", "br", "below", "above")


def _center(b: tuple) -> tuple[float, float]:
    return (b[0] + b[2]) / 2, (b[1] + b[3]) / 2


def _inside(pt: tuple[float, float], b: tuple, tol: float = 2.0) -> bool:
    return b[0] - tol <= pt[0] <= b[2] + tol and b[1] - tol <= pt[1] <= b[3] + tol


def _contains(outer: tuple, box: tuple, margin: float = 1.0) -> bool:
    return (outer[0] + margin <= box[0] and outer[1] + margin <= box[1] and box[2] <= outer[2] - margin
            and box[3] <= outer[3] - margin)


def anchor_distance(letter: tuple, panel: tuple, anchor: str) -> float:
    """Distance in pixels from a letter box to where `anchor` puts a panel's letter."""
    cx, cy = _center(letter)
    x0, y0, x1, y1 = panel
    if anchor in ("below", "above"):
        y = y1 if anchor == "below" else y0
        dx = max(0.0, x0 - cx, cx - x1)
        dy = abs(cy - y)
        # centred: off-centre letters cost a little, so two letters under one wide panel resolve
        return (dx * dx + dy * dy) ** 0.5 + 0.15 * abs(cx - (x0 + x1) / 2)
    ax = x0 if anchor[1] == "l" else x1
    ay = y0 if anchor[0] == "t" else y1
    return ((cx - ax) ** 2 + (cy - ay) ** 2) ** 0.5


def _letter_cost(letter: tuple, panels: list[tuple], pi: int, anchor: str, scale: float) -> float:
    cost = anchor_distance(letter, panels[pi], anchor)
    c = _center(letter)
    if not _inside(c, panels[pi]) and any(_contains(q, letter) for k, q in enumerate(panels) if k != pi):
        cost += 4 * scale  # a letter printed (wholly) on another panel is that panel's letter
    return cost


def _inversions(labels: list[str | None]) -> int:
    vals = [x for x in labels if x]
    return sum(1 for i in range(len(vals)) for j in range(i + 1, len(vals)) if vals[i] > vals[j])


def match_letters(boxes: list[tuple], hits: list[LetterHit]) -> tuple[dict[int, int], str | None]:
    """One-to-one letter -> panel assignment under the best-fitting anchor convention.

    ``boxes`` are in reading order.  For every anchor (corners, centred below, centred above) the
    Hungarian method gives the assignment of least total distance; the anchor whose assignment
    keeps the letters in alphabetical order along the reading order wins, then the least cost.
    Returns ({panel index: hit index}, anchor).
    """
    if not boxes or not hits:
        return {}, None
    scale = float(np.median([min(b[2] - b[0], b[3] - b[1]) for b in boxes])) or 1.0
    best = None
    for anchor in ANCHORS:
        cost = [[_letter_cost(h.bbox, boxes, pi, anchor, scale) for pi in range(len(boxes))] for h in hits]
        pairs = _hungarian(cost)
        total = sum(cost[hi][pi] for hi, pi in pairs)
        labels: list[str | None] = [None] * len(boxes)
        for hi, pi in pairs:
            labels[pi] = hits[hi].letter
        key = (_inversions(labels), total)
        if best is None or key < best[0]:
            best = (key, {pi: hi for hi, pi in pairs}, anchor)
    assert best is not None
    return best[1], best[2]


def attach_letters(panels: list[PanelBox], hits: list[LetterHit]) -> str | None:
    """Give panels (in reading order) their letters; returns the anchor convention used."""
    if not panels or not hits:
        return None
    assign, anchor = match_letters([p.bbox for p in panels], hits)
    for pi, hi in assign.items():
        panels[pi].label = hits[hi].letter
        panels[pi].label_source = hits[hi].source
    return anchor


def letters_by_place(boxes: list[tuple], hits: list[LetterHit]) -> list[PanelBox] | None:
    """Panels (``boxes`` in reading order) lettered by letters found anywhere in the figure, one
    letter per panel: every panel gets one (:func:`match_letters`), each letter lies by its panel
    at the chosen convention (within half the panel's longer side of that place) and the letters
    run along the rows or down the columns.  None when that does not hold."""
    if len(hits) != len(boxes) or len(boxes) < 2:
        return None
    assign, anchor = match_letters(list(boxes), hits)
    if len(assign) != len(boxes) or anchor is None:
        return None
    out = [PanelBox(bbox=tuple(int(v) for v in b)) for b in boxes]
    for pi, hi in assign.items():
        b = boxes[pi]
        if anchor_distance(hits[hi].bbox, b, anchor) > 0.5 * max(b[2] - b[0], b[3] - b[1]):
            return None
        out[pi].label, out[pi].label_source = hits[hi].letter, hits[hi].source
    labels = [p.label for p in out]
    lh = float(np.median([h.bbox[3] - h.bbox[1] for h in hits]))
    if _inversions(labels) and _inversions([labels[i] for i in column_order(list(boxes), lh)]):
        return None
    return out


def _owner_cost(letter: tuple, cell: tuple, anchor: str) -> float | None:
    """How well `letter` fits as the letter of a group that contains `cell` (None: it cannot)."""
    cx, cy = _center(letter)
    mx, my = _center(cell)
    x0, y0, x1, y1 = cell
    if anchor == "below":  # letter centred under its group: somewhere below the cell
        if cy < my:
            return None
        dx = max(0.0, x0 - cx, cx - x1)
        return max(0.0, cy - y1) + 2 * dx
    if anchor == "above":
        if cy > my:
            return None
        dx = max(0.0, x0 - cx, cx - x1)
        return max(0.0, y0 - cy) + 2 * dx
    # tl: the letter is above-left of (or on the top-left of) every cell of its group; the
    # nearest such letter in rows first (a row of cells under one letter), then in columns
    if cx > mx or cy > my:
        return None
    return 2 * abs(cy - y0) + abs(cx - x0)


def group_cells(cells: list[tuple], hits: list[LetterHit]) -> list[tuple] | None:
    """Group more cells (placed images, gutter pieces) than letters into one panel per letter.

    Under each convention (letter top-left of its group, centred below it, centred above it) a
    cell joins the letter that fits it best; a grouping is valid when every letter gets cells,
    every cell a letter, the groups' boxes do not overlap and their letters run in reading order.  Returns the union box of each
    group, or None when no convention gives a valid grouping.
    """
    if len(hits) < 2 or len(cells) <= len(hits):
        return None
    best = None
    for anchor in ("tl", "below", "above"):
        groups: dict[int, list[int]] = {}
        total = 0.0
        ok = True
        for ci, c in enumerate(cells):
            opts = [(cost, hi) for hi, h in enumerate(hits) if (cost := _owner_cost(h.bbox, c, anchor)) is not None]
            if not opts:
                ok = False
                break
            cost, hi = min(opts)
            groups.setdefault(hi, []).append(ci)
            total += cost
        if not ok or len(groups) != len(hits):
            continue
        unions = {hi: (min(cells[i][0] for i in g), min(cells[i][1] for i in g),
                       max(cells[i][2] for i in g), max(cells[i][3] for i in g)) for hi, g in groups.items()}
        clash = False
        for hi, u in unions.items():
            for hj, g in groups.items():
                if hj == hi:
                    continue
                for ci in g:
                    inter = r_inter(tuple(map(float, u)), tuple(map(float, cells[ci])))
                    if inter and r_area(inter) > 0.1 * r_area(tuple(map(float, cells[ci]))):
                        clash = True
        if clash:
            continue
        keys = sorted(unions)
        order = reading_order([unions[k] for k in keys])
        if _inversions([hits[keys[i]].letter for i in order]):
            continue  # the groups' letters must run A, B, C ... in reading order
        if best is None or total < best[0]:
            best = (total, [unions[hi] for hi in sorted(unions)])
    return best[1] if best else None


def merge_tiles(rects: list[Rect4], tol: float = 1.5,
                separated: "Callable[[Rect4, Rect4], bool] | None" = None) -> list[Rect4]:
    """Merge images that are tiles of one picture: touching and together filling their union box,
    unless ``separated(a, b)`` sees a line or seam between them (two panels that touch)."""
    rects = list(rects)
    changed = True
    while changed:
        changed = False
        for i in range(len(rects)):
            for j in range(i + 1, len(rects)):
                a, b = rects[i], rects[j]
                if r_gap(a, b) > tol:
                    continue
                u = r_union(a, b)
                inter = r_inter(a, b)
                filled = r_area(a) + r_area(b) - (r_area(inter) if inter else 0.0)
                if filled >= 0.97 * r_area(u) and not (separated is not None and separated(a, b)):
                    rects[i] = u
                    del rects[j]
                    changed = True
                    break
            if changed:
                break
    return rects


def letter_order(panels: list[PanelBox]) -> list[PanelBox]:
    """The panels in the order of their letters when every panel has one (each letter once); else
    as given (reading order).  The stored panel list is the order users read the panels in, so a
    figure lettered down its columns (A, B in the first column, C, D, E in the second) is stored
    A, B, C, D, E rather than row by row (A, C, B, D ...)."""
    labels = [p.label for p in panels]
    if len(panels) < 2 or any(not x for x in labels) or len(set(labels)) != len(labels):
        return panels
    return sorted(panels, key=lambda p: str(p.label))


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


# ---------------------------------------------------------------- caption hint

def _text_only(ink: np.ndarray, b: tuple, fig_h: int) -> bool:
    """A cell of text lines only (a legend, a block of labels): sparse ink in short row bands."""
    x0, y0, x1, y1 = b
    sub = ink[y0:y1, x0:x1]
    if sub.size == 0:
        return True
    if sub.mean() >= 0.25:
        return False  # dense: a picture
    bands = _runs(sub.any(axis=1))
    line_h = max(12, int(0.04 * fig_h))
    return all(e - s <= line_h for s, e in bands)


def plausible_cells(rgb: np.ndarray, boxes: list[tuple[int, int, int, int]], max_aspect: float = 5.0) -> bool:
    """Cells of a finer split that can be panels: none a strip or speck (:func:`_thin`; longer
    than ``max_aspect`` times their width), none nearly empty, none text only."""
    h, w = rgb.shape[:2]
    ink = ink_mask(rgb)
    for b in boxes:
        if _thin(tuple(b), w, h, max_aspect):
            return False
        x0, y0, x1, y1 = b
        sub = ink[y0:y1, x0:x1]
        if sub.size == 0 or sub.mean() < 0.02:
            return False
        if _text_only(ink, b, h):
            return False
    return True


# finer settings tried in order when the caption names more panels than were found
HINT_STEPS: list[tuple[str, dict]] = [
    ("gutter2", {"min_gap_px": 2}),
    ("gutter1", {"min_gap_px": 1}),
    ("seams", {"min_gap_px": 1, "tile_min_part": 0.1, "seam_frac": 0.7}),
]


def _n_lettered(boxes: list[tuple], hits: list[LetterHit]) -> int:
    """How many of the boxes get a printed letter (letters attached as parse does)."""
    if not hits or len(boxes) < 2:
        return 0
    pb = [PanelBox(bbox=tuple(int(v) for v in boxes[i])) for i in reading_order(boxes)]
    attach_letters(pb, hits)
    return sum(1 for p in pb if p.label)


def hinted_split(rgb: np.ndarray, expected: int, found: int, hits: list[LetterHit] | None = None,
                 current: list[tuple] | None = None, expected_letters: list[str] | None = None
                 ) -> tuple[list[tuple[int, int, int, int]], str] | None:
    """A finer split of a figure whose caption names ``expected`` lettered panels while only
    ``found`` (< expected) were detected.

    Progressively finer settings (thinner white gutters, weaker seams, then the printed letters
    as anchors over a fine cut) are tried; a split is accepted when its cells are plausible
    (:func:`plausible_cells`) and it reaches exactly ``expected`` panels.  A split that only gets
    closer is not taken: one of its cells would hold several named panels, and a wrong panel pair is
    worse training data than the whole figure with its whole caption.  Never more panels than the caption names, and never
    fewer panels carrying a printed letter (``hits``) than the ``current`` boxes had.  Returns
    (boxes, the step that gave them) or None.
    """
    if expected < 2 or found >= expected:
        return None
    had = _n_lettered(list(current or []), hits or [])
    candidates: list[tuple[str, Callable[[], list]]] = [
        (name, (lambda kw=kw: panels_from_pixels(rgb, **kw))) for name, kw in HINT_STEPS]
    if hits and len(hits) >= 2:
        candidates.append(("anchors", lambda: group_cells(fine_cells(rgb), hits) or []))
        if len(hits) == expected:  # every named letter found: panels from the letters' corners
            candidates.append(("letter grid", lambda: anchor_grid(rgb, hits) or []))
        elif len(hits) == expected - 1 and expected_letters:
            # all but one named letter found: the missing one's cell may be implied by the grid
            miss = missing_between(hits, expected_letters)
            if miss:
                candidates.append((f"letter grid, {miss} inferred",
                                   lambda: inferred_grid(rgb, hits, miss) or []))
    if float(np.median(_grey(rgb))) < 40:  # a dark figure: black gutters between panels
        candidates.append(("dark", lambda: panels_from_pixels(rgb, dark_background=True)))
    for name, make in candidates:
        boxes = [tuple(int(v) for v in b) for b in make()]
        n = len(boxes)
        # a letter grid's cells each have their own letter at a corner: a wide table or gel
        # strip under its letter is a panel, so such cells may be longer than a strip's limit
        aspect = 8.0 if name.startswith("letter grid") else 5.0
        if n <= max(found, 1) or n > expected or not plausible_cells(rgb, boxes, aspect):
            continue
        if hits and _n_lettered(boxes, hits) < had:
            continue  # the finer cut loses printed letters: its cells are not the panels
        if n == expected:
            return boxes, name
    return None


def anchor_grid(rgb: np.ndarray, hits: list[LetterHit]) -> list[tuple[int, int, int, int]] | None:
    """Panels from their letters alone, when no gutter separates them (touching charts, a frame).

    Each letter marks the top-left corner of its panel (the common convention): a panel reaches
    right to the next letter of its row band (or the image edge) and down to the next letter
    below it whose panel overlaps it across (or the image edge); each box is then trimmed to its
    ink.  Valid when the boxes do not overlap, each holds ink, and the letters run in reading
    order.  Returns the boxes in the order of ``hits``, or None.
    """
    if len(hits) < 2:
        return None
    h, w = rgb.shape[:2]
    ink = drop_frame(ink_mask(rgb))
    lh = float(np.median([hb.bbox[3] - hb.bbox[1] for hb in hits]))
    boxes = []
    for a in hits:
        ax0, ay0 = a.bbox[0], a.bbox[1]
        right = w
        for b in hits:
            if b is a:
                continue
            same_band = abs(b.bbox[1] - ay0) <= 1.5 * lh or (b.bbox[1] <= ay0 + lh and b.bbox[3] >= ay0)
            if b.bbox[0] > ax0 + lh and (same_band or b.bbox[1] < ay0):
                # a letter to the right in this row, or a panel above-right reaching down into it
                if same_band:
                    right = min(right, b.bbox[0] - 1)
        # the panel's column ends where the next column of letters begins (at any height): a
        # letter below the panel but in that next column starts another column's panel
        col_end = min([b.bbox[0] for b in hits if b.bbox[0] > ax0 + lh] + [right])
        bottom = h
        for b in hits:
            if b is a or b.bbox[1] <= ay0 + 1.5 * lh:
                continue
            if ax0 - lh <= b.bbox[0] < col_end - lh:
                bottom = min(bottom, b.bbox[1] - 1)
        boxes.append([int(ax0), int(ay0), int(right), int(bottom)])
    # a panel starting left of another's column ends where that column's letters begin
    for i, a in enumerate(boxes):
        for j, b in enumerate(boxes):
            if i == j:
                continue
            inter = r_inter(tuple(map(float, a)), tuple(map(float, b)))
            if inter is None:
                continue
            if b[0] > a[0]:
                a[2] = min(a[2], b[0] - 1)
            elif b[1] > a[1]:
                a[3] = min(a[3], b[1] - 1)
    out = []
    for b in boxes:
        x0, y0, x1, y1 = b
        if x1 - x0 < 2 * lh or y1 - y0 < 2 * lh:
            return None
        sub = ink[y0:y1, x0:x1]
        if sub.mean() < 0.01:
            return None
        rows, cols = np.flatnonzero(sub.any(axis=1)), np.flatnonzero(sub.any(axis=0))
        out.append((x0 + int(cols[0]), y0 + int(rows[0]), x0 + int(cols[-1]) + 1, y0 + int(rows[-1]) + 1))
    for i in range(len(out)):
        for j in range(i + 1, len(out)):
            inter = r_inter(tuple(map(float, out[i])), tuple(map(float, out[j])))
            if inter and r_area(inter) > 0.02 * min(r_area(tuple(map(float, out[i]))), r_area(tuple(map(float, out[j])))):
                return None
    order = reading_order(out)
    if _inversions([hits[i].letter for i in order]) and _inversions([hits[i].letter for i in column_order(out, lh)]):
        return None  # the letters run neither along the rows nor down the columns
    return out


def missing_between(hits: list[LetterHit], expected: list[str]) -> str | None:
    """The one letter of ``expected`` (a run A, B, C ...) that no hit has, when both its neighbours
    in the run were found (None otherwise)."""
    exp = sorted({x.upper() for x in expected})
    if len(exp) < 3 or exp != [chr(ord(exp[0]) + k) for k in range(len(exp))]:
        return None
    have = {h.letter for h in hits}
    miss = [x for x in exp if x not in have]
    if len(miss) != 1 or len(have) != len(exp) - 1 or not have <= set(exp):
        return None
    m = miss[0]
    prev, nxt = chr(ord(m) - 1), chr(ord(m) + 1)
    return m if prev in have and nxt in have else None


def inferred_grid(rgb: np.ndarray, hits: list[LetterHit], missing: str) -> list[tuple[int, int, int, int]] | None:
    """The letter grid (:func:`anchor_grid`) of a figure whose letter ``missing`` was not found
    (an OCR miss) while the letters before and after it were: the cell between its neighbours is
    implied by the grid.  Without its letter, the missing panel lies inside the box of another
    letter (the box reaches to the next letter).  Each box is cut once along a white gutter; a box
    holding, besides its letter's own picture, one more picture without a letter (right of it or
    below it) offers that picture as the missing panel (pieces before it stay with the box's
    letter; pieces after it must be text only, a legend, and are left out).  Exactly one offer
    must put the letters, the missing one at its picture, in order along the rows or down the
    columns.  Returns the boxes (``len(hits) + 1``, in letter order) or None; parse letters the inferred cell from
    its neighbours (``label_source="order"``) unless OCR reads it there."""
    grid = anchor_grid(rgb, hits)
    if grid is None:
        return None
    h, w = rgb.shape[:2]
    full = ink_mask(rgb)
    ink = drop_frame(full)
    lh = float(np.median([hb.bbox[3] - hb.bbox[1] for hb in hits]))
    min_gap = max(3, int(round(0.01 * max(h, w))))
    letters = [hb.letter for hb in hits] + [missing]
    offers = []
    for bi, (x0, y0, x1, y1) in enumerate(grid):
        pieces = xy_cut(ink[y0:y1, x0:x1], min_gap=min_gap, min_side=0, max_depth=1, x0=x0, y0=y0)
        big = [b for b in pieces if min(b[2] - b[0], b[3] - b[1]) >= 3 * lh]  # pictures, not the letter
        if len(big) < 2:
            continue
        big = [big[i] for i in reading_order(big)]
        lx, ly = _center(hits[bi].bbox)
        own = min(range(len(big)), key=lambda i: r_gap(tuple(map(float, big[i])), (lx, ly, lx, ly)))
        extra = [k for k, b in enumerate(big) if k != own and not _text_only(full, b, h)]
        if len(extra) != 1 or extra[0] < own:
            continue
        cell = big[extra[0]]
        side = any(b[2] <= cell[0] + 1 for b in big[:extra[0]])  # the cut runs down (side by side)
        before = [b for b in pieces if (b[2] <= cell[0] + 1 if side else b[3] <= cell[1] + 1)]
        if not before:
            continue
        mine = (min(b[0] for b in before), min(b[1] for b in before), max(b[2] for b in before),
                max(b[3] for b in before))
        out = [tuple(int(v) for v in b) for b in grid]
        out[bi] = tuple(int(v) for v in mine)
        out.append(tuple(int(v) for v in cell))
        if (not _inversions([letters[i] for i in reading_order(out)])
                or not _inversions([letters[i] for i in column_order(out, lh)])):
            offers.append(out)
    if len(offers) != 1:
        return None
    return [b for _, b in sorted(zip(letters, offers[0]))]  # in letter order


def column_order(boxes: list[tuple], tol: float) -> list[int]:
    """Indices of ``boxes`` down the columns: columns (boxes whose left edges lie within ``tol``
    of the column's first box) left to right, each top to bottom -- the order of figures lettered
    A, B down the first column, then C, D, E down the next."""
    cols: list[list[int]] = []
    for i in sorted(range(len(boxes)), key=lambda k: (boxes[k][0], boxes[k][1])):
        for c in cols:
            if abs(boxes[i][0] - boxes[c[0]][0]) <= tol:
                c.append(i)
                break
        else:
            cols.append([i])
    return [i for c in cols for i in sorted(c, key=lambda k: boxes[k][1])]
