"""Shared fixtures: one session-scoped local SparkSession with Delta, temp lake/landing dirs, the real data sets.

Why one session: starting a JVM costs seconds; delta-io's own Python tests reuse one session with the UI off and few
shuffle partitions, and so do we. Each test gets its own lake folder, so tests never see each other's tables.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = PROJECT_ROOT.parent / "shared" / "data"


def pytest_configure(config: pytest.Config) -> None:
    """``COLDREC_TEST_TORCH_THREADS=N`` runs the suite with N torch threads (``make test-portability`` uses 1 and 2).

    Float results of a GEMM depend on the thread count and the CPU's kernels; running the numeric tests under
    several thread counts flushes out assertions that hold on one machine only.
    """
    threads = os.environ.get("COLDREC_TEST_TORCH_THREADS")
    if threads:
        import torch

        torch.set_num_threads(int(threads))


def same_topk_up_to_ties(
    values_a, items_a, values_b, items_b, *, rtol: float = 1e-5, atol: float = 1e-5
) -> None:
    """Assert two top-k results agree up to float rounding: scores close, items equal except among near-ties.

    Two CPUs (or two batch shapes) may round a dot product differently in the last bits, which can swap items
    whose scores are within rounding of each other, or trade the last item for one scored the same. So: the
    scores must match within tolerance position by position; where the items differ, each one must be a near-tie
    of the item in its place (its score in the other list, or at the cut-off, within tolerance).
    """
    va, vb = np.asarray(values_a, dtype=np.float64), np.asarray(values_b, dtype=np.float64)
    ia, ib = np.asarray(items_a), np.asarray(items_b)
    assert va.shape == vb.shape == ia.shape == ib.shape
    np.testing.assert_allclose(va, vb, rtol=rtol, atol=atol)
    for row in range(va.shape[0]):
        tol = 2 * (atol + rtol * np.abs(va[row]).max(initial=0.0))
        score_b = dict(zip(ib[row].tolist(), vb[row].tolist(), strict=True))
        cutoff = min(va[row][-1], vb[row][-1]) if va.shape[1] else 0.0
        for pos in np.flatnonzero(ia[row] != ib[row]):
            item = int(ia[row, pos])
            other = score_b.get(item, cutoff)  # absent from b: it must tie with b's last item
            assert abs(va[row, pos] - other) <= tol, (row, pos, item, va[row, pos], other)


@pytest.fixture
def assert_same_topk() -> Callable[..., None]:
    """:func:`same_topk_up_to_ties` as a fixture (test modules in subfolders cannot import conftest)."""
    return same_topk_up_to_ties


@pytest.fixture(scope="session")
def spark(tmp_path_factory: pytest.TempPathFactory):
    from coldrec.config import load_settings
    from coldrec.spark import build_spark

    warehouse = tmp_path_factory.mktemp("warehouse")
    settings = load_settings({"spark_master": "local[2]", "shuffle_partitions": 1, "spark_driver_memory": "2g"})
    session = build_spark(
        "coldrec-tests",
        settings,
        extra_conf={
            "spark.ui.enabled": "false",
            "spark.sql.warehouse.dir": str(warehouse),
            "spark.default.parallelism": "2",
            "spark.databricks.delta.snapshotPartitions": "2",
            "spark.sql.adaptive.enabled": "false",
        },
    )
    yield session
    session.stop()


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Settings pointing at a fresh landing/lake/home under this test's temp dir (also exported as COLDREC_*)."""
    from coldrec.config import load_settings

    env = {
        "COLDREC_LANDING_URI": str(tmp_path / "landing"),
        "COLDREC_LAKE_URI": str(tmp_path / "lake"),
        "COLDREC_HOME": str(tmp_path / "home"),
        "COLDREC_SHUFFLE_PARTITIONS": "1",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    os.makedirs(tmp_path / "home", exist_ok=True)
    return load_settings()


def _shared(name: str) -> Path:
    path = SHARED_DATA / name
    if not path.exists():
        pytest.skip(f"real data set {name} not found at {path} (it lives in ../shared/data beside the project)")
    return path


@pytest.fixture(scope="session")
def movielens_dir() -> Path:
    return _shared("movielens-100k")


@pytest.fixture(scope="session")
def beauty_dir() -> Path:
    return _shared("amazon-beauty")


E2E_FIXTURE = "e2e_nightly"


def _uses_e2e(item: pytest.Item) -> bool:
    return E2E_FIXTURE in getattr(item, "fixturenames", ())


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The tests on the shared nightly DAG run go last (otherwise in collection order): the run starts in the
    background with the session's first test (``_e2e_nightly_started``), so the rest of the suite runs meanwhile."""
    items[:] = [i for i in items if not _uses_e2e(i)] + [i for i in items if _uses_e2e(i)]


class _InBackground:
    """``fn(*args)`` in a daemon thread; :meth:`result` waits for it and returns its value or raises its error."""

    def __init__(self, fn: Callable[..., Any], *args: Any) -> None:
        self._value: Any = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(fn, *args), name=fn.__name__, daemon=True)
        self._thread.start()

    def _run(self, fn: Callable[..., Any], *args: Any) -> None:
        try:
            self._value = fn(*args)
        except BaseException as exc:  # handed to the test that waits for the result
            self._error = exc

    def result(self) -> Any:
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._value


@pytest.fixture(scope="session", autouse=True)
def _e2e_nightly_started(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    """Starts the shared nightly DAG run at the session's first test when a selected test uses it.

    Why: the run is minutes of subprocesses (Airflow, one spark-submit JVM per task) that leave a core idle much of
    the time; started first and awaited last, it overlaps the rest of the suite instead of adding to it. Its
    environment is built when it starts, before any test has patched ``os.environ``.
    """
    if not any(_uses_e2e(item) for item in request.session.items):
        return None
    from tests.integration.test_e2e_nightly import build_nightly

    return _InBackground(build_nightly, tmp_path_factory.mktemp("e2e"))


@pytest.fixture(scope="session")
def e2e_nightly(_e2e_nightly_started: _InBackground) -> dict:
    """One real nightly DAG run on a generated shop, shared by the end-to-end and the UI tests (minutes to build)."""
    return _e2e_nightly_started.result()
