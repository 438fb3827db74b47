"""The papers folder that `medvl collect` writes and `medvl parse` reads.

::

    PAPERS_DIR/
      PMC1234567/fulltext.pdf          the files, named the way `medvl parse` pairs them
      PMC1234567/fulltext.xml
      PMC1234567/metadata.json         this paper's metadata, license included (license_for reads it)
      manifest.jsonl                   one row per file (and per rejected paper): ids, source URL,
                                       sha256, size, license, retrieved_at, status, reason
      metadata.jsonl                   one row per paper that has files
      rejects.jsonl                    what was dropped or failed, as medvl.records.Reject rows
      run.json                         settings and tool versions of the last collect
      .parts/collect/<PMCID>.jsonl     that paper's manifest rows from its latest attempt
      .parts/collect/<PMCID>.done      written last; its JSON says whether the paper is final

Files reach their final names only complete and checked (temp file, then rename), so a
killed run leaves nothing half-written under a final name.  A paper is *final* when every
asked-for file is there or it was rejected for good (license, retraction); a rerun skips
final papers and retries the rest, keeping files that are already in place.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Literal

from medvl.records import Provenance, Record, Reject
from medvl.runs import RunDir, atomic_write_text, read_jsonl, safe_key, write_jsonl
from medvl.versioning import stage_version

STAGE = "collect"
STAGE_VERSION = stage_version(STAGE)  # derived from the collect code (medvl/versioning.py)
FILE_NAMES = {"pdf": "fulltext.pdf", "xml": "fulltext.xml"}
PAPER_META = "metadata.json"

Status = Literal["ok", "present", "rejected", "failed", "skipped", "duplicate"]


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class ManifestRow(Record):
    """One file of one paper (kind pdf/xml), or the paper itself (kind paper) when rejected."""

    pmcid: str  # "" for the row of the search itself (kind search)
    kind: Literal["pdf", "xml", "paper", "search"]
    status: Status
    reason: str = ""  # machine-friendly code: "downloaded", "license_not_allowed", "http_404" ...
    detail: str = ""  # clear words for a person
    pmid: str | None = None
    doi: str | None = None
    pmc_version: int | None = None
    source: str | None = None  # "pmc-cloud" | "europepmc"
    url: str | None = None
    path: str | None = None  # relative to PAPERS_DIR
    sha256: str | None = None
    md5: str | None = None
    size: int | None = None
    license: str | None = None  # SPDX-style id, e.g. CC-BY-4.0
    license_family: str | None = None
    attempts: list[dict[str, Any]] = []  # earlier sources tried for this file, with reasons
    # kind search only: the term sent, NCBI's translation of it, its count, ErrorList/WarningList lines
    query: str | None = None
    query_translation: str | None = None
    count: int | None = None
    messages: list[str] = []
    retrieved_at: str
    provenance: Provenance


class PaperMeta(Record):
    """PAPERS_DIR/<PMCID>/metadata.json and one line of metadata.jsonl."""

    pmcid: str
    pmid: str | None = None
    doi: str | None = None
    title: str | None = None
    journal: str | None = None
    year: int | None = None
    article_type: str | None = None
    authors: list[str] = []
    license: str | None = None  # SPDX-style id: CC-BY-4.0, CC0-1.0, public-domain ...
    license_family: str | None = None  # cc-by, cc0, public-domain, cc-by-nc ...
    license_raw: str | None = None  # the text or code it was read from
    license_source: str | None = None  # "pmc-cloud-metadata" | "jats" | "esummary"
    pmc_version: int | None = None
    files: dict[str, str] = {}  # kind -> path relative to PAPERS_DIR
    sha256: dict[str, str] = {}
    sources: dict[str, str] = {}  # kind -> source URL
    query: str | None = None
    retrieved_at: str
    provenance: Provenance


class PapersDir:
    """PAPERS_DIR on disk: per-paper folders, per-paper parts and the merged files."""

    def __init__(self, path: str | Path):
        self.run = RunDir(path)
        self.path = self.run.path

    # paths ---------------------------------------------------------
    def paper_dir(self, pmcid: str) -> Path:
        return self.run.inside(safe_key(pmcid))

    def file_path(self, pmcid: str, kind: str) -> Path:
        return self.paper_dir(pmcid) / FILE_NAMES[kind]

    def rel(self, p: Path) -> str:
        return self.run.rel(p)

    # state ---------------------------------------------------------
    def marker(self, key: str) -> dict | None:
        p = self.run.parts_dir(STAGE) / f"{safe_key(key)}.done"
        if not p.exists():
            return None
        try:
            return json.loads(p.read_text(encoding="utf-8") or "{}")
        except json.JSONDecodeError:
            return None

    def previous_rows(self, pmcid: str) -> list[dict]:
        p = self.run.parts_dir(STAGE) / f"{safe_key(pmcid)}.jsonl"
        if not p.exists() or self.marker(pmcid) is None:
            return []
        try:
            return list(read_jsonl(p))
        except ValueError:
            return []

    def is_final(self, pmcid: str, formats: Iterable[str], licenses: Iterable[str]) -> bool:
        """True when an earlier run finished this paper for the same formats and licenses."""
        m = self.marker(pmcid)
        if not m or not m.get("final"):
            return False
        if m.get("status") == "rejected":
            # A license rejection stands only under the same license filter.
            return sorted(m.get("licenses", [])) == sorted(licenses) or m.get("reason") == "retracted"
        if m.get("license_family") and m["license_family"] not in set(licenses):
            return False  # kept under a wider filter: reconsidered (and removed) under this one
        if not set(formats) <= set(m.get("formats", [])):
            return False
        return all(self.file_path(pmcid, k).exists() for k in formats)

    def write_paper(self, pmcid: str, rows: list[ManifestRow], rejects: list[Reject],
                    meta: PaperMeta | None, *, final: bool, status: str, reason: str,
                    formats: Iterable[str], licenses: Iterable[str], license_family: str | None = None) -> None:
        """Record one paper's attempt: metadata.json first, then its parts, then the marker."""
        if meta is not None:
            atomic_write_text(self.paper_dir(pmcid) / PAPER_META,
                              json.dumps(meta.model_dump(mode="json"), ensure_ascii=False, indent=1))
        self.run.write_unit(STAGE, pmcid, rows, rejects,
                            meta={"final": final, "status": status, "reason": reason,
                                  "formats": sorted(formats), "licenses": sorted(licenses),
                                  "license_family": license_family})

    def write_search(self, rows: list[ManifestRow], rejects: list[Reject], info: dict) -> None:
        """Rows that belong to no single paper folder (duplicate ids), under the key 'search'."""
        self.run.write_unit(STAGE, "search", rows, rejects, meta={"final": False, **info})

    def clean_temp_files(self) -> int:
        """Remove temp files a killed run may have left beside final names."""
        n = 0
        for p in self.path.glob("*/.*.tmp"):
            try:
                p.unlink()
                n += 1
            except OSError:
                pass
        return n

    # merged outputs ------------------------------------------------
    def merge(self) -> dict[str, int]:
        """Rebuild manifest.jsonl, metadata.jsonl and rejects.jsonl from the parts and folders."""
        n_manifest = self.run.merge(STAGE, "manifest.jsonl")  # also rebuilds rejects.jsonl
        metas = []
        for d in sorted(p for p in self.path.iterdir() if p.is_dir() and not p.name.startswith(".")):
            mp = d / PAPER_META
            if mp.exists():
                try:
                    metas.append(json.loads(mp.read_text(encoding="utf-8")))
                except json.JSONDecodeError:
                    continue
        n_meta = write_jsonl(self.path / "metadata.jsonl", metas)
        return {"manifest": n_manifest, "metadata": n_meta}


