"""Gold sets for the subcaption splitters, read at run time (third-party text is never committed).

* `load_sourcedata(path, split=..., half=..., groups=...)`: the SourceData legends
  (``../shared/gold/sourcedata_dev.jsonl``, segmented by EMBO curators) turned into medvl gold rows.
  Their conventions differ from medvl's (see eval/gold/README.md, "SourceData"):
  a grouped segment ("D,E: ...") is one text for several letters: ``groups="expand"`` scores each
  listed letter against the whole segment, ``groups="skip"`` leaves figures with a grouped segment
  out; figure-level sentences stay inside the (last) panel's segment and there is no ``_shared``.
* `label_style(row)`: the label style of a gold row ("(A)", "A.", "A", "bold", "postfix", "mixed",
  "none"), for per-style scores.

Standard library only.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Iterable

from medvl.split.labels import SHARED, normalise_label

# SourceData's own style names -> the style names the benchmark reports
_SD_STYLES = {"paren": "(A)", "punct": "A.", "bare": "A", "bold": "bold"}


def _read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    rows = []
    with open(path, encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise ValueError(f"{path}:{n}: not JSON ({e.msg})") from None
    return rows


def read_split(split_path: str | Path) -> dict[str, Any]:
    """The committed tune/check split (ids only): ``{"seed", "tune": [ids], "check": [ids], ...}``."""
    with open(split_path, encoding="utf-8") as fh:
        split = json.load(fh)
    for key in ("tune", "check"):
        if not isinstance(split.get(key), list):
            raise ValueError(f"{split_path}: no id list '{key}'")
    if set(split["tune"]) & set(split["check"]):
        raise ValueError(f"{split_path}: tune and check share ids")
    return split


def _sd_style(row: dict[str, Any]) -> str:
    styles = row.get("label_style") or []
    if not row.get("subcaptions"):
        return "none"
    if len(styles) != 1:
        return "mixed"
    return _SD_STYLES.get(styles[0], styles[0])


def sourcedata_row(row: dict[str, Any], groups: str = "expand") -> dict[str, Any] | None:
    """One SourceData row as a medvl gold row, or None when `groups="skip"` and it has a grouped segment."""
    if groups not in ("expand", "skip"):
        raise ValueError(f"groups must be 'expand' or 'skip', not {groups!r}")
    subs = []
    for seg in row.get("subcaptions") or []:
        letters = seg.get("letters") or [seg["label"]]
        if len(letters) > 1 and groups == "skip":
            return None
        for letter in letters:
            subs.append({"label": letter, "text": seg.get("text", "")})
    return {"id": row["id"], "caption": row["caption"], "subcaptions": subs, "doi": row.get("doi"),
            "kind": row.get("kind") or ("no_panels" if not subs else "panels"), "style": _sd_style(row),
            "partial": bool(row.get("suspect_partial_curation"))}


def load_sourcedata(path: str | Path, *, split: str | Path | None = None, half: str | None = None,
                    groups: str = "expand") -> list[dict[str, Any]]:
    """SourceData gold rows as medvl gold rows; `half` ("tune"/"check") keeps that half of `split`."""
    rows = _read_jsonl(path)
    if half is not None:
        if split is None:
            raise ValueError("a half needs the split file")
        keep = set(read_split(split)[half])
        missing = keep - {r["id"] for r in rows}
        if missing:
            raise ValueError(f"{path}: {len(missing)} ids of the {half} half are not in the file "
                             f"(e.g. {sorted(missing)[0]}): wrong gold file for {split}?")
        rows = [r for r in rows if r["id"] in keep]
    out = [sourcedata_row(r, groups) for r in rows]
    return [r for r in out if r is not None]


_PAREN_LABEL = re.compile(r"[(\[]\s*([A-Za-z])(?:\d|[ivx]{1,3})?\s*(?:[,\u2013\-][^)\]]{0,12})?[)\]]")


def label_style(row: dict[str, Any]) -> str:
    """Label style of a gold row: its own ``style`` field, else guessed from where the labels sit."""
    if row.get("style"):
        return row["style"]
    labels = [normalise_label(s.get("label")) for s in row.get("subcaptions") or []]
    labels = [lab for lab in labels if lab and lab != SHARED]
    if not labels:
        return "none"
    if any(len(lab) > 1 for lab in labels):
        return "positional"
    text = row["caption"]
    if "<b>" in text or "**" in text:
        return "bold"
    parens = [m for m in _PAREN_LABEL.finditer(text) if m.group(1).upper() in labels]
    if parens:
        # a "(A)" that ends its sentence's phrase ("... cortex (A).", "... (A) and ...") is postfix
        post = sum(1 for m in parens if re.match(r"\s*(?:[.,;]|and\b|$)", text[m.end():]))
        return "postfix" if post * 2 > len(parens) else "(A)"
    if re.search(r"(?:^|[.;]\s)[A-Za-z][.:)]\s", text):
        return "A."
    return "A"


def group_by(rows: Iterable[dict[str, Any]], key) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        out.setdefault(key(r), []).append(r)
    return dict(sorted(out.items()))
