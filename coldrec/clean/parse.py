"""Reading raw landing files against the explicit raw schema, keeping each record's raw text and source file.

Why text + ``from_json`` instead of ``spark.read.json``: the quarantine must hold the record exactly as the shop sent
it, for every rejection reason (not only for unparseable lines). Reading the files as text once gives the raw line,
the file it came from (``_metadata.file_path``) and, through ``from_json`` with the contract schema in PERMISSIVE
mode with a corrupt-record column, the typed fields, in one pass and without schema inference. Values of the wrong
type (``"rating": "five"``) make the record malformed instead of failing the job.

CSV (``*.csv``) is read with its header, every column as a string, then cast to the contract types with
``try_cast``; a value that does not cast, or a line with the wrong number of fields, makes the record malformed. The
raw text of a CSV record is re-rendered from its fields (``to_csv``), which is the line modulo quoting.
"""

from __future__ import annotations

import csv
import re
from typing import Any

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from coldrec.data import schemas as S

RAW = "raw"
MALFORMED = "_malformed"
BLANK = "_blank"
INGEST_DATE = "ingest_date"
#: Order of a record inside its file (monotonic within a file): "latest record wins" for items/users ties.
ROW_ORDER = "_row_order"
#: A file path's 64-bit hash: what rides through caches and shuffles instead of the ~100-byte path string.
FILE_KEY = "_file_key"

CSV_SUFFIXES = (".csv",)
_COMPRESSED = ("", ".gz", ".bz2")
#: codecs Hadoop picks by suffix: a file with one of them is test-read before the job relies on it
_CODEC_SUFFIXES = (".gz", ".bz2", ".deflate", ".zst", ".lz4", ".snappy")
#: ``_row_order`` of the one record standing for a file that could not be read (every real record has >= 0)
UNREADABLE_ROW_ORDER = -1


def _has_suffix(path: str, suffixes: tuple[str, ...]) -> bool:
    name = path.rsplit("/", 1)[-1].lower()
    return any(name.endswith(s + c) for s in suffixes for c in _COMPRESSED)


def list_files(spark: SparkSession, folder: str) -> list[str]:
    """Data files directly inside ``folder`` (any Hadoop file system: local, s3a://, abfss://), sorted by name.

    Hidden and marker files (``_SUCCESS``, ``.crc``, ``_coldrec_import.json``) are skipped; every other file is
    input (``*.csv`` as CSV, anything else as JSON lines), so a stray file is quarantined line by line rather than
    silently ignored. A missing folder is an empty list: "no input for this day" is a data-quality question.
    """
    return [path for path, _ in list_files_with_sizes(spark, folder)]


def list_files_with_sizes(spark: SparkSession, folder: str) -> list[tuple[str, int]]:
    """:func:`list_files` with each file's length in bytes (to size the partitions of the parsed data)."""
    jvm: Any = spark._jvm  # the JVM's Hadoop FileSystem sees exactly the paths Spark will read
    path = jvm.org.apache.hadoop.fs.Path(folder)
    fs = path.getFileSystem(spark._jsc.hadoopConfiguration())
    if not fs.exists(path):
        return []
    files = []
    for status in fs.listStatus(path):
        name = status.getPath().getName()
        if status.isFile() and not name.startswith(("_", ".")):
            files.append((status.getPath().toString(), int(status.getLen())))
    return sorted(files)


def with_corrupt_column(schema: T.StructType) -> T.StructType:
    return T.StructType([*schema.fields, T.StructField(S.CORRUPT_RECORD, T.StringType())])


def unreadable_files(spark: SparkSession, files: list[str]) -> dict[str, str]:
    """Compressed files among ``files`` that do not decompress (truncated, corrupt), each with a short,
    deterministic description of why (the Java exception's class).

    Why a test read: Spark fails the whole job on a corrupt compressed file, and ``ignoreCorruptFiles`` would keep
    the lines read before the damage and drop the rest silently. Reading each compressed file once more costs one
    decompression of it; plain text files (the usual case) are never probed.
    """
    out: dict[str, str] = {}
    for path in files:
        name = path.rsplit("/", 1)[-1].lower()
        if not name.endswith(_CODEC_SUFFIXES):
            continue
        try:
            spark.read.text(path).count()
        except Exception as exc:  # Py4JJavaError / a captured Spark error: the file cannot be read
            found = re.findall(r"((?:java|org)\.[\w.$]+(?:Exception|Error))", str(exc))
            out[path] = f"unreadable file ({found[-1] if found else type(exc).__name__})"
    return out


