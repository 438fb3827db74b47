"""Build hook (metadata is in pyproject.toml): the wheel ships the top-level prompts/, models/ and
eval/suites/ (their sources, kept at the repository's top level) as package data in
medvl/data/{prompts,models,suites}, where medvl.resources finds them outside a checkout."""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
PACKAGE_DATA = {"prompts": "prompts", "models": "models", "suites": "eval/suites"}  # as in medvl/resources.py


class BuildPyWithData(build_py):
    def run(self):
        super().run()
        for name, src in PACKAGE_DATA.items():
            dst = Path(self.build_lib) / "medvl" / "data" / name
            shutil.rmtree(dst, ignore_errors=True)
            shutil.copytree(ROOT / src, dst, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))


setup(cmdclass={"build_py": BuildPyWithData})
