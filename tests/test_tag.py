"""tag: vocabularies, the text tagger's lexicon cases (negation, comparison, abbreviations, sequences),
tag rows with provenance, and the export's keep filter.  Every caption here is written for these tests."""

from __future__ import annotations

import json
import shutil

import pytest

from medvl.errors import InputError, MedvlError
from medvl.export import ExportSettings, export_run, read_manifest
from medvl.records import Figure, Pair, figure_id, pair_id
from medvl.runs import RunDir, read_jsonl, write_jsonl
from medvl.tag.keep import decide, load_tags, parse_keep
from medvl.tag.stage import TagSettings, stage_version, tag_paper, tag_run
from medvl.tag.text import tag_text
from medvl.tag.vocab import VOCAB_DIR, VocabError, available, load_vocab
from tests.helpers.tag_run import PANELS, PROV, TEXT_ONLY, build_run, write_tags


# ---------------------------------------------------------------- vocabularies

def test_vocab_files_are_versioned_and_complete():
    have = available()
    assert {"modality", "anatomy", "finding", "context"} <= set(have)
    v = load_vocab()
    assert v.modality.names() == ["mri", "ct", "angiography", "xray", "ultrasound", "pet_spect", "histology",
                                  "microscopy", "endoscopy", "photo", "chart", "diagram", "other"]
    assert v.anatomy.names() == ["brain", "spine", "head_neck", "chest", "abdomen", "pelvis", "limb", "other"]
    assert {"t1", "t1_contrast", "t2", "flair", "dwi", "adc", "swi", "mra"} <= set(v.modality.sequence_names())
    assert {"tumour", "haemorrhage", "infarct", "aneurysm", "demyelination", "abscess", "malformation"} <= set(
        v.finding.names())
    assert v.refs["modality"] == f"modality@{have['modality'][-1]}"
    with pytest.raises(VocabError, match="no version 99"):
        load_vocab({"modality": 99})


def test_a_changed_vocabulary_changes_the_sha(tmp_path):
    folder = tmp_path / "vocab"
    shutil.copytree(VOCAB_DIR, folder)
    assert load_vocab(folder=folder).sha == load_vocab().sha
    p = folder / "finding_v1.yaml"
    p.write_text(p.read_text().replace("abscesses, empyema", "abscesses, empyema, phlegmon"))
    assert load_vocab(folder=folder).sha != load_vocab().sha
    (folder / "finding_v1.yaml").write_text("id: finding\nversion: 2\nclasses: {}\n")
    with pytest.raises(VocabError, match="do not match the file name"):
        load_vocab(folder=folder)


# ---------------------------------------------------------------- lexicon cases

def test_negation_gives_no_finding():
    t = tag_text("Axial CT shows no haemorrhage or infarct in the left hemisphere.")
    assert t.findings == {} and t.negated_findings == ["haemorrhage", "infarct"]
    t = tag_text("Follow-up MRI: the abscess has resolved; a small cavernoma persists.")
    assert "abscess" in t.negated_findings and "malformation" in t.findings
    t = tag_text("Without oedema, but a large ring-enhancing abscess in the right temporal lobe.")
    assert set(t.findings) == {"abscess"} and t.negated_findings == ["oedema"]
    t = tag_text("Mild mass effect on the fourth ventricle, no midline shift.")
    assert "tumour" not in t.findings  # 'mass effect' is no tumour


def test_comparison_lowers_the_other_modality():
    t = tag_text("Axial FLAIR MRI, compared with the CT of the previous day, shows the lesion better.")
    assert t.modality.value == "mri" and t.modality.probs["mri"] > 0.9
    assert any(m.value == "ct" and m.context == "comparison" for m in t.mentions)
    t = tag_text("The infarct is more conspicuous on DWI than on T2.")
    assert t.sequences == ["dwi"]
    t = tag_text("CT-guided biopsy of the lesion.")
    assert t.modality.confidence < 0.6


def test_abbreviations_are_case_sensitive_where_words_collide():
    assert tag_text("Cranial CT without contrast").modality.value == "ct"
    assert tag_text("DSA of the left ICA shows a saccular aneurysm").modality.value == "angiography"
    t = tag_text("The patient, Mr Jones, had a SAH from a ruptured AVM.")
    assert t.modality.value is None  # 'Mr' is not MR
    assert set(t.findings) == {"haemorrhage", "malformation"} and t.anatomy.value == "brain"
    assert tag_text("PET/CT with FDG uptake in the left lung").modality.value == "pet_spect"
    assert tag_text("Doppler US of the neck").modality.value == "ultrasound"


