"""Panels and letters through parse_paper on PDFs built in code, pixel-letter OCR, continued figures,
licences, and the synthetic corpus end to end."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest

from medvl.parse import ParseSettings, parse_paper
from tests.helpers import pdfgen as gen

FAST = ParseSettings(dpi=72, ocr="never")


def _tesseract() -> bool:
    from medvl.pdf.ocr import tesseract_version

    return tesseract_version() is not None


needs_tesseract = pytest.mark.skipif(not _tesseract(), reason="tesseract binary not installed (apt-get install tesseract-ocr)")


def _new_page(doc):
    page = doc.new_page(width=gen.W, height=gen.H)
    gen.body(page, (50, 40, 562, 110))
    return page


def _under(page, rect, text: str, size: float = 9) -> None:
    """Write `text` centred under `rect` (Hindawi style "(a)")."""
    import pymupdf

    w = pymupdf.get_text_length(text, fontname="tiro", fontsize=size)
    page.insert_text(((rect[0] + rect[2]) / 2 - w / 2, rect[3] + size + 3), text, fontsize=size, fontname="tiro")


def letters_below_grid(path: Path) -> Path:
    """Four images in a 2x2 grid, "(a)".."(d)" centred under each image."""
    import pymupdf

    doc = pymupdf.open()
    page = _new_page(doc)
    k = 0
    for r in range(2):
        for c in range(2):
            rect = (110 + c * 200, 130 + r * 170, 300 + c * 200, 270 + r * 170)
            page.insert_image(rect, stream=gen.png(190, 140, seed=k + 3))  # same aspect as rect
            _under(page, rect, f"({'abcd'[k]})")
            k += 1
    gen.caption(page, 60, 490, "Figure 1:", ["Four stains of the same tissue (a-d)."])
    doc.save(path)
    return path


def letters_below_groups(path: Path) -> Path:
    """(a) under a 2x2 group of images, (b) under two stacked images, (c) under a row of three."""
    import pymupdf

    doc = pymupdf.open()
    page = _new_page(doc)
    rects_a = [(80 + c * 92, 130 + r * 72, 168 + c * 92, 198 + r * 72) for r in range(2) for c in range(2)]
    rects_b = [(300, 130, 520, 198), (300, 202, 520, 270)]
    rects_c = [(80 + c * 150, 310, 220 + c * 150, 400) for c in range(3)]
    for k, rect in enumerate(rects_a + rects_b + rects_c):
        page.insert_image(rect, stream=gen.png(int(rect[2] - rect[0]), int(rect[3] - rect[1]), seed=k + 1))
    _under(page, (80, 130, 260, 270), "(a)")
    _under(page, (300, 130, 520, 270), "(b)")
    _under(page, (80, 310, 520, 400), "(c)")
    gen.caption(page, 60, 440, "Figure 1:", ["Micrographs (a), blots (b) and time course (c)."])
    doc.save(path)
    return path


def continued_figure(path: Path) -> Path:
    import pymupdf

    doc = pymupdf.open()
    p1 = _new_page(doc)
    p1.insert_image((100, 130, 500, 420), stream=gen.png(300, 220, seed=5))
    gen.caption(p1, 60, 445, "Figure 2:", ["Histology of the resected tissue, first part."])
    gen.body(p1, (50, 470, 562, 700))
    p2 = _new_page(doc)
    p2.insert_image((100, 130, 500, 420), stream=gen.png(300, 220, seed=6))
    gen.caption(p2, 60, 445, "Figure 2:", ["(continued) Histology of the resected tissue, second part."])
    gen.body(p2, (50, 470, 562, 700))
    doc.save(path)
    return path


# ---------------------------------------------------------------- PDF text letters

def test_letters_under_images_are_assigned_in_reading_order(tmp_path):
    figs, rejects = parse_paper(letters_below_grid(tmp_path / "g.pdf"), None, FAST)
    assert not rejects
    (f,) = figs
    assert [(p.label, p.label_source) for p in f.panels] == [(c, "pdf_text") for c in "ABCD"]
    a, b, c, d = [p.bbox for p in f.panels]
    assert a[0] < b[0] and a[1] < c[1] and c[0] < d[0] and b[1] < d[1]


def test_images_grouped_into_one_panel_per_printed_letter(tmp_path):
    figs, _ = parse_paper(letters_below_groups(tmp_path / "grp.pdf"), None, FAST)
    (f,) = figs
    assert [p.label for p in f.panels] == ["A", "B", "C"]
    (a, b, c) = [p.bbox for p in f.panels]  # pixels at 72 dpi = points
    # (a) is the union of the 2x2 group, (c) the union of the row of three
    assert (a[2] - a[0]) == pytest.approx(180, abs=4) and (a[3] - a[1]) == pytest.approx(140, abs=4)
    assert (c[2] - c[0]) == pytest.approx(440, abs=4)
    assert b[0] > a[2] and c[1] > a[3]


# ---------------------------------------------------------------- continued figures, licences

def test_continued_figure_is_kept_with_a_note(tmp_path):
    figs, rejects = parse_paper(continued_figure(tmp_path / "c.pdf"), None, FAST)
    assert [r.reason for r in rejects] == []
    assert [(f.label, f.page, f.note) for f in figs] == [("Figure 2", 1, None), ("Figure 2", 2, "continued")]
    assert figs[0].figure_id != figs[1].figure_id and figs[1].bbox is not None


def test_pdf_only_paper_gets_the_license_collect_wrote(tmp_path):
    folder = tmp_path / "PMC123"
    folder.mkdir()
    pdf = gen.raster_2x2(folder / "fulltext.pdf")
    figs, _ = parse_paper(pdf, None, FAST)
    assert figs and all(f.license is None for f in figs)
    (folder / "metadata.json").write_text(json.dumps({"pmcid": "PMC123", "license": "CC-BY-4.0"}))
    figs, _ = parse_paper(pdf, None, FAST)
    assert figs and all(f.license == "CC-BY-4.0" for f in figs)


def test_xml_license_is_normalised_to_an_id(tmp_path):
    pdf = gen.raster_2x2(tmp_path / "a.pdf")
    xml = gen.jats(tmp_path / "a.xml", [("Figure 1", "Four views of the same sample.")])
    figs, _ = parse_paper(pdf, xml, FAST)
    assert figs[0].license == "CC-BY-4.0"
    # a licence given only as a sentence
    text = xml.read_text().replace('<license xlink:href="https://creativecommons.org/licenses/by/4.0/">'
                                   '<license-p>CC BY</license-p></license>',
                                   "<license><license-p>This is an open access article distributed under the "
                                   "Creative Commons Attribution License.</license-p></license>")
    xml.write_text(text)
    figs, _ = parse_paper(pdf, xml, FAST)
    assert figs[0].license == "CC-BY"


# ---------------------------------------------------------------- pixel letters (OCR)

def _figure_with_pixel_letters(letters: list[str | None], corner: str, style: str, seed: int = 0) -> tuple[np.ndarray, list]:
    """A 2x2 grid of textured dark 'scans' with letters drawn into the pixels."""
    from PIL import Image, ImageDraw, ImageFont

    rng = np.random.default_rng(seed)
    pw, ph, g = 220, 200, 8
    W, H = 2 * pw + g, 2 * ph + g
    canvas = np.full((H, W), 255, np.uint8)
    boxes = []
    for k in range(4):
        r, c = divmod(k, 2)
        x0, y0 = c * (pw + g), r * (ph + g)
        yy, xx = np.mgrid[0:ph, 0:pw]
        blob = 140 * np.exp(-(((xx - pw / 2) / (pw / 3)) ** 2 + ((yy - ph / 2) / (ph / 3)) ** 2))
        canvas[y0:y0 + ph, x0:x0 + pw] = np.clip(20 + blob + rng.normal(0, 12, (ph, pw)), 0, 255).astype(np.uint8)
        boxes.append((x0, y0, x0 + pw, y0 + ph))
    im = Image.fromarray(canvas)
    d = ImageDraw.Draw(im)
    font = ImageFont.load_default(size=24)
    for (x0, y0, x1, y1), t in zip(boxes, letters):
        if t is None:
            continue
        l, tp, rr, bb = d.textbbox((0, 0), t, font=font)
        tw, th = rr - l, bb - tp
        tx = x0 + 5 if corner[1] == "l" else x1 - 5 - tw
        ty = y0 + 5 if corner[0] == "t" else y1 - 5 - th
        if style == "box":
            d.rectangle([tx - 2, ty - 2, tx + tw + 2, ty + th + 2], fill=255)
            d.text((tx - l, ty - tp), t, fill=0, font=font)
        else:
            d.text((tx - l, ty - tp), t, fill=255, font=font)
    rgb = np.repeat(np.asarray(im)[:, :, None], 3, axis=2)
    return rgb, boxes


@needs_tesseract
@pytest.mark.parametrize("corner,style,letters", [
    ("tr", "white", ["A", "B", "C", "D"]),
    ("bl", "box", ["(a)", "(b)", "(c)", "(d)"]),
    ("tl", "box", ["A.", "B.", "C.", "D."]),
])
def test_pixel_letters_read_at_any_corner_in_both_polarities(corner, style, letters):
    from medvl.pdf.ocr import read_panel_letters

    rgb, boxes = _figure_with_pixel_letters(letters, corner, style)
    assert read_panel_letters(rgb, boxes) == [(c, "ocr") for c in "ABCD"]


@needs_tesseract
def test_pixel_letters_single_gap_filled_from_order_and_no_letters_means_none():
    from medvl.pdf.ocr import read_panel_letters

    rgb, boxes = _figure_with_pixel_letters(["A", "B", None, "D"], "tl", "white", seed=1)
    assert read_panel_letters(rgb, boxes) == [("A", "ocr"), ("B", "ocr"), ("C", "order"), ("D", "ocr")]
    rgb, boxes = _figure_with_pixel_letters([None] * 4, "tl", "white", seed=2)
    assert read_panel_letters(rgb, boxes) == [None] * 4


@needs_tesseract
@pytest.mark.slow
def test_synthetic_corpus_letters_end_to_end(tmp_path):
    """medvl synth papers through parse (OCR auto): pixel and PDF-text letters against ground truth."""
    from medvl.parse import parse_inputs
    from medvl.runs import read_jsonl
    from medvl.synth import generate_corpus
    from medvl.synth.corpus import load_ground_truth
    from medvl.synth.score import match_figure, match_panel

    corpus = generate_corpus(tmp_path / "c", papers=6, seed=0)
    parse_inputs([corpus / "papers"], tmp_path / "run", ParseSettings(ocr="auto"))
    gt = load_ground_truth(corpus)
    by_pid = {p["paper_id"]: p for p in gt["papers"]}
    right = {"pixels": 0, "pdf_text": 0, "none": 0}
    total = dict.fromkeys(right, 0)
    spurious = 0
    for f in read_jsonl(tmp_path / "run" / "figures.jsonl"):
        g = match_figure(f, by_pid[f["paper_id"]])
        if g is None or len(g["panels"]) < 2:  # figure detection is scored elsewhere
            continue
        for p in f["panels"]:
            gp = match_panel(p["bbox"], f["dpi"], g, gt["dpi"])
            if gp is None:
                continue
            total[g["letter_source"]] += 1
            if gp["letter"] is None:
                spurious += p["label"] is not None
            right[g["letter_source"]] += p["label"] == gp["letter"]
    assert total["pixels"] >= 15 and total["pdf_text"] >= 5
    assert right["pixels"] >= 0.8 * total["pixels"]
    assert right["pdf_text"] >= 0.9 * total["pdf_text"]
    assert spurious == 0
