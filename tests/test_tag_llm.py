"""The LLM tagger (medvl/tag/llm.py): the per-vocabulary schema, the prompt, rows that say which tagger
made them, fallback to the text tagger with the reason, the answer cache on a rerun, and the stage
settings.  The fake server (tests/helpers/fake_llm.py) answers what the text tagger would not; the
real-server test is at the end (MEDVL_TEST_LLM_URL).  Every caption here is written for these tests."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from medvl.config import config_from_dict
from medvl.errors import MedvlError
from medvl.prompts import list_prompts, load_prompt
from medvl.tag.llm import NOT_STATED, answer_model, answer_tags, text_words
from medvl.tag.stage import TagSettings, resolve_settings, tag_run
from medvl.tag.text import tag_text
from medvl.tag.vocab import load_vocab
from tests.helpers.env import LLM_MODEL, LLM_URL, needs_llm
from tests.helpers.fake_llm import FakeLLM, Reply, free_port
from tests.helpers.tag_run import PANELS, build_engine_run, build_run, fake_responder

TAG_PINNED = {  # a used prompt version is never edited: new wording is a new file
    "tag/fewshot@1": "211289438949f76fc7744ab67d085cd931b1ea644ffc1442e7c1f082d00b7995",
}


def test_tag_prompts_are_pinned():
    pinned = TAG_PINNED
    shipped = {p.ref for p in list_prompts() if p.id.startswith("tag/")}
    assert shipped == set(pinned), f"pin new tag prompt versions here: {shipped - set(pinned)}"
    for ref, sha in pinned.items():
        assert load_prompt(ref).sha == sha, f"{ref} changed; write a new version instead"


def test_prompt_examples_are_valid_answers_for_their_texts():
    """Few-shot answers must pass the schema and validators the model's answers face."""
    vocab = load_vocab()
    for p in list_prompts():
        if not p.id.startswith("tag/"):
            continue
        assert p.resolve_response_model().__name__ == "TagAnswerBase"
        for ex in p.examples:
            text = f"{ex['input']['panel']}\n{ex['input']['context']}"
            answer_model(vocab, text).model_validate(ex["output"], context={"text": text})


def test_schema_offers_the_vocabulary_and_the_words_of_the_text():
    vocab = load_vocab()
    text = "Axial FLAIR MRI of the brain, T2-weighted."
    assert text_words(text) == ("Axial", "FLAIR", "MRI", "of", "the", "brain", "T2-weighted")
    model = answer_model(vocab, text)
    schema = json.dumps(model.model_json_schema())
    for cls in vocab.modality.names() + vocab.anatomy.names() + vocab.modality.sequence_names() + [NOT_STATED]:
        assert f'"{cls}"' in schema
    ok = {"evidence": ["FLAIR", "brain"], "modality": "mri", "sequences": ["flair"], "anatomy": "brain",
          "findings": []}
    model.model_validate(ok, context={"text": text})
    for bad in ({**ok, "modality": "mrt"}, {**ok, "evidence": ["gadolinium"]}, {**ok, "findings": ["broken"]},
                {k: v for k, v in ok.items() if k != "findings"}, {**ok, "extra": 1}):
        with pytest.raises(ValidationError):
            model.model_validate(bad, context={"text": text})
    # a cached answer is held to the text it is replayed for (words of another text are no evidence)
    other = answer_model(vocab, "FLAIR image")
    with pytest.raises(ValidationError, match="not words of the text"):
        other.model_validate({**ok, "evidence": ["FLAIR"]}, context={"text": "T1 image"})
    assert answer_model(vocab, "  -- ") is None  # nothing to cite: the row is not asked


def test_answer_tags_llm_alone_and_added_to_the_text():
    vocab = load_vocab()
    text = "(A) Axial T2-weighted MRI showing a glioma in the left frontal lobe."
    tt = tag_text(text, None, vocab)
    ans = answer_model(vocab, text).model_validate({"evidence": ["Axial"], "modality": "ct", "sequences": [],
                                                     "anatomy": "brain", "findings": ["haemorrhage"]})
    alone = answer_tags(ans, tt, "llm")
    assert alone.modality.value == "ct" and 0.85 < alone.modality.confidence < 0.9
    assert alone.findings == {"haemorrhage": 0.632} and alone.sequences == []
    assert all(m.source == "llm" for m in alone.mentions)
    both = answer_tags(ans, tt, "both")  # the text says MRI, the model CT: neither is sure any more
    assert set(both.modality.probs) >= {"mri", "ct"} and both.modality.confidence < min(0.7, tt.modality.confidence)
    assert both.anatomy.value == "brain" and both.anatomy.confidence > alone.anatomy.confidence
    assert set(both.findings) == {"tumour", "haemorrhage"} and both.sequences == ["t2"]


# ---------------------------------------------------------------- rows through the fake server

def _settings(url: str, **kw) -> TagSettings:
    base = dict(image="off", tagger="llm", url=url, model="fake-model", max_reasks=1, transport_retries=0,
                timeout_s=10)
    base.update(kw)
    return TagSettings(**base)


