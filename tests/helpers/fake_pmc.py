"""A real HTTP server on 127.0.0.1 that plays NCBI E-utilities, PMC's cloud bucket and Europe PMC.

Started by the collect tests (``with FakePMC(articles) as srv:``) on a free port.  It answers
what medvl collect asks, shaped as the real services answer:

* ``/eutils/esearch.fcgi`` and ``/eutils/esummary.fcgi``: XML with NCBI's DOCTYPEs, history
  server (WebEnv + query_key, retstart/retmax), ``<ERROR>`` for an unknown WebEnv;
* ``/pmc/?list-type=2&prefix=metadata/PMC<id>.``: an S3 ListBucketResult;
  ``/pmc/metadata/PMC<id>.<v>.json``; ``/pmc/PMC<id>.<v>/PMC<id>.<v>.(pdf|xml)``;
* ``/epmc/rest/PMC<id>/fullTextXML`` and ``/epmc/render?accid=PMC<id>&blobtype=pdf``.

Article files are generated: tiny PDFs with PyMuPDF and JATS XML with a license element.
E-utilities replies it learned from NCBI's documentation (issue 13): an ``<ERROR>UID=N: cannot get
document summary</ERROR>`` in place of one record (``bad_ids``: withdrawn or invalid ids) among good
ones; an esearch ``ErrorList`` with ``FieldNotFound`` for a field tag PMC does not document (``[tiab]``,
``[pt]``; the translation then says ``[All Fields]``) and ``PhraseNotFound`` (``phrases_not_found``); a
``WarningList`` (``warnings``: term -> [(kind, text)]); a history server that forgets every WebEnv
after ``expire_history_after`` esummary pages (an expired WebEnv: ``Unable to obtain query #1``).
Faults are set per path (:meth:`FakePMC.fault`): 404, 500, 429 with or without Retry-After, an HTML page,
a truncated body (Content-Length larger than what is sent), a PDF without ``%%EOF``,
malformed XML, a slow reply; each for the first N requests or for all of them.
Every request is logged with its arrival time (``srv.log``) for rate and paging checks.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Iterable
from urllib.parse import parse_qs, urlparse
from xml.sax.saxutils import escape

# search field tags documented for db=pmc (PMC Help, "Search fields"); others become [All Fields]
PMC_FIELDS = {"ti", "title", "ab", "abstract", "all", "all fields", "au", "author", "aff", "affiliation", "body",
              "doi", "filter", "sb", "jour", "journal", "ta", "kwd", "keyword", "mh", "mesh terms", "majr", "pmcid",
              "pmid", "dp", "pdat", "publication date", "la", "language"}

LICENSE_URLS = {
    "CC BY": "https://creativecommons.org/licenses/by/4.0/",
    "CC0": "https://creativecommons.org/publicdomain/zero/1.0/",
    "CC BY-NC": "https://creativecommons.org/licenses/by-nc/4.0/",
    "CC BY-NC-ND": "https://creativecommons.org/licenses/by-nc-nd/4.0/",
    "CC BY-SA": "https://creativecommons.org/licenses/by-sa/4.0/",
}


def make_pdf(text: str, pages: int = 1) -> bytes:
    import pymupdf

    doc = pymupdf.open()
    for i in range(pages):
        page = doc.new_page(width=200, height=200)
        page.insert_text((20, 40), f"{text} p{i + 1}", fontsize=9)
    data = doc.tobytes()
    doc.close()
    return data


def make_jats(pmcid: str, *, pmid: str | None, doi: str, title: str, journal: str, year: int,
              license_href: str | None, license_text: str | None = None,
              article_type: str = "case-report") -> bytes:
    lic = ""
    if license_href or license_text:
        href = f' xlink:href="{escape(license_href)}"' if license_href else ""
        ref = f"<ali:license_ref>{escape(license_href)}</ali:license_ref>" if license_href else ""
        lic = (f'<permissions><license license-type="open-access"{href}>{ref}'
               f"<license-p>{escape(license_text or 'This is an open access article.')}</license-p>"
               "</license></permissions>")
    pmid_el = f'<article-id pub-id-type="pmid">{pmid}</article-id>' if pmid else ""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE article PUBLIC "-//NLM//DTD JATS (Z39.96) Journal Archiving and Interchange DTD v1.2 20190208//EN" "JATS-archivearticle1.dtd">
<article xmlns:xlink="http://www.w3.org/1999/xlink" xmlns:ali="http://www.niso.org/schemas/ali/1.0/" article-type="{article_type}">
<front><journal-meta><journal-title-group><journal-title>{escape(journal)}</journal-title></journal-title-group></journal-meta>
<article-meta>{pmid_el}<article-id pub-id-type="pmc">{pmcid}</article-id><article-id pub-id-type="doi">{escape(doi)}</article-id>
<title-group><article-title>{escape(title)}</article-title></title-group>
<pub-date pub-type="epub"><year>{year}</year></pub-date>{lic}</article-meta></front>
<body><fig id="f1"><label>Figure 1</label><caption><p>(A) Axial T2-weighted MRI. (B) Axial CT.</p></caption></fig></body>
</article>
""".encode("utf-8")


