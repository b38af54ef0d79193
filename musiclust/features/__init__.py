"""Feature extractors (manifest → FeatureSet) and the on-disk feature cache."""

from musiclust.features.audio import LogMelSpec, MFCCFrames, MFCCStats, extract_audio
from musiclust.features.base import FeatureCache, FeatureExtractor, FeatureSet, load_or_compute
from musiclust.features.hybrid import HybridFeature, MultimodalFeature
from musiclust.features.text import LyricsTfidf

__all__ = [
    "FeatureCache", "FeatureExtractor", "FeatureSet", "HybridFeature", "LogMelSpec", "LyricsTfidf", "MFCCFrames",
    "MFCCStats", "MultimodalFeature", "extract_audio", "load_or_compute",
]
