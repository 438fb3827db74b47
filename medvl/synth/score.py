"""Score a run on a synthetic corpus against its ground truth (figures, panels, pairs).

`score_run(corpus_dir, run_dir)` matches every parsed figure to its ground-truth figure (same
page, box overlap), every parsed panel to a ground-truth panel (pixel-box overlap at the
figure's dpi), and checks each pair's text against the ground-truth subcaption of the panel it
was paired with.  Used by tests and benchmarks; prints nothing.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from medvl.synth.text import norm_text


def iou(a: list[float], b: list[float]) -> float:
    x0, y0, x1, y1 = max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, x1 - x0) * max(0.0, y1 - y0)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _strip_label(caption: str, label: str) -> str:
    return caption[len(label) + 2:] if caption.startswith(label + ". ") else caption


def match_figure(fig: dict, gt_paper: dict, min_iou: float = 0.5) -> dict | None:
    if not fig.get("bbox") or fig.get("page") is None:
        return None
    best, best_iou = None, min_iou
    for g in gt_paper["figures"]:
        if g["page"] == fig["page"]:
            v = iou(g["bbox"], fig["bbox"])
            if v >= best_iou:
                best, best_iou = g, v
    return best


def match_panel(panel_bbox: list[float], fig_dpi: int | None, gt_fig: dict, gt_dpi: int,
                min_iou: float = 0.5) -> dict | None:
    s = gt_dpi / (fig_dpi or gt_dpi)
    box = [v * s for v in panel_bbox]
    best, best_iou = None, min_iou
    for p in gt_fig["panels"]:
        v = iou(p["bbox_px"], box)
        if v >= best_iou:
            best, best_iou = p, v
    return best


def score_run(corpus_dir: str | Path, run_dir: str | Path, pairs_file: str = "pairs.jsonl") -> dict[str, Any]:
    """Counts of figures/panels found and pairs right or wrong, against ground_truth.json."""
    from medvl.runs import read_jsonl
    from medvl.synth.corpus import load_ground_truth

    gt = load_ground_truth(corpus_dir)
    gt_dpi = gt["dpi"]
    by_pid = {p["paper_id"]: p for p in gt["papers"]}
    run = Path(run_dir)
    figs = {f["figure_id"]: f for f in read_jsonl(run / "figures.jsonl")}
    fig_gt: dict[str, dict | None] = {}
    found_figs = 0
    panels_found = 0
    for fid, f in figs.items():
        paper = by_pid.get(f["paper_id"])
        g = match_figure(f, paper) if paper else None
        fig_gt[fid] = g
        if g is not None:
            found_figs += 1
            panels_found += sum(1 for p in f.get("panels", []) if match_panel(p["bbox"], f.get("dpi"), g, gt_dpi))
    gt_figs = sum(len(p["figures"]) for p in gt["papers"])
    gt_panels = sum(len(fg["panels"]) for p in gt["papers"] for fg in p["figures"])

    out: dict[str, Any] = {"gt_figures": gt_figs, "gt_panels": gt_panels, "figures": len(figs),
                           "figures_matched": found_figs, "panels_matched": panels_found}
    pairs_path = run / pairs_file
    if not pairs_path.exists():
        return out
    right: Counter[str] = Counter()
    wrong: Counter[str] = Counter()
    unmatched = 0
    covered: set[tuple[str, int]] = set()
    errors: list[dict[str, Any]] = []
    for pr in read_jsonl(pairs_path):
        f = figs.get(pr["figure_id"])
        g = fig_gt.get(pr["figure_id"])
        if f is None or g is None:
            unmatched += 1
            continue
        method = pr["method"]
        if pr.get("panel_id") is None or method in ("whole", "single_panel"):
            ok = norm_text(_strip_label(g["caption"], g["label"])) in norm_text(pr["text"])
            if ok and len(g["panels"]) == 1:
                covered.add((f"{f['paper_id']}/{g['label']}", 0))
        else:
            panel = next((p for p in f["panels"] if p["panel_id"] == pr["panel_id"]), None)
            gp = match_panel(panel["bbox"], f.get("dpi"), g, gt_dpi) if panel else None
            if gp is None:
                unmatched += 1
                continue
            want = [s["text"] for s in g["subcaptions"] if s["label"] == gp["label"]]
            ok = bool(want) and all(norm_text(w) in norm_text(pr["text"]) for w in want)
            if ok:
                covered.add((f"{f['paper_id']}/{g['label']}", gp["index"]))
        (right if ok else wrong)[method] += 1
        if not ok and len(errors) < 20:
            errors.append({"pair_id": pr["pair_id"], "method": method, "label": pr.get("label"), "text": pr["text"]})
    n = sum(right.values()) + sum(wrong.values())
    out.update({
        "pairs": n + unmatched,
        "pairs_correct": sum(right.values()),
        "pairs_wrong": sum(wrong.values()),
        "pairs_unmatched": unmatched,
        "pair_precision": round(sum(right.values()) / n, 4) if n else 0.0,
        "panel_recall": round(len(covered) / gt_panels, 4) if gt_panels else 0.0,
        "correct_by_method": dict(sorted(right.items())),
        "wrong_by_method": dict(sorted(wrong.items())),
        "errors": errors,
    })
    return out
