"""Lyrics features: character n-gram TF-IDF (works for Latin and Bengali script alike)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from time import perf_counter
from typing import Any

import numpy as np
import pandas as pd

from musiclust.columns import CLEAN_LYRICS, ID, LYRICS, skip_frame
from musiclust.features.base import FeatureExtractor, FeatureSet
from musiclust.features.pretrained import PretrainedModel, load_failure, require_extra, torch_device

log = logging.getLogger(__name__)


def lyrics_column(manifest: pd.DataFrame, column: str | None) -> str:
    """The explicit column, else ``lyrics_clean`` when present, else ``lyrics``."""
    if column:
        return column
    return CLEAN_LYRICS if CLEAN_LYRICS in manifest.columns else LYRICS


def lyrics_texts(manifest: pd.DataFrame, column: str | None) -> tuple[pd.Series, np.ndarray, pd.DataFrame]:
    """The non-empty lyrics of ``column`` (see :func:`lyrics_column`), their song ids, and the empty ones as skips."""
    column = lyrics_column(manifest, column)
    texts = manifest[column].fillna("").astype(str).str.strip()
    empty = texts.str.len() == 0
    skipped = skip_frame([(i, f"empty lyrics: no text in column {column!r}") for i in manifest.loc[empty, ID]],
                         stage="lyrics")
    return texts[~empty], manifest.loc[~empty, ID].astype(str).to_numpy(), skipped


class LyricsTfidf(FeatureExtractor):
    """TF-IDF over char_wb n-grams of the lyrics, optionally reduced with TruncatedSVD."""

    name = "lyrics_tfidf"
    required_columns = (ID,)
    #: LSA: TF-IDF → SVD → rows of unit length, so documents compare by direction (cosine), whatever their
    #: length; z-scoring the SVD columns would give noise components the weight of the leading topics
    normalization = "l2"
    collection_dependent = True  # the vocabulary, IDF weights and SVD are fitted to the collection

    def __init__(
        self, column: str | None = None, analyzer: str = "char_wb", ngram_range: tuple[int, int] = (3, 5),
        max_features: int | None = 4000, min_df: int = 2, sublinear_tf: bool = True,
        svd_dims: int | None = None, seed: int = 0,
    ) -> None:
        super().__init__(column=column, analyzer=analyzer, ngram_range=list(ngram_range),
                         max_features=max_features, min_df=min_df, sublinear_tf=sublinear_tf,
                         svd_dims=svd_dims, seed=seed)

    def check_manifest(self, manifest: pd.DataFrame) -> None:
        self.require(manifest, [ID, lyrics_column(manifest, self.params["column"])])

    def compute(self, manifest: pd.DataFrame) -> FeatureSet:
        from sklearn.feature_extraction.text import TfidfVectorizer

        texts, ids, skipped = lyrics_texts(manifest, self.params["column"])
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


def line_runs(line: str, tokenizer: Any, limit: int) -> list[tuple[str, int]]:
    """A line longer than ``limit`` tokens as (text, tokens) runs of at most ``limit`` tokens, cut where a word
    starts (mid-word only for a word longer than ``limit``), so each run tokenizes as it did inside the line."""
    spans = tokenizer(line, add_special_tokens=False, return_offsets_mapping=True, verbose=False)["offset_mapping"]
    starts_word = [start == 0 or line[start - 1].isspace() for start, _ in spans]
    runs, first = [], 0
    while first < len(spans):
        last = min(first + limit, len(spans))
        if last < len(spans):  # back off to the last word start inside the run, when there is one
            last = next((i for i in range(last, first, -1) if starts_word[i]), last)
        runs.append((line[spans[first][0]:spans[last - 1][1]], last - first))
        first = last
    return runs


def lyric_pieces(texts: Sequence[str], tokenizer: Any, limit: int) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Each text cut into pieces of at most ``limit`` tokens: whole lines packed in order while they fit, a line
    longer than ``limit`` cut into runs (:func:`line_runs`). Returns the pieces, the text each belongs to and its
    number of tokens."""
    pieces: list[str] = []
    owners: list[int] = []
    sizes: list[int] = []
    for index, text in enumerate(texts):
        lines = [line.strip() for line in str(text).splitlines() if line.strip()]
        # verbose=False: lines longer than the model takes are expected here, they are cut below
        counts = [len(ids) for ids in tokenizer(lines, add_special_tokens=False, verbose=False)["input_ids"]] \
            if lines else []
        units = [run for line, count in zip(lines, counts, strict=True)
                 for run in (line_runs(line, tokenizer, limit) if count > limit else [(line, count)])]
        current: list[str] = []
        used = 0
        for unit, count in units:
            if current and used + count > limit:
                pieces.append("\n".join(current))
                owners.append(index)
                sizes.append(used)
                current, used = [], 0
            current.append(unit)
            used += count
        if current:
            pieces.append("\n".join(current))
            owners.append(index)
            sizes.append(max(used, 1))
    return pieces, np.asarray(owners, dtype=np.int64), np.asarray(sizes, dtype=np.float64)


