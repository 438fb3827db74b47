"""The LLM aligner: a served model chooses which detected panel each subcaption describes.

The rules (medvl/align.py) pair by detected letter, grid position and reading order, and give up where
letters were not found or misread, counts disagree, labels are positional or grouped.  Here the model gets
the figure's labelled subcaptions and its detected panels (short id P1.., detected letter and its source
pdf_text / ocr / order / none, row and column of the panel grid, box as fractions of the figure, reading
order index) and answers a response model built for that figure (``pydantic.create_model``)::

    {"A": {"panel": <Literal of the figure's panel ids + "none">, "reason": <Literal of REASONS>}, "B": ...}

one required field per subcaption, so guided decoding (vLLM, Mode.JSON_SCHEMA) can only produce a valid
id for every subcaption.  Validators: no panel gets two subcaptions with different texts (the caption
groups labels only when their texts are the same), and a letter that disagrees with the panel's detected
letter (read from the PDF text or OCR) needs a reason from DISAGREE_REASONS.  An invalid answer is re-asked
(the client's max_reasks), then the figure keeps the rule result and the reason is recorded.

Aligners: ``rules`` (no model), ``llm`` (the model pairs every figure with 2+ panels and labelled
subcaptions; its answer replaces the rule steps), ``auto`` (rules where they are sure; the model is asked
for figures whose rule result rejected a subcaption or panel, or paired by reading order, and by default
only *adds* pairs for subcaptions and panels the rules left unpaired, so auto's pairs are the rule pairs
plus the model's additions: ``replace_unsure`` lets it replace the rule pairs of the figures it is asked).
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model, model_validator

from medvl.llm.answers import StrictAnswer

from medvl.records import Figure, Pair, Panel, Reject, SplitRow

ALIGNERS = ("rules", "llm", "auto")
DEFAULT_PROMPT = "align/fewshot@1"
REASONS = ("letter_match", "letter_misread", "positional_label", "grouped_label", "reading_order", "no_panel")
# a subcaption letter may go to a panel whose detected letter differs only for one of these reasons
DISAGREE_REASONS = ("letter_misread", "positional_label", "grouped_label")
LLM_CONFIDENCE = 0.75  # a model pairing without a confidence of its own
TEXT_CHARS = 240  # subcaption text shown to the model (enough to tell panels apart)
# rule outcomes that make auto ask the model
UNSURE_REJECTS = {"count_mismatch", "label_not_found", "ambiguous_position", "duplicate_panel_letter",
                  "no_subcaption_for_panel"}
UNSURE_METHODS = {"order"}


# unknown keys are an error and no field has a default: a wrong answer never reads as an empty one
_Strict = StrictAnswer


# ---------------------------------------------------------------- what the model sees

@dataclass(frozen=True)
class PanelView:
    key: str  # "P1", "P2" ... in reading order: the id the model answers
    panel_id: str
    index: int  # index in fig.panels
    letter: str | None
    source: str  # pdf_text | ocr | order | none
    row: int  # 1-based row of the panel grid
    col: int  # 1-based column within its row
    box: tuple[float, float, float, float]  # x0, y0, x1, y1 as fractions of the figure
    order: int  # 1-based reading order

    def to_prompt(self) -> dict[str, Any]:
        return {"id": self.key, "letter": self.letter or "none", "letter_source": self.source, "row": self.row,
                "column": self.col, "box": list(self.box), "reading_order": self.order}


def panel_views(fig: Figure, indices: list[int]) -> list[PanelView]:
    """The panels at `indices` of fig.panels, numbered P1.. by the grid's rows (top to bottom, left to right)."""
    from medvl.readingorder import grid_rows

    boxes = [fig.panels[k].bbox for k in indices]
    w = float(fig.width or max((b[2] for b in boxes), default=1) or 1)
    h = float(fig.height or max((b[3] for b in boxes), default=1) or 1)
    out: list[PanelView] = []
    n = 0
    for r, row in enumerate(grid_rows(boxes), 1):
        for c, i in enumerate(row, 1):
            n += 1
            p = fig.panels[indices[i]]
            x0, y0, x1, y1 = p.bbox
            out.append(PanelView(key=f"P{n}", panel_id=p.panel_id, index=indices[i],
                                 letter=(p.label or None), source=p.label_source or "none", row=r, col=c,
                                 box=(round(x0 / w, 2), round(y0 / h, 2), round(x1 / w, 2), round(y1 / h, 2)),
                                 order=n))
    return out


