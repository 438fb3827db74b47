"""Evaluation: retrieval, zero-shot, LLM judge and reports.

`evaluate()` scores one CLIP checkpoint on one split of an exported DATA_DIR:
image->text and text->image retrieval (recall@1/5/10, mean/median rank) and zero-shot
classification from a suite file, where the export metadata carries labels.  It writes
OUT/metrics.json, OUT/metrics.md, OUT/predictions.jsonl (one row per pair),
OUT/neighbours.jsonl (the top-k captions each test image retrieves, read by
`medvl judge --what retrieval`) and OUT/rejects.jsonl (pairs whose image could not be read).
Every result names the checkpoint (sha256), the data (manifest sha256) and the code (medvl
version, git hash).

This package must import without torch: torch and open_clip are imported inside functions.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medvl.errors import InputError, MedvlError
from medvl.progress import ProgressFn, no_progress
from medvl.versioning import stage_version

STAGE = "eval"
STAGE_VERSION = stage_version(STAGE)  # derived from the eval code (medvl/versioning.py)
TOOLS = ("torch", "torchvision", "open_clip_torch", "numpy")
METADATA_CANDIDATES = ("{split}.jsonl", "{split}.metadata.jsonl", "metadata/{split}.jsonl",
                       "{split}_metadata.jsonl", "metadata.jsonl")


# ---------------------------------------------------------------- data

@dataclass
class EvalItem:
    image: Path
    text: str
    filepath: str  # as written in the CSV
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def pair_id(self) -> str | None:
        return self.meta.get("pair_id")


def _metadata_rows(data_dir: Path, split: str) -> tuple[list[dict], Path | None]:
    from medvl.runs import read_jsonl

    for pattern in METADATA_CANDIDATES:
        path = data_dir / pattern.format(split=split)
        if path.is_file():
            rows = list(read_jsonl(path))
            if pattern == "metadata.jsonl":
                rows = [r for r in rows if r.get("split") in (None, split)]
            return rows, path
    return [], None


def load_split(data_dir: str | Path, split: str = "test") -> tuple[list[EvalItem], Path | None]:
    """The pairs of DATA_DIR/<split>.csv, each joined with its metadata row when there is one.

    Metadata rows are matched on their image path (`filepath` or `image`); when the file has no
    such field, by position if it has exactly one row per CSV row.
    """
    from medvl.train import read_split_csv, resolve_image

    data_dir = Path(data_dir)
    rows = read_split_csv(data_dir / f"{split}.csv")
    meta_rows, meta_path = _metadata_rows(data_dir, split)
    by_path: dict[str, dict] = {}
    for m in meta_rows:
        for key in ("filepath", "image", "image_path"):
            if isinstance(m.get(key), str):
                by_path.setdefault(m[key], m)
                break
    positional = not by_path and len(meta_rows) == len(rows)
    items = []
    for i, r in enumerate(rows):
        meta = by_path.get(r["filepath"]) or (meta_rows[i] if positional else {})
        items.append(EvalItem(image=resolve_image(data_dir, r["filepath"]), text=r["title"] or "",
                              filepath=r["filepath"], meta=dict(meta)))
    return items, meta_path


# ---------------------------------------------------------------- model

@dataclass
class LoadedModel:
    model: Any
    preprocess: Any
    tokenizer: Any
    name: str
    checkpoint: Path
    sha256: str
    epoch: int | None
    train_record: dict
    device: str


def resolve_checkpoint(checkpoint: str | Path) -> tuple[Path, dict]:
    """A checkpoint file, or a `medvl train` output folder (its latest checkpoint) + its train record."""
    from medvl.train import latest_checkpoint, read_train_record

    p = Path(checkpoint)
    if p.is_dir():
        ckpt = latest_checkpoint(p)
        if ckpt is None:
            raise InputError(str(p), "no_checkpoint", "folder holds no checkpoints/epoch_*.pt")
        return ckpt.resolve(), read_train_record(p)
    if not p.is_file():
        raise InputError(str(p), "missing", "checkpoint not found")
    rec = read_train_record(p.parent.parent) if p.parent.name == "checkpoints" else {}
    return p.resolve(), rec


def load_model(checkpoint: str | Path, model: str | None = None, device: str = "cpu") -> LoadedModel:
    """Load a CLIP checkpoint with open_clip, offline; the model name comes from the train record."""
    import os

    for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        os.environ.setdefault(var, "1")
    from medvl.errors import require

    require("open_clip", STAGE, "train")
    import open_clip
    import torch

    from medvl.records import sha256_file
    from medvl.train import register_models

    ckpt, record = resolve_checkpoint(checkpoint)
    name = model or record.get("model")
    if not name:
        raise InputError(str(ckpt), "unknown_model",
                         "no medvl_train.json beside this checkpoint: name the architecture with --model")
    if name not in register_models():
        raise MedvlError(f"unknown model '{name}' (not in models/ nor open_clip's configs)")
    try:
        net, _, preprocess = open_clip.create_model_and_transforms(name, pretrained=str(ckpt), device=device)
    except RuntimeError as exc:
        raise InputError(str(ckpt), "bad_checkpoint", f"cannot load into {name}: {exc}") from exc
    net.eval()
    epoch = None
    try:
        meta = torch.load(ckpt, map_location="cpu", weights_only=True)
        epoch = meta.get("epoch") if isinstance(meta, dict) else None
    except Exception:  # the weights loaded above; the epoch is only a label
        epoch = None
    return LoadedModel(model=net, preprocess=preprocess, tokenizer=open_clip.get_tokenizer(name), name=name,
                       checkpoint=ckpt, sha256=sha256_file(ckpt), epoch=epoch, train_record=record,
                       device=device)


def encode_texts(lm: LoadedModel, texts: list[str], batch_size: int = 128) -> "Any":
    import numpy as np
    import torch

    feats = []
    with torch.no_grad():
        for i in range(0, len(texts), batch_size):
            tok = lm.tokenizer(texts[i:i + batch_size]).to(lm.device)
            feats.append(lm.model.encode_text(tok, normalize=True).float().cpu().numpy())
    return np.concatenate(feats) if feats else np.zeros((0, 0))


def encode_items(lm: LoadedModel, items: list[EvalItem], batch_size: int = 64,
                 progress: ProgressFn = no_progress) -> tuple[Any, Any, list[EvalItem], list[dict]]:
    """Image and text features of the readable items; unreadable images become reject rows."""
    import numpy as np
    import torch
    from PIL import Image, UnidentifiedImageError

    from medvl.records import Reject

    kept: list[EvalItem] = []
    rejects: list[dict] = []
    img_feats, txt_feats = [], []
    progress(0, total=len(items))
    for i in range(0, len(items), batch_size):
        batch, tensors = [], []
        for it in items[i:i + batch_size]:
            try:
                with Image.open(it.image) as im:
                    tensors.append(lm.preprocess(im.convert("RGB")))
                batch.append(it)
            except (OSError, UnidentifiedImageError, ValueError) as exc:
                rejects.append(Reject(stage=STAGE, source=str(it.image), id=it.pair_id, reason="unreadable_image",
                                      detail=f"{it.image}: {exc}", paper_id=it.meta.get("paper_id")
                                      ).model_dump())
        if batch:
            with torch.no_grad():
                x = torch.stack(tensors).to(lm.device)
                img_feats.append(lm.model.encode_image(x, normalize=True).float().cpu().numpy())
            txt_feats.append(encode_texts(lm, [b.text for b in batch], batch_size))
            kept += batch
        progress(min(batch_size, len(items) - i))
    if not kept:
        return np.zeros((0, 0)), np.zeros((0, 0)), kept, rejects
    return np.concatenate(img_feats), np.concatenate(txt_feats), kept, rejects


# ---------------------------------------------------------------- evaluate

def item_label(item: EvalItem, fields: list[str]) -> str | None:
    for f in fields:
        v = item.meta.get(f)
        if isinstance(v, str) and v:
            return v
    return None


def run_zeroshot(lm: LoadedModel, img_feats: Any, items: list[EvalItem], suite_ref: str | Path) -> tuple[dict, list]:
    """Zero-shot metrics over the items whose label maps to a suite class; per-item predictions."""
    import numpy as np

    from medvl.evaluate import zeroshot as zs

    suite, suite_sha = zs.load_suite(suite_ref)
    ids = [c.id for c in suite.classes]
    labels = [item_label(it, suite.label_fields) for it in items]
    mapped = [suite.class_of(lab) for lab in labels]
    unmapped: dict[str, int] = {}
    for lab, cid in zip(labels, mapped):
        if lab is not None and cid is None:
            unmapped[lab] = unmapped.get(lab, 0) + 1
    info = {"suite": suite.id, "suite_version": suite.version, "suite_sha256": suite_sha,
            "label_fields": suite.label_fields, "n_unlabeled": sum(lab is None for lab in labels),
            "unmapped_labels": unmapped}
    idx = [i for i, cid in enumerate(mapped) if cid is not None]
    preds: list[str | None] = [None] * len(items)
    if not idx:
        return {**info, "n": 0, "accuracy": None, "note": "no labeled images in this split"}, preds
    weights = zs.class_weights([encode_texts(lm, p) for p in zs.prompts_for(suite)])
    pred = zs.classify(img_feats[idx], weights)
    truth = np.array([ids.index(mapped[i]) for i in idx])
    for j, i in enumerate(idx):
        preds[i] = ids[int(pred[j])]
    return {**info, **zs.zeroshot_metrics(pred, truth, ids)}, preds


def model_label(checkpoint: str | Path) -> str:
    """A short name for a checkpoint: its `medvl train` folder's name (train/aligned -> 'aligned')."""
    p = Path(checkpoint)
    if p.is_dir():
        return p.resolve().name
    if p.parent.name == "checkpoints":
        return p.resolve().parent.parent.name
    return p.stem


