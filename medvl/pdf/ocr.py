"""OCR of panel letters that exist only as pixels (tesseract via pytesseract).

Whole-figure OCR misses most panel letters (tesseract's page segmentation drops isolated bold
glyphs, and letters printed on the image itself drown in its texture), so
:func:`read_panel_letters` looks only where panel letters are printed and cleans them first:

1. **Corner windows.**  Each panel's four corners (top-left first) get a small window reaching a
   little outside the panel (letters printed in the gutter next to it).
2. **Binarise both polarities.**  Dark letters (black on a white label box or white background)
   and light letters (white on a dark micrograph) are both tried: Otsu's threshold of the window,
   then connected components.  A letter is a compact blob (or "(a)": blobs side by side) of
   plausible size, isolated from the rest of the window's ink by a clear ring.
3. **One tesseract call per figure.**  The candidates, redrawn as clean black-on-white glyphs and
   upscaled to a fixed height, are stacked into one montage image with known cell positions; one
   ``image_to_data`` call (``--psm 6``, letters and brackets only) reads them all, and every word
   maps back to its cell by position.
4. **Consistency across the figure.**  The letters of one figure run A, B, C ... in reading order
   at one corner convention: the corner whose reads best fit that sequence wins, reads that fit
   it are accepted (weak ones included), misfits are dropped, and a single missing letter in an
   otherwise complete run is filled from the order (``label_source="order"``).

LayoutParser's ``lp.TesseractAgent`` wraps the same pytesseract call but runs tesseract twice per
image; we call pytesseract directly.  Library code: prints nothing.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from medvl.pdf.panels import LetterHit, letter_of

CORNERS = ("tl", "tr", "bl", "br", "tc", "bc")  # four corners, centred above and below
_WHITELIST = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ()"
CELL_H = 48  # glyph height in the montage, pixels
# one tesseract call per figure; generous, because on a loaded machine a 40-glyph montage took over
# 10 s and a timed-out call reads no letter at all (the per-paper time limit still bounds a paper)
OCR_TIMEOUT_S = 30.0
CELL_PAD = 24


@lru_cache(maxsize=1)
def tesseract_version() -> str | None:
    """The tesseract version string, or None when the binary is missing."""
    if shutil.which("tesseract") is None:
        return None
    try:
        import pytesseract

        return str(pytesseract.get_tesseract_version())
    except Exception:  # noqa: BLE001 - any failure means "no usable tesseract"
        return None


# ---------------------------------------------------------------- candidates

@dataclass
class Candidate:
    panel: int
    corner: str
    bbox: tuple[int, int, int, int]  # pixels in the figure image
    glyph: np.ndarray  # bool mask of the letter's ink inside bbox
    score: float  # higher = more letter-like and nearer the corner


def _otsu(values: np.ndarray) -> float:
    hist = np.bincount(values.ravel(), minlength=256).astype(np.float64)
    total = hist.sum()
    if total == 0:
        return 128.0
    omega = np.cumsum(hist) / total
    mu = np.cumsum(hist * np.arange(256)) / total
    mu_t = mu[-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        sigma_b = (mu_t * omega - mu) ** 2 / (omega * (1 - omega))
    sigma_b = np.nan_to_num(sigma_b)
    return float(np.argmax(sigma_b))


def _window(panel: tuple[int, int, int, int], corner: str, W: int, H: int) -> tuple[int, int, int, int]:
    x0, y0, x1, y1 = panel
    pw, ph = x1 - x0, y1 - y0
    side = min(pw, ph)
    ww = int(min(max(0.32 * pw, 28), max(0.5 * pw, 28), 220))
    wh = int(min(max(0.32 * ph, 28), max(0.5 * ph, 28), 220))
    # letters just outside the panel: in the gutter beside it, or above-left of a chart whose
    # box starts at its frame (a quarter of the panel's side, at most 64 pixels)
    out = int(max(4, min(0.25 * side, 64)))
    if corner[1] == "c":  # centred above or below: a band over the middle of the panel's edge
        cx = (x0 + x1) // 2
        wx0, wx1 = cx - ww // 2, cx + ww // 2
        wy0 = y0 - out if corner[0] == "t" else y1 - wh // 3
        wy1 = y0 + wh // 3 if corner[0] == "t" else y1 + out
        return max(0, wx0), max(0, wy0), min(W, wx1), min(H, wy1)
    wx0 = x0 - out if corner[1] == "l" else x1 - ww
    wy0 = y0 - out if corner[0] == "t" else y1 - wh
    wx1 = x0 + ww if corner[1] == "l" else x1 + out
    wy1 = y0 + wh if corner[0] == "t" else y1 + out
    return max(0, wx0), max(0, wy0), min(W, wx1), min(H, wy1)


def _components(mask: np.ndarray) -> tuple[list[tuple[tuple[int, int, int, int], int, int]], np.ndarray]:
    """8-connected components: ([(bbox x0,y0,x1,y1; label id; pixel count)], label image)."""
    from scipy import ndimage

    lab, n = ndimage.label(mask, structure=np.ones((3, 3), dtype=bool))
    if n == 0:
        return [], lab
    counts = np.bincount(lab.ravel(), minlength=n + 1)
    out = []
    for i, sl in enumerate(ndimage.find_objects(lab), start=1):
        if sl is None:
            continue
        out.append(((sl[1].start, sl[0].start, sl[1].stop, sl[0].stop), i, int(counts[i])))
    return out, lab


def _is_line(box: tuple[int, int, int, int], h: int, count: int) -> bool:
    """A long thin or sparse component next to a letter (a frame, an axis with its ticks, a rule,
    a curve): not clutter around the letter."""
    bw, bh = box[2] - box[0], box[3] - box[1]
    if (bw >= 2.5 * h and bh <= max(3, 0.3 * h)) or (bh >= 2.5 * h and bw <= max(3, 0.3 * h)):
        return True
    return max(bw, bh) >= 2.5 * h and count <= 0.15 * bw * bh


def _window_candidates(grey: np.ndarray, win: tuple[int, int, int, int], panel: tuple[int, int, int, int],
                       corner: str, pi: int, keep: int = 2, second: bool = False) -> list[Candidate]:
    """Letter-like glyphs in one window.  ``second``: the second look, for letters the first one
    missed: thresholds between three grey levels too (:func:`_thresholds`), and a glyph's
    broken-off stroke ends joined to it."""
    wx0, wy0, wx1, wy1 = win
    side = min(panel[2] - panel[0], panel[3] - panel[1])
    min_h = max(6, int(0.025 * side))
    max_h = max(min_h + 4, int(0.3 * side))
    # components are found in a padded window so that a letter on the window's edge is whole;
    # those touching the padded border are cut off and ignored
    H, W = grey.shape
    pad = max_h // 2 + 2
    px0, py0, px1, py1 = max(0, wx0 - pad), max(0, wy0 - pad), min(W, wx1 + pad), min(H, wy1 + pad)
    g = grey[py0:py1, px0:px1]
    if wy1 - wy0 < 8 or wx1 - wx0 < 8:
        return []
    inner = (wx0 - px0, wy0 - py0, wx1 - px0, wy1 - py0)  # the window in padded coordinates
    gw = g[inner[1]:inner[3], inner[0]:inner[2]]
    t = _otsu(gw)
    lo, hi = float(gw.min()), float(gw.max())
    if hi - lo < 60:
        return []  # no contrast: no printed letter here
    cands: list[Candidate] = []
    # corner point of the panel (or the middle of its top / bottom edge), in padded-window coordinates
    ax = {"l": panel[0], "r": panel[2], "c": (panel[0] + panel[2]) / 2}[corner[1]] - px0
    ay = (panel[1] if corner[0] == "t" else panel[3]) - py0
    diag = ((wy1 - wy0) ** 2 + (wx1 - wx0) ** 2) ** 0.5
    ph, pw = g.shape
    levels = _thresholds(gw, t) if second else [(True, min(t, 200)), (False, max(t, 90))]
    for dark, thr in levels:
        mask = g < thr if dark else g > thr
        comps, lab = _components(mask)
        if not comps:
            continue
        lines = {c[1] for c in comps if _is_line(c[0], min_h * 2, c[2])}
        small = [c for c in comps if 2 <= c[0][3] - c[0][1] <= max_h and c[0][2] - c[0][0] <= 1.6 * max_h
                 and c[1] not in lines]
        # words: side-by-side blobs of similar height ("(a)", "Ab"); a word space ends the word,
        # so "(A) Phase 1" and "a Control" give the letter alone
        small.sort(key=lambda c: c[0][0])
        used: set[int] = set()
        for c in small:
            (bx0, by0, bx1, by1), cid, cnt = c
            h = by1 - by0
            if cid in used or h < min_h:
                continue
            members = [c]
            wb = [bx0, by0, bx1, by1]
            for d in small:
                if d[1] == c[1] or d[1] in used:
                    continue
                (dx0, dy0, dx1, dy1), _, _ = d
                dh = dy1 - dy0
                gap = dx0 - wb[2]
                vov = min(wb[3], dy1) - max(wb[1], dy0)
                # second look: a piece of the same glyph, a stroke end that a thin (italic,
                # serif) stroke cuts off at this threshold, within the glyph's height and overlapping it
                piece = second and (dx0 < wb[2] and dx1 > wb[0] and dy0 >= wb[1] - 2 and dy1 <= wb[3] + 2
                                    and dh < h and dx1 - wb[2] <= 0.5 * h)
                if piece or (-1 <= gap <= 0.22 * h and vov > 0.5 * min(h, dh) and 0.3 * h <= dh <= 1.5 * h):
                    members.append(d)
                    wb = [min(wb[0], dx0), min(wb[1], dy0), max(wb[2], dx1), max(wb[3], dy1)]
            ww, wh = wb[2] - wb[0], wb[3] - wb[1]
            if not (min_h <= wh <= max_h and ww <= 3.2 * wh and len(members) <= 3):
                continue
            # the word must lie in the window proper and be whole (not cut by the padded border)
            if wb[2] <= inner[0] or wb[0] >= inner[2] or wb[3] <= inner[1] or wb[1] >= inner[3]:
                continue
            if (wb[0] == 0 and px0 > 0) or (wb[1] == 0 and py0 > 0) or (wb[2] == pw and px1 < W) or (
                    wb[3] == ph and py1 < H):
                continue
            ids = [m[1] for m in members]
            sub = lab[wb[1]:wb[3], wb[0]:wb[2]]
            glyph = np.isin(sub, ids)
            fill = glyph.sum() / float(max(1, ww * wh))
            bar = ww <= 0.4 * wh  # "I", "l": a narrow solid bar
            if not (0.1 <= fill <= 0.8 or (bar and fill <= 1.0)):
                continue
            # isolation: a clear ring around the word (other ink of this polarity is scarce
            # there); frame edges, axes and rules next to a letter do not count
            r = max(2, int(0.12 * wh))
            rx0, ry0 = max(0, wb[0] - r), max(0, wb[1] - r)
            rx1, ry1 = min(mask.shape[1], wb[2] + r), min(mask.shape[0], wb[3] + r)
            ring_lab = lab[ry0:ry1, rx0:rx1]
            ring = mask[ry0:ry1, rx0:rx1].copy()
            if lines:
                ring &= ~np.isin(ring_lab, list(lines))
            ring[wb[1] - ry0:wb[3] - ry0, wb[0] - rx0:wb[2] - rx0] &= ~glyph
            ring_area = max(1, (ry1 - ry0) * (rx1 - rx0) - ww * wh)
            clutter = ring.sum() / float(ring_area)
            if clutter > 0.12:
                continue
            used.update(ids)
            cx, cy = (wb[0] + wb[2]) / 2, (wb[1] + wb[3]) / 2
            near = ((cx - ax) ** 2 + (cy - ay) ** 2) ** 0.5 / max(1.0, diag)
            score = 1.0 - clutter * 4 - near
            cands.append(Candidate(panel=pi, corner=corner,
                                   bbox=(px0 + wb[0], py0 + wb[1], px0 + wb[2], py0 + wb[3]),
                                   glyph=glyph, score=score))
    cands.sort(key=lambda c: -c.score)
    if second:  # the same glyph found at two thresholds: the better-scored one
        cands = [c for i, c in enumerate(cands) if not any(_overlap(c.bbox, o.bbox) > 0.7 for o in cands[:i])]
    return cands[:keep]


def _thresholds(gw: np.ndarray, t: float) -> list[tuple[bool, float]]:
    """(dark letters?, threshold) pairs to binarise a corner window with on the second look.

    Otsu's threshold of the window, for dark and for light letters; and where the window holds
    three grey levels (a black gutter or background, a grey photograph, a white letter on it; or a
    white margin, a grey photograph, a black letter) a threshold between the letter and the
    photograph too: Otsu's of the upper (lower) class alone.  With one threshold the letter and
    the photograph under it are one blob, and no letter is found.
    """
    out = [(True, min(t, 200.0)), (False, max(t, 90.0))]
    hi = gw[gw > t]
    if hi.size >= 64 and float(hi.max()) - float(hi.min()) >= 60:
        t_hi = _otsu(hi)
        if t_hi > out[1][1] + 20:
            out.append((False, t_hi))
    lo = gw[gw < t]
    if lo.size >= 64 and float(lo.max()) - float(lo.min()) >= 60:
        t_lo = _otsu(lo)
        if t_lo < out[0][1] - 20:
            out.append((True, t_lo))
    return out


def _inside_other(box: tuple[int, int, int, int], pi: int, panels: list[tuple[int, int, int, int]]) -> bool:
    """The candidate lies wholly inside another panel (and not in its own): that panel's letter."""
    own = panels[pi]
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    if own[0] <= cx <= own[2] and own[1] <= cy <= own[3]:
        return False
    return any(k != pi and q[0] <= box[0] and q[1] <= box[1] and box[2] <= q[2] and box[3] <= q[3]
               for k, q in enumerate(panels))


