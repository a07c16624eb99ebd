"""Quality gate and publication: structural checks, the next-day backtest, the gate's rules, atomic publishing."""

from __future__ import annotations

import datetime as dt
import math

import pytest
from pyspark.sql import types as T

from coldrec.data import schemas as S

pytestmark = pytest.mark.spark

D = dt.date(2026, 11, 2)
TS = dt.datetime(2026, 11, 2, 12, 0)


def _events(spark, rows):
    """rows: (user, item, type, rating, is_bot, date)."""
    data = []
    for i, (u, it, t, r, bot, d) in enumerate(rows):
        values = {
            S.EVENT_ID: f"e{i}",
            S.USER_ID: u,
            S.ITEM_ID: it,
            S.EVENT_TYPE: t,
            S.TS: dt.datetime.combine(d, dt.time(12)),
            S.RATING: r,
            S.SESSION_ID: "s",
            S.IS_BOT: bot,
            S.SOURCE_FILE: "f",
            S.EVENT_DATE: d,
        }
        # columns the contract adds later (e.g. ingest bookkeeping) default to the event date or null
        data.append(
            tuple(values.get(f.name, d if isinstance(f.dataType, T.DateType) else None) for f in S.SILVER_EVENTS.fields)
        )
    return spark.createDataFrame(data, S.SILVER_EVENTS)


def _lists(spark, rows, run_date=D):
    """rows: (user, rank, item, score)."""
    data = [(run_date, u, r, it, float(sc), "cf", "because", "v1") for u, r, it, sc in rows]
    return spark.createDataFrame(data, S.RECOMMENDATIONS)


def test_list_checks_count_each_defect(spark) -> None:
    from coldrec.publish import active_users, list_checks, purchased_pairs

    events = _events(
        spark,
        [
            ("u1", "i2", "purchase", None, False, D),
            ("u2", "i3", "purchase", None, True, D - dt.timedelta(days=2)),  # a bot-flagged day: not excluded
            ("u2", "i9", "view", None, False, D - dt.timedelta(days=3)),
            ("u3", "i9", "view", None, False, D),
            ("u4", "i9", "view", None, False, D),
            ("bot", "i9", "view", None, True, D),  # bots need no list
            ("old", "i9", "view", None, False, D - dt.timedelta(days=40)),  # outside the 30-day window
        ],
    )
    lists = _lists(
        spark,
        [
            ("u1", 1, "i1", 0.9),
            ("u1", 2, "i2", 0.8),
            ("u2", 1, "i3", 0.7),
            ("u2", 2, "i3", 0.6),
            ("u3", 1, "i4", math.nan),
        ],
    )
    active = active_users(events, None, D, 30)
    m = list_checks(lists, active, purchased_pairs(events, D, ["purchase"]), min_length=2, catalog_items=16)
    # active: u1, u2, u3, u4 (not the bot, not 'old'); listed: u1, u2, u3 -> 3/4
    assert m["active_users"] == 4 and m["users_listed"] == 3
    assert m["user_coverage"] == pytest.approx(0.75)
    assert m["already_purchased"] == 1  # u1 bought i2 (u2's i3 was bought on a day its events were a bot's)
    assert m["duplicate_items"] == 1  # u2 has i3 twice
    assert m["short_lists"] == 1  # u3 has one item
    assert m["non_finite_scores"] == 1
    assert m["bad_rank_sequences"] == 0
    assert m["distinct_items"] == 4
    assert m["item_coverage"] == pytest.approx(4 / 16)  # i1..i4 of a 16-item catalog


def test_signups_in_window_are_active(spark) -> None:
    from coldrec.publish import active_users

    events = _events(spark, [("u1", "i1", "view", None, False, D)])
    users = spark.createDataFrame(
        [("new", TS, 30, "f", "DE", "north", [], D), ("ancient", dt.datetime(2020, 1, 1), 30, "f", "DE", "n", [], D)],
        S.SILVER_USERS,
    )
    got = {r[S.USER_ID] for r in active_users(events, users, D, 30).collect()}
    assert got == {"u1", "new"}


def test_backtest_matches_hand_computed_ndcg(spark) -> None:
    from coldrec.publish import backtest

    prev = _lists(
        spark,
        [
            ("u1", 1, "i1", 3),
            ("u1", 2, "i2", 2),
            ("u1", 3, "i3", 1),
            ("u2", 1, "i4", 2),
            ("u2", 2, "i5", 1),
            ("u3", 1, "i1", 1),
        ],
        D - dt.timedelta(days=1),
    )
    day = _events(
        spark,
        [
            ("u1", "i2", "purchase", None, False, D),  # hit at rank 2
            ("u1", "i9", "view", None, False, D),  # views are not positives
            ("u2", "i9", "cart", None, False, D),  # positive, not in the list
            ("u3", "i1", "rating", 5.0, False, D),  # rating >= 4 is positive: hit at rank 1
            ("u4", "i1", "purchase", None, False, D),  # no list yesterday: not evaluated
            ("u2", "i4", "purchase", None, True, D),  # bot rows do not count
        ],
    )
    m = backtest(prev, day, k=3)
    ndcg_u1 = 1 / math.log2(3)  # one positive, found at rank 2; ideal DCG = 1
    assert m["backtest_users"] == 3
    assert m["backtest_hit_rate"] == pytest.approx(2 / 3)
    assert m["backtest_ndcg"] == pytest.approx((ndcg_u1 + 0 + 1) / 3)


