"""Figure crops stop at the caption: no caption line inside a figure image or its panels."""

from __future__ import annotations

from pathlib import Path

import pytest

import pymupdf

from medvl.parse import ParseSettings, parse_paper
from medvl.pdf.figures import analyse_document, r_inter, render_region

from tests.helpers import pdfgen


@pytest.mark.parametrize("caption_y", [450, 458, 466])
def test_caption_line_across_or_tight_below_the_image_is_not_in_the_crop(tmp_path: Path, caption_y: float):
    # 450: the first caption line is printed over the image's white bottom strip; 458: it overlaps
    # the image's last points; 466: it is set 1 pt below the image (inside the render margin)
    pdf = pdfgen.caption_over_image(tmp_path / "c.pdf", caption_y=caption_y)
    with pymupdf.open(pdf) as doc:
        pages, regions, _, _ = analyse_document(doc)
        assert len(regions) == 1
        r = regions[0]
        first = r.caption.lines[0]
        assert first.text.startswith("FIGURE 1 |")
        _, clip, _ = render_region(doc[r.page], r.bbox, 150, keep_out=r.keep_out)
    for ln in r.caption.lines:
        assert r_inter(ln.bbox, r.bbox) is None, (ln.text, ln.bbox, r.bbox)
        assert r_inter(ln.bbox, clip) is None or clip[3] <= ln.bbox[1] + 1e-6, (ln.text, ln.bbox, clip)
    assert not any(ln.text.startswith("FIGURE") for ln in r.text_lines)


def test_parsed_figure_and_panels_end_above_the_caption(tmp_path: Path):
    pdf = pdfgen.caption_over_image(tmp_path / "c.pdf", caption_y=450)
    figs, rejects = parse_paper(pdf, settings=ParseSettings(ocr="never"), run_dir=tmp_path / "run")
    assert len(figs) == 1, rejects
    f = figs[0]
    assert f.caption.startswith("FIGURE 1 | Two views of the same sample.")
    assert f.bbox[3] <= f.caption_bbox[1]
    assert len(f.panels) == 2  # the two photographs, split along the white gutter
    # no panel reaches into the rows where the caption line would be drawn
    zoom = f.dpi / 72.0
    for pn in f.panels:
        assert pn.bbox[3] <= f.height
        assert f.bbox[1] - 2 + pn.bbox[3] / zoom <= f.caption_bbox[1] + 1


def _pixel_area(pix, zoom: float) -> tuple[float, float, float, float]:
    """The page area (points) that a rendered pixmap covers: whole pixels of the page's pixel grid."""
    return (pix.x / zoom, pix.y / zoom, (pix.x + pix.width) / zoom, (pix.y + pix.height) / zoom)


@pytest.mark.parametrize("caption_y", [470.0, 472.0, 473.5])
def test_framed_figure_crop_ends_above_the_caption_inside_the_frame(tmp_path: Path, caption_y: float):
    # a frame drawn around figure and caption (PMC4219006 Figures 3, 4): the frame pulls the caption
    # into the graphics region; the crop and every rendered pixel row must end above the first
    # caption line (main rendered the pixel row holding its letters' tops: 0.2-0.4 pt of the line
    # at these positions), and the image itself must stay whole
    pdf = pdfgen.framed_figure(tmp_path / "f.pdf", caption_y=caption_y)
    with pymupdf.open(pdf) as doc:
        pages, regions, _, _ = analyse_document(doc)
        assert len(regions) == 1
        r = regions[0]
        assert r.placement == "above"
        assert r.caption.lines[0].text.startswith("Figure 1")
        image = next(g.bbox for g in r.graphics if g.kind == "image")
        pix, clip, zoom = render_region(doc[r.page], r.bbox, 150, keep_out=r.keep_out)
    area = _pixel_area(pix, zoom)
    first = r.caption.lines[0].bbox
    assert r.bbox[3] <= first[1] and area[3] <= first[1], (r.bbox, area, first)
    for ln in r.caption.lines:
        assert r_inter(ln.bbox, r.bbox) is None, (ln.text, ln.bbox, r.bbox)
    # the figure is not cut: the crop holds the whole image
    assert r.bbox[1] <= image[1] and r.bbox[3] >= image[3] and area[3] >= image[3], (image, r.bbox, area)
    assert not any(ln.text.startswith("Figure") for ln in r.text_lines)


@pytest.mark.parametrize("caption_y", [200.0, 201.3, 202.9])
def test_framed_figure_with_the_caption_above_starts_below_its_last_line(tmp_path: Path, caption_y: float):
    pdf = pdfgen.framed_figure(tmp_path / "f.pdf", caption_y=caption_y, caption_above=True)
    with pymupdf.open(pdf) as doc:
        _, regions, _, _ = analyse_document(doc)
        assert len(regions) == 1
        r = regions[0]
        assert r.placement == "below"
        image = next(g.bbox for g in r.graphics if g.kind == "image")
        pix, _, zoom = render_region(doc[r.page], r.bbox, 150, keep_out=r.keep_out)
    area = _pixel_area(pix, zoom)
    for ln in r.caption.lines:
        assert r_inter(ln.bbox, r.bbox) is None and r_inter(ln.bbox, area) is None, (ln.text, ln.bbox, area)
    assert area[1] <= image[1] and area[3] >= image[3], (image, area)


@pytest.mark.parametrize("caption_y", [458, 466])
def test_no_rendered_pixel_row_holds_the_caption_line(tmp_path: Path, caption_y: float):
    pdf = pdfgen.caption_over_image(tmp_path / "c.pdf", caption_y=caption_y)
    with pymupdf.open(pdf) as doc:
        _, regions, _, _ = analyse_document(doc)
        r = regions[0]
        pix, _, zoom = render_region(doc[r.page], r.bbox, 150, keep_out=r.keep_out)
    assert _pixel_area(pix, zoom)[3] <= r.caption.lines[0].bbox[1]
