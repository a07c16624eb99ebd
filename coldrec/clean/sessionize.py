"""Gap-based sessions for events whose log has no ``session_id``.

Why gap-based and deterministic: without a tracker session, the standard definition (Google Analytics' default is
30 min) is "a new session starts after more than ``gap`` minutes of inactivity". The id is the user plus the UTC
start time of the session, so a rerun gives the same ids. Gaps are measured over all of the user's events of the run
(those with a logged session too: they are activity), and only missing ids are filled; sessions do not span runs.
"""

from __future__ import annotations

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from coldrec.clean.timeline import timeline
from coldrec.data import schemas as S

SESSION_ID_FORMAT = "yyyyMMdd'T'HHmmss"


def sessionize(events: DataFrame, gap_minutes: int) -> DataFrame:
    """Fill null ``session_id`` with ``<user_id>#<session start, yyyyMMddTHHmmss>`` (new session when the previous
    event of the user is more than ``gap_minutes`` earlier, or there is none)."""
    w = timeline()
    previous = F.lag(S.TS).over(w)
    gap_micros = gap_minutes * 60_000_000
    starts = previous.isNull() | (F.unix_micros(F.col(S.TS)) - F.unix_micros(previous) > gap_micros)
    marked = events.withColumn("_start", F.when(starts, F.col(S.TS)))
    running = w.rowsBetween(Window.unboundedPreceding, Window.currentRow)
    session_start = F.max("_start").over(running)
    generated = F.concat(F.col(S.USER_ID), F.lit("#"), F.date_format(session_start, SESSION_ID_FORMAT))
    return marked.withColumn(S.SESSION_ID, F.coalesce(F.col(S.SESSION_ID), generated)).drop("_start")
