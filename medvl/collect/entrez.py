"""Search PubMed Central through NCBI's E-utilities, paging on the history server.

``esearch`` (db=pmc, ``usehistory=y``) stores the result set on NCBI's history server and
returns its ``WebEnv`` and ``query_key``; ``esummary`` then reads it page by page with
``retstart``/``retmax``, so a search of thousands of papers costs one esearch plus one
request per page, and every page brings the metadata medvl keeps (PMCID, PMID, DOI, title,
journal, year).

Replies are parsed with Biopython's ``Bio.Entrez.read`` (which validates them against
NCBI's DTDs, shipped with Biopython).  The requests themselves are sent by
:class:`medvl.collect.http.Http`, not by ``Bio.Entrez.esearch``: in Biopython 1.88 every
E-utility function hard-codes ``https://eutils.ncbi.nlm.nih.gov/entrez/eutils/<cgi>`` (there
is no module attribute for the base URL), and its ``_open`` rate-limits with a process-wide
sleep and retries with fixed 15 s pauses through urllib.  Sending them ourselves gives a
configurable base URL (``MEDVL_EUTILS_URL``, for mirrors and tests), the shared token
bucket, Retry-After and backoff.  The ``tool``, ``email`` and ``api_key`` parameters NCBI
asks for are sent with every request, exactly as Bio.Entrez would.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from typing import Callable, Iterator

from medvl.collect.http import Http
from medvl.collect.ratelimit import TokenBucket
from medvl.errors import MedvlError

DEFAULT_EUTILS_URL = "https://eutils.ncbi.nlm.nih.gov/entrez/eutils"
ESUMMARY_MAX = 10000  # NCBI's cap on retmax for esummary


MAX_RESEARCHES = 2  # times a search is run again after the history server lost it
# what NCBI says when a WebEnv/query_key is gone (expired or never known)
_HISTORY_LOST = re.compile(r"(?i)unable to obtain query|query_key|webenv|history")


class EntrezError(MedvlError):
    """E-utilities answered with an error or with something that is not its XML."""

    def __init__(self, message: str, reason: str = "eutils_error"):
        super().__init__(message)
        self.reason = reason


_TAGGED = re.compile(r'("[^"]+"|[\w\-]+(?: [\w\-]+)*)\s*\[([^\]]+)\]')


def broadened_tags(term: str, translation: str | None) -> list[str]:
    """Field tags of `term` that NCBI's translation turned into [All Fields] (words searched everywhere)."""
    if not translation:
        return []
    def words_of(text: str) -> str:  # the words a tag belongs to: after the last AND/OR/NOT
        return re.split(r"\s+(?:AND|OR|NOT)\s+", text)[-1].strip().strip('"').strip().lower()

    everywhere = {words_of(w) for w, tag in _TAGGED.findall(translation) if tag.strip().lower() in ("all fields", "all")}
    out = []
    for words, tag in _TAGGED.findall(term):
        if tag.strip().lower() not in ("all fields", "all") and words_of(words) in everywhere:
            out.append(tag.strip())
    return list(dict.fromkeys(out))


def _messages(block) -> list[str]:
    """NCBI's ErrorList / WarningList as 'Kind: text' lines (empty kinds left out)."""
    out: list[str] = []
    if not hasattr(block, "items"):
        return out
    for kind, values in block.items():
        for v in (values if isinstance(values, list) else [values]):
            if str(v).strip():
                out.append(f"{kind}: {str(v).strip()}")
    return sorted(out)


@dataclass
class Hit:
    """One search result with the metadata esummary gives."""

    pmcid: str
    uid: str = ""
    pmid: str | None = None
    doi: str | None = None
    title: str | None = None
    journal: str | None = None
    journal_abbrev: str | None = None
    year: int | None = None
    pubdate: str | None = None
    authors: list[str] = field(default_factory=list)


def normalize_pmcid(value: str | int) -> str:
    """``"PMC123"``, ``"pmc123"``, ``"123"``, ``123`` -> ``"PMC123"``; raises on anything else."""
    s = str(value).strip()
    m = re.fullmatch(r"(?i)(?:pmc)?(\d+)(?:\.\d+)?", s)
    if not m:
        raise ValueError(f"not a PMC id: {value!r}")
    return f"PMC{int(m.group(1))}"


def _year(*dates: str | None) -> int | None:
    for d in dates:
        if d:
            m = re.search(r"\b(1[89]\d\d|20\d\d)\b", str(d))
            if m:
                return int(m.group(1))
    return None


def _str(v) -> str | None:
    if v is None:
        return None
    s = str(v).strip()
    return s or None


