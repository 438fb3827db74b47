"""Write a synthetic corpus: PDFs with compound figures, captions, body text, and the answers.

Layout of DIR (see README "Synthetic corpus")::

    DIR/papers/synth-0000.pdf ...      the papers
    DIR/papers/metadata.jsonl          one line per paper (paper_id, file, title, license)
    DIR/ground_truth.json              per paper, per figure: page, bbox, caption, subcaptions, panels

Everything is drawn from one numpy Generator per paper, seeded by (seed, paper index), so paper
i is the same whatever the number of papers, and the PDFs are byte-identical across runs (fixed
metadata dates, no random /ID).  Text is set in Helvetica (embedded, Unicode), ragged right,
never hyphenated, so captions extract verbatim.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from medvl.progress import ProgressFn, no_progress
from medvl.records import paper_id_from_hash, sha256_bytes
from medvl.synth import text as T
from medvl.synth.images import CLASSES, draw_scan
from medvl.versioning import stage_version

SYNTH_VERSION = stage_version("synth")  # derived from the generator code (medvl/versioning.py)
DEFAULT_DPI = 150
PAGE_W, PAGE_H = 612.0, 792.0
MARGIN_X, TOP, BOTTOM = 54.0, 64.0, 740.0
COL_GAP = 18.0
FIXED_DATE = "D:20240101000000Z"
LETTER_STYLES = ("A", "(A)", "A)", "A.", "a", "(a)", "a)")
CORNERS = ("tl", "tl", "tl", "tr", "bl", "br")


def _fonts():
    import pymupdf

    return {"regular": pymupdf.Font("helv"), "bold": pymupdf.Font("hebo")}


# ---------------------------------------------------------------- figure specification

@dataclass
class FigSpec:
    number: int
    label_word: str  # "Figure" or "Fig."
    rows: list[list[int]]  # panel indices per row, reading order
    classes: list[str]
    infos: list[dict[str, Any]]
    caption: T.Caption
    letter_source: str  # pdf_text | pixels | none
    letter_style: str
    corner: str
    bold: bool
    full_width: bool
    width_frac: float
    aspect: float
    gutter: int
    margin: int
    seed: int
    placed: dict[str, Any] = field(default_factory=dict)
    background: str = "drawn"  # the scans' parenchyma: drawn, or a real MNI152 slice (images.draw_scan)

    @property
    def n(self) -> int:
        return len(self.classes)

    @property
    def label(self) -> str:
        return f"{self.label_word} {self.number}"

    @property
    def caption_text(self) -> str:
        return f"{self.label}. {self.caption.text}"


def _layout(n: int, rng: np.random.Generator) -> tuple[list[list[int]], str]:
    idx = list(range(n))
    options: list[list[int]]
    if n == 1:
        options = [[1]]
    elif n == 2:
        options = [[2], [1, 1]]
    elif n == 3:
        options = [[3], [3], [2, 1]]
    elif n == 4:
        options = [[2, 2], [2, 2], [4]]
    elif n == 5:
        options = [[3, 2], [2, 3]]
    else:
        options = [[3, 3], [2, 2, 2]]
    shape = T.choice(rng, options)
    rows, k = [], 0
    for c in shape:
        rows.append(idx[k:k + c])
        k += c
    orientation = "row" if len(rows) == 1 else ("column" if all(len(r) == 1 for r in rows) else "grid")
    return rows, orientation


def plan_figure(number: int, rng: np.random.Generator, two_col: bool) -> FigSpec:
    """Choose panels, classes, caption style and letter style of one figure."""
    n = int(T.choice(rng, [1, 1, 2, 2, 3, 3, 4, 4, 5, 6]))
    rows, orientation = _layout(n, rng)
    if n == 1:
        style = "single"
    elif n == 2 and orientation in ("row", "column") and rng.random() < 0.35:
        style = "positional"
    else:
        pool = ["prefix_paren", "prefix_paren", "prefix_comma", "postfix"]
        if n >= 3:
            pool += ["range"]
        if n >= 3:
            pool += ["combined"]
        style = T.choice(rng, pool)

    classes = [T.choice(rng, CLASSES) for _ in range(n)]
    items: list[T.Item] = []
    group: list[int] = []
    if style == "range":
        k = int(rng.integers(2, n + 1))
        s = int(rng.integers(0, n - k + 1))
        group = list(range(s, s + k))
    elif style == "combined":
        i = int(rng.integers(0, n - 2))
        j = int(rng.integers(i + 2, n))
        group = [i, j]
    if group:
        gcls = T.choice(rng, CLASSES)
        for g in group:
            classes[g] = gcls
        # the other panels get other classes, so the group is the only one of its kind
        for p in range(n):
            if p not in group and classes[p] == gcls:
                classes[p] = CLASSES[(CLASSES.index(gcls) + 1 + p) % len(CLASSES)]

    scan_seed = int(rng.integers(0, 2**31 - 1))
    srng = np.random.default_rng(scan_seed)
    infos = []
    for c in classes:
        # probe the scan's random placement so the caption can name it; the image is redrawn
        # from the same per-panel seed in render_figure
        pseed = int(srng.integers(0, 2**31 - 1))
        _, info = draw_scan(c, 48, 48, np.random.default_rng(pseed))
        info["seed"] = pseed
        infos.append(info)

    if group:
        kind = "range" if style == "range" else "combined"
        done = False
        for p in range(n):
            if p in group:
                if not done:
                    items.append(T.Item(group, T.group_desc(classes[p], len(group), rng), kind))
                    done = True
            else:
                items.append(T.Item([p], T.panel_desc(classes[p], infos[p], rng)))
    else:
        items = [T.Item([p], T.panel_desc(classes[p], infos[p], rng)) for p in range(n)]

    letter_case = "lower" if rng.random() < 0.35 else "upper"
    cap = T.build_caption(style, classes, infos, items, rng, orientation="row" if orientation == "row" else "column",
                          letter_case=letter_case)
    if style in ("single", "positional"):
        letter_source = "none"
    else:
        letter_source = T.choice(rng, ["pdf_text", "pdf_text", "pixels", "pixels", "none"])
    lstyles = [s for s in LETTER_STYLES if (s.lower() == s) == (letter_case == "lower")]
    return FigSpec(
        number=number,
        label_word="Figure" if rng.random() < 0.8 else "Fig.",
        rows=rows, classes=classes, infos=infos, caption=cap,
        letter_source=letter_source, letter_style=T.choice(rng, lstyles), corner=T.choice(rng, CORNERS),
        bold=bool(rng.random() < 0.6),
        full_width=bool(two_col and max(len(r) for r in rows) >= 3 and rng.random() < 0.6),
        width_frac=float(rng.uniform(0.75, 1.0)) if n > 1 else float(rng.uniform(0.5, 0.8)),
        aspect=float(rng.uniform(0.85, 1.15)),
        gutter=int(rng.integers(5, 14)),
        margin=int(T.choice(rng, [0, 0, 3, 6])),
        seed=scan_seed,
    )


def _fmt_letter(style: str, i: int) -> str:
    ch = chr(ord("A") + i)
    if any(c.islower() for c in style):
        ch = ch.lower()
    return style.replace("A", ch).replace("a", ch)


def figure_geometry(spec: FigSpec, width_pt: float, max_h_pt: float, dpi: int) -> tuple[int, int, list[list[int]]]:
    """Size of the figure image and its panel boxes, without drawing: (width px, height px, boxes px)."""
    ncols = max(len(r) for r in spec.rows)
    nrows = len(spec.rows)
    g, m = spec.gutter, spec.margin
    W = int(round(width_pt * dpi / 72))
    pw = (W - 2 * m - (ncols - 1) * g) // ncols
    ph = int(pw * spec.aspect)
    max_h = int(max_h_pt * dpi / 72)
    if 2 * m + nrows * ph + (nrows - 1) * g > max_h:
        ph = (max_h - 2 * m - (nrows - 1) * g) // nrows
        pw = min(pw, int(ph / spec.aspect))
    W = 2 * m + ncols * pw + (ncols - 1) * g
    H = 2 * m + nrows * ph + (nrows - 1) * g
    boxes: list[list[int]] = [[0, 0, 0, 0]] * spec.n
    for ri, row in enumerate(spec.rows):
        y0 = m + ri * (ph + g)
        for ci, p in enumerate(row):
            x0 = m + ci * (pw + g)
            boxes[p] = [x0, y0, x0 + pw, y0 + ph]
    return W, H, boxes


def render_figure(spec: FigSpec, width_pt: float, max_h_pt: float, dpi: int) -> tuple[bytes, int, int, list[list[int]]]:
    """Draw the figure image.  Returns (8-bit grey pixels, width px, height px, panel boxes in px)."""
    from PIL import Image, ImageDraw, ImageFont

    W, H, boxes = figure_geometry(spec, width_pt, max_h_pt, dpi)
    pw, ph = boxes[0][2] - boxes[0][0], boxes[0][3] - boxes[0][1]
    canvas = np.full((H, W), 255, np.uint8)
    for p, (x0, y0, _, _) in enumerate(boxes):
        img, _ = draw_scan(spec.classes[p], ph, pw, np.random.default_rng(spec.infos[p]["seed"]),
                           background=spec.background)
        canvas[y0:y0 + ph, x0:x0 + pw] = img
    pil = Image.fromarray(canvas, mode="L")
    if spec.letter_source == "pixels":
        draw = ImageDraw.Draw(pil)
        size = int(max(12, min(30, 0.11 * min(pw, ph))))
        font = ImageFont.load_default(size=size)
        for p, (x0, y0, x1, y1) in enumerate(boxes):
            txt = _fmt_letter(spec.letter_style, p)
            l, t, r, b = draw.textbbox((0, 0), txt, font=font)
            tw, th = r - l, b - t
            pad = max(3, size // 5)
            tx = x0 + pad if spec.corner in ("tl", "bl") else x1 - pad - tw
            ty = y0 + pad if spec.corner in ("tl", "tr") else y1 - pad - th
            if spec.bold:  # a white box with black text
                draw.rectangle([tx - 2, ty - 2, tx + tw + 2, ty + th + 2], fill=255)
                draw.text((tx - l, ty - t), txt, fill=0, font=font)
            else:
                draw.text((tx - l, ty - t), txt, fill=255, font=font)
    return pil.tobytes(), W, H, boxes


# ---------------------------------------------------------------- page flow

class _LayoutPage:
    """A page of a layout-only flow (no PDF): just its number."""

    def __init__(self, number: int):
        self.number = number


class Flow:
    """Flows text lines and floating figures into 1 or 2 columns over as many pages as needed.

    With ``doc=None`` the flow only lays out (page numbers, boxes, caption lines): nothing is
    drawn or written, and the layout is the same as with a document.
    """

    def __init__(self, doc, ncols: int, dpi: int, rng: np.random.Generator, journal: str):
        self.doc, self.ncols, self.dpi, self.rng, self.journal = doc, ncols, dpi, rng, journal
        self.fonts = _fonts()
        self.body_size = 9.5 if ncols == 2 else 10.0
        self.lead = self.body_size * 1.3
        self.cap_size = 8.0 if ncols == 2 else 8.5
        if ncols == 1:
            self.cols = [(MARGIN_X, PAGE_W - MARGIN_X)]
        else:
            cw = (PAGE_W - 2 * MARGIN_X - COL_GAP) / 2
            self.cols = [(MARGIN_X, MARGIN_X + cw), (MARGIN_X + cw + COL_GAP, PAGE_W - MARGIN_X)]
        self.pending: list[FigSpec] = []
        self._renders: dict[tuple, tuple] = {}
        self._widths: dict[tuple[str, bool], float] = {}
        self.page = None
        self.writers: dict[tuple, Any] = {}
        self.pages: list[Any] = []
        self.new_page(first=True)

    # ---- text primitives
    def width(self, text: str, bold: bool, size: float) -> float:
        # sum of glyph advances (what Font.text_length computes, without its per-call overhead)
        font = self.fonts["bold" if bold else "regular"]
        total = 0.0
        for ch in text:
            adv = self._widths.get((ch, bold))
            if adv is None:
                adv = self._widths[(ch, bold)] = font.glyph_advance(ord(ch))
            total += adv
        return total * size

    def _tw(self, color: tuple[float, float, float] = (0, 0, 0)):
        import pymupdf

        key = (self.page.number, color)
        if key not in self.writers:
            self.writers[key] = pymupdf.TextWriter(self.page.rect, color=color)
        return self.writers[key]

    def put(self, x: float, y: float, text: str, bold: bool = False, size: float | None = None,
            color: tuple[float, float, float] = (0, 0, 0)) -> None:
        """Write `text` with its baseline at y."""
        if self.doc is None:
            return
        self._tw(color).append((x, y), text, font=self.fonts["bold" if bold else "regular"],
                               fontsize=size or self.body_size)

    def wrap(self, words: list[tuple[str, bool]], width: float, size: float) -> list[list[tuple[str, bool]]]:
        lines: list[list[tuple[str, bool]]] = []
        cur: list[tuple[str, bool]] = []
        cur_w = 0.0
        space = self.width(" ", False, size)
        for w, b in words:
            ww = self.width(w, b, size)
            if cur and cur_w + space + ww > width:
                lines.append(cur)
                cur, cur_w = [], 0.0
            cur_w += (space if cur else 0.0) + ww
            cur.append((w, b))
        if cur:
            lines.append(cur)
        return lines

    def put_line(self, x: float, y: float, line: list[tuple[str, bool]], size: float) -> None:
        # merge runs of the same weight; the space before a run belongs to the previous run
        runs: list[tuple[str, bool]] = []
        for i, (w, b) in enumerate(line):
            if runs and runs[-1][1] == b:
                runs[-1] = (runs[-1][0] + " " + w, b)
            else:
                if runs:
                    runs[-1] = (runs[-1][0] + " ", runs[-1][1])
                runs.append((w, b))
        for text, b in runs:
            self.put(x, y, text, bold=b, size=size)
            x += self.width(text, b, size)

    # ---- pages and columns
    def flush(self) -> None:
        for (pno, color), tw in self.writers.items():
            tw.write_text(self.doc[pno], color=color)
        self.writers = {}

    def new_page(self, first: bool = False) -> None:
        self.page = (_LayoutPage(len(self.pages)) if self.doc is None
                     else self.doc.new_page(width=PAGE_W, height=PAGE_H))
        self.pages.append(self.page)
        pno = self.page.number + 1
        self.put(MARGIN_X, 40, self.journal, size=7)
        self.put(PAGE_W / 2 - 3, 770, str(pno), size=8)
        self.col = 0
        self.top = TOP
        self.y = TOP
        if not first:
            self.place_pending(page_top=True)

    def next_column(self) -> None:
        if self.col + 1 < self.ncols:
            self.col += 1
            self.y = self.top
            self.place_pending(page_top=False)
        else:
            self.new_page()

    def ensure(self, h: float) -> None:
        while self.y + h > BOTTOM:
            self.next_column()

    @property
    def x0(self) -> float:
        return self.cols[self.col][0]

    @property
    def colw(self) -> float:
        return self.cols[self.col][1] - self.cols[self.col][0]

    # ---- blocks
    def full_width_text(self, text: str, bold: bool, size: float, lead: float, after: float) -> None:
        """Title, authors, abstract: across all columns at the top of the first page."""
        lines = self.wrap([(w, bold) for w in text.split()], PAGE_W - 2 * MARGIN_X, size)
        for ln in lines:
            self.put_line(MARGIN_X, self.y + size, ln, size)
            self.y += lead
        self.y += after
        self.top = self.y

    def paragraph(self, text: str, bold: bool = False, size: float | None = None, after: float = 5.0) -> None:
        size = size or self.body_size
        lead = size * 1.3
        for ln in self.wrap([(w, bold) for w in text.split()], self.colw, size):
            self.ensure(lead)
            self.put_line(self.x0, self.y + size, ln, size)
            self.y += lead
        self.y += after

    def heading(self, text: str) -> None:
        self.ensure(self.lead * 3)  # keep a heading with the next lines
        self.y += 4
        self.paragraph(text, bold=True, size=self.body_size + 1.5, after=2)

    # ---- figures
    def figure(self, spec: FigSpec) -> None:
        self.pending.append(spec)
        self.place_pending(page_top=False, allow_here=True)

    def _fig_geometry(self, spec: FigSpec, full: bool) -> tuple[float, float, float]:
        width = (PAGE_W - 2 * MARGIN_X) if full else self.colw
        return width, width * spec.width_frac, (BOTTOM - TOP) * (0.42 if full or self.ncols == 1 else 0.36)

    def _caption_lines(self, spec: FigSpec, width: float) -> list[list[tuple[str, bool]]]:
        label_words = f"{spec.label}.".split()
        words = [(w, True) for w in label_words] + [(w, False) for w in spec.caption.text.split()]
        return self.wrap(words, width, self.cap_size)

    def place_pending(self, page_top: bool, allow_here: bool = False) -> None:
        while self.pending:
            spec = self.pending[0]
            full = spec.full_width and self.ncols == 2
            if full and not (page_top and self.col == 0 and self.y == self.top):
                return  # full-width figures go to the top of a page
            area_w, fig_w, max_h = self._fig_geometry(spec, full)
            cap_lead = self.cap_size * 1.25
            cap_lines = self._caption_lines(spec, area_w)
            pixels, W, H, boxes = self._render(spec, fig_w, max_h)
            h_pt = H * 72 / self.dpi
            need = h_pt + 6 + len(cap_lines) * cap_lead + 12
            if self.y + need > BOTTOM:
                if self.y > self.top or self.top > TOP:
                    # text above it, or a column shortened by the title or by full-width figures:
                    # the figure waits for the next column or page, where it has the full height
                    return
                # an empty full-height column and still too tall (a long caption): scale it down
                max_h = BOTTOM - self.y - 6 - len(cap_lines) * cap_lead - 12
                if max_h < 36:
                    raise RuntimeError(f"figure {spec.number}: its caption alone is taller than a column")
                pixels, W, H, boxes = self._render(spec, fig_w, max_h)
            w_pt, h_pt = W * 72 / self.dpi, H * 72 / self.dpi
            self._draw_figure(spec, full, area_w, pixels, W, H, boxes, w_pt, h_pt, cap_lines, cap_lead)
            self.pending.pop(0)
            if full:
                self.top = self.y

    def _render(self, spec: FigSpec, fig_w: float, max_h: float) -> tuple[bytes | None, int, int, list[list[int]]]:
        key = (spec.number, round(fig_w, 3), round(max_h, 3))
        if key not in self._renders:  # a figure that must wait is not drawn twice
            if self.doc is None:
                self._renders[key] = (None, *figure_geometry(spec, fig_w, max_h, self.dpi))
            else:
                self._renders[key] = render_figure(spec, fig_w, max_h, self.dpi)
        return self._renders[key]

    def _draw_figure(self, spec, full, area_w, pixels, W, H, boxes, w_pt, h_pt, cap_lines, cap_lead) -> None:
        import pymupdf

        ax0 = MARGIN_X if full else self.x0
        fx0 = ax0 + (area_w - w_pt) / 2
        fy0 = self.y + 2
        rect = pymupdf.Rect(fx0, fy0, fx0 + w_pt, fy0 + h_pt)
        # raw grey pixels straight into the PDF (no PNG round trip); stored Flate-compressed
        if self.doc is not None:
            self.page.insert_image(rect, pixmap=pymupdf.Pixmap(pymupdf.csGRAY, W, H, pixels, False))
        s = 72 / self.dpi
        panels = []
        for p, (x0, y0, x1, y1) in enumerate(boxes):
            panels.append({"bbox_pt": [round(fx0 + x0 * s, 3), round(fy0 + y0 * s, 3),
                                       round(fx0 + x1 * s, 3), round(fy0 + y1 * s, 3)],
                           "bbox_px": [x0, y0, x1, y1]})
        if spec.letter_source == "pdf_text":
            size = float(np.clip(0.1 * min(boxes[0][2] - boxes[0][0], boxes[0][3] - boxes[0][1]) * s, 7, 12))
            for p, pan in enumerate(panels):
                x0, y0, x1, y1 = pan["bbox_pt"]
                txt = _fmt_letter(spec.letter_style, p)
                tw = self.width(txt, spec.bold, size)
                tx = x0 + 3 if spec.corner in ("tl", "bl") else x1 - 3 - tw
                ty = y0 + 3 + size * 0.8 if spec.corner in ("tl", "tr") else y1 - 4
                self.put(tx, ty, txt, bold=spec.bold, size=size, color=(1, 1, 1))
        cy = fy0 + h_pt + 6
        cap_top = cy
        for ln in cap_lines:
            self.put_line(ax0, cy + self.cap_size, ln, self.cap_size)
            cy += cap_lead
        self.y = cy + 12
        spec.placed = {"page": self.page.number + 1, "bbox": [round(v, 3) for v in (rect.x0, rect.y0, rect.x1, rect.y1)],
                       "caption_bbox": [round(ax0, 3), round(cap_top, 3), round(ax0 + area_w, 3), round(cy, 3)],
                       "width_px": W, "height_px": H, "panels": panels, "full_width": full}


# ---------------------------------------------------------------- papers

def _paper(index: int, seed: int, dpi: int, render: bool = True,
           background: str = "drawn") -> tuple[bytes, dict[str, Any]]:
    """Paper `index` of corpus `seed`: (PDF bytes, ground truth).  With render=False only the
    layout is computed (no images drawn, no PDF written; the bytes are empty) and the ground
    truth is the same as the rendered paper's."""
    import pymupdf

    rng = np.random.default_rng([seed, index])
    v = T.vocab()
    ncols = 2 if rng.random() < 0.5 else 1
    nfig = int(rng.integers(2, 5))
    specs = [plan_figure(i + 1, rng, ncols == 2) for i in range(nfig)]
    for sp in specs:
        sp.background = background
    present = sorted({c for s in specs for c in s.classes if c != "normal"}) or ["brain lesions"]
    a = T.choice(rng, present)
    b = T.choice(rng, [c for c in present if c != a] or ["normal findings"])
    title = T.choice(rng, v["paper_titles"]).format(a=a, b=b)
    title = title[0].upper() + title[1:]
    authors = ", ".join(f"{T.choice(rng, v['authors_first'])} {T.choice(rng, v['authors_last'])}"
                        for _ in range(int(rng.integers(2, 6))))
    journal = f"J Synth Neuroradiol {2015 + index % 10};{index + 1}:e{1000 + index} | synthetic data"

    doc = pymupdf.open() if render else None
    flow = Flow(doc, ncols, dpi, rng, journal)
    flow.full_width_text(title, True, 15, 19, 4)
    flow.full_width_text(authors, False, 10, 13, 8)
    flow.full_width_text("Abstract " + " ".join(T.sentences("abstract", 4, rng)), False, 9, 11.5, 12)
    flow.heading("1. Introduction")
    for _ in range(int(rng.integers(1, 3))):
        flow.paragraph(" ".join(T.sentences("introduction", int(rng.integers(3, 6)), rng)))
    flow.heading("2. Methods")
    for _ in range(int(rng.integers(1, 3))):
        flow.paragraph(" ".join(T.sentences("methods", int(rng.integers(3, 6)), rng)))
    flow.heading("3. Results")
    for spec in specs:
        body = T.sentences("results", int(rng.integers(1, 3)), rng)
        body.insert(int(rng.integers(0, len(body) + 1)), T.figure_ref_sentence(spec.number, spec.n, rng))
        flow.paragraph(" ".join(body))
        flow.figure(spec)
    flow.heading("4. Discussion")
    for _ in range(int(rng.integers(1, 3))):
        flow.paragraph(" ".join(T.sentences("discussion", int(rng.integers(3, 5)), rng)))
    flow.heading("References")
    for k in range(int(rng.integers(2, 5))):
        au = f"{T.choice(rng, v['authors_last'])} {T.choice(rng, v['authors_first']).rstrip('.')}"
        ref = T.choice(rng, v["references"]).format(au=au, year=int(rng.integers(2005, 2024)), vol=int(rng.integers(1, 60)),
                                                     p1=int(rng.integers(100, 400)), p2=int(rng.integers(401, 900)))
        flow.paragraph(f"{k + 1}. {ref}", size=flow.body_size - 1, after=2)
    while flow.pending:
        flow.next_column()
    if doc is None:
        data, npages = b"", len(flow.pages)
    else:
        flow.flush()
        doc.set_metadata({"title": title, "author": authors, "subject": "medvl synthetic corpus",
                          "creator": "medvl synth", "producer": "medvl synth", "keywords": "synthetic",
                          "creationDate": FIXED_DATE, "modDate": FIXED_DATE})
        doc.subset_fonts()
        data = doc.tobytes(garbage=3, deflate=True, compression_effort=30, no_new_id=True)
        npages = doc.page_count
        doc.close()

    figures = []
    for i, s in enumerate(specs):
        pl = s.placed
        panels = []
        for p in range(s.n):
            shown = s.letter_source != "none"
            panels.append({
                "index": p,
                "bbox_pt": pl["panels"][p]["bbox_pt"],
                "bbox_px": pl["panels"][p]["bbox_px"],
                "letter": chr(ord("A") + p) if shown else None,
                "letter_text": _fmt_letter(s.letter_style, p) if shown else None,
                "label": s.caption.panel_labels[p],
                "class": s.classes[p],
                "location": s.infos[p]["loc"],
            })
        figures.append({
            "index": i,
            "number": str(s.number),
            "label": s.label,
            "page": pl["page"],
            "bbox": pl["bbox"],
            "caption_bbox": pl["caption_bbox"],
            "caption": s.caption_text,
            "caption_style": s.caption.style,
            "full_width": pl["full_width"],
            "width_px": pl["width_px"],
            "height_px": pl["height_px"],
            "letter_source": s.letter_source,
            "letter_style": s.letter_style if s.letter_source != "none" else None,
            "letter_corner": s.corner if s.letter_source != "none" else None,
            "layout": [len(r) for r in s.rows],
            "subcaptions": s.caption.subcaptions,
            "panels": panels,
        })
    meta = {"title": title, "authors": authors, "columns": ncols, "pages": npages, "figures": figures}
    return data, meta


