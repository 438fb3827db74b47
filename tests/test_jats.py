"""JATS XML figures: labels, captions (title + paragraphs), graphics, licence; bad XML."""

from __future__ import annotations

import pytest

from medvl.errors import InputError
from medvl.jats import parse_jats


def test_figures_labels_captions_and_license(tmp_path):
    xml = tmp_path / "a.xml"
    xml.write_text("""<?xml version="1.0"?>
<article xmlns:xlink="http://www.w3.org/1999/xlink" article-type="case-report">
<front><article-meta><article-id pub-id-type="pmc">123</article-id>
<title-group><article-title>Case <italic>x</italic></article-title></title-group>
<permissions><license xlink:href="https://creativecommons.org/licenses/by/4.0/"/></permissions>
</article-meta></front>
<body><p>See <xref ref-type="fig" rid="f1">Figure 1</xref>.</p>
<fig id="f1"><label>Figure 1.</label><caption><title>Bold title</title><p>(a) First <italic>panel</italic>
 text. (b) Second&#x000a0;panel.</p></caption><graphic xlink:href="img.001"/></fig>
<fig id="f2"><label>Figure 2</label><caption><p>Only text.</p></caption></fig>
</body></article>""", encoding="utf-8")
    art = parse_jats(xml)
    assert art.pmcid == "PMC123"
    assert art.license == "https://creativecommons.org/licenses/by/4.0/"
    assert art.article_type == "case-report"
    assert [f.label for f in art.figures] == ["Figure 1", "Figure 2"]
    f1 = art.figures[0]
    assert f1.caption == "Bold title (a) First panel text. (b) Second\u00a0panel." or \
        f1.caption == "Bold title (a) First panel text. (b) Second panel."
    assert f1.title == "Bold title"
    assert f1.graphics == ["img.001"]
    assert f1.printed_caption().startswith("Figure 1. Bold title (a)")


@pytest.mark.parametrize("content,reason", [
    (b"", "empty"),
    (b"<article><fig>", "bad_xml"),
    (b"<html><body>hi</body></html>", "not_jats"),
])
def test_bad_xml_raises_input_error_with_reason(tmp_path, content, reason):
    p = tmp_path / "bad.xml"
    p.write_bytes(content)
    with pytest.raises(InputError) as ei:
        parse_jats(p)
    assert ei.value.reason == reason
    assert str(p) in str(ei.value)


def test_legend_paragraphs_outside_the_caption_element_are_caption_text(tmp_path):
    # the panel legend tagged as <p> children of <fig> after <caption> (a PMC tagging variant)
    xml = tmp_path / "b.xml"
    xml.write_text("""<?xml version="1.0"?>
<article xmlns:xlink="http://www.w3.org/1999/xlink"><body>
<fig id="f1"><label>Figure 1</label><caption><p>Micrographs of two tissues (A-B)</p></caption>
<graphic xlink:href="g1"/><p><bold>A.</bold> Control tissue at low power. </p><p>
<bold>B:</bold> Treated tissue, same field.</p></fig>
<fig id="f2"><label>Figure 2</label><caption><p>No legend here.</p></caption><graphic xlink:href="g2"/></fig>
</body></article>""", encoding="utf-8")
    art = parse_jats(xml)
    assert art.figures[0].caption == ("Micrographs of two tissues (A-B) A. Control tissue at low power. "
                                      "B: Treated tissue, same field.")
    assert art.figures[1].caption == "No legend here."
    assert art.figures[0].graphics == ["g1"]


def test_sentences_citing_a_figure_are_its_references(tmp_path):
    xml = tmp_path / "a.xml"
    xml.write_text("""<?xml version="1.0"?>
<article xmlns:xlink="http://www.w3.org/1999/xlink"><front><article-meta/></front>
<body><sec><title>Case presentation</title>
<p>A 60-year-old man presented with a headache. Axial MRI showed a ring-enhancing lesion in the left
 parietal lobe (<xref ref-type="fig" rid="f1">Fig. 1</xref>). He was treated with antibiotics
 (see Fig. 3 of ref. 4). Follow-up CT and a repeat MRI
 (<xref ref-type="fig" rid="f1 f2">Figures 1 and 2</xref>) were normal.</p>
<table-wrap id="t1"><table><tr><td>CT (<xref ref-type="fig" rid="f2">Figure 2</xref>)</td></tr></table></table-wrap>
<p>Results are summarised in <xref ref-type="fig" rid="f2">Figure 2</xref>, e.g. the size of the lesion.</p>
</sec>
<fig id="f1"><label>Figure 1</label><caption><p>See <xref ref-type="fig" rid="f2">Figure 2</xref>.</p></caption></fig>
<fig id="f2"><label>Figure 2</label></fig>
<fig id="f3"><label>Figure 3</label><caption><p>Never cited.</p></caption></fig>
</body></article>""", encoding="utf-8")
    f1, f2, f3 = parse_jats(xml).figures
    # "Fig. 1" inside the sentence does not end it; each sentence once, in text order
    assert f1.references == [
        "Axial MRI showed a ring-enhancing lesion in the left parietal lobe (Fig. 1).",
        "Follow-up CT and a repeat MRI (Figures 1 and 2) were normal.",
    ]
    # cited with another figure, and alone (a citation in a table or a caption is not the article's text)
    assert f2.references == [
        "Follow-up CT and a repeat MRI (Figures 1 and 2) were normal.",
        "Results are summarised in Figure 2, e.g. the size of the lesion.",
    ]
    assert f2.caption == "" and f3.references == []


def test_a_legend_in_statement_instead_of_caption_is_the_caption(tmp_path):
    xml = tmp_path / "a.xml"
    xml.write_text("""<?xml version="1.0"?>
<article xmlns:xlink="http://www.w3.org/1999/xlink"><body>
<fig id="F1"><label>Figure 1</label><graphic xlink:href="g1"/><statement><p>Peak area of the
 three oils after heating.</p></statement></fig>
<fig id="F2"><label>Figure 2</label><caption><p>Real caption.</p></caption><statement><p>Not it.</p></statement></fig>
</body></article>""", encoding="utf-8")
    art = parse_jats(xml)
    assert [f.caption for f in art.figures] == ["Peak area of the three oils after heating.", "Real caption."]
