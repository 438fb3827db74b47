"""export: open_clip CSV + WebDataset shards, split by paper, duplicates, raw variant, rejects."""

from __future__ import annotations

import csv
import json
import os
import tarfile
from pathlib import Path

import pytest

from medvl.export import ExportSettings, assign_splits, export_run, paper_hash, parse_split, read_manifest
from medvl.records import figure_id
from medvl.runs import RunDir, read_jsonl, write_jsonl
from tests.helpers.export_run import build_run, export_digest


def _csv_rows(path: Path) -> list[dict]:
    with open(path, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh, delimiter="\t"))


def test_split_assignment_is_by_hash_and_stable():
    ids = [f"p{i:04d}" for i in range(200)]
    a, moved = assign_splits(ids, (0.8, 0.1, 0.1), seed=1, min_per_split=0)
    assert moved == []
    counts = {s: sum(1 for v in a.values() if v == s) for s in ("train", "val", "test")}
    assert 140 <= counts["train"] <= 180 and counts["val"] >= 8 and counts["test"] >= 8
    # adding papers never moves the old ones
    b, _ = assign_splits(ids + [f"q{i}" for i in range(50)], (0.8, 0.1, 0.1), seed=1, min_per_split=0)
    assert all(b[p] == a[p] for p in ids)
    # another seed gives another split
    c, _ = assign_splits(ids, (0.8, 0.1, 0.1), seed=2, min_per_split=0)
    assert c != a
    assert 0 <= paper_hash("p1", 0) < 1
    # tiny corpora: every split with a non-zero fraction gets a paper
    small, moved = assign_splits(["x1", "x2", "x3"], (0.8, 0.1, 0.1), seed=0)
    assert sorted(small.values()) == ["test", "train", "val"]
    assert assign_splits(["x1", "x2", "x3"], (0.8, 0.1, 0.1), seed=0) == (small, moved)
    only, _ = assign_splits(["x1", "x2"], (1.0, 0.0, 0.0), seed=0)
    assert set(only.values()) == {"train"}
    assert parse_split("8,1,1") == pytest.approx((0.8, 0.1, 0.1))
    with pytest.raises(ValueError):
        parse_split("0.8,0.2")


def test_export_csv_wds_manifest_metadata(tmp_path):
    rd = build_run(tmp_path / "run")
    data = tmp_path / "data"
    s = export_run(rd.path, data, ExportSettings(seed=3, shard_size=5))
    assert sum(s.rows.values()) == 24 and all(s.rows[k] > 0 for k in ("train", "val", "test"))
    man = read_manifest(data)
    assert man["pairs"] == "aligned" and man["source_run"] == str(rd.path)
    assert man["splits"]["train"]["rows"] == s.rows["train"] and man["methods"] == {"letter": 24}
    assert set(man["inputs_sha256"]) == {"pairs.jsonl", "figures.jsonl"}
    meta = list(read_jsonl(data / "metadata.jsonl"))
    assert len(meta) == 24
    paper_split: dict[str, str] = {}
    for split in ("train", "val", "test"):
        rows = _csv_rows(data / f"{split}.csv")
        assert len(rows) == s.rows[split]
        for r in rows:
            p = data / r["filepath"]
            assert not Path(r["filepath"]).is_absolute() and p.is_file()
            assert "\t" not in r["title"] and '"q"' in r["title"]  # tabs flattened, quotes round-trip
        for m in meta:
            if m["split"] == split:
                assert paper_split.setdefault(m["paper_id"], split) == split  # never across splits
    assert {m["filepath"] for m in meta} == {r["filepath"] for sp in ("train", "val", "test")
                                              for r in _csv_rows(data / f"{sp}.csv")}
    # WebDataset: png/txt/json per sample, shard sizes recorded
    sizes = json.loads((data / "wds" / "sizes.json").read_text())
    assert sum(sizes.values()) == 24 and max(sizes.values()) <= 5
    with tarfile.open(data / "wds" / "train-000000.tar") as tar:
        members = tar.getmembers()
        names = [m.name for m in members]
        assert all(m.mtime == 0 and m.uid == 0 for m in members)
        key = names[0].rsplit(".", 1)[0]
        assert names[:3] == [f"{key}.png", f"{key}.txt", f"{key}.json"] and "." not in key
        sample = json.loads(tar.extractfile(names[2]).read())
        assert sample["pair_id"].replace(".", "_") == key and sample["split"] == "train"
        assert tar.extractfile(names[1]).read().decode() == sample["text"]
    assert man["splits"]["train"]["shards"].startswith("wds/train-{000000..")


