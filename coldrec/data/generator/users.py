"""Users: demographics that drive latent taste clusters, activity levels, price sensitivity, declared interests.

Why demographics come first and taste is drawn from them: that is the planted signal a cold-start model can use
for a user with no history (age band x gender x region -> persona logits, recorded in the ground truth). Some
demographic fields are hidden (null) in the export while still having shaped the taste, as in a real shop.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from coldrec.data.generator.catalog import LATENT_DIM, MS_PER_DAY, Tree
from coldrec.data.generator.config import ShopConfig
from coldrec.data.generator.vocabulary import (
    AGE_BAND_WEIGHTS,
    AGE_BANDS,
    AGE_EFFECTS,
    GENDER_EFFECTS,
    GENDER_WEIGHTS,
    GENDERS,
    PERSONAS,
    REGION_EFFECTS,
    REGIONS,
)

#: share of exported user records whose age / gender is null (the latent value still shaped the taste)
MISSING_AGE_SHARE = 0.06
MISSING_GENDER_SHARE = 0.04
#: mass of each persona's leaf distribution on its core leaves (the rest is a sparse background)
CORE_MASS = 0.8
#: extra price sensitivity by age band (the young are more price sensitive)
AGE_PRICE_SENSITIVITY = (0.45, 0.25, 0.0, -0.1, -0.15, -0.05)


@dataclass(frozen=True)
class Personas:
    """Taste clusters: a leaf distribution each and a centre in the latent space."""

    names: list[str]
    leaf_weights: np.ndarray  # (K, leaves), rows sum to 1
    leaf_cdf: np.ndarray
    centers: np.ndarray  # (K, LATENT_DIM)


def build_personas(tree: Tree, brand_latent: np.ndarray, brand_dept: np.ndarray, rng: np.random.Generator) -> Personas:
    """Leaf weights: CORE_MASS on the persona's core leaves (Dirichlet-jittered), the rest sparse background.

    The latent centre points towards the brands of the persona's core departments, so within a leaf the members of a
    cluster agree on brands: collaborative signal beyond the category.
    """
    k = len(PERSONAS)
    weights = np.zeros((k, tree.n_leaves))
    centers = np.zeros((k, LATENT_DIM))
    for p, persona in enumerate(PERSONAS):
        core = np.asarray([tree.leaf_index(name) for name in persona.core_leaves])
        weights[p, core] = CORE_MASS * rng.dirichlet(np.full(len(core), 4.0))
        weights[p] += (1 - CORE_MASS) * rng.dirichlet(np.full(tree.n_leaves, 0.3))
        depts = np.unique(tree.dept[core])
        direction = brand_latent[np.isin(brand_dept, depts)].mean(axis=0)
        centers[p] = 0.7 * direction / max(np.linalg.norm(direction), 1e-9) * np.sqrt(LATENT_DIM) / 2
        centers[p] += 0.7 * rng.standard_normal(LATENT_DIM)
    weights /= weights.sum(axis=1, keepdims=True)
    return Personas([p.name for p in PERSONAS], weights, np.cumsum(weights, axis=1), centers)


def persona_logits(strength: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The planted (age band, gender, region) -> persona logit tables, scaled by ``strength``."""
    return (
        strength * np.asarray(AGE_EFFECTS),
        strength * np.asarray(GENDER_EFFECTS),
        strength * np.asarray(REGION_EFFECTS),
    )


@dataclass
class Users:
    """All users of the window (initial users first, then arrivals in day order). Index u has id ``u{num[u]}``."""

    num: np.ndarray
    signup_day: np.ndarray  # -1 for users that exist before the window
    signup_ms: np.ndarray
    age: np.ndarray  # true age
    age_band: np.ndarray
    age_visible: np.ndarray  # bool: exported (else null)
    gender: np.ndarray
    gender_visible: np.ndarray
    region: np.ndarray
    country: list[str]
    utc_offset_h: np.ndarray
    primary: np.ndarray  # persona index
    secondary: np.ndarray
    mix: np.ndarray  # probability that a session follows the primary persona
    latent: np.ndarray  # (users, LATENT_DIM) float32
    activity: np.ndarray  # mean 1; expected sessions scale with it
    price_sensitivity: np.ndarray
    is_bot: np.ndarray

    def __len__(self) -> int:
        return len(self.num)

    def ids(self, idx: np.ndarray | list[int]) -> list[str]:
        return [f"u{n}" for n in self.num[np.asarray(idx, dtype=np.int64)]]


def _categorical(rng: np.random.Generator, probs: np.ndarray) -> np.ndarray:
    """One draw per row of a (n, k) probability matrix."""
    cdf = np.cumsum(probs, axis=1)
    u = rng.random(len(probs)) * cdf[:, -1]
    return np.minimum((u[:, None] > cdf).sum(axis=1), probs.shape[1] - 1)


