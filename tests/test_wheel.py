"""The wheel works outside the checkout: it carries the prompts, model configs and zero-shot suites (sources at
the repository's top level, package data in the wheel), a model config loads from it (register_models, then
open_clip by name, as train and eval do), and stage versions are the same as in the checkout."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

PROBE = textwrap.dedent('''
    import json, sys
    import medvl
    from medvl.prompts import load_prompt
    from medvl.evaluate.zeroshot import load_suite
    from medvl.train import local_model_names, model_dirs, register_models
    from medvl.versioning import stage_version
    p = load_prompt("split/fewshot@1")
    suite, sha = load_suite("brain")
    import open_clip  # how train and eval read a model config: register medvl's folders, then open_clip by name
    registered = register_models()
    net = open_clip.create_model("medvl-tiny")
    print(json.dumps({"medvl": medvl.__file__, "prompt": p.ref, "prompt_sha": p.sha, "prompt_path": str(p.path),
                      "suite_sha": sha, "suite_classes": len(suite.classes), "models": local_model_names(),
                      "model_dirs": [str(d) for d in model_dirs()], "parse_version": stage_version("parse"),
                      "registered": "medvl-tiny" in registered, "tiny_config": open_clip.get_model_config("medvl-tiny"),
                      "config_paths": [str(d) for d in open_clip.factory._MODEL_CONFIG_PATHS],
                      "tiny_params": sum(t.numel() for t in net.parameters())}))
''')


@pytest.mark.slow
def test_wheel_installed_outside_the_checkout_loads_prompts_models_and_suites(tmp_path):
    # build from a copy of the tracked (and new, not ignored) files, so the checkout gets no build/ folder
    src = tmp_path / "src"
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True,
                           text=True, check=True).stdout.split("\n")
    for rel in filter(None, files):
        if (ROOT / rel).is_file():
            (src / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / rel, src / rel)
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                    str(wheels), str(src)], check=True, capture_output=True, timeout=300)
    (wheel,) = wheels.glob("medvl-*.whl")
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site), str(wheel)],
                   check=True, capture_output=True, timeout=300)
    assert not (site / "prompts").exists() and (site / "medvl" / "data" / "prompts").is_dir()

    # run from an empty folder with only the installed copy first on the path (the shared venv's other
    # packages stay importable; its editable medvl comes after PYTHONPATH)
    cwd = tmp_path / "elsewhere"
    cwd.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDVL_")}
    env["PYTHONPATH"] = str(site)
    out = subprocess.run([sys.executable, "-c", PROBE], cwd=cwd, env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout)
    assert Path(got["medvl"]).resolve().is_relative_to(site.resolve())
    assert Path(got["prompt_path"]).resolve().is_relative_to((site / "medvl" / "data" / "prompts").resolve())
    assert got["prompt"] == "split/fewshot@1"
    assert got["model_dirs"] == [str((site / "medvl" / "data" / "models").resolve())]
    assert "medvl-tiny" in got["models"]
    # a model config loads from the wheel's copy, as training and evaluation load it, and builds a model
    assert got["registered"] and str((site / "medvl" / "data" / "models").resolve()) in got["config_paths"]
    assert not any(Path(d).resolve() == (ROOT / "models").resolve() for d in got["config_paths"])
    assert got["tiny_config"] == json.loads((ROOT / "models" / "medvl-tiny.json").read_text())
    assert got["tiny_params"] > 0
    assert got["suite_classes"] >= 2

    # the same files as the checkout's sources, and the same stage version (the code is the same)
    from medvl.evaluate.zeroshot import load_suite
    from medvl.prompts import load_prompt
    from medvl.versioning import stage_version

    assert got["prompt_sha"] == load_prompt("split/fewshot@1", ROOT / "prompts").sha
    assert got["suite_sha"] == load_suite(ROOT / "eval" / "suites" / "brain.yaml")[1]
    assert got["parse_version"] == stage_version("parse")