def unreadable_records(spark: SparkSession, unreadable: dict[str, str], schema: T.StructType) -> DataFrame:
    """One record per unreadable file, in :func:`read_raw`'s shape: ``raw`` is why, ``_row_order`` is
    :data:`UNREADABLE_ROW_ORDER` (validation names it ``unreadable_file``), ``source_file`` spelled as Spark
    spells a file it reads (so the job's file keys find it)."""
    jvm: Any = spark._jvm
    hadoop_path = jvm.org.apache.hadoop.fs.Path
    rows = [
        (why, hadoop_path(path).toUri().toString(), False, True, UNREADABLE_ROW_ORDER, *([None] * len(schema.fields)))
        for path, why in sorted(unreadable.items())
    ]
    return spark.createDataFrame(rows, empty_raw(spark, schema).schema)


def read_raw(spark: SparkSession, files: list[str], schema: T.StructType) -> DataFrame:
    """All ``files`` (``*.csv`` as CSV, the rest as JSON lines) as one DataFrame: ``raw``, ``source_file``,
    ``_blank``, ``_malformed``, ``_row_order`` and the ``schema`` fields, typed. Blank lines are kept (flagged) so
    they can be counted; a compressed file that does not decompress is one record (see :func:`unreadable_files`)."""
    unreadable = unreadable_files(spark, files)
    files = [f for f in files if f not in unreadable]
    csv_files = [f for f in files if _has_suffix(f, CSV_SUFFIXES)]
    json_files = [f for f in files if f not in csv_files]
    frames = [unreadable_records(spark, unreadable, schema)] if unreadable else []
    if json_files:
        frames.append(read_json_lines(spark, json_files, schema))
    frames.extend(read_csv(spark, group, header, schema) for header, group in _csv_groups(spark, csv_files).items())
    if not frames:
        return empty_raw(spark, schema)
    out = frames[0]
    for frame in frames[1:]:
        out = out.unionByName(frame)
    return out


def raw_columns(schema: T.StructType) -> list[str]:
    return [RAW, S.SOURCE_FILE, BLANK, MALFORMED, ROW_ORDER, *schema.fieldNames()]


def empty_raw(spark: SparkSession, schema: T.StructType) -> DataFrame:
    fields = [
        T.StructField(RAW, T.StringType()),
        T.StructField(S.SOURCE_FILE, T.StringType()),
        T.StructField(BLANK, T.BooleanType()),
        T.StructField(MALFORMED, T.BooleanType()),
        T.StructField(ROW_ORDER, T.LongType()),
        *schema.fields,
    ]
    return spark.createDataFrame([], T.StructType(fields))


def read_json_lines(spark: SparkSession, files: list[str], schema: T.StructType) -> DataFrame:
    """JSON lines: one text pass, ``from_json`` with the contract schema + corrupt-record column (PERMISSIVE)."""
    options = {"mode": "PERMISSIVE", "columnNameOfCorruptRecord": S.CORRUPT_RECORD}
    text = spark.read.text(files).select(
        F.col("value").alias(RAW),
        F.col("_metadata.file_path").alias(S.SOURCE_FILE),
        F.monotonically_increasing_id().alias(ROW_ORDER),
    )
    parsed = text.select("*", F.from_json(F.col(RAW), with_corrupt_column(schema), options).alias("_p"))
    # only a line that did not parse is tested for blankness (the common case never pays for the trim)
    unparsed = F.col("_p").isNull()
    blank = unparsed & (F.trim(F.col(RAW)) == "")
    # a line that is not UTF-8 is not JSON (RFC 8259): its fields would carry invalid strings into the silver tables
    malformed = ~blank & (unparsed | F.col(f"_p.{S.CORRUPT_RECORD}").isNotNull() | ~F.is_valid_utf8(F.col(RAW)))
    return parsed.select(
        RAW,
        S.SOURCE_FILE,
        blank.alias(BLANK),
        malformed.alias(MALFORMED),
        ROW_ORDER,
        *[F.col(f"_p.{name}").alias(name) for name in schema.fieldNames()],
    )


