"""Records of the tag stage (RUN_DIR/tags.jsonl): one row per pair and per whole figure."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from medvl.records import Provenance, Record


class Evidence(Record):
    field: Literal["modality", "sequence", "anatomy", "finding"]
    value: str
    # reference: a sentence citing the figure; paper: the body part of the paper's other scans
    source: Literal["panel", "figure", "reference", "paper", "image", "llm"]
    text: str  # the words matched, the image cue ("image classifier p=0.83"), or the words the LLM cited
    start: int | None = None  # character offset in the panel text, caption or citing sentence
    weight: float
    context: Literal["plain", "negated", "comparison"] = "plain"


class FieldTag(Record):
    value: str | None  # None: nothing said it (no words, no confident image)
    confidence: float
    probs: dict[str, float] = Field(default_factory=dict)  # the classes with any evidence
    source: Literal["text", "image", "text+image", "llm", "llm+image", "text+llm", "text+llm+image", "none"] = "none"


class FindingTag(Record):
    value: str
    confidence: float


class LLMTagInfo(Record):
    """What an LLM-tagged row (or its fallback) records of the question and the answer."""

    prompt_id: str
    prompt_sha: str
    model: str
    cached: bool = False
    reasks: int = 0
    answer: dict | None = None  # the validated answer as the model gave it; None when it failed


class TagRow(Record):
    id: str  # the pair id (kind pair) or the whole figure's raw-export pair id (kind figure)
    kind: Literal["pair", "figure"]
    paper_id: str
    figure_id: str
    panel_id: str | None = None
    image: str | None = None
    modality: FieldTag
    sequences: list[str] = Field(default_factory=list)
    anatomy: FieldTag
    findings: list[FindingTag] = Field(default_factory=list)
    negated_findings: list[str] = Field(default_factory=list)
    evidence: list[Evidence] = Field(default_factory=list)
    vocab: dict[str, str] = Field(default_factory=dict)  # id -> id@version
    # which tagger made the tags: text (the lexicon; also an LLM row that fell back), llm, or both
    tagger: Literal["text", "llm", "both"] = "text"
    fallback_reason: str | None = None  # why an LLM row has the text tags instead
    llm: LLMTagInfo | None = None  # prompt, model and answer of an LLM-tagged row (or its fallback)
    provenance: Provenance
