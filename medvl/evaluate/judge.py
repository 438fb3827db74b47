"""`medvl judge`: an LLM scores a deterministic sample of a run's splits, pairs or retrieval results.

For each sampled item the judge prompt (prompts/judge/*.yaml) asks for a validated pydantic
verdict: a 1-5 score per criterion, a short rationale and flags from a fixed list.  Calls go
through the shared LLM client (medvl.llm.client: validation, re-asks, on-disk cache, fault
handling are the same as the LLM splitter's).  Every verdict becomes a medvl.records.Judgment
carrying the judge model, prompt id and prompt hash: one unit of the pipeline engine per item (the
judge stage, medvl/stages/judge.py, plans, marks and merges them into RUN_DIR/judgments.jsonl).  Items the judge cannot score
become reject rows with the reason.  Aggregates with 95 % intervals, and the judge's agreement
with the dev gold set where it exists, go to RUN_DIR/judge_summary.json.

Sampling is deterministic and nested: items are ordered by sha256(seed:item_id) and the first N
taken, so --sample 50 contains every item of --sample 20 with the same seed, and a rerun with a
larger sample only judges the new items.

Retrieval judging reads a neighbours file (JSONL, one query per line)::

    {"query_id": "<pair_id>", "query_text": "...", "direction": "image_to_text",
     "model": "aligned", "topk": [{"id": "<pair_id>", "text": "...", "score": 0.41}, ...]}

(`query_text` and each `text` are optional when the ids are pair ids of RUN_DIR/pairs.jsonl.)
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationInfo, field_validator

from medvl.errors import InputError, MedvlError
from medvl.llm.answers import StrictAnswer
from medvl.progress import ProgressFn, no_progress
from medvl.registry import JUDGES
from medvl.versioning import stage_version

STAGE = "judge"
STAGE_VERSION = stage_version(STAGE)  # derived from the judge code (medvl/versioning.py)
WHATS = ("splits", "pairs", "retrieval")
DEFAULT_PROMPTS = {"splits": "judge/splits@1", "pairs": "judge/pairs@1", "retrieval": "judge/retrieval@1"}
NEIGHBOUR_FILES = ("neighbours.jsonl", "neighbors.jsonl", "eval/neighbours.jsonl", "eval/neighbors.jsonl",
                   "retrieval_topk.jsonl", "eval/retrieval_topk.jsonl")
GOLD_DEFAULT = Path(__file__).resolve().parents[2] / "eval" / "gold" / "dev.jsonl"
LOW_SCORE = 2  # a criterion scored <= LOW_SCORE counts as a flag of the item


# ---------------------------------------------------------------- response models

Score = int


def _score_field(desc: str) -> Any:
    return Field(ge=1, le=5, description=desc)


class _Verdict(StrictAnswer):
    rationale: str = Field(min_length=1, max_length=300, description="one or two sentences: why these scores")

    @field_validator("rationale")
    @classmethod
    def _strip(cls, v: str) -> str:
        v = " ".join(v.split())
        if not v:
            raise ValueError("the rationale must say why, in a sentence")
        return v

    def scores(self) -> dict[str, int]:
        return {k: int(getattr(self, k)) for k in self.criteria()}

    @classmethod
    def criteria(cls) -> list[str]:
        return [k for k, f in cls.model_fields.items() if k not in ("rationale", "flags", "relevance")]


SplitFlag = Literal["not_verbatim", "missing_text", "wrong_label", "mixed_panels", "missing_panel",
                    "extra_panel", "shared_text_lost"]


class SplitVerdict(_Verdict):
    """Verdict on one caption's subcaptions."""

    faithful: Score = _score_field("each subcaption is text of the caption, not paraphrased or invented")
    complete: Score = _score_field("together the subcaptions cover all panel-specific text of the caption")
    labels: Score = _score_field("each subcaption has the label of the panel it describes")
    isolated: Score = _score_field("no subcaption contains text about another panel")
    flags: list[SplitFlag] = Field(description="problems seen; [] when none")


PairFlag = Literal["wrong_panel", "whole_figure_text", "label_mismatch", "no_visual_content", "unreadable_image"]


class PairVerdict(_Verdict):
    """Verdict on one panel-text pair."""

    match: Score = _score_field("the text describes this panel (its content, or its letter and position)")
    specific: Score = _score_field("the text is about this panel, not the whole figure or another panel")
    flags: list[PairFlag] = Field(description="problems seen; [] when none")


RetrievalFlag = Literal["off_topic", "different_modality", "different_anatomy", "duplicate"]


