"""Image <-> text retrieval metrics: recall@k, mean and median rank.

The metric functions work on plain numpy arrays (no torch), so they are cheap to test.
Ground truth: pair i's image matches pair i's text.  Pairs whose texts are identical
(after whitespace and case folding) are interchangeable, so for image->text any text of the
same group is a correct answer and for text->image any image of the same group is.  The rank of
a query is 1 + the number of candidates scored strictly higher than its best correct candidate.
"""

from __future__ import annotations

import math
import re
from typing import Iterable, Sequence

import numpy as np

KS = (1, 5, 10)


def text_groups(texts: Sequence[str]) -> np.ndarray:
    """Group id per text: identical texts (whitespace and case folded) share an id."""
    ids: dict[str, int] = {}
    out = np.empty(len(texts), dtype=np.int64)
    for i, t in enumerate(texts):
        key = re.sub(r"\s+", " ", str(t)).strip().casefold()
        out[i] = ids.setdefault(key, len(ids))
    return out


def ranks(sim: np.ndarray, query_groups: np.ndarray, cand_groups: np.ndarray) -> np.ndarray:
    """1-based rank of the best correct candidate for every query (rows of sim)."""
    sim = np.asarray(sim, dtype=np.float64)
    if sim.ndim != 2 or sim.shape != (len(query_groups), len(cand_groups)):
        raise ValueError(f"similarity shape {sim.shape} does not match {len(query_groups)} queries "
                         f"x {len(cand_groups)} candidates")
    correct = query_groups[:, None] == cand_groups[None, :]
    if not correct.any(axis=1).all():
        raise ValueError("some query has no correct candidate")
    best = np.where(correct, sim, -np.inf).max(axis=1)
    return 1 + (sim > best[:, None]).sum(axis=1)


def chance_recall(n_candidates: int, n_correct: Iterable[int], k: int) -> float:
    """Expected recall@k of a random ranking: mean over queries of P(a correct one in the top k)."""
    vals = []
    for m in n_correct:
        if k >= n_candidates:
            vals.append(1.0)
            continue
        # P(no correct candidate among the top k) = C(n-m, k) / C(n, k)
        miss = math.comb(n_candidates - m, k) / math.comb(n_candidates, k) if n_candidates - m >= k else 0.0
        vals.append(1.0 - miss)
    return float(np.mean(vals)) if vals else 0.0


def summarize(r: np.ndarray, ks: Sequence[int] = KS) -> dict[str, float]:
    out = {f"R@{k}": float((r <= k).mean()) for k in ks}
    out["mean_rank"] = float(r.mean())
    out["median_rank"] = float(np.median(r))
    return out


def retrieval_metrics(image_features: np.ndarray, text_features: np.ndarray, texts: Sequence[str],
                      ks: Sequence[int] = KS) -> dict:
    """Image->text and text->image retrieval over N aligned pairs (features L2-normalised here)."""
    img = _normalise(np.asarray(image_features, dtype=np.float64))
    txt = _normalise(np.asarray(text_features, dtype=np.float64))
    if img.shape[0] != txt.shape[0] or img.shape[0] != len(texts):
        raise ValueError(f"{img.shape[0]} images, {txt.shape[0]} text features and {len(texts)} texts")
    n = img.shape[0]
    if n == 0:
        raise ValueError("no pairs to evaluate")
    groups = text_groups(texts)
    sim = img @ txt.T
    i2t = ranks(sim, groups, groups)
    t2i = ranks(sim.T, groups, groups)
    sizes = np.bincount(groups)[groups]
    return {
        "n_pairs": n,
        "n_unique_texts": int(groups.max() + 1),
        "image_to_text": summarize(i2t, ks),
        "text_to_image": summarize(t2i, ks),
        "chance": {f"R@{k}": chance_recall(n, sizes.tolist(), k) for k in ks},
        "ranks": {"image_to_text": i2t.tolist(), "text_to_image": t2i.tolist()},
    }


def _normalise(x: np.ndarray) -> np.ndarray:
    if x.ndim != 2:
        raise ValueError(f"features must be 2-D, got shape {x.shape}")
    norm = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(norm, 1e-12)


def top_neighbours(query_features: np.ndarray, cand_features: np.ndarray, cand_texts: Sequence[str], k: int,
                   chunk: int = 1024) -> list[list[tuple[int, float]]]:
    """The k best candidates of every query as (candidate index, cosine score), best first.

    Candidates whose texts are identical (whitespace and case folded, as in the metrics) count
    once: the best-scoring of them stands for the group, so a top-k lists k distinct texts.
    Ties keep the lower index first.  Similarities are computed in chunks of queries (float32),
    so memory stays at chunk x N.
    """
    q = _normalise(np.asarray(query_features, dtype=np.float32))
    c = _normalise(np.asarray(cand_features, dtype=np.float32))
    if c.shape[0] != len(cand_texts):
        raise ValueError(f"{c.shape[0]} candidate features and {len(cand_texts)} texts")
    if k < 1 or c.shape[0] == 0:
        return [[] for _ in range(q.shape[0])]
    groups = text_groups(cand_texts)
    n_groups = int(groups.max()) + 1
    want = min(k, n_groups)
    out: list[list[tuple[int, float]]] = []
    for start in range(0, q.shape[0], chunk):
        sim = q[start:start + chunk] @ c.T
        for row in sim:
            # a stable sort on -score: equal scores keep the lower index first
            order = np.argsort(-row, kind="stable")
            picked: list[tuple[int, float]] = []
            seen: set[int] = set()
            for j in order:
                g = int(groups[j])
                if g in seen:
                    continue
                seen.add(g)
                picked.append((int(j), float(row[j])))
                if len(picked) == want:
                    break
            out.append(picked)
    return out
