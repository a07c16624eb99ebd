"""Quality gate and publication of the nightly top-N lists.

Flow of a run date D: the score task writes the candidate lists to ``stage.recommendations`` (partition D); the
gate checks them (coverage of active users and of the catalog, list length, nothing already purchased, no
duplicates, sane scores, the champion model used when required, evaluation metrics not worse than the last
published run by more than a margin; the backtest by segment is in :mod:`coldrec.backtest`); only then does
:func:`publish_recommendations` copy the partition into ``gold.recommendations`` in ONE Delta commit
(``replaceWhere run_date = D``). A failing gate raises :class:`QualityGateError` with a report and publishes nothing,
so consumers keep reading the previous run.

Why a staging table: scoring (GPU, Python) and publishing (one atomic Delta commit) are separate tasks, so the gate
sits between them and a rerun of either is idempotent.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path

from pyspark.sql import DataFrame, Row, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.window import Window

from coldrec import lake
from coldrec.backtest import backtest, segments_for
from coldrec.config import Settings
from coldrec.data import schemas as S

log = logging.getLogger(__name__)

STAGE_TABLE = "stage.recommendations"
GOLD_TABLE = "gold.recommendations"

#: Metrics compared with the last published run (higher is better); a drop beyond the margin fails the gate.
COMPARED_METRICS = ("user_coverage", "backtest_hit_rate", "backtest_ndcg")

lake.register_table(
    lake.TableSpec(
        STAGE_TABLE,
        S.RECOMMENDATIONS,
        "Candidate top-N lists of a run, before the quality gate; consumers read gold.recommendations instead.",
        ("run_date",),
        {"rank_positive": "rank >= 1"},
    )
)


class QualityGateError(RuntimeError):
    """The run's lists failed the quality gate; nothing was published."""


@dataclass
class GateResult:
    run_date: str
    passed: bool
    metrics: dict[str, float]
    previous: dict[str, float] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)

    def report(self) -> str:
        lines = [f"# Quality gate {self.run_date}: {'PASSED' if self.passed else 'FAILED'}", ""]
        lines += ["| metric | value | last published |", "|---|---|---|"]
        for key, value in sorted(self.metrics.items()):
            prev = self.previous.get(key)
            lines.append(f"| {key} | {value:.6g} | {'' if prev is None else f'{prev:.6g}'} |")
        if self.failures:
            lines += ["", "## Failures", *[f"- {f}" for f in self.failures]]
        if self.flags:
            lines += ["", "## Flags (not failures)", *[f"- {f}" for f in self.flags]]
        return "\n".join(lines)


# ---------------------------------------------------------------------------------------------------------------
# Pure transforms
# ---------------------------------------------------------------------------------------------------------------
def active_users(events: DataFrame, users: DataFrame | None, run_date: dt.date, active_days: int) -> DataFrame:
    """Users who should receive a list: non-bot activity within ``active_days`` up to D, or a signup in that window."""
    start = run_date - dt.timedelta(days=active_days - 1)
    in_window = (F.col(S.EVENT_DATE) >= F.lit(start)) & (F.col(S.EVENT_DATE) <= F.lit(run_date))
    out = events.where(in_window & ~F.col(S.IS_BOT)).select(S.USER_ID)
    if users is not None:
        signup_day = F.to_date(F.col(S.SIGNUP_TS))
        out = out.unionByName(
            users.where((signup_day >= F.lit(start)) & (signup_day <= F.lit(run_date))).select(S.USER_ID)
        )
    return out.distinct()


def purchased_pairs(events: DataFrame, run_date: dt.date, event_types: list[str]) -> DataFrame:
    """(user, item) pairs a user already bought (or did any of ``event_types``) up to the run date, by the rule the
    scoring excludes them by: events flagged as a bot's are not a purchase of the user (they are kept in silver for
    audit only and never reach ``gold.interactions``)."""
    return (
        events.where(
            F.col(S.EVENT_TYPE).isin(event_types) & (F.col(S.EVENT_DATE) <= F.lit(run_date)) & ~F.col(S.IS_BOT)
        )
        .select(S.USER_ID, S.ITEM_ID)
        .distinct()
    )


def _aggregate_row(frame: DataFrame) -> Row:
    """The one row of a global aggregation (Spark gives one even over no rows: counts 0, sums and means null)."""
    row = frame.first()
    if row is None:
        raise RuntimeError("a global aggregation returned no row")
    return row


