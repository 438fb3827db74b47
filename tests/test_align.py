"""align: letters, positions, reading order, whole figures, shared text, rejects, resume."""

from __future__ import annotations

import json

import pytest
from PIL import Image

from medvl.align import AlignSettings, align_figure, align_run, position_of, strip_figure_label
from medvl.records import Figure, Provenance, SplitRow, sha256_text
from medvl.readingorder import grid_rows
from medvl.runs import RunDir, read_jsonl, write_jsonl
from tests.helpers.align_rows import GRID, ROW, make_figure, make_split


def test_grid_rows_and_positions():
    shuffled = [GRID[3], GRID[0], GRID[2], GRID[1]]
    assert grid_rows(shuffled) == [[1, 3], [2, 0]]
    assert position_of("top left", GRID) == [0]
    assert position_of("bottom right", GRID) == [3]
    assert position_of("left", GRID) == [0, 2]  # a whole column: ambiguous for one subcaption
    assert position_of("left", ROW) == [0] and position_of("right", ROW) == [1]
    assert position_of("top", ROW) == []  # a single row has no top
    three = [[0, 0, 60, 60], [70, 0, 130, 60], [140, 0, 200, 60]]
    assert position_of("middle", three) == [1]
    assert strip_figure_label("Figure 2. (A) x.", "Figure 2") == "(A) x."
    assert strip_figure_label("Fig. 3: Text here.") == "Text here."


def test_letter_pairs_with_shared_text(tmp_path):
    rd = RunDir(tmp_path)
    # letters down the columns (A, B on the left; C, D on the right): letters, not reading order
    fig = make_figure(rd, "p1", 0, "Figure 1. Brain MRI. (A) Tumour. (B) Infarct. (C) c. (D) d. Scale bar, 1 cm.",
                      GRID, ["A", "C", "B", "D"])
    split = make_split(fig, [("_shared", "Brain MRI"), ("A", "Tumour"), ("B", "Infarct"), ("C", "c"), ("D", "d"),
                             ("_shared", "Scale bar, 1 cm")])
    pairs, rejects = align_figure(fig, split, AlignSettings(), rd)
    assert rejects == []
    by = {p.label: p for p in pairs}
    assert by["B"].panel_id == fig.panels[2].panel_id and by["C"].panel_id == fig.panels[1].panel_id
    assert by["A"].text == "Brain MRI. Tumour. Scale bar, 1 cm."
    assert by["A"].method == "letter" and by["A"].confidence == pytest.approx(0.95)
    assert by["A"].image == fig.panels[0].image and by["A"].license == "CC-BY-4.0"
    assert by["A"].provenance.stage == "align"
    # shared text forced to the front, or dropped
    pairs, _ = align_figure(fig, split, AlignSettings(shared="prepend"), rd)
    assert {p.label: p.text for p in pairs}["B"] == "Brain MRI. Scale bar, 1 cm. Infarct."
    pairs, _ = align_figure(fig, split, AlignSettings(shared="drop"), rd)
    assert {p.label: p.text for p in pairs}["B"] == "Infarct."
    with pytest.raises(ValueError):
        AlignSettings(shared="sideways")


def test_order_when_letters_missing(tmp_path):
    rd = RunDir(tmp_path)
    boxes = [GRID[3], GRID[1], GRID[0], GRID[2]]  # parse order scrambled
    fig = make_figure(rd, "p1", 0, "Figure 1. (a) one. (b) two. (c) three. (d) four.", boxes)
    split = make_split(fig, [("A", "one"), ("B", "two"), ("C", "three"), ("D", "four")])
    pairs, rejects = align_figure(fig, split, AlignSettings(), rd)
    assert rejects == []
    got = {p.label: p.panel_id for p in pairs}
    # reading order: top left (index 2), top right (1), bottom left (3), bottom right (0)
    assert got == {"A": fig.panels[2].panel_id, "B": fig.panels[1].panel_id,
                   "C": fig.panels[3].panel_id, "D": fig.panels[0].panel_id}
    assert {p.method for p in pairs} == {"order"} and pairs[0].confidence == pytest.approx(0.7)


def test_partial_letters_fill_by_order(tmp_path):
    rd = RunDir(tmp_path)
    fig = make_figure(rd, "p1", 0, "Figure 1. (A) a. (B) b. (C) c. (D) d.", GRID, ["A", None, "C", None], source="ocr")
    split = make_split(fig, [("A", "a"), ("B", "b"), ("C", "c"), ("D", "d")])
    pairs, rejects = align_figure(fig, split, AlignSettings(), rd)
    assert rejects == []
    got = {p.label: (p.panel_id, p.method) for p in pairs}
    assert got["A"] == (fig.panels[0].panel_id, "letter") and got["C"] == (fig.panels[2].panel_id, "letter")
    assert got["B"] == (fig.panels[1].panel_id, "order") and got["D"] == (fig.panels[3].panel_id, "order")
    assert {p.label: p.confidence for p in pairs}["B"] == pytest.approx(0.6)


