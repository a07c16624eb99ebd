"""Generate a whole synthetic shop into a landing folder, day by day, in bounded-memory chunks.

Layout written (the raw input contract, see ``coldrec.data.schemas``)::

    <out>/events/date=YYYY-MM-DD/part-00000.jsonl   events logged that day (one part per chunk of users)
    <out>/items/date=YYYY-MM-DD/part-00000.jsonl    items published that day (+ the initial catalog on day 1)
                                                     and items re-published with a new price
    <out>/users/date=YYYY-MM-DD/part-00000.jsonl    users who signed up that day (+ the initial users on day 1)
    <out>/_ground_truth.json                         the planted structure (coldrec.data.generator.truth)

Determinism: every random stream is seeded from ``(seed, stream, day, chunk)``, ids come from counters, and files
are written in a fixed order, so the same configuration gives byte-identical files.
"""

from __future__ import annotations

import datetime as dt
import shutil
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from coldrec.data.generator.bad_records import inject_event_bad_records, inject_record_bad_records
from coldrec.data.generator.catalog import (
    MS_PER_DAY,
    Catalog,
    ItemSampler,
    build_catalog,
    build_tree,
    round_price_cents,
)
from coldrec.data.generator.config import ITEM_BAD_KINDS, USER_BAD_KINDS, ShopConfig
from coldrec.data.generator.events import TYPE_NAMES, EventBatch, Simulator, expected_events_per_session
from coldrec.data.generator.jsonl import EventFormatter, iso_list, write_lines
from coldrec.data.generator.truth import GROUND_TRUTH_FILE, GroundTruth
from coldrec.data.generator.users import (
    MISSING_AGE_SHARE,
    MISSING_GENDER_SHARE,
    Personas,
    Users,
    build_personas,
    build_users,
    declared_interests,
    persona_logits,
)
from coldrec.data.generator.vocabulary import (
    AGE_BANDS,
    COMPLEMENTARY_LEAVES,
    GENDERS,
    HOURLY_PROFILE,
    PERSONAS,
    REGIONS,
    WEEKDAY_FACTORS,
    category_tree,
)
from coldrec.data.schemas import (
    AGE,
    BRAND,
    CATEGORY_PATH,
    COUNTRY,
    CREATED_AT,
    DESCRIPTION,
    GENDER,
    INTERESTS,
    ITEM_ID,
    PRICE,
    REGION,
    SIGNUP_TS,
    TITLE,
    USER_ID,
)

#: the folders (and file) of the contract this generator owns inside ``out``
CONTRACT_PATHS = ("events", "items", "users", GROUND_TRUTH_FILE)
RECORDS_PER_PART = 200_000
PRICE_UPDATE_SIGMA = 0.12

# random streams
_CATALOG, _PERSONAS, _USERS, _DAY, _CHUNK, _BAD = range(6)


