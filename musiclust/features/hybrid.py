"""Hybrid and multimodal features.

``hybrid``: an audio block — the posterior mean of a VAE trained on an audio feature, or with
``audio_embedding=null`` the audio feature's own vectors (e.g. ``pretrained_audio``) — concatenated with a lyrics
feature (TF-IDF, or ``lyrics_embed``) and reduced with TruncatedSVD. ``multimodal``: hybrid plus the one-hot of a
metadata column.

The parts are configured as nested config groups (``feature.audio``, ``feature.audio_embedding.model``,
``feature.audio_embedding.backbone``, ``feature.lyrics``) and built here; the parts' own cache keys (a pretrained
model's identity included) and the audio model's settings are part of the feature's cache key. The audio model
trains the way the run's own model does (:class:`musiclust.training.ModelEmbedding`, built from its ``_target_``).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from musiclust.columns import ID, SKIP_COLUMNS
from musiclust.data.manifest import require_columns
from musiclust.errors import ConfigError
from musiclust.features.audio import AudioFeature
from musiclust.features.base import FeatureExtractor, FeatureSet
from musiclust.features.normalize import Normalizer, blocks
from musiclust.features.text import reduce_svd
from musiclust.instantiate import build
from musiclust.preprocess import one_hot

log = logging.getLogger(__name__)

def _option(spec: dict[str, Any], key: str) -> str:
    return f"feature.{key}={spec.get('name') or spec.get('_target_', '?')}"


def _merge_skips(*frames: pd.DataFrame) -> pd.DataFrame:
    frames = tuple(f for f in frames if not f.empty)
    if not frames:
        return pd.DataFrame(columns=SKIP_COLUMNS)
    merged = pd.concat(frames, ignore_index=True)
    return merged.groupby(ID, sort=False, as_index=False).agg({"stage": "+".join, "reason": "; ".join})


class HybridFeature(FeatureExtractor):
    """Audio block ⊕ lyrics block → TruncatedSVD(``svd_dims``).

    The audio block is the embedding of an audio model trained on ``audio`` (``audio_embedding``: a VAE by
    default), or, with ``audio_embedding=None``, the audio feature's own vectors (one per song, e.g. pretrained
    encoder embeddings) normalised by the feature's own policy. The lyrics block is any lyrics feature
    (``lyrics_tfidf``, ``lyrics_embed``). Each block is normalised on its own before the SVD — a learned audio
    embedding centred (its weak latent dims keep their small scale), TF-IDF or sentence-embedding rows to unit
    length — and scaled to a mean row norm of its weight, so the 16 audio dims and the thousands of TF-IDF columns
    contribute as ``audio_weight`` : ``lyrics_weight``.
    The SVD coordinates are the feature, used as they are (``normalization: none``): z-scoring them would undo
    the block weights and give the weakest components the weight of the strongest.
    """

    name = "hybrid"
    normalization = "none"
    #: the SVD and the audio model see every song: one entry per collection; the audio feature is stored per song
    scope = "collection"
    reads_audio = True

    def __init__(
        self, audio: dict[str, Any], audio_embedding: dict[str, Any] | None, lyrics: dict[str, Any],
        audio_weight: float = 1.0, lyrics_weight: float = 1.0, svd_dims: int = 16, seed: int = 0,
        n_jobs: int = 1, **params: Any,
    ) -> None:
        # n_jobs and the executor say how to compute, not what comes out: keep them out of the nested configs (the
        # cache key)
        where = {"executor": dict(audio)["executor"]} if "executor" in dict(audio) else {}  # features that have one
        audio, lyrics = ({k: v for k, v in dict(part).items() if k not in AudioFeature.runtime_params}
                         for part in (audio, lyrics))
        super().__init__(
            audio=audio, audio_embedding=dict(audio_embedding) if audio_embedding else None, lyrics=lyrics,
            audio_weight=float(audio_weight),
            lyrics_weight=float(lyrics_weight), svd_dims=int(svd_dims), seed=int(seed), n_jobs=n_jobs, **params,
        )
        self.audio = build(audio, n_jobs=n_jobs, **where)
        if not isinstance(self.audio, AudioFeature):
            raise ConfigError(
                f"{_option(audio, 'audio')} is not an audio feature. Use one of "
                "feature@feature.audio=mfcc (or mfcc_frames, logmelspec, pretrained_audio)."
            )
        self.lyrics = build(lyrics)
        if not isinstance(self.lyrics, FeatureExtractor):
            raise ConfigError(f"{_option(lyrics, 'lyrics')} is not a feature extractor (e.g. lyrics_tfidf, "
                              "lyrics_embed).")
        for part, key in ((self.audio, "feature.audio"), (self.lyrics, "feature.lyrics")):
            if hasattr(part, "config_key"):  # messages name the nested keys (feature.audio.model=...)
                part.config_key = key
        self.audio_embedding = build(audio_embedding) if audio_embedding else None
        if self.audio_embedding is None and self.audio.windowed:
            raise ConfigError(
                f"feature.audio_embedding=null uses the audio feature's vectors as they are, but "
                f"{_option(audio, 'audio')} gives windows of time-frequency maps. Keep an audio model "
                "(model@feature.audio_embedding.model=vae) or use a feature with one vector per song "
                "(feature@feature.audio=pretrained_audio or mfcc).")

    def cache_config(self) -> dict[str, Any]:
        # the parts' own keys: what they compute, a pretrained model's identity included, without how they run
        return {**super().cache_config(), "audio": self.audio.cache_config(), "lyrics": self.lyrics.cache_config()}

    def check_manifest(self, manifest: pd.DataFrame) -> None:
        self.audio.check_manifest(manifest)
        self.lyrics.check_manifest(manifest)

    def key_columns(self, manifest: pd.DataFrame) -> list[str]:
        return self.lyrics.key_columns(manifest)

    def embed_audio(self, audio: FeatureSet) -> np.ndarray:
        """The audio block of each song: the audio model's embedding, trained on the (normalised) ``audio``
        features, or without one the features normalised by their own policy."""
        if self.audio_embedding is None:
            return Normalizer(audio.normalization).fit_transform(np.asarray(audio.values)).astype(np.float64)
        backbone = self.params["audio_embedding"]["backbone"]
        return self.audio_embedding.embed(audio, source=_option(self.params["audio"], "audio"),
                                          option=_option(backbone, "audio_embedding.backbone"))

    # -- the feature ------------------------------------------------------------------------------------
    def compute(self, manifest: pd.DataFrame) -> FeatureSet:
        return self.compute_from(manifest)

    def compute_from(self, manifest: pd.DataFrame, parts: Any = None) -> FeatureSet:
        """The feature, with the audio feature per song from ``parts`` (the store) when given."""
        p = self.params
        audio = parts(self.audio, manifest) if parts is not None else self.audio.compute(manifest)
        with_audio = manifest[manifest[ID].astype(str).isin(set(audio.ids))]
        lyrics = self.lyrics.compute(with_audio)
        skipped = _merge_skips(audio.skipped, lyrics.skipped)
        if len(lyrics.ids) == 0:
            return FeatureSet(np.zeros((0, 1), dtype=np.float32), lyrics.ids, skipped)
        audio_z = self.embed_audio(audio)
        rows = pd.Series(np.arange(len(audio.ids)), index=audio.ids).loc[lyrics.ids].to_numpy()
        audio_block, lyrics_block = audio_z[rows], np.asarray(lyrics.values)
        audio_policy = "center" if self.audio_embedding is not None else "none"  # "none": normalised above
        parts = blocks(("audio", audio_block.shape[1], audio_policy, p["audio_weight"]),
                       ("lyrics", lyrics_block.shape[1], lyrics.normalization, p["lyrics_weight"]))
        joint = Normalizer(parts).fit_transform(np.hstack([audio_block, lyrics_block]))
        values = reduce_svd(joint, p["svd_dims"], p["seed"])
        return FeatureSet(values.astype(np.float32), lyrics.ids, skipped, self.normalization)


class MultimodalFeature(HybridFeature):
    """The hybrid feature plus the one-hot of a metadata column (missing values → ``missing``).

    Two blocks, each scaled to a mean row norm of its weight (``hybrid_weight``, ``metadata_weight``): at
    weight 1 the one-hot columns stay 0/1.
    """

    name = "multimodal"

    def __init__(self, metadata_col: str = "genre", missing: str = "unknown", metadata_weight: float = 1.0,
                 hybrid_weight: float = 1.0, **kwargs: Any) -> None:
        if not metadata_col:
            raise ConfigError("feature=multimodal needs feature.metadata_col=<column> (e.g. genre).")
        super().__init__(metadata_col=metadata_col, missing=missing, metadata_weight=float(metadata_weight),
                         hybrid_weight=float(hybrid_weight), **kwargs)

    def check_manifest(self, manifest: pd.DataFrame) -> None:
        super().check_manifest(manifest)
        require_columns(manifest, [self.params["metadata_col"]],
                        needed_by=f"feature=multimodal (feature.metadata_col={self.params['metadata_col']})",
                        fix="Set feature.metadata_col=<one of those columns>.")

    def key_columns(self, manifest: pd.DataFrame) -> list[str]:
        return [*super().key_columns(manifest), self.params["metadata_col"]]

    def compute_from(self, manifest: pd.DataFrame, parts: Any = None) -> FeatureSet:
        hybrid = super().compute_from(manifest, parts)
        column = manifest.set_index(ID)[self.params["metadata_col"]].loc[hybrid.ids]
        encoded, categories = one_hot(column, missing=self.params["missing"])
        log.info("Feature %s: one-hot of %s (%d values: %s)", self.name, self.params["metadata_col"],
                 len(categories), ", ".join(categories))
        values = np.hstack([np.asarray(hybrid.values), encoded]).astype(np.float32)
        parts = blocks(("hybrid", hybrid.values.shape[1], hybrid.normalization, self.params["hybrid_weight"]),
                       (self.params["metadata_col"], encoded.shape[1], "none", self.params["metadata_weight"]))
        return FeatureSet(values, hybrid.ids, hybrid.skipped, parts)
