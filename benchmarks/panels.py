"""Benchmark panels and panel letters: real hand-annotated gold figures and a synthetic corpus.

    python benchmarks/panels.py [--corpus ../shared/corpus] [--gold PATH [PATH ...]]
                                [--synth-papers 20] [--seed 0] [--ocr auto] [--only real|synth]
                                [--show-errors] [--out DIR]

Real: the papers named in each gold file (default: eval/panels/gold.jsonl, the development set,
and eval/panels/heldout.jsonl, figures of other papers kept for measuring; both annotated by
looking at the rendered figures) are parsed from their PDFs (XML repair off, so only the PDF
counts); each gold figure is looked up by label.  Each gold file is parsed and scored on its own.  Synthetic: ``medvl synth`` papers with known panels and letters
(scored with the same rules; panel boxes matched by IoU >= 0.5).

Numbers printed for each set:
  panel-count accuracy   share of figures whose number of panels is right (no panels = 1 panel)
  letter accuracy        share of gold panels that carry a printed letter and got that letter
                         (matched by box when the gold has boxes: IoU >= 0.5, or for the coarse
                         real boxes the parsed centre inside the gold box and IoU >= 0.25; else by
                         reading-order position)
  spurious letters       parsed letters on panels whose gold has none
  figures exactly right  panel count right and every panel's letter right (None where none printed)
  seconds per figure     wall time of the parse / figures parsed (CPU time too)
Prints numbers; asserts nothing.  Without the corpus, the real part is skipped.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from medvl.parse import ParseSettings, parse_inputs  # noqa: E402
from medvl.pdf.captions import label_key  # noqa: E402
from medvl.runs import read_jsonl  # noqa: E402


def _cpu() -> float:
    a = resource.getrusage(resource.RUSAGE_SELF)
    b = resource.getrusage(resource.RUSAGE_CHILDREN)
    return a.ru_utime + a.ru_stime + b.ru_utime + b.ru_stime


def _iou(a: list[float], b: list[float]) -> float:
    x0, y0, x1, y1 = max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, x1 - x0) * max(0.0, y1 - y0)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _center_in(box: list[float], outer: list[float], tol: float) -> bool:
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    return outer[0] - tol <= cx <= outer[2] + tol and outer[1] - tol <= cy <= outer[3] + tol


def _match_boxes(gold: list[list[float]], got: list[list[float]], min_iou: float = 0.5,
                 center_tol: float | None = None) -> dict[int, int]:
    """Greedy one-to-one match of gold boxes to parsed boxes by IoU.

    With ``center_tol`` (coarse hand-drawn gold boxes, as fractions) a pair also matches when the
    parsed box's centre lies in the gold box and the IoU is at least 0.25.
    """
    cand = sorted(((_iou(g, p), gi, pi) for gi, g in enumerate(gold) for pi, p in enumerate(got)), reverse=True)
    out: dict[int, int] = {}
    used: set[int] = set()
    for v, gi, pi in cand:
        ok = v >= min_iou or (center_tol is not None and v >= 0.25 and _center_in(got[pi], gold[gi], center_tol))
        if not ok:
            continue
        if gi in out or pi in used:
            continue
        out[gi] = pi
        used.add(pi)
    return out


class Score:
    def __init__(self) -> None:
        self.figures = self.count_ok = self.exact = 0
        self.letter_panels = self.letter_ok = 0
        self.unlettered_panels = self.spurious = 0
        self.errors: list[str] = []

    def add(self, name: str, gold_letters: list[str | None], gold_boxes: list[list[float]] | None,
            got_letters: list[str | None], got_boxes: list[list[float]], center_tol: float | None = None) -> None:
        """One figure: gold panels (letters, optional boxes) vs parsed panels (letters, boxes)."""
        self.figures += 1
        n_gold = max(1, len(gold_letters))
        n_got = max(1, len(got_letters))
        count_ok = n_gold == n_got
        self.count_ok += count_ok
        if gold_boxes is not None and len(got_boxes) >= 1:
            m = _match_boxes(gold_boxes, got_boxes, center_tol=center_tol)
        else:
            m = {i: i for i in range(min(len(gold_letters), len(got_letters)))}
        right = count_ok
        for gi, gl in enumerate(gold_letters):
            pi = m.get(gi)
            gl_got = got_letters[pi] if pi is not None else None
            if gl is not None:
                self.letter_panels += 1
                self.letter_ok += gl_got == gl
            else:
                self.unlettered_panels += 1
                self.spurious += gl_got is not None
            if gl_got != gl or (pi is None and len(gold_letters) > 1):
                right = False
        if len(gold_letters) <= 1 and any(got_letters):
            right = False
        self.exact += right
        if not right:
            self.errors.append(f"{name}: gold {len(gold_letters)} panels {_fmt(gold_letters)}; "
                               f"parsed {len(got_letters)} panels {_fmt(got_letters)}")

    def report(self, title: str, seconds: float, cpu_s: float, n_parsed: int) -> None:
        pct = lambda a, b: f"{100.0 * a / b:.1f}%" if b else "n/a"  # noqa: E731
        print(f"== {title}: {self.figures} figures")
        print(f"  panel-count accuracy: {self.count_ok}/{self.figures} = {pct(self.count_ok, self.figures)}")
        print(f"  letter accuracy (per lettered panel): {self.letter_ok}/{self.letter_panels} = "
              f"{pct(self.letter_ok, self.letter_panels)}")
        print(f"  spurious letters on unlettered panels: {self.spurious}/{self.unlettered_panels}")
        print(f"  figures exactly right: {self.exact}/{self.figures} = {pct(self.exact, self.figures)}")
        if n_parsed and seconds:
            print(f"  seconds per figure: {seconds / n_parsed:.3f} wall, {cpu_s / n_parsed:.3f} CPU "
                  f"({n_parsed} figures parsed in {seconds:.1f} s; load average {os.getloadavg()[0]:.1f})")


def _fmt(letters: list[str | None]) -> str:
    sep = " " if any(x and len(x) > 1 for x in letters) else ""  # Roman numerals: "I II III"
    return sep.join(x or "-" for x in letters) or "(none)"


def _parse(pdfs: list[Path], out: Path, ocr: str) -> tuple[list[dict], float, float]:
    settings = ParseSettings(ocr=ocr, xml_repair=False, xml_only_figures=False)
    c0, t0 = _cpu(), time.perf_counter()
    parse_inputs([str(p) for p in pdfs], out, settings, workers=1)
    wall, cpu_s = time.perf_counter() - t0, _cpu() - c0
    return list(read_jsonl(out / "figures.jsonl")), wall, cpu_s


def bench_real(corpus: Path, gold_path: Path, out: Path, ocr: str, show: bool) -> None:
    gold = [json.loads(ln) for ln in gold_path.read_text(encoding="utf-8").splitlines() if ln.strip()]
    papers = sorted({g["paper"] for g in gold})
    pdfs = [corpus / p / "fulltext.pdf" for p in papers]
    missing = [p for p in pdfs if not p.exists()]
    if missing:
        print(f"real: {len(missing)} gold papers missing from {corpus}; skipped")
        pdfs = [p for p in pdfs if p.exists()]
    # one run directory for every gold file: a paper already parsed there is not parsed again
    done_before = len(list(read_jsonl(out / "figures.jsonl"))) if (out / "figures.jsonl").exists() else 0
    rows, wall, cpu_s = _parse(pdfs, out, ocr)
    rows = [r for r in rows if Path(r["source"]) in set(pdfs)]
    if done_before:
        wall = cpu_s = 0.0  # (papers parsed for an earlier gold file: no timing of their own)
    by_paper: dict[str, dict[str, dict]] = {}
    for r in rows:
        rel = str(Path(r["source"]).parent.relative_to(corpus))
        by_paper.setdefault(rel, {}).setdefault(label_key(r["label"] or ""), r)
    score = Score()
    kinds: dict[str, Score] = {}
    rasters: dict[str, Score] = {}
    for g in gold:
        r = by_paper.get(g["paper"], {}).get(label_key(g["label"]))
        n = g["panels"]
        letters = g.get("letters") or [None] * n
        if len(letters) != n:
            letters = (list(letters) + [None] * n)[:n]
        letters = [x.upper() if x else None for x in letters]
        name = f"{g['paper']} {g['label']}"
        if r is None:
            score.figures += 1
            score.errors.append(f"{name}: figure not found")
            continue
        W, H = r.get("width") or 1, r.get("height") or 1
        got_boxes = [[p["bbox"][0] / W, p["bbox"][1] / H, p["bbox"][2] / W, p["bbox"][3] / H] for p in r["panels"]]
        got_letters = [p["label"] for p in r["panels"]]
        boxes = g.get("boxes")
        if n <= 1:
            letters, boxes = [letters[0]] if letters else [None], None
        groups = [score, kinds.setdefault(g.get("kind", "other"), Score())]
        if "raster" in g:  # gold that says whether the figure is one embedded image
            groups.append(rasters.setdefault("raster" if g["raster"] else "not raster", Score()))
        for s in groups:
            s.add(name, letters, boxes, got_letters, got_boxes, center_tol=0.02)
    score.report(f"real gold ({gold_path.name}, ocr={ocr})", wall, cpu_s, len(rows))
    for k in sorted(kinds):
        s = kinds[k]
        print(f"    {k:<14} figures {s.figures:3d}  count ok {s.count_ok:3d}  letters {s.letter_ok}/{s.letter_panels}"
              f"  exact {s.exact}")
    for k in sorted(rasters):
        s = rasters[k]
        print(f"  {k:<16} figures {s.figures:3d}  count ok {s.count_ok:3d}  letters {s.letter_ok}/{s.letter_panels}"
              f"  exact {s.exact} ({100.0 * s.exact / max(1, s.figures):.1f}%)")
    if show:
        for e in score.errors:
            print("   ", e)


def bench_synth(n: int, seed: int, out: Path, ocr: str, show: bool) -> None:
    from medvl.synth import generate_corpus
    from medvl.synth.corpus import load_ground_truth
    from medvl.synth.score import match_figure

    corpus = generate_corpus(out / "corpus", papers=n, seed=seed)
    gt = load_ground_truth(corpus)
    rows, wall, cpu_s = _parse(sorted((corpus / "papers").glob("*.pdf")), out / "run", ocr)
    by_pid = {p["paper_id"]: p for p in gt["papers"]}
    matched: dict[tuple[str, int], dict] = {}
    for r in rows:
        paper = by_pid.get(r["paper_id"])
        g = match_figure(r, paper) if paper else None
        if g is not None:
            matched[(r["paper_id"], g["index"])] = r
    score = Score()
    by_source: dict[str, Score] = {}
    for paper in gt["papers"]:
        for g in paper["figures"]:
            name = f"{Path(paper['file']).name} {g['label']} [{g['letter_source']}, {g.get('letter_style')}, " \
                   f"{g.get('letter_corner')}]"
            letters = [p["letter"] for p in g["panels"]]
            boxes = [p["bbox_px"] for p in g["panels"]]
            r = matched.get((paper["paper_id"], g["index"]))
            for s in (score, by_source.setdefault(g["letter_source"], Score())):
                if r is None:
                    s.figures += 1
                    s.errors.append(f"{name}: figure not found")
                    continue
                sc = gt["dpi"] / (r.get("dpi") or gt["dpi"])
                got_boxes = [[v * sc for v in p["bbox"]] for p in r["panels"]]
                s.add(name, letters if len(letters) > 1 else [None], boxes if len(letters) > 1 else None,
                      [p["label"] for p in r["panels"]], got_boxes)
    score.report(f"synthetic ({n} papers, seed {seed}, ocr={ocr})", wall, cpu_s, len(rows))
    for k in sorted(by_source):
        s = by_source[k]
        print(f"    letters as {k:<9} figures {s.figures:3d}  count ok {s.count_ok:3d}  "
              f"letters {s.letter_ok}/{s.letter_panels}  spurious {s.spurious}  exact {s.exact}")
    if show:
        for e in score.errors:
            print("   ", e)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", default=str(ROOT.parent / "shared" / "corpus"))
    ap.add_argument("--gold", nargs="+", default=[str(ROOT / "eval" / "panels" / "gold.jsonl"),
                                                  str(ROOT / "eval" / "panels" / "heldout.jsonl")],
                    help="gold file(s), each scored on its own (default: gold.jsonl and heldout.jsonl)")
    ap.add_argument("--synth-papers", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--ocr", default="auto", choices=["auto", "always", "never"])
    ap.add_argument("--only", choices=["real", "synth"], default=None)
    ap.add_argument("--show-errors", action="store_true")
    ap.add_argument("--out", default=None, help="working folder (default: a temporary one, removed)")
    args = ap.parse_args()
    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="panels-bench-"))
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    try:
        if args.only in (None, "real"):
            corpus = Path(args.corpus)
            for k, gold in enumerate(args.gold):
                if corpus.is_dir() and Path(gold).exists():
                    bench_real(corpus, Path(gold), out / "real", args.ocr, args.show_errors)
                else:
                    print(f"real: corpus {corpus} or gold {gold} not found; skipped")
        if args.only in (None, "synth"):
            bench_synth(args.synth_papers, args.seed, out / "synth", args.ocr, args.show_errors)
    finally:
        if not args.out:
            shutil.rmtree(out, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
