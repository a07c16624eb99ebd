"""Human-readable reasons for recommendations ("because you bought X", "popular with shoppers like you",
"new in Running Shoes"), computed for whole blocks at once.

Why the anchor item is computed and not guessed: "because you bought X" must name the history item that contributed
most to the score of the source the row is attributed to: ``argmax_h history(u, h) * sim(h, i)`` for item-kNN
(``cf``), ``argmax_h history(u, h) * B[h, i]`` for EASE (``ease``, its own weights: a kNN neighbour that did not
drive an EASE score is never named). For every (user, item) pair of a block the
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
    return _best_per_pair(pair, nb, contrib, out)


def ease_anchor(
    users_in_block: np.ndarray, items: np.ndarray, history: sp.csr_matrix, B_rows: np.ndarray, keep_pos: np.ndarray
) -> np.ndarray:
    """For pairs (block row b, item i): the history item h of row b maximising history[b, h] * B[h, i], or -1.

    Why EASE's own weights and not the item-kNN neighbours: an EASE score is ``sum_h history(u, h) * B[h, i]``, so
    the history item with the largest term is the one that drove it; an item-kNN neighbour may weigh nothing (or
    negatively) in EASE, and naming it would be a reason that is not true. ``B_rows`` is items x EASE's kept items
    (:class:`~coldrec.ranking.sources.EASESource`), ``keep_pos`` each item's column in it (-1: outside EASE,
    no anchor). Only a positive term is an anchor.
    """
    items = np.asarray(items, dtype=np.int64)
    rows = np.asarray(users_in_block, dtype=np.int64)
    out = np.full(items.size, -1, dtype=np.int64)
    hist = sp.csr_matrix(history)
    lengths = np.diff(hist.indptr)[rows] if items.size else np.zeros(0, np.int64)
    total = int(lengths.sum())
    if total == 0:
        return out
    pair = np.repeat(np.arange(items.size), lengths)
    offs = np.arange(total) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    at = np.repeat(hist.indptr[rows], lengths) + offs
    h = hist.indices[at].astype(np.int64)
    col = np.asarray(keep_pos, dtype=np.int64)[items][pair]
    weight = B_rows[h, np.maximum(col, 0)]
    contrib = np.where(col >= 0, hist.data[at] * weight, -np.inf)
    return _best_per_pair(pair, h, contrib, out)


def _best_per_pair(pair: np.ndarray, candidate: np.ndarray, contrib: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``out[p]`` = the candidate with the largest positive contribution among pair p's entries (else unchanged)."""
    order = np.lexsort((-contrib, pair))  # per pair, best contribution first
    first = np.r_[0, np.flatnonzero(np.diff(pair[order])) + 1]
    best = order[first]
    ok = np.isfinite(contrib[best]) & (contrib[best] > 0)
    out[pair[best[ok]]] = candidate[best[ok]]
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
    item_item = src.isin(["cf", "ease"])  # their anchors come from each one's own weights (cf_anchor, ease_anchor)
    cf = item_item & (title != "")
    out[cf] = "because you " + pd.Series(verb, index=src.index)[cf] + " " + title[cf]
    out[(src == "cf") & (title == "")] = "often bought together with your items"
    out[(src == "ease") & (title == "")] = "goes with the items in your history"
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
    relabel = new & ~item_item & (cat != "") & (src != "cross_category")
    out[relabel] = "new in " + cat[relabel]
    slot = src == "new_item"  # a new-item slot is new by definition (recently created, barely sold)
    out[slot & (cat != "")] = "new in " + cat[slot & (cat != "")]
    out[slot & (cat == "")] = "new: close to what you like"
    return out.to_numpy(dtype=object)
