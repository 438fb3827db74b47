"""Registries for medvl's extension points: one decorator to add an implementation, entry points for
third-party packages.

    from medvl.registry import EXECUTORS

    @EXECUTORS.register("slurm")
    def make_slurm(workers=None, *, address=None, memory_mb=None, preload=()):
        return SlurmExecutor(...)

A package adds one without touching medvl by declaring an entry point in the registry's group, e.g.
in its pyproject.toml::

    [project.entry-points."medvl.executors"]
    slurm = "medvl_slurm:make_slurm"

Entry points are loaded the first time a registry is asked for a name it does not have, or for its
list of names.  An unknown name is an error that lists the known ones and suggests the nearest.
"""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points
from typing import Any, Callable, Generic, TypeVar

from medvl.errors import MedvlError
from medvl.settings import suggest

T = TypeVar("T")


class Registry(Generic[T]):
    """Named implementations of one extension point (`kind`), extendable through `group` entry points."""

    def __init__(self, kind: str, group: str, builtin: str | None = None):
        self.kind, self.group = kind, group
        self.builtin = builtin  # the module whose import registers medvl's own implementations
        self._items: dict[str, T] = {}
        self._entry_points_loaded = False
        self._builtin_loaded = builtin is None

    def _load_builtin(self) -> None:
        if not self._builtin_loaded:
            self._builtin_loaded = True
            importlib.import_module(self.builtin)  # type: ignore[arg-type]

    def register(self, name: str, obj: T | None = None, *, replace: bool = False) -> Any:
        """Add `obj` under `name`; without `obj`, a decorator that adds what it decorates."""
        def add(item: T) -> T:
            if name in self._items and not replace and self._items[name] is not item:
                raise ValueError(f"{self.kind} {name!r} is already registered")
            self._items[name] = item
            return item

        return add(obj) if obj is not None else add

    def _load_entry_points(self) -> None:
        self._load_builtin()
        if self._entry_points_loaded:
            return
        self._entry_points_loaded = True
        for ep in entry_points(group=self.group):
            if ep.name in self._items:
                continue
            try:
                self._items[ep.name] = ep.load()
            except Exception as exc:  # noqa: BLE001 - a broken plugin is named, not fatal to the others
                raise MedvlError(f"{self.kind} {ep.name!r} (entry point {ep.value} in {self.group}) "
                                 f"cannot be loaded: {type(exc).__name__}: {exc}") from None

    def names(self) -> list[str]:
        self._load_entry_points()
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        self._load_builtin()
        if name in self._items:
            return True
        self._load_entry_points()
        return name in self._items

    def get(self, name: str) -> T:
        self._load_builtin()
        if name not in self:
            raise MedvlError(f"unknown {self.kind} {name!r}{suggest(name, self._items)}; "
                             f"known: {', '.join(self.names()) or 'none'}")
        return self._items[name]

    def check(self, name: str, where: str) -> str:
        """`name` when it is registered, else a MedvlError naming `where` (e.g. 'stages.split.splitter')."""
        if name not in self:
            raise MedvlError(f"{where}: unknown {self.kind} {name!r}{suggest(name, self._items)}; "
                             f"known: {', '.join(self.names()) or 'none'}")
        return name


#: executor factories: ``make(workers, *, address, memory_mb, preload) -> Executor`` (medvl/executors)
EXECUTORS: Registry[Callable[..., Any]] = Registry("executor", "medvl.executors", builtin="medvl.executors")
#: splitters: a `medvl.split.splitter.Splitter` subclass per name (rules, llm; the split stage's `splitter`)
SPLITTERS: Registry[Any] = Registry("splitter", "medvl.splitters", builtin="medvl.split.splitter")
#: aligners: a `medvl.aligner.Aligner` subclass per name (rules, llm, auto; the align stage's `aligner`)
ALIGNERS: Registry[Any] = Registry("aligner", "medvl.aligners", builtin="medvl.aligner")
#: judges: ``judge(batch: medvl.evaluate.judge.JudgeBatch) -> [answer per item]`` (the judge stage asks it per batch)
JUDGES: Registry[Callable[..., Any]] = Registry("judge", "medvl.judges", builtin="medvl.evaluate.judge")
#: stage plugins: a module (or callable) that registers stages with medvl.pipeline.register when loaded
STAGE_PLUGINS: Registry[Any] = Registry("stage plugin", "medvl.stages")
