"""`medvl collect` against a real local HTTP server (tests/helpers/fake_pmc.py) that plays E-utilities,
PMC's cloud bucket and Europe PMC: paging, metadata, versions, licenses, fallbacks, every fault,
the rate limit measured at the server, resume after an interruption, the CLI."""

from __future__ import annotations

import hashlib
import json
import statistics
from pathlib import Path

import pytest

from tests.helpers.fake_pmc import FakeArticle, FakePMC, articles

from medvl.collect.collector import CollectSettings, collect
from medvl.collect.entrez import EntrezError
from medvl.collect.manifest import license_for, paper_metadata
from medvl.errors import MedvlError


def rows(d: Path, name: str = "manifest.jsonl") -> list[dict]:
    p = d / name
    return [json.loads(line) for line in p.read_text().splitlines() if line.strip()] if p.exists() else []


def by_key(d: Path) -> dict[tuple[str, str], dict]:
    return {(r["pmcid"], r["kind"]): r for r in rows(d)}


def temp_files(d: Path) -> list[Path]:
    return [p for p in d.rglob("*.tmp")]


def run(srv: FakePMC, out: Path, **kw):
    q = {} if ("ids" in kw or "saved" in kw) else {"query": "brain"}
    return collect(CollectSettings(**srv.settings(**{**q, **kw})), out)


# ---------------------------------------------------------------- the happy path

def test_collects_papers_paging_the_history_server(tmp_path):
    arts = articles(7)
    with FakePMC(arts) as srv:
        summary = run(srv, tmp_path, page_size=3)
        eutils = srv.requests_to("/eutils/")
    assert (summary.count, summary.found, summary.downloaded, summary.failed) == (7, 7, 7, 0)
    # one esearch on the history server, then esummary pages of 3 via WebEnv/query_key
    assert [r.path for r in eutils] == ["/eutils/esearch.fcgi"] + ["/eutils/esummary.fcgi"] * 3
    assert eutils[0].query["usehistory"] == "y" and eutils[0].query["db"] == "pmc"
    pages = [(r.query["retstart"], r.query["retmax"]) for r in eutils[1:]]
    assert pages == [("0", "3"), ("3", "3"), ("6", "1")]
    assert {r.query["WebEnv"] for r in eutils[1:]} == {"MCID_fake0001"}
    assert all(r.query["query_key"] == "1" for r in eutils[1:])
    # NCBI asks for tool and email on every request
    assert all(r.query.get("tool") == "medvl" and r.query.get("email") == "test@example.org" for r in eutils)

    import pymupdf

    for a in arts:
        pdf, xml = tmp_path / a.pmcid / "fulltext.pdf", tmp_path / a.pmcid / "fulltext.xml"
        assert pdf.read_bytes() == a.pdf and xml.read_bytes() == a.xml
        with pymupdf.open(pdf) as doc:
            assert doc.page_count == 1
    man = by_key(tmp_path)
    r = man[(arts[0].pmcid, "pdf")]
    assert r["status"] == "ok" and r["source"] == "pmc-cloud"
    assert r["sha256"] == hashlib.sha256(arts[0].pdf).hexdigest() and r["size"] == len(arts[0].pdf)
    assert r["url"].endswith(f"/pmc/{arts[0].pmcid}.1/{arts[0].pmcid}.1.pdf")
    assert r["license"] == "CC-BY-4.0" and r["retrieved_at"] and r["provenance"]["stage"] == "collect"
    assert r["pmid"] == arts[0].pmid and r["doi"] == arts[0].doi
    meta = {m["pmcid"]: m for m in rows(tmp_path, "metadata.jsonl")}
    m = meta[arts[0].pmcid]
    assert (m["pmid"], m["doi"], m["title"], m["journal"], m["year"]) == (
        arts[0].pmid, arts[0].doi, arts[0].title, arts[0].journal, 2021)
    assert m["article_type"] == "case-report" and m["license"] == "CC-BY-4.0"
    assert m["license_source"] == "pmc-cloud-metadata"
    assert m["files"] == {"pdf": f"{arts[0].pmcid}/fulltext.pdf", "xml": f"{arts[0].pmcid}/fulltext.xml"}
    assert rows(tmp_path, "rejects.jsonl") == []
    assert json.loads((tmp_path / "run.json").read_text())["stages"]["collect"]["settings"]["query"] == "brain"


