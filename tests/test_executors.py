"""Executors: the same function over the same tasks, failures come back as data."""

from __future__ import annotations

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


@pytest.mark.slow
def test_ray_executor_same_results_on_a_local_instance():
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": os.environ["PYTHONPATH"]}})
    try:
        ex = make_executor("ray", 2)
        assert ex.workers == 2
        outcomes = list(ex.map(square_or_fail, list(range(10)), timeout_s=8))
        _check(outcomes, 10, signal_named=False)
    finally:
        ray.shutdown()