class RetrievalVerdict(StrictAnswer):
    """Verdict on the top-k captions retrieved for one query."""

    relevance: list[Score] = Field(description="one score 1-5 per retrieved caption, in the order given")
    rationale: str = Field(min_length=1, max_length=300, description="one or two sentences")
    flags: list[RetrievalFlag] = Field(description="problems seen; [] when none")

    @field_validator("relevance")
    @classmethod
    def _one_per_caption(cls, v: list[int], info: ValidationInfo) -> list[int]:
        k = (info.context or {}).get("k")
        if any(not 1 <= s <= 5 for s in v):
            raise ValueError("every relevance score must be an integer from 1 to 5")
        if k is not None and len(v) != k:
            raise ValueError(f"give exactly {k} relevance scores, one per retrieved caption (got {len(v)})")
        return v

    def scores(self) -> dict[str, int]:
        return {f"rank{i + 1}": int(s) for i, s in enumerate(self.relevance)}


def retrieval_model(k: int, base: type[RetrievalVerdict] = RetrievalVerdict) -> type[RetrievalVerdict]:
    """A RetrievalVerdict whose schema asks for exactly k scores, so schema-guided decoding
    cannot produce a list of the wrong length (the validator still checks)."""
    from pydantic import conint, create_model

    return _RETRIEVAL_MODELS.setdefault((k, base), create_model(
        f"{base.__name__}K{k}", __base__=base,
        relevance=(list[conint(ge=1, le=5)], Field(min_length=k, max_length=k,
                                                   description=f"exactly {k} scores 1-5, one per retrieved caption"))))


_RETRIEVAL_MODELS: dict[tuple[int, type], type[RetrievalVerdict]] = {}

RESPONSE_MODELS: dict[str, type[BaseModel]] = {"splits": SplitVerdict, "pairs": PairVerdict,
                                               "retrieval": RetrievalVerdict}


def response_model_for(prompt: Any, what: str) -> type[BaseModel]:
    """The prompt's `response_model` (module:Class), else the default verdict for `what`."""
    if getattr(prompt, "response_model", None):
        return prompt.resolve_response_model()
    return RESPONSE_MODELS[what]


# ---------------------------------------------------------------- items

@dataclass
class Item:
    """One thing to judge: its id, the template variables, and what links it back to figures."""

    what: str
    item_id: str
    variables: dict[str, Any]
    figure_id: str | None = None
    paper_id: str | None = None
    label: str | None = None
    image_path: Path | None = None
    context: dict[str, Any] = field(default_factory=dict)
    input_sha: str = ""


def sample_items(items: list[Item], n: int | None, seed: int) -> list[Item]:
    """The first n items by sha256(seed:item_id): deterministic, order-free and nested in n."""
    from medvl.records import sha256_text

    ordered = sorted(items, key=lambda it: sha256_text(f"{seed}:{it.item_id}"))
    return ordered if n is None or n < 0 else ordered[:n]


def _figures(run: Path) -> dict[str, dict]:
    from medvl.runs import read_jsonl

    p = run / "figures.jsonl"
    return {str(f["figure_id"]): f for f in read_jsonl(p)} if p.is_file() else {}


def position_words(bbox: list[float] | None, width: float | None, height: float | None) -> str:
    """'top left', 'bottom', 'centre' ... for a panel box inside its figure."""
    if not bbox or not width or not height:
        return "unknown position"
    cx = (bbox[0] + bbox[2]) / 2 / width
    cy = (bbox[1] + bbox[3]) / 2 / height
    v = "top" if cy < 1 / 3 else "bottom" if cy > 2 / 3 else "middle"
    h = "left" if cx < 1 / 3 else "right" if cx > 2 / 3 else "centre"
    if v == "middle" and h == "centre":
        return "centre"
    if v == "middle":
        return h
    if h == "centre":
        return v
    return f"{v} {h}"


def read_captions(path: str | Path | None) -> dict[str, str]:
    """id -> caption from a JSONL file of {"id", "caption"} rows (captions-only split input, gold)."""
    from medvl.runs import read_jsonl

    if not path or not Path(path).is_file():
        return {}
    return {str(r["id"]): r["caption"] for r in read_jsonl(path) if r.get("id") and isinstance(r.get("caption"), str)}


