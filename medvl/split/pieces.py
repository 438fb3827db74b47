"""Cut a caption into numbered pieces for the span splitter (deterministic, offsets only).

The span splitter (`medvl.split.spans`) never lets the model write caption text: medvl cuts the
caption into pieces and the model answers piece ids.  The cut, in order:

* the printed figure label that opens a caption ("Fig. 2.", "Figure 3:") is one piece of kind
  ``figure_label`` (never part of a subcaption text, as with the rules);
* every label mark the rule splitter's candidate finders see ("(a)", "B.", "(C, D)", "Left:") is a
  ``mark`` piece with its normalised labels.  All candidates are kept, also those the rules reject
  (mixed label styles, decoys): the model decides what is a panel; the rules decide nothing here;
* the text between marks is cut into clauses: after ``. ; : ! ?`` and ``,`` followed by a space, and
  before `` and `` / `` or `` / `` whereas `` / `` while ``.  Each clause is a ``text`` piece.

Only text pieces carry an id the model may answer; marks are shown beside them for context.  A piece
is a pair of character offsets into the caption as given (``caption[start:end]``), so a split row can
record the cut without any caption text, and rebuilding a text from pieces is verbatim by
construction.  Change anything here and bump `PIECES_VERSION` (it is part of the split fingerprint).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

PIECES_VERSION = "pieces-1"

# clause ends: punctuation followed by space (the space stays outside both pieces)
_CLAUSE_END = re.compile(r"[.;:!?,](?=\s)")
# a clause also starts before these words
_CLAUSE_WORD = re.compile(r"\s(?=(?:and|or|whereas|while)\s)")
_JUNK = " \t\n,;:"
# a bare label after a clause end that the rules' finders leave out ("..., B: text", "...; C-D. text")
_LOOSE_MARK = re.compile(r"(?:^|(?<=[.,;:!?)]\s))(?P<lab>[A-Za-z](?:\s*(?:[-\u2013\u2014]|,|and|&)\s*[A-Za-z])*)"
                         r"\s*[:.)](?=\s)")


@dataclass(frozen=True)
class Piece:
    start: int
    end: int
    kind: str  # "text" | "mark" | "figure_label"
    labels: tuple[str, ...] = ()  # a mark's normalised labels ("A", "top left")
    id: int | None = None  # text pieces only: the id the model answers

    def text(self, caption: str) -> str:
        return caption[self.start:self.end]

    def to_row(self) -> list:
        """Compact form for a split row: [start, end, kind] (+ labels for marks)."""
        row: list = [self.start, self.end, self.kind]
        if self.labels:
            row.append(list(self.labels))
        return row


def _marks(caption: str) -> list[tuple[int, int, tuple[str, ...]]]:
    """(start, end, labels) of every label candidate the rule splitter's finders see, no overlaps."""
    from medvl.split import rules as R

    depths = R._Depths(caption)
    starts = R._clause_starts(caption)
    cands = R._bold_candidates(caption) if ("*" in caption or "<" in caption) else []
    cands += R._paren_candidates(caption, depths) + R._bare_candidates(caption, depths, starts) \
        + R._rparen_candidates(caption, depths)
    if "panel" in caption or "image" in caption or "row" in caption or "column" in caption:
        cands += R._pos_prose_candidates(caption, depths)
    found = [(m.start, m.end, m.labels) for m in cands]
    for m in _LOOSE_MARK.finditer(caption):
        from medvl.split.labels import expand_labels

        labels = expand_labels(m.group("lab"))
        if labels and all(len(x) == 1 for x in labels):
            found.append((m.start(), m.end(), labels))
    out: list[tuple[int, int, tuple[str, ...]]] = []
    # longest first at each place; a candidate overlapping a kept one is dropped
    for start, end, labs in sorted(found, key=lambda m: (m[0], -(m[1] - m[0]))):
        labels = tuple(dict.fromkeys(labs))
        if not labels or end <= start:
            continue
        if out and start < out[-1][1]:
            continue
        out.append((start, end, labels))
    return out