def test_max_limits_the_hits(tmp_path):
    with FakePMC(articles(7)) as srv:
        summary = run(srv, tmp_path, max=4, page_size=3)
        pages = [(r.query["retstart"], r.query["retmax"]) for r in srv.requests_to("/eutils/esummary")]
    assert (summary.count, summary.found, summary.downloaded) == (7, 4, 4)
    assert pages == [("0", "3"), ("3", "1")]
    assert sorted(p.name for p in tmp_path.glob("PMC*")) == [f"PMC{1000001 + i}" for i in range(4)]


def test_takes_the_latest_version_numerically(tmp_path):
    a = FakeArticle("PMC1000001", versions=10)
    with FakePMC([a]) as srv:
        run(srv, tmp_path)
    assert (tmp_path / a.pmcid / "fulltext.pdf").read_bytes() == a.pdf  # not version 9 or 2
    r = by_key(tmp_path)[(a.pmcid, "pdf")]
    assert r["pmc_version"] == 10 and "/PMC1000001.10/" in r["url"]


def test_saved_query_and_explicit_ids(tmp_path, monkeypatch):
    from medvl.collect.queries import load_saved

    arts = articles(3)
    saved = load_saved("brain-mri-ct-case-reports")
    with FakePMC(arts, results={saved.term: [arts[1].pmcid]}) as srv:
        monkeypatch.chdir(tmp_path)
        s1 = run(srv, tmp_path / "a", saved="brain-mri-ct-case-reports")
        sent = srv.requests_to("/eutils/esearch")[0].query["term"]
        s2 = run(srv, tmp_path / "b", ids=f"{arts[0].pmcid},{arts[2].pmcid[3:]}")
    assert sent == saved.term and "open access[filter]" in sent
    assert (s1.found, s1.downloaded) == (1, 1) and (tmp_path / "a" / arts[1].pmcid / "fulltext.pdf").exists()
    assert (s2.found, s2.downloaded) == (2, 2)
    assert {p.name for p in (tmp_path / "b").glob("PMC*")} == {arts[0].pmcid, arts[2].pmcid}


# ---------------------------------------------------------------- licenses

def license_world() -> list[FakeArticle]:
    return [
        FakeArticle("PMC1000001", license_code="CC BY"),
        FakeArticle("PMC1000002", license_code="CC0"),
        FakeArticle("PMC1000003", license_code="CC BY-NC"),
        FakeArticle("PMC1000004", license_code="CC BY-NC-ND"),
        FakeArticle("PMC1000005", license_code="TDM", jats_license=None),
        # no license_code in the bucket: read from the XML
        FakeArticle("PMC1000006", license_code=None, jats_license="https://creativecommons.org/licenses/by/4.0/"),
        FakeArticle("PMC1000007", license_code=None, jats_license=None),  # none anywhere
        FakeArticle("PMC1000008", license_code=None, jats_license=None, in_bucket=False,
                    jats_license_text="Distributed under the Creative Commons Attribution-NonCommercial License."),
    ]


