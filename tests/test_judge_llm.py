"""The judge against the real local OpenAI-compatible server (vLLM, tiny CPU model).

Structure and behaviour only (a 135M model is no judge): validated records with provenance,
per-item resume, the answer cache (a rerun makes no new requests), intervals consistent with
the maths, the image-mode fallback.  A handful of items keeps it quick on CPU."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from medvl.evaluate import judge as J
from medvl.evaluate import stats
from medvl.records import Judgment

from tests.helpers.report_run import make_run
from tests.helpers.env import LLM_MODEL, LLM_URL, needs_llm

URL, MODEL = LLM_URL, LLM_MODEL

pytestmark = [pytest.mark.llm, needs_llm]


def _settings(run: Path):
    from medvl.llm.client import LLMSettings

    return LLMSettings(url=URL, model=MODEL, cache_path=run / ".cache" / "llm.sqlite", timeout_s=120, concurrency=2)


def _lines(p: Path) -> list[dict]:
    return [json.loads(x) for x in p.read_text().splitlines() if x.strip()] if p.is_file() else []


@pytest.mark.slow  # 17.4 and 10.5 s against the real server
def test_judge_splits_real_server_records_cache_and_maths(tmp_path):
    run = tmp_path / "run"
    make_run(run, judged=False, metrics=False)
    st = J.JudgeSettings(what="splits", sample=2, seed=0, gold=str(tmp_path / "no-gold.jsonl"))
    s1 = J.judge_run(run, st, _settings(run))
    last = s1["last_run"]
    assert last["judged_now"] + last["failed_now"] == 2
    assert last["requests_now"] >= 2 and last["cached_now"] == 0
    judgments = [Judgment.model_validate(r) for r in _lines(run / "judgments.jsonl")]
    judge_rejects = [r for r in _lines(run / "rejects.jsonl") if r["stage"] == "judge"]
    assert len(judgments) + len(judge_rejects) == 2  # every sampled item is judged or rejected with a reason
    # the path is exercised end to end only by an accepted answer: under the JSON schema (temperature 0) the
    # tiny model gives verdicts that validate, so a run of fallbacks/rejects alone would be a regression
    assert last["judged_now"] >= 1 and judgments, [r["detail"] for r in judge_rejects]
    for j in judgments:
        assert j.judge_model == MODEL and j.prompt_id == "judge/splits@1" and len(j.prompt_sha) == 64
        assert set(j.scores) == {"faithful", "complete", "labels", "isolated"}
        assert all(1 <= v <= 5 for v in j.scores.values()) and j.rationale
        assert j.extra["cached"] is False and j.extra["tokens"].get("total_tokens", 0) > 0
    for r in judge_rejects:
        assert r["reason"] == "judge_failed" and r["detail"]

    # rerun: every item is done, nothing is sent
    s2 = J.judge_run(run, st, _settings(run))
    assert s2["last_run"]["requests_now"] == 0 and s2["last_run"]["skipped_done"] == 2
    # drop the done markers: the answer cache still answers, without a request
    shutil.rmtree(run / ".parts" / "judge")
    s3 = J.judge_run(run, st, _settings(run))
    assert s3["last_run"]["requests_now"] == 0
    assert s3["last_run"]["cached_now"] == last["judged_now"]
    again = [Judgment.model_validate(r) for r in _lines(run / "judgments.jsonl")]
    assert [(j.item_id, j.scores) for j in again] == [(j.item_id, j.scores) for j in judgments]

    # the summary's intervals are the stats module's, over these judgments
    summary = json.loads((run / "judge_summary.json").read_text())
    if judgments:
        g = next(g for g in summary["groups"] if g["what"] == "splits")
        assert g["n"] == len(judgments)
        for crit in ("faithful", "isolated"):
            exp = stats.mean_ci([j.scores[crit] for j in again], bounds=(1, 5))
            assert g["criteria"][crit]["mean"] == pytest.approx(exp["mean"])
            assert g["criteria"][crit]["lo"] == (pytest.approx(exp["lo"]) if exp["lo"] is not None else None)
        k = sum(1 for j in again if J.is_flagged(j.model_dump()))
        assert g["flagged"]["k"] == k and g["flagged"]["n"] == len(again)


@pytest.mark.slow  # 5.8 and 5.0 s against the real server
def test_judge_pairs_auto_mode_falls_back_to_text_only(tmp_path):
    run = tmp_path / "run"
    make_run(run, judged=False, metrics=False)
    ls = _settings(run)
    accepted, why = J.server_takes_images(ls)
    s = J.judge_run(run, J.JudgeSettings(what="pairs", sample=1, image_mode="auto"), ls)
    expected = "image" if accepted else "text_only"
    assert s["last_run"]["mode"] == expected, why
    rows = [Judgment.model_validate(r) for r in _lines(run / "judgments.jsonl")]
    rejects = [r for r in _lines(run / "rejects.jsonl") if r["stage"] == "judge"]
    assert len(rows) + len(rejects) == 1
    for r in rows:
        assert r.mode == expected and set(r.scores) == {"match", "specific"}
    if not accepted:
        from medvl.errors import MedvlError

        with pytest.raises(MedvlError, match="does not take images"):
            J.judge_run(run, J.JudgeSettings(what="pairs", sample=1, image_mode="image"), ls)


def test_judge_retrieval_scores_one_per_neighbour(tmp_path):
    run = tmp_path / "run"
    info = make_run(run, judged=False, metrics=False)
    a, b = info["pairs"]
    (run / "eval").mkdir(exist_ok=True)
    (run / "eval" / "neighbours.jsonl").write_text(
        json.dumps({"query_id": a, "model": "aligned", "topk": [{"id": b}, {"id": a}]}) + "\n")
    s = J.judge_run(run, J.JudgeSettings(what="retrieval", sample=1, k=2), _settings(run))
    rows = [Judgment.model_validate(r) for r in _lines(run / "judgments.jsonl")]
    rejects = [r for r in _lines(run / "rejects.jsonl") if r["stage"] == "judge"]
    assert len(rows) + len(rejects) == 1
    for r in rows:  # the schema asks for exactly k scores
        assert set(r.scores) == {"rank1", "rank2"}
    assert s["last_run"]["what"] == "retrieval"
