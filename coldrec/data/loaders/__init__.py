"""Loaders that turn public data sets and shop exports into the raw landing contract (see ``coldrec import``).

Each loader reads its source with pandas (vectorized, no per-row Python), returns contract-shaped frames, and writes
them with one :class:`LandingWriter` so every source lands in exactly the format the cleaning job reads:
``events/date=YYYY-MM-DD/part-00000.jsonl``, ``items/part-00000.jsonl``, ``users/part-00000.jsonl``, plus
``_coldrec_import.json`` (what was imported and how; Spark ignores files starting with ``_``).
"""

from coldrec.data.loaders._landing import ImportSummary, LandingFrames, LandingWriter
from coldrec.data.loaders.amazon import import_amazon_s3rec, read_amazon_s3rec
from coldrec.data.loaders.generic import EventMapping, ItemMapping, UserMapping, import_table
from coldrec.data.loaders.movielens import import_movielens_100k, read_movielens_100k
from coldrec.data.loaders.ratings_csv import import_ratings_csv, read_ratings_csv

__all__ = [
    "EventMapping",
    "ImportSummary",
    "ItemMapping",
    "LandingFrames",
    "LandingWriter",
    "UserMapping",
    "import_amazon_s3rec",
    "import_movielens_100k",
    "import_ratings_csv",
    "import_table",
    "read_amazon_s3rec",
    "read_movielens_100k",
    "read_ratings_csv",
]
