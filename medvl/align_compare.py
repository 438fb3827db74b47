"""Compare aligners and align prompts on a figure gold: detected panels, subcaptions, the right pairing.

A figure gold is JSONL, one figure per line (no caption text is needed, only the subcaptions align sees)::

    {"figure_id": "...", "width": 1200, "height": 800,
     "panels": [{"panel_id": "...", "bbox": [x0, y0, x1, y1], "label": "A" | null,
                 "label_source": "pdf_text" | "ocr" | "order" | null}],
     "subcaptions": [{"label": "_shared" | "A" | ..., "text": "..."}],
     "pairs": {"A": "<panel_id>" | null, ...}}          # the correct panel of each labelled subcaption

`pairs` names, for every labelled subcaption, the detected panel it describes (null: none of the
detected panels).  A system's pair is correct when its panel is the gold panel of its label.
Scores: pair precision (correct / pairs made), pair recall (correct / gold pairs with a panel), figures
all right, and for LLM systems the accepted-answer rate, fallbacks, latency and tokens.
`synth_figure_gold` builds such a gold from a parsed synthetic corpus (known answers), with seeded
perturbations that make the rules give up (letters not read, a panel not found).
"""

from __future__ import annotations

import json
import random
import statistics
import time
from collections import Counter
from pathlib import Path
from typing import Any

from medvl.errors import InputError
from medvl.progress import ProgressFn, no_progress
from medvl.records import Figure, Panel, Provenance, SplitRow, Subcaption, sha256_text

GOLD_IMAGE = "(gold: no image)"  # panels of a gold figure carry no image: align_figure only names it
_PROV = Provenance(stage="gold", stage_version="0", input_sha256="0" * 64)


def load_figure_gold(path: str | Path, limit: int | None = None) -> list[dict]:
    from medvl.runs import read_jsonl

    path = Path(path)
    if not path.exists():
        raise InputError(str(path), "missing", "no such figure gold file")
    rows = []
    for i, row in enumerate(read_jsonl(path), 1):
        if not isinstance(row, dict) or not row.get("figure_id") or not isinstance(row.get("panels"), list) \
                or not isinstance(row.get("subcaptions"), list) or not isinstance(row.get("pairs"), dict):
            raise InputError(str(path), "bad_gold", f"line {i}: a figure gold row needs figure_id, panels, "
                                                    "subcaptions and pairs")
        rows.append(row)
        if limit and len(rows) >= limit:
            break
    if not rows:
        raise InputError(str(path), "empty", "the figure gold file has no rows")
    return rows


def gold_figure(row: dict) -> tuple[Figure, SplitRow]:
    """The Figure and SplitRow align sees for one gold row."""
    fid = str(row["figure_id"])
    panels = [Panel(panel_id=p["panel_id"], bbox=[int(v) for v in p["bbox"]], label=p.get("label"),
                    label_source=p.get("label_source") if p.get("label") else None, image=GOLD_IMAGE)
              for p in row["panels"]]
    caption = " ".join(s["text"] for s in row["subcaptions"])
    fig = Figure(paper_id=str(row.get("paper_id") or "gold"), figure_id=fid, source="gold", page=None,
                 label=None, caption=caption or "-", width=row.get("width"), height=row.get("height"),
                 panels=panels, provenance=_PROV)
    split = SplitRow(id=fid, caption_sha256=sha256_text(caption),
                     subcaptions=[Subcaption(label=s["label"], text=s["text"]) for s in row["subcaptions"]],
                     splitter="rules", provenance=_PROV)
    return fig, split


def score_pairs(gold: list[dict], pairs: list) -> dict[str, Any]:
    from medvl.align import norm_label

    want: dict[str, dict[str, str | None]] = {
        str(g["figure_id"]): {norm_label(k) or k: v for k, v in g["pairs"].items()} for g in gold}
    made = correct = 0
    by_method = {"rules": [0, 0], "llm": [0, 0]}  # [made, correct]: the rule path and the model's pairs
    by_fig: dict[str, list[bool]] = {}
    for p in pairs:
        d = p.model_dump() if hasattr(p, "model_dump") else p
        if d.get("panel_id") is None or d["figure_id"] not in want:
            continue
        made += 1
        ok = want[d["figure_id"]].get(d.get("label")) == d["panel_id"]
        correct += ok
        side = by_method["llm" if d.get("method") == "llm" else "rules"]
        side[0] += 1
        side[1] += ok
        by_fig.setdefault(d["figure_id"], []).append(ok)
    n_gold = sum(1 for w in want.values() for v in w.values() if v)
    exact = sum(1 for fid, w in want.items()
                if sum(by_fig.get(fid, [])) == sum(1 for v in w.values() if v) and all(by_fig.get(fid, [True])))
    return {"pairs": made, "pairs_correct": correct, "gold_pairs": n_gold,
            "pair_precision": correct / made if made else 0.0, "pair_recall": correct / n_gold if n_gold else 0.0,
            "figures_exact": exact / len(want) if want else 0.0,
            "rule_pairs": by_method["rules"][0],
            "rule_pair_precision": by_method["rules"][1] / by_method["rules"][0] if by_method["rules"][0] else 0.0,
            "llm_pairs": by_method["llm"][0],
            "llm_pair_precision": by_method["llm"][1] / by_method["llm"][0] if by_method["llm"][0] else 0.0}


