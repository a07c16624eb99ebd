"""Kill -9 campaigns: run a nightly task as the subprocess the DAG runs, SIGKILL its whole process group (the
Python driver and its JVM) at seeded random moments, and read every table of the lake with delta-rs after each kill.

Why whole-table snapshots compared with known complete states: the promise is that a reader sees, for every table,
the complete content of the last finished write or of the new one, never a mix. A kill leaves a state; the next run
starts from it (kills are chained on one lake, as retries are). Each kill run alternates between two settings
("A" and "B") whose complete results differ, so "previous" and "new" are told apart; both complete results are
measured first by uninterrupted runs on a copy of the same starting lake.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[2]
PY = sys.executable

#: the command each DAG task runs (dags/coldrec_nightly.py): spark-submit jobs/*.py, or the Python task's function
TASK_COMMANDS: dict[str, list[str]] = {
    "clean": [PY, str(ROOT / "jobs" / "clean_events.py")],
    "similarities": [PY, str(ROOT / "jobs" / "compute_similarities.py")],
    "score": [PY, "-c", "import sys; from coldrec.tasks import score_users; score_users(sys.argv[-1])"],
    "publish": [PY, str(ROOT / "jobs" / "materialize_topn.py"), "--publish-only"],
}

#: tables compared by their keys only: their values are timings and counts of the run that wrote them
KEYS_ONLY = {"ops/run_metrics": ["run_date", "stage", "metric"]}


def task_env(base: Path, landing: Path, extra: dict[str, str]) -> dict[str, str]:
    """The subprocess's environment: this test's landing (shared by every copy of the lake: ``silver.events``
    names its source files), lake, home and MLflow store, small and CPU-only."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COLDREC_", "MLFLOW_"))}
    env["COLDREC_IVY_DIR"] = str(private_ivy(base.parent))
    env.update(
        {
            "PATH": f"{Path(PY).parent}:{env.get('PATH', '')}",
            "PYTHONPATH": f"{ROOT}:{env.get('PYTHONPATH', '')}",
            "PYSPARK_PYTHON": PY,
            "SPARK_LOCAL_IP": "127.0.0.1",
            "COLDREC_LANDING_URI": str(landing),
            "COLDREC_LAKE_URI": str(base / "lake"),
            "COLDREC_HOME": str(base / "home"),
            "COLDREC_MLFLOW_URI": f"sqlite:///{base / 'home' / 'mlflow.db'}",
            "COLDREC_SPARK_MASTER": "local[2]",
            "COLDREC_SHUFFLE_PARTITIONS": "1",
            "COLDREC_TOP_N": "10",
            "COLDREC_RECOMMEND__DEVICE": "cpu",
            "COLDREC_FEATURES__TEXT_ENCODER": "tfidf",
            **extra,
        }
    )
    return env


def private_ivy(work: Path) -> Path:
    """A copy of the project's Ivy cache for these subprocesses: a task killed (or denied its writes) while Ivy
    rewrites its resolution files must not damage the cache every other run uses."""
    from coldrec.config import load_settings

    ivy = work / "ivy"
    if not ivy.exists():
        source = Path(os.environ.get("COLDREC_IVY_DIR") or load_settings().ivy_dir)
        if source.exists():
            shutil.copytree(source, ivy, symlinks=True, copy_function=_link_jars)
    return ivy


def _link_jars(src: str, dst: str) -> None:
    """Jars are never rewritten once downloaded: hard-linked where the file system allows; the rest copied."""
    if src.endswith(".jar"):
        with contextlib.suppress(OSError):
            os.link(src, dst)
            return
    shutil.copy2(src, dst)


