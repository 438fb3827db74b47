"""The `split` stage and `medvl split`: inputs, rejects, resume, settings changes, LLM fallbacks.

The LLM paths here use the fake server of tests/helpers/fake_llm.py (a unit test of the stage's control flow);
the same flow against the real vLLM server is in test_llm_integration.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from medvl.cli import app
from medvl.llm.client import LLMSettings, LLMUnavailable
from medvl.records import SplitRow
from medvl.split.llm import rule_subcaptions
from medvl.split.rules import split_caption
from medvl.split.stage import read_captions, run_split

from tests.helpers.fake_llm import FakeLLM, Reply, free_port, last_user
from tests.helpers.parsed_run import done_markers, parsed_template

CAPTIONS = [
    ("f1", "Chest radiographs. (A) Before treatment, showing bilateral infiltrates. (B) After two weeks of antibiotics."),
    ("f2", "Immunohistochemistry of tumor sections: (a) CD3, (b) CD20, (c) Ki-67. Scale bars, 50 um."),
    ("f3", "Kaplan-Meier survival curves for the two cohorts."),
    ("f4", "Left: CT scan of the abdomen. Right: corresponding PET image."),
    ("f5", "Ultrasound of the thyroid. (A) Transverse view. (B) Longitudinal view with Doppler."),
]


def write_captions(path: Path, items=CAPTIONS, extra_lines: list[str] = ()) -> Path:
    lines = [json.dumps({"id": i, "caption": c}) for i, c in items] + list(extra_lines)
    path.write_text("\n".join(lines) + "\n")
    return path


def rows_of(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]


def rules_answer(body: dict, n: int) -> Reply:
    """A fake model that answers with the rule splitter's split of the caption it was sent."""
    caption = last_user(body).removeprefix("Caption: ")
    subs = [{"label": s.label, "text": s.text} for s in split_caption(caption)]
    return Reply(content=json.dumps({"subcaptions": subs}))


def llm_settings(url: str, **kw) -> LLMSettings:
    base = dict(url=url, model="fake-model", backoff_s=0.01, backoff_max_s=0.02, timeout_s=5, transport_retries=1,
                concurrency=3)
    base.update(kw)
    return LLMSettings(**base)


# ---------------------------------------------------------------- input


def test_read_captions_rejects_bad_lines_with_file_and_reason(tmp_path):
    p = write_captions(tmp_path / "c.jsonl", CAPTIONS[:2], [
        "not json", json.dumps({"caption": "no id"}), json.dumps({"id": "x"}), json.dumps({"id": "y", "caption": "  "}),
        json.dumps({"id": "f1", "caption": "duplicate"}), json.dumps(["a", "list"])])
    items, rejects = read_captions(p)
    assert [i for i, _ in items] == ["f1", "f2"]
    assert [r.reason for r in rejects] == ["bad_json", "missing_id", "missing_caption", "empty_caption",
                                           "duplicate_id", "bad_json"]
    assert all(str(p) in r.detail and r.stage == "split" for r in rejects)
    assert rejects[0].source == f"{p}:3"


def test_missing_input_is_a_clear_error(tmp_path):
    from medvl.errors import InputError

    with pytest.raises(InputError, match="no such file"):
        run_split(tmp_path / "nope.jsonl")
    (tmp_path / "run").mkdir()
    with pytest.raises(InputError, match="figures.jsonl"):
        run_split(tmp_path / "run")


# ---------------------------------------------------------------- rules


def test_rules_split_of_a_jsonl_file(tmp_path):
    src = write_captions(tmp_path / "caps.jsonl", extra_lines=["{broken"])
    s = run_split(src, tmp_path / "out.jsonl", shard_size=2)
    rows = [SplitRow.model_validate(r) for r in rows_of(tmp_path / "out.jsonl")]
    assert [r.id for r in rows] == [i for i, _ in CAPTIONS]  # input order
    assert s.n_rows == 5 and s.n_shards == 3 and s.n_shards_run == 3 and s.n_rejected == 1
    assert all(r.splitter == "rules" and r.provenance.stage == "split" for r in rows)
    assert {x.label for x in rows[0].subcaptions} == {"_shared", "A", "B"}
    assert rows[2].subcaptions == []  # no panels
    rej = rows_of(tmp_path / "out.rejects.jsonl")
    assert [r["reason"] for r in rej] == ["bad_json"]