def split_items(run: Path, rejects: list, captions: dict[str, str] | None = None) -> list[Item]:
    """Items for the splits judge; captions come from figures.jsonl, else `captions` (by id)."""
    from medvl.records import Reject, sha256_text
    from medvl.runs import read_jsonl

    p = run / "subcaptions.jsonl"
    if not p.is_file():
        raise InputError(str(p), "missing", "no subcaptions.jsonl in the run (run `medvl split` first)")
    figs = _figures(run)
    items = []
    for row in read_jsonl(p):
        rid = str(row.get("id"))
        fig = figs.get(rid)
        caption = (fig or {}).get("caption") or row.get("caption") or (captions or {}).get(rid)
        if not caption:
            rejects.append(Reject(stage=STAGE, source=str(p), id=f"splits:{rid}", reason="no_caption",
                                  detail=f"{rid}: caption not in figures.jsonl nor the captions file; "
                                         "cannot judge its split (pass --captions FILE)"))
            continue
        subs = [{"label": s.get("label"), "text": s.get("text")} for s in row.get("subcaptions") or []]
        panels = [pn.get("label") for pn in (fig or {}).get("panels") or [] if pn.get("label")]
        items.append(Item(
            what="splits", item_id=rid, figure_id=rid if fig else None, paper_id=(fig or {}).get("paper_id"),
            variables={"caption": caption, "subcaptions": subs, "panel_labels": panels,
                       "figure_label": (fig or {}).get("label")},
            context={"caption": caption, "caption_sha256": row.get("caption_sha256"),
                     "caption_norm_sha256": sha256_text(_norm(caption)), "caption_key": caption_key(caption),
                     "gold_ids": gold_id_candidates(fig)},
            input_sha=sha256_text(json.dumps([caption, subs], sort_keys=True))))
    return items


def pair_items(run: Path, rejects: list) -> list[Item]:
    from medvl.records import Reject, sha256_text
    from medvl.runs import read_jsonl

    p = run / "pairs.jsonl"
    if not p.is_file():
        raise InputError(str(p), "missing", "no pairs.jsonl in the run (run `medvl align` first)")
    figs = _figures(run)
    items = []
    for pair in read_jsonl(p):
        pid = str(pair.get("pair_id"))
        fig = figs.get(str(pair.get("figure_id"))) or {}
        panel = next((pn for pn in fig.get("panels") or [] if pn.get("panel_id") == pair.get("panel_id")), None)
        img = run / pair["image"] if pair.get("image") else None
        n_panels = len(fig.get("panels") or [])
        items.append(Item(
            what="pairs", item_id=pid, figure_id=pair.get("figure_id"), paper_id=pair.get("paper_id"),
            label=pair.get("label"), image_path=img,
            variables={"text": pair.get("text") or "", "caption": fig.get("caption") or "",
                       "label": pair.get("label"), "method": pair.get("method"),
                       "position": position_words((panel or {}).get("bbox"), fig.get("width"), fig.get("height"))
                       if panel else ("whole figure" if pair.get("method") == "whole" else "unknown position"),
                       "n_panels": n_panels, "figure_label": fig.get("label")},
            context={"text": pair.get("text") or ""},
            input_sha=sha256_text(json.dumps([pair.get("text"), pair.get("image"), fig.get("caption")]))))
    return items


def find_neighbours_file(run: Path) -> Path | None:
    for name in NEIGHBOUR_FILES:
        if (run / name).is_file():
            return run / name
    found = sorted(run.glob("*/neighbours.jsonl")) + sorted(run.glob("*/*/neighbours.jsonl"))
    return found[0] if found else None


def retrieval_items(run: Path, rejects: list, neighbours: Path | None = None, k: int = 5) -> list[Item]:
    from medvl.records import Reject, sha256_text
    from medvl.runs import read_jsonl

    path = Path(neighbours) if neighbours else find_neighbours_file(run)
    if path is None or not path.is_file():
        raise InputError(str(neighbours or run / NEIGHBOUR_FILES[0]), "missing",
                         "no retrieval neighbours file (JSONL of query -> top-k); pass --neighbours FILE")
    pairs = {}
    if (run / "pairs.jsonl").is_file():
        pairs = {str(p["pair_id"]): p for p in read_jsonl(run / "pairs.jsonl")}
    figs = _figures(run)
    items = []
    for i, row in enumerate(read_jsonl(path), 1):
        qid = str(row.get("query_id") or row.get("pair_id") or f"line{i}")
        q = pairs.get(qid, {})
        qtext = row.get("query_text") or q.get("text")
        fig = figs.get(str(q.get("figure_id"))) or {}
        topk = []
        for n in (row.get("topk") or row.get("neighbours") or row.get("neighbors") or [])[:k]:
            if isinstance(n, str):
                n = {"id": n}
            nid = str(n.get("id") or n.get("pair_id") or "")
            text = n.get("text") or (pairs.get(nid) or {}).get("text")
            if text:
                topk.append({"id": nid, "text": text, "score": n.get("score")})
        direction = row.get("direction") or "image_to_text"
        model = row.get("model") or "model"
        item_id = f"{model}:{direction}:{qid}"
        if not qtext or not topk:
            rejects.append(Reject(stage=STAGE, source=f"{path}:{i}", id=f"retrieval:{item_id}",
                                  reason="incomplete_neighbours",
                                  detail=f"{path}:{i}: query text or retrieved captions missing"))
            continue
        items.append(Item(
            what="retrieval", item_id=item_id, figure_id=q.get("figure_id"), paper_id=q.get("paper_id"),
            label=q.get("label"),
            variables={"query": qtext, "query_caption": fig.get("caption") or qtext,
                       "retrieved": [t["text"] for t in topk], "k": len(topk), "direction": direction},
            context={"k": len(topk)},
            input_sha=sha256_text(json.dumps([qtext, [t["text"] for t in topk]]))))
    return items


