"""The committed dev gold set: shape, verbatim texts, coverage, and the rule splitter's targets on it."""

from __future__ import annotations

import json
from pathlib import Path

from medvl.split.labels import SHARED, normalise_label
from medvl.split.metrics import score_predictions
from medvl.split.rules import split_caption
from tests.helpers.textcheck import is_verbatim

ROOT = Path(__file__).resolve().parent.parent
GOLD = ROOT / "eval" / "gold" / "dev.jsonl"


def load() -> list[dict]:
    return [json.loads(line) for line in GOLD.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_rows_are_well_formed():
    rows = load()
    assert len(rows) >= 60
    assert len({r["id"] for r in rows}) == len(rows)
    for r in rows:
        assert set(r) <= {"id", "caption", "subcaptions", "source", "notes"}, r["id"]
        assert {"id", "caption", "subcaptions", "source"} <= set(r), r["id"]
        folder, pmcid, fig = r["source"].split("/")
        assert folder in {"hindawi", "other"} and pmcid.startswith("PMC") and fig
        labels = [s["label"] for s in r["subcaptions"]]
        assert len(labels) == len(set(labels)), r["id"]
        for s in r["subcaptions"]:
            assert set(s) == {"label", "text"}
            assert s["label"] == SHARED or normalise_label(s["label"]) == s["label"], (r["id"], s["label"])
            assert s["text"].strip() == s["text"] and s["text"], r["id"]
            assert is_verbatim(s["text"], r["caption"]), (r["id"], s["label"])
        # a caption without panels has no _shared entry either
        if labels:
            assert any(lab != SHARED for lab in labels), r["id"]


def test_coverage_of_cases():
    rows = load()
    with_panels = [r for r in rows if r["subcaptions"]]
    assert len(with_panels) >= 50 and len(rows) - len(with_panels) >= 30
    assert any(len([s for s in r["subcaptions"] if s["label"] != SHARED]) >= 10 for r in rows)
    assert any(s["label"] == SHARED for r in rows for s in r["subcaptions"])
    captions = " ".join(r["caption"] for r in rows)
    for marker in ["((b) and (c))", "(a) and (b)", "(b, c, d, and e)", "B-F)", "B-F:", "E, F.", "(a-g)",
                   "A one-year-old", "C. neoformans", "A indicates"]:
        assert marker in captions, marker


def test_rule_splitter_meets_targets_on_gold():
    rows = load()
    preds = [{"id": r["id"], "subcaptions": [s.model_dump() for s in split_caption(r["caption"])]} for r in rows]
    s = score_predictions(rows, preds)
    assert s["label_f1"] >= 0.95, s["label_f1"]
    assert s["exact_label_set"] >= 0.85, s["exact_label_set"]
    assert s["text_f1"] >= 0.90, s["text_f1"]


def test_gold_captions_are_the_corpus_captions(corpus_dir):
    """dev.jsonl is the data (its anchors-in-Python builder is gone): each caption is its corpus figure's."""
    from medvl.split.goldsets import xml_fig_captions

    for r in load():
        folder, pmcid, fig = r["source"].split("/")
        caps = xml_fig_captions((corpus_dir / folder / pmcid / "fulltext.xml").read_bytes())
        assert r["caption"] in caps.get(fig, []), r["id"]
