"""Whole runs: a registry of stages and the orchestration that runs them over shards.

A **stage** is registered once (:func:`register`) with a name, a version, the stages whose
outputs it reads (``needs``), the modules it imports (so a missing extra is reported
before anything runs) and either

* a **sharded** pair ``plan(ctx) -> [Shard]`` and ``run_shard(sctx) -> (records, rejects)``:
  the work is cut into shards by paper; every shard runs through an executor (a local process
  pool or Ray) as the same top-level function :func:`execute_shard`, which writes the shard's
  records and rejects atomically and then its done marker (``RunDir.write_unit``); after all
  shards the stage's parts are merged into its output file in key order; or
* a **whole** function ``run_all(ctx, progress) -> dict`` for stages that see everything at
  once (synth, export, train, eval, report), run in this process, marked done as one unit.

A sharded stage may run its shards in batches instead (``run_batch`` and ``batch_size``: the judge asks
the server about a batch of items at once); each shard of a batch still has its own done marker.

Resuming: a shard is skipped when its done marker exists *and* carries the same fingerprint
(stage version + the settings that change the output (not a stage's ``non_output`` ones: requests in
flight, time limits, the server's address) + the shard's input: file size and mtime for a PDF, the content hash
of the upstream part for later stages; align hashes its split rows by content, and split, with
``own_fingerprints``, computes the whole fingerprint itself, shared with `medvl split RUN_DIR`).
So a rerun after a crash does only the missing shards, a rerun after a settings change redoes
what the change touches, and ``force`` redoes a stage.
Merged outputs are rebuilt from the parts in key order, so an interrupted-then-resumed run
writes the same bytes as an uninterrupted one.

Failures: a shard whose stage raises ``InputError`` (bad input) ends as a reject row with the
reason.  Any other exception, a timeout or a dead worker ends as a reject row too when the
stage's policy is ``on_error="reject"`` (parse: a PDF that crashes or hangs the reader is bad
input), or leaves the shard not done with a ``.failed`` note (``on_error="retry"``: split with
an LLM; a rerun retries exactly those shards).  Either way the run goes on with the rest.

Library code here never prints: the caller passes ``bars`` (a progress-bar factory) and
``notify`` (one line of news); see medvl/cli/run.py.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import json
import os
import socket
import sys
import time
import traceback
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from dataclasses import replace as dc_replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, ContextManager, Iterable, Iterator, Literal, Sequence

from medvl.config import RunConfig
from medvl.errors import InputError, MedvlError
from medvl.progress import ProgressFn, no_progress
from medvl.records import Reject
from medvl.runs import RunDir, atomic_write_text, read_jsonl, safe_key
from medvl.settings import StrictSettings, check_keys, check_types, suggest, validate_model
from medvl.versioning import stage_version

PIPELINE_VERSION = "1"
WHOLE_KEY = "whole-stage"  # the unit key of a whole (unsharded) stage

BarFactory = Callable[[str, "int | None"], ContextManager[ProgressFn]]
Notify = Callable[[str], None]


# ================================================================ stages and shards

@dataclass(frozen=True)
class Shard:
    """One unit of a sharded stage: usually one paper."""

    key: str  # file-name-safe, stable across runs
    payload: dict[str, Any] = field(default_factory=dict)  # JSON-able: what run_shard needs
    fingerprint: str = ""  # changes when the shard's input changes
    source: str | None = None  # what to name in a reject (input path, upstream id)
    # why the stage redoes a done unit of unchanged settings and input on purpose (answers that fell back
    # asked again): what `medvl status` says instead of the 'input changed' the markers would suggest
    why: str = ""


#: the redo reason of a unit redone because it holds answers that fell back (split, tag)
FALLBACKS_ASKED_AGAIN = "fallback answers asked again"


@dataclass
class StageContext:
    """What a stage sees in the orchestrating process."""

    run: RunDir
    stage: str
    settings: dict[str, Any]
    config: RunConfig
    notify: Notify = lambda msg: None
    forced: bool = False  # --force: redo from scratch (train does not resume its checkpoints then)

    def upstream_keys(self, stage: str) -> list[str]:
        return sorted(self.run.done_keys(stage))


@dataclass
class ShardContext:
    """What a stage sees in a worker, for one shard."""

    run: RunDir
    stage: str
    key: str
    settings: dict[str, Any]
    payload: dict[str, Any]
    source: str | None = None

    def upstream_records(self, stage: str, key: str | None = None) -> Iterator[dict]:
        """Stream the records an upstream stage wrote for this shard (same key by default)."""
        part = self.run.parts_dir(stage) / f"{safe_key(key or self.key)}.jsonl"
        if part.exists():
            yield from read_jsonl(part)


# (records, rejects) or (records, rejects, extra): `extra` (JSON-able) goes into the unit's done marker, for the
# stage's own plan or summary to read back (split: LLM request counts; align: an answer the server did not give)
ShardFn = Callable[[ShardContext], "tuple[Iterable[Any], ...]"]


@dataclass
class Stage:
    name: str
    version: str
    order: float  # position in a run
    description: str = ""
    output: str | None = None  # merged output file of a sharded stage (e.g. figures.jsonl)
    # files its finalize writes beside the output that later stages read (judge: judge_summary.json): part of
    # the digest later stages' fingerprints cover, with the output
    also_outputs: tuple[str, ...] = ()
    needs: tuple[str, ...] = ()  # stages whose outputs this one reads
    # stages whose output it reads when there (align pairs whole without split rows): blocked only when one
    # failed in this run
    optional: tuple[str, ...] = ()
    # the stages a run with these settings reads (default: needs): each must have its output in the run
    # directory, and a whole stage's fingerprint covers their outputs (export --pairs raw reads no align)
    reads: Callable[[dict[str, Any]], Sequence[str]] | None = None
    # what a whole stage reads outside the run directory (report --include, export's ground truth): a
    # JSON-able identity (file stamps, hashes) that is part of its fingerprint
    external: Callable[[StageContext], Any] | None = None
    modules: tuple[str, ...] = ()  # must be importable for the stage to run
    extra: str | None = None  # pip extra that provides them (install hint)
    tools: tuple[str, ...] = ()  # packages whose versions go into run.json
    plan: Callable[[StageContext], Iterable[Shard]] | None = None
    run_shard: ShardFn | None = None
    run_all: Callable[[StageContext, ProgressFn], "dict[str, Any] | None"] | None = None
    finalize: Callable[[StageContext], "dict[str, Any] | None"] | None = None
    resolve: Callable[[RunConfig, dict[str, Any]], dict[str, Any]] | None = None  # check, fill defaults
    # strict pydantic model of the settings, for a stage without its own resolve (every stage has one of them)
    settings_model: type[StrictSettings] | None = None
    when: Callable[[RunConfig, dict[str, Any]], "str | None"] | None = None  # reason to skip
    on_error: Literal["reject", "retry"] = "reject"
    timeout_s: float | None = None  # default per-shard time limit
    timeout_for: Callable[[dict[str, Any]], "float | None"] | None = None  # per-shard limit from settings
    unavailable: str | None = None  # a fixed reason the stage cannot run (e.g. not built yet)
    preload: Callable[[dict[str, Any]], Sequence[str]] | Sequence[str] = ()  # imported once per worker pool
    # the plan's fingerprints already cover the stage version and the settings that change the output,
    # and are used as they are (split: shared with `medvl split RUN_DIR`, which writes the same units)
    own_fingerprints: bool = False
    # units run together, `batch_size(settings)` at a time, by one call of `run_batch(sctxs)` (the judge: one
    # request batch of items in flight at once); it returns per unit what run_shard would, or the exception
    # of that unit; each unit still has its own done marker
    run_batch: "Callable[[list[ShardContext]], list[Any]] | None" = None
    batch_size: Callable[[dict[str, Any]], int] | None = None
    # done units the plan no longer lists are kept and merged (the judge: judgments of other prompts and models)
    keep_unplanned: bool = False
    # settings that change how the stage runs but not what it writes (requests in flight, the LLM client's
    # time limits and retries, the server's address, an answer cache): resolved, checked and passed to the
    # stage like the others, but left out of its fingerprints (see settings_digest) and of the "settings
    # changed" reasons, so changing only these redoes nothing
    non_output: tuple[str, ...] = ()

    def output_settings(self, settings: dict[str, Any]) -> dict[str, Any]:
        """`settings` less the ones that do not change the stage's output (`non_output`)."""
        return {k: v for k, v in settings.items() if k not in self.non_output}

    def reads_for(self, settings: dict[str, Any]) -> list[str]:
        return list(self.reads(settings)) if self.reads is not None else list(self.needs)

    def preload_modules(self, settings: dict[str, Any]) -> list[str]:
        mods = self.preload(settings) if callable(self.preload) else self.preload
        return list(mods)

    @property
    def sharded(self) -> bool:
        return self.run_shard is not None or self.run_batch is not None

    def missing(self) -> str | None:
        """Why the stage cannot run here (a module it needs is not installed), or None."""
        if self.unavailable:
            return self.unavailable
        for mod in self.modules:
            try:
                found = importlib.util.find_spec(mod) is not None
            except (ImportError, ValueError):
                found = False
            if not found:
                hint = f" (pip install 'medvl[{self.extra}]')" if self.extra else ""
                return f"needs the module {mod}, which is not available{hint}"
        return None


