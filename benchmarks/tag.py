"""Tagging benchmark: modality / anatomy per gold panel from text only, image only and both; the
"brain MRI/CT" selection; and the time tagging adds to a parse -> export run.

    python benchmarks/tag.py [--run RUN_DIR] [--gold eval/tag/panels_batch01.jsonl ...] [--timing]
    python benchmarks/tag.py --tagger llm --llm-url http://127.0.0.1:8000/v1 --llm-model NAME [--prompt tag/fewshot@1]

RUN_DIR is a parse -> split -> align run over ../shared/corpus (made when missing:
`medvl run --pdfs ../shared/corpus -s parse,split,align -o RUN_DIR`, ~3 min on 2 cores).  Gold rows
(eval/tag/, README there) name a paper folder, a figure label, panel boxes (fractions of the rendered
figure) and per-panel modality/anatomy.  Each gold panel is matched to medvl's figure (same paper
folder, same figure number) and to the pair whose panel box overlaps it most (IoU >= 0.5); a
single-panel figure uses its whole caption.  Text only: the tagger on that pair's words (none when
no pair matched) with the caption context; image only: the classifier on the gold box cropped from
medvl's figure image; both: the stage's combination.  The image model is by default trained afresh
without the gold papers (--shipped-image-model uses medvl/tag/models/image_v1.json, whose weak labels
came from the whole corpus, gold papers included).

--tagger llm|both replaces the text side by the LLM tagger (medvl/tag/llm.py) on the same words (the
pair's text and the caption context): "text" then means the model's answer (both: added to the lexicon's
evidence), a row whose answer failed keeps the lexicon's tags and is counted.  It needs a served model
(--llm-url, or $MEDVL_LLM_URL); answers are cached in RUN_DIR/.cache/llm-tag-bench.sqlite.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from medvl.records import Figure, Pair  # noqa: E402
from medvl.runs import read_jsonl  # noqa: E402
from medvl.tag.combine import _field  # noqa: E402
from medvl.tag.image import features_from_array, load_model  # noqa: E402
from medvl.tag.stage import TagSettings, figure_context  # noqa: E402
from medvl.tag.paper_context import borrow, figure_votes  # noqa: E402
from medvl.tag.text import tag_text  # noqa: E402

SELECT = {"modality": {"mri", "ct"}, "anatomy": {"brain"}}
KEEP_CONFIDENCE = 0.7  # as configs/brain-mri.yaml


def _num(label: str | None) -> str | None:
    m = re.search(r"(S?\d+)", label or "")
    return m.group(1) if m else None


def _paper_key(source: str) -> str | None:
    m = re.search(r"corpus/([^/]+/[^/]+)/", source)
    return m.group(1) if m else None


def _iou(a, b) -> float:
    x0, y0, x1, y1 = max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])
    inter = max(0, x1 - x0) * max(0, y1 - y0)
    u = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / u if u > 0 else 0.0


def ensure_run(run: Path) -> None:
    if (run / "pairs.jsonl").exists():
        return
    import subprocess

    corpus = ROOT.parent / "shared" / "corpus"
    print(f"building {run} from {corpus} (parse, split, align) ...", file=sys.stderr)
    subprocess.run([sys.executable, "-m", "medvl", "run", "--pdfs", str(corpus), "-s", "parse,split,align",
                    "-o", str(run), "-q"], check=True, cwd=ROOT)


def load_gold(paths: list[Path]) -> list[dict]:
    out = []
    for p in paths:
        for i, row in enumerate(read_jsonl(p)):
            for k, (box, tags) in enumerate(zip(row["boxes"], row["panel_tags"])):
                out.append({"batch": p.stem, "paper": row["paper"], "label": row["label"], "n": row["panels"],
                            "k": k, "box": box, "modality": tags["modality"], "anatomy": tags["anatomy"],
                            "sequence": tags.get("sequence")})
    return out


def index_run(run: Path):
    figs: dict[tuple[str, str], Figure] = {}
    for r in read_jsonl(run / "figures.jsonl"):
        f = Figure.model_validate(r)
        key = (_paper_key(f.source) or "", _num(f.label) or "")
        if f.image and (key not in figs or (figs[key].page is None and f.page is not None)):
            figs[key] = f
    pairs: dict[str, list[Pair]] = defaultdict(list)
    for r in read_jsonl(run / "pairs.jsonl"):
        p = Pair.model_validate(r)
        pairs[p.figure_id].append(p)
    return figs, pairs


def gold_words(gold: list[dict], figs, pairs, cover: Counter) -> list[tuple[Figure | None, str, str | None]]:
    """Per gold panel: medvl's figure, the matched pair's words (or the caption) and the caption context."""
    out: list[tuple[Figure | None, str, str | None]] = []
    for g in gold:
        f = figs.get((g["paper"], _num(g["label"]) or ""))
        if f is None:
            cover["no_figure"] += 1
            out.append((None, "", None))
            continue
        fp = pairs.get(f.figure_id, [])
        own = None
        if g["n"] == 1 and len(fp) <= 1:
            own = fp[0].text if fp else f.caption
            ctx = None if fp and fp[0].method == "whole" or not fp else figure_context(f.caption, [own])
            cover["single_panel"] += 1
        else:
            W, H = f.width or 1, f.height or 1
            best, best_iou = None, 0.0
            panels = {pn.panel_id: pn for pn in f.panels}
            for p in fp:
                pn = panels.get(p.panel_id or "")
                if pn is None:
                    continue
                b = [pn.bbox[0] / W, pn.bbox[1] / H, pn.bbox[2] / W, pn.bbox[3] / H]
                iou = _iou(b, g["box"])
                if iou > best_iou:
                    best, best_iou = p, iou
            ctx = figure_context(f.caption, [p.text for p in fp if p.method != "whole"])
            if best is not None and best_iou >= 0.5:
                own = best.text
                cover["matched_pair"] += 1
            else:
                own = ""
                cover["caption_only"] += 1
        out.append((f, own, ctx))
    return out


def llm_tags(words: list[tuple], tagger, mode: str, cover: Counter) -> list:
    """The LLM tagger's tags for each gold panel's words (None where it did not answer: the lexicon's stand)."""
    from medvl.tag.llm import answer_tags
    from medvl.tag.vocab import load_vocab

    vocab = load_vocab()
    qs = [tagger.question(vocab, str(i), own, ctx) if f is not None else None for i, (f, own, ctx) in enumerate(words)]
    asked = [q for q in qs if q is not None]
    results = iter(tagger.ask(asked))
    out = []
    for q, (f, own, ctx) in zip(qs, words):
        res = next(results) if q is not None else None
        if res is None or res.value is None:
            cover["llm_fallback" if f is not None else "llm_not_asked"] += 1
            out.append(None)
        else:
            cover["llm_answered"] += 1
            out.append(answer_tags(res.value, tag_text(own, ctx, references=f.references), mode))
    return out


def paper_votes(gold: list[dict], figs, pairs) -> dict[str, dict[str, str]]:
    """paper id -> figure id -> body part, from every pair of the gold papers' figures in the run (the
    words the tag stage reads, so the benchmark borrows what the stage borrows)."""
    out: dict[str, dict[str, str]] = {}
    papers = {g["paper"] for g in gold}
    for (paper, _), f in figs.items():
        if paper not in papers:
            continue
        fp = pairs.get(f.figure_id, [])
        ctx = figure_context(f.caption, [p.text for p in fp if p.method != "whole"])
        texts = [tag_text(p.text, None if p.method == "whole" else ctx, references=f.references) for p in fp]
        if not fp:
            texts = [tag_text(f.caption, None, references=f.references)]
        out.setdefault(f.paper_id, {}).update(figure_votes(texts, [f.figure_id] * len(texts)))
    return out


def predict(gold: list[dict], run: Path, model, settings: TagSettings, tagger=None) -> tuple[list[dict], Counter]:
    from PIL import Image

    figs, pairs = index_run(run)
    cover = Counter()
    out = []
    img_cache: dict[str, np.ndarray] = {}
    words = gold_words(gold, figs, pairs, cover)
    llm = llm_tags(words, tagger, settings.tagger, cover) if tagger is not None else [None] * len(words)
    votes = paper_votes(gold, figs, pairs)
    for g, (f, own, ctx), lt in zip(gold, words, llm):
        pred = {"text": {}, "image": {}, "both": {}}
        if f is None:
            out.append({**g, "pred": pred})
            continue
        tt = lt if lt is not None else tag_text(own, ctx, references=f.references)
        tt = borrow(tt, f.figure_id, votes.get(f.paper_id, {}))  # as the tag stage does (paper_context)
        probs = None
        if model is not None:
            path = run / f.image
            if str(path) not in img_cache:
                img_cache[str(path)] = np.asarray(Image.open(path).convert("RGB"), dtype=np.float32) / 255.0
            a = img_cache[str(path)]
            h, w = a.shape[:2]
            x0, y0, x1, y1 = g["box"]
            crop = a[int(y0 * h):max(int(y1 * h), int(y0 * h) + 2), int(x0 * w):max(int(x1 * w), int(x0 * w) + 2)]
            im = Image.fromarray((crop * 255).astype(np.uint8))
            size = im.size
            im.thumbnail((128, 128))
            probs = model.predict_features(features_from_array(np.asarray(im, dtype=np.float32) / 255.0, size))
        for field in ("modality", "anatomy"):
            tr = getattr(tt, field)
            pred["text"][field] = (tr.value, tr.probs)
            if probs is not None and field in probs:
                ip = probs[field]
                best_c = max(ip, key=ip.get)
                pred["image"][field] = (best_c, ip)
                use = probs if tt.modality.confidence < settings.image_below else {}
                share = 1.0 if field == "modality" else 0.5
                ft, _ = _field(tr, use.get(field), settings.image_weight * share, field)
                pred["both"][field] = (ft.value, ft.probs)
            else:
                pred["image"][field] = (None, {})
                pred["both"][field] = (tr.value, tr.probs)
        out.append({**g, "pred": pred})
    return out, cover


def prf(rows: list[dict], mode: str, field: str) -> dict[str, tuple[float, float, int, int]]:
    classes = sorted({r[field] for r in rows} | {r["pred"][mode].get(field, (None,))[0] for r in rows} - {None})
    res = {}
    for c in classes:
        tp = sum(1 for r in rows if r[field] == c and r["pred"][mode].get(field, (None,))[0] == c)
        npred = sum(1 for r in rows if r["pred"][mode].get(field, (None,))[0] == c)
        ngold = sum(1 for r in rows if r[field] == c)
        res[c] = (tp / npred if npred else float("nan"), tp / ngold if ngold else float("nan"), npred, ngold)
    return res


def accuracy(rows: list[dict], mode: str, field: str) -> float:
    return sum(1 for r in rows if r["pred"][mode].get(field, (None,))[0] == r[field]) / max(1, len(rows))


def selection(rows: list[dict], mode: str, want: dict[str, set[str]]) -> tuple[int, int, int]:
    """(selected, gold positives, true positives) with the export filter's rule (set probability)."""
    sel = gold = tp = 0
    for r in rows:
        is_gold = all(r[f] in vals for f, vals in want.items())
        ok = True
        for f, vals in want.items():
            value, probs = r["pred"][mode].get(f, (None, {}))
            if value is None or sum(p for k, p in probs.items() if k in vals) < KEEP_CONFIDENCE:
                ok = False
        sel += ok
        gold += is_gold
        tp += ok and is_gold
    return sel, gold, tp


def _f(x: float) -> str:
    return "  -  " if x != x else f"{x:.3f}"


def report(rows: list[dict], title: str) -> None:
    print(f"\n=== {title}: {len(rows)} gold panels")
    for mode in ("text", "image", "both"):
        for field in ("modality", "anatomy"):
            print(f"[{mode:5}] {field:8} accuracy {accuracy(rows, mode, field):.3f}   "
                  + "  ".join(f"{c} P {_f(p)} R {_f(r)} ({npred}/{ngold})"
                              for c, (p, r, npred, ngold) in prf(rows, mode, field).items()))
    for name, want in (("brain MRI/CT", SELECT), ("MRI/CT (any anatomy)", {"modality": {"mri", "ct"}})):
        for mode in ("text", "image", "both"):
            sel, gold, tp = selection(rows, mode, want)
            p = tp / sel if sel else float("nan")
            r = tp / gold if gold else float("nan")
            print(f"selection {name:22} [{mode:5}] selected {sel:3d}, gold {gold:3d}, correct {tp:3d}: "
                  f"precision {_f(p)} recall {_f(r)}")


def timing(run: Path) -> None:
    """Tag (forced) and export on the run; parse/split/align seconds as recorded in its run.json."""
    from medvl.config import RunConfig
    from medvl.pipeline import run_pipeline

    rec = json.loads((run / "run.json").read_text())["pipeline"]["stages"]
    before = {k: rec[k]["seconds"] for k in ("parse", "split", "align") if k in rec}
    cfg = RunConfig(inputs={"pdfs": str(ROOT.parent / "shared" / "corpus")},
                    stages={"parse": {}, "split": {}, "align": {}, "tag": {}, "export": {"variants": ["aligned"]}})
    cfg.executor.workers = 1
    res = run_pipeline(cfg, run, only=["tag", "export"], force=["tag"])
    t_tag, t_exp = res.stage("tag").seconds, res.stage("export").seconds
    base = sum(before.values()) + t_exp
    print(f"\ntiming (workers 1): parse {before.get('parse', 0):.1f} s + split {before.get('split', 0):.1f} s + "
          f"align {before.get('align', 0):.1f} s + export {t_exp:.1f} s = {base:.1f} s; tag {t_tag:.1f} s "
          f"({res.stage('tag').records} rows) = {100 * t_tag / base:.1f}% added")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", type=Path, default=Path("/tmp/medvl-bench-tag/corpus"))
    # one annotator per figure: the first annotator's batches (panels_hindawi_batch* are a second opinion
    # on the same hindawi figures as batches 04-08; pass them with --gold to score against it)
    ap.add_argument("--gold", type=Path, nargs="*", default=sorted((ROOT / "eval" / "tag").glob("panels_batch*.jsonl")))
    ap.add_argument("--shipped-image-model", action="store_true",
                    help="use medvl/tag/models/image_v1.json (trained on weak labels of the whole corpus)")
    ap.add_argument("--timing", action="store_true", help="also time the tag stage against parse -> export")
    ap.add_argument("--image-below", type=float, nargs="*", default=None,
                    help="image_below values to compare (default: the stage's)")
    ap.add_argument("--summary", action="store_true", help="only the all-batches figures")
    ap.add_argument("--tagger", choices=("text", "llm", "both"), default="text",
                    help="the text side: the lexicon, the LLM tagger, or both (llm/both need a served model)")
    ap.add_argument("--prompt", default="tag/fewshot@1")
    ap.add_argument("--llm-url", default=os.environ.get("MEDVL_LLM_URL"))
    ap.add_argument("--llm-model", default=os.environ.get("MEDVL_LLM_MODEL", "smollm2-135m"))
    args = ap.parse_args()
    tagger = None
    if args.tagger != "text":
        if not args.llm_url:
            ap.error(f"--tagger {args.tagger} needs a served model: --llm-url (or $MEDVL_LLM_URL)")
        from medvl.llm.client import LLMSettings
        from medvl.tag.llm import LLMTagger

        tagger = LLMTagger(LLMSettings(url=args.llm_url, model=args.llm_model, timeout_s=300,
                                       cache_path=args.run / ".cache" / "llm-tag-bench.sqlite"), args.prompt)
        tagger.llm.check_server()
        print(f"text side: LLM tagger {tagger.prompt.ref} ({tagger.prompt.short_sha}) on {args.llm_model}"
              f"{' + lexicon' if args.tagger == 'both' else ''}")
    ensure_run(args.run)
    gold = load_gold(args.gold)
    settings = TagSettings()
    if args.shipped_image_model:
        model = load_model()
        corpus = ROOT.parent / "shared" / "corpus"
        seen = sorted({g["paper"] for g in gold if (corpus / g["paper"]).is_dir()})
        print("image model: shipped (trained on weak labels of ../shared/corpus); "
              + (f"{len(seen)} gold papers are from there, so their captions were among its weak labels"
                 if seen else "no gold paper is from there"))
    else:
        from medvl.tag.train import train_image_model

        figs, _ = index_run(args.run)
        gold_papers = {figs[k].paper_id for k in figs if k[0] in {g["paper"] for g in gold}}
        tmp = Path(tempfile.mkdtemp()) / "image.json"
        rep = train_image_model([args.run], tmp, exclude_papers=gold_papers)
        model = load_model(tmp)
        print(f"image model: trained without the {len(gold_papers)} gold papers "
              f"(held-out accuracy on weak labels: modality {rep.heldout.get('modality', {}).get('accuracy')})")
    for below in (args.image_below or [settings.image_below]):
        settings = TagSettings(image_below=below, tagger=args.tagger)
        t = time.time()
        rows, cover = predict(gold, args.run, model, settings, tagger)
        print(f"\nimage_below {below}; matched: {dict(cover)} ({time.time() - t:.1f} s)")
        if not args.summary:
            for batch in sorted({r["batch"] for r in rows}):
                report([r for r in rows if r["batch"] == batch], batch)
        if len({r["batch"] for r in rows}) > 1:
            report(rows, "all batches")
    if args.timing:
        timing(args.run)


if __name__ == "__main__":
    main()