def test_license_filter_default_then_wider_then_narrower_again(tmp_path):
    with FakePMC(license_world()) as srv:
        s = run(srv, tmp_path)
        man = by_key(tmp_path)
        kept = sorted(p.name for p in tmp_path.glob("PMC*") if (p / "fulltext.pdf").exists())
        assert kept == ["PMC1000001", "PMC1000002", "PMC1000006"]
        assert (s.downloaded, s.rejected) == (3, 5)
        assert man[("PMC1000002", "pdf")]["license"] == "CC0-1.0"
        assert man[("PMC1000006", "pdf")]["license"] == "CC-BY-4.0"
        assert paper_metadata(tmp_path / "PMC1000006")["license_source"] == "jats"
        for pmcid, reason in [("PMC1000003", "license_not_allowed"), ("PMC1000004", "license_not_allowed"),
                              ("PMC1000005", "license_not_allowed"), ("PMC1000007", "license_unknown"),
                              ("PMC1000008", "license_not_allowed")]:
            r = man[(pmcid, "paper")]
            assert (r["status"], r["reason"]) == ("rejected", reason), pmcid
            assert not (tmp_path / pmcid / "fulltext.pdf").exists()
        assert man[("PMC1000008", "paper")]["license"] == "CC-BY-NC"
        # no PDF was even requested for a paper whose bucket license is not allowed
        assert not [r for r in srv.requests_to("/pmc/PMC1000003.1/") if r.path.endswith(".pdf")]
        rejects = {r["id"]: r for r in rows(tmp_path, "rejects.jsonl")}
        assert rejects["PMC1000003"]["reason"] == "license_not_allowed" and rejects["PMC1000003"]["stage"] == "collect"
        assert "--license" in rejects["PMC1000003"]["detail"]

        # a wider filter reconsiders the rejected papers (a rejection holds only for its filter)
        s2 = run(srv, tmp_path, licenses="all")
        assert (s2.skipped, s2.downloaded, s2.rejected) == (3, 5, 0)
        assert (tmp_path / "PMC1000003" / "fulltext.pdf").exists()
        assert license_for(tmp_path / "PMC1000004" / "fulltext.pdf") == "CC-BY-NC-ND-4.0"
        assert license_for(tmp_path / "PMC1000007" / "fulltext.pdf") == "unknown"

        # narrowing again removes what the narrower filter does not allow
        run(srv, tmp_path, licenses="cc-by,cc0")
        kept = sorted(p.name for p in tmp_path.glob("PMC*") if (p / "fulltext.pdf").exists())
        assert kept == ["PMC1000001", "PMC1000002", "PMC1000006"]
        assert sorted(m["pmcid"] for m in rows(tmp_path, "metadata.jsonl")) == kept


def test_retracted_papers_are_rejected(tmp_path):
    with FakePMC([FakeArticle("PMC1000001", retracted=True), FakeArticle("PMC1000002")]) as srv:
        s = run(srv, tmp_path)
    assert (s.downloaded, s.rejected) == (1, 1)
    assert by_key(tmp_path)[("PMC1000001", "paper")]["reason"] == "retracted"


def test_formats(tmp_path):
    arts = [FakeArticle("PMC1000001"),
            FakeArticle("PMC1000002", license_code=None, jats_license="https://creativecommons.org/licenses/by/4.0/")]
    with FakePMC(arts) as srv:
        run(srv, tmp_path / "xml", formats="xml")
        assert not [r for r in srv.log if r.path.endswith(".pdf") or r.path == "/epmc/render"]
        run(srv, tmp_path / "pdf", formats="pdf")
    assert sorted(p.name for p in (tmp_path / "xml").rglob("fulltext.*")) == ["fulltext.xml"] * 2
    # PDF only: the XML of the paper without a license code was read for its license, not kept
    assert sorted(p.name for p in (tmp_path / "pdf").rglob("fulltext.*")) == ["fulltext.pdf"] * 2
    assert license_for(tmp_path / "pdf" / "PMC1000002") == "CC-BY-4.0"
    assert {r["kind"] for r in rows(tmp_path / "pdf")} == {"pdf", "search"}


# ---------------------------------------------------------------- sources and faults

