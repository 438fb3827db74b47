"""One definition of "verbatim": a subcaption text made of caption pieces, and where those pieces are.

Every check that a text is caption text uses this module: the LLM splitter's validator, the rule and
LLM splitters when they store their pieces' offsets (``Subcaption.spans``), the report's caption
highlighting, the tests.  A text is **verbatim** in a caption when, both compared after whitespace
normalisation (NFKC per character, every whitespace run one space, ends stripped):

* it occurs in the caption as it is (one piece, anywhere), or
* it is caption pieces in caption order joined with one space (the split spec: label marks cut out,
  pieces joined), cut only at its spaces; each piece is word-aligned in the caption (it neither starts
  nor ends inside a word), pieces do not overlap, a separator (``, ; : …``) at a cut may be left out of
  the caption piece, at most `MAX_PIECES` pieces.  Short pieces are fine: the rules write
  "Pulmonary function after bronchodilator inhalation." for panel B of "Pulmonary function before (A)
  and after (B) bronchodilator inhalation."; caption order and word alignment keep a text stitched from
  scattered words out.

`verbatim_spans` returns the pieces as ``(start, end)`` offsets into the caption as given (not the
normalised one), so ``caption[start:end]`` is the piece with the caption's own spacing.  Stored offsets
are checked with `spans_fit` (no search), which is what readers of split rows use.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_left, bisect_right
from functools import lru_cache
from typing import Iterable, Sequence

MAX_PIECES = 8
SEPARATORS = ",;:\u2026"  # may be dropped where a text joins two caption pieces

_WS = re.compile(r"\s+")
_TOKEN = re.compile(r"\S+")
_LOOSE = re.compile(rf"[{SEPARATORS}]*\s+")

Span = tuple[int, int]


def normalise_ws(text: str) -> str:
    """NFKC, then every run of whitespace becomes one space; ends stripped."""
    return _WS.sub(" ", unicodedata.normalize("NFKC", text or "")).strip()


_NON_ASCII = re.compile(r"[^\x00-\x7f]+")


def _nfkc_run(m: re.Match) -> str:
    return "".join(unicodedata.normalize("NFKC", ch) for ch in m.group())


def _nfkc(token: str) -> str:
    """NFKC per character; ASCII characters are their own NFKC form, so only the non-ASCII runs are looked
    at (a subcaption text of a few hundred characters often has one '±' or 'µ')."""
    return token if token.isascii() else _NON_ASCII.sub(_nfkc_run, token)


@lru_cache(maxsize=256)  # the report and the splitters ask about the same caption once per subcaption
def _normalised(caption: str) -> tuple[str, tuple[int, ...]]:
    """(normalised caption, original offset of each of its characters).  NFKC per character, so every
    normalised character maps back to the one original character it came from."""
    out: list[str] = []
    where: list[int] = []
    for m in _TOKEN.finditer(caption):
        tok, a = m.group(), m.start()
        if tok.isascii():  # most tokens: kept as they are (the loop below does the same, slower)
            if out:
                out.append(" ")
                where.append(a - 1)
            out.append(tok)
            where.extend(range(a, a + len(tok)))
            continue
        # a character NFKC turns into whitespace (a no-break space) splits the token
        parts, cur, at = [], "", a
        for i, ch in enumerate(tok, a):
            n = unicodedata.normalize("NFKC", ch)
            if n.isspace():
                if cur:
                    parts.append((cur, at))
                cur, at = "", i + 1
                continue
            if not cur:
                at = i
            cur += ch
        if cur:
            parts.append((cur, at))
        for tok, a in parts:
            if out:
                out.append(" ")
                where.append(a - 1)  # the whitespace before the token
            if tok.isascii():
                out.append(tok)
                where.extend(range(a, a + len(tok)))
            else:
                for i, ch in enumerate(tok, a):
                    n = unicodedata.normalize("NFKC", ch)
                    out.append(n)
                    where.extend([i] * len(n))
    return "".join(out), tuple(where)


def _norm_text(text: str) -> str:
    """The normalised form of a text (the caption's, without the offsets)."""
    return " ".join(_nfkc(text or "").split())


def _aligned(c: str, a: int, b: int) -> bool:
    return (a == 0 or not (c[a - 1].isalnum() and c[a].isalnum())) and \
        (b == len(c) or not (c[b - 1].isalnum() and c[b].isalnum()))


def _find_aligned(c: str, piece: str, pos: int) -> int:
    j = c.find(piece, pos)
    while j >= 0 and not _aligned(c, j, j + len(piece)):
        j = c.find(piece, j + 1)
    return j


def _pieces(t: str, c: str, start: int) -> list[Span] | None:
    """Normalised-offset spans of `t` as caption pieces in order, from `start` (see the module docstring)."""
    ends = [i for i, ch in enumerate(t) if ch == " "] + [len(t)]
    def longest(p: int, cpos: int) -> int:
        """Index into `ends` of the longest t[p:end] found at or after cpos (alignment aside: a prefix of
        a found text is found too, so a binary search), or one before the first end after p."""
        lo, hi = bisect_right(ends, p), len(ends) - 1
        best = lo - 1
        while lo <= hi:
            mid = (lo + hi) // 2
            if c.find(t[p:ends[mid]].rstrip(SEPARATORS), cpos) >= 0:
                best, lo = mid, mid + 1
            else:
                hi = mid - 1
        return best

    failed: dict[tuple[int, int], float] = {}  # (p, cpos) -> the largest budget that failed (inf: any)

    def solve(p: int, cpos: int, left: int) -> tuple[list[Span] | None, bool]:
        """(spans of t[p:] from cpos within `left` pieces or None, whether the budget cut the search)."""
        if p >= len(t):
            return [], False
        if left == 0:
            return None, True
        if failed.get((p, cpos), -1) >= left:
            return None, False
        cut = False
        first = bisect_right(ends, p)
        for end in (ends[k] for k in range(longest(p, cpos), first - 1, -1)):  # the longest piece first
            raw = t[p:end]
            for piece in dict.fromkeys((raw, raw.strip(SEPARATORS + " "))):
                if not piece:
                    continue
                # the earliest place leaves the most room for the pieces after it
                j = _find_aligned(c, piece, cpos)
                if j < 0:
                    continue
                rest, by_budget = solve(end + 1, j + len(piece), left - 1)
                if rest is not None:
                    return [(j, j + len(piece))] + rest, False
                cut |= by_budget
        failed[(p, cpos)] = left if cut else float("inf")
        return None, cut

    return solve(0, start, MAX_PIECES)[0]


def verbatim_spans(text: str, caption: str, start: int = 0) -> list[Span] | None:
    """Caption offsets ``[(start, end), ...]`` of the pieces `text` is made of, or None when it is not
    verbatim caption text.  `start` (an offset into `caption`) is where to look first: a subcaption
    usually follows the one before it; the whole caption is searched when nothing fits after it."""
    t = _norm_text(text)
    if not t:
        return None
    if t == text:  # most texts are one caption substring as printed: no normalising needed
        j = caption.find(t, start)
        if j >= 0:
            return [(j, j + len(t))]
    c, where = _normalised(caption or "")
    first = bisect_left(where, start) if start else 0
    j = c.find(t, first)
    if j < 0 and first:
        j = c.find(t)
    if j >= 0:
        found: list[Span] | None = [(j, j + len(t))]
    else:
        found = (_pieces(t, c, first) if first else None) or _pieces(t, c, 0)
    if found is None:
        return None
    return [(where[a], where[b - 1] + 1) for a, b in found]


def is_verbatim(text: str, caption: str) -> bool:
    return verbatim_spans(text, caption) is not None


def joined(caption: str, spans: Iterable[Sequence[int]]) -> str:
    """The text stored offsets stand for: the caption pieces, whitespace-normalised, joined with one space."""
    return " ".join(p for p in (normalise_ws(caption[a:b]) for a, b in spans) if p)


def spans_fit(text: str, caption: str, spans: Sequence[Sequence[int]] | None) -> bool:
    """Do stored offsets make `text` from `caption` (in order, inside it, not overlapping; separators left
    out at a join allowed)?  A check without any search: what readers of stored offsets use."""
    if not spans:
        return False
    prev = 0
    for s in spans:
        if len(s) != 2 or not (prev <= s[0] < s[1] <= len(caption or "")):
            return False
        prev = s[1]
    return _LOOSE.sub(" ", _norm_text(text)) == _LOOSE.sub(" ", _norm_text(joined(caption, spans)))


def with_spans(caption: str, subcaptions: list) -> list:
    """`subcaptions` (medvl.records.Subcaption) with the offsets of their verbatim texts filled in (None
    for a text that is not verbatim); each is looked for after the one before it first."""
    out = []
    hint = 0
    for sc in subcaptions:
        spans = verbatim_spans(sc.text, caption, hint)
        if spans:
            hint = spans[-1][1]
        out.append(sc.model_copy(update={"spans": [list(s) for s in spans] if spans else None}))
    return out
