"""Figure caption labels and caption text: detection rules and normalisation.

A caption starts with its label at the very beginning of a text line ("Figure 3:", "Fig. 2.",
"FIGURE 1 |", "Fig 4 -", "Supplementary Figure S1."), followed by a separator or by the start of
a sentence.  In-text references ("Figure 2 shows ...", "as shown in Figure 2") are excluded:
they either do not start a line/block or continue with a lower-case word and no separator.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from difflib import SequenceMatcher

# "Supplementary Figure S1", "Extended Data Fig. 3", "Figure 2", "FIG. 4", "Fig 5", "Figs. 1"
_PREFIX = r"(?:(?:Supplementary|Supplemental|Suppl\.?|Extended\s+Data|Additional(?:\s+file\s+\d+:?)?|Online)\s+)?"
_WORD = r"(?:Figure|Fig\.?|FIGURE|FIG\.?|Figs\.?|Scheme|Chart)"  # chemistry journals number schemes, charts apart
_NUM = r"(?:[A-Z]?S?\d{1,3}[A-Za-z]?|[IVX]{1,5}|S\d{1,3})"
# eLife figure supplements: "Figure 1—figure supplement 2" is a figure of its own
_FIG_SUPP = r"(?:\s*[\u2014\u2013-]\s*figure\s+supplement\s+(?P<fs>\d{1,2}))?"
LABEL_RE = re.compile(
    rf"^\s*(?P<label>{_PREFIX}(?P<word>{_WORD})(?:\s?|-)(?P<num>{_NUM}){_FIG_SUPP})(?P<rest>.*)$",
    re.IGNORECASE | re.DOTALL,
)
# strong separators directly after the label
_SEP_RE = re.compile(r"^\s*(?:[:.|]|[-\u2013\u2014]\s|\u2002|\u2003|\u00a0\u00a0)")
# in-text reference verbs that betray body text ("Figure 2 shows ...")
_BODY_NEXT = re.compile(
    r"^\s*(?:and|or|to|shows?|showed|summari[sz]es|illustrates?|depicts?|presents?|displays?|gives?|"
    r"demonstrates?|indicates?|reveals?|compares?|provides?|contains?|lists?|plots?|represents?|"
    r"describes?|highlights?|confirms?|is|are|was|were|in|of|for|with|from|on|at|also|further|"
    r"suggests?|documents?|outlines?|details?|reports?|sketches?)\b",
    re.IGNORECASE,
)


# an unnumbered label ("Figure. Text", "FIGURE: Text"): the one figure of a news piece or commentary;
# only with a separator and a capitalised caption after it
_UNNUMBERED_RE = re.compile(r"^\s*(?P<label>Figure|FIGURE)\s?(?P<rest>[.:|]\s+[A-Z(\[].*)$", re.DOTALL)


@dataclass
class LabelMatch:
    label: str  # "Figure 3" as printed (whitespace normalised)
    number: str  # "3", "S1"
    rest: str  # text after the label
    strong_sep: bool  # ":", ".", "|", dash after the label
    body_like: bool  # looks like an in-text reference ("Figure 2 shows")
    continued: bool  # "Figure 2 (continued)"


# a bare lower-case panel letter opening the caption text, then a capitalised word or a number
_PANEL_START_RE = re.compile(r"^[a-z]\s+(?:[A-Z0-9])")


def starts_with_panel_letter(rest: str) -> bool:
    """The text after a label opens with a bare panel letter ("a Axial T2 ...", Springer/BMC style)."""
    return bool(_PANEL_START_RE.match(rest.strip()))


def match_label(text: str) -> LabelMatch | None:
    """Parse a caption label at the start of `text`, or None if it does not start with one."""
    m = LABEL_RE.match(text)
    if not m:
        u = _UNNUMBERED_RE.match(text)
        if u is None:
            return None
        return LabelMatch(label=u.group("label"), number="", rest=u.group("rest"), strong_sep=True,
                          body_like=False, continued=False)
    word = m.group("word")
    rest = m.group("rest")
    num = m.group("num")
    # "Figures" / "Fig.1a" edge cases: the number must end at a word boundary
    if rest and (rest[0].isalnum() and not rest[0].isspace()):
        return None
    if word.lower().startswith("figs") and not word.lower().startswith("figure"):
        # "Figs. 2 and 3" is always an in-text reference
        return None
    if num.isalpha() and not re.fullmatch(r"[IVX]+", num, re.IGNORECASE):
        return None
    if re.fullmatch(r"[IVX]+", num, re.IGNORECASE) and not re.fullmatch(r"[IVX]+", num):
        return None  # roman numerals must be upper-case
    strong = bool(_SEP_RE.match(rest))
    stripped = rest.strip()
    continued = bool(re.match(r"^[(\[]?\s*(?:\.\.\.|\u2026)?\s*cont(?:inued|'d|\.)", stripped.lstrip(":.|-\u2013\u2014 "),
                              re.IGNORECASE))
    body_like = False
    if not strong:
        if not stripped:
            body_like = False  # label alone on its line: caption text may follow on the next line
        elif starts_with_panel_letter(stripped):
            body_like = False  # "Fig. 1 a Axial CT ... b Coronal CT": the first panel's label
        elif _BODY_NEXT.match(stripped) or stripped[0].islower() or stripped[0] in ",;)]":
            body_like = True
    label = normalize_ws(m.group("label"))
    if m.group("fs"):
        num = f"{num}-FS{m.group('fs')}"
    return LabelMatch(label=label, number=num.upper() if num[0] in "sS" else num, rest=rest,
                      strong_sep=strong, body_like=body_like, continued=continued)


# what may follow a label without making it a caption: nothing, or only a panel reference
# ("Fig. 4A.", "Figure 2 (b)", "Fig. 3A-C", "Fig. 5 a, b")
_REF_ONLY_RE = re.compile(
    r"^[(\[]?\s*(?:[A-Za-z](?:\s*(?:[-\u2013\u2014,&/]|and)\s*[A-Za-z])*)?\s*[)\]]?\s*[.,;:)\]]*\s*$")


def reference_only(body: str) -> bool:
    """True when a caption's text after its label is empty or only a panel reference ("A", "(b)", "A-C")."""
    return bool(_REF_ONLY_RE.match(normalize_ws(body)))


