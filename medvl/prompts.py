"""Prompt registry: prompts are YAML files, never text in Python code.

A prompt file lives at ``prompts/<group>/<name>_v<version>.yaml`` and holds::

    id: split/fewshot            # <group>/<name>; must match the file's place
    version: 1                   # must match the file name; a used version is never edited
    description: one line for `medvl prompts ls`
    response_model: medvl.split.llm:SplitAnswer   # module:attribute of a pydantic model
    params: {temperature: 0.0, max_tokens: 512}   # generation parameters sent with each request
    system: |                    # Jinja template (StrictUndefined: a missing variable is an error)
      ...
    user: |                      # Jinja template
      Caption: {{ caption }}
    examples:                    # optional few-shot turns, rendered before the real user turn
      - input: {caption: "..."}  # variables for the user template
        output: {...}            # the assistant's answer (sent as JSON)

A prompt is referenced as ``split/fewshot@1`` (one version) or ``split/fewshot`` (the latest).
Its ``sha`` is the sha256 of the canonical content (the parsed YAML as sorted, compact JSON), so
comments and formatting do not change it but any change of wording, examples or params does.
Better wording is a new file with the next version; tests pin the sha of every shipped version.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from medvl.errors import MedvlError

_FILE_RE = re.compile(r"^(?P<name>[a-z0-9][a-z0-9_-]*?)_v(?P<version>[0-9]+)\.ya?ml$")
_REF_RE = re.compile(r"^(?P<id>[a-z0-9][a-z0-9_/-]*?)(?:@(?P<version>[0-9]+))?$")
_REQUIRED = ("id", "version", "description", "user")
_ALLOWED = {"id", "version", "description", "system", "user", "examples", "params", "response_model",
            "variables", "notes"}


class PromptError(MedvlError):
    """A prompt file is missing, malformed or used with missing variables."""


def default_prompts_dir() -> Path:
    """$MEDVL_PROMPTS_DIR, else medvl's built-in prompts (package data in a wheel, prompts/ in a checkout)."""
    env = os.environ.get("MEDVL_PROMPTS_DIR")
    if env:
        return Path(env)
    from medvl.resources import builtin_dir

    return builtin_dir("prompts")


def canonical_sha(data: dict) -> str:
    blob = json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


@lru_cache(maxsize=1)
def _jinja_env():
    from jinja2 import StrictUndefined
    from jinja2.sandbox import SandboxedEnvironment

    env = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=False,
                               trim_blocks=True, lstrip_blocks=True)
    env.filters["tojson_compact"] = lambda v: json.dumps(v, ensure_ascii=False)
    return env


@dataclass(frozen=True)
class Prompt:
    id: str
    version: int
    sha: str
    description: str
    user: str
    system: str | None = None
    examples: tuple[dict, ...] = ()
    params: dict[str, Any] = field(default_factory=dict)
    response_model: str | None = None
    path: Path | None = None

    @property
    def ref(self) -> str:
        return f"{self.id}@{self.version}"

    @property
    def short_sha(self) -> str:
        return self.sha[:12]

    # rendering -----------------------------------------------------------
    def _render(self, which: str, template: str, variables: dict) -> str:
        from jinja2 import TemplateError, UndefinedError

        try:
            return _jinja_env().from_string(template).render(**variables).strip()
        except UndefinedError as exc:
            raise PromptError(f"prompt {self.ref} ({which}): {exc.message}; "
                              f"given variables: {sorted(variables)}") from exc
        except TemplateError as exc:
            raise PromptError(f"prompt {self.ref} ({which}): template error: {exc}") from exc

    def messages(self, **variables: Any) -> list[dict]:
        """Chat messages: system, the few-shot turns, then the user turn with `variables`.

        A variable ``_images`` (a list of image URLs, e.g. PNG data URLs) makes the user turn a list of
        content parts: its text, then one ``image_url`` part per image (OpenAI / vLLM vision format)."""
        images = list(variables.pop("_images", None) or [])
        msgs: list[dict] = []
        if self.system:
            msgs.append({"role": "system", "content": self._render("system", self.system, variables)})
        for i, ex in enumerate(self.examples):
            ex_vars = {**variables, **(ex.get("input") or {})}
            msgs.append({"role": "user", "content": self._render(f"example {i + 1}", self.user, ex_vars)})
            out = ex.get("output")
            content = out if isinstance(out, str) else json.dumps(out, ensure_ascii=False)
            msgs.append({"role": "assistant", "content": content})
        text = self._render("user", self.user, variables)
        if images:
            parts: list[dict] = [{"type": "text", "text": text}]
            parts += [{"type": "image_url", "image_url": {"url": url}} for url in images]
            msgs.append({"role": "user", "content": parts})
        else:
            msgs.append({"role": "user", "content": text})
        return msgs

    def resolve_response_model(self):
        """Import the pydantic model named by `response_model` ("package.module:Name")."""
        if not self.response_model:
            raise PromptError(f"prompt {self.ref} names no response_model")
        mod, _, attr = self.response_model.partition(":")
        if not attr:
            mod, _, attr = self.response_model.rpartition(".")
        try:
            return getattr(importlib.import_module(mod), attr)
        except (ImportError, AttributeError) as exc:
            raise PromptError(f"prompt {self.ref}: cannot import response_model "
                              f"{self.response_model!r} ({exc})") from exc

    def info(self) -> dict:
        return {"ref": self.ref, "id": self.id, "version": self.version, "sha": self.sha,
                "description": self.description, "response_model": self.response_model,
                "params": dict(self.params), "examples": len(self.examples),
                "path": str(self.path) if self.path else None}


