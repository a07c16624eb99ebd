"""Flagging bot-like users: too many events in a minute or in a day. Flagged, never dropped.

Why ``lag`` instead of counting windows: "more than N events within some 60 seconds" is equivalent to "some event is
less than 60 s after the event N positions before it" in time order, and "more than M events on one day" to "the
event M positions before has the same ``event_date``". Both are a ``lag`` over the shared timeline
(:mod:`coldrec.clean.timeline`): linear, no sliding frame to re-aggregate, no extra sort. A user is a bot for the
whole run as soon as one of their events crosses a threshold, so training can exclude all of their signal
(``is_bot``) while the rows stay auditable in ``silver.events``.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from coldrec.clean.timeline import timeline
from coldrec.data import schemas as S

_MINUTE_MICROS = 60_000_000


def minute_burst(per_minute: int) -> Column:
    """True on an event that ends a run of ``per_minute + 1`` events spanning less than 60 seconds."""
    earlier = F.lag(S.TS, per_minute).over(timeline())
    return F.coalesce(F.unix_micros(F.col(S.TS)) - F.unix_micros(earlier) < _MINUTE_MICROS, F.lit(False))


def day_burst(per_day: int) -> Column:
    """True on the ``per_day + 1``-th event of a user on one UTC day."""
    earlier = F.lag(S.EVENT_DATE, per_day).over(timeline())
    return F.coalesce(earlier == F.col(S.EVENT_DATE), F.lit(False))


def burst(per_minute: int, per_day: int) -> Column:
    """True on an event where the user crosses either threshold (offset functions over the timeline)."""
    return minute_burst(per_minute) | day_burst(per_day)


def bot_flag(crossed: Column) -> Column:
    """True on every event of a timeline where ``crossed`` is true somewhere (ordered spec, whole frame, so it
    shares its sort and its window operator with the session start of :mod:`coldrec.clean.sessionize`)."""
    return F.max(crossed).over(timeline().rowsBetween(Window.unboundedPreceding, Window.unboundedFollowing))


def flag_bots(events: DataFrame, per_minute: int, per_day: int) -> DataFrame:
    """Add ``is_bot``: the user crossed ``per_minute`` (any 60 s) or ``per_day`` (one UTC day) in this run."""
    crossed = events.withColumn("_burst", burst(per_minute, per_day))
    return crossed.withColumn(S.IS_BOT, bot_flag(F.col("_burst"))).drop("_burst")