def test_sequences_and_longest_match():
    cases = {
        "Sagittal T1-weighted image": ["t1"],
        "Post-contrast T1-weighted image": ["t1_contrast"],
        "Axial T2WI and FLAIR": ["flair", "t2"],
        "DWI (b = 1000) and the ADC map": ["adc", "dwi"],
        "SWI shows microbleeds": ["swi"],
        "3D TOF MRA of the circle of Willis": ["mra"],
        "T1+C axial image": ["t1_contrast"],
    }
    for text, seqs in cases.items():
        t = tag_text(text)
        assert t.sequences == seqs, (text, t.sequences)
        assert t.modality.value == "mri", text
    t = tag_text("CT angiography of the basilar artery")
    assert t.modality.value == "ct" and t.anatomy.value == "brain"
    assert tag_text("Contrast-enhanced CT of the head and neck").anatomy.value == "head_neck"
    assert tag_text("Two tumours in the cerebellum").findings.keys() == {"tumour"}


def test_signal_and_density_words_name_the_modality():
    assert tag_text("Hypodense lesion in the left thalamus").modality.value == "ct"
    assert tag_text("Multiple periventricular hyperintensities").modality.value == "mri"
    assert tag_text("Low attenuation of the right lobe, 20 HU").modality.value == "ct"
    assert load_vocab().modality.version >= 2


def test_a_diagnosis_by_histology_is_no_histology_image():
    # radiology captions name the pathologist's diagnosis; the image is still the scan (modality_v3)
    t = tag_text("Coronal MRI of the pelvis: a lobulated mass of the left ovary. Final histology: fibroma.")
    assert t.modality.value == "mri" and t.modality.probs.get("histology", 0.0) == 0.0
    assert tag_text("Axial CT of a histologically proven metastasis in the liver").modality.value == "ct"
    # an image of a stained section still is one
    t = tag_text("Histology of the resected nodule (haematoxylin and eosin, x100)")
    assert t.modality.value == "histology" and t.modality.confidence > 0.85


def test_vendor_sequence_names_and_spellings_of_ct():
    assert tag_text("Coronal HASTE and axial VIBE after contrast").modality.value == "mri"
    assert tag_text("TrueFISP image of the small bowel").modality.value == "mri"
    t = tag_text("Sagittal PDFS image of the knee")
    assert t.modality.value == "mri" and t.sequences == ["pd"] and t.anatomy.value == "limb"
    assert tag_text("Brain computer tomography on admission").modality.value == "ct"
    t = tag_text("Thoracic tomography scan after treatment")
    assert t.modality.value == "ct" and t.modality.confidence > 0.7
    # other tomographies keep their own class (the longest phrase wins)
    assert tag_text("Cryo-electron tomography of a synapse").modality.value == "microscopy"
    assert tag_text("Optical coherence tomography of the macula").modality.value == "other"
    assert tag_text("Positron emission tomography of the brain").modality.value == "pet_spect"


def test_sentences_citing_the_figure_speak_only_where_the_caption_is_silent():
    refs = ["Axial MRI of the head showed a ring-enhancing lesion (Figure 2).",
            "Histology confirmed an abscess (Figures 2 and 3)."]
    t = tag_text("Figure 2", None, references=refs)  # a figure printed without caption text
    assert t.modality.value == "mri" and t.modality.confidence > 0.7 and t.anatomy.value == "brain"
    assert {m.source for m in t.mentions} == {"reference"}
    assert t.findings == {}  # findings come from the caption's own words only
    # the caption names the modality: the citing sentences do not change it, but the silent field uses them
    t = tag_text("Axial CT on admission", None, references=refs)
    assert t.modality.value == "ct" and "mri" not in t.modality.probs and t.anatomy.value == "brain"
    assert tag_text("Figure 2").modality.value is None


def test_dural_venous_sinuses_are_brain_and_paranasal_ones_head_neck():
    assert tag_text("Venography showing lateral sinus thrombosis").anatomy.value == "brain"
    assert tag_text("Straight sinus occlusion on MR venography").anatomy.value == "brain"
    assert tag_text("Mucosal thickening of the maxillary sinus").anatomy.value == "head_neck"
    # both hemispheres' lobes and signs only the brain shows (anatomy_v3)
    assert tag_text("A bifrontal lesion with vasogenic oedema").anatomy.value == "brain"
    assert tag_text("Parasagittal section of the kidney").anatomy.value == "abdomen"  # a plane, not a place


