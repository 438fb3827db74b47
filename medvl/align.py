"""The align stage: pair subcaptions with panels.

Inputs (in RUN_DIR): ``figures.jsonl`` (``medvl.records.Figure`` with panels, from ``parse``) and
``subcaptions.jsonl`` (``medvl.records.SplitRow`` keyed by ``id = figure_id``, from ``split``).
Output: ``pairs.jsonl`` (``medvl.records.Pair``) and reject rows in ``rejects.jsonl``.

Per figure, in this order:

1. **letter**   a subcaption labelled "B" goes to the panel whose detected letter is "B"
                (confidence 0.95 for letters read from PDF text, 0.85 for OCR letters).
                Detected letters that increase neither along the rows nor down the columns of
                the panel grid (e.g. letters a parser put on the neighbouring panel) are not
                trusted: those panels are paired by order instead (confidence 0.6).
2. **position** positional labels ("left", "right", "top", "bottom", "middle", "top left", ...)
                go to the panel at that place of the panel grid, when exactly one panel is
                there and the number of positional subcaptions equals the number of panels
                (confidence 0.8).
3. **order**    letters still unpaired go to the still unlettered panels in reading order
                (rows top to bottom, left to right within a row) when the two counts agree
                (confidence 0.7; 0.6 when some panels had letters and these did not; panels whose
                letter parse inferred from its neighbours, label_source "order", count as order).
4. **whole**    a figure without panels, or whose caption has no labelled subcaptions (none,
                or only "_shared"), gives one pair: the whole figure image with the whole
                caption (printed "Figure N." label removed).  A one-panel figure gives a
                **single_panel** pair (the panel image with the whole caption).  A figure with
                labelled subcaptions but no usable panels also gives a whole pair, and its
                subcaptions become rejects ("no_panels").

Shared text ("_shared" subcaptions, e.g. a title sentence before the panel descriptions) is
added to every panel's text: by default (``shared="auto"``) shared entries that come before the
first labelled subcaption are *prepended* and the ones after it are *appended*, which keeps the
caption's reading order ("Brain MRI of three patients. Axial FLAIR image showing ...").
``shared="prepend" | "append" | "drop"`` force one behaviour.

Every subcaption and every panel left unpaired becomes a reject row with its reason:
``no_split`` (figure has no split row; the figure is paired whole), ``no_image``,
``image_missing``, ``label_not_found``, ``count_mismatch``, ``ambiguous_position``,
``duplicate_panel_letter``, ``no_subcaption_for_panel``, ``panel_without_image``, ``no_panels``, ``empty_caption``,
``empty_text``, ``orphan_split`` (a split row for a figure that figures.jsonl does not have).

The paper is the unit of work (``RunDir.write_unit("align", paper_id)``); a unit is redone
when its inputs or the settings change (their hashes are kept in the done marker).  The input hash
(also ``Provenance.input_sha256`` of every pair) covers only what determines the pairs: the
figure's caption, label, image and panels, the split row's subcaptions and prompt/model, and the
settings (``figure_input_sha``); a split rerun that changes only latency_s, cached or tokens
(an LLM splitter answering from its cache) changes no pair and redoes no paper.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable

from medvl.errors import InputError
from medvl.progress import ProgressFn, no_progress
from medvl.records import Figure, Pair, Panel, Provenance, Reject, SplitRow, pair_id, sha256_text
from medvl.readingorder import grid_rows
from medvl.readingorder import reading_order as panel_reading_order
from medvl.runs import RunDir, read_jsonl, safe_key, tool_versions
from medvl.versioning import stage_version

STAGE = "align"
STAGE_VERSION = stage_version(STAGE)  # derived from the align code (medvl/versioning.py)
RUN_UNIT = "zz-run"  # unit holding run-level rejects (bad input rows, orphan split rows); sorts last

CONFIDENCE = {
    "letter_pdf_text": 0.95,
    "letter_ocr": 0.85,
    "position": 0.8,
    "order": 0.7,
    "order_partial": 0.6,
    "single_panel": 0.95,
    "whole": 0.9,
    "whole_no_split": 0.5,
}
LLM_CONFIDENCE = 0.75  # an LLM aligner pair whose prompt asks for no confidence

_FIG_LABEL = re.compile(r"^\s*(?:supplementary\s+)?(?:fig(?:ure)?|figs?)\.?\s*S?\d+[A-Za-z]?\s*[.:|\u2013\u2014-]?\s*",
                        re.IGNORECASE)


@dataclass
class AlignSettings:
    """Resolved settings of the align stage (recorded in run.json)."""

    shared: str = "auto"  # auto | prepend | append | drop
    figures_file: str = "figures.jsonl"
    subcaptions_file: str = "subcaptions.jsonl"
    out_file: str = "pairs.jsonl"
    crop_missing: bool = True  # crop a panel from the figure image when parse wrote no panel image
    force: bool = False  # redo every paper even when done
    # the LLM aligner (medvl/align_llm.py); "auto" and "llm" need an LLM server, else rules are used
    aligner: str = "rules"  # rules | llm | auto | a plugin's (medvl.registry.ALIGNERS)
    prompt: str = "align/fewshot@1"
    vision: bool = False  # send the figure image with panel boxes and ids drawn (a vision-language model)
    confidence: bool = False  # ask the model for a confidence per subcaption (recorded on the pair)
    replace_unsure: bool = False  # auto: the model's pairs replace the rule pairs of the figures it is asked
    offer_none: str = "always"  # always | when_needed: "none" only when there are more subcaptions than panels
    # auto, adding: "figure" (the model's pairs only for figures the rules paired no panel of) or
    # "subcaption" (also the subcaptions the rules left unpaired in figures they paired in part)
    fill: str = "figure"
    # (off: it only adds pairs where the rules had none, so auto's precision is the rules' on their pairs)

    def __post_init__(self) -> None:
        if self.shared not in ("auto", "prepend", "append", "drop"):
            raise ValueError(f"shared must be auto, prepend, append or drop, not {self.shared!r}")
        if self.fill not in ("figure", "subcaption"):
            raise ValueError(f"fill must be figure or subcaption, not {self.fill!r}")
        if self.offer_none not in ("always", "when_needed"):
            raise ValueError(f"offer_none must be always or when_needed, not {self.offer_none!r}")
        from medvl.errors import MedvlError
        from medvl.registry import ALIGNERS

        try:
            ALIGNERS.check(self.aligner, "aligner")
        except MedvlError as exc:
            raise ValueError(str(exc)) from None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def sha(self) -> str:
        d = self.to_dict()
        d.pop("force")
        if self.aligner == "rules":  # the LLM settings change nothing then (and older runs keep their sha)
            for k in ("aligner", "prompt", "vision", "confidence", "replace_unsure", "offer_none", "fill"):
                d.pop(k)
        return sha256_text(json.dumps(d, sort_keys=True))[:16]


@dataclass
class AlignSummary:
    papers: int = 0
    papers_skipped: int = 0  # already done, inputs unchanged
    figures: int = 0
    pairs: int = 0
    rejects: int = 0
    methods: dict[str, int] = field(default_factory=dict)
    reject_reasons: dict[str, int] = field(default_factory=dict)
    out: str = ""
    aligner: str = "rules"  # the aligner used (auto without an LLM server is rules)
    figures_by_aligner: dict[str, int] = field(default_factory=dict)  # medvl.align_llm.aligner_counts
    llm_asked: int = 0  # figures asked in this call (cache hits included)
    llm_fallbacks: dict[str, int] = field(default_factory=dict)  # reason -> figures that kept the rule result
    note: str = ""  # one line for the user: why the LLM was not used, or that the server died

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# ---------------------------------------------------------------- label helpers

def norm_label(label: str) -> str | None:
    """"(a)", "A.", "Ai" -> "A"; "Upper left panel" -> "top left"; "_shared" stays; else None.

    The split stage's normalisation (medvl.split.labels), so both stages agree on labels."""
    from medvl.split.labels import normalise_label

    return normalise_label(label)


