"""A small image classifier for modality and anatomy: hand-made features + softmax regression (numpy).

Features (``features``, 111 numbers) are cheap and explainable: colour (saturation, hue histogram),
grey-level histogram, white/black fractions, edges, left-right symmetry, centre vs border brightness,
the number of distinct grey levels (charts and diagrams have few), aspect ratio and an 8x8 grey
thumbnail.  Each field (modality, anatomy) has its own softmax regression over the classes that had
enough training examples.  Weights are a small JSON file (medvl/tag/models/image_v1.json, ~40 KB);
``medvl tag train-image`` makes it from weak labels (medvl/tag/train.py).  No torch needed.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from medvl.errors import MedvlError

MODELS_DIR = Path(__file__).resolve().parent / "models"
DEFAULT_MODEL = MODELS_DIR / "image_v1.json"
FEATURE_VERSION = 1
THUMB = 8


class ImageModelMissing(MedvlError):
    """No image-classifier weights where they were looked for."""


def _load_rgb(path: str | Path, side: int = 128) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as im:
        im.draft("RGB", (side * 2, side * 2))  # JPEG: decode at a reduced size
        w, h = im.size
        if im.mode not in ("RGB", "L", "RGBA", "LA", "I;16", "I", "F"):
            im = im.convert("RGB")  # palette images: colours first, then shrink
        k = min(w, h) // side
        if k >= 2:
            im = im.reduce(k)  # a box filter by an integer factor: fast, then the small resize
        im.thumbnail((side, side))  # shrink before converting: converting a whole figure costs more
        im = im.convert("RGB")
        return np.asarray(im, dtype=np.float32) / 255.0, (w, h)


def features_from_array(rgb: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Feature vector of an RGB array in [0, 1] (h, w, 3); `size` is the original (w, h)."""
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    mx, mn = rgb.max(axis=2), rgb.min(axis=2)
    sat = np.where(mx > 0, (mx - mn) / np.maximum(mx, 1e-6), 0.0)
    gray = 0.299 * r + 0.587 * g + 0.114 * b
    f: list[float] = []
    # colour
    colourful = sat > 0.25
    f += [float(sat.mean()), float(colourful.mean()), float(np.abs(r - g).mean() + np.abs(g - b).mean())]
    # hue histogram of the colourful pixels (6 bins), as fractions of all pixels
    d = np.maximum(mx - mn, 1e-6)
    hue = np.where(mx == r, ((g - b) / d) % 6, np.where(mx == g, (b - r) / d + 2, (r - g) / d + 4)) / 6.0
    hh = np.histogram(hue[colourful], bins=6, range=(0, 1))[0] / gray.size
    f += hh.tolist()
    f += [float(c.mean()) for c in (r, g, b)] + [float(c.std()) for c in (r, g, b)]
    # grey levels
    f += (np.histogram(gray, bins=16, range=(0, 1))[0] / gray.size).tolist()
    f += [float((gray > 0.94).mean()), float((gray < 0.06).mean()), float(gray.mean()), float(gray.std())]
    q = np.round(gray * 63).astype(np.int32)
    f += [float(np.count_nonzero(np.bincount(q.ravel(), minlength=64))) / 64.0]
    # edges
    dx = np.abs(np.diff(gray, axis=1))
    dy = np.abs(np.diff(gray, axis=0))
    f += [float(dx.mean()), float(dy.mean()), float((dx > 0.25).mean()), float((dy > 0.25).mean())]
    # straight ruled lines (chart axes, table rules): rows/columns mostly one dark colour
    dark = gray < 0.5
    f += [float((dark.mean(axis=1) > 0.6).mean()), float((dark.mean(axis=0) > 0.6).mean())]
    # left-right symmetry (axial brain slices), centre vs border
    flipped = gray[:, ::-1]
    a, bb = gray - gray.mean(), flipped - flipped.mean()
    den = float(np.sqrt((a * a).sum() * (bb * bb).sum())) or 1.0
    f += [float((a * bb).sum() / den)]
    h, w = gray.shape
    cy, cx = slice(h // 4, h - h // 4), slice(w // 4, w - w // 4)
    centre = float(gray[cy, cx].mean())
    f += [centre, centre - float(gray.mean())]
    ow, oh = size
    f += [float(np.log(max(ow, 1) / max(oh, 1))), float(np.log1p(ow * oh) / 15.0)]
    # 8x8 grey thumbnail (cell means; edge cells take the remainder)
    ys = np.linspace(0, h, THUMB + 1).astype(int)
    xs = np.linspace(0, w, THUMB + 1).astype(int)
    ys[1:] = np.maximum(ys[1:], ys[:-1] + 1)
    xs[1:] = np.maximum(xs[1:], xs[:-1] + 1)
    pad = np.pad(gray, ((0, max(0, ys[-1] - h)), (0, max(0, xs[-1] - w))), mode="edge")
    sums = np.add.reduceat(np.add.reduceat(pad, ys[:-1], axis=0), xs[:-1], axis=1)
    counts = np.outer(np.diff(ys), np.diff(xs))
    f += (sums / counts).ravel().tolist()
    return np.asarray(f, dtype=np.float32)


def features(path: str | Path) -> np.ndarray:
    rgb, size = _load_rgb(path)
    return features_from_array(rgb, size)


N_FEATURES = len(features_from_array(np.zeros((8, 8, 3), np.float32), (8, 8)))


@dataclass
class Head:
    classes: list[str]
    W: np.ndarray  # (features, classes)
    b: np.ndarray  # (classes,)

    def probs(self, z: np.ndarray) -> np.ndarray:
        logits = z @ self.W + self.b
        logits -= logits.max(axis=-1, keepdims=True)
        e = np.exp(logits)
        return e / e.sum(axis=-1, keepdims=True)


@dataclass
class ImageModel:
    mean: np.ndarray
    std: np.ndarray
    heads: dict[str, Head]
    sha: str
    meta: dict[str, Any]

    def standardize(self, x: np.ndarray) -> np.ndarray:
        return (x - self.mean) / self.std

    def predict_features(self, x: np.ndarray) -> dict[str, dict[str, float]]:
        z = self.standardize(np.asarray(x, dtype=np.float64))
        return {name: {c: float(p) for c, p in zip(h.classes, h.probs(z))} for name, h in self.heads.items()}

    def predict_file(self, path: str | Path) -> dict[str, dict[str, float]]:
        return self.predict_features(features(path))

    def to_json(self) -> dict[str, Any]:
        r = lambda a: [round(float(v), 5) for v in np.ravel(a)]  # noqa: E731
        return {"format": "medvl-image-classifier", "feature_version": FEATURE_VERSION, "n_features": N_FEATURES,
                "mean": r(self.mean), "std": r(self.std),
                "heads": {k: {"classes": h.classes, "W": [r(row) for row in h.W], "b": r(h.b)}
                          for k, h in self.heads.items()},
                "meta": self.meta}


def model_from_json(data: dict[str, Any], where: str = "<model>") -> ImageModel:
    if data.get("format") != "medvl-image-classifier" or data.get("feature_version") != FEATURE_VERSION:
        raise MedvlError(f"{where}: not a medvl image classifier of feature version {FEATURE_VERSION}")
    if data.get("n_features") != N_FEATURES:
        raise MedvlError(f"{where}: made for {data.get('n_features')} features, this code makes {N_FEATURES}")
    heads = {k: Head(list(h["classes"]), np.asarray(h["W"], dtype=np.float64), np.asarray(h["b"], dtype=np.float64))
             for k, h in data["heads"].items()}
    blob = json.dumps(data, sort_keys=True, separators=(",", ":")).encode()
    return ImageModel(np.asarray(data["mean"], np.float64), np.asarray(data["std"], np.float64), heads,
                      hashlib.sha256(blob).hexdigest(), dict(data.get("meta") or {}))


_CACHE: dict[str, ImageModel] = {}


def load_model(path: str | Path | None = None) -> ImageModel:
    """The classifier at `path` (default: the shipped medvl/tag/models/image_v1.json), cached per process."""
    p = Path(path) if path else DEFAULT_MODEL
    key = str(p.resolve())
    if key not in _CACHE:
        if not p.is_file():
            raise ImageModelMissing(f"{p}: no image classifier weights (make them with `medvl tag train-image`)")
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise MedvlError(f"{p}: cannot read the image classifier ({exc})") from None
        _CACHE[key] = model_from_json(data, str(p))
    return _CACHE[key]


def fit_head(x: np.ndarray, y: np.ndarray, classes: list[str], l2: float = 1e-2, steps: int = 600,
             lr: float = 0.1, seed: int = 0) -> Head:
    """Softmax regression by full-batch Adam on standardized features, classes balanced by weight."""
    n, d = x.shape
    k = len(classes)
    rng = np.random.default_rng(seed)
    W = rng.normal(0, 0.01, (d, k))
    b = np.zeros(k)
    onehot = np.eye(k)[y]
    counts = np.bincount(y, minlength=k).astype(np.float64)
    sw = (n / (k * np.maximum(counts, 1)))[y]
    sw /= sw.sum()
    mW, vW, mb, vb = (np.zeros_like(W), np.zeros_like(W), np.zeros_like(b), np.zeros_like(b))
    for t in range(1, steps + 1):
        logits = x @ W + b
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        p /= p.sum(axis=1, keepdims=True)
        g = (p - onehot) * sw[:, None]
        gW = x.T @ g + l2 * W
        gb = g.sum(axis=0)
        for prm, grad, m, v in ((W, gW, mW, vW), (b, gb, mb, vb)):
            m *= 0.9
            m += 0.1 * grad
            v *= 0.999
            v += 0.001 * grad * grad
            prm -= lr * (m / (1 - 0.9 ** t)) / (np.sqrt(v / (1 - 0.999 ** t)) + 1e-8)
    return Head(list(classes), W, b)