# ---------------------------------------------------------------- gold

_LEADING_LABEL = re.compile(r"^\s*(?:supplementary\s+)?(?:fig(?:ure)?s?|scheme|plate)\.?\s*S?\d+[A-Za-z]?\s*[:.|\-\u2013\u2014]?\s*",
                            re.I)


def caption_key(caption: str) -> str:
    """sha256 of the caption without its printed label ("Figure 1:"), whitespace and case folded:
    PDF captions carry the label, gold and XML captions do not."""
    from medvl.records import sha256_text

    return sha256_text(_norm(_LEADING_LABEL.sub("", caption or "", count=1)))


def gold_id_candidates(fig: dict | None) -> list[str]:
    """Gold ids this figure may have: '<PMCID>-fig<number>' from its source path and number."""
    if not fig:
        return []
    m = re.search(r"PMC\d+", str(fig.get("source") or ""))
    num = fig.get("number") or ""
    return [f"{m.group(0)}-fig{num}"] if m and num else []


def _norm(s: str | None) -> str:
    return re.sub(r"\s+", " ", (s or "")).strip().casefold()


def _label_norm(s: str | None) -> str:
    return re.sub(r"[^a-z0-9_]+", "", (s or "").lower())


def split_signature(subcaptions: list[dict]) -> frozenset:
    """What a split says, ignoring whitespace, case and order: {(label, text)}."""
    return frozenset((_label_norm(s.get("label")), _norm(s.get("text"))) for s in subcaptions or []
                     if _norm(s.get("text")))


def split_disagrees(pred: list[dict], gold: list[dict]) -> bool:
    """Does a predicted split disagree with gold?  Same rule as the split metrics: the label sets
    differ, or a matched label's text has token F1 < 1."""
    try:
        from medvl.split.metrics import score_predictions
    except ImportError:  # pragma: no cover - the split package is part of the core
        return split_signature(pred) != split_signature(gold)
    res = score_predictions([{"id": "x", "subcaptions": gold}], [{"id": "x", "subcaptions": pred}])
    return bool(res["disagreements"])


def load_gold(path: str | Path | None) -> dict[str, dict] | None:
    """Gold splits keyed by id and by caption sha256: {"id:<id>": row, "sha:<sha>": row}.

    Accepts rows with `id` (or `figure_id`), `caption` and `subcaptions` [{label, text}]
    (`gold`/`expected` are read as synonyms of `subcaptions`).
    """
    from medvl.records import sha256_text
    from medvl.runs import read_jsonl

    if path is None:
        return None
    p = Path(path)
    if not p.is_file():
        return None
    out: dict[str, dict] = {}
    for row in read_jsonl(p):
        subs = row.get("subcaptions") or row.get("gold") or row.get("expected")
        if not isinstance(subs, list):
            continue
        rec = {"subcaptions": subs, "caption": row.get("caption")}
        for key in ("id", "figure_id"):
            if row.get(key):
                out[f"id:{row[key]}"] = rec
        if row.get("caption"):
            out[f"sha:{sha256_text(row['caption'])}"] = rec
            out[f"norm:{sha256_text(_norm(row['caption']))}"] = rec
            out[f"key:{caption_key(row['caption'])}"] = rec
        if row.get("caption_sha256"):
            out[f"sha:{row['caption_sha256']}"] = rec
    return out


def is_flagged(j: dict) -> bool:
    """A judgment flags its item when it lists a flag or scores any criterion <= LOW_SCORE."""
    return bool(j.get("flags")) or any(int(v) <= LOW_SCORE for v in (j.get("scores") or {}).values())


# ---------------------------------------------------------------- summary

def _group_key(what: str, prompt_id: str, prompt_sha: str, model: str) -> str:
    return f"{what}|{prompt_id}|{(prompt_sha or '')[:12]}|{model}"