def test_panel_words_outweigh_the_figure_caption():
    caption = "Brain MRI (A) and histology (B) of the resected glioblastoma."
    a = tag_text("(A) Axial FLAIR image", caption)
    b = tag_text("(B) H&E staining, original magnification x200", caption)
    assert a.modality.value == "mri" and a.modality.confidence > 0.85
    assert b.modality.value == "histology" and b.modality.confidence > 0.85
    # no words of its own: the caption names two modalities, and the panel is one of them
    c = tag_text("", "Axial CT (left) and MRI (right) of the head.")
    assert c.modality.confidence < 0.5 and c.modality.probs["ct"] + c.modality.probs["mri"] > 0.7
    assert tag_text("").modality.value is None and tag_text("").modality.confidence == 0.0
    assert tag_text("Kaplan-Meier survival curves, p < 0.05").modality.value == "chart"
    assert tag_text("Schematic diagram of the study design").modality.value == "diagram"


# ---------------------------------------------------------------- rows and the export filter

def test_tag_rows_for_every_pair_and_figure_with_provenance(tmp_path):
    rd = build_run(tmp_path / "run", n_papers=2)
    rows = tag_run(rd.path, TEXT_ONLY)
    pairs = list(read_jsonl(rd.file("pairs.jsonl")))
    assert {r.id for r in rows if r.kind == "pair"} == {p["pair_id"] for p in pairs}
    assert sum(r.kind == "figure" for r in rows) == 2
    by_id = {r.id: r for r in rows}
    for p in pairs:
        r = by_id[p["pair_id"]]
        want = next((m, a) for t, m, a in PANELS if t == p["text"])
        assert (r.modality.value, r.anatomy.value if want[1] else None) == (want[0], want[1]), p["text"]
        assert r.provenance.stage == "tag" and len(r.provenance.input_sha256) == 64
        assert r.provenance.stage_version == stage_version(TEXT_ONLY)
        assert all(e.text for e in r.evidence) and r.vocab["modality"].startswith("modality@")
    glioma = by_id[pair_id(figure_id("p" + "0" * 16, 1, 0), "A", 0)]
    assert glioma.sequences == ["t2"] and [f.value for f in glioma.findings] == ["tumour"]
    # a row that is not a Pair is a reject, not a crash
    rows2, rejects = tag_paper([{"pair_id": "x"}], [], TEXT_ONLY, rd.path)
    assert rows2 == [] and rejects[0].reason == "bad_record"


def test_a_figure_without_caption_text_is_tagged_from_the_sentences_citing_it(tmp_path):
    cited = ["Contrast-enhanced CT of the head showed lateral sinus thrombosis (Figure 2)."]
    fig = Figure(paper_id="p1", figure_id="p1-f2", source="p1.pdf", page=1, label="Figure 2", caption="Figure 2",
                 image="images/p1/f2.png", references=cited, provenance=PROV)
    pair = Pair(pair_id=pair_id("p1-f2", None, 0), image="images/p1/f2.png", text="Figure 2", figure_id="p1-f2",
                paper_id="p1", method="whole", confidence=1.0, provenance=PROV)
    rows, rejects = tag_paper([pair.model_dump()], [fig.model_dump()], TEXT_ONLY, tmp_path)
    assert rejects == [] and [r.kind for r in rows] == ["pair"]
    r = rows[0]
    assert (r.modality.value, r.anatomy.value) == ("ct", "brain") and r.modality.confidence > 0.7
    assert any(e.source == "reference" and "CT" in e.text for e in r.evidence)
    # the citing sentences are part of the row's input: other sentences, another input hash
    other = fig.model_copy(update={"references": ["An MRI was normal (Figure 2)."]})
    again, _ = tag_paper([pair.model_dump()], [other.model_dump()], TEXT_ONLY, tmp_path)
    assert again[0].modality.value == "mri"
    assert again[0].provenance.input_sha256 != r.provenance.input_sha256