def test_falls_back_to_europe_pmc(tmp_path):
    arts = [FakeArticle("PMC1000001", in_bucket=False), FakeArticle("PMC1000002", bucket_pdf=False)]
    with FakePMC(arts) as srv:
        s = run(srv, tmp_path)
    man = by_key(tmp_path)
    assert s.downloaded == 2
    assert (man[("PMC1000001", "pdf")]["source"], man[("PMC1000001", "xml")]["source"]) == ("europepmc", "europepmc")
    assert (man[("PMC1000002", "pdf")]["source"], man[("PMC1000002", "xml")]["source"]) == ("europepmc", "pmc-cloud")
    assert man[("PMC1000002", "pdf")]["attempts"][0]["reason"] == "no_pdf_in_bucket"
    assert (tmp_path / "PMC1000001" / "fulltext.pdf").read_bytes() == arts[0].pdf


PDF_FAULTS = [
    # fault kind, extra, expected reason
    ("html", {}, "not_pdf"),
    ("truncate", {}, "truncated"),
    ("no_eof", {}, "truncated_pdf"),
    ("404", {}, "http_404"),
    ("500", {}, "http_500"),
    ("slow", {"delay": 2.5}, "timeout"),
]


@pytest.mark.parametrize("kind,extra,reason", PDF_FAULTS, ids=[f[0] for f in PDF_FAULTS])
def test_pdf_faults_become_manifest_rows_and_a_rerun_finishes(tmp_path, kind, extra, reason):
    a, b = FakeArticle("PMC1000001"), FakeArticle("PMC1000002")
    with FakePMC([a, b]) as srv:
        # both sources fail the same way for paper a
        srv.fault("/pmc/PMC1000001.1/PMC1000001.1.pdf", kind, **extra)
        srv.fault("/epmc/render?accid=PMC1000001", kind, **extra)
        # a 1 s timeout (no retry) against a 2.5 s reply; the other faults keep the fast defaults
        s = run(srv, tmp_path, **({"timeout_s": 1.0, "retries": 0} if kind == "slow" else {}))
        assert (s.downloaded, s.failed) == (1, 1)
        man = by_key(tmp_path)
        r = man[("PMC1000001", "pdf")]
        assert (r["status"], r["reason"]) == ("failed", reason)
        assert [x["source"] for x in r["attempts"]] == ["pmc-cloud", "europepmc"]
        assert all(x["reason"] == reason for x in r["attempts"])
        assert "pmc-cloud:" in r["detail"] and "europepmc:" in r["detail"]
        # nothing half-written under the final name, no temp files left
        assert not (tmp_path / "PMC1000001" / "fulltext.pdf").exists()
        assert temp_files(tmp_path) == []
        # the XML of the same paper is kept; the other paper is complete
        assert man[("PMC1000001", "xml")]["status"] == "ok"
        assert (tmp_path / "PMC1000002" / "fulltext.pdf").read_bytes() == b.pdf
        assert {r["id"]: r["reason"] for r in rows(tmp_path, "rejects.jsonl")} == {"PMC1000001": reason}

        # the fault goes away: a rerun fetches only the missing PDF
        srv.faults.clear()
        before = len(srv.log)
        s2 = run(srv, tmp_path)
        again = [r.path for r in srv.log[before:] if not r.path.startswith("/eutils/")]
    assert (s2.skipped, s2.downloaded, s2.failed) == (1, 1, 0)
    assert (tmp_path / "PMC1000001" / "fulltext.pdf").read_bytes() == a.pdf
    assert by_key(tmp_path)[("PMC1000001", "xml")]["status"] == "present"
    assert not [p for p in again if "PMC1000002" in p]  # the complete paper is not touched
    assert not [p for p in again if p.endswith(".xml")]  # nor the XML already in place
    assert rows(tmp_path, "rejects.jsonl") == []


