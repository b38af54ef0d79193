"""Time-frequency features with torch, in batches of songs: STFT → mel → dB (→ DCT) on a GPU (``feature.device``).

The numbers follow librosa 0.11's conventions, so a feature computed here equals the CPU path's within float32
rounding (``tests/test_gpu_features.py`` states the tolerance): centred frames with zero padding
(``librosa.stft(center=True, pad_mode="constant")``), a periodic Hann window, |STFT|², the filter bank of
``librosa.filters.mel``, ``power_to_db`` (amin 1e-10, top_db 80, relative to 1 or to the song's loudest bin) and
an orthonormal DCT-II for MFCCs. Songs of different lengths share one batch: each is zero-padded to the longest,
which leaves its own frames unchanged (librosa pads with zeros too), and its frames are cut back afterwards.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np

#: power_to_db's floor (librosa's ``amin``)
AMIN = 1e-10


@lru_cache(maxsize=16)
def _mel_filters(sr: int, n_fft: int, n_mels: int, fmax: float | None, device: str) -> Any:
    import librosa
    import torch

    return torch.from_numpy(librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmax=fmax)).to(device)


@lru_cache(maxsize=16)
def _dct_matrix(n_mels: int, n_mfcc: int, device: str) -> Any:
    """(n_mfcc, n_mels): row k of the orthonormal DCT-II, so ``D @ log_mel`` = ``scipy.fft.dct(..., norm="ortho")``."""
    import scipy.fft
    import torch

    return torch.from_numpy(scipy.fft.dct(np.eye(n_mels), type=2, norm="ortho", axis=0)[:n_mfcc]).float().to(device)


class TorchSpectra:
    """The spectra of a batch of decoded songs, computed together with torch on ``device``, each at most once.

    :meth:`songs` gives one view per song with :class:`musiclust.features.audio.Spectra`'s methods, so features
    take either; the first request of a quantity computes it for the whole batch.
    """

    def __init__(self, signals: list[np.ndarray], sr: int, device: str) -> None:
        self.signals, self.sr, self.device = signals, int(sr), str(device)
        self._memo: dict[tuple[Any, ...], Any] = {}

    def songs(self) -> list[SongSpectra]:
        return [SongSpectra(self, i) for i in range(len(self.signals))]

    def frames(self, hop_length: int) -> list[int]:
        """Frames of each song: 1 + samples // hop_length (librosa's count with centred frames)."""
        return [1 + len(signal) // hop_length for signal in self.signals]

    # -- batched tensors (batch, bins, frames) on the device ------------------------------------------------------
    def _power(self, n_fft: int, hop_length: int) -> Any:
        key = ("power", n_fft, hop_length)
        if key not in self._memo:
            import torch

            longest = max(len(s) for s in self.signals)
            batch = torch.zeros((len(self.signals), longest), dtype=torch.float32)
            for row, signal in enumerate(self.signals):
                batch[row, : len(signal)] = torch.from_numpy(np.asarray(signal, dtype=np.float32))
            window = torch.hann_window(n_fft, periodic=True, device=self.device)
            stft = torch.stft(batch.to(self.device), n_fft=n_fft, hop_length=hop_length, window=window,
                              center=True, pad_mode="constant", return_complex=True)
            self._memo[key] = stft.real.square() + stft.imag.square()
        return self._memo[key]

    def _mel(self, n_fft: int, hop_length: int, n_mels: int, fmax: float | None) -> Any:
        key = ("mel", n_fft, hop_length, n_mels, fmax)
        if key not in self._memo:
            filters = _mel_filters(self.sr, n_fft, n_mels, fmax, self.device)
            self._memo[key] = filters @ self._power(n_fft, hop_length)
        return self._memo[key]

    def _db(self, power: Any, hop_length: int, relative_to_max: bool, top_db: float | None) -> Any:
        """``librosa.power_to_db`` of each song over its own frames (its peak, and top_db below it)."""
        import torch

        frames = torch.as_tensor(self.frames(hop_length), device=power.device)
        valid = torch.arange(power.shape[-1], device=power.device)[None, :] < frames[:, None]  # (batch, frames)
        valid = valid[:, None, :]
        db = 10.0 * torch.log10(torch.clamp(power, min=AMIN))
        if relative_to_max:
            peak = torch.where(valid, power, torch.zeros((), device=power.device)).amax(dim=(1, 2), keepdim=True)
            db = db - 10.0 * torch.log10(torch.clamp(peak, min=AMIN))
        if top_db is not None:
            loudest = torch.where(valid, db, torch.full((), -torch.inf, device=db.device)).amax(dim=(1, 2),
                                                                                             keepdim=True)
            db = torch.maximum(db, loudest - top_db)
        return db

    def _per_song(self, key: tuple[Any, ...], batch: Any, hop_length: int) -> list[np.ndarray]:
        """The batch tensor as one float32 array per song, cut to its own frames (memoised under ``key``)."""
        if key not in self._memo:
            host = batch.float().cpu().numpy()
            self._memo[key] = [host[i, :, :count] for i, count in enumerate(self.frames(hop_length))]
        return self._memo[key]

    # -- per-song results, as Spectra gives them ----------------------------------------------------------------
    def power(self, n_fft: int, hop_length: int) -> list[np.ndarray]:
        return self._per_song(("power/host", n_fft, hop_length), self._power(n_fft, hop_length), hop_length)

    def mel_power(self, n_fft: int, hop_length: int, n_mels: int, fmax: float | None = None) -> list[np.ndarray]:
        key = ("mel/host", n_fft, hop_length, n_mels, fmax)
        if key in self._memo:
            return self._memo[key]
        return self._per_song(key, self._mel(n_fft, hop_length, n_mels, fmax), hop_length)

    def mfcc(self, n_mfcc: int, n_fft: int, hop_length: int, n_mels: int = 128) -> list[np.ndarray]:
        key = ("mfcc/host", n_mfcc, n_fft, hop_length, n_mels)
        if key in self._memo:
            return self._memo[key]
        log_mel = self._db(self._mel(n_fft, hop_length, n_mels, None), hop_length, False, 80.0)
        return self._per_song(key, _dct_matrix(n_mels, n_mfcc, self.device) @ log_mel, hop_length)

    def log_mel(self, n_fft: int, hop_length: int, n_mels: int, fmax: float | None = None,
                top_db: float = 80.0) -> list[np.ndarray]:
        key = ("logmel/host", n_fft, hop_length, n_mels, fmax, top_db)
        if key in self._memo:
            return self._memo[key]
        db = self._db(self._mel(n_fft, hop_length, n_mels, fmax), hop_length, True, top_db)
        return self._per_song(key, db, hop_length)


class SongSpectra:
    """One song of a :class:`TorchSpectra` batch, with the methods of :class:`musiclust.features.audio.Spectra`."""

    def __init__(self, batch: TorchSpectra, index: int) -> None:
        self.batch, self.index = batch, index
        self.signal, self.sr = batch.signals[index], batch.sr

    def power(self, n_fft: int, hop_length: int) -> np.ndarray:
        return self.batch.power(n_fft, hop_length)[self.index]

    def mel_power(self, n_fft: int, hop_length: int, n_mels: int, fmax: float | None = None) -> np.ndarray:
        return self.batch.mel_power(n_fft, hop_length, n_mels, fmax)[self.index]

    def mfcc(self, n_mfcc: int, n_fft: int, hop_length: int, n_mels: int = 128) -> np.ndarray:
        return self.batch.mfcc(n_mfcc, n_fft, hop_length, n_mels)[self.index]

    def log_mel(self, n_fft: int, hop_length: int, n_mels: int, fmax: float | None = None,
                top_db: float = 80.0) -> np.ndarray:
        return self.batch.log_mel(n_fft, hop_length, n_mels, fmax, top_db)[self.index]
