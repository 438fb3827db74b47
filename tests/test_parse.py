"""parse_paper on PDFs built in code: figure boxes, captions, rendered images, panels and letters."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from tests.helpers import pdfgen as gen
from medvl.parse import ParseSettings, parse_paper
from medvl.records import Figure, paper_id_from_hash, sha256_file

FAST = ParseSettings(dpi=72, ocr="never")


def _inside(inner, outer, tol=3.0):
    return (inner[0] >= outer[0] - tol and inner[1] >= outer[1] - tol and inner[2] <= outer[2] + tol
            and inner[3] <= outer[3] + tol)


def test_raster_2x2_with_text_letters(tmp_path):
    pdf = gen.raster_2x2(tmp_path / "fulltext.pdf")
    run = tmp_path / "run"
    figs, rejects = parse_paper(pdf, None, ParseSettings(dpi=100, ocr="never"), run_dir=run, source="in/fulltext.pdf")
    assert rejects == []
    assert len(figs) == 1
    f = figs[0]
    pid = paper_id_from_hash(sha256_file(pdf))
    assert f.paper_id == pid and f.figure_id == f"{pid}-p001-f00"
    assert f.source == "in/fulltext.pdf"
    assert f.page == 1 and f.label == "Figure 1" and f.number == "1"
    assert f.caption == ("Figure 1. Four views of the same sample. (A) Control. (B) Treated for one day. "
                         "(C) Treated for two days. (D) Treated for three days; scale bar 10 um.")
    assert f.caption_source == "pdf" and f.caption_similarity is None
    assert f.kind == "raster"
    # the four images span x 120..476, y 194..450 (letters above them at y ~ 181)
    assert _inside((120, 194, 476, 450), f.bbox) and f.bbox[1] > 150 and f.bbox[3] < 470
    img = Image.open(run / f.image)
    assert img.size == (f.width, f.height)
    assert abs(f.width - (f.bbox[2] - f.bbox[0] + 4) * 100 / 72) < 4
    assert [p.label for p in f.panels] == ["A", "B", "C", "D"]
    assert {p.label_source for p in f.panels} == {"pdf_text"}
    assert [p.panel_id for p in f.panels] == [f"{f.figure_id}-k{i:02d}" for i in range(4)]
    # panels in reading order: A top-left, B top-right, C bottom-left, D bottom-right
    (a, b, c, d) = [p.bbox for p in f.panels]
    assert a[0] < b[0] and a[1] == pytest.approx(b[1], abs=3) and c[1] > a[3] and d[0] > c[0]
    for p in f.panels:
        pim = Image.open(run / p.image)
        assert pim.size == (p.bbox[2] - p.bbox[0], p.bbox[3] - p.bbox[1])
        assert 0 <= p.bbox[0] < p.bbox[2] <= f.width and 0 <= p.bbox[1] < p.bbox[3] <= f.height
    assert f.provenance.stage == "parse" and f.provenance.input_sha256 == sha256_file(pdf)
    assert "pymupdf" in f.provenance.tools
    # the row round-trips through the record model
    assert Figure.model_validate(json.loads(f.to_json())) == f


def test_vector_chart_is_one_figure_with_its_axis_text(tmp_path):
    pdf = gen.vector_chart(tmp_path / "v.pdf")
    figs, rejects = parse_paper(pdf, None, FAST, run_dir=tmp_path / "run")
    assert rejects == [] and len(figs) == 1
    f = figs[0]
    assert f.label == "Fig. 2" and f.kind == "vector"
    assert f.caption == "Fig. 2. Expression in five groups (mean of three repeats)."
    # bars from y=220, axis at 420, tick labels to ~432, axis title to ~446
    assert _inside((150, 220, 450, 432), f.bbox)
    assert f.bbox[3] < f.caption_bbox[1]
    assert f.panels == []


def test_single_image_has_no_panels(tmp_path):
    figs, _ = parse_paper(gen.single_image(tmp_path / "s.pdf"), None, FAST, run_dir=tmp_path / "run")
    assert len(figs) == 1 and figs[0].panels == [] and figs[0].kind == "raster"
    assert figs[0].caption == "Figure 1: Chest radiograph at admission showing no abnormality."
    assert figs[0].bbox == pytest.approx([150, 180, 460, 400], abs=2)


def test_two_column_page_and_in_text_reference(tmp_path):
    figs, rejects = parse_paper(gen.two_column(tmp_path / "t.pdf"), None, FAST, run_dir=tmp_path / "run")
    assert [f.label for f in figs] == ["Figure 1", "Figure 2"]
    left, right = figs
    assert left.bbox[2] < 300 < right.bbox[0]
    assert left.caption == "Figure 1. Growth curve of strain 1 in minimal medium at 37 degrees."
    assert right.caption == "Figure 2. Growth curve of strain 2 in minimal medium at 37 degrees."
    # "Figure 1 shows the effect ..." at the start of a paragraph is body text, not a caption
    assert not any("shows the effect" in f.caption for f in figs)
    assert [f.figure_id[-3:] for f in figs] == ["f00", "f01"]
    assert rejects == []


def test_caption_beside_the_figure(tmp_path):
    figs, _ = parse_paper(gen.caption_beside(tmp_path / "b.pdf"), None, FAST, run_dir=tmp_path / "run")
    assert len(figs) == 1
    assert figs[0].bbox == pytest.approx([50, 180, 330, 400], abs=2)
    assert figs[0].caption == "Figure 3. Histology of the lesion, stained with H&E at low magnification."


def test_captions_above_their_figures(tmp_path):
    figs, _ = parse_paper(gen.caption_above(tmp_path / "a.pdf"), None, FAST, run_dir=tmp_path / "run")
    assert [f.label for f in figs] == ["Figure 1", "Figure 2"]
    assert figs[0].bbox[1] > figs[0].caption_bbox[3] - 1 and figs[0].bbox[3] < 310
    assert figs[1].bbox[1] > 420 and figs[1].bbox[3] == pytest.approx(600, abs=2)


def test_caption_on_the_next_page(tmp_path):
    figs, _ = parse_paper(gen.caption_next_page(tmp_path / "n.pdf"), None, FAST, run_dir=tmp_path / "run")
    assert len(figs) == 1
    f = figs[0]
    assert f.page == 1 and f.caption_page == 2
    assert f.bbox == pytest.approx([100, 330, 510, 740], abs=2)


def test_hyphenation_repaired_in_caption(tmp_path):
    figs, _ = parse_paper(gen.hyphenated(tmp_path / "h.pdf"), None, FAST, run_dir=tmp_path / "run")
    assert figs[0].caption == ("Figure 1: Immunohistochemistry of p75ICD-transfected cells after treatment "
                               "with the drug.")


def test_without_run_dir_no_images_are_written(tmp_path):
    figs, _ = parse_paper(gen.single_image(tmp_path / "s.pdf"), None, FAST)
    assert figs[0].image is None and figs[0].width is not None


def test_image_size_is_capped(tmp_path):
    settings = ParseSettings(dpi=1200, ocr="never", max_side=300)
    figs, _ = parse_paper(gen.raster_2x2(tmp_path / "r.pdf"), None, settings, run_dir=tmp_path / "run")
    assert max(figs[0].width, figs[0].height) <= 300
    assert max(Image.open(tmp_path / "run" / figs[0].image).size) <= 300


def test_ocr_reads_rasterised_panel_letters(tmp_path):
    from medvl.pdf.ocr import tesseract_version

    if tesseract_version() is None:
        pytest.skip("tesseract binary not installed (apt-get install tesseract-ocr)")
    pdf = gen.ocr_letters(tmp_path / "o.pdf")
    figs, _ = parse_paper(pdf, None, ParseSettings(dpi=150, ocr="auto"), run_dir=tmp_path / "run")
    f = figs[0]
    assert [(p.label, p.label_source) for p in f.panels] == [("A", "ocr"), ("B", "ocr")]
    assert "tesseract" in f.provenance.tools
    # --ocr never leaves the letters unknown
    figs, _ = parse_paper(pdf, None, ParseSettings(dpi=150, ocr="never"), run_dir=tmp_path / "run2")
    assert [p.label for p in figs[0].panels] == [None, None]


def test_overlays_are_written(tmp_path):
    run = tmp_path / "run"
    figs, _ = parse_paper(gen.raster_2x2(tmp_path / "r.pdf"), None, ParseSettings(dpi=72, ocr="never", overlays=True),
                          run_dir=run)
    pages = list((run / "overlays" / figs[0].paper_id).glob("page-*.png"))
    assert [p.name for p in pages] == ["page-001.png"]
    im = Image.open(pages[0]).convert("RGB")
    # the figure box is drawn in red at its top-left corner
    x0, y0 = int(figs[0].bbox[0]), int(figs[0].bbox[1])
    near = [im.getpixel((x, y)) for x in range(x0 - 2, x0 + 3) for y in range(y0 - 2, y0 + 3)]
    assert any(r > 200 and g < 80 and b < 80 for r, g, b in near)


def test_rapid_detector_finds_a_figure_box(tmp_path):
    pytest.importorskip("rapid_layout")
    pytest.importorskip("onnxruntime")
    import pymupdf

    from medvl.pdf.layout import rapid_figures

    pdf = gen.single_image(tmp_path / "s.pdf")
    with pymupdf.open(pdf) as doc:
        boxes = [b for b, name, score in rapid_figures(doc[0])]
    assert boxes, "the layout model found no figure"
    best = max(boxes, key=lambda b: (min(b[2], 460) - max(b[0], 150)) * (min(b[3], 400) - max(b[1], 180)))
    assert best[0] < 200 and best[2] > 410 and best[1] < 230 and best[3] > 350