def test_judge_rules(settings) -> None:
    from coldrec.publish import judge

    ok = {
        "rows": 10,
        "user_coverage": 1.0,
        "short_lists": 0,
        "duplicate_items": 0,
        "bad_rank_sequences": 0,
        "non_finite_scores": 0,
        "missing_reasons": 0,
        "already_purchased": 0,
        "backtest_hit_rate": 0.5,
    }
    assert judge(ok, {"backtest_hit_rate": 0.55}, settings) == []  # a 9% drop is inside the 20% margin
    failures = judge({**ok, "backtest_hit_rate": 0.3, "already_purchased": 2}, {"backtest_hit_rate": 0.5}, settings)
    assert any("backtest_hit_rate fell" in f for f in failures)
    assert any("already purchased" in f for f in failures)
    assert judge({**ok, "user_coverage": 0.5}, {}, settings)[0].startswith("user coverage 0.500")


def test_failing_gate_publishes_nothing_and_passing_gate_publishes_atomically(spark, settings) -> None:
    from coldrec import lake
    from coldrec.publish import STAGE_TABLE, QualityGateError, publish_recommendations, run_gate

    s = settings.model_copy(update={"top_n": 2})
    s.publish.min_list_length = 2
    events = _events(spark, [("u1", "i9", "purchase", None, False, D), ("u2", "i8", "view", None, False, D)])
    lake.overwrite_partition(events, s, "silver.events", D)

    bad = _lists(spark, [("u1", 1, "i9", 1.0), ("u1", 2, "i1", 0.5), ("u2", 1, "i2", 1.0), ("u2", 2, "i3", 0.5)])
    lake.overwrite_partition(bad, s, STAGE_TABLE, D)
    with pytest.raises(QualityGateError, match="already purchased"):
        run_gate(spark, s, D)
    with pytest.raises(QualityGateError):
        publish_recommendations(spark, s, D)  # refuses: the gate did not pass
    assert not lake.table_exists(spark, s, "gold.recommendations")

    good = _lists(spark, [("u1", 1, "i2", 1.0), ("u1", 2, "i1", 0.5), ("u2", 1, "i2", 1.0), ("u2", 2, "i3", 0.5)])
    lake.overwrite_partition(good, s, STAGE_TABLE, D)
    result = run_gate(spark, s, D)
    assert result.passed and result.metrics["user_coverage"] == 1.0
    assert publish_recommendations(spark, s, D) == 4
    first = sorted(tuple(r) for r in lake.read_table(spark, s, "gold.recommendations").collect())
    assert publish_recommendations(spark, s, D) == 4  # rerun of the same date: same content, no duplicates
    second = sorted(tuple(r) for r in lake.read_table(spark, s, "gold.recommendations").collect())
    assert first == second and len(second) == 4

    from deltalake import DeltaTable

    from coldrec.delta_read import read_delta

    dt_table = DeltaTable(lake.table_path(s, "gold.recommendations"))
    assert dt_table.metadata().configuration.get("delta.enableChangeDataFeed") == "true"
    assert read_delta(lake.table_path(s, "gold.recommendations")).to_pandas()["item_id"].tolist().count("i2") == 2


def _items(spark, rows):
    """rows: (item, category_path, created date or None)."""
    data = [
        (it, it, None, path, "b", 1.0, None if c is None else dt.datetime.combine(c, dt.time(9)), D)
        for it, path, c in rows
    ]
    return spark.createDataFrame(data, S.SILVER_ITEMS)


