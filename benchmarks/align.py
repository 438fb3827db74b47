"""Pair precision and recall of the aligners (rules, llm, auto) on a figure gold.

    python benchmarks/align.py --papers 12 --seed 0                       # rules only (no server)
    python benchmarks/align.py --papers 12 --llm-url http://127.0.0.1:18765/v1 --llm-model smollm2-135m \\
        [--prompts align/zeroshot@1,align/fewshot@1] [--limit 20] [--max-tokens 160] [--offer-none when_needed]
    python benchmarks/align.py --gold FIGURE_GOLD.jsonl --llm-url ... --llm-model ...   # a figure gold file
    python benchmarks/align.py --panel-gold /work/gold_work/panels/batch0*.jsonl \
        --render /work/gold_work/render_pool /work/gold_work/render_hindawi [--llm-url ...]   # real figures

Without --gold it builds one from the synthetic corpus (`medvl synth`, known answers): synth -> parse ->
every parsed figure with 2+ panels, its parsed panels and the ground-truth subcaptions and pairing, with
seeded perturbations that make the rules give up (--drop-letters: detected letters removed, as when OCR
misses them; --drop-panel: one detected panel removed, so counts disagree).  The same code runs against
any OpenAI-compatible server: give a real model's URL and name (a GPU vLLM serving a 7B+ instruct model).
Prints one row per system (medvl.align_compare.compare_aligners) and writes OUT/align_compare.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gold", type=Path, default=None, help="a figure gold JSONL (default: build a synthetic one)")
    ap.add_argument("--panel-gold", nargs="*", default=None,
                    help="blind panel gold files (boxes + panel_tags[].caption_label, e.g. /work/gold_work/panels/"
                         "batch0*.jsonl); with --render: a figure gold from the real figures")
    ap.add_argument("--render", nargs="*", default=None, help="parse outputs of those figures (RENDER/figures.jsonl)")
    ap.add_argument("--papers", type=int, default=12)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--drop-letters", type=float, default=0.3)
    ap.add_argument("--drop-panel", type=float, default=0.2)
    ap.add_argument("--limit", type=int, default=None, help="only the first N gold figures")
    ap.add_argument("--llm-url", default=None)
    ap.add_argument("--llm-model", default="smollm2-135m")
    ap.add_argument("--prompts", default="align/zeroshot@1,align/fewshot@1")
    ap.add_argument("--aligners", default="rules,llm,auto")
    ap.add_argument("--max-tokens", type=int, default=None)
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument("--offer-none", default="always", choices=("always", "when_needed"))
    ap.add_argument("--fill", default="figure", choices=("figure", "subcaption"),
                    help="auto: the model's pairs only in figures the rules paired nothing of, or also per subcaption")
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    from medvl.align_compare import compare_aligners, synth_figure_gold, to_markdown
    from medvl.llm.client import LLMSettings
    from medvl.runs import write_jsonl

    out = args.out or Path(tempfile.mkdtemp(prefix="medvl-align-bench-"))
    gold = args.gold
    t0 = time.perf_counter()
    if gold is None and args.panel_gold:
        from medvl.align_compare import panel_gold_figures

        rows, skipped = panel_gold_figures(args.panel_gold, args.render or [])
        print(f"real figure gold: {len(rows)} figures with 2+ detected panels and labelled subcaptions; left out: {skipped}")
        gold = out / "figure_gold.jsonl"  # caption text: stays outside the repository
        write_jsonl(gold, rows)
    if gold is None:
        from medvl.parse import ParseSettings, parse_inputs
        from medvl.runs import RunDir
        from medvl.synth import generate_corpus

        corpus = generate_corpus(out / "corpus", papers=args.papers, seed=args.seed)
        rd = RunDir(out / "run")
        parse_inputs([corpus / "papers"], rd, ParseSettings())
        rows = synth_figure_gold(corpus, rd.path, seed=args.seed, drop_letters=args.drop_letters,
                                 drop_panel=args.drop_panel)
        gold = out / "figure_gold.jsonl"
        write_jsonl(gold, rows)
    built = time.perf_counter() - t0
    aligners = tuple(a.strip() for a in args.aligners.split(",") if a.strip())
    refs = [r.strip() for r in args.prompts.split(",") if r.strip()] if args.llm_url else []
    llm = None
    if args.llm_url:
        params = {"max_tokens": args.max_tokens} if args.max_tokens else {}
        llm = LLMSettings(url=args.llm_url, model=args.llm_model, concurrency=args.concurrency, timeout_s=300,
                          params=params)
    else:
        from medvl.registry import ALIGNERS

        aligners = tuple(a for a in aligners if ALIGNERS.get(a).uses_llm == "none")  # those that ask no model
    report = compare_aligners(gold, refs, llm, aligners=aligners, out_dir=out, limit=args.limit,
                              settings_overrides={"offer_none": args.offer_none, "fill": args.fill})
    if args.json:
        print(json.dumps(report, indent=1))
        return
    print(f"figure gold: {gold} ({report['n_figures']} figures; built in {built:.1f} s)")
    print(to_markdown(report))
    for s in report["systems"]:
        extra = {k: s[k] for k in ("figures_by_aligner", "fallback_reasons") if k in s}
        print(f"  {s['system']}: {extra}  wall {s.get('wall_s', 0):.1f} s")
    print(f"wrote {out}/align_compare.json, align_compare.md, predictions/")


if __name__ == "__main__":
    main()
