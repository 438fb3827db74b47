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
    "hindawi_r5_batch04.jsonl": "5d0303ae3ebb7de2ff35c15059dc77ae8cca8bdfdb85eaeacadc2ce0e65ea22f",
    "hindawi_r5_batch05.jsonl": "763120f2efc41e650b9ad68c514da99c93debc5ca6125e4cc11ac56b8ce93c17",
    "hindawi_r5_batch06.jsonl": "bcc15b02af5822708ff40baf3681cfd140ec076cc00db2845886cc5c11c65fd4",
    "hindawi_r5_batch07.jsonl": "09487ad2227baeee5130114bb1767cd03fa0a70bf92c98011e9f1b5563dd1093",
    "hindawi_r5_batch08.jsonl": "b93469567f7836142b3243f086cc37efccc5f41e5ab08138b0eeae0ac82f58e8",
    "rasterx_batch01.jsonl": "65a9e703768f4f3e072fb9f41e01892f284ccc49eb6b17fd78cc7594f8abdc36",
    "rasterx_batch02.jsonl": "9e725a50821bd4ad10fe6e16313695d675da927c4e7bd4d8f9e381d05fbf5791",
}


@pytest.mark.parametrize("name", sorted(PINNED))
def test_panel_gold_batch_is_unchanged(name):
    sha = hashlib.sha256((PANELS / name).read_bytes()).hexdigest()
    assert sha == PINNED[name], f"{name} changed: a measured gold batch is never edited; write a new file"


def test_every_round_five_batch_is_pinned():
    names = {p.name for p in PANELS.glob("pool_batch*.jsonl")} | {p.name for p in PANELS.glob("hindawi_r5_*.jsonl")}
    names |= {p.name for p in PANELS.glob("rasterx_batch*.jsonl")}
    assert names <= set(PINNED)


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
