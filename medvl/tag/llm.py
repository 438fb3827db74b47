"""The LLM tagger: a served model tags a pair from its words through a per-vocabulary Literal schema.

The model gets a prompt from prompts/tag/ (``tag/fewshot@1``) with the panel's own words, the figure
caption's context and the class lists of the loaded vocabularies, and answers a response model built
for that vocabulary and that text (``pydantic.create_model``)::

    {"evidence": [<words of the text>], "modality": <Literal of modality classes + not_stated>,
     "sequences": [<Literal of MRI sequences>], "anatomy": <Literal of anatomy classes + not_stated>,
     "findings": [<Literal of finding classes>]}

The evidence is a list of *words of the text* (a Literal of the text's distinct words): schema-guided
decoding (vLLM, Mode.JSON_SCHEMA) can only copy them, and the validator holds a cached or unguided
answer (tools / json modes) to the same text.  An invalid answer is re-asked (the client's
max_reasks), then the row falls back to the text tagger with the reason (TagRow.fallback_reason).

Taggers: ``llm`` (the model's choice is the row's evidence, weighted like one clear mention in the
panel's own words), ``both`` (the model's choice is added to the text tagger's evidence: agreement
raises the confidence, disagreement splits it).  The image classifier joins either (combine.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, ClassVar, Literal

from pydantic import Field, ValidationInfo, create_model, model_validator

from medvl.llm.answers import StrictAnswer
from medvl.tag.text import FieldResult, Mention, TextTags, resolve
from medvl.tag.vocab import VocabSet

DEFAULT_PROMPT = "tag/fewshot@1"
TAGGERS = ("text", "llm", "both")
NOT_STATED = "not_stated"
LLM_WEIGHT = 3.0  # the model's choice counts like one clear mention in the panel's words (p ~0.88 alone)
LLM_FINDING_CONFIDENCE = 0.632  # as one mention of a finding in the panel's words (1 - e^-1)
MAX_EVIDENCE = 4
MAX_SEQUENCES = 4
MAX_FINDINGS = 4
MAX_WORDS = 240  # distinct words offered as evidence (a long caption's tail is rarely the evidence)
CONTEXT_CHARS = 1200  # figure context shown to the model

_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9*+\u2019'\-]*")


def text_words(text: str) -> tuple[str, ...]:
    """The distinct words of `text` in order (case kept; a trailing hyphen or quote dropped)."""
    seen: dict[str, None] = {}
    for m in _WORD.finditer(text or ""):
        w = m.group(0).rstrip("-'\u2019")
        if w and w not in seen:
            seen[w] = None
            if len(seen) >= MAX_WORDS:
                break
    return tuple(seen)


def asked_text(panel: str, context: str | None) -> str:
    """The words the model sees (and its evidence must come from)."""
    return f"{panel or ''}\n{context or ''}"


# ---------------------------------------------------------------- the response model

class TagAnswerBase(StrictAnswer):
    """Base of the per-vocabulary, per-text answer models (built by `answer_model`)."""

    vocab_info: ClassVar[dict[str, Any]] = {}

    @model_validator(mode="after")
    def _hold_to_text(self, info: ValidationInfo) -> "TagAnswerBase":
        text = (info.context or {}).get("text")
        if text is None:
            return self
        words = set(text_words(text))
        bad = [w for w in getattr(self, "evidence", []) if w not in words]
        if bad:
            raise ValueError(f"evidence {bad} is not words of the text; copy the words exactly from the text")
        return self


@lru_cache(maxsize=512)
def _model(mods: tuple[str, ...], seqs: tuple[str, ...], anas: tuple[str, ...], fins: tuple[str, ...],
           words: tuple[str, ...]) -> type[TagAnswerBase]:
    fields: dict[str, Any] = {
        # evidence first: the model copies the words, then chooses from them
        "evidence": (list[Literal[words]], Field(max_length=MAX_EVIDENCE,
                                                 description="words copied from the text that name the method "
                                                             "or the region")),
        "modality": (Literal[mods + (NOT_STATED,)], Field(description="the imaging modality")),
        "sequences": (list[Literal[seqs]], Field(max_length=MAX_SEQUENCES, description="MRI sequences named")),
        "anatomy": (Literal[anas + (NOT_STATED,)], Field(description="the body region")),
        "findings": (list[Literal[fins]], Field(max_length=MAX_FINDINGS, description="findings stated present")),
    }
    model = create_model("TagAnswer", __base__=TagAnswerBase, **fields)
    model.vocab_info = {"modality": mods, "sequences": seqs, "anatomy": anas, "findings": fins}
    return model


def answer_model(vocab: VocabSet, text: str) -> type[TagAnswerBase] | None:
    """The response model for one text, or None when the text has no words to cite."""
    words = text_words(text)
    if not words:
        return None
    return _model(tuple(vocab.modality.names()), tuple(vocab.modality.sequence_names()),
                  tuple(vocab.anatomy.names()), tuple(vocab.finding.names()), words)


def prompt_variables(vocab: VocabSet, panel: str, context: str | None) -> dict[str, Any]:
    ctx = " ".join((context or "").split())
    return {"panel": " ".join((panel or "").split()), "context": ctx[:CONTEXT_CHARS],
            "modalities": vocab.modality.names(), "sequences": vocab.modality.sequence_names(),
            "anatomies": vocab.anatomy.names(), "findings": vocab.finding.names()}


# ---------------------------------------------------------------- answer -> tags

def _llm_field(value: str) -> dict[str, float]:
    return {} if value == NOT_STATED else {value: LLM_WEIGHT}


def _sum(a: dict[str, float], b: dict[str, float]) -> dict[str, float]:
    out = dict(a)
    for k, v in b.items():
        out[k] = out.get(k, 0.0) + v
    return out


def answer_tags(answer: TagAnswerBase, text: TextTags, tagger: str) -> TextTags:
    """The row's tags from the model's answer (`llm`) or from the answer added to the text tags (`both`)."""
    words = " ".join(answer.evidence) or "(no words cited)"
    ms = [Mention(f, v, "llm", words, None, None, LLM_WEIGHT)  # type: ignore[arg-type]
          for f, v in (("modality", answer.modality), ("anatomy", answer.anatomy)) if v != NOT_STATED]
    ms += [Mention("sequence", s, "llm", words, None, None, LLM_WEIGHT) for s in dict.fromkeys(answer.sequences)]  # type: ignore[arg-type]
    ms += [Mention("finding", f, "llm", words, None, None, 1.0) for f in dict.fromkeys(answer.findings)]  # type: ignore[arg-type]
    mod, ana = _llm_field(answer.modality), _llm_field(answer.anatomy)
    llm_findings = {f: LLM_FINDING_CONFIDENCE for f in sorted(set(answer.findings))}
    if tagger == "both":
        mod, ana = _sum(text.modality.logits, mod), _sum(text.anatomy.logits, ana)
        findings = dict(text.findings)
        for f, c in llm_findings.items():  # independent evidence: 1 - (1 - a)(1 - b)
            findings[f] = round(1 - (1 - findings.get(f, 0.0)) * (1 - c), 4)
        sequences = sorted(set(text.sequences) | set(answer.sequences))
        mentions = list(text.mentions) + ms
    else:
        findings, sequences, mentions = llm_findings, sorted(set(answer.sequences)), ms
    negated = sorted(set(text.negated_findings) - set(findings))
    return TextTags(resolve(mod), resolve(ana), sequences, dict(sorted(findings.items())), negated, mentions)


# ---------------------------------------------------------------- the tagger

@dataclass
class TagQuestion:
    """One row's question: what the model is asked, and the schema its answer must match."""

    id: str
    variables: dict[str, Any]
    model: type[TagAnswerBase]
    text: str


