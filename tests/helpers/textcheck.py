"""Test helper shared by the gold and rule-splitter tests: is a subcaption text verbatim caption text?"""

from __future__ import annotations

from functools import lru_cache


def is_verbatim(text: str, caption: str) -> bool:
    """`text` is caption substrings joined with single spaces (the split spec's 'verbatim')."""

    @lru_cache(maxsize=None)
    def ok(pos: int) -> bool:
        if pos == len(text):
            return True
        for end in range(len(text), pos, -1):
            if (end == len(text) or text[end] == " ") and text[pos:end] in caption:
                if ok(end if end == len(text) else end + 1):
                    return True
        return False

    return ok(0)
