"""JATS XML (PMC / Europe PMC) articles: figures, labels, captions and the sentences that cite them.

Only the standard library is used.  The XML caption of a figure has no label (the label is in
`<label>`), so `JatsFigure.caption` is the bare caption text and `JatsFigure.printed_caption()`
rebuilds a caption as a PDF would print it ("Figure 2. Text ...").
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

from medvl.errors import InputError
from medvl.sentences import add_reference, sentence_at, sentence_bounds

_BLOCK_TAGS = {"p", "title", "list-item", "list", "def-item", "disp-quote", "label", "caption"}
XLINK = "{http://www.w3.org/1999/xlink}href"


@dataclass
class JatsFigure:
    fig_id: str | None
    label: str | None  # "Figure 2" as in <label>, trailing punctuation removed
    caption: str  # caption text without label, whitespace normalised
    title: str | None = None
    graphics: list[str] = field(default_factory=list)  # xlink:href of <graphic>
    index: int = 0
    # sentences of the article's text that cite this figure (<xref ref-type="fig" rid=...>), in text order
    references: list[str] = field(default_factory=list)

    def printed_caption(self) -> str:
        if self.label:
            return f"{self.label}. {self.caption}".strip() if self.caption else self.label
        return self.caption


@dataclass
class JatsArticle:
    path: str
    title: str | None
    pmcid: str | None
    doi: str | None
    license: str | None
    figures: list[JatsFigure]
    article_type: str | None = None


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def element_text(el: ET.Element) -> str:
    """Text of an element with block-level children separated by spaces, whitespace normalised."""
    parts: list[str] = []

    def walk(e: ET.Element) -> None:
        block = _local(e.tag) in _BLOCK_TAGS
        if block:
            parts.append(" ")
        if e.text:
            parts.append(e.text)
        for child in e:
            walk(child)
            if child.tail:
                parts.append(child.tail)
        if block:
            parts.append(" ")

    walk(el)
    return re.sub(r"\s+", " ", "".join(parts)).strip()


_NOT_TEXT = {"fig", "fig-group", "table-wrap", "caption", "ref-list", "ref", "front", "back", "disp-formula",
             "supplementary-material", "title", "label"}


def _paragraph_text(p: ET.Element) -> tuple[str, list[tuple[int, list[str]]]]:
    """A paragraph's text (as written: sentences are normalised when taken) and, per figure citation,
    (offset, the cited ids)."""
    parts: list[str] = []
    cites: list[tuple[int, list[str]]] = []
    size = 0

    def add(t: str | None) -> None:
        nonlocal size
        if t:
            parts.append(t)
            size += len(t)

    def walk(e: ET.Element) -> None:
        tag = _local(e.tag)
        if tag in _NOT_TEXT:
            return
        if tag == "xref" and e.get("ref-type") == "fig" and e.get("rid"):
            cites.append((size, e.get("rid", "").split()))
        add(e.text)
        for child in e:
            walk(child)
            add(child.tail)

    walk(p)
    return "".join(parts), cites


def _figure_references(article: ET.Element) -> dict[str, list[str]]:
    """fig id -> the sentences of the body text that cite it (each once, in text order)."""
    body = next((e for e in article.iter() if _local(e.tag) == "body"), None)
    if body is None:
        return {}
    out: dict[str, list[str]] = {}

    def paragraphs(e: ET.Element):
        for child in e:
            tag = _local(child.tag)
            if tag == "p":
                yield child
            elif tag not in _NOT_TEXT:
                yield from paragraphs(child)

    for p in paragraphs(body):
        if not any(_local(x.tag) == "xref" and x.get("ref-type") == "fig" for x in p.iter()):
            continue  # most paragraphs cite no figure: no need to rebuild their text
        text, cites = _paragraph_text(p)
        if not cites:
            continue
        bounds = sentence_bounds(text)
        for at, ids in cites:
            sentence = sentence_at(text, bounds, at)
            for fid in ids:
                add_reference(out, fid, sentence)
    return out


def _strip_label_punct(label: str) -> str:
    return re.sub(r"[\s.:|]+$", "", label).strip()


def parse_jats_bytes(data: bytes, source: str) -> JatsArticle:
    if not data.strip():
        raise InputError(source, "empty", "the XML file is empty")
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        raise InputError(source, "bad_xml", f"not well-formed XML ({exc})") from exc
    if _local(root.tag) not in ("article", "pmc-articleset", "OAI-PMH", "records"):
        raise InputError(source, "not_jats", f"root element <{_local(root.tag)}> is not a JATS <article>")
    article = root if _local(root.tag) == "article" else next(
        (e for e in root.iter() if _local(e.tag) == "article"), None)
    if article is None:
        raise InputError(source, "not_jats", "no <article> element found")

    def first(tag: str, within: ET.Element = article) -> ET.Element | None:
        return next((e for e in within.iter() if _local(e.tag) == tag), None)

    title_el = first("article-title")
    pmcid = doi = None
    for e in article.iter():
        if _local(e.tag) == "article-id":
            kind = e.get("pub-id-type")
            if kind in ("pmc", "pmcid") and e.text:
                pmcid = e.text.strip()
                if not pmcid.upper().startswith("PMC"):
                    pmcid = "PMC" + pmcid
            elif kind == "doi" and e.text:
                doi = e.text.strip()
    lic = None
    lic_el = first("license")
    if lic_el is not None:
        lic = lic_el.get(XLINK) or element_text(lic_el)[:300] or None

    figures: list[JatsFigure] = []
    references = _figure_references(article)
    for e in article.iter():
        if _local(e.tag) != "fig":
            continue
        label_el = next((c for c in e if _local(c.tag) == "label"), None)
        cap_el = next((c for c in e if _local(c.tag) == "caption"), None)
        label = _strip_label_punct(element_text(label_el)) if label_el is not None else None
        caption = element_text(cap_el) if cap_el is not None else ""
        # some publishers tag the panel legend as <p> children of <fig> after the <caption>
        # (PMC: "<caption><p>Title</p></caption><graphic/><p><bold>A.</bold> ...</p>"): it is
        # printed as caption text in the PDF, so it is caption text here too
        legend = [element_text(c) for c in e if _local(c.tag) == "p"]
        if cap_el is None:
            # a few journals put the whole legend in <statement> instead of <caption> (Adv Pharm Bull)
            legend = [element_text(c) for c in e if _local(c.tag) == "statement"] + legend
        if any(legend):
            caption = " ".join([caption] + [t for t in legend if t]).strip()
        title = None
        if cap_el is not None:
            t = next((c for c in cap_el if _local(c.tag) == "title"), None)
            title = element_text(t) if t is not None else None
        graphics = [g.get(XLINK) for g in e.iter() if _local(g.tag) == "graphic" and g.get(XLINK)]
        figures.append(JatsFigure(fig_id=e.get("id"), label=label or None, caption=caption,
                                  title=title, graphics=graphics, index=len(figures),
                                  references=references.get(e.get("id") or "", [])))
    return JatsArticle(path=source, title=element_text(title_el) if title_el is not None else None,
                       pmcid=pmcid, doi=doi, license=lic, figures=figures,
                       article_type=article.get("article-type"))


def parse_jats(path: str | Path) -> JatsArticle:
    """Parse a JATS XML file; raises InputError naming the file for unreadable or non-JATS input."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise InputError(str(path), "unreadable", f"cannot read the file ({exc.strerror})") from exc
    return parse_jats_bytes(data, str(path))


def find_graphic_file(xml_path: str | Path, href: str) -> Path | None:
    """A figure image shipped beside the XML (href with or without an image extension)."""
    folder = Path(xml_path).parent
    name = Path(href).name
    if not name or name in (".", ".."):
        return None
    cand = folder / name
    if cand.is_file():
        return cand
    for ext in (".jpg", ".jpeg", ".png", ".gif", ".tif", ".tiff"):
        for c in (folder / (name + ext), folder / (Path(name).stem + ext)):
            if c.is_file():
                return c
    return None
