"""A small run directory for the export tests (figures.jsonl, pairs.jsonl, images), built in code."""

from __future__ import annotations

import hashlib
import json
import re
import struct
import tarfile
import zlib
from pathlib import Path

import numpy as np

from medvl.records import Figure, Pair, Panel, Provenance, figure_id, pair_id, panel_id
from medvl.runs import RunDir, write_jsonl

PROV = Provenance(stage="test", stage_version="0", input_sha256="0" * 64)


def _png(rd: RunDir, rel: str, seed: int, size: tuple[int, int] = (24, 20)) -> str:
    p = rd.inside(rel)
    p.parent.mkdir(parents=True, exist_ok=True)
    arr = np.random.default_rng(seed).integers(0, 255, (size[1], size[0]), dtype=np.uint8)
    p.write_bytes(png_bytes(arr))
    return rel


def png_bytes(arr: np.ndarray) -> bytes:
    """An 8-bit greyscale PNG with stored (level 0) deflate: the same bytes whatever Pillow or zlib is
    installed, so the export's golden digests (which hash the copied images) hold on any machine."""
    h, w = arr.shape
    raw = b"".join(b"\x00" + arr[y].tobytes() for y in range(h))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw, 0)) + chunk(b"IEND", b"")


def build_run(root: Path, n_papers: int = 12, dup: bool = False) -> RunDir:
    """A run with figures.jsonl, pairs.jsonl and images: 2 panels per figure, 1 figure per paper."""
    rd = RunDir(root)
    figs, pairs = [], []
    for i in range(n_papers):
        pid = f"p{i:016x}"
        fid = figure_id(pid, 1, 0)
        fig_img = _png(rd, f"images/{pid}/{fid}.png", 1000 + i, (50, 20))
        panels = []
        for k in range(2):
            pn = panel_id(fid, k)
            img = _png(rd, f"images/{pid}/{pn}.png", 7 if (dup and k == 1) else i * 10 + k)
            panels.append(Panel(panel_id=pn, bbox=[k * 25, 0, k * 25 + 24, 20], label="AB"[k], label_source="pdf_text",
                                image=img))
            pairs.append(Pair(pair_id=pair_id(fid, "AB"[k], k), image=img, text=f"Panel {'AB'[k]}\tof paper {i} \"q\".",
                              figure_id=fid, paper_id=pid, panel_id=pn, label="AB"[k], method="letter",
                              confidence=0.95 if k == 0 else 0.6, license="CC-BY-4.0", provenance=PROV))
        figs.append(Figure(paper_id=pid, figure_id=fid, source=f"{pid}.pdf", page=1, index=0, label="Figure 1",
                           caption=f"Figure 1. (A) Panel A of paper {i}. (B) Panel B.", bbox=[0, 0, 24, 9.6],
                           image=fig_img, width=50, height=20, dpi=150, panels=panels, provenance=PROV))
    write_jsonl(rd.file("figures.jsonl"), figs)
    write_jsonl(rd.file("pairs.jsonl"), pairs)
    return rd


# ---------------------------------------------------------------- golden digests of an export

_VERSIONS = re.compile(rb'"(stage_version|medvl_version)": "[^"]*"')
_TOOLS = re.compile(rb'"tools": \{[^}]*\}')
_PYDANTIC_URL = re.compile(rb"errors\.pydantic\.dev/[0-9.]+/")
_INPUT_SHAS = re.compile(rb'"(figures|pairs|subcaptions)\.jsonl": "[0-9a-f]{64}"')


def _normal(data: bytes, root: Path) -> bytes:
    """What may differ between two correct runs: the temp folder, the stage / medvl / tool versions of the
    manifest (they follow the code and the environment, not the inputs), the manifest's hashes of the input
    files (they change with every new field of a record), pydantic's docs URL version."""
    for r in {str(root), str(root.resolve())}:
        data = data.replace(r.encode(), b"$ROOT")
    data = _VERSIONS.sub(rb'"\1": "$"', data)
    data = _TOOLS.sub(b'"tools": {}', data)
    data = _INPUT_SHAS.sub(rb'"\1.jsonl": "$"', data)
    return _PYDANTIC_URL.sub(b"errors.pydantic.dev/$/", data)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def export_digest(data_dir: Path, rd: RunDir, pairs: str, summary: dict, root: Path) -> dict:
    """sha256 of every file an export wrote (a tar member by member: its header fields and its bytes),
    of the rejects it added to the run, and its summary: what tests/golden/export/*.json pin."""
    files: dict[str, str | dict] = {}
    for p in sorted(x for x in data_dir.rglob("*") if x.is_file()):
        rel = p.relative_to(data_dir).as_posix()
        if p.suffix == ".tar":
            with tarfile.open(p) as tar:
                members = {}
                for m in tar.getmembers():
                    head = f"{m.type!r} {m.size} {m.mtime} {m.mode:o} {m.uid} {m.gid} {m.uname} {m.gname}"
                    members[m.name] = f"{head} {_sha(_normal(tar.extractfile(m).read(), root))}"
            files[rel] = {"sha256": _sha(_normal(p.read_bytes(), root)) if not _has_root(p, root) else "-",
                          "members": members}
        else:
            files[rel] = _sha(_normal(p.read_bytes(), root))
    part = rd.parts_dir(f"export-{pairs}") / "all.rejects.jsonl"
    return {"summary": json.loads(_normal(json.dumps({**summary, "data_dir": "$DATA"}, sort_keys=True).encode(), root)),
            "files": files,
            "run_rejects": _sha(_normal(rd.file("rejects.jsonl").read_bytes(), root)),
            "part_rejects": _sha(_normal(part.read_bytes(), root))}


def _has_root(p: Path, root: Path) -> bool:
    data = p.read_bytes()
    return any(r.encode() in data for r in {str(root), str(root.resolve())})
