"""A local Airflow on coldrec's state: its environment, its metadata DB and pools, and the UI's processes.

Why one module: `make demo` (``scripts/demo.sh``) and ``coldrec ui`` must agree on AIRFLOW_HOME, the DAG folder, the
Spark connection and the pools, or the UI would show another Airflow than the one the demo ran. The shell script
reads the same values through ``python -m coldrec.local_airflow --export``.

Nothing heavy is imported here (no Airflow either): Airflow runs in child processes with the environment built below.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import shlex
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from coldrec.config import PROJECT_ROOT, Settings, load_settings

#: The processes of a local Airflow 3 UI, in start order (the api-server also serves the tasks' execution API).
COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")

#: Pools the DAGs use: name -> (slots, description).
POOLS = {"spark": (2, "Spark jobs"), "gpu": (1, "GPU training and scoring")}

#: Always set, whatever the environment says: examples off, the project's DAGs, a real (not unit-test) Airflow.
FORCED = ("AIRFLOW__CORE__DAGS_FOLDER", "AIRFLOW__CORE__LOAD_EXAMPLES", "AIRFLOW__CORE__UNIT_TEST_MODE")


def airflow_env(settings: Settings | None = None, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a local Airflow on ``settings``' landing, lake and home.

    Values already in ``environ`` win (another AIRFLOW_HOME, an ``AIRFLOW_CONN_SPARK_DEFAULT``), except the ``FORCED``
    ones. No Spark connection is set: without one the DAGs' Spark tasks use ``COLDREC_SPARK_MASTER`` and the task's
    own Python (``coldrec.airflow_spark``). The interpreter's folder goes first on PATH so ``airflow`` and
    ``spark-submit`` are this venv's even when it is not activated.
    """
    settings = settings or load_settings()
    env = dict(os.environ if environ is None else environ)
    bin_dir = str(Path(sys.executable).parent)
    path = env.get("PATH", "")
    if bin_dir not in path.split(os.pathsep):
        env["PATH"] = os.pathsep.join(p for p in (bin_dir, path) if p)
    defaults = {
        "COLDREC_LANDING_URI": settings.landing_uri,
        "COLDREC_LAKE_URI": settings.lake_uri,
        "COLDREC_HOME": settings.home,
        "AIRFLOW_HOME": str(Path(settings.home) / "airflow"),
        "MLFLOW_TRACKING_URI": settings.tracking_uri,
    }
    for key, value in defaults.items():
        env.setdefault(key, value)
    env.update(
        {
            "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT_ROOT / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        }
    )
    return env


#: Variables a shop that has configured nothing does not have: coldrec's, Airflow's, MLflow's and PySpark's.
CONFIGURATION_PREFIXES = ("COLDREC_", "AIRFLOW", "MLFLOW", "PYSPARK")


def fresh_shop_env(
    base: Path, settings_env: Mapping[str, str], keep: Sequence[str] = (), environ: Mapping[str, str] | None = None
) -> dict[str, str]:
    """A local Airflow's environment for a new shop under ``base`` (``landing/``, ``lake/``, ``home/``, ``airflow/``).

    Why: the end-to-end tests and the first-night bench run what a data engineer's fresh shell runs, not the
    developer's configuration: ``environ`` (default: this process's) loses its ``CONFIGURATION_PREFIXES`` variables
    except those starting with one of ``keep``; ``settings_env`` (the run's ``COLDREC_*`` values, an Airflow
    connection, ...) goes on top; then :func:`airflow_env` on ``base``'s folders. MLflow is the SQLite file under
    ``home/`` (what the tasks use without ``MLFLOW_TRACKING_URI``).
    """
    environ = os.environ if environ is None else environ
    kept = tuple(keep)
    shell = {k: v for k, v in environ.items() if not k.startswith(CONFIGURATION_PREFIXES) or k.startswith(kept)}
    shell.update({"AIRFLOW_HOME": str(base / "airflow"), **settings_env})
    home = base / "home"
    settings = Settings(landing_uri=str(base / "landing"), lake_uri=str(base / "lake"), home=str(home),
                        mlflow_uri=f"sqlite:///{home / 'mlflow.db'}")  # fmt: skip
    return airflow_env(settings, shell)


def export_lines(env: Mapping[str, str], environ: Mapping[str, str] | None = None) -> list[str]:
    """``export K=V`` lines for the values of ``env`` that differ from ``environ`` (for ``eval`` in a shell)."""
    environ = os.environ if environ is None else environ
    return [f"export {k}={shlex.quote(v)}" for k, v in sorted(env.items()) if environ.get(k) != v]


def _airflow(env: Mapping[str, str], *args: str, timeout: float = 900) -> None:
    """Run one ``airflow`` CLI command; its output is shown only when it fails."""
    cmd = [sys.executable, "-m", "airflow", *args]
    proc = subprocess.run(cmd, env=dict(env), capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        output = proc.stdout[-3000:] + proc.stderr[-3000:]
        raise RuntimeError(f"{' '.join(cmd[2:])} failed ({proc.returncode}):\n{output}")


def prepare_metadata(env: Mapping[str, str]) -> None:
    """Create or upgrade the metadata DB and set the pools; idempotent (a second call changes nothing)."""
    Path(env["AIRFLOW_HOME"]).mkdir(parents=True, exist_ok=True)
    _airflow(env, "db", "migrate")
    for name, (slots, description) in POOLS.items():
        _airflow(env, "pools", "set", name, str(slots), description)


# --- the UI -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class UiLogin:
    """How to log in: the simple auth manager's users and their passwords (empty when every visitor is admin)."""

    url: str
    passwords: dict[str, str] = field(default_factory=dict)
    all_admins: bool = False
    passwords_file: str = ""

    def describe(self) -> list[str]:
        if self.all_admins:
            return [f"Airflow UI: {self.url}  (no login: every visitor is admin)"]
        users = ", ".join(f"{user} / {password}" for user, password in self.passwords.items())
        return [f"Airflow UI: {self.url}", f"login (user / password): {users}", f"passwords: {self.passwords_file}"]


def _client_host(host: str) -> str:
    """Where a local client reaches a server bound to ``host`` (a wildcard bind is reached on loopback)."""
    return "127.0.0.1" if host in ("0.0.0.0", "::", "") else host


def ui_env(env: Mapping[str, str], settings: Settings) -> dict[str, str]:
    """The Airflow settings of the UI's processes: bind address, execution API, simple auth manager users."""
    ui = settings.ui
    host = _client_host(ui.host)
    url_host = f"[{host}]" if ":" in host else host
    out = dict(env)
    out.update(
        {
            "AIRFLOW__API__HOST": ui.host,
            "AIRFLOW__API__PORT": str(ui.port),
            # tasks report to the api-server's execution API: it must be this server, not the default :8080
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://{url_host}:{ui.port}/execution/",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": str(ui.all_admins),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": ui.users,
        }
    )
    # A task's calls to the execution API time out after 5 s by default: on a busy 2-core machine the api-server can
    # take longer, and the task then fails before it starts (seen: httpx.ReadTimeout, then a retry 2 minutes later).
    out.setdefault("AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT", "60")
    out.setdefault(
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE",
        str(Path(env["AIRFLOW_HOME"]) / "simple_auth_manager_passwords.json.generated"),
    )
    return out


def ensure_passwords(env: Mapping[str, str]) -> dict[str, str]:
    """The password of every configured user, generating the missing ones into Airflow's passwords file.

    Airflow's simple auth manager generates them itself on start, but only in its log; writing the file first (in
    its format, a JSON object) lets ``coldrec ui`` print the credentials. Existing passwords are kept.
    """
    path = Path(env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"])
    text = path.read_text().strip() if path.exists() else ""
    passwords: dict[str, str] = json.loads(text) if text else {}
    users = [entry.split(":")[0].strip() for entry in env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"].split(",")]
    users = [u for u in users if u]
    missing = [u for u in users if u not in passwords]
    if missing:
        passwords.update({u: secrets.token_urlsafe(12) for u in missing})
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(passwords) + "\n")
        path.chmod(0o600)
    return {u: passwords[u] for u in users}


def _die_with_parent() -> None:
    """In the child before exec: get SIGTERM when ``coldrec ui`` dies, even by SIGKILL (Linux prctl)."""
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL(None).prctl(pr_set_pdeathsig, signal.SIGTERM)


@dataclass
class UiProcesses:
    """The UI's Airflow processes: one process group of their own, so one signal reaches all of their children."""

    procs: dict[str, subprocess.Popen]
    pgid: int
    log_dir: Path

    def exited(self) -> dict[str, int]:
        return {name: p.returncode for name, p in self.procs.items() if p.poll() is not None}

    def group_alive(self) -> bool:
        try:
            os.killpg(self.pgid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True

    def stop(self, timeout: float = 60.0) -> None:
        """SIGTERM to the whole group (components, their workers, running tasks), SIGKILL after ``timeout``."""
        for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 15.0)):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pgid, sig)
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline:
                for p in self.procs.values():
                    p.poll()
                if all(p.returncode is not None for p in self.procs.values()) and not self.group_alive():
                    return
                time.sleep(0.2)


def start_components(env: Mapping[str, str], log_dir: Path, components: Sequence[str] = COMPONENTS) -> UiProcesses:
    """Start each component with its log in ``log_dir``; all in one new process group (the first one's pid)."""
    log_dir.mkdir(parents=True, exist_ok=True)
    procs: dict[str, subprocess.Popen] = {}
    pgid = 0
    for name in components:
        with (log_dir / f"{name}.log").open("ab") as log:
            procs[name] = subprocess.Popen(
                [sys.executable, "-m", "airflow", name],
                env=dict(env),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                process_group=pgid,
                preexec_fn=_die_with_parent,
            )
        pgid = pgid or procs[name].pid
    return UiProcesses(procs=procs, pgid=pgid, log_dir=log_dir)


def api_health(url: str, timeout: float = 10.0) -> dict | None:
    """The api-server's ``/api/v2/monitor/health`` answer, or None while it does not answer."""
    try:
        with urllib.request.urlopen(f"{url}/api/v2/monitor/health", timeout=timeout) as resp:
            return json.loads(resp.read())
    except (OSError, ValueError):
        return None


def run_ui(
    settings: Settings,
    *,
    environ: Mapping[str, str] | None = None,
    ready_timeout: float = 600.0,
    echo: Callable[[str], None] = print,
) -> int:
    """Set up the metadata DB, start the UI's processes, print the URL and login, and run until a signal.

    SIGINT (Ctrl-C), SIGTERM and SIGHUP stop every child cleanly; a component that exits on its own stops the rest.
    Returns the exit status: 0 after a signal, 1 when a component died or the api-server never answered.
    """
    env = ui_env(airflow_env(settings, environ), settings)
    echo(f"Airflow home: {env['AIRFLOW_HOME']} (metadata DB and pools...)")
    prepare_metadata(env)
    login = UiLogin(
        url=f"http://{_client_host(settings.ui.host)}:{settings.ui.port}",
        passwords={} if settings.ui.all_admins else ensure_passwords(env),
        all_admins=settings.ui.all_admins,
        passwords_file=env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"],
    )
    stop_signal: list[int] = []

    def on_signal(signum: int, _frame: object) -> None:
        stop_signal.append(signum)

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    log_dir = Path(env["AIRFLOW_HOME"]) / "logs" / "coldrec-ui"
    procs = start_components(env, log_dir)
    echo(f"started {', '.join(f'{n} (pid {p.pid})' for n, p in procs.procs.items())}; logs in {log_dir}")
    status = 0
    try:
        deadline, ready = time.monotonic() + ready_timeout, False
        while not stop_signal:
            if dead := procs.exited():
                echo(f"stopping: {', '.join(f'{n} exited with {rc}' for n, rc in dead.items())} (see {log_dir})")
                status = 1
                break
            if not ready:
                if api_health(login.url, timeout=5) is not None:
                    ready = True
                    for line in login.describe():
                        echo(line)
                    echo("Ctrl-C stops every process.")
                elif time.monotonic() > deadline:
                    echo(f"stopping: the api-server did not answer in {ready_timeout:.0f} s (see {log_dir})")
                    status = 1
                    break
            time.sleep(1.0)
    finally:
        echo("stopping the Airflow processes...")
        procs.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    echo("stopped.")
    return status


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--export", action="store_true", help="print `export` lines of the local Airflow's env")
    parser.add_argument("--prepare", action="store_true", help="create/upgrade the metadata DB and set the pools")
    args = parser.parse_args(argv)
    env = airflow_env()
    if args.export:
        print("\n".join(export_lines(env)))
    if args.prepare:
        prepare_metadata(env)
    return 0


if __name__ == "__main__":
    sys.exit(main())