def test_letters_against_the_layout(tmp_path):
    from medvl.align import letters_follow_layout

    boxes = dict(enumerate(GRID))
    assert letters_follow_layout({0: "A", 1: "B", 2: "C", 3: "D"}, boxes)  # rows
    assert letters_follow_layout({0: "A", 2: "B", 1: "C", 3: "D"}, boxes)  # columns
    assert not letters_follow_layout({1: "A", 0: "C", 3: "B", 2: "D"}, boxes)
    # letters shifted onto the neighbouring panels (a letter in the top-right corner read as the
    # next panel's): not trusted, reading order decides
    rd = RunDir(tmp_path)
    three = [[0, 0, 60, 60], [70, 0, 130, 60], [140, 0, 200, 60]]
    fig = make_figure(rd, "p1", 0, "Figure 1. (A) a. (B) b. (C) c.", three, ["C", "A", "B"])
    pairs, rejects = align_figure(fig, make_split(fig, [("A", "a"), ("B", "b"), ("C", "c")]), AlignSettings(), rd)
    assert rejects == []
    assert [(p.label, p.panel_id, p.method) for p in pairs] == [
        ("A", fig.panels[0].panel_id, "order"), ("B", fig.panels[1].panel_id, "order"),
        ("C", fig.panels[2].panel_id, "order")]
    assert pairs[0].confidence == pytest.approx(0.6)


def test_positions(tmp_path):
    rd = RunDir(tmp_path)
    fig = make_figure(rd, "p1", 0, "Figure 1. Left: tumour. Right: normal.", [ROW[1], ROW[0]])
    split = make_split(fig, [("left", "tumour"), ("Right panel", "normal")])
    pairs, rejects = align_figure(fig, split, AlignSettings(), rd)
    assert rejects == []
    got = {p.label: p for p in pairs}
    assert got["left"].panel_id == fig.panels[1].panel_id and got["right"].panel_id == fig.panels[0].panel_id
    assert got["left"].method == "position"
    # one "left" for a 2x2 grid is ambiguous / the counts disagree: rejected with a reason
    fig2 = make_figure(rd, "p1", 1, "Figure 2. Left: a. Right: b.", GRID)
    pairs, rejects = align_figure(fig2, make_split(fig2, [("left", "a"), ("right", "b")]), AlignSettings(), rd)
    assert pairs == []
    reasons = sorted(r.reason for r in rejects)
    assert reasons.count("count_mismatch") == 2 and reasons.count("no_subcaption_for_panel") == 4


def test_whole_and_single_panel(tmp_path):
    rd = RunDir(tmp_path)
    fig = make_figure(rd, "p1", 0, "Figure 1. Axial MRI showing a tumour", [])
    pairs, rejects = align_figure(fig, make_split(fig, []), AlignSettings(), rd)
    assert rejects == [] and len(pairs) == 1
    assert pairs[0].method == "whole" and pairs[0].text == "Axial MRI showing a tumour." and pairs[0].label is None
    assert pairs[0].image == fig.image and pairs[0].pair_id.endswith("-whole-00")
    one = make_figure(rd, "p1", 1, "Figure 2. Title only.", [[5, 5, 190, 190]])
    pairs, _ = align_figure(one, make_split(one, [("_shared", "Title only")]), AlignSettings(), rd)
    assert [p.method for p in pairs] == ["single_panel"] and pairs[0].image == one.panels[0].image
    # no split row at all: paired whole, with a reject saying why
    multi = make_figure(rd, "p1", 2, "Figure 3. (A) x. (B) y.", ROW, ["A", "B"])
    pairs, rejects = align_figure(multi, None, AlignSettings(), rd)
    assert [p.method for p in pairs] == ["whole"] and pairs[0].confidence == pytest.approx(0.5)
    assert [r.reason for r in rejects] == ["no_split"]
    # labelled subcaptions but no panels found: whole pair, every subcaption rejected
    flat = make_figure(rd, "p1", 3, "Figure 4. (A) x. (B) y.", [])
    pairs, rejects = align_figure(flat, make_split(flat, [("A", "x"), ("B", "y")]), AlignSettings(), rd)
    assert [p.method for p in pairs] == ["whole"]
    assert sorted(r.id for r in rejects) == [f"{flat.figure_id}:A", f"{flat.figure_id}:B"]
    assert {r.reason for r in rejects} == {"no_panels"}


