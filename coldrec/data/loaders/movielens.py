"""MovieLens 100K (GroupLens) into the raw landing contract.

Mapping (every choice is deterministic and derived from the files alone):

- ``u.data`` -> events: ``event_type="rating"``, ``rating`` 1..5, ``ts`` = the unix time as ISO-8601 UTC,
  ``event_id = "ml-<user>-<item>"`` (a user rates a movie once in this data set). Written per UTC day.
- ``u.user`` -> users: ``age``, ``gender`` (M/F); the occupation becomes the declared interest
  ``"occupation:<name>"`` (the contract has no occupation field and interests are what the feature step one-hot
  encodes); ``country`` is ``US`` for 5-digit ZIP codes and ``CA`` for Canadian postal codes (letter-digit-letter);
  ``region`` is ``zip<first character>``: the first digit of a US ZIP is its national area (0 = New England ...
  9 = Pacific), the first letter of a Canadian code its province area. ``signup_ts`` is the user's first rating
  (MovieLens has no sign-up time; "first seen" is what a shop's log would show).
- ``u.item`` -> items: ``title``; ``category_path = "Movies><primary genre>><all genres>"`` where the primary genre
  is the item's genre with the fewest movies in the catalog (the most specific one: a "Drama, War" movie files under
  War; ties broken by ``u.genre`` order) and the leaf is the item's full genre combination joined by " & " in
  ``u.genre`` order; ``description`` lists all genres and the release date; ``created_at`` = release date (null when
  unknown); ``brand`` and ``price`` are null (MovieLens has neither).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from coldrec.data import schemas as S
from coldrec.data.loaders._landing import ImportSummary, LandingFrames, LandingWriter

ENCODING = "latin-1"  # u.item and u.user are ISO-8859-1 in the GroupLens archive
ROOT_CATEGORY = "Movies"

#: Genre flag order of u.item (as listed in u.genre); used when u.genre is absent.
DEFAULT_GENRES: tuple[str, ...] = (
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary", "Drama",
    "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western",
)  # fmt: skip


def read_movielens_100k(path: str | Path) -> LandingFrames:
    """Read the three MovieLens-100K files of ``path`` into contract-shaped frames."""
    root = Path(path)
    for name in ("u.data", "u.user", "u.item"):
        if not (root / name).exists():
            raise FileNotFoundError(f"{root / name} not found: expected the ml-100k folder (u.data, u.user, u.item)")
    events = _events(root / "u.data")
    first_seen = events.groupby(S.USER_ID, sort=False)[S.TS].min()
    users = _users(root / "u.user", first_seen)
    items = _items(root / "u.item", _genres(root / "u.genre"))
    return LandingFrames(events=events, items=items, users=users)


def _events(path: Path) -> pd.DataFrame:
    raw = pd.read_csv(
        path,
        sep="\t",
        header=None,
        names=[S.USER_ID, S.ITEM_ID, S.RATING, "unix"],
        dtype={S.USER_ID: str, S.ITEM_ID: str, S.RATING: "float64", "unix": "int64"},
    )
    events = pd.DataFrame(
        {
            S.EVENT_ID: "ml-" + raw[S.USER_ID] + "-" + raw[S.ITEM_ID],
            S.USER_ID: raw[S.USER_ID],
            S.ITEM_ID: raw[S.ITEM_ID],
            S.EVENT_TYPE: "rating",
            S.TS: pd.to_datetime(raw["unix"], unit="s", utc=True),
            S.RATING: raw[S.RATING],
        }
    )
    # a stable order inside each day file: time, then ids (u.data itself is unordered)
    return events.sort_values([S.TS, S.USER_ID, S.ITEM_ID], kind="mergesort", ignore_index=True)


def _users(path: Path, first_seen: pd.Series) -> pd.DataFrame:
    raw = pd.read_csv(
        path,
        sep="|",
        header=None,
        names=[S.USER_ID, S.AGE, S.GENDER, "occupation", "zip"],
        dtype=str,
        encoding=ENCODING,
        keep_default_na=False,
    )
    zip_code = raw["zip"].str.strip().str.upper()
    country = np.select(  # type: ignore[call-overload]  # numpy's stubs want a scalar; None: an object array
        [zip_code.str.fullmatch(r"\d{5}"), zip_code.str.match(r"[A-Z]\d[A-Z]")], ["US", "CA"], default=None
    )
    region = ("zip" + zip_code.str.slice(0, 1)).where(zip_code.str.len() > 0, None)
    return pd.DataFrame(
        {
            S.USER_ID: raw[S.USER_ID],
            S.SIGNUP_TS: raw[S.USER_ID].map(first_seen),
            S.AGE: pd.to_numeric(raw[S.AGE], errors="coerce").astype("Int64"),
            S.GENDER: raw[S.GENDER].str.strip().str.upper(),
            S.COUNTRY: pd.Series(country, index=raw.index, dtype=object),
            S.REGION: region,
            # one-element lists; "|" is u.user's field separator, so it never occurs inside a value
            S.INTERESTS: ("occupation:" + raw["occupation"].str.strip()).str.split("|"),
        }
    )


def _genres(path: Path) -> list[str]:
    if not path.exists():
        return list(DEFAULT_GENRES)
    table = pd.read_csv(path, sep="|", header=None, names=["name", "index"], encoding=ENCODING).dropna()
    return table.sort_values("index")["name"].tolist()


def _items(path: Path, genres: list[str]) -> pd.DataFrame:
    base = [S.ITEM_ID, S.TITLE, "release", "video_release", "imdb_url"]
    raw = pd.read_csv(
        path,
        sep="|",
        header=None,
        names=base + genres,
        dtype={c: str for c in base},
        encoding=ENCODING,
        keep_default_na=False,
    )
    flags = raw[genres].to_numpy(dtype=bool)
    names = np.array(genres, dtype=object)
    n_movies = flags.sum(axis=0)
    # primary genre: fewest movies among the item's genres; argmin keeps the first (u.genre order) on ties
    masked = np.where(flags, n_movies[None, :], np.iinfo(np.int64).max)
    primary = np.where(flags.any(axis=1), names[masked.argmin(axis=1)], "unknown")
    joined = _join_flags(flags, names, " & ")
    listed = _join_flags(flags, names, ", ")
    leaf = np.where(joined == "", "unknown", joined)
    release = pd.to_datetime(raw["release"].str.strip(), format="%d-%b-%Y", errors="coerce", utc=True)
    description = (
        "Genres: " + pd.Series(np.where(listed == "", "unknown", listed), index=raw.index) + "."
        + pd.Series(np.where(release.notna(), " Released " + raw["release"].str.strip() + ".", ""), index=raw.index)
    )  # fmt: skip
    return pd.DataFrame(
        {
            S.ITEM_ID: raw[S.ITEM_ID],
            S.TITLE: raw[S.TITLE].str.strip(),
            S.DESCRIPTION: description,
            S.CATEGORY_PATH: ROOT_CATEGORY + ">" + pd.Series(primary, index=raw.index) + ">" + leaf,
            S.BRAND: None,
            S.PRICE: np.nan,
            S.CREATED_AT: release,
        }
    )


def _join_flags(flags: np.ndarray, names: np.ndarray, sep: str) -> np.ndarray:
    """Join the names whose flag is set, per row, keeping column order (column-wise numpy string ops, no row loop)."""
    out = np.full(flags.shape[0], "", dtype=object)
    for j, name in enumerate(names):  # loops over the 19 genres, not over rows
        hit = flags[:, j]
        out = np.where(hit & (out != ""), out + sep + name, np.where(hit, name, out))
    return out


def import_movielens_100k(path: str | Path, out: str | Path) -> ImportSummary:
    """Read MovieLens-100K from ``path`` and write the raw landing contract under ``out``."""
    frames = read_movielens_100k(path)
    writer = LandingWriter(out)
    writer.write_events(frames.events)
    summary = ImportSummary(source="movielens-100k", path=str(Path(path).resolve()), out=str(Path(out).resolve()))
    summary.items = writer.write_items(frames.items)
    summary.users = writer.write_users(frames.users)
    summary.notes = [
        "event_type=rating, ts from the unix time (UTC), event_id=ml-<user>-<item>",
        "users: interests=['occupation:<name>'], region=zip<first char>, signup_ts=first rating",
        "items: category_path=Movies><rarest genre>><all genres>, created_at=release date, no brand/price",
    ]
    writer.write_manifest(summary)
    return summary
