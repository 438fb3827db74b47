"""Where article files come from: PMC's cloud bucket first, Europe PMC as the fallback.

PMC cloud (``pmc-oa-opendata``, public, HTTPS, no account; see
https://pmc.ncbi.nlm.nih.gov/tools/pmcaws/).  One folder per article *version*::

    PMC<id>.<v>/PMC<id>.<v>.xml        JATS XML
    PMC<id>.<v>/PMC<id>.<v>.pdf        PDF, when the publisher's license lets PMC distribute one
    PMC<id>.<v>/PMC<id>.<v>.txt        plain text
    metadata/PMC<id>.<v>.json          the version's metadata: pmcid, version, doi, pmid, title,
                                       license_code ("CC BY", "CC BY-NC", "CC0", ...),
                                       is_pmc_openaccess, is_retracted, is_manuscript,
                                       xml_url / pdf_url / text_url ("s3://pmc-oa-opendata/<key>?md5=<hex>")

The latest version is the numerically highest ``<v>`` among the keys an S3 listing
(``GET /?list-type=2&prefix=metadata/PMC<id>.``) returns (``.10`` is newer than ``.2``).
Older mirrors keep the metadata JSON inside the version folder (``PMC<id>.<v>/PMC<id>.<v>.json``);
it is tried when ``metadata/`` has none.

Europe PMC: ``{rest}/PMC<id>/fullTextXML`` gives the JATS XML of open-access articles, and
``{render}?accid=PMC<id>&blobtype=pdf`` renders a PDF (it may answer an HTML page instead,
which the PDF check catches).

Every base URL is a setting (MEDVL_PMC_URL, MEDVL_EUROPEPMC_URL, MEDVL_EUROPEPMC_PDF_URL).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, quote, urlparse
from xml.etree import ElementTree as ET

import httpx

from medvl.collect.http import ContentError, FetchError, Http
from medvl.collect.ratelimit import TokenBucket

DEFAULT_PMC_URL = "https://pmc-oa-opendata.s3.amazonaws.com"
DEFAULT_EUROPEPMC_URL = "https://www.ebi.ac.uk/europepmc/webservices/rest"
DEFAULT_EUROPEPMC_PDF_URL = "https://europepmc.org/backend/ptpmcrender.fcgi"

_S3_NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"


# ---------------------------------------------------------------- content checks

def check_pdf(path: Path, head: bytes, tail: bytes, headers: httpx.Headers | dict | None = None) -> int:
    """Refuse anything that is not a complete PDF; return its page count.

    Catches an HTML error page served with 200 (``not_pdf``), a body cut short
    (``truncated_pdf``: no ``%%EOF`` near the end) and a PDF MuPDF cannot open
    (``corrupt_pdf``).  Content-Length is checked by the downloader.
    """
    start = head.lstrip()[:1024]
    if b"%PDF-" not in start:
        low = head[:512].lower()
        kind = "an HTML page" if (b"<html" in low or b"<!doctype" in low) else (
            "XML" if low.lstrip().startswith(b"<?xml") else "something else")
        ctype = (headers or {}).get("content-type", "") if headers is not None else ""
        raise ContentError("not_pdf", f"expected a PDF but got {kind}"
                           + (f" (Content-Type {ctype})" if ctype else "")
                           + f"; it starts with {head[:60]!r}")
    if b"%%EOF" not in tail[-1024:]:
        raise ContentError("truncated_pdf", "the PDF has no %%EOF trailer: the body was cut short")
    try:
        import pymupdf

        with pymupdf.open(str(path), filetype="pdf") as doc:
            pages = doc.page_count
    except Exception as exc:  # MuPDF raises its own error types
        raise ContentError("corrupt_pdf", f"MuPDF cannot open the PDF: {exc}") from exc
    if pages < 1:
        raise ContentError("corrupt_pdf", "the PDF has no pages")
    return pages


@dataclass
class JatsInfo:
    article_type: str | None = None
    pmcid: str | None = None
    pmid: str | None = None
    doi: str | None = None
    title: str | None = None
    journal: str | None = None
    year: int | None = None
    license_text: str | None = None  # what license_from_jats read, as raw text
    license: object | None = None  # medvl.collect.licenses.License


def check_jats(body: bytes) -> JatsInfo:
    """Parse JATS XML (or refuse it: ``malformed_xml``, ``not_jats``) and read its front matter."""
    from medvl.collect.licenses import license_from_jats

    stripped = body.lstrip()[:512].lower()
    if stripped.startswith(b"<!doctype html") or stripped.startswith(b"<html"):
        raise ContentError("not_jats", f"expected JATS XML but got an HTML page; it starts with {body[:60]!r}")
    try:
        root = ET.fromstring(body)
    except ET.ParseError as exc:
        raise ContentError("malformed_xml", f"the XML does not parse: {exc}") from exc
    tag = _local(root.tag)
    if tag == "pmc-articleset":  # efetch wraps articles in a set
        inner = next((el for el in root if _local(el.tag) == "article"), None)
        if inner is None:
            raise ContentError("not_jats", "an empty <pmc-articleset>")
        root = inner
        tag = "article"
    if tag != "article":
        raise ContentError("not_jats", f"expected a JATS <article> but the root element is <{tag}>")
    info = JatsInfo(article_type=root.attrib.get("article-type"))
    meta = _find(root, "front", "article-meta")
    if meta is not None:
        for el in meta:
            if _local(el.tag) == "article-id":
                kind = el.attrib.get("pub-id-type", "")
                val = (el.text or "").strip()
                if kind in ("pmc", "pmcid") and val:
                    info.pmcid = val if val.upper().startswith("PMC") else f"PMC{val}"
                elif kind == "pmid" and val:
                    info.pmid = val
                elif kind == "doi" and val:
                    info.doi = val
        title = _find(meta, "title-group", "article-title")
        if title is not None:
            info.title = " ".join("".join(title.itertext()).split()) or None
        for el in meta:
            if _local(el.tag) == "pub-date":
                y = next((c.text for c in el if _local(c.tag) == "year" and c.text), None)
                if y and y.strip().isdigit():
                    info.year = int(y.strip())
                    break
    jt = _find(root, "front", "journal-meta", "journal-title-group", "journal-title")
    if jt is None:
        jt = _find(root, "front", "journal-meta", "journal-title")
    if jt is not None:
        info.journal = " ".join("".join(jt.itertext()).split()) or None
    lic = license_from_jats(root)
    if lic is not None:
        info.license = lic
        info.license_text = lic.raw
    return info


def _local(tag) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _find(el, *path: str):
    for name in path:
        el = next((c for c in el if _local(c.tag) == name), None)
        if el is None:
            return None
    return el


# ---------------------------------------------------------------- PMC cloud bucket

@dataclass
class CloudRecord:
    """A version's metadata JSON from the bucket."""

    pmcid: str
    version: int
    metadata_url: str
    raw: dict = field(default_factory=dict)

    @property
    def license_code(self) -> str | None:
        v = self.raw.get("license_code") or self.raw.get("license")
        return str(v) if v else None

    @property
    def is_retracted(self) -> bool:
        return self.raw.get("is_retracted") is True

    @property
    def is_open_access(self) -> bool | None:
        v = self.raw.get("is_pmc_openaccess")
        return v if isinstance(v, bool) else None

    def url_for(self, kind: str) -> str | None:
        v = self.raw.get(f"{kind}_url")
        return v if isinstance(v, str) and v.strip() else None

    def md5_for(self, kind: str) -> str | None:
        url = self.url_for(kind)
        if not url:
            return None
        md5 = parse_qs(urlparse(url).query).get("md5", [None])[0]
        return md5.lower() if md5 else None


