"""Figures with panels and split rows built in code (no PDF, no LLM), shared by the align tests."""

from __future__ import annotations

import numpy as np
from PIL import Image

from medvl.records import Figure, Panel, Provenance, SplitRow, Subcaption, figure_id, panel_id, sha256_text
from medvl.runs import RunDir

PROV = Provenance(stage="test", stage_version="0", input_sha256="0" * 64)


def _png(rd: RunDir, rel: str, w: int, h: int, value: int = 128) -> str:
    p = rd.inside(rel)
    p.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((h, w), value, np.uint8)).save(p)
    return rel


def make_figure(rd: RunDir | None, paper: str, idx: int, caption: str, boxes: list[list[int]],
                letters: list[str | None] | None = None, source: str = "pdf_text",
                panel_images: bool = True, size: tuple[int, int] = (200, 200)) -> Figure:
    fid = figure_id(paper, 1, idx)
    fig_img = _png(rd, f"images/{paper}/{fid}.png", *size) if rd is not None else f"images/{paper}/{fid}.png"
    panels = []
    for k, b in enumerate(boxes):
        pnid = panel_id(fid, k)
        img = None
        if panel_images:
            img = _png(rd, f"images/{paper}/{pnid}.png", b[2] - b[0], b[3] - b[1], 10 * k) if rd is not None \
                else f"images/{paper}/{pnid}.png"
        lab = letters[k] if letters else None
        panels.append(Panel(panel_id=pnid, bbox=b, label=lab, label_source=source if lab else None, image=img))
    return Figure(paper_id=paper, figure_id=fid, source=f"{paper}.pdf", page=1, index=idx, label=f"Figure {idx + 1}",
                  caption=caption, image=fig_img, width=size[0], height=size[1], dpi=150, panels=panels,
                  license="CC-BY-4.0", provenance=PROV)


def make_split(fig: Figure, subs: list[tuple[str, str]]) -> SplitRow:
    return SplitRow(id=fig.figure_id, caption_sha256=sha256_text(fig.caption),
                    subcaptions=[Subcaption(label=lab, text=t) for lab, t in subs], splitter="rules",
                    provenance=Provenance(stage="split", stage_version="1", input_sha256="1" * 64))


GRID = [[0, 0, 95, 95], [105, 0, 200, 95], [0, 105, 95, 200], [105, 105, 200, 200]]  # 2x2, reading order
ROW = [[0, 0, 95, 200], [105, 0, 200, 200]]