# ---------------------------------------------------------------- for other stages

def paper_metadata(path: str | Path) -> dict | None:
    """The collect metadata of the paper a file or folder belongs to, or None.

    `path` may be ``PAPERS_DIR/<PMCID>/fulltext.pdf``, the ``<PMCID>`` folder, or any file in
    it.  Reads ``<folder>/metadata.json``; failing that, looks the folder name up in a
    ``metadata.jsonl`` one or two levels up.  A ``metadata.jsonl`` beside a file whose rows
    name it in ``file`` (the layout of ``medvl synth``) works too.
    """
    p = Path(path)
    folder = p if p.is_dir() else p.parent
    mp = folder / PAPER_META
    if mp.is_file():
        try:
            data = json.loads(mp.read_text(encoding="utf-8"))
            if isinstance(data, dict):
                return data
        except (OSError, json.JSONDecodeError):
            pass
    if not p.is_dir():
        row = _find_row(folder / "metadata.jsonl", lambda r: r.get("file") == p.name)
        if row is not None:
            return row
    for up in (folder.parent, folder.parent.parent):
        row = _find_row(up / "metadata.jsonl", lambda r: r.get("pmcid") == folder.name or any(
            str(v).startswith(f"{folder.name}/") for v in (r.get("files") or {}).values()))
        if row is not None:
            return row
    return None


def _find_row(path: Path, match) -> dict | None:
    if not path.is_file():
        return None
    try:
        for row in read_jsonl(path):
            if isinstance(row, dict) and match(row):
                return row
    except (OSError, ValueError):
        return None
    return None


def license_for(path: str | Path) -> str | None:
    """The license of the collected paper that `path` belongs to (e.g. ``"CC-BY-4.0"``), or None.

    For the parse stage: ``license_for("papers/PMC123/fulltext.pdf")`` -> ``"CC-BY-4.0"``;
    None for files that did not come from `medvl collect`.
    """
    meta = paper_metadata(path)
    if not meta:
        return None
    lic = meta.get("license")
    return str(lic) if lic else None
