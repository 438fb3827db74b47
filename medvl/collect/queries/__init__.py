"""Saved PMC searches: YAML files with named queries (``medvl collect --saved NAME``).

Lookup order: a path to a YAML file given as NAME (``file.yaml`` or ``file.yaml:entry``);
``./queries/*.yaml``; ``$MEDVL_QUERIES_DIR/*.yaml``; then the copies shipped in this package
(``medvl/collect/queries/*.yaml``, identical to the repository's top-level ``queries/``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from medvl.errors import InputError

PACKAGED_DIR = Path(__file__).resolve().parent


@dataclass(frozen=True)
class SavedQuery:
    name: str
    term: str
    description: str
    file: Path


def _load_file(path: Path) -> dict[str, SavedQuery]:
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise InputError(str(path), "bad_queries_file", f"cannot read saved queries: {exc}") from exc
    entries = data.get("queries") if isinstance(data, dict) else None
    if not isinstance(entries, dict):
        raise InputError(str(path), "bad_queries_file", "expected a top-level 'queries:' mapping")
    out = {}
    for name, entry in entries.items():
        if isinstance(entry, str):
            entry = {"term": entry}
        if not isinstance(entry, dict) or not str(entry.get("term") or "").strip():
            raise InputError(str(path), "bad_queries_file", f"query {name!r} has no 'term'")
        term = " ".join(str(entry["term"]).split())
        out[str(name)] = SavedQuery(str(name), term, " ".join(str(entry.get("description") or "").split()), path)
    return out


def search_dirs() -> list[Path]:
    dirs = [Path.cwd() / "queries"]
    env = os.environ.get("MEDVL_QUERIES_DIR")
    if env:
        dirs.append(Path(env))
    dirs.append(PACKAGED_DIR)
    return dirs


def all_saved() -> dict[str, SavedQuery]:
    """Every saved query, the first definition of a name winning (user files before packaged)."""
    out: dict[str, SavedQuery] = {}
    for d in search_dirs():
        if not d.is_dir():
            continue
        for f in sorted(d.glob("*.yaml")):
            for name, q in _load_file(f).items():
                out.setdefault(name, q)
    return out


def load_saved(name: str) -> SavedQuery:
    """Find saved query `name` (or ``path.yaml[:entry]``); raise InputError with the known names."""
    file_part, entry = name, ""
    if ".yaml" in name:
        head, _, rest = name.partition(".yaml")
        file_part, entry = head + ".yaml", rest.lstrip(":")
    if file_part.endswith(".yaml") and Path(file_part).is_file():
        entries = _load_file(Path(file_part))
        if entry:
            if entry not in entries:
                raise InputError(file_part, "unknown_query", f"no query {entry!r}; it has {', '.join(entries)}")
            return entries[entry]
        if len(entries) == 1:
            return next(iter(entries.values()))
        raise InputError(file_part, "ambiguous_query",
                         f"holds several queries ({', '.join(entries)}); name one as {file_part}:NAME")
    known = all_saved()
    if name in known:
        return known[name]
    raise InputError(name, "unknown_query",
                     f"no saved query named {name!r}; known: {', '.join(sorted(known)) or 'none'}")
