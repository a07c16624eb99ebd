"""The ranking core: what turns histories, item content and models into ranked lists, and measures them.

Why one package: the nightly lists (:mod:`coldrec.recommend`, published) and the offline harness
(:mod:`coldrec.evaluate`) must rank through the same code, or the harness measures a variant of what consumers
read. Both build on this package; it imports neither.

Modules, bottom up (a module imports only those above it in this list, and ``coldrec.data``/``coldrec.config``):
- ``topk_cpu``, ``topk``: the one masked top-k API (:func:`topk.mask_topk_`) and its backends (compiled CPU kernel,
  ``torch.topk``, two-stage selection on wide blocks);
- ``metrics``: the one set of ranking metrics (NDCG, HR, precision, recall, MAP, coverage...) used by training
  validation, blend tuning, the harness and (as a Spark expression tested equal to it) the nightly backtest;
- ``encode``: id <-> index, user segments, top categories, content tokens and TF-IDF, brand codes;
- ``similarity``: item-kNN cosine neighbours and EASE weights;
- ``blend``: z-scored weighted sum of source blocks per activity segment, its tuning;
- ``sources``: candidate sources (score blocks) and :func:`sources.make_sources`, the one way to build them;
- ``recency``: recency weighting of a history and the choice of its half-life;
- ``cross_category``, ``filters``: category affinity, per-category caps and cross-category slots;
- ``lists``: :class:`lists.Catalog` + :class:`lists.Ranker`: blend, mask, pool, caps and slots, top-N - the pure
  middle the nightly scoring and the harness's coldrec method both call.

``topk_cpu``, ``topk`` and ``metrics`` import nothing else from coldrec: they are leaves that the lower layers
(training validation in :mod:`coldrec.models`) may use too.
"""
