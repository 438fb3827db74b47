"""Synthetic corpus end to end: synth -> parse -> rule split -> align -> export, scored against ground truth.

    python benchmarks/align_synth.py --papers 20 --seed 0 [--out /tmp/medvl-bench] [--json]

Prints the time of each stage and the scores of `medvl.synth.score.score_run`: figures and panels
found, pair precision (pairs whose text is the ground-truth subcaption of the panel they got),
panel recall (ground-truth panels that got their right text), per alignment method.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--papers", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=None, help="keep the corpus and run here (default: a temp dir)")
    ap.add_argument("--workers", type=int, default=1, help="parse workers")
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    args = ap.parse_args()

    from medvl.align import align_run
    from medvl.export import ExportSettings, export_run
    from medvl.parse import ParseSettings, parse_inputs
    from medvl.records import Figure, Provenance, SplitRow, sha256_text
    from medvl.runs import RunDir, read_jsonl, write_jsonl
    from medvl.split.rules import RULES_VERSION, split_caption
    from medvl.synth import generate_corpus
    from medvl.synth.score import score_run

    root = args.out or Path(tempfile.mkdtemp(prefix="medvl-bench-"))
    if args.out and root.exists():
        shutil.rmtree(root)
    times: dict[str, float] = {}

    t = time.perf_counter()
    corpus = generate_corpus(root / "corpus", papers=args.papers, seed=args.seed)
    times["synth"] = time.perf_counter() - t

    rd = RunDir(root / "run")
    t = time.perf_counter()
    parse_inputs([corpus / "papers"], rd, ParseSettings(), workers=args.workers)
    times["parse"] = time.perf_counter() - t

    t = time.perf_counter()
    figs = [Figure.model_validate(r) for r in read_jsonl(rd.file("figures.jsonl"))]
    rows = [SplitRow(id=f.figure_id, caption_sha256=sha256_text(f.caption), subcaptions=split_caption(f.caption),
                     splitter="rules", provenance=Provenance(stage="split", stage_version=RULES_VERSION,
                                                             input_sha256=sha256_text(f.caption)))
            for f in figs]
    write_jsonl(rd.file("subcaptions.jsonl"), rows)
    times["split_rules"] = time.perf_counter() - t

    t = time.perf_counter()
    summary = align_run(rd.path)
    times["align"] = time.perf_counter() - t

    t = time.perf_counter()
    exp = export_run(rd.path, root / "data", ExportSettings(seed=args.seed))
    times["export"] = time.perf_counter() - t

    score = score_run(corpus, rd.path)
    result = {"papers": args.papers, "seed": args.seed, "seconds": {k: round(v, 2) for k, v in times.items()},
              "align": {"pairs": summary.pairs, "methods": summary.methods, "rejects": summary.reject_reasons},
              "export": {"rows": exp.rows, "papers": exp.papers, "rejects": exp.reject_reasons},
              "score": {k: v for k, v in score.items() if k != "errors"}, "errors": score.get("errors", [])[:10],
              "out": str(root)}
    if args.json:
        print(json.dumps(result, indent=1))
        return
    print(f"synthetic corpus: {args.papers} papers, seed {args.seed}  ({root})")
    for k, v in times.items():
        print(f"  {k:<12} {v:7.2f} s")
    s = result["score"]
    print(f"figures: {s['figures_matched']}/{s['gt_figures']} found ({s['figures']} parsed); "
          f"panels: {s['panels_matched']}/{s['gt_panels']} found")
    print(f"pairs: {s.get('pairs', 0)}  correct {s.get('pairs_correct', 0)}  wrong {s.get('pairs_wrong', 0)}  "
          f"unmatched {s.get('pairs_unmatched', 0)}")
    print(f"pair precision {s.get('pair_precision', 0):.3f}   panel recall {s.get('panel_recall', 0):.3f}")
    print(f"correct by method {s.get('correct_by_method')}  wrong by method {s.get('wrong_by_method')}")
    print(f"align rejects {summary.reject_reasons}")
    print(f"export rows {exp.rows}  rejects {exp.reject_reasons}")
    for e in result["errors"]:
        print(f"  wrong: {e['method']:<8} {e['label']!s:<6} {e['text'][:90]}")


if __name__ == "__main__":
    main()