def letter_candidates(rgb: np.ndarray, panels: list[tuple[int, int, int, int]], per_window: int = 4,
                      second: bool = False, only: set[int] | None = None) -> list[Candidate]:
    """Letter-like ink blobs in the four corner windows of every panel (both polarities);
    ``second``: the second look (:func:`_window_candidates`), at the panels in ``only``."""
    grey = rgb.mean(axis=2).astype(np.uint8) if rgb.ndim == 3 else rgb.astype(np.uint8)
    H, W = grey.shape
    out: list[Candidate] = []
    seen: set[tuple[int, int, int, int, int]] = set()
    panels = [tuple(int(v) for v in p) for p in panels]
    for pi, p in enumerate(panels):
        if p[2] - p[0] < 16 or p[3] - p[1] < 16 or (only is not None and pi not in only):
            continue
        for corner in CORNERS:
            win = _window(p, corner, W, H)
            # the window reaches outside the panel (letters in the gutter); a white margin there
            # sets the threshold between white and the photograph, so a dark letter printed on a
            # mid-grey photograph merges with it: the part inside the panel is thresholded alone too
            inner = (max(win[0], p[0] + 2), max(win[1], p[1] + 2), min(win[2], p[2] - 2), min(win[3], p[3] - 2))
            wins = [win] + ([inner] if inner != win and inner[2] - inner[0] >= 16 and inner[3] - inner[1] >= 16 else [])
            for w in wins:
                cs = [c for c in _window_candidates(grey, w, p, corner, pi, keep=per_window + 2, second=second)
                      if not _inside_other(c.bbox, pi, panels)][:per_window]
                for c in cs:
                    key = (pi,) + c.bbox
                    if key not in seen:
                        seen.add(key)
                        out.append(c)
    return out


