"""Validation of parsed raw records: normalized values plus one named ``reason`` per rejected record.

Why a single ``reason`` column computed by one ``CASE WHEN`` chain: a record that breaks several rules gets the
first one in :mod:`coldrec.clean.rules` order on every run, the whole check is one projection (no extra pass, no
UDF), and the split into accepted / rejected is a filter on ``reason IS NULL``.

All functions here are pure ``DataFrame -> DataFrame`` transforms; the input is :func:`coldrec.clean.parse.read_raw`
output (plus ``ingest_date`` for events).
"""

from __future__ import annotations

from collections.abc import Mapping

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from coldrec.clean import rules as R
from coldrec.clean.parse import BLANK, INGEST_DATE, MALFORMED, RAW, ROW_ORDER
from coldrec.config import CleanConfig
from coldrec.data import schemas as S

REASON = "reason"
_KNOWN = "_known_item"
_NUMBER_CHARS = "0123456789.eE+-"
_MAX_ABS_MILLIS = 1e15  # ~ year 33658; beyond that an "epoch millis" value is garbage, not a time


def parse_timestamp(value: Column) -> Column:
    """ISO-8601 (any offset, converted to UTC; a bare date is midnight UTC) or epoch milliseconds -> timestamp.

    Unparseable values give null, never an error (``try_cast``), so they can be quarantined by name. The session
    time zone must be UTC (coldrec.spark sets it) for zone-less strings to mean UTC. Only strings made of number
    characters are tried as epoch millis (a character test, not a regex or a failing number cast per ISO string:
    this runs on every event); anything else, or a number-like string that is no number ("2026-11-01"), is tried as
    ISO-8601.
    """
    text = F.trim(value)
    number_like = F.translate(text, _NUMBER_CHARS, "") == ""
    millis = text.try_cast(T.DoubleType())
    from_millis = F.when(F.abs(millis) < _MAX_ABS_MILLIS, F.timestamp_millis(millis.cast(T.LongType())))
    return F.coalesce(F.when(number_like, from_millis), text.try_cast(T.TimestampType()))


def canonical_event_type(value: Column, table: Mapping[str, str]) -> Column:
    """Raw event type -> canonical type through the synonym table; null when unknown.

    The plain lower-cased value is looked up first; only a miss pays for the separator regex ("Add-To-Cart").
    """
    mapping = F.create_map(*[F.lit(x) for pair in sorted(table.items()) for x in pair])
    plain = F.lower(F.trim(value))
    token = F.regexp_replace(plain, R.TYPE_TOKEN_SEPARATORS, "_")
    return F.coalesce(F.try_element_at(mapping, plain), F.try_element_at(mapping, token))


def _blank_to_null(value: Column) -> Column:
    text = F.trim(value)
    return F.when(text != "", text)


def _reason(checks: list[tuple[Column, str]]) -> Column:
    """First failing check's name, else null; the blank-line bucket always comes first."""
    expr = F.when(F.col(BLANK), F.lit(R.BLANK_LINE)).when(F.col(ROW_ORDER) < 0, F.lit(R.UNREADABLE_FILE))
    for failed, name in checks:
        expr = expr.when(failed, F.lit(name))
    return expr


def _bad_number(value: Column, low: float | None = None, high: float | None = None) -> Column:
    """NaN, +-inf or outside [low, high] (null is not bad: optional fields may be absent)."""
    bad = F.isnan(value) | (F.abs(value) == float("inf"))
    if low is not None:
        bad = bad | (value < low)
    if high is not None:
        bad = bad | (value > high)
    return value.isNotNull() & bad