def test_a_bad_pdf_from_the_bucket_falls_back_to_europe_pmc(tmp_path):
    a = FakeArticle("PMC1000001")
    with FakePMC([a]) as srv:
        srv.fault("/pmc/PMC1000001.1/PMC1000001.1.pdf", "html")
        s = run(srv, tmp_path)
    r = by_key(tmp_path)[("PMC1000001", "pdf")]
    assert s.downloaded == 1 and r["source"] == "europepmc"
    assert r["attempts"] == [{"source": "pmc-cloud", "url": r["attempts"][0]["url"], "reason": "not_pdf",
                              "detail": r["attempts"][0]["detail"]}]
    assert "HTML page" in r["attempts"][0]["detail"]


def test_malformed_xml(tmp_path):
    a = FakeArticle("PMC1000001")
    b = FakeArticle("PMC1000002", license_code=None)  # license only in the XML
    with FakePMC([a, b]) as srv:
        for x in (a, b):
            srv.fault(f"/pmc/{x.pmcid}.1/{x.pmcid}.1.xml", "malformed")
            srv.fault(f"/epmc/rest/{x.pmcid}/fullTextXML", "malformed")
        s = run(srv, tmp_path)
        man = by_key(tmp_path)
        # a: license known from the bucket, so its PDF is fetched; the XML failed
        assert man[("PMC1000001", "xml")]["reason"] == "malformed_xml"
        assert man[("PMC1000001", "pdf")]["status"] == "ok"
        assert man[("PMC1000001", "pdf")]["attempts"] == []  # the XML's troubles are not the PDF's
        # b: without the XML the license is unknown: failed for now (not rejected), no files
        assert (man[("PMC1000002", "paper")]["status"], man[("PMC1000002", "paper")]["reason"]) == (
            "failed", "malformed_xml")
        assert not list((tmp_path / "PMC1000002").glob("fulltext.*"))
        assert s.failed == 2 and temp_files(tmp_path) == []
        assert not (tmp_path / "PMC1000001" / "fulltext.xml").exists()


def test_checksum_mismatch_is_refused(tmp_path):
    a = FakeArticle("PMC1000001")
    with FakePMC([a]) as srv:
        original = srv.metadata

        def wrong_md5(article, v):
            meta = json.loads(original(article, v))
            meta["pdf_url"] = meta["pdf_url"].split("?")[0] + "?md5=" + "0" * 32
            return json.dumps(meta).encode()

        srv.metadata = wrong_md5
        srv.fault("/epmc/render?accid=PMC1000001", "404")
        run(srv, tmp_path)
    r = by_key(tmp_path)[("PMC1000001", "pdf")]
    assert r["status"] == "failed"
    assert [x["reason"] for x in r["attempts"]] == ["checksum_mismatch", "http_404"]
    assert not (tmp_path / "PMC1000001" / "fulltext.pdf").exists() and temp_files(tmp_path) == []


def test_transient_500_and_429_with_retry_after_are_retried(tmp_path):
    a = FakeArticle("PMC1000001")
    with FakePMC([a]) as srv:
        srv.fault("/pmc/PMC1000001.1/PMC1000001.1.pdf", "500", times=1)
        srv.fault("/eutils/esearch.fcgi", "429", times=1, retry_after="0.4")
        s = run(srv, tmp_path, retries=2)
        searches = srv.requests_to("/eutils/esearch")
        pdfs = [r for r in srv.log if r.path.endswith(".pdf")]
    assert s.downloaded == 1 and s.failed == 0
    assert [r.status for r in searches] == [429, 200]
    assert searches[1].t - searches[0].t >= 0.4 * 0.95  # Retry-After honoured
    assert [r.status for r in pdfs] == [500, 200]


def test_too_many_429s_fail_the_search_with_a_clear_error(tmp_path):
    with FakePMC(articles(1)) as srv:
        srv.fault("/eutils/esearch.fcgi", "429", retry_after="0.01")
        with pytest.raises(MedvlError, match="HTTP 429.*Retry-After"):
            run(srv, tmp_path, retries=2)
        assert len(srv.requests_to("/eutils/esearch")) == 3


