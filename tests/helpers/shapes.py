"""A tiny open_clip CSV dataset built in code: coloured shapes with captions and a class per row."""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

COLORS = {"red": (220, 30, 30), "green": (30, 180, 40), "blue": (30, 60, 220), "yellow": (230, 210, 20)}
SHAPES = ("circle", "square", "triangle")


def make_shapes(root: Path, n_train: int = 96, n_val: int = 0, n_test: int = 0, seed: int = 0) -> Path:
    """A tiny open_clip CSV dataset: coloured shapes captioned 'a red circle' (+ metadata, class = colour)."""
    from PIL import Image, ImageDraw

    rng = random.Random(seed)
    (root / "img").mkdir(parents=True, exist_ok=True)
    for split, n in (("train", n_train), ("val", n_val), ("test", n_test)):
        rows, meta = [], []
        for i in range(n):
            c, s = rng.choice(list(COLORS)), rng.choice(SHAPES)
            im = Image.new("RGB", (64, 64))
            d = ImageDraw.Draw(im)
            x, y, r = rng.randint(16, 48), rng.randint(16, 48), rng.randint(9, 14)
            if s == "circle":
                d.ellipse([x - r, y - r, x + r, y + r], fill=COLORS[c])
            elif s == "square":
                d.rectangle([x - r, y - r, x + r, y + r], fill=COLORS[c])
            else:
                d.polygon([(x, y - r), (x - r, y + r), (x + r, y + r)], fill=COLORS[c])
            rel = f"img/{split}_{i:04d}.png"
            im.save(root / rel)
            rows.append((rel, f"a {c} {s}"))
            meta.append({"pair_id": f"{split}-{i}", "filepath": rel, "synthetic_class": c, "paper_id": f"p{i % 7}"})
        with open(root / f"{split}.csv", "w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh, delimiter="\t")
            w.writerow(["filepath", "title"])
            w.writerows(rows)
        with open(root / f"{split}.jsonl", "w", encoding="utf-8") as fh:
            fh.writelines(json.dumps(m) + "\n" for m in meta)
    (root / "manifest.json").write_text(json.dumps({"pairs": "toy", "counts": {"train": n_train}}))
    return root
