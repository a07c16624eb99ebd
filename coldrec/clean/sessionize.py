"""Gap-based sessions for events whose log has no ``session_id``.

Why gap-based and deterministic: without a tracker session, the standard definition (Google Analytics' default is
30 min) is "a new session starts after more than ``gap`` minutes of inactivity". The id is the user plus the UTC
start time of the session, so a rerun gives the same ids. Gaps are measured over all of the user's events of the run
(those with a logged session too: they are activity), and only missing ids are filled; sessions do not span runs.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from coldrec.clean.timeline import timeline
from coldrec.data import schemas as S

SESSION_ID_FORMAT = "yyyyMMdd'T'HHmmss"


def session_start(gap_minutes: int) -> Column:
    """The event's time when it starts a session (first of the timeline, or more than ``gap_minutes`` after the
    previous event), else null."""
    previous = F.lag(S.TS).over(timeline())
    starts = previous.isNull() | (F.unix_micros(F.col(S.TS)) - F.unix_micros(previous) > gap_minutes * 60_000_000)
    return F.when(starts, F.col(S.TS))


def filled_session_id(start: Column) -> Column:
    """The logged ``session_id``, or ``<user_id>#<start of the current session, yyyyMMddTHHmmss>``."""
    current = F.max(start).over(timeline().rowsBetween(Window.unboundedPreceding, Window.currentRow))
    generated = F.concat(F.col(S.USER_ID), F.lit("#"), F.date_format(current, SESSION_ID_FORMAT))
    return F.coalesce(F.col(S.SESSION_ID), generated)


def sessionize(events: DataFrame, gap_minutes: int) -> DataFrame:
    """Fill null ``session_id`` with ``<user_id>#<session start, yyyyMMddTHHmmss>`` (new session when the previous
    event of the user is more than ``gap_minutes`` earlier, or there is none)."""
    marked = events.withColumn("_start", session_start(gap_minutes))
    return marked.withColumn(S.SESSION_ID, filled_session_id(F.col("_start"))).drop("_start")