def _csv_groups(spark: SparkSession, files: list[str]) -> dict[tuple[str, ...], list[str]]:
    """CSV files grouped by header, so each group is read with its own column names (any column order)."""
    groups: dict[tuple[str, ...], list[str]] = {}
    for path in files:
        first = spark.read.text(path).first()
        if first is None:
            continue  # an empty file holds no records
        header = tuple(name.strip() for name in next(csv.reader([first["value"]])))
        groups.setdefault(header, []).append(path)
    return groups


def _typed(source: Column, dtype: T.DataType) -> Column:
    if isinstance(dtype, T.StringType):
        return source
    if isinstance(dtype, T.ArrayType):  # "a|b|c" in CSV
        return F.when(source.isNull(), F.lit(None)).otherwise(F.split(source, r"\|"))
    return source.try_cast(dtype)


def read_csv(spark: SparkSession, files: list[str], header: tuple[str, ...], schema: T.StructType) -> DataFrame:
    """CSV with a header: strings by column name, cast with ``try_cast``; a failed cast marks the record malformed."""
    string_schema = T.StructType(
        [T.StructField(name, T.StringType()) for name in header] + [T.StructField(S.CORRUPT_RECORD, T.StringType())]
    )
    df = (
        spark.read.schema(string_schema)
        .option("header", True)
        .option("mode", "PERMISSIVE")
        .option("columnNameOfCorruptRecord", S.CORRUPT_RECORD)
        .csv(files)
        .select(
            "*",
            F.col("_metadata.file_path").alias(S.SOURCE_FILE),
            F.monotonically_increasing_id().alias(ROW_ORDER),
        )
    )
    typed: dict[str, Column] = {}
    bad_cast = F.lit(False)
    for field in schema.fields:
        if field.name in header:
            source = F.col(f"`{field.name}`")
            typed[field.name] = _typed(source, field.dataType)
            if not isinstance(field.dataType, T.StringType | T.ArrayType):
                bad_cast = bad_cast | (source.isNotNull() & typed[field.name].isNull())
        else:
            typed[field.name] = F.lit(None).cast(field.dataType)
    rendered = F.to_csv(F.struct(*[F.col(f"`{name}`") for name in header]))
    raw = F.coalesce(F.col(S.CORRUPT_RECORD), rendered)
    return df.select(
        raw.alias(RAW),
        S.SOURCE_FILE,
        F.lit(False).alias(BLANK),
        (F.col(S.CORRUPT_RECORD).isNotNull() | bad_cast | ~F.is_valid_utf8(raw)).alias(MALFORMED),
        ROW_ORDER,
        *[typed[name].alias(name) for name in schema.fieldNames()],
    )


def file_key(path: Column) -> Column:
    return F.xxhash64(path)


def file_keys(spark: SparkSession, files: list[str]) -> DataFrame:
    """``(_file_key, source_file)`` of the listed files, ``source_file`` spelled the way ``_metadata.file_path``
    spells it (URL-encoded: a space is ``%20``), so the key of a row read from a file finds that file's path."""
    jvm: Any = spark._jvm
    hadoop_path = jvm.org.apache.hadoop.fs.Path
    spelled = sorted({hadoop_path(f).toUri().toString() for f in files})
    schema = T.StructType([T.StructField(S.SOURCE_FILE, T.StringType(), nullable=False)])
    frame = spark.createDataFrame([(p,) for p in spelled], schema)
    return frame.select(file_key(F.col(S.SOURCE_FILE)).alias(FILE_KEY), S.SOURCE_FILE)


def date_in_path(path_col: Column) -> Column:
    """The ``date=YYYY-MM-DD`` folder holding a file, as a date; null for files outside a date folder.

    String slicing, not a regex: this runs once per record, and the run's files always sit directly in their
    folder (``list_files`` does not recurse).
    """
    folder = F.substring_index(path_col, "/", -2)
    return F.when(folder.startswith("date="), F.substring(folder, 6, 10).try_cast(T.DateType()))
