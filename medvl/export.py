"""The export stage: image-text pairs -> a self-contained DATA_DIR for open_clip.

``export_run(run_dir, data_dir, settings)`` reads RUN_DIR/pairs.jsonl (``--pairs aligned``) or the
whole figures of RUN_DIR/figures.jsonl with their whole captions (``--pairs raw``) and writes::

    DATA_DIR/manifest.json            counts per split, source run, settings, input hashes, versions
    DATA_DIR/train.csv val.csv test.csv   open_clip CSV: tab-separated, columns filepath and title
    DATA_DIR/metadata.jsonl           one row per exported pair: split, filepath, pair/paper/figure/panel
                                      ids, label, method, confidence, text, synthetic_class (when known)
    DATA_DIR/images/<split>/<key>.png hard links (or copies) of the pair images
    DATA_DIR/wds/<split>-000000.tar   WebDataset shards: <key>.png, <key>.txt, <key>.json per sample
    DATA_DIR/wds/sizes.json           samples per shard (open_clip reads it for --train-num-samples)
    DATA_DIR/rejects.jsonl            what was dropped and why (also merged into RUN_DIR/rejects.jsonl)

CSV paths are relative to DATA_DIR (open_clip_train is run with DATA_DIR as working directory by
``medvl train``; ``--absolute-paths`` writes absolute ones).  Train with e.g.
``--train-data train.csv --csv-img-key filepath --csv-caption-key title --csv-separator $'\\t'``.

Splits are by paper, never by pair: a paper's pairs all go to one split.  The split of a paper is
a hash of (seed, paper_id) compared with the cumulative fractions, so it does not change when
papers are added or removed.  On tiny corpora a split with a non-zero fraction could come out
empty; ``min_per_split`` (default 1) then moves the paper(s) whose hash lies nearest to that
split's interval from the largest split (deterministic; recorded in the manifest).  The raw
variant uses the same papers as the aligned pairs (when pairs.jsonl exists) and, with the same
seed, the same split of every paper, so raw and aligned models are compared on the same papers.

Duplicate images (same decoded pixels) are exported once: the copy in the earliest split (train,
then val, then test) and the smallest pair id is kept, so a duplicate never leaks into test; the
others become ``duplicate_image`` rejects.  Rows are written in a fixed order, tar members carry
fixed times and owners, and the manifest has no timestamps, so the same inputs give the same bytes.

Memory does not grow with the rows' size: pass 1 streams pairs.jsonl (or figures.jsonl for the raw
variant), filters each row and hashes its image, keeping only a small entry per kept row (pair id,
paper id, image hash, the line's byte offset); the split of every paper and the order of the rows
follow from those entries.  Rejects go to a temporary file as they come.  Pass 2 reads each kept row again at its offset, in output order, and
streams it into the per-split CSV, WebDataset and metadata writers; duplicates are found with a map
from image hash to the kept pair id (O(unique images)).  figures.jsonl is indexed the same way
(figure id -> offset) and read again only where a figure is needed (raw rows, synthetic classes).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import shutil
import tarfile
import tempfile
from collections import Counter
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from medvl.errors import InputError, MedvlError
from medvl.progress import ProgressFn, no_progress
from medvl.records import Figure, Pair, Reject, pair_id, sha256_file
from medvl.runs import (RunDir, atomic_open, atomic_write_text, read_jsonl, remove_stale_temps, safe_key,
                        temp_dir_beside, tool_versions)
from medvl.versioning import stage_version

STAGE = "export"
STAGE_VERSION = stage_version(STAGE)  # derived from the export code (medvl/versioning.py)
SPLITS = ("train", "val", "test")
MANIFEST = "manifest.json"
FORMAT_VERSION = 1


@dataclass
class ExportSettings:
    """Resolved settings of the export stage (recorded in manifest.json and run.json)."""

    pairs: str = "aligned"  # aligned | raw
    formats: tuple[str, ...] = ("csv", "wds")
    split: tuple[float, float, float] = (0.8, 0.1, 0.1)
    seed: int = 0
    shard_size: int = 1000
    min_confidence: float = 0.0
    min_per_split: int = 1
    link: bool = True  # hard-link images into DATA_DIR when possible (else copy)
    absolute_paths: bool = False
    ground_truth: str | None = None  # synthetic ground_truth.json; found next to the papers when None
    # tag filter (medvl/tag/keep.py): {modality: [mri, ct], anatomy: [brain]}; reads RUN_DIR/tags.jsonl
    keep: dict[str, list[str]] | None = None
    keep_confidence: float = 0.0  # the kept set's probability a pair needs (0: its top class in the set)

    def __post_init__(self) -> None:
        if self.pairs not in ("aligned", "raw"):
            raise ValueError(f"pairs must be 'aligned' or 'raw', not {self.pairs!r}")
        self.formats = tuple(self.formats)
        bad = [f for f in self.formats if f not in ("csv", "wds")]
        if bad or not self.formats:
            raise ValueError(f"formats must be csv and/or wds, not {list(self.formats)}")
        self.split = tuple(float(x) for x in self.split)  # type: ignore[assignment]
        if len(self.split) != 3 or any(x < 0 for x in self.split) or abs(sum(self.split) - 1.0) > 1e-6:
            raise ValueError(f"split must be three non-negative fractions summing to 1, not {list(self.split)}")
        if self.shard_size < 1:
            raise ValueError("shard_size must be at least 1")
        if self.keep:
            from medvl.tag.keep import parse_keep

            self.keep = parse_keep(self.keep)
        else:
            self.keep = None
        if not 0.0 <= float(self.keep_confidence) <= 1.0:
            raise ValueError(f"keep_confidence must be between 0 and 1, not {self.keep_confidence}")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["formats"] = list(self.formats)
        d["split"] = list(self.split)
        if not self.keep:  # no tag filter: the settings (and the manifest) read as before it existed
            d.pop("keep")
            d.pop("keep_confidence")
        return d


@dataclass
class ExportSummary:
    data_dir: str = ""
    rows: dict[str, int] = field(default_factory=dict)
    papers: dict[str, int] = field(default_factory=dict)
    rejects: int = 0
    reject_reasons: dict[str, int] = field(default_factory=dict)
    moved_papers: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def parse_split(text: str) -> tuple[float, float, float]:
    """"0.8,0.1,0.1" -> (0.8, 0.1, 0.1); clear error otherwise."""
    try:
        parts = tuple(float(x) for x in text.split(","))
    except ValueError as exc:
        raise ValueError(f"--split needs three numbers like 0.8,0.1,0.1, not {text!r}") from exc
    if len(parts) != 3:
        raise ValueError(f"--split needs three numbers like 0.8,0.1,0.1, not {text!r}")
    total = sum(parts)
    if total <= 0 or any(p < 0 for p in parts):
        raise ValueError(f"--split fractions must be non-negative with a positive sum, not {text!r}")
    return tuple(p / total for p in parts)  # type: ignore[return-value]


# ---------------------------------------------------------------- split assignment

def paper_hash(paper_id: str, seed: int) -> float:
    """A number in [0, 1) from (seed, paper_id): the paper's place on the split line."""
    h = hashlib.sha256(f"medvl-split:{seed}:{paper_id}".encode()).digest()
    return int.from_bytes(h[:8], "big") / 2**64