_REGISTRY: dict[str, Stage] = {}


def register(stage: Stage, *, replace: bool = False) -> Stage:
    if stage.name in _REGISTRY and not replace:
        raise ValueError(f"stage {stage.name!r} is already registered")
    if (stage.run_shard is None and stage.run_batch is None) == (stage.run_all is None):
        raise ValueError(f"stage {stage.name!r} needs exactly one of run_shard (with plan) or run_all")
    if stage.run_all is None and stage.plan is None:
        raise ValueError(f"sharded stage {stage.name!r} needs a plan function")
    if stage.resolve is None and stage.settings_model is None:
        raise ValueError(f"stage {stage.name!r} needs a settings_model (or a resolve function) that checks its "
                         "settings; a stage without settings can use EmptySettings")
    _REGISTRY[stage.name] = stage
    return stage


class EmptySettings(StrictSettings):
    """The settings of a stage that takes none: any key is a typo."""


def get_stage(name: str) -> Stage:
    if name not in _REGISTRY:
        from medvl.registry import STAGE_PLUGINS

        STAGE_PLUGINS.names()  # third-party stages (entry point group medvl.stages) register when loaded
    try:
        return _REGISTRY[name]
    except KeyError:
        raise MedvlError(f"unknown stage {name!r}{suggest(name, _REGISTRY)}; "
                         f"known stages: {', '.join(stage_names())}") from None


def stage_names() -> list[str]:
    from medvl.registry import STAGE_PLUGINS

    STAGE_PLUGINS.names()
    return [s.name for s in sorted(_REGISTRY.values(), key=lambda s: s.order)]


_LOADED_PLUGINS: set[str] = set()


def load_plugins(plugins: Iterable[str]) -> None:
    """Import modules (or .py files) that register extra stages; idempotent, also in workers."""
    for spec in plugins:
        if spec in _LOADED_PLUGINS:
            continue
        if spec.endswith(".py"):
            path = Path(spec).resolve()
            if not path.is_file():
                raise MedvlError(f"plugin {spec}: no such file")
            name = "medvl_plugin_" + hashlib.sha1(str(path).encode()).hexdigest()[:12]
            if name not in sys.modules:
                mspec = importlib.util.spec_from_file_location(name, path)
                assert mspec and mspec.loader
                module = importlib.util.module_from_spec(mspec)
                sys.modules[name] = module
                mspec.loader.exec_module(module)
        else:
            try:
                importlib.import_module(spec)
            except ImportError as exc:
                raise MedvlError(f"plugin {spec}: cannot import it ({exc})") from None
        _LOADED_PLUGINS.add(spec)


# ================================================================ fingerprints

def digest(*parts: Any) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(json.dumps(p, sort_keys=True, default=str).encode("utf-8"))
        h.update(b"\0")
    return h.hexdigest()[:32]


def settings_digest(stage: Stage, settings: dict[str, Any]) -> str:
    """What every unit fingerprint of `stage` starts with (unless it has own_fingerprints): its name,
    version and the settings that change its output."""
    return digest(stage.name, stage.version, stage.output_settings(settings))


def file_stamp(path: str | Path) -> list[Any]:
    """Cheap identity of an input file: size and modification time (like make)."""
    st = os.stat(path)
    return [st.st_size, st.st_mtime_ns]


def file_sha(path: str | Path) -> str | None:
    from medvl.records import sha256_file

    return sha256_file(path) if Path(path).exists() else None


