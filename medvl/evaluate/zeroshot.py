"""Zero-shot classification from a suite file (eval/suites/NAME.yaml).

A suite names classes, the phrases that describe each class and prompt templates.  The
classifier weight of a class is the mean of the normalised text embeddings of every
template x phrase; an image is assigned the class with the highest cosine similarity.
Images are scored only when their label (a metadata field such as the synthetic class)
maps to a suite class through the class's `labels` list; others are counted as unlabeled
or unmapped, never silently scored.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from medvl.errors import InputError
from medvl.resources import builtin_dir, search_dirs

SUITES_DIR = builtin_dir("suites")  # eval/suites/ in a checkout, package data in a wheel


class SuiteClass(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    names: list[str] = Field(min_length=1)  # phrases put into the templates
    labels: list[str] = Field(default_factory=list)  # data labels that mean this class


class Suite(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    version: str
    description: str = ""
    label_fields: list[str] = Field(default_factory=lambda: ["synthetic_class"])
    templates: list[str] = Field(min_length=1)
    classes: list[SuiteClass] = Field(min_length=2)

    @field_validator("version", mode="before")
    @classmethod
    def _str_version(cls, v):
        return str(v)

    @field_validator("templates")
    @classmethod
    def _templates_have_slot(cls, v: list[str]) -> list[str]:
        bad = [t for t in v if t.count("{}") != 1]
        if bad:
            raise ValueError(f"every template needs exactly one '{{}}' slot: {bad}")
        return v

    @model_validator(mode="after")
    def _unique(self) -> "Suite":
        ids = [c.id for c in self.classes]
        if len(set(ids)) != len(ids):
            raise ValueError(f"class ids repeat: {ids}")
        seen: dict[str, str] = {}
        for c in self.classes:
            for lab in [c.id, *c.labels]:
                key = norm_label(lab)
                if key in seen and seen[key] != c.id:
                    raise ValueError(f"label '{lab}' maps to both {seen[key]} and {c.id}")
                seen[key] = c.id
        return self

    def label_map(self) -> dict[str, str]:
        """Normalised data label -> class id (a class id is always one of its own labels)."""
        return {norm_label(lab): c.id for c in self.classes for lab in [c.id, *c.labels]}

    def class_of(self, label: str | None) -> str | None:
        if label is None:
            return None
        return self.label_map().get(norm_label(label))


def norm_label(label: str) -> str:
    return re.sub(r"[\s_\-/]+", " ", str(label)).strip().casefold()


def resolve_suite_path(suite: str | Path) -> Path:
    """A path to a YAML file, or a bare name looked up in eval/suites/."""
    p = Path(suite)
    if p.is_file():
        return p
    if p.suffix not in (".yaml", ".yml") and not p.parent.name:
        for d in search_dirs("suites"):  # $MEDVL_SUITES_DIR first, then the built-in suites
            cand = d / f"{p.name}.yaml"
            if cand.is_file():
                return cand
    where = ", ".join(str(d) for d in search_dirs("suites")) or str(SUITES_DIR)
    raise InputError(str(suite), "missing_suite", f"suite not found (give a YAML path or a name from {where})")


def load_suite(suite: str | Path) -> tuple[Suite, str]:
    """The validated suite and the sha256 of its file."""
    import yaml
    from pydantic import ValidationError

    from medvl.records import sha256_file

    path = resolve_suite_path(suite)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise InputError(str(path), "bad_yaml", f"not valid YAML ({exc})") from exc
    try:
        return Suite.model_validate(data), sha256_file(path)
    except ValidationError as exc:
        raise InputError(str(path), "bad_suite", str(exc)) from exc


def prompts_for(suite: Suite) -> list[list[str]]:
    """Per class, every template filled with every phrase."""
    return [[t.format(name) for t in suite.templates for name in c.names] for c in suite.classes]


def class_weights(text_features_per_class: Sequence[np.ndarray]) -> np.ndarray:
    """Mean of normalised prompt embeddings, renormalised: (n_classes, dim)."""
    rows = []
    for f in text_features_per_class:
        f = np.asarray(f, dtype=np.float64)
        f = f / np.maximum(np.linalg.norm(f, axis=1, keepdims=True), 1e-12)
        m = f.mean(axis=0)
        rows.append(m / max(np.linalg.norm(m), 1e-12))
    return np.stack(rows)


def classify(image_features: np.ndarray, weights: np.ndarray) -> np.ndarray:
    img = np.asarray(image_features, dtype=np.float64)
    img = img / np.maximum(np.linalg.norm(img, axis=1, keepdims=True), 1e-12)
    return (img @ weights.T).argmax(axis=1)


def zeroshot_metrics(pred: np.ndarray, truth: np.ndarray, class_ids: Sequence[str]) -> dict:
    """Accuracy, per-class recall and the confusion matrix (rows: truth, columns: prediction)."""
    k = len(class_ids)
    pred = np.asarray(pred, dtype=np.int64)
    truth = np.asarray(truth, dtype=np.int64)
    conf = np.zeros((k, k), dtype=np.int64)
    np.add.at(conf, (truth, pred), 1)
    per_class = {}
    for i, cid in enumerate(class_ids):
        n = int(conf[i].sum())
        per_class[cid] = {"n": n, "recall": float(conf[i, i] / n) if n else None}
    present = [v["recall"] for v in per_class.values() if v["recall"] is not None]
    n = int(len(truth))
    return {
        "n": n,
        "accuracy": float((pred == truth).mean()) if n else None,
        "balanced_accuracy": float(np.mean(present)) if present else None,
        "chance_accuracy": 1.0 / k if k else None,
        "per_class": per_class,
        "confusion": {"classes": list(class_ids), "matrix": conf.tolist()},
    }
