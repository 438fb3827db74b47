"""LLM subcaption splitter: a served model answers a pydantic schema, validators hold it to the caption.

The model gets a prompt from prompts/split/ (e.g. ``split/fewshot@1``) and must answer
`SplitAnswer`: ``{"subcaptions": [{"label": ..., "text": ...}]}``.  Validators (run by
instructor with the caption as validation context) check that

* every label is a panel label (``A``, ``(b)``, ``A-C``, ``left``, ``top right``, ``_shared``) that
  occurs in the caption (letters inside a printed range such as ``a–c`` count);
* every text is verbatim caption text (medvl.split.verbatim, the one definition: whitespace normalised,
  caption pieces in caption order joined with a space, as the rule splitter writes them: label marks
  cut out, pieces joined); the row keeps each text's caption offsets (`Subcaption.spans`).

A failed validation re-asks the model with the error (bounded by `LLMSettings.max_reasks`); when the
answer is still invalid, or the request fails, the row falls back to the rule splitter and records
why in `fallback_reason`.  Labels are normalised with `expand_labels` (a range gives one entry per
panel).  Nothing here parses free text: the answer is JSON validated against the schema.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterable

from pydantic import BaseModel, Field, ValidationInfo, model_validator

from medvl.llm.answers import StrictAnswer
from medvl.llm.client import LLMResult, LLMSettings, LLMUnavailable, StructuredLLM
from medvl.progress import ProgressFn, no_progress
from medvl.prompts import Prompt, load_prompt
from medvl.records import Provenance, SplitRow, Subcaption, sha256_text
from medvl.registry import SPLITTERS
from medvl.split.labels import DASHES, SHARED, expand_labels
from medvl.split.rules import RULES_VERSION, split_caption
from medvl.split.splitter import DEFAULT_PROMPT, SplitOptions, Splitter
from medvl.split.verbatim import normalise_ws, verbatim_spans, with_spans
from medvl.versioning import stage_version

SPLIT_STAGE = "split"
SPLIT_STAGE_VERSION = stage_version(SPLIT_STAGE)  # derived from the split code (medvl/versioning.py)
_POS_SYNONYMS = {"top": ("top", "upper"), "bottom": ("bottom", "lower"),
                 "middle": ("middle", "center", "centre", "central", "mid"),
                 "left": ("left",), "right": ("right",)}
_RANGE_IN_TEXT = re.compile(rf"(?<![A-Za-z])([A-Za-z])[ivx0-9'\u2032]*\s*(?:[{re.escape(DASHES)}]|to|through)\s*"
                            rf"([A-Za-z])(?![A-Za-z]{{2}})")


# ---------------------------------------------------------------- text checks (pure functions)

def verbatim_pieces(text: str, caption: str) -> list[str] | None:
    """The caption pieces `text` is made of (whitespace-normalised), or None when it is not verbatim
    caption text: medvl.split.verbatim's one definition."""
    spans = verbatim_spans(text, caption)
    return None if spans is None else [normalise_ws(caption[a:b]) for a, b in spans]


def caption_letters(caption: str) -> set[str]:
    """Uppercase letters that could be printed panel labels in `caption` (standalone or in ranges)."""
    out = {m.group(1).upper() for m in re.finditer(r"(?<![A-Za-z])([A-Za-z])(?:[ivx0-9'\u2032]{0,3})(?![A-Za-z])",
                                                    caption)}
    for m in _RANGE_IN_TEXT.finditer(caption):
        a, b = m.group(1).upper(), m.group(2).upper()
        if a <= b and ord(b) - ord(a) <= 25:
            out.update(chr(x) for x in range(ord(a), ord(b) + 1))
    return out


def label_in_caption(label: str, caption: str, letters: set[str] | None = None) -> bool:
    """Does a normalised label (from expand_labels) occur in the caption?"""
    if label == SHARED:
        return True
    if len(label) == 1 and label.isupper():
        return label in (letters if letters is not None else caption_letters(caption))
    low = caption.lower()
    return all(any(re.search(rf"\b{syn}\b", low) for syn in _POS_SYNONYMS.get(w, (w,))) for w in label.split())


# ---------------------------------------------------------------- response model

class LLMSubcaption(StrictAnswer):
    label: str = Field(description="panel label as printed (A, b, A-C, left, top right) or _shared for the "
                                   "whole figure")
    text: str = Field(description="the caption text for this panel, copied word for word")


