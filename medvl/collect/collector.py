"""`collect`: search PMC, then download each paper's PDF and JATS XML into PAPERS_DIR.

The search (E-utilities, paged on the history server) runs in the calling thread and
feeds a thread pool; each worker fetches one paper: the bucket's metadata (license,
retraction, file URLs) first, then the XML (from the bucket, else Europe PMC), the license
decision, then the PDF (bucket, else Europe PMC).  All requests to one service share one
token bucket.  Results are written by the calling thread only, one paper at a time
(see :mod:`medvl.collect.manifest`), so Ctrl-C loses at most the papers in flight, and a
rerun skips what is final and finishes the rest.
"""

from __future__ import annotations

import hashlib
import os
import threading
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from medvl.collect.entrez import DEFAULT_EUTILS_URL, Entrez, EntrezError, Hit, normalize_pmcid
from medvl.collect.http import ContentError, FetchError, Http, HttpSettings, Interrupted
from medvl.collect.licenses import DEFAULT_ALLOWED, License, normalize, parse_families
from medvl.collect.manifest import (FILE_NAMES, STAGE, STAGE_VERSION, ManifestRow, PaperMeta, PapersDir,
                                    now_iso)
from medvl.collect.pmc import (DEFAULT_EUROPEPMC_PDF_URL, DEFAULT_EUROPEPMC_URL, DEFAULT_PMC_URL, CloudRecord,
                               EuropePmc, JatsInfo, PmcCloud, check_jats, check_pdf)
from medvl.collect.ratelimit import TokenBucket, ncbi_rate
from medvl.errors import MedvlError
from medvl.progress import ProgressFn, no_progress
from medvl.records import Provenance, Reject, sha256_bytes, sha256_text
from medvl.runs import atomic_write_bytes, tool_versions

TOOLS = ("httpx", "biopython", "pymupdf")
SOURCES = ("pmc-cloud", "europepmc")


def _env(*names: str) -> str | None:
    for n in names:
        v = os.environ.get(n)
        if v:
            return v
    return None


class CollectSettings(BaseModel):
    """Everything `medvl collect` (and a run's collect stage) can be told."""

    model_config = ConfigDict(extra="forbid")

    query: str | None = None  # PMC search term
    saved: str | None = None  # name of a saved query (queries/*.yaml)
    ids: list[str] = Field(default_factory=list)  # explicit PMC ids instead of a search
    max: int | None = Field(default=None, ge=1)  # at most this many search hits
    licenses: list[str] = Field(default_factory=lambda: list(DEFAULT_ALLOWED))  # allowed families
    formats: list[Literal["pdf", "xml"]] = Field(default_factory=lambda: ["pdf", "xml"])
    email: str | None = Field(default_factory=lambda: _env("MEDVL_EMAIL", "NCBI_EMAIL"))
    api_key: str | None = Field(default_factory=lambda: _env("MEDVL_NCBI_API_KEY", "NCBI_API_KEY"))
    tool: str = "medvl"
    workers: int = Field(default=4, ge=1, le=64)
    sources: list[Literal["pmc-cloud", "europepmc"]] = Field(default_factory=lambda: list(SOURCES))
    eutils_url: str = Field(default_factory=lambda: _env("MEDVL_EUTILS_URL") or DEFAULT_EUTILS_URL)
    pmc_url: str = Field(default_factory=lambda: _env("MEDVL_PMC_URL") or DEFAULT_PMC_URL)
    europepmc_url: str = Field(default_factory=lambda: _env("MEDVL_EUROPEPMC_URL") or DEFAULT_EUROPEPMC_URL)
    europepmc_pdf_url: str = Field(
        default_factory=lambda: _env("MEDVL_EUROPEPMC_PDF_URL") or DEFAULT_EUROPEPMC_PDF_URL)
    eutils_rate: float | None = Field(default=None, gt=0)  # None: 3/s, or 10/s with an API key
    pmc_rate: float = Field(default=10.0, gt=0)  # requests/s to the PMC bucket
    europepmc_rate: float = Field(default=5.0, gt=0)
    page_size: int = Field(default=100, ge=1, le=10000)
    timeout_s: float = Field(default=60.0, gt=0)
    retries: int = Field(default=4, ge=0, le=20)
    backoff_s: float = Field(default=1.0, ge=0)

    @field_validator("licenses", mode="before")
    @classmethod
    def _licenses(cls, v: Any) -> Any:
        return list(parse_families(v))

    @field_validator("formats", "sources", "ids", mode="before")
    @classmethod
    def _split(cls, v: Any) -> Any:
        if isinstance(v, str):
            return [s.strip() for s in v.split(",") if s.strip()]
        return v

    @field_validator("ids")
    @classmethod
    def _ids(cls, v: list[str]) -> list[str]:
        return [normalize_pmcid(x) for x in v]

    @model_validator(mode="after")
    def _one_input(self) -> "CollectSettings":
        given = [n for n in ("query", "saved", "ids") if getattr(self, n)]
        if len(given) != 1:
            raise ValueError("give exactly one of query, saved or ids"
                             + (f" (got {', '.join(given)})" if given else ""))
        if not self.formats:
            raise ValueError("formats is empty: use pdf, xml or both")
        if not self.sources:
            raise ValueError("sources is empty: use pmc-cloud, europepmc or both")
        return self

    def redacted(self) -> dict[str, Any]:
        d = self.model_dump(mode="json")
        if d.get("api_key"):
            d["api_key"] = "***"
        return d

    def term(self) -> str | None:
        if self.query:
            return self.query
        if self.saved:
            from medvl.collect.queries import load_saved

            return load_saved(self.saved).term
        return None


