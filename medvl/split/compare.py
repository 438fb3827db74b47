"""Compare split prompts (and the rule splitter) on the same gold captions.

For each system: label precision / recall / F1, exact label-set accuracy, text token-F1 of matched
labels (from `medvl.split.metrics.score_predictions`), plus the LLM's behaviour: schema-failure rate
(still invalid after every re-ask, or cut off at max_tokens), re-ask rate, fallback rate (any reason),
latency (answered requests, not cache hits) and tokens.  Per caption, where the systems disagree with
the gold or with each other, the label sets side by side.

Writes ``compare.json``, ``compare.md`` and ``predictions/<system>.jsonl`` into the output folder.
"""

from __future__ import annotations

import json
import statistics
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from medvl.errors import InputError
from medvl.progress import ProgressFn, no_progress
from medvl.records import SplitRow
from medvl.runs import atomic_write_text, read_jsonl, safe_key, write_jsonl
from medvl.split.labels import SHARED, label_sort_key
from medvl.split.llm import rules_row
from medvl.split.metrics import label_texts, score_predictions

RULES = "rules"
_TABLE_COLS = [("label_precision", "label P", "{:.3f}"), ("label_recall", "label R", "{:.3f}"),
               ("label_f1", "label F1", "{:.3f}"), ("exact_label_set", "exact set", "{:.3f}"),
               ("text_f1", "text F1", "{:.3f}"), ("schema_failure_rate", "schema fail", "{:.3f}"),
               ("reask_rate", "re-ask", "{:.3f}"), ("fallback_rate", "fallback", "{:.3f}"),
               ("accepted_rate", "accepted", "{:.3f}"), ("latency_mean_s", "latency s", "{:.2f}"),
               ("answer_tokens_per_caption", "answer tok/cap", "{:.0f}"), ("tokens_per_caption", "tokens/cap", "{:.0f}")]


def load_gold(path: str | Path, limit: int | None = None) -> list[dict]:
    path = Path(path)
    if not path.exists():
        raise InputError(str(path), "missing", "no such gold file")
    rows = []
    for i, row in enumerate(read_jsonl(path), 1):
        if not isinstance(row, dict) or "id" not in row or not isinstance(row.get("caption"), str) \
                or not isinstance(row.get("subcaptions"), list):
            raise InputError(str(path), "bad_gold", f"line {i}: a gold row needs id, caption and subcaptions")
        rows.append(row)
        if limit and len(rows) >= limit:
            break
    if not rows:
        raise InputError(str(path), "empty", "the gold file has no rows")
    return rows


def behaviour(rows: list[SplitRow], wall_s: float | None = None) -> dict[str, Any]:
    """LLM behaviour figures over SplitRows (all zero for the rule splitter)."""
    n = len(rows) or 1
    fallback = [r for r in rows if r.fallback_reason]
    schema = [r for r in fallback if r.fallback_reason.startswith(("invalid", "incomplete"))]
    answered = [r for r in rows if r.prompt_id and not r.cached and r.latency_s is not None]
    lat = [r.latency_s for r in answered]
    tok = [r.tokens or {} for r in rows if r.prompt_id and not r.cached]
    out = {
        "n": len(rows),
        "schema_failure_rate": len(schema) / n,
        "reask_rate": sum(1 for r in rows if r.reasks) / n,
        "reasks_per_caption": sum(r.reasks for r in rows) / n,
        "fallback_rate": len(fallback) / n,
        "fallback_reasons": _count(r.fallback_reason.split(":")[0] for r in fallback),
        "cached": sum(1 for r in rows if r.cached),
        "latency_mean_s": statistics.fmean(lat) if lat else 0.0,
        "latency_p50_s": statistics.median(lat) if lat else 0.0,
        "latency_p95_s": _quantile(lat, 0.95) if lat else 0.0,
        "prompt_tokens": sum(t.get("prompt_tokens", 0) for t in tok),
        "completion_tokens": sum(t.get("completion_tokens", 0) for t in tok),
        "tokens_per_caption": (sum(t.get("total_tokens", 0) for t in tok) / len(tok)) if tok else 0.0,
        # the model's own answer (all requests of a caption, re-asks included): what copying costs
        "answer_tokens_per_caption": (sum(t.get("completion_tokens", 0) for t in tok) / len(tok)) if tok else 0.0,
        # answers the validators accepted (splitter "llm"); the rest fell back to the rules
        "accepted_rate": sum(1 for r in rows if r.splitter == "llm") / n if any(r.prompt_id for r in rows) else 0.0,
    }
    if wall_s is not None:
        out["wall_s"] = wall_s
        out["captions_per_s"] = len(rows) / wall_s if wall_s > 0 else 0.0
    return out


def _count(items) -> dict[str, int]:
    out: dict[str, int] = {}
    for it in items:
        out[it] = out.get(it, 0) + 1
    return out


def _quantile(values: list[float], q: float) -> float:
    v = sorted(values)
    if not v:
        return 0.0
    idx = min(len(v) - 1, max(0, int(round(q * (len(v) - 1)))))
    return v[idx]


def _labels(subcaptions) -> list[str]:
    return sorted((k for k in label_texts(subcaptions) if k != SHARED), key=label_sort_key)