def test_backtest_by_segment_matches_hand_computed_rates(spark) -> None:
    from coldrec.backtest import backtest, segments_for

    L = D - dt.timedelta(days=1)  # the lists' date
    old = D - dt.timedelta(days=100)
    items = _items(
        spark,
        [
            ("i1", "Shop>Shoes>Run", old),
            ("i2", "Shop>Shoes>Trail", D - dt.timedelta(days=3)),  # created 3 days ago: new
            ("i3", "Shop>Books>Novel", old),
            ("i4", "Shop>Books>Poetry", None),  # no created_at, first event today: new
            ("i5", "Shop>Toys>Lego", old),
        ],
    )
    history = [
        ("u1", "i1", "purchase", None, False, D - dt.timedelta(days=20)),  # u1: Shoes; first event 20 days back
        ("u2", "i3", "view", None, False, D - dt.timedelta(days=30)),  # u2: Books
        ("u3", "i1", "view", None, False, D - dt.timedelta(days=2)),  # u3: Shoes; new user (first event 2 days back)
        ("u2", "i5", "view", None, True, D - dt.timedelta(days=5)),  # a bot row: u2 does not know Toys
    ]
    today = [
        ("u1", "i2", "purchase", None, False, D),  # new item, known category, hit at 1
        ("u1", "i3", "purchase", None, False, D),  # cross (Books), miss
        ("u1", "i4", "purchase", None, False, D),  # new item, cross (Books), miss
        ("u2", "i4", "cart", None, False, D),  # new item, known category, hit at 2
        ("u2", "i5", "purchase", None, False, D),  # cross (Toys), hit at 3
        ("u3", "i2", "purchase", None, False, D),  # new item, known, hit at 3
        ("u3", "i5", "purchase", None, False, D),  # cross, miss
        ("u4", "i2", "purchase", None, False, D),  # new user (first event today), new item, cross (knows nothing): miss
        ("u1", "i5", "view", None, False, D),  # views are not positives
    ]
    events = _events(spark, history + today)
    prev = _lists(
        spark,
        [
            ("u1", 1, "i2", 3), ("u1", 2, "i5", 2), ("u1", 3, "i1", 1),
            ("u2", 1, "i1", 3), ("u2", 2, "i4", 2), ("u2", 3, "i5", 1),
            ("u3", 1, "i3", 3), ("u3", 2, "i1", 2), ("u3", 3, "i2", 1),
            ("u4", 1, "i5", 3), ("u4", 2, "i1", 2), ("u4", 3, "i3", 1),
        ],
        L,
    )  # fmt: skip
    seg = segments_for(items, events, L, D, new_item_days=14, new_user_days=14)
    assert {r["category"] for r in seg.item_category.collect()} == {"Shop>Shoes", "Shop>Books", "Shop>Toys"}
    m = backtest(prev, _events(spark, today), k=3, segments=seg)
    g = [1 / math.log2(r + 1) for r in (1, 2, 3)]
    # u1: 3 positives, hit at 1; u2: 2 positives, hits at 2 and 3; u3: 2 positives, hit at 3; u4: 1 positive, miss
    ndcg = [g[0] / sum(g), (g[1] + g[2]) / (g[0] + g[1]), g[2] / (g[0] + g[1]), 0.0]
    assert m["backtest_users"] == 4
    assert m["backtest_hit_rate"] == pytest.approx(3 / 4)
    assert m["backtest_ndcg"] == pytest.approx(sum(ndcg) / 4)
    # new-item pairs: (u1,i2) hit, (u1,i4) miss, (u2,i4) hit, (u3,i2) hit, (u4,i2) miss
    assert m["backtest_new_item_pairs"] == 5 and m["backtest_new_item_hit_rate"] == pytest.approx(3 / 5)
    # cross-category pairs: (u1,i3), (u1,i4) miss; (u2,i5) hit; (u3,i5) miss; (u4,i2) miss
    assert m["backtest_cross_category_pairs"] == 5 and m["backtest_cross_category_hit_rate"] == pytest.approx(1 / 5)
    # new users: u3 (hit) and u4 (miss)
    assert m["backtest_new_users"] == 2 and m["backtest_new_user_hit_rate"] == pytest.approx(1 / 2)


def test_backtest_segment_rates_are_absent_when_the_segment_is_empty(spark) -> None:
    from coldrec.backtest import backtest, segments_for

    old = D - dt.timedelta(days=100)
    items = _items(spark, [("i1", "A>x", old), ("i2", "A>y", old)])
    events = _events(spark, [("u1", "i1", "purchase", None, False, old), ("u1", "i1", "purchase", None, False, D)])
    prev = _lists(spark, [("u1", 1, "i1", 1.0)], D - dt.timedelta(days=1))
    m = backtest(prev, events.where(f"event_date = '{D}'"), k=3, segments=segments_for(items, events, D, D, 14, 14))
    assert m["backtest_hit_rate"] == 1.0 and m["backtest_new_item_pairs"] == 0 and m["backtest_new_users"] == 0
    assert "backtest_new_item_hit_rate" not in m and "backtest_new_user_hit_rate" not in m
    assert "backtest_cross_category_hit_rate" not in m


