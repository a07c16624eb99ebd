"""Issue 23, item 7: a Spark worker lost during ``similarities`` on a standalone cluster.

Two workers (one core each) on 127.0.0.1; ``jobs/clean_events.py`` runs on the cluster, then
``jobs/compute_similarities.py`` is started and, while its item-item similarity job runs (the job's description, set
by ``coldrec.spark.job_description``), the worker whose executor holds the most of the application's state (cached or
checkpointed blocks first, then shuffle output) is killed with SIGKILL together with its executor: a machine lost
with work on it, the case where Spark must recompute what was lost rather than only reschedule a task. Spark must
finish the application on the other worker and the tables must equal a local run of the same two jobs. The driver's
log must name the lost executor: otherwise the kill missed the application and proves nothing.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from tests.integration.test_docker import (
    CLUSTER_JOBS,
    assert_same_tables,
    generate_cluster_day,
    job_command,
    submit_jobs,
)
from tests.spark_cluster import StandaloneCluster, free_port, get_json, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.spark]


SIMILARITY_JOB = "coldrec similarities: item-item"


def _driver_app(ui: int) -> str | None:
    apps = get_json(f"http://127.0.0.1:{ui}/api/v1/applications")
    return apps[0]["id"] if apps else None


def _victim(cluster: StandaloneCluster, driver_ui: int, app: str) -> tuple[int, dict] | None:
    """While the item-item similarity job runs: the worker (web UI port) whose executor holds the most state of the
    application, cached or checkpointed blocks first, then shuffle bytes written, with that executor's summary;
    None while no job of that name runs or no executor holds anything."""
    base = f"http://127.0.0.1:{driver_ui}/api/v1/applications/{app}"
    if not any(SIMILARITY_JOB in (job.get("description") or "") for job in get_json(f"{base}/jobs?status=running")):
        return None
    holders = [
        e for e in get_json(f"{base}/executors")
        if e["id"] != "driver" and e.get("isActive", True) and (e["rddBlocks"] or e["totalShuffleWrite"])
    ]  # fmt: skip
    if not holders:
        return None
    executor = max(holders, key=lambda e: (e["rddBlocks"], e["totalShuffleWrite"]))
    worker = cluster.worker_of(app, executor["id"])
    return None if worker is None else (worker, executor)


def test_similarities_survive_a_lost_worker(tmp_path: Path, figures) -> None:
    landing, log = tmp_path / "landing", tmp_path / "jobs.log"
    generate_cluster_day(landing, users=2000, items=300)
    homes = {mode: tmp_path / f"home-{mode}" for mode in ("local", "cluster")}
    for home in homes.values():
        home.mkdir()
    submit_jobs("local[2]", landing, tmp_path / "lake-local", homes["local"], log)

    with StandaloneCluster(tmp_path, cores=1, memory="1536m", workers=2) as cluster:
        submit_jobs(cluster.url, landing, tmp_path / "lake-cluster", homes["cluster"], log, jobs=CLUSTER_JOBS[:1])
        driver_ui = free_port()
        cmd, env = job_command(
            cluster.url, CLUSTER_JOBS[1], landing, tmp_path / "lake-cluster", homes["cluster"],
            f"spark.ui.port={driver_ui}", "spark.task.maxFailures=4",
        )  # fmt: skip
        driver_log = tmp_path / "similarities-driver.log"
        with driver_log.open("w") as fh:
            job = subprocess.Popen(cmd, env=env, stdout=fh, stderr=subprocess.STDOUT, cwd=homes["cluster"])
        try:
            app = wait_until(lambda: _driver_app(driver_ui), "the similarities application", timeout=300)
            wait_until(lambda: get_json(f"http://127.0.0.1:{driver_ui}/api/v1/applications/{app}/jobs"),
                       "the first Spark job", timeout=300)  # fmt: skip
            victim, executor = wait_until(
                lambda: _victim(cluster, driver_ui, app), "an executor holding state during the item-item job",
                timeout=600, interval=0.2,
            )  # fmt: skip
            killed_at = time.monotonic()
            cluster.kill_worker(victim)
            assert job.wait(timeout=900) == 0, driver_log.read_text()[-4000:]
            finished_after = time.monotonic() - killed_at
            assert cluster.alive_workers() == 1
        finally:
            if job.poll() is None:
                job.kill()
    text = driver_log.read_text()
    assert "Lost executor" in text or "ExecutorLostFailure" in text or "Executor lost" in text, (
        "the worker was killed after the executor had finished its work: the test proved nothing\n" + text[-3000:]
    )
    assert_same_tables(tmp_path / "lake-local", tmp_path / "lake-cluster")
    figures(
        "worker loss during similarities", runs=2, points=1, unit="worker killed (SIGKILL, with its executor)",
        lost=0, partial=0, reruns_identical="yes (no rerun needed: Spark recomputed on the other worker)",
        note=(
            f"killed during the item-item job, its executor holding {executor['rddBlocks']} cached blocks and "
            f"{executor['totalShuffleWrite']:,} shuffle bytes; finished {finished_after:.0f} s after the kill"
        ),
    )  # fmt: skip
