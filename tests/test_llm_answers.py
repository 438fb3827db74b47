"""Strict LLM answers (issue 13, case 3): an answer that does not match the schema is a validation error.

The user-level test runs `medvl split --splitter llm` against a fake OpenAI-compatible server (the one of
tests/helpers/fake_llm.py) that answers the misbehaviour seen in the wild: valid JSON with the wrong keys.
Before: rows with ``splitter: llm`` and no subcaptions (the list defaulted, unknown keys ignored).
After: the answer is re-asked, then the row falls back to the rules with the validation error as reason.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import BaseModel, Field
from typer.testing import CliRunner

pytest.importorskip("instructor")

from medvl.cli import app  # noqa: E402
from medvl.llm.answers import LooseResponseModel, StrictAnswer, check_strict, strict_problem  # noqa: E402
from medvl.llm.client import LLMSettings, StructuredLLM  # noqa: E402
from medvl.split.llm import SplitAnswer, rule_subcaptions  # noqa: E402
from medvl.split.rules import split_caption  # noqa: E402

from tests.helpers.captions import CAPTIONS
from tests.helpers.fake_llm import PROMPT, FakeLLM, Reply



def _captions(tmp_path: Path) -> Path:
    p = tmp_path / "caps.jsonl"
    p.write_text("".join(json.dumps({"id": i, "caption": c}) + "\n" for i, c in CAPTIONS))
    return p


def _rows(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]


# ---------------------------------------------------------------- the base class


def test_strict_base_forbids_defaults_and_unknown_keys():
    with pytest.raises(TypeError, match="has a default"):
        class Loose(StrictAnswer):  # noqa: F811 - defined to fail
            items: list[str] = Field(default_factory=list)

    class Piece(StrictAnswer):
        text: str

    class Answer(StrictAnswer):
        pieces: list[Piece]

    assert check_strict(Answer) is Answer
    schema = Answer.model_json_schema()
    assert schema["additionalProperties"] is False and schema["required"] == ["pieces"]
    with pytest.raises(Exception, match="Extra inputs are not permitted"):
        Answer.model_validate({"pieces": [], "answer": "x"})
    with pytest.raises(Exception, match="Field required"):
        Answer.model_validate({})

    class Plain(BaseModel):  # not derived from StrictAnswer: named as loose
        text: str

    class Wraps(StrictAnswer):
        inner: list[Plain]

    assert "accepts unknown keys" in strict_problem(Plain)
    with pytest.raises(LooseResponseModel, match="Plain"):
        check_strict(Wraps)  # the nested model is checked too


def test_split_answer_is_strict():
    assert strict_problem(SplitAnswer) is None
    with pytest.raises(Exception):
        SplitAnswer.model_validate({"answer": "panel A shows", "panels": 3})
    assert SplitAnswer.model_validate({"subcaptions": []}).subcaptions == []  # an explicit [] is an answer


def test_client_refuses_a_loose_response_model_before_asking():
    class Loose(BaseModel):
        word: str = ""

    with FakeLLM(lambda b, n: Reply(content='{"other": 1}')) as fake:
        llm = StructuredLLM(LLMSettings(url=fake.url, model="fake-model", timeout_s=5))
        with pytest.raises(LooseResponseModel, match="accepts unknown keys"):
            llm.call(PROMPT, {"word": "x"}, Loose)
    assert fake.requests == []  # nothing was asked


# ---------------------------------------------------------------- the user's view


def test_wrong_keys_answer_is_reasked_then_falls_back_with_the_reason(tmp_path):
    """`medvl split --splitter llm` against a server answering {"answer": ..., "panels": 3}."""
    src = _captions(tmp_path)
    out = tmp_path / "out.jsonl"
    with FakeLLM(lambda b, n: Reply(content=json.dumps({"answer": "panel A shows", "panels": 3}))) as fake:
        r = CliRunner().invoke(app, ["split", str(src), "--out", str(out), "--splitter", "llm",
                                     "--llm-url", fake.url, "--llm-model", "fake-model", "--max-reasks", "1",
                                     "--timeout", "5"])
    assert r.exit_code == 0, r.output
    assert "fallback 2" in r.output
    rows = _rows(out)
    assert [x["id"] for x in rows] == ["g1", "g2"]
    for row, (_, caption) in zip(rows, CAPTIONS):
        assert row["splitter"] == "rules"  # not an empty "llm" row
        assert row["fallback_reason"].startswith("invalid after 1 re-asks")
        assert "subcaptions: Field required" in row["fallback_reason"]
        assert "Extra inputs are not permitted" in row["fallback_reason"]
        assert row["subcaptions"] == [s.model_dump() for s in rule_subcaptions(caption)]
        assert len(row["subcaptions"]) >= 2  # the rules found the panels
    assert len(fake.requests) == 4  # each caption: the answer and one re-ask
    # the re-ask tells the model what was wrong
    assert "Extra inputs are not permitted" in json.dumps(fake.requests[-1]["messages"])
    # the schema sent to the server forbids other keys, so guided decoding cannot produce them either
    schema = fake.requests[0]["response_format"]["json_schema"]["schema"]
    assert schema["additionalProperties"] is False and schema["required"] == ["subcaptions"]
