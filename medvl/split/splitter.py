"""What a splitter is, and the built-in rule splitter; splitters are found by name in `SPLITTERS`.

A splitter turns (id, caption) pairs into `SplitRow`s.  Adding one is one class::

    from medvl.registry import SPLITTERS
    from medvl.split.splitter import Splitter

    @SPLITTERS.register("mine")
    class MySplitter(Splitter):
        def split(self, item_id, caption):
            return SplitRow(..., splitter="mine", ...)

or an entry point in the group ``medvl.splitters`` (see medvl/registry.py).  `medvl split --splitter
mine` and ``stages: {split: {splitter: mine}}`` then use it: the split stage plans, resumes, merges
and rejects the same way whichever splitter cuts the captions.  The built-ins are ``rules`` (here) and
``llm`` (medvl/split/llm.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Iterable

from medvl.progress import ProgressFn, no_progress
from medvl.records import SplitRow
from medvl.registry import SPLITTERS

DEFAULT_PROMPT = "split/fewshot@1"


@dataclass
class SplitOptions:
    """What the split stage hands a splitter when it makes one (from CLI options or stages.split)."""

    prompt: str = DEFAULT_PROMPT  # a prompt ref, for splitters that ask a model
    llm: Any = None  # medvl.llm.client.LLMSettings (answer cache set) when the splitter needs_llm
    prompts_dir: Path | None = None


class Splitter:
    """Base of the splitters: override `split` (and, for a model behind a server, the rest)."""

    needs_llm: ClassVar[bool] = False  # needs a served model: --llm-url/--llm-model, llm.url/llm.model
    falls_back: ClassVar[bool] = False  # may write fallback rows, which a rerun asks again (retry_fallbacks)
    concurrent: ClassVar[bool] = False  # `asplit` overlaps captions: the stage keeps all of them in flight
    manifest_tools: ClassVar[tuple[str, ...]] = ()  # packages whose versions the run manifest records
    preload: ClassVar[tuple[str, ...]] = ("medvl.split",)  # modules a worker imports before its first unit

    @classmethod
    def create(cls, options: SplitOptions) -> "Splitter":
        return cls()

    def fingerprint(self) -> dict[str, Any]:
        """Settings (beyond the splitter's name and the stage version) that change what it writes."""
        return {}

    def check(self) -> None:
        """Fail before any unit when the splitter cannot work (e.g. its server is down)."""

    def split(self, item_id: str, caption: str) -> SplitRow:
        raise NotImplementedError

    def split_many(self, items: Iterable[tuple[str, str]], progress: ProgressFn = no_progress) -> list[SplitRow]:
        rows = []
        for item_id, caption in items:
            rows.append(self.split(item_id, caption))
            progress(1)
        return rows

    async def asplit(self, item_id: str, caption: str) -> SplitRow:
        return self.split(item_id, caption)

    def stats(self) -> dict[str, int]:
        """Counts for the summary (requests, cache hits ...)."""
        return {}

    def close(self) -> None:
        pass

    async def aclose(self) -> None:
        """Close what `asplit` opened (inside the event loop the stage ran it in)."""


@SPLITTERS.register("rules")
class RulesSplitter(Splitter):
    """The deterministic rule splitter (medvl/split/rules.py)."""

    def __init__(self) -> None:
        from medvl.split.llm import tool_versions_split

        self._tools = tool_versions_split(False)

    def split(self, item_id: str, caption: str) -> SplitRow:
        from medvl.split.llm import rules_row

        return rules_row(item_id, caption, tools=self._tools)


def make_splitter(name: str, options: SplitOptions | None = None) -> Splitter:
    """The registered splitter `name`, made with `options` (an unknown name lists the known ones)."""
    return SPLITTERS.get(name).create(options or SplitOptions())


import medvl.split.llm  # noqa: E402,F401  - registers "llm"
