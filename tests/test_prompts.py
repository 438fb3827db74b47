"""Prompt registry: loading, versions, canonical sha, strict templates, and pinned shipped versions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from medvl.prompts import PromptError, canonical_sha, list_prompts, load_prompt

# A used prompt version is never edited: new wording is a new file with the next version.
# Editing a pinned file fails here; add a new version (and pin it) instead.
PINNED = {
    "split/zeroshot@1": "722701946857d1f0b4b6281f3a8af2d448ca00799532087518ab59a4fcbc5366",
    "split/fewshot@1": "ddf8247875b4a57274a39a2d6de32a82fcea97d774a7c9f443dd86ccc7d9b8bf",
    "split/zeroshot@2": "ecee4a49c83f6788302945cb7bea62235f2d4dc298b2c365f0acf2e3c6c8f473",
    "split/fewshot@2": "3c371503001d57746cff8abfe66901e80c4e4b2ef90d7956ca1d597073de9815",
    "split/spans_zeroshot@1": "4c5d5a6ae85653b223b2049a814ac9b11a3178e9fba896b8e5a2826c1e609fff",
    "split/spans_fewshot@1": "f36c16ed19d0b8f9c1c62210f19efad4c3dcdd3593f3d23f32005db4a0842e31",
    "split/spans_zeroshot@2": "04ba867ca29444ceeb84bc91076cef350c7dffd42668aca86611eadcd6e58f26",
    "split/spans_fewshot@2": "ba5bc4f653ef47933a9a11e0177e2201431b05b9231b471f38ec8626e043d1c7",
}


@pytest.mark.parametrize("ref,sha", sorted(PINNED.items()))
def test_shipped_split_prompts_are_pinned(ref, sha):
    p = load_prompt(ref)
    assert p.sha == sha, (f"{ref} changed (sha {p.sha}); a used prompt version is never edited: "
                          f"put the new wording in a new file with the next version")


def test_every_split_prompt_version_is_pinned():
    shipped = {p.ref for p in list_prompts() if p.id.startswith("split/")}
    assert shipped == set(PINNED), f"pin new split prompt versions in tests/test_prompts.py: {shipped - set(PINNED)}"


def test_every_shipped_prompt_loads_and_resolves_its_model():
    prompts = list_prompts()
    assert {"split/zeroshot@1", "split/fewshot@1"} <= {p.ref for p in prompts}
    for p in prompts:
        assert p.response_model, p.ref
        assert p.resolve_response_model() is not None


def test_split_examples_are_valid_answers_for_their_captions():
    """Few-shot answers must pass the same validators the model's answers face."""
    for p in list_prompts():
        if not p.id.startswith("split/"):
            continue
        model = p.resolve_response_model()
        for ex in p.examples:
            caption = ex["input"]["caption"]
            m = model.for_caption(caption)[0] if hasattr(model, "for_caption") else model  # span prompts
            m.model_validate(ex["output"], context={"caption": caption})


def test_messages_layout_system_examples_user():
    p = load_prompt("split/fewshot@1")
    msgs = p.messages(caption="(A) Control. (B) Treated.")
    roles = [m["role"] for m in msgs]
    assert roles == ["system"] + ["user", "assistant"] * len(p.examples) + ["user"]
    assert msgs[-1]["content"] == "Caption: (A) Control. (B) Treated."
    assert json.loads(msgs[2]["content"]) == p.examples[0]["output"]
    assert p.examples[0]["input"]["caption"] in msgs[1]["content"]


def test_latest_version_and_ref(tmp_path):
    d = tmp_path / "split"
    d.mkdir()
    for v in (1, 2, 10):
        (d / f"demo_v{v}.yaml").write_text(f"id: split/demo\nversion: {v}\ndescription: d{v}\nuser: 'v{v} {{{{ x }}}}'\n")
    assert load_prompt("split/demo", tmp_path).version == 10  # numeric, not string order
    p = load_prompt("split/demo@2", tmp_path)
    assert p.ref == "split/demo@2" and p.messages(x="y") == [{"role": "user", "content": "v2 y"}]
    with pytest.raises(PromptError, match="no prompt 'split/demo@3'.*split/demo@1"):
        load_prompt("split/demo@3", tmp_path)
    with pytest.raises(PromptError, match="bad prompt reference"):
        load_prompt("Split Demo!", tmp_path)