@dataclass
class FakeArticle:
    pmcid: str
    pmid: str | None = None
    doi: str = ""
    title: str = ""
    journal: str = "Radiology Case Reports"
    year: int = 2021
    license_code: str | None = "CC BY"  # what the bucket's metadata says (None: no field)
    jats_license: str | None = "same"  # "same": the URL of license_code; None: no <license>
    jats_license_text: str | None = None
    versions: int = 1
    in_bucket: bool = True
    bucket_pdf: bool = True  # metadata lists a pdf_url
    in_epmc: bool = True
    retracted: bool = False
    article_type: str = "case-report"
    pdf: bytes = b""
    xml: bytes = b""
    old_pdf: bytes = b""

    def __post_init__(self):
        n = self.pmcid.removeprefix("PMC")
        self.pmid = self.pmid if self.pmid is not None else str(30000000 + int(n) % 1000000)
        self.doi = self.doi or f"10.9999/fake.{n}"
        self.title = self.title or f"Brain MRI case {n}"
        if not self.pdf:
            self.pdf = make_pdf(f"{self.pmcid} v{self.versions}")
        if self.versions > 1 and not self.old_pdf:
            self.old_pdf = make_pdf(f"{self.pmcid} old version")
        if not self.xml:
            href = LICENSE_URLS.get(self.license_code or "") if self.jats_license == "same" else self.jats_license
            self.xml = make_jats(self.pmcid, pmid=self.pmid, doi=self.doi, title=self.title, journal=self.journal,
                                 year=self.year, license_href=href, license_text=self.jats_license_text,
                                 article_type=self.article_type)

    @property
    def uid(self) -> str:
        return self.pmcid.removeprefix("PMC")


@dataclass
class Fault:
    kind: str  # 404 500 503 429 html truncate no_eof malformed slow garbage_json
    times: int | None = None  # first N matching requests; None: always
    delay: float = 0.0  # for slow (and before any fault)
    retry_after: str | None = None  # for 429/503
    skip: int = 0  # let the first `skip` matching requests through untouched
    hits: int = 0
    seen: int = 0


@dataclass
class LoggedRequest:
    t: float
    path: str
    query: dict[str, str]
    status: int = 0