def is_letter(label: str | None) -> bool:
    return bool(label) and len(label) == 1 and label.isalpha()


def _columns(boxes: list[list[float]]) -> list[list[int]]:
    """Columns of the panel grid, left to right (the transpose of grid_rows)."""
    t = [[b[1], b[0], b[3], b[2]] for b in boxes]
    return grid_rows(t)


def position_of(label: str, boxes: list[list[float]]) -> list[int]:
    """Indices of the panels at a positional label ("left", "top right", "middle") of the grid.

    Labels are normalised ("top left": vertical word first).  A lone "middle" is the middle
    column of a single row of 3+ panels, else the middle row; with a second word it is a row."""
    rows = grid_rows(boxes)
    cols = _columns(boxes)
    words = label.split()
    cand = set(range(len(boxes)))

    def middle(groups: list[list[int]]) -> set[int]:
        if len(groups) >= 3 and len(groups) % 2 == 1:
            return set(groups[len(groups) // 2])
        return set()

    for i, w in enumerate(words):
        if w in ("top", "upper"):
            cand &= set(rows[0])
        elif w in ("bottom", "lower"):
            cand &= set(rows[-1])
        elif w == "left":
            cand &= set(cols[0])
        elif w == "right":
            cand &= set(cols[-1])
        elif w in ("middle", "center", "centre", "central"):
            if len(words) > 1 and i == 0:
                cand &= middle(rows)
            elif len(words) > 1:
                cand &= middle(cols)
            else:
                cand &= middle(cols) if len(rows) == 1 or len(cols) >= 3 else middle(rows)
        else:
            return []
    if len(rows) < 2 and any(w in ("top", "upper", "bottom", "lower") for w in words):
        return []  # "top" of a single row means nothing
    if len(cols) < 2 and any(w in ("left", "right") for w in words):
        return []
    return sorted(cand)


def letters_follow_layout(letter_of: dict[int, str], boxes: dict[int, list[float]]) -> bool:
    """True when the detected letters increase along the rows (row-major) or down the columns
    (column-major) of the panel grid, as panel letters in figures do."""
    ks = sorted(boxes)
    box_list = [boxes[k] for k in ks]
    for groups in (grid_rows(box_list), _columns(box_list)):
        pos = {ks[i]: n for n, i in enumerate(i for g in groups for i in g)}
        seq = [letter_of[k] for k in sorted(letter_of, key=lambda k: pos[k])]
        if all(a < b for a, b in zip(seq, seq[1:])):
            return True
    return False


def strip_figure_label(caption: str, label: str | None = None) -> str:
    """Remove the printed "Figure 3." / "Fig. 3:" at the start of a caption."""
    text = caption.strip()
    if label and text.lower().startswith(label.lower()):
        rest = text[len(label):]
        return re.sub(r"^\s*[.:|\u2013\u2014-]?\s*", "", rest).strip()
    return _FIG_LABEL.sub("", text, count=1).strip()


def _starts_with_label(text: str, label: str | None) -> bool:
    t = text.lstrip()
    if label:
        return t.lower().startswith(label.lower())
    return bool(_FIG_LABEL.match(t)) and bool(re.match(r"(?i)^\s*(?:supplementary\s+)?fig", t))


def _sentence(text: str) -> str:
    t = " ".join(text.split()).strip(" ;,")
    if t and t[-1] not in ".!?":
        t += "."
    return t


def compose_text(shared_before: list[str], body: str, shared_after: list[str]) -> str:
    parts = [_sentence(t) for t in (*shared_before, body, *shared_after) if t and t.strip(" .;,")]
    return " ".join(parts)


# ---------------------------------------------------------------- input hashes

# what align_figure reads of a figure and of its split row: nothing else goes into the input hash,
# so a split rerun that only changes latency_s, cached, tokens or tool versions changes no pair
FIGURE_FIELDS = ("figure_id", "paper_id", "label", "caption", "image", "license", "panels")
SPLIT_FIELDS = ("id", "subcaptions", "prompt_id", "prompt_sha", "model")


def figure_content(fig: Figure | dict) -> dict[str, Any]:
    """The fields of a figure that determine its pairs (caption, image, panel data ...)."""
    d = fig.model_dump(mode="json") if isinstance(fig, Figure) else fig
    return {k: d.get(k) for k in FIGURE_FIELDS}


def split_content(split: SplitRow | dict | None) -> dict[str, Any] | None:
    """The fields of a split row that determine the pairs: subcaptions and the prompt/model named in
    the pairs' provenance; not latency_s, cached, tokens, reasks or the splitter's tool versions."""
    if split is None:
        return None
    d = split.model_dump(mode="json") if isinstance(split, SplitRow) else split
    return {k: d.get(k) for k in SPLIT_FIELDS}


def figure_input_sha(fig: Figure, split: SplitRow | None, settings: AlignSettings | None = None) -> str:
    """Hash of what determines one figure's pairs: its content, its subcaptions and the settings."""
    settings = settings or AlignSettings()
    return sha256_text(json.dumps({"figure": figure_content(fig), "split": split_content(split),
                                   "settings": settings.sha()}, sort_keys=True, ensure_ascii=False))


def splits_content_sha(rows: Iterable[SplitRow | dict]) -> str:
    """Hash of the content of split rows (e.g. one paper's part of subcaptions.jsonl), in order."""
    h = hashlib.sha256()
    for r in rows:
        h.update(json.dumps(split_content(r), sort_keys=True, ensure_ascii=False).encode("utf-8"))
        h.update(b"\n")
    return h.hexdigest()


# ---------------------------------------------------------------- one figure

@dataclass
class _Ctx:
    rd: RunDir | None
    settings: AlignSettings
    tools: dict[str, str]


def _reject(fig: Figure, reason: str, detail: str, id_: str | None = None) -> Reject:
    return Reject(stage=STAGE, source=fig.figure_id, id=id_ or fig.figure_id, reason=reason, detail=detail,
                  paper_id=fig.paper_id)


def _panel_image(fig: Figure, panel: Panel, ctx: _Ctx) -> tuple[str | None, str | None]:
    """The panel's image path (relative to RUN_DIR), cropping it from the figure image if needed.
    Returns (path, None) or (None, reason)."""
    if panel.image:
        if ctx.rd is not None and not ctx.rd.inside(panel.image).exists():
            return None, "image_missing"
        return panel.image, None
    if not ctx.settings.crop_missing or not fig.image or ctx.rd is None:
        return None, "no_image"
    src = ctx.rd.inside(fig.image)
    if not src.exists():
        return None, "image_missing"
    rel = f"images/{fig.paper_id}/{panel.panel_id}.png"
    dst = ctx.rd.inside(rel)
    if not dst.exists():
        from PIL import Image

        from medvl.runs import atomic_open

        with Image.open(src) as im:
            x0, y0, x1, y1 = (int(v) for v in panel.bbox)
            x0, y0 = max(0, x0), max(0, y0)
            x1, y1 = min(im.width, x1), min(im.height, y1)
            if x1 <= x0 or y1 <= y0:
                return None, "no_image"
            crop = im.crop((x0, y0, x1, y1))
            with atomic_open(dst, "wb", encoding=None) as fh:
                crop.save(fh, format="PNG")
    return rel, None


def subcaption_parts(fig: Figure, split: SplitRow | None, settings: AlignSettings | None = None
                     ) -> tuple[dict[str, str], list[str], list[str], list[Reject]]:
    """(labelled texts in caption order, shared texts before, shared texts after, rejects of labels
    that are neither a letter nor a position) of a figure's split row."""
    settings = settings or AlignSettings()
    rejects: list[Reject] = []
    labelled: list[tuple[str, str]] = []  # (normalised label, text) in caption order
    before: list[str] = []
    after: list[str] = []
    if split is not None:
        seen_labelled = False
        for sub in split.subcaptions:
            lab = norm_label(sub.label)
            # a splitter given the caption as printed may keep "Figure 2." in the first piece
            text = strip_figure_label(sub.text, fig.label) if _starts_with_label(sub.text, fig.label) else sub.text
            if lab == "_shared":
                if text.strip(" .;,:"):
                    (after if seen_labelled else before).append(text)
            elif lab is None:
                rejects.append(_reject(fig, "label_not_found",
                                       f"{fig.figure_id}: subcaption label {sub.label!r} is neither a letter nor a "
                                       f"position", f"{fig.figure_id}:{sub.label}"))
            else:
                seen_labelled = True
                labelled.append((lab, text))
        if settings.shared == "prepend":
            before, after = before + after, []
        elif settings.shared == "append":
            before, after = [], before + after
        elif settings.shared == "drop":
            before, after = [], []

    # several entries with one label (a splitter may list "A" twice): join them in order
    texts: dict[str, str] = {}
    for lab, t in labelled:
        texts[lab] = f"{texts[lab]} {t}".strip() if lab in texts else t

    return texts, before, after, rejects


def figure_texts(fig: Figure, split: SplitRow | None) -> dict[str, str]:
    """The labelled subcaption texts of a figure (normalised label -> text), as align pairs them."""
    return subcaption_parts(fig, split)[0]


def align_figure(fig: Figure, split: SplitRow | None, settings: AlignSettings | None = None,
                 run_dir: RunDir | None = None, tools: dict[str, str] | None = None,
                 llm: Any = None) -> tuple[list[Pair], list[Reject]]:
    """Pair one figure's panels with its subcaptions.  Pure apart from cropping missing panel images.

    `llm` (a medvl.align_llm.LLMAssignment: label -> panel id from the LLM aligner) replaces the rule
    steps 1-3 for a figure with labelled subcaptions and 2+ panels; the pairs get method "llm"."""
    settings = settings or AlignSettings()
    one = _FigureAlignment(fig, split, _Ctx(run_dir, settings, tools or {}))
    one.run(llm)
    return one.pairs, one.rejects


class _FigureAlignment:
    """One figure's pairing in named steps (the module docstring's 1-4).  Every step appends to the
    same `pairs` and `rejects`, so the rows keep the order in which the steps found them."""

    def __init__(self, fig: Figure, split: SplitRow | None, ctx: _Ctx):
        self.fig, self.split, self.ctx = fig, split, ctx
        self.pairs: list[Pair] = []
        self.rejects: list[Reject] = []
        self.prov = Provenance(stage=STAGE, stage_version=STAGE_VERSION,
                               input_sha256=figure_input_sha(fig, split, ctx.settings), tools=ctx.tools,
                               prompt_id=split.prompt_id if split else None,
                               prompt_sha=split.prompt_sha if split else None, model=split.model if split else None)
        self.caption_body = strip_figure_label(fig.caption or "", fig.label)
        self.texts, self.before, self.after, label_rejects = subcaption_parts(fig, split, ctx.settings)
        self.rejects += label_rejects
        self.usable = self._usable_panels()  # (index, panel, image)
        self.free_subs: dict[str, str] = {}  # label -> text, still unpaired
        self.free: dict[int, tuple[Panel, str]] = {}  # panel index -> (panel, image), still unpaired

    def reject(self, reason: str, detail: str, id_: str | None = None) -> None:
        self.rejects.append(_reject(self.fig, reason, detail, id_))

    def _usable_panels(self) -> list[tuple[int, Panel, str]]:
        """The panels that have (or got, by cropping) an image; the others are rejected."""
        usable = []
        for k, p in enumerate(self.fig.panels):
            img, why = _panel_image(self.fig, p, self.ctx)
            if img is None:
                self.reject(why or "no_image", f"{self.fig.figure_id}: panel {p.panel_id} has no image ({why})",
                             p.panel_id)
            else:
                usable.append((k, p, img))
        return usable

    def make(self, image: str, text: str, panel: Panel | None, label: str | None, method: str, conf: float,
             index: int, extra: dict | None = None) -> None:
        """One pair, or an empty_text reject when its text has nothing but punctuation."""
        fig = self.fig
        if not text.strip(" .;,"):
            self.reject("empty_text", f"{fig.figure_id}: the text for {label or 'the figure'} is empty",
                         panel.panel_id if panel else None)
            return
        self.pairs.append(Pair(pair_id=pair_id(fig.figure_id, label, index), image=image, text=text,
                               figure_id=fig.figure_id, paper_id=fig.paper_id,
                               panel_id=panel.panel_id if panel else None, label=label, method=method,
                               confidence=conf, license=fig.license, provenance=self.prov, llm=extra))

    def pair_subcaption(self, k: int, label: str, method: str, conf: float, extra: dict | None = None) -> None:
        """Pair free panel `k` with free subcaption `label` (both leave the free sets)."""
        p, img = self.free.pop(k)
        self.make(img, compose_text(self.before, self.free_subs.pop(label), self.after), p, label, method, conf, k,
                  extra)

    def pair_whole(self, conf: float) -> None:
        """Step 4: the whole figure image with the whole caption, when the image is there."""
        fig, image = self.fig, self.fig.image
        if not image:
            self.reject("no_image", f"{fig.figure_id}: the figure has no rendered image")
        elif self.ctx.rd is not None and not self.ctx.rd.inside(image).exists():
            self.reject("image_missing", f"{fig.figure_id}: image {image} does not exist")
        else:
            self.make(image, compose_text([], self.caption_body, []), None, None, "whole", conf, 0)

    def run(self, llm: Any) -> None:
        """Which pairing the figure gets: none, whole, single panel, the LLM's or the rule steps 1-3."""
        fig = self.fig
        if not self.caption_body.strip():
            self.reject("empty_caption", f"{fig.figure_id}: the caption is empty")
        elif self.split is None:
            self.reject("no_split", f"{fig.figure_id}: no subcaptions row for this figure; "
                         "paired whole with the whole caption")
            self.pair_whole(CONFIDENCE["whole_no_split"])
        elif not self.texts:  # no labelled subcaptions
            self._pair_unlabelled()
        elif len(fig.panels) < 2:
            self._pair_panels_not_found()
        else:
            self.free_subs = dict(self.texts)
            self.free = {k: (p, img) for k, p, img in self.usable}
            if llm is not None:  # the model chose (medvl/align_llm.py): its answer instead of steps 1-3
                self._pair_by_llm(llm)
            else:
                self._pair_by_rules()

    def _pair_unlabelled(self) -> None:
        """No labelled subcaptions: a one-panel figure's panel, else the whole figure, gets the caption."""
        if len(self.fig.panels) == 1 and self.usable:
            k, p, img = self.usable[0]
            self.make(img, compose_text([], self.caption_body, []), p, None, "single_panel",
                      CONFIDENCE["single_panel"], k)
        else:
            self.pair_whole(CONFIDENCE["whole"])

    def _pair_panels_not_found(self) -> None:
        """Labelled subcaptions but fewer than two panels (the panels were not found): the figure is paired
        whole and the subcaptions and panels become rejects."""
        fig = self.fig
        for lab in self.texts:
            self.reject("no_panels", f"{fig.figure_id}: subcaption {lab} has no panel to go to "
                         f"(the figure has {len(fig.panels)} panel(s)); the figure is paired whole",
                         f"{fig.figure_id}:{lab}")
        for k, p, _ in self.usable:
            self.reject("no_subcaption_for_panel", f"{fig.figure_id}: panel {p.panel_id} was "
                         "not paired; the figure is paired whole", p.panel_id)
        self.pair_whole(CONFIDENCE["whole"])

    def _pair_by_llm(self, llm: Any) -> None:
        """The LLM aligner's label -> panel answer; a label it gave no (free) panel and a panel it gave
        no label become rejects."""
        fig = self.fig
        index_of = {p.panel_id: k for k, (p, _) in self.free.items()}
        for lab in list(self.free_subs):
            k = index_of.get(llm.assign.get(lab, ""))
            if k is None or k not in self.free:
                why = "the model gave it no panel" if lab not in llm.assign else "its panel was already taken"
                self.reject("llm_no_panel", f"{fig.figure_id}: subcaption {lab} is not paired ({why})",
                             f"{fig.figure_id}:{lab}")
                self.free_subs.pop(lab)
                continue
            self.pair_subcaption(k, lab, "llm", llm.confidence.get(lab, LLM_CONFIDENCE),
                                 {**llm.info, "reason": llm.reasons.get(lab)})
        for k, (p, _) in sorted(self.free.items()):
            self.reject("no_subcaption_for_panel", f"{fig.figure_id}: panel {p.panel_id} has no "
                         "subcaption (the LLM aligner gave it none)", p.panel_id)

    def _pair_by_rules(self) -> None:
        """Steps 1-3 (letters, positions, reading order), then a reject for everything left unpaired."""
        letter_of, dup_letters, distrusted = self._trusted_letters()
        self._pair_letters(letter_of)
        self._pair_positions()
        self._pair_order(letter_of, partial=bool(letter_of) or bool(dup_letters) or distrusted)
        self._reject_leftovers(dup_letters)

    def _trusted_letters(self) -> tuple[dict[int, str], set[str], bool]:
        """(panel index -> its detected letter, for the letters step 1 may trust; letters on more than one
        panel; whether the letters were distrusted for not following the layout).  A letter parse inferred
        from its neighbours (label_source "order") is left to step 3."""
        letter_of: dict[int, str] = {}
        counts = Counter((p.label or "").upper() for _, p, _ in self.usable if is_letter(p.label))
        for k, p, _ in self.usable:
            if is_letter(p.label):
                L = p.label.upper()  # type: ignore[union-attr]
                if counts[L] > 1:  # ambiguous: such panels may still be paired by order
                    continue
                if p.label_source != "order":
                    letter_of[k] = L
        dup_letters = {L for L, c in counts.items() if c > 1}
        if len(letter_of) >= 2 and not letters_follow_layout(letter_of, {k: p.bbox for k, p, _ in self.usable}):
            # letters that follow neither rows nor columns were most likely put on the wrong panels:
            # pair these panels by reading order instead
            return {}, dup_letters, True
        return letter_of, dup_letters, False

    def _pair_letters(self, letter_of: dict[int, str]) -> None:
        """Step 1: a subcaption goes to the panel carrying its letter."""
        for k, L in sorted(letter_of.items()):
            if L in self.free_subs:
                ocr = self.free[k][0].label_source == "ocr"
                self.pair_subcaption(k, L, "letter", CONFIDENCE["letter_ocr" if ocr else "letter_pdf_text"])

    def _pair_positions(self) -> None:
        """Step 2: positional subcaptions go to the one panel at that place of the grid, when there are as
        many of them as usable panels."""
        fig, usable = self.fig, self.usable
        pos_labels = [lab for lab in self.free_subs if not is_letter(lab)]
        if not pos_labels:
            return
        if len(pos_labels) != len(usable):
            for lab in pos_labels:
                self.reject("count_mismatch", f"{fig.figure_id}: {len(pos_labels)} positional subcaptions for "
                             f"{len(usable)} panels; {lab!r} is not paired", f"{fig.figure_id}:{lab}")
                self.free_subs.pop(lab)
            return
        boxes = [p.bbox for _, p, _ in usable]
        idx_of = [k for k, _, _ in usable]
        targets = {lab: [idx_of[i] for i in position_of(lab, boxes)] for lab in pos_labels}
        for lab in pos_labels:
            ks = targets[lab]
            clash = any(ks == v for other, v in targets.items() if other != lab)
            if len(ks) == 1 and ks[0] in self.free and not clash:
                self.pair_subcaption(ks[0], lab, "position", CONFIDENCE["position"])
            else:
                self.reject("ambiguous_position",
                             f"{fig.figure_id}: the position {lab!r} matches {len(ks)} panels of the grid",
                             f"{fig.figure_id}:{lab}")
                self.free_subs.pop(lab)

    def _pair_order(self, letter_of: dict[int, str], partial: bool) -> None:
        """Step 3: remaining letters <-> remaining panels without a (trusted) letter, in reading order, when
        the two counts agree (`partial`: some panels had letters, a lower confidence)."""
        fig = self.fig
        letters_left = sorted(lab for lab in self.free_subs if is_letter(lab))
        # panels with their own letter never take another one
        candidates = [k for k in self.free if k not in letter_of]
        if not (letters_left and candidates):
            return
        # the reading order parse fills letters in (medvl/readingorder.py), not the grid's rows
        order = [candidates[i] for i in panel_reading_order([fig.panels[k].bbox for k in candidates])]
        if len(order) == len(letters_left):
            conf = CONFIDENCE["order_partial" if partial else "order"]
            for L, k in zip(letters_left, order):
                self.pair_subcaption(k, L, "order", conf)
        else:
            for L in letters_left:
                self.reject("count_mismatch", f"{fig.figure_id}: {len(letters_left)} subcaptions left for "
                             f"{len(order)} panels without a letter; {L} is not paired", f"{fig.figure_id}:{L}")
                self.free_subs.pop(L)

    def _reject_leftovers(self, dup_letters: set[str]) -> None:
        """A reject for every subcaption and every panel the steps left unpaired, with its reason."""
        fig = self.fig
        usable_index = {u[0] for u in self.usable}
        unusable_letters = {(p.label or "").upper() for k, p in enumerate(fig.panels) if k not in usable_index}
        for lab in list(self.free_subs):
            if lab in unusable_letters:
                self.reject("panel_without_image", f"{fig.figure_id}: the panel lettered {lab} has "
                             "no image", f"{fig.figure_id}:{lab}")
            else:
                self.reject("label_not_found", f"{fig.figure_id}: no panel carries the letter {lab}",
                             f"{fig.figure_id}:{lab}")
        for k, (p, _) in sorted(self.free.items()):
            why = "duplicate_panel_letter" if (p.label or "").upper() in dup_letters else "no_subcaption_for_panel"
            self.reject(why, f"{fig.figure_id}: panel {p.panel_id}"
                         f"{' (letter ' + p.label + ')' if p.label else ''} has no subcaption", p.panel_id)


# ---------------------------------------------------------------- the run

def _load_figures(path: Path) -> tuple[dict[str, list[Figure]], list[Reject]]:
    by_paper: dict[str, list[Figure]] = {}
    bad: list[Reject] = []
    for i, row in enumerate(read_jsonl(path), 1):
        try:
            fig = Figure.model_validate(row)
        except Exception as exc:  # pydantic ValidationError: one bad row, not a dead run
            bad.append(Reject(stage=STAGE, source=f"{path.name}:{i}", id=str(row.get("figure_id")),
                              reason="bad_record", detail=f"{path}:{i}: not a valid Figure ({_short(exc)})",
                              paper_id=row.get("paper_id")))
            continue
        by_paper.setdefault(fig.paper_id, []).append(fig)
    return by_paper, bad


def _load_splits(path: Path) -> tuple[dict[str, SplitRow], list[Reject]]:
    rows: dict[str, SplitRow] = {}
    bad: list[Reject] = []
    if not path.exists():
        return rows, bad
    for i, row in enumerate(read_jsonl(path), 1):
        try:
            sr = SplitRow.model_validate(row)
        except Exception as exc:
            bad.append(Reject(stage=STAGE, source=f"{path.name}:{i}", id=str(row.get("id")), reason="bad_record",
                              detail=f"{path}:{i}: not a valid SplitRow ({_short(exc)})"))
            continue
        rows.setdefault(sr.id, sr)  # the first row of an id wins
    return rows, bad


def _short(exc: Exception) -> str:
    return " ".join(str(exc).split())[:300]


@dataclass
class AlignPaper:
    """One unit of the align stage: a paper's figures and split rows, or the run's own rejects."""

    key: str
    input_sha: str  # what determines the unit's pairs (figure and split content; see figure_input_sha)
    figures: list[dict] | None = None  # None: read from .parts/parse/<key>.jsonl
    splits: dict[str, dict] | None = None  # figure id -> split row; None: read from .parts/split/<key>.jsonl
    rejects: list[Reject] = field(default_factory=list)  # the RUN_UNIT's: bad rows, orphan split rows
    n_figures: int = 0
    source: str | None = None


def _part(rd: RunDir, stage: str, key: str) -> list[dict]:
    path = rd.parts_dir(stage) / f"{safe_key(key)}.jsonl"
    return list(read_jsonl(path)) if path.exists() else []


def plan_papers(rd: RunDir, settings: AlignSettings) -> list[AlignPaper]:
    """The align stage's units, in key order, whichever command runs it: one per paper, plus RUN_UNIT.

    Figures come from the parse parts (one unit per done parse unit), or, in a run directory without them
    (or with another ``figures_file``), from the figures file grouped by paper.  Split rows come from the
    split parts of the same key, or, without them (or with another ``subcaptions_file``), from the
    subcaptions file; without any, every figure is paired whole and RUN_UNIT says why."""
    from medvl.pipeline import WHOLE_KEY

    parse_keys = sorted(rd.done_keys("parse") - {WHOLE_KEY}) if settings.figures_file == "figures.jsonl" else []
    split_keys = rd.done_keys("split") if settings.subcaptions_file == "subcaptions.jsonl" else set()
    bad: list[Reject] = []
    spath = rd.file(settings.subcaptions_file)
    file_splits: dict[str, SplitRow] | None = None
    if not split_keys:
        file_splits, bad_s = _load_splits(spath)
        bad += bad_s
        if not spath.exists():
            bad.append(Reject(stage=STAGE, source=str(spath), reason="missing",
                              detail=f"{spath}: no subcaptions file; every figure is paired whole"))
    if parse_keys:
        papers = ((k, None, _part(rd, "parse", k)) for k in parse_keys)
    else:
        fpath = rd.file(settings.figures_file)
        if not fpath.exists():
            raise InputError(str(fpath), "missing", "no figures file: run `medvl parse` first")
        by_paper, bad_f = _load_figures(fpath)
        bad = bad_f + bad
        papers = ((safe_key(pid), pid, [f.model_dump(mode="json") for f in figs])
                  for pid, figs in sorted(by_paper.items()))
    units: list[AlignPaper] = []
    known: set[str] = set()
    split_ids: set[str] = set(file_splits or ())
    for key, pid, rows in papers:
        if file_splits is None:
            part = _part(rd, "split", key)
            split_ids |= {str(r.get("id")) for r in part}
            splits = {str(r.get("id")): r for r in reversed(part)}  # the first row of an id wins
        else:
            splits = {str(r["figure_id"]): file_splits[r["figure_id"]].model_dump(mode="json")
                      for r in rows if r.get("figure_id") in file_splits}
        rows = sorted(rows, key=lambda r: (r.get("index", 0), str(r.get("figure_id"))))
        known |= {str(r.get("figure_id")) for r in rows}
        in_sha = sha256_text("".join(figure_input_sha(r, splits.get(str(r.get("figure_id"))), settings)  # type: ignore[arg-type]
                                     for r in rows))[:16]
        units.append(AlignPaper(key, in_sha, figures=rows if pid is not None else None,
                                splits=splits if file_splits is not None else None, n_figures=len(rows),
                                source=f"parse/{key}" if pid is None else str(pid)))
    if file_splits is None:  # split parts of papers parse no longer has
        split_ids |= {str(r.get("id")) for k in sorted(split_keys - {u.key for u in units} - {"input"})
                      for r in _part(rd, "split", k)}
    orphans = [Reject(stage=STAGE, source=spath.name, id=sid, reason="orphan_split",
                      detail=f"{spath}: subcaptions for {sid}, which is not in {settings.figures_file}")
               for sid in sorted(split_ids) if sid not in known]
    run_rejects = bad + orphans
    units.append(AlignPaper(RUN_UNIT, sha256_text(json.dumps([r.model_dump(mode="json") for r in run_rejects],
                                                             sort_keys=True))[:16], rejects=run_rejects))
    return units


def align_run(run_dir: str | Path, settings: AlignSettings | None = None,
              progress: ProgressFn = no_progress, llm_settings: Any = None) -> AlignSummary:
    """Align a whole run directory; resumable per paper.  Returns counts.

    The align stage of the pipeline engine run alone (medvl/stages/align.py), as `medvl run` runs it: the
    same units (:func:`plan_papers`), fingerprints, done markers, rejects and `medvl status`.
    With ``settings.aligner`` llm or auto and `llm_settings` (medvl.llm.client.LLMSettings) the model is
    asked (medvl/align_llm.py); auto without `llm_settings` is the rules, and the summary's note says so.
    A dead server keeps the rule pairs, says so in the note, and leaves those papers to be redone."""
    from contextlib import nullcontext

    from medvl.align_llm import aligner_counts
    from medvl.config import ExecutorSettings, LLMSettings, RunConfig
    from medvl.errors import MedvlError
    from medvl.pipeline import Pipeline
    from medvl.registry import ALIGNERS

    settings = settings or AlignSettings()
    rd = RunDir(run_dir)
    fpath = rd.file(settings.figures_file)
    if not fpath.exists() and not (settings.figures_file == "figures.jsonl" and rd.done_keys("parse")):
        raise InputError(str(fpath), "missing", "no figures file: run `medvl parse` first")
    stage_settings = {k: v for k, v in settings.to_dict().items() if k != "force"}
    uses_llm = ALIGNERS.get(settings.aligner).uses_llm != "none"
    llm = LLMSettings()
    if uses_llm and llm_settings is not None:
        llm = LLMSettings(urls=llm_settings.url, model=llm_settings.model)
        stage_settings.update(mode=llm_settings.mode, timeout_s=llm_settings.timeout_s,
                              max_reasks=llm_settings.max_reasks, transport_retries=llm_settings.transport_retries,
                              concurrency=llm_settings.concurrency, params=dict(llm_settings.params),
                              backoff_s=llm_settings.backoff_s, backoff_max_s=llm_settings.backoff_max_s)
        if llm_settings.cache_path is not None:
            stage_settings["cache_path"] = str(llm_settings.cache_path)
    config = RunConfig(executor=ExecutorSettings(kind="inline"), llm=llm, stages={STAGE: stage_settings})
    config._source = "medvl align"
    news: list[str] = []

    def bars(description: str, total: int | None):
        progress(0, total=total, note="")
        return nullcontext(progress)

    before = {k: _done_meta(rd, k).get("fingerprint") for k in rd.done_keys(STAGE)}
    res = Pipeline(config, rd.path, bars=bars, notify=news.append, force=[STAGE] if settings.force else (),
                   only=[STAGE]).run_all().stage(STAGE)
    if res is None or res.state != "done":
        raise MedvlError(f"align: {res.message if res else 'did not run'}")
    aligner = "rules" if uses_llm and llm_settings is None else settings.aligner
    summary = AlignSummary(out=str(rd.file(settings.out_file)), aligner=aligner)
    if uses_llm and llm_settings is None:
        summary.note = f"aligner {settings.aligner}: no LLM server given (--llm-url), so the rules paired every figure"
    run_unit_redone = settings.force or before.get(RUN_UNIT) != _done_meta(rd, RUN_UNIT).get("fingerprint")
    summary.papers = res.planned - 1
    summary.papers_skipped = res.reused - (0 if run_unit_redone else 1)
    dead = ""
    for key in rd.done_keys(STAGE) - {RUN_UNIT}:
        meta = _done_meta(rd, key)
        summary.figures += int(meta.get("figures") or 0)
        if not settings.force and meta.get("fingerprint") == before.get(key):  # done before this call
            continue
        summary.llm_asked += int(meta.get("asked") or 0)
        for k, v in (meta.get("fallbacks") or {}).items():
            summary.llm_fallbacks[k] = summary.llm_fallbacks.get(k, 0) + int(v)
        dead = dead or str(meta.get("llm_dead") or "")
    if dead:
        summary.note = f"LLM aligner: {dead}; the rule pairs were kept for the figures it did not answer"
    summary.pairs = _count_rows(rd.file(settings.out_file))
    methods: Counter[str] = Counter(row["method"] for row in rd.iter_unit_records(STAGE))
    reasons: Counter[str] = Counter(row["reason"] for row in rd.iter_unit_rejects(STAGE))
    summary.figures_by_aligner = aligner_counts(rd.iter_unit_records(STAGE))
    summary.methods = dict(sorted(methods.items()))
    summary.reject_reasons = dict(sorted(reasons.items()))
    summary.rejects = sum(reasons.values())
    return summary


def _done_meta(rd: RunDir, key: str) -> dict:
    p = rd.parts_dir(STAGE) / f"{safe_key(key)}.done"
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {}


def _count_rows(path: Path) -> int:
    try:
        with open(path, "rb") as fh:
            return sum(1 for line in fh if line.strip())
    except FileNotFoundError:
        return 0


def iter_pairs(run_dir: str | Path, name: str = "pairs.jsonl") -> Iterable[Pair]:
    for row in read_jsonl(Path(run_dir) / name):
        yield Pair.model_validate(row)
