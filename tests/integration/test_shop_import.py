"""A shop's own export, onboarded the README's way: `coldrec import csv`, `coldrec backfill` (which publishes the
lists of its last day, LAST - 1), then the nightly through Airflow (`airflow dags test coldrec_nightly LAST`, no
AIRFLOW_CONN_* in the environment), lists read for LAST - 1 and LAST.

The export is written from MovieLens 100K in a shop's own column names: ratings become purchases (order number,
customer number, SKU, order time, quantity, unit price), u.item a product catalog, u.user a customer list. The
calendar is squeezed, order kept, into November and December 1997: dates long before 2026. Bounded: the customers
1..300 of ML-100K only (about 32k purchases, 1.6k products), 61 days, 3 training epochs, TF-IDF texts.
Also checked: a second backfill of the same range, through Airflow (the `coldrec_backfill` DAG), leaves every table
it writes identical.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytestmark = [pytest.mark.slow, pytest.mark.spark]

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
CUSTOMERS = 300
TOP_N = 10
LAST_DAY = dt.date(1997, 12, 31)
DAYS = 61
#: what the backfill writes, compared between two runs (ops.run_metrics holds timings: not compared)
TABLES = (
    "silver/events",
    "silver/items",
    "silver/users",
    "silver/rejected",
    "gold/interactions",
    "gold/item_similarity",
    "gold/user_similarity",
    "gold/similar_items",
    "gold/item_features",
    "gold/user_features",
    "gold/text_vectors",
    "stage/recommendations",
    "gold/recommendations",
)


def write_shop_export(ml: Path, out: Path) -> pd.DataFrame:
    """purchases.csv, products.csv, customers.csv in the shop's column names; returns the purchases."""
    ratings = pd.read_csv(ml / "u.data", sep="\t", names=["user", "item", "rating", "ts"])
    ratings = ratings[ratings["user"] <= CUSTOMERS].sort_values(["ts", "user", "item"]).reset_index(drop=True)
    # the 7 months of ML-100K squeezed, in order, into the last DAYS days of 1997 (fewer day folders to clean)
    span = ratings["ts"].max() - ratings["ts"].min() + 1
    end = pd.Timestamp(LAST_DAY + dt.timedelta(days=1), tz="UTC")
    when = end - pd.to_timedelta((ratings["ts"].max() + 1 - ratings["ts"]) * (DAYS * 86400 / span), unit="s")
    purchases = pd.DataFrame(
        {
            "order_no": "SO-" + pd.Series(np.arange(1, len(ratings) + 1)).astype(str).str.zfill(6),
            "customer_no": "C" + ratings["user"].astype(str),
            "sku": "SKU-" + ratings["item"].astype(str),
            "ordered_at": when.dt.strftime("%Y-%m-%d %H:%M:%S"),
            "qty": 1,
            "unit_price": (4.99 + ratings["item"] % 20).round(2),
        }
    )
    out.mkdir(parents=True)
    purchases.to_csv(out / "purchases.csv", index=False)

    genres = pd.read_csv(ml / "u.genre", sep="|", names=["name", "index"], encoding="latin-1").dropna()["name"]
    base = ["item", "title", "release", "video", "url"]
    items = pd.read_csv(ml / "u.item", sep="|", names=base + list(genres), encoding="latin-1", keep_default_na=False)
    flags = items[list(genres)].to_numpy(dtype=bool)
    first_genre = np.where(flags.any(axis=1), np.asarray(genres)[flags.argmax(axis=1)], "Other")
    pd.DataFrame(
        {
            "sku": "SKU-" + items["item"].astype(str),
            "product_name": items["title"].str.strip(),
            "department": "Movies/" + pd.Series(first_genre),
            "launch_date": items["release"].str.strip(),
        }
    ).to_csv(out / "products.csv", index=False)

    users = pd.read_csv(ml / "u.user", sep="|", names=["user", "age", "gender", "job", "zip"])
    users = users[users["user"] <= CUSTOMERS]
    pd.DataFrame({"customer_no": "C" + users["user"].astype(str), "age": users["age"], "sex": users["gender"]}).to_csv(
        out / "customers.csv", index=False
    )
    purchases["day"] = pd.to_datetime(purchases["ordered_at"]).dt.date
    return purchases


def _env(base: Path) -> dict[str, str]:
    """What a data engineer's shell holds: the venv's tools on PATH, coldrec's locations; no Airflow connection."""
    from coldrec.local_airflow import fresh_shop_env

    return fresh_shop_env(base, {
        "COLDREC_SPARK_MASTER": "local[2]",
        "COLDREC_SHUFFLE_PARTITIONS": "2",
        "COLDREC_SPARK_DRIVER_MEMORY": "2g",
        "COLDREC_TOP_N": str(TOP_N),
        "COLDREC_TRAIN__EPOCHS": "3",
        "COLDREC_FEATURES__TEXT_ENCODER": "tfidf",
    })  # fmt: skip


