"""Benchmark `medvl collect` offline: throughput and rate-limit keeping against the local fake
PMC server (tests/helpers/fake_pmc.py), and the content checks and license reader on the real corpus.

    python benchmarks/collect.py [--papers 60] [--workers 8] [--eutils-rate 3] [--pmc-rate 20]
                                 [--corpus ../shared/corpus]

Part 1 serves `--papers` generated articles (tiny PDFs + JATS) from 127.0.0.1 (tests/helpers/fake_pmc.py in
its own process) and runs a full
collect with the given rates; it prints wall time, requests, and the highest number of requests
the server saw in any 1-second window per service (must not exceed the rate, +1 for the window
edge).  The wall time is bound by the rates, not by the CPU: with NCBI's 3 requests/s the search
costs 1 + ceil(papers/page) requests, and each paper costs 4 bucket requests at --pmc-rate.

Part 2 (when the corpus is there) runs the PDF check (%PDF, %%EOF, MuPDF opens it) on every
corpus PDF and the JATS check + license reader on every corpus XML, and prints the license
families found.  Nothing here touches the internet.  Prints numbers; asserts nothing.
"""

from __future__ import annotations

import argparse
import collections
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from medvl.collect.collector import CollectSettings, collect  # noqa: E402
from medvl.collect.http import ContentError  # noqa: E402
from medvl.collect.pmc import check_jats, check_pdf  # noqa: E402


def max_in_window(stamps: list[float], window: float = 1.0) -> int:
    stamps = sorted(stamps)
    best, j = 0, 0
    for i, t in enumerate(stamps):
        while stamps[j] < t - window + 1e-9:
            j += 1
        best = max(best, i - j + 1)
    return best


def fake_server_run(args) -> None:
    import json
    import subprocess
    import urllib.request

    # The server runs in its own process, so its arrival times are not skewed by this one's GIL.
    proc = subprocess.Popen([sys.executable, str(ROOT / "tests" / "helpers" / "fake_pmc.py"), "--papers", str(args.papers)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        base = proc.stdout.readline().strip()
        urls = dict(eutils_url=f"{base}/eutils", pmc_url=f"{base}/pmc", europepmc_url=f"{base}/epmc/rest",
                    europepmc_pdf_url=f"{base}/epmc/render")
        settings = CollectSettings(query="brain", email="bench@example.org", workers=args.workers,
                                   eutils_rate=args.eutils_rate, pmc_rate=args.pmc_rate, europepmc_rate=args.pmc_rate,
                                   page_size=args.page_size, timeout_s=30, retries=2, backoff_s=0.1, **urls)
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            summary = collect(settings, tmp)
            wall = time.perf_counter() - t0
            t1 = time.perf_counter()
            again = collect(settings, tmp)
            rerun = time.perf_counter() - t1
        log = json.loads(urllib.request.urlopen(f"{base}/_log").read())
    finally:
        proc.stdin.close()
        proc.wait(timeout=10)
    eutils = [t for t, p in log if p.startswith("/eutils/")]
    bucket = [t for t, p in log if p.startswith("/pmc/")]
    print(f"fake server (own process): {args.papers} papers, {args.workers} workers, eutils {args.eutils_rate:g}/s, "
          f"bucket {args.pmc_rate:g}/s, page {args.page_size}")
    print(f"  collect: {wall:.2f} s wall, {summary.downloaded} downloaded, {summary.failed} failed, "
          f"{summary.requests} requests, {summary.bytes / 1e3:.0f} kB; {summary.downloaded / wall:.1f} papers/s")
    print(f"  eutils: {len(eutils)} requests, max {max_in_window(eutils)} in any 1 s window "
          f"(limit {args.eutils_rate:g}/s)")
    print(f"  bucket: {len(bucket)} requests, max {max_in_window(bucket)} in any 1 s window "
          f"(limit {args.pmc_rate:g}/s)")
    print(f"  rerun (all complete): {rerun:.2f} s, skipped {again.skipped}, {again.requests} requests (search only)")


def corpus_checks(corpus: Path) -> None:
    if not corpus.is_dir():
        print(f"corpus not found: {corpus}; skipping the corpus checks")
        return
    pdfs = sorted(corpus.rglob("fulltext.pdf"))
    xmls = sorted(corpus.rglob("fulltext.xml"))
    t0 = time.perf_counter()
    bad_pdf = []
    for p in pdfs:
        data = p.read_bytes()
        try:
            check_pdf(p, data[:2048], data[-2048:])
        except ContentError as exc:
            bad_pdf.append((p.relative_to(corpus), exc.reason, exc.detail))
    t_pdf = time.perf_counter() - t0
    t0 = time.perf_counter()
    families = collections.Counter()
    types = collections.Counter()
    bad_xml = []
    for x in xmls:
        try:
            info = check_jats(x.read_bytes())
        except ContentError as exc:
            bad_xml.append((x.relative_to(corpus), exc.reason, exc.detail))
            continue
        families[info.license.spdx if info.license else "none"] += 1
        types[info.article_type or "none"] += 1
    t_xml = time.perf_counter() - t0
    print(f"corpus {corpus}:")
    print(f"  PDF check: {len(pdfs) - len(bad_pdf)}/{len(pdfs)} pass ({t_pdf * 1000 / max(1, len(pdfs)):.1f} ms each)")
    for b in bad_pdf:
        print(f"    refused {b[0]}: {b[1]} ({b[2][:100]})")
    print(f"  JATS check: {len(xmls) - len(bad_xml)}/{len(xmls)} pass ({t_xml * 1000 / max(1, len(xmls)):.1f} ms each)")
    for b in bad_xml:
        print(f"    refused {b[0]}: {b[1]} ({b[2][:100]})")
    print(f"  licenses read from the XML: {dict(families.most_common())}")
    print(f"  article types: {dict(types.most_common())}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--papers", type=int, default=60)
    ap.add_argument("--workers", type=int, default=8)
    ap.add_argument("--eutils-rate", type=float, default=3.0)
    ap.add_argument("--pmc-rate", type=float, default=20.0)
    ap.add_argument("--page-size", type=int, default=20)
    ap.add_argument("--corpus", default=str(ROOT.parent / "shared" / "corpus"))
    args = ap.parse_args()
    fake_server_run(args)
    corpus_checks(Path(args.corpus))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
