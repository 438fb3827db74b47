"""One version per stage, derived from the code (and data files) that make the stage's output.

``code_version("medvl.align", "medvl.records", release="1")`` is ``"1+<sha12>"``: the first 12 hex
digits of a sha256 over the source bytes of those modules (a package means every ``.py`` file in it;
a path with a ``/`` is a file or folder inside the medvl package, e.g. ``data/synth_text.yaml``). The
same string goes into every output row's provenance (``stage_version``) and into the stage's unit
fingerprints, so a change to that code redoes the stage's units and can never leave rows made by older
code under the same version.  Hashing reads files only: nothing is imported, so the pipeline can
version every stage with the core dependencies alone.

``STAGE_CODE`` lists, per built-in stage, what determines its output, starting with its stage module
(medvl/stages/<name>.py: its settings, units and the adapter to the stage's code), and every medvl module those
import unless it decides no output (tests/test_versioning.py walks the imports and names the exceptions,
NOT_OUTPUT); :func:`stage_version` is
the version of a built-in stage (tag versions itself: medvl/tag/stage.py CODE, the whole medvl.tag package).  A plugin stage calls :func:`code_version` on its own modules.
"""

from __future__ import annotations

import hashlib
import importlib.util
from functools import lru_cache
from pathlib import Path

PACKAGE_ROOT = Path(__file__).resolve().parent  # medvl/

#: what decides each built-in stage's output (a module, a package, or a file/folder inside medvl/)
STAGE_CODE: dict[str, tuple[str, ...]] = {
    "collect": ("medvl.stages.collect", "medvl.collect", "medvl.records"),
    "synth": ("medvl.stages.synth", "medvl.synth", "data/synth_text.yaml", "medvl.tag.real", "medvl.records"),
    "parse": ("medvl.stages.parse", "medvl.parse", "medvl.pdf", "data/pdf_font_maps.yaml", "medvl.jats", "medvl.sentences",
              "medvl.readingorder", "medvl.records", "medvl.paths", "medvl.collect.licenses", "medvl.collect.manifest", "medvl.split.rules",
              "medvl.split.labels", "medvl.split.ruleversion"),
    "split": ("medvl.stages.split", "medvl.split.stage", "medvl.split.splitter", "medvl.split.llm", "medvl.split.rules",
              "medvl.split.labels", "medvl.split.verbatim", "medvl.split.pieces", "medvl.split.spans",
              "medvl.split.ruleversion", "medvl.llm.client", "medvl.llm.answers", "medvl.prompts", "medvl.records"),
    "align": ("medvl.stages.align", "medvl.align", "medvl.aligner", "medvl.align_llm", "medvl.readingorder",
              "medvl.split.labels", "medvl.llm.client", "medvl.llm.answers", "medvl.prompts", "medvl.records"),
    "export": ("medvl.stages.export", "medvl.export", "medvl.records", "medvl.tag.keep", "tag/vocab.py", "tag/vocab",
               "medvl.synth.score", "medvl.synth.text", "medvl.synth.corpus", "medvl.synth.images", "medvl.tag.real",
               "data/synth_text.yaml", "medvl.align", "medvl.aligner", "medvl.align_llm", "medvl.readingorder",
               "medvl.split.labels", "medvl.llm.client", "medvl.llm.answers", "medvl.prompts"),
    "train": ("medvl.stages.train", "medvl.train"),
    "eval": ("medvl.stages.evaluation", "evaluate/__init__.py", "medvl.evaluate.zeroshot", "medvl.evaluate.retrieval",
             "medvl.evaluate.compare", "medvl.evaluate.stats", "medvl.train"),
    "judge": ("medvl.stages.judge", "medvl.evaluate.judge", "medvl.evaluate.stats", "medvl.split.metrics",
              "medvl.split.labels", "medvl.llm.client", "medvl.llm.answers", "medvl.prompts", "medvl.records"),
    "report": ("medvl.stages.report", "medvl.evaluate.report", "medvl.split.verbatim", "evaluate/templates",
               "medvl.evaluate.stats", "medvl.evaluate.judge", "medvl.align_llm", "medvl.tag.reportview",
               "medvl.split.metrics", "medvl.split.labels", "medvl.align", "medvl.aligner", "medvl.readingorder",
               "medvl.llm.client", "medvl.llm.answers", "medvl.prompts", "medvl.records"),
}
#: the release part of a built-in stage's version (bump it to name a change in the docs; the hash tells
#: code apart either way)
RELEASE = "1"


def _files(part: str) -> list[Path]:
    """The files `part` stands for, in a stable order."""
    if "/" in part:
        path = PACKAGE_ROOT / part
    elif part == "medvl" or part.startswith("medvl."):
        rel = part.split(".")[1:]
        base = PACKAGE_ROOT.joinpath(*rel) if rel else PACKAGE_ROOT
        path = base if base.is_dir() else base.with_suffix(".py")
    else:  # a plugin's module: ask the import system where it lives (imports its parents only)
        spec = importlib.util.find_spec(part)
        if spec is None or not spec.origin:
            raise ValueError(f"code_version: cannot find the module {part!r}")
        origin = Path(spec.origin)
        path = origin.parent if origin.name == "__init__.py" else origin
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and "__pycache__" not in p.parts
                       and p.suffix not in (".pyc", ".pyo"))
        if not files:
            raise ValueError(f"code_version: {part!r} is an empty folder")
        return files
    if not path.is_file():
        raise ValueError(f"code_version: no file for {part!r} ({path})")
    return [path]


@lru_cache(maxsize=None)
def code_sha(*parts: str) -> str:
    """sha256 over the files of `parts`, each preceded by its path relative to its part."""
    h = hashlib.sha256()
    for part in parts:
        for f in _files(part):
            rel = f.relative_to(PACKAGE_ROOT) if f.is_relative_to(PACKAGE_ROOT) else f.name
            h.update(f"{part}:{rel}".encode() + b"\0")
            h.update(f.read_bytes())
            h.update(b"\0")
    return h.hexdigest()


def code_version(*parts: str, release: str = RELEASE) -> str:
    """``"<release>+<sha12>"`` of the code in `parts` (see the module docstring)."""
    if not parts:
        raise ValueError("code_version needs at least one module")
    return f"{release}+{code_sha(*parts)[:12]}"


def stage_version(stage: str) -> str:
    """The version of a built-in stage: what its provenance rows and unit fingerprints carry."""
    return code_version(*STAGE_CODE[stage])
