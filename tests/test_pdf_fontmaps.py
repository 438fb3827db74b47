"""Fonts whose PDF text maps symbols to the wrong characters are read through medvl/data/pdf_font_maps.yaml."""

from __future__ import annotations

from medvl.pdf.fontmaps import font_maps, repair_spans, table_for


def test_advent_math_font_reads_as_the_symbols_it_prints():
    spans = [{"font": "Helvetica", "text": "Mice ("}, {"font": "KmxqjhAdvP4C4E74", "text": "n \u00bc 6"},
             {"font": "Helvetica", "text": ") got \u00bd of the dose; "},
             {"font": "AdvP4C4E74", "text": "\u00bdK\u00fe\u008a at 30 \u0003C, 12 g mol\u00041"}]
    fixed = repair_spans(spans)
    # the mapped font's text changes; the same character in another font ("half of the dose") does not
    assert [s["text"] for s in fixed] == ["Mice (", "n = 6", ") got \u00bd of the dose; ",
                                          "[K+] at 30 \u00b0C, 12 g mol\u22121"]
    assert fixed[1]["font"] == "KmxqjhAdvP4C4E74" and spans[1]["text"] == "n \u00bc 6"  # input left as it was


def test_font_names_match_with_subset_prefixes_and_suffixes_only():
    assert table_for("AdvOT999035f4+e1") is not None
    assert "\ue103ve".translate(table_for("AdvOT999035f4+e1")) == "five"
    assert table_for("AdvP49811") is None and table_for("TimesNewRomanPSMT") is None
    # every mapping is one character to a short text (a typo in the data file shows here)
    assert all(len(chr(k)) == 1 and 0 < len(v) <= 2 for _, t in font_maps() for k, v in t.items())
