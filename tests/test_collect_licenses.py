"""License normalisation and the default filter (CC BY, CC0, public domain)."""

from __future__ import annotations

from xml.etree import ElementTree as ET

import pytest

from medvl.collect.licenses import DEFAULT_ALLOWED, license_from_jats, normalize, parse_families


@pytest.mark.parametrize("text,family,spdx", [
    ("CC BY", "cc-by", "CC-BY"),
    ("CC BY 4.0", "cc-by", "CC-BY-4.0"),
    ("cc-by", "cc-by", "CC-BY"),
    ("CC-BY-NC-ND 3.0", "cc-by-nc-nd", "CC-BY-NC-ND-3.0"),
    ("cc by-nc", "cc-by-nc", "CC-BY-NC"),
    ("CC BY-NC-SA", "cc-by-nc-sa", "CC-BY-NC-SA"),
    ("CC BY-SA", "cc-by-sa", "CC-BY-SA"),
    ("CC BY-ND", "cc-by-nd", "CC-BY-ND"),
    ("CC0", "cc0", "CC0-1.0"),
    ("https://creativecommons.org/licenses/by/4.0/", "cc-by", "CC-BY-4.0"),
    ("http://creativecommons.org/licenses/by-nc/3.0", "cc-by-nc", "CC-BY-NC-3.0"),
    ("creativecommons.org/licenses/by-nc-nd/4.0/legalcode", "cc-by-nc-nd", "CC-BY-NC-ND-4.0"),
    ("https://creativecommons.org/publicdomain/zero/1.0/", "cc0", "CC0-1.0"),
    ("http://creativecommons.org/publicdomain/mark/1.0/", "public-domain", "public-domain"),
    ("Attribution 4.0 International (CC BY 4.0)", "cc-by", "CC-BY-4.0"),
    ("This is an open access article distributed under the terms of the Creative Commons Attribution "
     "License, which permits unrestricted use.", "cc-by", "CC-BY"),
    ("distributed under the Creative Commons Attribution-NonCommercial-NoDerivatives 4.0 License",
     "cc-by-nc-nd", "CC-BY-NC-ND-4.0"),
    ("Creative Commons Attribution-ShareAlike License", "cc-by-sa", "CC-BY-SA"),
    ("This article is in the public domain.", "public-domain", "public-domain"),
    ("TDM", "tdm", "tdm"),
    ("All rights reserved.", "unknown", "unknown"),
])
def test_normalize(text, family, spdx):
    lic = normalize(text)
    assert lic is not None
    assert (lic.family, lic.spdx) == (family, spdx)
    assert lic.raw == text


def test_empty_license_is_none():
    assert normalize(None) is None
    assert normalize("   ") is None


def test_default_filter_keeps_only_redistributable_training_licenses():
    assert set(DEFAULT_ALLOWED) == {"cc-by", "cc0", "public-domain"}
    assert normalize("CC BY").allowed()
    assert normalize("CC0").allowed()
    assert not normalize("CC BY-NC").allowed()
    assert not normalize("CC BY-NC-ND").allowed()
    assert not normalize("CC BY-SA").allowed()
    assert not normalize("TDM").allowed()
    assert normalize("CC BY-NC").allowed(parse_families("cc-by,cc-by-nc"))


def test_parse_families():
    assert parse_families("cc-by, CC0 ,public-domain") == ("cc-by", "cc0", "public-domain")
    assert parse_families("ccby,by-nc") == ("cc-by", "cc-by-nc")
    assert "cc-by-nc-nd" in parse_families("all")
    with pytest.raises(ValueError, match="unknown license family 'gpl'"):
        parse_families("cc-by,gpl")


def test_jats_license_prefers_the_license_url_over_a_cc0_data_waiver():
    # BioMed Central: CC BY for the article, the CC0 waiver for its data, both in the text.
    xml = """<article xmlns:xlink="http://www.w3.org/1999/xlink"><front><article-meta><permissions>
      <license license-type="open-access" xlink:href="http://creativecommons.org/licenses/by/4.0/">
      <license-p>This article is distributed under the terms of the Creative Commons Attribution 4.0
      International License (http://creativecommons.org/licenses/by/4.0/). The Creative Commons Public Domain
      Dedication waiver (http://creativecommons.org/publicdomain/zero/1.0/) applies to the data.</license-p>
      </license></permissions></article-meta></front></article>"""
    lic = license_from_jats(ET.fromstring(xml))
    assert (lic.family, lic.spdx) == ("cc-by", "CC-BY-4.0")


def test_jats_license_from_text_and_ali_ref():
    text_only = """<article><front><article-meta><permissions><license license-type="open-access">
      <license-p>Creative Commons Attribution-NonCommercial License</license-p></license>
      </permissions></article-meta></front></article>"""
    assert license_from_jats(ET.fromstring(text_only)).family == "cc-by-nc"
    ali = """<article xmlns:ali="http://www.niso.org/schemas/ali/1.0/"><front><article-meta><permissions>
      <ali:license_ref>https://creativecommons.org/publicdomain/zero/1.0/</ali:license_ref>
      </permissions></article-meta></front></article>"""
    assert license_from_jats(ET.fromstring(ali)).family == "cc0"
    assert license_from_jats(ET.fromstring("<article><front/></article>")) is None
