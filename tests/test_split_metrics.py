"""score_predictions and token F1 on hand-computed cases."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from medvl.records import Subcaption
from medvl.split.metrics import normalize_answer, score_predictions, token_f1


def row(id_, *subs):
    return {"id": id_, "subcaptions": [{"label": lab, "text": text} for lab, text in subs]}


GOLD = [
    row("1", ("_shared", "Title"), ("A", "red cat"), ("B", "blue dog")),
    row("2"),
    row("3", ("A", "x y"), ("B", "z"), ("C", "w")),
]
PRED = [
    row("1", ("a", "red cat"), ("B", "blue"), ("_shared", "Title here")),
    row("2"),
    row("3", ("A", "x"), ("B", "z"), ("D", "q")),
]


def test_token_f1_hand_cases():
    assert token_f1("blue dog", "blue") == pytest.approx(2 / 3)
    assert token_f1("The cat.", "cat") == 1.0  # articles and punctuation are ignored
    assert token_f1("", "") == 1.0
    assert token_f1("cat", "") == 0.0
    assert token_f1("w x y z", "y z u v") == pytest.approx(0.5)
    assert token_f1("a b c d", "c d e f") == pytest.approx(4 / 7)  # "a" is an article: b c d vs c d e f
    assert token_f1("x x y", "x y y") == pytest.approx(2 / 3)  # multiset overlap: x, y
    assert normalize_answer("An (H&E) Stain, ×200") == "h e stain 200"


def test_score_predictions_hand_computed():
    s = score_predictions(GOLD, PRED)
    assert s["n_captions"] == 3
    assert (s["n_gold_labels"], s["n_pred_labels"], s["n_matched"]) == (5, 5, 4)
    assert s["label_precision"] == pytest.approx(0.8)
    assert s["label_recall"] == pytest.approx(0.8)
    assert s["label_f1"] == pytest.approx(0.8)
    # caption 1 and the empty caption 2 are exact; caption 3 is not
    assert s["exact_label_set"] == pytest.approx(2 / 3)
    # matched texts: A 1.0, B 2/3 (caption 1); A 2/3, B 1.0 (caption 3)
    assert s["text_f1"] == pytest.approx((1 + 2 / 3 + 2 / 3 + 1) / 4)
    assert (s["shared_precision"], s["shared_recall"], s["shared_f1"]) == (1.0, 1.0, 1.0)
    assert s["shared_text_f1"] == pytest.approx(2 / 3)
    ids = [d["id"] for d in s["disagreements"]]
    assert ids == ["1", "3"]
    d3 = s["disagreements"][1]
    assert d3["gold_labels"] == ["A", "B", "C"] and d3["pred_labels"] == ["A", "B", "D"]
    assert d3["missing"] == ["C"] and d3["extra"] == ["D"]
    assert d3["text_f1"] == {"A": 0.6667, "B": 1.0}  # rounded to 4 places for reading


def test_shared_excluded_from_label_scores():
    gold = [row("1", ("_shared", "whole figure"), ("A", "a"))]
    pred = [row("1", ("A", "a"))]
    s = score_predictions(gold, pred)
    assert s["label_f1"] == 1.0 and s["exact_label_set"] == 1.0
    # gold has a _shared entry, the prediction none: nothing found, nothing right
    assert s["shared_recall"] == 0.0 and s["shared_precision"] == 0.0


def test_missing_and_extra_predictions():
    gold = [row("1", ("A", "one"), ("B", "two")), row("2")]
    pred = [row("2"), row("9", ("A", "x"))]
    s = score_predictions(gold, pred)
    assert s["n_missing_predictions"] == 1 and s["n_extra_predictions"] == 1
    assert s["label_recall"] == 0.0 and s["label_precision"] == 0.0
    assert s["exact_label_set"] == 0.5  # caption 2: empty gold, empty prediction
    assert s["disagreements"][0]["missing_prediction"] is True


def test_repeated_labels_are_joined_and_models_accepted():
    gold = [row("1", ("A", "red"), ("A", "cat"), ("B", "dog"))]
    pred = [SimpleNamespace(id="1", subcaptions=[Subcaption(label="A", text="red cat"),
                                                  Subcaption(label="(b)", text="dog")])]
    s = score_predictions(gold, pred)
    assert s["label_f1"] == 1.0 and s["text_f1"] == 1.0
    assert s["disagreements"] == []


def test_positional_labels_normalised_on_both_sides():
    gold = [row("1", ("top left", "control"), ("right", "treated"))]
    pred = [row("1", ("Upper left panel", "control"), ("Right", "treated"))]
    s = score_predictions(gold, pred)
    assert s["label_f1"] == 1.0 and s["exact_label_set"] == 1.0


def test_empty_inputs():
    s = score_predictions([], [])
    assert s["n_captions"] == 0 and s["exact_label_set"] == 0.0 and s["text_f1"] == 0.0
    s = score_predictions([row("1")], [row("1")])
    assert s["label_f1"] == 1.0 and s["exact_label_set"] == 1.0
