"""The `tag` stage: every pair of a run (and every whole figure, for the raw export) gets modality,
MRI sequence, anatomy and findings, with confidence and evidence -> RUN_DIR/tags.jsonl.

Sharded by paper like align: a shard reads the paper's align part (pairs) and parse part (figures, for
the caption context and the whole-figure rows) and writes one TagRow per pair and per figure with an
image.  The stage version is derived from this package's code and the vocabularies (and the image
model's weights when they are used), so a change of any of them redoes the stage.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError

from medvl.settings import StrictSettings, validate_model
from medvl.versioning import code_version

STAGE = "tag"
OUTPUT = "tags.jsonl"
#: what decides a tag row: this package (code, vocabularies, shipped weights), the record models and the LLM
#: tagger's client, answer checks and prompt loading (tests/test_versioning.py checks the imports are covered)
CODE = ("medvl.tag", "medvl.records", "medvl.llm.client", "medvl.llm.answers", "medvl.prompts")


class TagSettings(StrictSettings):
    vocab: dict[str, int] = Field(default_factory=dict)  # pin vocabulary versions: {modality: 1}
    image: Literal["auto", "on", "off"] = "auto"  # auto: use the image classifier when its weights exist
    image_model: str | None = None  # weights file; default: the one shipped in medvl/tag/models/
    image_weight: float = Field(default=1.0, ge=0)
    # the image is read only where the words are less sure of the modality than this (0.3: where they
    # say next to nothing; on the gold regression batches the image then adds, above it it hurt): decoding
    # every figure would cost more than the words do, and clear words outweigh the image anyway
    image_below: float = Field(default=0.3, ge=0, le=1.01)
    figures: bool = True  # also tag whole figures (the rows of the raw export)
    # text: the lexicon (text.py); llm: a served model through a per-vocabulary Literal schema (llm.py),
    # falling back to the text tags with the reason; both: the model's choice added to the text evidence
    tagger: Literal["text", "llm", "both"] = "text"
    prompt: str = "tag/fewshot@1"
    cache: bool = True  # the answer cache RUN_DIR/.cache/llm-tag.sqlite (accepted answers only)
    retry_fallbacks: bool = True  # a rerun asks again for the rows that fell back (only those: the cache)
    # the server: filled from the run config's llm section (llm.urls, llm.model) by resolve_settings
    url: str | None = None
    model: str | None = None
    mode: Literal["json_schema", "tools", "json"] = "json_schema"
    timeout_s: float | None = Field(default=None, gt=0)
    max_reasks: int = Field(default=2, ge=0)
    transport_retries: int = Field(default=4, ge=0)
    concurrency: int = Field(default=8, ge=1)
    params: dict[str, Any] = Field(default_factory=dict)  # override the prompt's params (max_tokens ...)
    prompt_sha: str | None = None  # set by resolve_settings: the prompt's content is part of the fingerprint
    llm_unavailable: bool = False  # set by the plan when the server is down: text tags now, redone later


#: settings that only matter when the tagger asks a model (left out of a text run's settings)
LLM_KEYS = ("prompt", "cache", "retry_fallbacks", "url", "model", "mode", "timeout_s", "max_reasks", "transport_retries", "concurrency",
            "params", "prompt_sha", "llm_unavailable")


def stage_version(settings: TagSettings | None = None) -> str:
    """The code version of medvl/tag (its .py files, vocabularies and shipped weights: a change of
    any redoes the stage), plus the weights' sha when another weights file is used."""
    settings = settings or TagSettings()
    version = code_version(*CODE)
    model = _image_model(settings)
    if model is not None and settings.image_model:
        version += f".img{model.sha[:10]}"
    return version


def _image_model(settings: TagSettings) -> Any:
    if settings.image == "off":
        return None
    from medvl.tag.image import ImageModelMissing, load_model

    try:
        return load_model(settings.image_model)
    except ImageModelMissing:
        if settings.image == "on":
            raise
        return None


def resolve_settings(raw: dict[str, Any], config: Any = None) -> dict[str, Any]:
    """Checked settings; for the llm / both tagger the server (the run config's llm section) and the
    prompt's sha, so that a new prompt, model or mode redoes the stage."""
    raw = dict(raw)
    if raw.get("tagger", "text") != "text" and config is not None:
        raw.setdefault("url", config.llm.url)
        raw.setdefault("model", config.llm.model)
        if config.llm.timeout_s:
            raw.setdefault("timeout_s", config.llm.timeout_s)
    s = validate_model(TagSettings, raw, "stages.tag")
    load_vocab_checked(s)
    if s.tagger != "text":
        from medvl.errors import MedvlError
        from medvl.prompts import load_prompt

        if not s.url or not s.model:
            raise MedvlError(f"stage tag: tagger {s.tagger} needs an LLM server: llm.urls and llm.model in the "
                             "config or --llm-url / --llm-model")
        s.prompt_sha = load_prompt(s.prompt).sha  # a missing prompt fails here, before any work
    out = s.model_dump(exclude=set(LLM_KEYS) if s.tagger == "text" else set())
    out["version"] = stage_version(s)  # part of the settings, so the shard fingerprints follow it
    return out


