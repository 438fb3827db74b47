"""OCR of panel letters printed inside raster figures (tesseract via pytesseract).

Whole-figure OCR misses most panel letters (tesseract's page segmentation drops isolated bold
glyphs), so ``ocr_panel_letters`` looks only where letters are printed: small, isolated ink
pieces (found by a fine XY-cut) near the top-left corner of each panel, each read as one
character (``--psm 10``, letters and brackets only).  LayoutParser's ``lp.TesseractAgent`` wraps
the same pytesseract call but also runs ``image_to_data`` (a second tesseract run) per image, so
we call pytesseract directly.
"""

from __future__ import annotations

import shutil
from functools import lru_cache

import numpy as np

from medvl.pdf.panels import LetterHit, letter_of


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


def ocr_letters(rgb: np.ndarray, min_conf: float = 55.0, max_side: int = 1600, timeout_s: float = 20.0
                ) -> list[LetterHit]:
    """Single-letter words ("A", "(b)", "c.") found by tesseract in an RGB figure image (pixel boxes)."""
    if tesseract_version() is None:
        return []
    import pytesseract
    from PIL import Image

    h, w = rgb.shape[:2]
    img = Image.fromarray(rgb)
    scale = 1.0
    if max(h, w) > max_side:
        scale = max_side / max(h, w)
        img = img.resize((max(1, int(w * scale)), max(1, int(h * scale))))
    elif max(h, w) < 400:
        scale = 2.0
        img = img.resize((w * 2, h * 2))
    try:
        data = pytesseract.image_to_data(img, lang="eng", config="--psm 11", output_type=pytesseract.Output.DICT,
                                         timeout=timeout_s)
    except (RuntimeError, pytesseract.TesseractError):
        return []
    hits = []
    for i, text in enumerate(data.get("text", [])):
        letter = letter_of(text or "")
        if letter is None:
            continue
        try:
            conf = float(data["conf"][i])
        except (TypeError, ValueError):
            conf = -1.0
        if conf < min_conf:
            continue
        x, y, bw, bh = (data[k][i] for k in ("left", "top", "width", "height"))
        box = (int(x / scale), int(y / scale), int((x + bw) / scale), int((y + bh) / scale))
        # panel letters are small relative to the figure
        if (box[3] - box[1]) > 0.25 * h or (box[2] - box[0]) > 0.25 * w:
            continue
        hits.append(LetterHit(letter=letter, bbox=box, source="ocr"))
    return hits


_WHITELIST = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ()"


def letter_candidates(rgb: np.ndarray, panels: list[tuple[int, int, int, int]], per_panel: int = 3
                      ) -> list[tuple[int, int, int, int]]:
    """Small isolated ink pieces near each panel's top-left corner (where panel letters sit)."""
    from medvl.pdf.panels import ink_mask, xy_cut

    ink = ink_mask(rgb)
    H, W = ink.shape
    pieces = xy_cut(ink, min_gap=2, min_side=0, max_depth=12)
    out: list[tuple[int, int, int, int]] = []
    for p in panels:
        pw, ph = p[2] - p[0], p[3] - p[1]
        zone = (p[0] - 0.12 * pw - 4, p[1] - 0.15 * ph - 4, p[0] + 0.25 * pw, p[1] + 0.22 * ph)
        # a letter printed on the panel itself (on a white patch) separates only within the corner
        zx0, zy0 = max(0, int(p[0])), max(0, int(p[1]))
        zx1, zy1 = min(W, int(zone[2])), min(H, int(zone[3]))
        local = []
        if zx1 - zx0 > 8 and zy1 - zy0 > 8:
            local = [(b[0] + zx0, b[1] + zy0, b[2] + zx0, b[3] + zy0)
                     for b in xy_cut(ink[zy0:zy1, zx0:zx1], min_gap=2, min_side=0, max_depth=8)]
        cands = []
        for b in pieces + local:
            w, h = b[2] - b[0], b[3] - b[1]
            if not (6 <= h <= min(80, 0.12 * H + 10) and 2 <= w <= 1.6 * h):
                continue
            cx, cy = (b[0] + b[2]) / 2, (b[1] + b[3]) / 2
            if zone[0] <= cx <= zone[2] and zone[1] <= cy <= zone[3]:
                cands.append(b)
        cands.sort(key=lambda b: (b[0] - p[0]) ** 2 + (b[1] - p[1]) ** 2)
        for b in cands[:per_panel]:
            if b not in out:
                out.append(b)
    return out


def ocr_panel_letters(rgb: np.ndarray, panels: list[tuple[int, int, int, int]], timeout_s: float = 5.0
                      ) -> list[LetterHit]:
    """Letters read by tesseract from the candidates of ``letter_candidates`` (pixel boxes)."""
    if tesseract_version() is None or not panels:
        return []
    import pytesseract
    from PIL import Image, ImageOps

    hits = []
    for b in letter_candidates(rgb, panels):
        pad = 2
        crop = Image.fromarray(rgb[max(0, b[1] - pad):b[3] + pad, max(0, b[0] - pad):b[2] + pad]).convert("L")
        scale = 40 / max(1, crop.height)
        crop = crop.resize((max(1, int(crop.width * scale)), max(1, int(crop.height * scale))))
        crop = ImageOps.expand(crop, border=20, fill=255)
        try:
            txt = pytesseract.image_to_string(crop, config=f"--psm 10 -c tessedit_char_whitelist={_WHITELIST}",
                                              timeout=timeout_s)
        except (RuntimeError, pytesseract.TesseractError):
            continue
        letter = letter_of(txt.strip())
        if letter is not None:
            hits.append(LetterHit(letter=letter, bbox=tuple(int(v) for v in b), source="ocr"))
    return hits
