"""Scores for subcaption splitters against a gold set.

`score_predictions(gold_rows, pred_rows)` compares two lists of rows shaped like
``{"id": ..., "subcaptions": [{"label": ..., "text": ...}, ...]}`` (dicts, or objects with
``id`` and ``subcaptions`` attributes such as `medvl.records.SplitRow`) and returns:

* ``label_precision`` / ``label_recall`` / ``label_f1``: micro averages over (caption, label) pairs,
  ``"_shared"`` excluded; labels are normalised with `normalise_label` on both sides;
* ``exact_label_set``: share of gold captions whose predicted label set (without ``"_shared"``) equals
  the gold set; a caption with no panels and an empty prediction counts as exact;
* ``text_f1``: SQuAD-style token F1 of the texts of matched labels, averaged over matched pairs
  (several entries with the same label are joined with a space first);
* ``no_panel_accuracy``: share of gold captions without panels whose prediction has no panel label
  either (``n_no_panel`` of them; None when there are none);
* ``shared_precision`` / ``shared_recall`` / ``shared_f1`` (does a caption have a ``"_shared"`` entry)
  and ``shared_text_f1`` (token F1 of ``"_shared"`` texts where both have one);
* counts: ``n_captions``, ``n_gold_labels``, ``n_pred_labels``, ``n_matched``, ``n_missing_predictions``
  (gold ids without a prediction: scored as empty predictions), ``n_extra_predictions`` (ignored);
* ``disagreements``: per caption where the label sets differ or a matched text has F1 < 1:
  ``{"id", "gold_labels", "pred_labels", "missing", "extra", "text_f1": {label: f1}}``.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from typing import Any, Iterable, Mapping

from medvl.split.labels import SHARED, label_sort_key, normalise_label

_PUNCT = set(string.punctuation) | set("\u2013\u2014\u2212\u2018\u2019\u201c\u201d\u2026\u00b7\u00d7\u2264\u2265\u00b1")
_ARTICLES = re.compile(r"\b(a|an|the)\b")


def normalize_answer(text: str) -> str:
    """SQuAD normalisation: lowercase, drop punctuation and articles, collapse whitespace."""
    text = text.lower()
    text = "".join(" " if ch in _PUNCT else ch for ch in text)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def token_f1(gold: str, pred: str) -> float:
    """SQuAD-style token F1 between two strings (1.0 when both normalise to nothing)."""
    g = normalize_answer(gold).split()
    p = normalize_answer(pred).split()
    if not g and not p:
        return 1.0
    if not g or not p:
        return 0.0
    common = Counter(g) & Counter(p)
    same = sum(common.values())
    if same == 0:
        return 0.0
    precision = same / len(p)
    recall = same / len(g)
    return 2 * precision * recall / (precision + recall)


def _field(row: Any, name: str) -> Any:
    if isinstance(row, Mapping):
        return row.get(name)
    return getattr(row, name, None)


def label_texts(subcaptions: Iterable[Any] | None) -> dict[str, str]:
    """Map normalised label -> text (texts of repeated labels joined with a space)."""
    out: dict[str, list[str]] = {}
    for sc in subcaptions or []:
        raw = _field(sc, "label")
        text = _field(sc, "text") or ""
        lab = normalise_label(raw) or (raw or "").strip()
        if not lab:
            continue
        out.setdefault(lab, []).append(text.strip())
    return {k: " ".join(t for t in v if t) for k, v in out.items()}


def _prf(tp: int, n_pred: int, n_gold: int) -> tuple[float, float, float]:
    p = tp / n_pred if n_pred else (1.0 if n_gold == 0 else 0.0)
    r = tp / n_gold if n_gold else (1.0 if n_pred == 0 else 0.0)
    f = 2 * p * r / (p + r) if p + r else 0.0
    return p, r, f


def score_predictions(gold_rows: Iterable[Any], pred_rows: Iterable[Any]) -> dict[str, Any]:
    """Score predicted subcaptions against gold; see the module docstring for the keys."""
    preds: dict[str, Any] = {}
    for row in pred_rows:
        preds[str(_field(row, "id"))] = row
    gold_list = list(gold_rows)
    gold_ids = set()

    n_gold = n_pred = tp = 0
    exact = 0
    no_panel = no_panel_ok = 0
    text_scores: list[float] = []
    sh_tp = sh_gold = sh_pred = 0
    sh_text: list[float] = []
    missing_preds = 0
    disagreements: list[dict[str, Any]] = []

    for g in gold_list:
        gid = str(_field(g, "id"))
        gold_ids.add(gid)
        gmap = label_texts(_field(g, "subcaptions"))
        prow = preds.get(gid)
        if prow is None:
            missing_preds += 1
            pmap: dict[str, str] = {}
        else:
            pmap = label_texts(_field(prow, "subcaptions"))
        gset = {k for k in gmap if k != SHARED}
        pset = {k for k in pmap if k != SHARED}
        matched = gset & pset
        n_gold += len(gset)
        n_pred += len(pset)
        tp += len(matched)
        if gset == pset:
            exact += 1
        if not gset:
            no_panel += 1
            no_panel_ok += not pset
        raw = {lab: token_f1(gmap[lab], pmap[lab]) for lab in sorted(matched, key=label_sort_key)}
        text_scores.extend(raw.values())
        f1s = {lab: round(v, 4) for lab, v in raw.items()}
        gs, ps = SHARED in gmap, SHARED in pmap
        sh_gold += gs
        sh_pred += ps
        if gs and ps:
            sh_tp += 1
            sh_text.append(token_f1(gmap[SHARED], pmap[SHARED]))
        if gset != pset or any(v < 1.0 for v in raw.values()):
            disagreements.append({
                "id": gid,
                "gold_labels": sorted(gset, key=label_sort_key),
                "pred_labels": sorted(pset, key=label_sort_key),
                "missing": sorted(gset - pset, key=label_sort_key),
                "extra": sorted(pset - gset, key=label_sort_key),
                "text_f1": f1s,
                "missing_prediction": prow is None,
            })

    p, r, f = _prf(tp, n_pred, n_gold)
    sp, sr, sf = _prf(sh_tp, sh_pred, sh_gold)
    n = len(gold_list)
    return {
        "n_captions": n,
        "n_gold_labels": n_gold,
        "n_pred_labels": n_pred,
        "n_matched": tp,
        "label_precision": p,
        "label_recall": r,
        "label_f1": f,
        "exact_label_set": exact / n if n else 0.0,
        "text_f1": sum(text_scores) / len(text_scores) if text_scores else 0.0,
        "no_panel_accuracy": no_panel_ok / no_panel if no_panel else None,
        "n_no_panel": no_panel,
        "shared_precision": sp,
        "shared_recall": sr,
        "shared_f1": sf,
        "shared_text_f1": sum(sh_text) / len(sh_text) if sh_text else 0.0,
        "n_missing_predictions": missing_preds,
        "n_extra_predictions": len(set(preds) - gold_ids),
        "disagreements": disagreements,
    }
