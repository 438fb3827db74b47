"""Memory of the export stage by collection size (does it grow with the number of pairs?).

    .venv/bin/python benchmarks/export_memory.py                    # 100 and 1,000 papers
    .venv/bin/python benchmarks/export_memory.py --papers 100,1000,3000 --json out.json

Builds synthetic run directories (no PDFs: figures.jsonl, pairs.jsonl and small PNG images shaped
like a real run's: 3 figures of 2-3 panels per paper, one pair per panel, provenance with tool
versions, a few duplicate images), then exports each one (``--pairs aligned``, CSV + WebDataset) in a
fresh Python process and prints

* the peak of Python allocations during ``export_run`` (tracemalloc), and
* the peak RSS of that process (``ru_maxrss``: interpreter, imports and the export together).

Building the inputs takes most of the time (about 10 s per 1,000 papers); the numbers are bytes, not
seconds, so they do not depend on the machine's load.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CHILD = r"""
import json, resource, sys, time, tracemalloc
from medvl.export import ExportSettings, export_run
run, out = sys.argv[1], sys.argv[2]
tracemalloc.start()
t0 = time.perf_counter()
s = export_run(run, out, ExportSettings(seed=0, shard_size=1000))
wall = time.perf_counter() - t0
cur, peak = tracemalloc.get_traced_memory()
tracemalloc.stop()
print(json.dumps({"peak_traced_mb": round(peak / 2**20, 2), "max_rss_mb": round(resource.getrusage(
    resource.RUSAGE_SELF).ru_maxrss / 1024, 1), "rows": sum(s.rows.values()), "rejects": s.rejects, "wall_s": round(wall, 2)}))
"""


def build_run(root: Path, n_papers: int) -> dict[str, int]:
    import numpy as np
    from PIL import Image

    from medvl.records import Figure, Pair, Panel, Provenance, figure_id, pair_id, panel_id
    from medvl.runs import RunDir, write_jsonl

    rd = RunDir(root)
    prov = Provenance(stage="parse", stage_version="1.0.0", input_sha256="a" * 64,
                      tools={"pymupdf": "1.26.0", "pillow": "11.0.0", "numpy": "2.2.0", "medvl": "0.1.0"})
    aprov = Provenance(stage="align", stage_version="1.0.0", input_sha256="b" * 64,
                       tools={"medvl": "0.1.0", "pydantic": "2.11.0", "pillow": "11.0.0"})
    n_pairs = 0

    def png(rel: str, seed: int, w: int, h: int) -> str:
        p = rd.inside(rel)
        p.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.random.default_rng(seed).integers(0, 255, (h, w), dtype=np.uint8)).save(p)
        return rel

    def figures():
        nonlocal n_pairs
        pairs_fh = open(rd.file("pairs.jsonl"), "w", encoding="utf-8")
        try:
            for i in range(n_papers):
                pid = f"p{i:016x}"
                for f in range(3):
                    fid = figure_id(pid, f + 1, 0)
                    k = 2 + (i + f) % 2
                    fig_img = f"images/{pid}/{fid}.png"
                    panels = []
                    for j in range(k):
                        pn = panel_id(fid, j)
                        seed = 7 if (i % 50 == 0 and j == 0) else (i * 31 + f * 7 + j)  # a few duplicates
                        img = png(f"images/{pid}/{pn}.png", seed, 24, 20)
                        panels.append(Panel(panel_id=pn, bbox=[j * 100, 0, j * 100 + 95, 90], label="ABC"[j],
                                            label_source="pdf_text", image=img))
                        text = (f"({'ABC'[j]}) Axial contrast-enhanced T1-weighted MRI of patient {i} showing a "
                                f"ring-enhancing lesion in the left frontal lobe with surrounding oedema, figure {f}.")
                        pairs_fh.write(Pair(pair_id=pair_id(fid, "ABC"[j], j), image=img, text=text, figure_id=fid,
                                            paper_id=pid, panel_id=pn, label="ABC"[j], method="letter",
                                            confidence=0.95, license="CC-BY-4.0", provenance=aprov)
                                       .model_dump_json() + "\n")
                        n_pairs += 1
                    caption = f"Figure {f + 1}. " + " ".join(
                        f"({'ABC'[j]}) Axial contrast-enhanced T1-weighted MRI of patient {i}, view {j}." for j in range(k))
                    yield Figure(paper_id=pid, figure_id=fid, source=f"papers/{pid}.pdf", page=f + 1, index=f,
                                 label=f"Figure {f + 1}", caption=caption + " Scale bar 1 cm." * 3,
                                 caption_source="pdf+xml", caption_similarity=0.98, bbox=[50.0, 80.0, 545.0, 400.0],
                                 caption_bbox=[50.0, 405.0, 545.0, 440.0], caption_page=f + 1, image=fig_img,
                                 width=k * 100, height=90, dpi=150, kind="raster", panels=panels,
                                 license="CC-BY-4.0", provenance=prov)
        finally:
            pairs_fh.close()

    n_figs = write_jsonl(rd.file("figures.jsonl"), figures())
    return {"papers": n_papers, "figures": n_figs, "pairs": n_pairs}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--papers", default="100,1000", help="comma-separated collection sizes")
    ap.add_argument("--json", type=Path, help="also write the numbers here")
    args = ap.parse_args()
    sizes = [int(x) for x in args.papers.split(",") if x.strip()]
    results = {}
    with tempfile.TemporaryDirectory(prefix="medvl-export-mem-") as tmp:
        for n in sizes:
            run = Path(tmp) / f"run{n}"
            counts = build_run(run, n)
            out = subprocess.run([sys.executable, "-c", CHILD, str(run), str(Path(tmp) / f"data{n}")],
                                 capture_output=True, text=True, cwd=ROOT, check=True)
            res = {**counts, **json.loads(out.stdout.strip().splitlines()[-1])}
            results[n] = res
            print(f"{n} papers ({res['pairs']} pairs, {res['figures']} figures): export peak traced "
                  f"{res['peak_traced_mb']} MB, max RSS {res['max_rss_mb']} MB, {res['rows']} rows, "
                  f"{res['rejects']} rejects, {res['wall_s']} s", flush=True)
    if len(sizes) >= 2:
        a, b = results[sizes[0]], results[sizes[-1]]
        per_pair = (b["peak_traced_mb"] - a["peak_traced_mb"]) * 2**20 / max(b["pairs"] - a["pairs"], 1)
        print(f"growth {sizes[0]} -> {sizes[-1]} papers: traced peak x{b['peak_traced_mb'] / a['peak_traced_mb']:.2f} "
              f"({per_pair:.0f} bytes per extra pair), RSS x{b['max_rss_mb'] / a['max_rss_mb']:.2f}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
