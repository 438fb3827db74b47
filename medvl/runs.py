"""Run directories: atomic writes, per-unit parts, done markers, rejects, run.json.

Layout of a run directory::

    RUN_DIR/
      run.json                  resolved settings, versions, git hash (one section per stage)
      figures.jsonl             merged output of `parse`  (other stages: subcaptions.jsonl, pairs.jsonl ...)
      rejects.jsonl             merged rejects of every stage
      .parts/<stage>/<key>.jsonl          records of one unit of work (a paper, a shard)
      .parts/<stage>/<key>.rejects.jsonl  what that unit dropped, with reasons
      .parts/<stage>/<key>.done           done marker, written last

A unit is done when its marker exists; a marker is written only after its part
files were renamed into place, so an interrupted run never leaves a half unit
that a rerun would skip, and rerunning a finished unit is skipped instead of
duplicated.  Merged files are rebuilt from the parts (sorted by key), so the
final outputs of an interrupted-then-resumed run equal an uninterrupted run.
"""

from __future__ import annotations

import json
import os
import platform
import re
import subprocess
import sys
import shutil
import tempfile
from contextlib import contextmanager
from datetime import datetime, timezone
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from pydantic import BaseModel

from medvl.records import Reject

_UMASK = os.umask(0)
os.umask(_UMASK)

_SAFE_KEY = re.compile(r"[^A-Za-z0-9._-]+")


def safe_key(key: str) -> str:
    """A file-name-safe key that can never escape its folder."""
    k = _SAFE_KEY.sub("_", key).strip("._")
    if not k:
        raise ValueError(f"empty key after sanitising {key!r}")
    return k[:200]


# ---------------------------------------------------------------- atomic files

@contextmanager
def atomic_open(path: str | Path, mode: str = "w", encoding: str | None = "utf-8") -> Iterator[Any]:
    """Write to a temporary file beside `path`, fsync, then rename into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # .NAME.tmp-PID-RANDOM.tmp: remove_stale_temps can tell a killed writer's file from a live one
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.tmp-{os.getpid()}-", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_UMASK)  # mkstemp makes 0600; give outputs the usual permissions
        with os.fdopen(fd, mode, encoding=None if "b" in mode else encoding) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


# ---------------------------------------------------------------- temporary files and folders

def temp_dir_beside(path: str | Path, tag: str = "tmp") -> Path:
    """A new empty folder beside `path` to build it in: ``.NAME.TAG-PID-RANDOM``, with the usual mode.

    The pid lets `remove_stale_temps` tell a folder left by a killed process from one in use; the mode
    is 0777 minus the umask (mkdtemp makes 0700, which the finished folder would keep)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.{tag}-{os.getpid()}-", dir=path.parent))
    os.chmod(tmp, 0o777 & ~_UMASK)
    return tmp


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def remove_stale_temps(path: str | Path) -> list[Path]:
    """Remove what killed writers of `path` left beside it; returns what was removed.

    Folders and files named ``.NAME.TAG-PID-*`` (temp_dir_beside, atomic_open) of processes that are
    gone, and ``.NAME.XXXXXXXX[.tmp]`` / ``.NAME.old.XXXXXXXX`` left by earlier medvl versions."""
    path = Path(path)
    if not path.parent.is_dir():
        return []
    name = re.escape(path.name)
    tagged = re.compile(rf"^\.{name}\.[a-z]+-(\d+)-[A-Za-z0-9_]+(?:\.tmp)?$")
    legacy_dir = re.compile(rf"^\.{name}\.(?:old\.)?[A-Za-z0-9_]{{8}}$")
    legacy_file = re.compile(rf"^\.{name}\.[A-Za-z0-9_]{{8}}\.tmp$")
    removed = []
    for p in path.parent.iterdir():
        m = tagged.match(p.name)
        if m:
            stale = not _pid_alive(int(m.group(1)))
        else:
            stale = bool((legacy_dir.match(p.name) and p.is_dir()) or (legacy_file.match(p.name) and p.is_file()))
        if stale:
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p, ignore_errors=True)
            else:
                p.unlink(missing_ok=True)
            removed.append(p)
    return removed