def _clauses(caption: str, a: int, b: int) -> list[tuple[int, int]]:
    """Clause spans inside caption[a:b], stripped of surrounding whitespace and separators."""
    cuts = {a, b}
    seg = caption[a:b]
    cuts.update(a + m.end() for m in _CLAUSE_END.finditer(seg))
    cuts.update(a + m.start() for m in _CLAUSE_WORD.finditer(seg))
    bounds = sorted(cuts)
    out = []
    for s, e in zip(bounds, bounds[1:]):
        while s < e and caption[s] in _JUNK:
            s += 1
        while e > s and caption[e - 1] in " \t\n":
            e -= 1
        if e > s and any(ch.isalnum() for ch in caption[s:e]):
            out.append((s, e))
    return out


def _rstrip(text: str, start: int, end: int) -> int:
    while end > start + 1 and text[end - 1].isspace():
        end -= 1
    return end


def cut_caption(caption: str) -> list[Piece]:
    """The caption's pieces in caption order; text pieces numbered 0, 1, 2 ..."""
    from medvl.split.rules import _FIG_PREFIX_RE

    text = caption or ""
    pieces: list[Piece] = []
    pos = 0
    fm = _FIG_PREFIX_RE.match(text)
    if fm:
        pieces.append(Piece(fm.start(), _rstrip(text, fm.start(), fm.end()), "figure_label"))
        pos = fm.end()
    marks = [m for m in _marks(text) if m[0] >= pos]
    for start, end, labels in marks:
        pieces += [Piece(s, e, "text") for s, e in _clauses(text, pos, start)]
        pieces.append(Piece(start, _rstrip(text, start, end), "mark", labels))
        pos = end
    pieces += [Piece(s, e, "text") for s, e in _clauses(text, pos, len(text))]
    out, n = [], 0
    for p in pieces:
        if p.kind == "text":
            p = Piece(p.start, p.end, p.kind, p.labels, n)
            n += 1
        out.append(p)
    return out


def text_pieces(pieces: list[Piece]) -> list[Piece]:
    return [p for p in pieces if p.kind == "text"]


def mark_labels(pieces: list[Piece]) -> list[str]:
    """Every label named by a mark, in caption order, once."""
    return list(dict.fromkeys(lab for p in pieces if p.kind == "mark" for lab in p.labels))


def rebuild_spans(caption: str, pieces: list[Piece], ids: list[int]) -> list[tuple[int, int]]:
    """The runs of consecutive chosen text pieces as caption offsets (junk at the ends cut).

    Consecutive ids (no other text piece between them) form one span caption[first.start:last.end],
    which keeps the caption's own punctuation and marks between them out: a mark between two chosen
    pieces splits the run, so no label mark ever enters a text."""
    by_id = {p.id: p for p in pieces if p.kind == "text"}
    chosen = sorted(set(i for i in ids if i in by_id))
    order = [p for p in pieces if p.kind != "figure_label"]
    index = {id(p): k for k, p in enumerate(order)}
    runs: list[list[Piece]] = []
    for i in chosen:
        p = by_id[i]
        if runs and index[id(p)] == index[id(runs[-1][-1])] + 1:
            runs[-1].append(p)
        else:
            runs.append([p])
    out = []
    for run in runs:
        a, b = run[0].start, run[-1].end
        while a < b and caption[a] in _JUNK:
            a += 1
        while b > a and caption[b - 1] in _JUNK:
            b -= 1
        lead = _LEAD_CONJ.match(caption, a, b)
        if lead:
            a = lead.end()
        if a < b:
            out.append((a, b))
    return out


_LEAD_CONJ = re.compile(r"(?:and|or|whereas|while)\s+")


def rebuild_text(caption: str, pieces: list[Piece], ids: list[int]) -> list[str]:
    """The texts of `rebuild_spans`, whitespace runs made one space."""
    return [" ".join(caption[a:b].split()) for a, b in rebuild_spans(caption, pieces, ids)]