class LyricsEmbedding(PretrainedModel, FeatureExtractor):
    """Multilingual sentence embeddings of the lyrics (sentence-transformers), one unit vector per song.

    The lyrics of ``lyrics_clean`` if present, else ``lyrics`` (as :class:`LyricsTfidf`); empty lyrics are skipped.
    Lyrics longer than the model's sequence length are cut into pieces (:func:`lyric_pieces`), each embedded with
    ``normalize_embeddings=True``; a song is the token-weighted mean of its pieces, scaled back to unit length
    (then optionally reduced with TruncatedSVD to ``svd_dims``, as the TF-IDF is).
    Normalisation ``l2``: sentence embeddings compare by cosine. The model loads as :mod:`.pretrained` says: a local
    directory or a cached Hub id, no download unless ``allow_download``, no shipped code unless ``trust_remote_code``.
    """

    name = "lyrics_embed"
    required_columns = (ID,)
    normalization = "l2"

    def __init__(
        self, model: str = "sentence-transformers/LaBSE", column: str | None = None, max_tokens: int | None = None,
        svd_dims: int | None = None, seed: int = 0, revision: str | None = None, allow_download: bool = False,
        trust_remote_code: bool = False, device: str = "auto", batch_size: int = 32,
    ) -> None:
        super().__init__(model=model, column=column, max_tokens=max_tokens, svd_dims=svd_dims, seed=seed,
                         revision=revision,
                         allow_download=bool(allow_download), trust_remote_code=bool(trust_remote_code),
                         device=device, batch_size=int(batch_size))
        require_extra(self.name, "sentence_transformers")

    def check_manifest(self, manifest: pd.DataFrame) -> None:
        self.require(manifest, [ID, lyrics_column(manifest, self.params["column"])])

    def load(self) -> Any:
        """The sentence-transformers model, on ``device``."""
        from sentence_transformers import SentenceTransformer

        location, p = self.location(), self.params
        device = torch_device(p["device"], f"{self.config_key}.device")
        try:
            return SentenceTransformer(str(location.path), device=device, local_files_only=True,
                                       trust_remote_code=p["trust_remote_code"])
        except (OSError, ValueError, KeyError) as err:
            raise load_failure(f"{self.config_key}.model", p["model"], location, err) from None

    def piece_tokens(self, encoder: Any) -> int:
        """Tokens per piece: ``max_tokens`` or the model's sequence length, less the special tokens it adds."""
        limit = self.params["max_tokens"] or encoder.max_seq_length or 256
        return max(1, int(limit) - encoder.tokenizer.num_special_tokens_to_add(pair=False))

    def compute(self, manifest: pd.DataFrame) -> FeatureSet:
        texts, ids, skipped = lyrics_texts(manifest, self.params["column"])
        encoder = self.load()  # a missing or unloadable model stops the run before any lyrics are embedded
        if len(texts) == 0:
            return FeatureSet(np.zeros((0, 1), dtype=np.float32), ids, skipped, self.normalization)
        begin = perf_counter()
        pieces, owners, sizes = lyric_pieces(texts.tolist(), encoder.tokenizer, self.piece_tokens(encoder))
        vectors = np.asarray(encoder.encode(pieces, batch_size=self.params["batch_size"], normalize_embeddings=True,
                                            convert_to_numpy=True, show_progress_bar=False), dtype=np.float64)
        songs = np.zeros((len(ids), vectors.shape[1]))
        np.add.at(songs, owners, vectors * sizes[:, None])
        norms = np.linalg.norm(songs, axis=1, keepdims=True)
        log.info("Feature %s: %d songs in %d pieces in %.1f s on %s", self.name, len(ids), len(pieces),
                 perf_counter() - begin, encoder.device)
        values = reduce_svd(songs / np.where(norms > 0, norms, 1.0), self.params["svd_dims"], self.params["seed"])
        return FeatureSet(values.astype(np.float32), ids, skipped, self.normalization)
