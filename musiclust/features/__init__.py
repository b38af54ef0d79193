"""Feature extractors (manifest → FeatureSet) and where features are kept: the per-song store, collection entries."""

from musiclust.features.audio import LogMelSpec, MFCCFrames, MFCCStats, extract_audio
from musiclust.features.base import (
    FeatureCache,
    FeatureCounts,
    FeatureExtractor,
    FeatureSet,
    FeatureStores,
    features_for,
    load_or_compute,
)
from musiclust.features.hybrid import HybridFeature, MultimodalFeature
from musiclust.features.pretrained import PretrainedAudio
from musiclust.features.text import LyricsEmbedding, LyricsTfidf

__all__ = [
    "FeatureCache", "FeatureCounts", "FeatureExtractor", "FeatureSet", "FeatureStores", "HybridFeature", "LogMelSpec",
    "LyricsEmbedding", "LyricsTfidf", "MFCCFrames", "MFCCStats", "MultimodalFeature", "PretrainedAudio",
    "extract_audio", "features_for", "load_or_compute",
]
