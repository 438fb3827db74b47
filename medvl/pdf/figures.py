"""Figures in a PDF: caption blocks, the graphics region each caption belongs to, rendering.

The page model is deliberately simple and general (no journal-specific rules):

* text lines with positions and fonts come from PyMuPDF ``get_text("dict")`` (words rebuilt from
  glyph gaps where a PDF has no spaces: medvl.pdf.words);
* graphics are placed images (``get_image_info``) and clusters of vector drawings;
* a caption is a text line that starts with a figure label ("Figure 3:", "Fig. 2.", "FIGURE 1 |")
  at the start of a block or after a visual break, plus the lines that continue it;
* prose blocks (several long lines of running text), captions and page furniture (running
  headers, page numbers) are barriers; the figure of a caption is the group of graphics in its
  column between the caption and the nearest barrier (above the caption first, then below, then
  beside it, then on the previous page when the caption opens a page).

Rendering a clip of the page turns raster and vector figures alike into one PNG.
"""

from __future__ import annotations

import re
import statistics
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from medvl.pdf.captions import (SUPP_HEADING_RE, LabelMatch, caption_body, join_lines, label_key, match_label,
                                normalize_ws, panel_suffixed, reference_only, split_supplement_list,
                                starts_with_panel_letter, supplementary_file)
from medvl.pdf.fontmaps import repair_spans
from medvl.pdf.words import looks_run_together, needs_respace, respaced_lines, spaceless_page

Rect4 = tuple[float, float, float, float]


# ---------------------------------------------------------------- small geometry helpers

def r_union(a: Rect4, b: Rect4) -> Rect4:
    return (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))


def r_area(a: Rect4) -> float:
    return max(0.0, a[2] - a[0]) * max(0.0, a[3] - a[1])


def r_inter(a: Rect4, b: Rect4) -> Rect4 | None:
    x0, y0, x1, y1 = max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])
    if x1 <= x0 or y1 <= y0:
        return None
    return (x0, y0, x1, y1)


def x_overlap(a: Rect4, b: Rect4) -> float:
    return max(0.0, min(a[2], b[2]) - max(a[0], b[0]))


def y_overlap(a: Rect4, b: Rect4) -> float:
    return max(0.0, min(a[3], b[3]) - max(a[1], b[1]))


def r_gap(a: Rect4, b: Rect4) -> float:
    """Euclidean distance between two rectangles (0 if they touch or overlap)."""
    dx = max(0.0, max(a[0], b[0]) - min(a[2], b[2]))
    dy = max(0.0, max(a[1], b[1]) - min(a[3], b[3]))
    return (dx * dx + dy * dy) ** 0.5


def r_expand(a: Rect4, d: float) -> Rect4:
    return (a[0] - d, a[1] - d, a[2] + d, a[3] + d)


def union_all(rects: list[Rect4]) -> Rect4:
    out = rects[0]
    for r in rects[1:]:
        out = r_union(out, r)
    return out


# ---------------------------------------------------------------- page model

@dataclass
class Line:
    bbox: Rect4
    text: str
    size: float  # dominant font size (by characters)
    bold: bool  # first span bold
    font: str  # dominant font
    block: int
    index_in_block: int
    first_span_bold: bool = False
    spans: list[dict] = field(default_factory=list)
    dir: tuple[float, float] = (1.0, 0.0)


@dataclass
class Block:
    bbox: Rect4
    lines: list[Line]
    number: int

    @property
    def text(self) -> str:
        return " ".join(ln.text for ln in self.lines)


@dataclass
class Graphic:
    bbox: Rect4
    kind: str  # "image" | "vector"
    xref: int = 0


@dataclass
class Caption:
    page: int  # 0-based
    match: LabelMatch
    lines: list[Line]
    bbox: Rect4
    text: str
    score: float
    block: int
    # eLife's list of this figure's supplements after the caption: [(number, title), ...]
    supplements: list[tuple[str, str]] = field(default_factory=list)

    @property
    def key(self) -> str:
        return label_key(self.match.label)


@dataclass
class PageModel:
    number: int  # 0-based
    rect: Rect4
    blocks: list[Block]
    lines: list[Line]
    graphics: list[Graphic]
    furniture: set[int] = field(default_factory=set)  # block numbers of running headers/footers
    respaced: bool = False  # spaces were read from glyph gaps on this page (medvl.pdf.words)


@dataclass
class FigureRegion:
    caption: Caption
    page: int  # 0-based page of the graphics
    bbox: Rect4 | None
    graphics: list[Graphic]
    placement: str  # "above", "below", "beside", "previous_page", "none"
    text_lines: list[Line] = field(default_factory=list)  # PDF text inside the figure
    keep_out: list[Rect4] = field(default_factory=list)  # caption lines next to the figure (not rendered)
    supplementary: bool = False  # the caption describes a supplementary file (no graphics looked for)

    @property
    def kind(self) -> str:
        kinds = {g.kind for g in self.graphics}
        if not kinds:
            return "caption_only"
        if kinds == {"image"}:
            return "raster"
        if kinds == {"vector"}:
            return "vector"
        if kinds == {"layout_model"}:
            return "layout_model"
        return "mixed"


_TEXT_FLAGS = None


def _text_flags() -> int:
    import pymupdf

    return pymupdf.TEXT_PRESERVE_WHITESPACE | pymupdf.TEXT_MEDIABOX_CLIP


def _is_bold(span: dict) -> bool:
    return bool(span.get("flags", 0) & 16) or bool(re.search(r"bold|black|heavy|semibold|-bd|\.b$|,b",
                                                             span.get("font", ""), re.IGNORECASE))