def test_keep_parsing_and_decisions():
    assert parse_keep(["modality=mri,ct", "anatomy=brain"]) == {"anatomy": ["brain"], "modality": ["ct", "mri"]}
    assert parse_keep("modality=mri,ct anatomy=brain") == parse_keep({"modality": ["mri", "ct"], "anatomy": "brain"})
    for bad, msg in (("modality=mrt", "no value"), ("colour=red", "unknown field"), ("modality", "FIELD=VALUE")):
        with pytest.raises(MedvlError, match=msg):
            parse_keep(bad)
    from medvl.tag.keep import TagSummary

    both = TagSummary("ct", (("ct", 0.45), ("mri", 0.44)), "brain", (("brain", 0.9),), (), ())
    keep = {"modality": ["mri", "ct"], "anatomy": ["brain"]}
    assert decide(both, keep, 0.7) is None  # the set is 0.89 likely
    assert decide(both, {"modality": ["mri"]}, 0.7)[0] == "tag_modality"
    assert decide(both, {"modality": ["ct"]}, 0.7)[0] == "tag_modality_low_confidence"
    assert decide(both, {"modality": ["ct"]}, 0.0) is None
    assert decide(None, keep)[0] == "untagged"
    assert decide(TagSummary(None, (), None, (), (), ()), keep)[0] == "tag_modality_unknown"


def test_export_keep_filter_counts_every_dropped_pair(tmp_path):
    rd = build_run(tmp_path / "run", n_papers=4)
    with pytest.raises(InputError, match="run the tag stage"):
        export_run(rd.path, tmp_path / "d0", ExportSettings(keep={"modality": ["mri"]}))
    write_tags(rd)
    s = export_run(rd.path, tmp_path / "d", ExportSettings(split=(1.0, 0.0, 0.0), keep={"modality": ["mri", "ct"],
                                                           "anatomy": ["brain"]}, keep_confidence=0.7))
    assert sum(s.rows.values()) == 8  # A and B of each of 4 papers
    man = read_manifest(tmp_path / "d")
    assert man["settings"]["keep"] == {"anatomy": ["brain"], "modality": ["ct", "mri"]}
    tf = man["tag_filter"]
    assert tf["before"]["modality"]["mri"] == 8 and tf["after"]["modality"] == {"ct": 4, "mri": 4}
    assert tf["after"]["anatomy"] == {"brain": 8}
    dropped = {r["id"]: r["reason"] for r in read_jsonl(tmp_path / "d" / "rejects.jsonl")}
    assert len(dropped) == 16 and set(dropped.values()) <= {"tag_modality", "tag_anatomy", "tag_anatomy_unknown"}
    assert sum(v == "tag_anatomy" for v in dropped.values()) == 8  # spine MRI and chest X-ray (anatomy is checked first)
    assert sum(v == "tag_anatomy_unknown" for v in dropped.values()) == 8  # histology, chart: no anatomy named
    run_rejects = [r for r in read_jsonl(rd.file("rejects.jsonl")) if r["stage"] == "export"]
    assert len(run_rejects) == 16
    # the raw variant filters whole figures by their own tags (kind figure: the whole caption)
    s_raw = export_run(rd.path, tmp_path / "r", ExportSettings(pairs="raw", keep={"modality": ["endoscopy"]}))
    assert sum(s_raw.rows.values()) == 0 and s_raw.reject_reasons.get("tag_modality") == 4
    # the whole caption names brain and spine about equally: together they are sure, alone neither is
    s_raw = export_run(rd.path, tmp_path / "r", ExportSettings(pairs="raw", keep={"anatomy": ["brain", "spine"]},
                                                               keep_confidence=0.9))
    assert sum(s_raw.rows.values()) == 4
    s_raw = export_run(rd.path, tmp_path / "r", ExportSettings(pairs="raw", keep={"anatomy": ["brain"]},
                                                               keep_confidence=0.9))
    assert sum(s_raw.rows.values()) == 0 and s_raw.reject_reasons == {"tag_anatomy": 4}  # spine is first


def test_cli_export_keep(tmp_path):
    from typer.testing import CliRunner

    from medvl.cli import app

    rd = build_run(tmp_path / "run", n_papers=3)
    write_tags(rd)
    res = CliRunner().invoke(app, ["export", str(rd.path), "--out", str(tmp_path / "d"), "--keep", "modality=mri",
                                   "--keep", "anatomy=brain", "--keep-confidence", "0.5", "--split", "1,0,0"])
    assert res.exit_code == 0, res.output
    assert "exported 3 pairs" in res.output and "tag_modality" in res.output
    res = CliRunner().invoke(app, ["export", str(rd.path), "--out", str(tmp_path / "d"), "--keep", "modality=brain"])
    assert res.exit_code != 0 and "no value(s) brain" in str(res.exception) + res.output