def test_malformed_eutils_replies_are_clear_errors(tmp_path):
    with FakePMC(articles(2)) as srv:
        srv.fault("/eutils/esearch.fcgi", "malformed")
        with pytest.raises(EntrezError, match="esearch 'brain': the reply is not valid E-utilities XML"):
            run(srv, tmp_path)
        srv.faults.clear()
        srv.fault("/eutils/esummary.fcgi", "html")
        with pytest.raises(EntrezError, match="esummary retstart=0: the reply is not valid"):
            run(srv, tmp_path)
        # an E-utilities <ERROR> (here: a history server that lost the WebEnv)
        srv.faults.clear()
        srv.esearch_orig = srv.esearch
        srv.esearch = lambda q: srv.esearch_orig(q).replace(b"MCID_fake", b"MCID_lost")
        with pytest.raises(EntrezError, match="E-utilities reported an error: Unable to obtain query #1"):
            run(srv, tmp_path)
    assert (tmp_path / "manifest.jsonl").exists()  # the run still leaves a (here empty) manifest


def test_a_search_that_breaks_off_still_fetches_what_it_found(tmp_path):
    arts = articles(5)
    with FakePMC(arts) as srv:
        srv.fault("/eutils/esummary.fcgi", "500", skip=1)  # page 2 of 3 fails for good
        with pytest.raises(MedvlError, match=r"the search failed: .*HTTP 500.*\[http_500\]"):
            run(srv, tmp_path, page_size=2, retries=0)
    assert sorted(r["pmcid"] for r in rows(tmp_path) if r["kind"] == "pdf") == [arts[0].pmcid, arts[1].pmcid]
    assert all((tmp_path / a.pmcid / "fulltext.pdf").exists() for a in arts[:2])


def test_bad_bucket_metadata_falls_back(tmp_path):
    a = FakeArticle("PMC1000001")
    with FakePMC([a]) as srv:
        srv.fault("/pmc/metadata/PMC1000001.1.json", "garbage_json")
        s = run(srv, tmp_path)
    r = by_key(tmp_path)[("PMC1000001", "pdf")]
    assert s.downloaded == 1 and r["source"] == "europepmc"
    assert r["attempts"][0]["reason"] == "malformed_metadata"
    # the license then came from the XML
    assert paper_metadata(tmp_path / "PMC1000001")["license_source"] == "jats"


def test_duplicate_ids_are_reported_once(tmp_path):
    arts = articles(2)
    with FakePMC(arts) as srv:
        s = run(srv, tmp_path, ids=[arts[0].pmcid, arts[1].pmcid, arts[0].pmcid.lower()])
        pdf_requests = [r for r in srv.log if r.path.endswith(".pdf")]
    assert (s.found, s.downloaded, s.duplicates) == (3, 2, 1)
    assert len(pdf_requests) == 2
    dups = [r for r in rows(tmp_path) if r["status"] == "duplicate"]
    assert len(dups) == 1 and dups[0]["reason"] == "duplicate_id" and dups[0]["pmcid"] == arts[0].pmcid
    assert [r["reason"] for r in rows(tmp_path, "rejects.jsonl")] == ["duplicate_id"]


# ---------------------------------------------------------------- rate limit