def assign_splits(paper_ids: list[str], fractions: tuple[float, float, float], seed: int,
                  min_per_split: int = 1) -> tuple[dict[str, str], list[str]]:
    """paper_id -> split by hash thresholds; then fill empty splits on tiny corpora.

    Returns (assignment, moved paper ids)."""
    bounds = []
    acc = 0.0
    for name, f in zip(SPLITS, fractions):
        bounds.append((name, acc, acc + f))
        acc += f
    out: dict[str, str] = {}
    hashes = {pid: paper_hash(pid, seed) for pid in sorted(set(paper_ids))}
    for pid, u in hashes.items():
        for name, lo, hi in bounds:
            if lo <= u < hi:
                out[pid] = name
                break
        else:
            out[pid] = bounds[-1][0] if fractions[-1] > 0 else next(n for n, lo, hi in reversed(bounds) if hi > lo)
    moved: list[str] = []
    want = [(name, lo, hi) for name, lo, hi in bounds if hi > lo]
    if min_per_split > 0 and len(hashes) >= min_per_split * len(want):
        for name, lo, hi in want:
            while sum(1 for s in out.values() if s == name) < min_per_split:
                counts = Counter(out.values())
                donors = [n for n, _, _ in want if counts[n] > min_per_split]
                if not donors:
                    break
                donor = max(donors, key=lambda n: (counts[n], -SPLITS.index(n)))
                centre = (lo + hi) / 2
                pid = min((p for p, s in out.items() if s == donor), key=lambda p: (abs(hashes[p] - centre), p))
                out[pid] = name
                moved.append(pid)
    return out, moved


# ---------------------------------------------------------------- rows

