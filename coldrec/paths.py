"""Where a lake table lives, without importing Spark (DAG files and Spark-free consumers use this too)."""

from __future__ import annotations

from coldrec.config import Settings


def table_path(settings: Settings, name: str) -> str:
    """Location of a table: ``silver.events`` -> ``<lake_uri>/silver/events``."""
    layer, _, table = name.partition(".")
    if not table or not layer:
        raise ValueError(f"table name must be 'layer.table', got {name!r}")
    return f"{settings.lake_uri.rstrip('/')}/{layer}/{table}"
