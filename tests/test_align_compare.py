"""Align prompt comparison on a figure gold: scoring, systems, the synthetic gold builder."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from medvl.align_compare import compare_aligners, gold_figure, score_pairs, synth_figure_gold
from medvl.cli import app
from medvl.errors import MedvlError
from medvl.runs import write_jsonl
from tests.helpers.fake_llm import FakeLLM, Reply
from tests.helpers.reverse_aligner import ReverseAligner  # noqa: F401 - registers the plugin aligner i12_reverse

# two figures written here: one the rules pair by letter, one they give up on (3 panels, no letters, 2 labels)
GOLD = [
    {"figure_id": "g1", "width": 200, "height": 100,
     "panels": [{"panel_id": "g1-k0", "bbox": [0, 0, 95, 100], "label": "A", "label_source": "pdf_text"},
                {"panel_id": "g1-k1", "bbox": [105, 0, 200, 100], "label": "B", "label_source": "pdf_text"}],
     "subcaptions": [{"label": "A", "text": "CT."}, {"label": "B", "text": "MRI."}],
     "pairs": {"A": "g1-k0", "B": "g1-k1"}},
    {"figure_id": "g2", "width": 300, "height": 100,
     "panels": [{"panel_id": "g2-k0", "bbox": [0, 0, 95, 100], "label": None, "label_source": None},
                {"panel_id": "g2-k1", "bbox": [105, 0, 195, 100], "label": None, "label_source": None},
                {"panel_id": "g2-k2", "bbox": [205, 0, 300, 100], "label": None, "label_source": None}],
     "subcaptions": [{"label": "_shared", "text": "Two scans."}, {"label": "A", "text": "Before."},
                     {"label": "B", "text": "After."}],
     "pairs": {"A": "g2-k0", "B": "g2-k2"}},
]


def test_score_pairs_precision_recall():
    pairs = [{"figure_id": "g1", "label": "A", "panel_id": "g1-k0"}, {"figure_id": "g1", "label": "B", "panel_id": "g1-k0"},
             {"figure_id": "g2", "label": None, "panel_id": None}]
    s = score_pairs(GOLD, pairs)
    assert s["pairs"] == 2 and s["pairs_correct"] == 1 and s["gold_pairs"] == 4
    assert s["pair_precision"] == 0.5 and s["pair_recall"] == 0.25 and s["figures_exact"] == 0.0
    fig, split = gold_figure(GOLD[1])
    assert [p.panel_id for p in fig.panels] == ["g2-k0", "g2-k1", "g2-k2"] and split.subcaptions[1].label == "A"


def test_compare_rules_llm_auto_on_a_figure_gold(tmp_path):
    gold = tmp_path / "gold.jsonl"
    write_jsonl(gold, GOLD)

    def answer(body, n):
        user = body["messages"][-1]["content"]
        if "P3" in user:  # g2: right answer (A -> P1, B -> P3)
            return Reply(content=json.dumps({"A": {"panel": "P1", "reason": "reading_order"},
                                             "B": {"panel": "P3", "reason": "reading_order"}}))
        # g1: swapped, with a reason, so the validators accept it: llm gets g1 wrong, auto never asks g1
        return Reply(content=json.dumps({"A": {"panel": "P2", "reason": "letter_misread"},
                                         "B": {"panel": "P1", "reason": "letter_misread"}}))

    with FakeLLM(answer) as fake:
        from medvl.llm.client import LLMSettings

        llm = LLMSettings(url=fake.url, model="fake-model", timeout_s=5, transport_retries=0)
        rep = compare_aligners(gold, ["align/zeroshot@1"], llm, out_dir=tmp_path / "out")
    by = {s["system"]: s for s in rep["systems"]}
    assert by["rules"]["pairs_correct"] == 2 and by["rules"]["pair_recall"] == 0.5
    assert by["llm:align/zeroshot@1"]["pairs_correct"] == 2 and by["llm:align/zeroshot@1"]["pair_precision"] == 0.5
    auto = by["auto:align/zeroshot@1"]
    assert auto["pair_precision"] == 1.0 and auto["pair_recall"] == 1.0 and auto["asked"] == 1
    assert auto["pair_precision"] >= by["rules"]["pair_precision"]
    assert auto["figures_by_aligner"]["llm_rescued"] == 1
    assert (tmp_path / "out" / "align_compare.md").read_text().count("| `") == 3


def test_a_registered_plugin_aligner_is_compared_by_name(tmp_path):
    gold = tmp_path / "gold.jsonl"
    write_jsonl(gold, GOLD)
    rep = compare_aligners(gold, [], None, aligners=("rules", "i12_reverse"), out_dir=tmp_path / "out")
    by = {s["system"]: s for s in rep["systems"]}
    assert list(by) == ["rules", "i12_reverse"]  # no model: compared once, without prompts
    assert by["rules"]["pairs_correct"] == 2 and by["i12_reverse"]["pairs_correct"] == 0  # g1's A/B swapped
    assert by["i12_reverse"]["aligner"] == "i12_reverse" and by["i12_reverse"]["prompt"] is None
    assert (tmp_path / "out" / "predictions" / "i12_reverse.jsonl").exists()
    with pytest.raises(MedvlError, match="unknown aligner .*known: .*i12_reverse"):
        compare_aligners(gold, [], None, aligners=("i12_revers",))


def test_cli_compare_align_prompts(tmp_path):
    gold = tmp_path / "gold.jsonl"
    write_jsonl(gold, GOLD)
    answer = {"A": {"panel": "P1", "reason": "reading_order"}, "B": {"panel": "P2", "reason": "reading_order"}}
    with FakeLLM(lambda b, n: Reply(content=json.dumps(answer))) as fake:
        r = CliRunner().invoke(app, ["prompts", "compare", "--gold", str(gold), "--prompts", "align/fewshot@1",
                                     "--rules", "--llm-url", fake.url, "--llm-model", "fake-model"])
    assert r.exit_code == 0, r.output
    assert "`auto:align/fewshot@1`" in r.output and "`rules`" in r.output
    # the systems are the registered aligners (medvl.registry.ALIGNERS), the plugin that asks no model too
    systems = [line.split("`")[1] for line in r.output.splitlines() if line.startswith("| `")]
    assert systems == ["i12_reverse", "rules", "llm:align/fewshot@1", "auto:align/fewshot@1"]


@pytest.mark.slow
def test_synth_figure_gold_has_known_answers(tmp_path):
    from medvl.parse import ParseSettings, parse_inputs
    from medvl.runs import RunDir
    from medvl.synth import generate_corpus

    corpus = generate_corpus(tmp_path / "corpus", papers=3, seed=1)
    rd = RunDir(tmp_path / "run")
    parse_inputs([corpus / "papers"], rd, ParseSettings())
    clean = synth_figure_gold(corpus, rd.path, drop_letters=0.0, drop_panel=0.0)
    assert clean and all(r["pairs"] and len(r["panels"]) >= 2 for r in clean)
    ids = {p["panel_id"] for r in clean for p in r["panels"]}
    assert all(v in ids for r in clean for v in r["pairs"].values() if v)
    hard = synth_figure_gold(corpus, rd.path, drop_letters=1.0, drop_panel=1.0)
    assert all(p["label"] is None for r in hard for p in r["panels"])
    assert any(None in r["pairs"].values() for r in hard if len(r["panels"]) >= 2)


def test_panel_gold_figures_from_blind_boxes(tmp_path):
    from medvl.align_compare import panel_gold_figures

    render = tmp_path / "render"
    fig = {"paper_id": "p1", "figure_id": "p1-f1", "source": "/x/corpus/pool/PMC1/fulltext.pdf", "label": "Figure 2",
           "caption": "Figure 2. (A) Axial CT. (B) Coronal CT.", "width": 200, "height": 100,
           "panels": [{"panel_id": "p1-f1-k00", "bbox": [0, 0, 98, 100], "label": None, "label_source": None},
                      {"panel_id": "p1-f1-k01", "bbox": [102, 0, 200, 100], "label": None, "label_source": None}]}
    one = {**fig, "figure_id": "p1-f2", "label": "Figure 3", "panels": fig["panels"][:1]}
    write_jsonl(render / "figures.jsonl", [fig, one])
    gold = tmp_path / "batch.jsonl"
    # the annotator saw B on the left and A on the right
    write_jsonl(gold, [{"paper": "pool/PMC1", "label": "Figure 2", "panels": 2, "boxes": [[0, 0, 0.5, 1], [0.5, 0, 1, 1]],
                        "panel_tags": [{"caption_label": "B"}, {"caption_label": "A"}]},
                       {"paper": "pool/PMC1", "label": "Figure 3", "panels": 1, "boxes": [[0, 0, 1, 1]],
                        "panel_tags": [{"caption_label": None}]},
                       {"paper": "pool/PMC9", "label": "Figure 1", "panels": 1, "boxes": [[0, 0, 1, 1]],
                        "panel_tags": [{"caption_label": None}]}])
    rows, skipped = panel_gold_figures([gold], [render])
    assert skipped == {"fewer_than_2_detected_panels": 1, "no_render": 1}
    assert len(rows) == 1 and rows[0]["pairs"] == {"A": "p1-f1-k01", "B": "p1-f1-k00"}
    assert [s["label"] for s in rows[0]["subcaptions"]] == ["A", "B"]
