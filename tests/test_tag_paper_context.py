"""A scan whose words name no body part takes the one the paper's other scan figures agree on."""

from __future__ import annotations

from medvl.tag.paper_context import with_paper_anatomy
from medvl.tag.text import tag_text


def _tags(captions: list[str]):
    return with_paper_anatomy([tag_text(c) for c in captions], [f"f{i}" for i in range(len(captions))])


def test_a_silent_scan_borrows_the_body_part_of_two_agreeing_scan_figures():
    out = _tags(["Axial CT of the head shows a hypodense thalamic lesion.",
                 "Coronal FLAIR MRI shows the lesion in the left frontal lobe.",
                 "Follow-up FLAIR and SWI images."])
    assert [t.anatomy.value for t in out] == ["brain", "brain", "brain"]
    borrowed = [m for m in out[2].mentions if m.source == "paper"]
    assert len(borrowed) == 1 and borrowed[0].text == "2 of 2 other scan figures of the paper"
    assert out[2].anatomy.confidence < out[1].anatomy.confidence  # weaker than the figure's own words


def test_no_borrowing_from_one_figure_from_disagreeing_figures_or_into_non_scans():
    one = _tags(["Axial CT of the head shows a thalamic lesion.", "Follow-up FLAIR images."])
    assert one[1].anatomy.value is None
    mixed = _tags(["Axial CT of the head shows a thalamic lesion.", "Sagittal MRI of the lumbar spine.",
                   "Coronal T2 images of the liver.", "Follow-up FLAIR images."])
    assert mixed[3].anatomy.value is None
    chart = _tags(["Axial CT of the head shows a thalamic lesion.", "Coronal FLAIR MRI of the frontal lobe.",
                   "Bar chart of the patient's platelet counts over ten days."])
    assert chart[2].anatomy.value is None


def test_a_scan_that_names_its_own_body_part_keeps_it():
    out = _tags(["Axial CT of the head shows a thalamic lesion.", "Coronal FLAIR MRI of the frontal lobe.",
                 "Sagittal T2 MRI of the cervical spine."])
    assert out[2].anatomy.value == "spine"
    assert not [m for m in out[2].mentions if m.source == "paper"]


def test_the_tag_stage_records_the_borrowed_body_part_as_paper_evidence(tmp_path):
    from tests.helpers.tag_run import PROV, TEXT_ONLY
    from medvl.records import Figure, Pair, pair_id
    from medvl.tag.stage import tag_paper

    caps = ["Figure 1. Axial CT of the head shows a hypodense thalamic lesion.",
            "Figure 2. Coronal FLAIR MRI shows the lesion in the left frontal lobe.",
            "Figure 3. Follow-up FLAIR and SWI images."]
    figs, pairs = [], []
    for i, c in enumerate(caps, 1):
        fid = f"p1-f{i}"
        figs.append(Figure(paper_id="p1", figure_id=fid, source="p1.pdf", page=i, label=f"Figure {i}", caption=c,
                           image=f"images/p1/f{i}.png", provenance=PROV).model_dump())
        pairs.append(Pair(pair_id=pair_id(fid, None, 0), image=f"images/p1/f{i}.png", text=c, figure_id=fid,
                          paper_id="p1", method="whole", confidence=1.0, provenance=PROV).model_dump())
    rows, rejects = tag_paper(pairs, figs, TEXT_ONLY, tmp_path)
    assert rejects == []
    last = next(r for r in rows if r.figure_id == "p1-f3")
    assert (last.modality.value, last.anatomy.value) == ("mri", "brain")
    assert [e.text for e in last.evidence if e.source == "paper"] == ["2 of 2 other scan figures of the paper"]