def neighbour_rows(img: Any, txt: Any, items: list[EvalItem], k: int, label: str,
                   gold_ranks: list[int] | None = None) -> list[dict]:
    """Image -> text top-k of every item, as rows of the neighbours file the retrieval judge reads.

    Ids are the pair ids of export's metadata (the file path when a row has none); texts are
    inline, so the file stands on its own, and the judge also finds them by id in pairs.jsonl.
    Identical texts count once (as in the metrics); `match` marks the query's own text.
    """
    from medvl.evaluate.retrieval import text_groups, top_neighbours

    texts = [it.text for it in items]
    ids = [it.pair_id or it.filepath for it in items]
    groups = text_groups(texts)
    rows = []
    for i, top in enumerate(top_neighbours(img, txt, texts, k)):
        row = {"query_id": ids[i], "model": label, "direction": "image_to_text", "query_text": texts[i],
               "paper_id": items[i].meta.get("paper_id"),
               "topk": [{"id": ids[j], "text": texts[j], "score": round(score, 6),
                         "match": bool(groups[j] == groups[i])} for j, score in top]}
        if gold_ranks is not None:
            row["gold_rank"] = int(gold_ranks[i])
        rows.append(row)
    return rows


def code_versions() -> dict[str, Any]:
    from medvl import __version__
    from medvl.runs import git_hash, tool_versions

    return {"medvl": __version__, "git_hash": git_hash(), **tool_versions(TOOLS)}


