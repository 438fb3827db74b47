"""Executors: run the same shard function over many shards, locally or on a Ray cluster.

An executor takes a top-level (picklable) function and a list of tasks and yields one
:class:`Outcome` per task as tasks finish, in completion order.  It never raises for a
task's failure: an exception, a worker that dies (a segfault in a C library, SIGKILL by
the out-of-memory killer) or a task that runs past its time limit all come back as an
``Outcome`` with ``ok=False`` and an :class:`TaskError` saying which, so the caller can
turn it into a reject row or a failed shard and go on with the rest.

``local``  a process pool of its own (medvl.executors.local): one task per worker at a time,
           per-task time limit enforced by killing the worker, dead workers replaced.
``ray``    Ray tasks (medvl.executors.ray): the same function over the same tasks on a cluster
           whose nodes share the run directory.
``inline`` this process, one task after another (tests, debugging).

Each is a factory in the registry ``medvl.registry.EXECUTORS``; a plugin adds another with
``@EXECUTORS.register("name")`` or an entry point in the group ``medvl.executors``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Literal, Protocol, Sequence

from medvl.registry import EXECUTORS

ErrorKind = Literal["exception", "timeout", "crash"]


@dataclass(frozen=True)
class TaskError:
    kind: ErrorKind
    detail: str
    traceback: str = ""


@dataclass(frozen=True)
class Outcome:
    index: int  # position of the task in the list given to map()
    task: Any
    ok: bool
    value: Any = None
    error: TaskError | None = None
    seconds: float = 0.0


class Executor(Protocol):
    name: str
    workers: int

    def map(self, fn: Callable[[Any], Any], tasks: Sequence[Any], *,
            timeout_s: float | None = None) -> Iterator[Outcome]: ...

    def close(self) -> None: ...


def default_workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


@EXECUTORS.register("local")
def _make_local(workers: int | None = None, *, address: str | None = None, memory_mb: int | None = None,
                preload: Sequence[str] = ()) -> Executor:
    from medvl.executors.local import LocalExecutor

    return LocalExecutor(workers or default_workers(), memory_mb=memory_mb, preload=preload)


@EXECUTORS.register("inline")
def _make_inline(workers: int | None = None, *, address: str | None = None, memory_mb: int | None = None,
                 preload: Sequence[str] = ()) -> Executor:
    from medvl.executors.local import InlineExecutor

    return InlineExecutor()


@EXECUTORS.register("ray")
def _make_ray(workers: int | None = None, *, address: str | None = None, memory_mb: int | None = None,
              preload: Sequence[str] = ()) -> Executor:
    from medvl.executors.ray import RayExecutor

    return RayExecutor(workers=workers, address=address)


def make_executor(kind: str = "local", workers: int | None = None, *, address: str | None = None,
                  memory_mb: int | None = None, preload: Sequence[str] = ()) -> Executor:
    """Build the executor named `kind`: 'local', 'inline', 'ray', or one a plugin registered
    (medvl.registry.EXECUTORS, entry point group medvl.executors)."""
    return EXECUTORS.get(kind)(workers, address=address, memory_mb=memory_mb, preload=preload)
