"""The text tagger: modality (+ MRI sequence), anatomy and findings from a pair's words.

Two sources of words: the pair's own text (its subcaption: ``panel``) and the figure's whole caption
(``figure``, context for every panel of the figure); a third, the sentences of the article that cite the
figure (``reference``), is read for modality and anatomy only where those two name none.  Every vocabulary term found is a *mention* with a
weight: the source's weight times the term's weight, times the comparison weight when the term is only
named to compare with ("compared with CT", "than on T2").  Negated findings ("no haemorrhage",
"infarct was excluded") are kept as evidence but give no finding.

A field's probabilities are a softmax of the summed weights of each class named, against a fixed
'unknown' logit: one clear mention in the panel's words gives about 0.88, one in the figure's caption
(the part of it that is no panel's own text) about 0.82, two different modalities named in the figure
only split it (0.45 each; their union 0.9, which the export filter uses for a kept set such as mri,ct).  The image classifier's evidence is
added to the same logits (medvl/tag/combine.py).
"""

from __future__ import annotations

import bisect
import math
import re
from dataclasses import dataclass, field
from typing import Iterable

from medvl.tag.vocab import IGNORE, LazyPattern, TermClass, VocabSet, load_vocab

SOURCE_WEIGHT = {"panel": 3.0, "figure": 2.5,  # figure 2.5 (was 1.5): chosen on the gold regression batches
                 # the article's sentences citing the figure: read only for a field that the caption
                 # leaves silent (they often cite several figures); one mention gives about 0.73
                 "reference": 2.0,
                 # the body part the paper's other scans name, for a scan that names none (paper_context)
                 "paper": 2.0}
UNKNOWN_LOGIT = 1.0
FINDING_SCALE = 1.0  # finding confidence = 1 - exp(-weight / scale)


@dataclass(frozen=True)
class Mention:
    field: str  # modality | sequence | anatomy | finding
    value: str  # the class
    source: str  # panel | figure | reference | paper
    text: str  # the words matched
    start: int
    end: int
    weight: float  # after source, term and context weights
    context: str = "plain"  # plain | negated | comparison

    def to_dict(self) -> dict:
        return {"field": self.field, "value": self.value, "source": self.source, "text": self.text,
                "start": self.start, "weight": round(self.weight, 4), "context": self.context}


@dataclass
class FieldResult:
    value: str | None
    confidence: float
    probs: dict[str, float]
    logits: dict[str, float] = field(default_factory=dict)


# ---------------------------------------------------------------- matching

_TOKEN = re.compile(r"[A-Za-z0-9]+|[^\sA-Za-z0-9]")


def _first_token(term: str) -> str | None:
    m = _TOKEN.search(term)
    return m.group(0).lower() if m else None


class _Matcher:
    """The terms of some classes indexed by their first word: a text is tokenized once and only the
    terms whose first word is there are tried at that place (raw regexes are searched as they are)."""

    def __init__(self, classes: list[TermClass]):
        self.by_word: dict[str, list[tuple[LazyPattern, str, float, int]]] = {}
        self.regexes: list[tuple[LazyPattern, str, float, int]] = []
        for ci, tc in enumerate(classes):
            for rx, w, term, kind in tc.entries():
                key = _first_token(term) if kind != "regex" else None
                if key is None:
                    self.regexes.append((rx, tc.name, w, ci))
                else:
                    self.by_word.setdefault(key, []).append((rx, tc.name, w, ci))

    def find(self, text: str) -> list[tuple[int, int, str, float]]:
        """(start, end, class, term weight) of every match, overlaps resolved: the longest span wins
        (then the earlier start, then the earlier class in the file)."""
        found = []
        for tok in _TOKEN.finditer(text):
            w = tok.group(0).lower()
            keys = {w}
            if len(w) > 3 and w.endswith("s"):
                keys.add(w[:-1])
                if w.endswith("es"):
                    keys.add(w[:-2])
            for k in keys:
                for rx, name, wt, ci in self.by_word.get(k, ()):
                    m = rx.match(text, tok.start())
                    if m and m.end() > m.start():
                        found.append((m.start(), m.end(), ci, name, wt))
        for rx, name, wt, ci in self.regexes:
            for m in rx.finditer(text):
                if m.end() > m.start():
                    found.append((m.start(), m.end(), ci, name, wt))
        found.sort(key=lambda t: (-(t[1] - t[0]), t[0], t[2]))
        taken = bytearray(len(text))
        out = []
        for st, en, _, name, wt in found:
            if any(taken[st:en]):
                continue
            taken[st:en] = b"\x01" * (en - st)
            out.append((st, en, name, wt))
        out.sort()
        return out