def evaluate(checkpoint: str | Path, data_dir: str | Path, *, suite: str | Path | None = "brain",
             split: str = "test", out: str | Path | None = None, model: str | None = None,
             device: str = "cpu", batch_size: int = 64, progress: ProgressFn = no_progress,
             lm: LoadedModel | None = None, threads: int | None = None, neighbours_k: int = 5,
             label: str | None = None) -> dict:
    """Retrieval (and zero-shot when `suite` is given) on DATA_DIR/<split>.csv; see the module doc.

    `threads` caps torch's CPU threads for this process (torch.set_num_threads).
    `neighbours_k` captions per test image go to OUT/neighbours.jsonl (0: no file), each row
    naming the model by `label` (default: the checkpoint's train folder name, see model_label).
    """
    from medvl.evaluate.retrieval import retrieval_metrics
    from medvl.train import load_data_manifest

    data_dir = Path(data_dir).resolve()
    if not data_dir.is_dir():
        raise InputError(str(data_dir), "missing", "data folder not found (run `medvl export` first)")
    items, meta_path = load_split(data_dir, split)
    if not items:
        raise InputError(str(data_dir / f"{split}.csv"), "empty", "no pairs in this split")
    manifest, manifest_sha = load_data_manifest(data_dir)
    if threads:
        import torch

        torch.set_num_threads(threads)
    lm = lm or load_model(checkpoint, model=model, device=device)

    t0 = time.time()
    img, txt, kept, rejects = encode_items(lm, items, batch_size=batch_size, progress=progress)
    encode_s = time.time() - t0
    if not kept:
        raise InputError(str(data_dir / f"{split}.csv"), "no_readable_images", "no image of this split could be read")
    texts = [it.text for it in kept]
    ret = retrieval_metrics(img, txt, texts)
    ranks = ret.pop("ranks")
    zs_metrics, zs_pred = (run_zeroshot(lm, img, kept, suite) if suite else (None, [None] * len(kept)))

    tr = lm.train_record
    metrics = {
        "stage": STAGE,
        "stage_version": STAGE_VERSION,
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "checkpoint": {"path": str(lm.checkpoint), "sha256": lm.sha256, "model": lm.name, "epoch": lm.epoch,
                       "trained_on": (tr.get("data") or {}).get("dir"),
                       "trained_on_manifest_sha256": (tr.get("data") or {}).get("manifest_sha256"),
                       "train_settings": tr.get("settings")},
        "data": {"dir": str(data_dir), "split": split, "csv": str(data_dir / f"{split}.csv"),
                 "metadata": str(meta_path) if meta_path else None, "manifest_sha256": manifest_sha,
                 "pairs": manifest.get("pairs"), "n_rows": len(items), "n_evaluated": len(kept),
                 "n_rejected": len(rejects)},
        "code": code_versions(),
        "retrieval": ret,
        "zeroshot": zs_metrics,
        "timing": {"encode_seconds": round(encode_s, 3),
                   "pairs_per_second": round(len(kept) / encode_s, 2) if encode_s > 0 else None,
                   "device": device},
    }
    if out is not None:
        neighbours = None
        if neighbours_k > 0:
            neighbours = neighbour_rows(img, txt, kept, neighbours_k, label or model_label(lm.checkpoint),
                                        ranks["image_to_text"])
            metrics["neighbours"] = {"file": "neighbours.jsonl", "k": neighbours_k,
                                     "model": label or model_label(lm.checkpoint), "direction": "image_to_text",
                                     "queries": len(neighbours)}
        write_results(Path(out), metrics, kept, ranks, zs_pred, rejects, neighbours)
    return metrics


