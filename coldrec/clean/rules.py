"""The named rules of the cleaning job: rejection reasons, their precedence, and the event-type vocabulary.

Why one module: the reason names are a contract (``silver.rejected.reason``, the ``rejected_<reason>`` metrics, the
generator's ground truth), and when a record breaks several rules the reported reason must be the same on every run,
so the order in which rules are checked is fixed here once.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from coldrec.data import schemas as S

# -- rejection reasons, in the order they are checked (the first rule a record breaks is its reason) --------------
MALFORMED_RECORD = "malformed_record"  # not JSON / CSV of the contract, or a value of the wrong type
MISSING_USER_ID = "missing_user_id"  # null or blank user_id
MISSING_ITEM_ID = "missing_item_id"  # null or blank item_id
UNKNOWN_EVENT_TYPE = "unknown_event_type"  # null, or neither a canonical type nor a known synonym
INVALID_TIMESTAMP = "invalid_timestamp"  # null or unparseable ts (neither ISO-8601 nor epoch millis)
TIMESTAMP_OUTSIDE_DAY = "timestamp_outside_day"  # after the run's day, or earlier than the lateness window
MISSING_RATING = "missing_rating"  # a rating event without a rating
RATING_OUT_OF_RANGE = "rating_out_of_range"  # outside [rating_min, rating_max], or NaN
INVALID_PRICE = "invalid_price"  # negative, NaN, infinite or above max_price
INVALID_QUANTITY = "invalid_quantity"  # below 1
UNKNOWN_ITEM = "unknown_item"  # item not in silver.items (only with unknown_item_policy=quarantine)
INVALID_AGE = "invalid_age"  # users: outside 0..120
UNREADABLE_FILE = "unreadable_file"  # a compressed file that does not decompress: one quarantine row per file

EVENT_REASONS: tuple[str, ...] = (
    MALFORMED_RECORD,
    MISSING_USER_ID,
    MISSING_ITEM_ID,
    UNKNOWN_EVENT_TYPE,
    INVALID_TIMESTAMP,
    TIMESTAMP_OUTSIDE_DAY,
    MISSING_RATING,
    RATING_OUT_OF_RANGE,
    INVALID_PRICE,
    INVALID_QUANTITY,
    UNKNOWN_ITEM,
    UNREADABLE_FILE,
)
ITEM_REASONS: tuple[str, ...] = (MALFORMED_RECORD, MISSING_ITEM_ID, INVALID_PRICE, INVALID_TIMESTAMP, UNREADABLE_FILE)
USER_REASONS: tuple[str, ...] = (MALFORMED_RECORD, MISSING_USER_ID, INVALID_AGE, INVALID_TIMESTAMP, UNREADABLE_FILE)

#: Not a rejection and not a record: whitespace-only lines are skipped (and counted as ``blank_lines``).
BLANK_LINE = "blank_line"
#: Not a rejection: exact duplicates are removed and counted (``duplicates_removed``), never quarantined.
DUPLICATE_EVENT = "duplicate_event"

AGE_MIN, AGE_MAX = 0, 120

# -- event types -------------------------------------------------------------------------------------------------
#: Raw event type -> canonical type. Keys are compared after :func:`normalize_type_token` (lower case, trimmed,
#: spaces and dashes as underscores), so "Add-To-Cart" and "add to cart" both hit "add_to_cart".
#: Chosen from the names common shop trackers emit (GA4 ecommerce events, Snowplow, Segment's spec); anything not
#: listed is ``unknown_event_type`` rather than a guess. ``CleanConfig.event_type_synonyms`` adds more per shop.
EVENT_TYPE_SYNONYMS: Mapping[str, str] = {
    # view: the item page was shown
    "view": "view",
    "page_view": "view",
    "pageview": "view",
    "product_view": "view",
    "view_item": "view",
    "detail_view": "view",
    "item_view": "view",
    # click: the item was clicked in a list / recommendation slot
    "click": "click",
    "clicked": "click",
    "select_item": "click",
    "product_click": "click",
    # favorite: saved for later
    "favorite": "favorite",
    "favourite": "favorite",
    "fav": "favorite",
    "like": "favorite",
    "wishlist": "favorite",
    "add_to_wishlist": "favorite",
    # cart
    "cart": "cart",
    "add_to_cart": "cart",
    "addtocart": "cart",
    "add_to_basket": "cart",
    "basket": "cart",
    # purchase
    "purchase": "purchase",
    "buy": "purchase",
    "order": "purchase",
    "checkout": "purchase",
    "transaction": "purchase",
    "purchased": "purchase",
    # rating: an explicit score (needs ``rating``)
    "rating": "rating",
    "rate": "rating",
    "rated": "rating",
    "review": "rating",
}


#: Runs of whitespace and dashes become one underscore (same pattern on the Spark side).
TYPE_TOKEN_SEPARATORS = r"[\s\-]+"


def normalize_type_token(value: str) -> str:
    """The key form used by the synonym table (the Spark side applies the same steps column-wise)."""
    return re.sub(TYPE_TOKEN_SEPARATORS, "_", value.strip().lower())


def synonyms(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The built-in synonyms plus per-shop ``extra`` ones; every target must be a canonical type."""
    table = dict(EVENT_TYPE_SYNONYMS)
    for raw, canonical in (extra or {}).items():
        if canonical not in S.EVENT_TYPES:
            raise ValueError(
                f"event type synonym {raw!r} -> {canonical!r}: target must be a canonical type, one of {S.EVENT_TYPES}"
            )
        table[normalize_type_token(raw)] = canonical
    return table
