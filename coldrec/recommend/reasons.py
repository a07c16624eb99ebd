"""Human-readable reasons for recommendations ("because you bought X", "popular with shoppers like you",
"new in Running Shoes"), computed for whole blocks at once.

Why the anchor item is computed and not guessed: "because you bought X" must name the history item that contributed
most to the item-kNN score, i.e. ``argmax_h history(u, h) * sim(h, i)``. For every (user, item) pair of a block the
neighbours ``h`` of ``i`` are expanded from the CSR of ``sim^T`` and looked up in the users' histories with one
sorted search, so even 10^5 users x 20 items stay a handful of array operations.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp


def cf_anchor(
    users_in_block: np.ndarray, items: np.ndarray, history: sp.csr_matrix, sim_t: sp.csr_matrix
) -> np.ndarray:
    """For pairs (block row b, item i): the history item h of row b maximising history[b, h] * sim[h, i], or -1.

    ``sim_t`` is the transposed similarity (row i = items similar to i) in CSR.
    """
    items = np.asarray(items, dtype=np.int64)
    rows = np.asarray(users_in_block, dtype=np.int64)
    out = np.full(items.size, -1, dtype=np.int64)
    if items.size == 0:
        return out
    lengths = np.diff(sim_t.indptr)[items]
    total = int(lengths.sum())
    if total == 0:
        return out
    pair = np.repeat(np.arange(items.size), lengths)
    starts = sim_t.indptr[items]
    offs = np.arange(total) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    nb = sim_t.indices[np.repeat(starts, lengths) + offs].astype(np.int64)
    s = sim_t.data[np.repeat(starts, lengths) + offs]
    hist = sp.csr_matrix(history)
    hist.sort_indices()
    n_cols = np.int64(hist.shape[1])
    hrows = np.repeat(np.arange(hist.shape[0], dtype=np.int64), np.diff(hist.indptr))
    hkeys = hrows * n_cols + hist.indices.astype(np.int64)
    q = rows[pair] * n_cols + nb
    pos = np.searchsorted(hkeys, q)
    pos_c = np.minimum(pos, max(hkeys.size - 1, 0))
    found = (hkeys.size > 0) & (hkeys[pos_c] == q) if hkeys.size else np.zeros(q.size, dtype=bool)
    contrib = np.where(found, s * (hist.data[pos_c] if hkeys.size else 0.0), -np.inf)
    order = np.lexsort((-contrib, pair))  # per pair, best contribution first
    first = np.r_[0, np.flatnonzero(np.diff(pair[order])) + 1]
    best = order[first]
    ok = np.isfinite(contrib[best]) & (contrib[best] > 0)
    out[pair[best[ok]]] = nb[best[ok]]
    return out


def reason_texts(
    source: np.ndarray,
    anchor_title: np.ndarray,
    anchor_bought: np.ndarray,
    item_category_name: np.ndarray,
    user_top_category_name: np.ndarray,
    item_is_new: np.ndarray,
) -> np.ndarray:
    """One reason per recommendation from its source and context (all arrays aligned, one entry per row)."""
    src = pd.Series(source, dtype=object)
    title = pd.Series(anchor_title, dtype=object).fillna("")
    cat = pd.Series(item_category_name, dtype=object).fillna("")
    ucat = pd.Series(user_top_category_name, dtype=object).fillna("")
    new = pd.Series(item_is_new, dtype=bool)
    verb = np.where(anchor_bought, "bought", "viewed")
    out = pd.Series("recommended for you", index=src.index, dtype=object)
    cf = (src == "cf") & (title != "")
    out[cf] = "because you " + pd.Series(verb, index=src.index)[cf] + " " + title[cf]
    out[(src == "cf") & (title == "")] = "often bought together with your items"
    ae = src == "autoencoder"
    out[ae & (cat != "")] = "matches your taste: " + cat[ae & (cat != "")]
    out[src == "gan"] = "shoppers like you went on to buy this"
    content = src == "content"
    out[content & new & (cat != "")] = "new in " + cat[content & new & (cat != "")]
    out[content & ~new & (cat != "")] = "similar to what you liked in " + cat[content & ~new & (cat != "")]
    out[src == "popular"] = "popular with shoppers like you"
    cross = (src == "cross_category") & (ucat != "") & (cat != "")
    out[cross] = "shoppers who buy " + ucat[cross] + " also shop " + cat[cross]
    out[(src == "cross_category") & ~cross] = "something new for you: " + cat[(src == "cross_category") & ~cross]
    out[new & (src != "cf") & (cat != "") & (src != "cross_category")] = (
        "new in " + cat[new & (src != "cf") & (cat != "") & (src != "cross_category")]
    )
    return out.to_numpy(dtype=object)