_MATCHERS: dict[tuple[str, str], _Matcher] = {}


def _matcher(vocab: VocabSet, which: str) -> _Matcher:
    key = (vocab.sha, which)
    if key not in _MATCHERS:
        if which == "modality":
            classes = vocab.modality.classes + vocab.modality.sequence
        else:
            classes = getattr(vocab, which).classes
        _MATCHERS[key] = _Matcher(classes)
    return _MATCHERS[key]


class _Cues:
    """Negation and comparison cues of the context vocabulary, compiled once."""

    def __init__(self, ctx: dict):
        self.window = int(ctx.get("window", 6))
        self._text: str | None = None
        self._starts: list[int] = []
        self._ends: list[int] = []
        breaks = ctx.get("clause_breaks") or []
        self.breaks = re.compile(r"[.;:!?]\s|[.;:!?]$|\u2014|" + "|".join(
            r"\b" + re.escape(b) + r"\b" for b in sorted(breaks, key=len, reverse=True)), re.IGNORECASE) if breaks \
            else re.compile(r"[.;:!?]\s|[.;:!?]$")
        self.neg_before = self._rx(ctx.get("negation", {}).get("before"))
        self.neg_after = self._rx(ctx.get("negation", {}).get("after"))
        cmp = ctx.get("comparison", {})
        self.cmp_before = self._rx(cmp.get("before"))
        self.cmp_after = self._rx(cmp.get("after"))
        self.cmp_weight = float(cmp.get("weight", 0.25))

    @staticmethod
    def _rx(cues: Iterable[str] | None) -> re.Pattern | None:
        cues = sorted(cues or [], key=len, reverse=True)
        if not cues:
            return None
        return re.compile("|".join(r"(?<![A-Za-z0-9])" + re.escape(c) + r"(?![A-Za-z0-9])" for c in cues),
                          re.IGNORECASE)

    def clause(self, text: str, start: int, end: int) -> tuple[int, int]:
        if self._text is not text:  # the clause breaks of one text, found once
            self._text = text
            spans = [(m.start(), m.end()) for m in self.breaks.finditer(text)]
            self._starts = [a for a, _ in spans]
            self._ends = [b for _, b in spans]
        i = bisect.bisect_right(self._ends, start)  # breaks ending at or before start
        lo = self._ends[i - 1] if i else 0
        j = bisect.bisect_left(self._starts, end)
        hi = self._starts[j] if j < len(self._starts) else len(text)
        return lo, hi

    def _words(self, s: str) -> int:
        return len(re.findall(r"[A-Za-z0-9]+", s))

    def hits(self, rx: re.Pattern | None, text: str, start: int, end: int, before: bool) -> bool:
        if rx is None:
            return False
        lo, hi = self.clause(text, start, end)
        if before:
            for m in rx.finditer(text, lo, start):
                if self._words(text[m.end():start]) <= self.window:
                    return True
        else:
            for m in rx.finditer(text, end, hi):
                if self._words(text[end:m.start()]) <= self.window:
                    return True
        return False


_CUES: dict[str, _Cues] = {}  # by vocabulary sha: compiled once per process


def cues_for(vocab: VocabSet) -> _Cues:
    if vocab.sha not in _CUES:
        _CUES[vocab.sha] = _Cues(vocab.context)
    return _CUES[vocab.sha]


def mentions(text: str, source: str, vocab: VocabSet | None = None) -> list[Mention]:
    """Every vocabulary mention in `text` (one source), with its context."""
    vocab = vocab or load_vocab()
    if not text:
        return []
    cues = cues_for(vocab)
    sw = SOURCE_WEIGHT[source]
    out: list[Mention] = []
    mod = vocab.modality
    seq_names = set(mod.sequence_names())
    for s, e, name, w in _matcher(vocab, "modality").find(text):
        is_seq = name in seq_names
        ctx = "comparison" if (cues.hits(cues.cmp_before, text, s, e, True)
                               or cues.hits(cues.cmp_after, text, s, e, False)) else "plain"
        cw = cues.cmp_weight if ctx == "comparison" else 1.0
        if name == IGNORE:
            continue
        if is_seq:
            out.append(Mention("sequence", name, source, text[s:e], s, e, sw * w * cw, ctx))
            if mod.implies:
                out.append(Mention("modality", mod.implies, source, text[s:e], s, e,
                                   sw * w * cw * mod.implies_weight, ctx))
        else:
            out.append(Mention("modality", name, source, text[s:e], s, e, sw * w * cw, ctx))
    for s, e, name, w in _matcher(vocab, "anatomy").find(text):
        if name != IGNORE:
            out.append(Mention("anatomy", name, source, text[s:e], s, e, sw * w))
    for s, e, name, w in _matcher(vocab, "finding").find(text):
        if name == IGNORE:
            continue
        neg = cues.hits(cues.neg_before, text, s, e, True) or cues.hits(cues.neg_after, text, s, e, False)
        out.append(Mention("finding", name, source, text[s:e], s, e, sw * w / SOURCE_WEIGHT["panel"],
                           "negated" if neg else "plain"))
    return out


