"""Issue 23, item 7: a Spark worker lost during ``similarities`` on a standalone cluster.

Two workers (one core each) on 127.0.0.1; ``jobs/clean_events.py`` runs on the cluster, then
``jobs/compute_similarities.py`` is started and, once the driver has started a job and an executor of the application
runs on a worker, that worker and its executor are killed with SIGKILL (a machine lost). Spark must finish the
application on the other worker (lost tasks and shuffle output recomputed) and the tables must equal a local run of
the same two jobs. The driver's log must name the lost executor: otherwise the kill missed the job and proves nothing.
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


def _driver_app(ui: int) -> str | None:
    apps = get_json(f"http://127.0.0.1:{ui}/api/v1/applications")
    return apps[0]["id"] if apps else None


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
            victim = wait_until(lambda: cluster.worker_running(app), "an executor on a worker", timeout=120)
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
        note=f"finished {finished_after:.0f} s after the kill",
    )  # fmt: skip
