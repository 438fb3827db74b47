"""The local executor: a process pool that survives bad inputs.

Unlike ``concurrent.futures.ProcessPoolExecutor``, this pool

* enforces a per-task time limit: a task that runs past ``timeout_s`` has its worker killed
  (SIGKILL) and comes back as ``TaskError("timeout")``; a fresh worker takes its place;
* survives dying workers: a segfault in a C library or the out-of-memory killer ends one task
  as ``TaskError("crash")`` instead of breaking the whole pool;
* can cap each worker's address space (``memory_mb``) so one pathological input fails with a
  ``MemoryError`` in its own worker instead of taking the machine down;
* recycles workers after ``max_tasks_per_worker`` tasks, so slow leaks in native libraries
  cannot grow memory with the size of the collection.

Workers start with the ``forkserver`` method (clean, fast to replace after a kill; modules in
``preload`` are imported once in the server).  Each worker runs one task at a time, so a time
limit measures the task itself, never time spent waiting in a queue.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import sys
import signal
import time
import traceback as tb
from collections import deque
from multiprocessing.connection import wait
from typing import Any, Callable, Iterator, Sequence

from medvl.executors import Outcome, TaskError

DEFAULT_MAX_TASKS_PER_WORKER = 200


def _limit_memory(memory_mb: int | None) -> None:
    if not memory_mb:
        return
    import resource

    limit = int(memory_mb) * 1024 * 1024
    _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def _worker_main(conn: Any, memory_mb: int | None) -> None:
    """Loop: receive (index, fn, task), send (index, ok, value, error).  None means stop."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when workers stop
    _limit_memory(memory_mb)
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError, KeyboardInterrupt):
            return  # parent gone
        if msg is None:
            return
        index, fn, task = msg
        try:
            reply = (index, True, fn(task), None)
        except BaseException as exc:  # noqa: BLE001 - every failure must come back as data
            reply = (index, False, None,
                     TaskError("exception", f"{type(exc).__name__}: {exc}", tb.format_exc()))
        try:
            conn.send(reply)
        except Exception as exc:  # noqa: BLE001 - e.g. a result that cannot be pickled
            conn.send((index, False, None,
                       TaskError("exception", f"result could not be sent back: {type(exc).__name__}: {exc}")))


def _signal_name(code: int | None) -> str:
    if code is None:
        return "unknown exit"
    if code < 0:
        try:
            return f"signal {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"exit code {code}"


class _Slot:
    """One worker process and the task it is running."""

    def __init__(self, ctx: Any, memory_mb: int | None):
        parent, child = ctx.Pipe(duplex=True)
        self.proc = ctx.Process(target=_worker_main, args=(child, memory_mb), name="medvl-worker")
        self.proc.start()
        child.close()
        self.conn = parent
        self.job: tuple[int, Any, float] | None = None
        self.done = 0

    def kill(self) -> None:
        if self.proc.is_alive():
            self.proc.kill()
        self.proc.join(timeout=10)
        self.conn.close()

    def stop(self) -> None:
        try:
            self.conn.send(None)
        except (OSError, ValueError):
            pass
        self.proc.join(timeout=5)
        if self.proc.is_alive():
            self.kill()
        else:
            self.conn.close()