def test_export_is_deterministic_and_replaces_old_exports(tmp_path):
    rd = build_run(tmp_path / "run")
    a, b = tmp_path / "a", tmp_path / "b"
    export_run(rd.path, a, ExportSettings(seed=5))
    export_run(rd.path, b, ExportSettings(seed=5))
    files_a = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert files_a == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    for rel in files_a:
        assert (a / rel).read_bytes() == (b / rel).read_bytes(), rel
    # re-export with other settings: stale files are gone, nothing half-written remains beside it
    export_run(rd.path, a, ExportSettings(seed=5, formats=("csv",)))
    assert not (a / "wds").exists() and (a / "train.csv").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".a")] == []
    # a folder that is not an export is never overwritten
    other = tmp_path / "mine"
    other.mkdir()
    (other / "notes.txt").write_text("keep me")
    from medvl.errors import InputError

    with pytest.raises(InputError, match="not a medvl export"):
        export_run(rd.path, other)
    assert (other / "notes.txt").read_text() == "keep me"


def test_duplicates_rejects_and_confidence(tmp_path):
    rd = build_run(tmp_path / "run", n_papers=6, dup=True)
    pairs = list(read_jsonl(rd.file("pairs.jsonl")))
    pairs[0]["text"] = "  "
    pairs[2]["image"] = "images/nowhere.png"
    with open(rd.file("pairs.jsonl"), "w") as fh:
        for p in pairs:
            fh.write(json.dumps(p) + "\n")
        fh.write(json.dumps({"pair_id": "broken"}) + "\n")
    s = export_run(rd.path, tmp_path / "data", ExportSettings(seed=0))
    assert s.reject_reasons["duplicate_image"] == 5  # six B panels share their pixels: one kept
    assert s.reject_reasons["empty_text"] == 1 and s.reject_reasons["image_missing"] == 1
    assert s.reject_reasons["bad_record"] == 1
    meta = list(read_jsonl(tmp_path / "data" / "metadata.jsonl"))
    assert len({m["image_sha256"] for m in meta}) == len(meta)
    kept_b = [m for m in meta if m["label"] == "B"]
    assert len(kept_b) == 1
    order = ("train", "val", "test")
    dup_splits = {json.loads(line)["split"] for line in (tmp_path / "data" / "metadata.jsonl").read_text().splitlines()}
    assert order.index(kept_b[0]["split"]) == min(order.index(x) for x in dup_splits)
    # the run directory carries the export rejects too
    run_rej = [r for r in read_jsonl(rd.file("rejects.jsonl")) if r["stage"] == "export"]
    assert len(run_rej) == s.rejects and all(r["detail"] for r in run_rej)
    # minimum confidence drops the B panels (0.6)
    s2 = export_run(rd.path, tmp_path / "data2", ExportSettings(seed=0, min_confidence=0.9))
    assert s2.reject_reasons["low_confidence"] >= 5


