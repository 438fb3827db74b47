"""Repair the text of fonts whose PDF maps symbols to the wrong characters (medvl/data/pdf_font_maps.yaml).

Some typesetting fonts carry no usable ToUnicode map: the text layer then reads "=" as "¼" and "[K+]"
as "½Kþ\\x8a", so a caption no longer matches its XML and the splitter reads nonsense.  The fix is
per font (the same character means "=" in one font and "¼" in another), from a data file of mappings
checked on real PDFs.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from typing import Any


@lru_cache(maxsize=1)
def font_maps() -> tuple[tuple[str, dict[int, str]], ...]:
    """(font name, str.translate table) for every font in the data file."""
    import yaml

    text = resources.files("medvl").joinpath("data/pdf_font_maps.yaml").read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    return tuple((name, {ord(k): v for k, v in table.items()}) for name, table in data["fonts"].items())


@lru_cache(maxsize=512)
def table_for(font: str) -> dict[int, str] | None:
    """The translation table of a PDF font name ("AdvP4C4E74", "KmxqjhAdvP4C4E74", "AdvOT999035f4+e1")."""
    for name, table in font_maps():
        if name in font:
            return table
    return None


def repair_spans(spans: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The spans with the text of mapped fonts translated (new dicts; other spans as they are)."""
    out = []
    for s in spans:
        table = table_for(s.get("font", ""))
        if table is not None and s.get("text"):
            fixed = s["text"].translate(table)
            if fixed != s["text"]:
                s = {**s, "text": fixed}
        out.append(s)
    return out