def test_gate_item_coverage_rule(settings) -> None:
    from coldrec.publish import judge

    ok = {k: 0.0 for k in ("short_lists", "duplicate_items", "bad_rank_sequences", "non_finite_scores",
                           "missing_reasons", "already_purchased")}  # fmt: skip
    # more list rows than catalog items: the share of the catalog is the share the lists could show
    ok.update(rows=200, user_coverage=1.0, model_used=1.0, distinct_items=6, catalog_items=100)
    ok.update(item_coverage=0.06, listable_item_coverage=0.06)
    assert settings.publish.min_item_coverage == pytest.approx(0.05)
    assert judge(ok, {}, settings) == []
    low = {**ok, "distinct_items": 4, "item_coverage": 0.04, "listable_item_coverage": 0.04}
    failures = judge(low, {}, settings)
    assert failures == [
        "item coverage 0.0400 < 0.05: the lists show 4 of 100 catalog items (of at most 100 their 200 rows could show)"
    ]
    strict = settings.model_copy(update={"publish": settings.publish.model_copy(update={"min_item_coverage": 0.07})})
    assert len(judge(ok, {}, strict)) == 1
    # a new shop: 600 users x 20 slots over a 50k catalog can show 12,000 items; 1,773 of them is healthy (14.8%),
    # 385 (a few best-sellers everywhere, 3.2%) is the collapse the rule is for
    small = {**ok, "rows": 12_000, "catalog_items": 50_000, "distinct_items": 1_773}
    small.update(item_coverage=1_773 / 50_000, listable_item_coverage=1_773 / 12_000)
    assert judge(small, {}, settings) == []
    collapsed = {**small, "distinct_items": 385, "item_coverage": 385 / 50_000, "listable_item_coverage": 385 / 12_000}
    assert judge(collapsed, {}, settings)[0].startswith("item coverage 0.0321 < 0.05: the lists show 385 of 50000")


def test_gate_model_used_rule_flags_and_fails_only_when_required(settings) -> None:
    from coldrec.publish import flags, judge

    ok = {k: 0.0 for k in ("short_lists", "duplicate_items", "bad_rank_sequences", "non_finite_scores",
                           "missing_reasons", "already_purchased")}  # fmt: skip
    ok.update(rows=10, user_coverage=1.0)
    required = settings.model_copy(update={"publish": settings.publish.model_copy(update={"require_model": True})})
    used = {**ok, "model_used": 1.0, "champion_failed": 0.0}
    failed = {**ok, "model_used": 0.0, "champion_failed": 1.0}
    none = {**ok, "model_used": 0.0, "champion_failed": 0.0}
    assert judge(used, {}, required) == [] and flags(used) == []
    assert judge(failed, {}, settings) == []  # flagged, not failed, by default
    assert "failed to load" in flags(failed)[0] and "no champion is registered" in flags(none)[0]
    assert len(judge(failed, {}, required)) == 1 and "failed to load" in judge(failed, {}, required)[0]
    assert len(judge(none, {}, required)) == 1
    assert "recorded no model use" in judge(ok, {}, required)[0]  # unknown model use cannot pass a requirement


def test_gate_fails_on_coverage_and_model_use_of_a_constructed_run(spark, settings) -> None:
    from coldrec import lake
    from coldrec.publish import STAGE_TABLE, QualityGateError, run_gate

    s = settings.model_copy(update={"top_n": 2})
    s.publish.min_list_length = 2
    old = D - dt.timedelta(days=100)
    lake.overwrite_partition(_events(spark, [("u1", "i9", "view", None, False, D)]), s, "silver.events", D)
    items = _items(spark, [(f"i{j}", "A>b", old) for j in range(20)])
    lake.append(items, s, "silver.items")
    rows = [(u, r, f"i{r}", 1.0 / r) for u in ("u1", "u2", "u3", "u4", "u5") for r in (1, 2)]
    lake.overwrite_partition(_lists(spark, rows), s, STAGE_TABLE, D)
    lake.record_metrics(spark, s, D, "evaluate", {"model_used": 0.0, "champion_failed": 1.0})

    s.publish.min_item_coverage = 0.25  # 2 of 20 catalog items listed (0.1), of the 10 that 10 rows could show: 0.2
    with pytest.raises(QualityGateError, match=r"item coverage 0\.2000 < 0\.25: the lists show 2 of 20 catalog"):
        run_gate(spark, s, D)
    s.publish.min_item_coverage = 0.2
    result = run_gate(spark, s, D)  # passes: coverage at the bar; the failed champion is flagged only
    assert result.passed and result.metrics["item_coverage"] == pytest.approx(0.1)
    assert result.metrics["listable_item_coverage"] == pytest.approx(0.2)
    assert result.metrics["champion_failed"] == 1.0 and "failed to load" in result.flags[0]
    assert "## Flags" in result.report()
    s.publish.require_model = True
    with pytest.raises(QualityGateError, match="without the champion model"):
        run_gate(spark, s, D)