@dataclass
class Row:
    pair_id: str
    paper_id: str
    figure_id: str
    panel_id: str | None
    label: str | None
    method: str
    confidence: float
    text: str
    image: str  # relative to RUN_DIR
    license: str | None
    split: str = ""
    key: str = ""
    pixel_sha256: str = ""
    synthetic_class: str | None = None
    synthetic_classes: list[str] | None = None


def _clean_text(text: str) -> str:
    return " ".join(text.replace("\t", " ").split())


def _jsonl_lines(path: Path) -> Iterator[tuple[int, int, dict]]:
    """(line number among non-empty lines, byte offset, object) of a JSONL file, streamed; a line
    that is not JSON raises with file and line (as medvl.runs.read_jsonl does)."""
    with open(path, "rb") as fh:
        offset = 0
        n = 0
        for lineno, raw in enumerate(fh, 1):
            start, offset = offset, offset + len(raw)
            line = raw.decode("utf-8").strip()
            if not line:
                continue
            n += 1
            try:
                yield n, start, json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{lineno}: not valid JSON ({exc.msg})") from exc


class _LineReader:
    """Reads the JSON object at a byte offset of a JSONL file (pass 2 of the export)."""

    def __init__(self, path: Path):
        self.path = path
        self.fh = open(path, "rb")

    def at(self, offset: int) -> dict:
        self.fh.seek(offset)
        return json.loads(self.fh.readline().decode("utf-8"))

    def close(self) -> None:
        self.fh.close()


def _row_from_pair(p: Pair) -> Row:
    return Row(p.pair_id, p.paper_id, p.figure_id, p.panel_id, p.label, p.method, p.confidence,
               _clean_text(p.text), p.image, p.license)


def _row_from_figure(f: Figure) -> Row:
    from medvl.align import strip_figure_label

    return Row(pair_id(f.figure_id, None, 0), f.paper_id, f.figure_id, None, None, "whole", 1.0,
               _clean_text(strip_figure_label(f.caption or "", f.label)), f.image, f.license)


class _Figures:
    """figure_id -> byte offset in figures.jsonl of its last valid record (first-seen order), and
    the folders of the figures' sources (where a synthetic corpus keeps ground_truth.json)."""

    def __init__(self, rd: RunDir, rejects: _RejectSpool | None = None):
        self.path = rd.file("figures.jsonl")
        self.offsets: dict[str, int] = {}
        self.sources: list[str] = []  # distinct Figure.source values, first-seen order
        self._reader: _LineReader | None = None
        self._last: tuple[str, Figure] | None = None
        if not self.path.exists():
            return
        seen_sources: set[str] = set()
        for i, off, raw in _jsonl_lines(self.path):
            try:
                f = Figure.model_validate(raw)
            except Exception as exc:
                if rejects is not None:
                    rejects.append(Reject(stage=STAGE, source=f"figures.jsonl:{i}", id=str(raw.get("figure_id")),
                                          reason="bad_record",
                                          detail=f"{self.path}:{i}: not a valid Figure ({_short(exc)})",
                                          paper_id=raw.get("paper_id")))
                continue
            self.offsets[f.figure_id] = off
            if f.source not in seen_sources:
                seen_sources.add(f.source)
                self.sources.append(f.source)

    def get(self, fid: str) -> Figure | None:
        off = self.offsets.get(fid)
        if off is None:
            return None
        if self._last is not None and self._last[0] == fid:
            return self._last[1]
        if self._reader is None:
            self._reader = _LineReader(self.path)
        fig = Figure.model_validate(self._reader.at(off))
        self._last = (fid, fig)
        return fig

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None


def _iter_rows_aligned(rd: RunDir, rejects: _RejectSpool) -> Iterator[tuple[int, Row]]:
    """(offset in pairs.jsonl, row) of every valid pair, streamed; bad rows become rejects."""
    path = rd.file("pairs.jsonl")
    if not path.exists():
        raise InputError(str(path), "missing", "no pairs file: run `medvl align` first (or export --pairs raw)")
    for i, off, raw in _jsonl_lines(path):
        try:
            p = Pair.model_validate(raw)
        except Exception as exc:  # one bad row, not a dead run
            rejects.append(Reject(stage=STAGE, source=f"pairs.jsonl:{i}", id=str(raw.get("pair_id")),
                                  reason="bad_record", detail=f"{path}:{i}: not a valid Pair ({_short(exc)})",
                                  paper_id=raw.get("paper_id")))
            continue
        yield off, _row_from_pair(p)


