"""The parse stage: PDFs and JATS XML in, figures with captions, panels and panel letters out.

Library API
-----------
``parse_paper(pdf_path, xml_path, settings)``  one paper -> (figures, rejects); images are written
    under ``run_dir`` when one is given.
``parse_inputs(inputs, run_dir, settings, progress)``  files and folders -> RUN_DIR/figures.jsonl,
    RUN_DIR/rejects.jsonl, images under RUN_DIR/images/<paper_id>/, overlays under
    RUN_DIR/overlays/<paper_id>/ (``settings.overlays``); returns a :class:`ParseSummary`.
``discover(inputs)``  the papers (PDF + XML pairs) in a list of files and folders.

The paper is the unit of work (``RunDir.write_unit("parse", paper_id, ...)``): a rerun skips done
papers, an interrupted run resumes, and ``figures.jsonl`` is rebuilt from the parts in key order,
so the output does not depend on the number of workers or on interruptions.

Bad input never stops a run: empty, non-PDF, corrupt, encrypted, zero-page and figure-less
files, files that run past the time limit and files that crash the PDF library each become one
reject row (``medvl.records.Reject``) with a reason code and a clear detail.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import signal
import threading
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterator, Literal

from medvl.errors import InputError, MedvlError
from medvl.progress import ProgressFn, no_progress
from medvl.records import Figure, Panel, Provenance, Reject, figure_id, panel_id, paper_id_from_hash, sha256_bytes
from medvl.pdf import figure_panels as FP
from medvl.runs import RunDir, package_version, read_jsonl
from medvl.versioning import stage_version

STAGE = "parse"
STAGE_VERSION = stage_version(STAGE)  # derived from the parse code (medvl/versioning.py)
PDF_EXT = {".pdf"}
XML_EXT = {".xml", ".nxml"}
REJECT_REASONS = {
    "empty": "the file is empty (0 bytes)",
    "not_pdf": "not a PDF or JATS XML file",
    "corrupt": "the PDF cannot be opened",
    "encrypted": "the PDF is encrypted with a password",
    "no_pages": "the PDF has no pages",
    "no_figures": "no figure captions were found",
    "timeout": "parsing took longer than the time limit",
    "crash": "the PDF reader crashed on this file",
    "error": "unexpected error while parsing",
    "duplicate": "the same file content was already given under another path",
    "bad_xml": "the XML is not well-formed",
    "not_jats": "the XML is not a JATS article",
    "bad_page": "one page could not be read",
    "bad_image": "an image file could not be decoded",
    "unreadable": "the file cannot be read",
    "not_a_caption": "a figure label with no caption text and no figure graphics (an in-text reference)",
    "supplementary_file": "a caption that describes a supplementary file (\"Additional file 1: Figure S1\", \"(TIF)\"), not a figure of the PDF",
    "supplement_not_printed": "a figure supplement that the caption lists by title only (eLife); its image is not in the PDF (given the article's XML, parse takes it from there)",
    "hidden": "a file (or folder) whose name starts with a dot, skipped in folder scans",
    "unsafe_name": "a file name that cannot be written as text that reads back to the same name",
}


@dataclass
class ParseSettings:
    """Resolved settings of the parse stage (recorded in run.json)."""

    dpi: int = 150
    ocr: Literal["auto", "always", "never"] = "auto"
    overlays: bool = False
    detector: Literal["none", "rapid"] = "none"
    xml_repair: bool = True  # use a paired JATS XML to confirm or repair PDF captions
    xml_only_figures: bool = True  # add XML figures the PDF did not show (page null)
    timeout_s: float = 180.0  # per paper
    max_side: int = 4096  # rendered image cap, pixels
    render: bool = True  # write figure and panel images (False: boxes and captions only)
    memory_mb: int | None = 6144  # per worker address-space cap (workers > 1)
    repair_threshold: float = 0.95  # PDF caption kept when at least this similar to the XML

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ParseSettings":
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        return cls(**known)

    def validate(self) -> None:
        if not 18 <= self.dpi <= 1200:
            raise MedvlError(f"--dpi must be between 18 and 1200, not {self.dpi}")
        if self.ocr not in ("auto", "always", "never"):
            raise MedvlError(f"--ocr must be auto, always or never, not {self.ocr!r}")
        if self.detector not in ("none", "rapid"):
            raise MedvlError(f"--detector must be none or rapid, not {self.detector!r}")
        if self.max_side < 64:
            raise MedvlError("max_side must be at least 64 pixels")


@dataclass
class PaperInput:
    """One unit of work: a PDF, a JATS XML, or both (same folder, same stem)."""

    key: str
    source: str  # the PDF path as given (else the XML path)
    pdf: str | None = None
    xml: str | None = None
    sha256: str | None = None
    reject: dict | None = None  # known bad before parsing (empty, duplicate, unsupported)


@dataclass
class ParseSummary:
    run_dir: str
    papers: int = 0  # units in the input
    parsed: int = 0  # units parsed in this call
    skipped: int = 0  # units already done before this call
    figures: int = 0  # rows in figures.jsonl after the merge
    panels: int = 0
    seconds: float = 0.0
    rejects: list[dict] = field(default_factory=list)  # rejects written in this call
    total_rejects: int = 0  # parse rejects in the run directory after the merge
    redone: dict[str, int] = field(default_factory=dict)  # why papers were parsed again: reason -> papers
    hidden: int = 0  # inputs skipped because their name starts with a dot (a `hidden` reject each)


# ================================================================ discovery

def _sniff(path: Path) -> str:
    """'pdf', 'xml', 'empty' or 'other' from the first bytes."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(1024)
    except OSError:
        return "unreadable"
    if not head:
        return "empty"
    if b"%PDF-" in head:
        return "pdf"
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if stripped.startswith(b"<"):
        return "xml"
    return "other"


