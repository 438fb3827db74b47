"""Test modules never import each other (what two test files share lives in tests/helpers/): importing a test
module runs its registrations and collects its tests twice, and couples the files."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent


def _test_module_imports(path: Path) -> list[str]:
    """The test modules (tests.test_* or test_*) that `path` imports, at the top or inside a function."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            names = [base] if base else []
            if base in ("tests", ""):  # from tests import test_x / from . import test_x
                names += [alias.name for alias in node.names]
        found += [n for n in names if n.split(".")[-1].startswith("test_") or n.startswith(("tests.test_", "test_"))]
    return found


def test_no_test_module_imports_another():
    offenders = {p.name: imps for p in sorted(TESTS.glob("test_*.py")) if (imps := _test_module_imports(p))}
    assert not offenders, f"move what they share into tests/helpers/: {offenders}"


def test_the_check_sees_each_form_of_import(tmp_path):
    for line in ("from tests.test_tag import build_run", "import tests.test_tag", "from tests import test_tag",
                 "def f():\n    from test_tag import PANELS"):
        (tmp_path / "test_x.py").write_text(line + "\n")
        assert _test_module_imports(tmp_path / "test_x.py"), line
    (tmp_path / "test_x.py").write_text("from tests.helpers.tag_run import build_run\nimport pytest\n")
    assert _test_module_imports(tmp_path / "test_x.py") == []
