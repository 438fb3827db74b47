"""Rule-based subcaption splitter: regular expressions and a small state machine, no NLP libraries.

`split_caption(caption)` returns a list of `medvl.records.Subcaption` (label, text):

* labels are normalised (see `medvl.split.labels`): one uppercase letter per lettered panel, lowercase
  words for positional panels ("left", "top left"), ``"_shared"`` for text about the whole figure;
* ranges and combinations ("(a–c)", "(B, D)", "((b) and (c))", "A, B.") give one entry per panel with the
  same text;
* every text is verbatim text of the caption with the label marks removed (pieces of the caption joined
  with a space, e.g. "Ultrasound scan (a) shows a mass" -> A: "Ultrasound scan shows a mass");
* a caption without panels gives ``[]``.

How it works, in four steps:

1. **candidates**: parenthesised label lists "(a)", "(A, B)", "(a–c)", "((b) and (c))", "(left)",
   "Panel (a)", and labels inside annotations "(arrow, A)", "(arrows in A and B)", "(A and B,
   respectively)"; bare right-parenthesis labels "A)", "B-F)"; bare letters at a sentence or clause start
   (or after a PDF figure number "Fig. 1 a Text") followed by ".", ":", "," or a capitalised word
   ("A. Text", "B-F: text", "a Text"); named labels "Panel A shows", "Panels A and B show", "In A,";
   positional words at a sentence start followed by ":" or "," ("Left: ...", "Upper panel, ...").
2. **decoys out**: figure cross-references ("Figure 2(a)"), sub-expressions glued to a word
   ("subgroup(s)"), roman numerals ("(i)", "(ii)"), parenthetical asides ("(seen in picture (b))"),
   binomials ("E. coli"), abbreviation lists ("A, anterior; P, posterior"), letters used as names
   ("bone (B)", "vitamin A", "type B", "hepatitis B" are never at a clause start), and letter sets that
   are not a plausible panel sequence (must contain A for uppercase/bare labels, few gaps; "Panel A"
   counts for "(Panel B)"); a weak bare letter ("A CT scan", "A 14-year-old") yields to a real label of
   that panel; positional words inside lettered panels are not panels; a range header whose sentence has
   its own postfix marks ("c–e, X (c), Y (d) and Z (e)") only names them; references to a panel already
   labelled ("Data in (b) are ...", "(arrows in A)", "Scale bars: 1 mm (A)") are not cut points.
3. **roles**: each marker is a *prefix* (it starts its text: at a sentence start or after a
   preposition / verb / conjunction of a list), *postfix* (it ends its text: followed by punctuation or
   "and"), or *inline* (follows its noun phrase and the sentence goes on: "CT scan (a) shows ...").
4. **segments**: text between markers goes to the marker that owns it by role; a postfix marker owns
   its sentence (or clause) up to it; the predicate after a chain "X (a) and Y (b) show Z" goes to every
   label of the chain (the tail of a longer list "X (a), Y (b) and Z (c) in ..." goes to the last item);
   text before the first marker and whole-figure sentences after the last one go to ``"_shared"``:
   statistics, "Data are mean ± SD", abbreviation and colour keys ("HR, hazard ratio; ...", "Red, ..."),
   plural display elements ("Arrowheads indicate ..."), methods of every panel, a single trailing scale
   bar; a statement an earlier panel also made (its own scale bar, its own test) stays with the last one.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Callable

from medvl.records import Subcaption
from medvl.split.labels import DASHES, SHARED, expand_labels, normalise_position
from medvl.split.ruleversion import rules_version

# derived from this module's code (and labels.py): see medvl.split.ruleversion
RULES_VERSION = rules_version()

_D = re.escape(DASHES)
_SUB = r"(?:viii|vii|vi|iv|v|iii|ii|i|\d{1,2}|['\u2032\u2019]{1,2})?"
# a dotted range "C.-F." is a range too (the dot after the first letter; the last one is the terminator)
_ITEM = rf"[A-Za-z]{_SUB}(?:\s*(?:\.?\s*[{_D}]|to|through)\s*[A-Za-z]{_SUB})?"
_SEP = r"\s*(?:,\s*and|,\s*&|,|&|\band\b|\bor\b|/|;)\s*"
_LIST = rf"{_ITEM}(?:{_SEP}{_ITEM})*"
# content of a label parenthesis, after inner brackets were blanked out
_PAREN_LIST_RE = re.compile(rf"^\s*{_LIST}\.?\s*$")  # "(E.)", "(C.-F.)": a dotted label in brackets
_POS_WORD = r"(?:top|bottom|upper|lower|middle|center|centre|central|left|right)"
_POS_INITIALS = "tbulmcrTBULMCR"  # first letters of _POS_WORD (re.I folds none of them onto another character)
_POS_WORDS = ("left", "right", "top", "bottom", "upper", "lower", "middle", "cent")  # each of _POS_WORD has one
_POS_PHRASE = rf"{_POS_WORD}(?:[\s\-]+{_POS_WORD})?(?:\s+(?:panels?|images?|rows?|columns?|insets?))?"
_PAREN_POS_RE = re.compile(rf"^\s*(?:the\s+)?(?:far\s+)?{_POS_PHRASE}(?:\s*(?:,|and|&)\s*{_POS_PHRASE})*\s*$", re.I)
_ROMAN_MULTI = {"ii", "iii", "iv", "vi", "vii", "viii", "ix", "xi", "xii"}
_ROMAN_ALL = _ROMAN_MULTI | {"i", "v", "x"}

# bare letters at a clause start: "A. Text", "B-F: text", "E, F. Text", "A, text", "a Text", "A) text"
_BARE_RE = re.compile(
    rf"(?:[Pp]anels?\s+)?(?P<lab>{_LIST})(?P<term>\s*[.:]\s+|\s*[.:](?=[A-Z])|\s*,\s+|\s*\)\s*|\s+(?=[A-Z0-9(\u201c\"]))")

# "Panels A and B show ...", "Panel C shows ..." (NEJM style: the panel word makes a lowercase verb fine);
# "In A, a microadenoma ..."
_PANEL_WORD_RE = re.compile(rf"(?:[Pp]anels?|PANELS?)\s+(?P<lab>{_LIST})(?P<term>\s*[.:,]\s+|\s*[.:](?=[A-Z])|\s+(?=[a-z]))")
_IN_LABEL_RE = re.compile(rf"[Ii]n\s+(?:[Pp]anels?\s+)?(?P<lab>{_LIST})(?P<term>\s*,\s+)")
# the figure label that opens a PDF caption ("Fig. 2.", "Figure 3:", "FIGURE 1 |", "Supplementary Figure S2.",
# "Extended Data Fig. 4 -"): never part of any subcaption text
_FIG_PREFIX_RE = re.compile(
    r"^\s*(?:(?:Supplementary|Supplemental|SUPPLEMENTARY|SUPPLEMENTAL|Extended\s+Data|EXTENDED\s+DATA)\s+)?"
    r"(?:Fig(?:ure)?s?\.?|FIG(?:URE)?S?\.?)\s*S?\d+(?:\s*[.:|]\s*|\s+[\u2013\u2014-]\s+|\s+)(?=\S)")

_POS_START_RE = re.compile(rf"(?P<lab>{_POS_PHRASE}(?:\s*(?:,|and|&)\s*{_POS_PHRASE})?)(?P<term>\s*[:,]\s+|\s*[.]\s+(?=[A-Z]))",
                           re.I)

# prose positional panels: "The left panel shows ... and the right panel shows ..."
# (the letter first, "\b" as a look-behind: a leading "\b" made re try every offset instead of scanning for T/I)
_POS_PROSE_RE = re.compile(
    rf"[TtIi](?<!\w.)(?:(?<=[Tt])he|(?<=[Ii])n\s+the)\s+(?P<lab>{_POS_WORD}(?:[\s\-]+{_POS_WORD})?)\s+"
    r"(?:panels?|images?|rows?|columns?)"
    r"(?P<term>\s*,\s*|\s+)(?=(?:shows?|depicts?|illustrates?|displays?|presents?|demonstrates?|contains?|"
    r"is|are|gives?|plots?)\b|(?<=,\s))")
# a label inside an annotation: "(arrow, A)", "(arrows in A and B)", "(A, arrowheads)", "(A and B, respectively)"
_ANNOT_WORDS = (r"(?:(?:white|black|open|closed|solid|dashed|dotted|red|yellow|green|blue|thin|thick|small|large|"
                r"curved|double)\s+)?(?:arrows?|arrowheads?|asterisks?|stars?|circles?|boxes?|ovals?|outlines?|"
                r"lines?|dashed\s+lines?)")
_ANNOT_PRE_RE = re.compile(rf"^(?P<pre>\s*{_ANNOT_WORDS})(?:\s*,\s*|\s+(?:in|on)\s+(?:panels?\s+)?)(?P<lab>{_LIST})\s*$",
                           re.I)
# a word each match of _ANNOT_PRE_RE or _ANNOT_POST_RE has ("outline", "arrowhead", "dashed line" included)
_ANNOT_KEYS = ("arrow", "asterisk", "star", "circle", "box", "oval", "line", "respectively")


def _may_be_annotation(content: str) -> bool:
    """False when neither annotation pattern can match `content`: none of their words in it, lower-cased
    (re.I matches an ASCII letter only with its two cases, but for the characters of _FOLD_TO_ASCII)."""
    if any(map(content.__contains__, _FOLD_TO_ASCII)):  # (map: no generator frame per word)
        return True
    low = content.lower()
    return any(map(low.__contains__, _ANNOT_KEYS))


_PANEL_BEFORE_RE = re.compile(r"(?<![\w-])[Pp]anels?\s+$")
_ANNOT_POST_RE = re.compile(rf"^\s*(?P<lab>{_LIST})\s*,\s*(?P<word>{_ANNOT_WORDS}|respectively)\s*$", re.I)
# stain and colour abbreviations that look like letter lists
_NOT_LABEL_PAREN_RE = re.compile(r"[(\[]\s*(?:H\s*&\s*E|B\s*&\s*W|R\s*&\s*D|H/E|HE)\s*[)\]]")
_FIG_REF_RE = re.compile(r"(?:\bFig(?:ure)?s?\.?|\bTable|\bSupplementary)\s*S?\d+[A-Za-z]?\s*$", re.I)
_CLAUSE_END = ".;:!?"


def _boundary_before(text: str, i: int) -> bool:
    """The text before offset `i` is empty or ends a sentence or clause ('.', ';', ':', '!', '?', maybe with ')'
    or ']' after it; spaces ignored). A backwards scan: a '$'-anchored regex on text[:i] is tried at every
    offset and was the splitter's hottest call."""
    j = i - 1
    while j >= 0 and text[j].isspace():
        j -= 1
    if j < 0 or text[j] in _CLAUSE_END:
        return True
    return text[j] in ")]" and j >= 1 and text[j - 1] in _CLAUSE_END
_PREFIX_WORD_RE = re.compile(
    r"\b(?:in|of|on|at|from|with|for|by|to|into|within|between|both|either|and|or|versus|vs\.?|"
    r"shows?|showed|showing|shown|reveals?|revealed|revealing|demonstrates?|demonstrated|demonstrating|"
    r"depicts?|depicted|depicting|illustrates?|illustrated|illustrating|displays?|displayed|displaying|"
    r"presents?|presented|presenting|including|includes?|indicates?|indicating|are|is|were|was|"
    r"where|while|whereas|respectively|as|seen|observed|after|before|during)\s*$", re.I)
_REF_BEFORE_RE = re.compile(
    r"\b(?:see|cf\.?|as in|in|of|from|for|than|than in|to|like|unlike|compared (?:with|to)|"
    r"similar to|same as|panels?|pictures?)\s*$", re.I)
_WORD_END_MAX = 13  # the longest word of _PREFIX_WORD_RE and _REF_BEFORE_RE ("demonstrating", "compared with")


def _ends_with_word(word_re: re.Pattern, s: str) -> bool:
    """word_re (a word alternation, then spaces to the end) matches at the end of `s`: the search starts where
    its longest word would, before the trailing spaces (a '$'-anchored search is otherwise tried at every
    offset)."""
    return word_re.search(s, max(0, len(s.rstrip()) - _WORD_END_MAX)) is not None


def _fig_ref_before(text: str, i: int) -> bool:
    """A figure reference ("Fig. 2", "Supplementary Figure 3a") ends right before offset `i` (14 characters
    looked at). _FIG_REF_RE needs a digit last or one before last (spaces aside): checked first."""
    s = text[max(0, i - 14):i]
    r = s.rstrip()
    if not (r[-1:].isdigit() or r[-2:-1].isdigit()):
        return False
    return _FIG_REF_RE.search(s) is not None


