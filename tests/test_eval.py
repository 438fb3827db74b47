"""medvl eval: retrieval and zero-shot metrics (hand-checked), suites, and a real tiny model end to end."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from medvl.errors import InputError
from medvl.evaluate.retrieval import chance_recall, ranks, retrieval_metrics, text_groups
from medvl.evaluate.zeroshot import Suite, class_weights, classify, load_suite, zeroshot_metrics

REPO = Path(__file__).resolve().parent.parent


# ---------------------------------------------------------------- retrieval metrics

def test_perfect_and_reversed_retrieval():
    f = np.eye(4)
    m = retrieval_metrics(f, f, ["a", "b", "c", "d"])
    assert m["image_to_text"]["R@1"] == 1.0 and m["text_to_image"]["median_rank"] == 1.0
    # image i is most similar to text 3-i: correct text ranks 2nd for i=0..3 except where equal
    txt = np.array([[1.0, 0.1, 0, 0], [0.1, 1.0, 0, 0], [0, 0, 1.0, 0.1], [0, 0, 0.1, 1.0]])
    img = txt[[1, 0, 3, 2]]  # every image looks like its neighbour's text
    m = retrieval_metrics(img, txt, ["a", "b", "c", "d"])
    assert m["image_to_text"]["R@1"] == 0.0 and m["image_to_text"]["R@5"] == 1.0
    assert m["image_to_text"]["mean_rank"] == 2.0 and m["text_to_image"]["mean_rank"] == 2.0


def test_ranks_by_hand_and_duplicate_texts():
    sim = np.array([[0.9, 0.8, 0.1],
                    [0.7, 0.2, 0.6],
                    [0.5, 0.4, 0.3]])
    g = np.array([0, 1, 2])
    assert ranks(sim, g, g).tolist() == [1, 3, 3]
    # texts 0 and 2 are the same caption: either is correct for query 0 and 2
    assert text_groups(["A red  circle", "x", "a red circle"]).tolist() == [0, 1, 0]
    g2 = np.array([0, 1, 0])
    assert ranks(sim, g2, g2).tolist() == [1, 3, 1]
    with pytest.raises(ValueError, match="shape"):
        ranks(sim[:2], g, g)


def test_chance_recall_matches_enumeration():
    n, m, k = 6, 2, 2
    # enumerate every top-k set: fraction that holds a correct candidate (0 or 1)
    hits = [bool({0, 1} & set(top)) for top in itertools.combinations(range(n), k)]
    assert chance_recall(n, [m], k) == pytest.approx(sum(hits) / len(hits))
    assert chance_recall(10, [1] * 10, 5) == pytest.approx(0.5)
    assert chance_recall(3, [1], 5) == 1.0


# ---------------------------------------------------------------- zero-shot

def test_zeroshot_metrics_by_hand():
    pred = np.array([0, 0, 1, 2, 2, 1])
    truth = np.array([0, 1, 1, 2, 2, 2])
    m = zeroshot_metrics(pred, truth, ["a", "b", "c"])
    assert m["accuracy"] == pytest.approx(4 / 6)
    assert m["per_class"]["a"] == {"n": 1, "recall": 1.0}
    assert m["per_class"]["b"] == {"n": 2, "recall": 0.5}
    assert m["per_class"]["c"]["recall"] == pytest.approx(2 / 3)
    assert m["confusion"]["matrix"] == [[1, 0, 0], [1, 1, 0], [0, 1, 2]]
    assert m["balanced_accuracy"] == pytest.approx((1 + 0.5 + 2 / 3) / 3)


def test_class_weights_and_classify():
    w = class_weights([np.array([[1.0, 0.0], [1.0, 0.2]]), np.array([[0.0, 3.0]])])
    assert np.allclose(np.linalg.norm(w, axis=1), 1.0)
    assert classify(np.array([[5.0, 0.1], [0.1, 2.0]]), w).tolist() == [0, 1]


def test_brain_suite_covers_the_synthetic_classes():
    suite, sha = load_suite("brain")
    assert len(sha) == 64 and suite.id == "brain"
    ids = {c.id for c in suite.classes}
    for cls in ("tumour", "hemorrhage", "infarct", "aneurysm", "demyelination", "normal"):
        assert cls in ids
    assert suite.class_of("Tumor") == "tumour" and suite.class_of("stroke") == "infarct"
    assert suite.class_of("arteriovenous malformation") == "aneurysm" and suite.class_of("cat") is None
    from medvl.synth.images import CLASSES

    assert CLASSES and all(suite.class_of(c) for c in CLASSES)


def test_bad_suites_are_refused(tmp_path):
    with pytest.raises(ValueError, match="slot"):
        Suite(id="x", version="1", templates=["no slot"], classes=[{"id": "a", "names": ["a"]},
                                                                   {"id": "b", "names": ["b"]}])
    with pytest.raises(ValueError, match="maps to both"):
        Suite(id="x", version="1", templates=["{}"], classes=[{"id": "a", "names": ["a"], "labels": ["z"]},
                                                              {"id": "b", "names": ["b"], "labels": ["Z"]}])
    p = tmp_path / "s.yaml"
    p.write_text("id: s\nversion: 1\ntemplates: ['{}']\nclasses: [{id: a, names: [a]}]\n")
    with pytest.raises(InputError, match=r"s.yaml"):
        load_suite(p)
    with pytest.raises(InputError, match="suite not found"):
        load_suite("no-such-suite")


def test_evaluate_package_imports_without_torch():
    code = ("import sys; sys.modules['torch'] = None; sys.modules['open_clip'] = None\n"
            "import medvl.evaluate, medvl.evaluate.retrieval, medvl.evaluate.zeroshot, medvl.evaluate.compare\n"
            "import medvl.train, medvl.cli.train, medvl.cli.evaluate\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


# ---------------------------------------------------------------- a real model

SHAPES_SUITE = """\
id: shapes
version: 1
label_fields: [synthetic_class]
templates: ["a {} circle", "a {} square", "a {} triangle"]
classes:
  - {id: red, names: [red]}
  - {id: green, names: [green]}
  - {id: blue, names: [blue]}
  - {id: yellow, names: [yellow]}
