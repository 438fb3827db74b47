"""Words from glyph geometry: spaces where the PDF has none.

Some publishers' PDFs (seen in Royal Society Open Science and Frontiers files) contain no space
characters: each glyph is placed on its own and only the gaps carry the word breaks, so the text
layer reads "Giantpandamilkproteins".  Here a line's characters come with their boxes (PyMuPDF
``rawdict``) and a space goes in where the gap to the previous glyph of the line is wider than
the line's usual letter gap by more than ``WORD_GAP_EM`` of the font size; never next to a space
the PDF already has.  The usual gap is the median gap of the line (robust to tracked headings
and to fonts whose advance widths are a little off).

Reading every page at the character level costs ~0.07 s a page, so the character pass runs only
on pages with a line that looks run together (:func:`looks_run_together`: long, with too few
spaces), and only those lines are respaced: lines that have their spaces keep PyMuPDF's words
unchanged.
"""

from __future__ import annotations

import statistics
from typing import Any

WORD_GAP_EM = 0.1  # a word break is at least this much wider than the line's letter gap (font sizes)
SPACELESS_MIN = 30  # a line needs this many characters (outside URLs) to be judged space-less
SPACELESS_AVG = 18  # ... and this many characters per whitespace-free token (running text: ~6)


def _wordish(tokens: list[str]) -> list[str]:
    # URLs, e-mail addresses and paths are long without spaces in every PDF
    return [t for t in tokens if not ("/" in t or "@" in t or "www." in t or t.startswith("http"))]


def looks_run_together(text: str) -> bool:
    """True when a line's text has too few spaces for its length to be ordinary words (the PDF
    left them out).  Lines with their spaces, short lines (one long word) and URLs are not."""
    tokens = _wordish(text.split())
    ink = sum(len(t) for t in tokens)
    return (ink >= SPACELESS_MIN and ink >= SPACELESS_AVG * len(tokens)
            and sum(c.isalpha() for t in tokens for c in t) >= ink / 2)


def spaceless_page(line_texts: list[str]) -> bool:
    """True when at least half of a page's long lines look run together: the PDF has no spaces,
    so its short lines (a caption's last line, "(a)Baseline") are respaced too."""
    long = [t for t in line_texts if sum(len(w) for w in _wordish(t.split())) >= SPACELESS_MIN]
    return bool(long) and sum(looks_run_together(t) for t in long) * 2 >= len(long)


def needs_respace(text: str, page_spaceless: bool) -> bool:
    """Whether one line is read again from its glyphs."""
    if looks_run_together(text):
        return True
    spaces = sum(c.isspace() for c in text)
    ink = len(text) - spaces
    return page_spaceless and ink >= 4 and ink >= 6 * (spaces + 1)


def _horizontal(line: dict) -> bool:
    d = line.get("dir", (1.0, 0.0))
    return d[0] > 0.99 and abs(d[1]) < 0.05


def respace_line(line: dict) -> tuple[list[dict], int]:
    """A rawdict line -> (spans as in ``dict`` output, with a ``text`` key; spaces inserted).

    Returns the spans and the number of spaces inserted.  Non-horizontal lines are left as the PDF
    has them (only the text is joined).
    """
    spans = line.get("spans", [])
    chars = [(si, c) for si, s in enumerate(spans) for c in s.get("chars", [])]
    gaps: list[float] = []
    if _horizontal(line):
        for (_, a), (_, b) in zip(chars, chars[1:]):
            if a["c"].isspace() or b["c"].isspace():
                continue
            gaps.append(b["bbox"][0] - a["bbox"][2])
    base = statistics.median(gaps) if len(gaps) >= 4 else 0.0
    size0 = max((s.get("size", 10.0) for s in spans), default=10.0)
    # a positive median is capped (a line of short words has as many word gaps as letter gaps);
    # a negative one (advance widths wider than the glyphs) is allowed within reason
    base = max(min(base, 0.05 * size0), -0.3 * size0)
    texts: list[list[str]] = [[] for _ in spans]
    inserted = 0
    prev: tuple[int, dict] | None = None
    for si, c in chars:
        ch = c["c"]
        if prev is not None and _horizontal(line) and not ch.isspace() and not prev[1]["c"].isspace():
            size = max(spans[si].get("size", 10.0), spans[prev[0]].get("size", 10.0))
            gap = c["bbox"][0] - prev[1]["bbox"][2]
            if gap - base > WORD_GAP_EM * size:
                texts[si].append(" ")
                inserted += 1
        texts[si].append(ch)
        prev = (si, c)
    out = []
    for s, t in zip(spans, texts):
        d = {k: v for k, v in s.items() if k != "chars"}
        d["text"] = "".join(t)
        out.append(d)
    return out, inserted


def respaced_lines(textpage: Any) -> dict[tuple[int, int], tuple[list[dict], int]]:
    """(block index, line index) -> respaced spans for every text line of a page's textpage."""
    raw = textpage.extractRAWDICT()
    out: dict[tuple[int, int], tuple[list[dict], int]] = {}
    for bi, b in enumerate(raw.get("blocks", [])):
        if b.get("type", 0) != 0:
            continue
        for li, ln in enumerate(b.get("lines", [])):
            out[(bi, li)] = respace_line(ln)
    return out


def words_in(page: Any, clip: tuple, respace: bool, flags: int | None = None) -> list[tuple]:
    """Words (x0, y0, x1, y1, text) of the page inside ``clip``.

    With ``respace`` (the page's text was found run together) the words come from the glyphs:
    a line's characters split at the spaces the PDF has and at the gaps :func:`respace_line`
    reads as word breaks; otherwise PyMuPDF's own words.
    """
    if not respace:
        return [tuple(w[:5]) for w in page.get_text("words", clip=clip)]
    import pymupdf

    fl = flags if flags is not None else (pymupdf.TEXT_PRESERVE_WHITESPACE | pymupdf.TEXT_MEDIABOX_CLIP)
    raw = page.get_text("rawdict", clip=clip, flags=fl)
    words: list[tuple] = []
    for b in raw.get("blocks", []):
        for ln in b.get("lines", []):
            spans, _ = respace_line(ln)
            chars = [c for s in ln.get("spans", []) for c in s.get("chars", [])]
            text = "".join(s["text"] for s in spans)
            # walk the respaced text beside the glyphs: inserted spaces have no glyph
            cur: list[dict] = []
            k = 0
            for ch in text:
                if ch.isspace():
                    if k < len(chars) and chars[k]["c"] == ch:
                        k += 1
                    if cur:
                        words.append(_word(cur))
                        cur = []
                    continue
                cur.append(chars[k])
                k += 1
            if cur:
                words.append(_word(cur))
    return words


def _word(chars: list[dict]) -> tuple:
    x0 = min(c["bbox"][0] for c in chars)
    y0 = min(c["bbox"][1] for c in chars)
    x1 = max(c["bbox"][2] for c in chars)
    y1 = max(c["bbox"][3] for c in chars)
    return (x0, y0, x1, y1, "".join(c["c"] for c in chars))
