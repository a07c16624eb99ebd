"""A Spark standalone cluster on 127.0.0.1 from the installed pyspark (``spark-class`` Master + Workers), without
Docker: used by the cluster test of the jobs (tests/integration/test_docker.py) and the worker-loss fault test."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return json.loads(resp.read())


def wait_until(predicate: Callable[[], Any], what: str, timeout: float = 120.0, interval: float = 1.0) -> Any:
    """Poll ``predicate`` every ``interval`` seconds until it returns something truthy (returned); OSError and a page
    that is not JSON yet (a UI's "Spark is starting up" text) count as not yet."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except (OSError, ValueError):
            pass
        time.sleep(interval)
    raise TimeoutError(f"timed out waiting for {what}")


class StandaloneCluster:
    """``spark-class ...Master`` and ``workers`` x ``...Worker`` on loopback, each in its own process group (a
    worker's executors are its children, in its group), stopped on exit."""

    def __init__(self, workdir: Path, cores: int = 2, memory: str = "2g", workers: int = 1) -> None:
        self.workdir, self.cores, self.memory, self.n_workers = workdir, cores, memory, workers
        self.port, self.ui = free_port(), free_port()
        self.procs: list[subprocess.Popen] = []
        self.worker_procs: dict[int, subprocess.Popen] = {}  # worker web UI port -> its process
        self.env = {**os.environ, "SPARK_LOCAL_IP": "127.0.0.1", "PYSPARK_PYTHON": sys.executable}
        self.env["PATH"] = f"{BIN}:{self.env.get('PATH', '')}"

    @property
    def url(self) -> str:
        return f"spark://127.0.0.1:{self.port}"

    def state(self) -> dict:
        return get_json(f"http://127.0.0.1:{self.ui}/json/")

    def _start(self, args: list[str], log: str) -> subprocess.Popen:
        with open(self.workdir / log, "w") as fh:
            proc = subprocess.Popen(
                [str(BIN / "spark-class"), *args], stdout=fh, stderr=subprocess.STDOUT, env=self.env,
                start_new_session=True,
            )  # fmt: skip
        self.procs.append(proc)
        return proc

    def _start_worker(self, i: int) -> None:
        ui = free_port()
        args = [
            "org.apache.spark.deploy.worker.Worker", "--host", "127.0.0.1", "--cores", str(self.cores),
            "--memory", self.memory, "--port", str(free_port()), "--webui-port", str(ui),
            "--work-dir", str(self.workdir / f"worker-{i}-work"), self.url,
        ]  # fmt: skip
        self.worker_procs[ui] = self._start(args, f"worker-{i}.log")

    def alive_workers(self) -> int:
        return sum(w["state"] == "ALIVE" for w in self.state()["workers"])

    def __enter__(self) -> StandaloneCluster:
        try:
            master = ["org.apache.spark.deploy.master.Master", "--host", "127.0.0.1", "--port", str(self.port),
                      "--webui-port", str(self.ui)]  # fmt: skip
            self._start(master, "master.log")
            wait_until(lambda: self.state()["status"] == "ALIVE", "the master")
            for i in range(self.n_workers):
                self._start_worker(i)
            wait_until(lambda: self.alive_workers() == self.n_workers, f"{self.n_workers} worker(s)")
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def worker_of(self, app_id: str, executor_id: str) -> int | None:
        """The web UI port of the worker that runs executor ``executor_id`` of ``app_id`` (None: no such executor)."""
        for ui in self.worker_procs:
            try:
                executors = get_json(f"http://127.0.0.1:{ui}/json/").get("executors", [])
            except OSError:
                continue
            if any(e.get("appid") == app_id and str(e.get("id")) == str(executor_id) for e in executors):
                return ui
        return None

    def kill_worker(self, ui: int) -> None:
        """SIGKILL a worker and its executors (its process group): a machine lost mid-job."""
        proc = self.worker_procs[ui]
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)

    def __exit__(self, *exc: object) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait(timeout=10)