# ---------------------------------------------------------------- fields from mentions

REPEAT_WEIGHT = 0.3  # a class named again in the same source adds this share of the mention's weight


def field_logits(ms: Iterable[Mention], name: str) -> dict[str, float]:
    """Per class: per source the strongest mention plus a share of the others (a caption that names
    histology three times is not three times as sure), summed over the sources."""
    per: dict[tuple[str, str], list[float]] = {}
    for m in ms:
        if m.field == name and m.context != "negated":
            per.setdefault((m.value, m.source), []).append(m.weight)
    logits: dict[str, float] = {}
    for (value, _), ws in sorted(per.items()):
        ws.sort(reverse=True)
        logits[value] = logits.get(value, 0.0) + ws[0] + REPEAT_WEIGHT * sum(ws[1:])
    return logits


def resolve(logits: dict[str, float], unknown: float = UNKNOWN_LOGIT) -> FieldResult:
    """Softmax of the classes named against the 'unknown' logit."""
    if not logits:
        return FieldResult(None, 0.0, {}, {})
    top = max(max(logits.values()), unknown)
    exps = {k: math.exp(v - top) for k, v in logits.items()}
    z = sum(exps.values()) + math.exp(unknown - top)
    probs = {k: v / z for k, v in sorted(exps.items(), key=lambda kv: (-kv[1], kv[0]))}
    value = next(iter(probs))
    return FieldResult(value, probs[value], probs, logits)


@dataclass
class TextTags:
    modality: FieldResult
    anatomy: FieldResult
    sequences: list[str]
    findings: dict[str, float]  # class -> confidence
    negated_findings: list[str]
    mentions: list[Mention]


def tag_text(panel_text: str | None, figure_text: str | None = None, vocab: VocabSet | None = None,
             references: Iterable[str] | None = None) -> TextTags:
    """Tags from a pair's own words and its figure's caption (None or the same text: panel only), and
    from the sentences citing the figure (`references`) for modality / anatomy where the caption is silent."""
    vocab = vocab or load_vocab()
    ms = mentions(panel_text or "", "panel", vocab)
    if figure_text and " ".join(figure_text.split()) != " ".join((panel_text or "").split()):
        ms += mentions(figure_text, "figure", vocab)
    if references:
        named = {m.field for m in ms if m.context == "plain"}
        silent = {"modality", "anatomy"} - named
        if silent:
            for ref in references:
                ms += [m for m in mentions(ref, "reference", vocab) if m.field in silent]
    seq_logits = field_logits(ms, "sequence")
    # a sequence named in the panel's own words is the panel's; figure-level sequences only where
    # the panel names none (a figure of T1 (a), T2 (b) and FLAIR (c) is not all three in each)
    own = {m.value for m in ms if m.field == "sequence" and m.source == "panel" and m.context == "plain"}
    sequences = sorted(own) if own else sorted(
        k for k, v in seq_logits.items() if v >= SOURCE_WEIGHT["figure"] and
        sum(1 for m in ms if m.field == "sequence" and m.context == "plain") <= 2)
    fin_w: dict[str, float] = {}
    negated: set[str] = set()
    for m in ms:
        if m.field != "finding":
            continue
        if m.context == "negated":
            negated.add(m.value)
        else:
            fin_w[m.value] = fin_w.get(m.value, 0.0) + m.weight
    findings = {k: round(1 - math.exp(-v / FINDING_SCALE), 4) for k, v in sorted(fin_w.items())}
    return TextTags(resolve(field_logits(ms, "modality")), resolve(field_logits(ms, "anatomy")), sequences,
                    findings, sorted(negated - set(findings)), ms)