@dataclass
class FakePMC:
    articles: list[FakeArticle]
    results: dict[str, list[str]] = field(default_factory=dict)  # term -> pmcids (default: all)
    faults: dict[str, Fault] = field(default_factory=dict)
    log: list[LoggedRequest] = field(default_factory=list)
    bad_ids: set[str] = field(default_factory=set)  # esummary answers these with <ERROR>UID=...
    phrases_not_found: dict[str, list[str]] = field(default_factory=dict)  # term -> ErrorList PhraseNotFound
    warnings: dict[str, list[tuple[str, str]]] = field(default_factory=dict)  # term -> WarningList entries
    expire_history_after: int | None = None  # esummary pages answered before every WebEnv is forgotten
    field_errors: bool = True  # False: an unknown tag shows only in the translation ([All Fields]), no ErrorList

    def __post_init__(self):
        self.by_id = {a.pmcid: a for a in self.articles}
        self._webenvs: dict[str, list[str]] = {}
        self._lock = threading.Lock()
        self.server: ThreadingHTTPServer | None = None

    # ------------------------------------------------------------ lifecycle
    def __enter__(self) -> "FakePMC":
        fake = self

        class Handler(_Handler):
            pass

        Handler.fake = fake
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        assert self.server is not None
        self.server.shutdown()
        self.server.server_close()

    @property
    def base(self) -> str:
        assert self.server is not None
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def settings(self, **kw) -> dict:
        """CollectSettings keywords pointing every service at this server, fast by default."""
        out = dict(eutils_url=f"{self.base}/eutils", pmc_url=f"{self.base}/pmc",
                   europepmc_url=f"{self.base}/epmc/rest", europepmc_pdf_url=f"{self.base}/epmc/render",
                   email="test@example.org", eutils_rate=500.0, pmc_rate=500.0, europepmc_rate=500.0,
                   timeout_s=5.0, retries=1, backoff_s=0.01, workers=2)
        out.update(kw)
        return out

    def fault(self, path: str, kind: str, **kw) -> Fault:
        f = Fault(kind, **kw)
        self.faults[path] = f
        return f

    def requests_to(self, prefix: str) -> list[LoggedRequest]:
        with self._lock:
            return [r for r in self.log if r.path.startswith(prefix)]

    # ------------------------------------------------------------ replies
    def translate(self, term: str) -> tuple[str, list[str]]:
        """(QueryTranslation, unknown field tags): tags PMC does not document become [All Fields]."""
        unknown: list[str] = []

        def one(m) -> str:
            words, tag = m.group(1), m.group(2).strip()
            if tag.lower() in PMC_FIELDS:
                return f"{words}[{tag}]"
            unknown.append(tag)
            return f"{words}[All Fields]"

        return re.sub(r'("[^"]+"|[\w\-]+(?: [\w\-]+)*)\[([^\]]+)\]', one, term), unknown

    def esearch(self, q: dict) -> bytes:
        term = q.get("term", "")
        translation, unknown = self.translate(term)
        errors = "".join(f"<FieldNotFound>{escape(t)}</FieldNotFound>" for t in dict.fromkeys(unknown)
                         if self.field_errors)
        errors += "".join(f"<PhraseNotFound>{escape(p)}</PhraseNotFound>" for p in self.phrases_not_found.get(term, []))
        warns = "".join(f"<{k}>{escape(v)}</{k}>" for k, v in self.warnings.get(term, []))
        ids = list(self.results.get(term, [a.pmcid for a in self.articles]))
        with self._lock:
            webenv = f"MCID_fake{len(self._webenvs) + 1:04d}"
            self._webenvs[webenv] = ids
        retmax = int(q.get("retmax", 20))
        id_xml = "".join(f"<Id>{i.removeprefix('PMC')}</Id>" for i in ids[:retmax])
        return (
            '<?xml version="1.0" encoding="UTF-8" ?>\n'
            '<!DOCTYPE eSearchResult PUBLIC "-//NLM//DTD esearch 20060628//EN" '
            '"https://eutils.ncbi.nlm.nih.gov/eutils/dtd/20060628/esearch.dtd">\n'
            f"<eSearchResult><Count>{len(ids)}</Count><RetMax>{min(retmax, len(ids))}</RetMax>"
            f"<RetStart>0</RetStart><QueryKey>1</QueryKey><WebEnv>{webenv}</WebEnv>"
            f"<IdList>{id_xml}</IdList><TranslationSet/><QueryTranslation>{escape(translation)}</QueryTranslation>"
            + (f"<ErrorList>{errors}</ErrorList>" if errors else "")
            + (f"<WarningList>{warns}</WarningList>" if warns else "")
            + "</eSearchResult>\n").encode()

    def esummary(self, q: dict) -> bytes:
        head = ('<?xml version="1.0" encoding="UTF-8" ?>\n'
                '<!DOCTYPE eSummaryResult PUBLIC "-//NLM//DTD esummary v1 20041029//EN" '
                '"https://eutils.ncbi.nlm.nih.gov/eutils/dtd/20041029/esummary-v1.dtd">\n')
        if "id" in q:
            ids = [f"PMC{i.strip()}" for i in q["id"].split(",") if i.strip()]
        else:
            webenv = q.get("WebEnv", "")
            with self._lock:
                if self.expire_history_after is not None:
                    if self.expire_history_after <= 0:
                        self._webenvs.clear()  # the history server forgot every search (once)
                        self.expire_history_after = None
                    else:
                        self.expire_history_after -= 1
            if webenv not in self._webenvs or q.get("query_key") != "1":
                return (head + "<eSummaryResult><ERROR>Unable to obtain query #1</ERROR></eSummaryResult>\n").encode()
            start, n = int(q.get("retstart", 0)), int(q.get("retmax", 20))
            ids = self._webenvs[webenv][start:start + n]
        docs = []
        for pmcid in ids:
            a = self.by_id.get(pmcid)
            if pmcid in self.bad_ids:  # withdrawn or invalid: NCBI's error in place of the record
                docs.append(f"<ERROR>UID={pmcid.removeprefix('PMC')}: cannot get document summary</ERROR>\n")
                continue
            if a is None:
                continue
            docs.append(
                f"<DocSum>\n\t<Id>{a.uid}</Id>\n"
                f'\t<Item Name="PubDate" Type="String">{a.year} Mar 3</Item>\n'
                f'\t<Item Name="EPubDate" Type="String">{a.year} Feb 1</Item>\n'
                f'\t<Item Name="Source" Type="String">Radiol Case Rep</Item>\n'
                '\t<Item Name="AuthorList" Type="List">\n'
                '\t\t<Item Name="Author" Type="String">Doe J</Item>\n'
                '\t\t<Item Name="Author" Type="String">Roe R</Item>\n\t</Item>\n'
                f'\t<Item Name="Title" Type="String">{escape(a.title)}</Item>\n'
                '\t<Item Name="ArticleIds" Type="List">\n'
                + (f'\t\t<Item Name="pmid" Type="String">{a.pmid}</Item>\n' if a.pmid else "")
                + f'\t\t<Item Name="doi" Type="String">{escape(a.doi)}</Item>\n'
                f'\t\t<Item Name="pmcid" Type="String">{a.pmcid}</Item>\n\t</Item>\n'
                f'\t<Item Name="DOI" Type="String">{escape(a.doi)}</Item>\n'
                f'\t<Item Name="FullJournalName" Type="String">{escape(a.journal)}</Item>\n'
                "</DocSum>\n")
        return (head + "<eSummaryResult>\n" + "".join(docs) + "</eSummaryResult>\n").encode()

    def listing(self, q: dict) -> bytes | None:
        prefix = q.get("prefix", "")
        keys = []
        for a in self.articles:
            if not a.in_bucket:
                continue
            for v in range(1, a.versions + 1):
                key = f"metadata/{a.pmcid}.{v}.json"
                if key.startswith(prefix):
                    keys.append(key)
        contents = "".join(f"<Contents><Key>{k}</Key><Size>900</Size></Contents>" for k in sorted(keys))
        return ('<?xml version="1.0" encoding="UTF-8"?>\n'
                '<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
                f"<Name>pmc-oa-opendata</Name><Prefix>{escape(prefix)}</Prefix><KeyCount>{len(keys)}</KeyCount>"
                f"<MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated>{contents}</ListBucketResult>").encode()

    def metadata(self, a: FakeArticle, v: int) -> bytes:
        stem = f"{a.pmcid}.{v}"
        pdf = a.pdf if v == a.versions else a.old_pdf
        meta = {
            "pmcid": a.pmcid, "version": v, "pmid": int(a.pmid) if a.pmid else None, "doi": a.doi,
            "title": a.title, "is_pmc_openaccess": a.license_code not in (None, "TDM"),
            "is_manuscript": False, "is_retracted": a.retracted, "is_historical_ocr": False,
            "xml_url": f"s3://pmc-oa-opendata/{stem}/{stem}.xml?md5={hashlib.md5(a.xml).hexdigest()}",
            "text_url": f"s3://pmc-oa-opendata/{stem}/{stem}.txt",
        }
        if a.license_code is not None:
            meta["license_code"] = a.license_code
        if a.bucket_pdf:
            meta["pdf_url"] = f"s3://pmc-oa-opendata/{stem}/{stem}.pdf?md5={hashlib.md5(pdf).hexdigest()}"
        return json.dumps(meta).encode()

    def route(self, path: str, q: dict) -> tuple[int, str, bytes]:
        if path == "/_log":  # for benchmarks that run the server in another process
            with self._lock:
                return 200, "application/json", json.dumps([[r.t, r.path] for r in self.log]).encode()
        if path == "/eutils/esearch.fcgi":
            return 200, "text/xml; charset=UTF-8", self.esearch(q)
        if path == "/eutils/esummary.fcgi":
            return 200, "text/xml; charset=UTF-8", self.esummary(q)
        if path == "/pmc/" and q.get("list-type") == "2":
            return 200, "application/xml", self.listing(q)
        parts = path.strip("/").split("/")
        if parts[0] == "pmc" and len(parts) == 3 and parts[1] == "metadata":
            stem = parts[2].removesuffix(".json")
            pmcid, _, v = stem.partition(".")
            a = self.by_id.get(pmcid)
            if a and a.in_bucket and v.isdigit() and 1 <= int(v) <= a.versions:
                return 200, "application/json", self.metadata(a, int(v))
        if parts[0] == "pmc" and len(parts) == 3:
            stem, name = parts[1], parts[2]
            pmcid, _, v = stem.partition(".")
            a = self.by_id.get(pmcid)
            if a and a.in_bucket and v.isdigit() and 1 <= int(v) <= a.versions:
                if name == f"{stem}.xml":
                    return 200, "application/xml", a.xml
                if name == f"{stem}.pdf" and a.bucket_pdf:
                    return 200, "application/pdf", a.pdf if int(v) == a.versions else a.old_pdf
        if parts[0] == "epmc" and len(parts) == 4 and parts[1] == "rest" and parts[3] == "fullTextXML":
            a = self.by_id.get(parts[2])
            if a and a.in_epmc:
                return 200, "application/xml", a.xml
        if path == "/epmc/render" and q.get("blobtype") == "pdf":
            a = self.by_id.get(q.get("accid", ""))
            if a and a.in_epmc:
                return 200, "application/pdf", a.pdf
        return 404, "text/html", b"<html><body><h1>404 Not Found</h1></body></html>"


