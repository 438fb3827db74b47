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


# style names of gold written by annotators -> the names the benchmark reports
_STYLE_NAMES = {"prefix (A)": "(A)", "(A)": "(A)", "A.": "A.", "bare A": "A", "A": "A", "postfix": "postfix",
                "mixed": "mixed", "none": "none", "bold": "bold"}


def gold_row(row: dict[str, Any]) -> dict[str, Any]:
    """A gold row in any of the repo's formats as ``{id, caption, subcaptions: [{label, text}], ...}``:
    subcaptions given as ``pieces`` (verbatim caption pieces in order) get the pieces joined with one
    space as their text; an annotator's ``style`` is mapped to the benchmark's style names."""
    subs = []
    for sc in row.get("subcaptions") or []:
        if "text" not in sc and "pieces" in sc:
            sc = {**{k: v for k, v in sc.items() if k != "pieces"}, "text": " ".join(sc["pieces"])}
        subs.append(sc)
    out = {**row, "subcaptions": subs}
    if isinstance(row.get("style"), str):
        out["style"] = _STYLE_NAMES.get(row["style"], row["style"])
    return out


def group_by(rows: Iterable[dict[str, Any]], key) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        out.setdefault(key(r), []).append(r)
    return dict(sorted(out.items()))


# ---------------------------------------------------------------- span gold: no caption text in the repo

def pieces_to_spans(caption: str, pieces: list[str]) -> list[list[int]]:
    """Character spans [start, end) of verbatim `pieces`, found in caption order."""
    spans, pos = [], 0
    for p in pieces:
        i = caption.find(p, pos)
        if i < 0:
            raise ValueError(f"piece not found in caption order: {p[:40]!r}")
        spans.append([i, i + len(p)])
        pos = i + len(p)
    return spans


def sha256_caption(caption: str) -> str:
    import hashlib

    return hashlib.sha256(caption.encode("utf-8")).hexdigest()


def xml_fig_captions(data: bytes) -> dict[str, list[str]]:
    """``{fig id: [caption text, ...]}`` of every ``<fig>`` in a JATS-like XML file (one article, or a bundle
    of articles, where fig ids repeat; document order): the
    text of each child of ``<caption>`` (title, paragraphs), joined with one space, whitespace collapsed.
    The DOCTYPE is dropped and HTML named entities are resolved, as the annotator's extraction did."""
    import html
    import xml.etree.ElementTree as ET

    text = data.decode("utf-8", errors="replace")
    text = re.sub(r"<!DOCTYPE[^>\[]*(?:\[.*?\])?\s*>", "", text, flags=re.S)
    xml_entities = {"amp", "lt", "gt", "quot", "apos"}
    text = re.sub(r"&([A-Za-z][A-Za-z0-9]*);",
                  lambda m: m.group(0) if m.group(1) in xml_entities else html.unescape(m.group(0)), text)
    root = ET.fromstring(text)
    out: dict[str, list[str]] = {}
    for fig in root.iter():
        if not isinstance(fig.tag, str) or fig.tag.rsplit("}", 1)[-1] != "fig":
            continue
        cap = next((c for c in fig if isinstance(c.tag, str) and c.tag.rsplit("}", 1)[-1] == "caption"), None)
        if cap is None:
            continue
        parts = [cap.text or ""]
        for ch in cap:
            parts += ["".join(ch.itertext()), ch.tail or ""]
        out.setdefault(fig.get("id"), []).append(" ".join(" ".join(parts).split()))
    return out


def _source_bytes(source: dict[str, Any], shared_dir: Path, mirrors_dir: Path | None) -> bytes:
    """The XML a span-gold row points at: ``{"kind": "corpus", "path"}`` under ``shared_dir/corpus``, or
    ``{"kind": "github", "repo", "commit", "path"}`` from a git mirror ``mirrors_dir/<owner>+<name>/repo``."""
    import subprocess

    if source.get("kind") == "corpus":
        p = shared_dir / "corpus" / source["path"]
        if not p.exists():
            raise FileNotFoundError(f"{p}: corpus file absent")
        return p.read_bytes()
    if source.get("kind") == "github":
        if mirrors_dir is None:
            raise FileNotFoundError(f"{source['repo']}: no git mirror folder given (MEDVL_GOLD_MIRRORS)")
        git_dir = mirrors_dir / source["repo"].replace("/", "+") / "repo"
        if not git_dir.exists():
            raise FileNotFoundError(f"{git_dir}: no mirror of {source['repo']}")
        r = subprocess.run(["git", "--git-dir", str(git_dir), "show", f"{source['commit']}:{source['path']}"],
                           capture_output=True, timeout=60)
        if r.returncode:
            raise FileNotFoundError(f"{source['repo']}@{source['commit'][:12]}:{source['path']}: "
                                    f"{r.stderr.decode(errors='replace').strip()[:120]}")
        return r.stdout
    raise ValueError(f"unknown source kind {source.get('kind')!r}")


def load_span_gold(path: str | Path, shared_dir: str | Path,
                   mirrors_dir: str | Path | None = None) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    """Rebuild a span-gold file's captions and subcaption texts from their sources.

    Each row holds a source reference, ``fig_id``, ``caption_sha256`` and subcaptions as ``spans`` into the
    caption (``eval/gold/README.md``). Returns ``(rows, unavailable)``: gold rows with caption and texts,
    and ``{"id", "reason"}`` for every row whose source is absent or whose caption no longer hashes the same.
    """
    shared_dir = Path(shared_dir)
    mirrors = Path(mirrors_dir) if mirrors_dir else None
    cache: dict[str, Any] = {}
    rows, unavailable = [], []
    for r in _read_jsonl(path):
        src = r["source"]
        key = json.dumps(src, sort_keys=True)
        try:
            if key not in cache:
                cache[key] = xml_fig_captions(_source_bytes(src, shared_dir, mirrors))
            if r["fig_id"] not in cache[key]:
                raise ValueError(f"no <fig id={r['fig_id']!r}>")
            same = [c for c in cache[key][r["fig_id"]] if sha256_caption(c) == r["caption_sha256"]]
            if not same:
                raise ValueError("caption text differs from the annotated one (sha256)")
            caption = same[0]
        except (OSError, ValueError, SyntaxError) as e:  # ET.ParseError is a SyntaxError
            unavailable.append({"id": r["id"], "reason": str(e)})
            continue
        subs = [{"label": sc["label"], "text": " ".join(caption[a:b] for a, b in sc["spans"])}
                for sc in r["subcaptions"]]
        rows.append(gold_row({"id": r["id"], "caption": caption, "subcaptions": subs,
                              "style": r.get("style"), "source": src}))
    return rows, unavailable