@pytest.mark.slow  # 14 s (brief), 11.3, 5.7 and 4.6 s (alone) here
def test_llm_rows_say_which_tagger_made_them_and_fall_back_with_the_reason(tmp_path):
    rd = build_run(tmp_path / "run", n_papers=1)
    prompt = load_prompt("tag/fewshot@1")
    with FakeLLM(fake_responder) as fake:
        rows = tag_run(rd.path, _settings(fake.url))
        n_first = len(fake.requests)
    pairs = [r for r in rows if r.kind == "pair"]
    assert len(pairs) == len(PANELS)
    hist = [r for r in pairs if r.tagger == "text"]
    llm = [r for r in pairs if r.tagger == "llm"]
    assert len(hist) == 1 and len(llm) == len(PANELS) - 1
    for r in llm:  # the model's answer, not the text tagger's (which reads mri, xray, chart ... here)
        assert (r.modality.value, r.anatomy.value, r.modality.source) == ("ct", "chest", "llm")
        assert r.fallback_reason is None and r.llm.answer["modality"] == "ct" and not r.llm.cached
        assert r.provenance.prompt_id == "tag/fewshot@1" and r.provenance.prompt_sha == prompt.sha
        assert r.provenance.model == "fake-model" and r.llm.model == "fake-model"
        assert any(e.source == "llm" and e.field == "modality" for e in r.evidence)
    (h,) = hist  # evidence not in its text: re-asked once, then the text tags with the reason
    assert h.modality.value == "histology" and h.modality.source == "text"
    assert h.fallback_reason.startswith("invalid after 1 re-asks") and "evidence.0" in h.fallback_reason
    assert h.llm.answer is None and h.provenance.prompt_sha == prompt.sha
    fig = next(r for r in rows if r.kind == "figure")
    assert fig.tagger == "llm" and fig.modality.value == "ct"
    # one request per row, two for the row re-asked
    assert n_first == len(rows) + 1
    # a rerun: accepted answers come from the cache, only the fallback is asked again
    with FakeLLM(fake_responder) as fake:
        again = tag_run(rd.path, _settings(fake.url))
        assert len(fake.requests) == 2
    assert [r.model_dump(exclude={"llm"}) for r in again] == [r.model_dump(exclude={"llm"}) for r in rows]
    assert all(r.llm.cached for r in again if r.tagger == "llm")


def test_both_tagger_adds_the_answer_to_the_text_evidence(tmp_path):
    rd = build_run(tmp_path / "run", n_papers=1)
    with FakeLLM(fake_responder) as fake:
        rows = tag_run(rd.path, _settings(fake.url, tagger="both", cache=False))
    xray = next(r for r in rows if r.kind == "pair" and r.panel_id.endswith("2"))  # (C) Chest X-ray ...
    assert xray.tagger == "both" and xray.anatomy.value == "chest" and xray.anatomy.source == "text+llm"
    assert set(xray.modality.probs) >= {"xray", "ct"}  # the two disagree: both in the probabilities
    sources = {e.source for e in xray.evidence}
    assert {"panel", "llm"} <= sources


def test_a_dead_server_keeps_the_text_tags_with_the_reason(tmp_path):
    rd = build_run(tmp_path / "run", n_papers=1)
    rows = tag_run(rd.path, _settings(f"http://127.0.0.1:{free_port()}/v1", cache=False))
    text_rows = tag_run(rd.path, TagSettings(image="off"))
    assert all(r.tagger == "text" and r.fallback_reason.startswith("server unavailable") for r in rows)
    assert [r.modality.value for r in rows] == [r.modality.value for r in text_rows]
    down = tag_run(rd.path, _settings("http://unused", llm_unavailable=True))
    assert all(r.fallback_reason.startswith("server unavailable at the start") for r in down)


def test_stage_settings_take_the_server_from_the_config():
    cfg = config_from_dict({"llm": {"urls": ["http://h:1/v1"], "model": "m"}, "stages": ["tag"]})
    s = resolve_settings({"tagger": "llm"}, cfg)
    assert (s["url"], s["model"], s["prompt"]) == ("http://h:1/v1", "m", "tag/fewshot@1")
    assert s["prompt_sha"] == load_prompt("tag/fewshot@1").sha
    text = resolve_settings({}, cfg)
    assert "url" not in text and "prompt" not in text and text["tagger"] == "text"
    with pytest.raises(MedvlError, match="needs an LLM server"):
        resolve_settings({"tagger": "both"}, config_from_dict({"stages": ["tag"]}))
    with pytest.raises(MedvlError, match="tagger"):
        resolve_settings({"tagger": "gpt"}, cfg)
    with pytest.raises(MedvlError, match="no prompt"):
        resolve_settings({"tagger": "llm", "prompt": "tag/nothing@9"}, cfg)


