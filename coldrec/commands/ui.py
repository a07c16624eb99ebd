"""``coldrec ui``: the Airflow UI (api-server, scheduler, dag-processor, triggerer) on the local state."""

from __future__ import annotations

import typer

from coldrec.commands._common import settings_for


def register(app: typer.Typer) -> None:
    app.command("ui")(ui)


def ui(
    host: str | None = typer.Option(None, "--host", help="bind address (default: COLDREC_UI__HOST, 127.0.0.1)"),
    port: int | None = typer.Option(None, "--port", min=1, max=65535, help="port (default: COLDREC_UI__PORT, 8080)"),
    all_admins: bool | None = typer.Option(
        None, "--all-admins/--login", help="no login, every visitor admin (default: COLDREC_UI__ALL_ADMINS, login)"
    ),
) -> None:
    """Start a local Airflow 3 UI on the demo's (or the configured) landing, lake and home, with a local login.

    Prints the URL and the user/password to log in with (Airflow's simple auth manager; passwords are kept in
    AIRFLOW_HOME). The DAGs run their tasks from here like a scheduler on a server would. Ctrl-C stops everything.
    """
    from coldrec.local_airflow import run_ui

    flags = {"host": host, "port": port, "all_admins": all_admins}
    settings = settings_for(ui={k: v for k, v in flags.items() if v is not None})
    raise typer.Exit(run_ui(settings, echo=typer.echo))
