"""Span splitting: the model answers piece ids per label; medvl rebuilds the text from the pieces.

The text prompt (`medvl.split.llm.SplitAnswer`) asks the model to copy caption text, which small
models mostly fail at (not verbatim, cut at max_tokens).  Here the caption is cut into numbered pieces
(`medvl.split.pieces.cut_caption`, deterministic) and the response model is built per caption with
``pydantic.create_model``::

    {"subcaptions": [{"label": <Literal of the caption's mark labels + "_shared">,
                      "pieces": [<Literal of the caption's text piece ids>, ...]}]}

so guided decoding (vLLM, instructor Mode.JSON_SCHEMA) can only produce labels the caption marks and
ids that exist.  A label's text is its pieces joined in caption order (verbatim by construction); a
piece may go to several labels (the head or tail of a shared clause: "each panel's text reads alone").
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

from medvl.llm.answers import StrictAnswer

from medvl.records import Subcaption
from medvl.split.labels import SHARED, label_sort_key
from medvl.split.pieces import PIECES_VERSION, Piece, cut_caption, mark_labels, rebuild_spans, text_pieces


# unknown keys are an error and no field has a default: a wrong answer never reads as an empty one
_Strict = StrictAnswer


class SpanAnswer(_Strict):
    """Base of the per-caption answer models; `for_caption` builds one."""

    pieces_version: ClassVar[str] = PIECES_VERSION

    @classmethod
    def for_caption(cls, caption: str) -> tuple[type["SpanAnswer"], dict[str, Any], list[Piece]]:
        """(response model, prompt variables, the cut) for one caption."""
        pieces = cut_caption(caption)
        texts = text_pieces(pieces)
        labels = mark_labels(pieces)
        label_choices = tuple(labels) + (SHARED,)
        ids = tuple(p.id for p in texts) or (0,)
        entry = create_model(
            "SpanEntry", __base__=_Strict,
            label=(Literal[label_choices], Field(description="a panel label marked in the caption, or _shared")),
            pieces=(list[Literal[ids]], Field(min_length=1, description="ids of the pieces that describe it")),
        )
        # at least one entry: a caption without panels is answered with _shared (the prompts say so), so
        # an empty list is never the cheap way out (at repetition_penalty 1.2 SmolLM2 answered [] for all)
        model = create_model("SpanAnswer", __base__=cls, subcaptions=(list[entry], Field(..., min_length=1)))
        variables = {"caption": caption, "labels": list(labels),
                     "pieces": [{"id": p.id, "text": " ".join(p.text(caption).split()),
                                 "mark": list(p.labels) if p.kind == "mark" else None,
                                 "figure_label": p.kind == "figure_label"}
                                for p in pieces]}
        return model, variables, pieces

    def to_subcaptions(self, caption: str, pieces: list[Piece]) -> list[Subcaption]:
        """Subcaptions in caption order: one per label (its runs joined), one per run of _shared."""
        out: list[tuple[int, Subcaption]] = []
        for label, ids in self.answer_ids().items():  # a label given twice: its pieces together
            spans = rebuild_spans(caption, pieces, ids)
            runs = [" ".join(caption[a:b].split()) for a, b in spans]  # = rebuild_text
            if not runs:
                continue
            if label == SHARED:
                # each run on its own, so align can put a title before and a footer after the panel text
                first_ids = _run_starts(pieces, ids)
                out += [(k, Subcaption(label=SHARED, text=t, spans=[list(sp)]))
                        for k, t, sp in zip(first_ids, runs, spans)]
            else:
                out.append((ids[0], Subcaption(label=label, text=" ".join(runs), spans=[list(sp) for sp in spans])))
        out.sort(key=lambda t: (t[0], label_sort_key(t[1].label)))
        return [s for _, s in out]

    def answer_ids(self) -> dict[str, list[int]]:
        ans: dict[str, list[int]] = {}
        for e in getattr(self, "subcaptions", []):
            ans[e.label] = sorted(set(ans.get(e.label, [])) | set(e.pieces))
        return ans


def _run_starts(pieces: list[Piece], ids: list[int]) -> list[int]:
    """The first id of each run of consecutive chosen pieces (as `rebuild_text` groups them)."""
    order = [p for p in pieces if p.kind != "figure_label"]
    pos = {p.id: k for k, p in enumerate(order) if p.kind == "text"}
    starts, prev = [], None
    for i in ids:
        if i not in pos:
            continue
        if prev is None or pos[i] != pos[prev] + 1:
            starts.append(i)
        prev = i
    return starts


def is_span_model(model: Any) -> bool:
    return isinstance(model, type) and issubclass(model, SpanAnswer)


def cut_record(pieces: list[Piece], answer: SpanAnswer | None) -> dict[str, Any]:
    """What a split row keeps of the cut: offsets and kinds (no caption text) and the answered ids."""
    return {"version": PIECES_VERSION, "pieces": [p.to_row() for p in pieces],
            "answer": answer.answer_ids() if answer is not None else None}