class CollectSummary(BaseModel):
    model_config = ConfigDict(extra="forbid")

    out_dir: str
    term: str | None = None
    count: int | None = None  # hits the search reported
    found: int = 0  # hits considered (after --max)
    downloaded: int = 0  # papers completed in this run
    skipped: int = 0  # papers already complete
    rejected: int = 0  # license, retraction
    failed: int = 0  # some file could not be fetched (a rerun retries)
    duplicates: int = 0
    files: int = 0  # files written in this run
    bytes: int = 0
    requests: int = 0
    interrupted: bool = False
    manifest: str = ""
    query_translation: str | None = None  # how NCBI read the term
    search_messages: list[str] = []  # NCBI's ErrorList/WarningList lines ("QuotedPhraseNotFound: ...")
    esummary_errors: int = 0  # records NCBI answered with an <ERROR> (skipped; a manifest row each)
    researches: int = 0  # times the search was run again because the history server lost it

    def note(self) -> str:
        return (f"found {self.found} · downloaded {self.downloaded} · skipped {self.skipped} · "
                f"rejected {self.rejected} · failed {self.failed}")


@dataclass
class _FileResult:
    kind: str
    ok: bool
    row: ManifestRow
    new: bool = False  # written in this run


@dataclass
class _Outcome:
    pmcid: str
    status: str  # ok | rejected | failed
    reason: str
    rows: list[ManifestRow]
    rejects: list[Reject]
    meta: PaperMeta | None
    final: bool
    new_files: int = 0
    new_bytes: int = 0


@dataclass
class _Attempt:
    source: str
    url: str
    reason: str
    detail: str

    def as_dict(self) -> dict:
        return {"source": self.source, "url": self.url, "reason": self.reason, "detail": self.detail}


@dataclass
class _Paper:
    """What Collector._process learns of one paper, step by step."""

    hit: Hit
    attempts_meta: list[_Attempt] = field(default_factory=list)  # the bucket's listing/metadata; in each file's row
    record: CloudRecord | None = None
    lic: License | None = None
    lic_source: str | None = None
    results: dict[str, _FileResult] = field(default_factory=dict)  # kind -> the file's result
    jats: JatsInfo | None = None
    xml_bytes: bytes | None = None  # fetched, not yet written
    xml_source: tuple[str, str] | None = None  # (source, url) of xml_bytes
    xml_failure: _FileResult | None = None
    xml_attempts: list[_Attempt] = field(default_factory=list)
    new_files: int = 0
    new_bytes: int = 0