def page_model(page: Any, max_drawings: int = 20000) -> PageModel:
    """Read one PyMuPDF page into lines, blocks and graphics."""
    prect = tuple(page.rect)
    tp = page.get_textpage(flags=_text_flags())
    d = tp.extractDICT()
    # space-less PDFs: words from glyph gaps (medvl.pdf.words), only on pages that need it
    respaced = None
    texts = ["".join(s["text"] for s in ln.get("spans", []))
             for b in d.get("blocks", []) if b.get("type", 0) == 0 for ln in b.get("lines", [])]
    if any(looks_run_together(t) for t in texts):
        respaced = respaced_lines(tp)
        page_spaceless = spaceless_page(texts)
    inserted = 0
    blocks: list[Block] = []
    lines: list[Line] = []
    for bno, b in enumerate(d.get("blocks", [])):
        if b.get("type", 0) != 0:
            continue
        blines: list[Line] = []
        for lno, ln in enumerate(b.get("lines", [])):
            spans = ln.get("spans", [])
            if respaced is not None and (bno, lno) in respaced and needs_respace(
                    "".join(s["text"] for s in spans), page_spaceless):
                spans, n = respaced[(bno, lno)]
                inserted += n
            spans = repair_spans([s for s in spans if s.get("text", "")])
            text = "".join(s["text"] for s in spans)
            if not text.strip():
                continue
            sizes: Counter = Counter()
            fonts: Counter = Counter()
            for s in spans:
                n = len(s["text"].strip())
                sizes[round(s["size"], 1)] += n
                fonts[s["font"]] += n
            first = next((s for s in spans if s["text"].strip()), spans[0])
            line = Line(bbox=tuple(ln["bbox"]), text=text, size=sizes.most_common(1)[0][0],
                        bold=_is_bold(first), font=fonts.most_common(1)[0][0], block=len(blocks),
                        index_in_block=len(blines), first_span_bold=_is_bold(first), spans=spans,
                        dir=tuple(ln.get("dir", (1.0, 0.0))))
            blines.append(line)
        if blines:
            blk = Block(bbox=union_all([ln.bbox for ln in blines]), lines=blines, number=len(blocks))
            blocks.append(blk)
            lines.extend(blines)

    graphics: list[Graphic] = []
    page_area = r_area(prect)
    for info in page.get_image_info():
        bb = r_inter(tuple(info["bbox"]), prect)
        if bb is None:
            continue
        w, h = bb[2] - bb[0], bb[3] - bb[1]
        if w < 6 or h < 6 or r_area(bb) > 0.97 * page_area:
            continue  # specks and full-page backgrounds (scans are handled as one figure elsewhere)
        graphics.append(Graphic(bbox=bb, kind="image", xref=info.get("xref", 0) or 0))

    drawings = page.get_drawings() if max_drawings else []
    if len(drawings) > max_drawings:
        drawings = drawings[:max_drawings]
    rects: list[Rect4] = []
    for p in drawings:
        bb = r_inter(tuple(p["rect"]), r_expand(prect, 0))
        if bb is None:
            bb0 = tuple(p["rect"])
            # zero-width lines have an empty intersection; keep them when on the page
            if not (bb0[2] >= prect[0] and bb0[0] <= prect[2] and bb0[3] >= prect[1] and bb0[1] <= prect[3]):
                continue
            bb = bb0
        if r_area(bb) > 0.6 * page_area:
            continue  # page frames and backgrounds
        fill = p.get("fill")
        if p.get("type") == "f" and fill is not None and min(fill) > 0.97 and not p.get("color"):
            continue  # white boxes (knock-outs, invisible backgrounds)
        rects.append(bb)
    for cl in _cluster(rects, tol=4.0):
        w, h = cl[2] - cl[0], cl[3] - cl[1]
        if max(w, h) < 12:
            continue
        if min(w, h) < 2.5 and max(w, h) > 0:
            continue  # lone rules (header lines, table rules, footnote separators)
        graphics.append(Graphic(bbox=cl, kind="vector"))
    return PageModel(number=page.number, rect=prect, blocks=blocks, lines=lines, graphics=graphics,
                     respaced=inserted > 0)


def _cluster(rects: list[Rect4], tol: float) -> list[Rect4]:
    """Merge rectangles that touch within `tol` into their bounding boxes (transitively)."""
    if not rects:
        return []
    rects = sorted(rects, key=lambda r: (r[1], r[0]))
    clusters: list[Rect4] = []
    for r in rects:
        er = r_expand(r, tol)
        merged = True
        cur = r
        while merged:
            merged = False
            keep = []
            for c in clusters:
                if r_inter(r_expand(c, 0.01), r_expand(cur, tol)) is not None or r_inter(c, er) is not None:
                    cur = r_union(cur, c)
                    er = r_expand(cur, tol)
                    merged = True
                else:
                    keep.append(c)
            clusters = keep
        clusters.append(cur)
    return clusters


# ---------------------------------------------------------------- document-level statistics

def body_font_size(pages: list[PageModel]) -> float:
    sizes: Counter = Counter()
    for pm in pages:
        for ln in pm.lines:
            sizes[ln.size] += len(ln.text.strip())
    return sizes.most_common(1)[0][0] if sizes else 10.0