def test_run_directory_input_writes_subcaptions_and_rejects(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    figs = [{"figure_id": i, "paper_id": "p1", "caption": c} for i, c in CAPTIONS[:3]]
    figs.append({"figure_id": "f9", "paper_id": "p1", "caption": ""})
    (run / "figures.jsonl").write_text("\n".join(json.dumps(f) for f in figs) + "\n")
    s = run_split(run)
    assert s.out == run / "subcaptions.jsonl"
    assert [r["id"] for r in rows_of(run / "subcaptions.jsonl")] == ["f1", "f2", "f3"]
    rejects = rows_of(run / "rejects.jsonl")
    assert [(r["stage"], r["id"], r["reason"]) for r in rejects] == [("split", "f9", "empty_caption")]
    assert json.loads((run / "run.json").read_text())["stages"]["split"]["settings"]["splitter"] == "rules"


def test_run_directory_without_parse_parts_is_split_per_paper(tmp_path):
    """figures.jsonl made elsewhere: grouped by paper_id, one unit each; unreadable lines in their own unit."""
    run = tmp_path / "run"
    run.mkdir()
    figs = [{"figure_id": i, "paper_id": "p2" if i in ("f2", "f4") else "p1", "caption": c} for i, c in CAPTIONS]

    def write(rows):
        (run / "figures.jsonl").write_text("\n".join(json.dumps(f) for f in rows) + "\n{broken\n"
                                           + json.dumps({"figure_id": "f8", "caption": "x"}) + "\n")

    write(figs)
    s = run_split(run)
    assert s.n_shards == 2 and s.n_shards_run == 2 and s.settings["units"] == "paper"
    assert sorted(p.name for p in (run / ".parts" / "split").glob("*.done")) == ["input.done", "p1.done", "p2.done"]
    assert [r["id"] for r in rows_of(run / "subcaptions.jsonl")] == ["f1", "f3", "f5", "f2", "f4"]  # by paper
    assert sorted(r["reason"] for r in rows_of(run / "rejects.jsonl")) == ["bad_json", "missing_paper_id"]
    assert run_split(run).n_shards_run == 0
    figs[3]["caption"] = "Left: CT. Right: PET. Bottom: MRI."
    write(figs)
    s = run_split(run)
    assert s.n_shards_run == 1 and not s.restarted  # only p2 (f4's paper) again


def test_resume_does_only_missing_shards_and_output_is_identical(tmp_path):
    src = write_captions(tmp_path / "caps.jsonl")
    out = tmp_path / "out.jsonl"
    run_split(src, out, shard_size=2)
    full = out.read_bytes()
    # simulate a run killed after its first shard: drop the markers of the later shards
    parts = tmp_path / ".out.jsonl.work" / ".parts" / "split"
    later = sorted(p for p in parts.glob("0000[12]-*.done"))
    assert len(later) == 2
    for p in later:
        p.unlink()
    s = run_split(src, out, shard_size=2)
    assert s.n_shards_run == 2 and not s.restarted
    assert out.read_bytes() == full
    s = run_split(src, out, shard_size=2)
    assert s.n_shards_run == 0


def test_changed_input_redoes_only_the_changed_shard(tmp_path):
    src = write_captions(tmp_path / "caps.jsonl")
    out = tmp_path / "out.jsonl"
    run_split(src, out, shard_size=2)
    changed = list(CAPTIONS)
    changed[4] = ("f5", "Ultrasound. (A) Transverse. (B) Longitudinal. (C) Doppler.")
    write_captions(src, changed)
    s = run_split(src, out, shard_size=2)
    assert s.n_shards_run == 1
    last = rows_of(out)[-1]
    assert last["id"] == "f5" and [x["label"] for x in last["subcaptions"]][-1] == "C"
    assert len(list((tmp_path / ".out.jsonl.work" / ".parts" / "split").glob("0000*.done"))) == 3


# ---------------------------------------------------------------- llm (fake server)


def test_llm_split_valid_answers(tmp_path):
    src = write_captions(tmp_path / "caps.jsonl")
    with FakeLLM(rules_answer) as fake:
        s = run_split(src, tmp_path / "out.jsonl", splitter="llm", prompt="split/zeroshot@1",
                      llm_settings=llm_settings(fake.url), shard_size=2)
    rows = [SplitRow.model_validate(r) for r in rows_of(tmp_path / "out.jsonl")]
    assert [r.splitter for r in rows] == ["llm"] * 5
    assert all(r.prompt_id == "split/zeroshot@1" and r.model == "fake-model" and r.prompt_sha for r in rows)
    assert all(r.provenance.prompt_sha == r.prompt_sha for r in rows)
    assert s.stats["fallbacks"] == 0 and s.llm_stats["requests"] == 5
    assert {x.label for x in rows[0].subcaptions} == {"_shared", "A", "B"}


def test_llm_invalid_answers_fall_back_to_rules_with_reason(tmp_path):
    src = write_captions(tmp_path / "caps.jsonl", CAPTIONS[:2])

    def paraphrase(body, n):
        return Reply(content=json.dumps({"subcaptions": [{"label": "A", "text": "an invented sentence here"}]}))

    with FakeLLM(paraphrase) as fake:
        s = run_split(src, tmp_path / "out.jsonl", splitter="llm", llm_settings=llm_settings(fake.url, max_reasks=1))
    rows = rows_of(tmp_path / "out.jsonl")
    assert all(r["splitter"] == "rules" and r["reasks"] == 1 for r in rows)
    assert all("not verbatim caption text" in r["fallback_reason"] for r in rows)
    assert rows[0]["subcaptions"] == [x.model_dump() for x in rule_subcaptions(CAPTIONS[0][1])]
    assert len(fake.requests) == 4 and s.stats["fallbacks"] == 2


def test_llm_rerun_is_free_from_cache_and_other_prompt_starts_over(tmp_path):
    src = write_captions(tmp_path / "caps.jsonl")
    out = tmp_path / "out.jsonl"
    with FakeLLM(rules_answer) as fake:
        run_split(src, out, splitter="llm", llm_settings=llm_settings(fake.url), shard_size=2)
        first = out.read_bytes()
        # killed after shard 0: its answers for later shards are in the cache, so no new requests
        for p in (tmp_path / ".out.jsonl.work" / ".parts" / "split").glob("0000[12]-*.done"):
            p.unlink()
        s = run_split(src, out, splitter="llm", llm_settings=llm_settings(fake.url), shard_size=2)
        assert s.n_shards_run == 2 and len(fake.requests) == 5 and s.stats["cached"] == 3
        assert [r["id"] for r in rows_of(out)] == [r["id"] for r in map(json.loads, first.splitlines())]
        s = run_split(src, out, splitter="llm", prompt="split/zeroshot@1", llm_settings=llm_settings(fake.url),
                      shard_size=2)
        assert s.restarted and s.n_shards_run == 3 and len(fake.requests) == 10
    assert all(r["prompt_id"] == "split/zeroshot@1" for r in rows_of(out))


def test_dead_server_at_start_stops_with_a_clear_message(tmp_path):
    src = write_captions(tmp_path / "caps.jsonl")
    url = f"http://127.0.0.1:{free_port()}/v1"
    with pytest.raises(LLMUnavailable, match="does not answer"):
        run_split(src, tmp_path / "out.jsonl", splitter="llm", llm_settings=llm_settings(url))


def test_server_dying_keeps_finished_shards_and_rerun_resumes(tmp_path):
    src = write_captions(tmp_path / "caps.jsonl")
    out = tmp_path / "out.jsonl"
    state = {"alive": 2}

    def dying(body, n):
        if state["alive"] <= 0:
            return Reply(drop=True)
        state["alive"] -= 1
        return rules_answer(body, n)

    with FakeLLM(dying) as fake:
        with pytest.raises(LLMUnavailable, match="finished and kept"):
            run_split(src, out, splitter="llm", llm_settings=llm_settings(fake.url, concurrency=1), shard_size=2)
    kept = rows_of(out)
    assert [r["id"] for r in kept] == ["f1", "f2"]  # shard 0 finished before the server died
    with FakeLLM(rules_answer) as fake2:  # a new server: the rerun does the rest
        s = run_split(src, out, splitter="llm", llm_settings=llm_settings(fake2.url), shard_size=2)
    assert s.n_shards_run == 2 and [r["id"] for r in rows_of(out)] == [i for i, _ in CAPTIONS]
    assert len(fake2.requests) == 3


# ---------------------------------------------------------------- CLI


def test_cli_split_rules_and_exit_codes(tmp_path):
    src = write_captions(tmp_path / "caps.jsonl")
    r = CliRunner().invoke(app, ["split", str(src), "--out", str(tmp_path / "o.jsonl")])
    assert r.exit_code == 0, r.output
    assert len(rows_of(tmp_path / "o.jsonl")) == 5
    write_captions(src, CAPTIONS, ["not json"])
    r = CliRunner().invoke(app, ["split", str(src), "--out", str(tmp_path / "o.jsonl")])
    assert r.exit_code == 1  # something was rejected
    r = CliRunner().invoke(app, ["split", str(src), "--splitter", "llm"], env={"MEDVL_LLM_URL": ""})
    assert r.exit_code == 2 and "--llm-url" in r.output


def test_cli_split_llm(tmp_path):
    src = write_captions(tmp_path / "caps.jsonl", CAPTIONS[:2])
    with FakeLLM(rules_answer) as fake:
        r = CliRunner().invoke(app, ["split", str(src), "--splitter", "llm", "--llm-url", fake.url, "--llm-model",
                                     "fake-model", "--prompt", "split/zeroshot@1", "--concurrency", "2",
                                     "--max-tokens", "64"])
    assert r.exit_code == 0, r.output
    rows = rows_of(tmp_path / "caps.subcaptions.jsonl")
    assert [x["splitter"] for x in rows] == ["llm", "llm"]
    assert fake.requests[0]["max_tokens"] == 64


def test_compare_prompts_and_rules_on_gold(tmp_path):
    from medvl.split.compare import compare_splitters

    gold = tmp_path / "gold.jsonl"
    gold.write_text("\n".join(json.dumps({"id": i, "caption": c,
                                          "subcaptions": [s.model_dump() for s in split_caption(c)]})
                              for i, c in CAPTIONS) + "\n")

    def half_wrong(body, n):  # f4's answer drops a panel; the rest are the rules' answers
        caption = last_user(body).removeprefix("Caption: ")
        if caption.startswith("Left"):
            return Reply(content=json.dumps({"subcaptions": [{"label": "left", "text": "CT scan of the abdomen."}]}))
        return rules_answer(body, n)

    with FakeLLM(half_wrong) as fake:
        rep = compare_splitters(gold, ["split/zeroshot@1"], llm_settings(fake.url), rules=True, out_dir=tmp_path / "cmp")
    by = {s["system"]: s for s in rep["systems"]}
    assert by["rules"]["label_f1"] == 1.0 and by["rules"]["exact_label_set"] == 1.0
    z = by["split/zeroshot@1"]
    assert z["exact_label_set"] == pytest.approx(4 / 5) and z["label_recall"] < 1.0
    assert z["fallback_rate"] == 0 and z["schema_failure_rate"] == 0 and z["tokens_per_caption"] == 15
    assert [d["id"] for d in rep["disagreements"]] == ["f4"]
    md = (tmp_path / "cmp" / "compare.md").read_text()
    assert "| `split/zeroshot@1` |" in md and "f4" in md
    assert json.loads((tmp_path / "cmp" / "compare.json").read_text())["n_captions"] == 5
    assert len(rows_of(tmp_path / "cmp" / "predictions" / "split_zeroshot_v1.jsonl")) == 5


# ---------------------------------------------------------------- one run directory, two commands


@pytest.fixture(scope="module")
def parsed_run(tmp_path_factory):
    """Three synthetic papers parsed by `medvl run --stages parse` (copied by each test)."""
    return parsed_template(tmp_path_factory.mktemp("splitunits"), papers=3, seed=5)


def _pipeline_stage(run: Path, name: str) -> dict:
    return json.loads((run / "run.json").read_text())["pipeline"]["stages"][name]


def test_medvl_split_and_medvl_run_share_per_paper_units(parsed_run, tmp_path):
    import shutil

    cfg, template = parsed_run
    papers = sorted(p.name[:-5] for p in (template / ".parts" / "parse").glob("*.done"))
    assert len(papers) == 3

    # medvl run --stages parse,split, then medvl split RUN_DIR: nothing new to do
    a = shutil.copytree(template, tmp_path / "a")
    r = CliRunner().invoke(app, ["run", str(cfg), "--out", str(a), "--stages", "parse,split", "-q"])
    assert r.exit_code == 0, r.output
    assert _pipeline_stage(a, "split")["ran"] == 3
    assert sorted(k[:-5] for k in done_markers(a, "split")) == papers  # one unit per paper, keyed like parse
    out_a, marks_a = (a / "subcaptions.jsonl").read_bytes(), done_markers(a, "split")
    r = CliRunner().invoke(app, ["split", str(a)])
    assert r.exit_code == 0, r.output
    assert "0 of 3 paper(s) run now" in r.output
    assert done_markers(a, "split") == marks_a and (a / "subcaptions.jsonl").read_bytes() == out_a
    s = run_split(a)
    assert s.n_shards == 3 and s.n_shards_run == 0 and not s.restarted and s.n_rows == len(out_a.splitlines())

    # and vice versa: medvl split RUN_DIR first, then medvl run --stages parse,split reuses every unit
    b = shutil.copytree(template, tmp_path / "b")
    r = CliRunner().invoke(app, ["split", str(b)])
    assert r.exit_code == 0 and "3 of 3 paper(s) run now" in r.output, r.output
    assert (b / "subcaptions.jsonl").read_bytes() == out_a  # the same units give the same output
    marks_b = done_markers(b, "split")
    r = CliRunner().invoke(app, ["run", str(cfg), "--out", str(b), "--stages", "parse,split", "-q"])
    assert r.exit_code == 0, r.output
    st = _pipeline_stage(b, "split")
    assert st["ran"] == 0 and st["reused"] == 3 and st["planned"] == 3
    assert done_markers(b, "split") == marks_b and (b / "subcaptions.jsonl").read_bytes() == out_a

    # a changed paper is redone by either command, and only that paper
    part = next((b / ".parts" / "parse").glob(f"{papers[0]}.jsonl"))
    rows = [json.loads(x) for x in part.read_text().splitlines()]
    rows[0]["caption"] = rows[0]["caption"] + " (C) An added panel."
    part.write_text("".join(json.dumps(x) + "\n" for x in rows))
    s = run_split(b)
    assert s.n_shards_run == 1 and not s.restarted
    r = CliRunner().invoke(app, ["run", str(cfg), "--out", str(b), "--stages", "split", "-q"])
    assert r.exit_code == 0 and _pipeline_stage(b, "split")["ran"] == 0, r.output


def test_align_in_a_run_is_not_redone_when_split_rows_differ_only_in_run_details(parsed_run, tmp_path):
    """An LLM split rerun rewrites rows with other latencies and cache flags: align keeps its papers."""
    import shutil

    cfg, template = parsed_run
    run = shutil.copytree(template, tmp_path / "run")
    r = CliRunner().invoke(app, ["run", str(cfg), "--out", str(run), "--stages", "split,align", "-q"])
    assert r.exit_code == 0, r.output
    pairs = (run / "pairs.jsonl").read_bytes()
    for part in (run / ".parts" / "split").glob("*.jsonl"):
        if part.name.endswith(".rejects.jsonl"):
            continue
        rows = [json.loads(x) for x in part.read_text().splitlines() if x.strip()]
        for x in rows:
            x.update(latency_s=0.5, cached=True, tokens={"prompt_tokens": 7})
        part.write_text("".join(json.dumps(x) + "\n" for x in rows))
    r = CliRunner().invoke(app, ["run", str(cfg), "--out", str(run), "--stages", "align", "-q"])
    assert r.exit_code == 0, r.output
    assert _pipeline_stage(run, "align")["ran"] == 0 and (run / "pairs.jsonl").read_bytes() == pairs
    # a changed subcaption does redo its paper
    part = sorted(p for p in (run / ".parts" / "split").glob("*.jsonl") if not p.name.endswith(".rejects.jsonl")
                  and p.read_text().strip())[0]
    rows = [json.loads(x) for x in part.read_text().splitlines()]
    rows[0]["subcaptions"] = []
    part.write_text("".join(json.dumps(x) + "\n" for x in rows))
    r = CliRunner().invoke(app, ["run", str(cfg), "--out", str(run), "--stages", "align", "-q"])
    assert r.exit_code == 0 and _pipeline_stage(run, "align")["ran"] == 1, r.output


def test_changed_rule_code_redoes_every_unit(tmp_path, monkeypatch):
    """The rules version in the fingerprint and provenance follows the rule code (medvl.split.ruleversion):
    another version means other rules, so no unit split by the old ones is kept."""
    import medvl.split.llm as split_llm
    import medvl.split.stage as stage

    src = write_captions(tmp_path / "caps.jsonl")
    out = tmp_path / "out.jsonl"
    run_split(src, out, shard_size=2)
    assert {r["provenance"]["tools"]["rules"] for r in rows_of(out)} == {stage.RULES_VERSION}
    assert run_split(src, out, shard_size=2).n_shards_run == 0
    monkeypatch.setattr(stage, "RULES_VERSION", "rules-9.9+000000000000")
    monkeypatch.setattr(split_llm, "RULES_VERSION", "rules-9.9+000000000000")
    s = run_split(src, out, shard_size=2)
    assert s.restarted and s.n_shards_run == s.n_shards == 3
    assert {r["provenance"]["tools"]["rules"] for r in rows_of(out)} == {"rules-9.9+000000000000"}
