"""Amazon 5-core sequences in the S3-Rec format (``Beauty.txt`` + ``Beauty_item2attributes.json``) into the landing.

The format carries no timestamps, ratings, names or prices: ``<Name>.txt`` has one line per user,
``user_id item_id item_id ...`` in chronological order, and ``<Name>_item2attributes.json`` maps each item id to
integer attribute ids (brand and category names of the Amazon metadata, replaced by ids). Mapping:

- events: ``event_type="purchase"`` (5-core review logs are what the user bought and reviewed),
  ``event_id = "<name>-<user>-<item>"`` (an item occurs at most once per sequence). **Timestamps are synthesized**,
  deterministically and order-preserving: every user's sequence ends on ``end_date`` and each earlier interaction is
  one day before the next, so the k-th of n interactions falls on ``end_date - (n-1-k)`` days; inside the day, the time
  of day is a per-user offset (a stable hash of the user id, mod 24 h) so users are spread over the day. Ending all
  sequences together makes "the last day" hold every user's last item, i.e. a date split reproduces the
  leave-one-out protocol the S3-Rec papers use, and the per-user order is exactly the file's order.
- items: ``category_path = "<Name>>attr_<c1>>attr_<c2>..."``: the item's category attributes in their listed order up
  to where a second category path begins, an immediately repeated id dropped (names are not in the data, so the
  levels are ``attr_<id>`` tokens);
  ``description`` = every attribute id as a token (``"attr_17 attr_28 attr_29"``) so content models can use them all;
  ``title = "<Name> item <id>"`` (a display label; the data has no titles); ``created_at`` = the item's first
  (synthetic) interaction; price null.
- brand: S3-Rec's preprocessing lists an item's brand first, then its category levels (top level first, the root
  "Beauty" removed). A category attribute also appears after position 0 in some item (behind a brand or a parent
  level); a brand never does. So the first attribute is taken as the brand (``attr_<id>``) when that id never occurs at
  a later position anywhere in the file. This is a heuristic; with ``brand_heuristic=False`` no brand is set and
  the category path is simply the whole attribute list in order. The id stays in the description either way.
- users: ``user_id`` and ``signup_ts`` = the first (synthetic) interaction; no demographics in this data set.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from pathlib import Path

import numpy as np
import pandas as pd

from coldrec.data import schemas as S
from coldrec.data.loaders._landing import ImportSummary, LandingFrames, LandingWriter, join_groups

ATTRIBUTES_SUFFIX = "_item2attributes.json"
DEFAULT_END_DATE = dt.date(2014, 7, 1)
SECONDS_PER_DAY = 86_400


def resolve_s3rec_files(path: str | Path, name: str | None = None) -> tuple[str, Path, Path | None]:
    """(data set name, sequence file, attributes file or None) for a folder or a ``<Name>.txt`` path."""
    root = Path(path)
    if root.is_file():
        seq = root
        name = name or seq.stem
    else:
        if name is None:
            candidates = sorted(p.name.removesuffix(ATTRIBUTES_SUFFIX) for p in root.glob(f"*{ATTRIBUTES_SUFFIX}"))
            candidates = [c for c in candidates if (root / f"{c}.txt").exists()]
            if not candidates:
                candidates = sorted(p.stem for p in root.glob("*.txt"))
            if len(candidates) != 1:
                raise FileNotFoundError(
                    f"expected exactly one <Name>.txt (+ <Name>{ATTRIBUTES_SUFFIX}) in {root}, found {candidates}; "
                    "pass --name"
                )
            name = candidates[0]
        seq = root / f"{name}.txt"
    if not seq.exists():
        raise FileNotFoundError(f"{seq} not found")
    attrs = seq.with_name(f"{name}{ATTRIBUTES_SUFFIX}")
    return name, seq, attrs if attrs.exists() else None


def read_sequences(path: Path) -> pd.DataFrame:
    """Long frame (user_id, item_id, pos, n) in file order: pos is the 0-based place in the user's sequence."""
    lines = pd.read_csv(
        path, header=None, names=["line"], dtype=str, sep="\x01", quoting=csv.QUOTE_NONE, skip_blank_lines=True
    )["line"]
    parts = lines.str.split()
    seq = pd.DataFrame({S.USER_ID: parts.str[0], S.ITEM_ID: parts.str[1:]})
    long = seq.explode(S.ITEM_ID).dropna(subset=[S.ITEM_ID])
    long["pos"] = long.groupby(level=0).cumcount()
    long["n"] = long.groupby(level=0)[S.ITEM_ID].transform("size")
    return long.reset_index(drop=True)