def summarize(judgments: list[dict], rejects: list[dict], gold: dict[str, dict] | None,
              splits: dict[str, dict] | None = None, method: str = "t", conf: float = 0.95,
              figures: dict[str, dict] | None = None) -> dict:
    """Aggregate judgments per (what, prompt, model): per-criterion means with intervals, the
    flagged share (Wilson), failures, and for splits the agreement of flags with gold."""
    from medvl.evaluate import stats

    groups: dict[str, list[dict]] = {}
    for j in judgments:
        groups.setdefault(_group_key(j["what"], j["prompt_id"], j["prompt_sha"], j["judge_model"]), []).append(j)
    fails: Counter = Counter()
    for r in rejects:
        if r.get("stage") == STAGE and r.get("source") and "|" in str(r.get("source")):
            fails[str(r["source"])] += 1
    out_groups = []
    for key in sorted(set(groups) | set(fails)):
        js = groups.get(key, [])
        what, prompt_id, sha12, model = key.split("|", 3)
        item_means = [sum(j["scores"].values()) / len(j["scores"]) for j in js if j.get("scores")]
        flagged = [is_flagged(j) for j in js]
        g: dict[str, Any] = {
            "what": what, "prompt_id": prompt_id, "prompt_sha": js[0]["prompt_sha"] if js else sha12,
            "judge_model": model, "n": len(js),
            "criteria": stats.aggregate_scores([j["scores"] for j in js], method=method, conf=conf, low=LOW_SCORE),
            "overall": stats.mean_ci(item_means, method=method, conf=conf, bounds=(1, 5)),
            "flagged": stats.proportion(sum(flagged), len(flagged), conf),
            "flags": dict(Counter(f for j in js for f in j.get("flags") or []).most_common()),
            "failed": stats.proportion(fails.get(key, 0), len(js) + fails.get(key, 0), conf),
            "modes": dict(Counter(j.get("mode") for j in js if j.get("mode"))),
            "gold": None,
        }
        if what == "retrieval" and js:
            rel = [v for j in js for v in j["scores"].values()]
            g["relevant_share"] = stats.proportion(sum(1 for v in rel if v >= 4), len(rel), conf)
        if what == "splits" and gold:
            pred, actual, matched = [], [], []
            for j, fl in zip(js, flagged):
                row = (splits or {}).get(j["item_id"])
                cand = gold.get(f"id:{j['item_id']}")
                if cand is None and row is not None:
                    cand = gold.get(f"sha:{row.get('caption_sha256')}")
                ex = dict(j.get("extra") or {})
                fig = (figures or {}).get(j["item_id"])
                if fig and fig.get("caption"):  # match from the run's own figure, whatever the judgment kept
                    ex.setdefault("caption_key", caption_key(fig["caption"]))
                    ex.setdefault("gold_ids", gold_id_candidates(fig))
                for gid in ex.get("gold_ids") or []:
                    cand = cand or gold.get(f"id:{gid}")
                for k, prefix in (("caption_sha256", "sha"), ("caption_norm_sha256", "norm"), ("caption_key", "key")):
                    if cand is None and ex.get(k):
                        cand = gold.get(f"{prefix}:{ex[k]}")
                if cand is None or row is None:
                    continue
                disagree = split_disagrees(row.get("subcaptions") or [], cand["subcaptions"])
                pred.append(fl)
                actual.append(disagree)
                matched.append(j["item_id"])
            if matched:
                g["gold"] = {"n_matched": len(matched), "n_disagree": sum(actual),
                             "agreement": stats.binary_agreement(pred, actual, conf),
                             "definition": f"flagged = any flag or any criterion <= {LOW_SCORE}; "
                                           "disagree = label sets differ or a matched text has token F1 < 1 "
                                           "(medvl.split.metrics.score_predictions)"}
        out_groups.append(g)
    return {"stage": STAGE, "stage_version": STAGE_VERSION, "conf": conf, "method": method,
            "low_score": LOW_SCORE, "groups": out_groups}


# ---------------------------------------------------------------- running

@dataclass
class JudgeSettings:
    what: str = "splits"
    judge: str = "llm"  # the registered judge (medvl.registry.JUDGES): "llm" is the only built-in one
    sample: int | None = 20
    seed: int = 0
    prompt: str | None = None  # "judge/splits@1"; default per `what`
    image_mode: Literal["auto", "image", "text_only"] = "auto"
    k: int = 5
    neighbours: str | None = None
    gold: str | None = None  # default: eval/gold/dev.jsonl when present
    captions: str | None = None  # JSONL {id, caption} for splits of captions-only input
    interval: Literal["t", "bootstrap"] = "t"
    retry_failed: bool = False
    batch: int = 8  # items per call_many (each item is written as soon as its batch returns)


