"""The report opened in a real headless Chromium (the system's, driven by Playwright; no browser download):
no console errors, no network requests, every figure in the gallery, every image decodes,
and the screenshot is not blank."""

from __future__ import annotations

import pytest

from medvl.evaluate import report as rep

from tests.helpers.report_run import make_run

pytest.importorskip("playwright")  # the browser extra

pytestmark = [pytest.mark.browser, pytest.mark.slow,
              pytest.mark.skipif(rep.find_chromium() is None, reason="chromium is not installed")]


def test_report_loads_cleanly_in_chromium(tmp_path):
    make_run(tmp_path / "run")
    out = rep.build_report(tmp_path / "run")
    res = rep.check_in_browser(out, screenshot=tmp_path / "shot.png")
    assert res["errors"] == []
    assert res["requests"] == []  # opens offline: nothing but file: and data: URLs
    assert res["figures"] == 3
    assert len(res["images"]) >= 5
    assert res["broken_images"] == 0
    assert all(w > 0 for _, w in res["images"])
    assert res["title"].startswith("medvl report")
    assert res["pixel_std"] > 10  # not a blank page
    assert (tmp_path / "shot.png").stat().st_size > 10_000


def test_minimal_report_and_folder_images_load(tmp_path):
    make_run(tmp_path / "run", judged=False, metrics=False)
    out = rep.build_report(tmp_path / "run", out=tmp_path / "site" / "index.html", embed=False)
    res = rep.check_in_browser(out)
    assert res["errors"] == [] and res["broken_images"] == 0
    assert res["figures"] == 3 and len(res["images"]) >= 2


def test_browser_check_catches_errors_and_broken_images(tmp_path):
    bad = tmp_path / "bad.html"
    bad.write_text("<!DOCTYPE html><html><head><title>bad</title></head><body>"
                   "<img src='data:image/png;base64,AAAA'><img src='missing.png'>"
                   "<script>console.error('boom'); undefinedFunction();</script></body></html>")
    res = rep.check_in_browser(bad)
    assert res["broken_images"] == 2
    assert any("boom" in e for e in res["errors"])
    assert any("undefinedFunction" in e or "exception" in e for e in res["errors"])
    assert res["figures"] == 0
    # a blank page has (almost) no pixel variance
    blank = tmp_path / "blank.html"
    blank.write_text("<!DOCTYPE html><html><body style='background:#fff'></body></html>")
    assert rep.check_in_browser(blank)["pixel_std"] < 1


def test_browser_check_sees_network_requests_and_failed_loads(tmp_path):
    page = tmp_path / "net.html"
    page.write_text("<!DOCTYPE html><html><head><title>net</title></head><body>"
                    "<img src='http://example.invalid/x.png'></body></html>")
    res = rep.check_in_browser(page, width=400, height=300)
    assert res["requests"] == ["http://example.invalid/x.png"]
    assert any(e.startswith("load failed") for e in res["errors"]) and res["broken_images"] == 1
    assert res["screenshot_size"] == [400, 300]


def test_a_missing_browser_is_a_clear_error(tmp_path):
    from medvl.errors import MedvlError

    with pytest.raises(MedvlError, match="no-chromium: the browser did not start"):
        rep.check_in_browser(tmp_path / "x.html", binary=str(tmp_path / "no-chromium"), timeout=20)


def test_cli_report_check(tmp_path):
    from typer.testing import CliRunner

    from medvl.cli import app

    make_run(tmp_path / "run")
    res = CliRunner().invoke(app, ["report", str(tmp_path / "run"), "--check"])
    assert res.exit_code == 0, res.output
    assert "0 broken), 0 errors, 0 network requests" in " ".join(res.output.split())
    assert (tmp_path / "run" / "report.png").stat().st_size > 10_000
