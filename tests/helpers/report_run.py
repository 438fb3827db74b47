"""A small but complete run directory built in code (no corpus, no LLM): shared by the report and
judge tests.  Records go through the real pydantic models, so a schema change breaks here first."""

from __future__ import annotations

import json
from pathlib import Path

from medvl.records import (Figure, Judgment, Pair, Panel, Provenance, Reject, SplitRow, Subcaption,
                           figure_id, pair_id, panel_id, sha256_text)
from medvl.runs import RunDir, write_jsonl

PAPER = "p0123456789abcdef"


def _prov(stage: str, **kw) -> Provenance:
    return Provenance(stage=stage, stage_version="1", input_sha256="0" * 64, **kw)


def _figure_png(path: Path, boxes: list[list[int]], size=(240, 160)) -> None:
    from PIL import Image, ImageDraw

    img = Image.new("RGB", size, "white")
    d = ImageDraw.Draw(img)
    colours = ["#c0392b", "#2471a3", "#1e8449", "#b9770e"]
    for i, (x0, y0, x1, y1) in enumerate(boxes):
        d.rectangle([x0 + 4, y0 + 4, x1 - 4, y1 - 4], outline="black")
        d.ellipse([x0 + 15, y0 + 15, x1 - 15, y1 - 15], fill=colours[i % 4])
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path)


