"""feature=mir: the documented columns, each block responding to what it measures, one STFT per song shared with
the other audio features, and a run on the demo."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from musiclust.features.audio import MFCCStats, Spectra, extract_audio
from musiclust.features.mir import MIRStats
from musiclust.pipeline import run_experiment
from tests.conftest import REPO

SR = 22050
MIR = MIRStats()


def tone(freqs, seconds: float = 3.0, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(int(SR * seconds)) / SR
    return (amplitude * sum(np.sin(2 * np.pi * f * t) for f in np.atleast_1d(freqs)) / len(np.atleast_1d(freqs))
            ).astype(np.float32)


def clicks(bpm: float, seconds: float = 12.0) -> np.ndarray:
    signal = np.zeros(int(SR * seconds), dtype=np.float32)
    burst = np.hanning(256).astype(np.float32) * np.sin(2 * np.pi * 2000 * np.arange(256) / SR).astype(np.float32)
    for onset in np.arange(0, seconds - 0.1, 60.0 / bpm):
        start = int(onset * SR)
        signal[start:start + 256] += burst
    return signal


def describe(signal: np.ndarray) -> pd.Series:
    return pd.Series(MIR.from_spectra(Spectra(signal, SR)), index=MIR.columns())


def midi(note: float) -> float:
    return 440.0 * 2 ** ((note - 69) / 12)


def test_columns_are_the_documented_list():
    pitch = ["C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"]
    rows = ([f"chroma_{p}" for p in pitch], [f"contrast_{b}" for b in range(7)],
            [f"tonnetz_{a}" for a in ("fifth_x", "fifth_y", "minor_x", "minor_y", "major_x", "major_y")],
            ["centroid", "bandwidth", "rolloff", "flatness"], ["zcr"], ["rms"],
            [f"mfcc_delta_{i:02d}" for i in range(1, 21)], [f"mfcc_delta2_{i:02d}" for i in range(1, 21)])
    expected = [f"{row}_{stat}" for block in rows for stat in ("mean", "std") for row in block] + ["tempo"]
    assert MIR.columns() == expected and len(expected) == 143
    assert len(MIR.from_spectra(Spectra(tone(440.0), SR))) == len(expected)
    assert len(MIRStats(n_mfcc=13, n_contrast_bands=4).columns()) == 2 * (12 + 5 + 6 + 4 + 1 + 1 + 13 + 13) + 1
    # the README documents every block with the names the columns carry
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("### MIR descriptors"):]
    section = section[:section.index("\n## ")] if "\n## " in section else section
    for name in ("chroma_C", "chroma_B", "contrast_0", "contrast_6", "tonnetz_fifth_x", "tonnetz_major_y",
                 "centroid", "bandwidth", "rolloff", "flatness", "zcr", "rms", "mfcc_delta_01", "mfcc_delta2_01",
                 "tempo", "_mean", "_std"):
        assert re.search(rf"`[^`]*{re.escape(name)}[^`]*`", section), name


def test_chroma_follows_the_pitch_class():
    for note, name in ((69, "A"), (60, "C"), (66, "F#")):
        chroma = describe(tone([midi(note), midi(note + 12)])).filter(regex=r"^chroma_.*_mean$")
        assert chroma.idxmax() == f"chroma_{name}_mean"


def test_tonnetz_puts_keys_a_tritone_apart_on_opposite_sides_of_the_circle_of_fifths():
    def fifths(root: int) -> np.ndarray:
        values = describe(tone([midi(root), midi(root + 4), midi(root + 7)]))
        return values[["tonnetz_fifth_x_mean", "tonnetz_fifth_y_mean"]].to_numpy()

    c_major, f_sharp_major, g_major = fifths(60), fifths(66), fifths(67)
    cosine = lambda a, b: float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))  # noqa: E731
    assert cosine(c_major, f_sharp_major) < -0.5 < 0.5 < cosine(c_major, g_major)  # G is C's neighbour in fifths


def test_spectral_shape_zcr_rms_and_contrast_respond_to_what_they_measure():
    low, high = describe(tone(300.0)), describe(tone(3000.0))
    for column in ("centroid_mean", "rolloff_mean", "zcr_mean"):
        assert high[column] > 3 * low[column]
    noise = describe((0.3 * np.random.default_rng(0).standard_normal(3 * SR)).astype(np.float32))
    assert noise["flatness_mean"] > 100 * low["flatness_mean"]
    assert noise["bandwidth_mean"] > 3 * low["bandwidth_mean"]
    # a tone is a peak over empty valleys in its octave band (band 1: 200-400 Hz, band 4: 1.6-3.2 kHz); noise is not
    assert low["contrast_1_mean"] > noise["contrast_1_mean"] + 20
    assert high["contrast_4_mean"] > noise["contrast_4_mean"] + 20
    quiet = describe(tone(300.0, amplitude=0.05))
    assert low["rms_mean"] == pytest.approx(10 * quiet["rms_mean"], rel=0.05)


def test_mfcc_deltas_measure_change():
    steady = describe(tone(440.0))
    t = np.arange(3 * SR) / SR
    changing = (0.5 * np.sin(2 * np.pi * 440 * t) * (np.sin(2 * np.pi * 4 * t) > 0)
                + 0.5 * np.sin(2 * np.pi * 1320 * t) * (np.sin(2 * np.pi * 4 * t) <= 0)).astype(np.float32)
    moving = describe(changing)
    for order in ("delta", "delta2"):
        columns = [f"mfcc_{order}_{i:02d}_std" for i in range(1, 21)]
        assert moving[columns].mean() > 2 * steady[columns].mean()  # steady: only the track's edges change


@pytest.mark.parametrize("slow, fast", [(80, 120), (100, 160)])
def test_a_faster_click_track_has_a_higher_tempo(slow, fast):
    slow_tempo, fast_tempo = describe(clicks(slow))["tempo"], describe(clicks(fast))["tempo"]
    assert slow_tempo == pytest.approx(slow, rel=0.05) and fast_tempo == pytest.approx(fast, rel=0.05)


def test_mir_shares_one_stft_per_song_with_mfcc(demo_root, monkeypatch):
    import librosa

    manifest = pd.read_csv(demo_root / "manifest.csv").head(3)
    manifest["audio_path"] = [str(demo_root / p) for p in manifest["audio_path"]]
    calls = []
    real_stft = librosa.stft
    monkeypatch.setattr(librosa, "stft", lambda *a, **k: calls.append(1) or real_stft(*a, **k))
    mfcc, mir = extract_audio(manifest, [MFCCStats(), MIRStats()], n_jobs=1)
    assert len(calls) == 3  # one per song for both features
    assert mir.values.shape == (3, 143) and np.isfinite(mir.values).all() and mir.normalization == "standard"
    alone = MIRStats().compute(manifest)
    np.testing.assert_allclose(alone.values, mir.values, rtol=1e-5, atol=1e-6)


def test_mir_runs_on_the_demo(make_cfg):
    result = run_experiment(make_cfg("feature=mir", "model=pca", "feature.n_jobs=1"))
    assert result.settings["feature"] == "mir" and result.metrics["nmi"] > 0.5  # 6 synthesised genres