"""


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    pytest.importorskip("open_clip_train")
    from tests.helpers.shapes import make_shapes

    from medvl.train import TrainConfig, train

    root = tmp_path_factory.mktemp("evalrun")
    data = make_shapes(root / "data", n_train=192, n_test=48, seed=3)
    res = train(TrainConfig(data_dir=data, out=root / "tiny", epochs=6, batch_size=32, lr=2e-3, workers=0,
                            seed=0, val_frequency=0, threads=1))
    suite = root / "shapes.yaml"
    suite.write_text(SHAPES_SUITE)
    return root, data, res, suite


@pytest.mark.slow
def test_evaluate_trained_tiny_model(trained, tmp_path):
    from medvl.evaluate import evaluate
    from medvl.records import sha256_file

    root, data, res, suite = trained
    # a corrupt image: reported as a reject row, the rest is evaluated
    (data / "img" / "test_0005.png").write_bytes(b"not a png")
    out = tmp_path / "ev"
    m = evaluate(root / "tiny", data, suite=suite, out=out, threads=1)
    r = m["retrieval"]
    assert m["data"]["n_rows"] == 48 and m["data"]["n_evaluated"] == 47 and m["data"]["n_rejected"] == 1
    rejects = [json.loads(x) for x in (out / "rejects.jsonl").read_text().splitlines()]
    assert rejects[0]["reason"] == "unreadable_image" and "test_0005.png" in rejects[0]["source"]
    assert rejects[0]["id"] == "test-5"
    # learned: text->image recall well above chance
    assert r["text_to_image"]["R@1"] > r["chance"]["R@1"] + 0.2
    assert r["image_to_text"]["R@5"] > r["chance"]["R@5"]
    z = m["zeroshot"]
    assert z["suite"] == "shapes" and z["n"] == 47
    assert z["accuracy"] > z["chance_accuracy"] + 0.25
    assert sum(v["n"] for v in z["per_class"].values()) == 47
    # versions: checkpoint sha, data manifest sha, code
    assert m["checkpoint"]["sha256"] == sha256_file(res.checkpoint) and m["checkpoint"]["model"] == "medvl-tiny"
    assert m["data"]["manifest_sha256"] == sha256_file(data / "manifest.json")
    assert m["code"]["medvl"] and "git_hash" in m["code"]
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["retrieval"] == r
    md = (out / "metrics.md").read_text()
    assert "| image → text |" in md and m["checkpoint"]["sha256"] in md and "## Zero-shot (shapes v1)" in md
    preds = [json.loads(x) for x in (out / "predictions.jsonl").read_text().splitlines()]
    assert len(preds) == 47 and {p["zeroshot_pred"] for p in preds} <= {"red", "green", "blue", "yellow"}
    assert all(p["rank_image_to_text"] >= 1 for p in preds)


@pytest.mark.slow
def test_eval_cli_and_compare(trained, tmp_path):
    root, data, res, suite = trained
    medvl = [sys.executable, "-c", "from medvl.cli import main; main()"]
    r = subprocess.run([*medvl, "eval", str(res.checkpoint), str(data), "--suite", "none",
                        "--out", str(tmp_path / "e"), "--threads", "1"], capture_output=True, text=True, cwd=REPO)
    assert r.returncode == 0, r.stderr
    assert "| text → image |" in r.stdout and (tmp_path / "e" / "metrics.json").exists()
    assert json.loads((tmp_path / "e" / "metrics.json").read_text())["zeroshot"] is None
    r = subprocess.run([*medvl, "eval", "compare", "--raw", str(root / "tiny"), "--aligned", str(res.checkpoint),
                        str(data), "--suite", str(suite), "--out", str(tmp_path / "c"), "--threads", "1"],
                       capture_output=True, text=True, cwd=REPO)
    assert r.returncode == 0, r.stderr
    assert "| metric | raw | aligned | aligned − raw |" in r.stdout and "zero-shot accuracy" in r.stdout
    cmp = json.loads((tmp_path / "c" / "compare.json").read_text())
    row = next(x for x in cmp["rows"] if x["metric"] == "text → image R@1")
    assert row["values"]["raw"] == row["values"]["aligned"] and row["delta_aligned_minus_raw"] == 0
    assert (tmp_path / "c" / "raw" / "metrics.json").exists() and (tmp_path / "c" / "aligned" / "metrics.md").exists()
    # a missing checkpoint: one clear line, exit 2
    r = subprocess.run([*medvl, "eval", str(tmp_path / "nope.pt"), str(data)], capture_output=True, text=True)
    assert r.returncode == 2 and "nope.pt: checkpoint not found" in " ".join(r.stderr.split()).replace("/ ", "/")