def _file_sha(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _path_key(prefix: str, source: str) -> str:
    return f"{prefix}-{hashlib.sha256(source.encode('utf-8')).hexdigest()[:12]}"


HIDDEN_DETAIL = ("the name (or a folder above it) starts with a dot: hidden files are skipped in folder scans; "
                 "name the file itself to parse it")


def discover(inputs: list[str | Path]) -> list[PaperInput]:
    """Files and folders (searched recursively) -> papers; PDF and XML of one folder+stem pair up.

    Files named explicitly are always taken (and rejected when they are neither PDF nor XML);
    in folders only *.pdf, *.xml and *.nxml files are considered.  In folders, a PDF or XML whose name,
    or a folder's name below the one given, starts with a dot (``.hidden.pdf``, ``.git/``, ``._x.pdf``
    copies made by macOS) is not parsed: it is a ``hidden`` reject row each, never skipped silently.

    Every ``source`` is JSON-safe text (medvl.paths.path_text: bytes that are not UTF-8 become ``\\xNN``,
    recoverable with path_from_text); ``pdf``/``xml`` keep the name that opens the file.  A name that
    cannot be written safely is an ``unsafe_name`` reject; every other input goes on.
    """
    units: list[PaperInput] = []  # every step adds its rejects (and the last one the papers) here
    files = _input_files(inputs, units)
    pdfs, xmls = _by_content(files, units)
    xml_for, used_xml = _pair_xml(pdfs, xmls)
    _paper_units(pdfs, xmls, xml_for, used_xml, units)
    units.sort(key=lambda u: u.key)
    return units


def _input_files(inputs: list[str | Path], units: list[PaperInput]) -> list[tuple[str, Path]]:
    """(the path as given, as JSON-safe text; the path) of every input file, once each: files as named,
    folders' PDF and XML files; a hidden or unsafe name is a reject in `units`."""
    from medvl.paths import UnsafeName, path_text, shown_path

    files: list[tuple[str, Path]] = []
    seen: set[Path] = set()

    def take(given: str | Path, p: Path) -> None:
        if p.resolve() in seen:
            return
        seen.add(p.resolve())
        try:
            files.append((path_text(given), p))
        except UnsafeName as exc:
            units.append(PaperInput(key=_path_key("unsafe", exc.shown), source=exc.shown, reject={
                "reason": "unsafe_name", "detail": str(exc).removeprefix(f"{exc.shown}: ")}))

    for raw in inputs:
        p = Path(raw)
        if p.is_dir():
            found = sorted(q for q in p.rglob("*") if q.suffix.lower() in PDF_EXT | XML_EXT and q.is_file())
            for q in found:
                if any(part.startswith(".") for part in q.relative_to(p).parts):
                    shown = shown_path(q)
                    units.append(PaperInput(key=_path_key("hidden", shown), source=shown, reject={
                        "reason": "hidden", "detail": HIDDEN_DETAIL}))
                    continue
                take(q, q)
        elif p.is_file():
            take(raw, p)
        else:
            raise InputError(shown_path(raw), "missing", "no such file or folder")
    return files


def _by_content(files: list[tuple[str, Path]], units: list[PaperInput]
                ) -> tuple[list[tuple[str, Path]], list[tuple[str, Path]]]:
    """(PDFs, XMLs) by their first bytes, not their names; an empty, unreadable or other file is a reject
    in `units`."""
    pdfs: list[tuple[str, Path]] = []
    xmls: list[tuple[str, Path]] = []
    for given, p in files:
        kind = _sniff(p)
        ext = p.suffix.lower()
        if kind == "empty":
            units.append(PaperInput(key=_path_key("empty", given), source=given, reject={
                "reason": "empty", "detail": "the file is empty (0 bytes)"}))
        elif kind == "unreadable":
            units.append(PaperInput(key=_path_key("unreadable", given), source=given, reject={
                "reason": "unreadable", "detail": "the file cannot be read"}))
        elif kind == "pdf":
            pdfs.append((given, p))
        elif kind == "xml" and ext not in PDF_EXT:
            xmls.append((given, p))
        else:
            what = "an XML/HTML document" if kind == "xml" else "not a PDF (no %PDF- header)"
            units.append(PaperInput(key=_path_key("notpdf", given), source=given, reject={
                "reason": "not_pdf", "detail": f"{what}; expected a PDF or a JATS XML file"}))
    return pdfs, xmls


def _pair_xml(pdfs: list[tuple[str, Path]], xmls: list[tuple[str, Path]]
              ) -> tuple[dict[str, tuple[str, Path]], set[str]]:
    """(PDF as given -> its XML, the XMLs so paired): same folder and stem, else the only PDF and the only
    XML of a folder."""
    by_dir_pdf: dict[Path, list[tuple[str, Path]]] = {}
    by_dir_xml: dict[Path, list[tuple[str, Path]]] = {}
    for g, p in pdfs:
        by_dir_pdf.setdefault(p.resolve().parent, []).append((g, p))
    for g, p in xmls:
        by_dir_xml.setdefault(p.resolve().parent, []).append((g, p))
    xml_for: dict[str, tuple[str, Path]] = {}
    used_xml: set[str] = set()
    for d, plist in by_dir_pdf.items():
        xlist = by_dir_xml.get(d, [])
        for g, p in plist:
            same = [x for x in xlist if x[1].stem == p.stem and x[0] not in used_xml]
            if same:
                xml_for[g] = same[0]
                used_xml.add(same[0][0])
        if len(plist) == 1 and len(xlist) == 1 and plist[0][0] not in xml_for and xlist[0][0] not in used_xml:
            xml_for[plist[0][0]] = xlist[0]
            used_xml.add(xlist[0][0])
    return xml_for, used_xml


def _paper_units(pdfs: list[tuple[str, Path]], xmls: list[tuple[str, Path]], xml_for: dict[str, tuple[str, Path]],
                 used_xml: set[str], units: list[PaperInput]) -> None:
    """A unit per paper (a PDF with its XML, or an unpaired XML), keyed by the content's hash; a file with
    the content of one taken before is a duplicate reject."""
    by_sha: dict[str, str] = {}

    def first_of(g: str, sha: str, kind: str) -> bool:
        if sha in by_sha:
            units.append(PaperInput(key=_path_key("dup", g), source=g, **{kind: g}, sha256=sha, reject={
                "reason": "duplicate",
                "detail": f"same content as {by_sha[sha]} (paper {paper_id_from_hash(sha)}); parsed once"}))
            return False
        by_sha[sha] = g
        return True

    for g, p in pdfs:
        sha = _file_sha(p)
        if first_of(g, sha, "pdf"):
            x = xml_for.get(g)
            units.append(PaperInput(key=paper_id_from_hash(sha), source=g, pdf=str(p), xml=str(x[1]) if x else None,
                                    sha256=sha))
    for g, p in xmls:
        if g in used_xml:
            continue
        sha = _file_sha(p)
        if first_of(g, sha, "xml"):
            units.append(PaperInput(key=paper_id_from_hash(sha), source=g, xml=str(p), sha256=sha))


# ================================================================ one paper

def _tools(extra: dict[str, str] | None = None) -> dict[str, str]:
    tools = {}
    for name in ("pymupdf", "medvl"):
        v = package_version(name)
        if v:
            tools[name] = v
    if extra:
        tools.update(extra)
    return tools


@contextmanager
def _time_limit(seconds: float | None, source: str) -> Iterator[None]:
    """Raise InputError('timeout') after `seconds` (main thread only; elsewhere no-op)."""
    if not seconds or threading.current_thread() is not threading.main_thread() or not hasattr(signal, "SIGALRM"):
        yield
        return

    def on_alarm(signum: int, frame: Any) -> None:
        raise InputError(source, "timeout", f"parsing took longer than the time limit of {seconds:g} s")

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, float(seconds))
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def open_pdf(data: bytes, source: str) -> Any:
    """Open PDF bytes with PyMuPDF or raise InputError (corrupt, encrypted, no_pages)."""
    import pymupdf

    if not data:
        raise InputError(source, "empty", "the file is empty (0 bytes)")
    if b"%PDF-" not in data[:1024]:
        raise InputError(source, "not_pdf", "not a PDF (no %PDF- header)")
    try:
        doc = pymupdf.open(stream=data, filetype="pdf")
    except Exception as exc:  # noqa: BLE001 - MuPDF raises several types
        raise InputError(source, "corrupt", f"the PDF cannot be opened ({exc})") from exc
    if doc.needs_pass:
        if not doc.authenticate(""):
            doc.close()
            raise InputError(source, "encrypted", "the PDF is encrypted with a password; cannot read it")
    if doc.page_count == 0:
        doc.close()
        raise InputError(source, "no_pages", "the PDF has no pages (truncated or damaged)")
    return doc


