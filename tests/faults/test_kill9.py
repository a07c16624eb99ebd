"""Kill -9 anywhere: ``clean``, ``similarities``, ``score`` and ``publish`` run as the subprocesses the DAG runs
(``jobs/*.py``; ``coldrec.tasks.score_users``) and are SIGKILLed, with their JVM, at seeded random moments within
an uninterrupted run's measured time. After every kill each table of the lake, read with delta-rs, must be the
complete previous or the complete new content (``gold.recommendations``: none of the date's lists, or every gated
list); at the end the task reruns to completion and its result must equal an uninterrupted run's.

What makes it hold: every write of a table is one Delta commit (``lake.overwrite_partition`` / ``overwrite_where``
/ one MERGE), a put-if-absent of ``_delta_log/N.json``; data files of an unfinished commit are never referenced.
A task that writes several tables may be killed between them: each table is then complete on its own (the previous
or the new content), and the task's rerun replaces what is left, as Airflow's retry does.

Every test here is ``slow`` (``make test-all`` / ``make faults``): each kill point is a JVM start. 20 kill points per
task by default (``COLDREC_FAULTS_KILLS`` changes it), plus a 2-point run of ``clean``.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
from pathlib import Path

import pytest
from killing import Campaign, small_shop
from steps import lake_settings, run_nightly

pytestmark = [pytest.mark.spark]

DAY = dt.date(2026, 11, 3)
KILLS = int(os.environ.get("COLDREC_FAULTS_KILLS", "20"))
#: the second setting of each task: a complete result that differs from the default's, so states are told apart
NO_BOTS = {"COLDREC_CLEAN__BOT_EVENTS_PER_MINUTE": "100000", "COLDREC_CLEAN__BOT_EVENTS_PER_DAY": "10000000"}
CONFIGS = {
    "clean": {"A": {}, "B": NO_BOTS},
    "similarities": {"A": {}, "B": {"COLDREC_SIMILARITY__TOP_K": "5"}},
    "score": {"A": {}, "B": {"COLDREC_TOP_N": "5"}},
    "publish": {"A": {}, "B": {}},  # the input differs: the staged lists (see _swap_stage)
}


def _shop(base: Path) -> Path:
    return small_shop(base, DAY.isoformat())


@pytest.fixture(scope="module")
def nightly_lake(spark, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A lake after one whole night up to the gate (in-process), plus two staged lists for publish: ``A`` (the
    night's) and ``B`` (the top 5 of each)."""
    from pyspark.sql import functions as F

    from coldrec import lake
    from coldrec.publish import STAGE_TABLE

    base = _shop(tmp_path_factory.mktemp("kill9-nightly"))
    settings = lake_settings(base, features={"text_encoder": "tfidf"})
    run_nightly(spark, settings, DAY, ("clean", "interactions", "similarities", "features", "score", "gate"))
    stage = Path(lake.table_path(settings, STAGE_TABLE))
    variants = base / "stage-variants"
    shutil.copytree(stage, variants / "A")
    top5 = lake.read_table(spark, settings, STAGE_TABLE).where(F.col("rank") <= 5).localCheckpoint()
    lake.overwrite_partition(top5, settings, STAGE_TABLE, DAY)
    shutil.move(str(stage), variants / "B")
    shutil.copytree(variants / "A", stage)
    return base


def _swap_stage(variants: Path):
    def prepare(base: Path, config: str) -> None:
        stage = base / "lake" / "stage" / "recommendations"
        shutil.rmtree(stage)
        shutil.copytree(variants / config, stage)

    return prepare


def _campaign(task: str, start: Path, work: Path, kills: int, seed: int, configs=None, prepare=None) -> dict:
    work.mkdir(parents=True, exist_ok=True)
    landing = start / "landing"
    return Campaign(task, DAY.isoformat(), start, landing, work, configs or CONFIGS[task], kills, seed, prepare).run()


def _check_and_record(result: dict, figures, scenario: str) -> None:
    assert result["partial"] == [], result  # a reader saw a table that is neither the previous nor the new content
    assert result["rerun_differs"] == [], result  # the rerun after the kills differs from an uninterrupted run
    states = result["states"]
    figures(
        scenario,
        runs=result["kills"] + 1,
        points=result["kills"],
        unit="kill points",
        lost=0,
        partial=len(result["partial"]),
        reruns_identical="yes",
        note=(
            f"table states after the kills: previous {states.get('previous', 0)}, new {states.get('new', 0)}, "
            f"none {states.get('none', 0)}; {result['finished_before_kill']} runs ended before their kill; "
            f"uninterrupted runs took {', '.join(f'{s:.0f} s' for s in result['seconds'].values())}; "
            f"previous and new told apart in {', '.join(result['distinct_tables']) or 'no table'}"
        ),
    )


@pytest.mark.slow
def test_clean_killed_at_two_points_leaves_whole_tables_and_reruns_identically(tmp_path, figures):
    """The short variant: two kills of ``clean`` on a fresh lake (from nothing), then the rerun. Marked ``slow``
    all the same: four JVM starts took 10 minutes on the shared 2-core machine, far over ``make test``'s budget."""
    start = _shop(tmp_path / "start")
    result = _campaign("clean", start, tmp_path / "work", kills=2, seed=2302, configs={"A": {}})
    _check_and_record(result, figures, "kill -9 (clean, 2 points)")


@pytest.mark.slow
def test_clean_killed_anywhere(tmp_path, figures):
    start = _shop(tmp_path / "start")
    result = _campaign("clean", start, tmp_path / "work", KILLS, seed=2311)
    assert "silver/events" in result["distinct_tables"]  # the two settings' results differ: states told apart
    _check_and_record(result, figures, "kill -9 (clean)")


@pytest.mark.slow
@pytest.mark.parametrize("task", ["similarities", "score", "publish"])
def test_task_killed_anywhere(task, nightly_lake, tmp_path, figures):
    prepare = _swap_stage(nightly_lake / "stage-variants") if task == "publish" else None
    result = _campaign(task, nightly_lake, tmp_path / "work", KILLS, seed=2312 + len(task), prepare=prepare)
    written = {"similarities": "gold/similar_items", "score": "stage/recommendations",
               "publish": "gold/recommendations"}[task]  # fmt: skip
    assert written in result["distinct_tables"], result
    _check_and_record(result, figures, f"kill -9 ({task})")