def test_rate_limits_are_kept_as_measured_at_the_server(tmp_path):
    rates = {"eutils": 10.0, "bucket": 20.0}
    with FakePMC(articles(4)) as srv:
        run(srv, tmp_path, page_size=1, eutils_rate=rates["eutils"], pmc_rate=rates["bucket"], workers=4)
        stamps = {"eutils": [r.t for r in srv.requests_to("/eutils/")],
                  "bucket": sorted(r.t for r in srv.requests_to("/pmc/"))}
    assert len(stamps["eutils"]) == 5  # 1 esearch + 4 pages of one
    assert len(stamps["bucket"]) == 16  # 4 workers together: listing, metadata, xml, pdf per paper
    # Without a limiter these requests arrive within ~0.1 s with ~5 ms gaps (measured on this server).
    for name, st in stamps.items():
        rate, n = rates[name], len(st)
        gaps = [b - a for a, b in zip(st, st[1:])]
        # n requests at `rate`/s span (n-1)/rate; two gaps of slack for the test server's scheduling
        assert st[-1] - st[0] >= (n - 3) / rate, (name, st[-1] - st[0])
        assert statistics.median(gaps) >= 0.5 / rate, (name, gaps)


# ---------------------------------------------------------------- interruption and resume

def test_ctrl_c_then_rerun_loses_nothing(tmp_path):
    arts = articles(6)
    with FakePMC(arts) as srv:
        # reference: one uninterrupted run
        run(srv, tmp_path / "ref", workers=2)
        ref = {(r["pmcid"], r["kind"]): (r["status"], r["sha256"]) for r in rows(tmp_path / "ref")}

        # a slow PDF is in flight when the user presses Ctrl-C after two papers are recorded
        srv.fault("/pmc/PMC1000006.1/PMC1000006.1.pdf", "slow", delay=1.0)
        seen = []

        def progress(advance=1, *, total=None, note=""):
            if advance:
                seen.append(note)
                if len(seen) == 2:
                    raise KeyboardInterrupt

        out = tmp_path / "run"
        before = len(srv.log)
        with pytest.raises(KeyboardInterrupt):
            collect(CollectSettings(**srv.settings(query="brain", workers=2)), out, progress)
        assert temp_files(out) == []
        first = {r["pmcid"] for r in rows(out)}
        assert len(first) >= 2
        for p in out.glob("PMC*"):
            for f in p.glob("fulltext.*"):  # whatever has a final name is complete
                assert f.read_bytes() in (arts[int(p.name[3:]) - 1000001].pdf, arts[int(p.name[3:]) - 1000001].xml)
        srv.faults.clear()
        mid = len(srv.log)
        s2 = collect(CollectSettings(**srv.settings(query="brain", workers=2)), out)
        second_pdfs = [r.path for r in srv.log[mid:] if r.path.endswith(".pdf")]
    assert s2.skipped >= 2 and s2.skipped + s2.downloaded == 6 and s2.failed == 0
    # papers finished before Ctrl-C were not downloaded again
    assert not [p for p in second_pdfs if any(f"/{pm}." in p for pm in first)]
    got = {(r["pmcid"], r["kind"]): (r["status"] if r["status"] != "present" else "ok", r["sha256"])
           for r in rows(out)}
    assert got == ref
    assert len(srv.log) > before


# ---------------------------------------------------------------- small pieces

def test_license_for_reads_the_paper_folder_or_metadata_jsonl(tmp_path):
    with FakePMC([FakeArticle("PMC1000001", license_code="CC0")]) as srv:
        run(srv, tmp_path)
    pdf = tmp_path / "PMC1000001" / "fulltext.pdf"
    assert license_for(pdf) == "CC0-1.0"
    assert license_for(pdf.parent) == "CC0-1.0"
    (pdf.parent / "metadata.json").unlink()  # falls back to PAPERS_DIR/metadata.jsonl
    assert license_for(pdf) == "CC0-1.0"
    stray = tmp_path / "elsewhere" / "paper.pdf"
    stray.parent.mkdir()
    stray.write_bytes(b"%PDF-1.4")
    assert license_for(stray) is None
    # a metadata.jsonl beside the files, naming them in "file" (the layout of medvl synth)
    (stray.parent / "metadata.jsonl").write_text(json.dumps({"file": "paper.pdf", "license": "CC-BY-4.0"}) + "\n")
    assert license_for(stray) == "CC-BY-4.0"
    assert license_for(stray.parent / "other.pdf") is None


