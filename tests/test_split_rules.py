"""Rule splitter and label normalisation: synthetic tricky captions (not in the dev gold set)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from medvl.records import Subcaption
from medvl.split.labels import expand_labels, normalise_label
from medvl.split.rules import RULES_VERSION, split_caption


def as_dict(caption: str) -> dict[str, str]:
    return {s.label: s.text for s in split_caption(caption)}


def is_verbatim(text: str, caption: str) -> bool:
    """`text` is caption substrings joined with single spaces."""
    from functools import lru_cache

    @lru_cache(maxsize=None)
    def ok(pos: int) -> bool:
        if pos == len(text):
            return True
        for end in range(len(text), pos, -1):
            if (end == len(text) or text[end] == " ") and text[pos:end] in caption:
                if ok(end if end == len(text) else end + 1):
                    return True
        return False

    return ok(0)


# ------------------------------------------------------------------ labels

@pytest.mark.parametrize("raw,expected", [
    ("(a)–(c)", ["A", "B", "C"]), ("(B, D)", ["B", "D"]), ("((b) and (c))", ["B", "C"]), ("A,B", ["A", "B"]),
    ("a–d", ["A", "B", "C", "D"]), ("(a and b)", ["A", "B"]), ("A-C", ["A", "B", "C"]), ("A−C", ["A", "B", "C"]),
    ("(b, c, d, and e)", ["B", "C", "D", "E"]), ("Ai-Di", ["A", "B", "C", "D"]), ("A to C", ["A", "B", "C"]),
    ("left and right", ["left", "right"]), ("C–A", []), ("foo", []), ("", []), (None, []),
    ("_shared", ["_shared"]), ("(A, A)", ["A"]),
])
def test_expand_labels(raw, expected):
    assert expand_labels(raw) == expected


@pytest.mark.parametrize("raw,expected", [
    ("a", "A"), ("(a)", "A"), ("B.", "B"), ("**c**", "C"), ("<b>D</b>", "D"), ("Aii", "A"), ("A1", "A"),
    ("A′", "A"), ("Upper left", "top left"), ("left upper panel", "top left"), ("Lower", "bottom"),
    ("Right panel", "right"), ("centre", "middle"), ("_shared", "_shared"), ("upper left cell", None),
    ("AB", None), ("1", None), (None, None),
])
def test_normalise_label(raw, expected):
    assert normalise_label(raw) == expected


# ------------------------------------------------------------------ label styles

STYLE_CASES = [
    # prefix, parenthesised, lowercase and uppercase
    ("Title of the figure. (a) Western blot of lysates. (b) Quantification of bands.",
     {"_shared": "Title of the figure.", "A": "Western blot of lysates.", "B": "Quantification of bands."}),
    ("(A) Axial CT. (B) Coronal MRI. (C) Histology.",
     {"A": "Axial CT.", "B": "Coronal MRI.", "C": "Histology."}),
    # bare letters with comma, colon, period; Springer style without punctuation
    ("A, Western blot of lysates. B, Quantification of band intensity.",
     {"A": "Western blot of lysates.", "B": "Quantification of band intensity."}),
    ("A: schematic of the vector; B: expression in leaves.",
     {"A": "schematic of the vector", "B": "expression in leaves."}),
    ("A. Schematic of the construct. B. Western blot of lysates.",
     {"A": "Schematic of the construct.", "B": "Western blot of lysates."}),
    ("a Schematic of the construct. b Western blot of lysates. c Quantification (n = 3).",
     {"A": "Schematic of the construct.", "B": "Western blot of lysates.", "C": "Quantification (n = 3)."}),
    ("A) Schematic. B) Western blot and C) quantification.",
     {"A": "Schematic.", "B": "Western blot", "C": "quantification."}),
    ("Panel A: H&E staining. Panel B: Ki-67.", {"A": "H&E staining.", "B": "Ki-67."}),
    ("**a** Schematic of the construct. **b** Western blot.",
     {"A": "Schematic of the construct.", "B": "Western blot."}),
    ("<b>A</b> Schematic of the construct. <b>B</b> Western blot.",
     {"A": "Schematic of the construct.", "B": "Western blot."}),
    # postfix labels and labels mid-sentence
    ("Liver histology. Steatosis in the control (a), fibrosis in the treated mouse (b).",
     {"_shared": "Liver histology.", "A": "Steatosis in the control", "B": "fibrosis in the treated mouse"}),
    ("Ultrasound scan (a) shows a mass. Axial CT (b) and coronal MIP (c) show cysts.",
     {"A": "Ultrasound scan shows a mass.", "B": "Axial CT show cysts.", "C": "coronal MIP show cysts."}),
    ("Echocardiogram revealed (a) a left atrial mass and (b) a right atrial mass.",
     {"_shared": "Echocardiogram revealed", "A": "a left atrial mass", "B": "a right atrial mass."}),
    # positional panels
    ("Left: axial CT showing a mass. Right: coronal MRI of the same lesion.",
     {"left": "axial CT showing a mass.", "right": "coronal MRI of the same lesion."}),
    ("(Top left) Control; (top right) treated; (bottom) quantification.",
     {"top left": "Control", "top right": "treated", "bottom": "quantification."}),
    ("Kaplan-Meier curves for overall survival (left) and progression-free survival (right).",
     {"left": "Kaplan-Meier curves for overall survival", "right": "progression-free survival"}),
    ("Upper panels: wild-type mice. Lower panels: knockout mice.",
     {"top": "wild-type mice.", "bottom": "knockout mice."}),
    ("a, b Representative images of wild-type mice. c Quantification of lesion size.",
     {"A": "Representative images of wild-type mice.", "B": "Representative images of wild-type mice.",
      "C": "Quantification of lesion size."}),
    ("a, Analysis of binding. b, Blots of lysates.", {"A": "Analysis of binding.", "B": "Blots of lysates."}),
    ("FIGURE 1. Expression of p53. A, Western blot. B, Quantification.",
     {"_shared": "FIGURE 1. Expression of p53.", "A": "Western blot.", "B": "Quantification."}),
    ("A. Overview B. Detail C. Quantification", {"A": "Overview", "B": "Detail", "C": "Quantification"}),
    ("Expression of GFP (panel A) and RFP (panel B) in leaves.",
     {"A": "Expression of GFP in leaves.", "B": "RFP in leaves."}),
    ("Control (A) vs treated (B) animals at day 7.",
     {"A": "Control animals at day 7.", "B": "treated animals at day 7."}),
    ("Tumour growth curves (A) (n = 10 per group) and survival (B).",
     {"A": "Tumour growth curves (n = 10 per group)", "B": "survival"}),
    ("(A) Distribution of ages. (B) Same as (A) but for weight.",
     {"A": "Distribution of ages.", "B": "Same as (A) but for weight."}),
    ("Comparison of methods. Left, method 1; right, method 2.",
     {"_shared": "Comparison of methods.", "left": "method 1", "right": "method 2."}),
    # whole-figure sentences at the end go to _shared
    ("(A) Control. (B) Treated. Data are mean ± SD of three experiments; *p < 0.05.",
     {"A": "Control.", "B": "Treated.", "_shared": "Data are mean ± SD of three experiments; *p < 0.05."}),
]


@pytest.mark.parametrize("caption,expected", STYLE_CASES)
def test_label_styles(caption, expected):
    got = as_dict(caption)
    assert got == expected
    for text in got.values():
        assert is_verbatim(text, caption), text


# ------------------------------------------------------------------ ranges and combinations

@pytest.mark.parametrize("caption,labels,text", [
    ("(A–C) Representative images of control mice. (D) Quantification.", "ABC", "Representative images of control mice."),
    ("(a)–(c) Time-lapse images of cell division. (d) Quantification.", "ABC", "Time-lapse images of cell division."),
    ("A–C, Representative images. D, Quantification.", "ABC", "Representative images."),
    ("(A and B) H&E staining of tumours. (C) Ki-67 staining.", "AB", "H&E staining of tumours."),
    ("(a) and (b) Facial features of the child. (c) Hands.", "AB", "Facial features of the child."),
    ("Axial CT images (a, b) show a mass. Coronal images (c) show the extent.", "AB", "Axial CT images show a mass."),
    ("Results were lower in the treated group ((b) and (c)). Baseline values (a).", "BC",
     "Results were lower in the treated group"),
    ("A and B, H&E staining of tumours. C, Ki-67 staining.", "AB", "H&E staining of tumours."),
    ("(B, D) Knockout mice; (A, C) wild-type mice.", "BD", "Knockout mice"),
])
def test_ranges_and_combinations(caption, labels, text):
    got = as_dict(caption)
    for lab in labels:
        assert got[lab] == text
    letters = sorted(k for k in got if k != "_shared")
    assert letters == sorted(set(letters))  # one entry per panel


# ------------------------------------------------------------------ decoys

@pytest.mark.parametrize("caption", [
    "Histology of the bone (B) and marrow (M) in a patient with myeloma.",
    "Serum levels of vitamin A in patients with blood group A and hepatitis B.",
    "Results of assay A and assay B in type B patients.",
    "Schematic of the knee. A, anterior; P, posterior; L, lateral; M, medial.",
    "The upper left cell shows mitosis, whereas the lower right cell is apoptotic.",
    "Expression in the lesion (see Figure 2(a)) and in controls (Fig. 3B).",
    "(1) Control, (2) treated with drug, (3) recovered.",
    "(i) Control; (ii) treated; (iii) recovered.",
    "E. coli colonies on agar. B. subtilis colonies for comparison.",
    "A 45-year-old man with chest pain. A chest X-ray showed cardiomegaly.",
    "A1 shade composite was used. A thin layer of resin was placed.",
    "Group A received placebo and group B received the drug.",
    "The tumour (T) and normal tissue (N) are separated by a capsule (arrow).",
    "Sample size (n) and effect size (d) for each study.",
    "Radiograph of the knee (left) with a displaced fracture.",
    "Left: the dominant hand was affected.",
    "Blood group A patients, assay B results and vitamin A levels (upper left cell counts).",
    "Liver section stained with haematoxylin and eosin (H&E) and Sirius red.",
    "Doppler ultrasound of the left arm (L: left, V: vein, and A: artery).",
    "Left ventricle is dilated with reduced ejection fraction.",
    "For protein properties: A indicates hydrophobicity; B indicates polarity; C indicates volume.",
    "Patient 3, type II lesion (III). Subgroup(s) of patients.",
    "",
    "   ",
])
def test_decoys_give_no_panels(caption):
    assert split_caption(caption) == []


def test_decoys_inside_labelled_captions():
    cap = ("(a) qPCR of SDH A, B, C, and D subunits in cells. (b) Vitamin A levels in group B patients "
           "(H&E stain of bone (B) not shown).")
    got = as_dict(cap)
    assert set(got) == {"A", "B"}
    assert got["A"] == "qPCR of SDH A, B, C, and D subunits in cells."
    cap2 = "(A) Overview; (B, D) higher magnification of the boxed areas in (A); (C) control."
    got2 = as_dict(cap2)
    assert set(got2) == {"A", "B", "C", "D"}
    assert got2["B"] == "higher magnification of the boxed areas in (A)"  # reference kept verbatim
    cap3 = "(a) Baseline. (b) After treatment; Figure 2(c) shows the same patient."
    assert set(as_dict(cap3)) == {"A", "B"}


def test_article_a_before_labels():
    got = as_dict("A 45-year-old man with dyspnoea. (A) Chest X-ray. (B) CT of the chest.")
    assert got == {"_shared": "A 45-year-old man with dyspnoea.", "A": "Chest X-ray.", "B": "CT of the chest."}


def test_reference_only_mentions_give_their_sentence():
    cap = "The lesion seen in (A) has regressed in (B) after treatment."
    got = as_dict(cap)
    assert got == {"A": cap, "B": cap}


def test_label_use_as_subject():
    got = as_dict("CT of the abdomen. (A) and (B) show the liver before treatment; (C) shows it after.")
    assert got["_shared"] == "CT of the abdomen."
    assert got["A"] == got["B"] == "show the liver before treatment"
    assert got["C"] == "shows it after."


# ------------------------------------------------------------------ output contract

def test_no_panels_gives_empty_list_and_types():
    assert split_caption("Chest X-ray on admission showing a cavitary lesion.") == []
    out = split_caption("(a) One. (b) Two.")
    assert all(isinstance(s, Subcaption) for s in out)
    assert [s.label for s in out] == ["A", "B"]


def test_deterministic_and_versioned():
    cap = "Title. (a) Scan (arrow). (b) Biopsy, H&E ×200. Scale bars, 50 µm."
    assert split_caption(cap) == split_caption(cap)
    assert RULES_VERSION.startswith("rules-")


def test_core_import_without_heavy_modules():
    code = ("import sys; import medvl.split, medvl.split.rules, medvl.split.metrics; "
            "bad = [m for m in ('torch', 'vllm', 'instructor', 'openai', 'transformers') if m in sys.modules]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_random_text_never_breaks_the_contract():
    hypothesis = pytest.importorskip("hypothesis")
    from hypothesis import given, settings
    from hypothesis import strategies as st

    alphabet = st.sampled_from(list("abcABC(),.;: -–andor12xyzLeftRightTop") + [" (a) ", " (B) ", "A. ", "; b, "])

    @settings(max_examples=150, deadline=None, derandomize=True)
    @given(st.lists(alphabet, max_size=40).map("".join))
    def check(caption):
        out = split_caption(caption)
        labels = [s.label for s in out]
        assert len(labels) == len(set(labels))
        for s in out:
            assert s.label == "_shared" or normalise_label(s.label) == s.label
            assert is_verbatim(s.text, caption), (caption, s.text)
        if out:
            assert any(s.label != "_shared" for s in out)

    check()