def validate_events(raw: DataFrame, cfg: CleanConfig, known_items: DataFrame | None = None) -> DataFrame:
    """Normalize raw events and name the first rule each breaks (``reason``; null = accepted).

    ``raw`` needs ``ingest_date``: the run day whose folder held the record. Accepted window for ``ts``:
    ``[ingest_date - lateness_hours, ingest_date + 1 day)``; a late event keeps its own ``event_date``.
    ``known_items`` (one ``item_id`` column) enables the ``unknown_item`` rule; pass it only with the
    ``quarantine`` policy. The raw text is kept for rejected records only (accepted ones do not need it).
    """
    normalized = raw.select(
        RAW,
        S.SOURCE_FILE,
        INGEST_DATE,
        BLANK,
        MALFORMED,
        ROW_ORDER,
        _blank_to_null(F.col(S.EVENT_ID)).alias(S.EVENT_ID),
        _blank_to_null(F.col(S.USER_ID)).alias(S.USER_ID),
        _blank_to_null(F.col(S.ITEM_ID)).alias(S.ITEM_ID),
        canonical_event_type(F.col(S.EVENT_TYPE), R.synonyms(cfg.event_type_synonyms)).alias(S.EVENT_TYPE),
        parse_timestamp(F.col(S.TS)).alias(S.TS),
        F.col(S.RATING),
        _blank_to_null(F.col(S.SESSION_ID)).alias(S.SESSION_ID),
        F.col(S.PRICE),
        F.col(S.QUANTITY),
    )
    if known_items is not None:
        known = known_items.select(S.ITEM_ID).distinct().withColumn(_KNOWN, F.lit(True))
        normalized = normalized.join(known, on=S.ITEM_ID, how="left")
    day_start = F.col(INGEST_DATE).cast(T.TimestampType())
    earliest = day_start - F.expr(f"INTERVAL {int(cfg.lateness_hours)} HOURS")
    day_end = day_start + F.expr("INTERVAL 1 DAY")
    ts, rating = F.col(S.TS), F.col(S.RATING)
    checks = [
        (F.col(MALFORMED), R.MALFORMED_RECORD),
        (F.col(S.USER_ID).isNull(), R.MISSING_USER_ID),
        (F.col(S.ITEM_ID).isNull(), R.MISSING_ITEM_ID),
        (F.col(S.EVENT_TYPE).isNull(), R.UNKNOWN_EVENT_TYPE),
        (ts.isNull(), R.INVALID_TIMESTAMP),
        ((ts < earliest) | (ts >= day_end), R.TIMESTAMP_OUTSIDE_DAY),
        ((F.col(S.EVENT_TYPE) == "rating") & rating.isNull(), R.MISSING_RATING),
        (_bad_number(rating, cfg.rating_min, cfg.rating_max), R.RATING_OUT_OF_RANGE),
        (_bad_number(F.col(S.PRICE), 0.0, cfg.max_price), R.INVALID_PRICE),
        (F.col(S.QUANTITY).isNotNull() & (F.col(S.QUANTITY) < 1), R.INVALID_QUANTITY),
    ]
    if known_items is not None:
        checks.append((F.col(_KNOWN).isNull(), R.UNKNOWN_ITEM))
    reason = _reason(checks)
    return normalized.select(
        F.when(reason.isNotNull(), F.col(RAW)).alias(RAW),
        S.SOURCE_FILE,
        INGEST_DATE,
        reason.alias(REASON),
        S.EVENT_ID,
        S.USER_ID,
        S.ITEM_ID,
        S.EVENT_TYPE,
        S.TS,
        S.RATING,
        S.SESSION_ID,
        S.PRICE,
        S.QUANTITY,
        F.to_date(ts).alias(S.EVENT_DATE),
    )


def validate_items(raw: DataFrame, cfg: CleanConfig) -> DataFrame:
    """Normalize catalog records (trimmed id, ``category_path`` without spaces around ``>``) and name failures."""
    created = parse_timestamp(F.col(S.CREATED_AT))
    category = F.regexp_replace(F.trim(F.col(S.CATEGORY_PATH)), r"\s*" + S.CATEGORY_SEP + r"\s*", S.CATEGORY_SEP)
    normalized = raw.select(
        "*",
        _blank_to_null(F.col(S.ITEM_ID)).alias("_id"),
        created.alias("_created"),
        F.when(category != "", category).alias("_category"),
    )
    reason = _reason(
        [
            (F.col(MALFORMED), R.MALFORMED_RECORD),
            (F.col("_id").isNull(), R.MISSING_ITEM_ID),
            (_bad_number(F.col(S.PRICE), 0.0, cfg.max_price), R.INVALID_PRICE),
            (F.col(S.CREATED_AT).isNotNull() & F.col("_created").isNull(), R.INVALID_TIMESTAMP),
        ]
    )
    return normalized.select(
        RAW,
        S.SOURCE_FILE,
        ROW_ORDER,
        reason.alias(REASON),
        F.col("_id").alias(S.ITEM_ID),
        _blank_to_null(F.col(S.TITLE)).alias(S.TITLE),
        F.col(S.DESCRIPTION),
        F.col("_category").alias(S.CATEGORY_PATH),
        _blank_to_null(F.col(S.BRAND)).alias(S.BRAND),
        F.col(S.PRICE),
        F.col("_created").alias(S.CREATED_AT),
    )


def validate_users(raw: DataFrame, cfg: CleanConfig) -> DataFrame:
    """Normalize user records (trimmed id, trimmed non-empty interests) and name failures.

    ``cfg`` is unused today (ages use the fixed 0..120 of the table constraint); kept so all validators match.
    """
    signup = parse_timestamp(F.col(S.SIGNUP_TS))
    normalized = raw.select("*", _blank_to_null(F.col(S.USER_ID)).alias("_id"), signup.alias("_signup"))
    age = F.col(S.AGE)
    reason = _reason(
        [
            (F.col(MALFORMED), R.MALFORMED_RECORD),
            (F.col("_id").isNull(), R.MISSING_USER_ID),
            (age.isNotNull() & ((age < R.AGE_MIN) | (age > R.AGE_MAX)), R.INVALID_AGE),
            (F.col(S.SIGNUP_TS).isNotNull() & F.col("_signup").isNull(), R.INVALID_TIMESTAMP),
        ]
    )
    interests = F.filter(F.transform(F.col(S.INTERESTS), lambda x: F.trim(x)), lambda x: x != "")
    return normalized.select(
        RAW,
        S.SOURCE_FILE,
        ROW_ORDER,
        reason.alias(REASON),
        F.col("_id").alias(S.USER_ID),
        F.col("_signup").alias(S.SIGNUP_TS),
        age.alias(S.AGE),
        _blank_to_null(F.col(S.GENDER)).alias(S.GENDER),
        _blank_to_null(F.col(S.COUNTRY)).alias(S.COUNTRY),
        _blank_to_null(F.col(S.REGION)).alias(S.REGION),
        interests.alias(S.INTERESTS),
    )
