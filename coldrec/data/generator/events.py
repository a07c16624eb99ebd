"""Day-by-day event simulation: sessions, funnel, time of day, popularity, complements, ratings, bots, late events.

Why vectorized per chunk of users: 10M+ events must be produced at hundreds of thousands per second, so a day is
simulated as arrays (sessions -> views -> funnel outcomes) with one numpy call per step; no Python loop runs per
event. State that crosses days (complementary-category boosts, ratings not yet given, events delivered late) lives
in the simulator and is O(users + pending).

The planted mechanics (recorded in the ground truth, asserted by the tests from the files):
- sessions per user-day ~ Poisson(activity x weekday x rate), starting at a local hour drawn from the hourly profile;
- a session follows one persona (primary or secondary) and mostly one leaf; items within the leaf are drawn by Zipf
  popularity, then chosen by latent taste (user . item) and price sensitivity;
- funnel per view: cart ~ Bernoulli(sigmoid(logit(cart_rate) + taste + quality - price)), purchase | cart with a
  probability clipped to ``purchase_given_cart``, rating | purchase after 0-3 days;
- buying a leaf with a complement sends ``complement_probability`` of the buyer's later sessions to the complement;
- bots run bursts of ``bot_events_per_minute`` views on uniformly random items.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

import numpy as np

from coldrec.data.generator.catalog import MS_PER_DAY, Catalog, ItemSampler
from coldrec.data.generator.config import ShopConfig
from coldrec.data.generator.users import Personas, Users
from coldrec.data.generator.vocabulary import COMPLEMENTARY_LEAVES, HOURLY_PROFILE, WEEKDAY_FACTORS

TYPE_NAMES: tuple[str, ...] = ("view", "favorite", "cart", "purchase", "rating")
VIEW, FAVORITE, CART, PURCHASE, RATING = range(5)

#: candidates drawn by popularity per view, among which taste and price pick one
CANDIDATES = 4
TASTE_WEIGHT = 1.2
#: share of sessions that wander to a random leaf, and of views that drift to another leaf of the user's taste
EXPLORE_SHARE = 0.05
DRIFT_SHARE = 0.15
#: share of views that come from site-wide bestseller widgets instead of the session's leaf
TRENDING_SHARE = 0.1
#: dispersion of the negative binomial number of extra views per session (smaller = heavier tail)
VIEWS_DISPERSION = 1.5
VIEW_GAP_MS = 45_000.0
#: probability that a user who signs up today also shops today
NEW_USER_ACTIVE_SHARE = 0.85
#: ratings come 0..3 days after the purchase
RATING_DELAY_P = (0.25, 0.35, 0.25, 0.15)
#: bots: share of views, carts and favorites in a burst
BOT_TYPE_P = (0.9, 0.07, 0.03)
#: late events are synced during the first hours of the next day
LATE_ARRIVAL_HOURS = 6


@dataclass
class EventBatch:
    """Events as parallel arrays; -1 / 0 mark absent optional fields (price, session / quantity, rating)."""

    user: np.ndarray
    item: np.ndarray
    etype: np.ndarray
    ts: np.ndarray  # epoch millis, UTC
    session: np.ndarray  # session number, -1 when the client sent none
    price: np.ndarray  # cents, -1 when absent
    qty: np.ndarray  # 0 when absent
    rating: np.ndarray  # 0 when absent
    millis: np.ndarray  # bool: ts written as epoch millis
    bot: np.ndarray  # bool
    late: np.ndarray  # bool: delivered a day after its ts
    order_key: np.ndarray  # position in the log (arrival time), ms

    def __len__(self) -> int:
        return len(self.user)

    @classmethod
    def empty(cls) -> EventBatch:
        return cls(**{f.name: np.zeros(0, dtype=_DTYPES[f.name]) for f in fields(cls)})

    @classmethod
    def build(cls, **columns: np.ndarray | None) -> EventBatch:
        user = columns["user"]
        assert user is not None, "EventBatch.build needs the user column"
        n = len(user)
        defaults = {"session": -1, "price": -1, "qty": 0, "rating": 0, "millis": False, "bot": False, "late": False}
        out = {}
        for f in fields(cls):
            value = columns.get(f.name)
            if value is None:
                value = columns["ts"] if f.name == "order_key" else np.full(n, defaults[f.name])
            out[f.name] = np.asarray(value, dtype=_DTYPES[f.name])
        return cls(**out)

    @classmethod
    def concat(cls, batches: list[EventBatch]) -> EventBatch:
        batches = [b for b in batches if len(b)]
        if not batches:
            return cls.empty()
        return cls(**{f.name: np.concatenate([getattr(b, f.name) for b in batches]) for f in fields(cls)})

    def take(self, idx: np.ndarray) -> EventBatch:
        return EventBatch(**{f.name: getattr(self, f.name)[idx] for f in fields(self)})


_DTYPES = {
    "user": np.int64,
    "item": np.int64,
    "etype": np.int8,
    "ts": np.int64,
    "session": np.int64,
    "price": np.int64,
    "qty": np.int64,
    "rating": np.int8,
    "millis": bool,
    "bot": bool,
    "late": bool,
    "order_key": np.int64,
}


def expected_events_per_session(config: ShopConfig) -> float:
    """Mean events one session yields under the planted rates (used to calibrate ``events_per_user_day``)."""
    buy = sum(config.purchase_given_cart) / 2
    per_view = 1 + config.favorite_rate + config.cart_rate * (1 + buy * (1 + config.rating_given_purchase))
    return config.views_per_session * per_view


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


@dataclass
class _Views:
    """The views of a chunk's sessions: per session its view count; per view its session, user, leaf, and (after
    :meth:`Simulator._pick_items`) the item, the user's taste for it and the price terms of the choice."""

    n_views: np.ndarray
    vs: np.ndarray
    vu: np.ndarray
    vleaf: np.ndarray
    item: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    aff: np.ndarray = field(default_factory=lambda: np.empty(0))
    sens: np.ndarray = field(default_factory=lambda: np.empty(0))
    rel_price: np.ndarray = field(default_factory=lambda: np.empty(0))


