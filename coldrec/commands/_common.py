"""Options shared by every command, so ``--landing`` / ``--lake`` / ``--date`` mean the same everywhere."""

from __future__ import annotations

import datetime as dt
from typing import Any

import typer

from coldrec.config import Settings, load_settings

LandingOpt = typer.Option(None, "--landing", help="raw input root (overrides COLDREC_LANDING_URI)")
LakeOpt = typer.Option(None, "--lake", help="Delta lake root (overrides COLDREC_LAKE_URI)")
DateOpt = typer.Option(..., "--date", help="run date, YYYY-MM-DD (the partition this run writes)")


def settings_for(landing: str | None = None, lake: str | None = None, **overrides: Any) -> Settings:
    """Settings from the environment with this command's flags on top."""
    return load_settings({"landing_uri": landing, "lake_uri": lake, **overrides})


def parse_date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError as exc:
        raise typer.BadParameter(f"expected YYYY-MM-DD, got {value!r}") from exc
