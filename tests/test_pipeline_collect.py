"""`medvl run` with a collect stage: collect -> parse -> split -> align against tests/helpers/fake_pmc.py, a real
HTTP server on 127.0.0.1 playing E-utilities, the PMC cloud bucket and Europe PMC.

The served PDFs are synthetic papers (real compound figures) and their JATS XML carries the same
captions.  Checks: the papers land in RUN_DIR/papers, parse reads them from there and every figure row
carries the license of the collected metadata (also for a paper whose XML has no license), the paper
whose license is not allowed is a reject of the run, and a rerun fetches nothing and redoes nothing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from xml.sax.saxutils import escape

import pytest

from tests.helpers.fake_pmc import FakeArticle, FakePMC

REPO = Path(__file__).resolve().parent.parent


def rows(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()] if path.exists() else []


def jats_with_figures(article: FakeArticle, figures: list[dict]) -> bytes:
    """The article's generated JATS with its single stock figure replaced by the synthetic paper's."""
    xml = article.xml.decode("utf-8")
    figs = "".join(f'<fig id="f{f["number"]}"><label>{escape(f["label"])}</label><caption><p>'
                   f'{escape(f["caption"][len(f["label"]) + 2:])}</p></caption></fig>' for f in figures)
    start, end = xml.index("<body>"), xml.index("</body>")
    return (xml[:start] + "<body>" + figs + xml[end:]).encode("utf-8")


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    from medvl.synth import generate_corpus, load_ground_truth

    corpus = generate_corpus(tmp_path_factory.mktemp("synth") / "c", papers=3, seed=4, dpi=72)
    gt = load_ground_truth(corpus)["papers"]
    specs = [("PMC7000001", "CC BY", "same"), ("PMC7000002", "CC0", None),  # no license in its XML
             ("PMC7000003", "CC BY-NC", "same")]  # not among the default allowed licenses
    arts = []
    for (pmcid, lic, jats_lic), paper in zip(specs, gt):
        a = FakeArticle(pmcid, license_code=lic, jats_license=jats_lic, title=paper["title"],
                        pdf=(corpus / paper["file"]).read_bytes())
        a.xml = jats_with_figures(a, paper["figures"])
        arts.append((a, paper))
    return arts


def medvl(*args, env) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", "from medvl.cli import main; main()", *map(str, args)],
                          capture_output=True, text=True, cwd=REPO, env=env, timeout=300)


@pytest.mark.slow
def test_run_collect_parse_split_align_then_rerun(served, tmp_path):
    arts = [a for a, _ in served]
    run_dir = tmp_path / "run"
    cfg = tmp_path / "collect.yaml"
    with FakePMC(arts) as srv:
        urls = srv.settings()
        # the service URLs come from the environment (as for a mirror); the rest from the config
        env = {**os.environ, "MEDVL_EUTILS_URL": urls["eutils_url"], "MEDVL_PMC_URL": urls["pmc_url"],
               "MEDVL_EUROPEPMC_URL": urls["europepmc_url"], "MEDVL_EUROPEPMC_PDF_URL": urls["europepmc_pdf_url"],
               "MEDVL_EMAIL": "test@example.org"}
        cfg.write_text(f"""
name: collected
out: {run_dir}
executor: {{kind: local, workers: 2}}
stages:
  collect: {{query: "brain MRI", max: 10, workers: 2, retries: 0, eutils_rate: 200, pmc_rate: 200,
             europepmc_rate: 200}}
  parse: {{dpi: 72, ocr: never}}
  split: {{splitter: rules}}
  align: {{}}
""")
        first = medvl("run", cfg, "-q", env=env)
        assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
        n_requests = len(srv.log)
        assert srv.requests_to("/eutils/esearch")[0].query["term"] == "brain MRI"

        # -- collected into the run directory
        papers = run_dir / "papers"
        for a in arts[:2]:
            assert (papers / a.pmcid / "fulltext.pdf").read_bytes() == a.pdf
            assert (papers / a.pmcid / "fulltext.xml").read_bytes() == a.xml
        assert not (papers / arts[2].pmcid).exists()
        manifest = json.loads((run_dir / "run.json").read_text())
        stages = manifest["pipeline"]["stages"]
        assert stages["collect"]["outputs"]["papers"] == "papers"
        assert "eutils_url" not in json.dumps(manifest["pipeline"]["config"])  # from the environment only
        for name in ("collect", "parse", "split", "align"):
            assert stages[name]["state"] == "done", (name, stages[name])

        # -- parsed from there: figures carry the collected license
        figs = rows(run_dir / "figures.jsonl")
        by_source: dict[str, list[dict]] = {}
        for f in figs:
            by_source.setdefault(Path(f["source"]).parent.name, []).append(f)
        assert sorted(by_source) == [arts[0].pmcid, arts[1].pmcid]
        want = {arts[0].pmcid: "CC-BY-4.0", arts[1].pmcid: "CC0-1.0"}
        for pmcid, (a, paper) in zip(want, served):
            got = by_source[pmcid]
            assert len(got) == len(paper["figures"]) and all(f["license"] == want[pmcid] for f in got), \
                [(f["figure_id"], f["license"]) for f in got]
            assert sorted(f["caption"] for f in got) == sorted(g["caption"] for g in paper["figures"])
        pairs = rows(run_dir / "pairs.jsonl")
        assert rows(run_dir / "subcaptions.jsonl") and pairs
        assert {p["license"] for p in pairs} == {"CC-BY-4.0", "CC0-1.0"}

        # -- the paper whose license is not allowed is a reject of the run, with its reason
        rejects = rows(run_dir / "rejects.jsonl")
        lic = [r for r in rejects if r["stage"] == "collect"]
        assert [(r["id"], r["reason"]) for r in lic] == [(arts[2].pmcid, "license_not_allowed")]
        from medvl.pipeline import run_status

        status = {r["stage"]: r for r in run_status(run_dir)}
        assert status["collect"]["rejects"] == 1 and status["collect"]["reasons"] == {"license_not_allowed": 1}
        assert status["parse"]["done"] == status["parse"]["planned"] == 2

        # -- a rerun skips everything: no request to the server, no shard redone
        second = medvl("run", cfg, "-q", env=env)
        assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
        assert len(srv.log) == n_requests
        again = json.loads((run_dir / "run.json").read_text())["pipeline"]["stages"]
        for name in ("collect", "parse", "split", "align"):
            assert again[name]["state"] == "done" and again[name]["ran"] == 0, (name, again[name])
        assert rows(run_dir / "figures.jsonl") == figs
