"""`medvl collect` and what NCBI's E-utilities really answer (issue 13, cases 9-11), against tests/fake_pmc.py.

Before: one withdrawn or invalid id made esummary's ``<ERROR>`` abort the whole run (Bio.Entrez raises
unless ignore_errors); esearch's ErrorList/WarningList were ignored and the translation written nowhere,
so a saved query with a tag PMC does not know ([tiab], [pt]) silently searched All Fields; the saved
queries did not exclude embargoed articles; an expired WebEnv ended the search.
After: each case below.  The replies are shaped as NCBI documents them; the README names the three
live requests that confirm them.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from medvl.cli import app
from medvl.collect.collector import CollectSettings, collect
from medvl.collect.entrez import EntrezError
from tests.helpers.fake_pmc import PMC_FIELDS, FakePMC, articles


def rows(d: Path) -> list[dict]:
    p = d / "manifest.jsonl"
    return [json.loads(x) for x in p.read_text().splitlines() if x.strip()] if p.exists() else []


def search_row(d: Path) -> dict:
    (row,) = [r for r in rows(d) if r["kind"] == "search"]
    return row


def cli(srv: FakePMC, out: Path, *args: str):
    base = srv.settings()
    return CliRunner().invoke(app, ["collect", *args, "--out", str(out), "--email", "me@example.org",
                                    "--eutils-url", base["eutils_url"], "--pmc-url", base["pmc_url"],
                                    "--europepmc-url", base["europepmc_url"],
                                    "--europepmc-pdf-url", base["europepmc_pdf_url"], "--workers", "2",
                                    "--retries", "1"], env={"MEDVL_EUTILS_URL": ""})


def said(result) -> str:
    return " ".join(result.output.split())


def test_esummary_errors_skip_only_the_bad_records(tmp_path):
    arts = articles(5)
    bad = arts[2].pmcid
    with FakePMC(arts, bad_ids={bad}) as srv:
        r = cli(srv, tmp_path / "ids", "--ids", ",".join(a.pmcid for a in arts))  # one bad id in --ids
        assert r.exit_code == 0, r.output
        assert "1 record(s) NCBI could not summarise" in said(r)
        s = collect(CollectSettings(**srv.settings(query="brain", page_size=2)), tmp_path / "search")
    for out in (tmp_path / "ids", tmp_path / "search"):
        got = {r["pmcid"] for r in rows(out) if r["kind"] == "pdf" and r["status"] == "ok"}
        assert got == {a.pmcid for a in arts} - {bad}  # the rest of the run (and of the page) goes on
        (row,) = [r for r in rows(out) if r["pmcid"] == bad]
        assert (row["kind"], row["status"], row["reason"]) == ("paper", "failed", "esummary_error")
        assert f"UID={bad[3:]}: cannot get document summary" in row["detail"]  # NCBI's own words
        assert not (out / bad).exists()
    assert s.esummary_errors == 1 and s.downloaded == 4


def test_an_unknown_field_fails_the_search_with_a_clear_message(tmp_path):
    with FakePMC(articles(2)) as srv:
        r = cli(srv, tmp_path, "--query", "glioma[tiab] AND open access[filter]")
        assert srv.requests_to("/eutils/esummary") == [] and srv.requests_to("/pmc/") == []
    assert r.exit_code != 0 and isinstance(r.exception, EntrezError)
    msg = str(r.exception)
    assert "PMC does not know the search field(s) 'tiab'" in msg and "[All Fields]" in msg and "[ti], [ab]" in msg
    row = search_row(tmp_path)  # recorded with the query translation
    assert (row["status"], row["reason"]) == ("failed", "field_not_found")
    assert row["query"] == "glioma[tiab] AND open access[filter]"
    assert row["query_translation"] == "glioma[All Fields] AND open access[filter]"
    assert row["messages"] == ["FieldNotFound: tiab"]


def test_an_unknown_field_seen_only_in_the_translation_fails_too(tmp_path):
    """Should PMC map the tag to All Fields without an ErrorList, the translation gives it away."""
    from medvl.collect.entrez import broadened_tags

    assert broadened_tags('"case reports"[pt] AND MRI[ti]', '"case reports"[All Fields] AND MRI[Title]') == ["pt"]
    assert broadened_tags("MRI[ti] AND brain", "MRI[Title] AND brain[All Fields]") == []  # untagged words
    assert broadened_tags("CT[ti] OR glioma[tiab]", "CT[Title] OR glioma[All Fields]") == ["tiab"]
    with FakePMC(articles(2), field_errors=False) as srv:
        with pytest.raises(EntrezError, match="PMC does not know the search field.*'pt'"):
            collect(CollectSettings(**srv.settings(query='"case reports"[pt] AND MRI[ti]')), tmp_path)
    assert search_row(tmp_path)["reason"] == "field_not_found"


def test_errors_and_warnings_are_shown_and_recorded_with_the_translation(tmp_path):
    term = '"cerebral sinus thrombosis"[ti] AND open access[filter]'
    with FakePMC(articles(2), phrases_not_found={term: ["sinusx"]},
                 warnings={term: [("QuotedPhraseNotFound", '"cerebral sinus thrombosis"'),
                                  ("OutputMessage", "No items found.")]}) as srv:
        r = cli(srv, tmp_path, "--query", term)
    assert r.exit_code == 0, r.output
    out = said(r)
    assert "NCBI: QuotedPhraseNotFound: \"cerebral sinus thrombosis\"" in out
    assert "NCBI: PhraseNotFound: sinusx" in out and "NCBI read the term as" in out
    row = search_row(tmp_path)
    assert (row["status"], row["reason"], row["count"]) == ("ok", "search_warnings", 2)
    assert row["query_translation"] == term
    assert row["messages"] == ["PhraseNotFound: sinusx", "OutputMessage: No items found.",  # errors, warnings
                               'QuotedPhraseNotFound: "cerebral sinus thrombosis"']


def test_an_expired_webenv_reruns_the_search_and_resumes(tmp_path):
    arts = articles(7)
    with FakePMC(arts, expire_history_after=2) as srv:  # the history server forgets after 2 pages
        s = collect(CollectSettings(**srv.settings(query="brain", page_size=2)), tmp_path)
        searches = len(srv.requests_to("/eutils/esearch"))
        pages = [int(x.query["retstart"]) for x in srv.requests_to("/eutils/esummary")]
    assert s.researches == 1 and searches == 2
    assert pages == [0, 2, 4, 4, 6]  # the lost page is asked again after the new search, then on
    got = sorted(x["pmcid"] for x in rows(tmp_path) if x["kind"] == "pdf" and x["status"] == "ok")
    assert got == sorted(a.pmcid for a in arts)
    assert [x for x in rows(tmp_path) if x["status"] == "duplicate"] == []
    assert "the history server lost the search, run again 1 time(s)" in search_row(tmp_path)["detail"]


def test_a_429_without_retry_after_is_retried_with_backoff(tmp_path):
    with FakePMC(articles(2)) as srv:
        srv.fault("/eutils/esearch.fcgi", "429", times=1)  # no Retry-After header
        r = cli(srv, tmp_path, "--query", "brain")
        statuses = [x.status for x in srv.requests_to("/eutils/esearch")]
    assert r.exit_code == 0, r.output
    assert statuses == [429, 200]
    assert len([x for x in rows(tmp_path) if x["kind"] == "pdf" and x["status"] == "ok"]) == 2


def test_saved_queries_use_documented_fields_and_exclude_embargoed_articles(tmp_path):
    from medvl.collect.queries import all_saved

    saved = all_saved()
    assert saved
    for name, q in saved.items():
        tags = {t.strip().lower() for t in re.findall(r"\[([^\]]+)\]", q.term)}
        assert tags <= PMC_FIELDS, (name, tags - PMC_FIELDS)  # no [tiab], no [pt]
        assert q.term.rstrip().endswith("NOT pmc embargo[filter]"), name
    with FakePMC(articles(1)) as srv:  # the fake's ErrorList agrees: every saved query runs
        for name in saved:
            s = collect(CollectSettings(**srv.settings(saved=name)), tmp_path / name)
            assert s.search_messages == [] and s.found == 1, name