def _behaviour(results: list, wall_s: float) -> dict[str, Any]:
    asked = [r for r in results if r is not None]
    answered = [r for r in asked if not r.cached]
    lat = [r.latency_s for r in answered]
    tok = [r.tokens or {} for r in answered]
    return {"asked": len(results), "accepted": sum(1 for r in asked if r.value is not None),
            "accepted_rate": (sum(1 for r in asked if r.value is not None) / len(results)) if results else 0.0,
            "fallback_reasons": dict(Counter((r.error or "").split(":")[0] for r in asked if r.value is None)),
            "unanswered": len(results) - len(asked), "cached": sum(1 for r in asked if r.cached),
            "latency_mean_s": statistics.fmean(lat) if lat else 0.0,
            "answer_tokens_per_figure": (sum(t.get("completion_tokens", 0) for t in tok) / len(tok)) if tok else 0.0,
            "tokens_per_figure": (sum(t.get("total_tokens", 0) for t in tok) / len(tok)) if tok else 0.0,
            "wall_s": wall_s}


def compare_aligners(gold_path: str | Path, prompt_refs: list[str], llm_settings=None, *,
                     aligners: tuple[str, ...] = ("rules", "llm", "auto"), out_dir: str | Path | None = None,
                     limit: int | None = None, settings_overrides: dict | None = None,
                     progress: ProgressFn = no_progress) -> dict[str, Any]:
    """Every aligner on the same gold figures, found by name in medvl.registry.ALIGNERS (a plugin's too):
    one that asks no model once, one that does once per prompt (rules once; llm and auto per prompt)."""
    import dataclasses

    from medvl.align import AlignSettings
    from medvl.align_llm import aligner_counts
    from medvl.llm.client import LLMUnavailable
    from medvl.registry import ALIGNERS

    classes = {a: ALIGNERS.get(ALIGNERS.check(a, "aligners")) for a in aligners}  # a typo fails before work
    gold = load_figure_gold(gold_path, limit)
    figs, splits = [], {}
    for g in gold:
        f, s = gold_figure(g)
        figs.append(f)
        splits[f.figure_id] = s
    llm_aligners = [a for a in aligners if classes[a].uses_llm != "none"]
    if llm_aligners and prompt_refs and llm_settings is None:
        raise InputError("--llm-url", "no_llm", "comparing align prompts needs --llm-url and --llm-model")
    out = Path(out_dir) if out_dir else None
    if llm_settings is not None and out is not None and llm_settings.cache_path is None:
        llm_settings = dataclasses.replace(llm_settings, cache_path=out / "llm-cache.sqlite")
    systems: list[dict[str, Any]] = []
    runs: list[tuple[str, str | None]] = [(a, None) for a in aligners if a not in llm_aligners]
    runs += [(a, ref) for ref in prompt_refs for a in llm_aligners]
    progress(0, total=len(runs))
    checked = False
    predictions: dict[str, list] = {}
    for aligner_name, ref in runs:
        st = AlignSettings(aligner=aligner_name, **({"prompt": ref} if ref else {}), **(settings_overrides or {}))
        asks = aligner_name in llm_aligners
        al = classes[aligner_name](st, llm_settings) if asks else classes[aligner_name](st)
        try:
            if asks and not checked:
                if (why := al.check()):  # a dead server fails here with a clear message
                    raise LLMUnavailable(why)
                checked = True
            t0 = time.perf_counter()
            done = al.align_paper(figs, splits, None, {})
            wall = time.perf_counter() - t0
        finally:
            al.close()
        name = aligner_name if ref is None else f"{aligner_name}:{ref}"
        row = {"system": name, "aligner": aligner_name, "prompt": ref, **score_pairs(gold, done.pairs),
               "figures_by_aligner": aligner_counts(done.pairs)}
        if asks:
            prompt = getattr(getattr(al, "model", None), "prompt", None)  # the built-in model aligners' prompt
            row.update(prompt_sha=prompt.sha if prompt is not None else None, model=llm_settings.model,
                       **_behaviour(done.results, wall))
        else:
            row["wall_s"] = wall
        systems.append(row)
        predictions[name] = done.pairs
        progress(1, note=name)
    report = {"gold": str(gold_path), "n_figures": len(gold),
              "llm": llm_settings.public() if llm_settings is not None else None, "systems": systems}
    if out is not None:
        from medvl.runs import atomic_write_text, safe_key, write_jsonl

        out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(out / "align_compare.json", json.dumps(report, indent=2, ensure_ascii=False))
        atomic_write_text(out / "align_compare.md", to_markdown(report))
        for name, pairs in predictions.items():
            write_jsonl(out / "predictions" / f"{safe_key(name.replace('/', '_').replace('@', '_v'))}.jsonl", pairs)
    return report


