"""Benchmark subcaption splitters on the dev gold set: accuracy and speed.

    python benchmarks/split.py [--gold eval/gold/dev.jsonl] [--show-disagreements N] [--by style,kind]
    python benchmarks/split.py --sourcedata check --groups expand|skip [--by style,kind]

`--sourcedata tune|check|all` scores the SourceData legends (``../shared/gold/sourcedata_dev.jsonl``,
read at run time) instead, the half taken from the committed split ``eval/gold/sourcedata_split.json``;
`--groups` says how a grouped segment ("D,E: ...") is scored (each letter against the whole segment, or
figures with one left out).  SourceData has no ``_shared``: shared scores are not comparable there.
`--by` adds one table per label style / gold kind.

Prints one table row per splitter.  Each splitter is a `bench_<name>(gold) -> dict` function returning
at least the metrics of `medvl.split.metrics.score_predictions` plus `captions_per_s`; add a new splitter
by writing its function and listing it in `BENCHES`.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any, Callable

from medvl.split.goldsets import gold_row, group_by, label_style, load_span_gold, load_sourcedata
from medvl.split.metrics import score_predictions

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_GOLD = ROOT / "eval" / "gold" / "dev.jsonl"
# ../shared beside the repository (MEDVL_SHARED names another place, e.g. from a git worktree)
SHARED_DIR = Path(os.environ.get("MEDVL_SHARED") or ROOT.parent / "shared")
SOURCEDATA = SHARED_DIR / "gold" / "sourcedata_dev.jsonl"
SOURCEDATA_SPLIT = ROOT / "eval" / "gold" / "sourcedata_split.json"


def load_gold(path: str | Path = DEFAULT_GOLD) -> list[dict]:
    """A gold file: text rows, or span rows (no caption text) rebuilt from ../shared or git mirrors
    (MEDVL_GOLD_MIRRORS: a folder of <owner>+<name>/repo git directories)."""
    with open(path, encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh if line.strip()]
    if rows and "caption_sha256" in rows[0]:
        built, missing = load_span_gold(path, SHARED_DIR, os.environ.get("MEDVL_GOLD_MIRRORS"))
        if missing:
            print(f"{path}: {len(missing)} of {len(rows)} captions not rebuilt (e.g. {missing[0]['reason']})")
        return built
    return [gold_row(r) for r in rows]


LETTERS_ONLY = False  # --positional drop: the gold curates lettered panels only (SourceData)


def letters_only(pred: dict) -> dict:
    """A prediction without positional panels ("left", "top"): for gold that only curates letters."""
    return {**pred, "subcaptions": [s for s in pred["subcaptions"]
                                    if s["label"] == "_shared" or len(s["label"]) == 1]}


def bench_rules(gold: list[dict], repeat: int = 20) -> dict[str, Any]:
    """Rule splitter: metrics on `gold` and single-core throughput over `repeat` passes."""
    from medvl.split.rules import RULES_VERSION, split_caption

    preds = [{"id": g["id"], "subcaptions": [s.model_dump() for s in split_caption(g["caption"])]} for g in gold]
    if LETTERS_ONLY:
        preds = [letters_only(p) for p in preds]
    scores = score_predictions(gold, preds)
    captions = [g["caption"] for g in gold]
    # CPU time of this process (one core, single thread): not inflated by other jobs on a busy machine
    c0, t0 = time.process_time(), time.perf_counter()
    for _ in range(repeat):
        for c in captions:
            split_caption(c)
    cpu, wall = time.process_time() - c0, time.perf_counter() - t0
    scores["captions_per_s"] = len(captions) * repeat / cpu
    scores["captions_per_wall_s"] = len(captions) * repeat / wall
    scores["splitter"] = f"rules ({RULES_VERSION})"
    scores["predictions"] = preds
    return scores


def bench_llm(gold: list[dict], *, url: str, model: str, prompt: str = "split/fewshot@1", n: int = 20,
              concurrency: int = 8, mode: str = "json_schema", max_tokens: int | None = None,
              max_reasks: int = 2) -> list[dict[str, Any]]:
    """LLM splitter on the first `n` gold captions against a served model: scores (fallbacks to the rules
    included, as in production) and captions per wall-second, sequentially and with `concurrency` requests
    in flight.  No answer cache: every caption is a real request."""
    from medvl.llm.client import LLMSettings
    from medvl.split.compare import behaviour
    from medvl.split.llm import LLMSplitter

    sub = gold[:n]
    items = [(g["id"], g["caption"]) for g in sub]
    results = []
    for c in dict.fromkeys((1, concurrency)):
        settings = LLMSettings(url=url, model=model, mode=mode, concurrency=c, max_reasks=max_reasks, timeout_s=600,
                               params={"max_tokens": max_tokens} if max_tokens else {}, cache_path=None)
        sp = LLMSplitter.from_ref(settings, prompt)
        sp.llm.check_server()
        t0 = time.perf_counter()
        rows = sp.split_many(items)
        wall = time.perf_counter() - t0
        sp.close()
        scores = score_predictions(sub, rows)
        scores.update(behaviour(rows, wall))
        scores["captions_per_s"] = None  # the work happens in the server: wall time only
        scores["captions_per_wall_s"] = len(items) / wall
        scores["llm_answered"] = sum(1 for r in rows if r.splitter == "llm")
        scores["splitter"] = f"llm {sp.prompt.ref} {model} c={c}"
        scores["predictions"] = [r.model_dump(mode="json") for r in rows]
        results.append(scores)
    return results


# name -> function; the LLM splitter adds its entry here
BENCHES: dict[str, Callable[[list[dict]], dict[str, Any]]] = {"rules": bench_rules}

COLUMNS = [("splitter", "splitter", "{}"), ("n_captions", "n", "{}"), ("label_precision", "label P", "{:.3f}"),
           ("label_recall", "label R", "{:.3f}"), ("label_f1", "label F1", "{:.3f}"),
           ("exact_label_set", "exact set", "{:.3f}"), ("text_f1", "text F1", "{:.3f}"),
           ("no_panel_accuracy", "no-panel acc", "{:.3f}"),
           ("shared_f1", "shared F1", "{:.3f}"), ("captions_per_s", "captions/cpu-s", "{:,.0f}"),
           ("captions_per_wall_s", "captions/wall-s", "{:,.2f}"), ("fallback_rate", "fallback", "{:.2f}"),
           ("schema_failure_rate", "schema fail", "{:.2f}"), ("reask_rate", "re-ask", "{:.2f}"),
           ("latency_mean_s", "latency s", "{:.1f}")]


def print_table(results: list[dict[str, Any]], columns=COLUMNS) -> None:
    heads = [h for _, h, _ in columns]
    rows = [[fmt.format(r[k]) if r.get(k) is not None else "-" for k, _, fmt in columns] for r in results]
    widths = [max([len(h), *(len(row[i]) for row in rows)]) for i, h in enumerate(heads)]  # rows may be []
    print(" | ".join(h.ljust(w) for h, w in zip(heads, widths)))
    print("-|-".join("-" * w for w in widths))
    for row in rows:
        print(" | ".join(c.ljust(w) for c, w in zip(row, widths)))


GROUP_KEYS = {"curation": lambda g: "suspect_partial" if g.get("partial") else "full", "style": label_style, "kind": lambda g: g.get("kind") or ("panels" if g["subcaptions"] else "no_panels")}
GROUP_COLUMNS = [("group", "group", "{}")] + [c for c in COLUMNS if c[0] in (
    "n_captions", "label_precision", "label_recall", "label_f1", "exact_label_set", "text_f1", "no_panel_accuracy")]


def print_groups(gold: list[dict], result: dict[str, Any], by: str) -> None:
    """Scores of one splitter's predictions per label style / gold kind."""
    preds = result["predictions"]
    ids = {str(p["id"]) for p in preds}
    rows = []
    for name, sub in group_by(gold, GROUP_KEYS[by]).items():
        if not {g["id"] for g in sub} <= ids:
            continue  # the LLM bench scores only the first N captions
        scores = score_predictions(sub, preds)
        scores["group"] = name
        rows.append(scores)
    print(f"\n{result['splitter']} by {by}:")
    print_table(rows, GROUP_COLUMNS)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gold", default=str(DEFAULT_GOLD))
    ap.add_argument("--only", nargs="*", default=None, help="splitters to run (default: all in BENCHES)")
    ap.add_argument("--sourcedata", choices=["tune", "check", "all"], default=None,
                    help="score the SourceData legends (this half of eval/gold/sourcedata_split.json)")
    ap.add_argument("--sourcedata-file", default=str(SOURCEDATA))
    ap.add_argument("--groups", choices=["expand", "skip"], default="expand",
                    help="SourceData grouped segments: each letter gets the whole segment, or leave the figure out")
    ap.add_argument("--positional", choices=["keep", "drop"], default="keep",
                    help="drop: leave positional panels ('left', 'top') out of the predictions before scoring "
                         "(SourceData curates lettered panels only; not comparable with 'keep')")
    ap.add_argument("--by", default="", help="comma-separated: style, kind, curation (one table per group)")
    ap.add_argument("--show-disagreements", type=int, default=0, metavar="N")
    llm = ap.add_argument_group("LLM splitter (runs when --llm-url is given)")
    llm.add_argument("--llm-url", default=None, help="OpenAI-compatible base URL, e.g. http://127.0.0.1:18765/v1")
    llm.add_argument("--llm-model", default="smollm2-135m")
    llm.add_argument("--llm-mode", default="json_schema")
    llm.add_argument("--prompt", default="split/fewshot@1", help="comma-separated prompt refs")
    llm.add_argument("--n", type=int, default=20, help="first N gold captions for the LLM (CPU servers are slow)")
    llm.add_argument("--concurrency", type=int, default=8)
    llm.add_argument("--max-tokens", type=int, default=None, help="override the prompt's max_tokens")
    args = ap.parse_args(argv)
    global LETTERS_ONLY
    LETTERS_ONLY = args.positional == "drop"
    if args.sourcedata:
        if not Path(args.sourcedata_file).exists():
            ap.error(f"{args.sourcedata_file}: no such file (the shared gold folder sits beside the repository)")
        half = None if args.sourcedata == "all" else args.sourcedata
        gold = load_sourcedata(args.sourcedata_file, split=SOURCEDATA_SPLIT, half=half, groups=args.groups)
        args.gold = f"{args.sourcedata_file} [{args.sourcedata} half, groups={args.groups}, positional={args.positional}]"
    else:
        gold = load_gold(args.gold)
    names = args.only or list(BENCHES) + (["llm"] if args.llm_url else [])
    results = []
    for name in names:
        if name != "llm":
            results.append(BENCHES[name](gold))
            continue
        if not args.llm_url:
            ap.error("--only llm needs --llm-url")
        for ref in [r.strip() for r in args.prompt.split(",") if r.strip()]:
            results.extend(bench_llm(gold, url=args.llm_url, model=args.llm_model, prompt=ref, n=args.n,
                                     concurrency=args.concurrency, mode=args.llm_mode, max_tokens=args.max_tokens))
    n_panels = sum(1 for g in gold if any(s["label"] != "_shared" for s in g["subcaptions"]))
    print(f"gold: {args.gold} ({len(gold)} captions, {n_panels} with panels)")
    print_table(results)
    for by in [b.strip() for b in args.by.split(",") if b.strip()]:
        for r in results:
            print_groups(gold, r, by)
    if args.show_disagreements:
        for r in results:
            print(f"\n{r['splitter']}: {len(r['disagreements'])} captions disagree")
            for d in r["disagreements"][: args.show_disagreements]:
                low = {k: v for k, v in d["text_f1"].items() if v < 1.0}
                print(f"  {d['id']}: gold {d['gold_labels']} pred {d['pred_labels']} text F1<1 {low}")


if __name__ == "__main__":
    main()