def test_unpaired_subcaptions_and_panels_are_rejected(tmp_path):
    rd = RunDir(tmp_path)
    fig = make_figure(rd, "p1", 0, "Figure 1. (A) a. (B) b. (E) e.", GRID, ["A", "B", "C", "D"])
    split = make_split(fig, [("A", "a"), ("B", "b"), ("E", "e"), ("1", "numbered")])
    pairs, rejects = align_figure(fig, split, AlignSettings(), rd)
    assert sorted(p.label for p in pairs) == ["A", "B"]
    reasons = {r.id: r.reason for r in rejects}
    assert reasons[f"{fig.figure_id}:E"] == "label_not_found"
    assert reasons[f"{fig.figure_id}:1"] == "label_not_found"
    assert reasons[fig.panels[2].panel_id] == "no_subcaption_for_panel"
    assert reasons[fig.panels[3].panel_id] == "no_subcaption_for_panel"
    assert all(r.stage == "align" and r.paper_id == "p1" and r.detail for r in rejects)
    # duplicate letters: neither panel is trusted, order decides when counts agree
    dup = make_figure(rd, "p1", 1, "Figure 2. (A) a. (B) b.", ROW, ["A", "A"])
    pairs, rejects = align_figure(dup, make_split(dup, [("A", "a"), ("B", "b")]), AlignSettings(), rd)
    assert [(p.label, p.method) for p in pairs] == [("A", "order"), ("B", "order")] and rejects == []
    # a missing panel image file is a reject, not a crash
    gone = make_figure(rd, "p1", 2, "Figure 3. (A) a. (B) b.", ROW, ["A", "B"])
    rd.inside(gone.panels[1].image).unlink()
    pairs, rejects = align_figure(gone, make_split(gone, [("A", "a"), ("B", "b")]), AlignSettings(), rd)
    assert [p.label for p in pairs] == ["A"]
    assert {r.reason for r in rejects} == {"image_missing", "panel_without_image"}


def test_crops_missing_panel_images(tmp_path):
    rd = RunDir(tmp_path)
    fig = make_figure(rd, "p1", 0, "Figure 1. (A) a. (B) b.", ROW, ["A", "B"], panel_images=False)
    pairs, rejects = align_figure(fig, make_split(fig, [("A", "a"), ("B", "b")]), AlignSettings(), rd)
    assert rejects == [] and len(pairs) == 2
    with Image.open(rd.inside(pairs[1].image)) as im:
        assert im.size == (95, 200)
    pairs, rejects = align_figure(fig, make_split(fig, [("A", "a"), ("B", "b")]), AlignSettings(crop_missing=False), rd)
    assert pairs == [] and {r.reason for r in rejects} == {"no_image", "panel_without_image"}


def _write_inputs(rd: RunDir, n_papers: int = 3) -> tuple[list[Figure], list[SplitRow]]:
    figs, splits = [], []
    for i in range(n_papers):
        pid = f"p{i:016x}"
        f1 = make_figure(rd, pid, 0, "Figure 1. (A) tumour. (B) infarct.", ROW, ["A", "B"])
        f2 = make_figure(rd, pid, 1, "Figure 2. Normal brain.", [])
        figs += [f1, f2]
        splits += [make_split(f1, [("A", "tumour"), ("B", "infarct")]), make_split(f2, [])]
    write_jsonl(rd.file("figures.jsonl"), figs)
    write_jsonl(rd.file("subcaptions.jsonl"), splits)
    return figs, splits


def test_align_run_resumes_and_redoes_changed_papers(tmp_path):
    rd = RunDir(tmp_path / "run")
    figs, splits = _write_inputs(rd)
    calls = []
    s1 = align_run(rd.path, progress=lambda n=1, total=None, note="": calls.append(note))
    assert s1.papers == 3 and s1.pairs == 9 and s1.papers_skipped == 0
    assert s1.methods == {"letter": 6, "whole": 3}
    first = rd.file("pairs.jsonl").read_bytes()
    rows = list(read_jsonl(rd.file("pairs.jsonl")))
    assert [r["paper_id"] for r in rows] == sorted(r["paper_id"] for r in rows)
    assert json.loads(rd.file("run.json").read_text())["stages"]["align"]["settings"]["shared"] == "auto"
    # a rerun skips everything and writes the same bytes
    s2 = align_run(rd.path)
    assert s2.papers_skipped == 3 and rd.file("pairs.jsonl").read_bytes() == first
    # an interrupted run (one unit lost) resumes to the same output
    (rd.parts_dir("align") / f"{figs[2].paper_id}.done").unlink()
    s3 = align_run(rd.path)
    assert s3.papers_skipped == 2 and rd.file("pairs.jsonl").read_bytes() == first
    # a changed split row redoes that paper only
    splits[0] = make_split(figs[0], [("A", "bright tumour"), ("B", "infarct")])
    write_jsonl(rd.file("subcaptions.jsonl"), splits)
    s4 = align_run(rd.path)
    assert s4.papers_skipped == 2
    texts = [r["text"] for r in read_jsonl(rd.file("pairs.jsonl"))]
    assert "Bright tumour." not in texts and "bright tumour." in texts
    # changed settings redo everything
    s5 = align_run(rd.path, AlignSettings(shared="drop"))
    assert s5.papers_skipped == 0