def mark_furniture(pages: list[PageModel]) -> None:
    """Running headers/footers: short blocks near the top/bottom edge repeating across pages."""
    if len(pages) < 3:
        for pm in pages:
            h = pm.rect[3] - pm.rect[1]
            for b in pm.blocks:
                if (b.bbox[3] < pm.rect[1] + 0.06 * h or b.bbox[1] > pm.rect[3] - 0.06 * h) and len(b.lines) <= 2:
                    pm.furniture.add(b.number)
        return
    keys: Counter = Counter()

    def key(pm: PageModel, b: Block) -> tuple:
        txt = re.sub(r"\d+", "#", normalize_ws(b.text))[:40]
        return (round(b.bbox[1] / 6), txt)

    for pm in pages:
        h = pm.rect[3] - pm.rect[1]
        # pages, not blocks: two captions worded alike side by side on one page are no running footer
        keys.update({key(pm, b) for b in pm.blocks
                     if b.bbox[3] < pm.rect[1] + 0.12 * h or b.bbox[1] > pm.rect[3] - 0.12 * h})
    need = max(2, int(0.3 * len(pages)))
    # graphics repeated at the same place on many pages: header bands, logos, rules
    gkeys: Counter = Counter()

    def gkey(g: Graphic) -> tuple:
        return (g.kind,) + tuple(round(v / 3) for v in g.bbox)

    for pm in pages:
        for k in {gkey(g) for g in pm.graphics}:
            gkeys[k] += 1
    for pm in pages:
        pm.graphics = [g for g in pm.graphics if gkeys[gkey(g)] < need]
    for pm in pages:
        h = pm.rect[3] - pm.rect[1]
        for b in pm.blocks:
            edge = b.bbox[3] < pm.rect[1] + 0.12 * h or b.bbox[1] > pm.rect[3] - 0.12 * h
            if not edge:
                continue
            if keys[key(pm, b)] >= need or (re.fullmatch(r"\s*\d{1,4}\s*", b.text) and len(b.lines) == 1):
                pm.furniture.add(b.number)


def is_prose(block: Block, body_size: float) -> bool:
    """Running text: several long lines, or one long line of sentence text in body size."""
    chars = sum(len(ln.text.strip()) for ln in block.lines)
    if not block.lines:
        return False
    horizontal = all(abs(ln.dir[1]) < 0.1 for ln in block.lines)
    if not horizontal:
        return False
    avg = chars / len(block.lines)
    words = len(block.text.split())
    if len(block.lines) >= 2 and avg >= 35 and words >= 12:
        return True
    if len(block.lines) == 1 and avg >= 60 and words >= 10 and abs(block.lines[0].size - body_size) < 0.6:
        return True
    return False


# ---------------------------------------------------------------- captions

def find_captions(pm: PageModel, body_size: float) -> list[Caption]:
    """Caption candidates on a page (scored; duplicates per label are resolved by the caller)."""
    caps: list[Caption] = []
    used: set[tuple[int, int]] = set()
    for blk in pm.blocks:
        if blk.number in pm.furniture:
            continue
        for i, ln in enumerate(blk.lines):
            if (blk.number, i) in used:
                continue
            if abs(ln.dir[1]) > 0.1:
                continue  # rotated text
            m = match_label(ln.text)
            if m is None or m.body_like:
                continue
            if not m.number and not (ln.first_span_bold or abs(ln.size - body_size) >= 0.5):
                continue  # an unnumbered "Figure." label is set apart from the body text
            prev = blk.lines[i - 1] if i > 0 else None
            starts_block = prev is None
            gap_break = prev is not None and (ln.bbox[1] - prev.bbox[3]) > 0.45 * max(1.0, ln.size)
            font_break = prev is not None and (prev.first_span_bold != ln.first_span_bold or
                                               abs(prev.size - ln.size) > 0.6)
            sentence_end = prev is not None and bool(re.search(r"[.!?:)\]]\s*$", prev.text))
            if not (starts_block or gap_break or font_break or (sentence_end and m.strong_sep and ln.first_span_bold)):
                continue
            if not gap_break and _running_text_before(prev, ln, blk, body_size):
                continue  # "... see" / "Figure 3. In Figure 3C ...": a reference set as a link
            # the label span itself: bold or different from the rest of the line
            label_bold = ln.first_span_bold
            score = 0.0
            score += 2.0 if m.strong_sep else 0.0
            score += 1.5 if label_bold else 0.0
            score += 1.0 if abs(ln.size - body_size) >= 0.5 else 0.0
            score += 0.5 if starts_block else 0.0
            rest = m.rest.strip()
            if not m.strong_sep and rest and not (rest[0].isupper() or rest[0] in "([" or starts_with_panel_letter(rest)):
                score -= 2.0
            if not m.strong_sep and not label_bold and abs(ln.size - body_size) < 0.5 and rest:
                # "Figure 2 The ..." in body font without separator: weak
                score -= 1.0
            if score < 1.0 and not (not rest and (label_bold or abs(ln.size - body_size) >= 0.5)):
                continue
            cap_lines = _caption_lines(pm, blk, i, body_size)
            text = join_lines([cl.text for cl in cap_lines])
            if panel_suffixed(m) and reference_only(caption_body(text)):
                continue  # "Fig. 4A." starting a line of body text: a panel reference, not a caption
            for cl in cap_lines:
                used.add((cl.block, cl.index_in_block))
            caps.append(Caption(page=pm.number, match=m, lines=cap_lines,
                                bbox=union_all([cl.bbox for cl in cap_lines]), text=text, score=score,
                                block=blk.number))
    return caps