class _Handler(BaseHTTPRequestHandler):
    fake: FakePMC
    protocol_version = "HTTP/1.0"

    def log_message(self, format, *args):  # keep test output clean
        pass

    def do_GET(self):  # noqa: N802
        fake = self.fake
        u = urlparse(self.path)
        q = {k: v[-1] for k, v in parse_qs(u.query, keep_blank_values=True).items()}
        entry = LoggedRequest(time.monotonic(), u.path, q)
        with fake._lock:
            fake.log.append(entry)
        key = u.path if u.path != "/epmc/render" else f"/epmc/render?accid={q.get('accid', '')}"
        fault = fake.faults.get(key)
        active = None
        if fault is not None:
            with fake._lock:
                fault.seen += 1
                if fault.seen > fault.skip and (fault.times is None or fault.hits < fault.times):
                    fault.hits += 1
                    active = fault
        if active is not None and active.delay:
            time.sleep(active.delay)
        status, ctype, body = fake.route(u.path, q)
        if active is not None:
            status, ctype, body, truncate = _apply(active, status, ctype, body)
        else:
            truncate = None
        entry.status = status
        try:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            if active is not None and active.retry_after is not None:
                self.send_header("Retry-After", active.retry_after)
            self.end_headers()
            self.wfile.write(body[:truncate] if truncate is not None else body)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass


