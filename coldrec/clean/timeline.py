"""The per-user timeline window shared by deduplication, bot flags and sessionization.

Why one window: every denoising step looks at a user's events of one run in time order. Using the *same* window
spec (partition ``user_id, ingest_date``: the user first, so sorts compare on its prefix; a total order on the
event's content) lets Spark do one shuffle and one sort for all of them; each step then only adds cheap ``lag`` /
running-aggregate columns. The order is total over every output column, so which copy of a duplicate survives never
depends on how the input was split.
"""

from __future__ import annotations

from pyspark.sql import DataFrame, Window, WindowSpec

from coldrec.clean.parse import INGEST_DATE
from coldrec.data import schemas as S

#: Partition of a timeline: one user's events of one run (a backfill of many days = many independent daily runs).
TIMELINE_KEYS: tuple[str, ...] = (S.USER_ID, INGEST_DATE)
#: Total order inside a timeline: time first, then every other content column as a tie-breaker.
TIMELINE_ORDER: tuple[str, ...] = (
    S.TS,
    S.ITEM_ID,
    S.EVENT_TYPE,
    S.EVENT_ID,
    S.RATING,
    S.PRICE,
    S.QUANTITY,
    S.SESSION_ID,
    S.SOURCE_FILE,
)


def timeline() -> WindowSpec:
    """A user's events of one run in time order (rows frame by default for offset functions)."""
    return Window.partitionBy(*TIMELINE_KEYS).orderBy(*TIMELINE_ORDER)


def cluster_by_user(events: DataFrame) -> DataFrame:
    """Hash-partition by the timeline keys once, so every later window (including the event-id one) reuses it."""
    return events.repartition(*TIMELINE_KEYS)
