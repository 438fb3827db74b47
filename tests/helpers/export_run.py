"""A small run directory for the export tests (figures.jsonl, pairs.jsonl, images), built in code."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from medvl.records import Figure, Pair, Panel, Provenance, figure_id, pair_id, panel_id
from medvl.runs import RunDir, write_jsonl

PROV = Provenance(stage="test", stage_version="0", input_sha256="0" * 64)


def _png(rd: RunDir, rel: str, seed: int, size: tuple[int, int] = (24, 20)) -> str:
    p = rd.inside(rel)
    p.parent.mkdir(parents=True, exist_ok=True)
    arr = np.random.default_rng(seed).integers(0, 255, (size[1], size[0]), dtype=np.uint8)
    Image.fromarray(arr).save(p)
    return rel


def build_run(root: Path, n_papers: int = 12, dup: bool = False) -> RunDir:
    """A run with figures.jsonl, pairs.jsonl and images: 2 panels per figure, 1 figure per paper."""
    rd = RunDir(root)
    figs, pairs = [], []
    for i in range(n_papers):
        pid = f"p{i:016x}"
        fid = figure_id(pid, 1, 0)
        fig_img = _png(rd, f"images/{pid}/{fid}.png", 1000 + i, (50, 20))
        panels = []
        for k in range(2):
            pn = panel_id(fid, k)
            img = _png(rd, f"images/{pid}/{pn}.png", 7 if (dup and k == 1) else i * 10 + k)
            panels.append(Panel(panel_id=pn, bbox=[k * 25, 0, k * 25 + 24, 20], label="AB"[k], label_source="pdf_text",
                                image=img))
            pairs.append(Pair(pair_id=pair_id(fid, "AB"[k], k), image=img, text=f"Panel {'AB'[k]}\tof paper {i} \"q\".",
                              figure_id=fid, paper_id=pid, panel_id=pn, label="AB"[k], method="letter",
                              confidence=0.95 if k == 0 else 0.6, license="CC-BY-4.0", provenance=PROV))
        figs.append(Figure(paper_id=pid, figure_id=fid, source=f"{pid}.pdf", page=1, index=0, label="Figure 1",
                           caption=f"Figure 1. (A) Panel A of paper {i}. (B) Panel B.", bbox=[0, 0, 24, 9.6],
                           image=fig_img, width=50, height=20, dpi=150, panels=panels, provenance=PROV))
    write_jsonl(rd.file("figures.jsonl"), figs)
    write_jsonl(rd.file("pairs.jsonl"), pairs)
    return rd
