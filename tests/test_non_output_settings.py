"""Settings that change how a stage runs but not what it writes (Stage.non_output: requests in flight, the LLM
client's time limits and retries, the server's address, the answer cache) are checked like the others but are
no part of the stage's fingerprints: changing only them redoes nothing, and a real setting still redoes
exactly the units it affects, with a reason that names only it (issue 12)."""

from __future__ import annotations

import textwrap

import pytest
from typer.testing import CliRunner

from medvl.cli import app
from medvl.config import RunConfig, config_from_dict
from medvl.errors import MedvlError
from medvl.pipeline import get_stage, run_pipeline, run_status
from tests.helpers.fake_llm import FakeLLM, schema_answer

PLUGIN = textwrap.dedent('''
    from medvl.pipeline import Shard, Stage, register
    from medvl.settings import StrictSettings

    class Settings(StrictSettings):
        scale: int = 1
        concurrency: int = 1

    def plan(ctx):
        return [Shard(key=k, fingerprint=k) for k in ("a", "b", "c")]

    def run(sctx):
        return [{"key": sctx.key, "n": sctx.settings.get("scale", 1)}], []

    def whole(ctx, progress):
        return {"records": 1}

    register(Stage("i12_nonout", "1", order=3100, output="n.jsonl", plan=plan, run_shard=run,
                   settings_model=Settings, non_output=("concurrency",)), replace=True)
    register(Stage("i12_nonout_whole", "1", order=3101, run_all=whole, settings_model=Settings,
                   non_output=("concurrency",)), replace=True)
''')


def test_a_non_output_setting_redoes_no_unit_and_a_real_one_redoes_all(tmp_path):
    plugin = tmp_path / "i12_nonout.py"
    plugin.write_text(PLUGIN)
    run = tmp_path / "run"

    def go(**settings):
        cfg = config_from_dict({"plugins": [str(plugin)], "executor": {"kind": "inline"},
                                "stages": {"i12_nonout": dict(settings), "i12_nonout_whole": dict(settings)}})
        res = run_pipeline(cfg, run)
        return res.stage("i12_nonout"), res.stage("i12_nonout_whole")

    sharded, whole = go(concurrency=2)
    assert (sharded.ran, whole.ran) == (3, 1)
    sharded, whole = go(concurrency=7)  # only how it runs changed
    assert (sharded.ran, sharded.reused, whole.ran, whole.reused) == (0, 3, 0, 1)
    sharded, whole = go(concurrency=3, scale=2)  # a real setting: every unit, and the reason names only it
    assert (sharded.ran, whole.ran) == (3, 1)
    assert sharded.redone == {"settings changed: scale": 3} and whole.redone == {"settings changed: scale": 1}
    with pytest.raises(MedvlError, match="concurrency"):  # still checked
        go(concurrency="many")


def test_the_llm_stages_declare_their_client_settings_non_output():
    for name in ("split", "align", "judge", "tag"):
        stage = get_stage(name)
        assert {"url", "concurrency", "timeout_s", "transport_retries"} <= set(stage.non_output), name
        assert "model" not in stage.non_output and "prompt" not in stage.non_output, name  # they change answers
    for name in ("parse", "export", "train", "eval", "report"):  # timeouts, threads, workers change output there
        assert get_stage(name).non_output == (), name


# ---------------------------------------------------------------- split, align and judge against the fake server


def _cli(*args) -> str:
    r = CliRunner().invoke(app, [str(a) for a in args], env={"COLUMNS": "250"})
    assert r.exit_code == 0, r.output
    return " ".join(r.output.split())


def _config(run_dir, url: str, concurrency: int, align_prompt: str = "align/zeroshot@1") -> RunConfig:
    llm = {"concurrency": concurrency, "transport_retries": concurrency, "timeout_s": 30 + concurrency}
    return RunConfig.model_validate({
        "out": str(run_dir), "demo": {"papers": 2, "seed": 3}, "executor": {"kind": "inline"},
        "llm": {"urls": url, "model": "fake-model"},
        "stages": {"synth": {"dpi": 72}, "parse": {"dpi": 60, "ocr": "never"},
                   "split": {"splitter": "llm", "prompt": "split/spans_zeroshot@1", **llm},
                   "align": {"aligner": "llm", "prompt": align_prompt, **llm},
                   "judge": {"what": ["splits"], "sample": 2, **llm}}})


@pytest.mark.slow
def test_changing_only_concurrency_redoes_no_split_align_or_judge_unit(tmp_path):
    pytest.importorskip("instructor")  # the llm extra
    run = tmp_path / "run"
    with FakeLLM(schema_answer) as fake:
        res = run_pipeline(_config(run, fake.url, 2), run)
        assert res.ok, [(s.name, s.state, s.message) for s in res.stages]
        assert all(res.stage(n).ran for n in ("split", "align", "judge"))
        asked = len(fake.requests)
        # concurrency, retries and timeout of every LLM stage changed: nothing is done again, nothing asked
        res = run_pipeline(_config(run, fake.url, 5), run)
        assert res.ok and [res.stage(n).ran for n in ("split", "align", "judge")] == [0, 0, 0]
        assert len(fake.requests) == asked
        # the same through the stage commands' --concurrency (and --timeout)
        server = ["--llm-url", fake.url, "--llm-model", "fake-model", "--concurrency", "3", "--timeout", "9"]
        out = _cli("split", run, "--splitter", "llm", "--prompt", "split/spans_zeroshot@1", *server)
        assert "0 of 2 paper(s) run now" in out, out
        out = _cli("align", run, "--aligner", "llm", "--prompt", "align/zeroshot@1", *server)
        assert "(2 papers already done)" in out, out
        out = _cli("judge", run, "--what", "splits", "--sample", "2", *server[:-2])
        assert "already done" in out, out
        assert len(fake.requests) == asked
        # a real setting (the align prompt) redoes the align units of both papers (not the run's own
        # rejects unit), and nothing of split or judge (it judges splits)
        res = run_pipeline(_config(run, fake.url, 4, align_prompt="align/fewshot@1"), run)
        assert res.ok and [res.stage(n).ran for n in ("split", "align", "judge")] == [0, 2, 0]
    align = next(r for r in run_status(run) if r["stage"] == "align")
    assert align["redone"] == {"settings changed: prompt": 2}  # not the concurrency, retries, timeout