@contextlib.contextmanager
def _parent_import_path() -> Iterator[None]:
    """Start processes that import from this process's sys.path, never from their current folder.

    The forkserver is started with ``python -c``, which puts the current folder first on its import path
    (and Python 3.11's forkserver ignores the parent's sys.path): run from a folder holding a ``medvl/``
    directory, workers would import that instead of medvl.  So the server gets PYTHONSAFEPATH=1 (no
    current folder) and PYTHONPATH = this process's sys.path (the current folder only where this process
    had it itself, e.g. ``python -m medvl`` in a checkout)."""
    keys = ("PYTHONPATH", "PYTHONSAFEPATH")
    saved = {k: os.environ.get(k) for k in keys}
    entries = [os.path.abspath(p) if p else os.getcwd() for p in sys.path]
    os.environ["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(e for e in entries if os.pathsep not in e))
    os.environ["PYTHONSAFEPATH"] = "1"
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


class LocalExecutor:
    """A process pool with per-task time limits, crash isolation and worker recycling."""

    name = "local"

    def __init__(self, workers: int = 1, *, memory_mb: int | None = None, preload: Sequence[str] = (),
                 max_tasks_per_worker: int = DEFAULT_MAX_TASKS_PER_WORKER, start_method: str | None = None):
        self.workers = max(1, int(workers))
        self.memory_mb = memory_mb
        self.max_tasks_per_worker = max(1, max_tasks_per_worker)
        method = start_method or os.environ.get("MEDVL_START_METHOD") or (
            "forkserver" if "forkserver" in mp.get_all_start_methods() else "spawn")
        self._ctx = mp.get_context(method)
        if method == "forkserver":
            self._ctx.set_forkserver_preload(["medvl.executors.local", *preload])
            from multiprocessing import forkserver

            with _parent_import_path():  # the server (and every worker forked from it) starts now
                forkserver.ensure_running()
        self._slots: list[_Slot] = []

    def _spawn(self) -> _Slot:
        return _Slot(self._ctx, self.memory_mb)

    def map(self, fn: Callable[[Any], Any], tasks: Sequence[Any], *,
            timeout_s: float | None = None) -> Iterator[Outcome]:
        pending = deque(enumerate(tasks))
        n = min(self.workers, len(pending))
        slots: list[_Slot | None] = [None] * n
        try:
            while pending or any(s is not None and s.job is not None for s in slots):
                # hand a task to every idle worker
                for i in range(n):
                    s = slots[i]
                    if not pending:
                        break
                    if s is not None and s.job is None and s.done >= self.max_tasks_per_worker:
                        s.stop()
                        s = slots[i] = None
                    if s is None or not s.proc.is_alive():
                        s = slots[i] = self._spawn()
                    if s.job is not None:
                        continue
                    index, task = pending.popleft()
                    try:
                        s.conn.send((index, fn, task))
                    except (OSError, ValueError):  # worker died while idle: replace it, try once more
                        s.kill()
                        s = slots[i] = self._spawn()
                        s.conn.send((index, fn, task))
                    s.job = (index, task, time.monotonic())
                busy = [s for s in slots if s is not None and s.job is not None]
                if not busy:
                    continue
                timeout = None
                if timeout_s:
                    deadline = min(s.job[2] for s in busy) + timeout_s
                    timeout = max(0.0, deadline - time.monotonic())
                wait([s.conn for s in busy] + [s.proc.sentinel for s in busy], timeout=timeout)
                now = time.monotonic()
                for i, s in enumerate(slots):
                    if s is None or s.job is None:
                        continue
                    index, task, started = s.job
                    if s.conn.poll():
                        try:
                            _idx, ok, value, err = s.conn.recv()
                        except (EOFError, OSError):
                            s.proc.join(timeout=5)
                            yield Outcome(index, task, False, error=TaskError(
                                "crash", f"worker died ({_signal_name(s.proc.exitcode)})"),
                                seconds=now - started)
                            s.kill()
                            slots[i] = None
                            continue
                        s.job = None
                        s.done += 1
                        yield Outcome(index, task, ok, value=value, error=err, seconds=now - started)
                    elif not s.proc.is_alive():
                        yield Outcome(index, task, False, error=TaskError(
                            "crash", f"worker died ({_signal_name(s.proc.exitcode)})"), seconds=now - started)
                        s.kill()
                        slots[i] = None
                    elif timeout_s and now - started >= timeout_s:
                        s.kill()
                        slots[i] = None
                        yield Outcome(index, task, False, error=TaskError(
                            "timeout", f"took longer than {timeout_s:g} s; worker killed"), seconds=now - started)
        finally:
            for s in slots:
                if s is None:
                    continue
                if s.job is not None:
                    s.kill()  # abandoned (the caller stopped iterating or an error came up)
                else:
                    s.stop()

    def close(self) -> None:
        pass

    def __enter__(self) -> "LocalExecutor":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class InlineExecutor:
    """Runs tasks one by one in this process: for debugging (pdb works) and tiny runs.

    No time limits and no crash isolation: a segfault ends the run.
    """

    name = "inline"
    workers = 1

    def map(self, fn: Callable[[Any], Any], tasks: Sequence[Any], *,
            timeout_s: float | None = None) -> Iterator[Outcome]:
        for index, task in enumerate(tasks):
            t0 = time.monotonic()
            try:
                value = fn(task)
            except Exception as exc:  # noqa: BLE001
                yield Outcome(index, task, False, error=TaskError(
                    "exception", f"{type(exc).__name__}: {exc}", tb.format_exc()), seconds=time.monotonic() - t0)
            else:
                yield Outcome(index, task, True, value=value, seconds=time.monotonic() - t0)

    def close(self) -> None:
        pass
