"""User and item feature matrices for the learned models in the harness, built from one split's TRAINING side only.

Why here, in NumPy: the harness evaluates a public data set in minutes without a lake. The features follow the
contract of ``gold.user_features`` / ``gold.item_features`` (demographics + behaviour aggregates; category levels,
brand, text, price, age), but are computed from the split's training interactions so that nothing of the test part
(a held-out user's behaviour, a held-out item's popularity) leaks into them.

Leakage guard: an item's ``created_at`` that a loader synthesised from the interaction log (Amazon S3-Rec has no real
times) is derived from test interactions too, so item age is only used when the data set has real catalog dates.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from coldrec.data import schemas as S
from coldrec.ranking.encode import AGE_BANDS, Encoder, content_matrix, latest_by_id, tokens_of

#: content columns kept (most frequent first); 4096 keeps every token seen in >= 2 items of MovieLens-100K (986) and
#: Amazon Beauty (1,299, of them 435 brands: at 1024 the rarest brands, the most telling content of a new item, fell
#: out); the content encoder's first layer is sparse, so the width costs nnz, not columns
MAX_CONTENT_COLUMNS = 4096


@dataclass
class FeatureMatrices:
    user: np.ndarray
    item: np.ndarray
    user_history_columns: np.ndarray

    @property
    def n_demographic(self) -> int:
        """User feature columns a cold user has (not derived from a history); 0 when the data set has none."""
        return int((~self.user_history_columns).sum())


def _onehot(values: pd.Series, min_count: int = 1) -> np.ndarray:
    counts = values.value_counts()
    keep = counts[counts >= min_count].index
    codes = pd.Categorical(values.where(values.isin(keep)), categories=sorted(keep))
    out = np.zeros((len(values), len(keep)), dtype=np.float32)
    ok = codes.codes >= 0
    out[np.flatnonzero(ok), codes.codes[ok]] = 1.0
    return out


def demographic_features(users: pd.DataFrame, enc: Encoder) -> np.ndarray:
    """One-hot gender, age band, country, region and declared interests (+ a 'known age' flag and scaled age)."""
    frame = latest_by_id(users, S.USER_ID, enc.user_ids)
    parts = []
    for col in (S.GENDER, S.COUNTRY, S.REGION):
        parts.append(_onehot(frame[col].astype("string").str.upper().fillna("?"), min_count=2))
    age = pd.to_numeric(frame[S.AGE], errors="coerce")
    band = pd.Series(np.digitize(age.fillna(-1).to_numpy(), AGE_BANDS), index=frame.index).astype(str)
    parts.append(_onehot(band.where(age.notna(), "?")))
    parts.append(np.stack([age.notna().to_numpy(np.float32), (age.fillna(0).to_numpy(np.float32) / 100.0)], axis=1))
    interests = frame[S.INTERESTS].apply(lambda v: list(v) if isinstance(v, list | tuple | np.ndarray) else [])
    exploded = interests.explode().dropna().astype(str)
    if not exploded.empty:
        pos = pd.Index(enc.user_ids).get_indexer(exploded.index)
        vocab = sorted(exploded.unique())
        cols = pd.Index(vocab).get_indexer(exploded.to_numpy())
        mat = np.zeros((enc.n_users, len(vocab)), dtype=np.float32)
        mat[pos, cols] = 1.0
        parts.append(mat)
    out = np.concatenate([p for p in parts if p.shape[1]], axis=1)
    return out[:, out.std(axis=0) > 0] if out.shape[0] > 1 else out


def behaviour_features(X: sp.csr_matrix, item_category: np.ndarray, n_categories: int) -> np.ndarray:
    """From training positives only: category distribution, log activity (empty for cold users)."""
    coo = X.tocoo()
    cats = item_category[coo.col]
    ok = cats >= 0
    dist = sp.csr_matrix((np.ones(ok.sum(), np.float32), (coo.row[ok], cats[ok])), shape=(X.shape[0], n_categories))
    dist = np.asarray(dist.toarray(), dtype=np.float32)
    totals = dist.sum(axis=1, keepdims=True)
    dist = np.divide(dist, totals, out=np.zeros_like(dist), where=totals > 0)
    activity = np.log1p(np.diff(X.indptr)).astype(np.float32)[:, None]
    return np.concatenate([dist, activity / max(float(activity.max()), 1.0)], axis=1)


def item_features(items: pd.DataFrame, enc: Encoder, real_dates: bool) -> np.ndarray:
    """Dense item content: TF-IDF of category levels, brand, title and description words (tokens seen in at least
    two items, the most frequent ``MAX_CONTENT_COLUMNS``), log price, and item age when catalog dates are real."""
    toks = tokens_of(items, enc, (S.CATEGORY_PATH, S.BRAND, S.TITLE, S.DESCRIPTION))
    content, _ = content_matrix(toks, min_df=2)
    if content.shape[1] > MAX_CONTENT_COLUMNS:
        df = np.asarray((content > 0).sum(axis=0)).ravel()
        content = content[:, np.argsort(-df, kind="stable")[:MAX_CONTENT_COLUMNS]]
    parts = [np.asarray(content.toarray(), dtype=np.float32)]
    frame = latest_by_id(items, S.ITEM_ID, enc.item_ids)
    price = pd.to_numeric(frame[S.PRICE], errors="coerce")
    if price.notna().any():
        lp = np.log1p(price.fillna(price.median()).clip(lower=0).to_numpy(np.float32))
        parts.append(((lp - lp.mean()) / (lp.std() + 1e-6))[:, None])
    if real_dates:
        created = pd.to_datetime(frame[S.CREATED_AT], utc=True, errors="coerce")
        if created.notna().any():
            years = (created.max() - created).dt.days.fillna(-1).to_numpy(np.float32) / 365.0
            parts.append(np.stack([np.log1p(np.clip(years, 0, None)), (years < 0).astype(np.float32)], axis=1))
    return np.concatenate(parts, axis=1)


def build_features(
    users: pd.DataFrame,
    items: pd.DataFrame,
    enc: Encoder,
    X_train: sp.csr_matrix,
    item_category: np.ndarray,
    n_categories: int,
    real_dates: bool,
    item_matrix: np.ndarray | None = None,
) -> FeatureMatrices:
    """Both matrices for one split (pass ``item_matrix`` to reuse item content: it does not depend on the split)."""
    demo = demographic_features(users, enc)
    behaviour = behaviour_features(X_train, item_category, n_categories)
    user = np.concatenate([demo, behaviour], axis=1).astype(np.float32)
    hist = np.concatenate([np.zeros(demo.shape[1], bool), np.ones(behaviour.shape[1], bool)])
    item = item_matrix if item_matrix is not None else item_features(items, enc, real_dates)
    return FeatureMatrices(user, item, hist)