def remove_temp_files(folder: str | Path, pattern: str = ".*.tmp") -> int:
    """Remove temp files (atomic writes cut short by a kill) in `folder`; for folders only one writer uses."""
    folder = Path(folder)
    n = 0
    if folder.is_dir():
        for p in folder.glob(pattern):
            if p.is_file():
                p.unlink(missing_ok=True)
                n += 1
    return n


def atomic_write_text(path: str | Path, text: str) -> None:
    with atomic_open(path, "w") as fh:
        fh.write(text)


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    with atomic_open(path, "wb", encoding=None) as fh:
        fh.write(data)


def _line(rec: BaseModel | dict) -> str:
    if isinstance(rec, BaseModel):
        return rec.model_dump_json()
    return json.dumps(rec, ensure_ascii=False, sort_keys=False)


def write_jsonl(path: str | Path, records: Iterable[BaseModel | dict]) -> int:
    n = 0
    with atomic_open(path) as fh:
        for rec in records:
            fh.write(_line(rec) + "\n")
            n += 1
    return n


def read_jsonl(path: str | Path) -> Iterator[dict]:
    """Stream the objects of a JSONL file; a bad line raises with file and line number."""
    path = Path(path)
    with open(path, encoding="utf-8") as fh:
        for i, line in enumerate(fh, 1):
            line = line.strip()
            if not line:
                continue
            try:
                yield json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{i}: not valid JSON ({exc.msg})") from exc


# ---------------------------------------------------------------- versions

def package_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def tool_versions(names: Iterable[str]) -> dict[str, str]:
    out = {}
    for n in names:
        v = package_version(n)
        if v:
            out[n] = v
    return out


def git_hash(repo: Path | None = None) -> str | None:
    return _git_hash(repo or Path(__file__).resolve().parent.parent)


@lru_cache(maxsize=None)
def _git_hash(repo: Path) -> str | None:
    """HEAD of the checkout medvl runs from (asked once per process: it is in every run.json edit)."""
    try:
        out = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True,
                             text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


# ---------------------------------------------------------------- run directory

