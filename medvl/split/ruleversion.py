"""The rule splitter's version, derived from its code: it changes whenever a rule changes.

`rules_version()` is ``"rules-<release>+<sha12>"``: the release name the docs use, plus the first 12 hex
digits of the sha256 over the source of every module the rules are made of (`RULE_MODULES`). It goes
into each split row's provenance and into the split stage's resume fingerprint, so a rerun never keeps
splits that older rules made under the same version.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path

RULES_RELEASE = "1.6"  # the name SOURCEDATA.md / RADIOLOGY.md use; the hash is what tells code apart
# the modules whose code decides what the rule splitter writes (names inside medvl/split/): the rules
# (`split_caption`), their labels, and verbatim.py, which finds the caption offsets its rows store
RULE_MODULES = ("rules.py", "labels.py", "verbatim.py")


HERE = Path(__file__).resolve().parent


def rules_code_sha(root: Path = HERE, modules: tuple[str, ...] = RULE_MODULES) -> str:
    """sha256 over the rule modules' source bytes (in `root`), each preceded by its name."""
    h = hashlib.sha256()
    for name in modules:
        h.update(name.encode() + b"\0")
        h.update((root / name).read_bytes())
        h.update(b"\0")
    return h.hexdigest()


@lru_cache(maxsize=None)
def rules_version() -> str:
    return f"rules-{RULES_RELEASE}+{rules_code_sha()[:12]}"
