"""Strict response models: an LLM answer either matches its schema exactly or is a validation error.

Every response model a prompt names derives from `StrictAnswer`:

* unknown keys are an error (``extra="forbid"``; the JSON schema says ``additionalProperties: false``,
  so schema-guided decoding cannot add them either);
* no field has a default: a key the model left out is an error, never an empty list or ``None``
  that would turn a wrong answer into an empty one.  An empty list the model *wrote* stays an answer.

`check_strict` walks a model and the models nested in it and names the first loose field;
`StructuredLLM` calls it before asking, so a loose model fails at once with a clear message instead of
silently accepting answers such as ``{"answer": "...", "panels": 3}``.

Use it for every new response model::

    from medvl.llm.answers import StrictAnswer

    class Piece(StrictAnswer):
        label: str
        text: str

    class MyAnswer(StrictAnswer):
        pieces: list[Piece]
"""

from __future__ import annotations

import types
import typing
from typing import Any

from pydantic import BaseModel, ConfigDict

from medvl.errors import MedvlError


class LooseResponseModel(MedvlError):
    """A response model that would accept unknown keys or fill a missing key with a default."""


class StrictAnswer(BaseModel):
    """Base of LLM response models: unknown keys forbidden, every field required."""

    model_config = ConfigDict(extra="forbid")

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        problem = _own_problem(cls)
        if problem:  # a programming error in the model's definition: fail at import time
            raise TypeError(problem)


def _own_problem(model: type[BaseModel]) -> str | None:
    name = f"{model.__module__}.{model.__qualname__}"
    if model.model_config.get("extra") != "forbid":
        return (f"response model {name} accepts unknown keys: derive it from medvl.llm.answers.StrictAnswer "
                f"(extra='forbid')")
    for fname, field in model.model_fields.items():
        if not field.is_required():
            return (f"response model {name}: field {fname!r} has a default, so an answer without it would be "
                    f"accepted as empty; make it required (the prompt can ask for an empty list explicitly)")
    return None


def _nested_models(annotation: Any) -> list[type[BaseModel]]:
    out: list[type[BaseModel]] = []
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    origin = typing.get_origin(annotation)
    if origin is not None or isinstance(annotation, types.UnionType):
        for arg in typing.get_args(annotation):
            out.extend(_nested_models(arg))
    return out


def strict_problem(model: type[BaseModel]) -> str | None:
    """Why `model` (or a model nested in it) is not strict, or None when it is."""
    seen: set[type] = set()
    todo = [model]
    while todo:
        m = todo.pop()
        if m in seen:
            continue
        seen.add(m)
        problem = _own_problem(m)
        if problem:
            return problem
        for field in m.model_fields.values():
            todo.extend(_nested_models(field.annotation))
    return None


def check_strict(model: type[BaseModel]) -> type[BaseModel]:
    """Raise LooseResponseModel when `model` is not strict; return it otherwise."""
    problem = strict_problem(model)
    if problem:
        raise LooseResponseModel(problem)
    return model


__all__ = ["StrictAnswer", "LooseResponseModel", "check_strict", "strict_problem"]