def _running_text_before(prev: Line | None, ln: Line, blk: Block, body_size: float) -> bool:
    """The label line continues a sentence of body text: the line above in the same block is a
    full-width body-size line of the same size that does not end a sentence.  Some publishers set
    figure references as bold links, so a reference wrapped to the start of a line looks like a
    bold caption label there ("... for more details see" / "Figure 3. In Figure 3C, we ...")."""
    if prev is None or abs(ln.size - body_size) >= 0.5 or abs(prev.size - ln.size) > 0.3:
        return False
    if prev.bbox[3] > ln.bbox[1] + 0.5 * ln.size:
        return False  # not above the label: text printed over or beside it on the same line
    text = prev.text.strip()
    if len(text) < 40 or len(text.split()) < 6 or re.search(r"[.!?:;)\]]\s*$", text):
        return False
    width = blk.bbox[2] - blk.bbox[0]
    return (prev.bbox[2] - prev.bbox[0]) >= 0.8 * width and bool(re.search(r"[a-z,]$", text))


def _caption_lines(pm: PageModel, blk: Block, start: int, body_size: float) -> list[Line]:
    """The label line and the lines continuing the caption (same block, then adjacent blocks)."""
    first = blk.lines[start]
    out = [first]
    size = first.size
    anchor = first
    for ln in blk.lines[start + 1:]:
        if match_label(ln.text) is not None and (match_label(ln.text).strong_sep or ln.first_span_bold) and not (
                _MID_PHRASE_END_RE.search(out[-1].text)):
            break
        if len(out) == 1 and _text_beside_label(first, ln):
            out.append(ln)  # the label's own line, split in two; a small-caps label is smaller than its text
            size, anchor = ln.size, ln
            continue
        if abs(ln.size - size) > 1.2 and len(ln.text.strip()) > 3:
            break
        if ln.bbox[1] - out[-1].bbox[3] > 1.2 * size:
            break
        if ln.bbox[1] > out[-1].bbox[1] + 0.5 * size and x_overlap(ln.bbox, union_all([o.bbox for o in out])) <= 0:
            break  # a new line in another column: the block runs on into another caption or body text
        out.append(ln)
    # continue into following blocks of the same column when spacing and font match
    last_block = blk
    while True:
        nxt = _next_block_below(pm, last_block, out)
        if nxt is None:
            break
        lh = max(1.0, size)
        gap = nxt.bbox[1] - out[-1].bbox[3]
        nl = nxt.lines[0]
        same_size = abs(nl.size - size) <= 0.3
        distinct = abs(size - body_size) >= 0.5
        max_gap = 0.75 * lh if distinct else 0.35 * lh
        if not same_size or gap > max_gap or gap < -2:
            break
        if match_label(nl.text) is not None:
            break
        if nl.first_span_bold and not first.first_span_bold:
            break
        if abs(nxt.bbox[0] - anchor.bbox[0]) > 0.6 * lh * 3 and x_overlap(nxt.bbox, anchor.bbox) < 0.5 * (
                nxt.bbox[2] - nxt.bbox[0]):
            break
        for ln in nxt.lines:
            if abs(ln.size - size) > 1.2 and len(ln.text.strip()) > 3:
                break
            out.append(ln)
        last_block = nxt
    return out


# a line that stops inside a phrase ("... the full structure is given in" / "Figure S4. Colour code ..."):
# a label at the start of the next line is a reference that the sentence runs on into, not a caption
_MID_PHRASE_END_RE = re.compile(r"\b(?:in|see|of|and|or|to|from|with|as|the|by|than|for|on|at|vs\.?)\s*$")


def _text_beside_label(label: Line, ln: Line) -> bool:
    """`ln` continues a label that stands alone ("FIGURE 1.") on the same baseline, just right of it:
    the caption's text set apart from its label (a small-caps label, a hanging indent)."""
    if not reference_only(caption_body(label.text)) or match_label(ln.text) is not None or abs(ln.dir[1]) > 0.1:
        return False
    gap = ln.bbox[0] - label.bbox[2]
    if not -1.0 <= gap <= 3.0 * max(1.0, ln.size, label.size):
        return False
    if label.size > 1.5 * ln.size or ln.size > 2.0 * label.size:
        return False
    return abs(ln.bbox[3] - label.bbox[3]) <= 0.35 * max(ln.size, label.size)  # same baseline, roughly


def _next_block_below(pm: PageModel, blk: Block, lines: list[Line]) -> Block | None:
    last = lines[-1].bbox
    col = union_all([ln.bbox for ln in lines])
    best = None
    for b in pm.blocks:
        if b.number == blk.number or b.number in pm.furniture:
            continue
        if b.bbox[1] < last[3] - 2:
            continue
        if x_overlap(b.bbox, col) < 0.3 * min(b.bbox[2] - b.bbox[0], col[2] - col[0]):
            continue
        if best is None or b.bbox[1] < best.bbox[1]:
            best = b
    return best


def resolve_duplicates(caps: list[Caption], pages: list[PageModel]) -> tuple[list[Caption], list[Caption]]:
    """One caption per label key: keep the best-scored candidate (ties: near graphics, earlier).

    Returns (kept, dropped).  A "(continued)" caption on another page than the figure's first
    caption is kept too: the continued part is a figure of its own (same label).
    """
    by_key: dict[str, list[Caption]] = {}
    for c in caps:
        by_key.setdefault(c.key, []).append(c)
    kept, dropped = [], []
    for key, group in by_key.items():
        if len(group) == 1:
            kept.append(group[0])
            continue

        def rank(c: Caption) -> tuple:
            pm = pages[c.page]
            near = min((r_gap(g.bbox, c.bbox) for g in pm.graphics), default=1e9)
            return (-(c.score + (1.0 if near < 40 else 0.0) - (2.0 if c.match.continued else 0.0)), c.page,
                    c.bbox[1])

        group = sorted(group, key=rank)
        kept.append(group[0])
        for c in group[1:]:
            # "Figure 2 (continued)" on a later page is the rest of the figure: a figure of its own
            if c.match.continued and not group[0].match.continued and c.page != group[0].page:
                kept.append(c)
            else:
                dropped.append(c)
    kept.sort(key=lambda c: (c.page, c.bbox[1], c.bbox[0]))
    return kept, dropped


