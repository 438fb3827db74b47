"""Small synthetic images for the panel tests: a textured photograph, a flat bar chart."""

from __future__ import annotations

import numpy as np


def photo(h: int, w: int, seed: int, base: int = 120) -> np.ndarray:
    """A textured grey 'scan' (noise and a soft blob: not flat like a chart)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    blob = 80 * np.exp(-(((xx - w / 2) / (w / 3)) ** 2 + ((yy - h / 2) / (h / 3)) ** 2))
    return np.clip(base - 40 + blob + rng.normal(0, 14, (h, w)), 0, 255).astype(np.uint8)


def rgb_of(g: np.ndarray) -> np.ndarray:
    return np.repeat(g[:, :, None], 3, axis=2)


def chart(h: int, w: int, bars: int = 4) -> np.ndarray:
    """A flat bar chart: white, black axes, grey bars."""
    g = np.full((h, w), 255, np.uint8)
    g[5:h - 5, 8:10] = 0
    g[h - 7:h - 5, 8:w - 5] = 0
    for i in range(bars):
        x = 20 + i * (w - 30) // bars
        g[h // 3 + 5 * i:h - 7, x:x + (w - 30) // (2 * bars)] = 110
    return g
