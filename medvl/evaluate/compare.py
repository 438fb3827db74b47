"""Raw-pairs vs aligned-pairs models on the same test set.

Both checkpoints are evaluated on one split of one DATA_DIR, which should be the ALIGNED
export (panel image <-> subcaption): that is the panel-level retrieval task both models are
meant to solve, so the comparison is fair whatever each model was trained on.  Writes
OUT/raw/, OUT/aligned/ (each a full `evaluate` output), OUT/compare.json + OUT/compare.md and
OUT/neighbours.jsonl: both models' top-k captions per test image (rows name the model "raw" or
"aligned"), the file `medvl judge RUN_DIR --what retrieval` finds at RUN_DIR/eval/.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from medvl.progress import ProgressFn, no_progress

ROWS = (
    ("image → text R@1", ("retrieval", "image_to_text", "R@1"), True),
    ("image → text R@5", ("retrieval", "image_to_text", "R@5"), True),
    ("image → text R@10", ("retrieval", "image_to_text", "R@10"), True),
    ("image → text median rank", ("retrieval", "image_to_text", "median_rank"), False),
    ("text → image R@1", ("retrieval", "text_to_image", "R@1"), True),
    ("text → image R@5", ("retrieval", "text_to_image", "R@5"), True),
    ("text → image R@10", ("retrieval", "text_to_image", "R@10"), True),
    ("text → image median rank", ("retrieval", "text_to_image", "median_rank"), False),
    ("zero-shot accuracy", ("zeroshot", "accuracy"), True),
    ("zero-shot balanced accuracy", ("zeroshot", "balanced_accuracy"), True),
)


def _get(d: Any, path: tuple[str, ...]) -> Any:
    for k in path:
        if not isinstance(d, dict):
            return None
        d = d.get(k)
    return d


def compare_metrics(results: dict[str, dict]) -> dict:
    """Side-by-side rows (name, value per model, aligned - raw) from evaluate() results."""
    names = list(results)
    rows = []
    for label, path, higher_better in ROWS:
        vals = {n: _get(results[n], path) for n in names}
        if all(v is None for v in vals.values()):
            continue
        delta = None
        if "raw" in vals and "aligned" in vals and None not in (vals["raw"], vals["aligned"]):
            delta = vals["aligned"] - vals["raw"]
        rows.append({"metric": label, "values": vals, "delta_aligned_minus_raw": delta,
                     "higher_is_better": higher_better, "percent": path[-1] != "median_rank"})
    first = results[names[0]]
    return {
        "split": first["data"]["split"],
        "data": first["data"],
        "code": first["code"],
        "models": {n: {"checkpoint": r["checkpoint"]["path"], "sha256": r["checkpoint"]["sha256"],
                       "model": r["checkpoint"]["model"], "trained_on": r["checkpoint"].get("trained_on")}
                   for n, r in results.items()},
        "rows": rows,
    }


def markdown(cmp: dict) -> str:
    names = list(cmp["models"])
    d = cmp["data"]
    lines = [f"# Raw vs aligned pairs: {d['split']} split of `{d['dir']}`", "",
             f"{d['n_evaluated']} pairs (pairs: {d.get('pairs') or '?'}); recall and accuracy in %.", "",
             "| metric | " + " | ".join(names) + " | aligned − raw |",
             "|---|" + "---|" * len(names) + "---|"]
    for row in cmp["rows"]:
        def fmt(v):
            if v is None:
                return "-"
            return f"{100 * v:.1f}" if row["percent"] else f"{v:.1f}"
        delta = row["delta_aligned_minus_raw"]
        ds = "-" if delta is None else (f"{100 * delta:+.1f}" if row["percent"] else f"{delta:+.1f}")
        lines.append(f"| {row['metric']} | " + " | ".join(fmt(row["values"][n]) for n in names) + f" | {ds} |")
    lines += ["", "## Versions", ""]
    for n, m in cmp["models"].items():
        lines.append(f"- {n}: `{m['checkpoint']}` ({m['model']}) sha256 `{m['sha256']}`, trained on `{m['trained_on']}`")
    lines += [f"- test data manifest sha256 `{d['manifest_sha256']}`",
              f"- code: medvl {cmp['code'].get('medvl')} git `{cmp['code'].get('git_hash')}`", ""]
    return "\n".join(lines)


def compare(raw: str | Path, aligned: str | Path, data_dir: str | Path, *, suite: str | Path | None = "brain",
            split: str = "test", out: str | Path | None = None, device: str = "cpu", batch_size: int = 64,
            progress: ProgressFn = no_progress, threads: int | None = None, neighbours_k: int = 5,
            model: str | None = None) -> dict:
    """Evaluate both checkpoints on the same split; return (and write) the comparison.  `model`: the
    architecture, for checkpoints without medvl_train.json."""
    from medvl.evaluate import evaluate
    from medvl.runs import atomic_write_text

    out_p = Path(out) if out is not None else None
    results = {}
    for name, ckpt in (("raw", raw), ("aligned", aligned)):
        results[name] = evaluate(ckpt, data_dir, suite=suite, split=split, device=device, batch_size=batch_size,
                                 out=(out_p / name) if out_p else None, progress=progress, threads=threads,
                                 neighbours_k=neighbours_k, label=name, model=model)
    cmp = compare_metrics(results)
    if out_p is not None:
        out_p.mkdir(parents=True, exist_ok=True)
        atomic_write_text(out_p / "compare.json", json.dumps(cmp, indent=2, sort_keys=True))
        atomic_write_text(out_p / "compare.md", markdown(cmp))
        merge_neighbours([out_p / name / "neighbours.jsonl" for name in results], out_p / "neighbours.jsonl")
    return cmp


def merge_neighbours(parts: list[Path], dest: Path) -> int:
    """Concatenate per-model neighbours files (in the given order) into one; returns its rows.
    No part file (neighbours_k = 0): no merged file either."""
    from medvl.runs import atomic_open

    found = [p for p in parts if p.is_file()]
    if not found:
        dest.unlink(missing_ok=True)
        return 0
    n = 0
    with atomic_open(dest) as fh:
        for p in found:
            with open(p, encoding="utf-8") as src:
                for line in src:
                    if line.strip():
                        fh.write(line if line.endswith("\n") else line + "\n")
                        n += 1
    return n
