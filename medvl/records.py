"""Pydantic models of every record medvl writes.

Every model forbids unknown keys, so a typo in a writer fails loudly instead of
silently producing a column nobody reads.  Ids are stable: they derive from
content hashes and positions, never from run order or time, so a rerun of the
same inputs produces byte-identical records.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

BBox = list[float]  # [x0, y0, x1, y1]


class Record(BaseModel):
    model_config = ConfigDict(extra="forbid")

    def to_json(self) -> str:
        return self.model_dump_json(exclude_none=False)


# ---------------------------------------------------------------- ids and hashes

def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_text(text: str) -> str:
    return sha256_bytes(text.encode("utf-8"))


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def paper_id_from_hash(sha256: str) -> str:
    """A paper id is the first 16 hex digits of its content hash (PDF, else XML)."""
    return f"p{sha256[:16]}"


def figure_id(paper_id: str, page: int | None, index: int) -> str:
    """figure_id = paper + page + index on that page (page 0 for XML-only figures)."""
    return f"{paper_id}-p{page or 0:03d}-f{index:02d}"


def panel_id(fig_id: str, index: int) -> str:
    return f"{fig_id}-k{index:02d}"


def pair_id(fig_id: str, label: str | None, index: int) -> str:
    tag = (label or "whole").replace(" ", "_")
    return f"{fig_id}-{tag}-{index:02d}"


# ---------------------------------------------------------------- provenance

class Provenance(Record):
    stage: str
    stage_version: str
    input_sha256: str
    tools: dict[str, str] = Field(default_factory=dict)
    prompt_id: str | None = None
    prompt_sha: str | None = None
    model: str | None = None


# ---------------------------------------------------------------- rejects

class Reject(Record):
    """Anything a stage drops, with the reason in plain words."""

    stage: str
    source: str | None = None  # input path or upstream id
    id: str | None = None
    reason: str  # short machine-friendly code, e.g. "encrypted", "no_figures"
    detail: str = ""  # clear words for a person
    paper_id: str | None = None


# ---------------------------------------------------------------- parse

LabelSource = Literal["pdf_text", "ocr", "order"]


class Panel(Record):
    panel_id: str
    bbox: list[int]  # pixels in the figure image
    label: str | None = None  # "A", "B", ... or None
    label_source: LabelSource | None = None
    image: str | None = None  # path relative to RUN_DIR


class Figure(Record):
    paper_id: str
    figure_id: str
    source: str  # input path as given
    page: int | None  # 1-based; None for XML-only figures
    index: int = 0  # order within the paper
    label: str | None  # "Figure 3" as printed
    number: str | None = None  # "3", "S2"
    caption: str
    caption_source: Literal["pdf", "xml", "pdf+xml", "xml_repaired"] = "pdf"
    caption_similarity: float | None = None  # PDF vs XML caption, when both exist
    bbox: BBox | None = None  # PDF points on that page
    caption_bbox: BBox | None = None
    caption_page: int | None = None
    image: str | None = None  # rendered PNG, relative to RUN_DIR
    width: int | None = None
    height: int | None = None
    dpi: int | None = None
    kind: str | None = None  # "raster", "vector", "mixed", "layout_model"
    panels: list[Panel] = Field(default_factory=list)
    license: str | None = None
    note: str | None = None  # "continued": the part of a figure continued on a later page
    # set when the caption's panel letters made parse split finer than its default settings:
    # "caption names 3 (A,B,C); 1 -> 3 panels (gutter1)"
    panel_hint: str | None = None
    # set when the panels may be wrong (medvl.pdf.figure_panels.panel_check): "count_differs: ...",
    # "letters_missing: ...", "letters_differ: ..."; align and the report can trust such figures less
    panel_check: str | None = None
    # sentences of the article's text that cite this figure (JATS <xref>; none for a PDF without XML):
    # context for tagging, most of all where the caption says nothing
    references: list[str] = Field(default_factory=list)
    provenance: Provenance


# ---------------------------------------------------------------- split

class Subcaption(Record):
    label: str  # "A", "left", "top left", "_shared"
    text: str
    # [[start, end], ...]: offsets into the caption of the pieces the text is made of, in caption order
    # (medvl.split.verbatim); None when the text is not verbatim caption text (or the splitter keeps none)
    spans: list[list[int]] | None = None


class SplitRow(Record):
    id: str  # figure_id, or the id of a captions-only input line
    caption_sha256: str
    subcaptions: list[Subcaption]
    splitter: str  # the registered splitter that wrote the row (rules, llm, a plugin's; medvl.registry.SPLITTERS)
    prompt_id: str | None = None
    prompt_sha: str | None = None
    model: str | None = None
    fallback_reason: str | None = None
    reasks: int = 0
    latency_s: float | None = None
    tokens: dict[str, int] | None = None
    cached: bool = False
    # span splitter: the caption's cut ({version, pieces: [[start, end, kind, labels?]], answer:
    # {label: [piece ids]}}; offsets into the caption, no text)
    spans: dict[str, Any] | None = None
    provenance: Provenance


# ---------------------------------------------------------------- align

class Pair(Record):
    pair_id: str
    image: str  # relative to RUN_DIR
    text: str
    figure_id: str
    paper_id: str
    panel_id: str | None = None
    label: str | None = None
    method: Literal["letter", "order", "position", "whole", "single_panel", "llm"]
    confidence: float
    license: str | None = None
    # the LLM aligner (medvl/align_llm.py): {aligner, model, prompt_id, prompt_sha, reason, cached, rescued}
    # on its pairs; {aligner, fallback_reason} on the rule pairs of a figure it could not answer
    llm: dict[str, Any] | None = None
    provenance: Provenance


# ---------------------------------------------------------------- judge

class Judgment(Record):
    judgment_id: str
    what: Literal["splits", "pairs", "retrieval"]
    item_id: str
    scores: dict[str, int]  # criterion -> 1..5
    rationale: str
    flags: list[str] = Field(default_factory=list)
    mode: str | None = None  # "image" | "text_only" for pairs
    judge_model: str
    prompt_id: str
    prompt_sha: str
    extra: dict[str, Any] = Field(default_factory=dict)
    provenance: Provenance
