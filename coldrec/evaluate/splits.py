"""Train/test splits for warm, cold-user and cold-item evaluation, and the microsoft/recommenders stratified split.

Why these four: a cold-start recommender has to be judged where it is used. The *warm* split asks "what does a
known user do next" (the last 20% of each user's interactions in time); the *cold-user* split hides 20% of the users
entirely, so only their features are known; the *cold-item* split hides 20% of the items entirely, so only their
content is known, and ranks among the held-out items (the question is which new item a user picks, not whether new
items beat old ones). The stratified 75/25 split reproduces the microsoft/recommenders MovieLens benchmark exactly,
as a sanity anchor against published numbers.

Every function takes a pandas DataFrame of interactions (one row per user x item event, columns ``user_id``,
``item_id`` and, for the temporal split, ``ts``) and returns a :class:`Split`; the same seed gives the same split.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from coldrec.data.schemas import ITEM_ID, TS, USER_ID

WARM = "warm"
COLD_USER = "cold_user"
COLD_ITEM = "cold_item"
COLD_ITEM_ALL = "cold_item_all"
STRATIFIED = "stratified"
FEW_SHOT = "few_shot"
#: ``few_shot`` in ``--splits`` means one split per count: held-out users keep their first 1, 3 or 5 positives
FEW_SHOT_COUNTS: tuple[int, ...] = (1, 3, 5)
FEW_SHOT_KINDS: tuple[str, ...] = tuple(f"{FEW_SHOT}_{n}" for n in FEW_SHOT_COUNTS)
SPLIT_KINDS: tuple[str, ...] = (WARM, COLD_USER, COLD_ITEM, COLD_ITEM_ALL, STRATIFIED, *FEW_SHOT_KINDS)
#: splits whose users are known and must not be recommended what they already have (the rest rank unseen entities)
SEEN_EXCLUDED: tuple[str, ...] = (WARM, STRATIFIED, COLD_ITEM_ALL, *FEW_SHOT_KINDS)


def is_few_shot(kind: str) -> bool:
    """``few_shot_<n>`` with a positive integer n."""
    head, _, n = kind.rpartition("_")
    return head == FEW_SHOT and n.isdigit() and int(n) > 0


def expand_splits(names: list[str] | tuple[str, ...]) -> list[str]:
    """``few_shot`` -> ``few_shot_1, few_shot_3, few_shot_5`` (each reported); other names as given, order kept."""
    out: list[str] = []
    for name in names:
        for kind in FEW_SHOT_KINDS if name == FEW_SHOT else (name,):
            if kind not in SPLIT_KINDS and not is_few_shot(kind):
                raise ValueError(f"unknown split {kind!r}; expected one of {(*SPLIT_KINDS, FEW_SHOT)}")
            if kind not in out:
                out.append(kind)
    return out


@dataclass(frozen=True)
class Split:
    """A train/test partition of the interactions and the ids that were held out entirely (cold splits)."""

    kind: str
    train: pd.DataFrame
    test: pd.DataFrame
    held_out_users: frozenset[str] = field(default_factory=frozenset)
    held_out_items: frozenset[str] = field(default_factory=frozenset)


def _check(df: pd.DataFrame, columns: tuple[str, ...]) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"interactions are missing columns {missing}; have {list(df.columns)}")


def temporal_split(
    df: pd.DataFrame,
    test_share: float = 0.2,
    seed: int = 42,
    *,
    user_col: str = USER_ID,
    time_col: str = TS,
) -> Split:
    """Per user, the last ``test_share`` of their interactions in time go to test.

    A row is train when its chronological rank / the user's count <= 1 - test_share (the rule of
    recommenders' ``python_chrono_split``), so a user with 5 rows keeps 4 and tests 1. Users with a single interaction
    stay in train (nothing would be left to learn from). Rows with equal timestamps are ordered by a seeded random
    key, so ties do not depend on input order.
    """
    _check(df, (user_col, time_col))
    rng = np.random.default_rng(seed)
    work = df.assign(_tie=rng.random(len(df)))
    work = work.sort_values([user_col, time_col, "_tie"], kind="mergesort")
    grp = work.groupby(user_col, sort=False)
    count = grp[user_col].transform("size").to_numpy()
    rank = grp.cumcount().to_numpy() + 1
    is_train = (rank / count <= 1.0 - test_share + 1e-12) | (count < 2)
    work = work.drop(columns="_tie")
    return Split(WARM, work[is_train].sort_index(), work[~is_train].sort_index())


def _held_out(values: np.ndarray, share: float, seed: int) -> frozenset[str]:
    """A seeded random ``share`` of the distinct values (sorted first, so the input order does not matter)."""
    distinct = np.sort(pd.unique(values).astype(str))
    n_out = round(share * distinct.size)
    if distinct.size and share > 0:
        n_out = min(max(n_out, 1), distinct.size - 1) if distinct.size > 1 else 0
    rng = np.random.default_rng(seed)
    return frozenset(rng.choice(distinct, size=n_out, replace=False).tolist())


def cold_user_split(df: pd.DataFrame, test_share: float = 0.2, seed: int = 42, *, user_col: str = USER_ID) -> Split:
    """``test_share`` of the users (seeded) are held out with all their interactions; only their features are known."""
    _check(df, (user_col,))
    held = _held_out(df[user_col].to_numpy(), test_share, seed)
    out = df[user_col].astype(str).isin(held).to_numpy()
    return Split(COLD_USER, df[~out], df[out], held_out_users=held)


def cold_item_split(df: pd.DataFrame, test_share: float = 0.2, seed: int = 42, *, item_col: str = ITEM_ID) -> Split:
    """``test_share`` of the items (seeded) are held out with all their interactions; only their content is known.

    Evaluation ranks, for each user with a test interaction, the held-out items only.
    """
    _check(df, (item_col,))
    held = _held_out(df[item_col].to_numpy(), test_share, seed)
    out = df[item_col].astype(str).isin(held).to_numpy()
    return Split(COLD_ITEM, df[~out], df[out], held_out_items=held)


def cold_item_all_split(df: pd.DataFrame, test_share: float = 0.2, seed: int = 42, *,
                        item_col: str = ITEM_ID) -> Split:  # fmt: skip
    """The same hold-out as :func:`cold_item_split`, evaluated the realistic way: the held-out items are ranked among
    **all** items (new items compete with the established catalogue, as in the nightly lists)."""
    split = cold_item_split(df, test_share, seed, item_col=item_col)
    return Split(COLD_ITEM_ALL, split.train, split.test, held_out_items=split.held_out_items)


def few_shot_split(
    df: pd.DataFrame,
    shots: int,
    test_share: float = 0.2,
    seed: int = 42,
    *,
    user_col: str = USER_ID,
    time_col: str = TS,
    positive_col: str = "positive",
) -> Split:
    """``test_share`` of the eligible users (seeded) keep only their first ``shots`` positives in training; the rest
    of their rows (every later positive) are the test: yesterday's new users.

    Eligible: users with more than ``shots`` positives (others would have nothing to test). A chosen user's rows up to
    and including their ``shots``-th positive (in time, ties by the file order ``_order`` when present, then a seeded
    key) stay in training; every later row goes to test. Other users keep everything in training.
    """
    _check(df, (user_col, time_col))
    if shots < 1:
        raise ValueError(f"shots must be >= 1, got {shots}")
    positive = df[positive_col].to_numpy(dtype=bool) if positive_col in df.columns else np.ones(len(df), dtype=bool)
    rng = np.random.default_rng(seed)
    keys = [user_col, time_col] + (["_order"] if "_order" in df.columns else []) + ["_tie"]
    work = df.assign(_tie=rng.random(len(df)), _pos=positive).sort_values(keys, kind="mergesort")
    grp = work.groupby(user_col, sort=False)["_pos"]
    n_pos = grp.transform("sum").to_numpy()
    before = (grp.cumsum() - work["_pos"]).to_numpy()  # positives strictly before this row
    eligible = work.loc[n_pos > shots, user_col].to_numpy()
    held = _held_out(eligible, test_share, seed) if eligible.size else frozenset()
    chosen = work[user_col].astype(str).isin(held).to_numpy()
    is_test = chosen & (before >= shots)
    work = work.drop(columns=["_tie", "_pos"])
    return Split(f"{FEW_SHOT}_{shots}", work[~is_test].sort_index(), work[is_test].sort_index(), held_out_users=held)


def stratified_split(df: pd.DataFrame, ratio: float = 0.75, seed: int = 42, *, user_col: str = USER_ID) -> Split:
    """microsoft/recommenders ``python_stratified_split(data, ratio, filter_by="user", seed)``, reproduced exactly.

    Their recipe: ``np.random.seed(seed)``; one uniform draw per row in input order; sort by (user, draw); a row is
    train when its rank within the user / the user's count <= ratio. Same input order + same seed = same split as
    theirs (``np.random.RandomState(seed).rand`` draws the same stream as ``np.random.seed`` + ``np.random.rand``).
    """
    _check(df, (user_col,))
    draws = np.random.RandomState(seed).rand(len(df))
    work = df.assign(_random=draws).sort_values([user_col, "_random"])
    grp = work.groupby(user_col, sort=False)
    rank = (grp.cumcount() + 1) / grp[user_col].transform("count")
    is_train = (rank <= ratio).to_numpy()
    work = work.drop(columns="_random")
    return Split(STRATIFIED, work[is_train], work[~is_train])


def make_split(kind: str, df: pd.DataFrame, seed: int = 42, test_share: float = 0.2) -> Split:
    """Dispatch by name: ``warm``, ``cold_user``, ``cold_item``, ``cold_item_all`` (share held out), ``stratified``
    (75/25) or ``few_shot_<n>`` (share of users cut to their first n positives)."""
    if kind == WARM:
        return temporal_split(df, test_share, seed)
    if kind == COLD_USER:
        return cold_user_split(df, test_share, seed)
    if kind == COLD_ITEM:
        return cold_item_split(df, test_share, seed)
    if kind == COLD_ITEM_ALL:
        return cold_item_all_split(df, test_share, seed)
    if kind == STRATIFIED:
        return stratified_split(df, 0.75, seed)
    if is_few_shot(kind):
        return few_shot_split(df, int(kind.rpartition("_")[2]), test_share, seed)
    raise ValueError(f"unknown split {kind!r}; expected one of {SPLIT_KINDS}")


def validation_split(split: Split, seed: int = 42, test_share: float = 0.2) -> Split:
    """The same kind of split carved from the *training* part only, for tuning (the test part is never looked at).

    A different seed stream (seed + 1) keeps the validation hold-out independent of the test hold-out.
    """
    return make_split(split.kind, split.train, seed + 1, test_share)