class Collector:
    def __init__(self, settings: CollectSettings, out_dir: str | Path, progress: ProgressFn = no_progress):
        self.s = settings
        self.papers = PapersDir(out_dir)
        self.progress = progress
        self.cancel = threading.Event()
        self.http = Http(HttpSettings(timeout_s=settings.timeout_s, retries=settings.retries,
                                      backoff_s=settings.backoff_s,
                                      user_agent=f"{settings.tool} (medvl collect"
                                                 + (f"; mailto:{settings.email}" if settings.email else "")
                                                 + ")"),
                         cancel=self.cancel)
        self.eutils_limiter = TokenBucket(settings.eutils_rate or ncbi_rate(settings.api_key), name="eutils")
        self.pmc_limiter = TokenBucket(settings.pmc_rate, name="pmc-cloud")
        self.epmc_limiter = TokenBucket(settings.europepmc_rate, name="europepmc")
        self.entrez = Entrez(self.http, self.eutils_limiter, settings.eutils_url, email=settings.email,
                             tool=settings.tool, api_key=settings.api_key)
        self.cloud = PmcCloud(self.http, self.pmc_limiter, settings.pmc_url)
        self.epmc = EuropePmc(self.http, self.epmc_limiter, settings.europepmc_url, settings.europepmc_pdf_url)
        self.term = settings.term()
        self.input_sha = sha256_text(self.term or ",".join(settings.ids))
        self.tools = tool_versions(TOOLS)
        self.summary = CollectSummary(out_dir=str(self.papers.path), term=self.term)
        self._search_rows: list[ManifestRow] = []  # rows of no single paper (duplicates, esummary errors)
        self._search_rejects: list[Reject] = []

    # ------------------------------------------------------------ helpers
    def _prov(self) -> Provenance:
        return Provenance(stage=STAGE, stage_version=STAGE_VERSION, input_sha256=self.input_sha, tools=self.tools)

    def _row(self, hit: Hit, kind: str, status: str, reason: str, detail: str = "", **kw) -> ManifestRow:
        return ManifestRow(pmcid=hit.pmcid, kind=kind, status=status, reason=reason, detail=detail,
                           pmid=hit.pmid, doi=hit.doi, retrieved_at=now_iso(), provenance=self._prov(), **kw)

    def _reject(self, hit: Hit, reason: str, detail: str, source: str | None = None) -> Reject:
        return Reject(stage=STAGE, source=source or hit.pmcid, id=hit.pmcid, reason=reason, detail=detail)

    def _tick(self) -> None:
        self.progress(1, note=self.summary.note())

    # ------------------------------------------------------------ the run
    def _esummary_error(self, pmcid: str, message: str) -> None:
        """One record NCBI could not summarise (withdrawn, invalid id): a manifest row; the rest go on."""
        self.summary.esummary_errors += 1
        detail = f"NCBI esummary answered an error for {pmcid}: {message}; skipped (a rerun asks again)"
        hit = Hit(pmcid=pmcid)
        self._search_rows.append(self._row(hit, "paper", "failed", "esummary_error", detail))
        self._search_rejects.append(self._reject(hit, "esummary_error", detail))
        self._tick()

    def _search_row(self, error: BaseException | None) -> ManifestRow:
        """The row of the search itself: term, NCBI's translation, count, errors and warnings."""
        e = self.entrez
        failed = isinstance(error, EntrezError)
        msgs = e.messages
        reason = getattr(error, "reason", "search_failed") if failed else ("search_warnings" if msgs else "searched")
        detail = (str(error) if failed else
                  f"{self.summary.count} hit(s); NCBI read the term as {e.query_translation!r}"
                  + (f"; NCBI says: {'; '.join(msgs)}" if msgs else "")
                  + (f"; the history server lost the search, run again {self.summary.researches} time(s)"
                     if self.summary.researches else ""))
        return ManifestRow(pmcid="", kind="search", status="failed" if failed else "ok", reason=reason,
                           detail=detail, query=self.term, query_translation=e.query_translation,
                           count=self.summary.count, messages=msgs, retrieved_at=now_iso(),
                           provenance=self._prov())

    def hits(self) -> Iterator[Hit]:
        if self.s.ids:
            ids = self.s.ids[: self.s.max] if self.s.max else self.s.ids
            self.summary.count = len(self.s.ids)
            self.progress(0, total=len(ids), note=self.summary.note())
            unique = list(dict.fromkeys(ids))
            by_id = {h.pmcid: h for h in self.entrez.summaries(unique, batch=min(200, self.s.page_size),
                                                                on_error=self._esummary_error)}
            bad = {r.pmcid for r in self._search_rows if r.reason == "esummary_error"}
            for p in ids:  # duplicates stay in, to be reported as such
                if p in bad:
                    continue
                yield by_id.get(p) or Hit(pmcid=p)
            return
        assert self.term

        def on_count(count: int, total: int) -> None:
            self.summary.count = count
            self.progress(0, total=total, note=self.summary.note())

        try:
            yield from self.entrez.search(self.term, self.s.max, self.s.page_size, on_count=on_count,
                                          on_error=self._esummary_error)
        finally:
            self.summary.query_translation = self.entrez.query_translation
            self.summary.search_messages = self.entrez.messages
            self.summary.researches = getattr(self.entrez, "researches", 0)

    def run(self) -> CollectSummary:
        self.papers.clean_temp_files()
        self.papers.run.update_manifest(STAGE, self.s.redacted(), tools=TOOLS)
        seen: dict[str, int] = {}
        search_rows: list[ManifestRow] = []
        search_rejects: list[Reject] = []
        self._search_rows, self._search_rejects = search_rows, search_rejects
        pending: dict[Future, Hit] = {}
        error: BaseException | None = None
        pool = ThreadPoolExecutor(max_workers=self.s.workers, thread_name_prefix="medvl-collect")
        try:
            for pos, hit in enumerate(self.hits()):
                self.summary.found += 1
                if hit.pmcid in seen:
                    self.summary.duplicates += 1
                    detail = (f"{hit.pmcid} appears again at position {pos + 1} of the results "
                              f"(first at {seen[hit.pmcid] + 1}); collected once")
                    search_rows.append(self._row(hit, "paper", "duplicate", "duplicate_id", detail))
                    search_rejects.append(self._reject(hit, "duplicate_id", detail))
                    self._tick()
                    continue
                seen[hit.pmcid] = pos
                if self.papers.is_final(hit.pmcid, self.s.formats, self.s.licenses):
                    self.summary.skipped += 1
                    self._tick()
                    continue
                pending[pool.submit(self._process_safe, hit)] = hit
                self._drain(pending, block=len(pending) >= 4 * self.s.workers)
            while pending:
                self._drain(pending, block=True)
        except KeyboardInterrupt as exc:
            self.summary.interrupted = True
            error = exc
        except (EntrezError, FetchError) as exc:
            error = exc  # the search broke off: the papers already found are still fetched
            try:
                while pending:
                    self._drain(pending, block=True)
            except KeyboardInterrupt as exc2:
                self.summary.interrupted = True
                error = exc2
        finally:
            if isinstance(error, KeyboardInterrupt):
                self.cancel.set()  # workers stop at the next chunk; temp files are removed
                self.http.close()  # and requests blocked on a slow server end now
            pool.shutdown(wait=True, cancel_futures=True)
            # Papers that finished before the stop are recorded; the rest are redone next time.
            for fut in list(pending):
                if fut.done() and not fut.cancelled():
                    self._record(fut.result())
            # always rewritten, so duplicates reported by an earlier run do not linger
            if self.term:
                search_rows.insert(0, self._search_row(error))
            self.papers.write_search(search_rows, search_rejects, {"term": self.term})
            self.papers.merge()
            self.summary.manifest = str(self.papers.path / "manifest.jsonl")
            self.summary.requests = self.http.requests
            self.http.close()
        if isinstance(error, KeyboardInterrupt):
            raise error
        if isinstance(error, EntrezError):
            raise error
        if isinstance(error, FetchError):
            raise MedvlError(f"the search failed: {error} [{error.reason}]") from error
        return self.summary

    def _drain(self, pending: dict[Future, Hit], block: bool) -> None:
        if not pending:
            return
        done, _ = wait(list(pending), timeout=None if block else 0, return_when=FIRST_COMPLETED)
        for fut in done:
            pending.pop(fut)
            self._record(fut.result())

    def _record(self, out: _Outcome | None) -> None:
        if out is None:  # interrupted in flight: nothing recorded, redone next run
            return
        self.papers.write_paper(out.pmcid, out.rows, out.rejects, out.meta, final=out.final,
                                status=out.status, reason=out.reason, formats=self.s.formats,
                                licenses=self.s.licenses,
                                license_family=out.meta.license_family if out.meta else None)
        self.summary.files += out.new_files
        self.summary.bytes += out.new_bytes
        if out.status == "ok":
            self.summary.downloaded += 1
        elif out.status == "rejected":
            self.summary.rejected += 1
        else:
            self.summary.failed += 1
        self._tick()

    # ------------------------------------------------------------ one paper
    def _process_safe(self, hit: Hit) -> _Outcome | None:
        try:
            out = self._process(hit)
            if self.cancel.is_set() and out.status == "failed":
                return None  # failed because the run was stopping: not recorded, redone next run
            return out
        except Interrupted:
            return None
        except Exception as exc:  # a bug or an unforeseen reply must not stop the other papers
            if self.cancel.is_set():
                return None
            detail = f"unexpected {type(exc).__name__}: {exc}"
            return _Outcome(hit.pmcid, "failed", "error", [self._row(hit, "paper", "failed", "error", detail)],
                            [self._reject(hit, "error", detail)], None, final=False)

    def _process(self, hit: Hit) -> _Outcome:
        """One paper: its PMC cloud record, its license (the record's, else the XML's), then its files.  A
        retracted paper, a license that is not allowed or cannot be read ends it early."""
        p = _Paper(hit)
        self._cloud_record(p)
        out = self._refused_by_record(p)
        if out is None:
            self._xml(p)
            out = self._license_from_xml(p)
        if out is not None:
            return out
        self._write_xml(p)
        self._pdf(p)
        return self._outcome(p)

    def _cloud_record(self, p: _Paper) -> None:
        """The PMC cloud bucket's record (None when it has none or cannot be read: an attempt says why), and
        the PMID and DOI from it that the search did not give."""
        hit = p.hit
        if "pmc-cloud" in self.s.sources:
            try:
                p.record = self.cloud.record(hit.pmcid)
                if p.record is None:
                    p.attempts_meta.append(_Attempt("pmc-cloud", self.cloud.base_url, "not_in_bucket",
                                                    "the PMC cloud bucket has no version of this article"))
            except Interrupted:
                raise
            except FetchError as exc:
                p.attempts_meta.append(_Attempt("pmc-cloud", exc.url, exc.reason, exc.detail))
        record = p.record
        if record is not None and record.pmcid and hit.pmid is None:
            pmid = record.raw.get("pmid")
            hit.pmid = str(pmid) if pmid else None
        if record is not None and not hit.doi and record.raw.get("doi"):
            hit.doi = str(record.raw["doi"])

    def _refused_by_record(self, p: _Paper) -> _Outcome | None:
        """The record's license; a rejected outcome when the record says retracted or its license is known
        and not allowed."""
        record = p.record
        if record is None:
            return None
        p.lic = normalize(record.license_code)
        p.lic_source = "pmc-cloud-metadata" if p.lic else None
        if record.is_retracted:
            return self._rejected(p.hit, "retracted", "PMC marks this article version as retracted", p.lic, record)
        lic = p.lic
        if lic is not None and lic.family not in ("unknown", "other") and not lic.allowed(self.s.licenses):
            return self._rejected(p.hit, "license_not_allowed", self._license_words(lic), lic, record)
        return None

    def _xml(self, p: _Paper) -> None:
        """The JATS XML: wanted as a file, or needed to read the license.  A valid file of an earlier run is
        kept; else it is fetched (bytes and source kept for _write_xml, or the failure)."""
        s, hit = self.s, p.hit
        need_xml = "xml" in s.formats or p.lic is None or p.lic.family in ("unknown", "other")
        p.xml_attempts = list(p.attempts_meta)
        xml_path = self.papers.file_path(hit.pmcid, "xml")
        if "xml" in s.formats and xml_path.exists():
            try:
                data = xml_path.read_bytes()
                p.jats = check_jats(data)
                p.results["xml"] = self._present(hit, "xml", xml_path, data)
            except (OSError, ContentError):
                xml_path.unlink(missing_ok=True)
        if need_xml and p.jats is None:
            got = self._fetch_xml(hit, p.record, p.xml_attempts)
            if isinstance(got, _FileResult):
                p.xml_failure = got
                if "xml" in s.formats:
                    p.results["xml"] = got
            else:
                p.xml_bytes, p.jats, p.xml_source = got

    def _license_from_xml(self, p: _Paper) -> _Outcome | None:
        """The license after the XML's: it fills an unknown one or adds the version; a failed outcome when it
        cannot be read for want of the XML (retried next run), a rejected one when it is not allowed."""
        s, hit, lic, jats = self.s, p.hit, p.lic, p.jats
        if jats is not None and jats.license is not None:
            jl: License = jats.license  # type: ignore[assignment]
            if lic is None or lic.family in ("unknown", "other"):
                lic, p.lic_source = jl, "jats"
            elif jl.family == lic.family and lic.version is None and jl.version:
                lic = License(lic.family, jl.version, lic.raw)  # "CC BY" + the XML's 4.0 URL

        if lic is None or lic.family in ("unknown", "other"):
            if jats is None:
                # Could not read the XML, so the license is unknown for now: retry next run.
                res = p.xml_failure
                reason = res.row.reason if res else "license_unknown"
                detail = ("the license could not be read: no usable license in the PMC metadata and "
                          "the XML could not be fetched" + (f" ({res.row.detail})" if res else ""))
                row = self._row(hit, "paper", "failed", reason, detail,
                                attempts=[a.as_dict() for a in p.xml_attempts])
                return _Outcome(hit.pmcid, "failed", reason, [row], [self._reject(hit, reason, detail)],
                                None, final=False)
            if "unknown" not in s.licenses and not (lic is not None and lic.allowed(s.licenses)):
                words = ("no license statement in the PMC metadata or the JATS XML" if lic is None else
                         f"the license {lic.raw[:120]!r} is not one medvl can read")
                return self._rejected(hit, "license_unknown", words + "; use --license all to keep it", lic,
                                      p.record)
        if lic is None:
            lic = License("unknown", None, "")  # no license anywhere, and the user allows that
        p.lic = lic
        if not lic.allowed(s.licenses):
            return self._rejected(hit, "license_not_allowed", self._license_words(lic), lic, p.record)
        return None

    def _write_xml(self, p: _Paper) -> None:
        """The fetched XML written to PAPERS_DIR, when the XML is wanted as a file."""
        if "xml" not in self.s.formats or "xml" in p.results:
            return
        xml_bytes, xml_source = p.xml_bytes, p.xml_source
        assert xml_bytes is not None and xml_source is not None
        xml_path = self.papers.file_path(p.hit.pmcid, "xml")
        atomic_write_bytes(xml_path, xml_bytes)
        p.results["xml"] = _FileResult("xml", True, self._row(
            p.hit, "xml", "ok", "downloaded", source=xml_source[0], url=xml_source[1],
            path=self.papers.rel(xml_path), sha256=sha256_bytes(xml_bytes),
            md5=hashlib.md5(xml_bytes).hexdigest(), size=len(xml_bytes),
            attempts=[a.as_dict() for a in p.xml_attempts if a.reason != "not_in_bucket"]), new=True)
        p.new_files += 1
        p.new_bytes += len(xml_bytes)

    def _pdf(self, p: _Paper) -> None:
        """The PDF, when wanted: a file of an earlier run is kept, else it is fetched."""
        if "pdf" not in self.s.formats:
            return
        pdf_path = self.papers.file_path(p.hit.pmcid, "pdf")
        if pdf_path.exists():
            p.results["pdf"] = self._present(p.hit, "pdf", pdf_path, None)
        else:
            p.results["pdf"] = self._fetch_pdf(p.hit, p.record, list(p.attempts_meta))
            if p.results["pdf"].ok:
                p.new_files += 1
                p.new_bytes += p.results["pdf"].row.size or 0

    def _outcome(self, p: _Paper) -> _Outcome:
        """The paper's rows (license and PMC version on each file's), rejects and metadata; complete when
        every wanted format is there."""
        lic, record, results = p.lic, p.record, p.results
        assert lic is not None
        for r in results.values():
            r.row.license = lic.spdx
            r.row.license_family = lic.family
            r.row.pmc_version = record.version if record else None
        rows = [results[k].row for k in ("pdf", "xml") if k in results]
        rejects = [self._reject(p.hit, r.row.reason, r.row.detail, r.row.url) for r in results.values() if not r.ok]
        ok_kinds = {k for k, r in results.items() if r.ok}
        final = set(self.s.formats) <= ok_kinds
        meta = None
        if ok_kinds:
            meta = self._meta(p.hit, record, p.jats, lic, p.lic_source, results)
        status = "ok" if final else "failed"
        reason = "complete" if final else ",".join(sorted({r.row.reason for r in results.values() if not r.ok}))
        return _Outcome(p.hit.pmcid, status, reason, rows, rejects, meta, final, p.new_files, p.new_bytes)

    # ------------------------------------------------------------ pieces
    def _license_words(self, lic: License) -> str:
        return (f"license {lic.spdx} ({lic.raw[:80]!r}) is not among the allowed "
                f"{', '.join(self.s.licenses)}; use --license to change that")

    def _rejected(self, hit: Hit, reason: str, detail: str, lic: License | None,
                  record: CloudRecord | None) -> _Outcome:
        # Files from an earlier run under a wider filter do not stay in PAPERS_DIR.
        for kind in FILE_NAMES:
            self.papers.file_path(hit.pmcid, kind).unlink(missing_ok=True)
        (self.papers.paper_dir(hit.pmcid) / "metadata.json").unlink(missing_ok=True)
        try:
            self.papers.paper_dir(hit.pmcid).rmdir()
        except OSError:
            pass
        row = self._row(hit, "paper", "rejected", reason, detail,
                        license=lic.spdx if lic else None, license_family=lic.family if lic else None,
                        pmc_version=record.version if record else None)
        return _Outcome(hit.pmcid, "rejected", reason, [row], [self._reject(hit, reason, detail)], None, final=True)

    def _present(self, hit: Hit, kind: str, path: Path, data: bytes | None) -> _FileResult:
        data = path.read_bytes() if data is None else data
        prev = {r.get("kind"): r for r in self.papers.previous_rows(hit.pmcid)}.get(kind) or {}
        return _FileResult(kind, True, self._row(
            hit, kind, "present", "already_present", "kept from an earlier run",
            source=prev.get("source"), url=prev.get("url"), path=self.papers.rel(path),
            sha256=hashlib.sha256(data).hexdigest(), md5=hashlib.md5(data).hexdigest(), size=len(data)))

    def _xml_candidates(self, hit: Hit, record: CloudRecord | None, attempts: list[_Attempt]):
        if "pmc-cloud" in self.s.sources and record is not None:
            url = record.url_for("xml")
            if url:
                yield "pmc-cloud", self.cloud.https_url(url), record.md5_for("xml"), self.pmc_limiter
            else:
                attempts.append(_Attempt("pmc-cloud", record.metadata_url, "no_xml_in_bucket",
                                         "the bucket's metadata lists no XML for this version"))
        if "europepmc" in self.s.sources:
            yield "europepmc", self.epmc.xml_url(hit.pmcid), None, self.epmc_limiter

    def _fetch_xml(self, hit: Hit, record: CloudRecord | None, attempts: list[_Attempt]):
        for source, url, md5, limiter in self._xml_candidates(hit, record, attempts):
            try:
                body, _ = self.http.get_bytes(url, limiter=limiter)
                info = check_jats(body)
                if md5 and hashlib.md5(body).hexdigest() != md5:
                    raise ContentError("checksum_mismatch", f"MD5 differs from the bucket's {md5}", url)
                return body, info, (source, url)
            except Interrupted:
                raise
            except FetchError as exc:
                attempts.append(_Attempt(source, exc.url or url, exc.reason, exc.detail))
        return self._failed_file(hit, "xml", attempts)

    def _fetch_pdf(self, hit: Hit, record: CloudRecord | None, attempts: list[_Attempt]) -> _FileResult:
        dest = self.papers.file_path(hit.pmcid, "pdf")
        candidates = []
        if "pmc-cloud" in self.s.sources and record is not None:
            url = record.url_for("pdf")
            if url:
                candidates.append(("pmc-cloud", self.cloud.https_url(url), record.md5_for("pdf"), self.pmc_limiter))
            else:
                attempts.append(_Attempt("pmc-cloud", record.metadata_url, "no_pdf_in_bucket",
                                         "the bucket's metadata lists no PDF for this version"))
        if "europepmc" in self.s.sources:
            candidates.append(("europepmc", self.epmc.pdf_url(hit.pmcid), None, self.epmc_limiter))
        for source, url, md5, limiter in candidates:
            try:
                dl = self.http.download(url, dest, limiter=limiter, expected_md5=md5,
                                        validate=lambda p, head, tail, headers: check_pdf(p, head, tail, headers))
                earlier = [a.as_dict() for a in attempts if a.reason not in ("not_in_bucket",)]
                return _FileResult("pdf", True, self._row(
                    hit, "pdf", "ok", "downloaded", source=source, url=url, path=self.papers.rel(dest),
                    sha256=dl.sha256, md5=dl.md5, size=dl.size, attempts=earlier), new=True)
            except Interrupted:
                raise
            except FetchError as exc:
                attempts.append(_Attempt(source, exc.url or url, exc.reason, exc.detail))
        return self._failed_file(hit, "pdf", attempts)

    def _failed_file(self, hit: Hit, kind: str, attempts: list[_Attempt]) -> _FileResult:
        tried = [a for a in attempts if a.reason not in ("not_in_bucket",)] or attempts
        last = tried[-1] if tried else _Attempt("none", "", "no_source", "no source is enabled for this file")
        detail = f"no source gave a usable {kind.upper()}: " + "; ".join(
            f"{a.source}: {a.detail} [{a.reason}]" for a in tried)
        return _FileResult(kind, False, self._row(hit, kind, "failed", last.reason, detail, source=last.source,
                                                  url=last.url or None,
                                                  attempts=[a.as_dict() for a in attempts]))

    def _meta(self, hit: Hit, record: CloudRecord | None, jats: JatsInfo | None, lic: License,
              lic_source: str | None, results: dict[str, _FileResult]) -> PaperMeta:
        raw = record.raw if record else {}
        ok = {k: r for k, r in results.items() if r.ok}
        return PaperMeta(
            pmcid=hit.pmcid,
            pmid=hit.pmid or (jats.pmid if jats else None) or (str(raw["pmid"]) if raw.get("pmid") else None),
            doi=hit.doi or (jats.doi if jats else None) or raw.get("doi"),
            title=hit.title or (jats.title if jats else None) or raw.get("title"),
            journal=hit.journal or (jats.journal if jats else None),
            year=hit.year or (jats.year if jats else None),
            article_type=jats.article_type if jats else None,
            authors=hit.authors,
            license=lic.spdx, license_family=lic.family, license_raw=lic.raw or None,
            license_source=lic_source,
            pmc_version=record.version if record else None,
            files={k: r.row.path for k, r in ok.items() if r.row.path},
            sha256={k: r.row.sha256 for k, r in ok.items() if r.row.sha256},
            sources={k: r.row.url for k, r in ok.items() if r.row.url},
            query=self.term,
            retrieved_at=now_iso(),
            provenance=self._prov(),
        )


def collect(settings: CollectSettings | dict[str, Any], out_dir: str | Path,
            progress: ProgressFn = no_progress) -> CollectSummary:
    """Search PMC and download papers into `out_dir` (PAPERS_DIR); see the module docstring.

    `settings` may be a :class:`CollectSettings` or a plain dict (a run config's ``collect:``
    section).  Raises :class:`medvl.errors.MedvlError` when the search itself fails (bad
    settings, E-utilities error); per-paper problems end up in the manifest instead.
    """
    if not isinstance(settings, CollectSettings):
        try:
            settings = CollectSettings(**dict(settings))
        except ValidationError as exc:
            raise MedvlError(f"collect settings: {exc}") from exc
    return Collector(settings, out_dir, progress).run()