class LLMTagger:
    """Asks the served model for every row of a paper; reuses medvl.llm.client (answer cache,
    concurrency, transport retries across urls, re-asks on validation errors)."""

    def __init__(self, llm_settings: Any, prompt_ref: str = DEFAULT_PROMPT, prompts_dir: Any = None):
        from medvl.llm.client import StructuredLLM
        from medvl.prompts import load_prompt

        self.prompt = load_prompt(prompt_ref, prompts_dir)
        self.llm = StructuredLLM(llm_settings)
        self.dead: str | None = None  # set when the server stopped answering

    def question(self, vocab: VocabSet, ident: str, panel: str, context: str | None) -> TagQuestion | None:
        text = asked_text(panel, context)
        model = answer_model(vocab, text)
        if model is None:
            return None
        return TagQuestion(ident, prompt_variables(vocab, panel, context), model, text)

    def ask(self, questions: list[TagQuestion]) -> list[Any]:
        """LLMResult per question (None where the server died before answering it)."""
        from medvl.llm.client import LLMUnavailable

        if not questions or self.dead:
            return [None] * len(questions)
        jobs = [(self.prompt, q.variables, q.model, {"text": q.text}) for q in questions]
        try:
            return self.llm.call_many(jobs)
        except LLMUnavailable as exc:
            self.dead = str(exc)
            partial = list(exc.partial)
            return partial + [None] * (len(questions) - len(partial))

    def info(self, res: Any) -> dict[str, Any]:
        """What a row records of its answer (TagRow.llm)."""
        out: dict[str, Any] = {"prompt_id": self.prompt.ref, "prompt_sha": self.prompt.sha,
                               "model": self.llm.settings.model}
        if res is not None:
            out.update(cached=res.cached, reasks=res.reasks,
                       answer=res.value.model_dump(mode="json") if res.value is not None else None)
        return out

    def close(self) -> None:
        self.llm.close()


__all__ = ["DEFAULT_PROMPT", "TAGGERS", "NOT_STATED", "LLMTagger", "TagAnswerBase", "answer_model", "answer_tags",
           "text_words", "prompt_variables"]
