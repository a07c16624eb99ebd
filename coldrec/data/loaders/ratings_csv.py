"""A ratings + item-metadata CSV pair (e.g. Amazon 2018 "Magazine Subscriptions") into the raw landing contract.

Format (``../shared/data/amazon-magazines``): a folder with
- ``ratings.csv``: ``user_id,item_id,rating,timestamp`` (unix seconds), one row per rating, repeats allowed;
- ``items.csv``: ``item_id,title,description,brand,category_path,price`` (``category_path`` already "A>B>C").

Mapping (deterministic, from the files alone):
- events: ``event_type="rating"``, ``rating`` as given, ``ts`` = the unix time in UTC, ``event_id =
  "<name>-<row>"`` (the row number in ``ratings.csv``: the source repeats whole rows, and each row is one event; the
  evaluation's interaction step merges repeated (user, item) pairs).
- items: the metadata as given (blank fields null); ``created_at`` = the item's first rating (the source has no
  listing date; "first seen" is what a shop's log would show); items rated but absent from ``items.csv`` get a row
  with null metadata.
- users: ``user_id`` and ``signup_ts`` = the first rating; the source has no demographics.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from coldrec.data import schemas as S
from coldrec.data.loaders._landing import ImportSummary, LandingFrames, LandingWriter

RATINGS_FILE = "ratings.csv"
ITEMS_FILE = "items.csv"
RATING_COLUMNS: tuple[str, ...] = (S.USER_ID, S.ITEM_ID, S.RATING, "timestamp")
ITEM_COLUMNS: tuple[str, ...] = (S.ITEM_ID, S.TITLE, S.DESCRIPTION, S.BRAND, S.CATEGORY_PATH, S.PRICE)


def is_ratings_csv_folder(path: str | Path) -> bool:
    """True for a folder holding ``ratings.csv`` and ``items.csv`` (the format this module reads)."""
    root = Path(path)
    return root.is_dir() and (root / RATINGS_FILE).is_file() and (root / ITEMS_FILE).is_file()


def read_ratings_csv(path: str | Path, name: str | None = None) -> LandingFrames:
    """Read ``ratings.csv`` + ``items.csv`` of ``path`` into contract-shaped frames (see the module docstring)."""
    root = Path(path)
    if not is_ratings_csv_folder(root):
        raise FileNotFoundError(f"expected {RATINGS_FILE} and {ITEMS_FILE} in {root}")
    prefix = (name or root.name).lower()
    raw = pd.read_csv(root / RATINGS_FILE, dtype=str, keep_default_na=False)
    missing = [c for c in RATING_COLUMNS if c not in raw.columns]
    if missing:
        raise ValueError(f"{root / RATINGS_FILE} lacks columns {missing}; has {list(raw.columns)}")
    events = pd.DataFrame(
        {
            S.EVENT_ID: prefix + "-" + pd.Series(np.arange(len(raw)), index=raw.index).astype(str),
            S.USER_ID: raw[S.USER_ID].str.strip(),
            S.ITEM_ID: raw[S.ITEM_ID].str.strip(),
            S.EVENT_TYPE: "rating",
            S.TS: pd.to_datetime(pd.to_numeric(raw["timestamp"], errors="coerce"), unit="s", utc=True),
            S.RATING: pd.to_numeric(raw[S.RATING], errors="coerce"),
        }
    )
    events = events[(events[S.USER_ID] != "") & (events[S.ITEM_ID] != "") & events[S.TS].notna()]
    # a stable order: time, then the file's own order (mergesort keeps it among equal days)
    events = events.sort_values(S.TS, kind="mergesort", ignore_index=True)

    meta = pd.read_csv(root / ITEMS_FILE, dtype=str, keep_default_na=False)
    meta = meta.reindex(columns=list(ITEM_COLUMNS)).fillna("")
    meta[S.ITEM_ID] = meta[S.ITEM_ID].str.strip()
    meta = meta[meta[S.ITEM_ID] != ""].drop_duplicates(S.ITEM_ID, keep="last")
    for col in (S.TITLE, S.DESCRIPTION, S.BRAND, S.CATEGORY_PATH):
        text = meta[col].str.strip()
        meta[col] = text.where(text != "", None)
    meta[S.PRICE] = pd.to_numeric(meta[S.PRICE], errors="coerce")
    first_seen = events.groupby(S.ITEM_ID, sort=False)[S.TS].min()
    ids = pd.Index(meta[S.ITEM_ID]).union(pd.Index(events[S.ITEM_ID].unique())).sort_values()
    items = pd.DataFrame({S.ITEM_ID: ids.to_numpy(dtype=object)}).merge(meta, on=S.ITEM_ID, how="left")
    items[S.CREATED_AT] = items[S.ITEM_ID].map(first_seen)

    users = events.groupby(S.USER_ID, sort=True)[S.TS].min().rename(S.SIGNUP_TS).rename_axis(S.USER_ID).reset_index()
    return LandingFrames(events=events, items=items, users=users)


def import_ratings_csv(path: str | Path, out: str | Path, name: str | None = None) -> ImportSummary:
    """Read a ratings + items CSV folder and write the raw landing contract under ``out``."""
    frames = read_ratings_csv(path, name)
    writer = LandingWriter(out)
    writer.write_events(frames.events)
    summary = ImportSummary(source="ratings-csv", path=str(Path(path).resolve()), out=str(Path(out).resolve()))
    summary.items = writer.write_items(frames.items)
    summary.users = writer.write_users(frames.users)
    summary.notes = ["event_type=rating; created_at and signup_ts = first rating (the source has neither)"]
    writer.write_manifest(summary)
    return summary
