"""The Ray executor: the same shard function over the same shards, as Ray tasks.

Every node must see the run directory at the same path (shared storage: NFS, Lustre, a
mounted bucket) and have medvl installed; the tasks write their unit files there exactly
as local workers do, so a run can be started on a laptop, resumed on a cluster, and the
other way round.

``address``: ``None`` starts a private local Ray instance (``workers`` CPUs), ``"auto"`` joins
the cluster this machine belongs to, ``"ray://head:10001"`` connects a Ray client.

Time limits: at most as many tasks are in flight as the cluster has CPUs, so a task's
clock starts close to when it starts running; a task past ``timeout_s`` is cancelled with
``force=True`` (its worker process is killed) and comes back as ``TaskError("timeout")``.
A worker or node that dies comes back as ``TaskError("crash")``.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Iterator, Sequence

from medvl.errors import require
from medvl.executors import Outcome, TaskError


def _call(fn: Callable[[Any], Any], task: Any) -> Any:
    return fn(task)


class RayExecutor:
    name = "ray"

    def __init__(self, workers: int | None = None, address: str | None = None, *,
                 init_kwargs: dict | None = None):
        self._ray = require("ray", "executor ray", "ray")
        self._owns = False
        if not self._ray.is_initialized():
            kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False,
                                      "configure_logging": False}
            if address:
                kwargs["address"] = address
            elif workers:
                kwargs["num_cpus"] = workers
            kwargs.update(init_kwargs or {})
            self._ray.init(**kwargs)
            self._owns = True
        cpus = int(self._ray.cluster_resources().get("CPU", 1))
        self.workers = max(1, min(cpus, workers) if workers else cpus)
        self._remote = self._ray.remote(num_cpus=1, max_retries=0)(_call)

    def map(self, fn: Callable[[Any], Any], tasks: Sequence[Any], *,
            timeout_s: float | None = None) -> Iterator[Outcome]:
        ray = self._ray
        from ray.exceptions import GetTimeoutError, RayTaskError, TaskCancelledError

        pending = list(enumerate(tasks))
        pending.reverse()
        fn_ref = ray.put(fn)
        running: dict[Any, tuple[int, Any, float]] = {}
        try:
            while pending or running:
                while pending and len(running) < self.workers:
                    index, task = pending.pop()
                    running[self._remote.remote(fn_ref, task)] = (index, task, time.monotonic())
                wait_s = 1.0
                if timeout_s:
                    deadline = min(started for _i, _t, started in running.values()) + timeout_s
                    wait_s = max(0.0, min(wait_s, deadline - time.monotonic()))
                ready, _ = ray.wait(list(running), num_returns=1, timeout=wait_s)
                now = time.monotonic()
                for ref in ready:
                    index, task, started = running.pop(ref)
                    try:
                        value = ray.get(ref, timeout=60)
                    except RayTaskError as exc:
                        cause = exc.cause if getattr(exc, "cause", None) is not None else exc
                        yield Outcome(index, task, False, error=TaskError(
                            "exception", f"{type(cause).__name__}: {cause}", str(exc)), seconds=now - started)
                    except (GetTimeoutError, TaskCancelledError) as exc:
                        yield Outcome(index, task, False, error=TaskError(
                            "crash", f"{type(exc).__name__}: {exc}"), seconds=now - started)
                    except Exception as exc:  # noqa: BLE001 - WorkerCrashedError, node loss ...
                        yield Outcome(index, task, False, error=TaskError(
                            "crash", f"{type(exc).__name__}: {exc}"), seconds=now - started)
                    else:
                        yield Outcome(index, task, True, value=value, seconds=now - started)
                if timeout_s:
                    for ref, (index, task, started) in list(running.items()):
                        if now - started >= timeout_s:
                            ray.cancel(ref, force=True)
                            running.pop(ref)
                            yield Outcome(index, task, False, error=TaskError(
                                "timeout", f"took longer than {timeout_s:g} s; task cancelled"),
                                seconds=now - started)
        finally:
            for ref in running:
                try:
                    ray.cancel(ref, force=True)
                except Exception:  # noqa: BLE001
                    pass

    def close(self) -> None:
        if self._owns and self._ray.is_initialized():
            self._ray.shutdown()
            self._owns = False
