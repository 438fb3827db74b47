"""Captions and body text for the synthetic corpus, assembled from medvl/data/synth_text.yaml.

A caption is built from *items*: one panel, a range of consecutive panels of the same class
("(A–C) ..."), or a combination of non-consecutive panels of the same class ("(B and D) ...").
Each item's description names the class, the modality and the location drawn in the image.

Ground-truth subcaptions follow these conventions (what a good splitter should produce):
  * label: normalised to an uppercase letter ("a", "(a)", "A)" -> "A"); positional labels stay
    lowercase words ("left", "right", "top", "bottom"); shared text gets "_shared";
  * ranges and combinations are expanded: "(A–C) text" gives A, B and C with the same text;
  * text: the verbatim span of the caption that describes the panel, without the label marker
    and without separators or final punctuation at its ends (compare with `norm_text`);
  * shared sentences (a leading title, a trailing note) are "_shared" entries, each verbatim,
    in caption order (so a caption may have a "_shared" entry first and another one last);
  * a single-panel figure without labels has no subcaptions (align pairs it whole).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any

import numpy as np
import yaml

CAPTION_STYLES = ("prefix_paren", "prefix_comma", "postfix", "range", "combined", "positional", "single")


@lru_cache(maxsize=1)
def vocab() -> dict[str, Any]:
    text = resources.files("medvl").joinpath("data/synth_text.yaml").read_text(encoding="utf-8")
    return yaml.safe_load(text)


def norm_text(text: str) -> str:
    """Comparison form of a subcaption: casefolded, single spaces, no end punctuation."""
    t = " ".join(text.split()).casefold()
    return t.strip(" .;,:")


def choice(rng: np.random.Generator, seq: list | tuple) -> Any:
    return seq[int(rng.integers(0, len(seq)))]


def _fill(template: str, info: dict[str, Any], rng: np.random.Generator) -> str:
    side = info.get("side", "right")
    vessel = choice(rng, vocab()["vessels"]).format(side=side)
    return template.format(loc=info.get("loc", ""), side=side, hemi=info.get("hemi", ""), vessel=vessel)


def panel_desc(cls: str, info: dict[str, Any], rng: np.random.Generator) -> str:
    """One panel's description, e.g. "Axial FLAIR image showing a hemorrhage in the left temporal lobe"."""
    c = vocab()["classes"][cls]
    findings = c["finding"].get(info.get("variant", "default")) or c["finding"]["default"]
    return f"{choice(rng, c['modality'])} {_fill(choice(rng, findings), info, rng)}"


def group_desc(cls: str, count: int, rng: np.random.Generator) -> str:
    """A description of several panels of one class, e.g. "Axial FLAIR images showing ... in three patients"."""
    v = vocab()
    c = v["classes"][cls]
    text = f"{choice(rng, c['modality_plural'])} {choice(rng, c['finding_plural'])}"
    if cls != "normal":
        text += f" in {v['count_words'][max(0, min(count, 6) - 2)]} patients"
    return text


@dataclass
class Item:
    panels: list[int]  # indices (reading order) this item describes
    text: str
    kind: str = "single"  # single | range | combined


@dataclass
class Caption:
    text: str  # body of the caption, without "Figure N. "
    subcaptions: list[dict[str, str]]
    panel_labels: list[str | None]  # label each panel is referred to by in the caption
    style: str
    letter_case: str
    extra: dict[str, Any] = field(default_factory=dict)


def letter(i: int, case: str) -> str:
    ch = chr(ord("A") + i)
    return ch if case == "upper" else ch.lower()


def build_caption(style: str, classes: list[str], infos: list[dict[str, Any]], items: list[Item],
                  rng: np.random.Generator, *, orientation: str = "row", letter_case: str = "upper") -> Caption:
    """Assemble caption text and its ground-truth subcaptions for `items` in the given `style`."""
    v = vocab()
    n = len(classes)
    title = choice(rng, v["titles"]) if rng.random() < 0.6 else ""
    trailing = choice(rng, v["trailing"]) if rng.random() < 0.25 else ""
    subs: list[dict[str, str]] = []
    labels: list[str | None] = [None] * n

    if style == "single":
        lead = choice(rng, v["single_titles"])
        desc = items[0].text
        text = f"{lead}{desc}."
        return Caption(text, [], labels, style, letter_case)

    if style == "positional":
        names = ["left", "right"] if orientation == "row" else ["top", "bottom"]
        variant = int(rng.integers(0, 3))
        parts = []
        for i, it in enumerate(items):
            nm = names[i]
            labels[i] = nm
            if variant == 0:
                parts.append(f"{nm.capitalize()}: {it.text}.")
            elif variant == 1:
                parts.append(f"{it.text} ({nm}).")
            else:
                parts.append(f"({nm.capitalize()}) {it.text}.")
            subs.append({"label": nm, "text": it.text})
        body = " ".join(parts)
        text = " ".join(t for t in (title, body, trailing) if t)
        return Caption(text, _with_shared(subs, title, trailing), labels, style, letter_case)

    dash = "\u2013" if rng.random() < 0.7 else "-"

    def marker(it: Item) -> str:
        ls = [letter(i, letter_case) for i in it.panels]
        if it.kind == "range":
            return f"{ls[0]}{dash}{ls[-1]}"
        if it.kind == "combined":
            return " and ".join(ls) if len(ls) == 2 else ", ".join(ls[:-1]) + " and " + ls[-1]
        return ls[0]

    form = style
    if style in ("range", "combined"):
        form = "postfix" if rng.random() < 0.25 else "prefix_paren"
    parts = []
    for it in items:
        m = marker(it)
        if form == "prefix_paren":
            parts.append(f"({m}) {it.text}.")
        elif form == "prefix_comma":
            parts.append(f"{m}, {it.text}")
        else:  # postfix
            parts.append(f"{it.text} ({m}).")
        for i in it.panels:
            labels[i] = letter(i, "upper")
            subs.append({"label": letter(i, "upper"), "text": it.text})
    body = "; ".join(parts) + "." if form == "prefix_comma" else " ".join(parts)
    text = " ".join(t for t in (title, body, trailing) if t)
    return Caption(text, _with_shared(subs, title, trailing), labels, style, letter_case, {"form": form, "dash": dash})


def _with_shared(subs: list[dict[str, str]], title: str, trailing: str) -> list[dict[str, str]]:
    """Shared sentences as verbatim "_shared" entries, in caption order."""
    out = [{"label": "_shared", "text": title.rstrip(".")}] if title else []
    out += subs
    if trailing:
        out.append({"label": "_shared", "text": trailing.rstrip(".")})
    return out


# ---------------------------------------------------------------- body text

def sentences(section: str, k: int, rng: np.random.Generator) -> list[str]:
    pool = list(vocab()["sections"][section])
    idx = rng.permutation(len(pool))[: min(k, len(pool))]
    return [pool[i] for i in idx]


def figure_ref(number: int, n_panels: int, rng: np.random.Generator) -> str:
    word = "Figure" if rng.random() < 0.7 else "Fig."
    r = rng.random()
    if n_panels >= 3 and r < 0.3:
        return f"{word} {number}A\u2013{chr(ord('A') + min(n_panels, 3) - 1)}"
    if n_panels >= 2 and r < 0.55:
        return f"{word} {number}{chr(ord('A') + int(rng.integers(0, n_panels)))}"
    return f"{word} {number}"


def figure_ref_sentence(number: int, n_panels: int, rng: np.random.Generator) -> str:
    return choice(rng, vocab()["figure_refs"]).format(ref=figure_ref(number, n_panels, rng))

