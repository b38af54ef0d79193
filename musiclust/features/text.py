"""Lyrics features: character n-gram TF-IDF (works for Latin and Bengali script alike)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from musiclust.columns import CLEAN_LYRICS, ID, LYRICS, skip_frame
from musiclust.features.base import FeatureExtractor, FeatureSet


def lyrics_column(manifest: pd.DataFrame, column: str | None) -> str:
    """The explicit column, else ``lyrics_clean`` when present, else ``lyrics``."""
    if column:
        return column
    return CLEAN_LYRICS if CLEAN_LYRICS in manifest.columns else LYRICS


class LyricsTfidf(FeatureExtractor):
    """TF-IDF over char_wb n-grams of the lyrics, optionally reduced with TruncatedSVD."""

    name = "lyrics_tfidf"
    required_columns = (ID,)
    #: LSA: TF-IDF → SVD → rows of unit length, so documents compare by direction (cosine), whatever their
    #: length; z-scoring the SVD columns would give noise components the weight of the leading topics
    normalization = "l2"

    def __init__(
        self, column: str | None = None, analyzer: str = "char_wb", ngram_range: tuple[int, int] = (3, 5),
        max_features: int | None = 4000, min_df: int = 2, sublinear_tf: bool = True,
        svd_dims: int | None = None, seed: int = 0,
    ) -> None:
        super().__init__(column=column, analyzer=analyzer, ngram_range=list(ngram_range),
                         max_features=max_features, min_df=min_df, sublinear_tf=sublinear_tf,
                         svd_dims=svd_dims, seed=seed)

    #: the vocabulary, IDF weights and SVD come from the whole collection: one entry per collection
    scope = "collection"
    reads_audio = False

    def key_columns(self, manifest: pd.DataFrame) -> list[str]:
        return [lyrics_column(manifest, self.params["column"])]

    def check_manifest(self, manifest: pd.DataFrame) -> None:
        self.require(manifest, [ID, lyrics_column(manifest, self.params["column"])])

    def compute(self, manifest: pd.DataFrame) -> FeatureSet:
        from sklearn.feature_extraction.text import TfidfVectorizer

        column = lyrics_column(manifest, self.params["column"])
        texts = manifest[column].fillna("").astype(str).str.strip()
        empty = texts.str.len() == 0
        skipped = skip_frame([(i, f"empty lyrics: no text in column {column!r}") for i in manifest.loc[empty, ID]],
                             stage="lyrics")
        texts, ids = texts[~empty], manifest.loc[~empty, ID].astype(str).to_numpy()
        if len(texts) == 0:
            return FeatureSet(np.zeros((0, 1), dtype=np.float32), ids, skipped, self.normalization)
        vectorizer = TfidfVectorizer(
            analyzer=self.params["analyzer"], ngram_range=tuple(self.params["ngram_range"]),
            max_features=self.params["max_features"], min_df=min(self.params["min_df"], len(texts)),
            sublinear_tf=self.params["sublinear_tf"],
        )
        matrix = vectorizer.fit_transform(texts.tolist())
        values = reduce_svd(matrix, self.params["svd_dims"], self.params["seed"])
        return FeatureSet(values.astype(np.float32), ids, skipped, self.normalization)


def reduce_svd(matrix, dims: int | None, seed: int) -> np.ndarray:
    """TruncatedSVD to ``dims`` (bounded by the matrix size); dense passthrough when ``dims`` is None."""
    if not dims:
        return matrix.toarray() if hasattr(matrix, "toarray") else np.asarray(matrix)
    from sklearn.decomposition import TruncatedSVD

    dims = int(min(dims, min(matrix.shape) - 1))
    if dims < 1:
        return matrix.toarray() if hasattr(matrix, "toarray") else np.asarray(matrix)
    return TruncatedSVD(n_components=dims, random_state=seed).fit_transform(matrix)
