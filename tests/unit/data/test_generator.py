"""Statistics of the synthetic shop, measured from the written files with pandas/numpy/scipy.

Every expectation is derived from the configuration or the planted ground truth (rates, ranges, Zipf exponent,
hourly profile, logit tables), or from a control shop generated with the mechanism switched off; no number here was
copied from a generator run. The files are parsed independently of the generator's code (json + pandas only).
"""

from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from coldrec.config import CleanConfig
from coldrec.data.generator import (
    EVENT_BAD_KINDS,
    GROUND_TRUTH_FILE,
    GroundTruth,
    ShopConfig,
    generate_shop,
)
from coldrec.data.generator.events import NEW_USER_ACTIVE_SHARE
from coldrec.data.generator.vocabulary import AGE_BANDS

CANONICAL = {"view", "favorite", "cart", "purchase", "rating", "click"}
MS_PER_DAY = 86_400_000

#: the main shop: small enough to parse in a second or two, large enough for tight statistics
MAIN = {"users": 1200, "items": 300, "days": 6, "seed": 7, "bad_rate": 0.02, "bots": 2}
#: the control shop: same size, with the demographic effect, the Zipf skew and the complements switched off
CONTROL = {**MAIN, "seed": 8, "demographic_strength": 0.0, "zipf_alpha": 0.05, "complement_probability": 0.0}


# ---------------------------------------------------------------------------------------------------------------
# Independent reading of a shop folder
# ---------------------------------------------------------------------------------------------------------------
@dataclass
class Shop:
    root: Path
    truth: GroundTruth
    config: ShopConfig
    lines: int  # event lines in all files
    bad: set[tuple[str, int, str]]  # (file, line, kind) found by our own rules
    events: pd.DataFrame  # valid events (bots included), with file, line, t (epoch ms), day (window day index)
    users: pd.DataFrame  # valid user records, latest per id, with file date
    items: pd.DataFrame
    record_bad: set[tuple[str, int, str]]

    @property
    def humans(self) -> pd.DataFrame:
        return self.events[~self.events.user_id.isin(self.truth.bots)]


def _ts_ms(values: pd.Series) -> np.ndarray:
    is_num = values.map(lambda v: isinstance(v, int | float) and not isinstance(v, bool))
    out = np.zeros(len(values), dtype=np.int64)
    out[is_num.to_numpy()] = values[is_num].astype(np.int64).to_numpy()
    iso = pd.to_datetime(values[~is_num], utc=True, format="ISO8601")
    out[~is_num.to_numpy()] = iso.astype("int64").to_numpy() // 1_000_000
    return out


def _read_jsonl(root: Path, dataset: str) -> tuple[list[tuple[str, int, str, object]], int]:
    """(file, line, text, parsed-or-None) for every line of every file of a dataset."""
    out = []
    for path in sorted((root / dataset).glob("date=*/*.jsonl")):
        rel = path.relative_to(root).as_posix()
        with path.open() as fh:
            for i, text in enumerate(fh, 1):
                try:
                    parsed = json.loads(text)
                except json.JSONDecodeError:
                    parsed = None
                out.append((rel, i, text, parsed))
    return out, len(out)


