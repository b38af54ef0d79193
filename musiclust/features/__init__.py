"""Feature extractors (manifest → FeatureSet) and the on-disk feature cache."""

from musiclust.features.audio import LogMelSpec, MFCCFrames, MFCCStats, extract_audio
from musiclust.features.base import FeatureCache, FeatureExtractor, FeatureSet, load_or_compute
from musiclust.features.hybrid import HybridFeature, MultimodalFeature
from musiclust.features.pretrained import PretrainedAudio
from musiclust.features.text import LyricsEmbedding, LyricsTfidf

__all__ = [
    "FeatureCache", "FeatureExtractor", "FeatureSet", "HybridFeature", "LogMelSpec", "LyricsEmbedding", "LyricsTfidf",
    "MFCCFrames", "MFCCStats", "MultimodalFeature", "PretrainedAudio", "extract_audio", "load_or_compute",
]