class PmcCloud:
    name = "pmc-cloud"

    def __init__(self, http: Http, limiter: TokenBucket, base_url: str = DEFAULT_PMC_URL):
        self.http = http
        self.limiter = limiter
        self.base_url = base_url.rstrip("/")

    def object_url(self, key: str) -> str:
        return f"{self.base_url}/{quote(key.lstrip('/'), safe='/')}"

    def https_url(self, s3_or_key: str) -> str:
        """``s3://pmc-oa-opendata/PMC1.1/PMC1.1.pdf?md5=..`` -> ``{base}/PMC1.1/PMC1.1.pdf``."""
        u = urlparse(s3_or_key)
        if u.scheme == "s3":
            key = u.path.lstrip("/")
        elif u.scheme in ("http", "https"):
            return s3_or_key.split("?", 1)[0]
        else:
            key = s3_or_key.split("?", 1)[0]
        return self.object_url(key)

    def versions(self, pmcid: str) -> list[int]:
        """Versions of `pmcid` in the bucket, ascending (empty when the bucket has none)."""
        url = f"{self.base_url}/"
        try:
            body, _ = self.http.get_bytes(url, params={"list-type": "2", "prefix": f"metadata/{pmcid}."},
                                          limiter=self.limiter)
        except FetchError as exc:
            if exc.status == 404:
                return []
            raise
        try:
            root = ET.fromstring(body)
        except ET.ParseError as exc:
            raise ContentError("malformed_listing", f"the bucket listing is not XML: {exc}", url) from exc
        if _local(root.tag) != "ListBucketResult":
            raise ContentError("malformed_listing",
                               f"expected an S3 <ListBucketResult>, got <{_local(root.tag)}>", url)
        key_re = re.compile(rf"^metadata/{re.escape(pmcid)}\.(\d+)\.json$")
        out = set()
        for el in root.iter():
            if _local(el.tag) == "Key" and el.text:
                m = key_re.match(el.text.strip())
                if m:
                    out.add(int(m.group(1)))
        return sorted(out)

    def record(self, pmcid: str) -> CloudRecord | None:
        """Metadata of the latest version, or None when the bucket does not hold the article."""
        versions = self.versions(pmcid)
        if not versions:
            return None
        v = versions[-1]
        stem = f"{pmcid}.{v}"
        last_exc: FetchError | None = None
        for key in (f"metadata/{stem}.json", f"{stem}/{stem}.json"):
            url = self.object_url(key)
            try:
                body, _ = self.http.get_bytes(url, limiter=self.limiter)
            except FetchError as exc:
                if exc.status == 404:
                    last_exc = exc
                    continue
                raise
            try:
                raw = json.loads(body)
            except ValueError as exc:
                raise ContentError("malformed_metadata", f"the metadata is not JSON: {exc}", url) from exc
            if not isinstance(raw, dict):
                raise ContentError("malformed_metadata", "the metadata is not a JSON object", url)
            return CloudRecord(pmcid=pmcid, version=v, metadata_url=url, raw=raw)
        assert last_exc is not None
        raise FetchError("metadata_missing", f"the listing names version {v} but its metadata JSON "
                         f"is not there ({last_exc.detail})", last_exc.url, 404)


# ---------------------------------------------------------------- Europe PMC

class EuropePmc:
    name = "europepmc"

    def __init__(self, http: Http, limiter: TokenBucket, rest_url: str = DEFAULT_EUROPEPMC_URL,
                 pdf_url: str = DEFAULT_EUROPEPMC_PDF_URL):
        self.http = http
        self.limiter = limiter
        self.rest_url = rest_url.rstrip("/")
        self.pdf_base = pdf_url

    def xml_url(self, pmcid: str) -> str:
        return f"{self.rest_url}/{pmcid}/fullTextXML"

    def pdf_url(self, pmcid: str) -> str:
        return f"{self.pdf_base}?accid={pmcid}&blobtype=pdf"
