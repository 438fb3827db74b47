"""Text + image evidence -> one TagRow.

The image classifier's probabilities join the text's logits: a class the image finds more likely than
chance (p > 1/K) adds ``image_weight * log(K * p)``, so a confident image (p = 0.8 of 13 classes adds
2.3 at weight 1) counts like a strong mention in the caption, and clear words still outweigh it.
"""

from __future__ import annotations

import math

from medvl.records import Provenance
from medvl.tag.records import Evidence, FieldTag, FindingTag, TagRow
from medvl.tag.text import FieldResult, TextTags, resolve

IMAGE_WEIGHT = 1.0
ANATOMY_IMAGE_SHARE = 0.5  # the image says less about anatomy (held-out accuracy ~0.2 vs ~0.6 for modality)


def _field(text: FieldResult, image_probs: dict[str, float] | None, weight: float,
           name: str, label: str = "text") -> tuple[FieldTag, list[Evidence]]:
    ev: list[Evidence] = []
    logits = dict(text.logits)
    used_image = False
    if image_probs:
        k = len(image_probs)
        for cls, p in image_probs.items():
            if p > 1.0 / k:
                add = weight * math.log(k * p)
                logits[cls] = logits.get(cls, 0.0) + add
                used_image = True
                ev.append(Evidence(field=name, value=cls, source="image", text=f"image classifier p={p:.2f}",
                                   weight=round(add, 4)))
    res = resolve(logits)
    if res.value is None:
        source = "none"
    elif used_image and text.logits:
        source = f"{label}+image"
    elif used_image:
        source = "image"
    else:
        source = label
    return FieldTag(value=res.value, confidence=round(res.confidence, 4),
                    probs={k: round(v, 4) for k, v in res.probs.items()}, source=source), ev


def build_row(*, id: str, kind: str, paper_id: str, figure_id: str, panel_id: str | None, image: str | None,
              text: TextTags, image_probs: dict[str, dict[str, float]] | None, refs: dict[str, str],
              provenance: Provenance, image_weight: float = IMAGE_WEIGHT, tagger: str = "text",
              extra: dict | None = None) -> TagRow:
    """`tagger` names who made `text` (text, llm, both: FieldTag.source says text, llm or text+llm);
    `extra` holds the row's LLM fields (fallback_reason, llm)."""
    label = {"text": "text", "llm": "llm", "both": "text+llm"}[tagger]
    image_probs = image_probs or {}
    modality, ev_m = _field(text.modality, image_probs.get("modality"), image_weight, "modality", label)
    anatomy, ev_a = _field(text.anatomy, image_probs.get("anatomy"), image_weight * ANATOMY_IMAGE_SHARE, "anatomy",
                           label)
    evidence = [Evidence(field=m.field, value=m.value, source=m.source, text=m.text, start=m.start,
                         weight=round(m.weight, 4), context=m.context) for m in text.mentions]
    return TagRow(id=id, kind=kind, paper_id=paper_id, figure_id=figure_id, panel_id=panel_id, image=image,
                  modality=modality, sequences=text.sequences if modality.value == "mri" else [],
                  anatomy=anatomy,
                  findings=[FindingTag(value=k, confidence=v) for k, v in text.findings.items()],
                  negated_findings=text.negated_findings, evidence=evidence + ev_m + ev_a, vocab=refs,
                  tagger=tagger, provenance=provenance, **(extra or {}))