def list_checks(
    lists: DataFrame, active: DataFrame, purchased: DataFrame, min_length: int, catalog_items: int | None = None
) -> dict[str, float]:
    """Structural checks of the lists in one aggregation each (no collect of the lists themselves).

    With ``catalog_items`` (the size of silver.items) also ``item_coverage``: the share of the catalog that appears
    in at least one list."""
    per_user = lists.groupBy(S.USER_ID).agg(
        F.count("*").alias("n"),
        F.countDistinct(S.ITEM_ID).alias("n_items"),
        F.max("rank").alias("max_rank"),
        F.min("rank").alias("min_rank"),
    )
    user_agg = per_user.agg(
        F.count("*").alias("users_listed"),
        F.sum(F.when(F.col("n") < min_length, 1).otherwise(0)).alias("short_lists"),
        F.sum(F.col("n") - F.col("n_items")).alias("duplicate_items"),
        F.sum(F.when((F.col("min_rank") != 1) | (F.col("max_rank") != F.col("n")), 1).otherwise(0)).alias(
            "bad_rank_sequences"
        ),
        F.avg("n").alias("mean_list_length"),
    )
    row_agg = lists.agg(
        F.count("*").alias("rows"),
        F.sum(F.when(F.isnan("score") | F.col("score").isNull() | (F.abs("score") > 1e300), 1).otherwise(0)).alias(
            "non_finite_scores"
        ),
        F.sum(
            F.when((F.trim("reason") == "") | (F.trim("source") == "") | F.col("reason").isNull(), 1).otherwise(0)
        ).alias("missing_reasons"),
        F.countDistinct(S.ITEM_ID).alias("distinct_items"),
    )
    user_stats, row_stats = _aggregate_row(user_agg), _aggregate_row(row_agg)
    n_active = active.count()
    covered = active.join(per_user.select(S.USER_ID), on=S.USER_ID, how="inner").count()
    already_bought = lists.join(purchased, on=[S.USER_ID, S.ITEM_ID], how="inner").count()
    out = {
        "rows": float(row_stats["rows"] or 0),
        "users_listed": float(user_stats["users_listed"] or 0),
        "active_users": float(n_active),
        "user_coverage": covered / n_active if n_active else 1.0,
        "short_lists": float(user_stats["short_lists"] or 0),
        "duplicate_items": float(user_stats["duplicate_items"] or 0),
        "bad_rank_sequences": float(user_stats["bad_rank_sequences"] or 0),
        "mean_list_length": float(user_stats["mean_list_length"] or 0.0),
        "non_finite_scores": float(row_stats["non_finite_scores"] or 0),
        "missing_reasons": float(row_stats["missing_reasons"] or 0),
        "distinct_items": float(row_stats["distinct_items"] or 0),
        "already_purchased": float(already_bought),
    }
    if catalog_items:
        out["catalog_items"] = float(catalog_items)
        out["item_coverage"] = out["distinct_items"] / catalog_items
        # the lists hold at most `rows` items: 600 users x 20 slots can show 24% of a 50k catalog, however diverse
        listable = min(float(catalog_items), out["rows"])
        out["listable_item_coverage"] = out["distinct_items"] / listable if listable else 1.0
    return out


def judge(metrics: dict[str, float], previous: dict[str, float], settings: Settings) -> list[str]:
    """The gate's rules; returns the failures (empty = pass)."""
    cfg = settings.publish
    failures = []
    if metrics["rows"] == 0:
        failures.append("no recommendations were produced")
    if metrics["user_coverage"] < cfg.min_user_coverage:
        failures.append(f"user coverage {metrics['user_coverage']:.3f} < {cfg.min_user_coverage}")
    coverage = metrics.get("listable_item_coverage", metrics.get("item_coverage"))
    if coverage is not None and coverage < cfg.min_item_coverage:
        listable = int(min(metrics.get("catalog_items", 0), metrics.get("rows", 0)))
        failures.append(
            f"item coverage {coverage:.4f} < {cfg.min_item_coverage}: the lists show "
            f"{int(metrics.get('distinct_items', 0))} of {int(metrics.get('catalog_items', 0))} catalog items "
            f"(of at most {listable} their {int(metrics.get('rows', 0))} rows could show)"
        )
    if cfg.require_model and metrics.get("model_used") != 1.0:
        failures.append(f"the lists were made without the champion model ({_model_state(metrics)}) and "
                        "COLDREC_PUBLISH__REQUIRE_MODEL is set")  # fmt: skip
    for key, what in [
        ("short_lists", f"users with fewer than {min(cfg.min_list_length, settings.top_n)} items"),
        ("duplicate_items", "duplicate items within a list"),
        ("bad_rank_sequences", "lists whose ranks are not 1..n"),
        ("non_finite_scores", "non-finite scores"),
        ("missing_reasons", "rows without source or reason"),
        ("already_purchased", "items the user already purchased"),
    ]:
        if metrics[key] > 0:
            failures.append(f"{int(metrics[key])} {what}")
    for key in COMPARED_METRICS:
        now, before = metrics.get(key), previous.get(key)
        if now is None or before is None or before <= 0:
            continue
        if now < before * (1.0 - cfg.max_metric_drop):
            failures.append(
                f"{key} fell from {before:.4f} (last published run) to {now:.4f}, more than {cfg.max_metric_drop:.0%}"
            )
    return failures


def _model_state(metrics: dict[str, float]) -> str:
    if "model_used" not in metrics:
        return "the scoring step recorded no model use"
    if metrics.get("champion_failed") == 1.0:
        return "a champion is registered but failed to load or did not fit tonight's features"
    return "no champion is registered"


def flags(metrics: dict[str, float]) -> list[str]:
    """What the report points out without failing the run: lists made without the champion model (failing only
    with ``publish.require_model``)."""
    if metrics.get("model_used") == 1.0:
        return []
    return [f"model not used: {_model_state(metrics)}; the lists come from cf, content and popularity only"]


