"""SourceData gold loader (grouped segments expanded or skipped, halves by article) and no-panel accuracy."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from medvl.split.goldsets import label_style, load_sourcedata, read_split, sourcedata_row
from medvl.split.metrics import score_predictions
from tests.helpers.env import SHARED_DIR

ROOT = Path(__file__).resolve().parent.parent
SOURCEDATA = SHARED_DIR / "gold" / "sourcedata_dev.jsonl"
SPLIT = ROOT / "eval" / "gold" / "sourcedata_split.json"

# a made-up row in SourceData's shape (their curated legends are never copied here)
ROW = {"id": "x1", "doi": "10.0/x", "caption": "Figure 1. Title. (A) Mice. (B,C) Rats and voles.",
       "kind": "grouped", "label_style": ["paren"],
       "subcaptions": [{"label": "A", "text": "Mice."}, {"label": "B,C", "letters": ["B", "C"], "text": "Rats and voles."}]}


def test_grouped_segment_expands_to_each_letter_or_skips():
    row = sourcedata_row(ROW, "expand")
    assert [(s["label"], s["text"]) for s in row["subcaptions"]] == [
        ("A", "Mice."), ("B", "Rats and voles."), ("C", "Rats and voles.")]
    assert row["style"] == "(A)" and row["kind"] == "grouped"
    assert sourcedata_row(ROW, "skip") is None
    single = {**ROW, "kind": "single_letter_panels", "subcaptions": ROW["subcaptions"][:1]}
    assert sourcedata_row(single, "skip")["subcaptions"] == [{"label": "A", "text": "Mice."}]
    with pytest.raises(ValueError, match="groups"):
        sourcedata_row(ROW, "merge")


def test_label_style_guess_for_medvl_gold():
    def g(caption, *labels):
        return {"caption": caption, "subcaptions": [{"label": lab, "text": "t"} for lab in labels]}
    assert label_style(g("(A) Axial T2. (B) Coronal T1.", "A", "B")) == "(A)"
    assert label_style(g("Axial T2 (A) and coronal T1 (B).", "A", "B")) == "postfix"
    assert label_style(g("A. Axial T2. B. Coronal T1.", "A", "B")) == "A."
    assert label_style(g("A Axial T2 B Coronal T1", "A", "B")) == "A"
    assert label_style(g("A scan of a lesion.")) == "none"


def test_no_panel_accuracy():
    gold = [{"id": "1", "subcaptions": []}, {"id": "2", "subcaptions": []},
            {"id": "3", "subcaptions": [{"label": "A", "text": "x"}]}]
    pred = [{"id": "1", "subcaptions": [{"label": "_shared", "text": "x"}]},
            {"id": "2", "subcaptions": [{"label": "A", "text": "x"}]}, {"id": "3", "subcaptions": []}]
    s = score_predictions(gold, pred)
    assert s["n_no_panel"] == 2 and s["no_panel_accuracy"] == 0.5
    assert score_predictions(gold[2:], pred[2:])["no_panel_accuracy"] is None


def test_committed_split_is_by_article_and_ids_only():
    split = read_split(SPLIT)
    text = SPLIT.read_text(encoding="utf-8")
    assert "caption" not in text and "subcaptions" not in text  # ids, not legend text
    assert split["seed"] and len(split["tune"]) + len(split["check"]) == 1000
    if not SOURCEDATA.exists():
        pytest.skip(f"{SOURCEDATA} absent (the shared gold folder sits beside the repository)")
    rows = {json.loads(line)["id"]: json.loads(line) for line in SOURCEDATA.read_text(encoding="utf-8").splitlines()}
    tune_dois = {rows[i]["doi"] for i in split["tune"]}
    check_dois = {rows[i]["doi"] for i in split["check"]}
    assert not tune_dois & check_dois
    check = load_sourcedata(SOURCEDATA, split=SPLIT, half="check", groups="skip")
    assert {r["id"] for r in check} <= set(split["check"]) and all(r["kind"] != "grouped" for r in check)
