"""The export stage as it was before it streamed (medvl/export.py at 0363884), kept verbatim below
this docstring as the oracle of tests/test_export.py::test_streaming_export_writes_the_same_bytes:
the streaming export must write byte-identical outputs for the same inputs.  Not used by medvl.
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
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from medvl.errors import InputError, MedvlError
from medvl.progress import ProgressFn, no_progress
from medvl.records import Figure, Pair, Reject, pair_id, sha256_file
from medvl.runs import RunDir, atomic_write_text, read_jsonl, safe_key, tool_versions, write_jsonl

STAGE = "export"
from medvl.export import STAGE_VERSION  # noqa: E402  (the version is not what this oracle compares)
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

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["formats"] = list(self.formats)
        d["split"] = list(self.split)
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


def _rows_aligned(rd: RunDir, rejects: list[Reject]) -> list[Row]:
    path = rd.file("pairs.jsonl")
    if not path.exists():
        raise InputError(str(path), "missing", "no pairs file: run `medvl align` first (or export --pairs raw)")
    rows = []
    for i, raw in enumerate(read_jsonl(path), 1):
        try:
            p = Pair.model_validate(raw)
        except Exception as exc:  # one bad row, not a dead run
            rejects.append(Reject(stage=STAGE, source=f"pairs.jsonl:{i}", id=str(raw.get("pair_id")),
                                  reason="bad_record", detail=f"{path}:{i}: not a valid Pair ({_short(exc)})",
                                  paper_id=raw.get("paper_id")))
            continue
        rows.append(Row(p.pair_id, p.paper_id, p.figure_id, p.panel_id, p.label, p.method, p.confidence,
                        _clean_text(p.text), p.image, p.license))
    return rows


def _load_figures(rd: RunDir, rejects: list[Reject] | None = None) -> dict[str, Figure]:
    path = rd.file("figures.jsonl")
    figs: dict[str, Figure] = {}
    if not path.exists():
        return figs
    for i, raw in enumerate(read_jsonl(path), 1):
        try:
            f = Figure.model_validate(raw)
        except Exception as exc:
            if rejects is not None:
                rejects.append(Reject(stage=STAGE, source=f"figures.jsonl:{i}", id=str(raw.get("figure_id")),
                                      reason="bad_record", detail=f"{path}:{i}: not a valid Figure ({_short(exc)})",
                                      paper_id=raw.get("paper_id")))
            continue
        figs[f.figure_id] = f
    return figs


def _rows_raw(rd: RunDir, figs: dict[str, Figure], rejects: list[Reject]) -> list[Row]:
    from medvl.align import strip_figure_label

    if not rd.file("figures.jsonl").exists():
        raise InputError(str(rd.file("figures.jsonl")), "missing", "no figures file: run `medvl parse` first")
    papers: set[str] | None = None
    pairs_path = rd.file("pairs.jsonl")
    if pairs_path.exists():  # the same papers as the aligned pairs
        papers = {r["paper_id"] for r in read_jsonl(pairs_path) if "paper_id" in r}
    rows = []
    for f in figs.values():
        if papers is not None and f.paper_id not in papers:
            continue
        if not f.image:
            rejects.append(Reject(stage=STAGE, source=f.figure_id, id=f.figure_id, reason="no_image",
                                  detail=f"{f.figure_id}: the figure has no rendered image", paper_id=f.paper_id))
            continue
        rows.append(Row(pair_id(f.figure_id, None, 0), f.paper_id, f.figure_id, None, None, "whole", 1.0,
                        _clean_text(strip_figure_label(f.caption or "", f.label)), f.image, f.license))
    return rows


def _short(exc: Exception) -> str:
    return " ".join(str(exc).split())[:300]


# ---------------------------------------------------------------- synthetic classes

def _ground_truth_papers(rd: RunDir, figs: dict[str, Figure], explicit: str | None) -> dict[str, dict]:
    """paper_id -> ground-truth paper of a synthetic corpus, when one can be found."""
    cands: list[Path] = []
    if explicit:
        p = Path(explicit)
        cands.append(p / "ground_truth.json" if p.is_dir() else p)
    else:
        cands.append(rd.path / "corpus" / "ground_truth.json")
        for f in figs.values():
            src = Path(f.source)
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


def _label_synthetic(rows: list[Row], figs: dict[str, Figure], gt: dict[str, dict]) -> None:
    from medvl.synth.score import match_figure, match_panel

    for r in rows:
        paper = gt.get(r.paper_id)
        fig = figs.get(r.figure_id)
        if paper is None or fig is None:
            continue
        g = match_figure(fig.model_dump(), paper)
        if g is None:
            continue
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


def export_run(run_dir: str | Path, data_dir: str | Path, settings: ExportSettings | None = None,
               progress: ProgressFn = no_progress) -> ExportSummary:
    """Export a run's pairs to DATA_DIR (replaced atomically).  Returns counts per split."""
    settings = settings or ExportSettings()
    rd = RunDir(run_dir)
    data_dir = Path(data_dir)
    _check_target(data_dir, rd.path)
    rejects: list[Reject] = []
    figs = _load_figures(rd, rejects if settings.pairs == "raw" else None)
    rows = _rows_aligned(rd, rejects) if settings.pairs == "aligned" else _rows_raw(rd, figs, rejects)

    # filters: text, confidence, image
    kept: list[Row] = []
    progress(0, total=len(rows))
    for r in sorted(rows, key=lambda r: r.pair_id):
        progress(1)
        if not r.text.strip(" ."):
            rejects.append(_rej(r, "empty_text", f"{r.pair_id}: empty text"))
            continue
        if r.confidence < settings.min_confidence:
            rejects.append(_rej(r, "low_confidence", f"{r.pair_id}: confidence {r.confidence:.2f} below "
                                f"{settings.min_confidence:.2f}"))
            continue
        try:
            src = rd.inside(r.image)
        except ValueError:
            rejects.append(_rej(r, "bad_path", f"{r.pair_id}: image path {r.image!r} escapes the run directory"))
            continue
        if not src.is_file():
            rejects.append(_rej(r, "image_missing", f"{r.pair_id}: image {r.image} not found"))
            continue
        try:
            r.pixel_sha256 = _pixel_sha(src)
        except Exception as exc:  # PIL raises many types on bad files
            rejects.append(_rej(r, "bad_image", f"{r.pair_id}: {r.image} cannot be decoded ({_short(exc)})"))
            continue
        kept.append(r)

    # split by paper
    assignment, moved = assign_splits([r.paper_id for r in kept], settings.split, settings.seed,
                                      settings.min_per_split)
    for r in kept:
        r.split = assignment[r.paper_id]

    # duplicates: keep the earliest split, then the smallest pair id
    kept.sort(key=lambda r: (SPLITS.index(r.split), r.pair_id))
    seen: dict[str, str] = {}
    unique: list[Row] = []
    for r in kept:
        if r.pixel_sha256 in seen:
            rejects.append(_rej(r, "duplicate_image", f"{r.pair_id}: same image as {seen[r.pixel_sha256]}"))
            continue
        seen[r.pixel_sha256] = r.pair_id
        unique.append(r)

    gt = _ground_truth_papers(rd, figs, settings.ground_truth)
    if gt:
        _label_synthetic(unique, figs, gt)

    # write into a temporary sibling, then swap it into place
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{data_dir.name}.", dir=data_dir.parent))
    try:
        summary = _write(tmp, data_dir, rd, unique, rejects, settings, moved)
        old = None
        if data_dir.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{data_dir.name}.old.", dir=data_dir.parent))
            os.rmdir(old)
            os.replace(data_dir, old)
        os.replace(tmp, data_dir)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise

    # the run directory keeps the rejects and the settings too
    # (in .parts/export-<variant>/, apart from .parts/export/ which a pipeline may use for its own markers)
    rd.write_unit(f"{STAGE}-{settings.pairs}", "all", [], rejects, meta={"data_dir": str(data_dir.resolve())})
    rd.merge_rejects()
    rd.update_manifest(f"{STAGE}:{settings.pairs}", {**settings.to_dict(), "data_dir": str(data_dir.resolve()),
                                                      "rows": summary.rows}, tools=["pillow"])
    summary.data_dir = str(data_dir.resolve())
    return summary


