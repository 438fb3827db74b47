"""Panel gold batches measured before tuning are pinned: a batch is never edited with the code it measures."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

PANELS = Path(__file__).resolve().parent.parent / "eval" / "panels"

PINNED = {
    "pool_batch01.jsonl": "330c7e4b7feba6818d92d39d0028140688a6deb33299f5e22fe9e312d861daa1",
    "pool_batch02.jsonl": "258cf190966e929a56e74177812846487f563b2cc9a2a3de6b155af22f7288bb",
    "pool_batch03.jsonl": "84e975dc6f3a905c1675b66187dbe381fa67217e966816c3410d57998b879c20",
}


@pytest.mark.parametrize("name", sorted(PINNED))
def test_panel_gold_batch_is_unchanged(name):
    sha = hashlib.sha256((PANELS / name).read_bytes()).hexdigest()
    assert sha == PINNED[name], f"{name} changed: a measured gold batch is never edited; write a new file"


def test_every_pool_batch_is_pinned():
    assert {p.name for p in PANELS.glob("pool_batch*.jsonl")} <= set(PINNED)


@pytest.mark.parametrize("name", sorted(PINNED))
def test_panel_gold_rows_are_data_without_caption_text(name):
    allowed = {"paper", "label", "panels", "letters", "printed", "kind", "raster", "boxes", "panel_tags"}
    rows = [json.loads(ln) for ln in (PANELS / name).read_text(encoding="utf-8").splitlines() if ln.strip()]
    assert rows
    for r in rows:
        assert set(r) <= allowed, set(r) - allowed  # no notes (they may quote a caption)
        assert r["panels"] >= 1 and len(r["boxes"]) == r["panels"]
        if r["letters"] is not None:
            assert len(r["letters"]) == r["panels"]
        for b in r["boxes"]:
            assert 0 <= b[0] < b[2] <= 1 and 0 <= b[1] < b[3] <= 1
