"""What an aligner is, and the built-in ones; aligners are found by name in `ALIGNERS`.

An aligner pairs one paper's subcaptions with its panels.  Adding one is one class::

    from medvl.aligner import Aligner
    from medvl.registry import ALIGNERS

    @ALIGNERS.register("mine")
    class MyAligner(Aligner):
        def align_paper(self, figs, splits, run_dir=None, tools=None):
            return PaperAlignment(pairs, rejects)

or an entry point in the group ``medvl.aligners`` (see medvl/registry.py).  `medvl align --aligner mine`
and ``stages: {align: {aligner: mine}}`` then use it; the align stage plans, resumes, merges and rejects
the same way whichever aligner pairs.  Built-ins: ``rules`` (letter, position, reading order, whole
figure: medvl/align.py), ``llm`` and ``auto`` (a served model: medvl/align_llm.py).
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from medvl.records import Figure, SplitRow
from medvl.registry import ALIGNERS


class Aligner:
    """Base of the aligners: override `align_paper` (and, for a model behind a server, the rest)."""

    # does it ask a served model?  "optional": without a server the rules pair (with a note); "required":
    # without one the stage fails before work
    uses_llm: ClassVar[Literal["none", "optional", "required"]] = "none"
    preload: ClassVar[tuple[str, ...]] = ("medvl.align", "PIL.Image")

    def __init__(self, settings: Any, llm_settings: Any = None, prompts_dir: Any = None):
        self.settings = settings  # medvl.align.AlignSettings
        self.dead: str | None = None  # why the aligner stopped working (a server that died)

    def fingerprint(self) -> str:
        """What changes its pairs beyond AlignSettings (e.g. the model and prompt); '' for nothing."""
        return ""

    def check(self) -> str | None:
        """Why it cannot work now (a dead server), or None; checked once before the papers."""
        return None

    def mark_unavailable(self, why: str) -> None:
        """Its server was found down (at planning, in another process): keep the rule pairs and say why."""
        self.dead = why

    def align_paper(self, figs: list[Figure], splits: dict[str, SplitRow], run_dir: Any = None,
                    tools: dict[str, str] | None = None) -> Any:
        """A medvl.align_llm.PaperAlignment for one paper's figures (in order) and their split rows."""
        raise NotImplementedError

    def close(self) -> None:
        pass


@ALIGNERS.register("rules")
class RulesAligner(Aligner):
    """Letter, position, reading order, whole figure (medvl.align.align_figure)."""

    def align_paper(self, figs, splits, run_dir=None, tools=None):
        from medvl.align_llm import align_paper

        return align_paper(figs, splits, self.settings, run_dir, tools, None)


@ALIGNERS.register("llm")
class ModelAligner(Aligner):
    """The rules, then a served model for every figure with 2+ panels and labelled subcaptions (its answer
    replaces the rule steps); settings.aligner "auto" asks it only where the rules were unsure."""

    uses_llm = "required"
    preload = ("medvl.align", "medvl.align_llm", "PIL.Image", "instructor", "openai")

    def __init__(self, settings, llm_settings=None, prompts_dir=None):
        from medvl.align_llm import LLMAligner

        super().__init__(settings, llm_settings, prompts_dir)
        self.model = LLMAligner(llm_settings, settings, prompts_dir)

    @property
    def llm(self):
        return self.model.llm  # the client (medvl.llm.client.StructuredLLM)

    def fingerprint(self) -> str:
        return self.model.fingerprint()

    def check(self) -> str | None:
        from medvl.llm.client import LLMUnavailable

        try:
            self.model.llm.check_server()
        except LLMUnavailable as exc:
            self.model.dead = self.dead = str(exc)
        return self.dead

    def mark_unavailable(self, why: str) -> None:
        self.model.dead = self.dead = why

    def align_paper(self, figs, splits, run_dir=None, tools=None):
        from medvl.align_llm import align_paper

        done = align_paper(figs, splits, self.settings, run_dir, tools, self.model)
        self.dead = self.model.dead
        return done

    def close(self) -> None:
        self.model.close()


@ALIGNERS.register("auto")
class AutoAligner(ModelAligner):
    """Rules where they are sure, the model where they reject or pair by reading order; without a
    server the rules alone."""

    uses_llm = "optional"