def _iter_rows_raw(rd: RunDir, figs: _Figures, rejects: _RejectSpool) -> Iterator[tuple[int, Row]]:
    """(offset in figures.jsonl, row) of every figure with an image, of the papers with aligned pairs."""
    if not figs.path.exists():
        raise InputError(str(figs.path), "missing", "no figures file: run `medvl parse` first")
    papers: set[str] | None = None
    pairs_path = rd.file("pairs.jsonl")
    if pairs_path.exists():  # the same papers as the aligned pairs
        papers = {r["paper_id"] for r in read_jsonl(pairs_path) if "paper_id" in r}
    for fid, off in figs.offsets.items():
        f = figs.get(fid)
        assert f is not None
        if papers is not None and f.paper_id not in papers:
            continue
        if not f.image:
            rejects.append(Reject(stage=STAGE, source=f.figure_id, id=f.figure_id, reason="no_image",
                                  detail=f"{f.figure_id}: the figure has no rendered image", paper_id=f.paper_id))
            continue
        yield off, _row_from_figure(f)


def _count_lines(path: Path) -> int:
    n = 0
    with open(path, "rb") as fh:
        for line in fh:
            n += bool(line.strip())
    return n


def _short(exc: Exception) -> str:
    return " ".join(str(exc).split())[:300]


# ---------------------------------------------------------------- synthetic classes

