"""Data contracts: the raw input a shop exports and every Delta table coldrec writes.

Why explicit StructTypes: parsing raw logs against a fixed schema (never inference) is both the fast path and the
validation contract; downstream consumers rely on the table names and column names below, so they live in one
place and every module imports the constants instead of spelling strings.
"""

from __future__ import annotations

from pyspark.sql import types as T

# ---------------------------------------------------------------------------------------------------------------
# Column names (import these instead of writing strings)
# ---------------------------------------------------------------------------------------------------------------
EVENT_ID = "event_id"
USER_ID = "user_id"
ITEM_ID = "item_id"
EVENT_TYPE = "event_type"
TS = "ts"
RATING = "rating"
SESSION_ID = "session_id"
PRICE = "price"
QUANTITY = "quantity"
EVENT_DATE = "event_date"
RUN_DATE = "run_date"
IS_BOT = "is_bot"
SOURCE_FILE = "source_file"

TITLE = "title"
DESCRIPTION = "description"
CATEGORY_PATH = "category_path"
BRAND = "brand"
CREATED_AT = "created_at"

SIGNUP_TS = "signup_ts"
AGE = "age"
GENDER = "gender"
COUNTRY = "country"
REGION = "region"
INTERESTS = "interests"

CORRUPT_RECORD = "_corrupt_record"

#: Canonical event types, in increasing order of intent. Raw logs may use synonyms (see coldrec.clean).
EVENT_TYPES: tuple[str, ...] = ("view", "click", "favorite", "cart", "purchase", "rating")

#: Separator of the levels of ``category_path`` ("Sports>Shoes>Running").
CATEGORY_SEP = ">"

# ---------------------------------------------------------------------------------------------------------------
# Raw input contract (what a shop exports: JSON lines or CSV, one folder per day)
#   landing/events/date=YYYY-MM-DD/*.jsonl   landing/items/*.jsonl   landing/users/*.jsonl
# Everything is read as nullable strings/numbers: validation (coldrec.clean) decides what is acceptable, so a
# malformed value must reach it instead of failing the reader. ``ts`` is a string holding ISO-8601 or epoch millis.
# ---------------------------------------------------------------------------------------------------------------
RAW_EVENTS = T.StructType(
    [
        T.StructField(EVENT_ID, T.StringType()),
        T.StructField(USER_ID, T.StringType()),
        T.StructField(ITEM_ID, T.StringType()),
        T.StructField(EVENT_TYPE, T.StringType()),
        T.StructField(TS, T.StringType()),
        T.StructField(RATING, T.DoubleType()),
        T.StructField(SESSION_ID, T.StringType()),
        T.StructField(PRICE, T.DoubleType()),
        T.StructField(QUANTITY, T.IntegerType()),
    ]
)

RAW_ITEMS = T.StructType(
    [
        T.StructField(ITEM_ID, T.StringType()),
        T.StructField(TITLE, T.StringType()),
        T.StructField(DESCRIPTION, T.StringType()),
        T.StructField(CATEGORY_PATH, T.StringType()),
        T.StructField(BRAND, T.StringType()),
        T.StructField(PRICE, T.DoubleType()),
        T.StructField(CREATED_AT, T.StringType()),
    ]
)

RAW_USERS = T.StructType(
    [
        T.StructField(USER_ID, T.StringType()),
        T.StructField(SIGNUP_TS, T.StringType()),
        T.StructField(AGE, T.IntegerType()),
        T.StructField(GENDER, T.StringType()),
        T.StructField(COUNTRY, T.StringType()),
        T.StructField(REGION, T.StringType()),
        # JSON: an array of strings; CSV: "a|b|c" (the CSV reader splits it)
        T.StructField(INTERESTS, T.ArrayType(T.StringType())),
    ]
)


def _f(name: str, dtype: T.DataType, nullable: bool = True, comment: str | None = None) -> T.StructField:
    metadata = {"comment": comment} if comment else {}
    return T.StructField(name, dtype, nullable, metadata)


# ---------------------------------------------------------------------------------------------------------------
# Silver (cleaned) tables
# ---------------------------------------------------------------------------------------------------------------
SILVER_EVENTS = T.StructType(
    [
        _f(EVENT_ID, T.StringType(), False, "event id from the log, or a deterministic hash when absent"),
        _f(USER_ID, T.StringType(), False),
        _f(ITEM_ID, T.StringType(), False),
        _f(EVENT_TYPE, T.StringType(), False, "canonical: view, click, favorite, cart, purchase, rating"),
        _f(TS, T.TimestampType(), False, "event time, UTC"),
        _f(RATING, T.DoubleType(), True, "1..5 for rating events"),
        _f(SESSION_ID, T.StringType(), False, "from the log, or gap-based sessionization"),
        _f(PRICE, T.DoubleType()),
        _f(QUANTITY, T.IntegerType()),
        _f(IS_BOT, T.BooleanType(), False, "flagged by the bot rules; kept for audit, excluded from training"),
        _f(SOURCE_FILE, T.StringType()),
        _f(EVENT_DATE, T.DateType(), False, "partition: the UTC day of ts"),
        _f(
            "ingest_date",
            T.DateType(),
            False,
            "run date whose landing folder held the event (>= event_date for late events); a rerun replaces by it",
        ),
    ]
)