# ---------------------------------------------------------------- one tesseract call

def _montage(cands: list[Candidate]) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """Clean glyphs stacked in one column; returns (grey image, [(y0, y1) per cell])."""
    from PIL import Image

    tiles = []
    for c in cands:
        g = (~c.glyph).astype(np.uint8) * 255
        im = Image.fromarray(g)
        s = CELL_H / max(1, g.shape[0])
        im = im.resize((max(1, int(round(g.shape[1] * s))), CELL_H), Image.BILINEAR)
        tiles.append(np.asarray(im))
    width = max(t.shape[1] for t in tiles) + 2 * CELL_PAD
    rows = []
    spans = []
    y = 0
    for t in tiles:
        cell = np.full((CELL_H + 2 * CELL_PAD, width), 255, np.uint8)
        cell[CELL_PAD:CELL_PAD + CELL_H, CELL_PAD:CELL_PAD + t.shape[1]] = t
        rows.append(cell)
        spans.append((y, y + cell.shape[0]))
        y += cell.shape[0]
    return np.vstack(rows), spans


@dataclass
class Read:
    panel: int
    corner: str
    letter: str
    conf: float
    bbox: tuple[int, int, int, int]
    raw: str


# italic letters: tesseract reads most slanted glyphs (Times bold italic, ~17 degrees) only once
# they are set upright; the second look shears glyphs back by this much (x shift per pixel of height)
ITALIC_SHEAR = 0.3