def _ground_truth_papers(rd: RunDir, sources: list[str], explicit: str | None) -> dict[str, dict]:
    """paper_id -> ground-truth paper of a synthetic corpus, when one can be found."""
    cands: list[Path] = []
    if explicit:
        p = Path(explicit)
        cands.append(p / "ground_truth.json" if p.is_dir() else p)
    else:
        cands.append(rd.path / "corpus" / "ground_truth.json")
        for source in sources:
            src = Path(source)
            for base in ([src] if src.is_absolute() else [Path.cwd() / src, rd.path / src]):
                ups = [base.parent.parent, base.parent] if base.parent.name == "papers" else [base.parent]
                for up in ups:  # medvl synth writes DIR/papers/*.pdf and DIR/ground_truth.json
                    c = up / "ground_truth.json"
                    if c not in cands:
                        cands.append(c)
    out: dict[str, dict] = {}
    for c in cands:
        if not c.is_file():
            if explicit:
                raise InputError(str(c), "missing", "ground truth file not found")
            continue
        try:
            gt = json.loads(c.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            if explicit:
                raise InputError(str(c), "bad_json", f"not a ground_truth.json ({exc})") from exc
            continue
        if gt.get("generator") != "medvl.synth":
            continue
        for p in gt.get("papers", []):
            out.setdefault(p["paper_id"], {**p, "_dpi": gt.get("dpi", 150)})
    return out


def _label_synthetic(r: Row, get_fig: Callable[[str], Figure | None], gt: dict[str, dict]) -> None:
    from medvl.synth.score import match_figure, match_panel

    paper = gt.get(r.paper_id)
    if paper is None:
        return
    fig = get_fig(r.figure_id)
    if fig is None:
        return
    g = match_figure(fig.model_dump(), paper)
    if g is None:
        return
    if r.panel_id is not None:
        panel = next((p for p in fig.panels if p.panel_id == r.panel_id), None)
        gp = match_panel(panel.bbox, fig.dpi, g, paper["_dpi"]) if panel else None
        if gp is not None:
            r.synthetic_class = gp["class"]
            r.synthetic_classes = [gp["class"]]
        elif len(fig.panels) <= 1 and len(g["panels"]) == 1:
            r.synthetic_class = g["panels"][0]["class"]
            r.synthetic_classes = [r.synthetic_class]
    else:
        classes = sorted({p["class"] for p in g["panels"]})
        r.synthetic_classes = classes
        r.synthetic_class = classes[0] if len(classes) == 1 else None


# ---------------------------------------------------------------- images

def _pixel_sha(path: Path) -> str:
    """Hash of the decoded pixels (mode, size, bytes): re-encoded copies of one image collide."""
    from PIL import Image

    with Image.open(path) as im:
        im.load()
        h = hashlib.sha256(f"{im.mode}:{im.size[0]}x{im.size[1]}:".encode())
        h.update(im.tobytes())
    return h.hexdigest()


def _place(src: Path, dst: Path, link: bool) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    if link:
        try:
            os.link(src, dst)
            return
        except OSError:
            pass
    shutil.copyfile(src, dst)


def _tar_add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = 0
    info.mode = 0o644
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    tar.addfile(info, io.BytesIO(data))


def _sample_key(pid: str) -> str:
    # webdataset splits a file name at its first dot: keys must not contain dots
    return safe_key(pid).replace(".", "_")


def _meta_row(r: Row, filepath: str) -> dict[str, Any]:
    return {"split": r.split, "filepath": filepath, "pair_id": r.pair_id, "paper_id": r.paper_id,
            "figure_id": r.figure_id, "panel_id": r.panel_id, "label": r.label, "method": r.method,
            "confidence": r.confidence, "text": r.text, "source_image": r.image, "image_sha256": r.pixel_sha256,
            "license": r.license, "synthetic_class": r.synthetic_class, "synthetic_classes": r.synthetic_classes}


# ---------------------------------------------------------------- the stage

def _check_target(data_dir: Path, run_dir: Path) -> None:
    if data_dir.resolve() == run_dir.resolve() or data_dir.resolve() in run_dir.resolve().parents:
        raise MedvlError(f"DATA_DIR {data_dir} must not be the run directory or a folder above it")
    if data_dir.exists():
        if not data_dir.is_dir():
            raise InputError(str(data_dir), "not_a_dir", "DATA_DIR exists and is not a folder")
        if any(data_dir.iterdir()) and not (data_dir / MANIFEST).exists():
            raise InputError(str(data_dir), "not_empty",
                             "DATA_DIR is a non-empty folder that is not a medvl export; choose another --out")


class _RejectSpool:
    """Rejects in an unnamed temporary file, in the order they come, with counts by reason: memory
    does not grow with them (a corpus of near-copies makes almost every pair a duplicate_image reject)."""

    def __init__(self, folder: Path):
        self.fh = tempfile.TemporaryFile("w+", encoding="utf-8", dir=folder)
        self.reasons: Counter[str] = Counter()

    def append(self, rej: Reject) -> None:
        self.add_line(rej.model_dump_json(), rej.reason)

    def add_line(self, line: str, reason: str) -> None:
        self.fh.write(line + "\n")
        self.reasons[reason] += 1

    def __len__(self) -> int:
        return sum(self.reasons.values())

    def copy_to(self, path: Path) -> None:
        self.fh.flush()
        self.fh.seek(0)
        with atomic_open(path) as out:
            shutil.copyfileobj(self.fh, out)
        self.fh.seek(0, os.SEEK_END)

    def records(self) -> Iterator[Reject]:
        self.fh.flush()
        self.fh.seek(0)
        for line in self.fh:
            yield Reject.model_validate_json(line)
        self.fh.seek(0, os.SEEK_END)

    def close(self) -> None:
        self.fh.close()


@dataclass(order=True, slots=True)
class _Entry:
    """What pass 1 keeps of a row that passed the filters (a few hundred bytes)."""

    split_index: int
    pair_id: str
    seq: int  # position among the input rows: ties of equal pair ids keep input order
    offset: int  # byte offset of the row's line in the input file
    paper_id: str
    sha: bytes  # decoded-pixel hash of the image


def export_run(run_dir: str | Path, data_dir: str | Path, settings: ExportSettings | None = None,
               progress: ProgressFn = no_progress) -> ExportSummary:
    """Export a run's pairs to DATA_DIR (replaced atomically).  Returns counts per split."""
    settings = settings or ExportSettings()
    rd = RunDir(run_dir)
    data_dir = Path(data_dir)
    _check_target(data_dir, rd.path)
    rejects = _RejectSpool(rd.path)
    figs = None
    try:
        figs = _Figures(rd, rejects if settings.pairs == "raw" else None)
        return _export(rd, data_dir, settings, figs, rejects, progress)
    finally:
        if figs is not None:
            figs.close()
        rejects.close()


def _export(rd: RunDir, data_dir: Path, settings: ExportSettings, figs: _Figures, rejects: _RejectSpool,
            progress: ProgressFn) -> ExportSummary:
    """Pass 1 (filters, image hashes), the split by paper, pass 2 (the dataset, swapped into place), then
    what the run directory keeps of the export."""
    source, input_path, total = _input_rows(rd, settings, figs, rejects)
    tags = _load_tag_index(rd) if settings.keep else None
    kept = _filter_rows(rd, source, total, settings, tags, rejects, progress)
    moved = _order_by_split(kept.entries, kept.papers, settings)
    gt = _ground_truth_papers(rd, figs.sources, settings.ground_truth)

    def write(tmp: Path) -> ExportSummary:
        tag_info = _tag_info(rd, settings, kept) if tags is not None else None
        return _write(tmp, data_dir, rd, input_path, kept.entries, rejects, settings, moved, figs, gt, tag_info)

    summary = _swap_into_place(data_dir, write)
    # the run directory keeps the rejects and the settings too
    # (in .parts/export-<variant>/, apart from .parts/export/ which a pipeline may use for its own markers)
    rd.write_unit(f"{STAGE}-{settings.pairs}", "all", [], rejects.records(), meta={"data_dir": str(data_dir.resolve())})
    rd.merge_rejects()
    rd.update_manifest(f"{STAGE}:{settings.pairs}", {**settings.to_dict(), "data_dir": str(data_dir.resolve()),
                                                      "rows": summary.rows}, tools=["pillow"])
    summary.data_dir = str(data_dir.resolve())
    return summary


def _input_rows(rd: RunDir, settings: ExportSettings, figs: _Figures, rejects: _RejectSpool
                ) -> tuple[Iterator[tuple[int, Row]], Path, int]:
    """(the rows of the variant, streamed; the file they come from; how many lines it has, for progress)."""
    if settings.pairs == "aligned":
        input_path = rd.file("pairs.jsonl")
        return (_iter_rows_aligned(rd, rejects), input_path,
                _count_lines(input_path) if input_path.exists() else 0)
    return _iter_rows_raw(rd, figs, rejects), figs.path, len(figs.offsets)


@dataclass
class _Kept:
    """What pass 1 keeps: an entry per row that passed the filters, and what the tag filter saw."""

    entries: list[_Entry] = field(default_factory=list)
    papers: dict[str, str] = field(default_factory=dict)  # one string per paper id, shared by its entries
    mix_before: list[Any] = field(default_factory=list)  # the tags of every row the tag filter saw
    kept_tags: dict[str, Any] = field(default_factory=dict)  # pair id -> tags, of the rows it kept


def _filter_rows(rd: RunDir, source: Iterator[tuple[int, Row]], total: int, settings: ExportSettings,
                 tags: dict[str, Any] | None, rejects: _RejectSpool, progress: ProgressFn) -> _Kept:
    """Pass 1: the filters (text, confidence, tags, image) and image hashes; a small entry per kept row,
    a reject per dropped one (added in pair id order, input order among equal ids)."""
    kept = _Kept()
    filtered: list[tuple[str, int, str, str]] = []  # (pair id, seq, reject line, reason)
    progress(0, total=total)
    for seq, (off, r) in enumerate(source):
        progress(1)
        why = _text_or_tag_problem(r, settings, tags, kept)
        sha = _image_sha(rd, r) if why is None else None
        if isinstance(sha, tuple):
            why = sha
        if why is not None:
            filtered.append((r.pair_id, seq, _rej(r, *why).model_dump_json(), why[0]))
            continue
        assert isinstance(sha, bytes)
        kept.entries.append(_Entry(0, r.pair_id, seq, off, kept.papers.setdefault(r.paper_id, r.paper_id), sha))
    filtered.sort(key=lambda t: (t[0], t[1]))
    for _, _, line, reason in filtered:
        rejects.add_line(line, reason)
    return kept


def _text_or_tag_problem(r: Row, settings: ExportSettings, tags: dict[str, Any] | None,
                         kept: _Kept) -> tuple[str, str] | None:
    """(reason, detail) when the row's text is empty, its confidence too low or its tags not kept, else
    None; the tag filter's rows are noted in `kept` for the manifest's before/after mix."""
    if not r.text.strip(" ."):
        return "empty_text", f"{r.pair_id}: empty text"
    if r.confidence < settings.min_confidence:
        return "low_confidence", f"{r.pair_id}: confidence {r.confidence:.2f} below {settings.min_confidence:.2f}"
    if tags is not None:
        from medvl.tag.keep import decide

        tag = tags.get(r.pair_id)
        kept.mix_before.append(tag)
        why = decide(tag, settings.keep or {}, settings.keep_confidence)
        if why is not None:
            return why[0], f"{r.pair_id}: {why[1]}"
        kept.kept_tags[r.pair_id] = tag
    return None


def _image_sha(rd: RunDir, r: Row) -> bytes | tuple[str, str]:
    """The decoded-pixel hash of the row's image, or (reason, detail) when it is outside the run
    directory, missing or cannot be decoded."""
    try:
        src = rd.inside(r.image)
    except ValueError:
        return "bad_path", f"{r.pair_id}: image path {r.image!r} escapes the run directory"
    if not src.is_file():
        return "image_missing", f"{r.pair_id}: image {r.image} not found"
    try:
        return bytes.fromhex(_pixel_sha(src))
    except Exception as exc:  # PIL raises many types on bad files
        return "bad_image", f"{r.pair_id}: {r.image} cannot be decoded ({_short(exc)})"


def _order_by_split(entries: list[_Entry], papers: dict[str, str], settings: ExportSettings) -> list[str]:
    """Split by paper, then sort into the output order: split, pair id (input order among equal ids).
    Returns the papers moved so that no split is empty."""
    assignment, moved = assign_splits(list(papers), settings.split, settings.seed, settings.min_per_split)
    for e in entries:
        e.split_index = SPLITS.index(assignment[e.paper_id])
    entries.sort()
    return moved


def _tag_info(rd: RunDir, settings: ExportSettings, kept: _Kept) -> dict[str, Any]:
    """The manifest's tag filter: the tags file's hash, the filter, the tag mix before and after it."""
    from medvl.tag.keep import mix

    return {"tags_sha256": sha256_file(rd.file("tags.jsonl")), "keep": settings.keep,
            "keep_confidence": settings.keep_confidence, "before": mix(kept.mix_before),
            "after": mix(kept.kept_tags[e.pair_id] for e in kept.entries)}


def _swap_into_place(data_dir: Path, write: Callable[[Path], ExportSummary]) -> ExportSummary:
    """Pass 2: `write` into a temporary sibling of DATA_DIR, then swap it into place; what a killed export
    left is removed first, and the temporary folder when `write` fails."""
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(data_dir)
    tmp = temp_dir_beside(data_dir)  # the usual mode (umask), not mkdtemp's 0700: it becomes the dataset
    try:
        summary = write(tmp)
        old = None
        if data_dir.exists():
            old = temp_dir_beside(data_dir, "old")
            os.rmdir(old)
            os.replace(data_dir, old)
        os.replace(tmp, data_dir)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return summary


def _load_tag_index(rd: RunDir) -> dict[str, Any]:
    """pair id -> what the tag filter needs, from RUN_DIR/tags.jsonl (the tag stage)."""
    from medvl.tag.keep import load_tags

    path = rd.file("tags.jsonl")
    if not path.exists():
        raise InputError(str(path), "missing", "the export's keep filter needs tags: run the tag stage "
                         "(`medvl run ... -s tag` or add tag to the config's stages) first")
    return load_tags(path)


def _rej(r: Row, reason: str, detail: str) -> Reject:
    return Reject(stage=STAGE, source=r.image, id=r.pair_id, reason=reason, detail=detail, paper_id=r.paper_id)


class _SplitWriter:
    """Streams one split's rows into its CSV file, image folder and WebDataset shards."""

    def __init__(self, tmp: Path, final: Path, rd: RunDir, split: str, settings: ExportSettings,
                 sizes: dict[str, int], stack: ExitStack):
        self.tmp, self.final, self.rd, self.split, self.settings = tmp, final, rd, split, settings
        self.sizes = sizes
        self.rows = 0
        self.papers: set[str] = set()
        self.figures: set[str] = set()
        self.classes: Counter[str] = Counter()
        self.shards: list[str] = []
        self.tar: tarfile.TarFile | None = None
        self.in_shard = 0
        self.csv = None
        self.stack = stack
        if "csv" in settings.formats:
            fh = stack.enter_context(open(tmp / f"{split}.csv", "w", encoding="utf-8", newline=""))
            self.csv = csv.writer(fh, delimiter="\t", quoting=csv.QUOTE_MINIMAL, lineterminator="\n")
            self.csv.writerow(["filepath", "title"])

    def add(self, r: Row) -> dict[str, Any]:
        """Write one row; returns its metadata.jsonl row."""
        s = self.settings
        r.key = _sample_key(r.pair_id)
        ext = Path(r.image).suffix.lower() or ".png"
        rel = f"images/{self.split}/{r.key}{ext}"
        fp = str((self.final / rel).resolve()) if s.absolute_paths else rel
        if self.csv is not None:
            _place(self.rd.inside(r.image), self.tmp / rel, s.link)
            self.csv.writerow([fp, r.text])
        if "wds" in s.formats:
            if self.tar is None or self.in_shard == s.shard_size:
                self._close_shard()
                name = f"{self.split}-{len(self.shards):06d}.tar"
                (self.tmp / "wds").mkdir(exist_ok=True)
                self.tar = tarfile.open(self.tmp / "wds" / name, "w", format=tarfile.USTAR_FORMAT)
                self.shards.append(name)
                self.in_shard = 0
            _tar_add(self.tar, f"{r.key}{ext}", self.rd.inside(r.image).read_bytes())
            _tar_add(self.tar, f"{r.key}.txt", r.text.encode("utf-8"))
            meta = _meta_row(r, f"{r.key}{ext}")
            _tar_add(self.tar, f"{r.key}.json", json.dumps(meta, ensure_ascii=False, sort_keys=True).encode())
            self.in_shard += 1
        self.rows += 1
        self.papers.add(r.paper_id)
        self.figures.add(r.figure_id)
        if r.synthetic_class:
            self.classes[r.synthetic_class] += 1
        return _meta_row(r, fp)

    def _close_shard(self) -> None:
        if self.tar is not None:
            self.tar.close()
            self.sizes[self.shards[-1]] = self.in_shard
            self.tar = None

    def finish(self) -> dict[str, Any]:
        self._close_shard()
        info: dict[str, Any] = {"rows": self.rows, "papers": len(self.papers), "figures": len(self.figures)}
        if self.classes:
            info["synthetic_classes"] = dict(sorted(self.classes.items()))
        if self.csv is not None:
            info["csv"] = f"{self.split}.csv"
        if self.shards:
            info["shards"] = f"wds/{self.split}-{{000000..{len(self.shards) - 1:06d}}}.tar"
            info["num_samples"] = self.rows
        return info


def _write(tmp: Path, final: Path, rd: RunDir, input_path: Path, entries: list[_Entry], rejects: _RejectSpool,
           settings: ExportSettings, moved: list[str], figs: _Figures, gt: dict[str, dict],
           tag_info: dict[str, Any] | None = None) -> ExportSummary:
    splits_info: dict[str, Any] = {}
    sizes: dict[str, int] = {}
    methods: Counter[str] = Counter()
    seen: dict[bytes, str] = {}  # image hash -> the pair id that keeps it
    total = 0
    reader = _LineReader(input_path)
    make = _row_from_pair if settings.pairs == "aligned" else _row_from_figure
    model = Pair if settings.pairs == "aligned" else Figure
    i = 0
    try:
        with atomic_open(tmp / "metadata.jsonl") as meta_fh:
            for split_index, split in enumerate(SPLITS):
                with ExitStack() as stack:
                    w = _SplitWriter(tmp, final, rd, split, settings, sizes, stack)
                    while i < len(entries) and entries[i].split_index == split_index:
                        e = entries[i]
                        i += 1
                        # duplicates: the earliest split, then the smallest pair id, keeps the image
                        r = make(model.model_validate(reader.at(e.offset)))
                        if e.sha in seen:
                            rejects.append(_rej(r, "duplicate_image", f"{r.pair_id}: same image as {seen[e.sha]}"))
                            continue
                        seen[e.sha] = e.pair_id
                        r.split, r.pixel_sha256 = split, e.sha.hex()
                        if gt:
                            _label_synthetic(r, figs.get, gt)
                        meta_fh.write(json.dumps(w.add(r), ensure_ascii=False) + "\n")
                        methods[r.method] += 1
                        total += 1
                    splits_info[split] = w.finish()
    finally:
        reader.close()
    if "wds" in settings.formats:
        (tmp / "wds").mkdir(exist_ok=True)
        atomic_write_text(tmp / "wds" / "sizes.json", json.dumps(sizes, indent=1, sort_keys=True) + "\n")
    rejects.copy_to(tmp / "rejects.jsonl")

    from medvl import __version__

    reasons = rejects.reasons
    inputs = {}
    for name in ("pairs.jsonl", "figures.jsonl", "subcaptions.jsonl"):
        p = rd.file(name)
        if p.exists():
            inputs[name] = sha256_file(p)
    manifest = {
        "format_version": FORMAT_VERSION,
        "stage": STAGE,
        "stage_version": STAGE_VERSION,
        "medvl_version": __version__,
        "source_run": str(rd.path),
        "inputs_sha256": inputs,
        "pairs": settings.pairs,
        "settings": settings.to_dict(),
        "csv": {"separator": "\t", "img_key": "filepath", "caption_key": "title",
                "paths": "absolute" if settings.absolute_paths else "relative to DATA_DIR"},
        "splits": splits_info,
        "total_rows": total,
        "methods": dict(sorted(methods.items())),
        "moved_papers": moved,
        "rejects": dict(sorted(reasons.items())),
        "tools": tool_versions(["pillow"]),
    }
    if tag_info is not None:
        # the filter and the modality/anatomy mix of the rows it saw and of those it kept
        # (before duplicates are removed); the report draws both
        manifest["tag_filter"] = tag_info
    atomic_write_text(tmp / MANIFEST, json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
    return ExportSummary(rows={s: splits_info[s]["rows"] for s in SPLITS},
                         papers={s: splits_info[s]["papers"] for s in SPLITS}, rejects=len(rejects),
                         reject_reasons=dict(sorted(reasons.items())), moved_papers=moved)


def read_manifest(data_dir: str | Path) -> dict[str, Any]:
    return json.loads((Path(data_dir) / MANIFEST).read_text(encoding="utf-8"))
