"""Synthetic shop generator: a realistic raw landing folder with its planted ground truth.

``generate_shop(out, users, items, days, seed, ...) -> GroundTruth`` is the API; ``coldrec generate`` the command.
Modules: ``vocabulary`` (fixed world: tree, words, personas, demographics), ``catalog`` (items), ``users``,
``events`` (day simulation), ``jsonl`` (vectorized writer), ``bad_records`` (injection), ``truth``, ``shop``.
"""

from coldrec.data.generator.config import EVENT_BAD_KINDS, ITEM_BAD_KINDS, USER_BAD_KINDS, ShopConfig
from coldrec.data.generator.shop import ShopGenerator, generate_shop
from coldrec.data.generator.truth import GROUND_TRUTH_FILE, GroundTruth

__all__ = [
    "EVENT_BAD_KINDS",
    "GROUND_TRUTH_FILE",
    "ITEM_BAD_KINDS",
    "USER_BAD_KINDS",
    "GroundTruth",
    "ShopConfig",
    "ShopGenerator",
    "generate_shop",
]