_COLS = [("pair_precision", "pair P", "{:.3f}"), ("pair_recall", "pair R", "{:.3f}"),
         ("rule_pair_precision", "P rule pairs", "{:.3f}"), ("llm_pairs", "LLM pairs", "{:.0f}"),
         ("llm_pair_precision", "P LLM pairs", "{:.3f}"),
         ("figures_exact", "figures exact", "{:.3f}"), ("pairs", "pairs", "{:.0f}"),
         ("accepted_rate", "accepted", "{:.3f}"), ("asked", "asked", "{:.0f}"),
         ("latency_mean_s", "latency s", "{:.2f}"), ("answer_tokens_per_figure", "answer tok/fig", "{:.0f}")]


def to_markdown(report: dict[str, Any]) -> str:
    lines = [f"# Aligners on {report['gold']} ({report['n_figures']} figures)", ""]
    if report.get("llm"):
        lines += [f"LLM: `{report['llm']['model']}` at {report['llm']['url']}", ""]
    lines += ["| system | " + " | ".join(c[1] for c in _COLS) + " |", "|" + "---|" * (len(_COLS) + 1)]
    for s in report["systems"]:
        cells = [fmt.format(s[k]) if k in s else "-" for k, _, fmt in _COLS]
        lines.append(f"| `{s['system']}` | " + " | ".join(cells) + " |")
    lines += ["", "pair P: correct pairs / pairs made; pair R: correct pairs / gold pairs with a panel; P rule "
              "pairs / P LLM pairs: the same over the pairs the rule path made and over the model's pairs; accepted: "
              "answers the validators accepted, of the figures asked (the rest kept the rule result).", ""]
    return "\n".join(lines)


# ---------------------------------------------------------------- a figure gold from a synthetic corpus

def synth_figure_gold(corpus_dir: str | Path, run_dir: str | Path, *, seed: int = 0, drop_letters: float = 0.3,
                      drop_panel: float = 0.2) -> list[dict]:
    """Figure gold rows from a parsed synthetic corpus: every parsed figure matched to its ground truth,
    its parsed panels with their ground-truth labels as the correct pairing, the ground-truth subcaptions.

    Seeded perturbations make the rules give up: `drop_letters` of the figures lose their detected
    letters (OCR missed them), `drop_panel` of the multi-panel figures lose one detected panel (its
    subcaption's gold pair becomes null)."""
    from medvl.align import norm_label
    from medvl.runs import read_jsonl
    from medvl.synth.corpus import load_ground_truth
    from medvl.synth.score import match_figure, match_panel

    rng = random.Random(seed)
    gt = load_ground_truth(corpus_dir)
    by_pid = {p["paper_id"]: p for p in gt["papers"]}
    rows = []
    for f in read_jsonl(Path(run_dir) / "figures.jsonl"):
        paper = by_pid.get(f["paper_id"])
        g = match_figure(f, paper) if paper else None
        if g is None or len(f.get("panels") or []) < 2:
            continue
        panels, pairs = [], {}
        for p in f["panels"]:
            gp = match_panel(p["bbox"], f.get("dpi"), g, gt["dpi"])
            panels.append({"panel_id": p["panel_id"], "bbox": p["bbox"], "label": p.get("label"),
                           "label_source": p.get("label_source")})
            if gp is not None and gp.get("label"):
                pairs[norm_label(str(gp["label"])) or str(gp["label"])] = p["panel_id"]
        subs = [s for s in g["subcaptions"]]
        labelled = [norm_label(s["label"]) or s["label"] for s in subs if s["label"] != "_shared"]
        if not labelled:
            continue
        pairs = {lab: pairs.get(lab) for lab in labelled}
        if rng.random() < drop_letters:
            for p in panels:
                p["label"] = p["label_source"] = None
        if len(panels) > 2 and rng.random() < drop_panel:
            gone = panels.pop(rng.randrange(len(panels)))
            pairs = {k: (None if v == gone["panel_id"] else v) for k, v in pairs.items()}
        rows.append({"figure_id": f["figure_id"], "paper_id": f["paper_id"], "width": f.get("width"),
                     "height": f.get("height"), "panels": panels,
                     "subcaptions": [{"label": s["label"], "text": s["text"]} for s in subs], "pairs": pairs})
    return rows