def upstream_shards(ctx: StageContext, upstream: str) -> list[Shard]:
    """One shard per done unit of `upstream` (same key), fingerprinted by that part's content."""
    d = ctx.run.parts_dir(upstream)
    shards = []
    for key in sorted(ctx.run.done_keys(upstream)):
        if key == WHOLE_KEY:
            continue
        part = d / f"{key}.jsonl"
        shards.append(Shard(key=key, payload={"upstream": upstream},
                            fingerprint=file_sha(part) or "", source=key))
    return shards


# ================================================================ the worker side

@dataclass(frozen=True)
class ShardTask:
    """Everything a worker needs for one shard; small and picklable."""

    stage: str
    key: str
    run_dir: str
    settings: dict[str, Any]
    payload: dict[str, Any]
    fingerprint: str
    source: str | None = None
    plugins: tuple[str, ...] = ()
    why: str = ""  # why this shard runs (not done before, settings changed ...): kept in its done marker


class _Counted:
    """Iterate `items`, counting them into meta[name] (read when the done marker is written)."""

    def __init__(self, items: Iterable[Any], meta: dict[str, Any], name: str):
        self.items, self.meta, self.name = items, meta, name
        meta[name] = 0

    def __iter__(self) -> Iterator[Any]:
        for item in self.items:
            self.meta[self.name] += 1
            yield item


def _failed_path(run: RunDir, stage: str, key: str) -> Path:
    return run.parts_dir(stage) / f"{safe_key(key)}.failed"


def _marker_meta(stage: Stage, task: ShardTask, status: str, started: float) -> dict[str, Any]:
    # the version and settings the unit was made with: a later run compares them to say why it redoes it
    return {"fingerprint": task.fingerprint, "stage_version": stage.version, "status": status,
            "seconds": round(time.monotonic() - started, 3), "pid": os.getpid(),
            "settings": redact(task.settings), "why": task.why}


def redo_reason(marker: dict[str, Any] | None, version: str, settings: dict[str, Any],
                failed: bool = False, input_word: str = "input", ignore: Sequence[str] = ()) -> str:
    """Why a unit whose marker does not match is done again, in words `medvl status` shows:
    'not done before', 'failed before', 'stage version changed (a -> b)', 'settings changed: dpi 100 -> 200',
    'input changed' (`input_word`: 'upstream output' for a whole stage).  Settings in `ignore` (the stage's
    non_output) are not named: they do not change the unit."""
    if marker is None:
        return "failed before" if failed else "not done before"
    old_version = marker.get("stage_version")
    if old_version != version:
        return f"stage version changed ({old_version or 'none'} -> {version})"
    old = marker.get("settings")
    if not isinstance(old, dict):
        return "made by an older medvl (no settings in its done marker)"
    new = redact(settings)
    changed = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k) and k not in ignore)
    if changed:
        # '; ' between keys: a value's repr may hold ', ' (split [0.8, 0.1, 0.1])
        return "settings changed: " + "; ".join(f"{k} {old.get(k)!r} -> {new.get(k)!r}" for k in changed[:6])
    return f"{input_word} changed"


def reason_kind(why: str) -> str:
    """The reason without its values, to count units by ('settings changed: dpi')."""
    if why.startswith("settings changed: "):
        keys = [part.split(" ", 1)[0] for part in why[len("settings changed: "):].split("; ")]
        return "settings changed: " + ", ".join(keys)
    return why.split(" (", 1)[0]


def write_reject_unit(run: RunDir, stage: Stage, task: ShardTask, reason: str, detail: str,
                      status: str = "rejected", started: float | None = None) -> None:
    """Mark a shard done with no records and one reject row saying why."""
    meta = _marker_meta(stage, task, status, started or time.monotonic())
    meta.update(records=0, rejects=1)
    rej = Reject(stage=stage.name, source=task.source or task.key, id=task.key, reason=reason,
                 detail=detail[:2000])
    run.write_unit(stage.name, task.key, [], [rej], meta=meta)
    _failed_path(run, stage.name, task.key).unlink(missing_ok=True)


def write_failed(run: RunDir, stage: str, key: str, kind: str, detail: str, tb: str = "") -> None:
    """Note that a shard failed in a way a rerun should retry (no done marker)."""
    atomic_write_text(_failed_path(run, stage, key), json.dumps(
        {"kind": kind, "detail": detail[:2000], "traceback": tb[-4000:],
         "at": datetime.now(timezone.utc).isoformat(timespec="seconds")}, sort_keys=True))


def _shard_context(run: RunDir, stage: Stage, task: ShardTask) -> ShardContext:
    return ShardContext(run=run, stage=stage.name, key=task.key, settings=task.settings,
                        payload=task.payload, source=task.source)


def _finish_shard(run: RunDir, stage: Stage, task: ShardTask, out: Any, started: float) -> dict[str, Any]:
    """Write the unit of one shard from what its stage returned, or handle the exception it raised."""
    try:
        if isinstance(out, BaseException):
            raise out
        records, rejects = out[0], out[1]
        meta = _marker_meta(stage, task, "done", started)
        if len(out) > 2:  # what the stage keeps in the done marker (counts, 'not settled' flags)
            meta.update(out[2] or {})
        run.write_unit(stage.name, task.key, _Counted(records, meta, "records"),
                       _Counted(rejects, meta, "rejects"), meta=meta)
        meta["seconds"] = round(time.monotonic() - started, 3)
    except InputError as exc:
        write_reject_unit(run, stage, task, exc.reason, str(exc), started=started)
        return {"status": "rejected", "records": 0, "rejects": 1, "reason": exc.reason}
    except MedvlError as exc:
        # not the input but the environment (a dead LLM server, a missing extra): this shard is
        # not done, and the stage stops instead of failing every other shard the same way
        write_failed(run, stage.name, task.key, "abort", str(exc), traceback.format_exc())
        return {"status": "failed", "abort": True, "records": 0, "rejects": 0, "reason": str(exc)}
    except Exception as exc:  # noqa: BLE001 - every failure is data
        detail = f"{type(exc).__name__}: {exc}"
        if stage.on_error == "reject":
            reason = "too_large" if isinstance(exc, MemoryError) else "error"
            write_reject_unit(run, stage, task, reason, detail, started=started)
            return {"status": "rejected", "records": 0, "rejects": 1, "reason": reason}
        write_failed(run, stage.name, task.key, "exception", detail, traceback.format_exc())
        return {"status": "failed", "records": 0, "rejects": 0, "reason": detail}
    _failed_path(run, stage.name, task.key).unlink(missing_ok=True)
    return {"status": "done", "records": meta["records"], "rejects": meta["rejects"]}