def generate_corpus(out_dir: str | Path, papers: int = 20, seed: int = 0, *, dpi: int = DEFAULT_DPI,
                    progress: ProgressFn = no_progress, background: str = "drawn") -> Path:
    """Write `papers` synthetic papers and DIR/ground_truth.json; return DIR.  background "mni" draws
    the lesions on real MNI152 T1 slices (medvl[real]) instead of the procedural parenchyma; the
    ground truth (classes, places, captions) is the same either way."""
    from medvl.runs import atomic_write_bytes, atomic_write_text, tool_versions, write_jsonl

    if papers < 1:
        raise ValueError("papers must be at least 1")
    out = Path(out_dir)
    pdir = out / "papers"
    pdir.mkdir(parents=True, exist_ok=True)
    progress(0, total=papers)
    gt_papers, meta_rows = [], []
    for i in range(papers):
        data, meta = _paper(i, seed, dpi, background=background)
        name = f"synth-{i:04d}.pdf"
        atomic_write_bytes(pdir / name, data)
        sha = sha256_bytes(data)
        pid = paper_id_from_hash(sha)
        gt_papers.append({"file": f"papers/{name}", "paper_id": pid, "sha256": sha, **meta})
        meta_rows.append({"paper_id": pid, "file": name, "title": meta["title"], "authors": meta["authors"],
                          "license": "CC0-1.0", "source": "medvl-synth", "pdf_sha256": sha})
        progress(1, note=name)
    write_jsonl(pdir / "metadata.jsonl", meta_rows)
    gt = {
        "generator": "medvl.synth",
        "version": SYNTH_VERSION,
        "seed": seed,
        "n_papers": papers,
        "dpi": dpi,
        "background": background,
        "classes": list(CLASSES),
        "tools": tool_versions(["pymupdf", "numpy", "pillow"]),
        "conventions": {
            "page": "1-based",
            "bbox": "PDF points [x0, y0, x1, y1], origin top-left of the page",
            "bbox_px": f"pixels of the figure image rendered at dpi={dpi}: (pt - figure.bbox[0:2]) * dpi / 72",
            "caption": "exactly as printed, lines joined by single spaces, starting with the label",
            "subcaptions": T.__doc__.split("Ground-truth subcaptions follow these conventions")[1].strip(),
            "letter": "letter shown on the panel (normalised uppercase) or null when none is shown",
            "label": "label the caption uses for the panel (letter, or left/right/top/bottom) or null",
        },
        "papers": gt_papers,
    }
    atomic_write_text(out / "ground_truth.json", json.dumps(gt, indent=1, ensure_ascii=False) + "\n")
    return out


def layout_paper(index: int, seed: int = 0, *, dpi: int = DEFAULT_DPI) -> dict[str, Any]:
    """The ground truth of paper `index` of corpus `seed` (pages, boxes, captions) without drawing
    or writing it: a fast check of the layout of many papers."""
    return _paper(index, seed, dpi, render=False)[1]


def load_ground_truth(corpus_dir: str | Path) -> dict[str, Any]:
    return json.loads((Path(corpus_dir) / "ground_truth.json").read_text(encoding="utf-8"))