def make_run(root: Path, *, judged: bool = True, metrics: bool = True) -> dict:
    """Write figures, subcaptions, pairs, rejects, run.json (and judgments + metrics) under root."""
    run = RunDir(root)
    run.update_manifest("parse", {"dpi": 150, "inputs": ["corpus/a.pdf"]}, tools=["pydantic"])
    figs, splits, pairs = [], [], []

    # figure 1: two panels side by side, letters A and B
    f1 = figure_id(PAPER, 2, 0)
    b1 = [[0, 0, 120, 160], [120, 0, 240, 160]]
    _figure_png(root / "images" / f"{f1}.png", b1)
    cap1 = "Figure 1. Brain MRI. (A) Axial T2 image shows a lesion. (B) Contrast-enhanced T1 image of the same lesion."
    panels1 = [Panel(panel_id=panel_id(f1, i), bbox=b, label=lab, label_source="pdf_text",
                     image=f"images/{f1}-k{i:02d}.png") for i, (b, lab) in enumerate(zip(b1, "AB"))]
    # figure 2: a 2x2 grid, letters a-d; its split is poor (judged badly below)
    f2 = figure_id(PAPER, 3, 1)
    b2 = [[0, 0, 120, 80], [120, 0, 240, 80], [0, 80, 120, 160], [120, 80, 240, 160]]
    _figure_png(root / "images" / f"{f2}.png", b2)
    cap2 = ("Figure 2: Chest CT of the patient. (a) Before treatment; (b) after one month; "
            "(c) after three months; (d) histology (H&E, x200).")
    panels2 = [Panel(panel_id=panel_id(f2, i), bbox=b, label=lab, label_source="ocr")
               for i, (b, lab) in enumerate(zip(b2, "abcd"))]
    # figure 3: XML-only, no image, no panels
    f3 = figure_id(PAPER, None, 2)
    cap3 = "Figure 3. Timeline of the symptoms <and> treatment."
    for fid, cap, panels, page, idx in ((f1, cap1, panels1, 2, 0), (f2, cap2, panels2, 3, 1), (f3, cap3, [], None, 2)):
        figs.append(Figure(paper_id=PAPER, figure_id=fid, source="corpus/a.pdf", page=page, index=idx,
                           label=cap.split(".")[0].split(":")[0], number=str(idx + 1), caption=cap,
                           caption_source="pdf+xml" if page else "xml",
                           image=f"images/{fid}.png" if page else None,
                           width=240 if page else None, height=160 if page else None, dpi=150 if page else None,
                           kind="raster" if page else None, panels=panels, license="CC BY 4.0",
                           provenance=_prov("parse", tools={"pymupdf": "1.24"})))
    # panel crops for the pairs of figure 1
    from PIL import Image

    with Image.open(root / "images" / f"{f1}.png") as im:
        for i, b in enumerate(b1):
            im.crop(tuple(b)).save(root / "images" / f"{f1}-k{i:02d}.png")
    write_jsonl(root / "figures.jsonl", figs)

    subs1 = [Subcaption(label="A", text="Axial T2 image shows a lesion."),
             Subcaption(label="B", text="Contrast-enhanced T1 image of the same lesion.")]
    subs2 = [Subcaption(label="_shared", text="Chest CT of the patient."),
             Subcaption(label="a", text="Before treatment;"),
             Subcaption(label="b", text="after one month; (c) after three months;"),  # mixed panels b + c
             Subcaption(label="d", text="histology (H and E)")]  # not verbatim
    for fid, cap, subs in ((f1, cap1, subs1), (f2, cap2, subs2)):
        splits.append(SplitRow(id=fid, caption_sha256=sha256_text(cap), subcaptions=subs, splitter="rules",
                               provenance=_prov("split")))
    write_jsonl(root / "subcaptions.jsonl", splits)

    for i, (p, s) in enumerate(zip(panels1, subs1)):
        pairs.append(Pair(pair_id=pair_id(f1, p.label, i), image=p.image, text=s.text, figure_id=f1,
                          paper_id=PAPER, panel_id=p.panel_id, label=p.label, method="letter", confidence=0.9,
                          license="CC BY 4.0", provenance=_prov("align")))
    write_jsonl(root / "pairs.jsonl", pairs)

    rejects = [Reject(stage="parse", source="corpus/bad.pdf", reason="encrypted", detail="corpus/bad.pdf: encrypted"),
               Reject(stage="parse", source="corpus/b.pdf", reason="no_figures", detail="no figures found"),
               Reject(stage="align", id=f2, reason="no_panel_images", detail="panels have no crops")]
    # rejects go through the stages' parts, as the pipeline writes them; rejects.jsonl is their merge
    run.write_unit("parse", "corpus", [], rejects[:2])
    run.write_unit("align", "all", [], rejects[2:])
    run.merge_rejects()

    out = {"run": run, "figures": [f1, f2, f3], "pairs": [p.pair_id for p in pairs],
           "captions": {f1: cap1, f2: cap2, f3: cap3}}
    if judged:
        js = [
            Judgment(judgment_id=f"splits:{f1}:x", what="splits", item_id=f1,
                     scores={"faithful": 5, "complete": 5, "labels": 5, "isolated": 4},
                     rationale="Verbatim and complete.", judge_model="fake-judge", prompt_id="judge/splits@1",
                     prompt_sha="a" * 64, extra={"figure_id": f1}, provenance=_prov("judge")),
            Judgment(judgment_id=f"splits:{f2}:x", what="splits", item_id=f2,
                     scores={"faithful": 2, "complete": 4, "labels": 3, "isolated": 1},
                     rationale="Subcaption b also holds the text of panel c; d is paraphrased.",
                     flags=["mixed_panels", "not_verbatim"], judge_model="fake-judge",
                     prompt_id="judge/splits@1", prompt_sha="a" * 64, extra={"figure_id": f2},
                     provenance=_prov("judge")),
        ] + [
            Judgment(judgment_id=f"pairs:{pid}:x", what="pairs", item_id=pid, scores={"match": 4, "specific": 5},
                     rationale="The text names the panel's letter.", mode="text_only", judge_model="fake-judge",
                     prompt_id="judge/pairs@1", prompt_sha="b" * 64, extra={"figure_id": f1, "label": lab},
                     provenance=_prov("judge"))
            for pid, lab in zip(out["pairs"], "AB")]
        write_jsonl(root / "judgments.jsonl", js)
        from medvl.evaluate.judge import summarize

        summary = summarize([j.model_dump() for j in js], [], None)
        (root / "judge_summary.json").write_text(json.dumps(summary, indent=2))
        out["judgments"] = js
    if metrics:
        for name, r1 in (("raw", 0.10), ("aligned", 0.25)):
            m = {"stage": "eval", "retrieval": {
                "n_pairs": 40, "n_unique_texts": 38,
                "image_to_text": {"R@1": r1, "R@5": r1 * 2.4, "R@10": min(1.0, r1 * 3.5), "mean_rank": 9.5,
                                  "median_rank": 7.0},
                "text_to_image": {"R@1": r1 * 0.9, "R@5": r1 * 2.2, "R@10": r1 * 3.1, "mean_rank": 10.5,
                                  "median_rank": 8.0},
                "chance": {"R@1": 0.025, "R@5": 0.125, "R@10": 0.25}},
                "zeroshot": {"suite": "brain", "n": 12, "accuracy": 0.5,
                             "per_class": {"mri": {"n": 6, "recall": 0.66}, "ct": {"n": 6, "recall": 0.33}}}}
            (root / "eval" / name).mkdir(parents=True, exist_ok=True)
            (root / "eval" / name / "metrics.json").write_text(json.dumps(m))
        # the shape `medvl eval compare` writes beside raw/ and aligned/
        cmp = {"split": "test", "data": {"n_evaluated": 40}, "code": {},
               "models": {"raw": {"model": "medvl-tiny"}, "aligned": {"model": "medvl-tiny"}},
               "rows": [{"metric": "image → text R@1", "values": {"raw": 0.10, "aligned": 0.25},
                         "delta_aligned_minus_raw": 0.15, "higher_is_better": True, "percent": True},
                        {"metric": "image → text median rank", "values": {"raw": 7.0, "aligned": 9.0},
                         "delta_aligned_minus_raw": 2.0, "higher_is_better": False, "percent": False}]}
        (root / "eval" / "compare.json").write_text(json.dumps(cmp))
    return out
