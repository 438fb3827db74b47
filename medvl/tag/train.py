"""`medvl tag train-image`: the image classifier's weights from weak labels.

Data recipe (README "Tag"):
1. every pair and whole figure of the given run directories (parse -> split -> align done) is tagged
   from its words only (the text tagger); a row whose modality (anatomy) confidence reaches
   ``min_confidence`` is a training example of that class for the modality (anatomy) head;
2. real slices that registry packages ship (medvl/tag/real.py), when installed: MNI152 T1 slices in
   three planes (mri, brain), pydicom's CT_small (ct, spine) and MR_small (mri), each with a few
   brightness/crop variants;
3. papers are split 75/25 by a hash of the paper id; the held-out accuracy (against the weak labels
   of the held-out papers) is measured, then the final weights are fitted on everything.
Classes with fewer than ``min_examples`` examples are left out of a head (the image then says
nothing about them).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from medvl.progress import ProgressFn, no_progress
from medvl.tag.image import N_FEATURES, ImageModel, features, features_from_array, fit_head

FIELDS = ("modality", "anatomy")


@dataclass
class Example:
    x: np.ndarray
    labels: dict[str, str]  # field -> class
    group: str  # paper id (or the real source), for the held-out split
    source: str


@dataclass
class TrainReport:
    examples: dict[str, dict[str, int]] = field(default_factory=dict)  # field -> class -> count
    heldout: dict[str, dict[str, Any]] = field(default_factory=dict)  # field -> accuracy, n, per class
    skipped: int = 0
    real: int = 0


def _arr_to_rgb(a: np.ndarray, side: int = 128) -> tuple[np.ndarray, tuple[int, int]]:
    from PIL import Image

    im = Image.fromarray(a).convert("RGB")
    size = im.size
    im.thumbnail((side, side))
    return np.asarray(im, dtype=np.float32) / 255.0, size


def real_examples(seed: int = 0) -> list[Example]:
    from medvl.tag import real

    if not real.available():
        return []
    rng = np.random.default_rng(seed)
    vol = real.mni_volume()
    base: list[tuple[np.ndarray, dict[str, str], str]] = []
    for plane, fracs in (("axial", np.linspace(0.35, 0.8, 10)), ("coronal", np.linspace(0.3, 0.75, 5)),
                         ("sagittal", np.linspace(0.3, 0.7, 5))):
        for f in fracs:
            base.append((real.mni_slice(plane, float(f), vol), {"modality": "mri", "anatomy": "brain"}, "mni152"))
    base.append((real.dicom_image("CT_small.dcm"), {"modality": "ct", "anatomy": "spine"}, "pydicom-ct"))
    base.append((real.dicom_image("MR_small.dcm"), {"modality": "mri"}, "pydicom-mr"))
    out = []
    for a, labels, src in base:
        for k in range(3 if src == "mni152" else 8):
            b = a.astype(np.float64)
            if k:
                b = np.clip(255 * (b / 255) ** rng.uniform(0.7, 1.4), 0, 255)
                h, w = b.shape
                y0, x0 = rng.integers(0, max(1, h // 8)), rng.integers(0, max(1, w // 8))
                b = b[y0:h - rng.integers(0, max(1, h // 8)), x0:w - rng.integers(0, max(1, w // 8))]
            rgb, size = _arr_to_rgb(b.astype(np.uint8))
            out.append(Example(features_from_array(rgb, size), dict(labels), f"real:{src}", src))
    return out


def corpus_examples(run_dirs: list[Path], min_confidence: float, progress: ProgressFn = no_progress,
                    report: TrainReport | None = None, exclude_papers: set[str] | None = None) -> list[Example]:
    from medvl.tag.stage import TagSettings, tag_run

    out = []
    for rd in run_dirs:
        rows = [r for r in tag_run(rd, TagSettings(image="off")) if r.paper_id not in (exclude_papers or ())]
        progress(0, total=len(rows))
        for r in rows:
            progress(1)
            labels = {f: getattr(r, f).value for f in FIELDS
                      if getattr(r, f).value is not None and getattr(r, f).confidence >= min_confidence}
            if not labels or not r.image:
                continue
            try:
                x = features(Path(rd) / r.image)
            except Exception:  # noqa: BLE001 - an unreadable image is left out (counted)
                if report is not None:
                    report.skipped += 1
                continue
            out.append(Example(x, labels, r.paper_id, str(rd)))
    return out


def _heldout(group: str) -> bool:
    """A quarter of the papers, by hash; the real slices are no papers: always training."""
    if group.startswith("real:"):
        return False
    return int(hashlib.sha256(group.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF < 0.25


def _fit(examples: list[Example], min_examples: int, l2: float) -> ImageModel:
    x = np.stack([e.x for e in examples]).astype(np.float64)
    mean, std = x.mean(axis=0), x.std(axis=0)
    std[std < 1e-6] = 1.0
    z = (x - mean) / std
    heads = {}
    for f in FIELDS:
        counts = Counter(e.labels[f] for e in examples if f in e.labels)
        classes = sorted(c for c, n in counts.items() if n >= min_examples)
        if len(classes) < 2:
            continue
        idx = [i for i, e in enumerate(examples) if e.labels.get(f) in classes]
        y = np.array([classes.index(examples[i].labels[f]) for i in idx])
        heads[f] = fit_head(z[idx], y, classes, l2=l2)
    return ImageModel(mean, std, heads, "", {})


def train_image_model(run_dirs: list[str | Path], out: str | Path, min_confidence: float = 0.85,
                      min_examples: int = 8, l2: float = 1e-2, use_real: bool = True,
                      progress: ProgressFn = no_progress, exclude_papers: set[str] | None = None) -> TrainReport:
    """Fit, measure on held-out papers, refit on all, write the weights JSON (atomic)."""
    import json

    from medvl.runs import atomic_write_text
    from medvl.tag.image import model_from_json

    report = TrainReport()
    examples = corpus_examples([Path(r) for r in run_dirs], min_confidence, progress, report, exclude_papers)
    if use_real:
        reals = real_examples()
        report.real = len(reals)
        examples += reals
    for f in FIELDS:
        report.examples[f] = dict(sorted(Counter(e.labels[f] for e in examples if f in e.labels).items()))
    train = [e for e in examples if not _heldout(e.group)]
    test = [e for e in examples if _heldout(e.group)]
    if train and test:
        m = _fit(train, max(2, min_examples * 3 // 4), l2)
        for f, head in m.heads.items():
            rows = [e for e in test if e.labels.get(f) in head.classes]
            if not rows:
                continue
            z = m.standardize(np.stack([e.x for e in rows]).astype(np.float64))
            pred = [head.classes[i] for i in head.probs(z).argmax(axis=1)]
            per: dict[str, list[int]] = {}
            for e, p in zip(rows, pred):
                per.setdefault(e.labels[f], [0, 0])
                per[e.labels[f]][0] += int(p == e.labels[f])
                per[e.labels[f]][1] += 1
            report.heldout[f] = {"accuracy": round(sum(v[0] for v in per.values()) / len(rows), 4), "n": len(rows),
                                 "per_class": {k: f"{v[0]}/{v[1]}" for k, v in sorted(per.items())}}
    final = _fit(examples, min_examples, l2)
    final.meta = {"trained_on": [str(r) for r in run_dirs], "min_confidence": min_confidence,
                  "min_examples": min_examples, "l2": l2, "real_examples": report.real,
                  "excluded_papers": len(exclude_papers or ()),
                  "examples": report.examples, "heldout_vs_weak_labels": report.heldout,
                  "recipe": "medvl tag train-image RUN_DIR... (medvl/tag/train.py)"}
    data = final.to_json()
    model_from_json(data)  # the file reads back
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out, json.dumps(data, sort_keys=True, separators=(",", ":")) + "\n")
    assert N_FEATURES == len(final.mean)
    return report