class SplitAnswer(StrictAnswer):
    """What the model must answer; validated against the caption in the validation context.

    Strict (StrictAnswer): `subcaptions` is required and unknown keys are errors, so an answer such as
    ``{"answer": "...", "panels": 3}`` is re-asked, then falls back; only an explicit ``[]`` is empty."""

    subcaptions: list[LLMSubcaption] = Field(description="one entry per panel in caption order; [] when the "
                                                         "caption has no panel labels")

    @model_validator(mode="after")
    def _hold_to_caption(self, info: ValidationInfo) -> "SplitAnswer":
        ctx = info.context or {}
        caption = ctx.get("caption")
        if caption is None:
            return self
        letters = caption_letters(caption)
        errors: list[str] = []
        for i, sc in enumerate(self.subcaptions):
            labels = expand_labels(sc.label)
            if not labels:
                errors.append(f"subcaptions[{i}].label {sc.label!r} is not a panel label "
                              f"(use the printed letter such as A or b, a position such as left, or _shared)")
            missing = [lab for lab in labels if not label_in_caption(lab, caption, letters)]
            if missing:
                errors.append(f"subcaptions[{i}].label {sc.label!r} does not occur in the caption")
            if not normalise_ws(sc.text):
                errors.append(f"subcaptions[{i}].text is empty")
            elif verbatim_spans(sc.text, caption) is None:
                errors.append(f"subcaptions[{i}].text is not verbatim caption text: {_clip(sc.text)!r}; "
                              f"copy the words exactly from the caption")
        if errors:
            raise ValueError("; ".join(errors))
        return self


def _clip(text: str, n: int = 80) -> str:
    text = normalise_ws(text)
    return text if len(text) <= n else text[: n - 3] + "..."


def answer_to_subcaptions(answer: SplitAnswer, caption: str | None = None) -> list[Subcaption]:
    """Normalised labels, one entry per panel (ranges expanded), texts whitespace-normalised; with the
    caption, each text's caption offsets (`spans`, medvl.split.verbatim) too."""
    out: list[Subcaption] = []
    for sc in answer.subcaptions:
        text = normalise_ws(sc.text)
        for lab in expand_labels(sc.label):
            out.append(Subcaption(label=lab, text=text))
    return with_spans(caption, out) if caption is not None else out


def rule_subcaptions(caption: str) -> list[Subcaption]:
    """The rule splitter's subcaptions, each with the caption offsets of its pieces."""
    return with_spans(caption, split_caption(caption))


# ---------------------------------------------------------------- the splitter

def tool_versions_split(llm: bool) -> dict[str, str]:
    from medvl import __version__
    from medvl.runs import tool_versions

    tools = {"medvl": __version__, "rules": RULES_VERSION}
    if llm:
        tools.update(tool_versions(["instructor", "openai"]))
    return tools


def rules_row(item_id: str, caption: str, *, tools: dict[str, str] | None = None) -> SplitRow:
    sha = sha256_text(caption)
    return SplitRow(id=item_id, caption_sha256=sha, subcaptions=rule_subcaptions(caption), splitter="rules",
                    provenance=Provenance(stage=SPLIT_STAGE, stage_version=SPLIT_STAGE_VERSION, input_sha256=sha,
                                          tools=tools or tool_versions_split(False)))