class ShopGenerator:
    """Draws the world once (catalog, personas, users), then simulates and writes each day."""

    def __init__(self, config: ShopConfig, out: str | Path):
        self.config = config
        self.out = Path(out)
        self.start_ms = int((config.start_date - dt.date(1970, 1, 1)).days) * MS_PER_DAY
        seed = config.seed
        self.tree = build_tree()
        self.catalog: Catalog = build_catalog(config, self.tree, self.start_ms, np.random.default_rng([seed, _CATALOG]))
        self.personas: Personas = build_personas(
            self.tree, self.catalog.brand_latent, self.tree.brand_dept, np.random.default_rng([seed, _PERSONAS])
        )
        self.users: Users = build_users(config, self.personas, self.start_ms, np.random.default_rng([seed, _USERS]))
        self.sim = Simulator(config, self.catalog, self.users, self.personas, self.start_ms)
        self.formatter = EventFormatter(self.users.num, self.catalog.num)
        self.next_event = 1
        self.next_bad_item = config.items + 1
        self.next_bad_user = config.users + 1
        self.truth = self._planted_truth()

    # ------------------------------------------------------------------------------------------------------------
    def _new_event_id(self) -> str:
        self.next_event += 1
        return f"e{self.next_event - 1}"

    def _new_item_id(self) -> str:
        self.next_bad_item += 1
        return f"i{self.next_bad_item - 1}"

    def _new_user_id(self) -> str:
        self.next_bad_user += 1
        return f"u{self.next_bad_user - 1}"

    def _rel(self, path: Path) -> str:
        return path.relative_to(self.out).as_posix()

    # ------------------------------------------------------------------------------------------------------------
    def run(self, progress: bool = True, console: Console | None = None) -> GroundTruth:
        self.out.mkdir(parents=True, exist_ok=True)
        dates = self.config.dates()
        bar = Progress(
            TextColumn("[bold]generate[/] {task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[events]:,} events"),
            TimeElapsedColumn(),
            console=console,
            transient=False,
            disable=not progress,
        )
        totals: Counter[str] = Counter()
        with bar:
            task = bar.add_task(dates[0].isoformat(), total=len(dates), events=0)
            for day, date in enumerate(dates):
                summary = self._day(day, date)
                self.truth.days.append(summary)
                for key in ("event_lines", "clean_events", "bad_event_lines", "bot_events", "late_events_in"):
                    totals[key] += summary[key]
                bar.update(task, advance=1, description=date.isoformat(), events=totals["event_lines"])
        counts: dict[str, dict[str, int]] = {}
        for rec in self.truth.bad_records:
            counts.setdefault(rec["dataset"], {}).setdefault(rec["kind"], 0)
            counts[rec["dataset"]][rec["kind"]] += 1
        self.truth.bad_record_counts = counts
        self.truth.totals = {**totals, "users": len(self.users), "items": len(self.catalog)}
        self.truth.save(self.out)
        return self.truth

    def _day(self, day: int, date: dt.date) -> dict[str, Any]:
        rng = np.random.default_rng([self.config.seed, _DAY, day])
        part = f"date={date.isoformat()}"
        updated = self._price_updates(day, rng)
        new_items = np.flatnonzero(self.catalog.created_day == day)
        published = np.flatnonzero(self.catalog.created_day <= day) if day == 0 else new_items
        item_rows = np.concatenate([published, updated])
        self._write_records(
            self._item_records(item_rows),
            self.out / "items" / part,
            ITEM_BAD_KINDS,
            ITEM_ID,
            self._new_item_id,
            "items",
            rng,
        )
        new_users = np.flatnonzero(self.users.signup_day == day)
        joined = np.flatnonzero(self.users.signup_day <= day) if day == 0 else new_users
        interests = declared_interests(self.users, self.personas, self.tree, joined, rng)
        self._write_records(
            self._user_records(joined, interests),
            self.out / "users" / part,
            USER_BAD_KINDS,
            USER_ID,
            self._new_user_id,
            "users",
            rng,
        )

        stats = self._events(day, date)
        return {
            "date": date.isoformat(),
            "new_users": self.users.ids(new_users),
            "new_items": self.catalog.ids(new_items),
            "price_updates": self.catalog.ids(updated),
            "users_total": int(np.sum(self.users.signup_day <= day)),
            "items_live": int(np.sum(self.catalog.created_day < day)),
            **stats,
        }

    def _price_updates(self, day: int, rng: np.random.Generator) -> np.ndarray:
        if day == 0 or self.config.price_update_share <= 0:
            return np.zeros(0, dtype=np.int64)
        live = np.flatnonzero(self.catalog.created_day < day)
        chosen = live[rng.random(len(live)) < self.config.price_update_share]
        factor = rng.lognormal(0.0, PRICE_UPDATE_SIGMA, len(chosen))
        self.catalog.price_cents[chosen] = round_price_cents(self.catalog.price_cents[chosen] / 100.0 * factor)
        return chosen

    def _item_records(self, idx: np.ndarray) -> list[dict[str, Any]]:
        c, tree = self.catalog, self.tree
        created = iso_list(c.created_ms[idx])
        prices = (c.price_cents[idx] / 100.0).round(2).tolist()
        return [
            {
                ITEM_ID: f"i{c.num[i]}",
                TITLE: c.title(i),
                DESCRIPTION: c.description(i),
                CATEGORY_PATH: tree.paths[c.leaf[i]],
                BRAND: tree.brand_names[c.brand[i]],
                PRICE: price,
                CREATED_AT: created_at,
            }
            for i, price, created_at in zip(idx.tolist(), prices, created, strict=True)
        ]

    def _user_records(self, idx: np.ndarray, interests: list[list[str]]) -> list[dict[str, Any]]:
        us = self.users
        regions = list(REGIONS)
        ages = np.where(us.age_visible[idx], us.age[idx], -1).tolist()
        genders = np.where(us.gender_visible[idx], us.gender[idx], -1).tolist()
        signup = iso_list(us.signup_ms[idx])
        return [
            {
                USER_ID: f"u{us.num[u]}",
                SIGNUP_TS: signup_ts,
                AGE: age if age >= 0 else None,
                GENDER: GENDERS[gender] if gender >= 0 else None,
                COUNTRY: us.country[u],
                REGION: regions[us.region[u]],
                INTERESTS: ints,
            }
            for u, signup_ts, age, gender, ints in zip(idx.tolist(), signup, ages, genders, interests, strict=True)
        ]

    def _write_records(
        self,
        records: list[dict[str, Any]],
        folder: Path,
        kinds: tuple[str, ...],
        id_key: str,
        new_id: Callable[[], str],
        dataset: str,
        rng: np.random.Generator,
    ) -> None:
        for p, lo in enumerate(range(0, max(len(records), 1), RECORDS_PER_PART)):
            path = folder / f"part-{p:05d}.jsonl"
            lines, bad = inject_record_bad_records(
                records[lo : lo + RECORDS_PER_PART],
                kinds,
                id_key,
                self.config.bad_rate,
                rng,
                new_id,
                dataset,
                self._rel(path),
            )
            write_lines(path, pa.array([line + "\n" for line in lines], type=pa.string()))
            self.truth.bad_records.extend(bad)

    def _events(self, day: int, date: dt.date) -> dict[str, int]:
        cfg = self.config
        sampler = ItemSampler.for_day(self.catalog, day)
        present = int(np.sum(self.users.signup_day <= day))
        per_chunk = max(1, cfg.chunk_events // max(1, int(np.ceil(cfg.events_per_user_day * 1.5))))
        stats: Counter[str] = Counter()
        folder = self.out / "events" / f"date={date.isoformat()}"
        for c, lo in enumerate(range(0, present, per_chunk)):
            hi = min(present, lo + per_chunk)
            batch = self.sim.chunk(day, lo, hi, sampler, np.random.default_rng([cfg.seed, _CHUNK, day, c]), c == 0)
            self._write_event_chunk(batch, folder / f"part-{c:05d}.jsonl", day, stats)
        return dict(stats)

    def _write_event_chunk(self, batch: EventBatch, path: Path, day: int, stats: Counter[str]) -> None:
        n = len(batch)
        event_num = np.arange(self.next_event, self.next_event + n, dtype=np.int64)
        self.next_event += n
        lines = self.formatter.lines(batch, event_num)
        rng = np.random.default_rng([self.config.seed, _BAD, day, int(path.stem.split("-")[-1])])
        rel = self._rel(path)
        inserts, bad = inject_event_bad_records(
            lines, event_num, batch.price >= 0, batch.ts, self.config.bad_rate, rng, self._new_event_id, rel
        )
        write_lines(path, lines, inserts)
        self.truth.bad_records.extend(bad)
        late = np.flatnonzero(batch.late)
        day_of_ts = (batch.ts[late] // MS_PER_DAY).tolist()
        epoch = dt.date(1970, 1, 1)
        self.truth.late_events.extend(
            {"event_id": f"e{event_num[i]}", "file": rel, "ts_date": (epoch + dt.timedelta(days=d)).isoformat()}
            for i, d in zip(late.tolist(), day_of_ts, strict=True)
        )
        stats["event_lines"] += len(lines) + len(inserts)
        stats["clean_events"] += n
        stats["bad_event_lines"] += len(bad)
        stats["bot_events"] += int(batch.bot.sum())
        stats["late_events_in"] += len(late)
        stats["ratings"] += int(np.sum(batch.etype == TYPE_NAMES.index("rating")))
        stats["parts"] += 1

    # ------------------------------------------------------------------------------------------------------------
    def _planted_truth(self) -> GroundTruth:
        cfg, tree, personas, users, catalog = self.config, self.tree, self.personas, self.users, self.catalog
        age_fx, gender_fx, region_fx = persona_logits(cfg.demographic_strength)
        b_lo, b_hi = cfg.purchase_given_cart
        return GroundTruth(
            config=cfg.to_json(),
            category_tree=category_tree(),
            leaves=list(tree.paths),
            leaf_prices={
                path: {"median": float(np.exp(tree.log_median[i])), "sigma": float(tree.sigma[i])}
                for i, path in enumerate(tree.paths)
            },
            taste_clusters=[
                {
                    "id": k,
                    "name": name,
                    "core_leaves": [tree.paths[tree.leaf_index(n)] for n in _persona_core(name)],
                    "leaf_weights": [round(float(w), 6) for w in personas.leaf_weights[k]],
                }
                for k, name in enumerate(personas.names)
            ],
            user_clusters={
                f"u{n}": [int(p), int(s)]
                for n, p, s in zip(users.num.tolist(), users.primary.tolist(), users.secondary.tolist(), strict=True)
            },
            demographic_taste_map={
                "clusters": personas.names,
                "strength": cfg.demographic_strength,
                "age_bands": [b[0] for b in AGE_BANDS],
                "genders": list(GENDERS),
                "regions": list(REGIONS),
                "age_band_logits": {b[0]: age_fx[i].round(4).tolist() for i, b in enumerate(AGE_BANDS)},
                "gender_logits": {g: gender_fx[i].round(4).tolist() for i, g in enumerate(GENDERS)},
                "region_logits": {r: region_fx[i].round(4).tolist() for i, r in enumerate(REGIONS)},
                "missing_age_share": MISSING_AGE_SHARE,
                "missing_gender_share": MISSING_GENDER_SHARE,
                "note": "P(primary cluster) = softmax(age_band + gender + region logits); secondary drawn alike",
            },
            complementary_pairs=[
                {"from": tree.paths[tree.leaf_index(a)], "to": tree.paths[tree.leaf_index(b)]}
                for a, b in COMPLEMENTARY_LEAVES
            ],
            funnel={
                "view_to_cart_base": cfg.cart_rate,
                "cart_to_purchase_range": [b_lo, b_hi],
                "purchase_to_rating": cfg.rating_given_purchase,
                "favorite_rate": cfg.favorite_rate,
                "expected_events_per_session": expected_events_per_session(cfg),
            },
            popularity={
                "zipf_alpha": cfg.zipf_alpha,
                "item_weights": {
                    f"i{n}": float(w) for n, w in zip(catalog.num.tolist(), catalog.popularity.tolist(), strict=True)
                },
            },
            time_of_day={
                "hourly_profile_local": list(HOURLY_PROFILE),
                "region_utc_offsets": {r: REGIONS[r][1] for r in REGIONS},
                "weekday_factors": list(WEEKDAY_FACTORS),
            },
            bots=users.ids(np.flatnonzero(users.is_bot)),
        )


def _persona_core(name: str) -> tuple[str, ...]:
    return next(p.core_leaves for p in PERSONAS if p.name == name)


def prepare_out(out: str | Path, overwrite: bool) -> Path:
    """Refuse to mix two shops in one folder; with ``overwrite``, remove only what a previous run wrote."""
    out = Path(out)
    existing = [name for name in CONTRACT_PATHS if (out / name).exists()]
    if existing and not overwrite:
        raise FileExistsError(f"{out} already holds {', '.join(existing)}; pass overwrite=True (--overwrite)")
    for name in existing:
        target = out / name
        if target.is_dir():
            shutil.rmtree(target)
        else:
            target.unlink()
    return out


def generate_shop(
    out: str | Path,
    users: int = 2000,
    items: int = 500,
    days: int = 7,
    seed: int = 1,
    start_date: dt.date | str = ShopConfig.start_date,
    bad_rate: float = 0.01,
    bots: int = 3,
    events_per_user_day: float = 7.0,
    *,
    overwrite: bool = False,
    progress: bool = False,
    console: Console | None = None,
    **options: Any,
) -> GroundTruth:
    """Generate a synthetic shop into ``out`` (raw input contract + ``_ground_truth.json``) and return its truth.

    ``options`` are further :class:`ShopConfig` fields (``new_user_share``, ``late_share``, ``zipf_alpha``, ...).
    """
    if isinstance(start_date, str):
        start_date = dt.date.fromisoformat(start_date)
    config = ShopConfig(
        users=users,
        items=items,
        days=days,
        seed=seed,
        start_date=start_date,
        bad_rate=bad_rate,
        bots=bots,
        events_per_user_day=events_per_user_day,
        **options,
    )
    prepare_out(out, overwrite)
    return ShopGenerator(config, out).run(progress=progress, console=console)
