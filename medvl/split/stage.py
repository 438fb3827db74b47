"""The `split` stage: captions -> labelled subcaptions (SplitRow), resumable, with rejects.

INPUT is either a run directory (reads RUN_DIR/figures.jsonl; default output RUN_DIR/subcaptions.jsonl)
or a JSONL file whose lines have ``id`` and ``caption`` (nothing else required; default output
``<input stem>.subcaptions.jsonl`` beside it).

Units of work:

* **run directory**: one unit per paper, the same units as the pipeline's split stage (`medvl run`):
  one per done parse unit (``.parts/parse/<key>.jsonl``, the parts figures.jsonl is merged from), or,
  in a run directory without parse parts, figures.jsonl grouped by paper_id.  Both commands plan
  with :func:`iter_paper_units` and fingerprint with :func:`unit_fingerprint`, so either one reuses
  the units the other finished on the same run directory.
* **caption-only JSONL** (no paper ids): shards of `shard_size` captions (in input order); a shard's
  key holds a hash of its ids and captions.

Both kinds of input run through the pipeline engine (medvl/pipeline.py, the split stage of
medvl/stages/split.py), as `medvl run` runs the stage: each finished unit is written atomically with its done
marker, so a killed run keeps every finished unit and a rerun does only the missing ones; the LLM answer
cache (SQLite) also keeps every answer of an unfinished unit, so those cost nothing again.  A unit's
fingerprint hashes the settings that change the output (splitter, rules version, prompt and its sha, model,
mode, request params, re-asks; not the url, concurrency or timeouts) and the unit's input (its ids, captions
and input rejects).  A unit whose fingerprint differs is redone, and `medvl status` says why; when no
finished unit matches (the settings changed) the summary says the stage started over.

With the LLM splitter a unit's captions are in flight together (bounded by the client's concurrency); units
run one after another.  A dead server stops the stage with `LLMUnavailable` after the finished units were
written.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

from medvl.errors import InputError
from medvl.progress import ProgressFn, no_progress
from medvl.records import Reject, sha256_text
from medvl.runs import RunDir, read_jsonl, safe_key, write_jsonl
from medvl.registry import SPLITTERS
from medvl.split.llm import SPLIT_STAGE, SPLIT_STAGE_VERSION, split_stats
from medvl.split.rules import RULES_VERSION
from medvl.split.splitter import DEFAULT_PROMPT

INPUT_KEY = "input"  # the unit that holds the rejects of reading the input
PARSE_STAGE = "parse"  # the stage whose per-paper parts are the units of a run directory


@dataclass
class SplitSummary:
    out: Path
    rejects_path: Path
    n_input: int  # usable captions
    n_rows: int  # rows in the merged output
    n_rejected: int
    n_shards: int  # units of work: papers of a run directory, shards of a captions file
    n_shards_run: int  # units done by this call (the rest were done before)
    restarted: bool  # settings changed since the last run: earlier parts were cleared
    n_retried: int = 0  # done units asked again because they held fallback rows
    stats: dict[str, Any] = field(default_factory=dict)
    llm_stats: dict[str, int] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["out"], d["rejects_path"] = str(self.out), str(self.rejects_path)
        return d


# ---------------------------------------------------------------- input

def read_captions(path: Path, id_keys: tuple[str, ...] = ("id", "figure_id")) -> tuple[list[tuple[str, str]], list[Reject]]:
    """(id, caption) pairs from a JSONL file, and a Reject for every line that cannot be used."""
    items: list[tuple[str, str]] = []
    rejects: list[Reject] = []
    seen: set[str] = set()

    def reject(lineno: int, reason: str, detail: str, rid: str | None = None) -> None:
        rejects.append(Reject(stage=SPLIT_STAGE, source=f"{path}:{lineno}", id=rid, reason=reason,
                              detail=f"{path}:{lineno}: {detail}"))

    try:
        fh = open(path, encoding="utf-8")
    except OSError as exc:
        raise InputError(str(path), "unreadable", f"cannot read ({exc.strerror or exc})") from exc
    with fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                reject(lineno, "bad_json", f"not valid JSON ({exc.msg})")
                continue
            if not isinstance(row, dict):
                reject(lineno, "bad_json", "a line must be a JSON object with id and caption")
                continue
            rid = next((row[k] for k in id_keys if row.get(k) not in (None, "")), None)
            if rid is None:
                reject(lineno, "missing_id", f"no {' or '.join(id_keys)}")
                continue
            rid = str(rid)
            caption = row.get("caption")
            if not isinstance(caption, str):
                reject(lineno, "missing_caption", "no caption text", rid)
                continue
            if not caption.strip():
                reject(lineno, "empty_caption", "the caption is empty", rid)
                continue
            if rid in seen:
                reject(lineno, "duplicate_id", f"id {rid!r} appeared before; the first one is kept", rid)
                continue
            seen.add(rid)
            items.append((rid, caption))
    return items, rejects


def figure_items(rows: Iterable[tuple[str, Any]], source: str) -> tuple[list[tuple[str, str]], list[Reject]]:
    """(id, caption) pairs from figure records (parse output), and a Reject for every one without a
    usable caption.  `rows` holds (where, record) pairs; `where` names the record in a reject."""
    items: list[tuple[str, str]] = []
    rejects: list[Reject] = []
    seen: set[str] = set()
    for where, row in rows:
        if not isinstance(row, dict):
            rejects.append(Reject(stage=SPLIT_STAGE, source=where, reason="bad_json",
                                  detail=f"{where}: a figure record must be a JSON object"))
            continue
        rid = next((row[k] for k in ("figure_id", "id") if row.get(k) not in (None, "")), None)
        paper = row.get("paper_id")
        if rid is None:
            rejects.append(Reject(stage=SPLIT_STAGE, source=where, reason="missing_id",
                                  detail=f"{where}: a figure without figure_id", paper_id=paper))
            continue
        rid = str(rid)
        caption = row.get("caption")
        if not isinstance(caption, str) or not caption.strip():
            reason = "missing_caption" if not isinstance(caption, str) else "empty_caption"
            rejects.append(Reject(stage=SPLIT_STAGE, source=source, id=rid, reason=reason,
                                  detail=f"{source}: figure {rid} has {'no' if reason == 'missing_caption' else 'an empty'} "
                                         "caption", paper_id=paper))
            continue
        if rid in seen:
            rejects.append(Reject(stage=SPLIT_STAGE, source=source, id=rid, reason="duplicate_id",
                                  detail=f"{source}: figure {rid} appeared before; the first one is kept",
                                  paper_id=paper))
            continue
        seen.add(rid)
        items.append((rid, caption))
    return items, rejects


@dataclass
class SplitUnit:
    """One unit of work of the split stage: a paper (run directories) or a shard of captions."""

    key: str
    items: list[tuple[str, str]]  # (id, caption) to split, in order
    rejects: list[Reject] = field(default_factory=list)  # input rows of this unit that cannot be split
    source: str | None = None
    from_part: bool = False  # read from .parts/parse/<key>.jsonl: load_paper_unit reads it again

    @property
    def input_sha(self) -> str:
        """Hash of everything of the input that the unit's output depends on."""
        return sha256_text(json.dumps([self.items, [r.model_dump(mode="json") for r in self.rejects]],
                                      ensure_ascii=False))


