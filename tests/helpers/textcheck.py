"""Test helper shared by the gold and splitter tests: is a subcaption text verbatim caption text?

medvl.split.verbatim's one definition (caption pieces in caption order, joined with one space), so the
tests hold the code to the same rule the validators and the report use."""

from __future__ import annotations

from medvl.split.verbatim import is_verbatim

__all__ = ["is_verbatim"]
