"""Path settings of a run config are relative to RUN_DIR (as `out` is), never to the current folder."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from medvl.runs import RunDir
from medvl.stages import evaluation, judge


def _ctx(run_dir: Path, **settings):
    return SimpleNamespace(run=RunDir(run_dir), settings=settings)


def test_judge_cache_path_is_inside_the_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a cwd that is not the run
    run = tmp_path / "runs" / "r"
    llm = judge._llm({"cache": ".cache/judge.sqlite", "url": "http://x/v1", "model": "m"}, RunDir(run))
    assert Path(llm.cache_path) == run.resolve() / ".cache" / "judge.sqlite"
    assert judge._llm({"cache": False, "url": "http://x/v1", "model": "m"}, RunDir(run)).cache_path is None


def test_eval_data_dir_and_checkpoints_of_no_run_are_relative_to_the_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run = tmp_path / "runs" / "r"
    ctx = _ctx(run, data_dir="../data", checkpoints={"mine": "models/ckpt.pt", "abs": str(tmp_path / "a.pt")})
    assert evaluation._data_dir(ctx) == (tmp_path / "runs" / "data").resolve()
    assert evaluation._models(ctx) == {"mine": (run / "models" / "ckpt.pt").resolve(), "abs": tmp_path / "a.pt"}


def test_train_data_dir_of_no_run_is_relative_to_the_run(tmp_path, monkeypatch):
    from medvl.stages import train

    monkeypatch.chdir(tmp_path)
    run = tmp_path / "runs" / "r"
    [(key, data_dir, out)] = train._jobs(_ctx(run, data_dir="../data"))
    assert data_dir == (tmp_path / "runs" / "data").resolve() and key == train.DATA_DIR_KEY