# a file description: "(TIF)", "(PDF 120 kb)", "(DOCX 35K)", "Click here for file", "Format: PDF"
_FILE_MARK_RE = re.compile(
    r"(?:\((?:TIFF?|PDF|DOCX?|XLSX?|PPTX?|JPE?G|PNG|EPS|ZIP|AVI|MOV|MP4|CSV|TXT|RTF)(?:\s*,?\s*\d+(?:[.,]\d+)?\s*[KkMm]i?[Bb]?)?\)"
    r"|\bClick here for (?:additional data )?file\b|\bFormat:\s*(?:TIFF?|PDF|DOCX?|XLSX?|PPTX?|JPE?G|PNG)\b)",
    re.IGNORECASE)
# the heading of a list of supplementary files
SUPP_HEADING_RE = re.compile(
    r"^\s*(?:Supporting\s+Information|Additional\s+files?|Supplementary\s+(?:Material|Materials|Information|Data|Files?)"
    r"|Supplemental\s+(?:Material|Information|Data)|Electronic\s+supplementary\s+material)\s*:?\s*$",
    re.IGNORECASE)


def supplementary_file(label: str, text: str) -> bool:
    """True when a caption describes a supplementary file ("Additional file 1: Figure S1 ...",
    "Figure S2 ... (TIF)"), not a figure printed in this PDF."""
    if re.match(r"^\s*Additional\s+file\s+\d+", label, re.IGNORECASE):
        return True
    return bool(_FILE_MARK_RE.search(text))


# eLife prints the list of a figure's supplements after its caption ("The following figure
# supplements are available for figure 2: Figure supplement 1. ... DOI: ..."): not caption text
_SUPP_LIST_RE = re.compile(r"\s*The following (?:figure )?supplements? (?:is|are) available for figure \d+\s*[:.](?P<list>.*)$",
                           re.IGNORECASE | re.DOTALL)


# one entry of that list: "Figure supplement 1. Its title. DOI: 10.7554/eLife.01239.006"
_SUPP_ENTRY_RE = re.compile(r"Figure supplement (?P<n>\d{1,2})\s*[.:]\s*(?P<title>.*?)"
                            r"(?:\s*DOI:\s*\S+)?\s*(?=Figure supplement \d{1,2}\s*[.:]|$)",
                            re.IGNORECASE | re.DOTALL)


def strip_supplement_list(text: str) -> str:
    """A caption without the trailing list of its figure supplements."""
    return split_supplement_list(text)[0]


def split_supplement_list(text: str) -> tuple[str, list[tuple[str, str]]]:
    """(the caption without its trailing list of figure supplements, [(number, title), ...] of that list):
    the titles name figures that the PDF may not print, which parse must not lose silently."""
    m = _SUPP_LIST_RE.search(text)
    if m is None:
        return text, []
    entries = [(e.group("n"), normalize_ws(e.group("title"))) for e in _SUPP_ENTRY_RE.finditer(m.group("list"))]
    return text[:m.start()], entries


def panel_suffixed(m: LabelMatch) -> bool:
    """The label's number ends with a panel letter ("Fig. 4A", not "Figure S4" or "Figure IV")."""
    return bool(re.fullmatch(r"\d{1,3}[A-Za-z]", m.number))