def _unit_key(what: str, item_id: str, prompt_id: str, prompt_sha: str, model: str, mode: str) -> str:
    from medvl.records import sha256_text

    h = sha256_text("|".join([what, item_id, prompt_id, prompt_sha, model, mode]))[:12]  # prompt_id: the ref
    return f"{what}-{item_id}"[:180] + f"-{h}"


def _image_data_url(path: Path, max_side: int = 768) -> str:
    import base64
    import io

    from PIL import Image

    with Image.open(path) as im:
        im = im.convert("RGB")
        im.thumbnail((max_side, max_side))
        buf = io.BytesIO()
        im.save(buf, "PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _with_image(prompt: Any) -> Any:
    """The same prompt (same id, version and sha) whose last user turn also carries the panel
    image, when the variables hold `image_url` (a data URL); the cache key covers the image."""
    import dataclasses

    from medvl.prompts import Prompt

    @dataclasses.dataclass(frozen=True)
    class ImagePrompt(Prompt):
        def messages(self, **variables: Any) -> list[dict]:
            msgs = super().messages(**variables)
            url = variables.get("image_url")
            if url and msgs and msgs[-1]["role"] == "user":
                msgs[-1] = {"role": "user", "content": [{"type": "text", "text": msgs[-1]["content"]},
                                                        {"type": "image_url", "image_url": {"url": url}}]}
            return msgs

    return ImagePrompt(**{f.name: getattr(prompt, f.name) for f in dataclasses.fields(prompt)})


@dataclass
class JudgePlan:
    """One `what` of the judge stage: the sampled items and how they are asked (prompt, model, mode)."""

    what: str
    settings: JudgeSettings
    items: list[Item]
    rejects: list  # the input's rejects (no caption, incomplete neighbours)
    prompt: Any
    model_name: str
    mode: str
    gold_path: str | None = None

    def key(self, it: Item) -> str:
        """The item's unit: one per item and prompt (ref and sha), model and mode."""
        return _unit_key(it.what, it.item_id, self.prompt.ref, self.prompt.sha, self.model_name, self.mode)

    @property
    def rejects_key(self) -> str:
        return f"{self.what}-input-rejects"

    @property
    def source(self) -> str:
        return f"{self.what}|{self.prompt.ref}|{self.prompt.sha[:12]}|{self.model_name}"


def plan_items(run_dir: str | Path, settings: JudgeSettings, llm_settings: Any) -> JudgePlan:
    """The sampled items of `settings.what` and the prompt, model and (pairs) image mode that judge them;
    `auto` asks the server once whether it takes images."""
    from medvl.prompts import load_prompt

    if settings.what not in WHATS:
        raise MedvlError(f"--what must be one of {', '.join(WHATS)} (got {settings.what!r})")
    run = Path(run_dir)
    rejects: list = []
    gold_path = settings.gold or (str(GOLD_DEFAULT) if GOLD_DEFAULT.is_file() else None)
    if settings.what == "splits":
        items = split_items(run, rejects, {**read_captions(gold_path), **read_captions(settings.captions)})
    elif settings.what == "pairs":
        items = pair_items(run, rejects)
    else:
        items = retrieval_items(run, rejects, settings.neighbours, settings.k)
    prompt = load_prompt(settings.prompt or DEFAULT_PROMPTS[settings.what])
    mode = resolve_image_mode(llm_settings, settings.image_mode) if settings.what == "pairs" else "text_only"
    return JudgePlan(settings.what, settings, sample_items(items, settings.sample, settings.seed), rejects,
                     prompt, llm_settings.model, mode, gold_path)


def item_to_json(it: Item) -> dict[str, Any]:
    import dataclasses

    return {**dataclasses.asdict(it), "image_path": str(it.image_path) if it.image_path else None}


def item_from_json(d: dict[str, Any]) -> Item:
    return Item(**{**d, "image_path": Path(d["image_path"]) if d.get("image_path") else None})


@dataclass
class JudgeBatch:
    """What a registered judge (medvl.registry.JUDGES) is given: items of one plan to judge at once."""

    plan: JudgePlan
    items: list[Item]  # pairs in image mode: variables["image_url"] holds the panel image (a data URL)
    llm_settings: Any = None  # the served model (medvl.llm.client.LLMSettings)
    llm: Any = None  # a client to ask instead (StructuredLLM-like: call_many, settings, stats)
    stats: Counter = field(default_factory=Counter)  # the judge counts its "requests" here


def ask_llm(batch: JudgeBatch) -> list[Any]:
    """The built-in judge: one validated verdict per item from a served model (an LLMResult each, value None
    when no valid verdict came back); LLMUnavailable, with the answers finished before, when the server is gone."""
    from medvl.llm.client import StructuredLLM

    plan = batch.plan
    rmodel = response_model_for(plan.prompt, plan.what)
    call_prompt = _with_image(plan.prompt) if plan.mode == "image" else plan.prompt
    jobs = []
    for it in batch.items:
        model = rmodel
        if isinstance(rmodel, type) and issubclass(rmodel, RetrievalVerdict):
            model = retrieval_model(int(it.context.get("k") or plan.settings.k), rmodel)
        jobs.append((call_prompt, it.variables, model, it.context))
    llm = batch.llm or StructuredLLM(batch.llm_settings)
    before = llm.stats.get("requests", 0) if hasattr(llm, "stats") else 0
    try:
        return llm.call_many(jobs)
    finally:
        batch.stats["requests"] += (llm.stats.get("requests", 0) - before) if hasattr(llm, "stats") else 0
        if batch.llm is None:
            llm.close()


def with_image(plan: JudgePlan, it: Item) -> Any:
    """The item with its panel image in the variables (image mode), or the unreadable_image reject."""
    from medvl.records import Reject

    if plan.mode != "image":
        return it
    try:
        url = _image_data_url(it.image_path)
    except (OSError, TypeError, ValueError) as exc:  # missing or unreadable panel image
        return Reject(stage=STAGE, source=str(it.image_path), id=f"{it.what}:{it.item_id}", reason="unreadable_image",
                      detail=f"{it.item_id}: panel image {it.image_path}: {type(exc).__name__}: {exc}",
                      paper_id=it.paper_id)
    return Item(**{**it.__dict__, "variables": {**it.variables, "image_url": url}})


def judgment_unit(plan: JudgePlan, key: str, it: Item, res: Any, tools: dict) -> tuple[list, list, dict]:
    """(records, rejects, done-marker extra) of one item from the judge's answer: a Judgment, or a
    judge_failed reject when no valid verdict came back."""
    from medvl.records import Judgment, Provenance, Reject

    if res.value is None:
        rej = Reject(stage=STAGE, source=plan.source, id=f"{it.what}:{it.item_id}", reason="judge_failed",
                     detail=f"{it.item_id}: {(res.error or 'no valid verdict')[:400]} (re-asks: {res.reasks})",
                     paper_id=it.paper_id)
        return [], [rej], {"failed": True, "cached": bool(res.cached)}
    v, model = res.value, res.model or plan.model_name
    rec = Judgment(
        judgment_id=f"{it.what}:{it.item_id}:{key[-12:]}", what=it.what, item_id=it.item_id,
        scores=v.scores(), rationale=v.rationale, flags=list(v.flags),
        mode=plan.mode if it.what == "pairs" else None, judge_model=model,
        prompt_id=plan.prompt.ref, prompt_sha=plan.prompt.sha,
        extra={"figure_id": it.figure_id, "paper_id": it.paper_id, "label": it.label, "seed": plan.settings.seed,
               "reasks": res.reasks, "latency_s": round(res.latency_s, 4), "tokens": res.tokens, "cached": res.cached,
               **{k: it.context[k] for k in ("caption_sha256", "caption_norm_sha256", "caption_key", "gold_ids")
                  if it.context.get(k)}},
        provenance=Provenance(stage=STAGE, stage_version=STAGE_VERSION, input_sha256=it.input_sha, tools=tools,
                              prompt_id=plan.prompt.ref, prompt_sha=plan.prompt.sha, model=model))
    return [rec], [], {"cached": bool(res.cached)}


def write_summary(run_dir: str | Path, plan: JudgePlan, counts: dict[str, int], llm_public: dict) -> dict:
    """judge_summary.json over every judgment of the run, with `last_run` (this plan and what it did now),
    and the plan's entry judge:<what> in run.json; returns the summary."""
    from medvl.runs import RunDir, atomic_write_text, read_jsonl

    run = RunDir(run_dir)
    settings = plan.settings
    judgments = list(read_jsonl(run.file("judgments.jsonl"))) if run.file("judgments.jsonl").is_file() else []
    rejects = list(read_jsonl(run.file("rejects.jsonl"))) if run.file("rejects.jsonl").is_file() else []
    splits = {}
    if (run.path / "subcaptions.jsonl").is_file():
        splits = {str(r["id"]): r for r in read_jsonl(run.path / "subcaptions.jsonl")}
    summary = summarize(judgments, rejects, load_gold(plan.gold_path), splits, method=settings.interval,
                        figures=_figures(run.path))
    summary["gold_file"] = plan.gold_path
    summary["last_run"] = {
        "what": settings.what, "prompt_id": plan.prompt.ref, "prompt_sha": plan.prompt.sha, "model": plan.model_name,
        "mode": plan.mode, "sample": settings.sample, "seed": settings.seed, "candidates": len(plan.items),
        "judged_now": counts["judged"], "failed_now": counts["failed"], "cached_now": counts["cached"],
        "requests_now": counts["requests"], "skipped_done": len(plan.items) - counts["judged"] - counts["failed"],
        "input_rejects": len(plan.rejects), "judgments_total": len(judgments)}
    atomic_write_text(run.file("judge_summary.json"), json.dumps(summary, indent=2, sort_keys=True))
    run.update_manifest(f"{STAGE}:{settings.what}", {**settings.__dict__, "prompt": plan.prompt.ref,
                                                     "prompt_sha": plan.prompt.sha, "mode": plan.mode,
                                                     "llm": llm_public}, tools=["pydantic", "instructor", "openai"])
    return summary


#: clients judge_run hands to the stage (this process only: judge_run runs the stage inline)
_CLIENTS: dict[str, Any] = {}


def judge_run(run_dir: str | Path, settings: JudgeSettings, llm_settings: Any = None, llm: Any = None,
              progress: ProgressFn = no_progress) -> dict:
    """Judge a sample of a run's items with the judge stage (medvl/stages/judge.py), as `medvl judge` does;
    returns the summary (also written to judge_summary.json).  `llm` is a client to ask instead of one made
    from `llm_settings`.  The server gone: LLMUnavailable, with the items answered before kept."""
    import dataclasses
    import uuid

    from medvl.config import LLMSettings as ServerSettings
    from medvl.llm.client import LLMUnavailable
    from medvl.one_stage import run_stage

    ls = llm.settings if llm is not None else llm_settings
    if ls is None:
        raise MedvlError("no LLM server given (--llm-url and --llm-model, or $MEDVL_LLM_URL)")
    stage_settings: dict[str, Any] = {k: v for k, v in dataclasses.asdict(settings).items() if k != "what"}
    stage_settings.update(what=[settings.what], cache=str(ls.cache_path) if ls.cache_path else False,
                          mode=ls.mode, timeout_s=ls.timeout_s, max_reasks=ls.max_reasks,
                          transport_retries=ls.transport_retries, concurrency=ls.concurrency)
    token = ""
    if llm is not None:
        token = uuid.uuid4().hex
        _CLIENTS[token] = llm
        stage_settings["client"] = token
    try:
        run_stage(run_dir, STAGE, stage_settings, progress=progress,
                  llm=ServerSettings(urls=ls.url, model=ls.model), source="judge_run")
    except MedvlError as exc:
        if "stopped:" in str(exc):  # the server went away: what it answered is kept, a rerun resumes
            raise LLMUnavailable(str(exc)) from exc
        raise
    finally:
        _CLIENTS.pop(token, None)
    return json.loads((Path(run_dir) / "judge_summary.json").read_text(encoding="utf-8"))


_PROBE_PNG = ("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ/pLvAAAAAElFTkSuQmCC")


JUDGES.register("llm", ask_llm)  # a served model with a validated verdict schema (the built-in judge)


def server_takes_images(llm_settings: Any, timeout: float = 30.0) -> tuple[bool, str]:
    """Ask the server once with a 1x1 image: (accepted, why).  A 4xx answer means text only."""
    import httpx

    url = llm_settings.urls[0]
    body = {"model": llm_settings.model, "max_tokens": 1, "temperature": 0,
            "messages": [{"role": "user", "content": [
                {"type": "text", "text": "What colour is this pixel?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64," + _PROBE_PNG}}]}]}
    try:
        r = httpx.post(f"{url}/chat/completions", json=body, timeout=min(timeout, llm_settings.timeout_s),
                       headers={"Authorization": f"Bearer {llm_settings.api_key}"})
    except httpx.HTTPError as exc:
        from medvl.llm.client import LLMUnavailable

        raise LLMUnavailable(f"LLM server at {url} does not answer ({exc}); fix --llm-url") from exc
    if r.status_code == 200:
        return True, "the server answered an image request"
    return False, f"http {r.status_code}: {' '.join(r.text.split())[:200]}"


def resolve_image_mode(llm_settings: Any, wanted: str) -> str:
    """'text_only' when asked; 'image' when asked (an error if the server refuses images);
    'auto' probes the server once and falls back to text_only."""
    if wanted == "text_only":
        return "text_only"
    if wanted not in ("auto", "image"):
        raise MedvlError(f"image mode must be auto, image or text_only (got {wanted!r})")
    ok, why = server_takes_images(llm_settings)
    if wanted == "image" and not ok:
        raise MedvlError(f"the LLM server does not take images ({why}); use --image-mode text_only or auto")
    return "image" if ok else "text_only"
