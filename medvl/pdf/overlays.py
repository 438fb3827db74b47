"""Debug overlays: each page with figure, caption and panel boxes drawn (LayoutParser ``lp.draw_box``).

``show_element_type=True`` crashes on Pillow >= 10 (``FreeTypeFont.getsize`` was removed), so
boxes are coloured by type and labelled with ids only.
"""

from __future__ import annotations

from typing import Any

from medvl.runs import RunDir, atomic_write_bytes

COLORS = {"figure": "red", "caption": "blue", "panel": "green", "detector": "orange"}


def write_overlays(doc: Any, items: dict[int, list[tuple[str, tuple, str]]], rd: RunDir, paper_id: str,
                   dpi: int = 72) -> list[str]:
    """Write RUN_DIR/overlays/<paper_id>/page-NNN.png for every page with items; returns the paths."""
    import io

    import pymupdf
    from PIL import Image

    from medvl.pdf.layout import to_layout

    out = []
    zoom = dpi / 72.0
    for pno in sorted(items):
        page = doc[pno]
        pix = page.get_pixmap(matrix=pymupdf.Matrix(zoom, zoom), alpha=False)
        img = Image.frombytes("RGB", (pix.width, pix.height), pix.samples)
        layout = to_layout(items[pno], zoom)
        canvas = _draw(img, layout)
        buf = io.BytesIO()
        canvas.save(buf, format="PNG")
        rel = f"overlays/{paper_id}/page-{pno + 1:03d}.png"
        atomic_write_bytes(rd.inside(rel), buf.getvalue())
        out.append(rel)
    return out


def _draw(img: Any, layout: Any) -> Any:
    import layoutparser as lp

    colors = [COLORS.get(b.type, "black") for b in layout]
    widths = [3 if b.type == "figure" else 2 for b in layout]
    return lp.draw_box(img, layout, box_width=widths, box_color=colors, show_element_id=False,
                       show_element_type=False)