def execute_shard(task: ShardTask) -> dict[str, Any]:
    """Run one shard of one stage and write its unit.  The same function runs in every executor."""
    started = time.monotonic()
    load_plugins(task.plugins)
    stage = get_stage(task.stage)
    run = RunDir(task.run_dir)
    assert stage.run_shard is not None
    try:
        out: Any = stage.run_shard(_shard_context(run, stage, task))
    except Exception as exc:  # noqa: BLE001 - handled (and re-raised where it must be) by _finish_shard
        out = exc
    return _finish_shard(run, stage, task, out, started)


@dataclass(frozen=True)
class BatchTask:
    """Shards of a stage with run_batch, run by one call; picklable like ShardTask."""

    tasks: tuple[ShardTask, ...]

    @property
    def key(self) -> str:
        return self.tasks[0].key


def execute_batch(batch: BatchTask) -> list[dict[str, Any]]:
    """Run a batch of shards of one stage (Stage.run_batch) and write each one's unit, in order."""
    started = time.monotonic()
    first = batch.tasks[0]
    load_plugins(first.plugins)
    stage = get_stage(first.stage)
    run = RunDir(first.run_dir)
    assert stage.run_batch is not None
    try:
        outs: list[Any] = list(stage.run_batch([_shard_context(run, stage, t) for t in batch.tasks]))
        if len(outs) != len(batch.tasks):
            raise RuntimeError(f"stage {stage.name}: run_batch gave {len(outs)} results for {len(batch.tasks)} shards")
    except Exception as exc:  # noqa: BLE001 - every unit of the batch ends as that exception says
        outs = [exc] * len(batch.tasks)
    return [_finish_shard(run, stage, t, o, started) for t, o in zip(batch.tasks, outs)]


# ================================================================ results

@dataclass
class StageResult:
    name: str
    state: Literal["done", "failed", "skipped", "unavailable", "blocked"]
    planned: int = 0
    ran: int = 0  # shards processed by this invocation
    reused: int = 0  # shards already done by an earlier one
    records: int = 0
    rejects: int = 0
    failed: int = 0
    seconds: float = 0.0
    message: str = ""
    outputs: dict[str, Any] = field(default_factory=dict)
    digest: str | None = None
    redone: dict[str, int] = field(default_factory=dict)  # why units were done again: reason -> units
    # the error that failed the stage in this process (a stage's own command re-raises its type); not saved
    error: BaseException | None = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        # asdict without the error: asdict deep-copies every field, and an InputError cannot be copied
        return {k: v for k, v in asdict(dc_replace(self, error=None)).items() if k != "error"}


@dataclass
class RunResult:
    run_dir: Path
    stages: list[StageResult]

    @property
    def ok(self) -> bool:
        return all(s.state in ("done", "skipped", "unavailable") for s in self.stages)

    def stage(self, name: str) -> StageResult | None:
        return next((s for s in self.stages if s.name == name), None)


# ================================================================ run.json

def _update_pipeline_manifest(run: RunDir, **updates: Any) -> None:
    def mutate(data: dict[str, Any]) -> None:
        pipe = data.setdefault("pipeline", {})
        stages = pipe.setdefault("stages", {})
        for k, v in updates.items():
            if k == "stage":
                name, info = v
                stages.setdefault(name, {}).update(info)
            else:
                pipe[k] = v

    run.edit_manifest(mutate)


def pipeline_manifest(run_dir: str | Path) -> dict[str, Any]:
    path = Path(run_dir) / "run.json"
    if not path.exists():
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8")).get("pipeline", {})
    except json.JSONDecodeError:
        return {}


_SECRET_WORDS = ("api_key", "apikey", "token", "secret", "password")


def redact(obj: Any) -> Any:
    """A copy of settings with secret-looking values (api keys, tokens) replaced by '***'."""
    if isinstance(obj, dict):
        return {k: ("***" if v and any(w in str(k).lower() for w in _SECRET_WORDS) else redact(v))
                for k, v in obj.items()}
    if isinstance(obj, list):
        return [redact(v) for v in obj]
    return obj


def _default_workers(kind: str) -> int | None:
    from medvl.executors import default_workers

    return default_workers() if kind == "local" else (1 if kind == "inline" else None)


def _lock_run_dir(path: Path) -> Any:
    """Hold RUN_DIR/.medvl.lock for this run: a second run on the same directory fails clearly."""
    import fcntl

    fh = open(path / ".medvl.lock", "a+")
    try:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        fh.close()
        who = pipeline_manifest(path)
        raise MedvlError(f"{path}: another medvl run is using this run directory "
                         f"(pid {who.get('pid', '?')} on {who.get('host', '?')}); wait for it or stop it") from None
    return fh


def _alive(pid: Any, host: Any) -> bool | None:
    """Is the run's process alive?  None when it cannot be told (another host)."""
    if not isinstance(pid, int) or host != socket.gethostname():
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


# ================================================================ orchestration

def _marker(run: RunDir, stage: str, key: str) -> dict[str, Any] | None:
    p = run.parts_dir(stage) / f"{safe_key(key)}.done"
    try:
        return json.loads(p.read_text(encoding="utf-8") or "{}")
    except FileNotFoundError:
        return None
    except json.JSONDecodeError:
        return {}


def _remove_unit(run: RunDir, stage: str, key: str) -> None:
    d = run.parts_dir(stage)
    k = safe_key(key)
    for suffix in (".done", ".jsonl", ".rejects.jsonl", ".failed"):
        (d / f"{k}{suffix}").unlink(missing_ok=True)


