"""The report's "Dataset make-up" section: the modality/anatomy mix of a run's pairs (tags.jsonl),
before and after each export's tag filter (its manifest's tag_filter), with example thumbnails
per modality class, so a user sees what the dataset is made of."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any, Callable

THUMBS_PER_CLASS = 4
THUMB_SIDE = 96


def _mix(rows: list[dict], field: str) -> dict[str, int]:
    c = Counter((r.get(field) or {}).get("value") or "unknown" for r in rows)
    return dict(sorted(c.items(), key=lambda kv: (-kv[1], kv[0])))


def tag_view(run_path: Path, add_image: Callable[[Any, str], str] | None, problems: list[str]) -> dict | None:
    """None when the run has no tags.jsonl; else the mix tables, the filters and the thumbnails."""
    path = run_path / "tags.jsonl"
    if not path.exists():
        return None
    rows = []
    with open(path, encoding="utf-8") as fh:
        for i, line in enumerate(fh, 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError:
                    problems.append(f"tags.jsonl:{i}: not valid JSON")
    pairs = [r for r in rows if r.get("kind") == "pair"]
    view: dict[str, Any] = {"n_pairs": len(pairs), "n_figures": len(rows) - len(pairs),
                            "mix": {f: _mix(pairs, f) for f in ("modality", "anatomy")},
                            "sequences": dict(Counter(s for r in pairs for s in r.get("sequences") or []).most_common()),
                            "findings": dict(Counter(f["value"] for r in pairs for f in r.get("findings") or []
                                                     ).most_common()),
                            "filters": [], "thumbs": []}
    for manifest in sorted((run_path / "export").glob("*/manifest.json")):
        try:
            tf = json.loads(manifest.read_text(encoding="utf-8")).get("tag_filter")
        except (OSError, json.JSONDecodeError):
            problems.append(f"{manifest}: cannot read the export manifest")
            continue
        if tf:
            view["filters"].append({"variant": manifest.parent.name, "keep": tf.get("keep"),
                                    "keep_confidence": tf.get("keep_confidence"), "before": tf.get("before"),
                                    "after": tf.get("after")})
    if add_image is not None:
        from PIL import Image

        by_class: dict[str, list[dict]] = {}
        for r in sorted(pairs, key=lambda r: -((r.get("modality") or {}).get("confidence") or 0)):
            v = (r.get("modality") or {}).get("value") or "unknown"
            if len(by_class.setdefault(v, [])) < THUMBS_PER_CLASS and r.get("image"):
                by_class[v].append(r)
        for cls, items in sorted(by_class.items(), key=lambda kv: -view["mix"]["modality"].get(kv[0], 0)):
            thumbs = []
            for r in items:
                try:
                    p = (run_path / r["image"]).resolve()
                    if run_path.resolve() not in p.parents:
                        raise ValueError("image path escapes the run directory")
                    with Image.open(p) as im:
                        im = im.convert("RGB")
                        im.thumbnail((THUMB_SIDE, THUMB_SIDE))
                        src = add_image(im, f"tag-{cls}")
                except Exception as exc:  # noqa: BLE001 - one bad image is a note, not a broken report
                    problems.append(f"tags.jsonl: {r.get('id')}: thumbnail failed ({type(exc).__name__}: {exc})")
                    continue
                m, a = r.get("modality") or {}, r.get("anatomy") or {}
                thumbs.append({"src": src, "id": r.get("id"),
                               "title": f"{m.get('value')} {m.get('confidence', 0):.2f} ({m.get('source')}); "
                                        f"{a.get('value') or 'anatomy unknown'}"})
            view["thumbs"].append({"cls": cls, "n": view["mix"]["modality"].get(cls, 0), "items": thumbs})
    return view
