"""Netskope records → OCSF 1.5.0: routing, one module per class, the mapper and the CLI.

Pure functions with no Airflow import, so the transform operator, the CLI and the tests share them.
The per-record modules run compiled when the install could compile them (see ``native``);
``IMPLEMENTATION`` says which implementation this process runs.
"""

from __future__ import annotations

from netskope_provider.ocsf.native import select

IMPLEMENTATION = select()

from netskope_provider.ocsf.mapper import MapCounts, Mapped, map_lines, map_record, map_records  # noqa: E402
from netskope_provider.ocsf.routing import classify  # noqa: E402

__all__ = ["IMPLEMENTATION", "MapCounts", "Mapped", "classify", "map_lines", "map_record", "map_records"]