_CONNECTOR_RE = re.compile(rf"^\s*(?:,|,?\s*and|,?\s*&|,?\s*or|/|[{_D}]|to|through)\s*$", re.I)
_RANGE_CONNECTOR_RE = re.compile(rf"^\s*(?:[{_D}]|to|through)\s*$", re.I)
_TERMINAL_AFTER_RE = re.compile(r"^\s*(?:[.;,!?)\]]|$|(?:and|or|vs|versus|compared\s+(?:with|to))\b)")
_COLON_AFTER_RE = re.compile(r"^\s*:")
# a sentence starts with a capital, digit, bracket, quote, asterisk or "n =", or with a lowercase key entry
# ("... heart. a, atrium; v, ventricle")
# the match starts at the punctuation mark (one before the gap): a leading look-behind made every offset a try
_SENT_END_RE = re.compile(r"[.!?;](?:[\)\]\u201d\"']?\s+(?=[A-Z0-9(\[\u201c\"\u2217*]|n\s*=|[a-z]{1,4},\s))|;\s+")
# the words of _ABBREV_END_RE (at most 6 characters, 7 with the full stop)
_ABBREV_WORDS = ("Fig", "Figs", "e.g", "i.e", "et al", "vs", "approx", "ca", "no", "No", "Dr", "St", "Ref", "cf")


def _abbrev_end(s: str, end: int) -> bool:
    """_ABBREV_END_RE matches s[:end] (which ends with '.') at its end: one of its words or a capital before
    the stop (checked with str methods first), then the regex from where its longest match would start."""
    before = s[max(0, end - 7):end - 1]
    if not (before.endswith(_ABBREV_WORDS) or "A" <= before[-1:] <= "Z"):
        return False
    return _ABBREV_END_RE.search(s, max(0, end - 7), end) is not None


_AFTER_WORD_INITIAL_RE = re.compile(r"\b[a-z]{2,}\s+[A-Z]\.$")
_ABBREV_END_RE = re.compile(r"(?:\b(?:Fig|Figs|e\.g|i\.e|et al|vs|approx|ca|no|No|Dr|St|Ref|cf)|\b[A-Z])\.$")
_LEAD_JUNK_RE = re.compile(r"^(?:[\s,;:.\)\]}]|and\b|or\b|while\b|whereas\b|but\b|however\b|vs\b\.?|versus\b)+", re.I)
# the characters a _LEAD_JUNK_RE match of a stripped text opens with (re.I folds none but ASCII onto these)
_LEAD_JUNK_FIRST = frozenset(",;:.)]}aAoOwWbBhHvV")
_TRAIL_JUNK_RE = re.compile(r"(?:[\s,;:(\[{]|\band|\bor|\bwhile|\bwhereas|\bboth|\beither)+$", re.I)
_WHOLE_FIGURE_RE = re.compile(
    r"^(?:scale\s*bars?|bars?\s*[=:,]|data\s+(?:are|were|represent|shown|is)|values\s+(?:are|were|represent)|"
    r"error\s+bars|results\s+are|graphs?\s+show|all\s+(?:images|panels|data|graphs)|statistical|"
    r"statistics|significance|significant|abbreviations?|[*\u2217]+\s*[pP]|\(?[*\u2217]+\)?\s*[pP]\b|"
    r"n\s*=|mean\s*\u00b1|means\s*\u00b1|arrows?\s+(?:indicate|show|point)|magnification|original\s+magnification|"
    r"each\s+experiment|experiments\s+were|\(?ns\b|"
    # display elements explained for the whole figure (plural: "The arrow indicates the opening" is one
    # panel's): "Arrowheads indicate ...", "Dots indicate ...",
    # "Colour bar indicates ...", "The insets show ...", "Numbers at risk are shown ..."
    r"(?:the\s+)?(?:(?:white|black|open|closed|filled|solid|dashed|dotted|red|green|blue|yellow|thin|thick|"
    r"small|large|curved|double)\s+)*(?:arrows|arrowheads|asterisks|stars|dots|lines|circles|squares|"
    r"triangles|boxes|boxed\s+areas|insets|symbols|colou?r\s+(?:bars?|scales?|codes?)|"
    r"numbers\s+(?:at\s+risk|in\s+brackets|in\s+parenthes[ie]s))\s+(?:\w+\s+){0,3}?(?:indicates?|shows?|"
    r"denotes?|marks?|represents?|points?|are|is|correspond\w*|highlights?|delineates?|outlines?)\b|"
    # methods or provenance of every panel: "Results represent ...", "Sections were stained ...",
    # "Images courtesy of ..."
    r"results\s+(?:represent|are|were|show)|representative\s+of\s+(?:\w+\s+)?(?:independent|separate)|"
    r"(?:images?\s+)?courtesy\b|"
    # permission and reuse notes: "Reprinted from ...", "Adapted with permission from ...", "Modified from ..."
    r"(?:reprinted|reproduced|adapted|modified|redrawn|used)\s+(?:\w+\s+){0,3}?(?:from|with|by|under)\b|"
    # line styles, I bars and support values explained once: "The dashed line marks ...", "I bars indicate ...",
    # "Bootstrap values > 70% are shown"
    r"(?:the\s+)?(?:dashed|dotted|solid|horizontal|vertical|red|black|grey|gray)\s+(?:\w+\s+)?lines?\s+"
    r"(?:indicates?|shows?|marks?|denotes?|represents?|is|are)\b|i\s+bars|whiskers\s+|"
    r"(?:bootstrap|support|posterior\s+probability)\s+values|all\s+cells\s+(?:were|are)\s+\w+ed\b|(?:all\s+)?(?:\w+\s+)?(?:sections|images|samples|slides|specimens|"
    r"micrographs|photomicrographs|blots|measurements)\s+(?:were|are)\s+(?:\w+ed|shown|taken|done)\b|"
    r"(?:at\s+least|a\s+total\s+of|more\s+than|up\s+to)\s+[\d,]+\s+(?:\w+\s+){1,3}?(?:were|was)\b|"
    # plot elements and statistical tests: "Shaded areas are 95% CIs", "Two-way ANOVA"
    r"(?:shaded|grey|gray)\s+(?:areas|regions|bands)|error\s+bands|(?:one|two|three)[-\s]way\s+anova|"
    r"(?:unpaired|paired|two-tailed|two-sided)\s+(?:student|t[-\s]test|wilcoxon|mann)|"
    # eLife/PLOS extras: "Figure 1—source data 1.", "Source data are provided ..."
    r"(?:figure\s+\d+\s*[\u2014\u2013-]\s*)?(?:source\s+data|figure\s+supplements?)\b|"
    # a closing interpretation of a case: "The findings are consistent with ..."
    r"(?:the\s+)?(?:imaging\s+|above\s+|these\s+)?findings\s+(?:are|were)\s+(?:consistent|compatible|"
    r"suggestive|typical|characteristic|diagnostic)\b)", re.I)
# an abbreviation or colour key: "HR, hazard ratio; CI, ...", "SUVR, standardised uptake value ratio.",
# "a, atrium; v, ventricle", "Red, visceral fat; blue, ...", "Class labels: N, normal; B, benign"
_KEY_ENTRY_RE = re.compile(
    r"^(?:(?:[A-Za-z]+\s+)?(?:labels?|keys?|legends?|codes?|abbreviations?)\s*:\s*)?"
    r"(?P<tok>[^\s,;:=()]{1,10}|(?:red|green|blue|yellow|magenta|cyan|gr[ae]y|white|black|orange|purple|pink|"
    r"brown)(?:\s+[a-z]+)?)\s*(?:,\s+|=\s*|:\s+)(?P<exp>[^,;()=]{1,80}?)\s*[;.]?$", re.I)
_COLOUR_RE = re.compile(r"^(?:red|green|blue|yellow|magenta|cyan|gr[ae]y|white|black|orange|purple|pink|brown)\b",
                        re.I)
_WORD_AFTER_RE = re.compile(r"^\s*([A-Za-z]+)")
_REF_VERB_RE = re.compile(r"^\s*(?:is|are|was|were|shows?|showed|indicates?|represents?|depicts?|illustrates?|"
                          r"demonstrates?|displays?|correspond\w*|has|have|had|can|could|may|might|"
                          r"remains?|remained|became|becomes?|appears?|appeared)\b", re.I)


@dataclass(slots=True)
class _Marker:
    start: int
    end: int
    labels: list[str]
    kind: str  # "paren", "rparen", "bare", "pos"
    upper: bool = False
    role: str = ""  # "prefix", "postfix", "inline"
    ref: bool = False
    pieces: list[str] = field(default_factory=list)
    weak: bool = False  # a bare letter followed only by a space ("A CT scan ...", "a Axial CT ...")
    annot: bool = False  # a label inside an annotation parenthesis: "(arrow, A)", "(arrows in A and B)"
    named: bool = False  # a bare label named by a word: "Panel A shows ...", "In B, ..."


# ---------------------------------------------------------------- candidates

_BRACKET_RE = re.compile(r"[()\[\]]")


_MARKS = ".;:!?()[]"  # the characters _offsets is asked about


@lru_cache(maxsize=8)
def _mark_offsets(text: str) -> dict[str, list[int]]:
    """{mark: its offsets in `text`} for each of _MARKS, found once per caption with str.find."""
    found: dict[str, list[int]] = {}
    for ch in _MARKS:
        at = found[ch] = []
        i = text.find(ch)
        while i >= 0:
            at.append(i)
            i = text.find(ch, i + 1)
    return found


def _offsets(text: str, chars: str) -> list[int]:
    """Sorted offsets of the characters `chars` (some of _MARKS) in `text` (str.find: a scan for a character
    class with re costs several times more on a long legend)."""
    found = _mark_offsets(text)
    out: list[int] = []
    for ch in chars:
        out += found[ch]
    out.sort()
    return out
_MAX_PAREN_SPAN = 600  # a "(" closed further away than this is taken as unclosed


class _Depths:
    """Bracket depth at any offset: depth[i] is the depth before text[i] ('(' included), after it for ')'."""

    __slots__ = ("pos", "after", "close", "closing", "opens", "rparens", "open_before")

    def __init__(self, text: str):
        self.pos: list[int] = []
        self.after: list[int] = []
        self.close: dict[int, int] = {}  # offset of an opening bracket -> offset of the bracket closing it
        self.closing: set[int] = set()  # offsets of the closing brackets that pair up
        # only brackets that pair up count: a stray "(" ("measured by ( thymidine ...", "(asterisk: ...
        # signal. E-G ...") would otherwise put the rest of the caption inside a parenthesis
        offs = _offsets(text, "()[]")
        opening = [text[i] in "([" for i in offs]
        self.opens = _offsets(text, "([")  # every "(" and "[", paired or not
        self.rparens = _mark_offsets(text)[")"]  # every ")"
        stack: list[int] = []  # indexes into offs
        paired = [False] * len(offs)
        close, closing = self.close, self.closing
        for k, i in enumerate(offs):
            if opening[k]:
                stack.append(k)
            elif stack:
                ko = stack.pop()
                o = offs[ko]
                close[o] = i
                if i - o <= _MAX_PAREN_SPAN:
                    paired[ko] = paired[k] = True
                    closing.add(i)
        depth = 0
        pos, after = self.pos, self.after
        self.open_before: dict[int, int] = {}  # paired opening bracket -> the depth before it
        for k, i in enumerate(offs):
            if paired[k]:
                if opening[k]:
                    self.open_before[i] = depth
                depth = depth + 1 if opening[k] else depth - 1 if depth else 0
                pos.append(i)
                after.append(depth)

    def matching_close(self, i: int, limit: int = 60) -> int:
        """The bracket closing the one at `i` when it is less than `limit` characters on, else -1."""
        j = self.close.get(i, -1)
        return j if 0 <= j - i < limit else -1

    def __getitem__(self, i: int) -> int:
        d = self.open_before.get(i)
        if d is not None:
            return d  # an opening bracket: the depth before it
        k = bisect_right(self.pos, i)  # brackets at offsets <= i
        return self.after[k - 1] if k else 0


_PAREN_START_RE = re.compile(r"[\s(\[]*[A-Za-z]")
_SEE_PANEL_RE = re.compile(r"^\s*(?:see\s+)?panels?\s+", re.I)


