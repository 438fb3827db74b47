"""Tag panel gold batches measured before any change for them are pinned, like the split and panel gold
(tests/test_gold_files.py, tests/test_panel_gold_files.py): a batch is never edited with the code it measures."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

TAG = Path(__file__).resolve().parent.parent / "eval" / "tag"

PINNED = {
    "panels_brainx_batch01.jsonl": "68209c199142a3fb27a97e1175803c7997d523fd5b94b890b18452000c8423b4",
    "panels_brainx_batch02.jsonl": "462b176ebeade9aa6f7150803d46360bf0b1389b361854f15cbf8c0e27a9fad8",
    "panels_batch01.jsonl": "9898364473b8ee9c9b414317c077d481d5cb2ca0f0b8f9f383357464068c4152",
    "panels_batch02.jsonl": "5f59fda40bf19f809c06ec369819400629c2553c3bb15e768257fe61c1e0a0c6",
    "panels_batch03.jsonl": "9e3422e27c0c8e848bbeafd6290ddf4ef5ba9a1da2e685a0e6d7d7083c6164ea",
    "panels_batch04.jsonl": "f9b78ce15c487aa072721beb2e86d25bcf153d0190c8fdb2c9a3852201283c38",
    "panels_batch05.jsonl": "f3a3079c01ee398a47b61a438f99ca0eb5503481ab4a37fde47b8b9b11b1bac4",
    "panels_batch06.jsonl": "8dddc8437b338abed07d15509e2adc33630f445ad74219d1ff8a7261ae2b4d91",
    "panels_batch07.jsonl": "0c2cb166facb34cdd94b8ac82c07e59d86da3b34263a00f24a8d0d67b65221df",
    "panels_batch08.jsonl": "53199dd6618e30ba7048c03a556d094102d4616f9b07d6f0574feb9e97efba57",
    "panels_hindawi_batch01.jsonl": "ab629c102de241f2c0d7609cc6bcadb29b06fc3cf0ed24bc53b2fcb2c1cc8383",
    "panels_hindawi_batch02.jsonl": "51533861a7538de88e0a8c62da52d6288935558db92e3c882fbaea24d6b064f7",
    "panels_hindawi_batch03.jsonl": "c0e6564c45427014cdf5f912ff358cdeafec4534e2ca24655530ccc4e80d5950",
    "panels_hindawi_batch04.jsonl": "549cc109e7088059a13d6917d32d3b6293818193921e3df155e53e5e091b62ff",
    "panels_hindawi_batch05.jsonl": "c2c4bb8d9df3ee9fc966c7d0c7ec3c14c9a406cdc433bd6bbd28bb7151418c2d",
}


@pytest.mark.parametrize("name", sorted(PINNED))
def test_tag_gold_batch_is_unchanged(name):
    sha = hashlib.sha256((TAG / name).read_bytes()).hexdigest()
    assert sha == PINNED[name], f"{name} changed: a measured gold batch is never edited; write a new file"


def test_every_tag_gold_batch_is_pinned():
    assert {p.name for p in TAG.glob("*.jsonl")} <= set(PINNED)


@pytest.mark.parametrize("name", sorted(PINNED))
def test_tag_gold_rows_hold_no_caption_text(name):
    rows = [json.loads(ln) for ln in (TAG / name).read_text(encoding="utf-8").splitlines() if ln.strip()]
    assert rows
    for r in rows:
        assert set(r) <= {"paper", "label", "panels", "boxes", "panel_tags"}, (name, sorted(r))
        for t in r["panel_tags"]:  # labels only: short values, no notes
            assert set(t) <= {"modality", "sequence", "anatomy", "caption_label"}, (name, sorted(t))
            assert all(v is None or len(str(v)) <= 20 for v in t.values()), (name, t)