def _reject(source: str, reason: str, detail: str = "", paper_id: str | None = None, rid: str | None = None) -> Reject:
    return Reject(stage=STAGE, source=source, id=rid, reason=reason, detail=detail or REJECT_REASONS.get(reason, ""),
                  paper_id=paper_id)


def _unprinted_supplements(regions: list[Any], figures: list[Figure], source: str, pid: str) -> list[Reject]:
    """A reject for each figure supplement that a caption lists by title (eLife) and that is no figure of
    this parse (neither printed in the PDF nor taken from the XML): listed, so never silently lost."""
    from medvl.pdf.captions import label_key

    made = {label_key(f.label) for f in figures if f.label}
    out = []
    for r in regions:
        for n, title in r.caption.supplements if not r.supplementary else ():
            if f"{r.caption.key}-FS{n}" not in made:
                out.append(_reject(source, "supplement_not_printed",
                                   f"page {r.caption.page + 1}: {r.caption.match.label}\u2014figure supplement {n} "
                                   f"({title[:100]!r}) is listed by title only; its image is not in this PDF",
                                   paper_id=pid))
    return out


def _png_bytes(rgb: Any) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    # fast zlib level: encoding dominated the run time at level 6 for ~10% smaller files
    Image.fromarray(rgb).save(buf, format="PNG", optimize=False, compress_level=1)
    return buf.getvalue()


