"""Executors: the same function over the same tasks, failures come back as data."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path

import pytest

from medvl.executors import make_executor
from medvl.executors.local import InlineExecutor, LocalExecutor

# Task functions must be importable by worker processes: this test module is on sys.path
# through pytest's rootdir insertion, and workers inherit sys.path via the PYTHONPATH below.
sys.path.insert(0, str(Path(__file__).parent))
os.environ["PYTHONPATH"] = os.pathsep.join(
    [str(Path(__file__).parent)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])


def square_or_fail(x: int) -> int:
    if x == 3:
        time.sleep(60)  # hangs: must be cut by the time limit
    if x == 5:
        os.kill(os.getpid(), signal.SIGSEGV)  # a crash in "native code"
    if x == 7:
        raise ValueError("seven is bad")
    return x * x


def pid_of(_x: int) -> int:
    return os.getpid()


def allocate(mb: int) -> int:
    data = bytearray(mb * 1024 * 1024)
    return len(data)


def _check(outcomes: list, n: int, signal_named: bool = True) -> None:
    by = {o.index: o for o in outcomes}
    assert sorted(by) == list(range(n))  # every task comes back exactly once
    for i in range(n):
        o = by[i]
        if i == 3:
            assert not o.ok and o.error.kind == "timeout"
        elif i == 5:
            assert not o.ok and o.error.kind == "crash"
            assert "SIGSEGV" in o.error.detail or not signal_named
        elif i == 7:
            assert not o.ok and o.error.kind == "exception" and "seven is bad" in o.error.detail
        else:
            assert o.ok and o.value == i * i, o


def test_local_pool_survives_hang_crash_and_exception():
    ex = LocalExecutor(2)
    outcomes = list(ex.map(square_or_fail, list(range(10)), timeout_s=3))
    _check(outcomes, 10)


def test_local_pool_recycles_workers():
    ex = LocalExecutor(1, max_tasks_per_worker=2)
    pids = [o.value for o in ex.map(pid_of, list(range(6)))]
    assert len(set(pids)) == 3  # a fresh worker every two tasks
    assert os.getpid() not in pids


def test_local_pool_memory_cap_fails_one_task_only():
    ex = LocalExecutor(1, memory_mb=400)
    outs = sorted(ex.map(allocate, [1, 2000, 1]), key=lambda o: o.index)
    assert outs[0].ok and outs[2].ok
    assert not outs[1].ok and outs[1].error.kind in ("exception", "crash")
    assert outs[1].error.kind == "crash" or "MemoryError" in outs[1].error.detail


def test_inline_executor_reports_exceptions():
    outs = list(InlineExecutor().map(lambda x: 1 // x, [1, 0, 2]))
    assert [o.ok for o in outs] == [True, False, True]
    assert "ZeroDivisionError" in outs[1].error.detail


def test_make_executor_rejects_unknown_kind():
    from medvl.errors import MedvlError

    with pytest.raises(MedvlError, match="unknown executor"):
        make_executor("slurm")


@pytest.fixture(scope="module")
def local_ray():
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": os.environ["PYTHONPATH"]}})
    yield ray
    ray.shutdown()


@pytest.mark.slow
def test_ray_executor_same_results_on_a_local_instance(local_ray):
    ex = make_executor("ray", 2)
    assert ex.workers == 2
    outcomes = list(ex.map(square_or_fail, list(range(10)), timeout_s=8))
    _check(outcomes, 10, signal_named=False)


@pytest.mark.slow
def test_pipeline_on_ray_writes_what_the_local_pool_writes(local_ray, tmp_path):
    """The same stages over the same shards as Ray tasks: identical outputs, rejects and run state."""
    from tests.helpers.toy_stages import TOY

    from medvl.config import config_from_dict
    from medvl.pipeline import run_pipeline

    plugin = tmp_path / "toy_stages.py"
    plugin.write_text(TOY)
    inputs = tmp_path / "in"
    inputs.mkdir()
    for name, text in {"a": "1 2 3", "b": "4 5", "c": "6", "d": "bad", "e": "boom", "f": "crash"}.items():
        (inputs / f"{name}.txt").write_text(text)

    def cfg(kind):
        return config_from_dict({"inputs": {"pdfs": str(inputs)}, "plugins": [str(plugin)],
                                 "executor": {"kind": kind, "workers": 2},
                                 "stages": ["toy_make", "toy_double", "toy_sum"]})

    local = run_pipeline(cfg("local"), tmp_path / "local")
    on_ray = run_pipeline(cfg("ray"), tmp_path / "ray")
    assert local.ok and on_ray.ok
    for name in ("toy_make.jsonl", "toy_double.jsonl", "toy_sum.txt"):
        assert (tmp_path / "ray" / name).read_bytes() == (tmp_path / "local" / name).read_bytes(), name

    def rejects(run: str) -> list[dict]:  # how a dead worker is described differs by executor
        rows = [json.loads(line) for line in (tmp_path / run / "rejects.jsonl").read_text().splitlines()]
        return [{k: v for k, v in r.items() if not (k == "detail" and r["reason"] == "crash")} for r in rows]

    assert rejects("ray") == rejects("local")
    reasons = {json.loads(line)["id"]: json.loads(line)["reason"]
               for line in (tmp_path / "ray" / "rejects.jsonl").read_text().splitlines()}
    assert reasons["f"] == "crash" and reasons["d"] == "not_numbers"
    # a rerun on Ray resumes from the markers like a local one
    again = run_pipeline(cfg("ray"), tmp_path / "ray")
    assert all(s.ran == 0 for s in again.stages)