def test_input_hash_ignores_split_run_details_but_not_content(tmp_path):
    """An LLM split rerun changes latency_s, cached, tokens and tool versions of a row, not its content:
    the pairs (their provenance input hash included) stay byte-identical and align redoes no paper."""
    from medvl.align import figure_input_sha

    rd = RunDir(tmp_path / "run")
    figs, splits = _write_inputs(rd)
    llm_like = [s.model_copy(update={"splitter": "llm", "prompt_id": "split/fewshot@1", "prompt_sha": "ab" * 8,
                                     "model": "m", "latency_s": 1.25, "cached": False, "tokens": {"prompt": 90}})
                for s in splits]
    write_jsonl(rd.file("subcaptions.jsonl"), llm_like)
    align_run(rd.path)
    first = rd.file("pairs.jsonl").read_bytes()
    rerun = [s.model_copy(update={"latency_s": 0.001, "cached": True, "tokens": None, "reasks": 0,
                                  "provenance": s.provenance.model_copy(update={"tools": {"openai": "9"}})})
             for s in llm_like]
    write_jsonl(rd.file("subcaptions.jsonl"), rerun)
    s = align_run(rd.path)
    assert s.papers_skipped == 3 and rd.file("pairs.jsonl").read_bytes() == first
    # the same holds for align_figure itself (what the pipeline's align shards call)
    p1, _ = align_figure(figs[0], llm_like[0], AlignSettings(), rd)
    p2, _ = align_figure(figs[0], rerun[0], AlignSettings(), rd)
    assert [p.model_dump_json() for p in p1] == [p.model_dump_json() for p in p2]
    # what does change the pairs changes the hash: subcaptions, prompt, panels, caption, settings
    base = figure_input_sha(figs[0], llm_like[0])
    other_sub = llm_like[0].model_copy(update={"subcaptions": llm_like[0].subcaptions[:1]})
    other_prompt = llm_like[0].model_copy(update={"prompt_sha": "cd" * 8})
    moved = figs[0].model_copy(update={"panels": [figs[0].panels[1], figs[0].panels[0]]})
    recaptioned = figs[0].model_copy(update={"caption": "Figure 1. (A) glioma. (B) infarct."})
    assert len({base, figure_input_sha(figs[0], other_sub), figure_input_sha(figs[0], other_prompt),
                figure_input_sha(moved, llm_like[0]), figure_input_sha(recaptioned, llm_like[0]),
                figure_input_sha(figs[0], llm_like[0], AlignSettings(shared="drop")),
                figure_input_sha(figs[0], None)}) == 7
    assert p1[0].provenance.input_sha256 == base
    # and a changed subcaption redoes its paper only
    rerun[0] = other_sub
    write_jsonl(rd.file("subcaptions.jsonl"), rerun)
    assert align_run(rd.path).papers_skipped == 2


def test_align_run_bad_rows_orphans_and_missing_split(tmp_path):
    rd = RunDir(tmp_path / "run")
    figs, splits = _write_inputs(rd, 1)
    with open(rd.file("figures.jsonl"), "a") as fh:
        fh.write(json.dumps({"figure_id": "broken", "paper_id": "p9"}) + "\n")
    orphan = make_split(make_figure(None, "pX", 0, "Figure 1. x", []), [])
    write_jsonl(rd.file("subcaptions.jsonl"), [*splits, orphan])
    s = align_run(rd.path)
    assert s.pairs == 3
    rej = list(read_jsonl(rd.file("rejects.jsonl")))
    reasons = {r["reason"] for r in rej}
    assert {"bad_record", "orphan_split"} <= reasons
    bad = next(r for r in rej if r["reason"] == "bad_record")
    assert "figures.jsonl:3" in bad["detail"]
    # without any subcaptions file every figure is paired whole, and the run says why
    rd.file("subcaptions.jsonl").unlink()
    s = align_run(rd.path)
    assert s.methods == {"whole": 2} and s.reject_reasons.get("no_split") == 2 and s.reject_reasons.get("missing") == 1