def synthetic_timestamps(seq: pd.DataFrame, end_date: dt.date) -> pd.Series:
    """Order-preserving timestamps: k-th of n at ``end_date - (n-1-k)`` days + a per-user time of day."""
    end = pd.Timestamp(end_date, tz="UTC")
    offset = pd.util.hash_pandas_object(seq[S.USER_ID], index=False).to_numpy() % SECONDS_PER_DAY
    days_before = (seq["n"] - 1 - seq["pos"]).to_numpy()
    seconds = offset.astype("int64") - days_before.astype("int64") * SECONDS_PER_DAY
    return pd.Series(end + pd.to_timedelta(seconds, unit="s"), index=seq.index)


def read_attributes(path: Path | None) -> pd.DataFrame:
    """Long frame (item_id, attr, pos) of the attribute file in its listed order (empty when there is no file)."""
    if path is None:
        return pd.DataFrame({S.ITEM_ID: pd.Series(dtype=str), "attr": pd.Series(dtype=str), "pos": []})
    with open(path, encoding="utf-8") as fh:
        mapping = json.load(fh)
    lists = pd.Series(mapping, dtype=object, name="attr")
    long = lists.explode().dropna().rename_axis(S.ITEM_ID).reset_index()
    long["attr"] = long["attr"].astype("int64").astype(str)
    long["pos"] = long.groupby(S.ITEM_ID, sort=False).cumcount()
    return long


def item_attributes(attrs: pd.DataFrame, root: str, brand_heuristic: bool = True) -> pd.DataFrame:
    """Per item: description (all attribute tokens), category_path (first category path) and the heuristic brand."""
    tok = "attr_" + attrs["attr"]
    later = set(attrs.loc[attrs["pos"] > 0, "attr"])
    is_brand = (attrs["pos"] == 0) & ~attrs["attr"].isin(later) if brand_heuristic else attrs["pos"] < 0
    brand = tok[is_brand].groupby(attrs.loc[is_brand, S.ITEM_ID]).first()

    cats = attrs.loc[~is_brand].copy()
    cats["tok"] = tok[~is_brand]
    cats["cpos"] = cats.groupby(S.ITEM_ID, sort=False).cumcount()
    top_level = set(cats.loc[cats["cpos"] == 0, "attr"])
    # a top-level category after the first one starts the item's next category path: keep only the first path
    cats["path_no"] = cats["attr"].isin(top_level).astype(int).groupby(cats[S.ITEM_ID], sort=False).cumsum()
    if not brand_heuristic:  # no assumption about the list's structure: the path is the whole list
        cats["path_no"] = 1
    repeated = cats["attr"].eq(cats.groupby(S.ITEM_ID, sort=False)["attr"].shift())  # "Face>Face" says nothing
    main = cats[(cats["path_no"] <= 1) & ~repeated]
    path = join_groups(main[S.ITEM_ID], main["tok"], S.CATEGORY_SEP)

    unique_tokens = attrs.assign(tok=tok).drop_duplicates([S.ITEM_ID, "attr"])
    description = join_groups(unique_tokens[S.ITEM_ID], unique_tokens["tok"], " ")

    out = pd.DataFrame(index=pd.Index(attrs[S.ITEM_ID].unique(), name=S.ITEM_ID))
    out[S.DESCRIPTION] = description
    out[S.CATEGORY_PATH] = (root + ">" + path).reindex(out.index).fillna(root)
    out[S.BRAND] = brand.reindex(out.index)
    out[S.BRAND] = out[S.BRAND].astype(object).where(out[S.BRAND].notna(), None)
    return out.reset_index()


