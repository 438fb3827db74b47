"""One version per stage, derived from its code: the same string in provenance rows, done markers and unit
fingerprints, and a change to the code redoes the stage's units."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from medvl.config import config_from_dict
from medvl.pipeline import EmptySettings, Stage, get_stage, register, run_pipeline
from medvl.versioning import STAGE_CODE, code_sha, code_version, stage_version


def test_code_version_follows_every_byte_of_the_code(tmp_path, monkeypatch):
    mod = tmp_path / "i12_versioned_plugin.py"
    mod.write_text("RULE = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    first = code_version("i12_versioned_plugin")
    assert first.startswith("1+") and len(first) == 2 + 12
    assert code_version("i12_versioned_plugin") == first  # stable
    mod.write_text("RULE = 2\n")
    code_sha.cache_clear()
    assert code_version("i12_versioned_plugin") != first
    assert code_version("i12_versioned_plugin", release="2").startswith("2+")
    with pytest.raises(ValueError, match="cannot find"):
        code_version("no_such_module_i12")


def test_every_builtin_stage_has_one_version_in_provenance_and_registry():
    import medvl.align
    import medvl.collect.manifest
    import medvl.evaluate
    import medvl.evaluate.judge
    import medvl.export
    import medvl.parse
    import medvl.split.llm
    import medvl.synth.corpus
    import medvl.train

    provenance = {"parse": medvl.parse.STAGE_VERSION, "split": medvl.split.llm.SPLIT_STAGE_VERSION,
                  "align": medvl.align.STAGE_VERSION, "export": medvl.export.STAGE_VERSION,
                  "train": medvl.train.STAGE_VERSION, "eval": medvl.evaluate.STAGE_VERSION,
                  "judge": medvl.evaluate.judge.STAGE_VERSION, "collect": medvl.collect.manifest.STAGE_VERSION,
                  "synth": medvl.synth.corpus.SYNTH_VERSION}
    for name in STAGE_CODE:
        assert get_stage(name).version == stage_version(name), name
        if name in provenance:
            assert provenance[name] == get_stage(name).version, name
    # versions differ between stages (each hashes its own code)
    assert len({stage_version(n) for n in STAGE_CODE}) == len(STAGE_CODE)


PLUGIN = textwrap.dedent('''
    from medvl.pipeline import EmptySettings, Shard, Stage, register
    from medvl.versioning import code_version

    def plan(ctx):
        return [Shard(key=k, fingerprint=k) for k in ("a", "b", "c")]

    def run(sctx):
        return [{"key": sctx.key}], []

    register(Stage("i12_versioned", code_version("i12_versioned_code"), order=3000, output="v.jsonl",
                   plan=plan, run_shard=run, settings_model=EmptySettings), replace=True)
''')


def test_a_code_change_redoes_every_unit_and_is_recorded_in_the_markers(tmp_path, monkeypatch):
    code = tmp_path / "i12_versioned_code.py"
    code.write_text("X = 1\n")
    plugin = tmp_path / "i12_versioned_stage.py"
    plugin.write_text(PLUGIN)
    monkeypatch.syspath_prepend(str(tmp_path))
    cfg = config_from_dict({"plugins": [str(plugin)], "executor": {"kind": "inline"},
                            "stages": ["i12_versioned"]})
    run_dir = tmp_path / "run"
    first = run_pipeline(cfg, run_dir).stage("i12_versioned")
    assert first.ran == 3
    again = run_pipeline(cfg, run_dir).stage("i12_versioned")
    assert again.ran == 0 and again.reused == 3
    v1 = get_stage("i12_versioned").version
    markers = sorted((run_dir / ".parts" / "i12_versioned").glob("*.done"))
    assert [json.loads(m.read_text())["stage_version"] for m in markers] == [v1] * 3

    code.write_text("X = 2\n")  # the stage's code changed: its version (a hash of the code) changes
    code_sha.cache_clear()
    register(Stage("i12_versioned", code_version("i12_versioned_code"), order=3000, output="v.jsonl",
                   plan=get_stage("i12_versioned").plan, run_shard=get_stage("i12_versioned").run_shard,
                   settings_model=EmptySettings), replace=True)
    v2 = get_stage("i12_versioned").version
    assert v2 != v1
    redone = run_pipeline(cfg, run_dir).stage("i12_versioned")
    assert redone.ran == 3 and redone.reused == 0
    assert {json.loads(m.read_text())["stage_version"] for m in markers} == {v2}


@pytest.mark.slow
def test_real_stages_write_their_version_into_rows_and_markers(tmp_path):
    """parse, split and align on a synthetic paper: every row's provenance and every done marker carry the
    registered (code-derived) version."""
    from medvl.synth import generate_corpus

    generate_corpus(tmp_path / "c", papers=1, seed=3)
    cfg = config_from_dict({"inputs": {"pdfs": str(tmp_path / "c" / "papers")}, "executor": {"kind": "inline"},
                            "stages": ["parse", "split", "align"]})
    run_dir = tmp_path / "run"
    res = run_pipeline(cfg, run_dir)
    assert res.ok
    for stage, out in (("parse", "figures.jsonl"), ("split", "subcaptions.jsonl"), ("align", "pairs.jsonl")):
        version = get_stage(stage).version
        rows = [json.loads(line) for line in (run_dir / out).read_text().splitlines() if line.strip()]
        assert rows, stage
        assert {r["provenance"]["stage_version"] for r in rows} == {version}, stage
        markers = list((run_dir / ".parts" / stage).glob("*.done"))
        assert markers and {json.loads(m.read_text())["stage_version"] for m in markers} == {version}, stage



def _stage_module(name: str) -> Path:
    """The file (relative to medvl/) of the module that registers the built-in stage `name`."""
    import inspect

    import medvl.versioning as versioning

    stage = get_stage(name)
    return Path(inspect.getfile(stage.plan or stage.run_all)).resolve().relative_to(versioning.PACKAGE_ROOT)


def test_a_change_to_a_stage_module_changes_that_stages_version(tmp_path, monkeypatch):
    """The stage modules (medvl/stages/*.py: settings, units, the adapter to the stage's code) decide what a
    stage writes: a change to one changes that stage's version (on a copy of the medvl package)."""
    import shutil

    import medvl.versioning as versioning

    modules = {name: _stage_module(name) for name in STAGE_CODE}
    assert modules["split"] == Path("stages/split.py")
    copy = tmp_path / "medvl"
    shutil.copytree(versioning.PACKAGE_ROOT, copy, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    monkeypatch.setattr(versioning, "PACKAGE_ROOT", copy)
    code_sha.cache_clear()
    try:
        for name, rel in modules.items():
            before = stage_version(name)
            (copy / rel).write_text((copy / rel).read_text() + "\n# changed\n")
            code_sha.cache_clear()
            assert stage_version(name) != before, f"stage {name}: medvl/{rel} is not part of its version"
    finally:
        code_sha.cache_clear()


def test_the_tag_stage_version_covers_its_registration_and_stage_modules():
    import inspect

    from medvl.tag.stage import CODE, tag_paper
    from medvl.versioning import _files

    covered = {p.resolve() for part in CODE for p in _files(part)}
    assert Path(inspect.getfile(get_stage("tag").plan)).resolve() in covered  # medvl/tag/register.py
    assert Path(inspect.getfile(tag_paper)).resolve() in covered  # medvl/tag/stage.py


# --- STAGE_CODE covers every medvl module its modules import -------------------------------------------------

#: medvl modules that decide no stage's output: importing one of them needs no entry in STAGE_CODE
NOT_OUTPUT = {
    "medvl": "__init__: only __version__, a provenance field",
    "medvl.versioning": "computes the stage versions themselves",
    "medvl.errors": "exception classes and require(): messages, no rows",
    "medvl.progress": "progress callbacks",
    "medvl.runs": "run folders, atomic writes, jsonl read/write, tool_versions (provenance)",
    "medvl.pipeline": "the engine: scheduling, units, done markers",
    "medvl.one_stage": "runs one stage alone through the engine (judge_run): scheduling, no rows",
    "medvl.settings": "rejects unknown/ill-typed setting keys",
    "medvl.config": "reads the run config; settings that change rows are in the unit fingerprints",
    "medvl.registry": "finds implementations by name; what they do is in their own modules",
    "medvl.resources": "where built-in prompts/models/suites are; their contents are fingerprinted by the callers",
    "medvl.llm.cache": "answer cache keyed by everything that decides the answer",
    "medvl.collect.http": "HTTP transport: retries and Retry-After parsing for the LLM client",
}
#: (stage, module): imports that decide nothing of that stage's output, with the reason
NOT_OUTPUT_FOR = {
    ("train", "medvl.stages.export"): "only where export's files are; their contents are train_data_identity",
    ("eval", "medvl.stages.export"): "only where export's files are; their contents are data_identity",
    ("train", "medvl.records"): "sha256_file, for the data identity only",
    ("eval", "medvl.records"): "sha256_file and Reject rows of missing inputs",
}


def _module_of(path: Path) -> str:
    from medvl.versioning import PACKAGE_ROOT
    parts = list(path.relative_to(PACKAGE_ROOT.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_module(name: str) -> bool:
    from medvl.versioning import PACKAGE_ROOT
    base = PACKAGE_ROOT.parent.joinpath(*name.split("."))
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def _medvl_imports(path: Path) -> set[str]:
    """Every medvl module `path` imports, at the top or inside a function (``from pkg import submodule``
    counts as the submodule)."""
    import ast
    name = _module_of(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                head = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(head + ([node.module] if node.module else []))
            subs = {f"{base}.{alias.name}" for alias in node.names if _is_module(f"{base}.{alias.name}")}
            found |= subs if subs and len(subs) == len(node.names) else subs | {base}
    return {m for m in found if m == "medvl" or m.startswith("medvl.")}


def _covered_modules(parts: tuple[str, ...]) -> tuple[set[str], list[Path]]:
    """The module names (or package prefixes) `parts` stand for, and their .py files."""
    from medvl.versioning import _files
    names, files = set(), []
    for part in parts:
        py = [f for f in _files(part) if f.suffix == ".py"]
        files += py
        names |= {part} if "/" not in part else {_module_of(f) for f in py}
    return names, files


@pytest.mark.parametrize("stage", sorted([*STAGE_CODE, "tag"]))
def test_stage_code_covers_every_medvl_module_the_stage_imports(stage):
    from medvl.tag.stage import CODE as TAG_CODE  # tag versions itself

    names, files = _covered_modules(TAG_CODE if stage == "tag" else STAGE_CODE[stage])
    assert files, stage

    def covered(module):
        return (module in NOT_OUTPUT or (stage, module) in NOT_OUTPUT_FOR
                or any(module == n or module.startswith(n + ".") for n in names if n != "medvl"))

    missing = {}
    for f in files:
        for module in sorted(_medvl_imports(f)):
            if not covered(module):
                missing.setdefault(module, []).append(_module_of(f))
    where = "medvl/tag/stage.py CODE" if stage == "tag" else f"medvl/versioning.py STAGE_CODE[{stage!r}]"
    assert not missing, (f"{where} misses modules its code imports "
                         f"(add them, or to NOT_OUTPUT in {__file__} with the reason): {missing}")


def test_the_import_walk_sees_imports_inside_functions_and_submodules():
    from medvl.versioning import PACKAGE_ROOT
    export = _medvl_imports(PACKAGE_ROOT / "export.py")
    assert {"medvl.tag.keep", "medvl.synth.score", "medvl.align", "medvl"} <= export
    assert "medvl.split.rules" in _medvl_imports(PACKAGE_ROOT / "split" / "pieces.py")  # from medvl.split import rules
    assert "medvl.evaluate" not in _medvl_imports(PACKAGE_ROOT / "evaluate" / "judge.py")  # from medvl.evaluate import stats
