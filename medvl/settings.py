"""Strict settings: one way to reject an unknown or ill-typed key, with the nearest known key.

Every config section (the run config's own keys and each stage's settings) goes through
:func:`check_keys` or :func:`validate_model` before anything runs, so a typo such as
``report: {fromat: md}`` fails at once with the file, the section, the key and a suggestion
instead of surfacing after training (or never).
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import json
import typing
from typing import Any, Iterable, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError, create_model

from medvl.errors import MedvlError

M = TypeVar("M", bound=BaseModel)


class StrictSettings(BaseModel):
    """Base of a stage's settings: unknown keys are errors, values are typed."""

    model_config = ConfigDict(extra="forbid")


def suggest(key: str, known: Iterable[str]) -> str:
    """' (did you mean 'format'?)' for the nearest known key, or '' when none is near."""
    near = difflib.get_close_matches(str(key), sorted(map(str, known)), n=1, cutoff=0.6)
    return f" (did you mean {near[0]!r}?)" if near else ""


def unknown_key(where: str, key: str, known: Iterable[str]) -> str:
    known = sorted(set(map(str, known)))
    return f"{where}.{key}: unknown setting{suggest(key, known)}; known: {', '.join(known) or 'none'}"


def check_keys(given: Iterable[str], known: Iterable[str], where: str) -> None:
    """Raise MedvlError naming every key of `given` that is not in `known`, each with a suggestion."""
    known = set(known)
    bad = sorted(set(given) - known)
    if bad:
        raise MedvlError("; ".join(unknown_key(where, k, known) for k in bad))


def _model_keys(model: type[BaseModel], loc: tuple[Any, ...]) -> set[str]:
    """The field names of the (nested) model that `loc` (without its last element) points into."""
    cls: Any = model
    for part in loc[:-1]:
        field = getattr(cls, "model_fields", {}).get(part)
        ann = getattr(field, "annotation", None)
        cands = [ann, *getattr(ann, "__args__", ())]
        nxt = next((c for c in cands if isinstance(c, type) and issubclass(c, BaseModel)), None)
        if nxt is None:
            return set()
        cls = nxt
    return set(getattr(cls, "model_fields", {}))


def describe(exc: ValidationError, model: type[BaseModel], where: str, given: bool = False) -> str:
    """One line per problem: 'where.section: unknown setting 'x' (did you mean 'y'?)' or the type error
    (`given`: followed by ', not VALUE', the value given)."""
    problems = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        place = ".".join(str(p) for p in (where, *loc[:-1]) if p != "") if err["type"] == "extra_forbidden" else \
            ".".join(str(p) for p in (where, *loc) if p != "")
        if err["type"] == "extra_forbidden" and loc:
            problems.append(unknown_key(place or "(top)", str(loc[-1]), _model_keys(model, loc)))
        else:
            problems.append(f"{place or '(top)'}: {err['msg']}" + (f", not {err['input']!r}" if given else ""))
    return "; ".join(problems)


def validate_model(model: type[M], data: Any, where: str, given: bool = False) -> M:
    """`model.model_validate(data)`, with errors as one clear MedvlError (see :func:`describe`)."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise MedvlError(describe(exc, model, where, given=given)) from None


@functools.lru_cache(maxsize=None)
def _typed_model(cls: type, loose: frozenset[str]) -> type[BaseModel]:
    """A strict pydantic model of the dataclass `cls`'s field types (less the `loose` fields)."""
    hints = typing.get_type_hints(cls)
    fields: dict[str, Any] = {f.name: (hints[f.name], None) for f in dataclasses.fields(cls) if f.name not in loose}
    return create_model(f"{cls.__name__}Types", __config__=ConfigDict(strict=True, extra="ignore"), **fields)


def check_types(cls: type, values: dict[str, Any], where: str, loose: Iterable[str] = ()) -> None:
    """Raise MedvlError naming every value of `values` that does not fit its field's type in the settings
    dataclass `cls` ('where.key: Input should be a valid integer, not 'hi''); keys that are no field, and the
    `loose` fields (the stage checks their several accepted shapes itself), are not looked at.

    Strict: an int field takes a whole number (not a bool, a float or a numeric string), a float field a
    number (an int too, not a bool), a str field a string, a Literal field one of its choices; lists stand for
    tuples, as in YAML.  The values are only checked, never converted: the stage gets them as given, so the
    resolved settings (and fingerprints) of a valid config stay what they were."""
    model = _typed_model(cls, frozenset(loose))
    data = {k: v for k, v in values.items() if k in model.model_fields}
    try:  # JSON mode: lists fit tuple fields in strict mode (Python mode wants real tuples)
        model.model_validate_json(json.dumps(data, default=str))
    except ValidationError as exc:
        raise MedvlError(describe(exc, model, where, given=True)) from None