def _rej(r: Row, reason: str, detail: str) -> Reject:
    return Reject(stage=STAGE, source=r.image, id=r.pair_id, reason=reason, detail=detail, paper_id=r.paper_id)


def _write(tmp: Path, final: Path, rd: RunDir, rows: list[Row], rejects: list[Reject],
           settings: ExportSettings, moved: list[str]) -> ExportSummary:
    by_split: dict[str, list[Row]] = {s: [] for s in SPLITS}
    for r in rows:
        by_split[r.split].append(r)
    meta_rows: list[dict[str, Any]] = []
    splits_info: dict[str, Any] = {}
    sizes: dict[str, int] = {}
    for split in SPLITS:
        part = by_split[split]
        info: dict[str, Any] = {"rows": len(part), "papers": len({r.paper_id for r in part}),
                                "figures": len({r.figure_id for r in part})}
        classes = Counter(r.synthetic_class for r in part if r.synthetic_class)
        if classes:
            info["synthetic_classes"] = dict(sorted(classes.items()))
        filepaths: list[str] = []
        for r in part:
            r.key = _sample_key(r.pair_id)
            ext = Path(r.image).suffix.lower() or ".png"
            rel = f"images/{split}/{r.key}{ext}"
            fp = str((final / rel).resolve()) if settings.absolute_paths else rel
            filepaths.append(fp)
            meta_rows.append(_meta_row(r, fp))
        if "csv" in settings.formats:
            for r, fp in zip(part, filepaths):
                ext = Path(r.image).suffix.lower() or ".png"
                _place(rd.inside(r.image), tmp / f"images/{split}/{r.key}{ext}", settings.link)
            with open(tmp / f"{split}.csv", "w", encoding="utf-8", newline="") as fh:
                w = csv.writer(fh, delimiter="\t", quoting=csv.QUOTE_MINIMAL, lineterminator="\n")
                w.writerow(["filepath", "title"])
                for r, fp in zip(part, filepaths):
                    w.writerow([fp, r.text])
            info["csv"] = f"{split}.csv"
        if "wds" in settings.formats:
            shards = []
            for si in range(0, max(len(part), 1), settings.shard_size):
                chunk = part[si:si + settings.shard_size]
                if not chunk:
                    break
                name = f"{split}-{si // settings.shard_size:06d}.tar"
                (tmp / "wds").mkdir(exist_ok=True)
                with tarfile.open(tmp / "wds" / name, "w", format=tarfile.USTAR_FORMAT) as tar:
                    for r in chunk:
                        ext = Path(r.image).suffix.lower() or ".png"
                        _tar_add(tar, f"{r.key}{ext}", rd.inside(r.image).read_bytes())
                        _tar_add(tar, f"{r.key}.txt", r.text.encode("utf-8"))
                        meta = _meta_row(r, f"{r.key}{ext}")
                        _tar_add(tar, f"{r.key}.json", json.dumps(meta, ensure_ascii=False, sort_keys=True).encode())
                shards.append(name)
                sizes[name] = len(chunk)
            if shards:
                last = len(shards) - 1
                info["shards"] = f"wds/{split}-{{000000..{last:06d}}}.tar"
                info["num_samples"] = len(part)
        splits_info[split] = info
    if "wds" in settings.formats:
        (tmp / "wds").mkdir(exist_ok=True)
        atomic_write_text(tmp / "wds" / "sizes.json", json.dumps(sizes, indent=1, sort_keys=True) + "\n")
    write_jsonl(tmp / "metadata.jsonl", meta_rows)
    write_jsonl(tmp / "rejects.jsonl", rejects)

    from medvl import __version__

    reasons = Counter(r.reason for r in rejects)
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
        "total_rows": len(rows),
        "methods": dict(sorted(Counter(r.method for r in rows).items())),
        "moved_papers": moved,
        "rejects": dict(sorted(reasons.items())),
        "tools": tool_versions(["pillow"]),
    }
    atomic_write_text(tmp / MANIFEST, json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
    return ExportSummary(rows={s: splits_info[s]["rows"] for s in SPLITS},
                         papers={s: splits_info[s]["papers"] for s in SPLITS}, rejects=len(rejects),
                         reject_reasons=dict(sorted(reasons.items())), moved_papers=moved)


def read_manifest(data_dir: str | Path) -> dict[str, Any]:
    return json.loads((Path(data_dir) / MANIFEST).read_text(encoding="utf-8"))