def label_key(label_or_number: str) -> str:
    """A comparable key for a figure label: 'Figure 3' / 'Fig. 3' / 'FIGURE 3' -> '3', supplementary -> 'S3',
    'Scheme 2' -> 'SCHEME2', 'Chart 1' -> 'CHART1', an unnumbered 'Figure' -> 'FIGURE'."""
    m = LABEL_RE.match(label_or_number)
    if m:
        num = m.group("num").upper()
        if m.group("word").lower() in ("scheme", "chart"):
            return m.group("word").upper() + num  # Scheme 1 and Chart 1 are not Figure 1
        supp = bool(re.match(r"^\s*(supp|extended|additional|online)", label_or_number, re.IGNORECASE))
        if supp and not num.startswith("S"):
            num = "S" + num
        if m.group("fs"):
            num = f"{num}-FS{m.group('fs')}"
        return num
    s = re.sub(r"[^0-9A-Za-z]", "", label_or_number).upper()
    return s


# ---------------------------------------------------------------- text normalisation

_HYPHENS = "-\u2010\u2011\u00ad"
_LIGATURES = {"\ufb00": "ff", "\ufb01": "fi", "\ufb02": "fl", "\ufb03": "ffi", "\ufb04": "ffl", "\ufb05": "st",
              "\ufb06": "st"}


def normalize_ws(text: str) -> str:
    text = text.replace("\u00ad", "")
    return re.sub(r"\s+", " ", text).strip()


def fix_ligatures(text: str) -> str:
    for k, v in _LIGATURES.items():
        text = text.replace(k, v)
    return text


def join_lines(lines: list[str], vocab: "set[str] | None" = None) -> str:
    """Join caption lines into one string, repairing end-of-line hyphenation.

    A line ending in a hyphen after a letter, followed by a line starting lower-case, is a word
    broken at the line end ("immuno-" + "histochemistry" -> "immunohistochemistry") unless the
    hyphenated form is a real compound: the left part has digits or inner capitals ("p75ICD-" +
    "transfected"), or `vocab` (words seen elsewhere in the document) knows the hyphenated form
    and not the joined one.  A hyphen before an upper-case letter or a digit is always kept.
    """
    out = ""
    for raw in lines:
        line = fix_ligatures(raw).strip()
        if not line:
            continue
        if not out:
            out = line
            continue
        if out[-1] == "\u00ad":
            out = out[:-1] + line
        elif out[-1] in _HYPHENS and len(out) >= 2 and out[-2].isalpha() and line[0].islower():
            left = re.search(r"([^\s\-\u2010\u2011(\[/]+)$", out[:-1])
            word = left.group(1) if left else ""
            nxt = re.match(r"[^\s,.;:)\]]+", line)
            nword = nxt.group(0) if nxt else ""
            plain = bool(word) and word.isalpha() and (word[1:].islower() or word.islower())
            if vocab is not None and plain:
                joined, hyph = (word + nword).lower(), (word + "-" + nword).lower()
                if hyph in vocab and joined not in vocab:
                    plain = False
            out = (out[:-1] + line) if plain else (out + line)
        elif out[-1] in _HYPHENS and len(out) >= 2 and out[-2].isalnum():
            out = out + line  # "anti-" + "CD20": the hyphen belongs to the name
        elif out[-1] in "\u2013\u2014/":
            out = out + line
        else:
            out = out + " " + line
    return normalize_ws(out)


def caption_body(caption: str) -> str:
    """The caption without its label and separator ("Figure 2: Foo" -> "Foo")."""
    m = match_label(caption)
    if not m:
        return normalize_ws(caption)
    rest = m.rest
    rest = re.sub(r"^\s*(?:[:.|]|[-\u2013\u2014])\s*", "", rest)
    return normalize_ws(rest)


def comparable(text: str) -> str:
    """Text reduced for comparisons: NFKC, ligatures, no whitespace differences, unified dashes/quotes."""
    t = unicodedata.normalize("NFKC", fix_ligatures(text))
    t = t.replace("\u00ad", "")
    t = re.sub(r"[\u2010-\u2015\u2212]", "-", t)
    t = re.sub(r"[\u2018\u2019\u201a\u201b\u2032]", "'", t)
    t = re.sub(r"[\u201c\u201d\u201e\u201f\u2033]", '"', t)
    t = re.sub(r"\s+", " ", t).strip().lower()
    # spaces around punctuation differ between PDF extraction and XML
    t = re.sub(r"\s*([()\[\]/,;:=+\-\u00b1<>%.])\s*", r"\1", t)
    return t


def similarity(a: str, b: str) -> float:
    """Similarity of two caption texts in [0, 1] after `comparable` normalisation."""
    ca, cb = comparable(a), comparable(b)
    if not ca and not cb:
        return 1.0
    if ca == cb:
        return 1.0
    sm = SequenceMatcher(None, ca, cb, autojunk=False)
    return round(sm.ratio(), 4)