class Pipeline:
    """Runs the stages a config names, in order, over one run directory."""

    def __init__(self, config: RunConfig, run_dir: str | Path, *, executor: Any = None,
                 bars: BarFactory | None = None, notify: Notify | None = None,
                 force: Sequence[str] = (), only: Sequence[str] | None = None,
                 skip_unavailable: bool = False):
        self.config = config
        # the folders RunDir makes (RUN_DIR and its missing parents): removed again, when still empty, if the
        # settings fail the check, so a bad option leaves nothing behind (`medvl export NEWDIR --format x`)
        self._made = _missing_dirs(Path(run_dir))
        self.run = RunDir(run_dir)
        self._executor = executor
        self._own_executor = executor is None
        self.bars: BarFactory = bars or (lambda desc, total: nullcontext(no_progress))
        self.notify: Notify = notify or (lambda msg: None)
        load_plugins(config.plugins)
        self.names = self._select(only)
        self.force = set(force)
        for name in self.force:
            get_stage(name)
        self.skip_unavailable = skip_unavailable

    # selection ------------------------------------------------------------------
    def _select(self, only: Sequence[str] | None) -> list[str]:
        wanted = list(self.config.stages)
        for name in wanted:
            get_stage(name)  # unknown names fail here, with the list of known ones
        if only:
            for name in only:
                get_stage(name)
            wanted = [n for n in only]
        return sorted(dict.fromkeys(wanted), key=lambda n: get_stage(n).order)

    def settings_for(self, stage: Stage) -> dict[str, Any]:
        raw = dict(self.config.stages.get(stage.name) or {})
        if stage.resolve is not None:
            return stage.resolve(self.config, raw)
        assert stage.settings_model is not None
        model = validate_model(stage.settings_model, raw, f"stages.{stage.name}")
        # as given, less the keys set to their default: defaults live in the stage, the fingerprint covers what
        # was set, and `medvl report --max-figures 60` (every option given) matches a config that sets none
        fields = type(model).model_fields
        return {k: v for k, v in raw.items()
                if k not in fields or fields[k].is_required() or getattr(model, k) != fields[k].get_default(
                    call_default_factory=True)}

    @property
    def executor(self) -> Any:
        if self._executor is None:
            from medvl.executors import make_executor

            ex = self.config.executor
            preload = ["medvl.pipeline"]
            for name in self.names:  # heavy imports happen once in the fork server, not once per worker
                stage = get_stage(name)
                if stage.sharded and not stage.missing():
                    try:
                        preload += stage.preload_modules(self.settings_for(stage))
                    except MedvlError:
                        pass  # the stage reports its own settings error when it runs
            self._executor = make_executor(ex.kind, ex.workers, address=ex.address, memory_mb=ex.memory_mb,
                                           preload=list(dict.fromkeys(preload)))
        return self._executor

    def close(self) -> None:
        if self._own_executor and self._executor is not None:
            self._executor.close()
            self._executor = None

    # the run ----------------------------------------------------------------------
    def check(self) -> dict[str, str]:
        """Stages that cannot run here and why; raises unless skip_unavailable."""
        from medvl.registry import EXECUTORS

        if self._executor is None:
            EXECUTORS.check(self.config.executor.kind, f"{self.config.source}: executor.kind")
        missing = {n: m for n in self.names if (m := get_stage(n).missing())}
        if missing and not self.skip_unavailable:
            lines = "; ".join(f"{n}: {m}" for n, m in missing.items())
            raise MedvlError(f"cannot run: {lines}")
        # every section of the config is checked before anything runs, also those of stages this
        # invocation does not run (`--stages`): a typo must not wait for the run that uses it
        problems = []
        for n in dict.fromkeys([*self.names, *self.config.stages]):
            if n not in missing:
                try:
                    self.settings_for(get_stage(n))
                except MedvlError as exc:
                    problems.append(str(exc))
        if problems:
            raise MedvlError(f"{self.config.source}: " + "; ".join(problems))
        return missing

    def run_all(self) -> RunResult:
        try:
            missing = self.check()
        except MedvlError:
            _remove_empty_dirs(self._made)
            raise
        lock = _lock_run_dir(self.run.path)
        _update_pipeline_manifest(
            self.run, version=PIPELINE_VERSION, config=redact(self.config.resolved()), stages_requested=self.names,
            executor={"kind": self.config.executor.kind, "workers": getattr(self._executor, "workers", None)
                      or self.config.executor.workers or _default_workers(self.config.executor.kind)},
            started_at=_now(), finished_at=None, pid=os.getpid(), host=socket.gethostname())
        results: dict[str, StageResult] = {}
        try:
            for name in self.names:
                stage = get_stage(name)
                if name in missing:
                    res = StageResult(name, "unavailable", message=missing[name])
                    self.notify(f"{name}: skipped, {missing[name]}")
                else:
                    res = self._run_stage(stage, results)
                results[name] = res
                _update_pipeline_manifest(self.run, stage=(name, res.to_dict() | {"updated_at": _now()}))
        finally:
            try:
                self.close()
                _update_pipeline_manifest(self.run, finished_at=_now())
            finally:
                lock.close()  # releases the lock (the OS does the same when the process dies)
        return RunResult(self.run.path, list(results.values()))

    def _blocked_by(self, stage: Stage, results: dict[str, StageResult], settings: dict[str, Any]) -> str | None:
        prior = pipeline_manifest(self.run.path).get("stages", {})
        for opt in stage.optional:
            if (res := results.get(opt)) is not None and res.state in ("failed", "blocked"):
                return f"{opt} {res.state}"
        for need in stage.reads_for(settings):
            res = results.get(need)
            if res is not None and res.state in ("failed", "blocked"):
                return f"{need} {res.state}"
            if res is not None and res.state == "done":
                continue
            # not run now (or skipped/unavailable): fine if an earlier run produced it
            if prior.get(need, {}).get("state") == "done":
                continue
            if self._output_file(need) is not None:  # also one made by an older medvl, or by hand
                continue
            if need in _REGISTRY and get_stage(need).sharded and self.run.done_keys(need):
                continue
            if res is not None and res.state in ("skipped", "unavailable"):
                return f"{need} did not run ({res.message})"
            return f"needs the output of {need}, which this run directory does not have"
        return None

    def _run_stage(self, stage: Stage, results: dict[str, StageResult]) -> StageResult:
        settings = self.settings_for(stage)
        if stage.when is not None and (why := stage.when(self.config, settings)):
            self.notify(f"{stage.name}: skipped, {why}")
            return StageResult(stage.name, "skipped", message=why)
        if (why := self._blocked_by(stage, results, settings)):
            self.notify(f"{stage.name}: not run, {why}")
            return StageResult(stage.name, "blocked", message=why)
        ctx = StageContext(self.run, stage.name, settings, self.config, self.notify, forced=stage.name in self.force)
        if stage.name in self.force:
            self.run.clear_stage(stage.name)
        self.run.update_manifest(stage.name, redact(settings), tools=stage.tools)
        t0 = time.monotonic()
        try:
            if stage.sharded:
                res = self._run_sharded(stage, ctx)
            else:
                res = self._run_whole(stage, ctx, results)
        except MedvlError as exc:
            res = StageResult(stage.name, "failed", message=str(exc), error=exc)
        except Exception as exc:  # noqa: BLE001 - one stage's bug must not hide the others' results
            res = StageResult(stage.name, "failed", message=f"{type(exc).__name__}: {exc}")
            write_failed(self.run, stage.name, WHOLE_KEY, "exception", res.message, traceback.format_exc())
        res.seconds = round(time.monotonic() - t0, 3)
        self.notify(_summary_line(res))
        return res

    def _plan_shards(self, stage: Stage, ctx: StageContext) -> list[Shard]:
        """The stage's shards with their full fingerprints; units no longer planned are dropped."""
        assert stage.plan is not None
        shards = list(stage.plan(ctx))
        keys = [s.key for s in shards]
        if len(set(keys)) != len(keys):
            dup = sorted({k for k in keys if keys.count(k) > 1})[:5]
            raise MedvlError(f"stage {stage.name}: two inputs map to the same shard key {dup}")
        # fingerprints include the stage version and settings
        if not stage.own_fingerprints:
            base = settings_digest(stage, ctx.settings)
            shards = [dc_replace(s, fingerprint=digest(base, s.fingerprint)) for s in shards]
        # temp files of writes cut short by a kill (atomic writes rename only complete files)
        for tmp in self.run.parts_dir(stage.name).glob(".*.tmp"):
            tmp.unlink(missing_ok=True)
        # drop units whose input is gone, so the merged output matches this plan
        planned = {safe_key(k) for k in keys}
        for old in self.run.done_keys(stage.name) - planned if not stage.keep_unplanned else ():
            _remove_unit(self.run, stage.name, old)
        return shards

    def _why_redo(self, stage: Stage, ctx: StageContext, shards: list[Shard]) -> dict[str, str]:
        """key -> why it runs, for the shards whose done marker does not carry their fingerprint."""
        whys = {}
        for s in shards:
            m = _marker(self.run, stage.name, s.key)
            if m is None or m.get("fingerprint") != s.fingerprint:
                failed = _failed_path(self.run, stage.name, s.key).exists()
                whys[s.key] = ("forced (--force)" if stage.name in self.force else s.why if m is not None and s.why
                               else redo_reason(m, stage.version, ctx.settings, failed, ignore=stage.non_output))
        return whys

    def _run_sharded(self, stage: Stage, ctx: StageContext) -> StageResult:
        shards = self._plan_shards(stage, ctx)
        whys = self._why_redo(stage, ctx, shards)
        todo = [s for s in shards if s.key in whys]
        reused = len(shards) - len(todo)
        redone: dict[str, int] = {}
        for why in whys.values():
            redone[reason_kind(why)] = redone.get(reason_kind(why), 0) + 1
        _update_pipeline_manifest(self.run, stage=(stage.name, {
            "state": "running", "planned": len(shards), "reused": reused, "started_at": _now(),
            "redone": dict(sorted(redone.items(), key=lambda kv: (-kv[1], kv[0])))}))
        res = StageResult(stage.name, "done", planned=len(shards), reused=reused, redone=redone)
        timeout = self.config.executor.timeout_s or (
            stage.timeout_for(ctx.settings) if stage.timeout_for else None) or stage.timeout_s
        tasks = [ShardTask(stage.name, s.key, str(self.run.path), ctx.settings, s.payload, s.fingerprint,
                           s.source, tuple(self.config.plugins), whys[s.key]) for s in todo]
        with self.bars(stage.name, len(shards)) as advance:
            if reused:
                advance(reused, note="done before")
            aborted = ""
            if tasks:
                outcomes = self._map_tasks(stage, ctx, tasks, timeout)
                try:
                    for task, ok, value, err, last in _per_shard(outcomes):
                        res.ran += 1
                        if ok and value.get("status") == "failed":
                            res.failed += 1
                            if value.get("abort"):
                                aborted = value.get("reason") or "stopped"
                        elif not ok:
                            detail = f"{err.detail}" if err else "unknown failure"
                            if stage.on_error == "reject":
                                reason = {"timeout": "timeout", "crash": "crash"}.get(err.kind if err else "", "error")
                                write_reject_unit(self.run, stage, task, reason,
                                                  f"{task.source or task.key}: {detail}", status=reason)
                            else:
                                write_failed(self.run, stage.name, task.key, err.kind if err else "error", detail,
                                             err.traceback if err else "")
                                res.failed += 1
                        advance(1, note=task.key[:40])
                        if aborted and last:  # the units of the batch that stopped are all written
                            break
                finally:
                    outcomes.close()  # stops the workers still busy when the stage stopped early
        # merge (also when some shards failed: the output holds what is done)
        if stage.output:
            self.run.merge(stage.name, stage.output)
            res.outputs[stage.output] = stage.output
        else:
            self.run.merge_rejects()
        counts = unit_counts(self.run, stage.name)
        res.records, res.rejects = counts["records"], counts["rejects"]
        if stage.finalize is not None:
            outputs = dict(stage.finalize(ctx) or {})
            # usable, not all done: said in the stage's message (judge: retrieval without a neighbours file)
            res.message = str(outputs.pop("incomplete", "") or "")
            res.outputs.update(outputs)
        res.digest = file_sha(self.run.file(stage.output)) if stage.output else digest(
            sorted((s.key, s.fingerprint) for s in shards))
        if aborted:
            left = len(shards) - unit_counts(self.run, stage.name)["done"]
            res.state = "failed"
            res.message = f"stopped: {aborted} ({left} shard(s) not done; rerun the same command to resume)"
        elif res.failed:
            res.state = "failed"
            res.message = (f"{res.failed} shard(s) failed; rerun the same command to retry them "
                           f"(details: medvl status {self.run.path} --failures)")
        return res

    def _map_tasks(self, stage: Stage, ctx: StageContext, tasks: list[ShardTask], timeout: float | None) -> Any:
        """The executor's outcomes: one per shard, or with run_batch one per batch of batch_size shards."""
        if stage.run_batch is None:
            return self.executor.map(execute_shard, tasks, timeout_s=timeout)
        n = max(1, int(stage.batch_size(ctx.settings) if stage.batch_size else 1))
        batches = [BatchTask(tuple(tasks[i:i + n])) for i in range(0, len(tasks), n)]
        return self.executor.map(execute_batch, batches, timeout_s=timeout)

    def _output_file(self, name: str) -> Path | None:
        """The merged output file of a sharded stage, when the run directory has it."""
        stage = _REGISTRY.get(name)
        if stage is None or not stage.sharded or not stage.output:
            return None
        path = self.run.path / stage.output
        return path if path.is_file() else None

    def _upstream_digest(self, name: str, results: dict[str, StageResult], prior: dict[str, Any]) -> str | None:
        # a sharded stage's digest is its merged output's content, whichever command (or person) wrote it
        if (path := self._output_file(name)) is not None:
            also = get_stage(name).also_outputs
            return digest(file_sha(path), [file_sha(self.run.path / f) for f in also]) if also else file_sha(path)
        return results[name].digest if name in results else prior.get(name, {}).get("digest")

    def _whole_fingerprint(self, stage: Stage, ctx: StageContext, results: dict[str, StageResult]) -> str:
        """Stage version, settings and the digests of what it reads; the same whichever command runs it
        (`medvl export` alone or inside `medvl run`).  A stage that needs nothing in particular (report)
        covers every earlier stage."""
        prior = pipeline_manifest(self.run.path).get("stages", {})
        names = stage.reads_for(ctx.settings) if (stage.reads is not None or stage.needs) else [
            n for n in stage_names() if get_stage(n).order < stage.order]
        upstream = {n: self._upstream_digest(n, results, prior) for n in dict.fromkeys(names)}
        settings = stage.output_settings(ctx.settings)
        if stage.external is None:
            return digest(stage.name, stage.version, settings, upstream)
        return digest(stage.name, stage.version, settings, upstream, self._external(stage, ctx))

    @staticmethod
    def _external(stage: Stage, ctx: StageContext) -> str | None:
        return digest(stage.external(ctx)) if stage.external is not None else None

    def _missing_outputs(self, marker: dict[str, Any]) -> list[str]:
        """Outputs a done marker lists that are gone (a deleted DATA_DIR): the stage is done again."""
        outs = marker.get("outputs") or {}
        return [str(v) for v in outs.values() if isinstance(v, str) and v and not (self.run.path / v).exists()]

    def _run_whole(self, stage: Stage, ctx: StageContext, results: dict[str, StageResult]) -> StageResult:
        assert stage.run_all is not None
        fp = self._whole_fingerprint(stage, ctx, results)
        m = _marker(self.run, stage.name, WHOLE_KEY)
        gone = self._missing_outputs(m) if m is not None and m.get("fingerprint") == fp else []
        if m is not None and m.get("fingerprint") == fp and stage.name not in self.force and not gone:
            res = StageResult(stage.name, "done", planned=1, reused=1, records=m.get("records", 0),
                              rejects=m.get("rejects", 0), outputs=m.get("outputs", {}), digest=fp,
                              message="done before")
            return res
        external = self._external(stage, ctx)
        why = ("forced (--force)" if stage.name in self.force else
               f"output missing ({gone[0]})" if gone else
               "input outside the run directory changed" if (
                   m is not None and m.get("external") != external and m.get("stage_version") == stage.version
                   and stage.output_settings(m.get("settings") or {}) == redact(stage.output_settings(ctx.settings)))
               else redo_reason(m, stage.version, ctx.settings, _failed_path(self.run, stage.name, WHOLE_KEY).exists(),
                                input_word="upstream output", ignore=stage.non_output))
        _remove_unit(self.run, stage.name, WHOLE_KEY)
        _update_pipeline_manifest(self.run, stage=(stage.name, {"state": "running", "planned": 1,
                                                                "started_at": _now(), "redone": {reason_kind(why): 1}}))
        with self.bars(stage.name, None) as advance:
            info = stage.run_all(ctx, advance) or {}
        meta = {"fingerprint": fp, "stage_version": stage.version, "status": "done",
                "records": int(info.get("records", 0)), "rejects": int(info.get("rejects", 0)),
                "outputs": info.get("outputs", {}), "settings": redact(ctx.settings), "why": why}
        if external is not None:
            meta["external"] = external
        message = str(info.get("message", ""))
        if info.get("incomplete"):  # usable, but not done: the next run does the stage again
            message = f"{message}; {info['incomplete']}" if message else str(info["incomplete"])
        else:
            self.run.write_unit(stage.name, WHOLE_KEY, [], [], meta=meta)
            _failed_path(self.run, stage.name, WHOLE_KEY).unlink(missing_ok=True)
        self.run.merge_rejects()
        return StageResult(stage.name, "done", planned=1, ran=1, records=meta["records"],
                           rejects=meta["rejects"], outputs=meta["outputs"], digest=fp, message=message,
                           redone={reason_kind(why): 1})


