"""The export's tag filter: ``--keep modality=mri,ct anatomy=brain [--keep-confidence 0.7]``.

A pair is kept when every named field agrees.  For modality and anatomy the probability of the kept
set is used (a panel that is mri or ct, 0.45 each, is 0.9 'mri,ct'): with no confidence threshold the
most likely class must be in the set, with one the set's probability must reach it.  For ``sequence``
and ``finding`` one of the named values must be tagged (a finding with at least the threshold).
Every dropped pair is a reject with its reason: ``tag_<field>`` (another class), ``tag_<field>_unknown``
(nothing said which), ``tag_<field>_low_confidence`` (the set, but not sure enough), ``untagged``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from medvl.errors import MedvlError

FIELDS = ("modality", "anatomy", "sequence", "finding")


def parse_keep(spec: Any) -> dict[str, list[str]]:
    """'modality=mri,ct' / ['modality=mri,ct', 'anatomy=brain'] / {modality: [mri, ct]} -> a checked dict."""
    if spec is None:
        return {}
    items: dict[str, list[str]] = {}
    if isinstance(spec, dict):
        for k, v in spec.items():
            items[str(k)] = [x.strip() for x in (v.split(",") if isinstance(v, str) else v) if str(x).strip()]
    else:
        for part in ([spec] if isinstance(spec, str) else list(spec)):
            for item in str(part).split():
                if "=" not in item:
                    raise MedvlError(f"keep: {item!r} is not FIELD=VALUE[,VALUE...] (e.g. modality=mri,ct)")
                k, v = item.split("=", 1)
                items.setdefault(k.strip(), []).extend(x.strip() for x in v.split(",") if x.strip())
    from medvl.tag.vocab import load_vocab

    vocab = load_vocab()
    known = {"modality": vocab.modality.names(), "anatomy": vocab.anatomy.names(),
             "sequence": vocab.modality.sequence_names(), "finding": vocab.finding.names()}
    for k, vals in items.items():
        if k not in known:
            raise MedvlError(f"keep: unknown field {k!r}; fields: {', '.join(FIELDS)}")
        if not vals:
            raise MedvlError(f"keep: {k}= names no value")
        bad = [v for v in vals if v not in known[k]]
        if bad:
            raise MedvlError(f"keep: {k} has no value(s) {', '.join(bad)}; known: {', '.join(known[k])}")
    return {k: sorted(dict.fromkeys(v)) for k, v in sorted(items.items())}


@dataclass(frozen=True)
class TagSummary:
    """What the filter needs of a tag row (kept per pair in memory: small)."""

    modality: str | None
    modality_probs: tuple[tuple[str, float], ...]
    anatomy: str | None
    anatomy_probs: tuple[tuple[str, float], ...]
    sequences: tuple[str, ...]
    findings: tuple[tuple[str, float], ...]

    @classmethod
    def from_row(cls, row: dict) -> "TagSummary":
        m, a = row.get("modality") or {}, row.get("anatomy") or {}
        return cls(m.get("value"), tuple((m.get("probs") or {}).items()), a.get("value"),
                   tuple((a.get("probs") or {}).items()), tuple(row.get("sequences") or ()),
                   tuple((f["value"], f["confidence"]) for f in row.get("findings") or ()))


def load_tags(path: str | Path) -> dict[str, TagSummary]:
    path = Path(path)
    out: dict[str, TagSummary] = {}
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                out[row["id"]] = TagSummary.from_row(row)
            except (json.JSONDecodeError, KeyError, TypeError) as exc:
                raise MedvlError(f"{path}:{lineno}: not a tag row ({exc})") from None
    return out


def decide(tag: TagSummary | None, keep: dict[str, list[str]], min_confidence: float = 0.0) -> tuple[str, str] | None:
    """None to keep the pair, else (reason, detail)."""
    if not keep:
        return None
    if tag is None:
        return "untagged", "no tag row for this pair (run the tag stage)"
    for field_name, wanted in keep.items():
        want = set(wanted)
        if field_name in ("modality", "anatomy"):
            value = getattr(tag, field_name)
            probs = dict(getattr(tag, f"{field_name}_probs"))
            p = sum(v for k, v in probs.items() if k in want)
            if value is None:
                return f"tag_{field_name}_unknown", f"{field_name} unknown (kept: {','.join(wanted)})"
            if min_confidence > 0:
                if p >= min_confidence:
                    continue
                if value in want:
                    return (f"tag_{field_name}_low_confidence",
                            f"{field_name} {','.join(wanted)} at {p:.2f} < {min_confidence:.2f}")
                return f"tag_{field_name}", f"{field_name} {value} ({probs.get(value, 0):.2f}), not {','.join(wanted)}"
            if value not in want:
                return f"tag_{field_name}", f"{field_name} {value} ({probs.get(value, 0):.2f}), not {','.join(wanted)}"
        elif field_name == "sequence":
            if not want & set(tag.sequences):
                return "tag_sequence", f"sequence {','.join(tag.sequences) or 'none'}, not {','.join(wanted)}"
        elif field_name == "finding":
            if not any(v in want and c >= min_confidence for v, c in tag.findings):
                have = ",".join(v for v, _ in tag.findings) or "none"
                return "tag_finding", f"finding {have}, not {','.join(wanted)}"
    return None


def mix(tags: Iterable[TagSummary | None]) -> dict[str, dict[str, int]]:
    """Counts of modality and anatomy values ('unknown' for none, 'untagged' for no row)."""
    out: dict[str, dict[str, int]] = {"modality": {}, "anatomy": {}}
    for t in tags:
        for f in ("modality", "anatomy"):
            v = "untagged" if t is None else (getattr(t, f) or "unknown")
            out[f][v] = out[f].get(v, 0) + 1
    return {f: dict(sorted(c.items(), key=lambda kv: (-kv[1], kv[0]))) for f, c in out.items()}
