"""Training and evaluation speed of the tiny CLIP on CPU, and raw vs aligned pairs on a synthetic corpus.

    python benchmarks/train_eval.py [--papers 150] [--corpus-seed 2] [--seed 0] [--epochs 10] [--threads 1] [--out DIR] [--json]

Builds a synthetic corpus (medvl synth) and runs parse -> split (rules) -> align -> export (aligned and
raw, same papers and split) -> train medvl-tiny on each (open_clip_train, the raw model gets as many
optimizer steps as the aligned one) -> eval compare on the ALIGNED test split.  Prints the time of each
stage, training samples/second (in the training loop and wall clock incl. start-up), evaluation
pairs/second, and the raw-vs-aligned table.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import tempfile
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--papers", type=int, default=150)
    ap.add_argument("--corpus-seed", type=int, default=2, help="seed of the synthetic corpus and of the export split")
    ap.add_argument("--seed", type=int, default=0, help="training seed")
    ap.add_argument("--split", default="0.7,0,0.3", help="train,val,test fractions by paper")
    ap.add_argument("--model", default="medvl-tiny")
    ap.add_argument("--epochs", type=int, default=10, help="epochs of the aligned model")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--lr", type=float, default=5e-3)
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads per process")
    ap.add_argument("--workers", type=int, default=1, help="parse workers and data loader workers")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--out", type=Path, default=None, help="keep everything here (default: a temp dir)")
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    args = ap.parse_args()

    from medvl.align import align_run
    from medvl.evaluate.compare import compare, markdown
    from medvl.export import ExportSettings, export_run, parse_split
    from medvl.parse import ParseSettings, parse_inputs
    from medvl.runs import RunDir
    from medvl.split.stage import run_split
    from medvl.synth import generate_corpus
    from medvl.train import TrainConfig, train

    root = args.out or Path(tempfile.mkdtemp(prefix="medvl-bench-train-"))
    if args.out and root.exists():
        shutil.rmtree(root)
    times: dict[str, float] = {}

    def timed(name, fn, *a, **kw):
        t = time.perf_counter()
        res = fn(*a, **kw)
        times[name] = round(time.perf_counter() - t, 2)
        return res

    corpus = timed("synth", generate_corpus, root / "corpus", papers=args.papers, seed=args.corpus_seed)
    rd = RunDir(root / "run")
    timed("parse", parse_inputs, [corpus / "papers"], rd, ParseSettings(), workers=args.workers)
    timed("split", run_split, rd.path, splitter="rules")
    timed("align", align_run, rd.path)
    fractions = parse_split(args.split)
    data = {}
    for kind in ("aligned", "raw"):
        data[kind] = root / f"data_{kind}"
        timed(f"export_{kind}", export_run, rd.path, data[kind],
              ExportSettings(pairs=kind, formats=("csv",), split=fractions, seed=args.corpus_seed))

    def n_train(d: Path) -> int:
        return len((d / "train.csv").read_text(encoding="utf-8").splitlines()) - 1

    steps = args.epochs * (n_train(data["aligned"]) // args.batch_size)
    results = {}
    for kind in ("aligned", "raw"):
        per_epoch = max(1, n_train(data[kind]) // args.batch_size)
        epochs = args.epochs if kind == "aligned" else math.ceil(steps / per_epoch)
        cfg = TrainConfig(data_dir=data[kind], out=root / f"train_{kind}", model=args.model, epochs=epochs,
                          batch_size=args.batch_size, lr=args.lr, warmup=10, seed=args.seed,
                          workers=args.workers, threads=args.threads, device=args.device, val_frequency=0)
        res = timed(f"train_{kind}", train, cfg)
        results[kind] = {"train_pairs": n_train(data[kind]), "epochs": epochs, "steps": epochs * per_epoch,
                         "samples": res.trained_samples, "seconds": res.seconds,
                         "samples_per_s_loop": res.loop_samples_per_second,
                         "samples_per_s_wall": res.samples_per_second}
    cmp = timed("eval_compare", compare, root / "train_raw", root / "train_aligned", data["aligned"],
                out=root / "compare", device=args.device, threads=args.threads)
    evals = {k: json.loads((root / "compare" / k / "metrics.json").read_text()) for k in ("raw", "aligned")}
    out = {
        "papers": args.papers, "corpus_seed": args.corpus_seed, "seed": args.seed, "model": args.model, "threads": args.threads,
        "seconds": times, "train": results,
        "eval_pairs_per_s": {k: v["timing"]["pairs_per_second"] for k, v in evals.items()},
        "test_pairs": evals["aligned"]["data"]["n_evaluated"],
        "compare": {row["metric"]: row["values"] for row in cmp["rows"]},
        "chance": evals["aligned"]["retrieval"]["chance"],
        "out": str(root),
    }
    if args.json:
        print(json.dumps(out, indent=1))
        return
    print(f"synthetic corpus: {args.papers} papers, corpus seed {args.corpus_seed}, train seed {args.seed}, model {args.model}, "
          f"{args.threads} thread(s)  ({root})")
    for k, v in times.items():
        print(f"  {k:<14} {v:8.2f} s")
    for kind, r in results.items():
        print(f"train {kind:<8} {r['train_pairs']} pairs, {r['epochs']} epochs = {r['steps']} steps: "
              f"{r['samples_per_s_loop']} samples/s in the loop, {r['samples_per_s_wall']} samples/s wall")
    print(f"eval: {out['test_pairs']} test pairs, "
          + ", ".join(f"{k} {v} pairs/s" for k, v in out["eval_pairs_per_s"].items()))
    chance = sorted(out["chance"].items(), key=lambda kv: int(kv[0].split("@")[1]))
    print("chance: " + ", ".join(f"{k} {100 * v:.1f}%" for k, v in chance))
    print()
    print(markdown(cmp))


if __name__ == "__main__":
    main()