def read_amazon_s3rec(
    path: str | Path,
    name: str | None = None,
    end_date: dt.date = DEFAULT_END_DATE,
    brand_heuristic: bool = True,
) -> LandingFrames:
    """Read an S3-Rec style data set into contract-shaped frames (see the module docstring for every mapping)."""
    name, seq_path, attr_path = resolve_s3rec_files(path, name)
    seq = read_sequences(seq_path)
    ts = synthetic_timestamps(seq, end_date)
    prefix = name.lower()
    events = pd.DataFrame(
        {
            S.EVENT_ID: prefix + "-" + seq[S.USER_ID] + "-" + seq[S.ITEM_ID],
            S.USER_ID: seq[S.USER_ID],
            S.ITEM_ID: seq[S.ITEM_ID],
            S.EVENT_TYPE: "purchase",
            S.TS: ts,
        }
    )
    attrs = item_attributes(read_attributes(attr_path), name, brand_heuristic)
    first_seen = events.groupby(S.ITEM_ID, sort=False)[S.TS].min()
    item_ids = pd.Index(attrs[S.ITEM_ID]).union(pd.Index(events[S.ITEM_ID].unique()))
    items = pd.DataFrame({S.ITEM_ID: _numeric_order(item_ids)}).merge(attrs, on=S.ITEM_ID, how="left")
    items[S.TITLE] = name + " item " + items[S.ITEM_ID]
    items[S.CATEGORY_PATH] = items[S.CATEGORY_PATH].fillna(name)
    items[S.PRICE] = np.nan
    items[S.CREATED_AT] = items[S.ITEM_ID].map(first_seen)
    users = events.groupby(S.USER_ID, sort=False)[S.TS].min().rename(S.SIGNUP_TS).rename_axis(S.USER_ID).reset_index()
    users = users.iloc[_numeric_order_positions(users[S.USER_ID])].reset_index(drop=True)
    events = events.sort_values([S.TS, S.USER_ID], kind="mergesort", ignore_index=True)
    return LandingFrames(events=events, items=items, users=users)


def _numeric_order_positions(ids: pd.Series) -> np.ndarray:
    """Positions sorting ids numerically when they are all integers, else lexically (stable, deterministic)."""
    numeric = pd.to_numeric(ids, errors="coerce")
    key = numeric if numeric.notna().all() else ids
    return np.argsort(key.to_numpy(), kind="stable")


def _numeric_order(ids: pd.Index) -> np.ndarray:
    values = pd.Series(ids.to_numpy(dtype=object))
    return values.to_numpy()[_numeric_order_positions(values)]


def import_amazon_s3rec(
    path: str | Path,
    out: str | Path,
    name: str | None = None,
    end_date: dt.date = DEFAULT_END_DATE,
    brand_heuristic: bool = True,
) -> ImportSummary:
    """Read an S3-Rec style data set from ``path`` and write the raw landing contract under ``out``."""
    frames = read_amazon_s3rec(path, name, end_date, brand_heuristic)
    writer = LandingWriter(out)
    writer.write_events(frames.events)
    summary = ImportSummary(source="amazon-s3rec", path=str(Path(path).resolve()), out=str(Path(out).resolve()))
    summary.items = writer.write_items(frames.items)
    summary.users = writer.write_users(frames.users)
    n_brand = int(frames.items[S.BRAND].notna().sum())
    summary.notes = [
        f"timestamps synthesized: every sequence ends on {end_date.isoformat()}, one day between consecutive "
        "interactions, time of day = hash(user_id) mod 24h (order preserved; no real times in the source)",
        "event_type=purchase; category_path=<Name>>attr_<id>... (first category path); description=all attribute ids",
        f"brand heuristic {'on' if brand_heuristic else 'off'}: {n_brand} items got a brand attribute",
    ]
    writer.write_manifest(summary)
    return summary