def _per_shard(outcomes: Iterable[Any]) -> Iterator[tuple[ShardTask, bool, Any, Any, bool]]:
    """(task, ok, value, error, last of its batch) per shard, from the outcomes of shards or of batches."""
    for out in outcomes:
        if not isinstance(out.task, BatchTask):
            yield out.task, out.ok, out.value, out.error, True
            continue
        tasks = out.task.tasks
        for i, task in enumerate(tasks):
            yield task, out.ok, out.value[i] if out.ok else None, out.error, i == len(tasks) - 1


def _summary_line(res: StageResult) -> str:
    if res.state == "done" and res.planned and res.ran == 0 and res.reused:
        return f"{res.name}: already done ({res.records} records, {res.rejects} rejects)"
    if res.state == "done":
        extra = f", {res.reused} shards done before" if res.reused and res.ran else ""
        return f"{res.name}: {res.records} records, {res.rejects} rejects in {res.seconds:.1f} s{extra}"
    return f"{res.name}: {res.state}: {res.message}"


def run_pipeline(config: RunConfig, run_dir: str | Path, **kwargs: Any) -> RunResult:
    """Run the stages `config` names over `run_dir`; see :class:`Pipeline` for the keywords."""
    return Pipeline(config, run_dir, **kwargs).run_all()