# ---------------------------------------------------------------- figure regions

def _barriers(pm: PageModel, body_size: float, captions: list[Caption]) -> list[Rect4]:
    cap_blocks = set()
    out: list[Rect4] = []
    for c in captions:
        if c.page == pm.number:
            out.append(c.bbox)
            cap_blocks.update(ln.block for ln in c.lines)
    for b in pm.blocks:
        if b.number in cap_blocks:
            continue
        if b.number in pm.furniture or is_prose(b, body_size):
            # prose that sits on top of an image (text inside a figure) is not a barrier
            if any(r_inter(b.bbox, g.bbox) and r_area(r_inter(b.bbox, g.bbox)) > 0.5 * r_area(b.bbox)
                   for g in pm.graphics):
                continue
            out.append(b.bbox)
        elif re.match(r"^\s*(Table|TABLE)\s+[0-9IVX]+", b.lines[0].text) and b.lines[0].size <= body_size + 3:
            out.append(b.bbox)
    return out


def _grow(seeds: list[Graphic], pool: list[Graphic], band: Rect4, tol: float,
          cap: Rect4 | None = None, others: list[Rect4] = ()) -> list[Graphic]:
    """Add graphics touching the group (within `tol`) inside the band.

    A graphic standing over another caption's column and not over this caption's column belongs
    to that other caption (two figures side by side in two columns).
    """
    group = list(seeds)
    ids = {id(g) for g in group}
    changed = True
    while changed:
        changed = False
        u = union_all([g.bbox for g in group])
        for g in pool:
            if id(g) in ids:
                continue
            if cap is not None and x_overlap(g.bbox, cap) <= 0 and any(
                    x_overlap(g.bbox, o) > 0.5 * min(g.bbox[2] - g.bbox[0], o[2] - o[0]) for o in others):
                continue
            inside_band = r_inter(g.bbox, band) is not None and r_area(r_inter(g.bbox, band)) >= 0.6 * r_area(g.bbox)
            if inside_band and r_gap(g.bbox, u) <= tol:
                group.append(g)
                ids.add(id(g))
                changed = True
    return group


def _search(pm: PageModel, cap: Caption, direction: str, barriers: list[Rect4], free: list[Graphic],
            col: Rect4, all_caps: list[Caption] | None = None) -> tuple[list[Graphic], Rect4] | None:
    """Graphics in the band on one side of a caption, bounded by the nearest barrier."""
    px0, py0, px1, py1 = pm.rect
    cb = cap.bbox
    if direction == "above":
        limit = py0
        for b in barriers:
            if b == cb:
                continue
            if b[3] <= cb[1] + 1 and x_overlap(b, col) > 0.25 * min(b[2] - b[0], col[2] - col[0]):
                limit = max(limit, b[3])
        band = (px0, limit - 1, px1, cb[1] + 2)
    elif direction == "below":
        limit = py1
        for b in barriers:
            if b == cb:
                continue
            if b[1] >= cb[3] - 1 and x_overlap(b, col) > 0.25 * min(b[2] - b[0], col[2] - col[0]):
                limit = min(limit, b[1])
        band = (px0, cb[3] - 2, px1, limit + 1)
    else:  # beside: graphics left or right of the caption, overlapping it vertically
        cands = [g for g in free if y_overlap(g.bbox, cb) > 0.3 * min(cb[3] - cb[1], g.bbox[3] - g.bbox[1])
                 and x_overlap(g.bbox, cb) < 2]
        if not cands:
            return None
        g0 = min(cands, key=lambda g: r_gap(g.bbox, cb))
        if r_gap(g0.bbox, cb) > 0.25 * (px1 - px0):
            return None
        band = (px0, py0, px1, py1)
        for b in barriers:
            if b != cb and y_overlap(b, g0.bbox) > 0 and x_overlap(b, g0.bbox) > 0:
                return None
        group = _grow([g0], [g for g in free if x_overlap(g.bbox, cb) < 2], band, tol=12)
        return group, band
    seeds = [g for g in free
             if r_inter(g.bbox, band) is not None and r_area(r_inter(g.bbox, band)) >= 0.6 * r_area(g.bbox)
             and x_overlap(g.bbox, col) > 0]
    if not seeds:
        return None
    others = [c.bbox for c in all_caps if c.page == pm.number and c.bbox != cb] if all_caps else []
    group = _grow(seeds, free, band, tol=24, cap=col, others=others)
    return group, band


def _near(group: list[Graphic], cap: Caption, direction: str) -> float:
    u = union_all([g.bbox for g in group])
    if direction == "above":
        return cap.bbox[1] - u[3]
    if direction == "below":
        return u[1] - cap.bbox[3]
    return r_gap(u, cap.bbox)