def test_load_tags_names_a_bad_line(tmp_path):
    p = tmp_path / "tags.jsonl"
    p.write_text('{"id": "a", "modality": {"value": "mri", "probs": {"mri": 0.9}}}\nnot json\n')
    with pytest.raises(MedvlError, match="tags.jsonl:2"):
        load_tags(p)


@pytest.mark.slow
def test_pipeline_tags_every_pair_and_export_filters(tmp_path):
    """synth -> parse -> split -> align -> tag -> export through the engine: a tag row for every pair
    and every figure, the export's keep filter, and a rerun that redoes nothing."""
    from medvl.config import demo_config
    from medvl.pipeline import run_pipeline

    cfg = demo_config(papers=3)
    cfg.stages["parse"] = {"dpi": 72, "ocr": "never"}
    cfg.stages["tag"] = {"image": "off"}
    cfg.stages["export"] = {"variants": ["aligned"], "keep": {"modality": ["mri"], "anatomy": ["brain"]},
                            "keep_confidence": 0.5}
    cfg.executor.workers = 1
    only = ["synth", "parse", "split", "align", "tag", "export"]
    run_dir = tmp_path / "demo"
    res = run_pipeline(cfg, run_dir, only=only)
    assert res.ok, [(s.name, s.state, s.message) for s in res.stages]
    pairs = {p["pair_id"] for p in read_jsonl(run_dir / "pairs.jsonl")}
    tags = {t["id"]: t for t in read_jsonl(run_dir / "tags.jsonl")}
    figures = list(read_jsonl(run_dir / "figures.jsonl"))
    assert pairs and pairs <= set(tags)
    assert {pair_id(f["figure_id"], None, 0) for f in figures if f.get("image")} <= set(tags)
    # the synthetic captions are axial brain MRI: the filter keeps what the words say
    mri = [t for i, t in tags.items() if i in pairs and t["modality"]["value"] == "mri"]
    assert len(mri) >= 0.8 * len(pairs)
    man = read_manifest(run_dir / "export" / "aligned")
    assert man["tag_filter"]["keep"] == {"anatomy": ["brain"], "modality": ["mri"]}
    kept = sum(man["splits"][s]["rows"] for s in ("train", "val", "test"))
    dropped = sum(v for k, v in man["rejects"].items() if k.startswith("tag_") or k == "untagged")
    assert kept > 0 and kept + dropped + man["rejects"].get("duplicate_image", 0) <= len(pairs)
    run_json = json.loads((run_dir / "run.json").read_text())
    assert run_json["stages"]["tag"]["settings"]["version"] == stage_version(TEXT_ONLY)
    again = run_pipeline(cfg, run_dir, only=only)
    assert again.ok and again.stage("tag").ran == 0


# ---------------------------------------------------------------- image side

