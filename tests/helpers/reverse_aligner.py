"""A plugin aligner for the tests, registered as ``i12_reverse`` on import: the rule pairs, with each figure's
panels in reverse order (so every pair of a figure with two panels or more is wrong)."""

from __future__ import annotations

from medvl.align_llm import PaperAlignment
from medvl.aligner import Aligner
from medvl.registry import ALIGNERS


@ALIGNERS.register("i12_reverse", replace=True)
class ReverseAligner(Aligner):
    """A toy: the rule pairs, with each figure's panels handed out in reverse order."""

    def align_paper(self, figs, splits, run_dir=None, tools=None):
        from medvl.align import align_figure

        out = PaperAlignment([], [])
        for fig in figs:
            pairs, rejects = align_figure(fig, splits.get(fig.figure_id), self.settings, run_dir, tools)
            panels = [(p.panel_id, p.image) for p in pairs][::-1]
            out.pairs += [p.model_copy(update={"panel_id": pid, "image": img}) for p, (pid, img) in zip(pairs, panels)]
            out.rejects += rejects
        return out