def test_align_run_without_figures_is_a_clear_error(tmp_path):
    from medvl.errors import InputError

    with pytest.raises(InputError, match="figures.jsonl"):
        align_run(tmp_path)


def test_cli_align(tmp_path):
    from typer.testing import CliRunner

    from medvl.cli import app

    rd = RunDir(tmp_path / "run")
    _write_inputs(rd, 2)
    res = CliRunner().invoke(app, ["align", str(rd.path)])
    assert res.exit_code == 0, res.output
    assert "6 pairs from 4 figures in 2 papers" in res.output
    assert len(list(read_jsonl(rd.file("pairs.jsonl")))) == 6
    res = CliRunner().invoke(app, ["align", str(rd.path), "--shared", "nowhere"])
    assert res.exit_code != 0
    res = CliRunner().invoke(app, ["align", str(rd.path), "--fill", "everything"])  # the option README names
    assert res.exit_code != 0 and "fill must be figure or subcaption" in str(res.exception), res.output


@pytest.mark.slow
def test_synth_parse_split_align_export_against_ground_truth(tmp_path):
    """Integration: synthetic PDFs -> parse -> rule splitter -> align -> export, checked against the known answers."""
    from medvl.parse import ParseSettings, parse_inputs
    from medvl.split.rules import RULES_VERSION, split_caption
    from medvl.synth import generate_corpus
    from medvl.synth.score import score_run

    corpus = generate_corpus(tmp_path / "corpus", papers=3, seed=0)
    rd = RunDir(tmp_path / "run")
    parse_inputs([corpus / "papers"], rd, ParseSettings())
    figs = [Figure.model_validate(r) for r in read_jsonl(rd.file("figures.jsonl"))]
    rows = [SplitRow(id=f.figure_id, caption_sha256=sha256_text(f.caption), subcaptions=split_caption(f.caption),
                     splitter="rules", provenance=Provenance(stage="split", stage_version=RULES_VERSION,
                                                             input_sha256=sha256_text(f.caption)))
            for f in figs]
    write_jsonl(rd.file("subcaptions.jsonl"), rows)
    summary = align_run(rd.path)
    assert summary.pairs > 0 and "letter" in summary.methods and "order" in summary.methods
    score = score_run(corpus, rd.path)
    assert score["figures_matched"] == score["gt_figures"]
    assert score["pair_precision"] >= 0.85, score
    assert score["panel_recall"] >= 0.6, score
    # every pair's image exists inside the run directory
    for p in read_jsonl(rd.file("pairs.jsonl")):
        assert rd.inside(p["image"]).is_file()
    # export finds the ground truth next to the papers and labels panels with their drawn class;
    # the class named in the text agrees with the class drawn in the image
    from medvl.export import ExportSettings, export_run

    export_run(rd.path, tmp_path / "data", ExportSettings(seed=0))
    meta = list(read_jsonl(tmp_path / "data" / "metadata.jsonl"))
    panel_rows = [m for m in meta if m["panel_id"] and m["synthetic_class"]]
    assert len(panel_rows) >= 0.8 * sum(1 for m in meta if m["panel_id"])
    words = {"tumour": ("tumour", "tumor"), "hemorrhage": ("hemorrhag", "haemorrhag"), "infarct": ("infarct",),
             "aneurysm": ("aneurysm",), "demyelination": ("demyelinat",), "normal": ("normal",)}
    agree = sum(any(w in m["text"].lower() for w in words[m["synthetic_class"]]) for m in panel_rows)
    assert agree >= 0.85 * len(panel_rows)


def test_figure_label_kept_by_a_splitter_is_dropped(tmp_path):
    rd = RunDir(tmp_path)
    fig = make_figure(rd, "p1", 0, "Figure 1. (A) Tumour. (B) Infarct.", ROW, ["A", "B"])
    split = make_split(fig, [("_shared", "Figure 1."), ("A", "Tumour"), ("B", "Infarct")])
    pairs, _ = align_figure(fig, split, AlignSettings(), rd)
    assert {p.label: p.text for p in pairs} == {"A": "Tumour.", "B": "Infarct."}
    split = make_split(fig, [("A", "Figure 1. Tumour"), ("B", "Infarct")])
    pairs, _ = align_figure(fig, split, AlignSettings(), rd)
    assert {p.label: p.text for p in pairs}["A"] == "Tumour."