# ---------------------------------------------------------------- the per-figure response model

class AlignAnswerBase(_Strict):
    """Base of the per-figure answer models (built by `answer_model`)."""

    # fields are s0, s1 ... with the labels as aliases: dumps (the answer cache) use the labels too
    model_config = ConfigDict(extra="forbid", serialize_by_alias=True)

    figure_info: ClassVar[dict[str, Any]] = {}  # set per built model: labels, texts, panel letters

    @model_validator(mode="after")
    def _consistent(self):
        info = type(self).figure_info
        if not info:
            return self
        texts: dict[str, str] = info["texts"]
        letters: dict[str, tuple[str | None, str]] = info["letters"]
        errors: list[str] = []
        taken: dict[str, str] = {}
        for label, choice in self.choices().items():
            if choice.panel == "none":
                continue
            other = taken.get(choice.panel)
            if other is not None and " ".join(texts[other].split()) != " ".join(texts[label].split()):
                errors.append(f"panel {choice.panel} is given to both {other!r} and {label!r}, whose texts differ; "
                              "give each panel one subcaption (or none)")
            taken.setdefault(choice.panel, label)
            detected, source = letters.get(choice.panel, (None, "none"))
            if (len(label) == 1 and detected and source in ("pdf_text", "ocr")
                    and detected.upper() != label and choice.reason not in DISAGREE_REASONS):
                errors.append(f"{label!r} is given to panel {choice.panel}, whose detected letter is {detected!r}; "
                              f"choose the panel lettered {label!r} or name the reason "
                              f"({', '.join(DISAGREE_REASONS)})")
        if errors:
            raise ValueError("; ".join(errors))
        return self

    def choices(self) -> dict[str, Any]:
        """label -> its answer entry (panel, reason[, confidence])."""
        return {f.alias or name: getattr(self, name) for name, f in type(self).model_fields.items()}


def answer_model(labels: list[str], texts: dict[str, str], views: list[PanelView],
                 confidence: bool = False, offer_none: str = "always") -> type[AlignAnswerBase]:
    """The response model for one figure: one required field per subcaption label.

    ``offer_none="when_needed"`` leaves "none" out when every subcaption can have its own panel (small
    models answer "none" for everything when it is offered)."""
    ids = tuple(v.key for v in views)
    if offer_none == "always" or len(labels) > len(views):
        ids += ("none",)
    fields: dict[str, Any] = {
        "panel": (Literal[ids], Field(description="the id of the panel this subcaption describes, or none")),
        "reason": (Literal[REASONS], Field(description="why this panel")),
    }
    if confidence:
        fields["confidence"] = (float, Field(ge=0.0, le=1.0, description="how sure, 0 to 1"))
    entry = create_model("PanelChoice", __base__=_Strict, **fields)
    per_label = {f"s{i}": (entry, Field(..., alias=lab)) for i, lab in enumerate(labels)}
    model = create_model("AlignAnswer", __base__=AlignAnswerBase, **per_label)
    model.figure_info = {"texts": dict(texts), "letters": {v.key: (v.letter, v.source) for v in views}}
    return model


# ---------------------------------------------------------------- the figure image (vision option)

