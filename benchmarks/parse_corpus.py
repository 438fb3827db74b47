"""Benchmark `medvl parse` on the real corpus: speed, peak memory, caption accuracy against JATS.

    python benchmarks/parse_corpus.py [--corpus ../shared/corpus] [--workers 1] [--dpi 150]
                                      [--ocr never] [--out /tmp/parse-bench] [--limit N] [--show-errors]

Captions are judged on the PDF alone (XML repair OFF).  For every article with both a PDF and
a JATS XML, each XML <fig> is looked up among the parsed figures by label ("Figure 3" = "Fig. 3");
it is *found* when a parsed figure has that label and *matching* when the parsed caption, label
stripped, has similarity >= 0.95 with the XML caption (whitespace normalised; see
medvl.pdf.captions.similarity).  A parsed figure whose label is not in the XML is *spurious*.
Speed is PDF pages per second per worker (wall time x workers), without OCR by default.
Prints the numbers; asserts nothing.
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

from medvl.jats import parse_jats  # noqa: E402
from medvl.parse import ParseSettings, parse_inputs  # noqa: E402
from medvl.pdf.captions import caption_body, label_key, similarity  # noqa: E402
from medvl.runs import read_jsonl  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", default=str(ROOT.parent / "shared" / "corpus"))
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--dpi", type=int, default=150)
    ap.add_argument("--ocr", default="never", choices=["auto", "always", "never"])
    ap.add_argument("--no-render", action="store_true", help="boxes and captions only (no PNGs)")
    ap.add_argument("--out", default=None, help="run directory (default: a temporary one, removed)")
    ap.add_argument("--limit", type=int, default=0, help="only the first N PDFs")
    ap.add_argument("--show-errors", action="store_true", help="print missed, mismatched and spurious figures")
    args = ap.parse_args()

    corpus = Path(args.corpus)
    if not corpus.is_dir():
        print(f"corpus not found: {corpus} (pass --corpus PATH); nothing to benchmark")
        return 0
    pdfs = sorted(corpus.rglob("*.pdf"))
    if args.limit:
        pdfs = pdfs[: args.limit]
    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="parse-bench-"))
    if out.exists():
        shutil.rmtree(out)
    settings = ParseSettings(dpi=args.dpi, ocr=args.ocr, xml_repair=False, render=not args.no_render)

    import pymupdf

    pages = 0
    for p in pdfs:
        try:
            with pymupdf.open(p) as d:
                pages += d.page_count
        except Exception:  # noqa: BLE001
            pass

    def cpu() -> float:
        a = resource.getrusage(resource.RUSAGE_SELF)
        b = resource.getrusage(resource.RUSAGE_CHILDREN)
        return a.ru_utime + a.ru_stime + b.ru_utime + b.ru_stime

    c0 = cpu()
    t0 = time.perf_counter()
    summary = parse_inputs([str(p) for p in pdfs], out, settings, workers=args.workers)
    wall = time.perf_counter() - t0
    cpu_s = cpu() - c0
    self_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    child_rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024

    rows = list(read_jsonl(out / "figures.jsonl"))
    by_source: dict[str, list[dict]] = {}
    for r in rows:
        by_source.setdefault(r["source"], []).append(r)

    xml_total = found = matching = spurious = parsed_with_xml = 0
    sims: list[float] = []
    errors: list[str] = []
    for p in pdfs:
        xml = p.with_suffix(".xml")
        if not xml.exists():
            continue
        art = parse_jats(xml)
        xml_figs = {label_key(f.label): f for f in art.figures if f.label}
        got = {}
        for r in by_source.get(str(p), []):
            parsed_with_xml += 1
            k = label_key(r["label"] or "")
            if k not in xml_figs:
                spurious += 1
                errors.append(f"SPURIOUS {p.parent.name} {r['label']}: {r['caption'][:100]}")
                continue
            got.setdefault(k, r)
        xml_total += len(xml_figs)
        for k, xf in xml_figs.items():
            r = got.get(k)
            if r is None:
                errors.append(f"MISSED   {p.parent.name} {xf.label}: {xf.caption[:100]}")
                continue
            found += 1
            s = similarity(caption_body(r["caption"]), xf.caption)
            sims.append(s)
            if s >= 0.95:
                matching += 1
            else:
                errors.append(f"MISMATCH {p.parent.name} {xf.label} sim={s:.3f}\n   PDF: {caption_body(r['caption'])}\n"
                              f"   XML: {xf.caption}")

    rejects = list(read_jsonl(out / "rejects.jsonl")) if (out / "rejects.jsonl").exists() else []
    reasons: dict[str, int] = {}
    for r in rejects:
        reasons[r["reason"]] = reasons.get(r["reason"], 0) + 1
    no_image = sum(1 for r in rows if r["bbox"] is None)
    panels = sum(len(r["panels"]) for r in rows)
    lettered = sum(1 for r in rows for p in r["panels"] if p["label"])

    pct = lambda a, b: (100.0 * a / b) if b else 0.0  # noqa: E731
    print(f"corpus: {corpus}  PDFs: {len(pdfs)}  pages: {pages}  workers: {args.workers}  dpi: {args.dpi}  "
          f"ocr: {args.ocr}  render: {not args.no_render}")
    print(f"time: {wall:.1f} s wall  ->  {pages / wall:.1f} pages/s total, "
          f"{pages / (wall * args.workers):.1f} pages/s per worker")
    print(f"CPU: {cpu_s:.1f} s (user+sys, all processes)  ->  {pages / cpu_s:.1f} pages per CPU-second "
          f"(the per-core rate, independent of other load on the machine; load average now "
          f"{os.getloadavg()[0]:.1f})")
    print(f"peak RSS: main {self_rss:.0f} MiB, largest worker {child_rss:.0f} MiB")
    print(f"figures: {len(rows)} ({no_image} without a graphics region), panels: {panels} ({lettered} with a letter)")
    print(f"rejects: {len(rejects)} {json.dumps(reasons, sort_keys=True)}")
    print(f"XML figures: {xml_total}  found: {found} ({pct(found, xml_total):.1f}%)  "
          f"found with matching caption: {matching} ({pct(matching, xml_total):.1f}%)  "
          f"caption match among found: {pct(matching, found):.1f}%")
    print(f"spurious figures: {spurious} of {parsed_with_xml} parsed in papers with XML ({pct(spurious, parsed_with_xml):.1f}%)")
    if sims:
        sims.sort()
        print(f"caption similarity: min {sims[0]:.3f}  median {sims[len(sims) // 2]:.3f}  "
              f"exact (1.0): {sum(1 for s in sims if s == 1.0)}")
    if args.show_errors:
        for e in errors:
            print(e)
    if not args.out:
        shutil.rmtree(out, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
