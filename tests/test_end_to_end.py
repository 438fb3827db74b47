"""The whole flow on CPU through the CLI: synth -> parse -> split (rules) -> align -> export (aligned and raw)
-> train medvl-tiny on both -> eval compare on the aligned test split.

Asserts that parse and split match the synthetic ground truth, that the aligned-pairs model retrieves
panels well above chance, and that it beats the raw-pairs model (whole figure <-> whole caption) on
panel-level retrieval over the same test set, even when the raw model gets as many optimizer steps.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("open_clip_train")

REPO = Path(__file__).resolve().parent.parent
PAPERS = int(os.environ.get("MEDVL_E2E_PAPERS", "40"))
SEED = int(os.environ.get("MEDVL_E2E_SEED", "0"))  # train seed; the corpus seed is fixed
SPLIT = "0.6,0,0.4"  # by paper: a larger test split makes the retrieval comparison less noisy
STEPS = 100  # optimizer steps for each model
BATCH = 32
LR = "5e-3"


def medvl(*args: str | Path, ok=(0,)) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    r = subprocess.run([sys.executable, "-c", "from medvl.cli import main; main()", *map(str, args)],
                       capture_output=True, text=True, cwd=REPO, env=env)
    assert r.returncode in ok, f"medvl {' '.join(map(str, args))} -> {r.returncode}\n{r.stdout[-2000:]}\n{r.stderr[-3000:]}"
    return r


def rows(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]


def n_train(data: Path) -> int:
    return len(data.joinpath("train.csv").read_text().splitlines()) - 1


@pytest.mark.slow
def test_end_to_end_synthetic(tmp_path):
    from medvl.split.metrics import score_predictions
    from medvl.synth.score import match_figure, score_run

    corpus, run, d_al, d_raw = tmp_path / "corpus", tmp_path / "run", tmp_path / "data_aligned", tmp_path / "data_raw"
    medvl("synth", "--out", corpus, "--papers", PAPERS, "--seed", 0)
    medvl("parse", corpus / "papers", "--out", run, ok=(0, 1))
    medvl("split", run, ok=(0, 1))
    medvl("align", run, ok=(0, 1))
    medvl("export", run, "--out", d_al, "--format", "csv", "--split", SPLIT, ok=(0, 1))
    medvl("export", run, "--out", d_raw, "--pairs", "raw", "--format", "csv", "--split", SPLIT, ok=(0, 1))

    # -- parse and split against the ground truth
    score = score_run(corpus, run)
    assert score["figures_matched"] >= 0.95 * score["gt_figures"], score
    assert score["panels_matched"] >= 0.9 * score["gt_panels"], score
    assert score["pair_precision"] >= 0.9 and score["panel_recall"] >= 0.8, score
    gt = {p["paper_id"]: p for p in json.loads((corpus / "ground_truth.json").read_text())["papers"]}
    gold = []
    for f in rows(run / "figures.jsonl"):
        g = match_figure(f, gt[f["paper_id"]]) if f["paper_id"] in gt else None
        if g is not None:
            gold.append({"id": f["figure_id"], "subcaptions": g["subcaptions"]})
    split_score = score_predictions(gold, rows(run / "subcaptions.jsonl"))
    assert split_score["label_f1"] >= 0.9, split_score["disagreements"][:5]
    assert split_score["exact_label_set"] >= 0.85 and split_score["text_f1"] >= 0.9

    # -- both exports hold the same test papers; panels carry their synthetic class
    meta_al, meta_raw = rows(d_al / "metadata.jsonl"), rows(d_raw / "metadata.jsonl")
    test_papers = {m["paper_id"] for m in meta_al if m["split"] == "test"}
    assert test_papers and test_papers == {m["paper_id"] for m in meta_raw if m["split"] == "test"}
    assert sum(bool(m["synthetic_class"]) for m in meta_al if m["split"] == "test") >= 0.8 * len(
        [m for m in meta_al if m["split"] == "test"])

    # -- train the tiny model on each, with the same number of optimizer steps
    ckpts = {}
    for name, data in (("aligned", d_al), ("raw", d_raw)):
        steps_per_epoch = n_train(data) // BATCH
        assert steps_per_epoch >= 1, f"{name}: {n_train(data)} training pairs"
        epochs = math.ceil(STEPS / steps_per_epoch)
        out = tmp_path / f"train_{name}"
        medvl("train", data, "--model", "medvl-tiny", "--epochs", epochs, "--batch-size", BATCH, "--lr", LR,
              "--warmup", 10, "--seed", SEED, "--workers", 1, "--threads", 1, "--val-frequency", 0, "--out", out)
        rec = json.loads((out / "medvl_train.json").read_text())
        assert rec["data"]["manifest"]["pairs"] == name and rec["result"]["epochs_done"] == epochs
        ckpts[name] = out

    # -- evaluate both on the ALIGNED test split (panel image <-> subcaption)
    r = medvl("eval", "compare", d_al, "--raw", ckpts["raw"], "--aligned", ckpts["aligned"],
              "--out", tmp_path / "compare", "--threads", 1)
    assert "| metric | raw | aligned | aligned − raw |" in r.stdout
    al = json.loads((tmp_path / "compare" / "aligned" / "metrics.json").read_text())
    raw = json.loads((tmp_path / "compare" / "raw" / "metrics.json").read_text())
    assert al["data"]["pairs"] == "aligned" and al["data"]["n_evaluated"] == raw["data"]["n_evaluated"] >= 60
    ret_al, ret_raw = al["retrieval"], raw["retrieval"]
    chance5 = ret_al["chance"]["R@5"]
    r5_al = (ret_al["image_to_text"]["R@5"] + ret_al["text_to_image"]["R@5"]) / 2
    r5_raw = (ret_raw["image_to_text"]["R@5"] + ret_raw["text_to_image"]["R@5"]) / 2
    summary = f"R@5 aligned {r5_al:.3f} raw {r5_raw:.3f} chance {chance5:.3f}"
    assert r5_al >= 2 * chance5, summary  # learned: well above chance
    assert r5_al >= r5_raw + 0.05, summary  # aligned pairs beat raw pairs on panel-level retrieval
    assert al["zeroshot"]["n"] > 0 and al["checkpoint"]["sha256"] != raw["checkpoint"]["sha256"]
