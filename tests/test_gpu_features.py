"""feature.device: the torch spectra path (STFT → mel → dB → DCT in batches of songs) equals the librosa path.

Tolerance: 1e-3 absolute in the features' own units (dB for logmelspec, MFCC coefficients; values up to ~200),
float32 rounding of a different FFT and summation order; measured differences are about 1e-4. The path runs
with torch on the CPU here (no GPU in CI), on a GPU device when one exists (the last test).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from musiclust.config import validate
from musiclust.errors import ConfigError
from musiclust.features import audio
from musiclust.features.audio import AudioFeature, LogMelSpec, MFCCFrames, MFCCStats, Spectra, extract_audio
from musiclust.features.gpu import TorchSpectra
from musiclust.instantiate import build
from tests.conftest import TINY_DEMO

ATOL = 1e-3


@pytest.fixture(scope="module")
def songs(demo_root) -> pd.DataFrame:
    from musiclust.data.demo import DemoDataset

    return DemoDataset(root=str(demo_root), **TINY_DEMO).load().iloc[:6]


def features() -> list[AudioFeature]:
    return [MFCCStats(), LogMelSpec(), MFCCFrames(frames=32), LogMelSpec(n_mels=32, fmax=6000.0, frames=16)]


def signals_of(songs: pd.DataFrame) -> list[np.ndarray]:
    signals = [audio.decode(path, 22050, None, 0.5)[0] for path in songs["audio_path"]]
    # different lengths in one batch, none a multiple of the hop: padding must not change a song's own frames
    return [signals[0][:30001], signals[1], np.concatenate([signals[2], signals[3][:12345]]), signals[4][:11111]]


def on_device(device: str, songs: pd.DataFrame) -> None:
    signals = signals_of(songs)
    batch = TorchSpectra(signals, 22050, device).songs()
    for feature in features():
        for signal, spectra in zip(signals, batch, strict=True):
            expected = feature.from_spectra(Spectra(signal, 22050))
            got = feature.from_spectra(spectra)
            assert got.shape == expected.shape, feature.name
            np.testing.assert_allclose(got, expected, rtol=0, atol=ATOL, err_msg=feature.name)


def test_torch_spectra_match_librosa_for_a_batch_of_songs_of_different_lengths(songs):
    on_device("cpu", songs)


def test_extraction_through_the_torch_path_matches_the_cpu_path(songs, monkeypatch):
    cpu = extract_audio(songs, features(), n_jobs=1)
    monkeypatch.setattr(audio, "TORCH_BATCH_SAMPLES", 100_000)  # several batches for these 6 songs
    torch_path = features()
    for feature in torch_path:
        feature.spectra_device = "cpu"  # torch on the CPU: what feature.device=cuda does on a GPU
    batched = extract_audio(songs, torch_path, n_jobs=1)
    for one, two in zip(cpu, batched, strict=True):
        np.testing.assert_array_equal(one.ids, two.ids)
        np.testing.assert_allclose(two.values, one.values, rtol=0, atol=ATOL)


def test_device_settings(make_cfg):
    feature = build(make_cfg("feature=logmelspec").feature)
    assert feature.spectra_device is None and "spectra" not in feature.cache_config()  # the CPU key is unchanged
    with pytest.raises(ConfigError, match="feature.device='gpu'"):
        validate(make_cfg("feature.device=gpu"))
    if not torch.cuda.is_available():
        assert build(make_cfg("feature.device=auto").feature).spectra_device is None  # auto: the CPU here
        with pytest.raises(ConfigError, match="no CUDA GPU"):
            build(make_cfg("feature.device=cuda").feature)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU")
def test_torch_spectra_on_the_gpu_match_librosa(songs):
    on_device("cuda", songs)
    assert MFCCStats(device="auto").cache_config()["spectra"] == "torch"  # GPU numbers are not the CPU's entries
