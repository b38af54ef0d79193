"""``feature=mir``: the descriptors MIR people reach for, as per-track statistics over the whole song.

Every frame-level descriptor below is computed over the whole track (one STFT per song, shared through
:class:`~musiclust.features.audio.Spectra` with ``mfcc``/``logmelspec`` when they run together) and summarised
by its mean and standard deviation over frames; tempo is one number per track. Column by column
(:meth:`MIRStats.columns`, ``{name}_mean`` for every row of a block, then ``{name}_std``, block after block):

==============  ====  ==========================================================================================
block           rows  column names and what they are (librosa function)
==============  ====  ==========================================================================================
chroma          12    ``chroma_C`` … ``chroma_B``: energy per pitch class, C C# D D# E F F# G G# A A# B
                      (``feature.chroma_stft`` of the power spectrogram)
contrast        7     ``contrast_0`` … ``contrast_6``: peak-to-valley level (dB) in octave bands: band 0 below
                      ``contrast_fmin`` (200 Hz), band b from ``fmin·2^(b-1)`` to ``fmin·2^b``, band 6 up to
                      Nyquist (``feature.spectral_contrast`` of the magnitude)
tonnetz         6     ``tonnetz_fifth_x``, ``tonnetz_fifth_y``, ``tonnetz_minor_x``, ``tonnetz_minor_y``,
                      ``tonnetz_major_x``, ``tonnetz_major_y``: the chroma projected on the circles of fifths,
                      minor thirds and major thirds (``feature.tonnetz`` of the chroma above)
spectral shape  4     ``centroid`` (Hz), ``bandwidth`` (Hz), ``rolloff`` (Hz below which ``rolloff_percent`` of the
                      energy lies), ``flatness`` (0 = tonal … 1 = white noise) (``feature.spectral_*``)
zcr             1     ``zcr``: zero crossings per sample (``feature.zero_crossing_rate``, frame = ``n_fft``)
rms             1     ``rms``: root-mean-square level of each frame (``feature.rms`` of the magnitude)
mfcc_delta      n     ``mfcc_delta_01`` … : first time-derivative of each MFCC (``feature.delta``, ``n_mfcc`` rows)
mfcc_delta2     n     ``mfcc_delta2_01`` … : second derivative (acceleration) of each MFCC
tempo           1     ``tempo``: the track's global tempo in BPM (``feature.tempo`` of the onset strength of the
                      128-band mel spectrogram), one column, no mean/std
==============  ====  ==========================================================================================

With the defaults (``n_mfcc=20``) that is 2·(12+7+6+4+1+1+20+20) + 1 = 143 columns. Normalisation policy:
``standard`` (each column z-scored over the songs: the blocks have unrelated units — Hz, dB, BPM, shares).
"""

from __future__ import annotations

import numpy as np

from musiclust.features.audio import AudioFeature, Spectra

PITCH_CLASSES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
TONNETZ_AXES = ("fifth_x", "fifth_y", "minor_x", "minor_y", "major_x", "major_y")
SHAPE = ("centroid", "bandwidth", "rolloff", "flatness")
#: mel bands of the onset strength that tempo is estimated from (librosa's default for onset_strength)
ONSET_MELS = 128


