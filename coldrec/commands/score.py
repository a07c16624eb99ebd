"""``coldrec score --date D``: the nightly all-user top-N (what the publish step writes to gold.recommendations)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import typer

from coldrec.commands._common import DateOpt, LakeOpt, LandingOpt, parse_date, settings_for

if TYPE_CHECKING:
    import pandas as pd


def register(app: typer.Typer) -> None:
    @app.command("score")
    def score(
        date: str = DateOpt,
        landing: str | None = LandingOpt,
        lake: str | None = LakeOpt,
        top_n: int | None = typer.Option(None, "--top-n", help="list length per user (default COLDREC_TOP_N)"),
        out: str | None = typer.Option(None, "--out", help="also write the rows as Parquet to this path"),
        show: int = typer.Option(10, "--show", help="print this many rows"),
    ) -> None:
        """Score every user for run date D: blend the sources, remove bought items, diversify, explain.

        Prints a summary (users, rows, share per source) and records it in ops.run_metrics (stage 'score').
        """
        from rich.console import Console
        from rich.table import Table

        from coldrec import lake as lk
        from coldrec.recommend.nightly import score_all_users
        from coldrec.spark import build_spark

        run_date = parse_date(date)
        settings = settings_for(landing, lake, top_n=top_n)
        console = Console()
        spark = build_spark("coldrec-score", settings)
        t0 = time.perf_counter()
        with console.status(f"scoring all users for {run_date}"):
            recs = score_all_users(spark, settings, run_date).cache()
            n_rows = recs.count()
        seconds = time.perf_counter() - t0
        by_source = {r["source"]: r["count"] for r in recs.groupBy("source").count().collect()}
        n_users = recs.select("user_id").distinct().count()
        console.print(f"{n_users:,} users, {n_rows:,} rows in {seconds:.1f} s")
        table = Table("source", "rows", "share")
        for source, count in sorted(by_source.items(), key=lambda kv: -kv[1]):
            table.add_row(source, f"{count:,}", f"{count / max(n_rows, 1):.1%}")
        console.print(table)
        if show:
            shown: pd.DataFrame = recs.orderBy("user_id", "rank").limit(show).toPandas()
            console.print(shown.to_string(index=False))
        metrics = {"users": n_users, "rows": n_rows, "seconds": seconds}
        metrics.update({f"share_{k}": v / max(n_rows, 1) for k, v in by_source.items()})
        lk.record_metrics(spark, settings, run_date, "score", metrics)
        if out:
            recs.write.mode("overwrite").parquet(out)
            console.print(f"wrote {out}")