def test_missing_variable_is_an_error(tmp_path):
    (tmp_path / "g").mkdir()
    (tmp_path / "g" / "p_v1.yaml").write_text("id: g/p\nversion: 1\ndescription: x\nuser: '{{ caption }} {{ other }}'\n")
    p = load_prompt("g/p@1", tmp_path)
    with pytest.raises(PromptError, match="'other' is undefined"):
        p.messages(caption="c")


def test_sha_is_canonical_content(tmp_path):
    (tmp_path / "g").mkdir()
    f = tmp_path / "g" / "p_v1.yaml"
    f.write_text("id: g/p\nversion: 1\ndescription: x\nuser: 'hi {{ a }}'\n")
    sha1 = load_prompt("g/p", tmp_path).sha
    f.write_text("# a comment\ndescription: x\nid: g/p\nuser: 'hi {{ a }}'\nversion: 1\n")  # same content
    assert load_prompt("g/p", tmp_path).sha == sha1
    f.write_text("id: g/p\nversion: 1\ndescription: x\nuser: 'hello {{ a }}'\n")  # new wording
    assert load_prompt("g/p", tmp_path).sha != sha1
    assert sha1 == canonical_sha({"id": "g/p", "version": 1, "description": "x", "user": "hi {{ a }}"})


@pytest.mark.parametrize("name,text,err", [
    ("p_v1.yaml", "id: g/p\nversion: 1\ndescription: x\n", "missing keys"),
    ("p_v2.yaml", "id: g/p\nversion: 1\ndescription: x\nuser: u\n", "file says version 2"),
    ("p_v1.yaml", "id: g/other\nversion: 1\ndescription: x\nuser: u\n", "does not match its place"),
    ("p_v1.yaml", "id: g/p\nversion: 1\ndescription: x\nuser: u\ntemprature: 0\n", "unknown keys"),
    ("p_v1.yaml", "id: g/p\nversion: 1\ndescription: x\nuser: u\nexamples: [{input: {}}]\n", "examples"),
    ("p_v1.yaml", "- a list\n", "YAML mapping"),
])
def test_bad_prompt_files_name_the_file_and_reason(tmp_path, name, text, err):
    (tmp_path / "g").mkdir()
    (tmp_path / "g" / name).write_text(text)
    with pytest.raises(PromptError, match=err) as ei:
        list_prompts(tmp_path)
    assert name in str(ei.value)


def test_unknown_response_model_is_a_clear_error(tmp_path):
    (tmp_path / "g").mkdir()
    (tmp_path / "g" / "p_v1.yaml").write_text(
        "id: g/p\nversion: 1\ndescription: x\nuser: u\nresponse_model: medvl.nowhere:Nothing\n")
    with pytest.raises(PromptError, match="cannot import response_model"):
        load_prompt("g/p", tmp_path).resolve_response_model()


def test_no_prompt_text_in_python_files():
    """Prompt wording lives in prompts/*.yaml: no instruction strings in the splitter's code."""
    root = Path(__file__).resolve().parent.parent
    for rel in ("medvl/split/llm.py", "medvl/llm/client.py", "medvl/split/stage.py"):
        text = (root / rel).read_text()
        assert "You split figure captions" not in text and "Caption: {{" not in text, rel


def test_cli_prompts_ls_show_render():
    from typer.testing import CliRunner

    from medvl.cli import app

    r = CliRunner().invoke(app, ["prompts", "ls", "split", "--json"])
    assert r.exit_code == 0, r.output
    refs = {p["ref"]: p for p in json.loads(r.stdout)}
    assert refs["split/fewshot@1"]["sha"] == PINNED["split/fewshot@1"]
    r = CliRunner().invoke(app, ["prompts", "show", "split/zeroshot"])
    assert r.exit_code == 0 and "sha: " + PINNED["split/zeroshot@2"] in r.stdout  # the latest version
    r = CliRunner().invoke(app, ["prompts", "render", "split/zeroshot@1", "--caption", "(A) one. (B) two.", "--json"])
    assert r.exit_code == 0
    msgs = json.loads(r.stdout)
    assert msgs[-1] == {"role": "user", "content": "Caption: (A) one. (B) two."}