def _run(cmd: list[str], env: dict[str, str], log: Path, timeout: int) -> subprocess.CompletedProcess:
    with log.open("a") as fh:
        fh.write(f"\n$ {' '.join(cmd)}\n")
        fh.flush()
        return subprocess.run(
            cmd, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=fh, text=True, timeout=timeout, check=False
        )


def _snapshot(lake: Path) -> dict[str, pd.DataFrame]:
    from coldrec.delta_read import read_delta

    out = {}
    for name in TABLES:
        if not (lake / name / "_delta_log").exists():  # gold.text_vectors: TF-IDF vectors are not cached
            out[name] = pd.DataFrame()
            continue
        frame = read_delta(str(lake / name)).to_pandas()
        keys = [c for c in frame.columns if not isinstance(frame[c].iloc[0] if len(frame) else None, np.ndarray)]
        out[name] = frame.sort_values(keys).reset_index(drop=True) if len(frame) else frame
    return out


def _assert_same(before: pd.DataFrame, after: pd.DataFrame, name: str) -> None:
    assert list(before.columns) == list(after.columns) and len(before) == len(after), name
    for col in before.columns:
        a, b = before[col], after[col]
        if a.dtype.kind == "f":
            np.testing.assert_allclose(a.to_numpy(), b.to_numpy(), rtol=1e-9, atol=1e-12, err_msg=f"{name}.{col}")
        elif len(a) and isinstance(a.iloc[0], np.ndarray):
            np.testing.assert_allclose(np.stack(a), np.stack(b), rtol=1e-6, atol=1e-7, err_msg=f"{name}.{col}")
        else:
            assert a.equals(b), f"{name}.{col} changed"


def _xcom(db: Path, dag_id: str, task_id: str) -> dict:
    """A task's return value from the Airflow metadata DB (the backfill DAG's summary)."""
    import sqlite3

    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        row = con.execute(
            "SELECT value FROM xcom WHERE dag_id = ? AND task_id = ? AND key = 'return_value'", (dag_id, task_id)
        ).fetchone()
    finally:
        con.close()
    assert row is not None, f"no return value of {dag_id}.{task_id}"
    value = json.loads(row[0])
    return json.loads(value) if isinstance(value, str) else value


@pytest.fixture(scope="module")
def onboarded(tmp_path_factory: pytest.TempPathFactory, movielens_dir: Path) -> dict:
    base = tmp_path_factory.mktemp("shop")
    (base / "home").mkdir()
    env, log = _env(base), base / "onboarding.log"
    purchases = write_shop_export(movielens_dir, base / "export")
    first, last = purchases["day"].min(), purchases["day"].max()
    export = base / "export"
    imported = _run(
        [
            str(BIN / "coldrec"), "import", "csv", str(export / "purchases.csv"),
            "--user-col", "customer_no", "--item-col", "sku", "--time-col", "ordered_at",
            "--event-id-col", "order_no", "--quantity-col", "qty", "--price-col", "unit_price",
            "--default-event", "purchase",
            "--items", str(export / "products.csv"), "--item-id-col", "sku", "--item-title-col", "product_name",
            "--item-category-col", "department", "--category-sep", "/", "--item-created-col", "launch_date",
            "--users", str(export / "customers.csv"), "--user-id-col", "customer_no",
            "--user-age-col", "age", "--user-gender-col", "sex",
        ],
        env, log, 600,
    )  # fmt: skip
    assert imported.returncode == 0, log.read_text()[-3000:]
    history = {"from": first.isoformat(), "to": str(last - dt.timedelta(1))}
    proc = _run([str(BIN / "coldrec"), "backfill", "--from", history["from"], "--to", history["to"], "--json"],
                env, log, 3600)  # fmt: skip
    assert proc.returncode == 0, log.read_text()[-5000:]
    runs = [(json.loads(proc.stdout.strip().splitlines()[-1]), _snapshot(base / "lake"))]
    # the same range again, the Airflow way (the coldrec_backfill DAG): it must change nothing
    assert _run([str(BIN / "airflow"), "db", "migrate"], env, log, 600).returncode == 0, log.read_text()[-3000:]
    dag = _run([str(BIN / "airflow"), "dags", "test", "coldrec_backfill", "-c", json.dumps(history)], env, log, 3600)
    assert dag.returncode == 0, log.read_text()[-5000:]
    summary = _xcom(base / "airflow" / "airflow.db", "coldrec_backfill", "summary")
    runs.append((summary, _snapshot(base / "lake")))
    nightly = _run([str(BIN / "airflow"), "dags", "test", "coldrec_nightly", last.isoformat()], env, log, 3600)
    return {"base": base, "log": log, "purchases": purchases, "runs": runs, "nightly": nightly, "last": last}