def upright(c: Candidate, k: float = ITALIC_SHEAR) -> Candidate:
    """The candidate with its glyph sheared by ``k`` (lower rows moved right): an italic letter
    set upright."""
    g = c.glyph
    h, w = g.shape
    out = np.zeros((h, w + int(abs(k) * h) + 1), bool)
    for y in range(h):
        dx = int(round(k * (h - 1 - y)))
        out[y, dx:dx + w] = g[y]
    return Candidate(panel=c.panel, corner=c.corner, bbox=c.bbox, glyph=out, score=c.score)


def second_look(first: list[Candidate], found: list[Candidate], timeout_s: float = OCR_TIMEOUT_S) -> list[Read]:
    """Read the glyphs the first look left unread once more, in one tesseract call: ``first`` (the
    first look's unread candidates) and ``found`` (the second look's new ones), each as it is and
    set upright (italic letters)."""
    new = [c for c in found if not any(_overlap(c.bbox, o.bbox) > 0.9 for o in first)]
    cands = new + [upright(c) for c in first + new]
    return ocr_candidates(cands, timeout_s=timeout_s) if cands else []


def ocr_candidates(cands: list[Candidate], timeout_s: float = OCR_TIMEOUT_S) -> list[Read]:
    """Read every candidate with a single tesseract call on a montage."""
    if not cands or tesseract_version() is None:
        return []
    import pytesseract
    from PIL import Image

    img, spans = _montage(cands)
    try:
        data = pytesseract.image_to_data(Image.fromarray(img), lang="eng",
                                         config=f"--psm 6 -c tessedit_char_whitelist={_WHITELIST}",
                                         output_type=pytesseract.Output.DICT, timeout=timeout_s)
    except (RuntimeError, pytesseract.TesseractError):
        return []
    best: dict[int, Read] = {}
    for i, text in enumerate(data.get("text", [])):
        text = (text or "").strip()
        if not text:
            continue
        letter = letter_of(text)
        if letter is None:
            continue
        try:
            conf = float(data["conf"][i])
        except (TypeError, ValueError):
            conf = 0.0
        cy = data["top"][i] + data["height"][i] / 2
        ci = next((k for k, (a, b) in enumerate(spans) if a <= cy < b), None)
        if ci is None:
            continue
        c = cands[ci]
        r = Read(panel=c.panel, corner=c.corner, letter=letter, conf=conf, bbox=c.bbox, raw=text)
        if ci not in best or conf > best[ci].conf:
            best[ci] = r
    return [best[k] for k in sorted(best)]