# ================================================================ status

def unit_counts(run: RunDir, stage: str) -> dict[str, Any]:
    """Done / failed units of a stage, with record and reject counts from the done markers."""
    d = run.path / ".parts" / safe_key(stage)
    out: dict[str, Any] = {"done": 0, "failed": 0, "records": 0, "rejects": 0}
    if not d.is_dir():
        return out
    whole = d / f"{WHOLE_KEY}.done"
    if whole.exists():  # a whole stage: one unit; its library may keep units of its own beside it
        try:
            meta = json.loads(whole.read_text(encoding="utf-8") or "{}")
        except (OSError, json.JSONDecodeError):
            meta = {}
        out.update(done=1, records=int(meta.get("records") or 0),
                   rejects=sum(_count_lines(p) for p in d.glob("*.rejects.jsonl")))
        return out
    for marker in d.glob("*.done"):
        out["done"] += 1
        try:
            meta = json.loads(marker.read_text(encoding="utf-8") or "{}")
        except (OSError, json.JSONDecodeError):
            meta = {}
        if "records" in meta:
            out["records"] += int(meta.get("records") or 0)
            out["rejects"] += int(meta.get("rejects") or 0)
        else:  # a unit written by the stage's own command: count lines
            out["records"] += _count_lines(marker.with_suffix(".jsonl"))
            out["rejects"] += _count_lines(d / (marker.name[:-5] + ".rejects.jsonl"))
    out["failed"] = sum(1 for _ in d.glob("*.failed"))
    return out


