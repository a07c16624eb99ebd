"""The item catalog: category tree arrays, brands, items with latent appeal, prices and generated text.

Why the whole catalog is drawn up front: items that arrive on day 5 must be the same whatever chunking or day
range is written, and a few arrays of length ``items`` are small even for a million items. Text is rebuilt on
demand from stored word indices, so memory stays a handful of bytes per item.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from coldrec.data.generator.config import ShopConfig
from coldrec.data.generator.vocabulary import DEPARTMENTS, Leaf, SubCategory

#: dimension of the latent taste space shared by users and items
LATENT_DIM = 8
MS_PER_DAY = 86_400_000
#: new items are published in the evening of their day and can be viewed from the next day on (true cold items)
NEW_ITEM_PUBLISH_HOURS = (18.0, 24.0)


@dataclass(frozen=True)
class Tree:
    """The category tree flattened into arrays indexed by leaf number."""

    paths: list[str]
    leaf_names: list[str]
    leaves: list[Leaf]
    subs: list[SubCategory]  # per leaf
    dept: np.ndarray  # department index per leaf
    sub: np.ndarray  # global subcategory index per leaf
    log_median: np.ndarray
    sigma: np.ndarray
    brand_names: list[str]
    brand_dept: np.ndarray

    @property
    def n_leaves(self) -> int:
        return len(self.paths)

    def leaf_index(self, name: str) -> int:
        return self.leaf_names.index(name)


def build_tree() -> Tree:
    paths: list[str] = []
    names: list[str] = []
    leaves: list[Leaf] = []
    subs: list[SubCategory] = []
    dept_of: list[int] = []
    sub_of: list[int] = []
    brand_names: list[str] = []
    brand_dept: list[int] = []
    sub_counter = 0
    for d, dept in enumerate(DEPARTMENTS):
        brand_names.extend(dept.brands)
        brand_dept.extend([d] * len(dept.brands))
        for sub in dept.subcategories:
            for leaf in sub.leaves:
                paths.append(f"{dept.name}>{sub.name}>{leaf.name}")
                names.append(leaf.name)
                leaves.append(leaf)
                subs.append(sub)
                dept_of.append(d)
                sub_of.append(sub_counter)
            sub_counter += 1
    if len(set(names)) != len(names):
        raise AssertionError("leaf names must be unique (personas refer to them by name)")
    return Tree(
        paths=paths,
        leaf_names=names,
        leaves=leaves,
        subs=subs,
        dept=np.asarray(dept_of),
        sub=np.asarray(sub_of),
        log_median=np.log([leaf.median_price for leaf in leaves]),
        sigma=np.asarray([leaf.price_sigma for leaf in leaves]),
        brand_names=brand_names,
        brand_dept=np.asarray(brand_dept),
    )


def round_price_cents(price: np.ndarray) -> np.ndarray:
    """Shop-like prices in cents: 94.37 -> 93.99 (x.99 above 10), 4.37 -> 4.39 (x.x9 below)."""
    whole = np.maximum(np.round(price), 1.0) * 100 - 1
    small = np.maximum(np.round(price * 10), 1.0) * 10 - 1
    return np.where(price >= 10, whole, small).astype(np.int64)


@dataclass
class Catalog:
    """All items (initial catalog first, then arrivals in day order). Index i has id ``i{num[i]}``."""

    tree: Tree
    num: np.ndarray  # id numbers
    leaf: np.ndarray
    brand: np.ndarray
    created_day: np.ndarray  # -1 for the initial catalog
    created_ms: np.ndarray  # epoch millis
    price_cents: np.ndarray  # current price (updated in place by price updates)
    quality: np.ndarray
    popularity: np.ndarray  # planted Zipf weight
    latent: np.ndarray  # (items, LATENT_DIM) float32
    noun: np.ndarray
    adjective: np.ndarray
    attr_values: np.ndarray  # (items, 3), -1 where the subcategory has fewer attributes
    features: np.ndarray  # (items, 2)
    brand_appeal: np.ndarray
    brand_latent: np.ndarray

    def __len__(self) -> int:
        return len(self.num)

    def ids(self, idx: np.ndarray | list[int]) -> list[str]:
        return [f"i{n}" for n in self.num[np.asarray(idx, dtype=np.int64)]]

    def rel_price(self) -> np.ndarray:
        """log(price / leaf median): what price-sensitive users react to."""
        return np.log(self.price_cents / 100.0) - self.tree.log_median[self.leaf]

    # -----------------------------------------------------------------------------------------------------------
    # Text
    # -----------------------------------------------------------------------------------------------------------
    def title(self, i: int) -> str:
        leaf = self.tree.leaves[self.leaf[i]]
        sub = self.tree.subs[self.leaf[i]]
        dept = DEPARTMENTS[self.tree.dept[self.leaf[i]]]
        values = [
            sub.attributes[name][self.attr_values[i, k]]
            for k, name in enumerate(list(sub.attributes)[:2])
            if self.attr_values[i, k] >= 0
        ]
        head = f"{self.tree.brand_names[self.brand[i]]} {dept.adjectives[self.adjective[i]]} {leaf.nouns[self.noun[i]]}"
        return f"{head} - {', '.join(values)}" if values else head

    def description(self, i: int) -> str:
        leaf_idx = self.leaf[i]
        leaf = self.tree.leaves[leaf_idx]
        sub = self.tree.subs[leaf_idx]
        dept = DEPARTMENTS[self.tree.dept[leaf_idx]]
        brand = self.tree.brand_names[self.brand[i]]
        noun = leaf.nouns[self.noun[i]]
        adjective = dept.adjectives[self.adjective[i]].lower()
        f1, f2 = (sub.features[k] for k in self.features[i])
        attrs = "; ".join(
            f"{name}: {sub.attributes[name][self.attr_values[i, k]]}"
            for k, name in enumerate(list(sub.attributes)[:3])
            if self.attr_values[i, k] >= 0
        )
        template = int(self.num[i]) % 3
        if template == 0:
            text = f"{f1}. {f2}. This {adjective} {noun.lower()} from {brand} belongs to our {leaf.name} range."
        elif template == 1:
            lead = f1[0].lower() + f1[1:]
            text = f"Meet the {brand} {noun}: {lead}. {f2}. A {adjective} pick for {leaf.name.lower()} fans."
        else:
            text = f"{brand} {noun}. {f1}, and {f2[0].lower() + f2[1:]}. {dept.name} / {sub.name} / {leaf.name}."
        return f"{text} {attrs}." if attrs else text


def _feature_pairs(rng: np.random.Generator, n_features: np.ndarray) -> np.ndarray:
    """Two distinct feature indices per item, vectorized (second = first + 1..n-1, modulo n)."""
    first = (rng.random(len(n_features)) * n_features).astype(np.int64)
    step = 1 + (rng.random(len(n_features)) * (n_features - 1)).astype(np.int64)
    return np.stack([first, (first + step) % n_features], axis=1)


def build_catalog(config: ShopConfig, tree: Tree, start_ms: int, rng: np.random.Generator) -> Catalog:
    """Draw every item of the window: leaf, brand, price, quality, Zipf popularity, latent vector and words.

    The steps draw from ``rng`` in a fixed order: the same seed gives the same catalog."""
    n = config.items
    brand_tier, brand_quality, brand_appeal, brand_latent = _draw_brands(len(tree.brand_names), rng)
    leaf = _draw_leaves(config, tree.n_leaves, rng)
    brand, tier = _draw_item_brands(tree, leaf, brand_tier, brand_appeal, rng)
    created_day, created_ms = _arrival_times(config, start_ms, rng)

    # Price: lognormal per leaf (median, sigma); the brand tier explains a quarter of the log-variance.
    z = 0.5 * tier[brand] + np.sqrt(0.75) * rng.standard_normal(n)
    price = np.exp(tree.log_median[leaf] + tree.sigma[leaf] * z)
    price_cents = round_price_cents(price)

    quality = 0.6 * brand_quality[brand] + 0.8 * rng.standard_normal(n)
    # Planted popularity: Zipf over the whole catalog by rank of an appeal score that content partly explains
    # (brand appeal and quality), so cold items are not pure noise but not fully predictable either.
    appeal = 0.45 * brand_appeal[brand] + 0.35 * quality + 0.8 * rng.standard_normal(n)
    rank = np.empty(n, dtype=np.int64)
    rank[np.argsort(-appeal, kind="stable")] = np.arange(n)
    popularity = (rank + 1.0) ** (-config.zipf_alpha)

    latent = (0.8 * brand_latent[brand] + 0.6 * rng.standard_normal((n, LATENT_DIM))).astype(np.float32)
    noun, adjective, attr_values, features = _draw_words(tree, leaf, rng)
    return Catalog(
        tree=tree,
        num=np.arange(1, n + 1, dtype=np.int64),
        leaf=leaf,
        brand=brand,
        created_day=created_day,
        created_ms=created_ms,
        price_cents=price_cents,
        quality=quality,
        popularity=popularity,
        latent=latent,
        noun=noun,
        adjective=adjective,
        attr_values=attr_values,
        features=features,
        brand_appeal=brand_appeal,
        brand_latent=brand_latent,
    )


def _draw_brands(n_brands: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Brands: a price tier (premium brands are dearer and better), a quality, an appeal, a direction in taste
    space."""
    brand_tier = rng.standard_normal(n_brands)
    brand_quality = 0.6 * brand_tier + 0.8 * rng.standard_normal(n_brands)  # premium brands are better
    brand_appeal = rng.standard_normal(n_brands)
    brand_latent = rng.standard_normal((n_brands, LATENT_DIM))
    return brand_tier, brand_quality, brand_appeal, brand_latent