def _paren_candidates(text: str, depths: _Depths) -> list[_Marker]:
    out: list[_Marker] = []
    skip_to = -1
    for i in depths.opens:
        if i < skip_to or depths[i] != 0:
            continue
        j = depths.matching_close(i)
        if j < 0:
            continue
        skip_to = j + 1
        prev = text[i - 1] if i else " "
        if prev.isalnum() or prev in "-_/":  # "subgroup(s)", "2(a)", "IL-6(b)"
            continue
        content = text[i + 1:j]
        if not _PAREN_START_RE.match(content):
            continue  # "(n = 3)", "(5 μM)": every label, annotation or position starts with a letter
        got = _paren_content_cached(content) if len(content) <= _CACHED_CONTENT else _paren_content(content)
        if got is None:
            continue
        if got[0] == "list" and _PRIMED_ONLY_RE.match(content) and not _boundary_before(text, i):
            continue  # "Loops labelled with primed letters (A'-F')": a primed list inside a sentence names parts
        kind, labels, upper, pre, annot = got
        if kind == "list":
            # "Panel (a) shows ..., and panel (b) ...": the word is part of the mark
            pw = _PANEL_BEFORE_RE.search(text, max(0, i - 8), i) if "anel" in text[max(0, i - 8):i] else None
            kind, start = "paren", pw.start() if pw else i
        else:
            start = i if pre < 0 else i + 1 + pre
        out.append(_Marker(start, j + 1, list(labels), kind, upper=upper, annot=annot))
    # a single "(i)"/"(v)" next to roman numerals is a roman numeral too
    if any(m.kind == "roman" for m in out):
        out = [m for m in out if not (m.kind == "paren" and len(m.labels) == 1
                                      and text[m.start + 1:m.end - 1].strip().lower() in _ROMAN_ALL)]
    return [m for m in out if m.kind != "roman"]


_PRIME = "'\u2032\u2019"
# "(A'-F')", "(B', C')": two or more primed letters and nothing else (a single "(G')" is a sub-panel mark)
_PRIMED_ONLY_RE = re.compile(rf"\s*[A-Za-z][{_PRIME}]{{1,2}}(?:\s*(?:[,&/{_D}]|and|or|to)\s*[A-Za-z][{_PRIME}]{{1,2}})+\s*$")
_CACHED_CONTENT = 24  # short bracket contents ("A", "B-D", "arrow, C", "n = 3") recur from caption to caption
_ROMAN_SPLIT_RE = re.compile(rf"[\s,&/;.{_D}]+|\band\b|\bor\b|\bto\b")
_POS_SPLIT_RE = re.compile(r"\s*(?:,|\band\b|&)\s*")
_POS_SPLIT_I_RE = re.compile(r"\s*(?:,|\band\b|&)\s*", re.I)


def _paren_content(content: str) -> tuple | None:
    """What a bracket's content labels, whatever the caption: (kind, labels, upper, offset of the label mark
    after the annotation words or -1, annot), or None; kind "list" is a "paren" label list."""
    bare = _BRACKET_RE.sub(" ", content)
    flat = _SEE_PANEL_RE.sub("", bare)
    if _PAREN_LIST_RE.match(flat):
        items = [p for p in _ROMAN_SPLIT_RE.split(flat.strip().lower()) if p]
        if any(it in _ROMAN_MULTI for it in items):  # "(ii)", "(i-iv)", "(i, iii)"
            return "roman", (), False, -1, False
        labels = expand_labels(flat)
        return ("list", tuple(labels), any(c.isupper() for c in flat), -1, False) if labels else None
    am = (_ANNOT_PRE_RE.match(bare) or _ANNOT_POST_RE.match(bare)) if _may_be_annotation(bare) else None
    if am:
        labels = expand_labels(am.group("lab"))
        if not (labels and all(len(x) == 1 for x in labels)):
            return None
        upper = any(c.isupper() for c in am.group("lab"))
        if "pre" in am.groupdict():
            # the mark is ", A)": "sinus (arrow, A)." leaves "sinus (arrow" to the panel's text
            return "paren", tuple(labels), upper, am.end("pre"), True
        return "paren", tuple(labels), upper, -1, am.group("word").lower() != "respectively"
    if _PAREN_POS_RE.match(flat):
        labels = [lab for part in _POS_SPLIT_RE.split(flat) if (lab := normalise_position(part))]
        return ("pos", tuple(labels), False, -1, False) if labels else None
    return None


_paren_content_cached = lru_cache(maxsize=4096)(_paren_content)


_CLAUSE_END_RE = re.compile(r"[.;:!?][\)\]\u201d\"']?\s+")


def _clause_starts(text: str) -> list[int]:
    return list(_punctuation_scan(text)[0])


_INITIAL_STOP_RE = re.compile(r"[.;:!?]\s+[A-Za-z]\.$")


