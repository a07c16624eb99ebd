"""Security basics: no secret in the repository beyond the documented development defaults, and the services of a
local or docker run reachable only from the machine itself unless told otherwise.

The ids-with-metacharacters round trip is in test_hostile_input.py (it needs a cleaning run).
"""

from __future__ import annotations

import inspect
import re
import subprocess
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]

#: shapes of real credentials (written so that these patterns do not match themselves)
CREDENTIAL_SHAPES = {
    "AWS access key id": r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b",
    "private key block": r"-{5}BEGIN (?:RSA |EC |OPENSSH |DSA |PGP )?PRIVATE KEY-{5}",
    "GitHub token": r"\bgh[pousr]_[A-Za-z0-9]{36,}\b",
    "Slack token": r"\bxox[abprs]-[A-Za-z0-9-]{10,}",
    "OpenAI-style key": r"\bsk-[A-Za-z0-9]{32,}\b",
    "Google API key": r"\bAIza[0-9A-Za-z_\-]{35}\b",
}
SECRET_NAME = re.compile(r"(PASSWORD|SECRET|TOKEN|FERNET|PRIVATE|API_?KEY|ACCESS_KEY)(?!\w*_(FILE|PATH|DIR)$)", re.I)


def _tracked() -> list[Path]:
    out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    files = [ROOT / p for p in out.decode().split("\0") if p]
    # docker/ is scanned whole, tracked or not (a stray docker/.env is the classic leak)
    files += [p for p in (ROOT / "docker").rglob("*") if p.is_file()]
    return sorted({p for p in files if p.exists() and p.stat().st_size < 2_000_000})


def _documented_defaults() -> dict[str, str]:
    """variable -> value of docker/README.md's "Development defaults (secrets)" table."""
    text = (ROOT / "docker" / "README.md").read_text()
    section = text.split("### Development defaults (secrets)", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `([A-Z0-9_]+)` \| (?:`([^`]*)`|\*\(empty\)\*) \|", section, re.M)
    return {name: value for name, value in rows}


def test_no_credential_shaped_string_in_the_tree():
    hits = []
    for path in _tracked():
        try:
            text = path.read_text(errors="ignore")
        except OSError:
            continue
        for label, pattern in CREDENTIAL_SHAPES.items():
            hits += [f"{path.relative_to(ROOT)}: {label}" for _ in re.finditer(pattern, text)]
        # credentials inside a URL (a user and password before the host), unless the password is a ${VARIABLE}
        for m in re.finditer(r"[a-z][a-z0-9+.-]*://([^\s:/@'\"]+):([^\s@'\"/]+)@", text):
            if not m.group(2).startswith("${"):
                hits.append(f"{path.relative_to(ROOT)}: password in URL {m.group(0)}")
    assert not hits, hits


def test_secret_defaults_are_the_documented_development_defaults():
    documented = _documented_defaults()
    assert {"POSTGRES_PASSWORD", "MINIO_ROOT_PASSWORD", "AIRFLOW_JWT_SECRET"} <= set(documented)
    undocumented = []
    for path in _tracked():
        if path.suffix not in {".yml", ".yaml", ".sh", ".py", ".toml", ".cfg", ".ini", ".env", ""}:
            continue
        text = path.read_text(errors="ignore")
        # ${VAR:-default} / ${VAR-default} with a secret-like name: the default must be the documented one
        for name, default in re.findall(r"\$\{([A-Z0-9_]+):?-([^}]*)\}", text):
            if SECRET_NAME.search(name) and default and documented.get(name) != default:
                undocumented.append(f"{path.relative_to(ROOT)}: {name} defaults to {default!r}")
        # NAME: value / NAME=value literals with a secret-like name (compose env blocks, shell, .env files)
        for name, value in re.findall(r"^\s*([A-Z][A-Z0-9_]*)\s*[:=]\s*['\"]?([^\s'\"$#{][^\s'\"]*)['\"]?\s*$",
                                      text, re.M):  # fmt: skip
            if SECRET_NAME.search(name) and value not in documented.values():
                undocumented.append(f"{path.relative_to(ROOT)}: {name} = {value!r}")
    assert not undocumented, undocumented


def test_no_env_file_with_real_values_is_committed():
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert not [p for p in tracked.splitlines() if Path(p).name == ".env" or Path(p).name.endswith(".pem")]


def test_published_ports_bind_to_loopback_by_default():
    """docker compose publishes every UI (Airflow, MLflow, Spark, MinIO) on 127.0.0.1 unless COLDREC_BIND_ADDRESS
    says otherwise."""
    compose = yaml.safe_load((ROOT / "docker" / "docker-compose.yml").read_text())
    published = [(name, str(m)) for name, svc in compose["services"].items() for m in svc.get("ports", [])]
    assert {name for name, _ in published} >= {"airflow-apiserver", "mlflow"}
    for name, mapping in published:
        assert mapping.startswith("${COLDREC_BIND_ADDRESS:-127.0.0.1}:"), (name, mapping)


def test_local_mode_binds_airflow_and_mlflow_to_loopback():
    """Local mode: the Airflow UI (`make ui` / `coldrec ui`) binds to ``COLDREC_UI__HOST``, 127.0.0.1 by default
    (Airflow's own default is 0.0.0.0), and the demo's MLflow hint binds its UI to 127.0.0.1."""
    from coldrec.config import Settings
    from coldrec.local_airflow import ui_env

    default = Settings.model_fields["ui"].default_factory() if Settings.model_fields["ui"].default is None else (
        Settings.model_fields["ui"].default)  # fmt: skip
    assert default.host == "127.0.0.1"
    assert '"AIRFLOW__API__HOST": ui.host' in inspect.getsource(ui_env)  # the server binds where the setting says
    assert "0.0.0.0" not in (ROOT / "scripts" / "demo.sh").read_text()
    assert "--host 127.0.0.1" in (ROOT / "scripts" / "demo_summary.py").read_text()