def test_raw_variant_uses_same_papers_and_splits(tmp_path):
    rd = build_run(tmp_path / "run")
    export_run(rd.path, tmp_path / "aligned", ExportSettings(seed=9))
    # a figure of a paper without any aligned pair is not exported raw either
    figs = list(read_jsonl(rd.file("figures.jsonl")))
    extra = dict(figs[0], paper_id="pffffffffffffffff", figure_id=figure_id("pffffffffffffffff", 1, 0))
    write_jsonl(rd.file("figures.jsonl"), [*figs, extra])
    s = export_run(rd.path, tmp_path / "raw", ExportSettings(seed=9, pairs="raw"))
    aligned = {m["paper_id"]: m["split"] for m in read_jsonl(tmp_path / "aligned" / "metadata.jsonl")}
    raw = list(read_jsonl(tmp_path / "raw" / "metadata.jsonl"))
    assert {m["paper_id"]: m["split"] for m in raw} == aligned
    assert len(raw) == 12 == sum(s.rows.values())
    assert all(m["method"] == "whole" and m["panel_id"] is None for m in raw)
    assert raw[0]["text"].startswith("(A) Panel A of paper")  # printed figure label removed
    assert read_manifest(tmp_path / "raw")["pairs"] == "raw"


def test_synthetic_classes_from_ground_truth(tmp_path):
    rd = build_run(tmp_path / "run", n_papers=3)
    gt = {"generator": "medvl.synth", "dpi": 150, "papers": []}
    for i in range(3):
        pid = f"p{i:016x}"
        gt["papers"].append({"paper_id": pid, "figures": [{
            "page": 1, "bbox": [0, 0, 24, 9.6], "label": "Figure 1", "caption": "Figure 1. x",
            "panels": [{"index": 0, "bbox_px": [0, 0, 24, 20], "class": "tumour", "label": "A"},
                       {"index": 1, "bbox_px": [25, 0, 49, 20], "class": "infarct", "label": "B"}]}]})
    gt_path = tmp_path / "gt" / "ground_truth.json"
    gt_path.parent.mkdir()
    gt_path.write_text(json.dumps(gt))
    export_run(rd.path, tmp_path / "data", ExportSettings(ground_truth=str(gt_path)))
    meta = list(read_jsonl(tmp_path / "data" / "metadata.jsonl"))
    assert {m["label"]: m["synthetic_class"] for m in meta} == {"A": "tumour", "B": "infarct"}
    export_run(rd.path, tmp_path / "raw", ExportSettings(ground_truth=str(gt_path), pairs="raw"))
    raw = list(read_jsonl(tmp_path / "raw" / "metadata.jsonl"))
    assert all(m["synthetic_classes"] == ["infarct", "tumour"] and m["synthetic_class"] is None for m in raw)
    # without ground truth nothing is invented
    export_run(rd.path, tmp_path / "plain")
    assert all(m["synthetic_class"] is None for m in read_jsonl(tmp_path / "plain" / "metadata.jsonl"))


def test_missing_inputs_are_clear_errors(tmp_path):
    from medvl.errors import InputError

    with pytest.raises(InputError, match="pairs.jsonl"):
        export_run(tmp_path / "empty", tmp_path / "d")
    with pytest.raises(InputError, match="figures.jsonl"):
        export_run(tmp_path / "empty", tmp_path / "d", ExportSettings(pairs="raw"))
    with pytest.raises(ValueError):
        ExportSettings(formats=("parquet",))
    with pytest.raises(ValueError):
        ExportSettings(split=(0.5, 0.5, 0.5))


@pytest.mark.slow
def test_open_clip_reads_the_export(tmp_path):
    data_mod = pytest.importorskip("open_clip_train.data")
    rd = build_run(tmp_path / "run", n_papers=4)
    export_run(rd.path, tmp_path / "data", ExportSettings(shard_size=3))
    import os

    cwd = os.getcwd()
    os.chdir(tmp_path / "data")  # medvl train runs open_clip_train with DATA_DIR as working directory
    try:
        ds = data_mod.CsvDataset("train.csv", lambda im: im.size, "filepath", "title", sep="\t",
                                 tokenizer=lambda texts: texts)
        assert len(ds) > 0
        size, text = ds[0]
        assert size == (24, 20) and text.startswith("Panel")
        shards = read_manifest(".")["splits"]["train"]["shards"]
        n, n_shards = data_mod.get_dataset_size(shards)
        assert n == len(ds) and n_shards >= 1
    finally:
        os.chdir(cwd)