def test_plan_finds_a_dead_server_and_flags_the_settings(tmp_path):
    from medvl.pipeline import StageContext
    from medvl.runs import RunDir
    from medvl.tag.register import _plan_checked

    cfg = config_from_dict({"llm": {"urls": [f"http://127.0.0.1:{free_port()}/v1"], "model": "m"}, "stages": ["tag"]})
    settings = resolve_settings({"tagger": "llm", "image": "off"}, cfg)
    news: list[str] = []
    ctx = StageContext(run=RunDir(tmp_path / "run"), stage="tag", settings=settings, config=cfg, notify=news.append)
    assert _plan_checked(ctx) == []  # no aligned papers yet
    assert ctx.settings["llm_unavailable"] is True  # a setting: the next run with the server up redoes the rows
    assert news and "text tags are kept" in news[0] and "does not answer" in news[0]


@pytest.mark.slow
def test_pipeline_asks_again_only_for_the_rows_that_fell_back(tmp_path):
    """Through the engine (tag only, on hand-made parse and align parts): fallbacks are not final, as in
    split: a rerun redoes the paper with a fallback row, its accepted answers come from the cache."""
    from medvl.pipeline import run_pipeline
    from medvl.runs import read_jsonl

    rd = build_engine_run(tmp_path / "run", n_papers=1)
    fixed = {"on": False}

    def responder(body: dict, n: int) -> Reply:
        user = [m["content"] for m in body["messages"] if m["role"] == "user" and "Panel: " in m["content"]][-1]
        if fixed["on"] and "(D) Histology" in user:
            return Reply(content=json.dumps({"evidence": ["Histology"], "modality": "histology", "sequences": [],
                                             "anatomy": NOT_STATED, "findings": []}))
        return fake_responder(body, n)

    with FakeLLM(responder) as fake:
        cfg = config_from_dict({"llm": {"urls": [fake.url], "model": "fake-model"}, "executor": {"kind": "inline"},
                                "stages": {"tag": {"tagger": "llm", "image": "off", "max_reasks": 0}}})
        first = run_pipeline(cfg, rd.path, only=["tag"])
        assert first.ok and first.stage("tag").ran == 1
        rows = list(read_jsonl(rd.file("tags.jsonl")))
        assert sum(1 for r in rows if r["fallback_reason"]) == 1 and len(fake.requests) == len(rows)
        fixed["on"] = True  # the model now answers the fallen-back row validly
        second = run_pipeline(cfg, rd.path, only=["tag"])
        assert second.stage("tag").ran == 1 and len(fake.requests) == len(rows) + 1  # only that row asked
        assert second.stage("tag").redone == {"fallback answers asked again": 1}  # not "input changed"
        rows2 = list(read_jsonl(rd.file("tags.jsonl")))
        assert not any(r["fallback_reason"] for r in rows2) and all(r["tagger"] == "llm" for r in rows2)
        assert sum(1 for r in rows2 if r["llm"]["cached"]) == len(rows) - 1
        third = run_pipeline(cfg, rd.path, only=["tag"])  # nothing fell back: nothing to redo
        assert third.stage("tag").ran == 0 and len(fake.requests) == len(rows) + 1


def test_cli_tag_text_with_the_llm_tagger():
    from typer.testing import CliRunner

    from medvl.cli import app

    with FakeLLM(fake_responder, model="smollm2-135m") as fake:
        r = CliRunner().invoke(app, ["tag", "text", "(C) Chest X-ray with a right lower lobe opacity.",
                                     "--tagger", "llm", "--llm-url", fake.url, "--max-reasks", "0"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert out["tagger"] == "llm" and out["modality"]["value"] == "ct"  # the fake's answer, not xray
    assert out["llm"]["answer"]["evidence"] == ["C"] and out["llm"]["prompt_id"] == "tag/fewshot@1"


# ---------------------------------------------------------------- the real server

@pytest.mark.llm
@pytest.mark.slow
@needs_llm
def test_real_server_tags_through_the_schema(tmp_path):
    """SmolLM2-135M with guided decoding: the Literal choices and the evidence words can only be valid, so
    every row is the model's (no fallback) and its stored answer is what the row says."""
    rd = build_run(tmp_path / "run", n_papers=1)
    settings = TagSettings(image="off", tagger="llm", url=LLM_URL, model=LLM_MODEL, timeout_s=180, max_reasks=1,
                           concurrency=4, figures=False)
    rows = tag_run(rd.path, settings)
    vocab = load_vocab()
    caption = "Figure 1. " + " ".join(t for t, _, _ in PANELS)  # build_run's caption
    assert len(rows) == len(PANELS)
    for r in rows:
        assert r.tagger == "llm" and r.fallback_reason is None, r.fallback_reason
        a = r.llm.answer
        assert a["modality"] in vocab.modality.names() + [NOT_STATED]
        assert set(a["evidence"]) <= set(text_words(caption))  # words of the panel or its figure's caption
        assert r.modality.value == (None if a["modality"] == NOT_STATED else a["modality"])
        assert r.anatomy.value == (None if a["anatomy"] == NOT_STATED else a["anatomy"])
        assert r.provenance.model == LLM_MODEL and r.provenance.prompt_id == "tag/fewshot@1"
    again = tag_run(rd.path, settings)  # every answer was accepted: all from the cache
    assert all(r.llm.cached for r in again)
    assert [r.llm.answer for r in again] == [r.llm.answer for r in rows]