def build_users(config: ShopConfig, personas: Personas, start_ms: int, rng: np.random.Generator) -> Users:
    n = config.users
    n_init = config.initial_users
    n_new = n - n_init

    signup_day = np.full(n, -1, dtype=np.int64)
    if n_new:
        signup_day[n_init:] = (np.arange(n_new) * config.days) // n_new
    signup_ms = np.empty(n, dtype=np.int64)
    signup_ms[:n_init] = start_ms - rng.integers(3_600_000, 730 * MS_PER_DAY, n_init)
    # New users sign up between 00:00 and 21:00 UTC of their day, leaving time for a first session.
    signup_ms[n_init:] = start_ms + signup_day[n_init:] * MS_PER_DAY + rng.integers(0, 21 * 3_600_000, n_new)

    age_band = rng.choice(len(AGE_BANDS), size=n, p=np.asarray(AGE_BAND_WEIGHTS) / sum(AGE_BAND_WEIGHTS))
    lows = np.asarray([b[1] for b in AGE_BANDS])
    highs = np.asarray([b[2] for b in AGE_BANDS])
    age = lows[age_band] + (rng.random(n) * (highs[age_band] - lows[age_band] + 1)).astype(np.int64)
    gender = rng.choice(len(GENDERS), size=n, p=np.asarray(GENDER_WEIGHTS) / sum(GENDER_WEIGHTS))
    region_names = list(REGIONS)
    region_share = np.asarray([REGIONS[r][0] for r in region_names])
    region = rng.choice(len(region_names), size=n, p=region_share / region_share.sum())
    country_pick = rng.random(n)
    country = [
        REGIONS[region_names[r]][2][int(c * len(REGIONS[region_names[r]][2]))]
        for r, c in zip(region.tolist(), country_pick.tolist(), strict=True)
    ]
    utc_offset = np.asarray([REGIONS[r][1] for r in region_names])[region]

    age_fx, gender_fx, region_fx = persona_logits(config.demographic_strength)
    logits = age_fx[age_band] + gender_fx[gender] + region_fx[region]
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    primary = _categorical(rng, probs)
    secondary = _categorical(rng, probs)
    mix = rng.uniform(0.6, 0.9, n)

    latent = (personas.centers[primary] + 0.6 * rng.standard_normal((n, LATENT_DIM))).astype(np.float32)
    activity = rng.lognormal(-0.5, 1.0, n)  # mean exp(-0.5 + 0.5) = 1
    sensitivity = 0.8 + config.demographic_strength * np.asarray(AGE_PRICE_SENSITIVITY)[age_band]
    sensitivity = np.maximum(0.0, sensitivity + 0.3 * rng.standard_normal(n))

    is_bot = np.zeros(n, dtype=bool)
    if config.bots:
        is_bot[rng.choice(n_init, size=config.bots, replace=False)] = True
    # Mean exactly 1 over the humans actually drawn, so events_per_user_day holds for this population, not only
    # in expectation over populations (the lognormal tail makes small samples drift by 10% and more).
    activity /= activity[~is_bot].mean() if (~is_bot).any() else 1.0
    activity[is_bot] = 0.0  # bots do not browse like humans; they run bursts (events.py)

    return Users(
        num=np.arange(1, n + 1, dtype=np.int64),
        signup_day=signup_day,
        signup_ms=signup_ms,
        age=age,
        age_band=age_band,
        age_visible=rng.random(n) >= MISSING_AGE_SHARE,
        gender=gender,
        gender_visible=rng.random(n) >= MISSING_GENDER_SHARE,
        region=region,
        country=country,
        utc_offset_h=utc_offset,
        primary=primary,
        secondary=secondary,
        mix=mix,
        latent=latent,
        activity=activity,
        price_sensitivity=sensitivity,
        is_bot=is_bot,
    )


def declared_interests(
    users: Users, personas: Personas, tree: Tree, idx: np.ndarray, rng: np.random.Generator
) -> list[list[str]]:
    """Interests a user ticked at signup: mostly core leaves of their primary persona, sometimes none or noise."""
    out: list[list[str]] = []
    n_pick = rng.choice(4, size=len(idx), p=[0.35, 0.3, 0.25, 0.1])
    noise = rng.random((len(idx), 3)) < 0.2
    draws = rng.random((len(idx), 3))
    random_leaf = rng.integers(0, tree.n_leaves, (len(idx), 3))
    for row, u in enumerate(idx.tolist()):
        core = PERSONAS[users.primary[u]].core_leaves
        chosen: list[str] = []
        for j in range(n_pick[row]):
            name = tree.leaf_names[random_leaf[row, j]] if noise[row, j] else core[int(draws[row, j] * len(core))]
            if name not in chosen:
                chosen.append(name)
        out.append(chosen)
    return out