def test_cli_export(tmp_path):
    from typer.testing import CliRunner

    from medvl.cli import app

    rd = build_run(tmp_path / "run", n_papers=5)
    res = CliRunner().invoke(app, ["export", str(rd.path), "--out", str(tmp_path / "d"), "--format", "csv",
                                   "--split", "0.6,0.2,0.2", "--seed", "4"])
    assert res.exit_code == 0, res.output
    assert "exported 10 pairs" in res.output
    man = read_manifest(tmp_path / "d")
    assert man["settings"]["formats"] == ["csv"] and man["settings"]["split"] == pytest.approx([0.6, 0.2, 0.2])
    assert not (tmp_path / "d" / "wds").exists()
    res = CliRunner().invoke(app, ["export", str(rd.path), "--out", str(tmp_path / "d"), "--split", "1,2"])
    assert res.exit_code != 0


def _messy_run(root: Path) -> RunDir:
    """A run with everything the export filters, in no particular order: duplicate images across papers,
    bad rows, empty text, missing / escaping / undecodable images, low confidence, a repeated pair id,
    dots and non-ASCII in ids and text, a figure without image and a bad figure row."""
    import random

    rd = build_run(root, n_papers=9, dup=True)
    pairs = list(read_jsonl(rd.file("pairs.jsonl")))
    pairs[0]["text"] = " . "
    pairs[2]["image"] = "images/nowhere.png"
    pairs[3]["image"] = "../outside.png"
    rd.inside("images/broken.png").write_bytes(b"not a png")
    pairs[4]["image"] = "images/broken.png"
    pairs[5]["confidence"] = 0.3
    pairs[6]["text"] = "Ünïcode — “quoted”\ttext, 5 µm."
    pairs[7]["pair_id"] = pairs[7]["pair_id"] + ".v2"
    pairs.append(dict(pairs[8]))  # the same pair id twice
    pairs.append(dict(pairs[9], pair_id="zz-late", image=pairs[1]["image"]))  # a duplicate of a kept image
    random.Random(3).shuffle(pairs)
    with open(rd.file("pairs.jsonl"), "w", encoding="utf-8") as fh:
        for i, p in enumerate(pairs):
            fh.write(json.dumps(p, ensure_ascii=False) + "\n")
            if i == 4:
                fh.write("\n" + json.dumps({"pair_id": "broken", "paper_id": "p0"}) + "\n")
    figs = list(read_jsonl(rd.file("figures.jsonl")))
    figs[1]["image"] = None
    figs.insert(3, {"figure_id": "bad-figure", "paper_id": figs[0]["paper_id"]})
    random.Random(4).shuffle(figs)
    with open(rd.file("figures.jsonl"), "w", encoding="utf-8") as fh:
        for f in figs:
            fh.write(json.dumps(f, ensure_ascii=False) + "\n")
    return rd


def _synthetic_run(root: Path) -> RunDir:
    """build_run's papers with a synth ground truth beside them (found without --ground-truth)."""
    rd = build_run(root, n_papers=4)
    gt = {"generator": "medvl.synth", "dpi": 150, "papers": [{"paper_id": f"p{i:016x}", "figures": [{
        "page": 1, "bbox": [0, 0, 24, 9.6], "label": "Figure 1", "caption": "Figure 1. x",
        "panels": [{"index": 0, "bbox_px": [0, 0, 24, 20], "class": "tumour", "label": "A"},
                   {"index": 1, "bbox_px": [25, 0, 49, 20], "class": "infarct", "label": "B"}]}]} for i in range(4)]}
    (rd.path / "corpus").mkdir()
    (rd.path / "corpus" / "ground_truth.json").write_text(json.dumps(gt))
    return rd