class RunDir:
    """One run's folder.  All paths handed out stay inside it."""

    def __init__(self, path: str | Path):
        self.path = Path(path).resolve()
        self.path.mkdir(parents=True, exist_ok=True)

    # paths ---------------------------------------------------------
    def inside(self, rel: str | Path) -> Path:
        """Resolve `rel` under the run dir; refuse anything that escapes it."""
        p = (self.path / rel).resolve()
        if p != self.path and self.path not in p.parents:
            raise ValueError(f"path {rel!r} escapes the run directory {self.path}")
        return p

    def rel(self, p: str | Path) -> str:
        return Path(p).resolve().relative_to(self.path).as_posix()

    def parts_dir(self, stage: str, *, create: bool = False) -> Path:
        """The folder of a stage's units.  A lookup creates nothing (`medvl status` lists every folder
        there as a stage); the writers here make it (atomic_open), `create` is for a caller writing by hand."""
        d = self.path / ".parts" / safe_key(stage)
        if create:
            d.mkdir(parents=True, exist_ok=True)
        return d

    def file(self, name: str) -> Path:
        return self.inside(name)

    # units of work ---------------------------------------------------
    def is_done(self, stage: str, key: str) -> bool:
        return (self.parts_dir(stage) / f"{safe_key(key)}.done").exists()

    def done_keys(self, stage: str) -> set[str]:
        return {p.name[: -len(".done")] for p in self.parts_dir(stage).glob("*.done")}

    def write_unit(self, stage: str, key: str, records: Iterable[BaseModel | dict],
                   rejects: Iterable[Reject | dict] = (), meta: dict | None = None) -> int:
        """Write one unit's records and rejects atomically, then its done marker."""
        d = self.parts_dir(stage)
        k = safe_key(key)
        n = write_jsonl(d / f"{k}.jsonl", records)
        write_jsonl(d / f"{k}.rejects.jsonl", rejects)
        atomic_write_text(d / f"{k}.done", json.dumps(meta or {}, sort_keys=True))
        return n

    def clear_stage(self, stage: str) -> None:
        d = self.parts_dir(stage)
        for p in d.iterdir() if d.is_dir() else ():
            if p.is_file():
                p.unlink()

    def iter_unit_records(self, stage: str) -> Iterator[dict]:
        d = self.parts_dir(stage)
        for marker in sorted(d.glob("*.done")):
            part = marker.with_suffix(".jsonl")
            if part.exists():
                yield from read_jsonl(part)

    def iter_unit_rejects(self, stage: str) -> Iterator[dict]:
        d = self.parts_dir(stage)
        for marker in sorted(d.glob("*.done")):
            part = d / (marker.name[: -len(".done")] + ".rejects.jsonl")
            if part.exists():
                yield from read_jsonl(part)

    def merge(self, stage: str, out_name: str) -> int:
        """Rebuild RUN_DIR/out_name from the stage's done parts, sorted by key."""
        remove_stale_temps(self.file(out_name))  # a merge killed half-way left its temp file
        n = write_jsonl(self.file(out_name), self.iter_unit_records(stage))
        self.merge_rejects()
        return n

    def merge_rejects(self) -> int:
        """Rebuild RUN_DIR/rejects.jsonl from every stage's reject parts."""
        remove_stale_temps(self.file("rejects.jsonl"))
        root = self.path / ".parts"
        stages = sorted(p.name for p in root.iterdir() if p.is_dir()) if root.exists() else []

        def rows() -> Iterator[dict]:
            for st in stages:
                yield from self.iter_unit_rejects(st)

        return write_jsonl(self.file("rejects.jsonl"), rows())

    # run.json ----------------------------------------------------------
    def manifest(self) -> dict:
        """run.json as a dict ({} when absent or unreadable)."""
        path = self.file("run.json")
        if not path.exists():
            return {}
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError:
            return {}

    def edit_manifest(self, mutate: Callable[[dict[str, Any]], None]) -> dict:
        """Read-modify-write run.json under an exclusive lock, so that stages writing their sections
        from several processes never lose each other's updates; the write itself is atomic."""
        import fcntl

        lock = self.path / ".run.json.lock"
        with open(lock, "a+") as fh:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
            try:
                remove_stale_temps(self.file("run.json"))  # a writer killed mid-write left its temp file
                data = self.manifest()
                mutate(data)
                atomic_write_text(self.file("run.json"),
                                  json.dumps(data, indent=2, sort_keys=True, default=str))
            finally:
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
        return data

    def update_manifest(self, stage: str, settings: dict[str, Any], tools: Iterable[str] = ()) -> dict:
        """Record a stage's resolved settings and the versions it ran with in run.json."""
        from medvl import __version__

        def mutate(data: dict[str, Any]) -> None:
            now = datetime.now(timezone.utc).isoformat(timespec="seconds")
            data.setdefault("medvl_version", __version__)
            data["git_hash"] = git_hash()
            data["python"] = sys.version.split()[0]
            data["platform"] = platform.platform()
            data.setdefault("created_at", now)
            data["updated_at"] = now
            data.setdefault("stages", {})[stage] = {
                "settings": _jsonable(settings), "tools": tool_versions(tools), "updated_at": now}

        return self.edit_manifest(mutate)


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, BaseModel):
        return obj.model_dump(mode="json")
    if obj is None or isinstance(obj, (str, int, float, bool)):
        return obj
    return str(obj)
