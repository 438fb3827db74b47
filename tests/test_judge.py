"""Judge units without a server: sampling, items, resume, failures, gold agreement, summary maths.

The LLM here is a fake standing in for StructuredLLM.call_many; the real server is exercised by
tests/test_judge_llm.py (marked llm)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from medvl.evaluate import judge as J
from medvl.evaluate import stats
from medvl.llm.client import LLMResult, LLMSettings, LLMUnavailable
from medvl.prompts import load_prompt
from medvl.records import Judgment

from tests.helpers.report_run import make_run


class FakeLLM:
    """Answers like StructuredLLM: flags captions that mention panel (c), fails on `fail_ids`."""

    def __init__(self, fail_on: str | None = None, die_after: int | None = None):
        self.settings = LLMSettings(url="http://fake/v1", model="fake-judge")
        self.stats: Counter = Counter()
        self.seen: list[dict] = []
        self.fail_on = fail_on
        self.die_after = die_after

    def call_many(self, jobs, progress=None):
        out = []
        for prompt, variables, model, ctx in jobs:
            if self.die_after is not None and self.stats["requests"] >= self.die_after:
                raise LLMUnavailable("server gone", partial=out + [None] * (len(jobs) - len(out)))
            self.stats["requests"] += 1
            self.seen.append({"prompt": prompt, "variables": variables, "model": model, "ctx": ctx})
            text = json.dumps(variables)
            if self.fail_on and self.fail_on in text:
                out.append(LLMResult(value=None, error="invalid after 2 re-asks: nope", reasks=2, latency_s=0.01,
                                     tokens={}, cached=False, model="fake-judge"))
                continue
            bad = "(c)" in text
            if issubclass(model, J.RetrievalVerdict):
                data = {"relevance": [5] + [2] * (ctx["k"] - 1), "rationale": "first is the same finding", "flags": []}
            elif issubclass(model, J.SplitVerdict):
                data = {"faithful": 5, "complete": 4, "labels": 2 if bad else 5, "isolated": 1 if bad else 5,
                        "rationale": "mixed" if bad else "fine", "flags": ["mixed_panels"] if bad else []}
            else:
                data = {"match": 4, "specific": 3, "rationale": "names the letter", "flags": []}
            out.append(LLMResult(value=model.model_validate(data, context=ctx), error=None, reasks=0,
                                 latency_s=0.01, tokens={"total_tokens": 10}, cached=False, model="fake-judge"))
        return out


def _lines(p: Path) -> list[dict]:
    return [json.loads(x) for x in p.read_text().splitlines() if x.strip()]


def test_sampling_is_deterministic_nested_and_seeded():
    items = [J.Item(what="splits", item_id=f"id{i}", variables={}) for i in range(50)]
    a = [it.item_id for it in J.sample_items(items, 10, seed=1)]
    assert a == [it.item_id for it in J.sample_items(list(reversed(items)), 10, seed=1)]
    b = [it.item_id for it in J.sample_items(items, 25, seed=1)]
    assert b[:10] == a
    assert a != [it.item_id for it in J.sample_items(items, 10, seed=2)]
    assert len(J.sample_items(items, None, 0)) == 50 and len(J.sample_items(items, -1, 0)) == 50


def test_position_words():
    assert J.position_words([0, 0, 50, 50], 300, 300) == "top left"
    assert J.position_words([200, 120, 300, 180], 300, 300) == "right"
    assert J.position_words([100, 250, 200, 300], 300, 300) == "bottom"
    assert J.position_words([100, 100, 200, 200], 300, 300) == "centre"
    assert J.position_words(None, 300, 300) == "unknown position"


def test_judge_splits_writes_records_and_resumes(tmp_path):
    info = make_run(tmp_path / "run", judged=False, metrics=False)
    llm = FakeLLM()
    st = J.JudgeSettings(what="splits", sample=1, seed=3, gold=str(tmp_path / "none.jsonl"))
    s1 = J.judge_run(tmp_path / "run", st, llm=llm)
    assert s1["last_run"]["judged_now"] == 1 and llm.stats["requests"] == 1
    rows = _lines(tmp_path / "run" / "judgments.jsonl")
    assert len(rows) == 1
    j = Judgment.model_validate(rows[0])
    p = load_prompt("judge/splits@1")
    assert (j.prompt_id, j.prompt_sha, j.judge_model) == ("judge/splits@1", p.sha, "fake-judge")
    assert j.provenance.prompt_sha == p.sha and j.provenance.stage == "judge"
    assert set(j.scores) == {"faithful", "complete", "labels", "isolated"}
    assert j.extra["figure_id"] in info["figures"]
    # the caption reaches the prompt and the validators
    assert llm.seen[0]["ctx"]["caption"] == info["captions"][j.item_id]
    # rerun: nothing asked again; a larger sample only asks for the new item
    s2 = J.judge_run(tmp_path / "run", st, llm=llm)
    assert llm.stats["requests"] == 1 and s2["last_run"]["skipped_done"] == 1
    J.judge_run(tmp_path / "run", J.JudgeSettings(what="splits", sample=5, seed=3), llm=llm)
    assert llm.stats["requests"] == 2
    assert len(_lines(tmp_path / "run" / "judgments.jsonl")) == 2
    summary = json.loads((tmp_path / "run" / "judge_summary.json").read_text())
    g = summary["groups"][0]
    assert g["n"] == 2 and g["flagged"]["k"] == 1  # the figure whose split mixes panel (c)
    run_json = json.loads((tmp_path / "run" / "run.json").read_text())
    assert run_json["stages"]["judge:splits"]["settings"]["prompt"] == "judge/splits@1"


def test_failures_become_rejects_and_can_be_retried(tmp_path):
    info = make_run(tmp_path / "run", judged=False, metrics=False)
    f2 = info["figures"][1]
    llm = FakeLLM(fail_on="Chest CT")
    s = J.judge_run(tmp_path / "run", J.JudgeSettings(what="splits", sample=10), llm=llm)
    assert s["last_run"]["failed_now"] == 1
    rej = [r for r in _lines(tmp_path / "run" / "rejects.jsonl") if r["stage"] == "judge"]
    assert len(rej) == 1 and rej[0]["reason"] == "judge_failed" and f2 in rej[0]["id"]
    assert "invalid after 2 re-asks" in rej[0]["detail"]
    # other stages' rejects are kept in the merged file
    assert any(r["stage"] == "parse" for r in _lines(tmp_path / "run" / "rejects.jsonl"))
    g = s["groups"][0]
    assert g["failed"]["k"] == 1 and g["failed"]["n"] == 2
    # a plain rerun does not ask again; --retry-failed does
    J.judge_run(tmp_path / "run", J.JudgeSettings(what="splits", sample=10), llm=llm)
    assert llm.stats["requests"] == 2
    ok = FakeLLM()
    J.judge_run(tmp_path / "run", J.JudgeSettings(what="splits", sample=10, retry_failed=True), llm=ok)
    assert ok.stats["requests"] == 1
    assert len(_lines(tmp_path / "run" / "judgments.jsonl")) == 2
    assert not [r for r in _lines(tmp_path / "run" / "rejects.jsonl") if r["stage"] == "judge"]


def test_server_dying_keeps_finished_items(tmp_path):
    make_run(tmp_path / "run", judged=False, metrics=False)
    dying = FakeLLM(die_after=1)
    with pytest.raises(LLMUnavailable):
        J.judge_run(tmp_path / "run", J.JudgeSettings(what="splits", sample=10, batch=8), llm=dying)
    assert len(_lines(tmp_path / "run" / "judgments.jsonl")) == 1
    fresh = FakeLLM()
    J.judge_run(tmp_path / "run", J.JudgeSettings(what="splits", sample=10), llm=fresh)
    assert fresh.stats["requests"] == 1
    assert len(_lines(tmp_path / "run" / "judgments.jsonl")) == 2


def test_gold_agreement_flag_precision_and_recall(tmp_path):
    info = make_run(tmp_path / "run", judged=False, metrics=False)
    f1, f2, _ = info["figures"]
    splits = {r["id"]: r for r in _lines(tmp_path / "run" / "subcaptions.jsonl")}
    gold = tmp_path / "gold.jsonl"
    # f1's split equals gold; f2's gold splits b and c apart, so the run's split disagrees
    gold.write_text("\n".join(json.dumps(r) for r in [
        # gold captions carry no printed label: "Figure 1. " is ignored when matching
        {"id": "G1", "caption": info["captions"][f1].replace("Figure 1. ", ""), "subcaptions": splits[f1]["subcaptions"]},
        {"id": "G2", "caption": info["captions"][f2], "subcaptions": [
            {"label": "_shared", "text": "Chest CT of the patient."}, {"label": "a", "text": "Before treatment;"},
            {"label": "b", "text": "after one month;"}, {"label": "c", "text": "after three months;"},
            {"label": "d", "text": "histology (H&E, x200)."}]}]) + "\n")
    s = J.judge_run(tmp_path / "run", J.JudgeSettings(what="splits", sample=10, gold=str(gold)), llm=FakeLLM())
    g = s["groups"][0]["gold"]
    assert g["n_matched"] == 2 and g["n_disagree"] == 1
    a = g["agreement"]
    assert (a["tp"], a["fp"], a["fn"], a["tn"]) == (1, 0, 0, 1)
    assert a["precision"]["p"] == 1.0 and a["recall"]["p"] == 1.0
    assert a["precision"]["lo"] == pytest.approx(stats.wilson_interval(1, 1)[0])


def test_gold_captions_let_captions_only_splits_be_judged(tmp_path):
    make_run(tmp_path / "run", judged=False, metrics=False)
    (tmp_path / "run" / "figures.jsonl").unlink()
    rows = _lines(tmp_path / "run" / "subcaptions.jsonl")
    caps = tmp_path / "caps.jsonl"
    caps.write_text(json.dumps({"id": rows[0]["id"], "caption": "Figure 1. (A) Axial T2 image shows a lesion."}) + "\n")
    s = J.judge_run(tmp_path / "run", J.JudgeSettings(what="splits", sample=10, captions=str(caps),
                                                      gold=str(tmp_path / "none")), llm=FakeLLM())
    assert s["last_run"]["judged_now"] == 1 and s["last_run"]["input_rejects"] == 1
    rej = [r for r in _lines(tmp_path / "run" / "rejects.jsonl") if r["stage"] == "judge"]
    assert rej[0]["reason"] == "no_caption" and rows[1]["id"] in rej[0]["detail"]


def test_pairs_text_only_and_image_prompt(tmp_path):
    info = make_run(tmp_path / "run", judged=False, metrics=False)
    llm = FakeLLM()
    J.judge_run(tmp_path / "run", J.JudgeSettings(what="pairs", sample=10, image_mode="text_only"), llm=llm)
    rows = [Judgment.model_validate(r) for r in _lines(tmp_path / "run" / "judgments.jsonl")]
    assert {r.item_id for r in rows} == set(info["pairs"])
    assert all(r.mode == "text_only" and set(r.scores) == {"match", "specific"} for r in rows)
    v = llm.seen[0]["variables"]
    assert v["label"] in ("A", "B") and v["position"] in ("left", "right") and "image_url" not in v
    # image mode: the same prompt (same sha) with the panel attached to the user turn
    p = load_prompt("judge/pairs@1")
    ip = J._with_image(p)
    assert ip.sha == p.sha and ip.ref == p.ref
    url = J._image_data_url(tmp_path / "run" / "images" / f"{info['figures'][0]}-k00.png")
    msgs = ip.messages(**{**v, "image_url": url})
    assert msgs[-1]["content"][1] == {"type": "image_url", "image_url": {"url": url}}
    assert "Look at the attached panel image" in msgs[0]["content"]
    assert "cannot see the image" in p.messages(**v)[0]["content"]


def test_retrieval_items_from_neighbours_file(tmp_path):
    info = make_run(tmp_path / "run", judged=False, metrics=False)
    a, b = info["pairs"]
    (tmp_path / "run" / "eval").mkdir(exist_ok=True)
    (tmp_path / "run" / "eval" / "neighbours.jsonl").write_text(
        json.dumps({"query_id": a, "model": "aligned", "topk": [{"id": b, "score": 0.5}, {"id": a, "score": 0.4},
                                                               {"id": "unknown"}]}) + "\n"
        + json.dumps({"query_id": "nope", "topk": []}) + "\n")
    s = J.judge_run(tmp_path / "run", J.JudgeSettings(what="retrieval", sample=10, k=5), llm=FakeLLM())
    rows = _lines(tmp_path / "run" / "judgments.jsonl")
    assert len(rows) == 1 and rows[0]["scores"] == {"rank1": 5, "rank2": 2}
    assert rows[0]["item_id"] == f"aligned:image_to_text:{a}"
    g = s["groups"][0]
    assert g["relevant_share"]["k"] == 1 and g["relevant_share"]["n"] == 2
    assert s["last_run"]["input_rejects"] == 1
    M = J.retrieval_model(3)
    assert M.model_json_schema()["properties"]["relevance"]["maxItems"] == 3
    with pytest.raises(Exception):
        M.model_validate({"relevance": [1, 2], "rationale": "x"})


def test_summary_maths_match_stats():
    def jd(item, scores, flags=()):
        return {"what": "splits", "item_id": item, "scores": scores, "flags": list(flags), "prompt_id": "judge/splits@1",
                "prompt_sha": "s" * 64, "judge_model": "m"}

    js = [jd("a", {"x": 5, "y": 3}), jd("b", {"x": 2, "y": 2}, ["mixed_panels"]), jd("c", {"x": 4, "y": 4})]
    s = J.summarize(js, [], None)
    g = s["groups"][0]
    assert g["criteria"]["x"]["mean"] == pytest.approx(11 / 3)
    exp = stats.mean_ci([4.0, 2.0, 4.0], bounds=(1, 5))
    assert (g["overall"]["lo"], g["overall"]["hi"]) == pytest.approx((exp["lo"], exp["hi"]))
    assert g["flagged"]["k"] == 1 and g["flagged"]["lo"] == pytest.approx(stats.wilson_interval(1, 3)[0])
    assert g["flags"] == {"mixed_panels": 1}
    b = J.summarize(js, [], None, method="bootstrap")["groups"][0]
    assert b["overall"]["method"] == "bootstrap"


# A used prompt version is never edited: better wording is a new file (judge/<what>_v2.yaml).
PINNED = {
    "judge/splits@1": "88d538d6a295912879726f75f367fd56f2000577f62c0060b853738c7b3556f2",
    "judge/pairs@1": "d6aac4ab3942a41a03b2bf30c3a6ec594ef3b3c8abb766b2ec02ebd0eb83e73c",
    "judge/retrieval@1": "c9454258a23bc670607a0594c783b2b8d11ad3b56ce7d8889d1ace32464b4cdd",
}


@pytest.mark.parametrize("ref", sorted(PINNED))
def test_shipped_judge_prompts_are_pinned_and_render(ref):
    p = load_prompt(ref)
    assert p.sha == PINNED[ref], f"{ref} changed: add a new version instead of editing it"
    model = p.resolve_response_model()
    assert model in (J.SplitVerdict, J.PairVerdict, J.RetrievalVerdict)
    # every few-shot answer is a valid verdict
    for ex in p.examples:
        ctx = {"k": len(ex["output"].get("relevance", []))} if model is J.RetrievalVerdict else None
        model.model_validate(ex["output"], context=ctx)


class _Interrupting(FakeLLM):
    """Stops the run (Ctrl-C) when asked about the item after the first `after` answered ones."""

    def __init__(self, after: int):
        super().__init__()
        self.after = after

    def call_many(self, jobs, progress=None):
        if self.stats["requests"] >= self.after:
            raise KeyboardInterrupt
        return super().call_many(jobs, progress)


def test_interrupted_run_resumes_only_the_unjudged_items_and_status_shows_the_units(tmp_path):
    from medvl.pipeline import run_status

    make_run(tmp_path / "run", judged=False, metrics=False)
    st = J.JudgeSettings(what="splits", sample=10, batch=1, gold=str(tmp_path / "none.jsonl"))
    with pytest.raises(KeyboardInterrupt):
        J.judge_run(tmp_path / "run", st, llm=_Interrupting(after=1))
    status = {r["stage"]: r for r in run_status(tmp_path / "run")}
    assert (status["judge"]["done"], status["judge"]["planned"]) == (1, 2)  # one unit per item
    fresh = FakeLLM()
    s = J.judge_run(tmp_path / "run", st, llm=fresh)
    assert fresh.stats["requests"] == 1 and len(fresh.seen) == 1  # only the item not judged before
    assert (s["last_run"]["judged_now"], s["last_run"]["skipped_done"], s["last_run"]["requests_now"]) == (1, 1, 1)
    status = {r["stage"]: r for r in run_status(tmp_path / "run")}
    assert (status["judge"]["done"], status["judge"]["planned"], status["judge"]["state"]) == (2, 2, "done")
    assert status["judge"]["redone"] == {"not done before": 1}
    rows = _lines(tmp_path / "run" / "judgments.jsonl")
    assert len(rows) == 2 and len({r["item_id"] for r in rows}) == 2
