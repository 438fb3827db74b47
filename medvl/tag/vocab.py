"""Tag vocabularies: versioned YAML files in medvl/tag/vocab/ (package data, like prompts).

A vocabulary file is ``<id>_v<version>.yaml`` (modality, anatomy, finding, context); a used version is
never edited: new wording is a new file, and the latest version of each id is loaded unless a version is
asked for.  The term syntax is described at the top of modality_v1.yaml.  ``VocabSet.sha`` (the
canonical sha256 of every loaded file's parsed content) goes into each tag row's stage version, so a
vocabulary change redoes the tag stage.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from medvl.errors import MedvlError
from medvl.prompts import canonical_sha

VOCAB_DIR = Path(__file__).resolve().parent / "vocab"
_FILE_RE = re.compile(r"^(?P<id>[a-z_]+)_v(?P<version>[0-9]+)\.yaml$")
IGNORE = "_ignore"  # a class whose matches only keep a longer phrase from being read as another term

# word edges that also work for terms ending in * or + ("T2*", "T1+C")
_START = r"(?<![A-Za-z0-9])"
_END = r"(?![A-Za-z0-9])"
_SEP = r"[\s\-\u2010\u2011\u2012\u2013/]?"  # a space or hyphen in a phrase: space, hyphen, slash or nothing


class VocabError(MedvlError):
    """A vocabulary file is missing or malformed."""


def phrase_regex(phrase: str, plural: bool = True) -> str:
    """'T2-weighted image' -> a regex where the space/hyphen may be a space, hyphen or nothing and
    the last word may take a plural s/es."""
    words = [w for w in re.split(r"[\s\-]+", phrase.strip()) if w]
    if not words:
        raise ValueError("empty phrase")
    body = _SEP.join(re.escape(w) for w in words)
    tail = "(?:s|es)?" if plural and words[-1][-1:].isalpha() else ""
    return _START + body + tail + _END


class LazyPattern:
    """A term's regex, compiled on first use: a text meets few of the ~1,500 terms, and compiling
    them all costs seconds per process."""

    __slots__ = ("pattern", "_rx")

    def __init__(self, pattern: str):
        self.pattern = pattern
        self._rx: re.Pattern | None = None

    def match(self, text: str, pos: int = 0):
        if self._rx is None:
            self._rx = re.compile(self.pattern)
        return self._rx.match(text, pos)

    def finditer(self, text: str):
        if self._rx is None:
            self._rx = re.compile(self.pattern)
        return self._rx.finditer(text)


@dataclass
class TermClass:
    name: str
    patterns: list[tuple[LazyPattern, float, str]]  # (regex, weight, the term as written)
    kinds: list[str] = field(default_factory=list)  # terms | abbrev | regex, per pattern

    def entries(self) -> list[tuple[LazyPattern, float, str, str]]:
        return [(rx, w, t, k) for (rx, w, t), k in zip(self.patterns, self.kinds)]


@dataclass
class Vocabulary:
    id: str
    version: int
    sha: str
    classes: list[TermClass]
    sequence: list[TermClass] = field(default_factory=list)
    implies: str | None = None
    implies_weight: float = 0.9
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def ref(self) -> str:
        return f"{self.id}@{self.version}"

    def names(self) -> list[str]:
        return [c.name for c in self.classes if c.name != IGNORE]

    def sequence_names(self) -> list[str]:
        return [c.name for c in self.sequence]


def _compile_class(name: str, spec: dict[str, Any], where: str) -> TermClass:
    if not isinstance(spec, dict):
        raise VocabError(f"{where}: class {name!r} must be a mapping of terms/abbrev/regex")
    unknown = set(spec) - {"terms", "abbrev", "regex", "signal"}
    if unknown:
        raise VocabError(f"{where}: class {name!r}: unknown key(s) {', '.join(sorted(unknown))}")
    patterns: list[tuple[LazyPattern, float, str]] = []
    kinds: list[str] = []
    for key in ("terms", "abbrev", "regex", "signal"):
        for item in spec.get(key) or []:
            weight = 1.0
            if isinstance(item, dict):
                weight = float(item.get("weight", 1.0))
                item = item.get("term")
            if not isinstance(item, str) or not item.strip():
                raise VocabError(f"{where}: class {name!r}: a {key} entry must be a string, got {item!r}")
            try:
                if key in ("terms", "signal"):  # signal: words about the image's look, read like terms
                    rx = LazyPattern("(?i:" + phrase_regex(item) + ")")  # escaped words: always valid
                elif key == "abbrev":
                    rx = LazyPattern(phrase_regex(item, plural=item[-1:].isalpha() and item[-1:].isupper()))
                else:
                    rx = LazyPattern("(?i:" + item + ")")
                    rx.match("")  # a raw regex is checked (compiled) now: a bad one fails at load
            except re.error as exc:
                raise VocabError(f"{where}: class {name!r}: bad {key} {item!r} ({exc})") from None
            patterns.append((rx, weight, item))
            kinds.append("terms" if key == "signal" else key)
    return TermClass(name, patterns, kinds)


def _load_file(path: Path) -> Vocabulary:
    import yaml

    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except (OSError, yaml.YAMLError) as exc:
        raise VocabError(f"{path}: cannot read the vocabulary ({exc})") from None
    m = _FILE_RE.match(path.name)
    if not isinstance(data, dict) or not m:
        raise VocabError(f"{path}: a vocabulary is a mapping in a file named <id>_v<version>.yaml")
    if data.get("id") != m["id"] or int(data.get("version", -1)) != int(m["version"]):
        raise VocabError(f"{path}: id/version inside ({data.get('id')}, {data.get('version')}) "
                         f"do not match the file name")
    sha = canonical_sha(data)
    classes = [_compile_class(n, s, str(path)) for n, s in (data.get("classes") or {}).items()]
    seq = data.get("sequence") or {}
    sequence = [_compile_class(n, s, str(path)) for n, s in (seq.get("classes") or {}).items()]
    return Vocabulary(m["id"], int(m["version"]), sha, classes, sequence, seq.get("implies"),
                      float(seq.get("implies_weight", 0.9)), data)


def available(folder: Path = VOCAB_DIR) -> dict[str, list[int]]:
    """id -> versions present."""
    out: dict[str, list[int]] = {}
    for p in sorted(folder.glob("*.yaml")):
        m = _FILE_RE.match(p.name)
        if m:
            out.setdefault(m["id"], []).append(int(m["version"]))
    return {k: sorted(v) for k, v in out.items()}


@dataclass
class VocabSet:
    modality: Vocabulary
    anatomy: Vocabulary
    finding: Vocabulary
    context: dict[str, Any]
    context_ref: str
    sha: str

    @property
    def refs(self) -> dict[str, str]:
        return {"modality": self.modality.ref, "anatomy": self.anatomy.ref, "finding": self.finding.ref,
                "context": self.context_ref}


REQUIRED = ("modality", "anatomy", "finding", "context")


@lru_cache(maxsize=8)
def _load_set(folder: str, versions: tuple[tuple[str, int], ...], stamp: tuple = ()) -> VocabSet:
    base = Path(folder)
    have = available(base)
    chosen: dict[str, Path] = {}
    asked = dict(versions)
    for vid in REQUIRED:
        if vid not in have:
            raise VocabError(f"{base}: no {vid}_v<N>.yaml vocabulary")
        v = asked.get(vid, have[vid][-1])
        if v not in have[vid]:
            raise VocabError(f"{base}: no version {v} of vocabulary {vid} (have {have[vid]})")
        chosen[vid] = base / f"{vid}_v{v}.yaml"
    mod, ana, fin = (_load_file(chosen[k]) for k in ("modality", "anatomy", "finding"))
    import yaml

    ctx = yaml.load(chosen["context"].read_text(encoding="utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    sha = canonical_sha({"modality": mod.sha, "anatomy": ana.sha, "finding": fin.sha, "context": canonical_sha(ctx)})
    return VocabSet(mod, ana, fin, ctx, f"context@{ctx.get('version')}", sha)


def load_vocab(versions: dict[str, int] | None = None, folder: str | Path = VOCAB_DIR) -> VocabSet:
    """The vocabularies (latest version of each unless `versions` pins one)."""
    base = Path(folder)
    # the files' sizes and times are part of the cache key: an edited file is read again
    stamp = tuple((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(base.glob("*.yaml")))
    return _load_set(str(base), tuple(sorted((versions or {}).items())), stamp)
