"""Pipeline orchestration: shards, resume, fingerprints, force, failure policies, status.

The framework is tested here with small plugin stages (written to a temp file and loaded the
way a user's plugin is, so the worker processes load them too); the built-in stages are
exercised end to end in tests/test_reliability_*.py.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from medvl.config import config_from_dict, load_config
from medvl.errors import MedvlError
from medvl.pipeline import Pipeline, run_pipeline, run_status
from tests.helpers.toy_stages import TOY


@pytest.fixture
def toy(tmp_path):
    plugin = tmp_path / "toy_stages.py"
    plugin.write_text(TOY)
    inputs = tmp_path / "in"
    inputs.mkdir()
    for name, text in {"a": "1 2 3", "b": "4 5", "c": "6", "d": "bad", "e": "boom"}.items():
        (inputs / f"{name}.txt").write_text(text)

    def config(workers=2, **stage_settings):
        stages = {"toy_make": {}, "toy_double": {}, "toy_sum": {}}
        for k, v in stage_settings.items():
            stages[k] = v
        return config_from_dict({"inputs": {"pdfs": str(inputs)}, "plugins": [str(plugin)],
                                 "executor": {"workers": workers}, "stages": stages})

    return config, inputs, tmp_path / "run"


def _read(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_full_run_outputs_rejects_and_status(toy):
    config, _inputs, run_dir = toy
    res = run_pipeline(config(), run_dir)
    assert res.ok, [(s.name, s.state, s.message) for s in res.stages]
    made = _read(run_dir / "toy_make.jsonl")
    assert [(r["key"], r["n"]) for r in made] == [("a", 1), ("a", 2), ("a", 3), ("b", 4), ("b", 5), ("c", 6)]
    assert (run_dir / "toy_sum.txt").read_text() == str(2 * 21)
    rejects = _read(run_dir / "rejects.jsonl")
    by_id = {(r["stage"], r["id"]): r for r in rejects}
    assert by_id[("toy_make", "d")]["reason"] == "not_numbers"
    assert by_id[("toy_make", "e")]["reason"] == "error" and "RuntimeError" in by_id[("toy_make", "e")]["detail"]
    assert by_id[("toy_double", "a")]["reason"] == "odd"
    manifest = json.loads((run_dir / "run.json").read_text())
    assert manifest["pipeline"]["config"]["stages"]["toy_make"] == {}
    assert manifest["pipeline"]["stages"]["toy_make"]["records"] == 6
    rows = {r["stage"]: r for r in run_status(run_dir)}
    assert rows["toy_make"]["done"] == 5 and rows["toy_make"]["rejects"] == 2
    assert rows["toy_make"]["reasons"] == {"error": 1, "not_numbers": 1}
    assert rows["toy_sum"]["state"] == "done"


@pytest.mark.slow
def test_rerun_skips_done_shards_and_redoes_changed_inputs(toy):
    config, inputs, run_dir = toy
    run_pipeline(config(), run_dir)
    first = (run_dir / "toy_double.jsonl").read_bytes()
    again = run_pipeline(config(), run_dir)
    assert [(s.name, s.ran) for s in again.stages] == [("toy_make", 0), ("toy_double", 0), ("toy_sum", 0)]
    assert (run_dir / "toy_double.jsonl").read_bytes() == first
    # change one input: only its shard and what depends on it run again
    (inputs / "c.txt").write_text("7")
    os.utime(inputs / "c.txt", ns=(1, 1))
    res = run_pipeline(config(), run_dir)
    assert res.stage("toy_make").ran == 1 and res.stage("toy_double").ran == 1
    assert res.stage("toy_sum").ran == 1
    assert (run_dir / "toy_sum.txt").read_text() == str(2 * 22)
    # a settings change redoes the stage and everything downstream whose input changed
    res = run_pipeline(config(toy_make={"scale": 10}), run_dir)
    assert res.stage("toy_make").ran == 5 and res.stage("toy_double").ran == 3
    assert (run_dir / "toy_sum.txt").read_text() == str(2 * 220)


def test_force_redoes_one_stage_and_removed_inputs_leave_the_output(toy):
    config, inputs, run_dir = toy
    run_pipeline(config(), run_dir)
    (inputs / "a.txt").unlink()
    res = Pipeline(config(), run_dir, force=["toy_make"]).run_all()
    assert res.stage("toy_make").ran == 4  # all remaining inputs, done again
    assert res.stage("toy_double").ran == 0  # same content upstream: nothing to redo
    keys = {r["key"] for r in _read(run_dir / "toy_double.jsonl")}
    assert keys == {"b", "c"}
    assert not any(r.get("id") == "a" for r in _read(run_dir / "rejects.jsonl"))


def test_retry_policy_leaves_failed_shards_for_the_rerun(toy, tmp_path):
    config, _inputs, run_dir = toy
    flag = tmp_path / "server-down"
    flag.write_text("")
    cfg = config(toy_double={"fail_flag": str(flag)})
    res = run_pipeline(cfg, run_dir)
    dbl = res.stage("toy_double")
    assert dbl.state == "failed" and dbl.failed == 1 and "rerun" in dbl.message
    assert res.stage("toy_sum").state == "blocked"
    rows = {r["stage"]: r for r in run_status(run_dir)}
    assert rows["toy_double"]["failed"] == 1
    assert {r["key"] for r in _read(run_dir / "toy_double.jsonl")} == {"a", "c"}
    flag.unlink()  # the server is back
    res = run_pipeline(cfg, run_dir)
    assert res.ok and res.stage("toy_double").ran == 1
    assert {r["key"] for r in _read(run_dir / "toy_double.jsonl")} == {"a", "b", "c"}
    assert run_status(run_dir)[1]["failed"] == 0


def test_crash_and_hang_become_rejects(toy):
    config, inputs, run_dir = toy
    (inputs / "f.txt").write_text("crash")
    (inputs / "g.txt").write_text("hang")
    cfg = config()
    cfg.executor.timeout_s = 3
    res = run_pipeline(cfg, run_dir)
    assert res.ok
    reasons = {r["id"]: r["reason"] for r in _read(run_dir / "rejects.jsonl") if r["stage"] == "toy_make"}
    assert reasons["f"] == "crash" and reasons["g"] == "timeout"
    assert {r["key"] for r in _read(run_dir / "toy_make.jsonl")} == {"a", "b", "c"}


def test_inline_executor_gives_the_same_outputs(toy, tmp_path):
    config, _inputs, run_dir = toy
    run_pipeline(config(), run_dir)
    cfg = config()
    cfg.executor.kind = "inline"
    other = tmp_path / "run-inline"
    run_pipeline(cfg, other)
    for name in ("toy_make.jsonl", "toy_double.jsonl", "rejects.jsonl", "toy_sum.txt"):
        assert (other / name).read_bytes() == (run_dir / name).read_bytes(), name


def test_config_errors_name_the_file_and_key(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("executor:\n  wrokers: 2\n")
    with pytest.raises(MedvlError, match=r"bad.yaml.*executor.wrokers"):
        load_config(bad)
    bad.write_text("stages: [parse, {split: {splitter: llm}}]\nllm:\n  urls: http://a/v1, http://b/v1\n")
    cfg = load_config(bad)
    assert list(cfg.stages) == ["parse", "split"] and cfg.stages["split"] == {"splitter": "llm"}
    assert cfg.llm.url == "http://a/v1,http://b/v1"
    bad.write_text("out: ${MEDVL_TEST_UNSET_VAR:-runs/x}\n")
    assert load_config(bad).out == "runs/x"
    with pytest.raises(MedvlError, match="no_such_stage"):
        Pipeline(config_from_dict({"stages": ["no_such_stage"]}), tmp_path / "r")


def test_example_configs_validate():
    from medvl.pipeline import get_stage

    configs = sorted((Path(__file__).resolve().parent.parent / "configs").glob("*.yaml"))
    assert configs
    for path in configs:
        cfg = load_config(path)
        for name, settings in cfg.stages.items():
            stage = get_stage(name)
            if stage.missing() or stage.resolve is None:
                continue
            if name == "split" and settings.get("splitter") == "llm" and not cfg.llm.url:
                continue
            stage.resolve(cfg, dict(settings))  # raises on an unknown or invalid setting


@pytest.mark.slow
def test_demo_flow_end_to_end_and_resume(tmp_path):
    """synth -> parse -> split -> align -> export (aligned + raw) -> train -> eval -> report."""
    pytest.importorskip("open_clip_train")
    from medvl.config import demo_config
    from medvl.pipeline import get_stage

    for name in ("synth", "parse", "split", "align", "export", "train", "eval", "report"):
        if get_stage(name).missing():
            pytest.skip(f"stage {name} not available here")
    cfg = demo_config(papers=4)
    cfg.stages["parse"] = {"dpi": 72, "ocr": "never"}
    cfg.stages["train"] = {"epochs": 1, "batch_size": 4}
    cfg.executor.workers = 2
    run_dir = tmp_path / "demo"
    res = run_pipeline(cfg, run_dir)
    states = {s.name: s.state for s in res.stages}
    assert res.ok, [(s.name, s.state, s.message) for s in res.stages]
    assert states["judge"] == "skipped" and all(v == "done" for k, v in states.items() if k != "judge")
    for rel in ("figures.jsonl", "subcaptions.jsonl", "pairs.jsonl", "export/aligned/train.csv",
                "export/raw/train.csv", "eval/compare.json", "eval/aligned/metrics.json", "report.html"):
        assert (run_dir / rel).is_file(), rel
    assert res.stage("train").outputs == {"aligned": "train/aligned", "raw": "train/raw"}
    assert "<html" in (run_dir / "report.html").read_text(encoding="utf-8")[:2000].lower()
    manifest = json.loads((run_dir / "run.json").read_text())
    assert manifest["pipeline"]["config"]["stages"]["train"] == {"epochs": 1, "batch_size": 4}
    assert manifest["stages"]["train"]["settings"]["model"] == "medvl-tiny"  # resolved settings recorded
    # a rerun does nothing
    again = run_pipeline(cfg, run_dir)
    assert again.ok and all(s.ran == 0 for s in again.stages)
    # a changed align setting redoes align and everything after it, not parse or split
    cfg.stages["align"] = {"shared": "drop"}
    third = run_pipeline(cfg, run_dir, only=["parse", "split", "align", "export"])
    assert [third.stage(n).ran for n in ("parse", "split")] == [0, 0]
    assert third.stage("align").ran == 4 and third.stage("export").ran == 1


def test_settings_errors_stop_the_run_before_anything_runs(toy, tmp_path):
    config, _inputs, run_dir = toy
    cfg = config()
    cfg.stages["split"] = {"splitter": "llm"}  # no LLM server configured
    cfg.stages["align"] = {"sharde": "auto"}  # a typo
    with pytest.raises(MedvlError) as err:
        run_pipeline(cfg, run_dir)
    assert "needs an LLM server" in str(err.value) and "sharde" in str(err.value)
    assert not (run_dir / ".parts" / "toy_make").exists()


def test_one_run_at_a_time_per_run_directory(toy):
    from medvl.pipeline import _lock_run_dir

    config, _inputs, run_dir = toy
    run_dir.mkdir()
    held = _lock_run_dir(run_dir)  # as if another `medvl run` were working here
    try:
        with pytest.raises(MedvlError, match="another medvl run"):
            run_pipeline(config(), run_dir)
    finally:
        held.close()
    assert run_pipeline(config(), run_dir).ok


def test_orchestration_imports_without_heavy_packages():
    import subprocess
    import sys

    code = ("import sys, medvl.pipeline, medvl.config, medvl.executors.local, medvl.cli.run; "
            "heavy = [m for m in ('torch', 'open_clip', 'instructor', 'openai', 'ray', 'vllm') if m in sys.modules]; "
            "assert not heavy, heavy")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


@pytest.mark.slow
def test_cli_run_pdfs_then_status(tmp_path):
    import subprocess
    import sys

    from medvl import synth

    synth.generate_corpus(tmp_path / "c", papers=2, seed=5, dpi=72)
    (tmp_path / "c" / "papers" / "broken.pdf").write_bytes(b"%PDF-1.7\nnot really")
    medvl = [sys.executable, "-c", "from medvl.cli import main; main()"]
    run_dir = tmp_path / "run"
    out = subprocess.run(medvl + ["run", "--pdfs", str(tmp_path / "c" / "papers"), "--out", str(run_dir),
                                  "--stages", "parse,split,align", "--workers", "2", "-q"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "parse" in out.stdout and "align" in out.stdout  # the summary table
    status = subprocess.run(medvl + ["status", str(run_dir), "--json"], capture_output=True, text=True, timeout=60)
    rows = {r["stage"]: r for r in json.loads(status.stdout)}
    assert rows["parse"]["done"] == rows["parse"]["planned"] == 3
    assert rows["parse"]["rejects"] >= 1 and rows["parse"]["state"] == "done"
    assert rows["align"]["records"] > 0
    bad = subprocess.run(medvl + ["run", "--pdfs", str(tmp_path / "nope"), "--out", str(run_dir)],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "nope: no such file or folder" in " ".join(bad.stderr.split())


def test_train_steps_demo_defaults_and_eval_lines():
    """The demo trains by steps (the same for raw and aligned, epochs from each export's size), with the
    lr, batch and thread settings that learn; explicit epochs win over the demo's steps; eval's console
    lines are percentages."""
    from medvl.config import demo_config
    from medvl.pipeline import get_stage
    from medvl.stages.evaluation import _compare_lines
    from medvl.stages.train import DEMO_TRAIN, _epochs_for_steps

    train = get_stage("train")
    demo = demo_config()
    assert demo.demo.papers == 60
    got = train.resolve(demo, {})
    assert got == DEMO_TRAIN and got["steps"] == 100 and got["lr"] == 5e-3 and got["threads"] == 1
    assert "steps" not in train.resolve(demo, {"epochs": 1, "batch_size": 4})
    assert train.resolve(demo, {"steps": 7})["steps"] == 7
    plain = config_from_dict({"stages": ["train"]})
    assert train.resolve(plain, {}) == {}  # outside the demo: the library's defaults
    for bad, msg in (({"steps": 0}, "positive whole number"), ({"steps": "many"}, "positive whole number"),
                     ({"steps": 5, "epochs": 2}, "steps or epochs, not both"), ({"stepz": 5}, "stepz")):
        with pytest.raises(MedvlError, match=msg):
            train.resolve(plain, bad)
    # 100 steps: 225 rows of 32 -> 7 a epoch -> 15 epochs; 72 rows -> 2 a epoch -> 50; 20 rows -> one batch of 20
    assert _epochs_for_steps(100, 225, 32) == (15, 32)
    assert _epochs_for_steps(100, 72, 32) == (50, 32)
    assert _epochs_for_steps(100, 20, 32) == (100, 20)
    assert get_stage("export").resolve(demo, {})["split"] == [0.6, 0.0, 0.4]
    assert get_stage("eval").resolve(demo, {})["threads"] == 1
    cmp = {"rows": [
        {"metric": "image → text R@1", "values": {"raw": 0.1, "aligned": 0.2}, "percent": True,
         "delta_aligned_minus_raw": 0.1},
        {"metric": "image → text R@5", "values": {"raw": 0.06666666666666667, "aligned": 0.13333333333333333},
         "percent": True, "delta_aligned_minus_raw": 0.06666666666666667},
        {"metric": "text → image median rank", "values": {"raw": 8.0, "aligned": 5.0}, "percent": False,
         "delta_aligned_minus_raw": -3.0},
        {"metric": "zero-shot accuracy", "values": {"raw": 0.2, "aligned": 0.5833333}, "percent": True,
         "delta_aligned_minus_raw": 0.3833333}]}
    assert _compare_lines(cmp) == ["eval image → text R@5: raw 6.7 %, aligned 13.3 % (+6.7)",
                                   "eval zero-shot accuracy: raw 20.0 %, aligned 58.3 % (+38.3)"]
