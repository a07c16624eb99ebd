"""The installed ``coldrec`` console script works without an activated venv.

A new shop runs ``.venv/bin/coldrec similarities`` from a plain shell: PATH has only the system directories, so a
bare ``python3`` there has neither numpy nor coldrec. Spark's Python workers must still run the venv's interpreter
(the similarity step runs Arrow UDFs in them); before the fix they started the system ``python3`` and failed with
``ModuleNotFoundError``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.spark

SCRIPT = Path(sys.executable).parent / "coldrec"


def run(args: list[str], tmp_path: Path) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYSPARK_", "COLDREC_", "VIRTUAL_ENV"))}
    env.update(
        PATH="/usr/bin:/bin",
        COLDREC_HOME=str(tmp_path / "home"),
        COLDREC_SPARK_MASTER="local[2]",
        COLDREC_IVY_DIR=os.environ.get("COLDREC_IVY_DIR", str(Path(__file__).resolve().parents[2] / ".coldrec/ivy")),
    )
    base = [str(SCRIPT), "--landing", str(tmp_path / "landing"), "--lake", str(tmp_path / "lake")]
    proc = subprocess.run(base + args, env=env, capture_output=True, text=True, timeout=900, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    return proc.stdout


@pytest.mark.skipif(not SCRIPT.exists(), reason="the coldrec console script is not installed next to this Python")
def test_bare_console_script_runs_spark_python_workers_in_the_venv(spark, settings, tmp_path: Path) -> None:
    # The day's input is generated and cleaned in this process (the shared session): only the step under test, the
    # one whose Python workers run Arrow UDFs, starts its own JVM from the bare console script.
    import datetime as dt

    from coldrec.clean.job import run_clean
    from coldrec.data.generator.shop import generate_shop

    day = dt.date(2025, 2, 3)
    generate_shop(tmp_path / "landing", users=40, items=25, days=1, seed=42, start_date=day)
    run_clean(spark, settings, day)
    out = run(["similarities", "--date", day.isoformat()], tmp_path)
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary, out
    assert (tmp_path / "lake" / "gold" / "item_similarity" / "_delta_log").is_dir()
