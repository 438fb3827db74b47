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
#: what decides a tag row: this package (code, vocabularies, shipped weights) and the record models
CODE = ("medvl.tag", "medvl.records")


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


def resolve_settings(raw: dict[str, Any]) -> dict[str, Any]:
    s = validate_model(TagSettings, raw, "stages.tag")
    load_vocab_checked(s)
    out = s.model_dump()
    out["version"] = stage_version(s)  # part of the settings, so the shard fingerprints follow it
    return out


def load_vocab_checked(settings: TagSettings) -> Any:
    from medvl.tag.vocab import load_vocab

    return load_vocab(settings.vocab)  # a pinned version that does not exist fails here, before any work


def tag_paper(pairs: list[dict], figures: list[dict], settings: TagSettings, run_dir: Path,
              tools: dict[str, str] | None = None) -> tuple[list[Any], list[Any]]:
    """Tag rows for one paper's pairs (and whole figures); rejects for rows that cannot be read."""
    from medvl.records import Figure, Pair, Provenance, Reject, pair_id, sha256_text
    from medvl.tag.combine import build_row
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

    def prov(*content: str) -> Provenance:
        return Provenance(stage=STAGE, stage_version=version, input_sha256=sha256_text("\0".join(content)),
                          tools=tools or {}, model=(f"medvl-image:{model.sha[:12]}" if model is not None else None))

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
    seen: set[str] = set()
    for p in valid:
        fig = figs.get(p.figure_id)
        caption = fig.caption if fig is not None else None
        tt = tag_text(p.text, None if p.method == "whole" else contexts.get(p.figure_id), vocab)
        rows.append(build_row(id=p.pair_id, kind="pair", paper_id=p.paper_id, figure_id=p.figure_id,
                              panel_id=p.panel_id, image=p.image, text=tt, image_probs=image_probs(p.image, p.pair_id, tt),
                              refs=vocab.refs, provenance=prov(p.text, caption or "", p.image),
                              image_weight=settings.image_weight))
        seen.add(p.pair_id)
    if settings.figures:
        for f in sorted(figs.values(), key=lambda f: (f.index, f.figure_id)):
            fid = pair_id(f.figure_id, None, 0)
            if fid in seen or not f.image:
                continue
            tt = tag_text(f.caption, None, vocab)
            rows.append(build_row(id=fid, kind="figure", paper_id=f.paper_id, figure_id=f.figure_id, panel_id=None,
                                  image=f.image, text=tt, image_probs=image_probs(f.image, fid, tt), refs=vocab.refs,
                                  provenance=prov(f.caption, f.image), image_weight=settings.image_weight))
    return rows, rejects


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
    for key in sorted(by_paper, key=str):
        r, _ = tag_paper(*by_paper[key], settings, run_dir)
        rows += r
    return rows