class MIRStats(AudioFeature):
    """Per-track mean and std of chroma, spectral contrast, tonnetz, spectral shape, ZCR, RMS and MFCC deltas,
    plus the global tempo (see the module docstring for every column)."""

    name = "mir"
    normalization = "standard"

    def __init__(self, n_mfcc: int = 20, n_contrast_bands: int = 6, contrast_fmin: float = 200.0,
                 rolloff_percent: float = 0.85, **kwargs) -> None:
        super().__init__(n_mfcc=n_mfcc, n_contrast_bands=n_contrast_bands, contrast_fmin=contrast_fmin,
                         rolloff_percent=rolloff_percent, **kwargs)
        self.n_mfcc, self.n_contrast_bands = int(n_mfcc), int(n_contrast_bands)
        self.contrast_fmin, self.rolloff_percent = float(contrast_fmin), float(rolloff_percent)

    def blocks(self) -> list[tuple[str, list[str]]]:
        """The frame-level blocks in column order: (block, the names of its rows)."""
        return [
            ("chroma", [f"chroma_{p}" for p in PITCH_CLASSES]),
            ("contrast", [f"contrast_{b}" for b in range(self.n_contrast_bands + 1)]),
            ("tonnetz", [f"tonnetz_{axis}" for axis in TONNETZ_AXES]),
            ("shape", list(SHAPE)),
            ("zcr", ["zcr"]),
            ("rms", ["rms"]),
            ("mfcc_delta", [f"mfcc_delta_{i:02d}" for i in range(1, self.n_mfcc + 1)]),
            ("mfcc_delta2", [f"mfcc_delta2_{i:02d}" for i in range(1, self.n_mfcc + 1)]),
        ]

    def columns(self) -> list[str]:
        """The name of every column of this feature, in order (the module docstring documents each)."""
        names = []
        for _, rows in self.blocks():
            names += [f"{row}_mean" for row in rows] + [f"{row}_std" for row in rows]
        return [*names, "tempo"]

    def frame_descriptors(self, spectra: Spectra) -> list[np.ndarray]:
        """One (rows, frames) matrix per block of :meth:`blocks`, all on the same STFT frames."""
        import librosa

        sr, n_fft, hop = spectra.sr, self.n_fft, self.hop_length
        power = spectra.power(n_fft, hop)
        magnitude = np.sqrt(power)
        chroma = librosa.feature.chroma_stft(S=power, sr=sr, n_fft=n_fft, hop_length=hop)
        contrast = librosa.feature.spectral_contrast(S=magnitude, sr=sr, n_fft=n_fft, hop_length=hop,
                                                     n_bands=self.n_contrast_bands, fmin=self.contrast_fmin)
        tonnetz = librosa.feature.tonnetz(sr=sr, chroma=chroma)
        shape = np.vstack([
            librosa.feature.spectral_centroid(S=magnitude, sr=sr, n_fft=n_fft, hop_length=hop),
            librosa.feature.spectral_bandwidth(S=magnitude, sr=sr, n_fft=n_fft, hop_length=hop),
            librosa.feature.spectral_rolloff(S=magnitude, sr=sr, n_fft=n_fft, hop_length=hop,
                                             roll_percent=self.rolloff_percent),
            librosa.feature.spectral_flatness(S=magnitude, n_fft=n_fft, hop_length=hop),
        ])
        # centred frames of n_fft samples every hop: the STFT's frames, so every block has the same length
        zcr = librosa.feature.zero_crossing_rate(spectra.signal, frame_length=n_fft, hop_length=hop, center=True)
        rms = librosa.feature.rms(S=magnitude, frame_length=n_fft, hop_length=hop)
        mfcc = spectra.mfcc(n_mfcc=self.n_mfcc, n_fft=n_fft, hop_length=hop)
        width = min(9, mfcc.shape[1] - (1 - mfcc.shape[1] % 2))  # librosa's default, or the longest odd window
        if width >= 3:
            delta = librosa.feature.delta(mfcc, order=1, width=width)
            delta2 = librosa.feature.delta(mfcc, order=2, width=width)
        else:  # a clip of one or two frames has no measurable change
            delta = delta2 = np.zeros_like(mfcc)
        frames = power.shape[1]
        return [block[:, :frames] for block in (chroma, contrast, tonnetz, shape, zcr[:, :frames], rms, delta,
                                                delta2)]

    def tempo(self, spectra: Spectra) -> float:
        """Global tempo in BPM from the onset strength of the (shared) 128-band mel spectrogram."""
        import librosa

        log_mel = librosa.power_to_db(spectra.mel_power(self.n_fft, self.hop_length, ONSET_MELS))
        onset = librosa.onset.onset_strength(S=log_mel, sr=spectra.sr, hop_length=self.hop_length)
        return float(librosa.feature.tempo(onset_envelope=onset, sr=spectra.sr, hop_length=self.hop_length)[0])

    def from_spectra(self, spectra: Spectra) -> np.ndarray:
        parts = []
        for block in self.frame_descriptors(spectra):
            parts += [block.mean(axis=1), block.std(axis=1)]
        return np.concatenate([*parts, [self.tempo(spectra)]]).astype(np.float32)
