"""The `split` stage: captions -> labelled subcaptions (SplitRow), resumable, with rejects.

INPUT is either a run directory (reads RUN_DIR/figures.jsonl; default output RUN_DIR/subcaptions.jsonl)
or a JSONL file whose lines have ``id`` and ``caption`` (nothing else required; default output
``<input stem>.subcaptions.jsonl`` beside it).

Units of work are shards of `shard_size` captions (in input order).  Each finished shard is written
with `RunDir.write_unit` (records + rejects + done marker), so a killed run keeps every finished shard
and a rerun does only the missing ones; the LLM answer cache (SQLite) also keeps every answer of an
unfinished shard, so those cost nothing again.  A shard's key holds a hash of its ids and captions, and
every done marker records the settings fingerprint (splitter, prompt sha, model, mode, params ...): a
rerun with other settings starts over instead of mixing outputs.

With the LLM splitter all pending captions are in flight together (bounded by the client's
concurrency); a shard is written as soon as its last caption is answered.  A dead server stops the
stage with `LLMUnavailable` after the finished shards were written.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medvl.errors import InputError
from medvl.progress import ProgressFn, no_progress
from medvl.records import Reject, SplitRow, sha256_text
from medvl.runs import RunDir, write_jsonl
from medvl.split.llm import DEFAULT_PROMPT, SPLIT_STAGE, SPLIT_STAGE_VERSION, rules_row, split_stats, tool_versions_split
from medvl.split.rules import RULES_VERSION

INPUT_KEY = "input"  # the unit that holds the rejects of reading the input


@dataclass
class SplitSummary:
    out: Path
    rejects_path: Path
    n_input: int  # usable captions
    n_rows: int  # rows in the merged output
    n_rejected: int
    n_shards: int
    n_shards_run: int  # shards done by this call (the rest were done before)
    restarted: bool  # settings changed since the last run: earlier parts were cleared
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


def _plan(items: list[tuple[str, str]], shard_size: int) -> list[tuple[str, list[tuple[str, str]]]]:
    shards = []
    for i in range(0, len(items), shard_size):
        chunk = items[i:i + shard_size]
        digest = sha256_text(json.dumps(chunk, ensure_ascii=False))[:10]
        shards.append((f"{i // shard_size:05d}-{digest}", chunk))
    return shards


def _marker_meta(rd: RunDir, key: str) -> dict:
    p = rd.parts_dir(SPLIT_STAGE) / f"{key}.done"
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _remove_unit(rd: RunDir, key: str) -> None:
    d = rd.parts_dir(SPLIT_STAGE)
    for suffix in (".done", ".jsonl", ".rejects.jsonl"):
        (d / f"{key}{suffix}").unlink(missing_ok=True)


# ---------------------------------------------------------------- the stage

def run_split(input_path: str | Path, out: str | Path | None = None, *, splitter: str = "rules",
              prompt: str = DEFAULT_PROMPT, llm_settings=None, shard_size: int = 32,
              prompts_dir: Path | None = None, use_cache: bool = True,
              progress: ProgressFn = no_progress) -> SplitSummary:
    """Split every caption of `input_path`; see the module docstring.  Returns a summary."""
    if splitter not in ("rules", "llm"):
        raise InputError(splitter, "bad_splitter", "splitter must be 'rules' or 'llm'")
    if shard_size < 1:
        raise InputError(str(shard_size), "bad_shard_size", "shard size must be at least 1")
    captions_file, rd, out_path, rejects_path, run_mode = _resolve_paths(Path(input_path),
                                                                         Path(out) if out else None)
    items, input_rejects = read_captions(captions_file)

    llm_splitter = None
    fingerprint: dict[str, Any] = {"splitter": splitter, "shard_size": shard_size, "rules": RULES_VERSION,
                                   "stage_version": SPLIT_STAGE_VERSION}
    if splitter == "llm":
        from medvl.split.llm import LLMSplitter

        if llm_settings is None:
            raise InputError("--llm-url", "no_llm", "the llm splitter needs --llm-url and --llm-model")
        if not use_cache:
            llm_settings = dataclasses.replace(llm_settings, cache_path=None)
        elif llm_settings.cache_path is None:
            llm_settings = dataclasses.replace(llm_settings, cache_path=rd.path / ".cache" / "llm-split.sqlite")
        llm_splitter = LLMSplitter.from_ref(llm_settings, prompt, prompts_dir)
        fingerprint.update(prompt=llm_splitter.prompt.ref, prompt_sha=llm_splitter.prompt.sha,
                           model=llm_settings.model, mode=llm_settings.mode,
                           params=llm_splitter.llm.request_params(llm_splitter.prompt),
                           max_reasks=llm_settings.max_reasks)
    fp = sha256_text(json.dumps(fingerprint, sort_keys=True))[:16]

    # resume: keep done shards made with the same settings and the same captions, drop the rest
    shards = _plan(items, shard_size)
    plan_keys = {k for k, _ in shards}
    done = rd.done_keys(SPLIT_STAGE) - {INPUT_KEY}
    restarted = any(_marker_meta(rd, k).get("fingerprint") != fp for k in done)
    if restarted:
        rd.clear_stage(SPLIT_STAGE)
        done = set()
    for k in done - plan_keys:
        _remove_unit(rd, k)
    done &= plan_keys
    rd.write_unit(SPLIT_STAGE, INPUT_KEY, [], input_rejects, meta={"fingerprint": fp, "source": str(captions_file)})
    pending = [(k, chunk) for k, chunk in shards if k not in done]
    settings = {**fingerprint, "input": str(input_path), "out": str(out_path),
                "llm": llm_settings.public() if llm_settings is not None else None}
    rd.update_manifest(SPLIT_STAGE, settings, tools=["instructor", "openai"] if splitter == "llm" else [])

    progress(0, total=sum(len(c) for _, c in pending))
    llm_stats: dict[str, int] = {}
    try:
        if llm_splitter is None:
            tools = tool_versions_split(False)
            for key, chunk in pending:
                rows = [rules_row(i, c, tools=tools) for i, c in chunk]
                rd.write_unit(SPLIT_STAGE, key, rows, meta={"fingerprint": fp, "n": len(rows)})
                progress(len(rows), note=f"shard {key[:5]}")
        elif pending:
            llm_splitter.llm.check_server()
            asyncio.run(_run_llm_shards(llm_splitter, rd, pending, fp, progress))
    finally:
        if llm_splitter is not None:
            llm_stats = dict(llm_splitter.llm.stats)
            llm_splitter.close()
        _merge(rd, out_path, rejects_path, run_mode)

    rows = list(rd.iter_unit_records(SPLIT_STAGE))
    n_rej = sum(1 for _ in rd.iter_unit_rejects(SPLIT_STAGE))
    return SplitSummary(out=out_path, rejects_path=rejects_path, n_input=len(items), n_rows=len(rows),
                        n_rejected=n_rej, n_shards=len(shards), n_shards_run=len(pending), restarted=restarted,
                        stats=split_stats(rows), llm_stats=llm_stats, settings=settings)


def _merge(rd: RunDir, out_path: Path, rejects_path: Path, run_mode: bool) -> None:
    """Rebuild the output (and rejects) from the done shards: finished work is always visible."""
    if run_mode and out_path == rd.path / "subcaptions.jsonl":
        rd.merge(SPLIT_STAGE, "subcaptions.jsonl")
        return
    write_jsonl(out_path, rd.iter_unit_records(SPLIT_STAGE))
    if run_mode:
        rd.merge_rejects()
    else:
        write_jsonl(rejects_path, rd.iter_unit_rejects(SPLIT_STAGE))


async def _run_llm_shards(splitter, rd: RunDir, pending: list[tuple[str, list[tuple[str, str]]]], fp: str,
                          progress: ProgressFn) -> None:
    from medvl.llm.client import LLMUnavailable

    rows: dict[str, list[SplitRow | None]] = {k: [None] * len(chunk) for k, chunk in pending}
    left = {k: len(chunk) for k, chunk in pending}

    async def one(key: str, j: int, item_id: str, caption: str) -> None:
        rows[key][j] = await splitter.asplit(item_id, caption)
        left[key] -= 1
        progress(1)
        if left[key] == 0:
            done_rows = rows.pop(key)
            rd.write_unit(SPLIT_STAGE, key, done_rows,  # type: ignore[arg-type]
                          meta={"fingerprint": fp, "n": len(done_rows), **split_stats(done_rows)})  # type: ignore[arg-type]

    tasks = [asyncio.ensure_future(one(k, j, i, c)) for k, chunk in pending for j, (i, c) in enumerate(chunk)]
    try:
        for fut in asyncio.as_completed(tasks):
            await fut
    except BaseException as exc:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if isinstance(exc, LLMUnavailable):
            n_done = len(pending) - len(rows)
            raise LLMUnavailable(f"{exc} ({n_done} of {len(pending)} pending shards finished and kept)") from exc
        raise
    finally:
        await splitter.llm.aclose()
