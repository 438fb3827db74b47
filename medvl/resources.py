"""Where medvl's built-in prompts, model configs and zero-shot suites are, in a checkout and in a wheel.

The sources stay at the repository's top level (prompts/, models/, eval/suites/: edited there, reviewed
there); the wheel carries copies as package data in medvl/data/{prompts,models,suites} (setup.py copies
them at build time).  :func:`builtin_dir` finds the packaged copy first, else the checkout's folder, so
`pip install medvl` and a checkout load the same files.  Users add their own folders with
$MEDVL_MODELS_DIR / $MEDVL_SUITES_DIR (os.pathsep lists, beside the built-in ones; a suite name is
looked up in users' folders first) and $MEDVL_PROMPTS_DIR (or --prompts-dir: used instead of the built-in
prompts, as before).
"""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_ROOT = Path(__file__).resolve().parent
#: kind -> its source folder at the repository's top level (setup.py copies each to medvl/data/<kind>)
SOURCES = {"prompts": "prompts", "models": "models", "suites": "eval/suites"}
#: kind -> the environment variable that names users' own folders
ENV = {"prompts": "MEDVL_PROMPTS_DIR", "models": "MEDVL_MODELS_DIR", "suites": "MEDVL_SUITES_DIR"}


def builtin_dir(kind: str) -> Path:
    """The built-in folder of `kind` (prompts, models, suites): the wheel's copy, else the checkout's."""
    packaged = PACKAGE_ROOT / "data" / kind
    if packaged.is_dir():
        return packaged
    return PACKAGE_ROOT.parent / SOURCES[kind]


def user_dirs(kind: str) -> list[Path]:
    """Users' own folders of `kind` from its environment variable (os.pathsep list), in order."""
    return [Path(p) for p in os.environ.get(ENV[kind], "").split(os.pathsep) if p]


def search_dirs(kind: str) -> list[Path]:
    """Users' folders first, then the built-in one; only those that exist."""
    return [d for d in dict.fromkeys([*user_dirs(kind), builtin_dir(kind)]) if d.is_dir()]
