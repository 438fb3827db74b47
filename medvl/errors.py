"""Errors with clear words for people."""

from __future__ import annotations


class MedvlError(Exception):
    """A failure the CLI reports as one clear line (no traceback)."""


class InputError(MedvlError):
    """Bad input: names the file and the reason."""

    def __init__(self, source: str, reason: str, detail: str = ""):
        self.source = source
        self.reason = reason
        self.detail = detail
        super().__init__(f"{source}: {detail or reason}")


class MissingExtra(MedvlError):
    """A stage needs an optional dependency that is not installed."""

    def __init__(self, stage: str, extra: str, module: str):
        super().__init__(
            f"stage '{stage}' needs the '{module}' package: install it with pip install 'medvl[{extra}]'"
        )


def require(module: str, stage: str, extra: str):
    """Import an optional module or fail with an install hint."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:  # pragma: no cover - depends on environment
        raise MissingExtra(stage, extra, module) from exc
