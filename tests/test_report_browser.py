"""The report opened in a real headless Chromium (DevTools protocol over a pipe, no driver):
no console errors, no network requests, every figure in the gallery, every image decodes,
and the screenshot is not blank."""

from __future__ import annotations

import pytest

from medvl.evaluate import report as rep

from tests.helpers.report_run import make_run

pytestmark = [pytest.mark.browser,
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