def test_backfill_cleans_the_whole_history(onboarded: dict) -> None:
    purchases, last = onboarded["purchases"], onboarded["last"]
    summary = onboarded["runs"][0][0]
    history = purchases[purchases["day"] < last]
    assert summary["days"] == (last - purchases["day"].min()).days
    assert summary["days_with_events"] == history["day"].nunique()
    # every exported row is a valid purchase with its own order number: all accepted, none rejected or merged
    assert summary["input_rows"] == summary["accepted"] == len(history)
    assert summary["rejected"] == 0 and summary["duplicates_removed"] == 0 and summary["failed_days"] == []
    assert summary["tables"]["silver.items"] == 1682
    assert summary["tables"]["silver.users"] == CUSTOMERS
    assert summary["tables"]["gold.item_features"] == 1682
    # interactions leave out events flagged as bots: ML-100K's fastest raters, squeezed into 61 days, pass the
    # per-minute burst rule (653 of 31,201 events when this was written)
    from coldrec.delta_read import read_delta

    events = read_delta(str(onboarded["base"] / "lake" / "silver" / "events")).to_pandas()
    events = events[events["event_date"] < last]  # the nightly added the last day since
    assert len(events) == len(history) and events["is_bot"].mean() < 0.05
    human = events[~events["is_bot"]].drop_duplicates(["user_id", "item_id"])
    assert summary["tables"]["gold.interactions"] == len(human)
    assert summary["champion_trained"] is True and summary["champion"] == "1"
    assert set(summary["stage_seconds"]) == {
        "clean", "interactions", "similarities", "features", "champion", "score", "gate", "publish"
    }  # fmt: skip


def test_backfill_publishes_the_lists_of_its_last_day(onboarded: dict) -> None:
    """The shop's first lists come from the backfill itself: LAST - 1's lists, gated, for every recent customer."""
    from coldrec.delta_read import read_delta

    purchases, day = onboarded["purchases"], onboarded["last"] - dt.timedelta(1)
    summary = onboarded["runs"][0][0]
    lists = onboarded["runs"][0][1]["gold/recommendations"]  # read before the nightly ran
    assert set(lists["run_date"]) == {day}
    assert summary["tables"]["gold.recommendations"] == len(lists)
    active = set(purchases[(purchases["day"] > day - dt.timedelta(days=30)) & (purchases["day"] <= day)]["customer_no"])
    assert active <= set(lists["user_id"]) and (lists.groupby("user_id").size() == TOP_N).all()
    gate = read_delta(str(onboarded["base"] / "lake" / "ops" / "run_metrics")).to_pandas()
    gate = gate[(gate["run_date"] == day) & (gate["stage"] == "gate") & (gate["metric"] == "passed")]
    assert gate["value"].tolist() == [1.0]


def test_second_backfill_changes_nothing(onboarded: dict) -> None:
    (first_summary, before), (second_summary, after) = onboarded["runs"]
    assert second_summary["champion"] == first_summary["champion"] and second_summary["champion_trained"] is False
    assert second_summary["tables"] == first_summary["tables"]
    for name in TABLES:
        _assert_same(before[name], after[name], name)


def test_nightly_through_airflow_publishes_lists_for_the_last_day(onboarded: dict) -> None:
    from coldrec.delta_read import read_delta

    assert onboarded["nightly"].returncode == 0, onboarded["log"].read_text()[-5000:]
    purchases, last = onboarded["purchases"], onboarded["last"]
    recs = read_delta(str(onboarded["base"] / "lake" / "gold" / "recommendations")).to_pandas()
    day = recs[recs["run_date"] == last]
    assert last.year == 1997 and len(day) > 0, f"no lists for {last}: {sorted(set(recs['run_date']))}"
    # every customer who bought in the 30 days up to the last day has a full list of distinct, ranked products
    active = set(purchases[purchases["day"] > last - dt.timedelta(days=30)]["customer_no"])
    listed = day.groupby("user_id")
    assert active <= set(day["user_id"])
    assert (listed.size() == TOP_N).all()
    assert all(sorted(r) == list(range(1, TOP_N + 1)) for r in listed["rank"].apply(list))
    assert not day.duplicated(["user_id", "item_id"]).any()
    assert set(day["item_id"]) <= set("SKU-" + pd.Series(range(1, 1683)).astype(str))
    # nobody is offered a product they already bought (up to and including the last day), except on the days the
    # cleaning flagged as a bot's (is_bot): those events are kept for audit only, out of training and scoring
    bought = purchases[["customer_no", "sku", "day"]].rename(columns={"customer_no": "user_id", "sku": "item_id"})
    events = read_delta(str(onboarded["base"] / "lake" / "silver" / "events")).to_pandas()
    bot_days = events.loc[events["is_bot"], ["user_id", "event_date"]].drop_duplicates()
    bot_days = bot_days.rename(columns={"event_date": "day"}).assign(bot=True)
    bought = bought.merge(bot_days, on=["user_id", "day"], how="left")
    assert bought["bot"].fillna(False).astype(bool).mean() < 0.05  # a few bursts, not the shop
    human_bought = bought[~bought["bot"].fillna(False).astype(bool)][["user_id", "item_id"]].drop_duplicates()
    assert day.merge(human_bought, on=["user_id", "item_id"], how="inner").empty
    assert day["model_version"].str.startswith("coldrec-autoencoder/").all()
