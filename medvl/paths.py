"""File names as text that any JSON writer accepts, with the original bytes recoverable.

POSIX file names are bytes; Python hands names that are not valid UTF-8 over as strings with lone
surrogates (``os.fsdecode``'s surrogateescape), which no UTF-8 JSON writer can write.  Records therefore
carry `path_text(name)`: the name itself when it is UTF-8, else each byte that is not UTF-8 written as
``\\xNN`` (``b"bad\\xff.pdf"`` -> ``"bad\\\\xff.pdf"``, what ``bytes.decode(errors="backslashreplace")``
gives).  `path_from_text` turns that text back into the name that opens the file.

That only works when a UTF-8 name never *contains* such an escape literally (a file really called
``bad\\xff.pdf`` with a backslash); such a name cannot be named safely: `path_text` raises `UnsafeName`
and the caller makes it a reject row with the reason.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from medvl.errors import MedvlError

_ESCAPE = re.compile(r"\\x[89a-fA-F][0-9a-fA-F]")  # what backslashreplace writes for a non-UTF-8 byte
_ESCAPE_B = re.compile(rb"\\x([89a-fA-F][0-9a-fA-F])")


class UnsafeName(MedvlError):
    """A file name that cannot be written as text that reads back to the same name."""

    def __init__(self, shown: str):
        self.shown = shown
        super().__init__(f"{shown}: the file name contains a literal '\\xNN' sequence, the escape medvl uses for "
                         f"bytes that are not UTF-8, so it could not be told apart from another name; rename the file")


def is_text_safe(name: str) -> bool:
    """Can `name` be written to UTF-8 JSON as it is (no lone surrogates)?"""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def path_text(path: str | os.PathLike | bytes) -> str:
    """The name as JSON-safe text that `path_from_text` reads back; raises UnsafeName when it cannot."""
    raw = os.fsencode(path)
    text = raw.decode("utf-8", errors="backslashreplace")
    if _ESCAPE.search(raw.decode("utf-8", errors="replace")):
        raise UnsafeName(text)
    return text


def shown_path(path: str | os.PathLike | bytes) -> str:
    """JSON-safe text for messages: `path_text`, or the escaped form even when it is ambiguous."""
    return os.fsencode(path).decode("utf-8", errors="backslashreplace")


def path_from_text(text: str) -> Path:
    """The file name `path_text` wrote (``\\xNN`` escapes become the original bytes again)."""
    raw = _ESCAPE_B.sub(lambda m: bytes([int(m.group(1), 16)]), text.encode("utf-8"))
    return Path(os.fsdecode(raw))


__all__ = ["UnsafeName", "is_text_safe", "path_text", "path_from_text", "shown_path"]