@SPLITTERS.register("llm")
@dataclass
class LLMSplitter(Splitter):
    """Split captions with a served LLM; falls back to the rules with the reason recorded."""

    needs_llm = True
    falls_back = True
    concurrent = True
    manifest_tools = ("instructor", "openai")
    preload = ("medvl.split.llm", "instructor", "openai", "openai.resources")

    settings: LLMSettings
    prompt: Prompt

    def __post_init__(self) -> None:
        from medvl.split.spans import is_span_model

        self.llm = StructuredLLM(self.settings)
        self.response_model = self.prompt.resolve_response_model()
        # a span prompt (medvl.split.spans): the model answers piece ids of a per-caption schema
        self.spans = is_span_model(self.response_model)
        self.tools = tool_versions_split(True)
        if self.spans:
            from medvl.split.pieces import PIECES_VERSION

            self.tools["pieces"] = PIECES_VERSION

    @classmethod
    def from_ref(cls, settings: LLMSettings, prompt_ref: str = DEFAULT_PROMPT, prompts_dir=None) -> "LLMSplitter":
        return cls(settings=settings, prompt=load_prompt(prompt_ref, prompts_dir))

    @classmethod
    def create(cls, options: SplitOptions) -> "LLMSplitter":
        return cls.from_ref(options.llm, options.prompt, options.prompts_dir)

    def fingerprint(self) -> dict[str, Any]:
        s = self.settings
        fp: dict[str, Any] = dict(prompt=self.prompt.ref, prompt_sha=self.prompt.sha, model=s.model, mode=s.mode,
                                  params=self.llm.request_params(self.prompt), max_reasks=s.max_reasks)
        if self.spans:
            from medvl.split.pieces import PIECES_VERSION

            fp["pieces"] = PIECES_VERSION  # a new cut changes every answer
        return fp

    def check(self) -> None:
        self.llm.check_server()  # a dead server or a wrong model name: one clear message

    def split(self, item_id: str, caption: str) -> SplitRow:
        return self.split_many([(item_id, caption)])[0]

    def stats(self) -> dict[str, int]:
        return dict(self.llm.stats)

    def job(self, caption: str) -> tuple[Prompt, dict, type[BaseModel], dict]:
        if self.spans:
            model, variables, _ = self.response_model.for_caption(caption)
            return (self.prompt, variables, model, {"caption": caption})
        return (self.prompt, {"caption": caption}, self.response_model, {"caption": caption})

    def row(self, item_id: str, caption: str, res: LLMResult) -> SplitRow:
        """The SplitRow for one answer (or the rules fallback when the answer failed)."""
        sha = sha256_text(caption)
        prov = Provenance(stage=SPLIT_STAGE, stage_version=SPLIT_STAGE_VERSION, input_sha256=sha, tools=self.tools,
                          prompt_id=self.prompt.ref, prompt_sha=self.prompt.sha, model=res.model)
        common = dict(id=item_id, caption_sha256=sha, prompt_id=self.prompt.ref, prompt_sha=self.prompt.sha,
                      model=res.model, reasks=res.reasks, latency_s=round(res.latency_s, 4),
                      tokens=res.tokens or None, cached=res.cached, provenance=prov)
        if self.spans:
            from medvl.split.pieces import cut_caption
            from medvl.split.spans import cut_record

            pieces = cut_caption(caption)
            common["spans"] = cut_record(pieces, res.value)
            if res.value is not None:
                return SplitRow(subcaptions=res.value.to_subcaptions(caption, pieces), splitter="llm", **common)
        elif res.value is not None:
            return SplitRow(subcaptions=answer_to_subcaptions(res.value, caption), splitter="llm", **common)
        return SplitRow(subcaptions=rule_subcaptions(caption), splitter="rules",
                        fallback_reason=res.error or "no answer", **common)

    async def asplit(self, item_id: str, caption: str) -> SplitRow:
        res = await self.llm.acall(*self.job(caption))
        return self.row(item_id, caption, res)

    def split_many(self, items: Iterable[tuple[str, str]], progress: ProgressFn = no_progress) -> list[SplitRow]:
        """Split (id, caption) pairs concurrently; rows in input order.

        A dead server raises LLMUnavailable whose `partial` holds the finished rows (None elsewhere)."""
        items = list(items)
        try:
            results = self.llm.call_many([self.job(c) for _, c in items], progress=progress)
        except LLMUnavailable as exc:
            partial = [self.row(i, c, r) if r is not None else None for (i, c), r in zip(items, exc.partial)]
            raise LLMUnavailable(str(exc), partial=partial) from exc
        return [self.row(i, c, r) for (i, c), r in zip(items, results)]

    def close(self) -> None:
        self.llm.close()

    async def aclose(self) -> None:
        await self.llm.aclose()


def split_stats(rows: Iterable[SplitRow | dict[str, Any]]) -> dict[str, Any]:
    """Counts for a summary line: splitter used, fallbacks and their reasons, re-asks, cache hits."""
    from collections import Counter

    n = fallback = reasks = cached = 0
    by = Counter()
    reasons = Counter()
    for r in rows:
        d = r.model_dump() if isinstance(r, BaseModel) else r
        n += 1
        by[d["splitter"]] += 1
        if d.get("fallback_reason"):
            fallback += 1
            reasons[d["fallback_reason"].split(":")[0]] += 1
        reasks += d.get("reasks") or 0
        cached += bool(d.get("cached"))
    return {"n": n, "by_splitter": dict(by), "fallbacks": fallback, "fallback_reasons": dict(reasons),
            "reasks": reasks, "cached": cached}
