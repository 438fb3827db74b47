"""The sentences of a PDF's body text that cite each figure ("... a hyperdense mass (Figure 2)."), for a
PDF without JATS XML: context for tagging a figure whose caption says little (JATS: medvl.jats).

Body text is every text line that is no caption, lies outside every figure region, is no running
header/footer and is set near the body font size; each block is a paragraph.  A citation is "Fig."/
"Figure"/"Figs." with numbers ("Figures 1 and 3", "Fig. 2A", "Figs. 1-3", "Figure S2").
"""

from __future__ import annotations

import re
from typing import Any

from medvl.sentences import add_reference, sentence_at, sentence_bounds

BODY_SIZE_TOLERANCE = 0.15  # a body line's font size is within 15% of the document's body size
MAX_RANGE = 10  # "Figures 1-3" is expanded; a longer "range" is more likely a page or year span

_NUM = r"S?\d{1,3}(?!\d)(?:[A-Za-z](?![A-Za-z]))?"  # a number, perhaps a panel letter; no year
CITATION = re.compile(r"\b(?:Fig(?:ure)?s?|FIG(?:URE)?S?)\.?\s*(?P<nums>" + _NUM
                      + r"(?:\s*(?:,|;|and|&|to|[-\u2013\u2014])\s*" + _NUM + r")*)")
_PART = re.compile(r"(S?)(\d{1,3})[A-Za-z]?")


def cited_numbers(nums: str) -> list[str]:
    """'1, 3 and 5' -> ['1', '3', '5']; '1-3' -> ['1', '2', '3']; 'S2' -> ['S2'] (panel letters dropped)."""
    out: list[str] = []
    parts = list(_PART.finditer(nums))
    for i, m in enumerate(parts):
        label = m.group(1) + m.group(2)
        if i and re.fullmatch(r"\s*[-\u2013\u2014]\s*|\s*to\s*", nums[parts[i - 1].end():m.start()]):
            lo, hi = int(parts[i - 1].group(2)), int(m.group(2))
            if parts[i - 1].group(1) == m.group(1) and 0 < hi - lo <= MAX_RANGE:
                out += [m.group(1) + str(n) for n in range(lo + 1, hi)]
        out.append(label)
    return list(dict.fromkeys(out))


def _inside(line_bbox: Any, box: Any) -> bool:
    cx, cy = (line_bbox[0] + line_bbox[2]) / 2, (line_bbox[1] + line_bbox[3]) / 2
    return box[0] <= cx <= box[2] and box[1] <= cy <= box[3]


def body_paragraphs(pages: list[Any], regions: list[Any], captions: list[Any], body_size: float) -> list[str]:
    """The body text of the document, one string per text block, in page and block order."""
    skip: dict[int, list[Any]] = {}
    for c in captions:
        skip.setdefault(c.page, []).append(c.bbox)
    for r in regions:
        if r.bbox is not None:
            skip.setdefault(r.page, []).append(r.bbox)
    out: list[str] = []
    for pm in pages:
        boxes = skip.get(pm.number, [])
        for block in pm.blocks:
            if block.number in pm.furniture:
                continue
            lines = [ln for ln in block.lines if ln.text.strip() and not any(_inside(ln.bbox, b) for b in boxes)]
            if not lines:
                continue
            sizes = sorted(ln.size for ln in lines)
            if body_size and abs(sizes[len(sizes) // 2] - body_size) > BODY_SIZE_TOLERANCE * body_size:
                continue
            text = ""
            for ln in lines:
                t = ln.text.strip()
                if text.endswith("-") and t[:1].islower():  # a word hyphenated at the line end
                    text = text[:-1] + t
                else:
                    text = f"{text} {t}" if text else t
            out.append(re.sub(r"\s+", " ", text))
    return out


def figure_references(paragraphs: list[str]) -> dict[str, list[str]]:
    """Figure label key (medvl.pdf.captions.label_key: '2', 'S1') -> the sentences citing it, in text order."""
    from medvl.pdf.captions import label_key

    out: dict[str, list[str]] = {}
    for text in paragraphs:
        cites = list(CITATION.finditer(text))
        if not cites:
            continue
        bounds = sentence_bounds(text)
        for m in cites:
            sentence = sentence_at(text, bounds, m.start())
            for num in cited_numbers(m.group("nums")):
                add_reference(out, label_key(f"Figure {num}"), sentence)
    return out