def _part_rows(path: Path, source: str) -> Iterator[tuple[str, Any]]:
    for i, row in enumerate(read_jsonl(path), 1):
        yield f"{source}:{i}", row


def load_paper_unit(rd: RunDir, key: str) -> SplitUnit:
    """The split unit of one done parse unit (a paper): its figures' ids and captions."""
    part = rd.path / ".parts" / PARSE_STAGE / f"{safe_key(key)}.jsonl"
    source = f"{PARSE_STAGE}/{key}"
    try:
        items, rejects = figure_items(_part_rows(part, source), source) if part.exists() else ([], [])
    except ValueError as exc:  # a damaged part: the paper is rejected, the run goes on
        items, rejects = [], [Reject(stage=SPLIT_STAGE, source=source, id=key, reason="bad_json",
                                     detail=f"{part}: {exc}")]
    return SplitUnit(key=key, items=items, rejects=rejects, source=source, from_part=True)


def iter_paper_units(rd: RunDir) -> Iterator[SplitUnit]:
    """The per-paper units of a run directory, in key order: what `medvl split RUN_DIR` and the
    pipeline's split stage both plan.

    One unit per done parse unit (key = the parse key, i.e. the paper id), read from its part; a run
    directory without parse parts (figures.jsonl made elsewhere) is grouped by paper_id instead, with
    the lines that cannot be read in one more unit, INPUT_KEY."""
    parse_dir = rd.path / ".parts" / PARSE_STAGE
    keys = sorted(p.name[: -len(".done")] for p in parse_dir.glob("*.done")) if parse_dir.is_dir() else []
    if keys:
        for key in keys:
            yield load_paper_unit(rd, key)
        return
    figures = rd.file("figures.jsonl")
    if not figures.exists():
        return
    by_paper: dict[str, list[tuple[str, Any]]] = {}
    bad: list[Reject] = []
    with open(figures, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            where = f"{figures}:{lineno}"
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                bad.append(Reject(stage=SPLIT_STAGE, source=where, reason="bad_json",
                                  detail=f"{where}: not valid JSON ({exc.msg})"))
                continue
            paper = row.get("paper_id") if isinstance(row, dict) else None
            if not paper:
                bad.append(Reject(stage=SPLIT_STAGE, source=where, reason="missing_paper_id",
                                  detail=f"{where}: a figure record without paper_id",
                                  id=str(row.get("figure_id")) if isinstance(row, dict) else None))
                continue
            by_paper.setdefault(safe_key(str(paper)), []).append((where, row))
    for key in sorted(by_paper):
        items, rejects = figure_items(by_paper[key], "figures.jsonl")
        yield SplitUnit(key=key, items=items, rejects=rejects, source="figures.jsonl")
    if bad:
        yield SplitUnit(key=INPUT_KEY, items=[], rejects=bad, source=str(figures))


def settings_fingerprint(splitter: str, impl=None) -> dict[str, Any]:
    """The settings that change what the split stage writes (not the url, concurrency or timeouts):
    the splitter's name, the rules and stage versions, and what the splitter `impl` adds."""
    fp: dict[str, Any] = {"splitter": splitter, "rules": RULES_VERSION, "stage_version": SPLIT_STAGE_VERSION}
    if impl is not None:
        fp.update(impl.fingerprint())
    return fp


def fingerprint_sha(fingerprint: dict[str, Any]) -> str:
    return sha256_text(json.dumps(fingerprint, sort_keys=True))[:16]


def unit_fingerprint(settings_sha: str, unit: SplitUnit) -> str:
    """What a unit's done marker must carry for the unit to be reused (by either command)."""
    return sha256_text(f"split-unit:{settings_sha}:{unit.input_sha}")[:32]


RETRY_TAG = "+retry"  # a done unit's fingerprint with or without it: the same settings and input


def unit_has_fallbacks(rd: RunDir, key: str) -> bool:
    """Does the done split part of `key` hold a row that fell back from the LLM to the rules?"""
    part = rd.parts_dir(SPLIT_STAGE) / f"{safe_key(key)}.jsonl"
    try:
        return any(isinstance(r, dict) and r.get("fallback_reason") for r in read_jsonl(part))
    except (OSError, ValueError):
        return False


def planned_fingerprint(rd: RunDir, key: str, base: str, retry_fallbacks: bool) -> str:
    """The fingerprint a unit must carry to be reused; `base` is :func:`unit_fingerprint`.

    Fallbacks are not final: a done unit of the same settings and input that holds fallback rows (the
    server failed or the answer stayed invalid) gets the *other* of ``base`` / ``base+retry``, so both
    `medvl split` and `medvl run` redo it (accepted answers come from the cache, only the fallbacks are
    asked again).  A done unit without fallbacks keeps the one it has."""
    have = _marker_meta(rd, key).get("fingerprint")
    if have not in (base, base + RETRY_TAG):
        return base
    if retry_fallbacks and unit_has_fallbacks(rd, key):
        return base + RETRY_TAG if have == base else base
    return have


def _resolve_paths(input_path: Path, out: Path | None) -> tuple[Path, RunDir, Path, Path, bool]:
    """(captions file, work RunDir, output path, rejects path, run-dir mode)."""
    input_path = Path(input_path)
    if not input_path.exists():
        raise InputError(str(input_path), "missing", "no such file or run directory")
    if input_path.is_dir():
        figures = input_path / "figures.jsonl"
        if not figures.exists():
            raise InputError(str(input_path), "no_figures", "run directory without figures.jsonl (run parse first)")
        rd = RunDir(input_path)
        out = Path(out) if out else rd.path / "subcaptions.jsonl"
        return figures, rd, out, rd.path / "rejects.jsonl", True
    out = Path(out) if out else input_path.with_name(input_path.stem + ".subcaptions.jsonl")
    if out.resolve() == input_path.resolve():
        raise InputError(str(input_path), "out_is_input", "--out must not be the input file")
    rd = RunDir(out.parent / f".{out.name}.work")
    rejects = out.with_name(out.name[: -len(".jsonl")] + ".rejects.jsonl" if out.name.endswith(".jsonl")
                            else out.name + ".rejects.jsonl")
    return input_path, rd, out, rejects, False


def caption_shards(items: list[tuple[str, str]], shard_size: int) -> list[SplitUnit]:
    """Units of a caption-only file: `shard_size` captions each, keyed by position and content."""
    shards = []
    for i in range(0, len(items), shard_size):
        chunk = items[i:i + shard_size]
        digest = sha256_text(json.dumps(chunk, ensure_ascii=False))[:10]
        shards.append(SplitUnit(key=f"{i // shard_size:05d}-{digest}", items=chunk))
    return shards


def _marker_meta(rd: RunDir, key: str) -> dict:
    p = rd.parts_dir(SPLIT_STAGE) / f"{key}.done"
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def done_fingerprint(rd: RunDir, key: str) -> str | None:
    """The fingerprint in a split unit's done marker (None: not done)."""
    return _marker_meta(rd, key).get("fingerprint")


def _done_fingerprints(rd: RunDir) -> dict[str, str | None]:
    return {k: done_fingerprint(rd, k) for k in rd.done_keys(SPLIT_STAGE)}


# ---------------------------------------------------------------- the stage

def split_stage_settings(splitter: str, *, captions: Path | None, shard_size: int, prompt: str, llm_settings: Any,
                         prompts_dir: Path | None, use_cache: bool, retry_fallbacks: bool) -> dict[str, Any]:
    """The split stage's settings (the `split:` section of a run config) for `medvl split`'s options."""
    settings: dict[str, Any] = {"splitter": splitter}
    if captions is not None:
        settings.update(captions=str(Path(captions).resolve()), shard_size=shard_size)
    if SPLITTERS.get(splitter).needs_llm:
        ls = llm_settings
        settings.update(prompt=prompt, cache=use_cache, mode=ls.mode, timeout_s=ls.timeout_s, max_reasks=ls.max_reasks,
                        transport_retries=ls.transport_retries, concurrency=ls.concurrency, params=dict(ls.params),
                        backoff_s=ls.backoff_s, backoff_max_s=ls.backoff_max_s)
        if ls.cache_path is not None:
            settings["cache_path"] = str(ls.cache_path)
    elif prompt != DEFAULT_PROMPT:
        settings["prompt"] = prompt
    if prompts_dir is not None:
        settings["prompts_dir"] = str(prompts_dir)
    if not retry_fallbacks:
        settings["retry_fallbacks"] = False
    return settings


def run_split(input_path: str | Path, out: str | Path | None = None, *, splitter: str = "rules",
              prompt: str = DEFAULT_PROMPT, llm_settings=None, shard_size: int = 32,
              prompts_dir: Path | None = None, use_cache: bool = True, retry_fallbacks: bool = True,
              progress: ProgressFn = no_progress) -> SplitSummary:
    """Split every caption of `input_path`; see the module docstring.  Returns a summary.

    The split stage of the pipeline engine run alone (medvl/stages/split.py), as `medvl run` runs it: the
    same units, fingerprints, done markers, rejects and `medvl status`.  A captions file is the stage's
    setting `captions` over a work directory beside the output (``.<out>.work``); `shard_size` cuts it.
    `retry_fallbacks` (default): done units with LLM fallback rows are asked again (planned_fingerprint)."""
    from contextlib import nullcontext

    from medvl.config import ExecutorSettings, LLMSettings, RunConfig
    from medvl.errors import MedvlError
    from medvl.llm.client import LLMUnavailable
    from medvl.pipeline import Pipeline

    if shard_size < 1:
        raise InputError(str(shard_size), "bad_shard_size", "shard size must be at least 1")
    cls = SPLITTERS.get(SPLITTERS.check(splitter, "--splitter"))  # before any file is read or written
    if cls.needs_llm and llm_settings is None:
        raise InputError("--llm-url", "no_llm", f"the {splitter} splitter needs --llm-url and --llm-model")
    captions_file, rd, out_path, rejects_path, run_mode = _resolve_paths(Path(input_path),
                                                                         Path(out) if out else None)
    settings = split_stage_settings(splitter, captions=None if run_mode else captions_file, shard_size=shard_size,
                                    prompt=prompt, llm_settings=llm_settings, prompts_dir=prompts_dir,
                                    use_cache=use_cache, retry_fallbacks=retry_fallbacks)
    llm = LLMSettings(urls=llm_settings.url, model=llm_settings.model) if cls.needs_llm else LLMSettings()
    config = RunConfig(executor=ExecutorSettings(kind="inline"), llm=llm, stages={SPLIT_STAGE: settings})
    config._source = "medvl split"

    def bars(description: str, total: int | None):
        progress(0, total=total, note="")
        return nullcontext(progress)

    before = _done_fingerprints(rd)
    res = Pipeline(config, rd.path, bars=bars, only=[SPLIT_STAGE]).run_all().stage(SPLIT_STAGE)
    after = _done_fingerprints(rd)
    if not (run_mode and out_path == rd.path / "subcaptions.jsonl"):  # the engine merged into RUN_DIR
        write_jsonl(out_path, rd.iter_unit_records(SPLIT_STAGE))
        if not run_mode:
            write_jsonl(rejects_path, rd.iter_unit_rejects(SPLIT_STAGE))
    ran = {k for k, fp in after.items() if before.get(k) != fp} - {INPUT_KEY}
    if res is None or res.state != "done":
        message = res.message if res else "did not run"
        aborted = [f for f in failures_of(rd) if f.get("kind") == "abort"]
        if isinstance(res.error if res else None, LLMUnavailable):
            raise res.error  # type: ignore[misc]
        if aborted and cls.needs_llm:  # the server died: the finished units are written and kept
            raise LLMUnavailable(f"{aborted[0].get('detail')} ({len(ran)} of {len(ran) + len(aborted)} pending "
                                 "units finished and kept)")
        raise MedvlError(f"split: {message}")

    def base(fp: str | None) -> str | None:
        return fp[: -len(RETRY_TAG)] if fp and fp.endswith(RETRY_TAG) else fp

    units = [k for k in after if k != INPUT_KEY]
    retried = {k for k in ran if k in before and base(before[k]) == base(after[k])}
    stale = {k for k in ran if k in before and base(before[k]) != base(after[k])}
    restarted = bool(stale) and not any(before.get(k) == after[k] for k in units)
    llm_stats: dict[str, int] = {}
    for k in ran:
        for name, n in (_marker_meta(rd, k).get("llm") or {}).items():
            llm_stats[name] = llm_stats.get(name, 0) + int(n)
    rows = list(rd.iter_unit_records(SPLIT_STAGE))
    summary_settings = {"splitter": splitter, "units": "paper" if run_mode else f"{shard_size} captions",
                        "input": str(input_path), "out": str(out_path),
                        "llm": llm_settings.public() if llm_settings is not None and cls.needs_llm else None}
    if not run_mode:
        summary_settings["shard_size"] = shard_size
    return SplitSummary(out=out_path, rejects_path=rejects_path, n_input=len(rows), n_rows=len(rows),
                        n_rejected=sum(1 for _ in rd.iter_unit_rejects(SPLIT_STAGE)), n_shards=len(units),
                        n_shards_run=len(ran), restarted=restarted, n_retried=len(retried), stats=split_stats(rows),
                        llm_stats=llm_stats, settings=summary_settings)


def failures_of(rd: RunDir) -> list[dict[str, Any]]:
    from medvl.pipeline import failures

    return failures(rd, SPLIT_STAGE)