def _draw_leaves(config: ShopConfig, n_leaves: int, rng: np.random.Generator) -> np.ndarray:
    """Leaves get unequal shelf space; every leaf has at least one item in the initial catalog when it can."""
    n = config.items
    shelf = rng.lognormal(0.0, 0.5, n_leaves)
    leaf = np.empty(n, dtype=np.int64)
    first = min(config.initial_items, n_leaves)
    leaf[:first] = rng.permutation(n_leaves)[:first]
    leaf[first:] = rng.choice(n_leaves, size=n - first, p=shelf / shelf.sum())
    return leaf


def _draw_item_brands(
    tree: Tree, leaf: np.ndarray, brand_tier: np.ndarray, brand_appeal: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """(brand per item, standardized tier per brand). A brand is one of the leaf's department brands, the appealing
    ones a little more often. The price tier is standardized under that choice within each department, so the tier
    term of the price has mean 0 and variance 1 and every leaf's prices stay lognormal around the planted median."""
    brand = np.empty(len(leaf), dtype=np.int64)
    tier = np.zeros(len(brand_tier))
    for d in np.unique(tree.dept):
        members = np.flatnonzero(tree.brand_dept == d)
        weights = np.exp(0.5 * brand_appeal[members])
        weights /= weights.sum()
        mean = weights @ brand_tier[members]
        std = np.sqrt(weights @ (brand_tier[members] - mean) ** 2)
        tier[members] = (brand_tier[members] - mean) / max(float(std), 1e-9)
        rows = np.flatnonzero(tree.dept[leaf] == d)
        brand[rows] = rng.choice(members, size=len(rows), p=weights)
    return brand, tier


def _arrival_times(config: ShopConfig, start_ms: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(created day, created epoch ms): initial items were created up to a year before the window; new ones on
    their day, in the evening."""
    n, n_init = config.items, config.initial_items
    created_day = np.full(n, -1, dtype=np.int64)
    n_new = n - n_init
    if n_new:
        created_day[n_init:] = (np.arange(n_new) * config.days) // n_new
    created_ms = np.empty(n, dtype=np.int64)
    created_ms[:n_init] = start_ms - rng.integers(3_600_000, 365 * MS_PER_DAY, n_init)
    lo, hi = NEW_ITEM_PUBLISH_HOURS
    publish = (rng.uniform(lo, hi, n_new) * 3_600_000).astype(np.int64)
    created_ms[n_init:] = start_ms + created_day[n_init:] * MS_PER_DAY + np.minimum(publish, MS_PER_DAY - 1000)
    return created_day, created_ms


def _draw_words(
    tree: Tree, leaf: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(noun, adjective, three attribute values, two feature phrases) per item, from its leaf's vocabulary."""
    n = len(leaf)
    n_nouns = np.asarray([len(tree.leaves[li].nouns) for li in range(tree.n_leaves)])[leaf]
    n_adj = np.asarray([len(DEPARTMENTS[d].adjectives) for d in tree.dept])[leaf]
    noun = (rng.random(n) * n_nouns).astype(np.int64)
    adjective = (rng.random(n) * n_adj).astype(np.int64)
    attr_values = np.full((n, 3), -1, dtype=np.int64)
    for k in range(3):
        sizes = np.asarray([len(list(s.attributes.values())[k]) if len(s.attributes) > k else 0 for s in tree.subs])[
            leaf
        ]
        draw = (rng.random(n) * np.maximum(sizes, 1)).astype(np.int64)
        attr_values[:, k] = np.where(sizes > 0, draw, -1)
    n_features = np.asarray([len(s.features) for s in tree.subs])[leaf]
    return noun, adjective, attr_values, _feature_pairs(rng, n_features)


@dataclass(frozen=True)
class ItemSampler:
    """Popularity-weighted sampling of live items within a leaf, for many draws at once (one searchsorted)."""

    order: np.ndarray  # live item indices sorted by leaf
    cum: np.ndarray  # cumulative popularity along ``order``
    leaf_start: np.ndarray  # cumulative weight before each leaf
    leaf_total: np.ndarray
    leaf_first: np.ndarray  # position range of each leaf in ``order``
    leaf_end: np.ndarray
    fallback: np.ndarray  # leaf -> a leaf with live items (itself when it has some)
    live: np.ndarray  # all live item indices

    @classmethod
    def for_day(cls, catalog: Catalog, day: int) -> ItemSampler:
        live = np.flatnonzero(catalog.created_day < day)
        n_leaves = catalog.tree.n_leaves
        order = live[np.argsort(catalog.leaf[live], kind="stable")]
        weights = catalog.popularity[order]
        cum = np.cumsum(weights)
        counts = np.bincount(catalog.leaf[order], minlength=n_leaves)
        leaf_end = np.cumsum(counts)
        leaf_first = leaf_end - counts
        totals = np.bincount(catalog.leaf[order], weights=weights, minlength=n_leaves)
        starts = np.concatenate([[0.0], np.cumsum(totals)[:-1]])
        # A leaf without live items borrows from the nearest leaf of the same subcategory/department that has some.
        fallback = np.arange(n_leaves)
        tree = catalog.tree
        for leaf_idx in np.flatnonzero(counts == 0):
            for group in (tree.sub, tree.dept, np.zeros(n_leaves, dtype=np.int64)):
                candidates = np.flatnonzero((group == group[leaf_idx]) & (counts > 0))
                if len(candidates):
                    fallback[leaf_idx] = candidates[np.argmax(totals[candidates])]
                    break
        return cls(order, cum, starts, totals, leaf_first, leaf_end, fallback, live)

    def sample_trending(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """Items drawn by planted popularity across the whole live catalog (home page, "trending" widgets)."""
        pos = np.searchsorted(self.cum, rng.random(n) * self.cum[-1], side="right")
        return self.order[np.minimum(pos, len(self.order) - 1)]

    def sample(self, leaves: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One item per entry of ``leaves``, drawn with probability proportional to planted popularity."""
        leaves = self.fallback[leaves]
        target = self.leaf_start[leaves] + rng.random(len(leaves)) * self.leaf_total[leaves]
        pos = np.searchsorted(self.cum, target, side="right")
        pos = np.clip(pos, self.leaf_first[leaves], self.leaf_end[leaves] - 1)
        return self.order[pos]