def _apply(f: Fault, status: int, ctype: str, body: bytes) -> tuple[int, str, bytes, int | None]:
    k = f.kind
    if k in ("404", "500", "502", "503", "429"):
        return int(k), "text/html", f"<html><body>error {k}</body></html>".encode(), None
    if k == "html":
        return 200, "text/html; charset=utf-8", (
            b"<!DOCTYPE html><html><head><title>Just a moment...</title></head>"
            b"<body>Checking your browser before accessing the site.</body></html>"), None
    if k == "truncate":  # Content-Length says all of it, half arrives, the connection closes
        return status, ctype, body, len(body) // 2
    if k == "no_eof":  # a complete-looking reply whose PDF was cut short upstream
        cut = body[: max(200, len(body) - 400)]
        return status, ctype, cut, None
    if k == "malformed":
        return status, ctype, body[: len(body) // 2] + b"\n<<<not xml", None
    if k == "garbage_json":
        return status, "application/json", b"{not json", None
    if k == "slow":
        return status, ctype, body, None
    raise ValueError(f"unknown fault {k}")


def articles(n: int, start: int = 1000001, **kw) -> list[FakeArticle]:
    return [FakeArticle(f"PMC{start + i}", **kw) for i in range(n)]


def ids_of(items: Iterable[FakeArticle]) -> list[str]:
    return [a.pmcid for a in items]


def main() -> None:
    """Serve N generated articles until stdin closes: ``python tests/fake_pmc.py --papers 60``.

    Prints the base URL on the first line (for benchmarks that keep the server out of their process).
    """
    import argparse
    import sys

    ap = argparse.ArgumentParser()
    ap.add_argument("--papers", type=int, default=60)
    args = ap.parse_args()
    with FakePMC(articles(args.papers)) as srv:
        print(srv.base, flush=True)
        sys.stdin.read()


if __name__ == "__main__":
    main()