def _write_image(path: Path, data: bytes) -> None:
    """Atomic (temp file + rename) but without fsync: images are many and rewritten on a redo.

    A killed process never leaves a half image under its final name; the unit's done marker
    (written with fsync by RunDir.write_unit after the images) is what a rerun trusts.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)


def _remove_image_temps(rd: RunDir | None, pid: str) -> None:
    """A paper parsed again (its unit was not done: e.g. killed while writing images) starts without the
    temp files a killed writer left in its image and overlay folders (one paper has one writer)."""
    if rd is not None:
        from medvl.runs import remove_temp_files

        for folder in ("images", "overlays"):
            remove_temp_files(rd.path / folder / pid)


def _pix_to_array(pix: Any) -> Any:
    import numpy as np

    arr = np.frombuffer(pix.samples, dtype=np.uint8).reshape(pix.height, pix.width, pix.n)
    return arr[:, :, :3].copy() if pix.n >= 3 else np.repeat(arr, 3, axis=2)


def parse_paper(pdf_path: str | Path | None, xml_path: str | Path | None = None,
                settings: ParseSettings | None = None, *, run_dir: RunDir | str | Path | None = None,
                source: str | None = None) -> tuple[list[Figure], list[Reject]]:
    """Parse one paper (a PDF, a JATS XML, or both) into Figure rows and Reject rows.

    Images are written under ``run_dir`` (images/<paper_id>/...) when it is given and
    ``settings.render`` is on; without a run directory figures carry boxes but no image paths.
    Bad input never raises: it comes back as reject rows.
    """
    settings = settings or ParseSettings()
    rd = RunDir(run_dir) if run_dir is not None and not isinstance(run_dir, RunDir) else run_dir
    source = source or str(pdf_path or xml_path)
    try:
        with _time_limit(settings.timeout_s, source):
            if pdf_path is None:
                if xml_path is None:
                    raise ValueError("parse_paper needs a PDF or an XML path")
                return _parse_xml_only(Path(xml_path), settings, rd, source)
            return _parse_pdf(Path(pdf_path), Path(xml_path) if xml_path else None, settings, rd, source)
    except InputError as exc:
        return [], [_reject(source, exc.reason, exc.detail)]


def _read(path: Path, source: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InputError(source, "unreadable", f"cannot read the file ({exc.strerror})") from exc


def _load_xml(xml_path: Path | None, source_pdf: str, rejects: list[Reject], paper_id: str) -> Any:
    if xml_path is None:
        return None
    from medvl.jats import parse_jats

    try:
        return parse_jats(xml_path)
    except InputError as exc:
        rejects.append(_reject(str(xml_path), exc.reason,
                               f"{exc.detail}; the PDF {source_pdf} is parsed without it", paper_id=paper_id))
        return None


def _parse_pdf(pdf: Path, xml: Path | None, settings: ParseSettings, rd: RunDir | None, source: str
               ) -> tuple[list[Figure], list[Reject]]:
    """One PDF (with its JATS XML, if any): its figures and rejects (medvl.parse's module docstring)."""
    data = _read(pdf, source)
    sha = sha256_bytes(data)
    pid = paper_id_from_hash(sha)
    _remove_image_temps(rd, pid)
    doc = open_pdf(data, source)
    try:
        return _PdfPaper(doc, settings, rd, source, pid, sha).parse(pdf, xml)
    finally:
        doc.close()


class _PdfPaper:
    """The parse of one open PDF in named steps.  Every step adds to the same `figures` and `rejects`
    (and to the tools and overlay boxes of the paper), so the rows keep the order the steps give them."""

    def __init__(self, doc: Any, settings: ParseSettings, rd: RunDir | None, source: str, pid: str, sha: str):
        self.doc, self.settings, self.rd, self.source, self.pid, self.sha = doc, settings, rd, source, pid, sha
        self.rejects: list[Reject] = []
        self.figures: list[Figure] = []
        self.extra_tools: dict[str, str] = {}
        self.overlay_items: dict[int, list[tuple[str, tuple, str]]] = {}
        self.deadline = time.monotonic() + settings.timeout_s if settings.timeout_s else None
        self.license: str | None = None
        self.pages: list[Any] = []  # analyse_document's, for the letters of a page's text
        self.body_size: float = 0.0  # the body text's font size
        self.pdf_references: dict[str, list[str]] = {}  # figure label key -> body sentences citing it

    def parse(self, pdf: Path, xml: Path | None) -> tuple[list[Figure], list[Reject]]:
        """Find the figure regions, make a figure of each, then the XML-only figures and the paper's rejects."""
        settings = self.settings
        self.pages, regions, dropped = self._analyse()
        # the body text's sentences citing each figure, for a figure that the XML does not describe
        from medvl.pdf.references import body_paragraphs, figure_references

        self.pdf_references = figure_references(
            body_paragraphs(self.pages, regions, [r.caption for r in regions] + list(dropped), self.body_size))
        article = _load_xml(xml, self.source, self.rejects, self.pid) if settings.xml_repair else None
        self.license = _paper_license(pdf, xml, article)
        xml_figs = _xml_figures_by_label(article)
        if settings.detector == "rapid":
            from medvl.pdf.layout import apply_detector

            apply_detector(self.doc, self.pages, regions)
        self._region_figures(regions, xml_figs)
        for c in dropped:
            self.rejects.append(_reject(self.source, "duplicate_caption",
                                        f"page {c.page + 1}: a second caption labelled {c.match.label!r} was not "
                                        f"used (kept the better-placed one): {c.text[:120]}", paper_id=self.pid))
        if article is not None and settings.xml_only_figures:
            for xf in list(xml_figs.values()):
                self.figures.append(_xml_figure(xf, article, self.pid, self.sha, self.source, len(self.figures),
                                                settings, self.rd, xml_path=xml, note="not found in the PDF"))
        self.rejects += _unprinted_supplements(regions, self.figures, self.source, self.pid)
        if settings.overlays and self.rd is not None and self.overlay_items:
            from medvl.pdf.overlays import write_overlays

            write_overlays(self.doc, self.overlay_items, self.rd, self.pid)
        return self._finish(article)

    def _analyse(self) -> tuple[list[Any], list[Any], list[Any]]:
        """(pages, figure regions, dropped duplicate captions); a time-out or unreadable content is an InputError."""
        from medvl.pdf.figures import analyse_document

        try:
            pages, regions, dropped, self.body_size = analyse_document(self.doc, deadline=self.deadline)
        except TimeoutError as exc:
            raise InputError(self.source, "timeout", str(exc)) from exc
        except InputError:
            raise
        except Exception as exc:  # noqa: BLE001 - damaged content streams
            raise InputError(self.source, "corrupt",
                             f"the PDF content cannot be read ({type(exc).__name__}: {exc})") from exc
        return pages, regions, dropped

    def _region_figures(self, regions: list[Any], xml_figs: dict[str, Any]) -> None:
        """A figure for every region that is one, in a stable order with a per-page index."""
        regions.sort(key=lambda r: (r.page, (r.bbox or r.caption.bbox)[1], (r.bbox or r.caption.bbox)[0]))
        per_page: dict[int, int] = {}
        for r in regions:
            if self.deadline is not None and time.monotonic() > self.deadline:
                raise InputError(self.source, "timeout",
                                 f"parsing took longer than the time limit of {self.settings.timeout_s:g} s")
            why = self._not_a_figure(r)
            if why is not None:
                self.rejects.append(why)
                continue
            page_no = r.page + 1
            idx = per_page.get(page_no, 0)
            per_page[page_no] = idx + 1
            xf = xml_figs.pop(r.caption.key, None) if xml_figs else None
            self.figures.append(self._figure(r, figure_id(self.pid, page_no, idx), xf))

    def _not_a_figure(self, r: Any) -> Reject | None:
        """The reject of a region that is no figure printed in this PDF, else None."""
        from medvl.pdf.captions import caption_body, reference_only

        if r.supplementary:
            # "Additional file 1: Figure S1 ..." in a list of supplementary files: no figure here
            return _reject(self.source, "supplementary_file",
                           f"page {r.caption.page + 1}: {r.caption.match.label!r} describes a "
                           "supplementary file, not a figure printed in this PDF", paper_id=self.pid)
        if r.bbox is None and reference_only(caption_body(r.caption.text)):
            # a label with no caption text and no graphics ("Fig. 4A." opening a line of body text)
            return _reject(self.source, "not_a_caption",
                           f"page {r.caption.page + 1}: {r.caption.text[:80]!r} has no caption text and "
                           "no figure graphics; read as an in-text reference", paper_id=self.pid)
        return None

    def _figure(self, r: Any, fid: str, xf: Any) -> Figure:
        """One region's figure: its caption (checked against the XML's), rendered image and panels."""
        settings, cap = self.settings, r.caption
        caption, cap_source, cap_sim = _caption_with_xml(cap, xf, settings.repair_threshold)
        page_no = r.page + 1
        fig_kw: dict[str, Any] = dict(
            paper_id=self.pid, figure_id=fid, source=self.source, page=page_no if r.bbox else cap.page + 1,
            index=len(self.figures), label=cap.match.label, number=cap.match.number, caption=caption,
            caption_source=cap_source, caption_similarity=cap_sim,
            bbox=[round(v, 2) for v in r.bbox] if r.bbox else None,
            caption_bbox=[round(v, 2) for v in cap.bbox], caption_page=cap.page + 1,
            kind=r.kind, dpi=settings.dpi, license=self.license,
            note="continued" if cap.match.continued else None,
            references=list(xf.references) if xf is not None else list(self.pdf_references.get(cap.key, [])),
        )
        panels = self._render(r, caption, fid, fig_kw) if r.bbox is not None else []
        if settings.overlays:
            self.overlay_items.setdefault(cap.page, []).append(("caption", tuple(cap.bbox), cap.match.label))
        fig_kw["panels"] = panels
        fig_kw["provenance"] = Provenance(stage=STAGE, stage_version=STAGE_VERSION, input_sha256=self.sha,
                                          tools=_tools(self.extra_tools))
        return Figure(**fig_kw)

    def _render(self, r: Any, caption: str, fid: str, fig_kw: dict[str, Any]) -> list[Panel]:
        """Render the region, find its panels and letters and write the figure and panel images; sets the
        size, image, panel_hint and panel_check of `fig_kw`."""
        from medvl.pdf.figures import render_region

        settings = self.settings
        page = self.doc[r.page]
        pix, clip, zoom = render_region(page, r.bbox, settings.dpi, settings.max_side, keep_out=r.keep_out)
        rgb = _pix_to_array(pix)
        fig_kw.update(width=pix.width, height=pix.height)
        pboxes = self._panel_boxes(page, r, rgb, clip, zoom, (pix.width, pix.height), caption, fig_kw)
        rel = f"images/{self.pid}/{fid}.png"
        if self.rd is not None and settings.render:
            _write_image(self.rd.inside(rel), _png_bytes(rgb))
            fig_kw["image"] = rel
        panels = [self._panel(panel_id(fid, k), pb, rgb) for k, pb in enumerate(pboxes)]
        if settings.overlays:
            items = self.overlay_items.setdefault(r.page, [])
            items.append(("figure", tuple(r.bbox), r.caption.match.label))
            for pb, pn in zip(pboxes, panels):
                bx = pb.bbox
                items.append(("panel", (clip[0] + bx[0] / zoom, clip[1] + bx[1] / zoom,
                                        clip[0] + bx[2] / zoom, clip[1] + bx[3] / zoom), pn.label or "?"))
        return panels

    def _panel_boxes(self, page: Any, r: Any, rgb: Any, clip: Any, zoom: float, size: tuple[int, int],
                     caption: str, fig_kw: dict[str, Any]) -> list[Any]:
        """The panel boxes and letters of a rendered region (embedded images, PDF text letters, OCR);
        records the tools used and sets the panel_hint and panel_check of `fig_kw`."""
        from medvl.pdf.panels import panels_from_images, to_pixels

        img_rects = panels_from_images([g.bbox for g in r.graphics if g.kind == "image"], r.bbox,
                                       separated=FP.pixel_separation(rgb, clip, zoom, size))
        img_px = [to_pixels(x, (clip[0], clip[1]), zoom, size) for x in img_rects] if img_rects else None
        letters = FP.text_letter_hits(page, r.bbox, clip, zoom, size, respace=self.pages[r.page].respaced)
        hint: dict[str, str] = {}
        pboxes, t = FP.panels_and_letters(rgb, img_px, letters, self.settings.ocr,
                                          has_raster=any(g.kind == "image" for g in r.graphics),
                                          expected=FP.caption_letters(caption), hint=hint)
        self.extra_tools.update(t)
        if hint.get("panel_hint"):
            fig_kw["panel_hint"] = hint["panel_hint"]
        fig_kw["panel_check"] = FP.panel_check(pboxes, FP.caption_letters(caption))
        return pboxes

    def _panel(self, pnid: str, pb: Any, rgb: Any) -> Panel:
        """One panel, its image cut from the rendered figure when rendering (and the box is not empty)."""
        prel = None
        x0, y0, x1, y1 = pb.bbox
        if self.rd is not None and self.settings.render and x1 > x0 and y1 > y0:
            prel = f"images/{self.pid}/{pnid}.png"
            _write_image(self.rd.inside(prel), _png_bytes(rgb[y0:y1, x0:x1]))
        return Panel(panel_id=pnid, bbox=[x0, y0, x1, y1], label=pb.label, label_source=pb.label_source, image=prel)

    def _finish(self, article: Any) -> tuple[list[Figure], list[Reject]]:
        """One tool set in every figure's provenance (deterministic across figures); no_figures when none."""
        tools = _tools(self.extra_tools)
        figures = [f.model_copy(update={"provenance": f.provenance.model_copy(update={"tools": tools})})
                   for f in self.figures]
        if not figures:
            self.rejects.append(_reject(self.source, "no_figures",
                                        f"no figure captions found in {self.doc.page_count} page(s)"
                                        + (" (the XML lists none either)" if article is not None else ""),
                                        paper_id=self.pid))
        return figures, self.rejects


def _xml_figures_by_label(article: Any) -> dict[str, Any]:
    """The XML's labelled figures by label key (the first of a label), for matching PDF captions."""
    from medvl.pdf.captions import label_key

    xml_figs: dict[str, Any] = {}
    if article is not None:
        for xf in article.figures:
            if xf.label:
                xml_figs.setdefault(label_key(xf.label), xf)
    return xml_figs


def _caption_with_xml(cap: Any, xf: Any, repair_threshold: float) -> tuple[str, str, float | None]:
    """(caption, caption_source, caption_similarity) of a PDF caption: confirmed by its XML figure's caption
    ("pdf+xml"), or replaced by it under the PDF's label when they differ too much ("xml_repaired")."""
    from medvl.pdf.captions import caption_body, match_label, similarity

    if xf is None:
        return cap.text, "pdf", None
    cap_sim = similarity(caption_body(cap.text), xf.caption)
    if cap_sim >= repair_threshold:
        return cap.text, "pdf+xml", cap_sim
    m = match_label(cap.text)
    sep = ""
    if m is not None:
        sm = re.match(r"^\s*(?:[:.|]|[-\u2013\u2014])?\s*", m.rest)
        sep = sm.group(0).strip() if sm else ""
    return f"{m.label if m else cap.match.label}{sep} {xf.caption}".strip(), "xml_repaired", cap_sim


def _xml_figure(xf: Any, article: Any, pid: str, sha: str, source: str, index: int, settings: ParseSettings,
                rd: RunDir | None, xml_path: Path | None, note: str = "") -> Figure:
    from medvl.jats import find_graphic_file

    fid = figure_id(pid, None, index)
    kw: dict[str, Any] = dict(paper_id=pid, figure_id=fid, source=source, page=None, index=index,
                              label=xf.label, number=_number_of(xf.label), caption=xf.printed_caption(),
                              caption_source="xml", license=_paper_license(None, xml_path, article), kind=None,
                              references=list(xf.references))
    panels: list[Panel] = []
    tools: dict[str, str] = {}
    if xml_path is not None and settings.render:
        img_file = next((f for f in (find_graphic_file(xml_path, h) for h in xf.graphics) if f), None)
        if img_file is not None:
            rgb = _load_image(img_file, settings.max_side)
            if rgb is not None:
                kw.update(width=int(rgb.shape[1]), height=int(rgb.shape[0]), kind="raster")
                hint: dict[str, str] = {}
                pboxes, tools = FP.panels_and_letters(rgb, None, [], settings.ocr, has_raster=True,
                                                      expected=FP.caption_letters(kw["caption"]), hint=hint)
                if hint.get("panel_hint"):
                    kw["panel_hint"] = hint["panel_hint"]
                if rd is not None:
                    rel = f"images/{pid}/{fid}.png"
                    _write_image(rd.inside(rel), _png_bytes(rgb))
                    kw["image"] = rel
                for k, pb in enumerate(pboxes):
                    pnid = panel_id(fid, k)
                    x0, y0, x1, y1 = pb.bbox
                    prel = None
                    if rd is not None and x1 > x0 and y1 > y0:
                        prel = f"images/{pid}/{pnid}.png"
                        _write_image(rd.inside(prel), _png_bytes(rgb[y0:y1, x0:x1]))
                    panels.append(Panel(panel_id=pnid, bbox=[x0, y0, x1, y1], label=pb.label,
                                        label_source=pb.label_source, image=prel))
    kw["panels"] = panels
    kw["provenance"] = Provenance(stage=STAGE, stage_version=STAGE_VERSION, input_sha256=sha, tools=_tools(tools))
    return Figure(**kw)


def _paper_license(pdf: Path | None, xml: Path | None, article: Any) -> str | None:
    """The paper's licence id: `medvl collect` metadata beside the file, else the JATS licence
    normalised to an SPDX-style id (CC-BY-4.0); the raw JATS text when it names no known licence."""
    from medvl.collect.licenses import normalize
    from medvl.collect.manifest import license_for

    for f in (pdf, xml):
        if f is not None:
            lic = license_for(f)
            if lic:
                return lic
    raw = getattr(article, "license", None) if article is not None else None
    if not raw:
        return None
    norm = normalize(raw)
    if norm is not None and norm.family not in ("unknown", "other"):
        return norm.spdx
    return " ".join(str(raw).split())[:300]


def _number_of(label: str | None) -> str | None:
    if not label:
        return None
    from medvl.pdf.captions import match_label

    m = match_label(label)
    return m.number if m else None


def _load_image(path: Path, max_side: int) -> Any:
    """An image file as an RGB array, downscaled to max_side; None when it cannot be decoded."""
    import numpy as np
    from PIL import Image

    try:
        with Image.open(path) as im:
            if im.width * im.height > 200_000_000:
                return None
            im.draft("RGB", (max_side, max_side))
            im = im.convert("RGB")
            if max(im.size) > max_side:
                s = max_side / max(im.size)
                im = im.resize((max(1, int(im.width * s)), max(1, int(im.height * s))))
            return np.asarray(im).copy()
    except Exception:  # noqa: BLE001 - PIL raises many types for bad images
        return None


def _parse_xml_only(xml: Path, settings: ParseSettings, rd: RunDir | None, source: str
                    ) -> tuple[list[Figure], list[Reject]]:
    from medvl.jats import parse_jats_bytes

    data = _read(xml, source)
    sha = sha256_bytes(data)
    pid = paper_id_from_hash(sha)
    _remove_image_temps(rd, pid)
    article = parse_jats_bytes(data, source)
    figures = [_xml_figure(xf, article, pid, sha, source, i, settings, rd, xml_path=xml)
               for i, xf in enumerate(article.figures)]
    rejects = []
    if not figures:
        rejects.append(_reject(source, "no_figures", "the XML has no <fig> elements", paper_id=pid))
    return figures, rejects


# ================================================================ many papers

def parse_inputs(inputs: list[str | Path], run_dir: str | Path | RunDir, settings: ParseSettings | None = None,
                 progress: ProgressFn = no_progress, workers: int = 1, force: bool = False) -> ParseSummary:
    """Parse files and folders into RUN_DIR/figures.jsonl (+ rejects.jsonl, images/, overlays/).

    This is the parse stage of the pipeline engine (medvl/pipeline.py) run alone, as `medvl run` runs
    it: the same units, fingerprints (stage version, settings, input hashes), done markers, rejects and
    status whichever command made them, so a changed setting (``--dpi``) redoes the papers it changes
    and a rerun with the same settings skips them.  ``workers`` > 1 runs papers in a process pool
    (per-paper time limit enforced by killing the worker, crashes isolated); 1 runs in this process.
    The output is the same for any number of workers.  ``force`` redoes every paper.
    """
    from contextlib import nullcontext

    from medvl.config import ExecutorSettings, InputSettings, RunConfig
    from medvl.pipeline import Pipeline

    settings = settings or ParseSettings()
    settings.validate()
    rd = run_dir if isinstance(run_dir, RunDir) else RunDir(run_dir)
    t0, wall0 = time.monotonic(), time.time()
    executor = ExecutorSettings(kind="inline" if workers <= 1 else "local", workers=workers,
                                memory_mb=settings.memory_mb if workers > 1 else None)
    config = RunConfig(inputs=InputSettings(paths=[str(i) for i in inputs]), executor=executor,
                       stages={STAGE: settings.to_dict()})
    config._source = "medvl parse"

    def bars(description: str, total: int | None):
        progress(0, total=total, note="")
        return nullcontext(progress)

    res = Pipeline(config, rd.path, bars=bars, force=[STAGE] if force else ()).run_all().stage(STAGE)
    if res is None or res.state != "done":
        raise MedvlError(f"parse: {res.message if res else 'did not run'}")
    summary = ParseSummary(run_dir=str(rd.path), papers=res.planned, parsed=res.ran, skipped=res.reused,
                           figures=res.records, total_rejects=res.rejects, redone=dict(res.redone))
    summary.hidden = sum(1 for r in rd.iter_unit_rejects(STAGE) if r.get("reason") == "hidden")
    summary.panels = sum(len(r.get("panels") or []) for r in read_jsonl(rd.file("figures.jsonl")))
    # the rejects of the units this call wrote (their done markers are newer than its start)
    parts = rd.parts_dir(STAGE)
    for marker in sorted(parts.glob("*.done")):
        if marker.stat().st_mtime >= wall0 - 0.05:  # (file times can lag the clock by a tick)
            rej = parts / (marker.name[: -len(".done")] + ".rejects.jsonl")
            if rej.exists():
                summary.rejects.extend(read_jsonl(rej))
    summary.seconds = time.monotonic() - t0
    return summary


def figures_of(run_dir: str | Path) -> list[Figure]:
    """Read RUN_DIR/figures.jsonl back as Figure records."""
    rd = RunDir(run_dir)
    return [Figure.model_validate(r) for r in read_jsonl(rd.file("figures.jsonl"))]


__all__ = ["ParseSettings", "ParseSummary", "PaperInput", "discover", "parse_paper", "parse_inputs", "figures_of",
           "open_pdf", "STAGE", "STAGE_VERSION"]
