"""Benchmark `medvl parse` on the real corpus: speed, peak memory, caption accuracy against JATS.

    python benchmarks/parse_corpus.py [--corpus ../shared/corpus] [--workers 1] [--dpi 150]
                                      [--ocr never] [--out /tmp/parse-bench] [--limit N] [--show-errors]

Captions are judged on the PDF alone (XML repair OFF).  For every article with both a PDF and
a JATS XML, each XML <fig> is looked up among the parsed figures by label ("Figure 3" = "Fig. 3");
it is *found* when a parsed figure has that label and *matching* when the parsed caption, label
stripped, has similarity >= 0.95 with the XML caption (whitespace normalised; see
medvl.pdf.captions.similarity).  A parsed figure whose label is not in the XML is *spurious*.
Speed is PDF pages per second per worker (wall time x workers), without OCR by default.
Per publisher group (the corpus folder: hindawi, pool, other) it prints recall (XML figures found
with caption similarity >= 0.95), spurious figures, precision, run-together words (caption tokens
with >= 25 letters and no space; those absent from the XML captions are errors) and pages/s.
An XML <fig> without a <label> (some publishers' own XML, e.g. Copernicus) is numbered by its
place among the paper's unlabelled figures ("Figure 1", "Figure 2", ...), as the PDF prints it,
unless a labelled figure has that number.  XML figures whose caption the PDF does not print at all
(eLife figure supplements and graphical abstracts listed by title only, or left out) are counted
apart: *printed* when at least 3 in 4 of the XML caption's 24-character pieces (letters and digits
only, lower case) occur in the PDF's text; "recall of printed" divides by those.
Prints the numbers; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from medvl.jats import parse_jats  # noqa: E402
from medvl.parse import ParseSettings, parse_inputs  # noqa: E402
from medvl.pdf.captions import caption_body, comparable, label_key, normalize_ws, similarity  # noqa: E402
from medvl.runs import read_jsonl  # noqa: E402


RUN_LETTERS = 25  # a token with this many letters and no space is a run-together word
_TOKEN = re.compile(r"\S+")


def pct(a: float, b: float) -> float:
    return (100.0 * a / b) if b else 0.0


def long_runs(text: str) -> list[str]:
    """Whitespace-free tokens of ``text`` holding at least RUN_LETTERS letters."""
    return [t for t in _TOKEN.findall(text) if sum(c.isalpha() for c in t) >= RUN_LETTERS]


_PIECE = 24


def _alnum(text: str) -> str:
    return "".join(ch for ch in comparable(text) if ch.isalnum())


def printed_in(caption: str, pdf_alnum: str) -> bool:
    """Whether the PDF prints an XML caption: at least 3 in 4 of its 24-character pieces (letters
    and digits only, so spaces, hyphenation and punctuation do not matter) occur in the PDF text."""
    a = _alnum(caption)
    if len(a) < _PIECE:
        return a in pdf_alnum
    pieces = [a[i:i + _PIECE] for i in range(0, len(a) - _PIECE + 1, _PIECE)]
    return sum(p in pdf_alnum for p in pieces) >= 0.75 * len(pieces)


def xml_figures(art) -> dict:
    """The XML figures by label key; unlabelled ones numbered by their place ("Figure 1", ...)."""
    figs = {label_key(f.label): f for f in art.figures if f.label}
    n = 0
    for f in art.figures:
        if not f.label:
            n += 1
            figs.setdefault(label_key(f"Figure {n}"), f)
    return figs


def group_of(pdf: Path, corpus: Path) -> str:
    """The publisher group: the corpus folder a PDF lies in (hindawi, pool, other)."""
    rel = pdf.relative_to(corpus).parts
    return rel[0] if len(rel) > 1 else "."


@dataclass
class GroupScore:
    pdfs: int = 0
    pages: int = 0
    figures: int = 0
    xml_total: int = 0
    xml_printed: int = 0
    matching_printed: int = 0
    found: int = 0
    matching: int = 0
    spurious: int = 0
    parsed_with_xml: int = 0
    runs_all: int = 0
    runs_not_xml: int = 0
    sims: list = field(default_factory=list)


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

    page_counts: dict[Path, int] = {}
    for p in pdfs:
        try:
            with pymupdf.open(p) as d:
                page_counts[p] = d.page_count
        except Exception:  # noqa: BLE001
            pass
    pages = sum(page_counts.values())

    def cpu() -> float:
        a = resource.getrusage(resource.RUSAGE_SELF)
        b = resource.getrusage(resource.RUSAGE_CHILDREN)
        return a.ru_utime + a.ru_stime + b.ru_utime + b.ru_stime

    c0 = cpu()
    t0 = time.perf_counter()
    # one parse per group into the same run directory (units are per paper, so the merged
    # figures.jsonl is the same as one call), timed per group for pages/s
    group_wall: dict[str, float] = {}
    for name in sorted({group_of(p, corpus) for p in pdfs}):
        g0 = time.perf_counter()
        parse_inputs([str(p) for p in pdfs if group_of(p, corpus) == name], out, settings, workers=args.workers)
        group_wall[name] = time.perf_counter() - g0
    parse_inputs([str(p) for p in pdfs], out, settings, workers=args.workers)  # merge all (all done: skips)
    wall = time.perf_counter() - t0
    cpu_s = cpu() - c0
    self_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    child_rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024

    rows = list(read_jsonl(out / "figures.jsonl"))
    by_source: dict[str, list[dict]] = {}
    for r in rows:
        by_source.setdefault(r["source"], []).append(r)

    groups: dict[str, GroupScore] = {}
    total = GroupScore()
    errors: list[str] = []
    for p in pdfs:
        g = groups.setdefault(group_of(p, corpus), GroupScore())
        g.pdfs += 1
        g.pages += page_counts.get(p, 0)
        for sc in (g, total):
            sc.figures += len(by_source.get(str(p), []))
        xml = p.with_suffix(".xml")
        art = parse_jats(xml) if xml.exists() else None
        xml_text = normalize_ws(" ".join(f.caption for f in art.figures)) if art else ""
        for r in by_source.get(str(p), []):
            for run in long_runs(r["caption"] or ""):
                for sc in (g, total):
                    sc.runs_all += 1
                if art is not None and run not in xml_text:
                    for sc in (g, total):
                        sc.runs_not_xml += 1
                    errors.append(f"RUN      {p.parent.name} {r['label']}: {run[:80]}")
        if art is None:
            continue
        xml_figs = xml_figures(art)
        with pymupdf.open(p) as d:
            pdf_alnum = _alnum(" ".join(pg.get_text() for pg in d))
        shown = {k for k, xf in xml_figs.items() if printed_in(xf.caption, pdf_alnum)}
        for sc in (g, total):
            sc.xml_printed += len(shown)
        got = {}
        for r in by_source.get(str(p), []):
            for sc in (g, total):
                sc.parsed_with_xml += 1
            k = label_key(r["label"] or "")
            if k not in xml_figs:
                for sc in (g, total):
                    sc.spurious += 1
                errors.append(f"SPURIOUS {p.parent.name} {r['label']}: {r['caption'][:100]}")
                continue
            got.setdefault(k, r)
        for sc in (g, total):
            sc.xml_total += len(xml_figs)
        for k, xf in xml_figs.items():
            r = got.get(k)
            note = "" if k in shown else " [not printed in the PDF]"
            if r is None:
                errors.append(f"MISSED   {p.parent.name} {xf.label or 'Figure ' + k}{note}: {xf.caption[:100]}")
                continue
            s = similarity(caption_body(r["caption"]), xf.caption)
            for sc in (g, total):
                sc.found += 1
                sc.sims.append(s)
                sc.matching += s >= 0.95
                sc.matching_printed += s >= 0.95 and k in shown
            if s < 0.95:
                errors.append(f"MISMATCH {p.parent.name} {xf.label or 'Figure ' + k}{note} sim={s:.3f}\n   PDF: {caption_body(r['caption'])}\n"
                              f"   XML: {xf.caption}")

    rejects = list(read_jsonl(out / "rejects.jsonl")) if (out / "rejects.jsonl").exists() else []
    reasons: dict[str, int] = {}
    for r in rejects:
        reasons[r["reason"]] = reasons.get(r["reason"], 0) + 1
    no_image = sum(1 for r in rows if r["bbox"] is None)
    panels = sum(len(r["panels"]) for r in rows)
    lettered = sum(1 for r in rows for p in r["panels"] if p["label"])

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
    print(f"per group (recall = XML figures found with caption similarity >= 0.95 / XML figures; "
          f"precision = parsed figures that are matching XML figures / parsed in papers with XML; "
          f"runs = captions' tokens with >= {RUN_LETTERS} letters and no space, 'not in XML' = absent "
          f"from the paper's XML captions; pages/s = the group's pages / its share of the parse wall time):")
    for name in sorted(groups) + ["all"]:
        sc = total if name == "all" else groups[name]
        rate = (f"{sc.pages / group_wall[name]:.1f}" if name in group_wall and group_wall[name] > 0
                else f"{pages / wall:.1f}")
        print(f"  {name:8s} PDFs {sc.pdfs if name != 'all' else len(pdfs):3d}  pages {sc.pages if name != 'all' else pages:4d}  "
              f"XML figures {sc.xml_total:4d}  matching {sc.matching:4d} (recall {pct(sc.matching, sc.xml_total):5.1f}%)  "
              f"found {sc.found:4d}  spurious {sc.spurious:3d} of {sc.parsed_with_xml:4d} "
              f"(precision {pct(sc.matching, sc.parsed_with_xml):5.1f}%)  runs {sc.runs_all:3d} "
              f"(not in XML {sc.runs_not_xml:3d})  pages/s {rate}  printed {sc.xml_printed:4d} "
              f"(recall of printed {pct(sc.matching_printed, sc.xml_printed):5.1f}%)")
        if name == "all":
            print(f"XML figures: {sc.xml_total}  found: {sc.found} ({pct(sc.found, sc.xml_total):.1f}%)  "
                  f"found with matching caption: {sc.matching} ({pct(sc.matching, sc.xml_total):.1f}%)  "
                  f"caption match among found: {pct(sc.matching, sc.found):.1f}%")
            print(f"spurious figures: {sc.spurious} of {sc.parsed_with_xml} parsed in papers with XML "
                  f"({pct(sc.spurious, sc.parsed_with_xml):.1f}%)")
            if sc.sims:
                sims = sorted(sc.sims)
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