# ---------------------------------------------------------------- a figure gold from the blind panel gold

def panel_gold_figures(gold_files: list[str | Path], render_dirs: list[str | Path],
                       min_iou: float = 0.5) -> tuple[list[dict], dict[str, int]]:
    """Figure gold rows from blind panel annotations (``boxes`` as fractions of the rendered figure, and
    per panel ``panel_tags[i].caption_label``: the caption label whose subcaption describes it) and the
    parse outputs of those renders (``RENDER/figures.jsonl``: detected panels, caption).

    The subcaptions are the rule splitter's (what align gets in a rules run).  A detected panel is the
    gold panel it overlaps with IoU >= `min_iou`; the correct panel of label L is the detected panel
    matched to the gold panel captioned L (null when none matches).  Returns (rows, counts of what was
    left out and why)."""
    from medvl.align import norm_label
    from medvl.runs import read_jsonl
    from medvl.split.rules import split_caption
    from medvl.synth.score import iou

    figures: dict[tuple[str, str], dict] = {}
    for d in render_dirs:
        for f in read_jsonl(Path(d) / "figures.jsonl"):
            src = str(f.get("source") or "")
            paper = "/".join(Path(src.split("/corpus/", 1)[-1]).parent.parts[-2:])
            figures[(paper, str(f.get("label")))] = f
    rows: list[dict] = []
    skipped: dict[str, int] = {}

    def skip(why: str) -> None:
        skipped[why] = skipped.get(why, 0) + 1

    for gf in gold_files:
        for g in read_jsonl(Path(gf)):
            f = figures.get((g["paper"], str(g["label"])))
            if f is None:
                skip("no_render")
                continue
            if len(f.get("panels") or []) < 2:
                skip("fewer_than_2_detected_panels")
                continue
            subs = split_caption(f.get("caption") or "")
            labelled = [norm_label(s.label) for s in subs if s.label != "_shared" and norm_label(s.label)]
            if not labelled:
                skip("no_labelled_subcaptions")
                continue
            w, h = float(f.get("width") or 1), float(f.get("height") or 1)
            gold_of: dict[str, int] = {}  # detected panel id -> gold panel index
            for p in f["panels"]:
                x0, y0, x1, y1 = p["bbox"]
                frac = [x0 / w, y0 / h, x1 / w, y1 / h]
                best = max(range(len(g["boxes"])), key=lambda i: iou(frac, g["boxes"][i]), default=None)
                if best is not None and iou(frac, g["boxes"][best]) >= min_iou:
                    gold_of[p["panel_id"]] = best
            caption_label = [(t or {}).get("caption_label") for t in g.get("panel_tags") or []]
            pairs: dict[str, str | None] = {}
            for lab in dict.fromkeys(labelled):
                hits = [pid for pid, gi in gold_of.items()
                        if gi < len(caption_label) and caption_label[gi] and norm_label(caption_label[gi]) == lab]
                pairs[lab] = hits[0] if hits else None
            rows.append({"figure_id": f["figure_id"], "paper_id": f["paper_id"], "width": f.get("width"),
                         "height": f.get("height"),
                         "panels": [{"panel_id": p["panel_id"], "bbox": p["bbox"], "label": p.get("label"),
                                     "label_source": p.get("label_source")} for p in f["panels"]],
                         "subcaptions": [{"label": s.label, "text": s.text} for s in subs], "pairs": pairs,
                         "gold_file": Path(gf).name})
    return rows, skipped