@dataclass(frozen=True)
class _Funnel:
    """Per view: the item's quality and what followed it (cart, purchase, favorite) with the quantity."""

    quality: np.ndarray
    cart: np.ndarray
    buy: np.ndarray
    fav: np.ndarray
    qty: np.ndarray


@dataclass(frozen=True)
class _Offsets:
    """Per session its start time (epoch ms) and the day's last ms; per view the offsets of its events."""

    base: np.ndarray
    day_end: int
    view: np.ndarray
    cart: np.ndarray
    fav: np.ndarray
    buy: np.ndarray


class Simulator:
    """Holds the cross-day state; :meth:`chunk` simulates one day for one range of users."""

    def __init__(self, config: ShopConfig, catalog: Catalog, users: Users, personas: Personas, start_ms: int):
        self.config = config
        self.catalog = catalog
        self.users = users
        self.personas = personas
        self.start_ms = start_ms
        tree = catalog.tree
        self.complement = np.full(tree.n_leaves, -1, dtype=np.int64)
        for src, dst in COMPLEMENTARY_LEAVES:
            self.complement[tree.leaf_index(src)] = tree.leaf_index(dst)
        self.boost_leaf = np.full(len(users), -1, dtype=np.int64)
        self.boost_until = np.full(len(users), -1, dtype=np.int64)
        self.session_counter = 0
        self.session_rate = config.events_per_user_day / expected_events_per_session(config)
        profile = np.asarray(HOURLY_PROFILE)
        self.hour_cdf = np.cumsum(profile) / profile.sum()
        self.aff_scale = float(np.sqrt(catalog.latent.shape[1]))
        self.pending = EventBatch.empty()  # ratings not yet given
        self.late_carry = EventBatch.empty()  # events of yesterday delivered today

    # -------------------------------------------------------------------------------------------------------------
    def _new_sessions(self, n: int) -> np.ndarray:
        out = np.arange(self.session_counter, self.session_counter + n, dtype=np.int64)
        self.session_counter += n
        return out

    def _leaf_for_persona(self, persona: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One leaf per entry, from each persona's leaf distribution (one searchsorted per persona)."""
        u = rng.random(len(persona))
        leaf = np.empty(len(persona), dtype=np.int64)
        cdf = self.personas.leaf_cdf
        for p in np.unique(persona):
            rows = persona == p
            leaf[rows] = np.searchsorted(cdf[p], u[rows] * cdf[p, -1], side="right")
        return np.minimum(leaf, cdf.shape[1] - 1)

    def _session_personas(self, users: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        u = self.users
        return np.where(rng.random(len(users)) < u.mix[users], u.primary[users], u.secondary[users])

    # -------------------------------------------------------------------------------------------------------------
    def chunk(
        self, day: int, lo: int, hi: int, sampler: ItemSampler, rng: np.random.Generator, first_chunk: bool
    ) -> EventBatch:
        """All events logged on ``day`` for users ``lo..hi-1`` (plus bots and late arrivals in the first chunk),
        in log order. Also updates the cross-day state."""
        arrived = self._deliver_late(day, rng) if first_chunk else EventBatch.empty()  # before today's hold-backs
        batch = EventBatch.concat([self._humans(day, lo, hi, sampler, rng), self._due_ratings(day, lo, hi, rng)])
        batch = self._hold_back_late(day, batch, rng)
        if first_chunk:
            batch = EventBatch.concat([batch, self._bots(day, sampler, rng), arrived])
        return batch.take(np.argsort(batch.order_key, kind="stable"))

    def _humans(self, day: int, lo: int, hi: int, sampler: ItemSampler, rng: np.random.Generator) -> EventBatch:
        """The day's human sessions of users ``lo..hi-1``: who visits, when, which leaf, which items, the funnel,
        the timing inside each session; then the ratings they will give later and the complements they steer to.

        The steps draw from ``rng`` in a fixed order: the same seed gives byte-identical files."""
        su = self._session_users(day, lo, hi, rng)
        if len(su) == 0:
            return EventBatch.empty()
        start, lower = self._session_starts(day, su, rng)
        views = self._views(su, self._session_leaves(day, su, rng), rng)
        self._pick_items(views, sampler, rng)
        funnel = self._funnel(views, rng)
        offsets = self._timing(views, funnel, start, lower, day, rng)
        batch = self._session_events(views, funnel, offsets, rng)
        self._queue_ratings(views, funnel, offsets, rng)
        # Complements: buying a leaf that has one steers later sessions there for complement_days days.
        target = self.complement[self.catalog.leaf[views.item]]
        steer = funnel.buy & (target >= 0)
        self.boost_leaf[views.vu[steer]] = target[steer]
        self.boost_until[views.vu[steer]] = day + self.config.complement_days
        return batch

    def _session_users(self, day: int, lo: int, hi: int, rng: np.random.Generator) -> np.ndarray:
        """One entry per session: its user (Poisson sessions by activity and weekday; new users come once)."""
        users = self.users
        day_start = self.start_ms + day * MS_PER_DAY
        weekday = (np.datetime64(day_start, "ms").astype("datetime64[D]").astype(np.int64) + 3) % 7  # 1970-01-01: Thu
        rate = users.activity[lo:hi] * self.session_rate * WEEKDAY_FACTORS[int(weekday)]
        n_sess = rng.poisson(rate)
        new_today = users.signup_day[lo:hi] == day
        first_visit = new_today & (rng.random(hi - lo) < NEW_USER_ACTIVE_SHARE)
        n_sess = np.where(first_visit, np.maximum(n_sess, 1), n_sess)
        n_sess[users.is_bot[lo:hi]] = 0
        return np.repeat(np.arange(lo, hi), n_sess)

    def _session_starts(self, day: int, su: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """(start offset in the day, earliest allowed offset): a local hour from the profile, shifted to UTC by the
        user's region; new users after signing up."""
        users, n_s = self.users, len(su)
        day_start = self.start_ms + day * MS_PER_DAY
        hour = np.minimum(np.searchsorted(self.hour_cdf, rng.random(n_s), side="right"), 23)
        start = ((hour - users.utc_offset_h[su]) % 24) * 3_600_000 + rng.integers(0, 3_600_000, n_s)
        is_new = users.signup_day[su] == day
        lower = np.where(is_new, users.signup_ms[su] - day_start + 1000, 0)
        after_signup = lower + (rng.random(n_s) ** 2 * (MS_PER_DAY - lower)).astype(np.int64)
        return np.where(is_new, after_signup, start), lower

    def _session_leaves(self, day: int, su: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One leaf per session: persona, exploration, or the complement of an earlier purchase."""
        n_s = len(su)
        leaf = self._leaf_for_persona(self._session_personas(su, rng), rng)
        explore = rng.random(n_s) < EXPLORE_SHARE
        leaf[explore] = rng.integers(0, self.catalog.tree.n_leaves, int(explore.sum()))
        boosted = (self.boost_until[su] >= day) & (self.boost_leaf[su] >= 0)
        boosted &= rng.random(n_s) < self.config.complement_probability
        leaf[boosted] = self.boost_leaf[su[boosted]]
        return leaf

    def _views(self, su: np.ndarray, leaf: np.ndarray, rng: np.random.Generator) -> _Views:
        """Views: 1 + negative binomial per session; a few drift to another leaf of the user's taste."""
        n_s = len(su)
        mean_extra = self.config.views_per_session - 1
        if mean_extra > 0:
            extra = rng.negative_binomial(VIEWS_DISPERSION, VIEWS_DISPERSION / (VIEWS_DISPERSION + mean_extra), n_s)
        else:
            extra = np.zeros(n_s, dtype=np.int64)
        n_views = 1 + extra
        vs = np.repeat(np.arange(n_s), n_views)
        vu = su[vs]
        vleaf = leaf[vs]
        drift = rng.random(len(vs)) < DRIFT_SHARE
        if drift.any():
            vleaf[drift] = self._leaf_for_persona(self._session_personas(vu[drift], rng), rng)
        return _Views(n_views=n_views, vs=vs, vu=vu, vleaf=vleaf)

    def _pick_items(self, views: _Views, sampler: ItemSampler, rng: np.random.Generator) -> None:
        """Which item: CANDIDATES drawn by popularity, the one that suits taste and wallet wins (Gumbel-max).
        Some views come from site-wide bestseller widgets: popularity across leaves, the global Zipf head."""
        catalog, vu, n_v = self.catalog, views.vu, len(views.vs)
        cand = sampler.sample(np.repeat(views.vleaf, CANDIDATES), rng).reshape(n_v, CANDIDATES)
        trending = np.flatnonzero(rng.random(n_v) < TRENDING_SHARE)
        cand[trending] = sampler.sample_trending(len(trending) * CANDIDATES, rng).reshape(-1, CANDIDATES)
        taste = np.einsum("vd,vcd->vc", self.users.latent[vu], catalog.latent[cand]) / self.aff_scale
        views.rel_price = catalog.rel_price()
        views.sens = self.users.price_sensitivity[vu]
        util = TASTE_WEIGHT * taste - views.sens[:, None] * views.rel_price[cand] + rng.gumbel(size=cand.shape)
        pick = util.argmax(axis=1)
        rows = np.arange(n_v)
        views.item = cand[rows, pick]
        views.aff = taste[rows, pick]

    def _funnel(self, views: _Views, rng: np.random.Generator) -> _Funnel:
        """View -> cart -> purchase, favorites, quantities."""
        cfg, n_v, aff = self.config, len(views.vs), views.aff
        quality = self.catalog.quality[views.item]
        logit_cart = np.log(cfg.cart_rate / (1 - cfg.cart_rate)) if 0 < cfg.cart_rate < 1 else None
        if logit_cart is None:
            cart = np.full(n_v, cfg.cart_rate >= 1)
        else:
            # Centred per chunk so that the view -> cart rate stays near cart_rate whatever the taste selection.
            push = 0.6 * aff + 0.3 * quality - 0.5 * views.sens * views.rel_price[views.item]
            p_cart = _sigmoid(logit_cart + push - push.mean())
            cart = rng.random(n_v) < p_cart
        b_lo, b_hi = cfg.purchase_given_cart
        p_buy = (b_lo + b_hi) / 2 + (b_hi - b_lo) * (0.2 * quality + 0.1 * aff + 0.25 * rng.standard_normal(n_v))
        buy = cart & (rng.random(n_v) < np.clip(p_buy, b_lo, b_hi))
        fav = ~cart & (rng.random(n_v) < cfg.favorite_rate)
        qty = rng.geometric(0.8, n_v)
        return _Funnel(quality=quality, cart=cart, buy=buy, fav=fav, qty=qty)

    def _timing(
        self, views: _Views, funnel: _Funnel, start: np.ndarray, lower: np.ndarray, day: int, rng: np.random.Generator
    ) -> _Offsets:
        """Timing inside the session: exponential gaps between views, cart and favorite soon after the view,
        purchases together at checkout after the last view; the session is kept inside its day."""
        n_views, vs, n_v, n_s = views.n_views, views.vs, len(views.vs), len(views.n_views)
        cart, fav, buy = funnel.cart, funnel.fav, funnel.buy
        first = np.concatenate([[0], np.cumsum(n_views)[:-1]])
        last = np.cumsum(n_views) - 1
        gaps = rng.exponential(VIEW_GAP_MS, n_v)
        gaps[first] = 0.0
        cum = np.cumsum(gaps)
        view_off = (cum - cum[first][vs]).astype(np.int64)
        cart_off = view_off + rng.integers(5_000, 90_000, n_v)
        fav_off = view_off + rng.integers(2_000, 30_000, n_v)
        last_cart = np.maximum.reduceat(np.where(cart, cart_off, 0), first)
        checkout = np.maximum(view_off[last], last_cart) + rng.integers(60_000, 600_000, n_s)
        buy_off = checkout[vs] + rng.integers(0, 3_000, n_v)
        event_end = np.maximum.reduce(
            [view_off, np.where(cart, cart_off, 0), np.where(fav, fav_off, 0), np.where(buy, buy_off, 0)]
        )
        duration = np.maximum.reduceat(event_end, first)
        start = np.maximum(np.minimum(start, MS_PER_DAY - 1_000 - duration), lower)
        day_start = self.start_ms + day * MS_PER_DAY
        return _Offsets(
            base=day_start + start,
            day_end=day_start + MS_PER_DAY - 1,
            view=view_off,
            cart=cart_off,
            fav=fav_off,
            buy=buy_off,
        )

    def _session_events(self, views: _Views, funnel: _Funnel, at: _Offsets, rng: np.random.Generator) -> EventBatch:
        """The view, favorite, cart and purchase events of the sessions (ids, missing ids, epoch-millis logs)."""
        cfg, vs, n_s = self.config, views.vs, len(views.n_views)
        session = self._new_sessions(n_s)
        session[rng.random(n_s) < cfg.missing_session_share] = -1
        millis = rng.random(n_s) < cfg.epoch_millis_share
        price = self.catalog.price_cents[views.item]

        def events(mask: np.ndarray, offset: np.ndarray, etype: int, with_qty: bool) -> EventBatch:
            s = vs[mask]
            return EventBatch.build(
                user=views.vu[mask],
                item=views.item[mask],
                etype=np.full(int(mask.sum()), etype),
                ts=np.minimum(at.base[s] + offset[mask], at.day_end),
                session=session[s],
                price=price[mask],
                qty=funnel.qty[mask] if with_qty else None,
                millis=millis[s],
            )

        every = np.ones(len(vs), dtype=bool)
        return EventBatch.concat(
            [
                events(every, at.view, VIEW, False),
                events(funnel.fav, at.fav, FAVORITE, False),
                events(funnel.cart, at.cart, CART, True),
                events(funnel.buy, at.buy, PURCHASE, True),
            ]
        )

    def _queue_ratings(self, views: _Views, funnel: _Funnel, at: _Offsets, rng: np.random.Generator) -> None:
        """Ratings for some purchases, given 0..3 days later (kept pending until their day comes)."""
        cfg = self.config
        rate_it = funnel.buy & (rng.random(len(views.vs)) < cfg.rating_given_purchase)
        if not rate_it.any():
            return
        n_r = int(rate_it.sum())
        value = np.rint(3.5 + 0.9 * funnel.quality[rate_it] + 0.6 * views.aff[rate_it] + 0.9 * rng.standard_normal(n_r))
        delay = rng.choice(len(RATING_DELAY_P), size=n_r, p=RATING_DELAY_P)
        bought_at = np.minimum(at.base[views.vs[rate_it]] + at.buy[rate_it], at.day_end)
        ts = bought_at + delay * MS_PER_DAY + rng.integers(1_800_000, 6 * 3_600_000, n_r)
        pending = EventBatch.build(
            user=views.vu[rate_it],
            item=views.item[rate_it],
            etype=np.full(n_r, RATING),
            ts=ts,
            rating=np.clip(value, 1, 5),
            millis=rng.random(n_r) < cfg.epoch_millis_share,
        )
        self.pending = EventBatch.concat([self.pending, pending])

    def _due_ratings(self, day: int, lo: int, hi: int, rng: np.random.Generator) -> EventBatch:
        """Ratings whose time falls on ``day``, for users of this chunk (each rating is its own short visit)."""
        p = self.pending
        if not len(p):
            return EventBatch.empty()
        due_day = (p.ts - self.start_ms) // MS_PER_DAY
        due = (due_day == day) & (p.user >= lo) & (p.user < hi)
        out = p.take(np.flatnonzero(due))
        self.pending = p.take(np.flatnonzero(~due & (due_day >= day)))
        out.session = self._new_sessions(len(out))
        out.order_key = out.ts.copy()
        return out

    def _hold_back_late(self, day: int, batch: EventBatch, rng: np.random.Generator) -> EventBatch:
        """Some events reach the log only the next day (offline app sync); the last day's are simply never seen."""
        if self.config.late_share <= 0 or day >= self.config.days - 1 or not len(batch):
            return batch
        late = (rng.random(len(batch)) < self.config.late_share) & ~batch.bot
        if late.any():
            held = batch.take(np.flatnonzero(late))
            self.late_carry = EventBatch.concat([self.late_carry, held])
        return batch.take(np.flatnonzero(~late))

    def _deliver_late(self, day: int, rng: np.random.Generator) -> EventBatch:
        carry = self.late_carry
        self.late_carry = EventBatch.empty()
        if not len(carry):
            return carry
        carry.late = np.ones(len(carry), dtype=bool)
        day_start = self.start_ms + day * MS_PER_DAY
        carry.order_key = day_start + rng.integers(0, LATE_ARRIVAL_HOURS * 3_600_000, len(carry))
        return carry

    def _bots(self, day: int, sampler: ItemSampler, rng: np.random.Generator) -> EventBatch:
        """Each bot runs a burst (sometimes two) of hundreds of events per minute on random items."""
        cfg = self.config
        day_start = self.start_ms + day * MS_PER_DAY
        parts = []
        for bot in np.flatnonzero(self.users.is_bot):
            if rng.random() >= cfg.bot_daily_probability:
                continue
            for _ in range(1 + int(rng.random() < 0.2)):
                minutes = rng.uniform(*cfg.bot_burst_minutes)
                per_minute = rng.uniform(*cfg.bot_events_per_minute)
                n = round(per_minute * minutes)
                duration = int(minutes * 60_000)
                begin = day_start + rng.integers(0, MS_PER_DAY - duration - 60_000)
                ts = np.sort(begin + rng.integers(0, duration, n))
                item = sampler.live[rng.integers(0, len(sampler.live), n)]
                etype = rng.choice([VIEW, CART, FAVORITE], size=n, p=BOT_TYPE_P)
                parts.append(
                    EventBatch.build(
                        user=np.full(n, bot),
                        item=item,
                        etype=etype,
                        ts=ts,
                        session=np.full(n, self._new_sessions(1)[0]),
                        price=self.catalog.price_cents[item],
                        qty=np.where(etype == CART, 1, 0),
                        bot=np.ones(n, dtype=bool),
                    )
                )
        return EventBatch.concat(parts)