def figure_image_data_url(fig: Figure, views: list[PanelView], run_dir, max_side: int = 768) -> str | None:
    """The figure image with every panel's box and id drawn on it, as a PNG data URL (None without image)."""
    from PIL import Image, ImageDraw

    if not fig.image or run_dir is None:
        return None
    path = run_dir.inside(fig.image)
    if not path.exists():
        return None
    with Image.open(path) as im:
        im = im.convert("RGB")
        draw = ImageDraw.Draw(im)
        for v in views:
            x0, y0, x1, y1 = fig.panels[v.index].bbox
            draw.rectangle([x0, y0, x1, y1], outline=(255, 0, 0), width=max(2, im.width // 300))
            draw.rectangle([x0, y0, x0 + 28, y0 + 14], fill=(255, 0, 0))
            draw.text((x0 + 3, y0 + 2), v.key, fill=(255, 255, 255))
        scale = min(1.0, max_side / max(im.width, im.height))
        if scale < 1.0:
            im = im.resize((max(1, int(im.width * scale)), max(1, int(im.height * scale))))
        buf = io.BytesIO()
        im.save(buf, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


# ---------------------------------------------------------------- one figure's question and answer

@dataclass
class FigureQuestion:
    """What the model is asked for one figure, and how to read its answer back."""

    figure_id: str
    labels: list[str]
    texts: dict[str, str]
    views: list[PanelView]
    model: type[AlignAnswerBase]
    variables: dict[str, Any]


def figure_question(fig: Figure, split: SplitRow | None, settings, run_dir=None) -> FigureQuestion | None:
    """The question for a figure the model can pair (2+ usable panels, labelled subcaptions), else None."""
    from medvl.align import figure_texts

    if split is None:
        return None
    texts = figure_texts(fig, split)
    indices = list(range(len(fig.panels)))  # a panel without an image is rejected by align_figure
    if not texts or len(indices) < 2:
        return None
    labels = list(texts)
    views = panel_views(fig, indices)
    model = answer_model(labels, texts, views, confidence=settings.confidence, offer_none=settings.offer_none)
    subs = [{"label": lab, "text": _clip(texts[lab])} for lab in labels]
    variables: dict[str, Any] = {"subcaptions": subs, "panels": [v.to_prompt() for v in views],
                                 "ask_confidence": bool(settings.confidence), "with_image": False}
    if settings.vision:
        url = figure_image_data_url(fig, views, run_dir)
        if url is not None:
            variables["with_image"] = True
            variables["_images"] = [url]  # the client sends it as an image part; the cache key covers it
    return FigureQuestion(fig.figure_id, labels, texts, views, model, variables)


def _clip(text: str, n: int = TEXT_CHARS) -> str:
    t = " ".join(text.split())
    return t if len(t) <= n else t[: n - 3] + "..."


@dataclass
class LLMAssignment:
    """The model's answer for one figure, as align_figure takes it."""

    assign: dict[str, str]  # label -> panel_id ("none" labels left out)
    reasons: dict[str, str]
    confidence: dict[str, float] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)  # model, prompt_id, prompt_sha, cached


def read_answer(q: FigureQuestion, answer: AlignAnswerBase, info: dict[str, Any]) -> LLMAssignment:
    by_key = {v.key: v.panel_id for v in q.views}
    assign, reasons, conf = {}, {}, {}
    for label, choice in answer.choices().items():
        reasons[label] = choice.reason
        if choice.panel != "none":
            assign[label] = by_key[choice.panel]
        if getattr(choice, "confidence", None) is not None:
            conf[label] = float(choice.confidence)
    return LLMAssignment(assign=assign, reasons=reasons, confidence=conf, info=info)


def rules_unsure(pairs: list[Pair], rejects: list[Reject]) -> bool:
    """Did the rules reject a subcaption or panel of this figure, or pair by reading order?"""
    return any(r.reason in UNSURE_REJECTS for r in rejects) or any(p.method in UNSURE_METHODS for p in pairs)


def merge_added(rule_pairs: list[Pair], rule_rejects: list[Reject], llm_pairs: list[Pair],
                llm_rejects: list[Reject], fill: str = "figure") -> tuple[list[Pair], list[Reject], int]:
    """auto without replace: the rule pairs, plus the model's pairs for subcaptions and panels the rules
    left unpaired (``fill="figure"``: only in a figure the rules paired no panel of); the rejects those
    additions resolve are dropped.  Returns (pairs, rejects, added)."""
    labels = {p.label for p in rule_pairs if p.label}
    panels = {p.panel_id for p in rule_pairs if p.panel_id}
    if any(p.method in ("whole", "single_panel") for p in rule_pairs):
        return rule_pairs, rule_rejects, 0  # a whole-figure pair is not topped up with panel pairs
    if fill == "figure" and panels:
        return rule_pairs, rule_rejects, 0  # the rules paired part of this figure: theirs stands alone
    added = [p for p in llm_pairs if p.method == "llm" and p.label not in labels and p.panel_id not in panels]
    fixed_ids = {f"{p.figure_id}:{p.label}" for p in added} | {p.panel_id for p in added}
    rejects = [r for r in rule_rejects if r.id not in fixed_ids]
    return rule_pairs + added, rejects, len(added)


def noted(rejects: list[Reject], why: str) -> list[Reject]:
    """The rule rejects of a figure the model did not help, each saying why."""
    return [r.model_copy(update={"detail": f"{r.detail}; LLM aligner: {why}"}) for r in rejects]


# ---------------------------------------------------------------- the aligner

class LLMAligner:
    """Asks the served model for the figures an aligner setting sends it; reuses medvl.llm.client
    (answer cache, concurrency, transport retries across urls, re-asks on validation errors)."""

    def __init__(self, llm_settings, settings, prompts_dir=None):
        from medvl.llm.client import StructuredLLM
        from medvl.prompts import load_prompt

        self.settings = settings
        self.prompt = load_prompt(settings.prompt, prompts_dir)
        self.llm = StructuredLLM(llm_settings)
        self.dead: str | None = None  # set when the server stopped answering

    def fingerprint(self) -> str:
        """What changes the model's answers (not the url, concurrency or timeouts)."""
        from medvl.records import sha256_text
        import json

        s = self.llm.settings
        return sha256_text(json.dumps({"prompt": self.prompt.ref, "sha": self.prompt.sha, "model": s.model,
                                       "mode": s.mode, "params": self.llm.request_params(self.prompt),
                                       "max_reasks": s.max_reasks}, sort_keys=True))[:16]

    def info(self, cached: bool) -> dict[str, Any]:
        return {"aligner": self.settings.aligner, "model": self.llm.settings.model, "prompt_id": self.prompt.ref,
                "prompt_sha": self.prompt.sha, "cached": cached}

    def ask(self, questions: list[FigureQuestion], progress=None) -> list[Any]:
        """LLMResult per question (None where the server died before answering it)."""
        from medvl.llm.client import LLMUnavailable

        if not questions or self.dead:
            return [None] * len(questions)
        jobs = [(self.prompt, q.variables, q.model, None) for q in questions]
        try:
            return self.llm.call_many(jobs, progress=progress)
        except LLMUnavailable as exc:
            self.dead = str(exc)
            return list(exc.partial) + [None] * (len(questions) - len(exc.partial))

    def close(self) -> None:
        self.llm.close()


@dataclass
class PaperAlignment:
    pairs: list[Pair]
    rejects: list[Reject]
    asked: int = 0  # figures the model was asked about
    llm_figures: int = 0  # figures with at least one pair the model made
    rescued: int = 0  # figures where the model paired a subcaption the rules left unpaired
    fallbacks: dict[str, int] = field(default_factory=dict)  # why the rule result was kept, per figure
    incomplete: bool = False  # the server died: rule pairs kept for figures not answered
    results: list = field(default_factory=list)  # LLMResult (or None: not answered) per figure asked


def align_paper(figs: list[Figure], splits: dict[str, SplitRow], settings, run_dir=None,
                tools: dict[str, str] | None = None, aligner: LLMAligner | None = None) -> PaperAlignment:
    """Align one paper's figures with the rules, then, per `settings.aligner`, ask the model."""
    from medvl.align import align_figure

    rule = [align_figure(f, splits.get(f.figure_id), settings, run_dir, tools) for f in figs]
    if aligner is None or settings.aligner == "rules":
        return PaperAlignment([p for ps, _ in rule for p in ps], [r for _, rs in rule for r in rs])
    ask: list[tuple[int, FigureQuestion]] = []
    for i, (f, (ps, rs)) in enumerate(zip(figs, rule)):
        if settings.aligner == "auto" and not rules_unsure(ps, rs):
            continue
        q = figure_question(f, splits.get(f.figure_id), settings, run_dir)
        if q is not None:
            ask.append((i, q))
    results = aligner.ask([q for _, q in ask])
    out = PaperAlignment([], [], asked=len(ask), results=list(results))
    answered: dict[int, tuple[FigureQuestion, Any]] = {i: (q, r) for (i, q), r in zip(ask, results)}
    for i, f in enumerate(figs):
        ps, rs = rule[i]
        if i not in answered:
            out.pairs += ps
            out.rejects += rs
            continue
        q, res = answered[i]
        if res is None or res.value is None:
            why = (aligner.dead or "the server did not answer") if res is None else (res.error or "no answer")
            out.incomplete |= res is None
            key = "server unavailable" if res is None else why.split(":")[0]
            out.fallbacks[key] = out.fallbacks.get(key, 0) + 1
            fb = {"aligner": settings.aligner, "fallback_reason": f"rule pairs kept: {why}"}
            out.pairs += [p.model_copy(update={"llm": fb}) for p in ps]
            out.rejects += noted(rs, f"rule result kept ({why})")
            continue
        assignment = read_answer(q, res.value, aligner.info(res.cached))
        lp, lr = align_figure(f, splits.get(f.figure_id), settings, run_dir, tools, llm=assignment)
        rule_labels = {p.label for p in ps if p.label}
        lp = [p.model_copy(update={"llm": {**(p.llm or {}), "rescued": p.label not in rule_labels}})
              if p.method == "llm" else p for p in lp]
        if settings.aligner == "auto" and not settings.replace_unsure:
            lp, lr, _ = merge_added(ps, rs, lp, lr, settings.fill)
        n_llm = sum(1 for p in lp if p.method == "llm")
        out.llm_figures += n_llm > 0
        out.rescued += any(p.method == "llm" and (p.llm or {}).get("rescued") for p in lp)
        out.pairs += lp
        out.rejects += lr
    return out


def model_for_prompt_input(variables: dict[str, Any], confidence: bool = False) -> type[AlignAnswerBase]:
    """The response model for a figure given as prompt variables (a few-shot example's input)."""
    views = [PanelView(key=p["id"], panel_id=p["id"], index=i,
                       letter=None if p["letter"] == "none" else p["letter"], source=p["letter_source"],
                       row=p["row"], col=p["column"], box=tuple(p["box"]), order=p["reading_order"])
             for i, p in enumerate(variables["panels"])]
    texts = {s["label"]: s["text"] for s in variables["subcaptions"]}
    return answer_model(list(texts), texts, views, confidence=confidence)


def aligner_counts(pairs) -> dict[str, int]:
    """Figures paired by the rules only, by the LLM (at least one pair), rescued by the LLM (it paired a
    subcaption the rules left unpaired), and kept by the rules after an LLM fallback; from pair rows."""
    by_fig: dict[str, list[dict]] = {}
    for p in pairs:
        d = p.model_dump() if isinstance(p, BaseModel) else p
        by_fig.setdefault(d["figure_id"], []).append(d)
    out = {"rules": 0, "llm": 0, "llm_rescued": 0, "llm_fallback": 0}
    for rows in by_fig.values():
        llm_rows = [r for r in rows if r.get("method") == "llm"]
        if llm_rows:
            out["llm"] += 1
            out["llm_rescued"] += any((r.get("llm") or {}).get("rescued") for r in llm_rows)
        else:
            out["rules"] += 1
        out["llm_fallback"] += any((r.get("llm") or {}).get("fallback_reason") for r in rows)
    return out