def test_image_classifier_trains_on_weak_labels_and_joins_the_text(tmp_path):
    """Two visually different kinds of panel (dark grey 'scans' vs white charts with coloured bars), the
    labels from their captions; the trained weights read back and tell the two apart on new images."""
    import numpy as np
    from PIL import Image

    from medvl.tag.image import load_model
    from medvl.tag.train import train_image_model

    rd = RunDir(tmp_path / "run")
    rng = np.random.default_rng(0)
    figs, pairs = [], []

    def scan(seed: int) -> np.ndarray:
        r = np.random.default_rng(seed)
        yy, xx = np.mgrid[:64, :64]
        head = ((yy - 32) ** 2 / 26 ** 2 + (xx - 32) ** 2 / 22 ** 2) < 1
        a = np.where(head, 90 + r.normal(0, 25, (64, 64)), 0).clip(0, 255).astype(np.uint8)
        return np.stack([a] * 3, -1)

    def chart(seed: int) -> np.ndarray:
        r = np.random.default_rng(seed)
        a = np.full((64, 64, 3), 255, np.uint8)
        a[60, :] = 0
        a[:, 3] = 0
        for k in range(4):
            h = int(r.integers(10, 50))
            a[60 - h:60, 8 + k * 14:18 + k * 14] = [(200, 30, 30), (30, 30, 200), (30, 160, 30), (220, 150, 0)][k]
        return a

    for i in range(24):
        pid = f"p{i:016x}"
        fid = figure_id(pid, 1, 0)
        kind = "scan" if i % 2 else "chart"
        img = f"images/{pid}/{fid}-k00.png"
        rd.inside(img).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(scan(i) if kind == "scan" else chart(i)).save(rd.inside(img))
        text = "Axial T2-weighted MRI of the brain." if kind == "scan" else "Bar graph of the scores, p < 0.05."
        figs.append(Figure(paper_id=pid, figure_id=fid, source=f"{pid}.pdf", page=1, index=0, label="Figure 1",
                           caption=text, image=img, provenance=PROV))
        pairs.append(Pair(pair_id=pair_id(fid, None, 0), image=img, text=text, figure_id=fid, paper_id=pid,
                          method="whole", confidence=0.9, provenance=PROV))
    write_jsonl(rd.file("figures.jsonl"), figs)
    write_jsonl(rd.file("pairs.jsonl"), pairs)
    out = tmp_path / "image.json"
    rep = train_image_model([rd.path], out, min_examples=4, use_real=False)
    assert rep.examples["modality"] == {"chart": 12, "mri": 12}
    assert out.stat().st_size < 1_000_000
    model = load_model(out)
    assert model.heads["modality"].classes == ["chart", "mri"]
    new_scan, new_chart = tmp_path / "s.png", tmp_path / "c.png"
    Image.fromarray(scan(99)).save(new_scan)
    Image.fromarray(chart(98)).save(new_chart)
    assert model.predict_file(new_scan)["modality"]["mri"] > 0.8
    assert model.predict_file(new_chart)["modality"]["chart"] > 0.8
    # the stage with these weights: a panel without words gets its modality from the image
    rows, rejects = tag_paper([Pair(pair_id="x-whole-00", image="s.png", text="", figure_id="x", paper_id="x",
                                    method="whole", confidence=0.9, provenance=PROV).model_dump()], [],
                              TagSettings(image="on", image_model=str(out)), tmp_path)
    assert rows[0].modality.value == "mri" and rows[0].modality.source == "image"
    assert any(e.source == "image" for e in rows[0].evidence)
    assert rows[0].provenance.model.startswith("medvl-image:")
    assert rows[0].provenance.stage_version != stage_version(TEXT_ONLY)
    # clear words outweigh the image (read here although the words are sure: image_below above 1)
    chart_pair = [Pair(pair_id="y-whole-00", image="s.png", text="Kaplan-Meier survival curve, p < 0.01",
                       figure_id="y", paper_id="y", method="whole", confidence=0.9, provenance=PROV).model_dump()]
    rows, _ = tag_paper(chart_pair, [], TagSettings(image="on", image_model=str(out), image_below=1.01), tmp_path)
    assert rows[0].modality.value == "chart" and rows[0].modality.source == "text+image"
    # by default the image is not read where the words are sure of the modality
    rows, _ = tag_paper(chart_pair, [], TagSettings(image="on", image_model=str(out)), tmp_path)
    assert rows[0].modality.source == "text" and not any(e.source == "image" for e in rows[0].evidence)
    # an unreadable image is a reject row; the text tags stand
    (tmp_path / "bad.png").write_bytes(b"not a png")
    rows, rejects = tag_paper([Pair(pair_id="z-whole-00", image="bad.png", text="Left hemisphere, axial view",
                                    figure_id="z", paper_id="z", method="whole", confidence=0.9,
                                    provenance=PROV).model_dump()],
                              [], TagSettings(image="on", image_model=str(out)), tmp_path)
    assert rows[0].anatomy.value == "brain" and rows[0].modality.value is None
    assert rejects[0].reason == "image_unreadable" and "bad.png" in rejects[0].detail


def test_shipped_image_model_loads_and_is_small():
    from medvl.tag.image import DEFAULT_MODEL, N_FEATURES, load_model

    m = load_model()
    assert DEFAULT_MODEL.stat().st_size < 1_000_000 and len(m.mean) == N_FEATURES
    assert {"mri", "ct", "chart", "histology"} <= set(m.heads["modality"].classes)
    assert m.meta["heldout_vs_weak_labels"]["modality"]["accuracy"] > 0.3
    with pytest.raises(MedvlError, match="no image classifier weights"):
        load_model("/nonexistent/weights.json")


