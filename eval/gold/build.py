"""Gold sets are data; this is their one builder and validator.

    python eval/gold/build.py radiology SRC.jsonl OUT.jsonl   # annotator batch (pieces) -> span gold
    python eval/gold/build.py handwritten                     # synthetic_markup.jsonl -> synthetic.jsonl
    python eval/gold/build.py check [--shared ../shared] [--mirrors DIR]

* `radiology`: a batch written by the blind annotator (``subcaptions: [{label, pieces}]`` with the caption
  text, see eval/gold/RADIOLOGY.md) becomes a span-gold file with no caption text: the source reference,
  ``fig_id``, ``caption_sha256``, ``caption_chars`` and each subcaption as ``spans`` ([start, end) offsets
  into the caption). `medvl.split.goldsets.load_span_gold` rebuilds the texts from the source at run time.
* `handwritten`: the hand-written synthetic regression set from its markup file (``«OWNERS:text»`` marks).
* `check`: every gold file parses, labels are normalised, texts are verbatim caption pieces, span files
  rebuild from their sources (where present) with the same caption hash; prints each file's sha256.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))

from medvl.split.goldsets import load_span_gold, pieces_to_spans, sha256_caption  # noqa: E402
from medvl.split.labels import SHARED, normalise_label  # noqa: E402

_TAG = re.compile(r"«([^:«»]+):(.*?)»", re.S)


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def write_jsonl(path: Path, rows: list[dict]) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        for r in rows:
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")


def radiology(src: Path, out: Path) -> None:
    rows = []
    for r in read_jsonl(src):
        cap = r["caption"]
        subs = [{"label": sc["label"], "spans": pieces_to_spans(cap, sc["pieces"])} for sc in r["subcaptions"]]
        # notes are left out: they quote caption text
        rows.append({"id": r["id"], "source": r["source"], "fig_id": r["fig_id"],
                     "caption_sha256": sha256_caption(cap), "caption_chars": len(cap),
                     "style": r.get("style"), "subcaptions": subs})
    write_jsonl(out, rows)
    print(f"wrote {out} ({len(rows)} captions, no caption text)")


def parse_markup(markup: str) -> tuple[str, list[dict[str, str]]]:
    """Caption text and gold subcaptions of one annotated caption: ``«OWNERS:text»`` marks `text` as the
    panels' in OWNERS (``A``, ``A,B``, ``left``, ``_`` = ``_shared``); pieces are stripped of white space and
    trailing ",;:" and joined with one space; the caption is the markup without the marks."""
    pieces: dict[str, list[str]] = {}
    for m in _TAG.finditer(markup):
        for owner in m.group(1).split(","):
            owner = owner.strip()
            label = SHARED if owner == "_" else owner
            piece = m.group(2).strip().rstrip(",;:").strip()
            if piece:
                pieces.setdefault(label, []).append(piece)
    caption = _TAG.sub(lambda m: m.group(2), markup)
    if "«" in caption or "»" in caption:
        raise ValueError(f"unbalanced mark in {markup[:60]!r}")

    def order(label: str) -> tuple[int, str]:
        if label == SHARED:
            return (0, "")
        if len(label) == 1 and label.isupper():
            return (1, label)
        return (2, "")  # positional labels keep their order of appearance (sort is stable)

    return caption, [{"label": lab, "text": " ".join(pieces[lab])} for lab in sorted(pieces, key=order)]


def handwritten(markup_path: Path = HERE / "synthetic_markup.jsonl", out: Path = HERE / "synthetic.jsonl") -> None:
    rows, seen = [], set()
    for r in read_jsonl(markup_path):
        if r["id"] in seen:
            raise ValueError(f"{markup_path}: duplicate id {r['id']}")
        seen.add(r["id"])
        caption, subs = parse_markup(r["markup"])
        if "  " in caption:
            raise ValueError(f"{markup_path}: {r['id']}: double space in caption")
        rows.append({"id": r["id"], "caption": caption, "subcaptions": subs, "source": "synthetic-handwritten",
                     "notes": r.get("notes")})
    write_jsonl(out, rows)
    print(f"wrote {out} ({len(rows)} captions)")


def _verbatim(text: str, caption: str) -> bool:
    pos = 0
    for piece in text.split(" "):
        i = caption.find(piece, pos)
        if i < 0:
            return False
        pos = i + len(piece)
    return True


def check_rows(name: str, rows: list[dict]) -> list[str]:
    errors = []
    ids = set()
    for r in rows:
        if r["id"] in ids:
            errors.append(f"{name}: duplicate id {r['id']}")
        ids.add(r["id"])
        for sc in r["subcaptions"]:
            lab = sc["label"]
            if lab != SHARED and normalise_label(lab) != lab:
                errors.append(f"{name}: {r['id']}: label {lab!r} is not normalised")
            if not _verbatim(sc["text"], r["caption"]):
                errors.append(f"{name}: {r['id']}: {lab} text is not verbatim caption text")
    return errors


def check_version(path: Path, rows: list[dict]) -> list[str]:
    """NAME_vN.jsonl re-annotates NAME.jsonl (issue 10's convention): the same ids and captions, in order."""
    base = re.match(r"(?P<name>.+)_v\d+$", path.stem)
    if not base or not (path.parent / f"{base.group('name')}.jsonl").exists():
        return []
    old = read_jsonl(path.parent / f"{base.group('name')}.jsonl")
    if [(r["id"], r["caption"]) for r in old] != [(r["id"], r["caption"]) for r in rows]:
        return [f"{path.name}: ids or captions differ from {base.group('name')}.jsonl"]
    return []


def check(shared: Path, mirrors: Path | None) -> int:
    errors = []
    for path in sorted(HERE.glob("*.jsonl")) + sorted(HERE.glob("*/*.jsonl")):
        sha = hashlib.sha256(path.read_bytes()).hexdigest()
        rel = path.relative_to(ROOT)
        if path.name == "synthetic_markup.jsonl":
            print(f"{sha}  {rel}")
            continue
        rows = read_jsonl(path)
        if rows and "caption_sha256" in rows[0]:
            built, missing = load_span_gold(path, shared, mirrors)
            errors += check_rows(str(rel), built)
            print(f"{sha}  {rel}  ({len(built)} rebuilt, {len(missing)} sources absent)")
        else:
            errors += check_rows(str(rel), rows)
            errors += check_version(path, rows)
            print(f"{sha}  {rel}  ({len(rows)} captions)")
    for e in errors:
        print("ERROR", e)
    return 1 if errors else 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("radiology")
    r.add_argument("src", type=Path)
    r.add_argument("out", type=Path)
    sub.add_parser("handwritten")
    c = sub.add_parser("check")
    c.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    c.add_argument("--mirrors", type=Path, default=None)
    args = ap.parse_args(argv)
    if args.cmd == "radiology":
        radiology(args.src, args.out)
    elif args.cmd == "handwritten":
        handwritten()
    else:
        return check(args.shared, args.mirrors)
    return 0


if __name__ == "__main__":
    sys.exit(main())
