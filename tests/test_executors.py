"""How many local worker processes extraction uses: n_jobs=-1 counts idle cores only, and the work a file brings
is judged from its header (sample rate and channels), so the default is never slower than one process."""

from __future__ import annotations

import numpy as np
import pytest

from musiclust.features import audio


@pytest.fixture
def cores(monkeypatch):
    monkeypatch.setattr(audio.os, "sched_getaffinity", lambda pid: set(range(8)), raising=False)

    def busy(load: float) -> None:
        monkeypatch.setattr(audio.os, "getloadavg", lambda: (load, load, load))
    return busy


def test_default_n_jobs_counts_only_idle_cores(cores):
    plenty = 100 * audio.AUDIO_SECONDS_PER_WORKER
    cores(0.2)
    assert audio.idle_cores() == 8 and audio.worker_count(-1, 1000, plenty) == 8
    cores(5.6)
    assert audio.worker_count(-1, 1000, plenty) == 2
    cores(11.0)  # every core busy: more processes could not get CPU time, one does the work without a pool
    assert audio.idle_cores() == 1 and audio.worker_count(-1, 1000, plenty) == 1
    assert audio.worker_count(4, 1000, plenty) == 4  # an explicit count is what was asked for


def test_work_of_a_file_grows_with_the_samples_it_decodes(tmp_path):
    import soundfile as sf

    mono_22k, stereo_44k = tmp_path / "mono.wav", tmp_path / "stereo.flac"
    sf.write(mono_22k, np.zeros(22050 * 4, dtype=np.float32), 22050)
    sf.write(stereo_44k, np.zeros((44100 * 4, 2), dtype=np.float32), 44100, format="FLAC")
    assert audio.audio_seconds([str(mono_22k)], None) == pytest.approx(4.0)
    assert audio.audio_seconds([str(stereo_44k)], None) == pytest.approx(4.0 * 2.5)
    assert audio.audio_seconds([str(stereo_44k)], 1.0) == pytest.approx(2.5)  # only what is read counts