class Entrez:
    """A small E-utilities client for db=pmc."""

    def __init__(self, http: Http, limiter: TokenBucket, base_url: str = DEFAULT_EUTILS_URL,
                 email: str | None = None, tool: str = "medvl", api_key: str | None = None):
        self.http = http
        self.limiter = limiter
        self.base_url = base_url.rstrip("/")
        self.email = email
        self.tool = tool
        self.api_key = api_key
        self.count: int | None = None
        self.query_translation: str | None = None

    # ------------------------------------------------------------ plumbing
    def _params(self, **kw) -> dict:
        params = {k: v for k, v in kw.items() if v is not None}
        params["tool"] = self.tool
        if self.email:
            params["email"] = self.email
        if self.api_key:
            params["api_key"] = self.api_key
        return params

    def _get(self, cgi: str, **params) -> bytes:
        url = f"{self.base_url}/{cgi}.fcgi"
        body, _ = self.http.get_bytes(url, params=self._params(**params), limiter=self.limiter)
        return body

    @staticmethod
    def _read(body: bytes, what: str, ignore_errors: bool = False):
        from Bio import Entrez as BioEntrez  # Biopython: parse against NCBI's DTDs

        try:
            # validate=False: an element NCBI adds later must not break the search;
            # ignore_errors: <ERROR> elements come back as ErrorElement items (esummary: one bad record)
            return BioEntrez.read(io.BytesIO(body), validate=False, ignore_errors=ignore_errors)
        except RuntimeError as exc:  # <ERROR> element in the reply
            raise EntrezError(f"{what}: E-utilities reported an error: {exc}") from exc
        except Exception as exc:  # NotXMLError, CorruptedXMLError, ValidationError, ExpatError
            snippet = body[:120].decode("utf-8", "replace").replace("\n", " ")
            raise EntrezError(f"{what}: the reply is not valid E-utilities XML "
                              f"({type(exc).__name__}: {exc}); it starts with {snippet!r}") from exc

    # ------------------------------------------------------------ esearch / esummary
    def esearch(self, term: str) -> tuple[int, str, str]:
        """Run the search on the history server; return (count, WebEnv, query_key).

        NCBI's ErrorList and WarningList are kept in `self.messages` (``FieldNotFound: tiab``,
        ``QuotedPhraseNotFound: "x"`` ...) with the QueryTranslation; a field PMC does not know fails the
        search (PMC would search those words in All Fields, silently broadening it)."""
        rec = self._read(self._get("esearch", db="pmc", term=term, usehistory="y", retmax=0),
                         f"esearch {term!r}")
        self.query_translation = _str(rec.get("QueryTranslation")) if hasattr(rec, "get") else None
        self.errors = _messages(rec.get("ErrorList") if hasattr(rec, "get") else None)
        self.warnings = _messages(rec.get("WarningList") if hasattr(rec, "get") else None)
        unknown = [m.split(": ", 1)[1] for m in self.errors if m.startswith("FieldNotFound: ")]
        unknown = unknown or broadened_tags(term, self.query_translation)  # the same, said only by the translation
        if unknown:
            raise EntrezError(f"esearch {term!r}: PMC does not know the search field(s) "
                              f"{', '.join(repr(u) for u in unknown)} (it would search those words in All Fields; "
                              f"translation: {self.query_translation!r}); use documented PMC fields such as "
                              f"[ti], [ab], [mh], [au], [filter]", reason="field_not_found")
        try:
            count = int(rec["Count"])
            webenv, qk = str(rec["WebEnv"]), str(rec["QueryKey"])
        except (KeyError, TypeError, ValueError) as exc:
            raise EntrezError(f"esearch {term!r}: reply lacks Count/WebEnv/QueryKey ({exc}); "
                              f"errors: {'; '.join(self.errors) or 'none'}") from exc
        self.count = count
        return count, webenv, qk

    @property
    def messages(self) -> list[str]:
        """NCBI's errors and warnings of the last esearch, as 'Kind: text'."""
        return [*getattr(self, "errors", []), *getattr(self, "warnings", [])]

    def esummary_page(self, *, webenv: str | None = None, query_key: str | None = None,
                      retstart: int = 0, retmax: int = 100,
                      ids: list[str] | None = None) -> tuple[list[Hit], list[tuple[str | None, str]]]:
        """(hits, errors): an ``<ERROR>`` for one record (``UID=123: cannot get document summary``, a
        withdrawn or invalid id) is an error (PMCID, NCBI's message) and the other records still count; an
        error that names no record (``Unable to obtain query #1``: the history server lost the search)
        comes back with PMCID None."""
        if ids is not None:
            body = self._get("esummary", db="pmc", id=",".join(i.removeprefix("PMC") for i in ids))
            what = f"esummary of {len(ids)} ids"
        else:
            body = self._get("esummary", db="pmc", query_key=query_key, WebEnv=webenv,
                             retstart=retstart, retmax=retmax)
            what = f"esummary retstart={retstart}"
        recs = self._read(body, what, ignore_errors=True)
        if recs is None:  # Biopython: the whole reply was one <ERROR>
            return [], [(None, "E-utilities reported an error with no message")]
        hits, errors = [], []
        for r in (recs if isinstance(recs, list) else [recs]):
            if isinstance(r, str):  # Bio.Entrez ErrorElement (a str subclass)
                m = re.search(r"(?i)\buid\s*=\s*(\d+)", r)
                errors.append((normalize_pmcid(m.group(1)) if m else None, str(r).strip()))
            else:
                hits.append(self._hit(r))
        return hits, errors

    def esummary(self, *, webenv: str | None = None, query_key: str | None = None,
                 retstart: int = 0, retmax: int = 100, ids: list[str] | None = None) -> list[Hit]:
        """The hits of one page; raises EntrezError on an error that names no record."""
        hits, errors = self.esummary_page(webenv=webenv, query_key=query_key, retstart=retstart, retmax=retmax,
                                          ids=ids)
        general = [msg for pmcid, msg in errors if pmcid is None]
        if general:
            what = f"esummary of {len(ids)} ids" if ids is not None else f"esummary retstart={retstart}"
            raise EntrezError(f"{what}: E-utilities reported an error: {general[0]}")
        return hits

    @staticmethod
    def _hit(rec) -> Hit:
        uid = _str(rec.get("Id")) or ""
        ids = rec.get("ArticleIds") or {}
        get = ids.get if hasattr(ids, "get") else (lambda k: None)
        pmcid_raw = _str(get("pmcid")) or uid
        try:  # "PMC123", or "pmc-id: PMC123;" in some esummary versions
            pmcid = normalize_pmcid(re.sub(r"(?i)^pmc-id:\s*", "", pmcid_raw).split(";")[0])
        except ValueError:
            pmcid = normalize_pmcid(uid)  # db=pmc uids are the PMCID's digits
        pmid = _str(get("pmid"))
        if pmid in ("0", ""):
            pmid = None
        return Hit(
            pmcid=pmcid, uid=uid, pmid=pmid,
            doi=_str(rec.get("DOI")) or _str(get("doi")),
            title=_str(rec.get("Title")),
            journal=_str(rec.get("FullJournalName")) or _str(rec.get("Source")),
            journal_abbrev=_str(rec.get("Source")),
            year=_year(rec.get("PubDate"), rec.get("EPubDate"), rec.get("SO")),
            pubdate=_str(rec.get("PubDate")) or _str(rec.get("EPubDate")),
            authors=[str(a) for a in (rec.get("AuthorList") or [])][:50],
        )

    def search(self, term: str, max_results: int | None = None, page_size: int = 100,
               on_count: Callable[[int, int], None] | None = None,
               on_error: Callable[[str, str], None] | None = None,
               max_researches: int = MAX_RESEARCHES) -> Iterator[Hit]:
        """Yield hits of `term` in NCBI's order, paging through the history server.

        `on_count(count, total)` is called once the search is stored (count: all hits;
        total: what will be yielded, after `max_results`).  A record NCBI answers with an ``<ERROR>``
        is skipped and reported to `on_error(pmcid, message)`; the rest of its page counts.  When the
        history server has lost the search (a WebEnv expires after hours of lazy paging), the search is
        run again and paging resumes where it was (at most `max_researches` times).
        """
        count, webenv, qk = self.esearch(term)
        total = count if max_results is None else min(count, max_results)
        if on_count is not None:
            on_count(count, total)
        page_size = max(1, min(page_size, ESUMMARY_MAX))
        start = researched = 0
        while start < total:
            n = min(page_size, total - start)
            hits, errors = self.esummary_page(webenv=webenv, query_key=qk, retstart=start, retmax=n)
            general = [msg for pmcid, msg in errors if pmcid is None]
            if general:
                if researched >= max_researches or not _HISTORY_LOST.search(general[0]):
                    raise EntrezError(f"esummary retstart={start}: E-utilities reported an error: {general[0]}"
                                      + (f" (the search was run again {researched} time(s))" if researched else ""))
                researched += 1
                self.researches = researched
                count, webenv, qk = self.esearch(term)  # the history server lost it: store it again
                total = count if max_results is None else min(count, max_results)
                continue
            for pmcid, msg in errors:
                if on_error is not None:
                    on_error(pmcid, msg)  # type: ignore[arg-type]
            yield from hits[:n]
            start += n  # by what was asked: a record without a summary must not shift the next page

    def summaries(self, pmcids: list[str], batch: int = 200,
                  on_error: Callable[[str, str], None] | None = None) -> Iterator[Hit]:
        """Metadata of known PMC ids (in batches, by id).  An id NCBI answers with an ``<ERROR>``
        (withdrawn, invalid) is reported to `on_error(pmcid, message)` and not yielded."""
        for i in range(0, len(pmcids), batch):
            chunk = pmcids[i:i + batch]
            hits, errors = self.esummary_page(ids=chunk)
            general = [msg for pmcid, msg in errors if pmcid is None]
            if general:
                raise EntrezError(f"esummary of {len(chunk)} ids: E-utilities reported an error: {general[0]}")
            got = {h.pmcid: h for h in hits}
            bad = {pmcid: msg for pmcid, msg in errors}
            for p in chunk:
                if p in bad and p not in got:
                    if on_error is not None:
                        on_error(p, bad[p])
                    continue
                yield got.get(p) or Hit(pmcid=p)
