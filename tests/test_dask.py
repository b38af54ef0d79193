"""executor=dask: per-song extraction on a Dask cluster (a LocalCluster of 2 worker processes here) gives the
local path's features bit for bit, and per-song problems on a worker still become skip records."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from musiclust.config import validate
from musiclust.errors import ConfigError
from musiclust.features.audio import LogMelSpec, MFCCStats, extract_audio
from musiclust.instantiate import build
from tests.conftest import TINY_DEMO

pytest.importorskip("distributed")

NO_PLOTS = ["~outputs.projections", "~outputs.distributions", "~outputs.reconstructions"]


@pytest.fixture(scope="module")
def songs_with_bad_files(demo_root, tmp_path_factory) -> pd.DataFrame:
    from musiclust.data.demo import DemoDataset

    frame = DemoDataset(root=str(demo_root), **TINY_DEMO).load()
    bad_dir = tmp_path_factory.mktemp("bad_audio")
    corrupt = bad_dir / "corrupt.wav"
    corrupt.write_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt garbage that no decoder reads" * 20)
    bad = pd.DataFrame({"id": ["corrupt", "gone"], "audio_path": [str(corrupt), str(bad_dir / "gone.flac")]})
    return pd.concat([frame.iloc[:10], bad, frame.iloc[10:20]], ignore_index=True)


def test_dask_executor_gives_the_local_features_bit_for_bit(make_cfg, songs_with_bad_files):
    cfg = make_cfg("executor=dask", "executor.n_workers=2")
    mfcc = build(cfg.feature)  # the configured feature carries the run's executor
    assert type(mfcc.executor).__name__ == "DaskExecutor" and mfcc.executor.n_workers == 2
    assert "executor" not in mfcc.cache_config()  # where it ran is not part of what it is
    local = extract_audio(songs_with_bad_files, [MFCCStats(), LogMelSpec()], n_jobs=1)
    on_dask = extract_audio(songs_with_bad_files, [mfcc, LogMelSpec()], n_jobs=-1, executor=mfcc.executor)
    for one, two in zip(local, on_dask, strict=True):
        np.testing.assert_array_equal(one.values, two.values)  # bit-identical, not only close
        np.testing.assert_array_equal(one.ids, two.ids)
        np.testing.assert_array_equal(one.offsets if one.offsets is not None else [],
                                      two.offsets if two.offsets is not None else [])
        pd.testing.assert_frame_equal(one.skipped, two.skipped)
    skipped = on_dask[0].skipped.set_index("id")["reason"]
    assert list(skipped.index) == ["corrupt", "gone"]  # decoded on a worker, reported as skips, in manifest order
    assert skipped["corrupt"].startswith("unreadable audio") and skipped["gone"].startswith("missing file")
    assert len(on_dask[0].ids) == 20


def test_executor_dask_run_on_the_demo_matches_the_local_run(make_cfg, tmp_path):
    from musiclust.pipeline import run_experiment

    common = ["model=pca", "cache=false", *NO_PLOTS]
    local = run_experiment(make_cfg(*common, run_dir=tmp_path / "local"))
    on_dask = run_experiment(make_cfg(*common, "executor=dask", "executor.n_workers=2", run_dir=tmp_path / "dask"))
    np.testing.assert_array_equal(local.z, on_dask.z)
    np.testing.assert_array_equal(local.clusters, on_dask.clusters)
    assert local.metrics["nmi"] == on_dask.metrics["nmi"]


def test_executor_dask_without_dask_stops_before_any_work(make_cfg, monkeypatch):
    from musiclust import config

    monkeypatch.setattr(config, "installed", lambda module: module != "distributed")
    with pytest.raises(ConfigError, match=r"executor.name='dask'.*pip install 'musiclust\[dask\]'"):
        validate(make_cfg("executor=dask"))
    validate(make_cfg("executor=local"))


class _FailsOnOneSong(MFCCStats):
    """An MFCC feature that raises for one particular song (a stand-in for a numerical failure on one file)."""

    name = "fails_on_one"

    def from_spectra(self, spectra):
        if float(spectra.signal[1000]) == self.params["marker"]:
            raise FloatingPointError("overflow in a filter\nsecond line of detail")
        return super().from_spectra(spectra)


def test_a_song_whose_feature_fails_is_a_skip_record_not_a_crash(songs_with_bad_files):
    from musiclust.features.audio import decode

    rows = songs_with_bad_files.iloc[:5]
    signal, _ = decode(rows["audio_path"][2], 22050, None, 0.5)
    features = extract_audio(rows, [_FailsOnOneSong(marker=float(signal[1000]))], n_jobs=1)[0]
    assert list(features.ids) == [rows["id"][i] for i in (0, 1, 3, 4)]
    reason = features.skipped.set_index("id").loc[rows["id"][2], "reason"]
    assert reason.startswith("feature error: FloatingPointError: overflow in a filter (")
