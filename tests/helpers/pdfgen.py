"""Tiny test PDFs built in code with PyMuPDF: raster and vector figures, captions, letters, layouts.

Every builder returns the path it wrote.  Body text is 10 pt Times, captions 8 pt Helvetica with a
bold label, so the fixtures look like ordinary papers without copying any real one.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

BODY = ("The cells were cultured for three days in standard medium and then fixed. Samples were "
        "stained and imaged with the same settings for every condition, and the images were "
        "analysed blind to the treatment group by two observers who agreed on every count. ")

W, H = 612, 792


def png(w: int, h: int, seed: int = 0, letter: str | None = None, letter_size: int = 40) -> bytes:
    """A textured colour PNG (optionally with a big letter drawn in its top-left corner)."""
    from PIL import Image, ImageDraw, ImageFont

    rng = np.random.default_rng(seed)
    base = rng.integers(40, 200, size=3)
    yy, xx = np.mgrid[0:h, 0:w]
    arr = np.zeros((h, w, 3), dtype=np.uint8)
    for c in range(3):
        arr[:, :, c] = (base[c] + 40 * np.sin(xx / (7 + c + seed)) + 30 * np.cos(yy / (5 + seed))).clip(0, 255)
    im = Image.fromarray(arr)
    if letter:
        d = ImageDraw.Draw(im)
        font = ImageFont.load_default(size=letter_size)
        d.rectangle([0, 0, letter_size + 6, letter_size + 10], fill="white")
        d.text((4, 0), letter, font=font, fill="black")
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    return buf.getvalue()


def _doc():
    import pymupdf

    return pymupdf.open()


def body(page, rect, text: str = BODY * 2, size: float = 10) -> None:
    import pymupdf

    page.insert_textbox(pymupdf.Rect(rect), text, fontsize=size, fontname="tiro")


def caption(page, x: float, y: float, label: str, lines: list[str], size: float = 8, width: float = 500) -> float:
    """Write a caption: bold label then the first line; returns the y below the last line."""
    import pymupdf

    lh = size * 1.25
    page.insert_text((x, y), label, fontsize=size, fontname="hebo")
    lw = pymupdf.get_text_length(label, fontname="hebo", fontsize=size)
    page.insert_text((x + lw + size * 0.3, y), lines[0], fontsize=size, fontname="helv")
    for i, line in enumerate(lines[1:], 1):
        page.insert_text((x, y + i * lh), line, fontsize=size, fontname="helv")
    return y + len(lines) * lh


def raster_2x2(path: Path, letters: tuple[str, ...] = ("A", "B", "C", "D"), caption_lines: list[str] | None = None,
               label: str = "Figure 1.") -> Path:
    """One page: body text, a figure of 4 placed images in a 2x2 grid with letters as PDF text, caption below."""
    doc = _doc()
    page = doc.new_page(width=W, height=H)
    body(page, (50, 50, 562, 150))
    x0, y0, cw, ch, gap = 120, 180, 170, 120, 16
    k = 0
    for r in range(2):
        for c in range(2):
            rx, ry = x0 + c * (cw + gap), y0 + r * (ch + gap)
            page.insert_image((rx, ry + 14, rx + cw, ry + 14 + ch), stream=png(200, 140, seed=k + 1))
            if letters:
                page.insert_text((rx, ry + 10), letters[k], fontsize=11, fontname="hebo")
            k += 1
    lines = caption_lines or ["Four views of the same sample. (A) Control. (B) Treated for one day.",
                              "(C) Treated for two days. (D) Treated for three days; scale bar 10 um."]
    yb = caption(page, 60, y0 + 2 * (ch + gap) + 30, label, lines)
    body(page, (50, yb + 14, 562, yb + 200))
    doc.save(path)
    return path


def vector_chart(path: Path, label: str = "Fig. 2.") -> Path:
    """A bar chart drawn with vector graphics (axes, bars, tick labels), caption below."""
    doc = _doc()
    page = doc.new_page(width=W, height=H)
    body(page, (50, 50, 562, 140))
    ox, oy = 150, 420
    page.draw_line((ox, oy), (ox + 300, oy), color=(0, 0, 0), width=1)
    page.draw_line((ox, oy), (ox, oy - 230), color=(0, 0, 0), width=1)
    for i, hgt in enumerate([120, 180, 90, 200, 150]):
        page.draw_rect((ox + 20 + i * 55, oy - hgt, ox + 55 + i * 55, oy), color=(0, 0, 0), fill=(0.2, 0.4, 0.8))
        page.insert_text((ox + 30 + i * 55, oy + 12), f"G{i + 1}", fontsize=7, fontname="helv")
    page.insert_text((ox + 120, oy + 26), "Group", fontsize=8, fontname="helv")
    yb = caption(page, 60, oy + 50, label, ["Expression in five groups (mean of three repeats)."])
    body(page, (50, yb + 14, 562, yb + 200))
    doc.save(path)
    return path


def single_image(path: Path, label: str = "Figure 1:") -> Path:
    """A figure that is one photo (no panels)."""
    doc = _doc()
    page = doc.new_page(width=W, height=H)
    body(page, (50, 50, 562, 150))
    page.insert_image((150, 180, 460, 400), stream=png(310, 220, seed=5))
    yb = caption(page, 60, 425, label, ["Chest radiograph at admission showing no abnormality."])
    body(page, (50, yb + 14, 562, yb + 200))
    doc.save(path)
    return path


def two_column(path: Path) -> Path:
    """Two columns, each with body text, a figure and its caption below; an in-text reference too."""
    doc = _doc()
    page = doc.new_page(width=W, height=H)
    colx = [(50, 296), (316, 562)]
    for ci, (a, b) in enumerate(colx):
        body(page, (a, 50, b, 170), text=("Figure %d shows the effect of the dose on growth. " % (ci + 1)) + BODY)
        page.insert_image((a + 10, 190, b - 10, 330), stream=png(220, 140, seed=10 + ci))
        yb = caption(page, a, 350, f"Figure {ci + 1}.", [f"Growth curve of strain {ci + 1} in",
                                                         "minimal medium at 37 degrees."], width=b - a)
        body(page, (a, yb + 14, b, 700))
    doc.save(path)
    return path


def caption_beside(path: Path) -> Path:
    """The caption sits to the right of the figure, in the same vertical band."""
    doc = _doc()
    page = doc.new_page(width=W, height=H)
    body(page, (50, 50, 562, 150))
    page.insert_image((50, 180, 330, 400), stream=png(280, 220, seed=7))
    caption(page, 350, 200, "Figure 3.", ["Histology of the lesion,", "stained with H&E at low",
                                          "magnification."])
    body(page, (50, 430, 562, 700))
    doc.save(path)
    return path


def caption_above(path: Path) -> Path:
    """Captions printed above their figures (two figures on the page)."""
    doc = _doc()
    page = doc.new_page(width=W, height=H)
    body(page, (50, 40, 562, 110))
    caption(page, 60, 130, "Figure 1.", ["Overview of the study design."])
    page.insert_image((150, 145, 460, 300), stream=png(300, 150, seed=8))
    body(page, (50, 320, 562, 400))
    caption(page, 60, 420, "Figure 2.", ["Timeline of the follow-up visits."])
    page.insert_image((150, 435, 460, 600), stream=png(300, 160, seed=9))
    body(page, (50, 620, 562, 740))
    doc.save(path)
    return path


def caption_next_page(path: Path) -> Path:
    """A full figure at the bottom of page 1 whose caption opens page 2."""
    doc = _doc()
    p1 = doc.new_page(width=W, height=H)
    body(p1, (50, 50, 562, 300), text=BODY * 4)
    p1.insert_image((100, 330, 510, 740), stream=png(400, 400, seed=12))
    p2 = doc.new_page(width=W, height=H)
    yb = caption(p2, 60, 60, "Figure 1.", ["Magnetic resonance image of the knee."])
    body(p2, (50, yb + 14, 562, 500), text=BODY * 3)
    doc.save(path)
    return path


def hyphenated(path: Path) -> Path:
    """A caption with words broken at line ends (and a real hyphenated compound)."""
    doc = _doc()
    page = doc.new_page(width=W, height=H)
    body(page, (50, 50, 562, 150), text=BODY + " The p75ICD-transfected cells grew faster. ")
    page.insert_image((150, 180, 460, 380), stream=png(300, 200, seed=3))
    caption(page, 60, 405, "Figure 1:", ["Immuno-", "histochemistry of p75ICD-", "transfected cells after treat-",
                                         "ment with the drug."])
    body(page, (50, 460, 562, 700))
    doc.save(path)
    return path


def no_figures(path: Path) -> Path:
    doc = _doc()
    page = doc.new_page(width=W, height=H)
    body(page, (50, 50, 562, 700), text=BODY * 6)
    doc.save(path)
    return path


def encrypted(path: Path) -> Path:
    import pymupdf

    doc = _doc()
    page = doc.new_page(width=W, height=H)
    body(page, (50, 50, 562, 300))
    doc.save(path, encryption=pymupdf.PDF_ENCRYPT_AES_256, user_pw="secret", owner_pw="owner")
    return path


def ocr_letters(path: Path) -> Path:
    """One raster figure of two panels whose letters exist only as pixels (no PDF text)."""
    from PIL import Image

    a = Image.open(io.BytesIO(png(300, 240, seed=21, letter="A", letter_size=44))).convert("RGB")
    b = Image.open(io.BytesIO(png(300, 240, seed=22, letter="B", letter_size=44))).convert("RGB")
    canvas = Image.new("RGB", (640, 240), "white")
    canvas.paste(a, (0, 0))
    canvas.paste(b, (340, 0))
    buf = io.BytesIO()
    canvas.save(buf, format="PNG")
    doc = _doc()
    page = doc.new_page(width=W, height=H)
    body(page, (50, 50, 562, 150))
    page.insert_image((66, 180, 546, 360), stream=buf.getvalue())
    yb = caption(page, 60, 385, "Figure 1.", ["(A) Left kidney. (B) Right kidney."])
    body(page, (50, yb + 14, 562, 700))
    doc.save(path)
    return path


JATS = """<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE article PUBLIC "-//NLM//DTD JATS (Z39.96) Journal Publishing DTD v1.1 20151215//EN" "JATS-journalpublishing1.dtd">
<article xmlns:xlink="http://www.w3.org/1999/xlink" article-type="research-article">
<front><article-meta>
<article-id pub-id-type="pmcid">PMC0000001</article-id>
<article-id pub-id-type="doi">10.0000/test.1</article-id>
<title-group><article-title>A test article</article-title></title-group>
<permissions><license xlink:href="https://creativecommons.org/licenses/by/4.0/"><license-p>CC BY</license-p></license></permissions>
</article-meta></front>
<body><sec><p>Text.</p>{paragraphs}
{figs}
</sec></body></article>
"""


def jats(path: Path, figs: list[tuple[str, str]], graphics: list[str] | None = None,
         paragraphs: list[str] | None = None) -> Path:
    """A small JATS XML with <fig> elements (label, caption text) and body `paragraphs` (inner XML of <p>)."""
    parts = []
    for i, (label, cap) in enumerate(figs):
        g = f'<graphic xlink:href="{graphics[i]}"/>' if graphics and i < len(graphics) else ""
        parts.append(f'<fig id="f{i + 1}"><label>{label}</label><caption><p>{cap}</p></caption>{g}</fig>')
    paras = "".join(f"\n<p>{p}</p>" for p in paragraphs or [])
    path.write_text(JATS.replace("{figs}", "\n".join(parts)).replace("{paragraphs}", paras), encoding="utf-8")
    return path


def panel_reference_lines(path: Path) -> Path:
    """A real figure, then body text whose lines open with "Fig. 4A." and "Figure 2." in bold and nothing
    else after them (a panel reference set as a run-in heading), with no figure graphics near them."""
    doc = _doc()
    page = doc.new_page(width=W, height=H)
    body(page, (50, 50, 562, 150))
    page.insert_image((150, 180, 460, 400), stream=png(310, 220, seed=5))
    yb = caption(page, 60, 425, "Figure 1:", ["Chest radiograph at admission showing no abnormality."])
    body(page, (50, yb + 14, 562, yb + 110))
    page2 = doc.new_page(width=W, height=H)
    body(page2, (50, 50, 562, 150))
    page2.insert_text((50, 180), "Fig. 4A.", fontsize=10, fontname="hebo")
    body(page2, (50, 200, 562, 300))
    page2.insert_text((50, 330), "Figure 2.", fontsize=10, fontname="hebo")
    body(page2, (50, 350, 562, 450))
    doc.save(path)
    return path


def glyphs(page, x: float, y: float, text: str, size: float = 8, fontname: str = "helv",
           word_gap_em: float = 0.12) -> float:
    """Place ``text`` glyph by glyph with no space characters: a word break is only a gap of
    ``word_gap_em`` font sizes (narrower than PyMuPDF's own space rule, as in some publishers'
    PDFs).  Returns the x after the last glyph."""
    import pymupdf

    font = pymupdf.Font(fontname)
    for ch in text:
        if ch == " ":
            x += word_gap_em * size
            continue
        page.insert_text((x, y), ch, fontsize=size, fontname=fontname)
        x += font.text_length(ch, size)
    return x


def spaceless(path: Path, caption_lines: list[str], label: str = "Figure 1.",
              figure_words: tuple[str, ...] = ("(a) Baseline", "(b) Follow up")) -> Path:
    """A page whose text layer has no spaces (caption and figure labels drawn glyph by glyph)
    under two placed images labelled with ``figure_words``."""
    doc = _doc()
    page = doc.new_page(width=W, height=H)
    body(page, (50, 50, 562, 150))
    for k, word in enumerate(figure_words):
        rx = 120 + k * 190
        page.insert_image((rx, 190, rx + 170, 310), stream=png(200, 140, seed=k + 3))
        glyphs(page, rx, 184, word, size=9, fontname="hebo")
    y = 340
    x = glyphs(page, 60, y, label, fontname="hebo")
    glyphs(page, x + 0.12 * 8, y, caption_lines[0])
    for i, line in enumerate(caption_lines[1:], 1):
        glyphs(page, 60, y + i * 10, line)
    body(page, (50, y + 10 * len(caption_lines) + 14, 562, 700))
    doc.save(path)
    return path


def caption_over_image(path: Path, label: str = "FIGURE 1 |", caption_y: float = 450) -> Path:
    """A placed raster figure (two photographs side by side on a white strip, bottom at y=460)
    whose caption's first line (baseline ``caption_y``) is printed across the bottom of the image
    (or set tight below it), as some publishers lay out figures."""
    from PIL import Image

    doc = _doc()
    page = doc.new_page(width=W, height=H)
    body(page, (50, 50, 562, 140))
    im = np.full((300, 440, 3), 255, dtype=np.uint8)
    for k, x0 in enumerate((0, 228)):
        tile = np.array(Image.open(io.BytesIO(png(212, 250, seed=k + 7))))[:, :, :3]
        im[0:250, x0:x0 + 212] = tile
    buf = io.BytesIO()
    Image.fromarray(im).save(buf, format="PNG")
    page.insert_image((86, 160, 526, 460), stream=buf.getvalue())
    yb = caption(page, 86, caption_y, label, ["Two views of the same sample. (A) Control. (B) Treated for one day",
                                        "with the compound; scale bar 10 um."])
    body(page, (50, yb + 14, 562, yb + 200))
    doc.save(path)
    return path


def label_beside_caption(path: Path, label_size: float = 5.6, gap: float = 8.0) -> Path:
    """A figure whose caption label stands alone on the left ("FIGURE 1." in small capitals, smaller
    than the text) and whose text is set beside it on the same baseline, wrapped with a hanging
    indent (later lines start under the text, not under the label)."""
    import pymupdf

    doc = _doc()
    page = doc.new_page(width=W, height=H)
    body(page, (50, 50, 562, 140))
    page.insert_image((120, 160, 490, 400), stream=png(370, 240, seed=5))
    x, y = 120, 420
    page.insert_text((x, y), "FIGURE 1.", fontsize=label_size, fontname="helv")
    tx = x + pymupdf.get_text_length("FIGURE 1.", fontname="helv", fontsize=label_size) + gap
    for i, line in enumerate(["Sagittal T1 (left) and axial FLAIR (right) images of the second patient,",
                              "with a small cyst in the pons (arrowhead)."]):
        page.insert_text((tx, y + i * 10), line, fontsize=8, fontname="helv")
    body(page, (50, y + 30, 562, y + 200))
    doc.save(path)
    return path


def captions_alike_at_page_foot(path: Path, pages: int = 4) -> Path:
    """A paper of `pages` pages whose third page ends with two figures side by side, their captions
    starting with the same words ("Fig. 1 Relative growth of ..." / "Fig. 2 Relative growth of ...")
    near the page foot, where running footers are looked for; the other pages are body text."""
    doc = _doc()
    for k in range(pages):
        page = doc.new_page(width=W, height=H)
        if k != 2:
            body(page, (50, 50, 562, 700))
            continue
        body(page, (50, 50, 562, 420))
        for n, x0 in ((1, 60), (2, 320)):
            page.insert_image((x0, 470, x0 + 230, 690), stream=png(230, 220, seed=n))
            caption(page, x0, 712, f"Fig. {n}", [f"Relative growth of the cells in extract {n} by the MTT test.",
                                                  "Bars show the mean of three runs"])
    doc.save(path)
    return path


def caption_running_into_a_reference(path: Path) -> Path:
    """A caption whose sentence runs on into a line that starts with a figure reference
    ("... the fully labelled structure is given in" / "Figure S4. Colour code: ...")."""
    doc = _doc()
    page = doc.new_page(width=W, height=H)
    body(page, (50, 50, 562, 140))
    page.insert_image((150, 160, 460, 380), stream=png(310, 220, seed=3))
    yb = caption(page, 60, 400, "Figure 1.", ["Three views of the complex. Hydrogen atoms are left out here; all atoms are",
                                             "drawn in",
                                             "Figure S4. Colours: metal (cyan), oxygen (red)."])
    body(page, (50, yb + 14, 562, yb + 200))
    doc.save(path)
    return path


def framed_figure(path: Path, label: str = "Figure 1", caption_y: float = 471.3, gap: float = 1.0,
                  caption_above: bool = False) -> Path:
    """A figure and its caption inside one drawn frame (BMC / Springer style boxed figures): a
    stroked rectangle around a placed image and its two-line caption (first baseline
    ``caption_y``), the image ``gap`` points from the caption's nearest line: above the caption's
    first line, or below its last line when ``caption_above``; body text above and below the frame."""
    import pymupdf

    doc = _doc()
    page = doc.new_page(width=W, height=H)
    body(page, (50, 50, 562, 140))
    lines = ["Growth of the two strains over five days. (A) Wild type.",
             "(B) Mutant; error bars show the standard deviation of three runs."]
    if caption_above:
        yb = caption(page, 62, caption_y, label, lines)
        top = yb - 8 * 1.25 + 8 * 0.3 + gap  # last line's bottom is about 0.3 size below its baseline
        page.insert_image((96, top, 516, top + 250), stream=png(420, 250, seed=5))
        frame = pymupdf.Rect(56, caption_y - 14, 556, top + 256)
    else:
        top = caption_y - 8 * 1.1 - gap  # first line's top is about 1.1 size above its baseline (helv)
        page.insert_image((96, 160, 516, top), stream=png(420, int(top - 160), seed=5))
        yb = caption(page, 62, caption_y, label, lines)
        frame = pymupdf.Rect(56, 152, 556, yb + 2)
    page.draw_rect(frame, color=(0.13, 0.12, 0.12), width=0.6)
    body(page, (50, frame.y1 + 18, 562, frame.y1 + 200))
    doc.save(path)
    return path


def supplementary_list(path: Path) -> Path:
    """Page 1: Figure 1 (an image, caption below) and a stray image at the page foot; page 2 opens
    with an "Additional files" list (BMC style) and a "Supporting Information" list (PLoS style)
    whose S-figure descriptions have no graphics of their own."""
    doc = _doc()
    page = doc.new_page(width=W, height=H)
    body(page, (50, 50, 562, 150))
    page.insert_image((150, 170, 460, 360), stream=png(310, 190, seed=11))
    yb = caption(page, 60, 385, "Figure 1.", ["Growth of the two strains over five days."])
    body(page, (50, yb + 14, 562, 560))
    page.insert_image((150, 580, 460, 740), stream=png(310, 160, seed=12))  # an unclaimed picture
    page = doc.new_page(width=W, height=H)
    page.insert_text((60, 70), "Additional files", fontsize=10, fontname="hebo")
    caption(page, 60, 90, "Additional file 1: Figure S1.", ["Growth curves of the mutant strains. (PDF 120 kb)"])
    caption(page, 60, 112, "Additional file 2: Figure S2.", ["Western blots of the lysates. (PDF 300 kb)"])
    body(page, (50, 130, 562, 300))
    page.insert_text((60, 330), "Supporting Information", fontsize=10, fontname="hebo")
    caption(page, 60, 350, "Figure S3", [""])
    page.insert_text((60, 360), "Absorption spectra of the two strains at three pH values.", fontsize=8,
                     fontname="helv")
    caption(page, 60, 380, "Figure S4", ["Emission spectra of the two strains."])
    body(page, (50, 400, 562, 700))
    doc.save(path)
    return path


def supplements_by_title(path: Path) -> Path:
    """eLife style: Figure 1 (an image, caption below) whose caption ends with the list of its two figure
    supplements, printed by title only (no image of theirs anywhere in the PDF)."""
    doc = _doc()
    page = doc.new_page(width=W, height=H)
    body(page, (50, 50, 562, 150))
    page.insert_image((150, 170, 460, 360), stream=png(310, 190, seed=21))
    yb = caption(page, 60, 385, "Figure 1.", ["Uptake of the dye by cultured neurons. DOI: 10.1/x.003",
                                               "The following figure supplements are available for figure 1:",
                                               "Figure supplement 1. Uptake at low temperature.",
                                               "DOI: 10.1/x.004",
                                               "Figure supplement 2. Dose response of the uptake.",
                                               "DOI: 10.1/x.005"])
    body(page, (50, yb + 14, 562, 700))
    doc.save(path)
    return path


def burnt_letters_framed(path: Path, letters: tuple[str, ...] = ("A", "B", "C")) -> Path:
    """One embedded image holding three chart panels (A left and tall, B top right, C bottom
    right) inside a frame, with no white gutter running through the figure (A's axis labels reach
    B's column), letters burnt into the pixels at each panel's top-left; caption names them."""
    from PIL import Image, ImageDraw, ImageFont

    W_, H_ = 900, 800
    im = Image.new("RGB", (W_, H_), "white")
    d = ImageDraw.Draw(im)
    d.rectangle([4, 4, W_ - 5, H_ - 5], outline="black", width=2)  # the frame
    font = ImageFont.load_default(size=34)
    small = ImageFont.load_default(size=16)

    def chart(x0, y0, x1, y1, seed):
        rng = np.random.default_rng(seed)
        d.line([(x0 + 40, y1 - 30), (x1, y1 - 30)], fill="black", width=2)
        d.line([(x0 + 40, y0), (x0 + 40, y1 - 30)], fill="black", width=2)
        n = 6
        bw = (x1 - x0 - 60) / n
        for k in range(n):
            hgt = int(rng.integers(40, y1 - y0 - 60))
            d.rectangle([x0 + 50 + k * bw, y1 - 30 - hgt, x0 + 50 + k * bw + bw * 0.6, y1 - 30],
                        fill=(40, 40, 40) if k % 2 else (230, 90, 20))
            d.text((x0 + 50 + k * bw, y1 - 24), str(k + 1), font=small, fill="black")
        for t in range(4):
            d.text((x0 + 8, y1 - 40 - t * (y1 - y0 - 60) / 4), str(10 * t), font=small, fill="black")

    chart(70, 70, 460, 760, 1)
    chart(450, 70, 880, 380, 2)  # B's axis starts left of A's right edge: no vertical gutter
    chart(450, 440, 880, 760, 3)
    for (x, y), letter in zip([(20, 20), (430, 20), (430, 395)], letters):
        d.text((x, y), letter, font=font, fill="black")
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    doc = _doc()
    page = doc.new_page(width=W, height=H)
    body(page, (50, 50, 562, 140))
    page.insert_image((86, 160, 526, 551), stream=buf.getvalue())
    yb = caption(page, 86, 575, "Figure 2.", ["Counts per group. (A) First series. (B) Second series.",
                                              "(C) Third series; bars are means of five repeats."])
    body(page, (50, yb + 14, 562, yb + 150))
    doc.save(path)
    return path



def caption_continued(path: Path) -> Path:
    """A figure whose caption runs on over the page break: its last line on page 1 says
    "Figure 1 continued on next page"; page 2 opens with "Figure 1 continued" and the rest."""
    doc = _doc()
    p1 = doc.new_page(width=W, height=H)
    body(p1, (50, 50, 562, 150))
    p1.insert_image((150, 170, 460, 560), stream=png(310, 390, seed=14))
    y = caption(p1, 60, 590, "Figure 1.", ["Growth of three strains. (A) The first strain in rich medium over five",
                                          "days. (B) The second strain in minimal medium, with a much"])
    p1.insert_text((60, 740), "Figure 1 continued on next page", fontsize=8, fontname="helv")
    p2 = doc.new_page(width=W, height=H)
    p2.insert_text((60, 60), "Figure 1 continued", fontsize=8, fontname="helv")
    caption(p2, 60, 74, "", ["lower yield. (C) The third strain at low temperature."])
    body(p2, (50, 110, 562, 400), text=BODY * 2)
    doc.save(path)
    return path


def reference_at_line_start(path: Path) -> Path:
    """A figure, then a paragraph of body text in which a bold figure reference ("Figure 1.")
    wraps to the start of a line in the middle of a sentence (references set as bold links)."""
    import pymupdf

    doc = _doc()
    page = doc.new_page(width=W, height=H)
    body(page, (50, 50, 562, 150))
    page.insert_image((150, 170, 460, 380), stream=png(310, 210, seed=15))
    yb = caption(page, 60, 405, "Figure 1.", ["Overview of the sampling sites."])
    lines = ["The samples were collected at the five sites and their counts are summarised, for the", None,
             "remaining sites we followed the same protocol and counted the colonies after two days in",
             "the incubator at the usual temperature of thirty seven degrees for every sample taken."]
    y = yb + 30
    for ln in lines:
        if ln is None:
            page.insert_text((50, y), "Figure 2.", fontsize=10, fontname="tibo")
            lw = pymupdf.get_text_length("Figure 2. ", fontname="tibo", fontsize=10)
            page.insert_text((50 + lw, y), "In Figure 2B we show the counts per site, and for the",
                             fontsize=10, fontname="tiro")
        else:
            page.insert_text((50, y), ln, fontsize=10, fontname="tiro")
        y += 12
    doc.save(path)
    return path


def scheme_and_unnumbered(path: Path) -> Path:
    """Page 1: "Scheme 1" (a chemistry scheme, numbered apart from figures) and "Figure 1" on the
    same page; page 2: the unnumbered "Figure." of a commentary-style piece."""
    doc = _doc()
    page = doc.new_page(width=W, height=H)
    body(page, (50, 40, 562, 100))
    page.insert_image((150, 110, 460, 300), stream=png(310, 190, seed=16))
    yb = caption(page, 60, 320, "Scheme 1", ["Synthesis of the ligand in three steps."])
    body(page, (50, yb + 10, 562, yb + 80))
    page.insert_image((150, 430, 460, 620), stream=png(310, 190, seed=17))
    yb = caption(page, 60, 640, "Figure 1.", ["Spectra of the two products."])
    body(page, (50, yb + 10, 562, 760))
    page = doc.new_page(width=W, height=H)
    page.insert_image((150, 60, 460, 300), stream=png(310, 240, seed=18))
    yb = caption(page, 60, 320, "Figure.", ["Regulation of the response by two factors in the plant."])
    body(page, (50, yb + 10, 562, 500))
    doc.save(path)
    return path


def dark_photo(h: int, w: int, seed: int) -> np.ndarray:
    """A dark tinted 'micrograph': soft bright blobs on a near-black field, with noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    g = np.full((h, w), 25.0)
    for _ in range(6):
        cx, cy, r = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(0.08, 0.25) * w
        g += rng.uniform(60, 140) * np.exp(-(((xx - cx) / r) ** 2 + ((yy - cy) / r) ** 2))
    g += rng.normal(0, 10, (h, w))
    tint = rng.uniform(0.6, 1.0, size=3)
    return np.clip(g[:, :, None] * tint, 0, 255).astype(np.uint8)


def burnt_letters_dark(path: Path, letters: list[str], rows: int, cols: int, italic: bool = False,
                       inside: bool = True) -> Path:
    """One embedded image: a rows x cols grid of dark photographs, panel letters burnt into the
    pixels: white inside each photograph's top-left corner, on a black background (thin black
    gutters); or (``inside=False``) black above each photograph, on white; in Times
    bold italic when ``italic``.  The figure is drawn with PyMuPDF and rendered to a PNG, so its
    letters have no text layer.  The caption names the letters."""
    import pymupdf

    pw, ph, gut, size = 160, 120, 4 if inside else 10, 14
    fw = cols * pw + (cols + 1) * gut
    fh = rows * ph + (rows + 1) * gut + (0 if inside else rows * (size + 4))
    fig = pymupdf.open()
    fp = fig.new_page(width=fw, height=fh)
    bg = 0 if inside else 1
    fp.draw_rect(fp.rect, color=None, fill=(bg, bg, bg))
    for k in range(rows * cols):
        r, c = divmod(k, cols)
        x = gut + c * (pw + gut)
        y = gut + r * (ph + gut) + (0 if inside else (r + 1) * (size + 4))
        buf = io.BytesIO()
        from PIL import Image

        Image.fromarray(dark_photo(2 * ph, 2 * pw, seed=k + 1)).save(buf, format="PNG")
        fp.insert_image(pymupdf.Rect(x, y, x + pw, y + ph), stream=buf.getvalue())
        if k < len(letters):
            ty = y + 4 + 0.8 * size if inside else y - 4
            fp.insert_text((x + 5, ty), letters[k], fontsize=size, fontname="tibi" if italic else "hebo",
                           color=(1, 1, 1) if inside else (0, 0, 0))
    img = fp.get_pixmap(dpi=200, alpha=False).tobytes("png")
    doc = _doc()
    page = doc.new_page(width=W, height=H)
    body(page, (50, 50, 562, 140))
    page.insert_image((86, 160, 526, 460), stream=img)
    names = [s.strip("().") for s in letters]
    caption(page, 86, 490, "Figure 1.", [" ".join(f"({n}) Sample {i + 1}." for i, n in enumerate(names))])
    body(page, (50, 520, 562, 700))
    doc.save(path)
    return path