def locate_figures(pages: list[PageModel], captions: list[Caption], body_size: float) -> list[FigureRegion]:
    """Assign graphics to captions and return one region per caption."""
    claimed: dict[int, set[int]] = {pm.number: set() for pm in pages}
    barriers = {pm.number: _barriers(pm, body_size, captions) for pm in pages}
    regions: dict[int, FigureRegion] = {}

    def free(pm: PageModel) -> list[Graphic]:
        return [g for i, g in enumerate(pm.graphics) if i not in claimed[pm.number]]

    def claim(pm: PageModel, group: list[Graphic]) -> None:
        ids = {id(g) for g in group}
        for i, g in enumerate(pm.graphics):
            if id(g) in ids:
                claimed[pm.number].add(i)

    # supplementary-file descriptions (a list of additional files) get no graphics
    for ci, c in enumerate(captions):
        if supplementary_description(pages[c.page], c):
            regions[ci] = FigureRegion(caption=c, page=c.page, bbox=None, graphics=[], placement="none",
                                       supplementary=True)

    # document preference: is the nearest graphics usually above or below captions?
    votes = Counter()
    for ci, c in enumerate(captions):
        if ci in regions:
            continue
        pm = pages[c.page]
        col = c.bbox
        a = _search(pm, c, "above", barriers[pm.number], pm.graphics, col)
        b = _search(pm, c, "below", barriers[pm.number], pm.graphics, col)
        da = _near(a[0], c, "above") if a else 1e9
        db = _near(b[0], c, "below") if b else 1e9
        if min(da, db) < 1e9:
            votes["above" if da <= db else "below"] += 1
    order = ["above", "below"] if votes["above"] >= votes["below"] else ["below", "above"]

    for pass_dirs in (order[:1], order[1:], ["beside"]):
        for ci, c in enumerate(captions):
            if ci in regions:
                continue
            pm = pages[c.page]
            col = c.bbox
            for direction in pass_dirs:
                res = _search(pm, c, direction, barriers[pm.number], free(pm), col, captions)
                if res is None:
                    continue
                group, band = res
                if direction in ("above", "below") and _near(group, c, direction) > 0.5 * (pm.rect[3] - pm.rect[1]):
                    continue
                claim(pm, group)
                regions[ci] = FigureRegion(caption=c, page=pm.number, bbox=None, graphics=group,
                                           placement=direction)
                break
    # caption at the top of a page whose figure is on the previous page
    for ci, c in enumerate(captions):
        if ci in regions:
            continue
        region = None
        if c.page > 0:
            prev = pages[c.page - 1]
            fr = [g for g in free(prev) if r_area(g.bbox) > 0.04 * r_area(prev.rect)]
            if fr:
                g0 = max(fr, key=lambda g: (g.bbox[3], r_area(g.bbox)))
                group = _grow([g0], free(prev), prev.rect, tol=24)
                claim(prev, group)
                region = FigureRegion(caption=c, page=prev.number, bbox=None, graphics=group,
                                      placement="previous_page")
        regions[ci] = region or FigureRegion(caption=c, page=c.page, bbox=None, graphics=[], placement="none")

    out = []
    for ci in range(len(captions)):
        r = regions[ci]
        if r.graphics:
            pm = pages[r.page]
            r.bbox, r.text_lines = _with_text(pm, r, barriers[pm.number], body_size)
            r.bbox = _clip_off_caption(r.bbox, r)
            cap_lines = [ln.bbox for c in captions if c.page == r.page for ln in c.lines]
            r.bbox = _trim_caption_lines(r.bbox, cap_lines)
            r.keep_out = [b for b in cap_lines if r_gap(b, r.bbox) < 12]
            r.text_lines = [ln for ln in r.text_lines if r_inter(ln.bbox, r.bbox) is not None]
        out.append(r)
    return out


def supplementary_description(pm: PageModel, c: Caption) -> bool:
    """A caption that describes a supplementary file, not a figure of this PDF: an "Additional
    file N" label or a file-type mark ("(TIF)", "(PDF 120 kb)"), or a supplementary label
    ("Figure S1") under a "Supporting Information" / "Additional files" heading of its column."""
    if supplementary_file(c.match.label, c.text):
        return True
    if not c.match.number.upper().startswith("S"):
        return False
    for ln in pm.lines:
        if ln.bbox[3] <= c.bbox[1] + 1 and x_overlap(ln.bbox, c.bbox) > 0 and SUPP_HEADING_RE.match(ln.text):
            # no graphics between the heading and the caption
            between = (min(ln.bbox[0], c.bbox[0]), ln.bbox[3], max(ln.bbox[2], c.bbox[2]), c.bbox[1])
            if not any(r_inter(g.bbox, between) for g in pm.graphics):
                return True
    return False


def _trim_caption_lines(box: Rect4, cap_lines: list[Rect4]) -> Rect4:
    """No caption line inside a figure crop: a caption line (of this or another caption on the
    page) overlapping the box cuts it back on that line's side (a first caption line printed across
    the bottom of the image, a caption set tight against the figure).  A line that would leave
    less than half of the box is ignored (it lies across the middle: not a caption edge)."""
    x0, y0, x1, y1 = box
    h, w = y1 - y0, x1 - x0
    for lb in sorted(cap_lines, key=lambda b: b[1]):
        if r_inter(lb, (x0, y0, x1, y1)) is None:
            continue
        cy = (lb[1] + lb[3]) / 2
        if cy >= (y0 + y1) / 2 and lb[1] - 0.5 - y0 >= 0.5 * h:
            y1 = lb[1] - 0.5
        elif cy < (y0 + y1) / 2 and y1 - (lb[3] + 0.5) >= 0.5 * h:
            y0 = lb[3] + 0.5
        elif lb[0] >= (x0 + x1) / 2 and lb[0] - 0.5 - x0 >= 0.5 * w:
            x1 = lb[0] - 0.5
        elif lb[2] <= (x0 + x1) / 2 and x1 - (lb[2] + 0.5) >= 0.5 * w:
            x0 = lb[2] + 0.5
    return (x0, y0, x1, y1)