def test_real_images_from_installed_wheels():
    from medvl.tag import real

    if not real.available():
        pytest.skip("nilearn/nibabel/pydicom not installed (pip install 'medvl[real]')")
    ax = real.mni_slice("axial", 0.55)
    assert ax.dtype.name == "uint8" and ax.shape[0] > 150 and ax.max() > 200
    # a real brain: the slice is nearly left-right symmetric and dark outside the head
    assert abs(float(ax[:, : ax.shape[1] // 2].mean()) - float(ax[:, ax.shape[1] // 2 + 1:].mean())) < 12
    assert ax[:5].mean() < 20
    ct = real.dicom_image("CT_small.dcm")
    assert ct.shape == (128, 128) and ct.max() == 255  # bone at the top of a 40/400 window


def test_report_shows_the_mix_before_and_after_the_filter(tmp_path):
    from medvl.evaluate.report import build_report

    rd = build_run(tmp_path / "run", n_papers=3)
    write_tags(rd)
    export_run(rd.path, rd.path / "export" / "aligned", ExportSettings(split=(1.0, 0.0, 0.0),
                                                                       keep={"modality": ["mri", "ct"]}))
    page = build_report(rd.path, out=tmp_path / "r.html", max_figures=0).read_text(encoding="utf-8")
    i = page.index('id="makeup"')
    section = page[i:page.index("</section>", i)]
    assert "Dataset make-up" in section and "aligned: before" in section
    # modality rows: mri 6 pairs (A, E of 3 papers) before, 6 kept; xray 3 before, 0 kept
    assert '<td>mri</td><td class="num">6</td><td class="num">6</td><td class="num">6</td>' in section
    assert '<td>xray</td><td class="num">3</td><td class="num">3</td><td class="num">0</td>' in section
    assert section.count('class="thumb"') >= 6 and "keep_confidence" not in section


def test_synthetic_lesions_on_real_mni_slices_keep_the_answers(tmp_path):
    import numpy as np

    from medvl.synth import draw_scan, generate_corpus, load_ground_truth
    from medvl.tag import real

    if not real.available():
        pytest.skip("nilearn/nibabel/pydicom not installed (pip install 'medvl[real]')")
    for cls in ("tumour", "hemorrhage", "infarct", "normal"):
        a, info_a = draw_scan(cls, 96, 96, np.random.default_rng(5))
        b, info_b = draw_scan(cls, 96, 96, np.random.default_rng(5), background="mni")
        assert info_a == info_b and a.shape == b.shape and not np.array_equal(a, b)
        assert b[:3].max() < 40 and b[40:56, 40:56].mean() > 20  # black outside the head, tissue inside
    with pytest.raises(ValueError, match="unknown background"):
        draw_scan("tumour", 32, 32, np.random.default_rng(0), background="ct")
    drawn = load_ground_truth(generate_corpus(tmp_path / "d", papers=1, seed=3, dpi=72))
    mni = load_ground_truth(generate_corpus(tmp_path / "m", papers=1, seed=3, dpi=72, background="mni"))
    assert mni["background"] == "mni" and drawn["background"] == "drawn"
    strip = lambda gt: [{k: v for k, v in p.items() if k not in ("sha256", "paper_id", "file")}  # noqa: E731
                        for p in gt["papers"]]
    assert strip(drawn) == strip(mni)  # the same figures, panels, classes and captions


def test_cli_tag_text_prints_tags_and_evidence():
    from typer.testing import CliRunner

    from medvl.cli import app

    res = CliRunner().invoke(app, ["tag", "text", "(B) Axial FLAIR image, no haemorrhage",
                                   "--caption", "Brain MRI of a patient with a glioma."])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert data["modality"]["value"] == "mri" and data["sequences"] == ["flair"]
    assert data["negated_findings"] == ["haemorrhage"] and data["findings"] == {"tumour": pytest.approx(0.565, abs=0.01)}  # named by the caption only
    assert any(e["text"] == "FLAIR" and e["source"] == "panel" for e in data["evidence"])


def test_cli_tag_text_reads_citing_sentences_where_the_caption_is_silent():
    from typer.testing import CliRunner

    from medvl.cli import app

    res = CliRunner().invoke(app, ["tag", "text", "Figure 3", "--reference",
                                   "A non-contrast CT of the head showed a subdural haematoma (Figure 3)."])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert data["modality"]["value"] == "ct" and data["anatomy"]["value"] == "brain"
    assert {e["source"] for e in data["evidence"]} == {"reference"}