# Export cases pinned by tests/golden/export/NAME.json (digests of every output byte).  The goldens were
# first written by the export as it was before it streamed (the in-memory export of 0363884, kept until
# then as tests/export_before_streaming.py); the streaming export matched it byte for byte.
GOLDEN = Path(__file__).parent / "golden" / "export"
GOLDEN_CASES = {
    "aligned": (_messy_run, dict(seed=1, shard_size=4)),
    "wds-only-confidence": (_messy_run, dict(seed=2, shard_size=3, min_confidence=0.5, formats=("wds",),
                                             split=(0.5, 0.3, 0.2))),
    "csv-absolute": (_messy_run, dict(seed=0, formats=("csv",), absolute_paths=True, link=False)),
    "raw": (_messy_run, dict(seed=7, pairs="raw", shard_size=2)),
    "moved-papers": (_messy_run, dict(seed=3, split=(0.34, 0.33, 0.33), min_per_split=3)),
    "synthetic-aligned": (_synthetic_run, dict(pairs="aligned", shard_size=3)),
    "synthetic-raw": (_synthetic_run, dict(pairs="raw", shard_size=3)),
}
UPDATE = "MEDVL_UPDATE_GOLDEN=1 pytest tests/test_export.py -k golden"


def golden_export(name: str, root: Path, export=export_run, settings_cls=ExportSettings) -> tuple[dict, Path]:
    make, settings = GOLDEN_CASES[name]
    rd = make(root / "run")
    summary = export(rd.path, root / "data", settings_cls(**settings))
    return export_digest(root / "data", rd, settings.get("pairs", "aligned"), summary.to_dict(), root), root / "data"


def _differences(got: dict, want: dict) -> list[str]:
    files = sorted(k for k in set(got["files"]) | set(want["files"]) if got["files"].get(k) != want["files"].get(k))
    return files + [k for k in ("summary", "run_rejects", "part_rejects") if got[k] != want[k]]


@pytest.mark.parametrize("name", sorted(GOLDEN_CASES))
def test_export_writes_the_golden_bytes(tmp_path, name):
    """Every file of the export (CSV, WebDataset shards member by member, metadata, manifest, rejects), the
    rejects it adds to the run and its summary are those of tests/golden/export/NAME.json."""
    got, data = golden_export(name, tmp_path)
    path = GOLDEN / f"{name}.json"
    if os.environ.get("MEDVL_UPDATE_GOLDEN") == "1":  # an intended change: rewrite, then review the diff
        path.write_text(json.dumps(got, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    want = json.loads(path.read_text(encoding="utf-8"))
    assert got == want, f"export output differs from {path.name} in {_differences(got, want)} (intended? {UPDATE})"
    assert got["summary"]["rejects"] >= (0 if "synthetic" in name else 2 if name == "raw" else 8)
    if name == "synthetic-aligned":
        man = read_manifest(data)
        assert any("synthetic_classes" in man["splits"][s] for s in ("train", "val", "test"))


def test_golden_digests_see_a_one_byte_change(tmp_path):
    """Flipping one byte of a CSV, of an image inside a shard, or of the manifest changes the digest."""
    want = json.loads((GOLDEN / "aligned.json").read_text(encoding="utf-8"))
    got, data = golden_export("aligned", tmp_path)
    assert got == want
    rd = RunDir(tmp_path / "run")
    tar = sorted((data / "wds").glob("*.tar"))[0]
    with tarfile.open(tar) as t:
        member = next(m for m in t.getmembers() if m.name.endswith(".png"))
    for target, offset in ((data / "train.csv", 12), (tar, member.offset_data + 40), (data / "manifest.json", 30)):
        original = target.read_bytes()
        target.write_bytes(original[:offset] + bytes([original[offset] ^ 1]) + original[offset + 1:])
        changed = export_digest(data, rd, "aligned", want["summary"], tmp_path)
        target.write_bytes(original)
        assert changed != want and target.relative_to(data).as_posix() in _differences(changed, want), target
    assert export_digest(data, rd, "aligned", want["summary"], tmp_path) == want
