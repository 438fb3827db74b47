"""Panel-label normalisation shared by the rule splitter, the LLM splitter and the metrics.

Conventions (see eval/gold/README.md):

* a lettered panel is one uppercase letter: ``"(a)"``, ``"A."``, ``"**b**"`` -> ``"A"``, ``"B"``;
  sub-panel marks are folded into their panel: ``"Ai"``, ``"A1"``, ``"A'"`` -> ``"A"``;
* a positional panel is lowercase words, vertical part first: ``"Upper left"``, ``"left upper"`` ->
  ``"top left"``; ``"lower"`` -> ``"bottom"``; ``"centre"``/``"center"``/``"central"`` -> ``"middle"``;
  trailing ``panel(s)``/``image(s)``/``row``/``column`` words are dropped (``"Right panel"`` -> ``"right"``);
* text about the whole figure uses the label ``"_shared"``;
* ranges and combinations expand to one label per panel: ``"(a)–(c)"`` -> ``["A", "B", "C"]``,
  ``"(B, D)"`` -> ``["B", "D"]``, ``"((b) and (c))"`` -> ``["B", "C"]``.

Pure functions, standard library only.
"""

from __future__ import annotations

import re
from functools import lru_cache

SHARED = "_shared"

# dash-like characters used for ranges: hyphen, non-breaking hyphen, figure dash, en dash, em dash, minus
DASHES = "-\u2010\u2011\u2012\u2013\u2014\u2212"
_DASH_CLASS = re.escape(DASHES)

_VERTICAL = {"top": "top", "upper": "top", "bottom": "bottom", "lower": "bottom",
             "middle": "middle", "center": "middle", "centre": "middle", "central": "middle",
             "mid": "middle"}
_HORIZONTAL = {"left": "left", "right": "right"}
_POSITION_FILLERS = {"panel", "panels", "image", "images", "row", "rows", "column", "columns",
                     "side", "far", "the", "hand", "part", "inset", "insets"}
# sub-panel suffix after a panel letter: roman i..viii, digits, primes
_SUBPANEL = r"(?:viii|vii|vi|iv|v|iii|ii|i|\d{1,2}|['\u2032\u2019]{1,2})?"
_LETTER_RE = re.compile(rf"^([A-Za-z]){_SUBPANEL}$")
_STRIP_CHARS = " \t\n()[]{}*_.:,;"


def _strip_markup(raw: str) -> str:
    s = re.sub(r"</?(?:b|bold|strong|i|italic|em)>", "", raw, flags=re.I)
    return s.replace("**", "").strip(_STRIP_CHARS)


def normalise_position(raw: str) -> str | None:
    """'Upper left panel' -> 'top left'; returns None if `raw` is not a positional label."""
    words = [w for w in re.split(r"[\s\-\u2013/]+", raw.lower().strip(_STRIP_CHARS)) if w]
    vert = horiz = None
    seen = False
    for w in words:
        if w in _VERTICAL and vert is None:
            vert = _VERTICAL[w]
            seen = True
        elif w in _HORIZONTAL and horiz is None:
            horiz = _HORIZONTAL[w]
            seen = True
        elif w in _POSITION_FILLERS:
            continue
        else:
            return None
    if not seen:
        return None
    return " ".join(p for p in (vert, horiz) if p)


@lru_cache(maxsize=4096)  # pure; the rule splitter asks the same few label strings again and again
def normalise_label(raw: str | None) -> str | None:
    """Normalise one label: 'a', '(a)', 'A.', 'Ai' -> 'A'; 'Upper left' -> 'top left'; '_shared' stays.

    Returns None when `raw` is not a single panel label (use `expand_labels` for lists and ranges).
    """
    if raw is None:
        return None
    if raw.strip() == SHARED:
        return SHARED
    s = _strip_markup(raw)
    if not s:
        return None
    m = _LETTER_RE.match(s)
    if m:
        return m.group(1).upper()
    return normalise_position(s)


_RANGE_RE = re.compile(
    rf"^([A-Za-z]){_SUBPANEL}\s*(?:\.?\s*[{_DASH_CLASS}]+|\.\.|\bto\b|\bthrough\b|\bthru\b)\s*([A-Za-z]){_SUBPANEL}\.?$",
    re.I,
)
_SPLIT_RE = re.compile(r"\s*(?:,|;|&|\+|/|\band\b|\bor\b)\s*", re.I)


def _expand_range(a: str, b: str) -> list[str]:
    a, b = a.upper(), b.upper()
    if ord(b) < ord(a) or ord(b) - ord(a) > 25:
        return []
    return [chr(c) for c in range(ord(a), ord(b) + 1)]


def expand_labels(raw: str | None) -> list[str]:
    """Expand a label mention into normalised labels, one per panel, in order, without duplicates.

    "(a)–(c)" -> ["A","B","C"]; "(B, D)" -> ["B","D"]; "((b) and (c))" -> ["B","C"]; "A,B" -> ["A","B"];
    "a–d" -> ["A","B","C","D"]; "Ai-Di" -> ["A","B","C","D"]; "left and right" -> ["left","right"].
    Parts that are not labels are ignored; returns [] when nothing in `raw` is a label.
    """
    if raw is None:
        return []
    return list(_expand_labels(raw))


@lru_cache(maxsize=4096)
def _expand_labels(raw: str) -> tuple[str, ...]:
    if raw.strip() == SHARED:
        return (SHARED,)
    s = _strip_markup(raw)
    # drop inner brackets: "(a)–(c)" -> "a–c", "((b) and (c))" -> "b and c"
    s = re.sub(r"[()\[\]]", " ", s)
    s = re.sub(r"\s+", " ", s).strip()
    out: list[str] = []
    for part in _SPLIT_RE.split(s):
        part = part.strip(_STRIP_CHARS)
        if not part:
            continue
        m = _RANGE_RE.match(part)
        if m:
            labels = _expand_range(m.group(1), m.group(2))
        else:
            one = normalise_label(part)
            labels = [one] if one else []
        for lab in labels:
            if lab not in out:
                out.append(lab)
    return tuple(out)


def label_sort_key(label: str) -> tuple[int, str]:
    """Order: letters A..Z, then positional labels, then '_shared'."""
    if label == SHARED:
        return (2, label)
    if len(label) == 1 and label.isupper():
        return (0, label)
    return (1, label)
