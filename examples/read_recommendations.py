"""Read coldrec's published lists without Spark: delta-rs (the `deltalake` package) with DuckDB or Polars.

    python examples/read_recommendations.py --lake ./lake [--user U123] [--run-date 2026-11-07] [--engine polars]

The newest complete run is simply the greatest `run_date`: a run's partition is published in one Delta commit
after its quality gate, so a partition that exists is complete. Older runs: `--run-date`, or time travel with
`--version N` (a Delta table version; `DeltaTable(path).history()` lists them).
"""

from __future__ import annotations

import argparse
from pathlib import Path


def native_filesystem(table_uri: str):
    """pyarrow's own file system rooted at the table (None: let delta-rs pick its own).

    Why: delta-rs's default file system for pyarrow calls back into Rust through Python, and with deltalake 1.6 /
    pyarrow 25 a process that read through it often aborts at exit ("terminate called without an active
    exception", exit code 134) after the read succeeded. pyarrow's native file systems do not.
    """
    import pyarrow.fs as pa_fs

    uri = "s3://" + table_uri.removeprefix("s3a://") if table_uri.startswith("s3a://") else table_uri
    try:
        if "://" not in uri:
            return pa_fs.SubTreeFileSystem(str(Path(uri).resolve()), pa_fs.LocalFileSystem())
        raw, root = pa_fs.FileSystem.from_uri(uri)
        return pa_fs.SubTreeFileSystem(root, raw)
    except (ValueError, OSError):  # a scheme pyarrow does not know
        return None


def latest_lists(lake: str, run_date: str | None = None, version: int | None = None, engine: str = "duckdb"):
    """The lists of one run as a Polars DataFrame (engine=polars) or a DuckDB relation (engine=duckdb)."""
    from deltalake import DeltaTable

    uri = f"{lake.rstrip('/')}/gold/recommendations"
    dataset = DeltaTable(uri, version=version).to_pyarrow_dataset(filesystem=native_filesystem(uri))
    if engine == "polars":
        import polars as pl

        frame = pl.scan_pyarrow_dataset(dataset)
        import datetime as dt

        day = dt.date.fromisoformat(run_date) if run_date else frame.select(pl.col("run_date").max()).collect().item()
        return frame.filter(pl.col("run_date") == pl.lit(day)).sort(["user_id", "rank"]).collect()
    import duckdb
    import polars as pl

    con = duckdb.connect()
    con.register("recommendations", dataset)
    where = "run_date = CAST(? AS DATE)" if run_date else "run_date = (SELECT max(run_date) FROM recommendations)"
    params = [run_date] if run_date else []
    result = con.execute(
        f"SELECT run_date, user_id, rank, item_id, score, source, reason, model_version "
        f"FROM recommendations WHERE {where} ORDER BY user_id, rank",
        params,
    )
    return pl.from_arrow(result.to_arrow_table())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lake", default=str(Path("lake").resolve()))
    parser.add_argument("--user")
    parser.add_argument("--run-date")
    parser.add_argument("--version", type=int)
    parser.add_argument("--engine", choices=["duckdb", "polars"], default="duckdb")
    args = parser.parse_args()
    import polars as pl

    lists = latest_lists(args.lake, args.run_date, args.version, args.engine)
    if args.user:
        lists = lists.filter(pl.col("user_id") == args.user)
    with pl.Config(tbl_rows=40, fmt_str_lengths=60, tbl_width_chars=160):
        print(lists.head(40))
    print(f"{lists.height} rows, {lists['user_id'].n_unique()} users, run_date {lists['run_date'].max()}")


if __name__ == "__main__":
    main()
