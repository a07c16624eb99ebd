"""Removing exact duplicates: the same ``event_id``, or the same user / item / type / timestamp.

Why within one user's run: a re-sent log line repeats the user, so duplicates always share a timeline (see
:mod:`coldrec.clean.timeline`), and dedup by ``event_id`` inside ``(ingest_date, user_id)`` needs no extra shuffle.
Two records with one ``event_id`` but different users are two events of a log that reuses ids, not duplicates.
Duplicates are not rejections: they are removed and counted (input = accepted + rejected + duplicates removed).
Across runs nothing is deduplicated, so rerunning any day never changes another day's rows.
"""

from __future__ import annotations

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from coldrec.clean.timeline import TIMELINE_KEYS, TIMELINE_ORDER, timeline
from coldrec.data import schemas as S

_N = "_dup_rank"


def fill_event_id(events: DataFrame) -> DataFrame:
    """A deterministic id for events without one: ``h:`` + 32 hex chars of SHA-256 over user, item, type, ts."""
    key = F.concat_ws("\u0001", S.USER_ID, S.ITEM_ID, S.EVENT_TYPE, F.unix_micros(F.col(S.TS)).cast("string"))
    synthetic = F.concat(F.lit("h:"), F.substring(F.sha2(key, 256), 1, 32))
    return events.withColumn(S.EVENT_ID, F.coalesce(F.col(S.EVENT_ID), synthetic))


def drop_duplicate_ids(events: DataFrame) -> DataFrame:
    """Keep one record per ``(ingest_date, user_id, event_id)``: the first in timeline order."""
    by_id = Window.partitionBy(*TIMELINE_KEYS, S.EVENT_ID).orderBy(*TIMELINE_ORDER)
    return events.withColumn(_N, F.row_number().over(by_id)).filter(F.col(_N) == 1).drop(_N)


def drop_duplicate_content(events: DataFrame) -> DataFrame:
    """Drop a record when the previous one in its timeline has the same ts, item and type (they sort adjacent)."""
    w = timeline()
    same = (
        F.lag(S.TS).over(w).eqNullSafe(F.col(S.TS))
        & F.lag(S.ITEM_ID).over(w).eqNullSafe(F.col(S.ITEM_ID))
        & F.lag(S.EVENT_TYPE).over(w).eqNullSafe(F.col(S.EVENT_TYPE))
    )
    return events.withColumn(_N, same).filter(~F.col(_N)).drop(_N)


def remove_duplicates(events: DataFrame) -> DataFrame:
    """Both rules; ``events`` must be clustered by the timeline keys (:func:`cluster_by_user`) and have ids."""
    return drop_duplicate_content(drop_duplicate_ids(events))
