"""Registries for extension points: one decorator, or an entry point of an installed package."""

from __future__ import annotations

import textwrap

import pytest

from medvl.config import config_from_dict
from medvl.errors import MedvlError
from medvl.executors.local import InlineExecutor
from medvl.pipeline import EmptySettings, Shard, Stage, get_stage, register, run_pipeline
from medvl.registry import EXECUTORS, STAGE_PLUGINS, Registry


def test_a_registry_adds_by_decorator_and_names_the_nearest_on_a_typo():
    reg: Registry = Registry("widget", "medvl.i12-test-widgets")

    @reg.register("round")
    def round_widget():
        return "round"

    assert reg.get("round") is round_widget and reg.names() == ["round"] and "round" in reg
    with pytest.raises(ValueError, match="already registered"):
        reg.register("round", lambda: "other")
    with pytest.raises(MedvlError, match=r"unknown widget 'rond' \(did you mean 'round'\?\); known: round"):
        reg.get("rond")
    with pytest.raises(MedvlError, match=r"stages.x.widget: unknown widget 'sqare'"):
        reg.check("sqare", "stages.x.widget")


def _toy_stage(name: str) -> None:
    register(Stage(name, "1", order=4000, output=f"{name}.jsonl", settings_model=EmptySettings,
                   plan=lambda ctx: [Shard(key=k, fingerprint=k) for k in ("a", "b")],
                   run_shard=lambda sctx: ([{"key": sctx.key}], [])), replace=True)


class CountingExecutor(InlineExecutor):
    name = "i12_counting"
    calls = 0

    def map(self, fn, tasks, *, timeout_s=None):
        CountingExecutor.calls += len(tasks)
        return super().map(fn, tasks, timeout_s=timeout_s)


def test_a_new_executor_is_one_decorated_factory(tmp_path):
    EXECUTORS.register("i12_counting", lambda workers=None, **kw: CountingExecutor(), replace=True)
    _toy_stage("i12_reg_toy")
    cfg = config_from_dict({"executor": {"kind": "i12_counting"}, "stages": ["i12_reg_toy"]})
    res = run_pipeline(cfg, tmp_path / "run").stage("i12_reg_toy")
    assert res.state == "done" and res.ran == 2 and CountingExecutor.calls == 2
    bad = config_from_dict({"executor": {"kind": "lcoal"}, "stages": ["i12_reg_toy"]})
    with pytest.raises(MedvlError, match=r"executor.kind: unknown executor 'lcoal' \(did you mean 'local'\?\)"):
        run_pipeline(bad, tmp_path / "run2")
    assert not (tmp_path / "run2" / "run.json").exists()


def test_a_third_party_stage_comes_in_through_an_entry_point(tmp_path, monkeypatch):
    """An installed package (here: a dist-info folder on sys.path) names a module in the group medvl.stages;
    the stage it registers is found by name without any import or config `plugins:` entry."""
    site = tmp_path / "site"
    dist = site / "medvl_i12_plugin-0.1.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: medvl-i12-plugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[medvl.stages]\ni12_plugin = medvl_i12_plugin\n")
    (site / "medvl_i12_plugin.py").write_text(textwrap.dedent('''
        from medvl.pipeline import EmptySettings, Shard, Stage, register
        register(Stage("i12_from_entry_point", "1", order=4001, output="ep.jsonl", settings_model=EmptySettings,
                       plan=lambda ctx: [Shard(key="only", fingerprint="x")],
                       run_shard=lambda sctx: ([{"from": "entry point"}], [])), replace=True)
    '''))
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setattr(STAGE_PLUGINS, "_entry_points_loaded", False)
    assert "i12_plugin" in STAGE_PLUGINS.names()
    stage = get_stage("i12_from_entry_point")
    assert stage.order == 4001
    cfg = config_from_dict({"executor": {"kind": "inline"}, "stages": ["i12_from_entry_point"]})
    assert run_pipeline(cfg, tmp_path / "run").stage("i12_from_entry_point").records == 1
    assert (tmp_path / "run" / "ep.jsonl").read_text().strip() == '{"from": "entry point"}'