def read_shop(root: Path) -> Shop:
    truth = GroundTruth.load(root)
    config = ShopConfig.from_json(truth.config)
    window_end = (dt.datetime.combine(config.start_date, dt.time()) + dt.timedelta(days=config.days + 1)).replace(
        tzinfo=dt.UTC
    )
    horizon = int(window_end.timestamp() * 1000)

    lines, n_lines = _read_jsonl(root, "events")
    bad: set[tuple[str, int, str]] = set()
    seen: set[str] = set()
    rows = []
    for rel, i, text, rec in lines:
        if rec is None or not isinstance(rec, dict):
            bad.add((rel, i, "malformed_json"))
            continue
        if text in seen:
            bad.add((rel, i, "duplicate"))
            continue
        seen.add(text)
        if not rec.get("user_id") or not rec.get("item_id") or not rec.get("event_id"):
            bad.add((rel, i, "missing_id"))
        elif rec.get("event_type") not in CANONICAL:
            bad.add((rel, i, "unknown_event_type"))
        elif rec.get("price") is not None and rec["price"] < 0:
            bad.add((rel, i, "negative_price"))
        else:
            rows.append({**rec, "file": rel, "line": i})
    events = pd.DataFrame(rows)
    events["t"] = _ts_ms(events["ts"])
    future = events.t > horizon
    bad |= {(f, ln, "far_future_ts") for f, ln in events.loc[future, ["file", "line"]].itertuples(index=False)}
    events = events[~future].copy()
    start_ms = int(dt.datetime.combine(config.start_date, dt.time(), tzinfo=dt.UTC).timestamp() * 1000)
    events["day"] = (events.t - start_ms) // MS_PER_DAY
    events["folder_day"] = events.file.str.extract(r"date=(\d{4}-\d{2}-\d{2})")[0]

    record_bad: set[tuple[str, int, str]] = set()

    def records(dataset: str, id_key: str) -> pd.DataFrame:
        recs, _ = _read_jsonl(root, dataset)
        good = []
        for rel, i, _text, rec in recs:
            if rec is None:
                record_bad.add((rel, i, "malformed_json"))
            elif not rec.get(id_key):
                record_bad.add((rel, i, "missing_id"))
            elif rec.get("price") is not None and rec["price"] < 0:
                record_bad.add((rel, i, "negative_price"))
            else:
                good.append({**rec, "file": rel})
        frame = pd.DataFrame(good)
        frame["file_date"] = frame.file.str.extract(r"date=(\d{4}-\d{2}-\d{2})")[0]
        return frame

    users = records("users", "user_id")
    items = records("items", "item_id")
    return Shop(root, truth, config, n_lines, bad, events, users, items, record_bad)


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Shop:
    root = tmp_path_factory.mktemp("shop")
    truth = generate_shop(root, **MAIN)
    parsed = read_shop(root)
    assert parsed.truth.to_dict() == json.loads(json.dumps(truth.to_dict()))  # load == what the API returned
    return parsed


@pytest.fixture(scope="module")
def control(tmp_path_factory: pytest.TempPathFactory) -> Shop:
    root = tmp_path_factory.mktemp("control")
    generate_shop(root, **CONTROL)
    return read_shop(root)


def _leaf_of(shop: Shop) -> pd.Series:
    return shop.items.drop_duplicates("item_id", keep="last").set_index("item_id").category_path


