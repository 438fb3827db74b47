"""Run configuration: one YAML file names the inputs, the stages to run and their settings.

Example (see configs/*.yaml)::

    name: brain-mri
    out: runs/brain-mri                # RUN_DIR (``--out`` overrides)
    inputs:
      pdfs: data/brain-mri/papers      # a folder (searched recursively), one PDF, or a glob
    executor:
      kind: local                      # local | inline | ray
      workers: 8                       # default: the number of cores
      timeout_s: 120                   # per shard (one paper); default: each stage's own
    llm:
      urls: [http://gpu1:8000/v1, http://gpu2:8000/v1]   # or "a,b"; ${VAR} is expanded
      model: qwen2.5-7b-instruct
    stages:                            # run in the pipeline's order, whatever the order here
      parse: {dpi: 150}
      split: {splitter: llm}
      align: {}
      export: {}

Keys are checked (a typo fails with the file name, the section, the key and the nearest known
key); each stage's settings are checked by that stage before any stage runs (medvl/settings.py).  Relative paths are relative to the directory
medvl runs in.  ``stages`` may also be a plain list of names (default settings).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator

from medvl.errors import MedvlError
from medvl.settings import describe


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ExecutorSettings(_Strict):
    kind: str = "local"  # local | inline | ray | a plugin's (medvl.registry.EXECUTORS), checked before a run
    workers: int | None = Field(default=None, ge=1)
    address: str | None = None  # Ray: None (private local instance), "auto", "ray://head:10001"
    timeout_s: float | None = Field(default=None, gt=0)  # per shard; None: each stage's default
    memory_mb: int | None = Field(default=None, ge=64)  # cap each local worker's address space


class InputSettings(_Strict):
    pdfs: str | None = None  # folder (recursive), single PDF or glob
    xml: str | None = None  # folder of JATS XML when it is not beside the PDFs
    captions: str | None = None  # captions-only JSONL (id, caption) for split without PDFs
    paths: list[str] = Field(default_factory=list)  # PDF/XML files and folders, as `medvl parse` takes them


class DemoSettings(_Strict):
    papers: int = Field(default=60, ge=1)
    seed: int = 0


class LLMSettings(_Strict):
    urls: list[str] = Field(default_factory=list)
    model: str | None = None
    timeout_s: float | None = Field(default=None, gt=0)

    @field_validator("urls", mode="before")
    @classmethod
    def _split_urls(cls, v: Any) -> Any:
        if v is None:
            return []
        if isinstance(v, str):
            return [u.strip() for u in v.split(",") if u.strip()]
        return v

    @property
    def url(self) -> str | None:
        """The comma-separated form the LLM client takes."""
        return ",".join(self.urls) or None


class RunConfig(_Strict):
    name: str | None = None
    out: str | None = None
    inputs: InputSettings = Field(default_factory=InputSettings)
    demo: DemoSettings | None = None
    executor: ExecutorSettings = Field(default_factory=ExecutorSettings)
    llm: LLMSettings = Field(default_factory=LLMSettings)
    stages: dict[str, dict[str, Any]] = Field(default_factory=dict)
    plugins: list[str] = Field(default_factory=list)  # modules or .py files that register stages
    _source: str = PrivateAttr(default="<config>")  # the file (or option) it came from, for error messages

    @property
    def source(self) -> str:
        return self._source

    @field_validator("stages", mode="before")
    @classmethod
    def _stages(cls, v: Any) -> Any:
        if v is None:
            return {}
        if isinstance(v, str):
            v = [s.strip() for s in v.split(",") if s.strip()]
        if isinstance(v, list):
            out: dict[str, Any] = {}
            for item in v:
                if isinstance(item, str):
                    out[item] = {}
                elif isinstance(item, dict) and len(item) == 1:
                    out.update({k: (s or {}) for k, s in item.items()})
                else:
                    raise ValueError(f"a stage entry must be a name or {{name: settings}}, got {item!r}")
            return out
        if isinstance(v, dict):
            return {k: (s or {}) for k, s in v.items()}
        return v

    def resolved(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def _expand(obj: Any) -> Any:
    """Expand ${VAR} and ${VAR:-default} in every string of a loaded YAML document."""
    if isinstance(obj, str):
        def sub(m: re.Match) -> str:
            val = os.environ.get(m.group(1))
            if val is None or val == "":
                if m.group(2) is not None:
                    return m.group(2)
                if val is None:
                    raise MedvlError(f"environment variable {m.group(1)} is not set (used in the run config)")
            return val

        return _VAR.sub(sub, obj)
    if isinstance(obj, dict):
        return {k: _expand(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_expand(v) for v in obj]
    return obj


#: an LLM client's settings that change how a stage asks, not what the server answers: the server's address
#: (the model name is an output setting), requests in flight, time limits, retries and their back-off; a
#: request that timed out or failed is a fallback or failed row, which the stages ask again anyway
#: (retry_fallbacks, judge retry_failed). A stage's Stage.non_output starts with these.
LLM_NON_OUTPUT = ("url", "concurrency", "timeout_s", "transport_retries", "backoff_s", "backoff_max_s")


def with_llm_server(settings: dict[str, Any], config: "RunConfig") -> dict[str, Any]:
    """The run's LLM server (llm.url, llm.model, and llm.timeout_s unless the stage sets its own) in a
    stage's resolved settings: split, align and judge ask the same server."""
    settings["url"] = config.llm.url
    settings["model"] = config.llm.model
    if config.llm.timeout_s:
        settings.setdefault("timeout_s", config.llm.timeout_s)
    return settings


def config_from_dict(data: dict[str, Any], source: str = "<config>") -> RunConfig:
    try:
        cfg = RunConfig.model_validate(_expand(data))
    except ValidationError as exc:
        raise MedvlError(f"{source}: invalid run config: {describe(exc, RunConfig, '')}") from None
    cfg._source = source
    return cfg


def load_config(path: str | Path) -> RunConfig:
    """Read a run config YAML file; errors name the file and the key."""
    import yaml

    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise MedvlError(f"{path}: cannot read the run config ({exc.strerror or exc})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise MedvlError(f"{path}: not valid YAML ({exc})") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise MedvlError(f"{path}: a run config must be a mapping at the top level")
    return config_from_dict(data, str(path))


#: stages of a whole run on the built-in synthetic corpus (`medvl run --demo`)
DEMO_STAGES = ["synth", "parse", "split", "align", "tag", "export", "train", "eval", "judge", "report"]
#: stages of `medvl run --pdfs DIR` without a config file
DEFAULT_PDF_STAGES = ["parse", "split", "align", "tag", "export"]


def demo_config(papers: int = 60, seed: int = 0) -> RunConfig:
    """The built-in demo: a synthetic corpus through every stage (judge only with an LLM url)."""
    return RunConfig(name="demo", demo=DemoSettings(papers=papers, seed=seed),
                     stages={s: {} for s in DEMO_STAGES})
