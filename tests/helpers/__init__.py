"""Helpers shared by the tests (builders, fakes, paths), imported as ``tests.helpers.<module>`` (pytest's
pythonpath is the repository root). Test modules never import each other: what two test files need lives here."""