# ---------------------------------------------------------------- consistency

def _increasing(seq: list[tuple[int, str]]) -> list[tuple[int, str]]:
    """Longest run of (panel, letter) pairs whose letters increase along the panel order."""
    n = len(seq)
    if n == 0:
        return []
    best = [1] * n
    prev = [-1] * n
    for i in range(n):
        for j in range(i):
            # letters increase, and no faster than the panels do (B two panels after A, not D)
            if seq[j][1] < seq[i][1] and best[j] + 1 > best[i]:
                best[i], prev[i] = best[j] + 1, j
    k = max(range(n), key=lambda i: (best[i], -i))
    out = []
    while k != -1:
        out.append(seq[k])
        k = prev[k]
    return out[::-1]


def consistent_labels(n_panels: int, reads: list[Read], min_conf: float = 10.0, strong_conf: float = 80.0
                      ) -> list[tuple[str, str] | None]:
    """Per panel (reading order): (letter, "ocr" | "order") or None.

    The letters of a figure are A, B, C ... (one per panel, a few may be unreadable), printed at
    one corner, running in reading order.  For each corner the reads in range are kept
    (duplicates: the most confident), weak ones included (>= ``min_conf``: the sequence is the
    evidence); reads that break the alphabetical order along the panels (a misread, or a panel
    the reading order puts elsewhere) are dropped, at most a quarter of them.  The corner with
    the most surviving reads wins; at least two panels must agree, and the first letter read is
    A unless the first panel has no read.  A matching strong read at another corner completes a
    panel, and when exactly one panel and one letter of A..N are left, that panel gets that
    letter ("order").
    """
    if n_panels < 2 or not reads:
        return [None] * n_panels
    top = chr(ord("A") + min(25, n_panels))  # one letter of slack: a panel may be two printed ones
    best = None
    for corner in CORNERS:
        by_panel: dict[int, Read] = {}
        for r in reads:
            if r.corner != corner or not ("A" <= r.letter <= top) or r.conf < min_conf:
                continue
            if r.panel not in by_panel or r.conf > by_panel[r.panel].conf:
                by_panel[r.panel] = r
        # one panel per letter: the most confident read of a letter wins
        by_letter: dict[str, Read] = {}
        for r in by_panel.values():
            if r.letter not in by_letter or r.conf > by_letter[r.letter].conf:
                by_letter[r.letter] = r
        chosen = {r.panel: r for r in by_letter.values()}
        seq = [(i, chosen[i].letter) for i in sorted(chosen)]
        kept = _increasing(seq)
        # a letter cannot come before its place: the k-th panel carries at most letter k+slack
        kept = [(i, c) for i, c in kept if ord(c) - ord("A") <= i + 1]
        dropped = len(seq) - len(kept)
        kept_d = {i: chosen[i] for i, _ in kept}
        letters = {r.letter for r in kept_d.values()}
        first_ok = "A" in letters or 0 not in kept_d
        ok = len(kept_d) >= 2 and first_ok and dropped <= max(1, len(seq) // 4)
        key = (ok, len(kept_d) - dropped, sum(r.conf for r in kept_d.values()))
        if best is None or key > best[0]:
            best = (key, corner, kept_d)
    assert best is not None
    (ok, _, _), corner, chosen = best
    if not ok:
        if n_panels == 2:  # two panels, letters at two different corners: both must read right
            a = max((r for r in reads if r.panel == 0 and r.letter == "A" and r.conf >= 30), key=lambda r: r.conf,
                    default=None)
            b = max((r for r in reads if r.panel == 1 and r.letter == "B" and r.conf >= 30), key=lambda r: r.conf,
                    default=None)
            if a is not None and b is not None and max(a.conf, b.conf) >= strong_conf:
                return [("A", "ocr"), ("B", "ocr")]
        return [None] * n_panels
    used = {r.letter for r in chosen.values()}
    labels: dict[int, str] = {i: r.letter for i, r in chosen.items()}
    expected = [chr(ord("A") + i) if i < 26 else None for i in range(n_panels)]
    for r in sorted(reads, key=lambda r: -r.conf):
        if r.panel not in labels and r.letter not in used and r.conf >= strong_conf and r.letter == expected[r.panel]:
            labels[r.panel] = r.letter
            used.add(r.letter)
    out: list[tuple[str, str] | None] = [None] * n_panels
    for i, letter in labels.items():
        out[i] = (letter, "ocr")
    missing = [i for i in range(n_panels) if out[i] is None]
    free = [c for c in (chr(ord("A") + k) for k in range(min(26, n_panels))) if c not in used]
    if len(missing) == 1 and len(free) == 1 and n_panels >= 3 and len(used) == n_panels - 1:
        out[missing[0]] = (free[0], "order")
    return out


def read_panel_letters_and_hits(rgb: np.ndarray, panels: list[tuple[int, int, int, int]], timeout_s: float = OCR_TIMEOUT_S
                                ) -> tuple[list[tuple[str, str] | None], list[LetterHit]]:
    """:func:`read_panel_letters` plus the accepted reads as :class:`LetterHit` (one tesseract call)."""
    if tesseract_version() is None or len(panels) < 2:
        return [None] * len(panels), []
    cands = letter_candidates(rgb, panels)
    reads = ocr_candidates(cands, timeout_s=timeout_s)
    labels = consistent_labels(len(panels), reads)
    missing = {i for i, lab in enumerate(labels) if lab is None}
    if missing and len(missing) < len(panels):
        # panels left without a letter in a lettered figure get a second look (three grey levels,
        # broken strokes, italic glyphs set upright); its reads only fill those panels, with
        # letters not yet used (a figure with no letter read at all gets none: no second guess)
        done = {r.bbox for r in reads}
        unread = [c for c in cands if c.panel in missing and c.bbox not in done]
        more = second_look(unread, letter_candidates(rgb, panels, second=True, only=missing), timeout_s)
        used = {lab[0] for lab in labels if lab is not None}
        more = [r for r in more if r.panel in missing and r.letter not in used]
        if more:
            labels2 = consistent_labels(len(panels), reads + more)
            # kept only when it keeps every letter the first look gave
            if all(a is None or a == b for a, b in zip(labels, labels2)):
                labels, reads = labels2, reads + more
    hits = []
    for i, lab in enumerate(labels):
        if lab is None or lab[1] != "ocr":
            continue
        r = max((r for r in reads if r.panel == i and r.letter == lab[0]), key=lambda r: r.conf)
        hits.append(LetterHit(letter=lab[0], bbox=r.bbox, source="ocr", raw=r.raw, conf=r.conf))
    return labels, hits


def read_panel_letters(rgb: np.ndarray, panels: list[tuple[int, int, int, int]], timeout_s: float = OCR_TIMEOUT_S
                       ) -> list[tuple[str, str] | None]:
    """Letters printed as pixels on/next to each panel (panels in reading order); see the module doc."""
    return read_panel_letters_and_hits(rgb, panels, timeout_s=timeout_s)[0]


# ---------------------------------------------------------------- letters as anchors

ANCHOR_WINDOW = 240  # pixels: windows tiling the figure when no panel is known yet
ANCHOR_MIN_CONF = 60.0


def find_letter_anchors(rgb: np.ndarray, expected: list[str], timeout_s: float = OCR_TIMEOUT_S) -> list[LetterHit]:
    """Panel letters burnt into the pixels of a figure whose panels are not known yet.

    The figure is tiled with overlapping windows; isolated letter-like blobs (both polarities,
    as :func:`_window_candidates` finds them at panel corners) are read in one tesseract call, and
    a read counts when it is one of the ``expected`` letters (the caption's, upper-case) with
    confidence >= ANCHOR_MIN_CONF.  Per letter the most confident read wins; the letters must
    share one case and a similar height (one style per figure) and at least two must be found.
    Returns them as :class:`LetterHit` (source "ocr"), for grouping gutter cells under them.
    """
    if tesseract_version() is None or len(expected) < 2:
        return []
    grey = rgb.mean(axis=2).astype(np.uint8) if rgb.ndim == 3 else rgb.astype(np.uint8)
    H, W = grey.shape
    step = ANCHOR_WINDOW * 2 // 3
    cands: list[Candidate] = []
    seen: list[tuple[int, int, int, int]] = []
    for y in range(0, max(1, H - ANCHOR_WINDOW // 3), step):
        for x in range(0, max(1, W - ANCHOR_WINDOW // 3), step):
            win = (x, y, min(W, x + ANCHOR_WINDOW), min(H, y + ANCHOR_WINDOW))
            if win[2] - win[0] < 24 or win[3] - win[1] < 24:
                continue
            for c in _window_candidates(grey, win, win, "tl", 0, keep=12):
                j = next((k for k, s in enumerate(seen) if _overlap(c.bbox, s) > 0.5), None)
                if j is None:
                    seen.append(c.bbox)
                    cands.append(c)
                elif _hole_of(seen[j], c.bbox) and not any(_hole_of(c.bbox, s) or s == c.bbox for s in seen):
                    # the one seen may be a hole inside this glyph (the counter of a bold "A"
                    # or "B", a light blob in the other polarity): the glyph is read too
                    seen.append(c.bbox)
                    cands.append(c)
    if len(cands) < 2:
        return []
    # panel letters are the tallest isolated glyphs of a figure (tick labels and words are
    # smaller): the tallest candidates are read, a bounded montage for one tesseract call
    cands.sort(key=lambda c: -(c.bbox[3] - c.bbox[1]))
    cands = cands[:max(24, 6 * len(expected))]
    all_reads = ocr_candidates(cands, timeout_s=timeout_s)
    reads = [r for r in all_reads if r.letter in expected and r.conf >= ANCHOR_MIN_CONF and _single_letter(r.raw)]
    if any(_bracketed(r.raw) for r in reads):
        # one label style per figure: where a letter printed as "(a)" was read with confidence,
        # the figure's letters are bracketed; a bracketed read of another letter counts at any
        # confidence (tesseract scores "(b)" low) and replaces the bare reads of that letter (a
        # curve or structure label "b" inside a chart); bare reads of other letters stay (a
        # bracket cut off its letter)
        bracketed = [r for r in all_reads if r.letter in expected and _bracketed(r.raw)]
        have = {r.letter for r in bracketed}
        reads = [r for r in reads if _bracketed(r.raw) or r.letter not in have]
        reads += [r for r in bracketed if r not in reads]
    missing = [x for x in expected if x not in {r.letter for r in reads}]
    if missing and reads:
        # tesseract misreads a few glyphs inside a montage (a lone "C" as "Cc"): the tallest
        # candidates without a good read are read once more, one glyph each (--psm 10)
        good = {r.bbox for r in reads}
        h0 = max(r.bbox[3] - r.bbox[1] for r in reads)
        retry = [c for c in cands if c.bbox not in good and 0.6 * h0 <= c.bbox[3] - c.bbox[1] <= 1.6 * h0][:8]
        for c in retry:
            r = _read_one(c, timeout_s)
            if r is not None and r.letter in missing and r.conf >= ANCHOR_MIN_CONF and _single_letter(r.raw):
                reads.append(r)
                missing.remove(r.letter)
            if not missing:
                break
        if missing:
            # a second look (three grey levels, broken strokes, italic glyphs set upright) at
            # glyphs as tall as the letters found, in one call
            found = []
            for y in range(0, max(1, H - ANCHOR_WINDOW // 3), step):
                for x in range(0, max(1, W - ANCHOR_WINDOW // 3), step):
                    win = (x, y, min(W, x + ANCHOR_WINDOW), min(H, y + ANCHOR_WINDOW))
                    if win[2] - win[0] >= 24 and win[3] - win[1] >= 24:
                        found += _window_candidates(grey, win, win, "tl", 0, keep=12, second=True)
            tall = [c for c in found if 0.6 * h0 <= c.bbox[3] - c.bbox[1] <= 1.6 * h0
                    and not any(_overlap(c.bbox, g) > 0.5 for g in good)]
            tall = [c for i, c in enumerate(tall) if not any(_overlap(c.bbox, o.bbox) > 0.5 for o in tall[:i])]
            for r in second_look(retry, tall[:16], timeout_s):
                if r.letter in missing and r.conf >= ANCHOR_MIN_CONF and _single_letter(r.raw):
                    reads.append(r)
                    missing.remove(r.letter)
    if len(reads) < 2:
        return []
    # one case per figure: the case most reads have
    upper = sum(1 for r in reads if _core(r.raw).isupper())
    want_upper = upper * 2 >= len(reads)
    reads = [r for r in reads if _core(r.raw).isupper() == want_upper]
    best: dict[str, Read] = {}
    for r in reads:
        if r.letter not in best or r.conf > best[r.letter].conf:
            best[r.letter] = r
    chosen = list(best.values())
    if len(chosen) < 2:
        return []
    hs = sorted(r.bbox[3] - r.bbox[1] for r in chosen)
    med = hs[len(hs) // 2]
    chosen = [r for r in chosen if 0.6 * med <= r.bbox[3] - r.bbox[1] <= 1.6 * med]
    if len(chosen) < 2:
        return []
    return [LetterHit(letter=r.letter, bbox=r.bbox, source="ocr", raw=r.raw, conf=r.conf)
            for r in sorted(chosen, key=lambda r: r.letter)]


def _core(raw: str) -> str:
    return "".join(ch for ch in raw if ch.isalpha())


def _bracketed(raw: str) -> bool:
    """A read printed as one letter in round brackets, "(a)"."""
    t = raw.strip()
    return len(t) == 3 and t[0] == "(" and t[2] == ")" and t[1].isalpha()


def _single_letter(raw: str) -> bool:
    return len(_core(raw)) == 1


def _hole_of(inner: tuple[int, int, int, int], outer: tuple[int, int, int, int], margin: float = 0.15) -> bool:
    """``inner`` lies well inside ``outer`` (at least ``margin`` of its width / height from every
    side): a glyph's counter, not a neighbouring letter or a word holding the letter."""
    mx, my = margin * (outer[2] - outer[0]), margin * (outer[3] - outer[1])
    return (inner[0] >= outer[0] + mx and inner[2] <= outer[2] - mx and inner[1] >= outer[1] + my
            and inner[3] <= outer[3] - my)


def _area(b: tuple[int, int, int, int]) -> int:
    return max(0, b[2] - b[0]) * max(0, b[3] - b[1])


def _overlap(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    x0, y0, x1, y1 = max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])
    inter = max(0, x1 - x0) * max(0, y1 - y0)
    small = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return inter / small if small > 0 else 0.0


def _read_one(c: Candidate, timeout_s: float) -> Read | None:
    """One candidate read alone as a single character."""
    import pytesseract
    from PIL import Image

    img, _ = _montage([c])
    try:
        data = pytesseract.image_to_data(Image.fromarray(img), lang="eng",
                                         config=f"--psm 10 -c tessedit_char_whitelist={_WHITELIST}",
                                         output_type=pytesseract.Output.DICT, timeout=timeout_s)
    except (RuntimeError, pytesseract.TesseractError):
        return None
    best = None
    for i, text in enumerate(data.get("text", [])):
        text = (text or "").strip()
        letter = letter_of(text) if text else None
        if letter is None:
            continue
        try:
            conf = float(data["conf"][i])
        except (TypeError, ValueError):
            conf = 0.0
        if best is None or conf > best.conf:
            best = Read(panel=c.panel, corner=c.corner, letter=letter, conf=conf, bbox=c.bbox, raw=text)
    return best