def start(task: str, day: str, base: Path, landing: Path, extra: dict[str, str], log: Path) -> subprocess.Popen:
    """The task for ``day`` in its own process group (so one killpg reaches the JVM too)."""
    (base / "home").mkdir(parents=True, exist_ok=True)
    fh = open(log, "a")  # noqa: SIM115 - closed by the child's exit; kept open for the subprocess
    fh.write(f"\n$ {task} {day} {extra}\n")
    fh.flush()
    return subprocess.Popen(
        [*TASK_COMMANDS[task], "--date", day] if task != "score" else [*TASK_COMMANDS[task], day],
        env=task_env(base, landing, extra),
        cwd=base / "home",
        stdout=fh,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def limit_file_size(group: int, max_bytes: int) -> int:
    """Set RLIMIT_FSIZE on every process of a process group (the driver and its JVM), from outside: a write past it
    then fails with EFBIG ("File too large"), as writes fail on a full disk (Python and the JVM ignore SIGXFSZ).
    Set on the running processes, not at their start, so the JVM's start (Ivy's resolution files) goes through."""
    import resource

    limited = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) == group:  # field 5 of /proc/PID/stat: the process group
                resource.prlimit(int(stat.parent.name), resource.RLIMIT_FSIZE, (max_bytes, max_bytes))
                limited += 1
        except (OSError, IndexError, ValueError):
            continue  # the process ended meanwhile
    return limited


def run_to_end(task: str, day: str, base: Path, landing: Path, extra: dict[str, str], log: Path) -> float:
    """Run the task uninterrupted; return its wall time. A failure is a test failure with the log's tail."""
    t0 = time.monotonic()
    proc = start(task, day, base, landing, extra, log)
    rc = proc.wait(timeout=1800)
    assert rc == 0, f"{task} {day} {extra} exited {rc}:\n{log.read_text()[-4000:]}"
    return time.monotonic() - t0


def kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL the task's process group and wait until no process of it is left (the JVM included)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.2)
    raise AssertionError(f"process group {proc.pid} still alive after SIGKILL")


# --------------------------------------------------------------------------------------------------------------
# Reading the lake with delta-rs
# --------------------------------------------------------------------------------------------------------------
def small_shop(base: Path, day: str) -> Path:
    """One generated day (300 users, 80 items, seed 11) in ``base/landing``, an empty lake and a home."""
    from coldrec.data.generator.shop import generate_shop

    generate_shop(base / "landing", users=300, items=80, days=1, seed=11, start_date=day)
    (base / "lake").mkdir()
    (base / "home").mkdir()
    return base


def tables(lake: Path) -> list[str]:
    """Every Delta table under the lake, as ``layer/name``."""
    return sorted(str(p.parent.relative_to(lake)) for p in lake.glob("*/*/_delta_log"))


def _cell(value: Any) -> str:
    if hasattr(value, "tolist"):
        value = value.tolist()
    return json.dumps(value, default=str, sort_keys=True)


def _version(lake: Path, name: str) -> int:
    from deltalake import DeltaTable

    return DeltaTable(str(lake / name)).version()


def read_table(lake: Path, name: str, version: int | None = None) -> pd.DataFrame:
    """The table's latest snapshot as canonical rows: exact columns as JSON text, sorted by them; float columns kept
    for a comparison with tolerance. Also checks the log's versions are contiguous (a reader's view is whole)."""
    from deltalake import DeltaTable

    from coldrec.delta_read import read_delta

    path = str(lake / name)
    versions = sorted(h["version"] for h in DeltaTable(path).history())
    assert versions == list(range(versions[-1] + 1)), f"{name}: log versions {versions} not contiguous"
    frame = read_delta(path, version=version).to_pandas()
    if name in KEYS_ONLY:
        frame = frame[KEYS_ONLY[name]]
    exact = [c for c in frame.columns if frame[c].dtype.kind not in "fc"]
    for col in exact:
        frame[col] = frame[col].map(_cell)
    return frame.sort_values(exact, kind="mergesort").reset_index(drop=True) if exact else frame


def snapshot(lake: Path) -> dict[str, pd.DataFrame]:
    return {name: read_table(lake, name) for name in tables(lake)}


def same(a: pd.DataFrame | None, b: pd.DataFrame | None) -> bool:
    """Identical rows; floats within a tolerance (an absent table equals an empty one)."""
    if a is None or b is None:
        return (a is None or a.empty) and (b is None or b.empty)
    if list(a.columns) != list(b.columns) or len(a) != len(b):
        return False
    for col in a.columns:
        if a[col].dtype.kind in "fc":
            x, y = a[col].to_numpy(dtype=float), b[col].to_numpy(dtype=float)
            if not np.allclose(x, y, rtol=1e-6, atol=1e-9, equal_nan=True):
                return False
        elif a[col].tolist() != b[col].tolist():
            return False
    return True