SILVER_ITEMS = T.StructType(
    [
        _f(ITEM_ID, T.StringType(), False),
        _f(TITLE, T.StringType()),
        _f(DESCRIPTION, T.StringType()),
        _f(CATEGORY_PATH, T.StringType()),
        _f(BRAND, T.StringType()),
        _f(PRICE, T.DoubleType()),
        _f(CREATED_AT, T.TimestampType()),
        _f("updated_date", T.DateType(), False, "run date of the record that won the upsert"),
    ]
)

SILVER_USERS = T.StructType(
    [
        _f(USER_ID, T.StringType(), False),
        _f(SIGNUP_TS, T.TimestampType()),
        _f(AGE, T.IntegerType()),
        _f(GENDER, T.StringType()),
        _f(COUNTRY, T.StringType()),
        _f(REGION, T.StringType()),
        _f(INTERESTS, T.ArrayType(T.StringType())),
        _f("updated_date", T.DateType(), False, "run date of the record that won the upsert"),
    ]
)

SILVER_REJECTED = T.StructType(
    [
        _f(RUN_DATE, T.DateType(), False),
        _f("dataset", T.StringType(), False, "events, items or users"),
        _f("reason", T.StringType(), False, "named validation rule that rejected the record"),
        _f(
            "raw",
            T.StringType(),
            True,
            "the raw record as read (JSON text or CSV line) as valid UTF-8: bytes that are not UTF-8 become U+FFFD",
        ),
        _f("raw_bytes", T.BinaryType(), True, "the exact bytes of the raw record as read; null for an unreadable file"),
        _f(SOURCE_FILE, T.StringType()),
    ]
)

# ---------------------------------------------------------------------------------------------------------------
# Gold tables
# ---------------------------------------------------------------------------------------------------------------
GOLD_INTERACTIONS = T.StructType(
    [
        _f(RUN_DATE, T.DateType(), False),
        _f(USER_ID, T.StringType(), False),
        _f(ITEM_ID, T.StringType(), False),
        _f("weight", T.DoubleType(), False, "event-type weight x time decay, normalized per user"),
        _f("n_events", T.LongType(), False),
        _f("purchased", T.BooleanType(), False),
        _f("last_ts", T.TimestampType(), False),
    ]
)

SIMILARITY = T.StructType(
    [
        _f("id", T.StringType(), False),
        _f("neighbor_id", T.StringType(), False),
        _f("similarity", T.DoubleType(), False),
        _f("support", T.LongType(), False, "number of co-occurring users (items) behind the similarity"),
        _f("metric", T.StringType(), False, "cosine, pearson or jaccard"),
        _f(RUN_DATE, T.DateType(), False),
    ]
)

SIMILAR_ITEMS = T.StructType(
    [
        _f(RUN_DATE, T.DateType(), False),
        _f(ITEM_ID, T.StringType(), False),
        _f("rank", T.IntegerType(), False),
        _f("neighbor_id", T.StringType(), False),
        _f("score", T.DoubleType(), False),
        _f("source", T.StringType(), False, "cf, content or popular"),
    ]
)

RECOMMENDATIONS = T.StructType(
    [
        _f(RUN_DATE, T.DateType(), False),
        _f(USER_ID, T.StringType(), False),
        _f("rank", T.IntegerType(), False),
        _f(ITEM_ID, T.StringType(), False),
        _f("score", T.DoubleType(), False),
        _f("source", T.StringType(), False, "cf, autoencoder, gan, content, popular, cross_category"),
        _f("reason", T.StringType(), False, "human-readable explanation"),
        _f("model_version", T.StringType(), False),
    ]
)

RUN_METRICS = T.StructType(
    [
        _f(RUN_DATE, T.DateType(), False),
        _f("stage", T.StringType(), False, "clean, interactions, similarity, train, evaluate, publish ..."),
        _f("metric", T.StringType(), False),
        _f("value", T.DoubleType(), True),
        _f("detail", T.StringType(), True, "free text or JSON"),
    ]
)