def parse_prompt_file(path: Path, prompts_dir: Path | None = None) -> Prompt:
    """Read and check one prompt file."""
    import yaml

    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise PromptError(f"{path}: cannot read prompt file ({exc})") from exc
    if not isinstance(data, dict):
        raise PromptError(f"{path}: a prompt file must be a YAML mapping")
    missing = [k for k in _REQUIRED if k not in data]
    if missing:
        raise PromptError(f"{path}: missing keys {missing}")
    unknown = sorted(set(data) - _ALLOWED)
    if unknown:
        raise PromptError(f"{path}: unknown keys {unknown} (allowed: {sorted(_ALLOWED)})")
    if not isinstance(data["version"], int) or data["version"] < 1:
        raise PromptError(f"{path}: version must be a positive integer")
    m = _FILE_RE.match(path.name)
    if not m:
        raise PromptError(f"{path}: file name must be <name>_v<version>.yaml")
    if int(m["version"]) != data["version"]:
        raise PromptError(f"{path}: file says version {m['version']} but content says {data['version']}")
    if prompts_dir is not None:
        group = path.parent.resolve().relative_to(Path(prompts_dir).resolve()).as_posix()
        expect = f"{group}/{m['name']}" if group != "." else m["name"]
        if data["id"] != expect:
            raise PromptError(f"{path}: id {data['id']!r} does not match its place ({expect!r})")
    examples = data.get("examples") or []
    if not isinstance(examples, list) or not all(isinstance(e, dict) and "output" in e for e in examples):
        raise PromptError(f"{path}: examples must be a list of {{input, output}} mappings")
    params = data.get("params") or {}
    if not isinstance(params, dict):
        raise PromptError(f"{path}: params must be a mapping")
    return Prompt(id=data["id"], version=data["version"], sha=canonical_sha(data),
                  description=str(data["description"]).strip(), user=data["user"],
                  system=data.get("system"), examples=tuple(examples), params=params,
                  response_model=data.get("response_model"), path=path)


def list_prompts(prompts_dir: Path | str | None = None) -> list[Prompt]:
    """Every prompt file under `prompts_dir`, sorted by id then version."""
    root = Path(prompts_dir) if prompts_dir else default_prompts_dir()
    if not root.is_dir():
        raise PromptError(f"prompts folder {root} does not exist")
    out = [parse_prompt_file(p, root) for p in sorted(root.rglob("*.y*ml")) if _FILE_RE.match(p.name)]
    seen: dict[str, Path] = {}
    for p in out:
        if p.ref in seen:
            raise PromptError(f"prompt {p.ref} is defined twice: {seen[p.ref]} and {p.path}")
        seen[p.ref] = p.path  # type: ignore[assignment]
    return sorted(out, key=lambda p: (p.id, p.version))


def load_prompt(ref: str, prompts_dir: Path | str | None = None) -> Prompt:
    """Load `group/name@version`, or the latest version of `group/name`."""
    m = _REF_RE.match(ref.strip())
    if not m:
        raise PromptError(f"bad prompt reference {ref!r} (expected e.g. split/fewshot@1)")
    root = Path(prompts_dir) if prompts_dir else default_prompts_dir()
    pid, version = m["id"], m["version"]
    group, _, name = pid.rpartition("/")
    folder = root / group if group else root
    if version is not None:
        for suffix in (".yaml", ".yml"):
            path = folder / f"{name}_v{int(version)}{suffix}"
            if path.exists():
                return parse_prompt_file(path, root)
    else:
        candidates = sorted(
            ((int(mm["version"]), p) for p in folder.glob(f"{name}_v*.y*ml")
             if (mm := _FILE_RE.match(p.name)) and mm["name"] == name),
            key=lambda t: t[0])
        if candidates:
            return parse_prompt_file(candidates[-1][1], root)
    known = ", ".join(p.ref for p in list_prompts(root)) if root.is_dir() else "none"
    raise PromptError(f"no prompt {ref!r} in {root} (known: {known})")
