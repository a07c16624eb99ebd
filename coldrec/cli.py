"""The ``coldrec`` command line: every pipeline step, and the whole pipeline, from a shell.

Commands live in ``coldrec/commands/<area>.py``; each module exposes ``register(app)``. Global flags ``--landing``
and ``--lake`` override ``COLDREC_LANDING_URI`` / ``COLDREC_LAKE_URI`` for the command that follows.
"""

from __future__ import annotations

import importlib
import os
import pkgutil

import typer

import coldrec.commands

app = typer.Typer(
    name="coldrec",
    help="Cold-start product recommendation: clean, CF similarities, features, training, scoring, publishing.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)


@app.callback()
def main(
    landing: str | None = typer.Option(None, "--landing", help="raw input root (overrides COLDREC_LANDING_URI)"),
    lake: str | None = typer.Option(None, "--lake", help="Delta lake root (overrides COLDREC_LAKE_URI)"),
) -> None:
    """Global options apply to every command through the environment, so settings stay one object."""
    if landing:
        os.environ["COLDREC_LANDING_URI"] = landing
    if lake:
        os.environ["COLDREC_LAKE_URI"] = lake


def _register_all() -> None:
    for info in sorted(pkgutil.iter_modules(coldrec.commands.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"coldrec.commands.{info.name}")
        module.register(app)


_register_all()

if __name__ == "__main__":
    app()
