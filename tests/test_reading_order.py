"""One reading order for parse and align (medvl/readingorder.py): parse fills panel letters in it, align pairs
letters "by order" in it.  Before, align read the grid's rows (top to bottom, left to right) while parse used
recursive cuts, and the two disagreed on layouts such as a tall panel beside a stack."""

from __future__ import annotations

import random

import numpy as np
from PIL import Image

import medvl.align
import medvl.pdf.panels
from medvl.align import AlignSettings, align_figure
from medvl.readingorder import grid_rows, reading_order
from medvl.records import Figure, Panel, Provenance, SplitRow, Subcaption, figure_id, panel_id, sha256_text
from medvl.runs import RunDir

PROV = Provenance(stage="test", stage_version="0", input_sha256="0" * 64)


def random_layout(rng: random.Random) -> list[list[int]]:
    """Panel boxes of a figure: rows of panels of varied widths and heights, sometimes a tall panel at a side."""
    boxes: list[list[int]] = []
    x_start = 0
    if rng.random() < 0.4:  # a tall panel on the left, a stack of rows beside it
        tall_w = rng.randint(60, 140)
        x_start = tall_w + 10
    y = 0
    for _ in range(rng.randint(1, 3)):
        h = rng.randint(50, 120)
        x = x_start
        for _ in range(rng.randint(1, 4)):
            w = rng.randint(40, 120)
            dy = rng.randint(0, h // 3)  # staggered tops
            boxes.append([x, y + dy, x + w, y + dy + h - rng.randint(0, h // 3)])
            x += w + rng.randint(6, 20)
        y += h + rng.randint(6, 20)
    if x_start:
        boxes.append([0, 0, x_start - 10, y - 6])
    rng.shuffle(boxes)
    return boxes


def test_parse_and_align_use_one_reading_order():
    assert medvl.pdf.panels.reading_order is reading_order
    assert medvl.align.panel_reading_order is reading_order


def test_rows_of_the_grid_are_not_the_reading_order_on_many_layouts():
    """The layouts below are the ones the two old orders disagreed on: they exercise the difference."""
    rng = random.Random(12)
    layouts = [random_layout(rng) for _ in range(500)]
    differ = sum(reading_order(b) != [i for row in grid_rows(b) for i in row] for b in layouts)
    assert differ >= 20, differ


def _figure(rd: RunDir, boxes: list[list[int]]) -> Figure:
    fid = figure_id("p0", 1, 0)
    w, h = max(b[2] for b in boxes), max(b[3] for b in boxes)
    rel = f"images/p0/{fid}.png"
    rd.inside(rel).parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((h, w), 200, np.uint8)).save(rd.inside(rel))
    panels = []
    for k, b in enumerate(boxes):
        prel = f"images/p0/{panel_id(fid, k)}.png"
        Image.fromarray(np.full((b[3] - b[1], b[2] - b[0]), 10 * k % 250, np.uint8)).save(rd.inside(prel))
        panels.append(Panel(panel_id=panel_id(fid, k), bbox=b, image=prel))
    return Figure(paper_id="p0", figure_id=fid, source="p0.pdf", page=1, index=0, label="Figure 1",
                  caption="Figure 1. Panels.", image=rel, width=w, height=h, dpi=150, panels=panels,
                  license="CC-BY-4.0", provenance=PROV)


def test_align_pairs_letters_in_the_order_parse_fills_them(tmp_path):
    """Unlettered panels: align's 'order' step gives letter k to the k-th panel in the reading order parse
    uses to fill letters, on layouts where the grid's rows would give another answer."""
    rng = random.Random(5)
    checked = 0
    for n in range(400):
        boxes = random_layout(rng)
        order = reading_order(boxes)
        if len(boxes) < 2 or len(boxes) > 26 or order == [i for row in grid_rows(boxes) for i in row]:
            continue
        rd = RunDir(tmp_path / f"r{n}")
        fig = _figure(rd, boxes)
        letters = [chr(ord("A") + i) for i in range(len(boxes))]
        split = SplitRow(id=fig.figure_id, caption_sha256=sha256_text(fig.caption),
                         subcaptions=[Subcaption(label=L, text=f"Text of panel {L}.") for L in letters],
                         splitter="rules", provenance=PROV)
        pairs, _ = align_figure(fig, split, AlignSettings(), rd)
        got = {p.label: p.panel_id for p in pairs if p.method == "order"}
        assert got == {L: fig.panels[order[k]].panel_id for k, L in enumerate(letters)}, boxes
        checked += 1
        if checked == 15:
            break
    assert checked == 15
