"""Held-out gold files are pinned: a file that measures the code can't be edited along with that code.

A convention change is a new file version (a new name), scored beside the old one; the old pin stays."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from medvl.split.goldsets import load_span_gold

ROOT = Path(__file__).resolve().parent.parent
GOLD = ROOT / "eval" / "gold"

PINNED = {
    "sourcedata_split.json": "95a69b5afc3d995383dc82f749b575fc40c1ad3142b1235d4b17540460647e06",
    "radiology/batch01.jsonl": "f4007c133a6472ecff1c8a86f99b84bd88576e0bc1223c97e9c268dde4dbf34c",
    "radiology/batch02.jsonl": "c5841334b0b71f94065480ff8e06b78b441448fae3b2bd2a0dd648717d3a5b99",
    "radiology/batch03.jsonl": "60a3d2c83fd65950d98273147ea873095e80ef19cca033add4bb98a3720590e1",
    "radiology/batch04.jsonl": "f7305b80c68a4e02317fb18387e27c2a008f79fa3d26c4745a94eae12fcc8bbd",
    "radiology/batch04b.jsonl": "5db5b661591868385444676521aab178f6445d7080b45f9d05ad1bfb32d1cefa",
}


@pytest.mark.parametrize("name", sorted(PINNED))
def test_held_out_gold_file_is_unchanged(name):
    sha = hashlib.sha256((GOLD / name).read_bytes()).hexdigest()
    assert sha == PINNED[name], f"{name} changed: a held-out file is never edited; write a new version"


def test_every_radiology_batch_is_pinned():
    assert {f"radiology/{p.name}" for p in (GOLD / "radiology").glob("*.jsonl")} <= set(PINNED)


def test_span_gold_holds_no_caption_text_and_rebuilds_from_the_corpus(corpus_dir):
    for p in sorted((GOLD / "radiology").glob("*.jsonl")):
        text = p.read_text(encoding="utf-8")
        assert '"caption":' not in text and '"text":' not in text and '"pieces":' not in text, p
    rows, missing = load_span_gold(GOLD / "radiology" / "batch01.jsonl", corpus_dir.parent)
    assert len(rows) == 40 and not missing  # batch 01 comes from the corpus only
    for r in rows:
        for s in r["subcaptions"]:
            assert s["text"] and all(piece in r["caption"] for piece in s["text"].split(" ")), (r["id"], s["label"])


def test_span_gold_reports_a_changed_or_absent_source(tmp_path):
    import json

    corpus = tmp_path / "corpus" / "x" / "PMC1"
    corpus.mkdir(parents=True)
    (corpus / "fulltext.xml").write_text(
        "<article><body><fig id='f1'><label>Figure 1</label><caption><title>Brain MRI.</title>"
        "<p>(A) Axial T2. (B) Coronal FLAIR.</p></caption></fig></body></article>")
    cap = "Brain MRI. (A) Axial T2. (B) Coronal FLAIR."
    row = {"id": "r1", "source": {"kind": "corpus", "path": "x/PMC1/fulltext.xml"}, "fig_id": "f1",
           "caption_sha256": hashlib.sha256(cap.encode()).hexdigest(),
           "subcaptions": [{"label": "A", "spans": [[15, 24]]}, {"label": "B", "spans": [[29, 43]]}]}
    other = {**row, "id": "r2", "caption_sha256": "0" * 64}
    gone = {**row, "id": "r3", "source": {"kind": "corpus", "path": "x/PMC9/fulltext.xml"}}
    path = tmp_path / "g.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in (row, other, gone)) + "\n")
    rows, missing = load_span_gold(path, tmp_path)
    assert rows[0]["caption"] == cap
    assert [(s["label"], s["text"]) for s in rows[0]["subcaptions"]] == [("A", "Axial T2."), ("B", "Coronal FLAIR.")]
    assert [m["id"] for m in missing] == ["r2", "r3"]
    assert "sha256" in missing[0]["reason"] and "absent" in missing[1]["reason"]
