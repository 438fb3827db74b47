"""Paper-level anatomy: a scan whose own words, caption and citing sentences name no body part takes
the body part that the paper's other scans name, at reference strength.

Case reports often caption a follow-up figure with sequences only ("Follow-up FLAIR and SWI
images") after earlier figures said where the lesion is; without this such panels have no
anatomy and drop out of a brain MRI/CT selection.  Only scans (MRI, CT, angiography) borrow, only
from scans of at least two other figures, and only when those agree (one body part in >= 80%).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

from medvl.tag.text import SOURCE_WEIGHT, Mention, TextTags, field_logits, resolve

SCANS = {"mri", "ct", "angiography"}
MIN_FIGURES = 2
MIN_SHARE = 0.8


def _said(tt: TextTags) -> str | None:
    """The body part a row's own text names (plain mentions), if any."""
    if tt.modality.value not in SCANS or tt.anatomy.value is None:
        return None
    return tt.anatomy.value if any(m.field == "anatomy" and m.context == "plain" for m in tt.mentions) else None


def figure_votes(texts: list[TextTags], figure_ids: list[str]) -> dict[str, str]:
    """figure id -> the body part its scans name (the first such row; one vote per figure: a figure of
    eight panels is one figure)."""
    votes: dict[str, str] = {}
    for tt, fid in zip(texts, figure_ids):
        said = _said(tt)
        if said is not None:
            votes.setdefault(fid, said)
    return votes


def borrow(tt: TextTags, figure_id: str, votes: dict[str, str]) -> TextTags:
    """`tt` with the body part of the paper's other scan figures, where it is a scan that names none."""
    if tt.modality.value not in SCANS or tt.anatomy.logits:
        return tt
    counts = Counter(v for f, v in votes.items() if f != figure_id)
    n = sum(counts.values())
    if n < MIN_FIGURES:
        return tt
    value, k = counts.most_common(1)[0]
    if k / n < MIN_SHARE:
        return tt
    m = Mention(field="anatomy", value=value, source="paper", text=f"{k} of {n} other scan figures of the paper",
                start=None, end=None, weight=SOURCE_WEIGHT["paper"])  # type: ignore[arg-type]
    ms = tt.mentions + [m]
    return replace(tt, anatomy=resolve(field_logits(ms, "anatomy")), mentions=ms)


def with_paper_anatomy(texts: list[TextTags], figure_ids: list[str]) -> list[TextTags]:
    """`texts` of one paper's rows (with each row's figure id), silent scans given the paper's body part."""
    votes = figure_votes(texts, figure_ids)
    return [borrow(tt, fid, votes) for tt, fid in zip(texts, figure_ids)]
