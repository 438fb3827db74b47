"""Progress reporting without printing: library code calls a callback, the CLI draws bars."""

from __future__ import annotations

from typing import Protocol


class ProgressFn(Protocol):
    def __call__(self, advance: int = 1, *, total: int | None = None, note: str = "") -> None: ...


def no_progress(advance: int = 1, *, total: int | None = None, note: str = "") -> None:
    """The default: report nothing."""