def test_settings_validation_and_env(monkeypatch):
    with pytest.raises(Exception, match="exactly one of query, saved or ids"):
        CollectSettings(query="x", ids="PMC1")
    with pytest.raises(Exception, match="exactly one"):
        CollectSettings()
    with pytest.raises(Exception, match="unknown license family"):
        CollectSettings(query="x", licenses="cc-by,gpl")
    with pytest.raises(Exception, match="not a PMC id"):
        CollectSettings(ids="PMC1,doi:10.1/x")
    monkeypatch.setenv("MEDVL_EUTILS_URL", "http://mirror.example/eutils")
    monkeypatch.setenv("MEDVL_PMC_URL", "http://mirror.example/pmc")
    s = CollectSettings(query="x", api_key="secret")
    assert s.eutils_url == "http://mirror.example/eutils" and s.pmc_url == "http://mirror.example/pmc"
    assert s.redacted()["api_key"] == "***"
    assert CollectSettings(ids="pmc12, 34").ids == ["PMC12", "PMC34"]


def test_saved_queries_ship_identical_to_the_editable_file():
    from medvl.collect.queries import PACKAGED_DIR, all_saved, load_saved
    from medvl.errors import InputError

    top = Path(__file__).resolve().parents[1] / "queries" / "brain.yaml"
    assert (PACKAGED_DIR / "brain.yaml").read_text() == top.read_text()
    assert "brain-mri-ct-case-reports" in all_saved()
    q = load_saved(f"{top}:stroke-ct-mri-case-reports")
    assert "stroke" in q.term and "\n" not in q.term
    with pytest.raises(InputError, match="no saved query named 'nope'; known: brain-"):
        load_saved("nope")


def test_cli_collect(tmp_path):
    from typer.testing import CliRunner

    from medvl.cli import app

    with FakePMC(articles(2) + [FakeArticle("PMC2000001", license_code="CC BY-NC")]) as srv:
        base = srv.settings()
        args = ["collect", "--query", "brain", "--out", str(tmp_path), "--email", "me@example.org",
                "--eutils-url", base["eutils_url"], "--pmc-url", base["pmc_url"],
                "--europepmc-url", base["europepmc_url"], "--europepmc-pdf-url", base["europepmc_pdf_url"],
                "--workers", "2", "--retries", "0"]
        result = CliRunner().invoke(app, args, env={"MEDVL_EUTILS_URL": ""})
        assert result.exit_code == 0, result.output
        assert srv.requests_to("/eutils/esearch")[0].query["email"] == "me@example.org"
        summary = json.loads(result.stdout[result.stdout.index("{"):])
        assert (summary["downloaded"], summary["rejected"]) == (2, 1)
        bad = CliRunner().invoke(app, ["collect", "--query", "x", "--ids", "PMC1", "--out", str(tmp_path)])
        assert bad.exit_code != 0 and isinstance(bad.exception, MedvlError)
        assert "exactly one of query, saved or ids" in str(bad.exception)


def test_esummary_record_to_hit():
    from medvl.collect.entrez import Entrez, normalize_pmcid

    hit = Entrez._hit({"Id": "123", "ArticleIds": {"pmcid": "pmc-id: PMC123;", "pmid": "0", "doi": "10.1/x"},
                       "Title": "T", "Source": "J Abbr", "PubDate": "2019 Dec", "AuthorList": ["A B"]})
    assert (hit.pmcid, hit.pmid, hit.doi, hit.journal, hit.year) == ("PMC123", None, "10.1/x", "J Abbr", 2019)
    assert Entrez._hit({"Id": "456", "ArticleIds": {"pmcid": "garbled"}}).pmcid == "PMC456"
    assert normalize_pmcid("pmc0042.3") == "PMC42"
    with pytest.raises(ValueError):
        normalize_pmcid("10.1/x")