def disagreements(gold: list[dict], systems: dict[str, list[SplitRow]]) -> list[dict]:
    """Per caption where any system's label set differs from gold or from another system."""
    by_sys = {name: {r.id: r for r in rows} for name, rows in systems.items()}
    out = []
    for g in gold:
        gid = str(g["id"])
        gl = _labels(g["subcaptions"])
        entry: dict[str, Any] = {"id": gid, "caption": g["caption"], "gold": gl, "systems": {}}
        sets = []
        for name, rows in by_sys.items():
            r = rows.get(gid)
            labels = _labels(r.subcaptions) if r else []
            sets.append(tuple(labels))
            entry["systems"][name] = {"labels": labels, "splitter": r.splitter if r else None,
                                      "fallback_reason": r.fallback_reason if r else "missing",
                                      "reasks": r.reasks if r else 0}
        if any(s != tuple(gl) for s in sets) or len(set(sets)) > 1:
            out.append(entry)
    return out


def compare_splitters(gold_path: str | Path, prompt_refs: list[str], llm_settings=None, *, rules: bool = True,
                      out_dir: str | Path | None = None, limit: int | None = None, prompts_dir: Path | None = None,
                      progress: ProgressFn = no_progress) -> dict[str, Any]:
    """Run every prompt (and the rules) on the gold captions; write and return the comparison."""
    from medvl.split.llm import LLMSplitter

    gold = load_gold(gold_path, limit)
    items = [(str(g["id"]), g["caption"]) for g in gold]
    if prompt_refs and llm_settings is None:
        raise InputError("--llm-url", "no_llm", "comparing prompts needs --llm-url and --llm-model")
    out = Path(out_dir) if out_dir else None
    systems: dict[str, list[SplitRow]] = {}
    results: dict[str, dict[str, Any]] = {}
    progress(0, total=len(items) * (len(prompt_refs) + int(rules)))
    if rules:
        t0 = time.perf_counter()
        rows = [rules_row(i, c) for i, c in items]
        systems[RULES] = rows
        results[RULES] = {"system": RULES, "prompt": None, "prompt_sha": None,
                          **_scores(gold, rows), **behaviour(rows, time.perf_counter() - t0)}
        progress(len(items), note=RULES)
    checked = False
    for ref in prompt_refs:
        settings = llm_settings
        if out is not None and settings.cache_path is None:
            settings = replace(settings, cache_path=out / "llm-cache.sqlite")
        splitter = LLMSplitter.from_ref(settings, ref, prompts_dir)
        try:
            if not checked:
                splitter.llm.check_server()  # a dead server fails here with a clear message
                checked = True
            t0 = time.perf_counter()
            rows = splitter.split_many(items, progress=lambda n=1, **kw: progress(n, note=ref) if n else None)
            wall = time.perf_counter() - t0
        finally:
            splitter.close()
        name = splitter.prompt.ref
        systems[name] = rows
        results[name] = {"system": name, "prompt": name, "prompt_sha": splitter.prompt.sha,
                         "model": settings.model, "mode": settings.mode,
                         **_scores(gold, rows), **behaviour(rows, wall)}
    report = {
        "gold": str(gold_path), "n_captions": len(gold),
        "llm": llm_settings.public() if llm_settings is not None else None,
        "systems": list(results.values()),
        "disagreements": disagreements(gold, systems),
    }
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(out / "compare.json", json.dumps(report, indent=2, ensure_ascii=False))
        atomic_write_text(out / "compare.md", to_markdown(report))
        for name, rows in systems.items():
            write_jsonl(out / "predictions" / f"{safe_key(name.replace('/', '_').replace('@', '_v'))}.jsonl", rows)
    return report


def _scores(gold: list[dict], rows: list[SplitRow]) -> dict[str, Any]:
    s = score_predictions(gold, rows)
    return {k: v for k, v in s.items() if k != "disagreements"} | {"n_disagreements": len(s["disagreements"])}


def to_markdown(report: dict[str, Any], max_rows: int = 50) -> str:
    lines = [f"# Split comparison on {report['gold']} ({report['n_captions']} captions)", ""]
    if report.get("llm"):
        llm = report["llm"]
        lines += [f"LLM: `{llm['model']}` at {llm['url']} (mode {llm['mode']}, max re-asks {llm['max_reasks']}, "
                  f"concurrency {llm['concurrency']})", ""]
    head = ["system"] + [c[1] for c in _TABLE_COLS]
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for s in report["systems"]:
        cells = [f"`{s['system']}`"] + [fmt.format(s.get(k, 0.0) or 0.0) for k, _, fmt in _TABLE_COLS]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "schema fail: still invalid after every re-ask (or cut at max_tokens); re-ask: share of captions "
              "re-asked at least once; fallback: share that fell back to the rules for any reason; accepted: share "
              "answered by the model and accepted by the validators; latency: answered requests only (cache hits "
              "excluded); answer tok/cap: completion tokens per caption (re-asks included).", ""]
    dis = report["disagreements"]
    lines += [f"## Disagreements ({len(dis)} captions)", ""]
    names = [s["system"] for s in report["systems"]]
    lines += ["| id | gold | " + " | ".join(f"`{n}`" for n in names) + " |", "|" + "---|" * (len(names) + 2)]
    for d in dis[:max_rows]:
        cells = [d["id"], ",".join(d["gold"]) or "-"]
        for n in names:
            s = d["systems"][n]
            mark = "" if s["labels"] == d["gold"] else " ✗"
            fb = " (fallback)" if s.get("fallback_reason") and n != RULES else ""
            cells.append((",".join(s["labels"]) or "-") + mark + fb)
        lines.append("| " + " | ".join(cells) + " |")
    if len(dis) > max_rows:
        lines.append(f"\n… {len(dis) - max_rows} more in compare.json")
    return "\n".join(lines) + "\n"
