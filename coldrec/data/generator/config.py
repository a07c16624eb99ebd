"""Knobs of the synthetic shop, validated once so every module can trust them."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from typing import Any

#: Kinds of injected bad records per raw dataset (the cleaning job must reject each with a matching reason).
EVENT_BAD_KINDS: tuple[str, ...] = (
    "malformed_json",
    "missing_id",
    "unknown_event_type",
    "negative_price",
    "far_future_ts",
    "duplicate",
)
ITEM_BAD_KINDS: tuple[str, ...] = ("malformed_json", "missing_id", "negative_price")
USER_BAD_KINDS: tuple[str, ...] = ("malformed_json", "missing_id")


@dataclass(frozen=True)
class ShopConfig:
    """Everything that shapes a generated shop. Same config (seed included) -> byte-identical files.

    ``users`` and ``items`` are the totals on the last day; ``new_user_share`` / ``new_item_share`` of them arrive
    during the window (spread evenly over the days), the rest exist before ``start_date``.
    """

    users: int = 2000
    items: int = 500
    days: int = 7
    seed: int = 1
    start_date: dt.date = dt.date(2025, 1, 6)
    bad_rate: float = 0.01
    bots: int = 3
    events_per_user_day: float = 7.0
    new_user_share: float = 0.3
    new_item_share: float = 0.2
    #: share of human events delivered one day late (in the next day's folder, ts on their own day)
    late_share: float = 0.002
    #: share of sessions whose client logs ``ts`` as epoch millis (a JSON number) instead of ISO-8601
    epoch_millis_share: float = 0.15
    #: share of sessions logged without ``session_id`` (the cleaning job sessionizes them by gap)
    missing_session_share: float = 0.03
    #: share of the live catalog re-published with a new price each day (latest record wins)
    price_update_share: float = 0.01
    #: multiplies every planted demographic -> taste effect; 0 removes the demographic signal
    demographic_strength: float = 1.0
    zipf_alpha: float = 1.0
    views_per_session: float = 8.0
    cart_rate: float = 0.10
    favorite_rate: float = 0.03
    purchase_given_cart: tuple[float, float] = (0.2, 0.6)
    rating_given_purchase: float = 0.35
    #: after buying a leaf with a complementary leaf, this share of the buyer's sessions go to the complement ...
    complement_probability: float = 0.35
    #: ... for this many days
    complement_days: int = 10
    bot_events_per_minute: tuple[float, float] = (150.0, 400.0)
    bot_burst_minutes: tuple[float, float] = (2.0, 4.0)
    #: probability that a bot runs a burst on a given day
    bot_daily_probability: float = 0.7
    #: events generated (and written to one part file) per chunk: bounds memory, not the result's statistics
    chunk_events: int = 250_000

    def __post_init__(self) -> None:
        if self.users < 1 or self.items < 1 or self.days < 1:
            raise ValueError("users, items and days must be >= 1")
        if self.seed < 0:
            raise ValueError("seed must be >= 0")
        for name in (
            "bad_rate",
            "new_user_share",
            "new_item_share",
            "late_share",
            "epoch_millis_share",
            "missing_session_share",
            "price_update_share",
            "cart_rate",
            "favorite_rate",
            "rating_given_purchase",
            "complement_probability",
            "bot_daily_probability",
        ):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {value}")
        if self.bad_rate >= 0.5:
            raise ValueError("bad_rate must be < 0.5")
        if self.bots < 0 or self.bots > self.initial_users:
            raise ValueError(f"bots must be in [0, {self.initial_users}] (the users that exist before day 1)")
        if self.events_per_user_day <= 0 or self.views_per_session < 1:
            raise ValueError("events_per_user_day must be > 0 and views_per_session >= 1")
        lo, hi = self.purchase_given_cart
        if not 0.0 <= lo <= hi <= 1.0:
            raise ValueError("purchase_given_cart must be (lo, hi) with 0 <= lo <= hi <= 1")
        blo, bhi = self.bot_events_per_minute
        if not 0 < blo <= bhi:
            raise ValueError("bot_events_per_minute must be (lo, hi) with 0 < lo <= hi")
        mlo, mhi = self.bot_burst_minutes
        if not 1.0 <= mlo <= mhi <= 60.0:
            raise ValueError("bot_burst_minutes must be (lo, hi) with 1 <= lo <= hi <= 60")
        if self.zipf_alpha <= 0 or self.demographic_strength < 0:
            raise ValueError("zipf_alpha must be > 0 and demographic_strength >= 0")
        if not 1000 <= self.chunk_events <= 5_000_000:
            raise ValueError("chunk_events must be in [1000, 5000000] (one part file's text stays < 2 GiB)")
        if self.complement_days < 1:
            raise ValueError("complement_days must be >= 1")

    @property
    def new_users(self) -> int:
        return round(self.users * self.new_user_share)

    @property
    def initial_users(self) -> int:
        return self.users - self.new_users

    @property
    def new_items(self) -> int:
        return min(round(self.items * self.new_item_share), self.items - 1)

    @property
    def initial_items(self) -> int:
        return self.items - self.new_items

    def dates(self) -> list[dt.date]:
        return [self.start_date + dt.timedelta(days=d) for d in range(self.days)]

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["start_date"] = self.start_date.isoformat()
        for key, value in out.items():
            if isinstance(value, tuple):
                out[key] = list(value)
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ShopConfig:
        kwargs = dict(data)
        kwargs["start_date"] = dt.date.fromisoformat(kwargs["start_date"])
        for key, value in kwargs.items():
            if isinstance(value, list):
                kwargs[key] = tuple(value)
        return cls(**kwargs)