# ---------------------------------------------------------------------------------------------------------------
# Contract and catalog
# ---------------------------------------------------------------------------------------------------------------
def test_layout_follows_the_raw_contract(shop: Shop) -> None:
    dates = [d.isoformat() for d in shop.config.dates()]
    for dataset in ("events", "items", "users"):
        folders = sorted(p.name for p in (shop.root / dataset).iterdir())
        assert folders == [f"date={d}" for d in dates]
    assert (shop.root / GROUND_TRUTH_FILE).is_file()
    ev = shop.events
    assert set(ev.columns) >= {"event_id", "user_id", "item_id", "event_type", "ts", "session_id", "price"}
    assert ev.event_id.is_unique
    # every event happens in its folder's day, except events the ground truth lists as delivered late
    off_day = ev[ev.t // MS_PER_DAY != ev.folder_day.map(lambda d: dt.date.fromisoformat(d).toordinal() - 719163)]
    late = {e["event_id"]: e for e in shop.truth.late_events}
    assert set(off_day.event_id) == set(late)
    for row in off_day.itertuples():
        assert late[row.event_id]["file"] == row.file
        assert dt.date.fromisoformat(late[row.event_id]["ts_date"]) + dt.timedelta(days=1) == dt.date.fromisoformat(
            row.folder_day
        )
    assert shop.users.columns.tolist()[:7] == [
        "user_id",
        "signup_ts",
        "age",
        "gender",
        "country",
        "region",
        "interests",
    ]
    assert shop.items.columns.tolist()[:7] == [
        "item_id", "title", "description", "category_path", "brand", "price", "created_at"
    ]  # fmt: skip


def test_timestamps_mix_iso_strings_and_epoch_millis(shop: Shop) -> None:
    humans = shop.humans
    is_millis = humans.ts.map(lambda v: isinstance(v, int))
    iso = humans.ts[~is_millis]
    assert iso.str.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z").all()
    # the format is chosen per session: allow for session clustering around the configured share
    assert abs(is_millis.mean() - shop.config.epoch_millis_share) < 0.05


def test_category_tree_and_item_text(shop: Shop) -> None:
    truth = shop.truth
    depth = {len(p.split(">")) for p in truth.leaves}
    assert depth == {3}
    assert len(truth.leaves) >= 30
    items = shop.items.drop_duplicates("item_id")
    assert set(items.category_path) <= set(truth.leaves)
    assert items.category_path.nunique() >= 30
    assert all(b in t for b, t in zip(items.brand, items.title, strict=True))
    assert (items.price > 0).all()
    assert items.description.str.len().min() > 40

    # Category-specific vocabularies: a TF-IDF nearest-centroid classifier on title + description words, fitted on
    # the initial catalog, must find the leaf of the items that arrive later far above chance (1 / leaves).
    first = shop.config.start_date.isoformat()
    train = items[items.file_date == first]
    test = items[items.file_date != first]
    assert len(test) >= 20

    def tokens(frame: pd.DataFrame) -> list[set[str]]:
        return [{w.strip(".,:;-").lower() for w in t.split()} - {""} for t in frame.title + " " + frame.description]

    train_tokens, test_tokens = tokens(train), tokens(test)
    vocab = sorted(set().union(*train_tokens))
    index = {w: i for i, w in enumerate(vocab)}

    def matrix(rows: list[set[str]]) -> np.ndarray:
        x = np.zeros((len(rows), len(vocab)))
        for r, toks in enumerate(rows):
            x[r, [index[w] for w in toks if w in index]] = 1.0
        return x

    x_train, x_test = matrix(train_tokens), matrix(test_tokens)
    idf = np.log(len(x_train) / (1 + x_train.sum(axis=0))) + 1
    leaves = sorted(set(train.category_path))
    labels = train.category_path.to_numpy()
    centroids = np.stack([(x_train[labels == leaf] * idf).mean(axis=0) for leaf in leaves])
    centroids /= np.linalg.norm(centroids, axis=1, keepdims=True)
    predicted = np.asarray(leaves)[(x_test * idf @ centroids.T).argmax(axis=1)]
    accuracy = np.mean(predicted == test.category_path.to_numpy())
    assert accuracy > 0.8 > 10 / len(leaves)


def test_prices_follow_the_planted_lognormal_per_leaf(shop: Shop) -> None:
    items = shop.items.drop_duplicates("item_id")
    observed = items.groupby("category_path").price.median()
    planted = pd.Series({leaf: p["median"] for leaf, p in shop.truth.leaf_prices.items()})
    common = observed.index.intersection(planted.index)
    assert stats.spearmanr(observed[common], planted[common]).statistic > 0.9
    # log-prices standardized by the planted median and sigma of their leaf are ~ N(0, 1)
    sigma = items.category_path.map(lambda p: shop.truth.leaf_prices[p]["sigma"])
    median = items.category_path.map(lambda p: shop.truth.leaf_prices[p]["median"])
    z = np.log(items.price / median) / sigma
    assert abs(z.mean()) < 0.25
    assert 0.75 < z.std() < 1.3


# ---------------------------------------------------------------------------------------------------------------
# Behaviour
# ---------------------------------------------------------------------------------------------------------------
def test_funnel_ratios_match_the_planted_rates(shop: Shop) -> None:
    humans = shop.humans
    counts = humans.event_type.value_counts()
    views, carts, buys = counts["view"], counts["cart"], counts["purchase"]
    assert views > carts > buys > 0
    lo, hi = shop.truth.funnel["cart_to_purchase_range"]
    tol = 4 * math.sqrt(0.25 / carts)
    assert lo - tol <= buys / carts <= hi + tol
    base = shop.truth.funnel["view_to_cart_base"]
    assert base / 2 < carts / views < base * 2

    # every purchase follows a cart of the same item by the same user, in the same session
    key = ["user_id", "item_id", "session_id"]
    first_cart = humans[humans.event_type == "cart"].groupby(key).t.min()
    purchases = humans[(humans.event_type == "purchase") & humans.session_id.notna()].join(
        first_cart, on=key, rsuffix="_cart"
    )
    assert purchases.t_cart.notna().all()
    assert (purchases.t_cart <= purchases.t).all()

    # every rating (1..5) rates an earlier purchase by the same user; only a share of purchases get one
    ratings = humans[humans.event_type == "rating"]
    assert ratings.rating.between(1, 5).all()
    bought = humans[humans.event_type == "purchase"].groupby(["user_id", "item_id"]).t.min()
    rated = ratings.join(bought, on=["user_id", "item_id"], rsuffix="_buy")
    assert rated.t_buy.notna().all()
    assert (rated.t_buy < rated.t).all()
    rate = shop.truth.funnel["purchase_to_rating"]
    assert 0 < len(ratings) / buys < rate + 4 * math.sqrt(rate * (1 - rate) / buys)


def test_volume_follows_events_per_user_day(shop: Shop) -> None:
    user_days = sum(d["users_total"] - len(shop.truth.bots) for d in shop.truth.days)
    per_user_day = len(shop.humans) / user_days
    # calibrated on the planted rates; new users' forced first visit and ratings add a little on top
    assert 0.85 * shop.config.events_per_user_day < per_user_day < 1.25 * shop.config.events_per_user_day


def test_sessions_belong_to_one_user_and_one_day(shop: Shop) -> None:
    humans = shop.humans
    with_session = humans[humans.session_id.notna()]
    per_session = with_session.groupby("session_id").agg(users=("user_id", "nunique"), span=("t", np.ptp))
    assert (per_session.users == 1).all()
    assert (per_session.span < 6 * 3_600_000).all()
    missing = humans.session_id.isna().mean()
    assert abs(missing - shop.config.missing_session_share) < 0.03


def _gini(counts: np.ndarray) -> float:
    x = np.sort(counts.astype(float))
    n = len(x)
    return float((2 * np.arange(1, n + 1) - n - 1) @ x / (n * x.sum()))


def test_popularity_is_zipf_skewed(shop: Shop, control: Shop) -> None:
    alpha = shop.config.zipf_alpha
    initial = shop.items[shop.items.file_date == shop.config.start_date.isoformat()].item_id
    views = shop.humans[shop.humans.event_type == "view"].item_id.value_counts()
    views = views.reindex(initial.unique(), fill_value=0).sort_values(ascending=False)
    m = len(views)
    top = views.iloc[: m // 10].sum() / views.sum()
    # Pure Zipf(alpha) over m items gives the top 10% a share H(m/10, alpha) / H(m, alpha); leaf-first browsing
    # dilutes it, but not below half of that, and far above the 10% of a flat catalog.
    harmonic = np.cumsum(np.arange(1, m + 1) ** -alpha)
    zipf_share = harmonic[m // 10 - 1] / harmonic[-1]
    assert top > 0.5 * zipf_share
    assert top > 0.25
    # the observed ranking follows the planted weights
    weights = pd.Series(shop.truth.popularity["item_weights"])
    assert stats.spearmanr(weights[views.index], views).statistic > 0.3
    # switching the skew off (control: alpha ~ 0) flattens the distribution, globally and inside each leaf
    c_views = control.humans[control.humans.event_type == "view"].item_id.value_counts()
    assert _gini(views.to_numpy()) > _gini(c_views.to_numpy()) + 0.05
    assert _leaf_top_share(shop) > _leaf_top_share(control) + 0.08


def _leaf_top_share(s: Shop) -> float:
    """Mean share of a leaf's views that its most viewed item takes."""
    views = s.humans[s.humans.event_type == "view"]
    per_item = views.groupby([views.item_id.map(_leaf_of(s)), views.item_id]).size()
    return float((per_item.groupby(level=0).max() / per_item.groupby(level=0).sum()).mean())


def _user_modal_department(shop: Shop) -> pd.DataFrame:
    humans = shop.humans
    dept = humans.item_id.map(_leaf_of(shop)).str.split(">").str[0]
    modal = dept.groupby(humans.user_id).agg(lambda s: s.value_counts().index[0]).rename("dept")
    users = shop.users.drop_duplicates("user_id").set_index("user_id")
    return users.join(modal, how="inner")


def test_demographics_carry_taste_signal(shop: Shop, control: Shop) -> None:
    """One row per user (independent units): modal department x gender / age band, chi-square test."""

    def pvalues(s: Shop) -> tuple[float, float]:
        users = _user_modal_department(s)
        g = users[users.gender.isin(["F", "M"])]
        p_gender = stats.chi2_contingency(pd.crosstab(g.gender, g.dept)).pvalue
        a = users[users.age.notna()]
        band = pd.cut(a.age, [0] + [hi for _, _, hi in AGE_BANDS])  # the planted bands
        p_age = stats.chi2_contingency(pd.crosstab(band, a.dept)).pvalue
        return p_gender, p_age

    p_gender, p_age = pvalues(shop)
    assert p_gender < 1e-6
    assert p_age < 1e-4
    c_gender, c_age = pvalues(control)  # demographic_strength = 0
    assert c_gender > 1e-3
    assert c_age > 1e-3


def test_observed_gender_gap_matches_the_planted_taste_map(shop: Shop) -> None:
    """The department mix expected from the ground truth (users' clusters x clusters' leaf weights) predicts the
    observed F - M difference in viewed departments."""
    truth = shop.truth
    dept_of_leaf = np.asarray([p.split(">")[0] for p in truth.leaves])
    depts = sorted(set(dept_of_leaf))
    leaf_w = np.asarray([c["leaf_weights"] for c in truth.taste_clusters])
    cluster_dept = np.stack([leaf_w[:, dept_of_leaf == d].sum(axis=1) for d in depts], axis=1)
    users = shop.users.drop_duplicates("user_id").set_index("user_id")
    humans = shop.humans.join(users.gender, on="user_id")
    humans["dept"] = humans.item_id.map(_leaf_of(shop)).str.split(">").str[0]

    expected, observed = {}, {}
    for g in ("F", "M"):
        ids = users.index[users.gender == g]
        clusters = np.asarray([truth.user_clusters[u] for u in ids])
        expected[g] = (0.75 * cluster_dept[clusters[:, 0]] + 0.25 * cluster_dept[clusters[:, 1]]).mean(axis=0)
        observed[g] = humans[humans.gender == g].dept.value_counts(normalize=True).reindex(depts, fill_value=0)
    r = np.corrcoef(expected["F"] - expected["M"], observed["F"] - observed["M"])[0, 1]
    assert r > 0.8


def test_time_of_day_follows_the_local_hourly_profile(shop: Shop) -> None:
    tod = shop.truth.time_of_day
    users = shop.users.drop_duplicates("user_id").set_index("user_id")
    views = shop.humans[shop.humans.event_type == "view"].join(users.region, on="user_id")
    local = ((views.t // 3_600_000) % 24 + views.region.map(tod["region_utc_offsets"])) % 24
    hist = np.bincount(local.astype(int), minlength=24)
    assert np.corrcoef(hist, tod["hourly_profile_local"])[0, 1] > 0.9


def _complement_lift(s: Shop) -> tuple[float, int, int, int, int]:
    """Among buyers of a 'from' leaf: share of their active days with a 'to'-leaf view, after vs before the buy
    (same users on both sides, so taste cannot explain the difference)."""
    leaf = _leaf_of(s)
    humans = s.humans.assign(leaf=s.humans.item_id.map(leaf))
    active = humans.groupby("user_id").day.unique()
    after_hits = after_days = before_hits = before_days = 0
    for pair in s.truth.complementary_pairs:
        first_buy = (
            humans[(humans.event_type == "purchase") & (humans.leaf == pair["from"])].groupby("user_id").day.min()
        )
        to_days = humans[(humans.event_type == "view") & (humans.leaf == pair["to"])].groupby("user_id").day.unique()
        for user, bought in first_buy.items():
            days = set(active[user])
            hit = set(to_days.get(user, []))
            after = {d for d in days if d > bought}
            before = {d for d in days if d < bought}
            after_days += len(after)
            after_hits += len(after & hit)
            before_days += len(before)
            before_hits += len(before & hit)
    lift = (after_hits / max(after_days, 1)) / max(before_hits / max(before_days, 1), 1e-9)
    return lift, after_hits, after_days, before_hits, before_days


def test_complementary_categories_are_bought_together_later(shop: Shop, control: Shop) -> None:
    lift, a_hits, a_days, b_hits, b_days = _complement_lift(shop)
    table = [[a_hits, a_days - a_hits], [b_hits, b_days - b_hits]]
    assert stats.fisher_exact(table, alternative="greater").pvalue < 1e-4
    assert lift > 1.5
    c_lift, *_ = _complement_lift(control)  # complement_probability = 0
    assert lift > 1.5 * c_lift


def test_bots_burst_hundreds_of_events_per_minute(shop: Shop) -> None:
    ev = shop.events
    per_minute = ev.groupby([ev.user_id, ev.t // 60_000]).size().groupby(level=0).max()
    bots = set(shop.truth.bots)
    assert len(bots) == MAIN["bots"]
    lo, _ = shop.config.bot_events_per_minute
    bot_peaks = per_minute[per_minute.index.isin(bots)]
    assert len(bot_peaks) == len(bots)  # each bot was active at least once in 6 days
    # a burst lasts >= 2 minutes, so one full calendar minute holds ~rate >= lo events
    assert (bot_peaks > min(100, 0.7 * lo)).all()
    # humans stay below the cleaning job's bot threshold, so the rule separates them
    assert per_minute[~per_minute.index.isin(bots)].max() < CleanConfig().bot_events_per_minute


# ---------------------------------------------------------------------------------------------------------------
# Cold start: arrivals every day
# ---------------------------------------------------------------------------------------------------------------
def test_new_users_arrive_every_day_and_act_after_signup(shop: Shop) -> None:
    users = shop.users
    dates = [d.isoformat() for d in shop.config.dates()]
    seen: set[str] = set()
    per_day = shop.config.new_users / shop.config.days
    for date in dates:
        ids = set(users.loc[users.file_date == date, "user_id"])
        planted = set(shop.truth.new_users_on(date))
        assert planted <= ids
        assert abs(len(planted) - per_day) <= 1
        if date != dates[0]:
            assert ids == planted
            assert not ids & seen
            signup_day = pd.to_datetime(users.loc[users.user_id.isin(ids), "signup_ts"]).dt.date.astype(str)
            assert (signup_day == date).all()
        seen |= ids
    # every event's user has signed up before acting
    signup = pd.to_datetime(users.set_index("user_id").signup_ts, format="ISO8601").astype("int64") // 1_000_000
    ev = shop.events
    assert ev.user_id.isin(signup.index).all()
    assert (ev.t.to_numpy() >= signup[ev.user_id].to_numpy()).all()
    # most newcomers shop on their signup day (true cold users with a first session)
    first_day = shop.humans.groupby("user_id").day.min()
    new = [(u, i) for i, d in enumerate(dates) for u in shop.truth.new_users_on(d)]
    active_same_day = np.mean([first_day.get(u, -1) == i for u, i in new])
    assert active_same_day > NEW_USER_ACTIVE_SHARE - 0.1


def test_new_items_arrive_every_day_and_get_events_only_after_publication(shop: Shop) -> None:
    items = shop.items.drop_duplicates("item_id").set_index("item_id")
    created = pd.to_datetime(items.created_at, format="ISO8601").astype("int64") // 1_000_000
    ev = shop.events
    assert ev.item_id.isin(created.index).all()
    assert (ev.t.to_numpy() > created[ev.item_id].to_numpy()).all()
    dates = [d.isoformat() for d in shop.config.dates()]
    per_day = shop.config.new_items / shop.config.days
    first_event_day = ev.groupby("item_id").day.min()
    got_events = []
    for i, date in enumerate(dates):
        new = shop.truth.new_items_on(date)
        assert abs(len(new) - per_day) <= 1
        assert (pd.to_datetime(items.loc[new, "created_at"]).dt.date.astype(str) == date).all()
        # cold on their day: nothing before the next day
        assert (first_event_day.reindex(new).dropna() > i).all()
        if i < len(dates) - 1:
            got_events += [item in first_event_day.index for item in new]
    assert np.mean(got_events) > 0.5  # and then they do get picked up


def test_price_updates_republish_items_with_a_new_price(shop: Shop) -> None:
    items = shop.items
    for day in shop.truth.days[1:]:
        for item_id in day["price_updates"]:
            rows = items[items.item_id == item_id]
            assert day["date"] in set(rows.file_date)
            assert rows.file_date.min() < day["date"]


# ---------------------------------------------------------------------------------------------------------------
# Bad records
# ---------------------------------------------------------------------------------------------------------------
def test_every_injected_bad_event_is_recorded_with_kind_file_and_line(shop: Shop) -> None:
    planted = {(r["file"], r["line"], r["kind"]) for r in shop.truth.bad_records_of("events")}
    assert shop.bad == planted
    assert {k for _, _, k in planted} == set(EVENT_BAD_KINDS)
    by_line = {(r["file"], r["line"]): r for r in shop.truth.bad_records_of("events")}
    lines = {}
    for rel in {f for f, _ in by_line}:
        lines[rel] = (shop.root / rel).read_text().splitlines()
    for (rel, line), rec in by_line.items():
        text = lines[rel][line - 1]
        if rec["kind"] == "duplicate":
            assert text == lines[rel][rec["original_line"] - 1]
            assert rec["original_line"] < line
        if rec["kind"] == "malformed_json":
            assert text == rec["raw"]
        if rec["event_id"] is not None:
            assert rec["event_id"] in text


def test_bad_record_rate_is_as_configured(shop: Shop) -> None:
    rate = shop.config.bad_rate
    n = shop.lines
    files = len(list((shop.root / "events").glob("date=*/*.jsonl")))
    tolerance = 4 * math.sqrt(rate * (1 - rate) / n) + files / n
    assert abs(len(shop.bad) / n - rate) < tolerance
    counts = shop.truth.bad_record_counts["events"]
    assert sum(counts.values()) == len(shop.bad)


def test_bad_items_and_users_are_recorded(shop: Shop) -> None:
    planted = {(r["file"], r["line"], r["kind"]) for r in shop.truth.bad_records if r["dataset"] != "events"}
    assert shop.record_bad == planted
    assert planted  # 2% of ~1300 records


# ---------------------------------------------------------------------------------------------------------------
# Determinism, chunking, CLI
# ---------------------------------------------------------------------------------------------------------------
def _tree_bytes(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


SMALL = {"users": 300, "items": 80, "days": 3, "bots": 1}


def test_same_seed_gives_identical_bytes_and_other_seeds_differ(tmp_path: Path) -> None:
    generate_shop(tmp_path / "a", seed=5, **SMALL)
    generate_shop(tmp_path / "b", seed=5, **SMALL)
    generate_shop(tmp_path / "c", seed=6, **SMALL)
    a, b, c = (_tree_bytes(tmp_path / x) for x in "abc")
    assert a == b
    assert a.keys() == c.keys()
    differing = [k for k in a if a[k] != c[k]]
    assert any(k.startswith("events/") for k in differing)
    assert any(k.startswith("users/") for k in differing)


def test_existing_shop_is_not_overwritten_silently(tmp_path: Path) -> None:
    generate_shop(tmp_path, seed=1, **SMALL)
    with pytest.raises(FileExistsError):
        generate_shop(tmp_path, seed=2, **SMALL)
    (tmp_path / "keep.txt").write_text("mine")
    generate_shop(tmp_path, seed=2, overwrite=True, **SMALL)
    assert (tmp_path / "keep.txt").read_text() == "mine"
    assert GroundTruth.load(tmp_path).config["seed"] == 2


def test_small_chunks_split_days_into_parts_with_the_same_contract(tmp_path: Path) -> None:
    truth = generate_shop(tmp_path, seed=3, chunk_events=1000, **{**SMALL, "days": 2})
    parts = sorted((tmp_path / "events").glob("date=*/part-*.jsonl"))
    assert len(parts) > 2 * 2
    parsed = read_shop(tmp_path)
    assert parsed.events.event_id.is_unique
    assert parsed.bad == {(r["file"], r["line"], r["kind"]) for r in truth.bad_records_of("events")}
    assert sum(d["event_lines"] for d in truth.days) == parsed.lines


def test_invalid_configuration_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="bad_rate"):
        generate_shop(tmp_path, bad_rate=0.7, **SMALL)
    with pytest.raises(ValueError, match="bots"):
        generate_shop(tmp_path / "x", users=10, items=10, days=1, bots=20)


def test_cli_generate_writes_the_contract(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from coldrec.cli import app

    runner = CliRunner()
    out = tmp_path / "landing"
    args = ["generate", "--users", "150", "--items", "60", "--days", "2", "--seed", "4", "--out", str(out)]
    args += ["--start-date", "2024-03-01", "--bad-rate", "0.05", "--bots", "1", "--events-per-user-day", "5"]
    result = runner.invoke(app, [*args, "--quiet"])
    assert result.exit_code == 0, result.output
    truth = GroundTruth.load(out)
    assert truth.config["users"] == 150 and truth.config["items"] == 60 and truth.config["days"] == 2
    assert truth.config["bad_rate"] == 0.05 and truth.config["events_per_user_day"] == 5.0
    assert sorted(p.name for p in (out / "events").iterdir()) == ["date=2024-03-01", "date=2024-03-02"]
    assert (out / "items" / "date=2024-03-01" / "part-00000.jsonl").stat().st_size > 0
    assert (out / "users" / "date=2024-03-02" / "part-00000.jsonl").stat().st_size > 0
    first = _tree_bytes(out)

    again = runner.invoke(app, [*args, "--quiet"])
    assert again.exit_code != 0
    assert "overwrite" in again.output

    shown = runner.invoke(app, [*args, "--overwrite"])  # with progress and the summary table
    assert shown.exit_code == 0, shown.output
    assert _tree_bytes(out) == first

    # without --out it writes to the landing folder (global --landing / COLDREC_LANDING_URI)
    landing = tmp_path / "from-settings"
    monkeypatch.setenv("COLDREC_LANDING_URI", str(landing))
    result = runner.invoke(app, ["generate", "--users", "50", "--items", "40", "--days", "1", "--quiet"])
    assert result.exit_code == 0, result.output
    assert (landing / GROUND_TRUTH_FILE).is_file()
    from coldrec.config import load_settings

    assert GroundTruth.load(landing).config["seed"] == load_settings().seed  # COLDREC_SEED


@pytest.mark.spark
def test_spark_reads_the_shop_with_the_raw_contract_schemas(spark, shop: Shop) -> None:
    """The files parse under coldrec.data.schemas' explicit schemas: epoch millis land in the string ``ts``,
    malformed lines (and only they) become corrupt records, user and item fields keep their types."""
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    from coldrec.data.schemas import CORRUPT_RECORD, RAW_EVENTS, RAW_ITEMS, RAW_USERS

    schema = T.StructType([*RAW_EVENTS.fields, T.StructField(CORRUPT_RECORD, T.StringType())])
    events = (
        spark.read.schema(schema).option("columnNameOfCorruptRecord", CORRUPT_RECORD).json(str(shop.root / "events"))
    )
    malformed = len(shop.truth.bad_records_of("events", "malformed_json"))
    parsed = F.col(CORRUPT_RECORD).isNull()
    total, corrupt, no_ts = events.agg(
        F.count(F.lit(1)), F.count(CORRUPT_RECORD), F.count(F.when(parsed & F.col("ts").isNull(), 1))
    ).first()
    assert (total, corrupt, no_ts) == (shop.lines, malformed, 0)
    sample = shop.humans.sample(500, random_state=0)
    got = {r.event_id: r for r in events.filter(F.col("event_id").isin(list(sample.event_id))).collect()}
    for row in sample.itertuples():
        spark_row = got[row.event_id]
        assert spark_row.ts == (str(row.ts) if isinstance(row.ts, int) else row.ts)
        assert spark_row.user_id == row.user_id and spark_row.event_type == row.event_type
        assert (spark_row.price is None) == pd.isna(row.price)

    users = spark.read.schema(RAW_USERS).json(str(shop.root / "users")).filter(F.col("user_id").isNotNull())
    expected_users = shop.users.set_index("user_id")
    for row in users.collect():
        want = expected_users.loc[row.user_id]
        assert row.age == (None if pd.isna(want.age) else int(want.age))
        assert row.interests == list(want.interests)
        assert row.signup_ts == want.signup_ts
    items = spark.read.schema(RAW_ITEMS).json(str(shop.root / "items"))
    valid = F.col("item_id").isNotNull() & (F.col("price") > 0)
    n_items, not_three_levels = items.agg(
        F.countDistinct(F.when(valid, F.col("item_id"))),
        F.count(F.when(valid & (F.size(F.split("category_path", ">")) != 3), 1)),
    ).first()
    assert (n_items, not_three_levels) == (shop.items.item_id.nunique(), 0)