def llm_tagger(settings: TagSettings, run_dir: Path) -> Any:
    """The LLMTagger of these settings (None for the text tagger or a server found down at the start)."""
    if settings.tagger == "text" or settings.llm_unavailable or not settings.url:
        return None
    from medvl.llm.client import LLMSettings
    from medvl.tag.llm import LLMTagger

    kw: dict[str, Any] = {"mode": settings.mode, "max_reasks": settings.max_reasks, "params": dict(settings.params),
                          "transport_retries": settings.transport_retries, "concurrency": settings.concurrency}
    if settings.timeout_s:
        kw["timeout_s"] = settings.timeout_s
    cache = Path(run_dir) / ".cache" / "llm-tag.sqlite" if settings.cache else None
    return LLMTagger(LLMSettings(url=settings.url, model=settings.model or "", cache_path=cache, **kw),
                     settings.prompt)


def load_vocab_checked(settings: TagSettings) -> Any:
    from medvl.tag.vocab import load_vocab

    return load_vocab(settings.vocab)  # a pinned version that does not exist fails here, before any work


def tag_paper(pairs: list[dict], figures: list[dict], settings: TagSettings, run_dir: Path,
              tools: dict[str, str] | None = None, tagger: Any = None) -> tuple[list[Any], list[Any]]:
    """Tag rows for one paper's pairs (and whole figures); rejects for rows that cannot be read.

    `tagger` (medvl.tag.llm.LLMTagger) asks the model for every row when settings.tagger is llm or both;
    a row whose answer failed keeps the text tags and says why (fallback_reason)."""
    from medvl.records import Figure, Pair, Provenance, Reject, pair_id, sha256_text
    from medvl.tag.combine import build_row
    from medvl.tag.paper_context import with_paper_anatomy
    from medvl.tag.text import tag_text
    from medvl.tag.vocab import load_vocab

    vocab = load_vocab(settings.vocab)
    model = _image_model(settings)
    version = stage_version(settings)
    rows: list[Any] = []
    rejects: list[Any] = []
    figs: dict[str, Figure] = {}
    for raw in figures:
        try:
            f = Figure.model_validate(raw)
        except ValidationError as exc:
            rejects.append(Reject(stage=STAGE, source=str(raw.get("figure_id")), id=str(raw.get("figure_id")),
                                  reason="bad_record", detail=f"not a valid Figure ({str(exc).splitlines()[0]})",
                                  paper_id=raw.get("paper_id")))
            continue
        figs[f.figure_id] = f

    def image_probs(rel: str | None, ident: str, tt: Any = None) -> dict | None:
        if model is None or not rel:
            return None
        if tt is not None and tt.modality.confidence >= settings.image_below:
            return None
        path = run_dir / rel
        try:
            return model.predict_file(path)
        except Exception as exc:  # noqa: BLE001 - a bad image is a note, the text tags stand
            rejects.append(Reject(stage=STAGE, source=rel, id=ident, reason="image_unreadable",
                                  detail=f"{path}: image classifier could not read it ({exc}); text tags only"))
            return None

    asks_llm = settings.tagger != "text"
    image_ref = f"medvl-image:{model.sha[:12]}" if model is not None else None

    def prov(*content: str) -> Provenance:
        if not asks_llm:
            return Provenance(stage=STAGE, stage_version=version, input_sha256=sha256_text("\0".join(content)),
                              tools=tools or {}, model=image_ref)
        t = dict(tools or {})
        if image_ref:
            t["medvl-image"] = image_ref
        return Provenance(stage=STAGE, stage_version=version, input_sha256=sha256_text("\0".join(content)), tools=t,
                          prompt_id=tagger.prompt.ref if tagger else settings.prompt,
                          prompt_sha=tagger.prompt.sha if tagger else settings.prompt_sha, model=settings.model)

    valid: list[Pair] = []
    for raw in pairs:
        try:
            p = Pair.model_validate(raw)
        except ValidationError as exc:
            rejects.append(Reject(stage=STAGE, source=str(raw.get("pair_id")), id=str(raw.get("pair_id")),
                                  reason="bad_record", detail=f"not a valid Pair ({str(exc).splitlines()[0]})",
                                  paper_id=raw.get("paper_id")))
            continue
        valid.append(p)
    contexts = {fid: figure_context(f.caption, [p.text for p in valid if p.figure_id == fid and p.method != "whole"])
                for fid, f in figs.items()}
    # every row's words first: (row fields, panel words, figure context, provenance content); the
    # sentences citing each figure are read where its caption is silent (tag_text)
    items: list[tuple[dict[str, Any], str, str | None, tuple[str, ...]]] = []
    refs: list[list[str]] = []
    seen: set[str] = set()
    for p in valid:
        fig = figs.get(p.figure_id)
        caption = fig.caption if fig is not None else None
        cited = list(fig.references) if fig is not None else []
        items.append((dict(id=p.pair_id, kind="pair", paper_id=p.paper_id, figure_id=p.figure_id,
                           panel_id=p.panel_id, image=p.image), p.text,
                      None if p.method == "whole" else contexts.get(p.figure_id),
                      (p.text, caption or "", p.image, *cited)))
        refs.append(cited)
        seen.add(p.pair_id)
    if settings.figures:
        for f in sorted(figs.values(), key=lambda f: (f.index, f.figure_id)):
            fid = pair_id(f.figure_id, None, 0)
            if fid in seen or not f.image:
                continue
            items.append((dict(id=fid, kind="figure", paper_id=f.paper_id, figure_id=f.figure_id, panel_id=None,
                               image=f.image), f.caption, None, (f.caption, f.image, *f.references)))
            refs.append(list(f.references))
    texts = [tag_text(panel, context, vocab, cited) for (_, panel, context, _), cited in zip(items, refs)]
    texts = with_paper_anatomy(texts, [fields["figure_id"] for fields, _, _, _ in items])
    answers = _ask(tagger, settings, vocab, items, texts) if asks_llm else [(None, "text", None)] * len(items)
    for (fields, _, _, content), tt, (llm_tags, tagger_used, extra) in zip(items, texts, answers):
        tags = tt if llm_tags is None else llm_tags  # a row the model did not answer keeps the text tags
        rows.append(build_row(**fields, text=tags, image_probs=image_probs(fields["image"], fields["id"], tags),
                              refs=vocab.refs, provenance=prov(*content), image_weight=settings.image_weight,
                              tagger=tagger_used, extra=extra))
    return rows, rejects


