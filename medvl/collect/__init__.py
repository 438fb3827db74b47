"""Collect open-access papers from PubMed Central: search (E-utilities), download (PMC cloud
bucket, Europe PMC), license filter, manifest.  See :func:`collect`.

Other stages need only :func:`medvl.collect.manifest.license_for` (a paper file's license).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from medvl.collect.collector import CollectSettings, CollectSummary, collect
    from medvl.collect.manifest import license_for

__all__ = ["collect", "CollectSettings", "CollectSummary", "license_for"]


def __getattr__(name: str) -> Any:
    if name in ("collect", "CollectSettings", "CollectSummary", "Collector"):
        from medvl.collect import collector

        return getattr(collector, name)
    if name == "license_for":
        from medvl.collect.manifest import license_for

        return license_for
    raise AttributeError(name)