def _with_text(pm: PageModel, r: FigureRegion, barriers: list[Rect4], body_size: float
               ) -> tuple[Rect4, list[Line]]:
    """Extend the graphics box by the figure's own text (axis labels, panel letters, legends)."""
    u = union_all([g.bbox for g in r.graphics])
    cap_keys = {(ln.block, ln.index_in_block) for ln in r.caption.lines} if r.caption.page == pm.number else set()
    prose_blocks = {b.number for b in pm.blocks if is_prose(b, body_size) or b.number in pm.furniture}
    inside: list[Line] = []
    changed = True
    box = u
    taken: set[tuple[int, int]] = set()
    while changed:
        changed = False
        for ln in pm.lines:
            k = (ln.block, ln.index_in_block)
            if k in taken or k in cap_keys:
                continue
            lb = ln.bbox
            if r_inter(lb, box) is not None and r_area(r_inter(lb, box)) >= 0.5 * r_area(lb):
                taken.add(k)
                inside.append(ln)
                continue
            if ln.block in prose_blocks:
                continue
            near = r_gap(lb, box) <= max(6.0, 1.2 * ln.size)
            short = len(ln.text.strip()) <= 60
            crosses_barrier = any(r_inter(lb, b) for b in barriers)
            if near and short and not crosses_barrier and r.placement != "previous_page" or (
                    near and short and r.placement == "previous_page" and not crosses_barrier):
                # do not grow into the caption
                if r.caption.page == pm.number and r_inter(r_expand(lb, 1), r.caption.bbox):
                    continue
                taken.add(k)
                inside.append(ln)
                box = r_union(box, lb)
                changed = True
    box = r_inter(box, pm.rect) or box
    return box, inside


# ---------------------------------------------------------------- rendering

def render_region(page: Any, bbox: Rect4, dpi: int, max_side: int = 4096, margin: float = 2.0,
                  keep_out: list[Rect4] | None = None) -> tuple[Any, Rect4, float]:
    """Render a page region to an RGB pixmap; the scale is reduced so no side exceeds `max_side` pixels.

    The margin around ``bbox`` stops short of the ``keep_out`` rectangles (caption lines set tight
    against the figure).  Returns (pixmap, clip rectangle in points, zoom): pixel = (point - clip
    origin) * zoom.
    """
    import pymupdf

    x0, y0, x1, y1 = bbox[0] - margin, bbox[1] - margin, bbox[2] + margin, bbox[3] + margin
    stops: list[tuple[int, float]] = []  # (edge index, keep-out edge the crop must stay clear of)
    for ko in keep_out or []:
        if r_inter(ko, bbox) is not None:
            continue
        # a line just outside the margin still matters: the pixmap rounds the clip outwards (up to a
        # pixel, 4 pt at the lowest dpi allowed)
        if r_inter(ko, r_expand((x0, y0, x1, y1), 4.0)) is None:
            continue
        hit = r_inter(ko, (x0, y0, x1, y1)) is not None
        if ko[1] >= bbox[3]:
            y1 = min(y1, ko[1]) if hit else y1
            stops.append((3, ko[1]))
        elif ko[3] <= bbox[1]:
            y0 = max(y0, ko[3]) if hit else y0
            stops.append((1, ko[3]))
        elif ko[0] >= bbox[2]:
            x1 = min(x1, ko[0]) if hit else x1
            stops.append((2, ko[0]))
        elif ko[2] <= bbox[0]:
            x0 = max(x0, ko[2]) if hit else x0
            stops.append((0, ko[2]))
    r = pymupdf.Rect(x0, y0, x1, y1) & page.rect
    zoom = dpi / 72.0
    side = max(r.width, r.height) * zoom
    if side > max_side:
        zoom = (max_side - 1.5) / max(r.width, r.height)  # pixmaps round outwards
    zoom = max(zoom, 0.05)
    if stops:
        r = _clear_of_stops(r, stops, zoom)
    pix = page.get_pixmap(matrix=pymupdf.Matrix(zoom, zoom), clip=r, alpha=False, colorspace=pymupdf.csRGB)
    return pix, (r.x0, r.y0, r.x1, r.y1), zoom


# glyph ink may start a little outside its line's box (anti-aliasing: up to 0.05 pt measured)
_INK_PAD = 0.1


def _clear_of_stops(r: Any, stops: list[tuple[int, float]], zoom: float) -> Any:
    """The clip with each edge that a keep-out line bounds moved in to the last whole pixel before
    that line.  A pixmap covers whole pixels of the page's pixel grid (the clip rounded outwards), so
    a clip ending exactly at a caption line's top still renders the pixel row holding the top of
    its letters (PMC4219006 Figure 4: 0.3 pt of the caption's first line at 150 dpi)."""
    import math

    e = [r.x0, r.y0, r.x1, r.y1]
    for edge, at in stops:
        if edge in (2, 3):  # right / bottom edge: the last pixel boundary at or before the line
            if math.ceil(e[edge] * zoom - 1e-3) / zoom <= at - _INK_PAD:
                continue  # the last pixel already ends before the line
            v = math.floor((at - _INK_PAD) * zoom + 1e-3) / zoom
            if v > e[edge - 2]:
                e[edge] = min(e[edge], v)
        else:  # left / top edge: the first pixel boundary at or after the line
            if math.floor(e[edge] * zoom + 1e-3) / zoom >= at + _INK_PAD:
                continue
            v = math.ceil((at + _INK_PAD) * zoom - 1e-3) / zoom
            if v < e[edge + 2]:
                e[edge] = max(e[edge], v)
    return type(r)(*e)