def _ask(tagger: Any, settings: TagSettings, vocab: Any, items: list, texts: list) -> list[tuple[Any, str, dict]]:
    """Per row: (the LLM's tags or None, the tagger that made them, the row's LLM fields)."""
    from medvl.tag.llm import answer_tags

    if tagger is None:  # the plan found the server down: text tags, and a run with it up redoes them
        info = {"prompt_id": settings.prompt, "prompt_sha": settings.prompt_sha or "", "model": settings.model or ""}
        why = "server unavailable at the start of the run: text tags kept (a run with the server up redoes them)"
        return [(None, "text", {"fallback_reason": why, "llm": info}) for _ in items]
    questions = [tagger.question(vocab, fields["id"], panel, context) for fields, panel, context, _ in items]
    asked = [q for q in questions if q is not None]
    results = iter(tagger.ask(asked))
    out: list[tuple[Any, str, dict]] = []
    for q, tt in zip(questions, texts):
        if q is None:
            out.append((None, "text", {"fallback_reason": "not asked: no words to tag from", "llm": tagger.info(None)}))
            continue
        res = next(results)
        if res is None or res.value is None:
            why = (f"server unavailable: {tagger.dead or 'no answer'}" if res is None else (res.error or "no answer"))
            out.append((None, "text", {"fallback_reason": why, "llm": tagger.info(res)}))
            continue
        tags = answer_tags(res.value, tt, settings.tagger)
        out.append((tags, settings.tagger, {"llm": tagger.info(res)}))
    return out


def figure_context(caption: str, panel_texts: list[str]) -> str:
    """The part of a caption that speaks for every panel: the caption without the panels' own texts
    (found verbatim), so that "(D) H&E staining" is evidence for panel D and not context for panel C."""
    out = caption or ""
    for t in sorted({t.strip() for t in panel_texts if t and t.strip()}, key=len, reverse=True):
        if len(t) >= 12 and t in out:
            out = out.replace(t, " ")
    return out


def tag_run(run_dir: str | Path, settings: TagSettings | None = None) -> list[Any]:
    """Tag rows of a whole run directory (pairs.jsonl + figures.jsonl), outside the pipeline (benchmarks)."""
    from medvl.runs import read_jsonl

    run_dir = Path(run_dir)
    settings = settings or TagSettings()
    pairs = list(read_jsonl(run_dir / "pairs.jsonl")) if (run_dir / "pairs.jsonl").exists() else []
    figures = list(read_jsonl(run_dir / "figures.jsonl")) if (run_dir / "figures.jsonl").exists() else []
    by_paper: dict[str, tuple[list, list]] = {}
    for p in pairs:
        by_paper.setdefault(p.get("paper_id"), ([], []))[0].append(p)
    for f in figures:
        by_paper.setdefault(f.get("paper_id"), ([], []))[1].append(f)
    rows: list[Any] = []
    tagger = llm_tagger(settings, run_dir)
    try:
        for key in sorted(by_paper, key=str):
            r, _ = tag_paper(*by_paper[key], settings, run_dir, tagger=tagger)
            rows += r
    finally:
        if tagger is not None:
            tagger.close()
    return rows