def classify(before: pd.DataFrame | None, after: pd.DataFrame | None, now: pd.DataFrame | None) -> str:
    """A table's state after a kill: ``none`` (still absent/empty, as before), ``previous`` (as before the run),
    ``new`` (as after a complete run), ``unchanged`` (the run does not change it) or ``partial`` (anything else)."""
    if same(now, after) and same(now, before):
        return "unchanged"
    if same(now, after):
        return "new"
    if same(now, before):
        return "none" if before is None or before.empty else "previous"
    return "partial"


# --------------------------------------------------------------------------------------------------------------
# A campaign
# --------------------------------------------------------------------------------------------------------------
@dataclass
class Campaign:
    """Kill ``task`` ``kills`` times on a copy of ``start_lake`` (a folder holding lake and home; ``landing`` is
    shared, not copied)."""

    task: str
    day: str
    start_lake: Path
    landing: Path
    work: Path
    configs: dict[str, dict[str, str]]
    kills: int
    seed: int
    #: called with (base, config name) before every run: e.g. to swap in the input that config means
    prepare: Any = None
    states: Counter = field(default_factory=Counter)
    partial: list[str] = field(default_factory=list)
    finished_before_kill: int = 0

    def _copy(self, name: str) -> Path:
        base = self.work / name
        shutil.copytree(self.start_lake, base, symlinks=True, ignore=shutil.ignore_patterns("landing"))
        return base

    def _run(self, base: Path, config: str, log: Path) -> float:
        if self.prepare:
            self.prepare(base, config)
        versions = {name: _version(base / "lake", name) for name in tables(base / "lake")}
        before = snapshot(base / "lake")
        seconds = run_to_end(self.task, self.day, base, self.landing, self.configs[config], log)
        after = snapshot(base / "lake")
        for name in after:  # every version this run committed: what a reader could have seen meanwhile
            for v in range(versions.get(name, -1) + 1, _version(base / "lake", name) + 1):
                seen = read_table(base / "lake", name, version=v)
                assert classify(before.get(name), after[name], seen) != "partial", (
                    f"{self.task} ({config}, uninterrupted): {name} version {v} is neither the previous nor the new "
                    "content: a reader could see half a run"
                )
        return seconds

    def baselines(self) -> tuple[dict[str, dict[str, pd.DataFrame]], dict[str, float]]:
        """Each config's complete result (run in order on one copy, as the kills will alternate) and its time."""
        base, log = self._copy("baseline"), self.work / "baseline.log"
        expected, seconds = {}, {}
        for config in self.configs:
            seconds[config] = self._run(base, config, log)
            expected[config] = snapshot(base / "lake")
        return expected, seconds

    def run(self) -> dict[str, Any]:
        expected, seconds = self.baselines()
        names = list(self.configs)
        distinct = [t for t in expected[names[0]] if not same(expected[names[0]][t], expected[names[-1]].get(t))]
        base, log = self._copy("killed"), self.work / "killed.log"
        rng = random.Random(self.seed)
        before = snapshot(base / "lake")
        last = names[0]
        for k in range(self.kills):
            last = names[k % len(names)]
            if self.prepare:
                self.prepare(base, last)
                before = snapshot(base / "lake")
            delay = rng.uniform(0.0, seconds[last])
            proc = start(self.task, self.day, base, self.landing, self.configs[last], log)
            try:
                proc.wait(timeout=delay)
                self.finished_before_kill += 1
            except subprocess.TimeoutExpired:
                pass
            kill_group(proc)
            now = snapshot(base / "lake")
            for name in sorted(set(now) | set(expected[last])):
                state = classify(before.get(name), expected[last].get(name), now.get(name))
                if state != "unchanged":  # counted: the tables this run writes
                    self.states[state] += 1
                if state == "partial":
                    self.partial.append(f"kill {k} ({last}, {delay:.1f} s): {name}")
            before = now
        # the rerun: the last kill's config to completion, compared with the uninterrupted run's result
        self._run(base, last, log)
        final = snapshot(base / "lake")
        differing = [t for t in set(final) | set(expected[last]) if not same(final.get(t), expected[last].get(t))]
        return {
            "task": self.task,
            "kills": self.kills,
            "seconds": seconds,
            "states": dict(self.states),
            "partial": self.partial,
            "finished_before_kill": self.finished_before_kill,
            "rerun_differs": sorted(differing),
            "distinct_tables": distinct,
        }