def median(xs: list[float], default: float = 0.0) -> float:
    return statistics.median(xs) if xs else default


def analyse_document(doc: Any, deadline: float | None = None) -> tuple[list[PageModel], list[FigureRegion], list[Caption], float]:
    """Page models, figure regions (one per kept caption), dropped duplicate captions, body font size."""
    import time

    pages = []
    for page in doc:
        if deadline is not None and time.monotonic() > deadline:
            raise TimeoutError(f"time limit reached at page {page.number + 1}")
        pages.append(page_model(page))
    mark_furniture(pages)
    body = body_font_size(pages)
    caps: list[Caption] = []
    for pm in pages:
        caps.extend(find_captions(pm, body))
    vocab = document_vocab(pages)
    for c in caps:
        texts = [ln.text for ln in c.lines]
        cont = _continued_caption(pages, c, body)
        if cont is not None:
            texts[-1] = _CONT_MARK_RE.sub("", texts[-1])
            texts = [t for t in texts if t.strip()] + cont
        c.text, c.supplements = split_supplement_list(join_lines(texts, vocab=vocab))
    kept, dropped = resolve_duplicates(caps, pages)
    regions = locate_figures(pages, kept, body)
    return pages, regions, dropped, body


# "Figure 7 continued on next page" closing a caption that runs on over the page break
_CONT_MARK_RE = re.compile(r"\s*[(\[]?\s*(?:Figure|Fig\.?|Scheme)\s*[\w.-]{1,8}\s+(?:is\s+)?continued\s+on\s+"
                           r"(?:the\s+)?(?:next|following)\s+page\s*[)\]]?\.?\s*$", re.IGNORECASE)


def _continued_caption(pages: list[PageModel], c: Caption, body_size: float) -> list[str] | None:
    """The rest of a caption whose last line says it continues on the next page: the lines after
    the "Figure 7 continued" line that opens the caption's continuation there (None when the
    caption has no such mark or the next page has no such line)."""
    if not c.lines or c.page + 1 >= len(pages):
        return None
    if not _CONT_MARK_RE.search(c.lines[-1].text):
        # the mark may also stand apart, as the next line below the caption in its column
        below = [ln for ln in pages[c.page].lines if ln.bbox[1] >= c.bbox[3] - 1 and x_overlap(ln.bbox, c.bbox) > 0]
        nxt = min(below, key=lambda ln: ln.bbox[1], default=None)
        if nxt is None or not _CONT_MARK_RE.fullmatch(nxt.text.strip()):
            return None
    pm = pages[c.page + 1]
    head = re.compile(rf"^\s*(?:Figure|Fig\.?|Scheme)\s*{re.escape(c.match.number)}\s*[(\[]?\s*"
                      r"(?:continued|cont'd|cont\.)\s*[)\]]?\s*[:.|]?\s*(?P<rest>.*)$", re.IGNORECASE | re.DOTALL)
    blocks = sorted((b for b in pm.blocks if b.number not in pm.furniture), key=lambda b: (b.bbox[1], b.bbox[0]))
    for blk in blocks:
        for i, ln in enumerate(blk.lines):
            hm = head.match(ln.text)
            if hm is None:
                continue
            out = [hm.group("rest")] if hm.group("rest").strip() else []
            col = (ln.bbox[0], 0.0, max(ln.bbox[2], ln.bbox[0] + c.bbox[2] - c.bbox[0]), 0.0)
            last = ln.bbox
            # the continued text: lines of the caption's size below the heading in its column
            # (the heading may stand a little further off than caption lines do)
            for ln2 in blk.lines[i + 1:]:
                if abs(ln2.size - ln.size) > 0.3:
                    return out
                out.append(ln2.text)
                last = ln2.bbox
            for b in blocks:
                if b is blk or b.bbox[1] < last[3] - 2 or x_overlap(b.bbox, col) < 0.5 * (b.bbox[2] - b.bbox[0]):
                    continue
                first = b.lines[0]
                lm = match_label(first.text)
                if (b.bbox[1] - last[3] > 1.5 * ln.size or abs(first.size - ln.size) > 0.3
                        or (lm is not None and lm.number)):
                    break
                for ln2 in b.lines:
                    if abs(ln2.size - ln.size) > 0.3:
                        break
                    out.append(ln2.text)
                    last = ln2.bbox
            return out
    return None


def document_vocab(pages: list[PageModel]) -> set[str]:
    """Lower-case words of the document (hyphenated compounds included) for hyphenation repair."""
    vocab: set[str] = set()
    for pm in pages:
        for ln in pm.lines:
            for w in ln.text.split():
                w = w.strip(".,;:()[]{}\"'").lower()
                if w:
                    vocab.add(w)
    return vocab


def _clip_off_caption(box: Rect4, r: FigureRegion) -> Rect4:
    """A background box drawn behind figure and caption must not pull the caption into the image."""
    if r.page != r.caption.page:
        return box
    cb = r.caption.bbox
    if r_inter(box, cb) is None:
        return box
    x0, y0, x1, y1 = box
    if r.placement == "above" and cb[1] - 1 > y0 + 10:
        y1 = min(y1, cb[1] - 1)
    elif r.placement == "below" and cb[3] + 1 < y1 - 10:
        y0 = max(y0, cb[3] + 1)
    elif r.placement == "beside":
        if cb[0] >= (x0 + x1) / 2:
            x1 = min(x1, cb[0] - 1)
        else:
            x0 = max(x0, cb[2] + 1)
    return (x0, y0, x1, y1)