# ---------------------------------------------------------------------------------------------------------------
# I/O edges
# ---------------------------------------------------------------------------------------------------------------
def _last_published_date(spark: SparkSession, settings: Settings, before: dt.date) -> dt.date | None:
    if not lake.table_exists(spark, settings, GOLD_TABLE):
        return None
    row = (
        lake.read_table(spark, settings, GOLD_TABLE)
        .where(F.col(S.RUN_DATE) < F.lit(before))
        .agg(F.max(S.RUN_DATE).alias("d"))
        .first()
    )
    return row["d"] if row else None


def _published_metrics(spark: SparkSession, settings: Settings, run_date: dt.date, stage: str = "gate") -> dict[
        str, float]:  # fmt: skip
    if not lake.table_exists(spark, settings, "ops.run_metrics"):
        return {}
    rows = (
        lake.read_table(spark, settings, "ops.run_metrics")
        .where((F.col(S.RUN_DATE) == F.lit(run_date)) & (F.col("stage") == stage))
        .select("metric", "value")
        .collect()  # a handful of metric rows
    )
    return {r["metric"]: r["value"] for r in rows if r["value"] is not None}


def run_gate(spark: SparkSession, settings: Settings, run_date: dt.date) -> GateResult:
    """Check the staged lists of D; record the metrics; write the report; raise QualityGateError on failure."""
    lists = lake.read_table(spark, settings, STAGE_TABLE).where(F.col(S.RUN_DATE) == F.lit(run_date))
    events = lake.read_table(spark, settings, "silver.events")
    users = (
        lake.read_table(spark, settings, "silver.users") if lake.table_exists(spark, settings, "silver.users") else None
    )
    active = active_users(events, users, run_date, settings.publish.active_days)
    purchased = purchased_pairs(events, run_date, settings.recommend.exclude_event_types)
    min_len = min(settings.publish.min_list_length, settings.top_n)
    items = lake.read_table(spark, settings, "silver.items") if lake.table_exists(spark, settings, "silver.items") \
        else None  # fmt: skip
    metrics = list_checks(lists, active, purchased, min_len, None if items is None else items.count())
    scored = _published_metrics(spark, settings, run_date, "evaluate")  # written by the score step
    metrics.update({k: scored[k] for k in ("model_used", "champion_failed") if k in scored})

    previous: dict[str, float] = {}
    last = _last_published_date(spark, settings, run_date)
    if last is not None:
        prev_lists = lake.read_table(spark, settings, GOLD_TABLE).where(F.col(S.RUN_DATE) == F.lit(last))
        day_events = events.where(F.col(S.EVENT_DATE) == F.lit(run_date))
        rec = settings.recommend
        segments = None if items is None else segments_for(items, events, last, run_date, rec.new_item_days,
                                                           rec.new_user_days)  # fmt: skip
        metrics.update(backtest(prev_lists, day_events, settings.top_n, segments))
        previous = _published_metrics(spark, settings, last)
    failures = judge(metrics, previous, settings)
    result = GateResult(run_date.isoformat(), not failures, metrics, previous, failures, flags(metrics))

    lake.record_metrics(spark, settings, run_date, "gate", {**metrics, "passed": float(result.passed)})
    report_dir = Path(settings.home) / "reports" / run_date.isoformat()
    if "://" not in settings.home:
        report_dir.mkdir(parents=True, exist_ok=True)
        (report_dir / "quality_gate.md").write_text(result.report() + "\n")
        (report_dir / "quality_gate.json").write_text(json.dumps(asdict(result), indent=2) + "\n")
    log.info("%s", result.report())
    if not result.passed:
        raise QualityGateError(result.report())
    return result


def with_contiguous_ranks(lists: DataFrame) -> DataFrame:
    """Re-rank by score within each user (ties by item id) so ranks are exactly 1..n: a safety net for publishers."""
    w = Window.partitionBy(S.USER_ID).orderBy(F.col("score").desc(), F.col(S.ITEM_ID).asc())
    return lists.withColumn("rank", F.row_number().over(w))


def publish_recommendations(spark: SparkSession, settings: Settings, run_date: dt.date) -> int:
    """Copy the gated lists of D into gold.recommendations in one commit; return the number of rows published.

    Refuses to publish unless the gate for D passed in this or an earlier attempt (its metrics say so), so a
    publish task retried after a failing gate still publishes nothing.
    """
    gate = _published_metrics(spark, settings, run_date)
    if gate.get("passed") != 1.0:
        raise QualityGateError(f"the quality gate for {run_date} has not passed; nothing was published")
    lists = lake.read_table(spark, settings, STAGE_TABLE).where(F.col(S.RUN_DATE) == F.lit(run_date))
    lake.overwrite_partition(lists, settings, GOLD_TABLE, run_date)
    published = lake.read_table(spark, settings, GOLD_TABLE).where(F.col(S.RUN_DATE) == F.lit(run_date)).count()
    lake.record_metrics(spark, settings, run_date, "publish", {"rows": published})
    return published
