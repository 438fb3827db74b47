"""`medvl collect`: search PubMed Central and download open-access papers into PAPERS_DIR."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from medvl.cli import app


@app.command("collect")
def collect_cmd(
    query: Optional[str] = typer.Option(None, "--query", "-q", help="PMC search term (PMC's search syntax)."),
    saved: Optional[str] = typer.Option(None, "--saved", "-s",
                                        help="A saved query by name (queries/*.yaml), or FILE.yaml[:NAME]."),
    ids: Optional[str] = typer.Option(None, "--ids", help="Comma-separated PMC ids instead of a search."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="PAPERS_DIR to write (reruns resume in it)."),
    max_papers: Optional[int] = typer.Option(None, "--max", "-n", min=1, help="At most this many search hits."),
    license_: str = typer.Option("cc-by,cc0,public-domain", "--license",
                                 help="Allowed license families (cc-by, cc-by-sa, cc-by-nc, cc-by-nd, "
                                      "cc-by-nc-sa, cc-by-nc-nd, cc0, public-domain, tdm, unknown) or 'all'."),
    formats: str = typer.Option("pdf,xml", "--formats", help="Files to fetch: pdf, xml or both."),
    email: Optional[str] = typer.Option(None, "--email", envvar=["MEDVL_EMAIL", "NCBI_EMAIL"],
                                        help="Your e-mail, sent to NCBI with every request (NCBI asks for it)."),
    api_key: Optional[str] = typer.Option(None, "--api-key", envvar=["MEDVL_NCBI_API_KEY", "NCBI_API_KEY"],
                                          help="NCBI API key: 10 requests/s instead of 3."),
    workers: int = typer.Option(4, "--workers", "-w", min=1, max=64, help="Parallel downloads."),
    sources: str = typer.Option("pmc-cloud,europepmc", "--sources",
                                help="Download sources to use (pmc-cloud first, then europepmc)."),
    eutils_url: Optional[str] = typer.Option(None, "--eutils-url", envvar="MEDVL_EUTILS_URL",
                                             help="E-utilities base URL (a mirror or a test server)."),
    pmc_url: Optional[str] = typer.Option(None, "--pmc-url", envvar="MEDVL_PMC_URL",
                                          help="PMC cloud bucket base URL."),
    europepmc_url: Optional[str] = typer.Option(None, "--europepmc-url", envvar="MEDVL_EUROPEPMC_URL",
                                                help="Europe PMC REST base URL."),
    europepmc_pdf_url: Optional[str] = typer.Option(None, "--europepmc-pdf-url", envvar="MEDVL_EUROPEPMC_PDF_URL",
                                                    help="Europe PMC PDF render URL."),
    timeout: float = typer.Option(60.0, "--timeout", help="Seconds per request."),
    retries: int = typer.Option(4, "--retries", min=0, help="Retries of a transient failure (backoff doubles)."),
    list_saved: bool = typer.Option(False, "--list-saved", help="List the saved queries and exit."),
) -> None:
    """Search PMC and download each paper's PDF and JATS XML into PAPERS_DIR/<PMCID>/.

    Writes PAPERS_DIR/manifest.jsonl (one row per file: source URL, sha256, size, license, status,
    reason), metadata.jsonl (one row per paper) and rejects.jsonl.  Only CC BY, CC0 and public-domain
    papers are kept unless --license says otherwise.  A rerun skips complete papers and finishes the
    rest.  Then: medvl parse PAPERS_DIR.
    """
    from medvl.cli.common import console, progress_bar
    from medvl.errors import MedvlError

    if list_saved:
        from medvl.collect.queries import all_saved

        for name, q in all_saved().items():
            typer.echo(f"{name}\t{q.description}\t({q.file})")
        return
    if out is None:
        raise typer.BadParameter("--out PAPERS_DIR is required", param_hint="--out")

    from pydantic import ValidationError

    from medvl.collect.collector import CollectSettings, collect

    kw = dict(query=query, saved=saved, ids=ids or [], max=max_papers, licenses=license_, formats=formats,
              email=email, api_key=api_key, workers=workers, sources=sources, timeout_s=timeout,
              retries=retries, eutils_url=eutils_url, pmc_url=pmc_url, europepmc_url=europepmc_url,
              europepmc_pdf_url=europepmc_pdf_url)
    kw = {k: v for k, v in kw.items() if v is not None}
    try:
        settings = CollectSettings(**kw)
    except ValidationError as exc:
        msgs = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'settings'}: {e['msg']}" for e in exc.errors())
        raise MedvlError(f"collect: {msgs}") from None
    if not settings.email:
        console.print("[yellow]note:[/] no --email given; NCBI asks every E-utilities user for one "
                      "(set --email or MEDVL_EMAIL)")
    try:
        with progress_bar("collect") as advance:
            summary = collect(settings, out, progress=advance)
    except KeyboardInterrupt:
        console.print(f"[yellow]interrupted[/]: finished papers are recorded in {out}; "
                      "run the same command again to finish the rest")
        raise typer.Exit(130)
    if summary.query_translation:
        console.print(f"search: NCBI read the term as {summary.query_translation}")
    for msg in summary.search_messages:
        console.print(f"[yellow]NCBI:[/] {msg}")
    if summary.esummary_errors:
        console.print(f"[yellow]{summary.esummary_errors} record(s) NCBI could not summarise[/] (withdrawn or "
                      f"invalid ids): skipped, a manifest row each with NCBI's message")
    if summary.researches:
        console.print(f"the history server lost the search: run again {summary.researches} time(s), paging resumed")
    console.print(f"[green]collect[/] {summary.note()} · {summary.files} files, "
                  f"{summary.bytes / 1e6:.1f} MB, {summary.requests} requests -> {summary.manifest}")
    if summary.failed:
        console.print(f"[yellow]{summary.failed} papers have missing files[/]: see {Path(out) / 'rejects.jsonl'}; "
                      "a rerun retries them")
    typer.echo(json.dumps(summary.model_dump(), indent=2))
