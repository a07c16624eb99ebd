"""Recency-weighted training histories for the harness's coldrec method (see :mod:`coldrec.recommend.recency`).

The harness's data sets have no shop calendar to decay by (MovieLens users rate dozens of films in one sitting;
Amazon Beauty keeps only the order of reviews), so the order is the timestamp, then the log's own order.
"""

from __future__ import annotations

import pandas as pd
import scipy.sparse as sp

from coldrec.data import schemas as S
from coldrec.evaluate.encode import Encoder
from coldrec.recommend.recency import recency_rank, recency_weights


def frame_recency_rank(frame: pd.DataFrame) -> pd.Series:
    """Per row of ``frame``: how many of the same user's rows come later (by ``ts``, then ``_order`` if present)."""
    keys = [_sortable(frame[c]) for c in (S.TS, "_order") if c in frame.columns]
    codes = pd.factorize(frame[S.USER_ID].astype(str))[0]
    return pd.Series(recency_rank(codes, *keys), index=frame.index)


def _sortable(col: pd.Series):
    """Numbers to sort by: datetimes (with or without a zone) as int64 nanoseconds."""
    return col.astype("int64").to_numpy() if pd.api.types.is_datetime64_any_dtype(col) else col.to_numpy()


def recency_history(frame: pd.DataFrame, enc: Encoder, half_life: float) -> sp.csr_matrix:
    """users x items weights ``0.5 ** (rank / half_life)`` of ``frame``'s rows (a repeated pair keeps its latest)."""
    return enc.matrix(frame, values=recency_weights(frame_recency_rank(frame).to_numpy(), half_life))