@lru_cache(maxsize=8)
def _punctuation_scan(text: str) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(clause starts, sentence bounds): one walk over the caption's .;:!? marks for both, each full stop's
    abbreviation test made once (a sentence end is always a clause end: _SENT_END_RE's matches are
    _CLAUSE_END_RE's)."""
    starts = [0]
    fm = _FIG_PREFIX_RE.match(text)
    if fm:
        starts.append(fm.end())
    bounds = [0]
    for q in _offsets(text, ".;:!?"):
        m = _CLAUSE_END_RE.match(text, q)
        if not m:
            continue
        abbrev = text[q] == "." and _abbrev_end(text, q + 1)
        # (a match of _ABBREV_END_RE is 7 characters at most: searching from there finds the same)
        # "Fig. 2", "e.g. A" and single initials are no sentence end, except "A. Text" labels
        if not abbrev or q == 1 or _INITIAL_STOP_RE.search(text[max(0, q - 6): q + 1]):
            starts.append(m.end())
        if text[q] != ":":
            _sentence_bound(text, q, abbrev, bounds)
    return tuple(sorted(set(starts))), tuple(bounds)


# "C: cytoplasm; N: nucleus", "D, nucleus; L, lipid droplet": a key of letters that name structures
_KEY_LIST_RE = re.compile(r"(?P<a>[A-Za-z])\s*[:,=]\s+(?P<exp>[^;:,.()=]{1,40}?)\s*[;,]\s+(?:and\s+)?"
                          r"(?P<b>[A-Za-z][A-Za-z0-9]{0,5})\s*[:,=]\s+[^;:,.()=]{1,40}?\s*(?:[;,.]|$)")


def _starts_key_list(text: str, i: int) -> bool:
    """The letter at `i` opens a key of short entries whose next letter is not the next panel's."""
    m = _KEY_LIST_RE.match(text, i)
    if not m or len(m.group("exp").split()) > 4:
        return False
    a, b = m.group("a"), m.group("b")
    return not (len(b) == 1 and b.upper() == chr(ord(a.upper()) + 1))


_AND_ITEM_RE = re.compile(r"(?:and|or)\s+(?=[A-Za-z](?:\s*[,.:]\s|\s*[\u2013\-]\s*[A-Za-z]\s*[,.:]\s))")


# "C and F strains", "C, F": the letters of a list, not "H&E staining" (a stain written with no spaces)
_LETTER_LIST_REST_RE = re.compile(r"[A-Za-z](?:\s*,\s*|\s+(?:and|or|&)\s+)[A-Za-z]\b")


def _bare_candidates(text: str, depths: _Depths, starts: list[int]) -> list[_Marker]:
    out: list[_Marker] = []
    for s in starts:
        if s >= len(text) or depths[s] != 0:
            continue
        # "A, dorsal; B, ventral; and C, lateral views": the last item of a ';' list opens with "and"
        am = _AND_ITEM_RE.match(text, s) if text[s] in "ao" else None
        if am and s and text[s - 2:s].strip() == ";":
            s = am.end()
        c = text[s]
        if c not in _ASCII_LETTERS:
            continue  # every pattern below opens with an ASCII letter ("Panel", "In", a label, a position word)
        # each pattern is tried only where its first characters can match: a label letter is followed by no
        # letter but a sub-panel numeral or "to"/"through" (i, v, t), unless "Panel" comes first
        n1 = text[s + 1:s + 2]
        m = _BARE_RE.match(text, s) if c in "Pp" or not n1 or n1 not in _ASCII_LETTERS or n1 in "ivt" else None
        if m and _starts_key_list(text, s):
            continue
        if m:
            lab = m.group("lab")
            term = m.group("term")
            rest = text[m.end():]
            t = term.strip()
            ok = len(lab) <= 12
            if t == "." and rest[:1].islower():  # "E. coli", "S. aureus"
                ok = False
            if t == "" and not re.match(r"[A-Z0-9(\u201c\"]", rest[:1] or "x"):
                ok = False
            if t == "," and _LETTER_LIST_REST_RE.match(rest):
                ok = False  # "A, C and F strains grow fastest": a list of letters naming things opens the sentence
            labels = expand_labels(lab) if ok else []
            if labels and all(len(x) == 1 for x in labels):
                panel_word = text[s:s + 5].lower() == "panel"
                mk = _Marker(s, m.end(), labels, "bare", upper=lab[:1].isupper(), pieces=[t or " "],
                             weak=not t and not panel_word, named=panel_word)
                out.append(mk)
                continue
        m = _PANEL_WORD_RE.match(text, s) if c in "Pp" else _IN_LABEL_RE.match(text, s) if c in "Ii" else None
        if m and len(m.group("lab")) <= 12:
            lab = m.group("lab")
            labels = expand_labels(lab)
            if labels and all(len(x) == 1 for x in labels):
                out.append(_Marker(s, m.end(), labels, "bare", upper=lab[:1].isupper(),
                                   pieces=[m.group("term").strip() or " "], named=True))
                continue
        pm = _POS_START_RE.match(text, s) if c in _POS_INITIALS else None
        if pm:
            labels = [lab for part in _POS_SPLIT_I_RE.split(pm.group("lab"))
                      if (lab := normalise_position(part))]
            if labels:
                out.append(_Marker(s, pm.end(), labels, "pos"))
    return out


def _pos_prose_candidates(text: str, depths: _Depths) -> list[_Marker]:
    out: list[_Marker] = []
    for pm in _POS_PROSE_RE.finditer(text):
        if depths[pm.start()] != 0:
            continue
        lab = normalise_position(pm.group("lab"))
        if lab:
            out.append(_Marker(pm.start(), pm.end(), [lab], "pos", named=True))
    return out


_BOLD_RE = re.compile(
    rf"(?:\*\*|<(?:b|bold|strong)>)\s*(?P<lab>{_LIST}|{_POS_PHRASE})\s*[.:,)]?\s*(?:\*\*|</(?:b|bold|strong)>)"
    r"(?:\s*[.:,])?", re.I)


def _bold_candidates(text: str) -> list[_Marker]:
    """'**a** text', '<b>A</b> text', '<bold>B-D.</bold> text': explicit label markup."""
    out = []
    for m in _BOLD_RE.finditer(text):
        lab = m.group("lab")
        labels = expand_labels(lab)
        if not labels:
            continue
        out.append(_Marker(m.start(), m.end(), labels, "bold", upper=lab[:1].isupper()))
    return out


# a lone lower-case letter inside running text, then a word: "... with a diesel oil and b waste oil"
_INLINE_LOWER_RE = re.compile(r"(?<![\w(\[/.\-'\u2019])([a-h])\s+(?=[A-Za-z0-9])")
_INLINE_JOIN_RE = re.compile(r"(?:[,;]|\band|\bor)\s*$")


def _inline_lower_run(text: str, depths: _Depths) -> list[_Marker]:
    """Springer / BMC legends whose letters are set bold in running text, read where bold is lost:
    'growth of a wild type and b mutant cells', 'uptake in a liver, b kidney, c spleen ...'.  Only
    asked when no other label is found; taken only as a run a, b (, c ...) in order, every letter after
    the first joined to the text before it by ',', ';', 'and' or 'or' (so the article "a" alone is none)."""
    run: list[_Marker] = []
    for m in _INLINE_LOWER_RE.finditer(text):
        if depths[m.start()] != 0:
            continue
        letter = m.group(1)
        due = chr(ord("a") + len(run))
        if letter == "a" and not run:
            run = [_Marker(m.start(), m.end(), ["A"], "bold", upper=False)]
        elif letter == due and run and _INLINE_JOIN_RE.search(text[run[-1].end:m.start()]):
            run.append(_Marker(m.start(), m.end(), [letter.upper()], "bold", upper=False))
        elif letter == "a":
            if len(run) >= 2:
                break
            run = [_Marker(m.start(), m.end(), ["A"], "bold", upper=False)]
    if len(run) < 2:
        return []
    taken = {mk.start for mk in run}
    if any(depths[m.start()] == 0 and m.start() not in taken and m.group(1) != "a"
           for m in _INLINE_LOWER_RE.finditer(text)):
        return []  # another lone letter ("vitamin b levels"): the letters are words here, not labels
    return run


_RPAREN_TAIL_RE = re.compile(rf"(?<![\w(\[\-])(?P<lab>{_ITEM}(?:\s*,\s*{_ITEM})*)\)$")


_RPAREN_AFTER = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'\u2032\u2019")


def _rparen_candidates(text: str, depths: _Depths) -> list[_Marker]:
    out = []
    closing = depths.closing
    for close in depths.rparens:
        if not close or text[close - 1] not in _RPAREN_AFTER:  # a ")" after a letter, digit or prime
            continue
        # the ")" closes an earlier "(": an ordinary parenthesis (any label found before it would start
        # inside that parenthesis, at depth >= 1, and be dropped below)
        if close in closing or depths[close] != 0:
            continue
        lo = max(0, close - 24)
        m = _RPAREN_TAIL_RE.search(text, lo, close + 1)
        if not m or (m.start() == lo and lo > 0 and (text[lo - 1].isalnum() or text[lo - 1] in "([-")):
            continue
        if depths[m.start()] != 0:
            continue
        labels = expand_labels(m.group("lab"))
        if labels and all(len(x) == 1 for x in labels):
            out.append(_Marker(m.start(), close + 1, labels, "rparen", upper=m.group("lab")[:1].isupper()))
    return out


# ---------------------------------------------------------------- validation

def _panel_run(letters: set[str], need_a: bool, max_start: str = "Z") -> set[str]:
    """The letters that form a plausible panel sequence: from A (or the lowest letter when `need_a` is
    false, if it is <= `max_start`) upwards, each next letter at most 4 after the previous one."""
    if not letters:
        return set()
    order = sorted(letters)
    first = order[0]
    if (need_a and first != "A") or first > max_start:
        return set()
    run = {first}
    last = first
    for c in order[1:]:
        if ord(c) - ord(last) > 4:
            break
        run.add(c)
        last = c
    return run


def _keep_in_run(group: list[_Marker], run: set[str]) -> list[_Marker]:
    return [m for m in group if m.labels and set(m.labels) <= run]


def _abbreviation_list(text: str, marks: list[_Marker]) -> bool:
    """'A, anterior; P, posterior': most letters are initials of the word right after them."""
    hits = 0
    words = 0
    for m in marks:
        w = _WORD_AFTER_RE.match(text[m.end:])
        if w and len(m.labels) == 1 and w.group(1)[:1].upper() == m.labels[0] and len(w.group(1)) > 1:
            hits += 1
        entry = re.match(r"[^;,.]*", text[m.end:]).group()
        words += len(entry.split())
    # entries of a key are one or two words; panel texts are longer
    return hits * 2 > len(marks) and words <= 2 * len(marks)


def _initials_of_previous_word(text: str, marks: list[_Marker]) -> bool:
    """'cortical bone (B) and marrow (M)': letters are the initials of the word before them."""
    hits = 0
    for m in marks:
        w = _initial_before(text, m.start)
        if w and len(m.labels) == 1 and w.upper() == m.labels[0]:
            hits += 1
    return len(marks) > 0 and hits == len(marks)


_ASCII_LETTERS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")


def _initial_before(text: str, i: int) -> str:
    """First letter of the [A-Za-z] word that ends `text[:i]` (spaces after it skipped), '' when none: what
    re.search(r"([A-Za-z]+)\\s*$", text[:i]) finds, by a backwards scan instead of a try at every offset."""
    j = i
    while j > 0 and text[j - 1].isspace():
        j -= 1
    k = j
    while k > 0 and text[k - 1] in _ASCII_LETTERS:
        k -= 1
    return text[k] if k < j else ""


def _at_clause_start(text: str, i: int) -> bool:
    return _boundary_before(text, i)


_ONE_LETTER_PAREN_RE = re.compile(r"[(\[]\s*[A-Za-z]\s*[)\]]")


def _word_before(text: str, i: int, width: int) -> str:
    """The word of two or more ASCII letters that ends text[i - width:i] (spaces after it skipped), '' when
    none: what re.search(r"([A-Za-z]{2,})\\s*$", text[i - width:i]) finds, by a backwards scan."""
    lo = max(0, i - width)
    j = i
    while j > lo and text[j - 1].isspace():
        j -= 1
    k = j
    while k > lo and text[k - 1] in _ASCII_LETTERS:
        k -= 1
    return text[k:j] if j - k >= 2 else ""


def _drop_named_initials(text: str, up: list[_Marker], keep: list[_Marker]) -> list[_Marker]:
    """'oxygen (O) atoms', 'microglia (M)', 'cortical bone (B) and marrow ...': a single letter in brackets
    that is the initial of the word before it names that thing when it skips letters of the sequence, or when
    another mark of that letter opens a clause (the panel's own label)."""
    opening: set[str] | None = None  # made when first needed (rare): a clause-start test of every mark
    out: list[_Marker] = []
    for m in sorted(up, key=_start_of):
        if _ONE_LETTER_PAREN_RE.fullmatch(text, m.start, m.end) and not _at_clause_start(text, m.start):
            w = _word_before(text, m.start, 40)
            lab = m.labels[0]
            if w and w[0].upper() == lab:
                prev = [x for o in out + keep if o.start < m.start for x in o.labels if len(x) == 1]
                due = chr(ord(max(prev)) + 1) if prev else "A"
                if lab > due:
                    continue
                if opening is None:
                    opening = {o.labels[0] for o in up + keep
                               if len(o.labels) == 1 and _at_clause_start(text, o.start)}
                if lab in opening:
                    continue
        out.append(m)
    return out


def _start_of(m: _Marker) -> int:
    return m.start


def _run_from_a(seq: list[tuple[str, ...]]) -> bool:
    """Label lists (a marker's labels each) run A, B, C ... in order: the first opens with A and each list's
    letters come after the previous one's."""
    return bool(seq) and seq[0][0] == "A" and all(max(a) < min(b) for a, b in zip(seq, seq[1:]))


def _ordered_letters(marks: list[_Marker], kind: str, upper: bool) -> int:
    """How many marks of `kind` and case there are when their letters run A, B, C ... in caption order (0
    when they do not)."""
    seq = [m.labels for m in sorted(marks, key=_start_of)
           if m.kind == kind and m.upper == upper and m.labels and all(len(x) == 1 for x in m.labels)]
    return len(seq) if _run_from_a(seq) else 0


def _drop_named_repeats(keep: list[_Marker]) -> list[_Marker]:
    out: list[_Marker] = []
    high = ""
    for m in sorted(keep, key=_start_of):
        one = [x for x in m.labels if len(x) == 1]
        if m.kind == "bare" and m.named and len(one) >= 2 and min(one) != (chr(ord(high) + 1) if high else "A"):
            continue
        if one:
            high = max(high, max(one))
        out.append(m)
    return out


def _prefix_sequence(text: str, keep: list[_Marker]) -> bool:
    """The labels that open clauses run A, B, C ... in caption order (three or more)."""
    seq = [m.labels for m in sorted(keep, key=_start_of)
           if m.labels and all(len(x) == 1 for x in m.labels) and _at_clause_start(text, m.start)]
    return len(seq) >= 3 and _run_from_a(seq)


def _drop_out_of_order_parens(text: str, keep: list[_Marker], ordered: Callable[[], bool]) -> list[_Marker]:
    """'A. ... B. ... C. Cells given a Fgf2 vector (F), a Gata4 vector (G) ... D. ...': in a caption whose
    labels run A, B, C ... in order (`ordered`, asked only when some bracket letter jumps), a bracket letter
    inside a sentence that jumps past the letter due there (the next after the highest label so far) names a
    thing, not a panel; a reference to an earlier panel or the due letter itself stays."""
    drop: list[_Marker] = []
    due = "A"  # the letter after the highest label so far (labels here are single letters)
    for m in sorted(keep, key=_start_of):
        labs = m.labels
        if not labs:
            continue
        if m.kind == "paren" and min(labs) > due and not _at_clause_start(text, m.start):
            drop.append(m)
            continue
        top = max(labs)
        if top >= due:
            due = chr(ord(top) + 1)
    if not drop or not ordered():
        return keep
    return [m for m in keep if not any(m is d for d in drop)]


def _validate(text: str, cands: list[_Marker]) -> list[_Marker]:
    keep: list[_Marker] = []
    # figure cross-references and parenthetical "panel (b)" mentions never label; the figure number that
    # opens a caption ("Fig. 1 a Text") is no reference
    fm = _FIG_PREFIX_RE.match(text)
    fig_end = fm.end() if fm else -1
    cands = [m for m in cands
             if m.start == fig_end or not _fig_ref_before(text, m.start)]

    up_paren = {x for m in cands if m.kind == "paren" and m.upper for x in m.labels}
    for kind in ("bare", "rparen"):
        group = [m for m in cands if m.kind == kind]
        if not group:
            continue
        commas = [m for m in group if m.kind == "bare" and m.pieces and m.pieces[0] == ","]
        if commas and _abbreviation_list(text, commas):
            group = [m for m in group if m not in commas]
        run = _panel_run({x for m in group for x in m.labels}, need_a=True)
        named = [m for m in group if m.named and m.upper]
        if len(run) >= 2:
            keep += _keep_in_run(group, run)
        elif named and len(both := _panel_run({x for m in named for x in m.labels} | up_paren, need_a=True)) >= 2:
            # "Panel A shows ... A CT scan (Panel B) revealed ...": named labels and parentheses together
            keep += _keep_in_run(named, both)
        elif run == {"A"} and kind == "bare":
            # "A. Overview B. Detail": a lone bare A counts when the next letters follow mid-sentence
            first = [m for m in group if m.labels == ["A"] and m.pieces and m.pieces[0] in (".", ":")]
            if first and len(_fill_bare_gaps(text, first[:1])) > 1:
                keep += first[:1]
    # "Panel A shows ... A CT scan (Panel B) revealed ...": bare labels count towards the sequence of
    # parenthesised ones of the same case
    bare_up = {x for m in keep if m.upper and not m.weak for x in m.labels}

    parens = [m for m in cands if m.kind == "paren"]
    low = [m for m in parens if not m.upper]
    up = [m for m in parens if m.upper and not _NOT_LABEL_PAREN_RE.match(text, m.start)]
    if low:
        letters = {x for m in low for x in m.labels}
        # a lone lowercase letter is a panel only early in the alphabet ("(c)" yes, "(n)" no)
        run = _panel_run(letters, need_a=False, max_start="f")
        if len(run) == 1 and "A" not in run and len(letters) > 1:
            run = set()  # "size (n) and effect (d)": scattered letters are variables, not panels
        low = _keep_in_run(low, run)
        # "C Staining of the retina: bipolar (b) and cone (c) cells ... D ...": where upper-case
        # bare labels run A, B, C ... in order, lower-case bracket letters that repeat them name cells or
        # steps inside a panel, not panels
        if low and _ordered_letters(keep, "bare", upper=True) >= 3:
            bare_letters = {x for m in keep if m.kind == "bare" for x in m.labels}
            low = [m for m in low if not set(m.labels) <= bare_letters]
        keep += low
    if up and len(up) >= 3 and len(_panel_run({x for m in up for x in m.labels}, need_a=True)) <= 1 \
            and _abbreviation_list(text, up):
        up = []  # "(L) liver; (S) spleen; (A) aorta": a key of structure initials, not panels
    # "A) Eye scores ... (B) Thorax defects ...": a clause-start label of another style ("A)", "A.", "A:") that
    # the parenthesised sequence needs counts with it (the label style changes inside one caption)
    kept = {id(m) for m in keep}
    loose = [m for m in cands if m.kind in ("bare", "rparen") and m.upper and not m.weak and id(m) not in kept
             and (m.pieces[:1] in (['.'], [':']) if m.kind == "bare" else
                  _boundary_before(text, m.start))]
    if up:
        up_letters = {x for m in up for x in m.labels}
        low_letters = {x for m in low for x in m.labels}
        # "(a) Overview. (B) Detail. (c) Histology": letters of both cases that never repeat are one sequence
        mixed = low_letters if low_letters and not low_letters & up_letters else set()
        run = _panel_run(up_letters | bare_up | {x for m in loose for x in m.labels} | mixed, need_a=True)
        up = _keep_in_run(up, run)
        up = _drop_named_initials(text, up, keep)
        if up and not (len(run) < 4 and _initials_of_previous_word(text, up)):
            keep += up
            have = {x for m in up for x in m.labels}
            keep += [m for m in loose if set(m.labels) <= run and not set(m.labels) & have]
            # "(A) Scheme: step (a) labelling, step (b) chase ... (B) Results": lower-case letters that repeat
            # the upper-case ones, inside upper-case panels, are steps of a panel, not panels
            if len(have) >= 2 and low_letters & have:
                first_up = min(m.start for m in up)
                low_ids = {id(m) for m in low if m.start > first_up}
                keep = [m for m in keep if id(m) not in low_ids]
    # "A ... B ... C ... Colours: In B and D-F, red marks ... D ...": where the unnamed bare labels
    # run A, B, C ... in order, an "In X and Y," / "Panels X-Y" mention of several letters that does not
    # bring the letter due there is a note about those panels; it is no label and no rival of theirs (a
    # one-letter "In B, the inset ..." still brings text for B)
    if any(m.named for m in keep) and _ordered_letters([m for m in keep if not m.named], "bare", upper=True) >= 3:
        keep = _drop_named_repeats(keep)
    # a weak bare letter ("A 14-year-old girl ...", "A CT scan ...") gives way to a real label of that panel
    # - but not to a later mention that reads as a reference when the bare letters run A, B, C ... in caption
    # order ("A, B Cells were treated ... quantified in (B). C-E Live imaging as in (A) ...")
    bare = sorted((m for m in keep if m.kind == "bare"), key=_start_of)
    seq = [x for m in bare for x in m.labels]
    ordered = len(bare) >= 2 and seq[0] == "A" and all(a < b for a, b in zip(seq, seq[1:]))

    def gives_way(w: _Marker) -> bool:
        rivals = [m for m in keep if not m.weak and set(m.labels) & set(w.labels)]
        if not rivals:
            return False
        return not (ordered and all(m.kind == "paren" and m.start > w.start
                                    and _ends_with_word(_REF_BEFORE_RE, text[max(0, m.start - 25):m.start]) for m in rivals))

    keep = [m for m in keep if not (m.weak and gives_way(m))]
    if any(m.kind == "paren" for m in keep):
        keep = _drop_out_of_order_parens(
            text, keep, lambda: ordered and len(bare) >= 3 or _prefix_sequence(text, keep))
    # positional panels come in sets: a lone "(left)" is a side ("CT of the knee (left)"), not a panel;
    # in a caption with lettered panels, "stable (left) and unstable (right) plaques" are parts of a panel
    pos = [m for m in cands if m.kind == "pos"]
    lettered = {x for m in keep for x in m.labels}
    if len({x for m in pos for x in m.labels}) >= 2 and len(lettered) < 2:
        keep += pos
    keep += [m for m in cands if m.kind == "bold"]
    keep.sort(key=lambda m: (m.start, -m.end))
    # drop overlaps (first, longest wins)
    out: list[_Marker] = []
    for m in keep:
        if out and m.start < out[-1].end:
            continue
        out.append(m)
    return out


_MID_BARE_RE = re.compile(r"(?<=[\w)\]%.]\s)([A-Za-z])([.:])\s+(?=[A-Z(\u201c\"])")


def _fill_bare_gaps(text: str, marks: list[_Marker]) -> list[_Marker]:
    """'A. Overview B. Detail C. Counts', '... neuron D. DiI staining': in a caption labelled with bare
    'A.'/'A:' letters, a letter + '.'/':' inside a sentence is a label when it is the next letter due."""
    bare = [m for m in marks if m.kind == "bare" and m.pieces and m.pieces[0] in (".", ":")]
    if not bare:
        return marks
    upper = bare[0].upper
    added = []
    # the letter before each '.'/':' (what finditer finds: a match holds no other letter before '.'/':')
    for mm in (m for q in _offsets(text, ".:") if q and (m := _MID_BARE_RE.match(text, q - 1))):
        letter = mm.group(1)
        if letter.isupper() != upper or any(m.start <= mm.start() < m.end for m in marks):
            continue
        prev = [m for m in marks + added if m.start < mm.start() and all(len(x) == 1 for x in m.labels)]
        if not prev:
            continue
        last = max(prev, key=_start_of)
        due = chr(ord(max(last.labels)) + 1)
        if letter.upper() == due and letter.upper() not in {x for m in marks + added for x in m.labels}:
            added.append(_Marker(mm.start(), mm.end(), [due], "bare", upper=upper, pieces=[mm.group(2)]))
    if not added:
        return marks
    return sorted(marks + added, key=_start_of)


# "(M2)", "(G0)", "(C1, C2)": letters with numbers only (one letter: a list of its sub-panels or samples)
_SUBPANEL_ONLY_RE = re.compile(r"^[(\[]\s*([A-Za-z])\d{1,2}(?:\s*(?:,|and|&)\s*\1\d{1,2})*\s*[)\]]$")
_ODD_RANGE_RE = re.compile(rf"^[(\[]\s*(?:[A-Za-z]\d{{1,2}}\s*[{_D}]\s*[A-Za-z]|[A-Za-z]\s*[{_D}]\s*[A-Za-z]\d{{1,2}})\s*[)\]]$")


def _drop_stray_subpanels(text: str, marks: list[_Marker]) -> list[_Marker]:
    """'anti-Flag (M2) antibodies', 'larvae (L3)', 'arrested in (G2)', 'histone H3 (H3-P)': a letter with a
    number is a sub-panel only of a panel the caption names, or of the letter due next; a range from
    'H3' to 'P' is no label range."""
    out: list[_Marker] = []
    for k, m in enumerate(marks):
        if m.kind == "paren":
            raw = text[m.start:m.end]
            if _ODD_RANGE_RE.match(raw):
                continue
            if _SUBPANEL_ONLY_RE.match(raw):
                lab = m.labels[0]
                # named by a label of its own or by a sub-panel already taken ("(A1) ... (A2)"); "(G0)" next
                # to "(G2)" names no panel G (cell-cycle phases)
                others = {x for o in marks if not _SUBPANEL_ONLY_RE.match(text[o.start:o.end]) for x in o.labels}
                others |= {x for o in out for x in o.labels}
                prev = [x for o in marks[:k] for x in o.labels if len(x) == 1]
                due = chr(ord(max(prev)) + 1) if prev else "A"
                if lab not in others and lab != due:
                    continue
                # "wild-type (C1, C2) clones ... (C) Quantification": the panel's own label comes later
                if any(o.start > m.start and lab in o.labels and not _SUBPANEL_ONLY_RE.match(text[o.start:o.end])
                       and _at_clause_start(text, o.start) for o in marks) \
                        and not any(o.start < m.start and lab in o.labels for o in marks):
                    continue
        out.append(m)
    return out


# a bare label at a clause start, before any word (also lower case: "B. mRNA levels", "C wt and mutant",
# "a) Anti-Atg8 blot", "E-G Statistical ..."); only taken when it is the letter due in the sequence
_SEQ_START_RE = re.compile(
    rf"(?P<lab>[A-Za-z](?:\.?\s*[{_D}]\s*[A-Za-z]|(?:\s*,\s*[A-Za-z])+)?)(?P<term>\s*[.:]\s+|\s*\.\s*[{_D}]\s+|\s*\)\s*"
    rf"|\s+[{_D}]\s+|\s+|\s*,\s+)(?=[\w(\u201c\"'\u2032\u2019\u0394\u03b1-\u03c9])")
_SEQ_VERB_RE = re.compile(r"(?:is|are|was|were|has|have|indicates?|represents?|denotes?|refers?|means?|stands?|"
                          r"corresponds?|shows?|depicts?|marks?|equals?)\b")
# a clause start for that: the caption start, after the figure label, after ". ", "; ", ") " ending a sentence
_SEQ_BEFORE_RE = re.compile(r"(?:[.;:!?][\)\]\u201d\"']?|[.;:!?]?\))\s+$")


# a due letter inside running text, where the previous panel's text ends without a full stop ("... by
# sequencing B, C Relative abundance ...", "... mean ± SD, C: Representative images ..."): a capitalised or
# mixed-case word after it, or '.'/':' and a capital
_MID_SEQ_RE = re.compile(
    rf"(?P<lab>[A-Za-z](?:\.?\s*[{_D}]\s*[A-Za-z]|(?:\s*,\s*[A-Za-z])+)?)"
    r"(?P<term>\s*[.:]\s+(?=[A-Z0-9(])|\s+(?=[A-Z0-9]|[a-z]+[A-Z0-9]))")
# words after which a letter names a thing, not a panel ("vitamin D", "type I", "group B", "in A", "and C")
_MID_NAME_WORDS = frozenset(
    "a an the and or nor of in on at to for with without from by via vs versus between than as see cf like unlike "
    "panel panels fig figs figure figures table tables type types group groups class classes complex protein "
    "proteins vitamin hepatitis lane lanes factor grade stage stages phase phases domain domains site sites chain "
    "subunit form forms strain strains isoform region regions segment exon helix loop strand box zone area areas "
    "cluster clade serotype genotype pattern variant mode arm cohort subset row rows column columns point plate "
    "well set series condition line model allele locus chromosome ring peak band fraction compartment pool state "
    "step level category spot replicate batch experiment sample patient donor case subject treatment dose day week "
    "antibody antibodies clone motif residue residues sequence construct mutant receptor channel probe "
    "is are was were be been".split())


def _word_ending(text: str, i: int, width: int) -> str:
    """The run of non-spaces that ends text[i - width:i] (spaces after it skipped), '' when none: what
    re.search(r"(\\S+)\\s*$", ...) finds there, by a backwards scan."""
    lo = max(0, i - width)
    j = i
    while j > lo and text[j - 1].isspace():
        j -= 1
    k = j
    while k > lo and not text[k - 1].isspace():
        k -= 1
    return text[k:j]


def _mid_text_ok(text: str, i: int, terms: set[str]) -> re.Match | None:
    """The due-letter match for a letter inside running text (see _MID_SEQ_RE), or None; `terms`: the marks
    after the caption's bare labels (".", ":", " ")."""
    m = _MID_SEQ_RE.match(text, i) if text[i - 1:i].isspace() else None  # not the "m." of "s.e.m."
    if not m:
        return None
    dotted = bool(m.group("term").strip())
    # the caption's own bare style: "A Text" allows a space after the letter, "A. Text"/"A: Text" needs its mark
    if not (dotted and terms & {".", ":"}) and not (not dotted and " " in terms):
        return None
    pw = _word_ending(text, i, 40)
    if not pw or pw.lower().strip(".") in _MID_NAME_WORDS:
        return None
    return m


# a letter not after a word character, prime or hyphen: the letter first and the look-behind over it and the
# character before ("(?<!X)[A-Z]" starts every try with the look-behind; a leading class is scanned for in C)
_LETTER_TOKEN_RE = re.compile(r"[A-Za-z](?<![\w'\u2032\u2019\-].)\b")
_UPPER_TOKEN_RE = re.compile(r"[A-Z](?<![\w'\u2032\u2019\-].)\b")
_LOWER_TOKEN_RE = re.compile(r"[a-z](?<![\w'\u2032\u2019\-].)\b")
# the same after a space (a letter _sequence_fill looks at is at one of `starts` or after a space): re skips
# to the spaces, far fewer than the letters
_SPACED_TOKEN_RES = {None: re.compile(r"\s[A-Za-z]\b"), True: re.compile(r"\s[A-Z]\b"),
                     False: re.compile(r"\s[a-z]\b")}


def _letter_tokens(text: str, upper: bool | None, starts: set[int]) -> list[int]:
    """Offsets of the one-letter tokens (of case `upper`) that are at one of `starts` or after a space."""
    letter_re = _LETTER_TOKEN_RE if upper is None else _UPPER_TOKEN_RE if upper else _LOWER_TOKEN_RE
    out = [m.start() + 1 for m in _SPACED_TOKEN_RES[upper].finditer(text)]
    more = [s for s in starts if letter_re.match(text, s) and s not in out]
    return sorted(out + more) if more else out


def _sequence_fill(text: str, marks: list[_Marker], depths: "_Depths") -> list[_Marker]:
    """Letters the candidates missed but the panel sequence asks for: a clause-start letter is a label
    when it is exactly the next letter due after the previous label and comes before the next one
    ('A Lysates ... B pERK response ... C Expression', '(a) ... b) Steady-state ... (c)'). With no
    lettered label found at all, a run A, B, C... of three or more clause-start letters counts. Where
    labels were found, a due letter inside running text counts too ('... sequencing B, C Relative ...')."""
    letters = [m for m in marks if m.labels and all(len(x) == 1 and x.isupper() for x in m.labels)]
    upper = None
    if letters:
        ups = [m.upper for m in letters]
        upper = ups.count(True) >= ups.count(False)
    fm = _FIG_PREFIX_RE.match(text)
    starts = {0, fm.end() if fm else 0}
    cands: list[_Marker] = []
    mids: set[int] = set()
    # offsets inside a found mark: the marks' starts in order, with the furthest end reached so far
    spans = sorted((m.start, m.end) for m in marks)
    span_starts = [a for a, _ in spans]
    reach: list[int] = []
    for _, b in spans:
        reach.append(max(b, reach[-1]) if reach else b)
    first_label = min((m.start for m in letters), default=len(text))
    terms = {m.pieces[0] for m in letters if m.kind == "bare" and m.pieces}
    # only letters of the labels' case can be taken: skip the articles "a" of an upper-case caption
    for i in _letter_tokens(text, upper, starts):
        k = bisect_right(span_starts, i)
        if (k and reach[k - 1] > i) or depths[i] != 0:
            continue
        mid = False
        if i in starts or (i and text[i - 1].isspace() and _SEQ_BEFORE_RE.search(text, max(0, i - 6), i)):
            m = _SEQ_START_RE.match(text, i)
        elif i > first_label:
            m = _mid_text_ok(text, i, terms)
            mid = True
        else:
            continue
        if not m or _starts_key_list(text, i):
            continue
        labels = expand_labels(m.group("lab"))
        lab_upper = m.group("lab")[:1].isupper()
        if not labels or (upper is not None and lab_upper != upper):
            continue
        t = m.group("term").strip()
        if not t and _SEQ_VERB_RE.match(text, m.end()):
            continue  # "A indicates hydrophobicity; B indicates ...": the letter is a subject, not a label
        if mid:
            mids.add(i)
        cands.append(_Marker(i, m.end(), labels, "bare", upper=lab_upper, pieces=[t[:1] if t else " "]))
    if not cands:
        return marks
    if not letters:
        # no label yet: a run A, B, C, ... of clause-start letters, in order
        run: list[_Marker] = []
        for c in cands:
            due = chr(ord(max(run[-1].labels)) + 1) if run else "A"
            if c.labels[0] == due:
                run.append(c)
        if len(run) < 3:
            # "A Schematic of the screen ... by sequencing B, C Relative abundance ... D-F Validation ...": after a
            # clause-start A, the next letters inside running text (three letters at least)
            if run and len(marks) == 0:
                filled = _sequence_fill(text, run[:1], depths)
                if len({x for m in filled for x in m.labels}) >= 3:
                    return filled
            return marks
        # "A - Imaging ... Left: ... Right: ... B - UMAP ...": positions inside lettered panels are no panels
        return sorted([m for m in marks if m.kind != "pos"] + run, key=_start_of)
    added: list[_Marker] = []
    for c in cands:
        prev = [m for m in letters + added if m.start < c.start]
        nxt = [m for m in letters if m.start > c.start]
        have = {x for m in letters + added for x in m.labels}
        # due after the previous label, or after the highest letter so far ("B Subnetwork of (A) ... C ...":
        # a reference to an earlier panel does not set the sequence back)
        due = {chr(ord(max(max(prev, key=_start_of).labels)) + 1),
               chr(ord(max(x for m in prev for x in m.labels)) + 1)} if prev else {"A"}
        if c.labels[0] not in due or set(c.labels) & have:
            continue
        if nxt and min(min(nxt, key=_start_of).labels) <= max(c.labels):
            continue
        if not nxt and c.start not in mids and not (
                c.pieces[0] in ".:)" or re.match(r"\s*[A-Z]", text[c.end - 1:c.end + 1])
                or c.labels[0] not in "AI" or re.match(r"\s*\S*[A-Z0-9]", text[c.end - 1:c.end + 12])):
            # after the last label: "G. Text", "G Text" with a capital, "G p62-KO cells"; a letter that is no
            # English word before a lower-case one ("C wt and mutant"), not "A"/"I" ("A total of ...")
            continue
        added.append(c)
    return sorted(marks + added, key=_start_of) if added else marks


def _merge_adjacent(text: str, marks: list[_Marker]) -> list[_Marker]:
    """'(a) and (b)', '(a), (b)' -> one marker; '(a)–(c)' -> A, B, C."""
    out: list[_Marker] = []
    for m in marks:
        if out:
            prev = out[-1]
            between = text[prev.end:m.start]
            if _CONNECTOR_RE.match(between) and prev.kind == m.kind and len(between) <= 8:
                if _RANGE_CONNECTOR_RE.match(between) and len(prev.labels) == 1 and len(m.labels) == 1 \
                        and len(prev.labels[0]) == 1 and len(m.labels[0]) == 1:
                    rng = expand_labels(f"{prev.labels[0]}-{m.labels[0]}")
                    labels = rng or prev.labels + m.labels
                else:
                    labels = prev.labels + [x for x in m.labels if x not in prev.labels]
                out[-1] = _Marker(prev.start, m.end, labels, prev.kind, upper=prev.upper, pieces=m.pieces)
                continue
        out.append(m)
    return out


# ---------------------------------------------------------------- roles and segments

def _sentence_bounds(text: str) -> list[int]:
    """Start offsets of sentences and ';' clauses (0 included)."""
    return list(_sentence_bounds_cached(text))


def _sentence_bounds_cached(text: str) -> tuple[int, ...]:
    return _punctuation_scan(text)[1]


def _find_sentence_bounds(text: str) -> list[int]:
    return list(_punctuation_scan(text)[1])


def _sentence_bound(text: str, q: int, abbrev: bool, out: list[int]) -> None:
    """Append the sentence start after the mark at `q` to `out` when it ends a sentence or ';' clause
    (`abbrev`: a full stop _abbrev_end takes for an abbreviation's)."""
    m = _SENT_END_RE.match(text, q)
    if not m:
        return
    st = q + 1  # the gap after the punctuation mark
    # (text[st - 1] is the mark: the 12 characters before st end with it, no bracket or quote to strip)
    if abbrev:
        before = text[max(0, st - 12): st]
        # a single capital is an initial ("E. coli", "J. Smith"), unless it ends a phrase ("genotypes
        # A to D. (B) ...", "shown in B. Dots ...") and the next sentence does not go on in lowercase
        nxt = text[m.end():m.end() + 1]
        if not (_AFTER_WORD_INITIAL_RE.search(before) and not nxt.islower()):
            return
    if text[st - 1:st] == ";" or text[st:st + 1] == ";":
        # "(mean ± s.d.; n = 35)": a ';' inside a parenthesis ends no clause
        seg = text[out[-1]:st]
        if seg.count("(") > seg.count(")"):
            return
    out.append(m.end())


def _last_bound(bounds: list[int], lo: int, hi: int) -> int | None:
    """Last sentence start in (lo, hi] (`bounds` ascending, as every list of bounds here is)."""
    k = bisect_right(bounds, hi)
    return bounds[k - 1] if k and bounds[k - 1] > lo else None


# "before (A) and after (B) inhalation": connector + one preposition between a postfix mark and the next
_CHAIN_PREP_RE = re.compile(r"^\s*,?\s*(?:and|or|vs\.?|versus)\s+(?:before|after|during|with|without|at|in|on)\s*$",
                            re.I)


_DOT_THEN_SENTENCE_RE = re.compile(r"^\s*\.\s+(?=[A-Z0-9(\[])")
# words a sentence does not end with: "sections through (F-H) Wt1 ...", "binds, but not (C) Mutant K12"
_MID_SENTENCE_WORDS = frozenset((
    "a", "an", "the", "and", "or", "but", "not", "nor", "of", "in", "on", "at", "to", "by", "for", "from", "with",
    "without", "into", "onto", "through", "between", "than", "as", "vs", "versus", "via", "per", "under", "over",
    "after", "before", "during", "within", "across", "against", "toward", "towards", "either", "both"))
_CAPITAL_WORD_RE = re.compile(r"^\s+[A-Z][a-z]+(?:\b|\d)")  # "The", "Western", gene names "Pten1", "Rab7"


def _assign_roles(text: str, marks: list[_Marker], seen_before: list[set[str]]) -> None:
    bounds = _sentence_bounds(text)
    for k, m in enumerate(marks):
        before = text[max(0, m.start - 30):m.start]  # the words just before the mark
        after = text[m.end:]
        at_boundary = _boundary_before(text, m.start)
        if m.kind == "bare" or (m.kind == "pos" and (m.named or (at_boundary and text[m.start] not in "(["))):
            m.role = "prefix"
            continue
        terminal = bool(_TERMINAL_AFTER_RE.match(after)) and not _COLON_AFTER_RE.match(after)
        colon = bool(_COLON_AFTER_RE.match(after))
        if at_boundary and not terminal:
            m.role = "prefix"
        elif at_boundary and _DOT_THEN_SENTENCE_RE.match(after):
            m.role = "prefix"  # "Figure 5. (A). ChIP-qPCR analysis ...": the dot ends the mark, not a sentence
        elif colon:
            m.role = "prefix" if at_boundary else "inline"
        elif terminal:
            m.role = "postfix"
        elif _ends_with_word(_PREFIX_WORD_RE, before) and not (
                k and marks[k - 1].role == "postfix" and _CHAIN_PREP_RE.match(text[marks[k - 1].end:m.start])):
            m.role = "prefix"
        elif m.kind == "rparen":
            m.role = "prefix"
        elif m.kind == "paren" and not set(m.labels) & seen_before[k] and _CAPITAL_WORD_RE.match(after) \
                and _word_before(text, m.start, 16).lower() not in _MID_SENTENCE_WORDS:
            # "... to quantitate total viral load (B) The graph depicts ...": a new panel's label before a
            # capitalised word opens a sentence whose full stop is missing
            m.role = "prefix"
        else:
            m.role = "inline"
        # a mention of panels that were already labelled is a reference, not a new cut;
        # "seen in (A) has regressed" (preposition before, verb after) is a reference too
        prep_before = _ends_with_word(_REF_BEFORE_RE, before[-25:])
        verb_after = bool(_REF_VERB_RE.match(after))
        if m.kind in ("paren", "pos") and set(m.labels) <= seen_before[k]:
            if prep_before:  # "same as (A)", "boxed area in (A)", "Data in (b) are ..."
                m.ref = True
            elif m.annot:  # "(arrows in A and B)" after panels A and B
                m.ref = True
            elif _WHOLE_FIGURE_RE.match(text[_last_bound(bounds, -1, m.start) or 0:]):
                m.ref = True  # "Scale bars: 1 mm (A), 100 µm (B)": a whole-figure sentence naming panels
        elif m.kind == "paren" and prep_before and verb_after:
            m.role = "sentence"
    # a sentence with a reference-style mention: its other preposition-led mentions are references too
    for m in marks:
        if m.role != "sentence":
            continue
        s0 = _last_bound(bounds, -1, m.start) or 0
        s1 = _first_bound_after(bounds, m.end, len(text))
        for o in marks:
            if o is not m and s0 <= o.start < s1 and not o.ref and o.kind == "paren" \
                    and _ends_with_word(_REF_BEFORE_RE, text[max(0, o.start - 25):o.start]):
                o.role = "sentence"


_JUNK_END_CHARS = ",;:([{"
_JUNK_END_WORDS = ("and", "or", "while", "whereas", "both", "either")


def _may_end_in_junk(s: str) -> bool:
    """Whether _TRAIL_JUNK_RE can match at the end of the stripped `s` (its last unit is a junk char or word):
    most texts end with '.', and the regex would be tried at every offset to find nothing."""
    return bool(s) and (s[-1] in _JUNK_END_CHARS or s[-7:].lower().endswith(_JUNK_END_WORDS))


def _clean(piece: str) -> str:
    s = piece.strip()
    prev = None
    while prev != s:
        prev = s
        lead = _LEAD_JUNK_RE.match(s) if s[:1] in _LEAD_JUNK_FIRST else None
        if lead:
            s = s[lead.end():].strip()
        # the $-anchored pattern is tried at every offset: look at the end only (junk is a few words)
        cut = max(0, len(s) - 60)
        trail = _TRAIL_JUNK_RE.search(s[cut:]) if _may_end_in_junk(s) else None
        if trail:
            s = (s[:cut] + s[cut:][:trail.start()]).strip()
    # unbalanced brackets left at the ends by the cut
    if s.endswith("(") or s.endswith("["):
        s = s[:-1].strip()
    return s


def split_caption(caption: str) -> list[Subcaption]:
    """Split one caption into labelled subcaptions (see the module docstring)."""
    text = caption or ""
    if not text.strip():
        return []
    depths = _Depths(text)
    starts = _clause_starts(text)
    cands = _bold_candidates(text) if ("*" in text or "<" in text) else []
    cands += _paren_candidates(text, depths) + _bare_candidates(text, depths, starts) \
        + _rparen_candidates(text, depths)
    if "panel" in text or "image" in text or "row" in text or "column" in text:
        if any(map(text.__contains__, _POS_WORDS)):  # the pattern's position words, lower case as it writes them
            cands += _pos_prose_candidates(text, depths)
    marks = _validate(text, cands) if cands else []
    if not marks:
        marks = _sequence_fill(text, [], depths) or _inline_lower_run(text, depths)
        if not marks:
            return []
    marks = _drop_stray_subpanels(text, _fill_bare_gaps(text, marks))
    if not marks:
        return []
    marks = _sequence_fill(text, marks, depths)
    marks = _merge_adjacent(text, marks)
    marks, holes = _drop_headers(text, marks)
    fm = _FIG_PREFIX_RE.match(text)
    if fm:
        holes = [(0, fm.end())] + holes  # "Fig. 2." names the figure, not a panel: left out of every text
    seen: set[str] = set()
    seen_before: list[set[str]] = []
    for m in marks:
        seen_before.append(set(seen))
        seen.update(m.labels)
    _assign_roles(text, marks, seen_before)
    sentence_marks = [m for m in marks if m.role == "sentence"]
    marks = [m for m in marks if not m.ref and m.role != "sentence"]
    return _segments(text, marks, sentence_marks, holes)


def _drop_headers(text: str, marks: list[_Marker]) -> tuple[list[_Marker], list[tuple[int, int]]]:
    """'c–e, Frequency of T cells (c), B cells (d) and NK cells (e)': a label list that opens a sentence
    whose own postfix marks name exactly its panels is only a header; the marks inside split the text.
    Returns the markers without such headers, and the headers' spans (left out of every text)."""
    if len(marks) < 3:
        return marks, []
    ends = _full_bounds(text, _sentence_bounds_cached(text))
    drop: set[int] = set()
    for k, m in enumerate(marks):
        if len(m.labels) < 2 or m.kind not in ("bare", "paren", "bold"):
            continue
        if not _boundary_before(text, m.start):
            continue
        send = _first_bound_after(ends, m.end, len(text))
        inner = [o for o in marks[k + 1:] if o.start < send]
        if len(inner) >= 2 and all(o.kind == "paren" for o in inner) \
                and {x for o in inner for x in o.labels} == set(m.labels) \
                and not _boundary_before(text, inner[0].start):
            drop.add(k)
    return [m for k, m in enumerate(marks) if k not in drop], [(marks[k].start, marks[k].end) for k in sorted(drop)]


def _segments(text: str, marks: list[_Marker], sentence_marks: list[_Marker],
              holes: list[tuple[int, int]] | None = None) -> list[Subcaption]:
    bounds = _sentence_bounds(text)
    if holes:
        text = _blank(text, holes)
        bounds = sorted(set(bounds) | {a for a, _ in holes})  # a dropped header opened its sentence
    if not marks:
        # only reference-style mentions ("the lesion seen in (A) has regressed in (B)"): each label gets
        # its sentence, verbatim
        out: dict[str, list[str]] = {}
        for m in sentence_marks:
            s0 = _last_bound(bounds, -1, m.start) or 0
            s1 = _first_bound_after(bounds, m.end, len(text))
            t = _clean(text[s0:s1])
            for lab in m.labels:
                if t not in out.setdefault(lab, []):
                    out[lab].append(t)
        return [Subcaption(label=lab, text=" ".join(v)) for lab, v in out.items()]
    owner_pieces: dict[int, list[tuple[int, int]]] = {i: [] for i in range(len(marks))}
    shared: list[tuple[int, int]] = []
    n = len(marks)

    def give(i: int | None, a: int, b: int) -> None:
        if b <= a:
            return
        if i is None:
            shared.append((a, b))
        else:
            owner_pieces[i].append((a, b))

    # which marker is "open" (owns the text that follows it)
    def opens(m: _Marker) -> bool:
        return m.role in ("prefix", "inline")

    # reference-style mentions in a sentence that also has real labels: give the labels their sentence
    extra: dict[str, list[tuple[int, int]]] = {}
    for m in sentence_marks:
        s0 = _last_bound(bounds, -1, m.start) or 0
        s1 = _first_bound_after(bounds, m.end, len(text))
        for lab in m.labels:
            extra.setdefault(lab, []).append((s0, s1))

    # text before the first marker
    first = marks[0]
    if first.role == "prefix":
        give(None, 0, first.start)
    else:
        lb = _last_bound(bounds, -1, first.start)
        cut = lb or 0
        give(None, 0, cut)
        give(0, cut, first.start)

    for i in range(n):
        m = marks[i]
        a = m.end
        b = marks[i + 1].start if i + 1 < n else len(text)
        nxt = marks[i + 1] if i + 1 < n else None
        if nxt is None:
            _tail(text, bounds, i, m, a, b, give)
            continue
        if nxt.role == "prefix":
            if opens(m):
                give(i, a, b)
            else:
                # a postfix marker keeps the rest of its sentence; whole sentences after it are shared
                nb = _first_bound_after(bounds, a, b)
                give(i, a, nb)
                give_sentences(text, bounds, nb, b, None, give)
            continue
        # next marker ends its text (postfix) or follows its noun phrase (inline)
        lb = _last_bound(bounds, a, b)
        if lb is not None:
            # sentence break between: this marker keeps its sentence rest, the next owns its own sentence
            if opens(m):
                give(i, a, lb)
            else:
                rest_end = _first_bound_after(bounds, a, lb)
                give(i, a, rest_end)
                give(None, rest_end, lb)
            give(i + 1, lb, b)
        else:
            seg = text[a:b]
            if opens(m) and m.role == "prefix":
                # "(a) T1- and (b) T2-weighted": a prefix list item ends at the next marker
                if nxt.role == "prefix":
                    give(i, a, b)
                else:
                    c = seg.rfind(",")
                    if c > 0 and c < len(seg) - 2:
                        give(i, a, a + c)
                        give(i + 1, a + c + 1, b)
                    else:
                        give(i, a, b)
            elif m.role == "inline":
                c = _last_split_point(seg) if nxt.role in ("postfix", "inline") else -1
                if c > 0:
                    # "growth (A) (n = 10) and survival (B)", "image (C) shows X, and the delayed image (D)
                    # shows Y": the inline marker keeps the words up to the last comma or conjunction, the
                    # next marker the phrase after it
                    give(i, a, a + c)
                    give(i + 1, a + c, b)
                elif nxt.role == "postfix":
                    give(i + 1, a, b)
                else:
                    give(i, a, b)
            else:  # postfix then postfix/inline in the same sentence: the text belongs to the next one
                give(i + 1, a, b)

    # distribute the predicate of "X (a) and Y (b) show Z" to the whole chain
    _distribute_chains(text, marks, owner_pieces)
    # "... in (A) posterior and (B) frontal views", "A, dorsal; B, ventral; and C, lateral views": every item
    # of a distributive list gets the list's head and tail (each panel's text reads alone)
    _distribute_lists(text, bounds, marks, owner_pieces, shared)

    result: list[Subcaption] = []
    if shared:
        st = _join(text, shared)
        if st:
            result.append(Subcaption(label=SHARED, text=st))
    texts: dict[str, list[str]] = {}
    order: list[str] = []
    for i, m in enumerate(marks):
        t = _join(text, owner_pieces[i])
        if not t:
            t = _fallback_text(text, bounds, m, marks)
        for lab in m.labels:
            if lab not in texts:
                texts[lab] = []
                order.append(lab)
            if t and t not in texts[lab]:
                texts[lab].append(t)
    for lab, spans in extra.items():
        if lab not in texts:
            texts[lab] = []
            order.append(lab)
        t = _join(text, spans)
        if t and t not in texts[lab]:
            texts[lab].append(t)
    for lab in order:
        result.append(Subcaption(label=lab, text=" ".join(texts[lab])))
    return result


_SPLIT_POINT_RE = re.compile(r",|\b(?:and|or|vs\.?|versus|whereas|while)\b")


def _last_split_point(seg: str) -> int:
    """Offset of the last comma or conjunction outside brackets that leaves words on both sides."""
    best = -1
    depth = 0
    marks = {m.start() for m in _SPLIT_POINT_RE.finditer(seg)}
    for i, ch in enumerate(seg):
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth = max(0, depth - 1)
        elif depth == 0 and i in marks and re.search(r"\w", seg[:i]) and re.search(r"\w", seg[i:].lstrip(",")):
            best = i
    return best


def _same_sentence_words(text: str, a: int, b: int) -> bool:
    return bool(re.search(r"\w", text[a:b]))


def _first_bound_after(bounds: list[int], a: int, hi: int) -> int:
    """First sentence start in (a, hi], else `hi` (`bounds` ascending)."""
    k = bisect_right(bounds, a)
    return bounds[k] if k < len(bounds) and bounds[k] <= hi else hi


def _tail(text, bounds, i, m, a, b, give) -> None:
    """Text after the last marker: its own sentence rest, then whole-sentence decisions."""
    nb = _first_bound_after(bounds, a, b)
    if m.role == "postfix":
        rest_end = nb
        if re.search(r"\w", text[a:rest_end]) and not re.match(r"\s*[.;!?]", text[a:]):
            give(i, a, rest_end)
        give_sentences(text, bounds, rest_end, b, None, give)
        return
    if m.role == "inline":
        give(i, a, nb)
        give_sentences(text, bounds, nb, b, None, give)
        return
    # prefix: its sentence stays with it, ";" clauses included ("(F) Staining; scale bar = 50 µm."), and so
    # do the following sentences until a whole-figure one
    nb = _first_bound_after(_full_bounds(text, tuple(bounds)), a, b)
    give(i, a, nb)
    # a scale bar after the last panel is that panel's when earlier panels state their own, or when it names
    # the panel ("Scale bar in B, 500 µm"); otherwise it is the whole figure's
    letters = tuple(lab for lab in m.labels if len(lab) == 1)

    def own_scale() -> bool:  # asked only about a sentence that opens with a scale bar (two caption scans)
        return _scale_bar_before(text, m.start) or bool(letters and _named_in_re(letters).search(text[nb:b]))

    give_sentences(text, bounds, nb, b, i, give, own_scale=own_scale, earlier=text[:m.start])


_SCALE_RE = re.compile(r"\bscale\s*bars?\b", re.I)


@lru_cache(maxsize=128)
def _named_in_re(labels: tuple[str, ...]) -> re.Pattern:
    r"""'in B', 'for panel (B)': a text that names one of the panels `labels`; the first letter before the
    look-behind that stands for "\b" (re then scans for i/f instead of trying every offset)."""
    labs = "|".join(map(re.escape, labels))
    return re.compile(rf"[if](?<!\w.)(?:(?<=i)n|(?<=f)or)\s+(?:panels?\s+)?\(?(?:{labs})\)?(?![\w\u2032'])", re.I)


def _scale_bar_before(text: str, end: int) -> bool:
    """_SCALE_RE.search(text, 0, end), searched from one before the first "cale" of the lower-cased text (no
    character but C/c, A/a, L/l, E/e folds to c, a, l, e under re.I; when lower() changed the length, offsets
    differ and the whole text is searched: only U+0130 lowers to two characters). The first "cale" is found
    with a class scan, not by lower-casing the caption."""
    q = _CALE_RE.search(text)
    if q is None:
        return False
    return _SCALE_RE.search(text, 0 if "\u0130" in text else max(0, q.start() - 1), end) is not None


_CALE_RE = re.compile(r"[cC][aA][lL][eE]")  # what lower() turns into "cale" (no other character lowers to c/a/l/e)


@lru_cache(maxsize=32)
def _full_bounds(text: str, bounds: tuple[int, ...]) -> tuple[int, ...]:
    """The bounds that are no ';' clause start (sentence starts): asked for three times per caption."""
    semi = _semicolon_ends(text)
    return tuple(x for x in bounds if x not in semi)


@lru_cache(maxsize=8)
def _semicolon_ends(text: str) -> frozenset[int]:
    """Every `bnd` with _semicolon_bound(text, bnd): after each ';', its run of closing brackets and quotes,
    then of spaces (a walk forward from the few ';' instead of a walk back from every bound)."""
    out: set[int] = set()
    n = len(text)
    q = text.find(";")  # (not _mark_offsets: `text` is the blanked caption of _segments, a new string)
    while q >= 0:
        k = q + 1
        while k < n and text[k] in ")]\u201d\"'":
            k += 1
        while k < n and text[k].isspace():
            k += 1
        out.update(range(q + 1, k + 1))
        q = text.find(";", q + 1)
    return frozenset(out)


def _semicolon_bound(text: str, bnd: int) -> bool:
    """The clause before `bnd` ends with ';' (closing brackets and quotes after it skipped); a backwards scan
    (text[:bnd].rstrip().rstrip(")]\u201d\"'").endswith(";") copied the caption for every bound)."""
    j = bnd - 1
    while j >= 0 and text[j].isspace():
        j -= 1
    while j >= 0 and text[j] in ")]\u201d\"'":
        j -= 1
    return j >= 0 and text[j] == ";"


def _is_key_chunk(chunk: str) -> bool:
    """'HR, hazard ratio;', 'SUVR, standardised uptake value ratio.', 'a, atrium;', 'Red, visceral fat;'."""
    m = _KEY_ENTRY_RE.match(chunk)
    if not m:
        return False
    tok, exp = m.group("tok"), m.group("exp")
    if len(exp.split()) > 8:
        return False
    if _COLOUR_RE.match(tok):
        return True
    if " " in tok:
        return False
    caps = sum(c.isupper() or c.isdigit() for c in tok)
    if caps >= 2 and tok[:1].isalnum():
        return True  # HR, T2, 3V, P1, OVX+D, mRS
    # single letters and short lowercase tokens only as an entry of a list ("A, artery; V, vein")
    return chunk.rstrip().endswith(";") and len(tok) <= 4 and tok.isalpha()


def _said_before(chunk: str, earlier: str) -> bool:
    """The first two words of `chunk` open a sentence or clause of `earlier` too: a statement each panel makes
    ("... One way ANOVA, ... (K, L). M ... One way ANOVA, ...") is the last panel's when it follows it."""
    words = _ALPHA_RE.findall(chunk)[:2]
    if len(words) < 2:
        return False
    if not any(map(earlier.__contains__, _FOLD_TO_ASCII)):
        # without those, a case-insensitive match of the words is in the lower-cased text: a quick "no"
        low = earlier.lower()
        if words[0].lower() not in low or words[1].lower() not in low:
            return False
    at_start, after_stop = _opening_words_re(words[0], words[1])
    return at_start.match(earlier) is not None or after_stop.search(earlier) is not None


_ALPHA_RE = re.compile(r"[A-Za-z]+")


@lru_cache(maxsize=256)
def _opening_words_re(w0: str, w1: str) -> tuple[re.Pattern, re.Pattern]:
    r"""r"(?:^|[.;:]\s+)w0\W+w1\b" (re.I) as two patterns: the second opens with a class, which re scans for,
    where the "^" branch made it try every offset."""
    words = rf"{re.escape(w0)}\W+{re.escape(w1)}\b"
    return re.compile(words, re.I), re.compile(rf"[.;:]\s+{words}", re.I)


# the only characters that re.I matches with an ASCII letter other than its two cases (İ ı: i, ſ: s, K: k)
_FOLD_TO_ASCII = ("\u0130", "\u0131", "\u017f", "\u212a")


def give_sentences(text, bounds, a, b, owner, give, own_scale: Callable[[], bool] | None = None,
                   earlier: str = "") -> None:
    """Give the sentences in [a, b) to `owner` until the first whole-figure one; it and all after it go to
    "_shared".  A sentence is whole-figure when one of its ";" clauses is ("Images are MIPs; scale bars,
    10 µm.", "Two-way ANOVA; ****P < 0.0001."), unless an earlier panel made the same statement; a scale
    bar sentence is the owner's when `own_scale()` says so."""
    if b <= a:
        return
    cuts = [x for x in bounds if a < x < b]
    edges = [a] + cuts + [b]
    whole = False
    sentence: list[tuple[int, int]] = []

    def flush() -> None:
        nonlocal whole
        if not sentence:
            return
        if not whole:
            for s, e in sentence:
                chunk = text[s:e].strip()
                if _WHOLE_FIGURE_RE.match(chunk) or _is_key_chunk(chunk):
                    if not (own_scale and _SCALE_RE.match(chunk) and own_scale()) \
                            and not (earlier and _said_before(chunk, earlier)):
                        whole = True
                        break
        for s, e in sentence:
            give(None if whole or owner is None else owner, s, e)
        sentence.clear()

    for s, e in zip(edges, edges[1:]):
        if not text[s:e].strip():
            continue
        sentence.append((s, e))
        if not text[s:e].rstrip().endswith(";"):
            flush()
    flush()


_SHARED_VERB_RE = re.compile(
    r"^\s*(?:(?:images|scans|sequences|views|sections|photographs|micrographs)\s+)?(?:show|demonstrate|reveal|confirm|depict|illustrate|display|exhibit|indicate|were\s+obtained|are\s+shown|"
    r"all\s+show)\b", re.I)


def _word_start(text: str, a: int) -> int:
    """Offset of the first word character at or after `a` (len(text) when none)."""
    w = re.compile(r"\w").search(text, a)
    return w.start() if w else len(text)


def _distribute_chains(text: str, marks: list[_Marker], owner: dict[int, list[tuple[int, int]]]) -> None:
    n = len(marks)
    i = 0
    while i < n:
        j = i
        while j + 1 < n and marks[j].role == "postfix" and re.match(r"^\s*,?\s*(?:and|&|or|vs\.?|versus)\s", text[marks[j].end:]) \
                and "." not in text[marks[j].end:marks[j + 1].start] \
                and ";" not in text[marks[j].end:marks[j + 1].start]:
            j += 1
        # "FT3 (A), FT4 (B) and LVEF (C) in patients": the end of a longer list is the last item's
        in_list = i > 0 and marks[i - 1].role == "postfix" and re.match(r"^\s*,", text[marks[i - 1].end:]) \
            and "." not in text[marks[i - 1].end:marks[i].start]
        if j > i and marks[j].role == "inline" and not in_list:
            # continuation of the last one: pieces that start at its end
            cont = [(a, b) for (a, b) in owner[j] if a >= marks[j].end]
            for k in range(i, j):
                owner[k].extend(cont)
        elif j > i and marks[j].role == "inline" and _SHARED_VERB_RE.match(text[marks[j].end:]):
            # "Axial FLAIR (a), DWI (b) and ADC map (c) show an infarct": coordinated subjects of a longer
            # list share their verb predicate (a tail that is no predicate, "... (C) in patients", does not)
            k0 = i
            while k0 > 0 and marks[k0 - 1].role == "postfix" \
                    and re.match(r"^\s*,\s*$", text[marks[k0 - 1].end:_word_start(text, marks[k0 - 1].end)]) \
                    and "." not in text[marks[k0 - 1].end:marks[k0].start] \
                    and ";" not in text[marks[k0 - 1].end:marks[k0].start]:
                k0 -= 1
            cont = [(a, b) for (a, b) in owner[j] if a >= marks[j].end]
            for k in range(k0, j):
                owner[k].extend(cont)
        i = j + 1


_ITEM_WORDS_MAX = 4  # an item of a distributive list is a short phrase ("posterior", "right lateral")
_LIST_JOIN_RE = re.compile(rf"^[\s,;]*(?:(?:and|or|&)\s+)?$", re.I)
_LIST_NOUN_RE = re.compile(
    r"(?<![\w-])(?:views?|images?|sections?|scans?|slices?|planes?|projections?|reformat\w*|reconstructions?|"
    r"maps?|sequences?|series|photographs?|aspects?|surfaces?|perspectives?|angiograms?|radiographs?|"
    r"micrographs?|weighted\s+images?|weighted)\b", re.I)
_HEAD_STOP_RE = re.compile(r"^(?:in|on|of|as|at|with|without|from|by|for|both|like|than|to|into|between|before|after|during|showing|shows?|show|showed|present|"
                           r"presents?|seen|are|is|were|was|demonstrat\w*|depict\w*|reveal\w*)$", re.I)


def _words(t: str) -> list[str]:
    return re.findall(r"\S+", t)


def _distribute_lists(text: str, bounds: list[int], marks: list[_Marker],
                      owner: dict[int, list[tuple[int, int]]], shared: list[tuple[int, int]]) -> None:
    """One sentence that lists short items with a label each, all labels of one role: prefix
    ("in (A) posterior and (B) frontal views", "A, dorsal; B, ventral; and C, lateral views") or postfix
    ("present as a target (a), reniform (b) and sausage-shaped (c) mass ..."): the words before the first
    item (head) and after the last one (tail) go to every item's text."""
    full = _full_bounds(text, tuple(bounds))
    k = 0
    n = len(marks)
    while k < n:
        s0 = _last_bound(full, -1, marks[k].start) or 0
        s1 = _first_bound_after(full, marks[k].end, len(text))
        group = [i for i in range(k, n) if marks[i].start < s1]
        k = group[-1] + 1
        if len(group) < 2 or any(marks[i].ref for i in group):
            continue
        roles = {marks[i].role for i in group}
        # "in (a) frontal, (b) lateral and (c) dorsal view": a label after a comma reads as inline, but
        # between prefix labels of short items it is one more prefix item
        if roles == {"prefix"} or (roles == {"prefix", "inline"} and marks[group[0]].role == "prefix"
                                   and marks[group[-1]].role == "prefix"):
            # items: the words after each label up to the next; the last item as long as the longest other
            items = [text[marks[i].end:marks[j].start] for i, j in zip(group, group[1:])]
            if any(len(_words(re.sub(r"(?:,|;|\band\b|\bor\b)\s*$", "", t.strip()))) > _ITEM_WORDS_MAX
                   or "." in t for t in items):
                continue
            if marks[group[0]].kind == "bare" and not text[s0:marks[group[0]].start].strip():
                head = None
            else:
                head = (s0, marks[group[0]].start)
            last = group[-1]
            # the tail starts at the list's head noun ("... and (c) lateral views", "T2-weighted images")
            tm = _LIST_NOUN_RE.search(text, marks[last].end, s1)
            if not tm or len(_words(text[marks[last].end:tm.start()])) > _ITEM_WORDS_MAX:
                continue
            tail = (tm.start(), s1)
        elif all(marks[i].role == "postfix" for i in group[:-1]) and marks[group[-1]].role in ("postfix", "inline"):
            items = [text[marks[i].end:marks[j].start] for i, j in zip(group, group[1:])]
            if any(len(_words(re.sub(r"^[\s,;]*(?:and|or|&)?\s*", "", t))) > _ITEM_WORDS_MAX or "." in t
                   for t in items):
                continue
            w = max(len(_words(re.sub(r"^[\s,;]*(?:and|or|&)?\s*", "", t))) for t in items)
            before = list(re.finditer(r"\S+", text[s0:marks[group[0]].start]))
            # the first item: up to w words back, not across a verb or preposition of the head
            # the first item reaches back to a preposition or verb of the head ("between ferritin and liver
            # iron (A)"), at most 6 words; without one, as long as the longest other item and one word more
            j = len(before)
            while j > 0 and len(before) - j < 6 and not _HEAD_STOP_RE.match(before[j - 1].group()):
                j -= 1
            after = text[marks[group[-1]].end:s1]
            noun = _LIST_NOUN_RE.search(after)
            if j == 0 or not _HEAD_STOP_RE.match(before[j - 1].group()):
                if noun and len(_words(after[:noun.start()])) <= 2 \
                        and not any(_LIST_NOUN_RE.search(t) for t in items + [text[s0:marks[group[0]].start]]):
                    # "T2-weighted axial (A) and coronal (B) images": items that modify the tail's noun; the
                    # first is as long as the longest other one, the words before it are the head
                    j = max(0, len(before) - w)
                else:
                    j = max(0, len(before) - (w + 1))
            elif j == len(before):
                j -= 1  # "before (A) and after (B) treatment": the item is the preposition itself
            if j == 0:
                continue  # no head left
            h0 = s0
            hm = re.match(rf"\s*(?P<lab>{_LIST})\s*[,.:]\s+", text[s0:s0 + before[j].start()])
            if hm and set(expand_labels(hm.group("lab"))) >= {x for i in group for x in marks[i].labels}:
                h0 = s0 + hm.end()  # "c-e, Frequency of X (c), Y (d) ...": the range header is no head
            head = (h0, s0 + before[j].start())
            after = text[marks[group[-1]].end:s1]
            if not re.search(r"\w", after) or re.match(r"\s*[,;]", after):
                continue  # nothing distributive after the list
            tail = (marks[group[-1]].end, s1)
        else:
            continue
        for i in group:
            if head:
                owner[i].append(head)
            owner[i].append(tail)
        if head:
            # the head is the list's, not the text of a panel before it ("... edema. T1 weighted images
            # showing (b) axial, (c) sagittal ...": no part of (a)'s text)
            members = set(group)
            for i in owner:
                if i not in members:
                    owner[i][:] = [p for a, b in owner[i] for p in ((a, min(b, head[0])), (max(a, head[1]), b))
                                   if p[1] > p[0]]
            shared[:] = [(a, b) for a, b in shared if b <= head[0] or a >= head[1]] + \
                [(a, min(b, head[0])) for a, b in shared if a < head[0] < b]


def _blank(text: str, holes: list[tuple[int, int]]) -> str:
    """`text` with the spans in `holes` turned into spaces (offsets unchanged; _join collapses the gap)."""
    for a, b in holes:
        text = text[:a] + " " * (b - a) + text[b:]
    return text


def _join(text: str, pieces: list[tuple[int, int]]) -> str:
    """Clean and join pieces; touching or overlapping pieces are merged first, so the text stays verbatim."""
    merged: list[list[int]] = []
    for a, b in sorted(pieces):
        if merged and a <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    out = []
    for a, b in merged:
        t = _clean(text[a:b])
        if t:
            out.append(t)
    return " ".join(out)


def _fallback_text(text: str, bounds: list[int], m: _Marker, marks: list[_Marker]) -> str:
    """A label with no text of its own gets its sentence, label marks removed."""
    s = _last_bound(bounds, -1, m.start) or 0
    e = _first_bound_after(bounds, m.end, len(text))
    pieces = []
    pos = s
    for o in marks:
        if o.start >= s and o.end <= e:
            pieces.append(text[pos:o.start])
            pos = o.end
    pieces.append(text[pos:e])
    # pieces joined with one space: a mark such as " in A and B)" carries no spaces around it
    return _clean(" ".join(p.strip() for p in pieces if p.strip()))