def write_results(out: Path, metrics: dict, items: list[EvalItem], ranks: dict, zs_pred: list,
                  rejects: list[dict], neighbours: list[dict] | None = None) -> None:
    from medvl.runs import atomic_write_text, write_jsonl

    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "metrics.json", json.dumps(metrics, indent=2, sort_keys=True))
    atomic_write_text(out / "metrics.md", markdown(metrics))
    fields = (metrics.get("zeroshot") or {}).get("label_fields") or []
    rows = ({"pair_id": it.pair_id, "paper_id": it.meta.get("paper_id"), "image": it.filepath, "text": it.text,
             "label": item_label(it, fields) if fields else None,
             "rank_image_to_text": int(ranks["image_to_text"][i]),
             "rank_text_to_image": int(ranks["text_to_image"][i]), "zeroshot_pred": zs_pred[i]}
            for i, it in enumerate(items))
    write_jsonl(out / "predictions.jsonl", rows)
    write_jsonl(out / "rejects.jsonl", rejects)
    if neighbours is not None:
        write_jsonl(out / "neighbours.jsonl", neighbours)
    else:
        (out / "neighbours.jsonl").unlink(missing_ok=True)  # not left over from an earlier run


# ---------------------------------------------------------------- markdown

def _f(v: Any, pct: bool = True) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{100 * v:.1f}" if pct else f"{v:.1f}"
    return str(v)


def markdown(m: dict) -> str:
    r = m["retrieval"]
    ck, data, code = m["checkpoint"], m["data"], m["code"]
    lines = [
        f"# Evaluation of {Path(ck['path']).name} ({ck['model']}) on {data['split']}",
        "",
        f"{r['n_pairs']} pairs ({r['n_unique_texts']} distinct texts); recall in %.",
        "",
        "| direction | R@1 | R@5 | R@10 | mean rank | median rank |",
        "|---|---|---|---|---|---|",
    ]
    for key, label in (("image_to_text", "image → text"), ("text_to_image", "text → image")):
        d = r[key]
        lines.append(f"| {label} | {_f(d['R@1'])} | {_f(d['R@5'])} | {_f(d['R@10'])} | "
                     f"{_f(d['mean_rank'], False)} | {_f(d['median_rank'], False)} |")
    c = r["chance"]
    lines.append(f"| chance | {_f(c['R@1'])} | {_f(c['R@5'])} | {_f(c['R@10'])} | - | - |")
    z = m.get("zeroshot")
    if z:
        lines += ["", f"## Zero-shot ({z['suite']} v{z['suite_version']})", ""]
        if not z.get("n"):
            lines.append(z.get("note", "no labeled images"))
        else:
            lines += [f"accuracy {_f(z['accuracy'])} %, balanced {_f(z['balanced_accuracy'])} %, "
                      f"chance {_f(z['chance_accuracy'])} %, n = {z['n']}", "",
                      "| class | n | recall % |", "|---|---|---|"]
            lines += [f"| {cid} | {v['n']} | {_f(v['recall'])} |" for cid, v in z["per_class"].items()]
    lines += ["", "## Versions", "",
              f"- checkpoint: `{ck['path']}` sha256 `{ck['sha256']}` (epoch {ck.get('epoch')})",
              f"- data: `{data['dir']}` manifest sha256 `{data['manifest_sha256']}` "
              f"(pairs: {data.get('pairs') or '?'}; {data['n_evaluated']} evaluated, {data['n_rejected']} rejected)",
              f"- code: medvl {code.get('medvl')} git `{code.get('git_hash')}`, "
              f"open_clip {code.get('open_clip_torch')}, torch {code.get('torch')}", ""]
    return "\n".join(lines)