def _count_lines(path: Path) -> int:
    try:
        with open(path, "rb") as fh:
            return sum(1 for line in fh if line.strip())
    except FileNotFoundError:
        return 0


def reject_reasons(run: RunDir, stage: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    d = run.path / ".parts" / safe_key(stage)
    if not d.is_dir():
        return counts
    for part in d.glob("*.rejects.jsonl"):
        try:
            for row in read_jsonl(part):
                r = str(row.get("reason") or "?")
                counts[r] = counts.get(r, 0) + 1
        except (OSError, ValueError):
            counts["unreadable_part"] = counts.get("unreadable_part", 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def failures(run: RunDir, stage: str) -> list[dict[str, Any]]:
    d = run.path / ".parts" / safe_key(stage)
    out = []
    for p in sorted(d.glob("*.failed")) if d.is_dir() else []:
        try:
            info = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            info = {}
        out.append({"key": p.name[: -len(".failed")], **info})
    return out


def run_status(run_dir: str | Path) -> list[dict[str, Any]]:
    """Per-stage progress of a run directory (finished or still running)."""
    path = Path(run_dir)
    if not (path / "run.json").exists() and not (path / ".parts").is_dir():
        raise MedvlError(f"{run_dir}: not a medvl run directory (no run.json)")
    run = RunDir(path)
    pipe = pipeline_manifest(path)
    recorded = pipe.get("stages", {})
    names = list(pipe.get("stages_requested") or [])
    parts = path / ".parts"
    helpers: dict[str, list[str]] = {}  # units a stage's library keeps beside it (export-aligned ...)
    for d in sorted(parts.iterdir()) if parts.is_dir() else []:
        if not d.is_dir() or d.name in names:
            continue
        owner = d.name.split("-")[0].split(":")[0]
        if d.name not in _REGISTRY and owner in _REGISTRY and owner != d.name:
            helpers.setdefault(owner, []).append(d.name)
            if owner not in names:
                names.append(owner)
        else:
            names.append(d.name)
    for n in recorded:
        if n not in names:
            names.append(n)
    order = {n: (get_stage(n).order if n in _REGISTRY else 1e9) for n in names}
    rows = []
    for name in sorted(names, key=lambda n: order[n]):
        info = recorded.get(name, {})
        counts = unit_counts(run, name)
        reasons = reject_reasons(run, name)
        for h in helpers.get(name, []):
            counts["rejects"] += sum(_count_lines(p) for p in (parts / h).glob("*.rejects.jsonl"))
            for k, v in reject_reasons(run, h).items():
                reasons[k] = reasons.get(k, 0) + v
        state = info.get("state") or ("done" if counts["done"] else "pending")
        planned = info.get("planned")
        if state == "running" and (pipe.get("finished_at") or _alive(pipe.get("pid"), pipe.get("host")) is False):
            state = "interrupted"
        elif state == "running" and planned and counts["done"] >= planned:
            state = "merging"
        rows.append({
            "stage": name, "state": state, "planned": planned, "done": counts["done"],
            "failed": counts["failed"], "records": counts["records"], "rejects": counts["rejects"],
            "reasons": dict(sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0]))), "seconds": info.get("seconds"),
            "message": info.get("message", ""), "outputs": info.get("outputs", {}),
            "redone": info.get("redone", {}),  # why the last run did its units again (reason -> units)
        })
    return rows


def _missing_dirs(path: Path) -> list[Path]:
    """`path` and those of its parents that do not exist yet, deepest first."""
    made = []
    path = path.absolute()
    while not path.exists() and path != path.parent:
        made.append(path)
        path = path.parent
    return made


def _remove_empty_dirs(dirs: Sequence[Path]) -> None:
    """Remove `dirs` (deepest first) while they are empty."""
    for d in dirs:
        try:
            d.rmdir()
        except OSError:
            return


def _kwargs_for(cls: Any, settings: dict[str, Any], stage: str, skip: Sequence[str] = (),
                also: Sequence[str] = (), loose: Sequence[str] = ()) -> dict[str, Any]:
    """Settings as keyword arguments of a stage's settings dataclass (`skip`: fields the pipeline drops; `also`:
    the stage's own keys beside the class; `loose`: fields the stage takes in more shapes than their type);
    an unknown key fails clearly, with the nearest known one, and so does a value of the wrong type
    (medvl.settings.check_types: checked, not converted)."""
    import dataclasses

    known = {f.name for f in dataclasses.fields(cls)}
    where = f"stages.{stage}"
    check_keys(settings, known | set(also), where)
    check_types(cls, settings, where, loose=(*skip, *also, *loose))
    return {k: v for k, v in settings.items() if k not in skip}


def _stage_outputs(ctx: StageContext, stage: str) -> dict[str, Any]:
    """What an earlier stage recorded as its outputs (relative paths inside RUN_DIR)."""
    return dict(pipeline_manifest(ctx.run.path).get("stages", {}).get(stage, {}).get("outputs") or {})



# ================================================================ the built-in stages
# (after the engine above: they import Stage, register ...): parse, split, align, synth, collect, export,
# train, eval, judge and report in medvl/stages/, tag in medvl/tag/register.py

import medvl.stages  # noqa: E402,F401
import medvl.tag.register  # noqa: E402,F401
