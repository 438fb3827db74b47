"""Sentences of running article text, for the sentences that cite a figure (JATS and PDF alike)."""

from __future__ import annotations

import re

# a sentence ends at . ! ? followed by a space and an upper-case letter, a digit or a bracket, but not
# after an abbreviation that biomedical text puts before a number or a name ("Fig. 2", "et al. Smith",
# "e.g. CT", "vs. 3")
SENTENCE_END = re.compile(r"(?<!\bFig)(?<!\bFigs)(?<!\bet al)(?<!\be\.g)(?<!\bi\.e)(?<!\bvs)(?<!\bNo)(?<!\bRef)"
                          r"(?<!\bapprox)(?<!\bref)(?<!\bRefs)[.!?]\s+(?=[A-Z0-9(\[])")
MAX_SENTENCE_CHARS = 600  # a longer "sentence" is a paragraph that could not be cut: cut it here
MAX_REFERENCES = 6  # sentences kept per figure


def sentence_bounds(text: str) -> list[int]:
    """Start offsets of the sentences of `text`, then len(text) + 1 (so sentence k is bounds[k]:bounds[k+1])."""
    return [0] + [m.end() for m in SENTENCE_END.finditer(text)] + [len(text) + 1]


def sentence_at(text: str, bounds: list[int], at: int) -> str:
    """The sentence holding offset `at` (whitespace normalised, at most MAX_SENTENCE_CHARS)."""
    import bisect

    while at < len(text) and text[at].isspace():  # a citation right after a sentence's end is the next one's
        at += 1
    k = max(0, bisect.bisect_right(bounds, at) - 1)
    k = min(k, len(bounds) - 2)
    return " ".join(text[bounds[k]:bounds[k + 1]].split())[:MAX_SENTENCE_CHARS]


def add_reference(out: dict[str, list[str]], key: str, sentence: str) -> None:
    """Keep `sentence` as one citing figure `key`: once, in text order, at most MAX_REFERENCES."""
    have = out.setdefault(key, [])
    if sentence and sentence not in have and len(have) < MAX_REFERENCES:
        have.append(sentence)
